"""`yolo9000 export`: a checkpoint or Darknet cfg + weights -> ONNX or OpenVINO IR, decoding metadata inside.

A detector exports its head logits (or Darknet's region output); a classifier (no [region]: `train --task
classify`, darknet19) its (batch, classes) class logits, for `yolo9000 classify --model`."""

from __future__ import annotations

import argparse
from pathlib import Path

from yolo9000.commands import options

EPILOG = """\
examples:
  # Darknet's YOLOv2 -> ONNX (head logits; yolo9000 decodes): run it with ONNX Runtime
  yolo9000 export --cfg yolov2.cfg --weights yolov2.weights --names coco.names -o yolov2.onnx
  yolo9000 detect --model yolov2.onnx pictures/

  # YOLO9000 over its 9418-node WordTree -> OpenVINO IR (yolo9000.xml + yolo9000.bin, fp32)
  yolo9000 export --cfg yolo9000.cfg --weights yolo9000.weights --tree 9k.tree --names 9k.names \\
      --format openvino -o yolo9000.xml
  yolo9000 detect --model yolo9000.xml street.jpg

  # a named template (yolov2, yolo9000, tiny-yolo, ...) instead of a cfg file
  yolo9000 export --cfg yolov2 --weights yolov2.weights --names coco.names -o yolov2.onnx

  # a checkpoint, with Darknet's activated region output (tree softmax included) in the graph
  yolo9000 export --checkpoint runs/emoji/last.pt --output region -o emoji.onnx

  # a classifier (`train --task classify`, or darknet19 sized for a tree): its class logits
  yolo9000 export --checkpoint runs/classify-train/last.pt -o classifier.onnx
  yolo9000 export --cfg darknet19 --weights darknet19.weights --tree 9k.tree --names 9k.names -o darknet19.xml
  yolo9000 classify --model classifier.onnx pictures/

The file holds what decoding needs (metadata_props / rt_info "yolo9000": input size and letterbox, anchors,
classes, names, the tree and its fingerprint, the output kind; a classifier's say task "classify"), so
`detect --model FILE` (or `classify --model FILE`) needs nothing else. Input "images": (batch, 3, H, W) RGB in
0..1, letterboxed as Darknet does (0.5 canvas); output "output" ((batch, classes) logits for a classifier).
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `export`."""
    p = subparsers.add_parser(
        "export",
        help="export a model to ONNX or OpenVINO IR for deployment",
        description="Write a YOLOv2/YOLO9000 model or a classifier (our checkpoint, or Darknet cfg + weights [+ tree "
        "+ names]) as ONNX (dynamic batch axis, checked with onnx.checker) or OpenVINO IR, with the decoding "
        "metadata inside.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_model_options(p)
    o = p.add_argument_group("export")
    o.add_argument(
        "--output",
        choices=("raw", "region"),
        default="raw",
        help="raw: the head's logits, decoded by yolo9000 (default; fastest; a classifier's class logits); region: "
        "Darknet's activated region output, tree softmax included (detectors only)",
    )
    o.add_argument(
        "--format",
        choices=("onnx", "openvino"),
        default=None,
        help="onnx, or openvino (IR .xml + .bin through OpenVINO's converter); default: from -o's suffix",
    )
    o.add_argument("--size", type=options.size32, default=None, help="input size (default: the cfg's width/height)")
    o.add_argument("--opset", type=options.positive_int, default=17, help="ONNX opset (default 17)")
    o.add_argument("-o", "--out", required=True, help="the file to write: NAME.onnx, or NAME.xml for --format openvino")
    o.add_argument(
        "-f",
        "--force",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="overwrite output files this tool wrote before (never others)",
    )
    p.set_defaults(func=run)
    return p


def _format(args: argparse.Namespace, out: Path) -> str:
    suffix = out.suffix.lower()
    fmt = args.format or ("openvino" if suffix == ".xml" else "onnx")
    want = ".onnx" if fmt == "onnx" else ".xml"
    if suffix != want:
        raise ValueError(f"-o {out}: --format {fmt} writes a {want} file; name it NAME{want}")
    return fmt


def _checkpoint_cfg_text(path: Path) -> str | None:
    """The cfg text stored in a checkpoint, read without loading its tensors (memory-mapped); None when the file
    cannot be read so (the loader then says what is wrong)."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception:  # noqa: BLE001 - any unreadable file: the loader's one-line error follows
        return None
    text = ckpt.get("cfg_text") if isinstance(ckpt, dict) else None
    return text if isinstance(text, str) else None


def _is_classifier(checkpoint: str | Path | None, cfg: str | Path | None) -> bool:
    """Whether the model named has no [region] layer (a classifier), read from its cfg text before any weights
    load: a template name, a cfg file, or the cfg text in a checkpoint. False where that cannot be read: the
    detector's loader then reports the file."""
    from yolo9000.darknet.cfg import parse_cfg
    from yolo9000.darknet.templates import CLASSIFIERS, is_template_name, template_key

    if cfg is not None:
        if is_template_name(cfg):
            return template_key(str(cfg)) in CLASSIFIERS
        text = Path(cfg).read_text(encoding="utf-8", errors="replace") if Path(cfg).is_file() else None
    else:
        text = _checkpoint_cfg_text(Path(checkpoint)) if checkpoint is not None and Path(checkpoint).is_file() else None
    if text is None:
        return False
    try:
        return not any(s.name == "region" for s in parse_cfg(text))
    except ValueError:  # a malformed cfg: reported by the loader
        return False


def run(args: argparse.Namespace) -> int:
    """Entry point of `yolo9000 export`."""
    from wordtree.files import prepare_output_files
    from yolo9000.detection.detection_model import region_parts
    from yolo9000.inference.classify import load_classifier
    from yolo9000.inference.detector import load_detector_model
    from yolo9000.inference.export import classifier_classes, export

    out = Path(args.out)
    fmt = _format(args, out)
    if args.weights and not args.cfg:
        raise ValueError("--weights needs --cfg (a checkpoint is given with --checkpoint)")
    if args.checkpoint is None and args.cfg is None:
        raise ValueError("no model: give --checkpoint, or --cfg with --weights")
    classifier = _is_classifier(args.checkpoint, args.cfg)
    if classifier and args.output != "raw":
        raise ValueError(
            f"--output {args.output}: {args.checkpoint or args.cfg} is a classifier; its export is its class "
            "logits (--output region applies to detectors)"
        )
    files = [out] + ([out.with_suffix(".bin")] if fmt == "openvino" else [])
    inputs = [args.checkpoint, args.cfg, args.weights, args.tree, args.names]
    outputs = prepare_output_files(files, command="yolo9000 export", force=args.force, inputs=inputs, flag="-o")
    if classifier:
        model, names = load_classifier(
            checkpoint=args.checkpoint, cfg=args.cfg, weights=args.weights, tree=args.tree, names=args.names
        )
    else:
        model, names = load_detector_model(
            checkpoint=args.checkpoint, cfg=args.cfg, weights=args.weights, tree=args.tree, names=args.names
        )
    export(model, out, format=fmt, output=args.output, names=names, size=args.size, opset=args.opset)
    outputs.record()
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    if classifier:
        what = f"class logits, {classifier_classes(model)} classes{', tree' if model.tree is not None else ''}"
        then = f"classify with: yolo9000 classify --model {out} PICS"
    else:
        region, _ = region_parts(model)  # load_detector_model checked it
        what = f"{args.output} output, {region.classes} classes{', tree' if region.tree is not None else ''}"
        then = f"detect with: yolo9000 detect --model {out} IMAGES"
    print(f"wrote {' + '.join(str(f) for f in files)} ({fmt}, {what}, {megabytes:.1f} MB)")
    print(then)
    return 0
