"""The emoji-world experiment: does joint training find classes that never had a fine box?

Trains the shipped `emoji-tiny` detector three ways on the same world, with the same steps and batch:

  joint      coarse boxes (detection/) + fine class folders (classification/)   -- YOLO9000's recipe
  det-only   coarse boxes only (baseline: no classification data)
  upper      fine boxes (detection_fine/) + fine class folders (upper bound)

and scores each on the test split with `yolo9000 eval` (COCO mAP50 via pycocotools, a tree prediction
credited to its ancestors):

  (a) fine classes whose coarse parent had boxes (penguin, taxi, lemon, ...)
  (b) fine classes of the branch that never had a box (bee, butterfly, ant, ladybug)
  (c) the boxed coarse classes (bird, car, fruit, ...) on test/annotations_coarse.json

under two scorings: `map` (Darknet's `detector valid`: one score obj * P(category) per category) and `walk`
(one label per box where the top-down walk stops, threshold .5). Writes results.md / results.json in --out.

  python3 benchmarks/bench_emoji_world.py --out runs/bench-emoji                 # default world + recipe
  python3 benchmarks/bench_emoji_world.py --out /tmp/b --steps 100 --size 160     # a short check
  python3 benchmarks/bench_emoji_world.py --out /tmp/b --variants joint upper --world data/emoji
  python3 benchmarks/bench_emoji_world.py --out runs/bench-habitat --taxonomy habitat   # a non-WordNet tree

With `--taxonomy habitat` the same pictures carry labels of a hierarchy that is not WordNet's (sky / water /
land animals, vehicles by medium, fruit by colour; the never-boxed branch is "minibeasts"), built from the
world's hierarchy.csv: the groups above are scored the same way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from yolo9000.emoji.classes import TAXONOMIES  # noqa: E402

VARIANTS = {
    "joint": ("detection/annotations.json", True),
    "det-only": ("detection/annotations.json", False),
    "upper": ("detection_fine/annotations.json", True),
}


def _run(cmd: list[str], log: Path) -> float:
    """Run a CLI command, teeing its output to `log`; returns wall seconds (raises on failure)."""
    start = time.perf_counter()
    with open(log, "w") as fh:
        fh.write(" ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    if proc.returncode:
        raise RuntimeError(f"command failed ({proc.returncode}), see {log}: {' '.join(cmd)}")
    return time.perf_counter() - start


def train(world: Path, variant: str, out: Path, args) -> dict:
    """Train one variant unless its checkpoint exists; returns timing and the last logged losses."""
    coco, with_cls = VARIANTS[variant]
    run = out / variant
    cmd = [
        sys.executable,
        "-m",
        "yolo9000",
        "train",
        "--coco",
        str(world / coco),
        "--images",
        str(world / "detection" / "images"),
        "--tree",
        str(world / "wordtree.json"),
        "--cfg",
        args.cfg,
        "--out",
        str(run),
        "--seed",
        str(args.seed),
        "--no-progress",
        "--no-tensorboard",
    ]
    if with_cls:
        cmd += ["--folders", str(world / "classification")]
        if args.cls_fraction is not None:
            cmd += ["--cls-fraction", str(args.cls_fraction)]
    for flag, value in (
        ("--steps", args.steps),
        ("--batch", args.batch),
        ("--lr", args.lr),
        ("--burn-in", args.burn_in),
        ("--workers", args.workers),
        ("--device", args.device),
        ("--cls-objectness", args.cls_objectness),
        ("--cls-anchor", args.cls_anchor),
        ("--size", args.size),
    ):
        if value is not None:
            cmd += [flag, str(value)]
    if with_cls:
        cmd += ["--cls-scale", *(str(v) for v in args.cls_scale)]
    cmd += args.train_args
    seconds = 0.0
    if not (run / "summary.json").exists():  # a finished run (last.pt is also written mid-way)
        run.mkdir(parents=True, exist_ok=True)
        seconds = _run(cmd, out / f"train-{variant}.log")
    log = pd.read_csv(run / "log.csv")
    # time inside the training loop (steps + data waits), also known when the run was made earlier
    loop_s = float(log["step_time_s"].sum()) if "step_time_s" in log else seconds
    return {
        "train_s": round(loop_s, 1),
        "wall_s": round(seconds, 1),
        "steps": int(log["step"].iloc[-1]),
        "images": int(log["seen"].iloc[-1]),
        "final_loss": float(log["loss"].tail(20).mean()),
        "command": " ".join(cmd),
    }


def evaluate(world: Path, variant: str, out: Path, coarse: bool, scoring: str, args) -> pd.DataFrame:
    """Per-category AP table of one checkpoint on the fine (or coarse) test boxes."""
    ann = "annotations_coarse.json" if coarse else "annotations.json"
    dest = out / f"eval-{variant}-{'coarse' if coarse else 'fine'}-{scoring}"
    if not (dest / "per_class.csv").exists():
        cmd = [
            sys.executable,
            "-m",
            "yolo9000",
            "eval",
            "--checkpoint",
            str(out / variant / "last.pt"),
            "--coco",
            str(world / "test" / ann),
            "--images",
            str(world / "test" / "images"),
            "--train-tree",
            str(world / "wordtree.json"),
            "--scoring",
            scoring,
            "--no-progress",
            "--no-plots",
            "--overwrite",
            "--out",
            str(dest),
        ]
        if args.device:
            cmd += ["--device", args.device]
        _run(cmd, out / f"{dest.name}.log")
    return pd.read_csv(dest / "per_class.csv")


def score(fine: pd.DataFrame, coarse: pd.DataFrame) -> dict:
    """mAP50 of the three groups, from the per-category tables (category names are unique in a world: a
    fine category's supercategory is its coarse label; a coarse category's says "boxed" or "no-box")."""
    with open(_WORLD / "test" / "annotations_coarse.json") as fh:
        no_box = {c["name"] for c in json.load(fh)["categories"] if c["supercategory"] == "no-box"}
    with open(_WORLD / "test" / "annotations.json") as fh:
        parent = {c["name"]: c["supercategory"] for c in json.load(fh)["categories"]}
    nobox = fine["name"].map(lambda n: parent[n] in no_box)
    boxed_coarse = ~coarse["name"].isin(no_box)
    return {
        "a_fine_under_boxed": float(fine.loc[~nobox, "AP50"].mean()),
        "b_no_box_branch": float(fine.loc[nobox, "AP50"].mean()),
        "c_coarse": float(coarse.loc[boxed_coarse, "AP50"].mean()),
        "c_no_box_coarse": float(coarse.loc[~boxed_coarse, "AP50"].mean()),
        "per_class": dict(zip(fine["name"], fine["AP50"].round(4))),
    }


_WORLD = Path(".")


def main(argv: list[str] | None = None) -> int:
    global _WORLD
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/bench-emoji"))
    p.add_argument(
        "--world",
        type=Path,
        default=None,
        help="an existing world (default: ensure_world under OUT/world with the default settings)",
    )
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument(
        "--taxonomy",
        choices=TAXONOMIES,
        default="wordnet",
        help="labels of the default world: WordNet's, or habitat (a hierarchy that is not WordNet's)",
    )
    p.add_argument(
        "--cfg",
        default=None,
        help="model cfg (default: emoji-tiny rendered with --size/--width/--steps/--batch/--lr/--burn-in)",
    )
    p.add_argument("--size", type=int, default=160, help="input size of the rendered emoji-tiny (default 160)")
    p.add_argument("--width", type=float, default=0.5, help="channel width of the rendered emoji-tiny (default .5)")
    p.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.008)
    p.add_argument("--burn-in", type=int, default=50)
    p.add_argument("--cls-fraction", type=float, default=None)
    p.add_argument(
        "--cls-objectness",
        choices=("paper", "darknet", "none"),
        default="none",
        help="objectness on classification pictures (default none: the emoji recipe; paper: YOLO9000)",
    )
    p.add_argument(
        "--cls-anchor",
        choices=("label", "objectness"),
        default="objectness",
        help="box that gets a classification picture's class loss (default objectness: the emoji "
        "recipe; label: YOLO9000's best box for the label)",
    )
    p.add_argument(
        "--cls-scale",
        type=float,
        nargs=2,
        default=[0.4, 1.0],
        metavar=("MIN", "MAX"),
        help="placement scale of classification pictures (default .4 1: the emoji recipe; 1 1: none)",
    )
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scorings", nargs="+", choices=("map", "walk"), default=["map", "walk"])
    p.add_argument("train_args", nargs="*", help="extra `yolo9000 train` options after --")
    args = p.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    if args.world is None:
        from yolo9000.emoji.world import ensure_world

        args.world = ensure_world(args.out / "world", progress=True, taxonomy=args.taxonomy)
    _WORLD = args.world
    if args.cfg is None:  # lr steps (x.1 at 80%, 90%) follow --steps through the cfg's max_batches
        from wordtree import WordTree
        from yolo9000.emoji.recipe import emoji_model_cfg

        text = emoji_model_cfg(
            WordTree.load(args.world / "wordtree.json"),
            size=args.size,
            width=args.width,
            batch=args.batch,
            max_batches=args.steps,
            learning_rate=args.lr,
            burn_in=args.burn_in,
        )
        args.cfg = str(args.out / f"emoji-tiny-{args.size}-w{args.width:g}.cfg")
        Path(args.cfg).write_text(text)
    results: dict = {"world": str(args.world), "cfg": args.cfg, "variants": {}}
    for variant in args.variants:
        info = train(args.world, variant, args.out, args)
        print(
            f"[{variant}] trained {info['steps']} steps ({info['images']} images) in {info['train_s']} s, "
            f"loss {info['final_loss']:.3f}",
            flush=True,
        )
        for scoring in args.scorings:
            fine = evaluate(args.world, variant, args.out, False, scoring, args)
            coarse = evaluate(args.world, variant, args.out, True, scoring, args)
            info[scoring] = score(fine, coarse)
            s = info[scoring]
            print(
                f"  {scoring:4s}: (a) {s['a_fine_under_boxed']:.3f}  (b) {s['b_no_box_branch']:.3f}  "
                f"(c) {s['c_coarse']:.3f}",
                flush=True,
            )
        results["variants"][variant] = info
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")

    lines = [
        "| variant | scoring | (a) fine, boxed parent | (b) no-box branch | (c) coarse | (a) / upper (a) | "
        "(b) / upper (b) | train s | steps x batch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    upper = results["variants"].get("upper", {})
    for variant, info in results["variants"].items():
        for scoring in args.scorings:
            s = info[scoring]
            ua = upper.get(scoring, {}).get("a_fine_under_boxed")
            ub = upper.get(scoring, {}).get("b_no_box_branch")
            ratio = f"{s['a_fine_under_boxed'] / ua:.2f}" if ua else "-"
            ratio_b = f"{s['b_no_box_branch'] / ub:.2f}" if ub else "-"
            lines.append(
                f"| {variant} | {scoring} | {s['a_fine_under_boxed']:.3f} | {s['b_no_box_branch']:.3f} | "
                f"{s['c_coarse']:.3f} | {ratio} | {ratio_b} | {info['train_s']} | {info['steps']} x "
                f"{info['images'] // max(info['steps'], 1)} |"
            )
    table = "\n".join(lines)
    (args.out / "results.md").write_text(f"# Emoji world: mAP50 on the test split\n\nworld: {args.world}\n\n{table}\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
