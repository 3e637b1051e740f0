"""Writing a Pascal VOC year folder (`write_voc`, with `voc_colour` for its labelmap)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from yolo9000.data.sources import VOC_LABEL_MAP
from yolo9000.data.writers.records import ClassList, Picture
from yolo9000.data.writers.staging import (
    Names,
    box_classes,
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


# ---- Pascal VOC ---------------------------------------------------------------------------------------------


def voc_colour(k: int) -> tuple[int, int, int]:
    """Colour k of the VOC devkit's colour map (VOClabelcolormap.m: the bits of k spread over r, g, b)."""
    r = g = b = 0
    for shift in range(7, -1, -1):
        r |= ((k >> 0) & 1) << shift
        g |= ((k >> 1) & 1) << shift
        b |= ((k >> 2) & 1) << shift
        k >>= 3
    return r, g, b


def _voc_xml(filename: str, p: Picture, names: list[str]) -> tuple[str, int]:
    """The annotation XML of one picture, and how many box edges were rounded to whole pixels."""
    from xml.sax.saxutils import escape

    w, h = p.size
    parts = [
        "<annotation>",
        "\t<folder>VOC</folder>",
        f"\t<filename>{escape(filename)}</filename>",
        "\t<source><database>written by yolo9000</database></source>",
        f"\t<size><width>{w}</width><height>{h}</height><depth>3</depth></size>",
        "\t<segmented>0</segmented>",
    ]
    # the inverse of the reader's x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax, on whole pixels
    edges = np.rint(p.boxes)
    rounded = int((np.abs(edges - p.boxes) > 1e-9).sum())
    lo = edges[:, :2] + 1
    hi = np.maximum(edges[:, 2:], lo)
    for (xmin, ymin), (xmax, ymax), k, hard in zip(
        lo.astype(int).tolist(), hi.astype(int).tolist(), p.classes.tolist(), p.difficult.tolist()
    ):
        parts += [
            "\t<object>",
            f"\t\t<name>{escape(names[k])}</name>",
            "\t\t<pose>Unspecified</pose>",
            "\t\t<truncated>0</truncated>",
            f"\t\t<difficult>{int(hard)}</difficult>",
            f"\t\t<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>",
            "\t</object>",
        ]
    parts.append("</annotation>")
    return "\n".join(parts) + "\n", rounded


def write_voc(
    pictures: Iterable[Picture],
    classes: ClassList,
    out: str | Path,
    *,
    link: str = "symlink",
    val: Iterable[Picture] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Pascal VOC year folder in `out`: ``Annotations/<id>.xml`` (size with depth 3; per object its name, pose,
    truncated, difficult and a ``bndbox`` of whole pixels: xmin = x1 + 1, ymin = y1 + 1, xmax = x2, ymax = y2,
    the inverse of the reader's rule; edges that are not whole pixels are rounded, logged),
    ``JPEGImages/<id>.<ext>``, ``ImageSets/Main/trainval.txt`` (and ``test.txt`` for `val`), and ``labelmap.txt``
    in CVAT's form (``# label:color_rgb:parts:actions``, then ``name:r,g,b::``), which names the classes of
    VOC-format data with classes other than VOC's 20. Ids are the pictures' sub-paths with ``_`` for ``/``.
    Classes: every class of flat data, else the tree nodes the boxes use, by display name where that finds the
    class again, else by id. Classification-only pictures are left out (counted and logged)."""
    train, held, counts = prepare_splits(pictures, val, classes)
    everything = [p for p in train + (held or []) if p.label < 0]
    listed = box_classes(everything, classes, difficult=True)
    written = classes.written_names()
    bad = [written[k] for k in listed.tolist() if ":" in written[k]]
    if bad:
        raise ValueError(f"{out}: class {bad[0]!r} has a ':', which CVAT's labelmap.txt cannot hold")
    root = common_folder([p.path for p in everything])
    rounded = 0
    with staging(out, everything, link) as folder:
        ids = Names(lambda rel: flat_id(rel).lower())
        for split, pics, part in (("trainval", train, counts), ("test", held, counts.get("val"))):
            if pics is None or part is None:
                continue
            listing = []
            for p in pics:
                if p.label >= 0:
                    part["left_out_classification"] += 1
                    continue
                rel = ids.take(relative(p.path, root))
                id_ = flat_id(rel)
                filename = id_ + Path(p.path).suffix.lower()
                folder.place(p.path, f"JPEGImages/{filename}")
                xml, n = _voc_xml(filename, p, written)
                rounded += n
                folder.text(f"Annotations/{id_}.xml", xml)
                listing.append(id_)
                count(part, p, len(p.boxes))
            folder.text(f"ImageSets/Main/{split}.txt", "".join(f"{i}\n" for i in listing), atomic=True)
        # no "background" line (CVAT writes one for segmentation masks): every line is a class of the boxes
        lines = ["# label:color_rgb:parts:actions"]
        lines += [f"{written[k]}:{','.join(map(str, voc_colour(pos + 1)))}::" for pos, k in enumerate(listed.tolist())]
        folder.text(VOC_LABEL_MAP, "\n".join(lines) + "\n", atomic=True)
        write_extra(folder, extra)
    if rounded:
        log.warning("%s: %d box edge(s) rounded to whole pixels (VOC stores whole pixels)", out, rounded)
    left_out(counts, Path(out), "Pascal VOC", "the Darknet and COCO formats keep them")
    return counts
