"""Datasets of any format as COCO ground truth, for the scorers that read COCO (`yolo9000 eval --data`,
`train --val-data`): one COCO dict whose categories name their tree node (so they place exactly), whose images
are named relative to one folder, with box sizes from each picture's header where the format gives 0..1 boxes."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wordtree.tree import WordTree
from yolo9000.data.image_io import image_size
from yolo9000.data.labelled import CLASSIFICATION, LabelledSource, class_nodes, iter_labels
from yolo9000.progress import track

log = logging.getLogger(__name__)


@dataclass
class CocoTruth:
    """`coco`: the COCO dict (images, annotations, categories); `root`: the folder its file names are relative
    to; `class_only`: (file, category id) of the classification-only pictures, which box scoring leaves out;
    `problems`: labels that did not read (left out)."""

    coco: dict
    root: Path
    class_only: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def coco_ground_truth(
    sources: Sequence[LabelledSource],
    tree: WordTree | None = None,
    *,
    names: dict[str, str] | None = None,
    label_map: str | None = None,
    exif: bool = True,
    progress: bool = False,
) -> CocoTruth:
    """The COCO ground truth of `sources`. With a tree, classes that place at the same node are one category
    (named by its node id in "node"); without, a category names the node its class names itself (a node id,
    a VOC name, a `names` row) for the scorer to place, else only its name. Difficult boxes (VOC) are written as
    crowd regions, which the COCO scorer ignores as VOC does, with "difficult": true."""
    from yolo9000.data.voc import voc_table

    table = {**voc_table(), **(names or {})}
    categories: dict[str, dict] = {}
    images: list[dict] = []
    annotations: list[dict] = []
    files: list[Path] = []
    truth = CocoTruth({}, Path("/"))
    for source in sources:
        if tree is not None:
            nodes = class_nodes(source.classes, tree, names=names, label_map=label_map, source=str(source.origin))
            found: list[str | None] = [tree.ids[int(n)] for n in nodes]
            shown = [tree.names[int(n)] for n in nodes]
        else:  # the node each class names (its own id, the VOC table, --names), placed by the scorer's tree
            found = [c.node if c.node is not None else table.get(c.name) for c in source.classes]
            shown = [c.name for c in source.classes]
        cat_id = np.zeros(len(shown), dtype=np.int64)
        for k, (node, name) in enumerate(zip(found, shown)):
            key = node if node is not None else name
            if key not in categories:
                categories[key] = {"id": len(categories) + 1, "name": name}
                if node is not None:
                    categories[key]["node"] = node
            cat_id[k] = categories[key]["id"]
        steps = track(
            iter_labels(source, truth.problems),
            total=len(source),
            desc="ground truth",
            unit="picture",
            enabled=progress,
        )
        for i, lab in steps:
            path = source.path(i)
            if lab.kind == CLASSIFICATION:
                truth.class_only.append((str(path), int(cat_id[lab.label])))
                continue
            size = lab.size or image_size(path, exif=exif)
            image_id = len(images) + 1
            images.append({"id": image_id, "width": int(size[0]), "height": int(size[1])})
            files.append(path)
            boxes = lab.pixel_boxes(*size)
            for box, c, hard in zip(boxes.tolist(), lab.classes.tolist(), lab.difficult.tolist()):
                x1, y1, x2, y2 = box
                ann = {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cat_id[c]),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": int(hard),
                }
                if hard:
                    ann["difficult"] = True
                annotations.append(ann)
    if not images:
        raise ValueError(f"{', '.join(str(s.origin) for s in sources)}: no pictures with boxes to score")
    # absolute, not resolved: a linked picture keeps its name (a converted dataset links to the originals)
    files = [Path(os.path.abspath(f)) for f in files]
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    for im, f in zip(images, files):
        im["file_name"] = str(f.relative_to(root))
    truth.coco = {"images": images, "annotations": annotations, "categories": list(categories.values())}
    truth.root = root
    if truth.class_only:
        log.info("%d classification-only picture(s) left out of box scoring", len(truth.class_only))
    return truth
