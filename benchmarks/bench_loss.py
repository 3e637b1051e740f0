"""Region loss (target building + loss, forward and backward) as a share of a training step.

Usage (from the repository root):
    python3 benchmarks/bench_loss.py                       # yolov2 (80 classes), 416, batch 16, CPU
    python3 benchmarks/bench_loss.py --model yolo9000      # tree head over Darknet's 9k.tree (9418 nodes)
    python3 benchmarks/bench_loss.py --device cuda --batch 64 --amp bf16 --channels-last
    python3 benchmarks/bench_loss.py --loss-only           # skip the (slow on CPU) model step

A step = model forward + loss + backward through model and loss. The loss share is the time of
`loss(raw) + backward to raw` on a detached copy of the head output, over the step time. Medians of
--repeats runs (after one warm-up) are printed; timings on a shared CPU are noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from yolo9000.detection.loss import RegionLoss  # noqa: E402
from yolo9000.detection.targets import Targets  # noqa: E402

TREE_9K = REPO.parent / "shared" / "reference" / "darknet" / "9k.tree"


def load_tree(path: Path | None):
    from wordtree.tree import WordTree

    if path is None:
        path = TREE_9K
    if not path.is_file():
        raise SystemExit(f"{path}: tree file not found (pass --tree)")
    return WordTree.from_darknet(path)


def build(model: str, tree, size: int):
    from yolo9000.darknet import templates

    if model == "yolov2":
        return templates.yolov2(classes=80, size=size)
    if model == "yolo9000":
        return templates.yolo9000(tree, size=size)
    raise SystemExit(f"unknown model {model}")


def random_targets(b: int, boxes: int, classes: int, cls_fraction: float, gen: torch.Generator) -> Targets:
    per = []
    n_cls = int(round(b * cls_fraction))
    for i in range(b):
        if i < n_cls:
            per.append(
                {"boxes": [], "nodes": [], "is_cls": True, "label": int(torch.randint(classes, (1,), generator=gen))}
            )
        else:
            xy = torch.rand(boxes, 2, generator=gen) * 0.8 + 0.1
            wh = torch.rand(boxes, 2, generator=gen) * 0.5 + 0.02
            per.append({"boxes": torch.cat([xy, wh], 1), "nodes": torch.randint(classes, (boxes,), generator=gen)})
    return Targets.collate(per)


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev: torch.device) -> float:
    sync(dev)
    t = time.perf_counter()
    fn()
    sync(dev)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("yolov2", "yolo9000"), default="yolov2")
    ap.add_argument("--tree", type=Path, help="Darknet .tree for --model yolo9000 (default: shared 9k.tree)")
    ap.add_argument("--size", type=int, default=416)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--boxes", type=int, default=8, help="boxes per detection image")
    ap.add_argument(
        "--cls-fraction",
        type=float,
        default=None,
        help="share of classification-only images (default .25 with a tree, else 0)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--loss-only", action="store_true", help="time only the loss on a random head output")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    tree = load_tree(args.tree) if args.model == "yolo9000" else None
    model = build(args.model, tree, args.size).to(dev).train()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    region = model.region
    cls_fraction = args.cls_fraction if args.cls_fraction is not None else (0.25 if tree is not None else 0.0)
    targets = random_targets(args.batch, args.boxes, region.classes, cls_fraction, gen).to(dev)
    loss_fn = RegionLoss(region, tree_softmax=getattr(model.head, "tree_softmax", None)).to(dev)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)

    def amp():
        return torch.autocast(dev.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()

    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    images = torch.rand(args.batch, 3, args.size, args.size, generator=gen).to(dev).contiguous(memory_format=mf)
    g = args.size // 32
    print(
        f"{args.model}: {region.num} anchors x {region.classes} classes ({'tree' if tree is not None else 'flat'}), "
        f"input {args.size} (grid {g}x{g}), batch {args.batch}, {args.boxes} boxes/detection image, "
        f"cls fraction {cls_fraction:.2f}, device {dev}, amp {args.amp}, channels_last {args.channels_last}, "
        f"threads {torch.get_num_threads()}"
    )

    with torch.no_grad(), amp():
        raw0 = model(images)
    raw_dtype = raw0.dtype

    def loss_step():
        raw = raw0.detach().requires_grad_(True)
        loss, parts = loss_fn(raw, targets, seen=1000)
        loss.backward()

    def loss_fwd():
        with torch.no_grad():
            loss_fn(raw0, targets, seen=1000)

    def train_step():
        model.zero_grad(set_to_none=True)
        with amp():
            raw = model(images)
        loss, _ = loss_fn(raw, targets, seen=1000)
        loss.backward()

    runs = {"loss fwd (targets + loss)": loss_fwd, "loss fwd+bwd": loss_step}
    if not args.loss_only:
        runs["train step (model fwd+bwd + loss)"] = train_step
    res: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in runs.items():  # interleaved, so load changes hit all alike
            res[name].append(timed(fn, dev))
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"head output {tuple(raw0.shape)} {raw_dtype}")
    for k, v in med.items():
        print(f"  {k:36s} median {v * 1e3:9.1f} ms   (runs: {', '.join(f'{x * 1e3:.1f}' for x in res[k])})")
    if not args.loss_only:
        share = med["loss fwd+bwd"] / med["train step (model fwd+bwd + loss)"]
        print(
            f"  loss share of the training step: {100 * share:.1f}%  "
            f"({args.batch / med['train step (model fwd+bwd + loss)']:.1f} images/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
