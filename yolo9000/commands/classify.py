"""`yolo9000 classify`: run a classifier on pictures and folders; JSON lines + a static HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yolo9000.commands import options
from yolo9000.commands.defaults import free_default_folder

DEFAULT_OUT = Path("runs/classify")

EPILOG = """\
examples:
  # a classifier trained by `yolo9000 train --task classify`, on pictures and folders (searched recursively)
  yolo9000 classify --checkpoint runs/classify-train/last.pt photo.jpg pictures/ --out runs/mine
  # Darknet's Darknet-19 on WordTree (a [softmax] tree= cfg), stopping where P(node) falls to .6
  yolo9000 classify --cfg darknet19.cfg --weights darknet19.weights --tree 9k.tree --names 9k.names \\
      --hier-thresh 0.6 pictures/
  # the darknet19 template sized for a tree (random weights without --weights), at 256 pixels
  yolo9000 classify --cfg darknet19 --tree wordtree.json --size 256 pictures/
  # a flat classifier: the top 3 classes
  yolo9000 classify --cfg darknet19 --weights darknet19.weights --names imagenet.names --top-k 3 pictures/
  # a classifier exported by `yolo9000 export`, run by ONNX Runtime (an OpenVINO .xml, or --backend openvino)
  yolo9000 export --checkpoint runs/classify-train/last.pt -o classifier.onnx
  yolo9000 classify --model classifier.onnx pictures/
  # the checkpoint itself in OpenVINO (exported in memory at --size; no file written)
  yolo9000 classify --checkpoint runs/classify-train/last.pt --backend openvino pictures/

outputs (in --out): predictions.jsonl, one JSON object per picture: "file", "width", "height", "top" (the
--top-k most likely leaves of a tree model by P(node), [{"node", "id", "name", "prob"}]; of a flat model its
classes, [{"label", "name", "prob"}]), "walk" (tree models: the greedy walk from the root to a leaf, the most
likely child at every level, [{"node", "id", "name", "prob" P(node|parent), "abs" P(node)}]; [] for flat models),
"stopped" (tree models: {"node", "id", "name", "abs"}, where the paper's walk stops: the last node on the walk
with P(node) > --hier-thresh, or the best root when none passes) and "tree_fingerprint". index.html shows each
picture's thumbnail (thumbs/) with its top classes and walk (open it in a browser: no server needed).

Pictures are letterboxed to the network size as `yolo9000 eval` classifies them; unreadable files are skipped and
reported. A detector (a model with [region], or an exported one) is refused: use `yolo9000 detect`.
"""


def add_parser(subparsers: options.Subparsers) -> argparse.ArgumentParser:
    """Register `classify`."""
    p = subparsers.add_parser(
        "classify",
        help="classify pictures with a tree (or flat) classifier",
        description="Run a classifier (our checkpoint, a Darknet classifier cfg + weights [+ tree + names], or an "
        "exported FILE.onnx / .xml) on pictures and folders; write each picture's top classes and its walk down the "
        "tree as JSON lines, and an HTML report. Missing or unreadable pictures are skipped and reported.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="picture files, or folders (searched recursively)")
    m = options.add_model_options(
        p,
        "model (required: a classifier, no [region])",
        tree_help="our tree JSON or a Darknet .tree: the tree of a --cfg whose [softmax] names none, or replacing it",
    )
    options.add_exported_model_option(m)
    c = p.add_argument_group("classification")
    c.add_argument(
        "--top-k",
        type=options.positive_int,
        default=5,
        metavar="K",
        help="leaves (tree models) or classes (flat ones) per picture, most likely first (default 5)",
    )
    c.add_argument(
        "--hier-thresh",
        type=options.threshold,
        default=0.5,
        help="tree: the walk stops where P(node) falls to this, in [0, 1) (default 0.5)",
    )
    r = p.add_argument_group("runtime")
    r.add_argument(
        "--size", type=options.size32, default=None, help="network input size, a multiple of 32 (default: the cfg's)"
    )
    r.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda if available)")
    r.add_argument(
        "--backend",
        choices=("torch", "onnxruntime", "openvino"),
        default=None,
        help="what runs the network: a checkpoint or cfg runs in torch (default), or is exported in memory at --size "
        "and runs in onnxruntime or openvino; an exported --model runs in onnxruntime (default for .onnx) or "
        "openvino (default for .xml)",
    )
    r.add_argument("--batch-size", type=options.positive_int, default=16, help="pictures per forward pass (default 16)")
    r.add_argument(
        "--workers",
        type=options.non_negative_int,
        default=2,
        help="picture-reading threads (0: read in the main thread; default 2)",
    )
    r.add_argument(
        "--ignore-exif",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="read the stored pixels, ignoring the EXIF orientation (as Darknet does; default: honour it)",
    )
    o = p.add_argument_group("output")
    o.add_argument(
        "--out",
        default=None,
        help=f"output folder (default {DEFAULT_OUT}, or a numbered sibling if that already holds results)",
    )
    o.add_argument(
        "--force",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="write into an --out that already holds results or other files (never over files this tool did not write)",
    )
    o.add_argument(
        "--summary",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the report (index.html and its thumbnails in thumbs/)",
    )
    o.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a progress bar on a terminal, a line per 10%% of the pictures in a log",
    )
    o.add_argument("-q", "--quiet", dest="progress", action="store_false", help="the same as --no-progress")
    p.set_defaults(func=run)
    return p


def _out_dir(args: argparse.Namespace, inputs: list[str]) -> Path:
    """--out checked by the rule of every writing command before the model runs (as `detect`'s), or the first
    free numbered default folder."""
    from wordtree.files import prepare_output_dir

    if args.out is None:
        return free_default_folder(DEFAULT_OUT)
    out = Path(args.out)
    model_files = [args.checkpoint, args.cfg, args.weights, args.tree, args.names, args.model]
    prepare_output_dir(out, command="yolo9000 classify", force=args.force, inputs=inputs + model_files, save=False)
    if (out / "predictions.jsonl").exists() and not args.force:
        raise ValueError(f"{out} already holds results (predictions.jsonl); use --force to overwrite or another --out")
    return out


def run(args: argparse.Namespace) -> int:
    """Run `yolo9000 classify`."""
    from yolo9000.device import resolve_device
    from yolo9000.inference.classify import Classifier, classify_files, load_classifier
    from yolo9000.progress import redirect_logging

    inputs = [str(i) for i in args.inputs]
    if not inputs:
        raise ValueError("no inputs given: name picture files or folders")
    device = resolve_device(args.device)
    model, names = load_classifier(
        checkpoint=args.checkpoint,
        cfg=args.cfg,
        weights=args.weights,
        tree=args.tree,
        names=args.names,
        model=args.model,
        backend=args.backend if args.model is not None else None,
    )
    out = _out_dir(args, inputs)
    classifier = Classifier(
        model,
        names,
        top_k=args.top_k,
        hier_thresh=args.hier_thresh,
        size=args.size,
        device=device,
        backend=args.backend,
    )
    source = args.model or args.checkpoint or args.cfg
    print(f"yolo9000 classify: {source} ({classifier.describe()})")
    settings = {
        "model": str(source),
        "top_k": args.top_k,
        "hier_thresh": args.hier_thresh,
        "size": list(classifier.size),
    }
    with redirect_logging():  # warnings (a skipped file) print above the bar, never glued onto it
        report = classify_files(
            classifier,
            inputs,
            out,
            batch_size=args.batch_size,
            workers=args.workers,
            progress=args.progress,
            exif=not args.ignore_exif,
            summary=args.summary,
            force=args.force,
            settings=settings,
        )
    print(report.line(device))
    for path, why in report.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(f"results: {report.jsonl}" + (f", report: {report.page}" if report.page else ""))
    return 0
