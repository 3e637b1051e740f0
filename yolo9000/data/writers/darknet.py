"""Writing YOLO9000's combine9k layout for Darknet (`write_darknet`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wordtree.tree import WordTree
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


# ---- Darknet (YOLO9000's combine9k) ---------------------------------------------------------------------------
def _darknet_label(image: str) -> str:
    from yolo9000.data.darknet_lists import darknet_label_path

    return str(darknet_label_path(image))


def write_darknet(
    pictures: Iterable[Picture],
    classes: ClassList,
    out: str | Path,
    *,
    link: str = "symlink",
    val: Iterable[Picture] | None = None,
    name: str = "dataset",
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """YOLO9000's combine9k layout in `out`, for a tree (`classes.tree`; an error without one):

    - ``images/...``: the pictures; ``labels/....txt`` where Darknet's rule looks (`darknet_label_path`): a box
      line ``k cx cy w h`` (normalized) with k a box class, and for a classification-only picture one line
      ``t 0 0 1 1`` with t its tree index (Darknet's x = y = 0 marker); an empty file for a background picture;
    - ``train.list`` (and ``valid.list`` with `val`): the pictures' absolute paths, as Darknet opens list entries
      from the folder it runs in;
    - ``<name>.map``: line k is the tree index of box class k (the shape of Darknet's coco9k.map);
    - ``<name>.tree``, ``<name>.names``, ``<name>.labels``: the tree in Darknet's files (node ids, names);
    - ``<name>.data``: ``classes`` (the node count), ``train``, ``valid``, ``names``, ``labels``, ``map`` and
      ``backup``, absolute paths. Darknet's own training reads the box map from the cfg's ``[region]`` (``tree=``
      and ``map=``), which a comment in the ``.data`` names.

    Darknet's label rule replaces the first "images", "JPEGImages" and "raw" anywhere in a picture's path, so an
    `out` whose absolute path holds one of them is refused. Difficult boxes are left out (Darknet has no flag)."""
    tree = classes.tree
    if tree is None:
        raise ValueError(
            f"{out}: a Darknet (combine9k) dataset needs a tree (its classification lines are tree indices)"
        )
    if not re.fullmatch(r"[A-Za-z0-9._+-]+", name):
        raise ValueError(f"{name!r}: the Darknet file stem must be a plain file name")
    train, held, counts = prepare_splits(pictures, val, classes)
    everything = train + (held or [])
    listed = box_classes(everything, classes, difficult=False)
    slot = slots(listed, len(classes))
    root = common_folder([p.path for p in everything])
    with staging(out, everything, link) as folder:
        base = folder.absolute("")
        probe = os.path.join(base, "images", "picture.png")
        if os.path.dirname(_darknet_label(probe)) != os.path.join(base, "labels"):
            raise ValueError(
                f"{out}: Darknet looks for a picture's labels by replacing the first 'images', 'JPEGImages' and "
                f"'raw' in its path, and the path {base} holds one; choose an output folder without them"
            )
        names = Names(lambda rel: _darknet_label(os.path.join(base, "images", rel)))
        lists: dict[str, list[str]] = {}
        for split, pics, part in (("train", train, counts), ("valid", held, counts.get("val"))):
            if pics is None or part is None:
                continue
            entries = lists.setdefault(split, [])
            for p in pics:
                rel = names.take(relative(p.path, root))
                image = os.path.join(base, "images", rel)
                folder.place(p.path, f"images/{rel}")
                if p.label >= 0:
                    text, boxes = f"{p.label} 0 0 1 1\n", 0
                else:
                    easy = ~p.difficult
                    part["left_out_difficult"] += int(p.difficult.sum())
                    text, boxes = yolo_lines(slot[p.classes[easy]], p.boxes[easy], p.size), int(easy.sum())
                folder.text(os.path.relpath(_darknet_label(image), base), text)
                entries.append(image)
                count(part, p, boxes)
        _write_darknet_files(folder, tree, listed, name, lists)
        write_extra(folder, extra)
    left_out(counts, Path(out), "Darknet", "")
    return counts


def _write_darknet_files(
    folder: Folder, tree: WordTree, listed: np.ndarray, name: str, lists: dict[str, list[str]]
) -> None:
    """The lists, the tree's files, the box map and the ``.data``."""
    from wordtree.formats import darknet_texts

    for split, entries in lists.items():
        folder.text(f"{split}.list", "".join(f"{e}\n" for e in entries), atomic=True)
    texts = darknet_texts(tree, name)
    for suffix in (".tree", ".names", ".labels"):
        folder.text(f"{name}{suffix}", texts[f"{name}{suffix}"], atomic=True)
    folder.text(f"{name}.map", "".join(f"{k}\n" for k in listed.tolist()), atomic=True)
    at = folder.absolute
    lines = [
        "# combine9k-style data written by yolo9000 (yolo9000.data.writers.write_darknet).",
        "# Box label lines use the classes of map= (line k: the tree index of box class k); x = y = 0 lines are",
        "# classification-only pictures whose class is a tree index. Darknet's training reads the box map from the",
        f"# cfg's [region]: tree={at(name + '.tree')} map={at(name + '.map')}",
        f"classes = {len(tree)}",
        f"train = {at('train.list')}",
    ]
    if "valid" in lists:
        lines.append(f"valid = {at('valid.list')}")
    lines += [
        f"names = {at(name + '.names')}",
        f"labels = {at(name + '.labels')}",
        f"map = {at(name + '.map')}",
        "backup = backup/",
    ]
    folder.text(f"{name}.data", "\n".join(lines) + "\n", atomic=True)
