"""`yolo9000 cfg`: write one of our model templates as a Darknet cfg sized for a user's tree (or classes)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from wordtree.files import prepare_output_files, write_text_atomic
from wordtree.formats import load_tree
from yolo9000.commands import options

EPILOG = """\
examples:
  # a YOLO9000 detector for your tree: classes = its nodes, tree= names the tree file
  yolo9000 cfg --template yolo9000 --tree shop.json -o shop.cfg
  yolo9000 train --cfg shop.cfg --tree shop.json --coco boxes.json --folders classes/
  yolo9000 detect --cfg shop.cfg --tree shop.json --weights shop.weights pictures/

  # a small tree detector at 320 px with your own anchors (from `yolo9000 anchors`)
  yolo9000 cfg --template tiny-yolo9000 --tree shop.json --size 320 --anchors 1.1 1.3 3.2 2.8 -o tiny.cfg

  # a flat YOLOv2 for 3 classes (no tree)
  yolo9000 cfg --template yolov2 --classes 3 -o three.cfg

The templates: {names}. The cfg names the tree by its path relative to the cfg's folder and records the
tree's fingerprint in a comment, so a model read from it with another tree is refused. An existing file is
never overwritten. `--cfg NAME` in train, detect, export, eval and convert renders the same template in memory.
"""


def add_parser(subparsers: options.Subparsers) -> argparse.ArgumentParser:
    """Register `cfg`."""
    from yolo9000.darknet.templates import template_names

    p = subparsers.add_parser(
        "cfg",
        help="write a model template as a Darknet cfg for your tree",
        description="Write one of our model templates as a Darknet cfg: sized for --tree (classes = the tree's "
        "nodes, a tree= line naming the tree file) or, for a flat template, for --classes.",
        epilog=EPILOG.format(names=", ".join(template_names())),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--template", required=True, help=f"template name ({', '.join(template_names())})")
    p.add_argument("--tree", type=Path, help="WordTree JSON (build-wordtree) or Darknet .tree")
    p.add_argument(
        "--classes", type=options.positive_int, help="classes of a flat template without --tree (default: its own)"
    )
    p.add_argument(
        "--anchors",
        type=options.positive_float,
        nargs="+",
        metavar="W H",
        help="anchor w h pairs in grid cells (from `yolo9000 anchors`; default: the template's)",
    )
    p.add_argument("--size", type=options.size32, help="input width and height (default: the template's)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the cfg file to write (never overwritten)")
    p.set_defaults(func=run)
    return p


def tree_reference(tree: Path, cfg: Path) -> str:
    """How the cfg names its tree file: relative to the cfg's folder (a cfg is read with its folder as the base
    of relative `tree=` paths), or absolute where no relative path exists (another drive)."""
    try:
        return Path(os.path.relpath(tree.resolve(), cfg.resolve().parent)).as_posix()
    except ValueError:
        return str(tree.resolve())


def cfg_text(args: argparse.Namespace) -> str:
    """The rendered cfg of `args.template` for `args.tree` / `args.classes` (with the tree's fingerprint)."""
    from yolo9000.darknet.templates import template_cfg

    tree = load_tree(args.tree) if args.tree is not None else None
    if tree is not None and args.classes is not None and args.classes != len(tree):
        raise ValueError(f"--classes {args.classes}: the tree {args.tree} has {len(tree)} nodes; drop --classes")
    text = template_cfg(
        args.template,
        tree,
        classes=args.classes,
        anchors=args.anchors,
        size=args.size,
        tree_file=tree_reference(args.tree, args.output) if args.tree is not None else None,
        what="--template",
    )
    if tree is not None:
        # the tree's identity as a comment Darknet skips: a model read from this cfg with another tree is refused
        text = f"# tree_fingerprint={tree.fingerprint}\n" + text
    return text


def run(args: argparse.Namespace) -> int:
    """Entry point of `yolo9000 cfg`."""
    out: Path = args.output
    if out.exists() or out.is_symlink():
        raise ValueError(f"-o {out}: already exists; yolo9000 cfg never overwrites a file, choose another -o")
    outputs = prepare_output_files([out], command="yolo9000 cfg", inputs=[args.tree], flag="-o")
    text = cfg_text(args)
    write_text_atomic(out, text)  # it makes the folder; a failed write is one line (WriteFailed)
    outputs.record()
    tree = f" --tree {args.tree}" if args.tree is not None else ""
    print(f"wrote {out} ({args.template} template{f' for the tree {args.tree}' if tree else ''})")
    print(f"train with: yolo9000 train --cfg {out}{tree} ...; detect with: yolo9000 detect --cfg {out}{tree} ...")
    return 0
