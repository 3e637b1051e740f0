"""Writing an Open Images dataset (`write_open_images`, with `hierarchy_json` for its tree)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from wordtree.files import plural
from wordtree.tree import WordTree
from yolo9000.data.labelled import BACKGROUND
from yolo9000.data.writers.records import ClassList, Picture
from yolo9000.data.writers.staging import (
    COORD,
    Folder,
    Names,
    common_folder,
    count,
    flat_id,
    left_out,
    prepare_splits,
    relative,
    staging,
    write_extra,
)

log = logging.getLogger(__package__)  # one logger for the package, as before the split: yolo9000.data.writers


# ---- Open Images --------------------------------------------------------------------------------------------
#: the boxes CSV header of Open Images (v4 on)
OI_BOX_HEADER = (
    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
)
#: the image-level labels CSV header
OI_LABEL_HEADER = "ImageID,Source,LabelName,Confidence"
#: the ``Source`` written in both CSVs
OI_SOURCE = "yolo9000"


def _csv_field(value: str) -> str:
    """One CSV field, quoted where it must be."""
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def hierarchy_json(tree: WordTree) -> dict[str, Any]:
    """`tree` in Open Images' ``bbox_labels_600_hierarchy.json`` form: ``{"LabelName": top, "Subcategory": [...]}``
    nested by parent, the roots below one top entry that no class has (Open Images' Entity ``/m/0bl9f`` unless the
    tree has that id), which ``build-wordtree --hierarchy`` drops when the descriptions do not name it."""
    top = next(t for t in ("/m/0bl9f", "entity", "entity-top") if t not in tree)
    children: dict[int, list[int]] = {}
    for k, par in enumerate(tree.parent.tolist()):
        children.setdefault(par, []).append(k)

    def entry(label: str, kids: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = {"LabelName": label}
        if kids:
            out["Subcategory"] = [entry(tree.ids[k], children.get(k, [])) for k in kids]
        return out

    return entry(top, children.get(-1, []))


def _oi_split(
    folder: Folder, base: str, pics: list[Picture], classes: ClassList, counts: dict[str, int]
) -> dict[str, str]:
    """One split's ``images/``, ``boxes.csv`` and ``labels.csv`` below `base`; its YAML entry."""
    prefix = f"{base}/" if base else ""
    root = common_folder([p.path for p in pics])
    names = Names(lambda rel: flat_id(rel).lower())
    image_ids: dict[str, str] = {}  # one ImageID per file (a picture with several labels is listed once a label)
    boxes = [OI_BOX_HEADER]
    labels = [OI_LABEL_HEADER]
    for p in pics:
        key = os.path.abspath(p.path)
        if p.kind == BACKGROUND:
            counts["left_out_background"] += 1
            continue
        if key not in image_ids:
            image_id = flat_id(names.take(relative(p.path, root)))
            image_ids[key] = image_id
            folder.place(p.path, f"{prefix}images/{image_id}.jpg")  # the readers open <ImageID>.jpg
        image_id = _csv_field(image_ids[key])
        if p.label >= 0:
            labels.append(f"{image_id},{OI_SOURCE},{_csv_field(classes.ids[p.label])},1")
            count(counts, p, 0)
            continue
        easy = ~p.difficult
        counts["left_out_difficult"] += int(p.difficult.sum())
        w, h = p.size
        fmt = f"{image_id},{OI_SOURCE},%s,1,{COORD},{COORD},{COORD},{COORD},0,0,0,0,0"
        for (x1, y1, x2, y2), k in zip(p.boxes[easy].tolist(), p.classes[easy].tolist()):
            boxes.append(fmt % (_csv_field(classes.ids[k]), x1 / w, x2 / w, y1 / h, y2 / h))
        count(counts, p, int(easy.sum()))
    folder.text(f"{prefix}boxes.csv", "\n".join(boxes) + "\n", atomic=True)
    folder.text(f"{prefix}labels.csv", "\n".join(labels) + "\n", atomic=True)
    return {"images": f"{prefix}images", "boxes": f"{prefix}boxes.csv", "labels": f"{prefix}labels.csv"}


def write_open_images(
    pictures: Iterable[Picture],
    classes: ClassList,
    out: str | Path,
    *,
    link: str = "symlink",
    val: Iterable[Picture] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An Open Images dataset in `out`, as `yolo9000.data.open_images` reads it:

    - ``images/<ImageID>.jpg``: the pictures (ImageID: the picture's sub-path, ``_`` for ``/``); Open Images
      names every picture ``.jpg`` and so do its readers, so a PNG keeps its bytes under that name (decoders go
      by the content);
    - ``boxes.csv``: Open Images' header (`OI_BOX_HEADER`), one row per box, ``XMin,XMax,YMin,YMax`` in 0..1,
      ``Confidence`` 1, the ``Is...`` flags 0;
    - ``labels.csv``: ``ImageID,Source,LabelName,Confidence`` with ``Confidence`` 1 for each classification-only
      picture;
    - ``classes.csv``: ``LabelName,DisplayName`` of every class (node ids: MIDs, wnids or user ids);
    - with a tree, ``hierarchy.json`` in the form of Open Images' ``bbox_labels_600_hierarchy.json``
      (`hierarchy_json`): ``build-wordtree --hierarchy hierarchy.json --hierarchy-names classes.csv`` builds the
      tree again, for trees of user ids (a wnid is no user id);
    - ``openimages.yaml``: ``train:`` (``images``, ``boxes``, ``labels``), ``validation:`` for `val`
      (``validation/images``, ``validation/boxes.csv``, ...), and ``classes``, ``hierarchy``.

    Background pictures and difficult boxes are left out (Open Images lists a picture only through its boxes and
    labels, and has no difficult flag), counted and logged."""
    import yaml

    train, held, counts = prepare_splits(pictures, val, classes)
    everything = train + (held or [])
    with staging(out, everything, link) as folder:
        doc: dict[str, Any] = {"train": _oi_split(folder, "", train, classes, counts)}
        if held is not None:
            doc["validation"] = _oi_split(folder, "validation", held, classes, counts["val"])
        rows = [f"{_csv_field(i)},{_csv_field(n)}" for i, n in zip(classes.ids, classes.names)]
        folder.text("classes.csv", "LabelName,DisplayName\n" + "".join(r + "\n" for r in rows), atomic=True)
        doc["classes"] = "classes.csv"
        if classes.tree is not None:
            text = json.dumps(hierarchy_json(classes.tree), indent=1, ensure_ascii=False)
            folder.text("hierarchy.json", text + "\n", atomic=True)
            doc["hierarchy"] = "hierarchy.json"
        head = (
            "# Open Images dataset written by yolo9000 (yolo9000.data.writers.write_open_images); paths relative to\n"
            "# this file. Pictures: <images>/<ImageID>.jpg.\n"
        )
        folder.text("openimages.yaml", head + yaml.safe_dump(doc, sort_keys=False), atomic=True)
        write_extra(folder, extra)
    for split in (counts, counts.get("val") or {}):
        if split.get("left_out_background"):
            log.warning(
                "%s: %s left out: Open Images lists a picture only by its boxes and labels",
                out,
                plural(split["left_out_background"], "background picture"),
            )
    left_out(counts, Path(out), "Open Images", "")
    return counts
