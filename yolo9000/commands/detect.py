"""`yolo9000 detect`: run a detector on images, folders or videos; JSON lines + annotated pictures + summary."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from yolo9000.commands import options
from yolo9000.commands.defaults import default_checkpoint, free_default_folder
from yolo9000.detection.decode import DecodeOptions

if TYPE_CHECKING:
    from yolo9000.detection.detection_model import DetectionModel

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("runs/detect")

EPILOG = """\
examples:
  # the emoji-world model trained by `yolo9000 train` (runs/emoji/last.pt) on its own test pictures
  yolo9000 detect
  # ... on your pictures and folders, labels with their tree path ("animal > dog > terrier (0.62)")
  yolo9000 detect photo.jpg pictures/ --show-path --out runs/mine
  # ... one label per object along a tree path: "terrier" removes an overlapping weaker "dog"
  yolo9000 detect pictures/ --tree-nms

  # Darknet's YOLO9000 (9418 WordTree nodes) exactly as `darknet detector test` labels boxes
  yolo9000 detect --cfg yolo9000.cfg --weights yolo9000.weights --tree 9k.tree --names 9k.names \\
      --mode darknet --thresh 0.5 street.jpg

  # a named template (yolov2, yolo9000, tiny-yolo, ...) instead of a cfg file
  yolo9000 detect --cfg yolov2 --weights yolov2.weights --names coco.names pictures/

  # Darknet's YOLOv2 (80 COCO classes) on a GPU, 16 pictures per batch, class-agnostic NMS
  yolo9000 detect --cfg yolov2.cfg --weights yolov2.weights --names coco.names --device cuda \\
      --batch-size 16 --agnostic-nms pictures/

  # a video (animated GIF/WebP; .mp4 and friends need PyAV): progress bar and frames/s, annotated GIF out
  yolo9000 detect --checkpoint runs/emoji/last.pt clip.gif

  # a model exported by `yolo9000 export`, run by ONNX Runtime / OpenVINO (fp32; same decode and outputs)
  yolo9000 detect --model yolov2.onnx pictures/
  yolo9000 detect --model yolo9000.xml street.jpg
  # a checkpoint run by OpenVINO (exported in memory); --precision fast: the fastest fp32 backend installed
  yolo9000 detect --checkpoint runs/emoji/last.pt --backend openvino pictures/

outputs (in --out): detections.jsonl (one JSON object per image or video frame: "image"/"video", "frame",
"width", "height", "detections": [{"box" x1 y1 x2 y2, "bbox" x y w h (pixels), "score", "objectness",
"label", "name", "prob", "index", and for trees "node", "id" and "path": [{"node", "id", "name", "prob",
"abs"}]}]), one annotated .jpg per image (.gif per video), index.html and summary.jpg. With --report-depth
K > 0 (default 3) tree detections also carry "walk": the greedy walk root..leaf, [{"node", "id", "name", "prob"
P(node|parent), "abs" P(node), "siblings": the K most likely of its group [{"node", "name", "prob"}]}];
index.html replays it to show where the walk stops for any --hier-thresh (open it in a browser: no server
needed).

scores: flat models score obj*P(class); tree models in --mode paper score obj*P(node) for the node where
the top-down walk stops (P > --hier-thresh); --mode darknet reproduces Darknet (the node from its
compounded walk, scored by the objectness alone, and do_nms_sort's tie order).
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `detect`."""
    p = subparsers.add_parser(
        "detect",
        help="detect objects in images, folders or videos",
        description="Run a YOLOv2/YOLO9000 model (our checkpoint, or Darknet cfg + weights [+ tree + names]) on "
        "images, folders and videos; write JSON lines, annotated pictures and an HTML summary. "
        "Missing or unreadable inputs are skipped and reported.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="image files, folders (searched recursively) or videos; default: the emoji world's "
        "test pictures when the model was trained on it",
    )
    m = options.add_model_options(p, "model (default: runs/emoji/last.pt)")
    options.add_exported_model_option(m)
    d = p.add_argument_group("detection")
    options.add_decode_options(d, DecodeOptions())
    options.add_nms_kind_options(d)
    options.add_runtime_options(p.add_argument_group("runtime"))
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
        "--show-path", action=argparse.BooleanOptionalAction, default=False, help="label boxes with their tree path"
    )
    o.add_argument(
        "--max-path", type=options.non_negative_int, default=3, help="nodes of the path shown with --show-path (0: all)"
    )
    o.add_argument(
        "--images",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write one annotated picture per image (.gif per video); --no-images: only detections.jsonl and the "
        "summary",
    )
    o.add_argument(
        "--summary",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the report (index.html, report/) and summary.jpg",
    )
    o.add_argument(
        "--report-depth",
        type=options.non_negative_int,
        default=3,
        metavar="K",
        help="tree models: store each box's walk to a leaf with the K most likely siblings per level (in "
        'detections.jsonl as "walk" and on the report page); 0: off (default 3)',
    )
    o.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a progress bar on a terminal, a line per 10%% of the images in a log",
    )
    o.add_argument("-q", "--quiet", dest="progress", action="store_false", help="the same as --no-progress")
    p.set_defaults(func=run)
    return p


def _default_checkpoint() -> Path:
    path = default_checkpoint()
    if not path.is_file():
        raise FileNotFoundError(
            f"no model given and no default checkpoint at {path}: run `yolo9000 train` "
            "first, or pass --checkpoint or --cfg/--weights"
        )
    return path


def _world_inputs(checkpoint: Path) -> list[str]:
    """The emoji world's test pictures when the checkpoint was trained on the (default) world."""
    from yolo9000.darknet.checkpoint import load_checkpoint
    from yolo9000.emoji.world import ensure_world, world_containing

    config = load_checkpoint(checkpoint).get("config") or {}
    data = config.get("coco") or config.get("folders")
    world = world_containing(data) if data else Path(ensure_world(config.get("world")))  # old runs: no paths
    if world is None:
        raise ValueError(f"no inputs given ({checkpoint} was trained on your own data): name images, folders or videos")
    images = world / "test" / "images"
    if not images.is_dir():
        raise FileNotFoundError(f"{images}: the emoji world has no test pictures; name inputs explicitly")
    log.info("no inputs given: using the emoji world's test pictures in %s", images)
    return [str(images)]


def _out_dir(args: argparse.Namespace, inputs: list[str]) -> Path:
    from wordtree.files import prepare_output_dir

    if args.out is not None:
        out = Path(args.out)
        model_files = [args.checkpoint, args.cfg, args.weights, args.tree, args.names, args.model]
        # the rule of every writing command, checked before the model runs (the writer marks the folder)
        prepare_output_dir(out, command="yolo9000 detect", force=args.force, inputs=inputs + model_files, save=False)
        if (out / "detections.jsonl").exists() and not args.force:
            raise ValueError(
                f"{out} already holds results (detections.jsonl); use --force to overwrite or another --out"
            )
        return out
    return free_default_folder(DEFAULT_OUT)


def _load_model(args: argparse.Namespace) -> tuple[DetectionModel, list[str] | None, str | Path | None]:
    """(model, names, checkpoint): an exported --model loaded into its runtime, else a checkpoint (default:
    the emoji world's) or Darknet files as a `DarknetModel` (`load_detector_model`, the loader of eval too)."""
    from yolo9000.inference.detector import load_detector_model

    checkpoint: str | Path | None = args.checkpoint
    if checkpoint is None and args.cfg is None and args.model is None:
        checkpoint = _default_checkpoint()
    model, names = load_detector_model(
        checkpoint=checkpoint,
        cfg=args.cfg,
        weights=args.weights,
        tree=args.tree,
        names=args.names,
        model=args.model,
        backend=args.backend,
        precision=args.precision,
    )
    return model, names, (checkpoint if args.model is None else None)


def run(args: argparse.Namespace) -> int:
    """Run `yolo9000 detect`."""
    from wordtree.files import plural
    from yolo9000.device import resolve_device
    from yolo9000.inference.runner import detect_files
    from yolo9000.progress import redirect_logging

    decoding = options.decode_options(args, **options.nms_kind(args), siblings=args.report_depth)
    if args.weights and not args.cfg:
        raise ValueError("--weights needs --cfg (a checkpoint is given with --checkpoint)")
    device = resolve_device(args.device)
    model, names, checkpoint = _load_model(args)
    inputs = list(args.inputs) or (_world_inputs(Path(checkpoint)) if checkpoint is not None else [])
    if not inputs:
        raise ValueError("no inputs given: name image files, folders or videos")
    out = _out_dir(args, inputs)
    detector = options.build_detector(args, model, names, decoding, device, "detect")
    with redirect_logging():  # warnings (a skipped file) print above the bar, never glued onto it
        report = detect_files(
            detector,
            inputs,
            out,
            batch_size=args.batch_size,
            save_images=args.images,
            show_path=args.show_path,
            max_path=args.max_path,
            summary=args.summary,
            workers=args.workers,
            progress=args.progress,
            exif=not args.ignore_exif,
            force=args.force,
        )
    rate = report.processed / max(report.seconds, 1e-9)
    model_rate = report.processed / max(report.model_seconds, 1e-9)
    what = plural(report.images, "image") + (f", {plural(report.frames, 'video frame')}" if report.frames else "")
    print(
        f"{what}: {report.detections} detections in {report.seconds:.1f}s "
        f"({rate:.1f}/s overall, {model_rate:.1f}/s model+decode on {device})"
    )
    for path, why in report.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(f"results: {report.jsonl}" + (f", summary: {report.summary}" if report.summary else ""))
    return 0
