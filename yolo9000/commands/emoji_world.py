"""`yolo9000 emoji-world OUT`: draw the synthetic emoji world (coarse boxes, fine class folders, fine test)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from wordtree.files import plural
from yolo9000.commands import options

EPILOG = """\
examples:
  yolo9000 emoji-world data/emoji                 # the default world (about 4,000 pictures)
  yolo9000 emoji-world /tmp/tiny --detection 64 --classification-per-class 8 --test 16 --size 160
  yolo9000 emoji-world data/emoji-all --classes all --seed 3 --workers 2
  yolo9000 emoji-world data/emoji --force         # replace a world made with other settings
  yolo9000 emoji-world data/emoji-habitat --taxonomy habitat   # same pictures, a hierarchy that is not WordNet's
  yolo9000 train --world data/emoji-habitat --out runs/habitat  # train on it: its taxonomy, tree and splits
  yolo9000 emoji-world data/emoji --formats coco,yolo,darknet,voc,oi   # also as YOLO, Darknet, VOC, Open Images

The world holds detection/ (COCO boxes at coarse labels: bird, canine, car, ...), detection_fine/ (the same
boxes at fine labels), classification/<wnid>/ (fine labels, no boxes; insects never get a box), test/ (COCO
boxes at fine labels, plus annotations_coarse.json), wordtree.json and a README. Same settings and seed give
the same bytes. --taxonomy habitat labels the same pictures with a hierarchy of user ids (sky / water / land
animals, vehicles by medium, fruit by colour; the minibeasts never get a box), written as hierarchy.csv.

--formats writes the same world again, from its COCO files and class folders, as yolo/ (Ultralytics data.yaml),
darknet/ (combine9k: emoji.data, train.list, x = y = 0 lines for the class folders' pictures), voc/ (a VOC year
folder with labelmap.txt) and oi/ (Open Images CSVs in the habitat taxonomy, hierarchy.json, wordtree.json);
the pictures are links to the world's own. coco is the world itself. Formats already there are kept, so adding a
format to a world writes only that one.
"""


def add_parser(subparsers: options.Subparsers) -> argparse.ArgumentParser:
    """Register `emoji-world` on the `yolo9000` sub-command parser."""
    from yolo9000.emoji.classes import CLASS_SETS, TAXONOMIES
    from yolo9000.emoji.world import WorldConfig

    d = WorldConfig()
    p = subparsers.add_parser(
        "emoji-world",
        help="generate the synthetic emoji world (joint detection + classification data)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", type=Path, metavar="OUT", help="output directory (created; refused if it holds other files)")
    p.add_argument("--seed", type=options.non_negative_int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument(
        "--detection",
        type=options.positive_int,
        default=d.n_detection,
        metavar="N",
        help=f"detection pictures (default {d.n_detection})",
    )
    p.add_argument(
        "--classification-per-class",
        type=options.positive_int,
        default=d.n_classification_per_class,
        metavar="N",
        help=f"classification pictures per fine class (default {d.n_classification_per_class})",
    )
    p.add_argument(
        "--test", type=options.positive_int, default=d.n_test, metavar="N", help=f"test pictures (default {d.n_test})"
    )
    p.add_argument(
        "--size",
        type=options.positive_int,
        default=d.image_size,
        metavar="PX",
        help=f"detection/test picture side (default {d.image_size})",
    )
    p.add_argument(
        "--cls-size",
        type=options.positive_int,
        default=d.cls_image_size,
        metavar="PX",
        help=f"classification picture side (default {d.cls_image_size})",
    )
    p.add_argument(
        "--classes",
        choices=CLASS_SETS,
        default=d.class_set,
        help=f"class table: core (24 fine classes) or all (44) (default {d.class_set})",
    )
    p.add_argument(
        "--taxonomy",
        choices=TAXONOMIES,
        default=d.taxonomy,
        help=f"labels and tree: WordNet's, or habitat (a hierarchy that is not WordNet's) (default {d.taxonomy})",
    )
    p.add_argument(
        "--max-objects",
        type=options.positive_int,
        default=d.max_objects,
        metavar="N",
        help=f"most objects per detection/test picture (default {d.max_objects})",
    )
    p.add_argument(
        "--font",
        type=Path,
        default=None,
        help="colour emoji font (default $YOLO9000_EMOJI_FONT or Debian's NotoColorEmoji.ttf)",
    )
    p.add_argument(
        "--workers",
        type=options.non_negative_int,
        default=min(4, os.cpu_count() or 1),
        metavar="N",
        help="processes drawing pictures (the bytes do not depend on it; default: CPU count, at most 4)",
    )
    p.add_argument(
        "--formats",
        default="coco",
        metavar="LIST",
        help="dataset formats to write, comma-separated: coco (the world itself), yolo, darknet, voc, oi "
        "(Open Images, habitat taxonomy) (default coco)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an emoji world made with other settings (never one holding files it did not write)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress (bars on a terminal, a line per 10%% otherwise)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Generate the world and print where it went and what it holds."""
    from yolo9000.emoji.formats import describe, format_folder, parse_formats, train_command, write_formats
    from yolo9000.emoji.world import generate_world, read_manifest

    formats = parse_formats(args.formats)  # a typo stops the run before any picture is drawn
    start = time.perf_counter()
    before = read_manifest(args.out)
    try:
        out = generate_world(
            args.out,
            seed=args.seed,
            n_detection=args.detection,
            n_classification_per_class=args.classification_per_class,
            n_test=args.test,
            image_size=args.size,
            cls_image_size=args.cls_size,
            class_set=args.classes,
            taxonomy=args.taxonomy,
            max_objects=args.max_objects,
            font=args.font,
            workers=max(1, args.workers),
            force=args.force,
            progress=not args.quiet,
        )
    except FileExistsError as exc:
        raise ValueError(str(exc)) from None
    written = write_formats(out, formats)
    manifest = read_manifest(out) or {}
    counts = manifest.get("counts", {})
    tree = manifest.get("tree", {})
    kept = before is not None and before == manifest
    what = "kept the identical emoji world" if kept else "emoji world"
    print(f"{what} in {out} ({time.perf_counter() - start:.1f} s, seed {args.seed})")

    def n(key: str, noun: str, of: dict[str, int] = counts) -> str:
        return plural(int(of.get(key, 0)), noun, "boxes" if noun == "box" else None)

    boxes = f"{n('detection_boxes', 'box')} at {n('detection_categories', 'coarse label')}"
    print(f"  detection:      {n('detection_images', 'picture')}, {boxes}")
    classes = n("classification_classes", "class folder")
    print(f"  classification: {n('classification_images', 'picture')} in {classes} (fine labels)")
    print(f"  test:           {n('test_images', 'picture')}, {n('test_boxes', 'box')} at fine labels")
    print(f"  wordtree.json:  {n('nodes', 'node', tree)}, {n('groups', 'group', tree)}, depth {tree.get('max_depth')}")
    for fmt, counts in written.items():
        print(f"  {format_folder(out, fmt).name + '/:':<15} {describe(fmt, counts)}")
    print(f"  train on it:    yolo9000 train --world {out} --out runs/{out.name}")
    for fmt in written:
        print(f"    as {fmt + ':':<9} {train_command(out, fmt)}")
    return 0
