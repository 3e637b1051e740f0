"""The YOLO9000 paper's first experiment at CPU size: one backbone trained with a tree softmax and with a flat one.

Usage (from the repository root):
    python3 benchmarks/bench_classify.py                             # one seed, CPU
    python3 benchmarks/bench_classify.py --seeds 3 --json runs/bench_classify.json
    python3 benchmarks/bench_classify.py --steps 300 --classes core  # a quick look
    python3 benchmarks/bench_classify.py --cfg torchvision:resnet18 --pretrained --device cuda

The paper trains Darknet-19 on WordTree1k and finds the tree classifier within about a point of the flat one
(71.9% against 72.9% top-1), and that it "degrades gracefully": unsure of a dog's breed, it still says "dog".
This script measures both claims on the emoji world:

1. It draws the world's class folders (`yolo9000 emoji-world --classification-per-class N --cls-size 64`) and
   holds fine classes out of training, drawn with the seed: one leaf under every tree node with three or more
   children, so that two or more seen children remain and the node stays a choice the walk can stop at (the
   default world: a fruit, an insect, the parrot, an aquatic bird, an equine, a canine, a big cat, a car, a
   vessel). The seen classes' pictures are split into train and test (--test-per-class each); the links go under
   --work/seedS: train/, test_seen/, test_held_out/.
2. It trains the same backbone twice with the same budget and seed (`yolo9000 train --task classify`): tree
   (`--tree`, the tree softmax head) and flat (one class per seen folder). Both learn the seen classes only: the
   tree is the world's tree without the held-out leaves (and without inner nodes left with no seen leaf).
3. It scores both: `yolo9000 eval` on the seen classes' test pictures, and `yolo9000 classify --hier-thresh .5`
   on the held-out classes' pictures, read against the world's full tree.

Figures (per seed; the table gives the median, and the min-max over --seeds when there are several):
  top-1, seen           eval's top-1 on the seen test pictures (the tree model's: its top-1 leaf, by P(leaf))
  tree - flat           the difference of the two, in points
  right parent          held-out pictures whose walk stops at the held-out leaf's parent (the node it should
                        fall back to: "dog" for an unseen breed)
  higher up             ... stops at an ancestor above that parent (right, but vaguer)
  wrong leaf / branch   ... stops at a leaf (a seen class: wrong) or at a node off the held-out leaf's path
  top-1 leaf a sibling  held-out pictures whose top-1 leaf lies under the held-out leaf's parent: the best answer
                        of a model that can only name leaves (the flat model's only kind of answer)

--cfg takes `default` (this script's small Darknet classifier, BACKBONE_CFG), a cfg file with the same
`{classes}`, `{tree_line}` and `{size}` fields, or a model name that `yolo9000 train --cfg` sizes for the tree and
for the flat classes itself (`darknet19`, `torchvision:resnet18`). The world is drawn once per setting and kept
in --work; a seed's folder is emptied and rebuilt on every run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wordtree.formats import load_tree  # noqa: E402
from wordtree.tree import WordTree  # noqa: E402
from yolo9000.cli import main as yolo9000_main  # noqa: E402

#: The default backbone: four conv stages (3x3, batch norm, leaky; maxpool between), a 1x1 conv to one value per
#: class, a global average and the softmax. Both heads get the same text: only the last conv's width (a value per
#: tree node, or per seen class) and the softmax's tree= differ.
BACKBONE_CFG = """[net]
batch=32
subdivisions=1
width={size}
height={size}
channels=3
learning_rate=0.05
momentum=0.9
decay=0.0005
max_batches=1000

[convolutional]
filters=16
size=3
stride=1
pad=1
batch_normalize=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=32
size=3
stride=1
pad=1
batch_normalize=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=64
size=3
stride=1
pad=1
batch_normalize=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=128
size=3
stride=1
pad=1
batch_normalize=1
activation=leaky

[convolutional]
filters={classes}
size=1
stride=1
pad=1
activation=linear

[avgpool]

[softmax]
groups=1
{tree_line}
"""

HEADS = ("tree", "flat")
#: where the tree model's walk stops on a held-out picture (see the module docstring)
OUTCOMES = ("right_parent", "higher_up", "wrong")
#: the file that marks a seed's work folder as this script's (the folder is emptied on the next run)
MARKER = ".bench_classify"


@dataclass
class Split:
    """One seed's data: the held-out and seen leaves (node ids), the linked folders, the seen tree and counts."""

    held_out: list[str]
    seen: list[str]
    train: Path
    test_seen: Path
    test_held_out: Path
    tree: Path
    pictures: dict[str, int]


@dataclass
class SeedResult:
    """The figures of one seed: shares in 0..1, `walk` for the tree model, the others by head; `by_class` holds
    each held-out class's walk outcomes and sibling hits (counts)."""

    seed: int
    held_out: list[str]
    held_out_names: list[str]
    top1: dict[str, float]
    walk: dict[str, float]
    sibling: dict[str, float]
    by_class: dict[str, dict[str, int]]
    seen_classes: int
    pictures: dict[str, int]
    seconds: dict[str, float]


# ----------------------------------------------------------------------------------------------- data
def make_world(work: Path, per_class: int, cls_size: int, seed: int, classes: str) -> Path:
    """The emoji world's class folders for these settings under `work` (`yolo9000 emoji-world`), drawn once and
    kept: a second run with the same settings finds them."""
    out = work / f"world_{classes}_{per_class}x{cls_size}px_seed{seed}"
    done = out.with_suffix(".done")
    if done.is_file():
        return out
    args = ["emoji-world", str(out), "--classification-per-class", str(per_class), "--cls-size", str(cls_size)]
    # detection and test pictures are not used here: one of each, small
    args += ["--detection", "1", "--test", "1", "--size", "64", "--seed", str(seed), "--classes", classes]
    run_cli([*args, "--force", "--quiet"])
    done.write_text(shlex.join(args) + "\n")
    return out


def eligible_parents(tree: WordTree, present: set[str]) -> list[int]:
    """Tree nodes with three or more children, one of them a leaf with pictures (a class that can be held out)."""
    return [
        p
        for p in range(len(tree))
        if len(tree.children(p)) >= 3 and any(tree.is_leaf[c] and tree.ids[c] in present for c in tree.children(p))
    ]


def choose_held_out(tree: WordTree, present: set[str], seed: int) -> list[str]:
    """One leaf with pictures under each eligible parent, drawn with `seed`, in tree order (node ids)."""
    rng = np.random.default_rng([seed, 7])
    held = []
    for p in eligible_parents(tree, present):
        leaves = [c for c in tree.children(p) if tree.is_leaf[c] and tree.ids[c] in present]
        held.append(tree.ids[leaves[int(rng.integers(len(leaves)))]])
    if not held:
        raise ValueError("the world's tree has no node with three or more children: no class to hold out")
    return held


def pruned_tree(tree: WordTree, keep_leaves: set[str]) -> WordTree:
    """`tree` restricted to `keep_leaves` and their ancestors, in the same order (a subset of Darknet's group
    layout keeps siblings contiguous and parents first)."""
    keep = np.zeros(len(tree), dtype=bool)
    for w in keep_leaves:
        keep[tree.path(w)] = True
    index = np.cumsum(keep) - 1
    parent = [int(index[q]) if q >= 0 else -1 for q in tree.parent[keep]]
    ids = [w for w, k in zip(tree.ids, keep) if k]
    names = [n for n, k in zip(tree.names, keep) if k]
    return WordTree(ids, parent, names)


def make_split(world: Path, work: Path, seed: int, test_per_class: int) -> Split:
    """Hold classes out (seeded), split the seen classes' pictures into train and test (seeded, `test_per_class`
    each), and link them under `work` (emptied first) with the seen classes' tree."""
    folders = world / "classification"
    tree = load_tree(world / "wordtree.json")
    present = {p.name for p in folders.iterdir() if p.is_dir()}
    held = choose_held_out(tree, present, seed)
    seen = sorted(present - set(held))
    _clear(work)
    rng = np.random.default_rng([seed, 11])
    counts = Counter[str]()
    for w in seen:
        files = _pictures(folders / w)
        if len(files) <= test_per_class:
            raise ValueError(f"--test-per-class {test_per_class}: class {w} has only {len(files)} pictures")
        order = rng.permutation(len(files))
        counts["test_seen"] += _link([files[i] for i in order[:test_per_class]], work / "test_seen" / w)
        counts["train"] += _link([files[i] for i in order[test_per_class:]], work / "train" / w)
    for w in held:
        counts["held_out"] += _link(_pictures(folders / w), work / "test_held_out" / w)
    small = pruned_tree(tree, set(seen))
    for w in held:
        parent = tree.ids[int(tree.parent[tree.index(w)])]
        if len(small.children(parent)) < 2:
            raise ValueError(f"held-out {w}: its parent {parent} keeps fewer than two seen children")
    small.save(work / "tree.json")
    return Split(
        held, seen, work / "train", work / "test_seen", work / "test_held_out", work / "tree.json", dict(counts)
    )


def _pictures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


def _link(files: Sequence[Path], folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        (folder / f.name).symlink_to(f.resolve())
    return len(files)


def _clear(folder: Path) -> None:
    """Make `folder` an empty work folder of this script: new, or emptied when it carries the marker (links, small
    files and runs that this script made); any other existing folder is refused."""
    marker = folder / MARKER
    if folder.exists() and not marker.is_file():
        raise FileExistsError(f"{folder}: exists and was not made by bench_classify.py; pick another --work")
    if folder.exists():
        for p in sorted(folder.rglob("*"), key=lambda q: len(q.parts), reverse=True):
            if p == marker:
                continue
            if p.is_symlink() or p.is_file():
                p.unlink()
            else:
                p.rmdir()
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by benchmarks/bench_classify.py; emptied on its next run\n")


# ----------------------------------------------------------------------------------------------- models
def write_cfgs(spec: str, split: Split, size: int, folder: Path) -> dict[str, str]:
    """The --cfg of each head: the default backbone (or a cfg file with its fields) written once with the tree
    and once flat, or a model name (`darknet19`, `torchvision:resnet18`) passed on as it is."""
    if spec != "default" and not Path(spec).is_file():
        return dict.fromkeys(HEADS, spec)
    text = BACKBONE_CFG if spec == "default" else Path(spec).read_text()
    if "{classes}" not in text or "{tree_line}" not in text:
        raise ValueError(f"--cfg {spec}: a cfg file needs the fields {{classes}} and {{tree_line}} (as BACKBONE_CFG)")
    widths = {"tree": len(load_tree(split.tree)), "flat": len(split.seen)}
    cfgs = {}
    for head in HEADS:
        line = f"tree={split.tree}" if head == "tree" else ""
        path = folder / f"{head}.cfg"
        filled = text.replace("{classes}", str(widths[head])).replace("{tree_line}", line)
        path.write_text(filled.replace("{size}", str(size)))
        cfgs[head] = str(path)
    return cfgs


def run_cli(args: Sequence[str]) -> None:
    """Run a `yolo9000` command in this process, its console output hidden; a failure stops the benchmark with
    the command and the end of its output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = yolo9000_main(list(args))
    if rc != 0:
        raise SystemExit(f"yolo9000 {shlex.join(args)}: exit {rc}\n{(out.getvalue() + err.getvalue())[-3000:]}")


def train(head: str, cfg: str, split: Split, out: Path, opts: argparse.Namespace, seed: int) -> Path:
    """Train one head (`yolo9000 train --task classify`) and return its last checkpoint."""
    args = ["train", "--task", "classify", "--folders", str(split.train), "--cfg", cfg, "--out", str(out)]
    if head == "tree":
        args += ["--tree", str(split.tree)]
    args += ["--size", str(opts.size), "--steps", str(opts.steps), "--batch", str(opts.batch), "--seed", str(seed)]
    args += ["--lr", str(opts.lr), "--policy", "cosine", "--burn-in", str(opts.burn_in)]
    args += ["--scale", *(str(v) for v in opts.crop_scale), "--device", opts.device, "--workers", str(opts.workers)]
    args += ["--save-every", str(opts.steps), "--no-tensorboard", "--no-progress"]
    if opts.pretrained:
        args.append("--pretrained")
    run_cli(args)
    return out / "last.pt"


def top1_seen(ckpt: Path, split: Split, out: Path, opts: argparse.Namespace) -> float:
    """eval's top-1 on the seen classes' test pictures (a tree model's: its top-1 leaf)."""
    args = ["eval", "--checkpoint", str(ckpt), "--folders", str(split.test_seen), "--size", str(opts.size)]
    run_cli([*args, "--device", opts.device, "--out", str(out), "--no-progress"])
    summary = json.loads((out / "summary.json").read_text())["classification"]
    return float(summary["top1_leaf"] if "top1_leaf" in summary else summary["top1"])


def classify_held_out(ckpt: Path, split: Split, out: Path, opts: argparse.Namespace) -> list[dict[str, Any]]:
    """`yolo9000 classify` records of the held-out classes' pictures."""
    args = ["classify", "--checkpoint", str(ckpt), str(split.test_held_out), "--size", str(opts.size)]
    args += ["--hier-thresh", str(opts.hier_thresh), "--device", opts.device, "--out", str(out), "--no-progress"]
    run_cli(args)
    with open(out / "predictions.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


# ----------------------------------------------------------------------------------------------- scoring
def true_leaf(record: dict[str, Any]) -> str:
    """The held-out class of a record: its picture's folder name (a node id)."""
    return Path(record["file"]).parent.name


def walk_outcome(tree: WordTree, record: dict[str, Any]) -> str:
    """Where a tree model's walk stopped on a held-out picture, against the full `tree`: "right_parent" (the
    held-out leaf's parent), "higher_up" (an ancestor above it) or "wrong" (a leaf or another branch)."""
    parent = int(tree.parent[tree.index(true_leaf(record))])
    stopped = tree.index(record["stopped"]["id"])
    if stopped == parent:
        return "right_parent"
    return "higher_up" if tree.is_ancestor(stopped, parent) else "wrong"


def top_is_sibling(tree: WordTree, record: dict[str, Any]) -> bool:
    """True when a record's top-1 leaf lies under the held-out leaf's parent (tree records name the node by
    "id"; a flat model's classes are the seen folders, so its "name" is the node id)."""
    parent = int(tree.parent[tree.index(true_leaf(record))])
    top = record["top"][0]
    return tree.is_ancestor(parent, top.get("id", top["name"]))


def score(
    tree: WordTree, records: dict[str, list[dict[str, Any]]]
) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, int]]]:
    """(walk outcome shares of the tree model, sibling share by head, counts by held-out class name)."""
    by_class: dict[str, Counter[str]] = {}
    # every key from the start: a class none of whose pictures ends in some outcome still reports it as 0
    keys = ["pictures", *OUTCOMES, *(f"sibling_{h}" for h in HEADS)]
    for head in HEADS:
        for r in records[head]:
            counts = by_class.setdefault(tree.names[tree.index(true_leaf(r))], Counter(dict.fromkeys(keys, 0)))
            if head == "tree":
                counts["pictures"] += 1
                counts[walk_outcome(tree, r)] += 1
            counts[f"sibling_{head}"] += top_is_sibling(tree, r)
    total = sum(c["pictures"] for c in by_class.values()) or 1
    walk = {k: sum(c[k] for c in by_class.values()) / total for k in OUTCOMES}
    sibling = {h: sum(c[f"sibling_{h}"] for c in by_class.values()) / total for h in HEADS}
    return walk, sibling, {name: dict(c) for name, c in by_class.items()}


def run_seed(opts: argparse.Namespace, world: Path, seed: int) -> SeedResult:
    """One seed: hold out and split, train both heads, score them."""
    work = opts.work / f"seed{seed}"
    split = make_split(world, work, seed, opts.test_per_class)
    full = load_tree(world / "wordtree.json")
    cfgs = write_cfgs(opts.cfg, split, opts.size, work)
    top1: dict[str, float] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    seconds: dict[str, float] = {}
    for head in HEADS:
        t0 = time.perf_counter()
        ckpt = train(head, cfgs[head], split, work / f"run_{head}", opts, seed)
        seconds[f"train_{head}"] = time.perf_counter() - t0
        top1[head] = top1_seen(ckpt, split, work / f"eval_{head}", opts)
        records[head] = classify_held_out(ckpt, split, work / f"classify_{head}", opts)
    walk, sibling, by_class = score(full, records)
    return SeedResult(
        seed=seed,
        held_out=split.held_out,
        held_out_names=[full.names[full.index(w)] for w in split.held_out],
        top1=top1,
        walk=walk,
        sibling=sibling,
        by_class=by_class,
        seen_classes=len(split.seen),
        pictures=split.pictures,
        seconds=seconds,
    )


# ----------------------------------------------------------------------------------------------- report
def spread(values: Sequence[float], scale: float = 100.0) -> str:
    """The median of `values` times `scale`, with the min-max when there are several."""
    v = [x * scale for x in values]
    med = f"{statistics.median(v):.1f}"
    return med if len(v) == 1 else f"{med} ({min(v):.1f} to {max(v):.1f})"


def figures(results: Sequence[SeedResult]) -> dict[str, dict[str, list[float]]]:
    """Each figure's values over the seeds, by head (shares in 0..1; the difference in points)."""
    return {
        "top1_seen": {h: [r.top1[h] for r in results] for h in HEADS},
        "tree_minus_flat_points": {"tree": [100 * (r.top1["tree"] - r.top1["flat"]) for r in results]},
        **{f"held_out_{k}": {"tree": [r.walk[k] for r in results]} for k in OUTCOMES},
        "held_out_top1_sibling": {h: [r.sibling[h] for r in results] for h in HEADS},
    }


def table(results: Sequence[SeedResult], thresh: float) -> str:
    """The markdown table: the median (min to max) over the seeds, in percent (the difference in points)."""
    f = figures(results)
    seen, held = results[0].pictures["test_seen"], results[0].pictures["held_out"]
    rows = [
        (f"top-1 on the seen classes ({seen} test pictures), %", *(spread(f["top1_seen"][h]) for h in HEADS)),
        ("tree - flat, points", spread(f["tree_minus_flat_points"]["tree"], scale=1.0), ""),
        (
            f"held out ({held} pictures): walk at {thresh:g} stops at the right parent, %",
            spread(f["held_out_right_parent"]["tree"]),
            "-",
        ),
        ("held out: stops at an ancestor higher up, %", spread(f["held_out_higher_up"]["tree"]), "-"),
        ("held out: names a wrong leaf / branch, %", spread(f["held_out_wrong"]["tree"]), "100 (a seen leaf)"),
        (
            "held out: top-1 leaf is a sibling (under the right parent), %",
            *(spread(f["held_out_top1_sibling"][h]) for h in HEADS),
        ),
    ]
    lines = ["| measure | tree | flat |", "|---|---:|---:|"]
    return "\n".join([*lines, *(f"| {a} | {b} | {c} |" for a, b, c in rows)])


def held_out_line(r: SeedResult) -> str:
    """One seed's held-out classes, each with its share of walks stopping at the right parent."""
    parts = [f"{name} {100 * c['right_parent'] / max(1, c['pictures']):.0f}%" for name, c in r.by_class.items()]
    return f"seed {r.seed}: held out (right parent): {', '.join(parts)}"


# ----------------------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cfg", default="default", help="backbone: default (BACKBONE_CFG), a cfg file with its "
                    "fields, or a model name (darknet19, torchvision:resnet18) (default: default)")  # fmt: skip
    ap.add_argument("--pretrained", action="store_true", help="start from the --cfg model's pretrained weights")
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1: held-out draw, split and training (1)")
    ap.add_argument("--steps", type=int, default=1200, help="training steps per model (default 1200)")
    ap.add_argument("--batch", type=int, default=32, help="pictures per step (default 32)")
    ap.add_argument("--lr", type=float, default=0.05, help="base learning rate, cosine down to 0 (default .05)")
    ap.add_argument("--burn-in", type=int, default=50, help="warm-up steps (default 50)")
    ap.add_argument("--crop-scale", type=float, nargs=2, default=(0.35, 1.0), metavar=("MIN", "MAX"),
                    help="training crops' share of the picture's area (default .35 1: the emoji stays in)")  # fmt: skip
    ap.add_argument("--size", type=int, default=64, help="network input side (default 64)")
    ap.add_argument("--classes", choices=("core", "all"), default="all", help="the world's class table (all)")
    ap.add_argument("--per-class", type=int, default=64, help="pictures drawn per fine class (default 64)")
    ap.add_argument("--test-per-class", type=int, default=16, help="of those, test pictures per seen class (16)")
    ap.add_argument("--cls-size", type=int, default=64, help="side of the drawn pictures (default 64)")
    ap.add_argument("--world-seed", type=int, default=0, help="seed of the drawn pictures (default 0)")
    ap.add_argument("--hier-thresh", type=float, default=0.5, help="where the walk stops (default .5)")
    ap.add_argument("--device", default="cpu", help="device of training and scoring (default cpu)")
    ap.add_argument("--workers", type=int, default=0, help="loader workers of each training run (default 0)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the figures repeat exactly)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_classify",
                    help="work folder: the world, the links and the runs (default TMP/bench_classify)")  # fmt: skip
    ap.add_argument("--json", type=Path, default=None, help="write the figures, settings and seeds here")
    opts = ap.parse_args(argv)
    if opts.seeds < 1 or opts.steps < 1:
        ap.error("--seeds and --steps must be at least 1")
    return opts


@contextlib.contextmanager
def warnings_only() -> Iterator[None]:
    """Keep the commands' progress log lines off the console while they run; warnings still show."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print its table and settings, and write --json."""
    opts = parse_args(argv)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    command = shlex.join(["python3", "benchmarks/bench_classify.py", *(sys.argv[1:] if argv is None else argv)])
    t0 = time.perf_counter()
    opts.work.mkdir(parents=True, exist_ok=True)
    results = []
    with warnings_only():
        world = make_world(opts.work, opts.per_class, opts.cls_size, opts.world_seed, opts.classes)
        for seed in range(opts.seeds):
            results.append(run_seed(opts, world, seed))
            print(held_out_line(results[-1]), flush=True)
    wall = time.perf_counter() - t0
    text = table(results, opts.hier_thresh)
    pics = results[0].pictures
    how = "the median" if opts.seeds == 1 else "the median (min to max)"
    print(f"\n{text}\n")
    print(
        f"`{command}`: {how} over {opts.seeds} seed(s) (default 1, for time); cfg {opts.cfg}, {opts.steps} steps "
        f"x {opts.batch} pictures at {opts.size} px per model; {results[0].seen_classes} seen classes "
        f"({pics['train']} training pictures), {len(results[0].held_out)} held out; "
        f"{torch.get_num_threads()} torch thread(s) on {opts.device}; wall {wall / 60:.1f} min"
    )
    if opts.json is not None:
        data = {
            "command": command,
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()},
            "torch_threads": torch.get_num_threads(),
            "wall_seconds": round(wall, 1),
            "figures": figures(results),
            "seeds": [asdict(r) for r in results],
            "table": text,
        }
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
