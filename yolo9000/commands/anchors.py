"""`yolo9000 anchors`: k-means (1 - IoU) anchor priors from COCO-format training boxes, in grid units."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from wordtree.files import prepare_output_files, write_text_atomic
from yolo9000.commands import options

log = logging.getLogger(__name__)

EPILOG = """\
examples:
  # 5 anchors for a 416 input from COCO train boxes (image sizes from the JSON), plus the k = 1..9 table
  yolo9000 anchors --coco instances_train2014.json -k 5 --size 416

  # image sizes read from the files when the JSON lacks width/height; two datasets pooled
  yolo9000 anchors --coco a.json --images a/ --coco b.json --images b/ -k 3 --size 544

  # save anchors and the mean-IoU table as JSON (refuses to overwrite without --force)
  yolo9000 anchors --coco data/emoji/detection/annotations.json -k 5 --out anchors.json

The printed `anchors = ...` line goes into the [region] section of a cfg (with num = k), or to a
model constructor (`yolo9000.darknet.templates.yolov2(anchors=...)`). Units are grid cells (32 input pixels).
Boxes are measured after the letterbox (scaled by size / longest side); --stretch measures them on an
image stretched to size x size.
"""


def add_parser(subparsers: options.Subparsers) -> argparse.ArgumentParser:
    """Register `anchors`."""
    p = subparsers.add_parser(
        "anchors",
        help="anchor priors by k-means with the 1 - IoU distance",
        description="Cluster the (w, h) of training boxes with k-means and the distance 1 - IoU (YOLOv2, "
        "'Dimension Clusters'), print anchors in grid units for a cfg and the mean IoU for "
        "k = 1..max-k.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--coco",
        action="append",
        required=True,
        type=Path,
        metavar="JSON",
        help="COCO-format detection JSON (repeat to pool several)",
    )
    p.add_argument(
        "--images",
        action="append",
        type=Path,
        metavar="DIR",
        help="image folder of the matching --coco, used only for images without width/height",
    )
    p.add_argument("-k", "--num", type=options.positive_int, default=5, help="number of anchors (default 5)")
    p.add_argument("--size", type=options.size32, default=416, help="network input size in pixels (default 416)")
    p.add_argument(
        "--stretch",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="boxes relative to a stretched, not letterboxed, image",
    )
    p.add_argument(
        "--max-k", type=options.non_negative_int, default=9, help="mean-IoU table for k = 1..MAX_K (0: no table)"
    )
    p.add_argument(
        "--restarts",
        type=options.positive_int,
        default=3,
        help="k-means++ seedings for -k (best kept; default 3); the table uses one per k",
    )
    p.add_argument(
        "--max-boxes",
        type=options.positive_int,
        default=None,
        help="cluster a random sample of this many boxes (mean IoU still over all boxes)",
    )
    p.add_argument("--iters", type=options.positive_int, default=300, help="maximum k-means iterations (default 300)")
    p.add_argument("--seed", type=options.non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, help="also write anchors and table to this JSON file")
    p.add_argument(
        "-f",
        "--force",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="overwrite --out if this tool wrote it (never another file)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Load boxes, cluster, print the cfg line and the table."""
    import numpy as np

    from yolo9000.data.box_sizes import coco_box_sizes
    from yolo9000.detection.anchors import anchor_table, grid_sizes, kmeans_anchors

    images = args.images or []
    if images and len(images) != len(args.coco):
        raise ValueError(f"give --images once per --coco ({len(args.coco)} JSON files, {len(images)} folders)")
    if args.out is not None:  # an existing file only with --force, and then only one this tool wrote
        inputs = list(args.coco) + list(images)
        outputs = prepare_output_files([args.out], command="yolo9000 anchors", force=args.force, inputs=inputs)
    for d in images:
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: image folder not found")
    parts = [coco_box_sizes(j, images[i] if images else None) for i, j in enumerate(args.coco)]
    wh = grid_sizes(np.concatenate(parts), args.size, letterbox=not args.stretch)
    grid = args.size // 32
    kw = dict(iters=args.iters, seed=args.seed, max_boxes=args.max_boxes)
    res = kmeans_anchors(wh, args.num, restarts=args.restarts, **kw)
    print(
        f"{len(wh)} boxes from {len(args.coco)} file(s); input {args.size}x{args.size} "
        f"({'stretched' if args.stretch else 'letterboxed'}), grid {grid}x{grid}"
    )
    print(f"k = {args.num}: mean IoU {res.mean_iou:.4f}")
    print(res.cfg_line())
    print(f"num = {args.num}")
    table = None
    if args.max_k:
        table = anchor_table(wh, range(1, args.max_k + 1), restarts=1, **kw)
        print()
        print(table.to_string(formatters={"mean_iou": "{:.4f}".format}))
    if args.out is not None:
        doc = {
            "size": args.size,
            "letterbox": not args.stretch,
            "k": args.num,
            "anchors": [[float(w), float(h)] for w, h in res.anchors],
            "mean_iou": res.mean_iou,
            "boxes": int(len(wh)),
            "sources": [str(p) for p in args.coco],
        }
        if table is not None:
            doc["table"] = [
                {"k": int(k), "mean_iou": float(iou), "anchors": a}
                for k, iou, a in zip(table.index, table["mean_iou"], table["anchors"])
            ]
        write_text_atomic(args.out, json.dumps(doc, indent=2) + "\n")
        outputs.record()
        log.info("wrote %s", args.out)
    return 0
