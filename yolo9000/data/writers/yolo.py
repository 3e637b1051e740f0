"""Writing an Ultralytics YOLO dataset (`write_yolo`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from yolo9000.data.writers.records import ClassList, Picture
from yolo9000.data.writers.staging import (
    Folder,
    Names,
    box_classes,
    common_folder,
    count,
    left_out,
    prepare_splits,
    relative,
    slots,
    staging,
    write_extra,
    yolo_lines,
)


# ---- Ultralytics YOLO ---------------------------------------------------------------------------------------
def _ultralytics_label(image: str) -> str:
    from yolo9000.data.ultralytics import ultralytics_label_path

    return ultralytics_label_path(image)


def _yolo_split(folder: Folder, split: str, pics: list[Picture], slot: np.ndarray, counts: dict[str, int]) -> None:
    kept = [p for p in pics if p.label < 0]
    counts["left_out_classification"] += len(pics) - len(kept)
    root = common_folder([p.path for p in kept])
    base = folder.absolute("")
    names = Names(lambda rel: _ultralytics_label(os.path.join(base, "images", split, rel)))
    for p in kept:
        rel = names.take(relative(p.path, root))
        image = os.path.join(base, "images", split, rel)
        folder.place(p.path, f"images/{split}/{rel}")
        easy = ~p.difficult
        counts["left_out_difficult"] += int(p.difficult.sum())
        label = os.path.relpath(_ultralytics_label(image), base)
        folder.text(label, yolo_lines(slot[p.classes[easy]], p.boxes[easy], p.size))
        count(counts, p, int(easy.sum()))


def write_yolo(
    pictures: Iterable[Picture],
    classes: ClassList,
    out: str | Path,
    *,
    link: str = "symlink",
    val: Iterable[Picture] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An Ultralytics YOLO dataset in `out`: ``images/train/...``, a label file per picture where Ultralytics
    looks for it (``labels/train/....txt``: ``class cx cy w h`` normalized, 9 significant digits; empty for a
    background picture) and ``data.yaml`` (``train: images/train``, ``val: images/val`` with `val`, else the
    training folder again, as Ultralytics needs a ``val``; ``names`` {index: name}; no ``path``, so the yaml's
    folder is the root, for Ultralytics and our reader alike). Classes: every class of flat data (indices kept),
    else the tree nodes the boxes use, each under its display name where that finds it again, else its id.
    Classification-only pictures and difficult boxes are left out (counted and logged)."""
    import yaml

    train, held, counts = prepare_splits(pictures, val, classes)
    everything = train + (held or [])
    listed = box_classes(everything, classes, difficult=False)
    slot = slots(listed, len(classes))
    written = classes.written_names()
    with staging(out, everything, link) as folder:
        _yolo_split(folder, "train", train, slot, counts)
        if held is not None:
            _yolo_split(folder, "val", held, slot, counts["val"])
        doc = {
            "train": "images/train",
            "val": "images/val" if held is not None else "images/train",
            "names": {pos: written[k] for pos, k in enumerate(listed.tolist())},
        }
        head = (
            "# Ultralytics YOLO dataset written by yolo9000 (yolo9000.data.writers.write_yolo). No 'path': the folder\n"
            "# of this file is the dataset root. Labels: labels/<split>/<picture>.txt, class cx cy w h normalized.\n"
        )
        if held is None:
            head += "# No held-out split was given: 'val' names the training pictures.\n"
        folder.text("data.yaml", head + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), atomic=True)
        write_extra(folder, extra)
    left_out(counts, Path(out), "Ultralytics YOLO", "the Darknet and COCO formats keep them")
    return counts
