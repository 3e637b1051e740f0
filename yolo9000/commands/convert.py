"""`yolo9000 convert`: Darknet cfg + .weights -> our checkpoint, and a checkpoint -> Darknet files."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from wordtree.files import OutputFiles, prepare_output_files, write_text_atomic
from wordtree.formats import darknet_texts, read_names
from yolo9000.commands import options

EPILOG = """\
examples:
  # Darknet files -> checkpoint (tree and names found through the cfg or given explicitly)
  yolo9000 convert yolov2.cfg yolov2.weights --names coco.names -o yolov2.pt
  yolo9000 convert yolo9000.cfg yolo9000.weights --tree 9k.tree --names 9k.names -o yolo9000.pt

  # checkpoint -> Darknet files: out/model.cfg, out/model.weights (+ model.tree, model.names)
  yolo9000 convert runs/emoji/last.pt --to-darknet -o out/model
"""


def add_parser(subparsers: options.Subparsers) -> argparse.ArgumentParser:
    """Register `convert`."""
    p = subparsers.add_parser(
        "convert",
        help="convert Darknet cfg+weights to a checkpoint and back",
        description="Convert between Darknet files (.cfg + .weights [+ .tree/.names]) and a yolo9000 "
        "checkpoint. With two inputs (cfg, weights) writes a checkpoint; with one checkpoint "
        "input (or --to-darknet) writes Darknet files. Weights round-trip byte for byte.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="CFG WEIGHTS (CFG: a .cfg file or a model name: yolov2, yolo9000, tiny-yolo, ...), or CHECKPOINT",
    )
    p.add_argument(
        "-o", "--output", required=True, help="checkpoint path (.pt), or the path stem of the Darknet files to write"
    )
    p.add_argument(
        "--to-darknet",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="checkpoint -> Darknet (implied by one input)",
    )
    p.add_argument("--tree", help="Darknet .tree (or our tree .json) for a cfg whose region uses a tree")
    p.add_argument("--names", help="class/node names file, one per line (stored in the checkpoint)")
    p.add_argument(
        "-f",
        "--force",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="overwrite output files this tool wrote before (never others)",
    )
    p.set_defaults(func=run)
    return p


def _check_free(paths: list[Path], force: bool, inputs: list[str | Path | None]) -> OutputFiles:
    """The output rule (`wordtree.files.prepare_output_files`): an existing file only with --force, and then
    only one this tool wrote; never an input. `record()` the result once the files are written."""
    return prepare_output_files(paths, command="yolo9000 convert", force=force, inputs=inputs, flag="-o")


def _read_names(path: str, count: int | None) -> list[str]:
    names = read_names(path)
    if count is not None and len(names) != count:
        raise ValueError(f"{path}: {len(names)} names but the model has {count} classes")
    return names


def to_checkpoint(cfg: str, weights: str, output: Path, tree: str | None, names: str | None) -> Path:
    """Darknet cfg + weights -> checkpoint; returns the checkpoint path."""
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.model import load_darknet
    from yolo9000.darknet.templates import is_template_name, load_template

    if is_template_name(cfg):  # a model name: a flat one is sized for the names given, as in detect and export
        sized = len(read_names(names)) if names and tree is None else None
        model = load_template(cfg, weights, tree, classes=sized, what="CFG")
    else:
        model = load_darknet(cfg, weights, tree=tree)
    classes = model.region.classes if model.region is not None else None
    name_list = _read_names(names, classes) if names else None
    if name_list is not None and model.tree is not None:
        from wordtree.tree import WordTree

        t = model.tree  # same structure, human names for the nodes
        model.tree = WordTree(t.ids, t.parent, name_list, label_maps=t.label_maps.values(), targets=t.targets)
    extra = {"weights_version": list(model.weights_version), "source": str(Path(cfg).name)}
    if model.region is not None and model.region.map is not None:
        extra["region_map"] = list(model.region.map)  # Darknet's map= file, which the cfg text only names
    return save_checkpoint(output, model, seen=model.seen, names=name_list, extra=extra)


def to_darknet(checkpoint: str, output: Path, force: bool) -> list[Path]:
    """Checkpoint -> `<output>.cfg`, `<output>.weights` (+ `.tree`, `.names`); returns the files written."""
    from yolo9000.darknet.checkpoint import load_checkpoint, load_model
    from yolo9000.darknet.weights import check_darknet_layers, save_weights

    stem = output.name[: -len(output.suffix)] if output.suffix in (".cfg", ".weights") else output.name
    directory = output.parent
    cfg_path, weights_path = directory / f"{stem}.cfg", directory / f"{stem}.weights"
    ckpt = load_checkpoint(checkpoint)
    model = load_model(checkpoint)
    check_darknet_layers(model, weights_path)  # before any file is written
    outs = [cfg_path, weights_path]
    tree_files = darknet_texts(model.tree, stem) if model.tree is not None else {}
    outs += [directory / n for n in tree_files]  # .tree, .names, .labels and one .map per label map
    region_map = ckpt.get("region_map")
    if region_map:
        outs.append(directory / f"{stem}.map")
    names = ckpt.get("names")
    if model.tree is None and names:
        outs.append(directory / f"{stem}.names")
    outputs = _check_free(outs, force, [checkpoint])
    text = model.cfg_text
    text = re.sub(r"(?m)^[ \t]*#[ \t]*tree_fingerprint[ \t]*=.*\n?", "", text)  # one line, ours, below
    if model.tree is not None:
        # the tree's identity as a comment Darknet skips (`yolo9000 eval` compares it with its ground truth's)
        text = f"# tree_fingerprint={model.tree.fingerprint}\n" + text
        # point the cfg at the tree we write beside it
        text, n = re.subn(r"(?m)^[ \t]*tree[ \t]*=.*$", f"tree={stem}.tree", text)
        if n == 0:
            text = re.sub(r"(?m)^[ \t]*\[region\][ \t]*$", f"[region]\ntree={stem}.tree", text, count=1)
        for file_name, content in tree_files.items():
            write_text_atomic(directory / file_name, content)
    if region_map:
        write_text_atomic(directory / f"{stem}.map", "\n".join(str(int(v)) for v in region_map) + "\n")
        text = re.sub(r"(?m)^[ \t]*map[ \t]*=.*$", f"map={stem}.map", text)
    if model.tree is None and names:
        write_text_atomic(directory / f"{stem}.names", "\n".join(names) + "\n")
    write_text_atomic(cfg_path, text)
    version = tuple(ckpt.get("weights_version") or (0, 2, 0))
    save_weights(model, weights_path, seen=int(ckpt.get("seen", 0)), version=version)
    outputs.record()
    return outs


def run(args: argparse.Namespace) -> int:
    """Entry point of `yolo9000 convert`."""
    from yolo9000.darknet.templates import is_template_name

    output = Path(args.output)
    if len(args.inputs) == 1 or args.to_darknet:
        if len(args.inputs) != 1:
            raise ValueError("--to-darknet takes exactly one input, the checkpoint")
        written = to_darknet(args.inputs[0], output, args.force)
        print("wrote " + ", ".join(str(p) for p in written))
        return 0
    if len(args.inputs) != 2:
        raise ValueError(f"expected CFG WEIGHTS or one CHECKPOINT, got {len(args.inputs)} inputs")
    cfg, weights = args.inputs
    if Path(cfg).suffix == ".weights" and (Path(weights).suffix == ".cfg" or is_template_name(weights)):
        cfg, weights = weights, cfg
    outputs = _check_free([output], args.force, [cfg, weights, args.tree, args.names])
    path = to_checkpoint(cfg, weights, output, args.tree, args.names)
    outputs.record()
    print(f"wrote {path}")
    return 0
