"""`yolo9000 data check SRC...`: what a dataset holds and what is wrong in it; `yolo9000 data convert SRC... --to
FORMAT OUT`: the same data written in another format (never over the user's files)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from yolo9000.commands import options

EPILOG = """\
SRC is any dataset `yolo9000 train --data` reads:
  an Ultralytics data.yaml          (labels by the images/ -> labels/ rule; no label file: a background picture)
  a Darknet .data                   (train=/valid= lists, names=, labels=, map=; combine9k's `k 0 0 w h` lines
                                     are classification-only pictures of tree index k; map= applies to boxes only)
  a Pascal VOC year folder          (VOCdevkit/VOC2007: Annotations/, JPEGImages/, ImageSets/Main/SPLIT.txt)
  an Open Images YAML               (boxes, image-level labels and class descriptions CSVs: see the README)
  a COCO .json (images: JSON_DIR/images) or a class-folder root

examples:
  yolo9000 data check VOCdevkit/VOC2007 --split test
  yolo9000 data check coco128/data.yaml --tree wordtree.json --json
  yolo9000 data convert data/emoji/detection/annotations.json data/emoji/classification \\
      --to darknet out/emoji-darknet --tree data/emoji/wordtree.json
  yolo9000 data convert VOCdevkit/VOC2007 --to yolo out/voc-yolo
"""

FORMATS = ("coco", "darknet", "yolo", "voc", "oi")


def add_parser(subparsers: options.Subparsers) -> argparse.ArgumentParser:
    """Register `data` (its sub-commands: `check`, `convert`)."""
    p = subparsers.add_parser(
        "data",
        help="check a dataset in any format, or convert it to another",
        description="Datasets in the formats detector users hold: check what they contain, convert between them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser(
        "check",
        help="count pictures, boxes, classification-only and background pictures and classes; list every problem",
        description="Read every label of each SRC and print what it holds and every problem with its file and line. "
        "Exit status 1 when there is a problem.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("sources", type=Path, nargs="+", metavar="SRC", help="datasets (see below)")
    _common(check)
    check.add_argument(
        "--json",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="print one JSON object: images, boxes, classification_images, background_images, classes, problems "
        "(the totals) and 'sources' (the same per SRC)",
    )
    check.set_defaults(func=run_check)
    convert = sub.add_parser(
        "convert",
        help="write SRC... as one dataset in another format",
        description="Write the pictures and labels of SRC... as one dataset in FORMAT in the new or empty folder "
        "OUT. Pictures are linked (--copy: copied); the sources are never changed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("sources", type=Path, nargs="+", metavar="SRC", help="datasets (see below)")
    convert.add_argument(
        "--to",
        required=True,
        nargs=2,
        metavar=("FORMAT", "OUT"),
        help="FORMAT: coco (annotations.json + images/ + folders/ for class pictures), darknet (a combine9k-style "
        "set: list, labels with x = y = 0 lines, .data, .names, .labels, .map, .tree; needs --tree), yolo "
        "(Ultralytics data.yaml), voc (a VOC year folder) or oi (Open Images CSVs and YAML); OUT: a new or empty "
        "folder",
    )
    _common(convert)
    convert.add_argument(
        "--copy", action=argparse.BooleanOptionalAction, default=False, help="copy the pictures instead of linking them"
    )
    convert.set_defaults(func=run_convert)
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tree", type=Path, metavar="T", help="WordTree JSON or Darknet .tree: place every class in it")
    p.add_argument("--split", default=None, metavar="NAME", help="split of a dataset file that has several")
    p.add_argument(
        "--names-csv", type=Path, default=None, metavar="CSV", help="name,id rows placing free-form class names"
    )
    p.add_argument("--label-map", default=None, metavar="NAME", help="the tree label map that names the classes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")


def _open(args: argparse.Namespace) -> list:
    from yolo9000.data.sources import open_source

    out = []
    for path in args.sources:
        try:
            out.append(open_source(path, args.split))
        except (ValueError, FileNotFoundError) as exc:
            text = str(exc)
            raise type(exc)(text if text.startswith(str(path)) else f"{path}: {text}") from None
    return out


def run_check(args: argparse.Namespace) -> int:
    """Entry point of `yolo9000 data check`."""
    from wordtree.files import plural
    from wordtree.formats import load_tree
    from yolo9000.data.labelled import SourceCounts, check_source, read_names_csv

    tree = load_tree(args.tree) if args.tree else None
    names = read_names_csv(args.names_csv) if args.names_csv else None
    sources = _open(args)
    per = []
    total = SourceCounts()
    for source in sources:
        c = check_source(source, tree=tree, names=names, label_map=args.label_map, progress=not args.quiet)
        per.append((source, c))
        total.images += c.images
        total.boxes += c.boxes
        total.classification_images += c.classification_images
        total.background_images += c.background_images
        total.problems += c.problems
    # classes over all sources: by node id (or name) of the classes each uses
    total.classes = per[0][1].classes if len(per) == 1 else len({k for _, c in per for k in c.used})
    if args.json:
        doc = total.as_dict()
        doc["sources"] = [
            {"source": str(s.origin), "format": s.format, "split": s.split, **c.as_dict()} for s, c in per
        ]
        print(json.dumps(doc, indent=1))
        return 1 if total.problems else 0
    for source, c in per:
        print(source.describe())
        print(f"  images:                {c.images}")
        print(f"  boxes:                 {c.boxes}")
        print(f"  classification images: {c.classification_images}")
        print(f"  background images:     {c.background_images}")
        print(f"  classes:               {c.classes}")
        print(f"  problems:              {len(c.problems)}")
        for problem in c.problems:
            print(f"    {problem}")
    if len(per) > 1:
        print(
            f"in all: {plural(total.images, 'image')}, {plural(total.boxes, 'box', 'boxes')}, "
            f"{total.classification_images} classification-only, {total.background_images} background, "
            f"{plural(total.classes, 'class', 'classes')}, {plural(len(total.problems), 'problem')}"
        )
    return 1 if total.problems else 0


def run_convert(args: argparse.Namespace) -> int:
    """Entry point of `yolo9000 data convert`."""
    import numpy as np

    from wordtree.formats import load_tree
    from yolo9000.data import writers
    from yolo9000.data.labelled import class_nodes, read_names_csv
    from yolo9000.data.sources import flat_names

    args.to, out = args.to
    args.out = Path(out)
    if args.to not in FORMATS:
        raise ValueError(f"--to {args.to}: not a format this writes (one of {', '.join(FORMATS)})")
    tree = load_tree(args.tree) if args.tree else None
    if args.to == "darknet" and tree is None:
        raise ValueError("--to darknet writes the tree beside the labels: give --tree")
    names = read_names_csv(args.names_csv) if args.names_csv else None
    sources = _open(args)
    for path in [*args.sources, *([args.tree] if args.tree else []), *([args.names_csv] if args.names_csv else [])]:
        if args.out.resolve() == Path(path).resolve() or Path(path).resolve().is_relative_to(args.out.resolve()):
            raise ValueError(f"{args.out}: the output folder holds the input {path}; choose another OUT")
    if tree is not None:
        classes = writers.ClassList.of_tree(tree)
        maps = [
            class_nodes(s.classes, tree, names=names, label_map=args.label_map, source=str(s.origin)) for s in sources
        ]
    else:
        flat_names(sources)  # the same classes in every source, else a --tree is needed
        classes = writers.ClassList.flat(sources[0].classes)
        maps = [np.arange(len(classes), dtype=np.int64) for _ in sources]

    def pictures() -> Iterator[writers.Picture]:
        for source, node_of in zip(sources, maps):
            yield from writers.pictures_of(source, node_of)

    write = writers.WRITERS["openimages" if args.to == "oi" else args.to]
    counts = write(pictures(), classes, args.out, link="copy" if args.copy else "symlink")
    what = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if isinstance(v, int) and v)
    print(f"wrote {args.to} data in {args.out} ({what})")
    return 0
