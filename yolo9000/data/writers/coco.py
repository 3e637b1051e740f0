"""Writing COCO detection + class folders (`write_coco`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from yolo9000.data.writers.records import ClassList, Picture
from yolo9000.data.writers.staging import (
    UNSAFE,
    Folder,
    Names,
    box_classes,
    common_folder,
    count,
    flat_id,
    prepare_splits,
    relative,
    slots,
    staging,
    write_extra,
)


# ---- COCO + class folders -----------------------------------------------------------------------------------
def _folder_of(node: str) -> str | None:
    """`node` when it can be a folder name as it is, else None."""
    ok = node not in ("", ".", "..") and not node.startswith(".") and UNSAFE.sub("", node) == node
    return node if ok and len(node.encode("utf-8")) <= 255 else None


def _write_folders(folder: Folder, base: str, pics: list[Picture], classes: ClassList) -> None:
    """Classification-only pictures as class folders ``base/<node id>/<file>`` (`ClassFolders`' layout), with
    ``class_ids.csv`` for ids that cannot be folder names."""
    import csv
    import io

    from yolo9000.data.folders import FOLDER_IDS

    by_class: dict[int, list[Picture]] = {}
    for p in pics:
        by_class.setdefault(p.label, []).append(p)
    names = Names()
    renamed: list[tuple[str, str]] = []
    for k in sorted(by_class):
        node = classes.ids[k]
        name = _folder_of(node)
        if name is None:
            name = names.take(flat_id(node) or "class")
            renamed.append((name, node))
        else:
            names.take(name)
        group = by_class[k]
        root = common_folder([p.path for p in group])
        files = Names()
        for p in group:
            folder.place(p.path, f"{base}/{name}/{files.take(relative(p.path, root))}")
    if renamed:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([("folder", "id"), *renamed])
        folder.text(f"{base}/{FOLDER_IDS}", buf.getvalue(), atomic=True)


def _coco_split(
    folder: Folder, base: str, pics: list[Picture], classes: ClassList, cats: np.ndarray, counts: dict[str, int]
) -> None:
    """One split: ``base/annotations.json``, ``base/images/``, ``base/folders/``."""
    from wordtree.files import atomic_open

    slot = slots(cats, len(classes))
    det = [p for p in pics if p.label < 0]
    cls = [p for p in pics if p.label >= 0]
    root = common_folder([p.path for p in det])
    names = Names()
    prefix = f"{base}/" if base else ""
    categories = []
    for pos, k in enumerate(cats.tolist()):
        cat: dict[str, Any] = {"id": pos + 1, "name": classes.names[k]}
        if classes.tree is not None or classes.ids[k] != classes.names[k]:
            cat["node"] = classes.ids[k]
        categories.append(cat)
    path = folder.tmp / f"{prefix}annotations.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    n_ann = 0
    with atomic_open(path) as fh:
        fh.write('{"info": {"description": "written by yolo9000 (yolo9000.data.writers.write_coco)"},\n')
        fh.write(' "licenses": [],\n "images": [')
        for i, p in enumerate(det):
            rel = names.take(relative(p.path, root))
            folder.place(p.path, f"{prefix}images/{rel}")
            image = {"id": i + 1, "file_name": rel, "width": p.size[0], "height": p.size[1]}
            fh.write(("," if i else "") + "\n  " + json.dumps(image, ensure_ascii=False))
            count(counts, p, len(p.boxes))
        fh.write('\n ],\n "annotations": [')
        for i, p in enumerate(det):
            for (x1, y1, x2, y2), k, hard in zip(p.boxes.tolist(), p.classes.tolist(), p.difficult.tolist()):
                w, h = x2 - x1, y2 - y1
                ann = {
                    "id": n_ann + 1,
                    "image_id": i + 1,
                    "category_id": int(slot[k]) + 1,
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
                if hard:
                    ann["difficult"] = 1
                fh.write(("," if n_ann else "") + "\n  " + json.dumps(ann))
                n_ann += 1
        fh.write('\n ],\n "categories": [')
        fh.write(",".join("\n  " + json.dumps(c, ensure_ascii=False) for c in categories))
        fh.write("\n ]\n}\n")
    if cls:
        _write_folders(folder, f"{prefix}folders", cls, classes)
        for p in cls:
            count(counts, p, 0)


def write_coco(
    pictures: Iterable[Picture],
    classes: ClassList,
    out: str | Path,
    *,
    link: str = "symlink",
    val: Iterable[Picture] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """COCO detection + class folders in `out`: ``annotations.json`` (images named below ``images/``, boxes
    ``[x, y, w, h]`` in pixels, ``iscrowd`` 0; categories with ``id``, ``name`` and, for tree nodes or classes
    whose id is not their name, ``node``: the node id, which our readers place exactly), ``images/``, and the
    classification-only pictures as class folders ``folders/<node id>/`` (``folders/class_ids.csv`` maps the
    folders of ids that cannot be folder names, such as Open Images' ``/m/...``). A difficult box is an ordinary
    annotation with ``"difficult": 1`` (COCO has no such flag). Background pictures are images without
    annotations. Categories: every class of flat data (class k is category k + 1), else the tree nodes that
    boxes use. `val` goes to ``val/annotations.json``, ``val/images/``, ``val/folders/``. `extra`: more text
    files (relative name -> text) to put in the folder."""
    train, held, counts = prepare_splits(pictures, val, classes)
    everything = train + (held or [])
    cats = box_classes(everything, classes, difficult=True)
    with staging(out, everything, link) as folder:
        _coco_split(folder, "", train, classes, cats, counts)
        if held is not None:
            _coco_split(folder, "val", held, classes, cats, counts["val"])
        write_extra(folder, extra)
    return counts
