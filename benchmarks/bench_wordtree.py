"""WordTree figures and wall times: node counts, parity with Darknet's 9k tree, build-wordtree timings.

    python3 benchmarks/bench_wordtree.py [--reference ../shared/reference] [--ablation]

Wall times run `python -m wordtree` in fresh processes (WordNet load included; the parsed graph comes from
the user cache after the first run, and the cold parse is timed separately with an empty cache).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wordtree import sources as S  # noqa: E402
from wordtree.builder import BuildOptions, build, darknet_preset  # noqa: E402
from wordtree.tree import WordTree  # noqa: E402
from wordtree.wordnet import ENV_CACHE, noun_graph  # noqa: E402


def _cli(args: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "wordtree", *args], cwd=REPO, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"build-wordtree {' '.join(args)} failed:\n{r.stderr}")
    return dt


def _parents(tree: WordTree) -> dict:
    return {w: (tree.ids[p] if p >= 0 else None) for w, p in zip(tree.ids, tree.parent.tolist())}


def _match(built: WordTree, ref: WordTree) -> int:
    mine = _parents(built)
    return sum(mine.get(w, "-") == p for w, p in _parents(ref).items())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference")
    ap.add_argument("--ablation", action="store_true", help="also rebuild 9k.labels under each rule switched off")
    ap.add_argument("--repeat", type=int, default=3, help="runs per wall time (the best is reported)")
    args = ap.parse_args()
    g = noun_graph()

    print("== ImageNet-1k (paper's WordTree1k: 1369 nodes = 1000 + 369)")
    in1k = list(S.imagenet1k(graph=g).ids)
    for label, opts in (
        ("defaults", BuildOptions()),
        ("--darknet-compatible", darknet_preset()),
        ("--darknet-compatible --tie-break first", replace(darknet_preset(), tie_break="first")),
        ("--tie-break first", BuildOptions(tie_break="first")),
        ("--keep physical_entity.n.01 (drops 3)", BuildOptions(keep="n00001930", on_invalid="skip")),
    ):
        tree, _ = build(in1k, opts, graph=g)
        s = tree.summary()
        print(
            f"  {label:42s} {s['nodes']:5d} nodes = {s['targets']} targets + {s['nodes'] - s['targets']} "
            f"intermediate, {s['groups']} groups, top level: {', '.join(tree.names[i] for i in tree.roots)}"
        )
    coco = S.coco(graph=g)
    targets, _ = S.merge([coco, S.imagenet1k(graph=g)])
    tree, _ = build(targets, graph=g)
    print(f"  COCO + ImageNet-1k (defaults): {len(tree)} nodes, {len(targets)} targets")

    ref_dir = args.reference / "darknet"
    if (ref_dir / "9k.tree").is_file():
        ref = WordTree.from_darknet(ref_dir / "9k.tree", ref_dir / "9k.names")
        labels = (ref_dir / "9k.labels").read_text().split()
        print("== parents equal to Darknet's 9k.tree (9418 nodes)")
        variants = [("defaults", BuildOptions()), ("--darknet-compatible", darknet_preset())]
        if args.ablation:
            variants += [
                ("no hoist", BuildOptions(hoist=False)),
                ("tie-break first", BuildOptions(tie_break="first")),
                ("schedule global", BuildOptions(schedule="global")),
                ("schedule sequential", BuildOptions(schedule="sequential")),
                ("cost prefix", BuildOptions(cost="prefix")),
                ("no single-path-first", BuildOptions(single_path_first=False)),
            ]
        for label, opts in variants:
            tree, rep = build(labels, opts, graph=g)
            m = _match(tree, ref)
            print(f"  from 9k.labels, {label:22s} {m}/9418 ({m / 9418:.2%}), {len(tree)} nodes, {rep.seconds:.2f} s")
        rs = args.reference / "imagenet" / "ReleaseStatus.xml"
        coco9k = [labels[int(x)] for x in (ref_dir / "coco9k.map").read_text().split()]
        rich = S.release_status(rs, min_images=777, graph=g)
        full, _ = S.merge([rich, S.imagenet1k(graph=g)])
        full += [w for w in coco9k if w not in set(full)]
        tree, rep = build(full, darknet_preset(), graph=g)
        m = _match(tree, ref)
        print(
            f"  Darknet's class set ({len(full)} candidates: >= 777 images + IN-1k + COCO), preset: "
            f"{m}/9418 parents, {len(tree)} nodes, {len(rep.dropped)} dropped, {rep.seconds:.2f} s"
        )

    print("== wall times (fresh process, WordNet load included; best of %d)" % args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, **{ENV_CACHE: str(Path(tmp) / "cache")})
        t = _cli(["-q", "-o", str(Path(tmp) / "cold")], env)
        print(f"  build-wordtree defaults, empty cache (parses WordNet): {t:.2f} s")
        best = min(_cli(["-q", "--force", "-o", str(Path(tmp) / "warm")]) for _ in range(args.repeat))
        print(f"  build-wordtree defaults (COCO + ImageNet-1k):          {best:.2f} s")
        if (ref_dir / "9k.tree").is_file():
            coco_file = Path(tmp) / "coco9k.txt"
            coco_file.write_text("\n".join(coco9k) + "\n")
            nine = [
                "-q",
                "--force",
                "--release-status",
                str(rs),
                "--min-images",
                "777",
                "--imagenet1k",
                "--wnids",
                str(coco_file),
                "--darknet-compatible",
                "-o",
                str(Path(tmp) / "9k"),
            ]
            best = min(_cli(nine) for _ in range(args.repeat))
            print(f"  build-wordtree 9k (--darknet-compatible, 9029 targets): {best:.2f} s")
            built = WordTree.load(Path(tmp) / "9k" / "wordtree.json")
            print(f"    -> {len(built)} nodes, {_match(built, ref)}/9418 parents equal to 9k.tree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
