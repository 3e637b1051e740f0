"""Writing a dataset in another format: COCO + class folders, Ultralytics YOLO, Darknet's combine9k lists, Pascal
VOC and Open Images (`write_coco`, `write_yolo`, `write_darknet`, `write_voc`, `write_open_images`).

Every writer takes the same neutral records: `Picture` (an image file, its size, its boxes in pixels with class
indices, or the one class of a classification-only picture) and a `ClassList` (the names and node ids the class
indices point into; a tree when they are tree nodes). `pictures_of` makes them from any `LabelledSource`.

The rules every writer keeps:

- ``out`` must be a new or empty folder; anything else is refused with one line, and nothing is ever written
  outside it. The dataset is written into a hidden sibling folder and renamed to ``out`` when complete, so an
  interrupted run leaves no half dataset (the small files beside the labels go through
  `wordtree.files.write_text_atomic`; the label files, one per picture, are plain writes inside that folder).
- Images are placed in ``out`` as absolute symlinks (``link="symlink"``, the default), copies or hard links,
  never modified. Their paths below ``out`` keep the sub-paths below the pictures' common folder, so two
  pictures cannot share a name; where a format's own rule would still give two of them one label file (``a.png``
  and ``a.jpg``), the later one is renamed ``a~1.jpg``. A picture listed twice is written once.
- Boxes are clipped to their picture, and those left with no area are dropped (as training does).
- Classes go into a format that keeps only a name by their display name when that name finds the class again
  ("a node id, or the one node of that display name": unique, and no other class's id), else by their id.
- Formats without classification-only pictures (YOLO, VOC) or without a ``difficult`` flag (YOLO, Darknet,
  Open Images) leave those out, counted in the returned counts and logged; training leaves difficult boxes out
  anyway, so the training targets stay the same.

Each writer returns its counts: ``images``, ``boxes``, ``classification_images``, ``background_images`` written,
and what was left out (``left_out_classification``, ``left_out_difficult``, ``left_out_background``,
``dropped_boxes``, ``duplicates``), with the same keys under ``"val"`` for the held-out split (`val=`). A writer
holds the pictures' records in memory (a few hundred bytes each) to find their common folder and the classes used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from wordtree.files import plural, write_text_atomic, writing
from wordtree.tree import WordTree
from yolo9000.data.labelled import BACKGROUND, CLASSIFICATION, DETECTION, LabelError, LabelledSource, SourceClass
from yolo9000.data.sources import VOC_LABEL_MAP

log = logging.getLogger(__name__)

#: how images are placed in the output folder
LINKS = ("symlink", "copy", "hardlink")
#: normalized coordinates are written with 9 significant digits: a round trip within 1e-6 of the pixels
COORD = "%.9g"


# ---- the neutral records ------------------------------------------------------------------------------------
@dataclass
class Picture:
    """One picture to write.

    path:       the image file.
    size:       (width, height) in pixels ((0, 0) for a classification-only picture of unknown size).
    boxes:      (n,4) float64 x1,y1,x2,y2 in pixels.
    classes:    (n,) int64 index into the `ClassList`.
    difficult:  (n,) bool, boxes that scoring ignores (VOC's flag).
    label:      the class index of a classification-only picture (boxes then empty), else -1.
    """

    path: Path
    size: tuple[int, int]
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float64))
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    difficult: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    label: int = -1

    @property
    def kind(self) -> int:
        """`DETECTION`, `CLASSIFICATION` or `BACKGROUND` (as `ImageLabels.kind`)."""
        if self.label >= 0:
            return CLASSIFICATION
        return DETECTION if len(self.boxes) else BACKGROUND


def picture(
    path: str | Path,
    size: tuple[int, int],
    boxes: Sequence[Sequence[float]] | np.ndarray = (),
    classes: Sequence[int] | np.ndarray = (),
    difficult: Sequence[bool] | np.ndarray | None = None,
    *,
    label: int = -1,
) -> Picture:
    """A `Picture` from plain lists."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    c = np.asarray(classes, dtype=np.int64).reshape(-1)
    d = np.zeros(len(b), dtype=bool) if difficult is None else np.asarray(difficult, dtype=bool).reshape(-1)
    if not len(b) == len(c) == len(d):
        raise ValueError(f"{path}: {len(b)} boxes, {len(c)} classes and {len(d)} difficult flags")
    return Picture(Path(path), (int(size[0]), int(size[1])), b, c, d, int(label))


@dataclass
class ClassList:
    """The classes that `Picture.classes` and `Picture.label` index: display `names` and node `ids` (WordNet ids,
    user ids, Open Images MIDs; equal to the names for flat data). `tree`: the class indices are the nodes of
    this tree (`ClassList.of_tree`), which the Darknet writer needs and the others use to name classes."""

    names: list[str]
    ids: list[str]
    tree: WordTree | None = None

    def __post_init__(self) -> None:
        self.names, self.ids = [str(n) for n in self.names], [str(i) for i in self.ids]
        if len(self.names) != len(self.ids):
            raise ValueError(f"ClassList: {len(self.names)} names but {len(self.ids)} ids")
        if self.tree is not None and (tuple(self.ids) != self.tree.ids or tuple(self.names) != self.tree.names):
            raise ValueError("ClassList: with a tree, the classes are its nodes (use ClassList.of_tree)")

    @classmethod
    def of_tree(cls, tree: WordTree) -> ClassList:
        """Every node of `tree`, by node index."""
        return cls(list(tree.names), list(tree.ids), tree)

    @classmethod
    def flat(cls, classes: Sequence[SourceClass]) -> ClassList:
        """A source's own classes (no tree): each named by its name, its id its node where the source gives one."""
        return cls([c.name for c in classes], [c.node if c.node is not None else c.name for c in classes])

    def __len__(self) -> int:
        return len(self.names)

    def written_names(self) -> list[str]:
        """The name each class is written under where a format keeps only a name (YOLO, VOC): its display name
        when reading that name back finds this class alone (a node id first, else the one class of that display
        name), else its id."""
        count = Counter(self.names)
        ids = set(self.ids)
        out = []
        for name, node in zip(self.names, self.ids):
            ok = name and name.strip() == name and count[name] == 1 and (name == node or name not in ids)
            out.append(name if ok else node)
        return out


def pictures_of(source: LabelledSource, node_of: np.ndarray) -> Iterator[Picture]:
    """The pictures of `source` as `Picture`s, source class k becoming class ``node_of[k]`` (tree nodes, or the
    source's own indices). Normalized boxes become pixels of the size the labels state, else of the size in the
    image file's header. Pictures whose labels do not read (`LabelError`) or whose image is missing or
    unreadable are skipped, with one logged warning each kind, counting them."""
    from yolo9000.data.image_io import DecodeError, image_size

    node_of = np.asarray(node_of, dtype=np.int64)
    bad_labels: list[str] = []
    bad_images: list[str] = []
    for i in range(len(source)):
        try:
            lab = source.labels(i)
        except LabelError as exc:
            bad_labels.append(str(exc))
            continue
        path = source.path(i)
        size = lab.size
        try:
            if lab.label >= 0:
                if not path.is_file():
                    raise FileNotFoundError(f"{path}: image file not found")
            elif size is None:
                size = image_size(path)
        except (FileNotFoundError, DecodeError) as exc:
            bad_images.append(str(exc))
            continue
        w, h = size or (0, 0)
        boxes = lab.pixel_boxes(w, h).astype(np.float64, copy=True)
        label = int(node_of[lab.label]) if lab.label >= 0 else -1
        yield Picture(path, (int(w), int(h)), boxes, node_of[lab.classes], lab.difficult.copy(), label)
    for what, found in (("labels that do not read", bad_labels), ("missing or unreadable images", bad_images)):
        if found:
            log.warning(
                "%s: skipped %s with %s (first: %s)", source.describe(), plural(len(found), "picture"), what, found[0]
            )


# ---- shared machinery ---------------------------------------------------------------------------------------
def _empty_counts() -> dict[str, int]:
    keys = (
        "images",
        "boxes",
        "classification_images",
        "background_images",
        "left_out_classification",
        "left_out_difficult",
        "left_out_background",
        "dropped_boxes",
        "duplicates",
    )
    return dict.fromkeys(keys, 0)


def _prepare(pictures: Iterable[Picture], classes: ClassList, counts: dict[str, int]) -> list[Picture]:
    """The pictures checked (class indices in range, a size for pictures with boxes), each file once, boxes
    clipped to the picture and those without area dropped."""
    seen: set[str] = set()
    out: list[Picture] = []
    n = len(classes)
    for p in pictures:
        key = os.path.abspath(p.path)
        if key in seen:
            counts["duplicates"] += 1
            continue
        seen.add(key)
        if len(p.classes) and (p.classes.min() < 0 or p.classes.max() >= n) or p.label >= n:
            raise ValueError(f"{p.path}: a class index is outside the class list ({plural(n, 'class', 'classes')})")
        if p.label < 0 and len(p.boxes):
            w, h = p.size
            if w <= 0 or h <= 0:
                raise ValueError(f"{p.path}: a picture with boxes needs its size, got {w}x{h}")
            boxes = p.boxes.clip(0, [w, h, w, h])
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            counts["dropped_boxes"] += int((~keep).sum())
            p = replace(p, boxes=boxes[keep], classes=p.classes[keep], difficult=p.difficult[keep])
        out.append(p)
    return out


def _split(
    pictures: Iterable[Picture], val: Iterable[Picture] | None, classes: ClassList
) -> tuple[list[Picture], list[Picture] | None, dict[str, Any]]:
    """(train pictures, val pictures or None, counts with a "val" entry when there is one), prepared."""
    counts: dict[str, Any] = _empty_counts()
    train = _prepare(pictures, classes, counts)
    held = None
    if val is not None:
        counts["val"] = _empty_counts()
        held = _prepare(val, classes, counts["val"])
    return train, held, counts


def _common_folder(paths: Sequence[Path]) -> str:
    """The deepest folder holding every path ("" for none)."""
    if not paths:
        return ""
    return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])


def _relative(path: Path, root: str) -> str:
    """`path` below `root`, as a POSIX relative path."""
    return Path(os.path.relpath(os.path.abspath(path), root)).as_posix()


def _renamed(rel: str, k: int) -> str:
    stem, ext = posixpath.splitext(rel)
    return f"{stem}~{k}{ext}"


class _Names:
    """Unique names for placed files: a name whose `key` (its label file, its id) is taken gets ``~1``, ``~2``."""

    def __init__(self, key: Callable[[str], str] = lambda rel: rel) -> None:
        self.key = key
        self.names: set[str] = set()
        self.keys: set[str] = set()

    def take(self, rel: str) -> str:
        cand, k = rel, 0
        while cand in self.names or self.key(cand) in self.keys:
            k += 1
            cand = _renamed(rel, k)
        self.names.add(cand)
        self.keys.add(self.key(cand))
        return cand


class _Folder:
    """The staging folder of a dataset being written (`files`) and where its files will be (`final`)."""

    def __init__(self, tmp: Path, final: Path, link: str) -> None:
        self.tmp, self.final, self.link = tmp, final, link
        self._made: set[str] = set()

    def place(self, src: Path, rel: str) -> None:
        """Put the image `src` at `rel` (a symlink to its absolute path, a copy or a hard link)."""
        if not os.path.isfile(src):
            raise FileNotFoundError(f"{src}: image file not found")
        dst = self.tmp / rel
        self._mkdir(dst.parent)
        if self.link == "symlink":
            os.symlink(os.path.abspath(src), dst)
        elif self.link == "copy":
            shutil.copyfile(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError as exc:
                raise ValueError(
                    f"{src}: cannot hard-link it into {self.final} ({exc.strerror or exc}); use --link copy or symlink"
                ) from None

    def text(self, rel: str, text: str, *, atomic: bool = False) -> None:
        """Write a text file at `rel` (`atomic`: through `write_text_atomic`, for the dataset's own files)."""
        dst = self.tmp / rel
        self._mkdir(dst.parent)
        if atomic:
            write_text_atomic(dst, text)
        else:
            dst.write_text(text, encoding="utf-8")

    def absolute(self, rel: str) -> str:
        """The absolute path `rel` will have once the dataset is in place."""
        return str(self.final / rel)

    def _mkdir(self, folder: Path) -> None:
        key = str(folder)
        if key not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(key)


@contextlib.contextmanager
def _staging(out: str | Path, pictures: Sequence[Picture], link: str) -> Iterator[_Folder]:
    """A `_Folder` staged beside `out` and renamed to `out` on success (removed on failure). `out` must be new or
    an empty folder, and not inside a picture's folder; one-line ValueErrors otherwise."""
    if link not in LINKS:
        raise ValueError(f"link must be one of {', '.join(LINKS)}, got {link!r}")
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ValueError(f"{out}: exists and is not a folder; a dataset is written into a new or empty folder")
        if any(out.iterdir()):
            raise ValueError(f"{out}: folder is not empty; a dataset is written into a new or empty folder")
    final = out.absolute()
    for folder in {os.path.dirname(os.path.abspath(p.path)) for p in pictures}:
        here = Path(folder).resolve()
        if here == final.resolve() or here in final.resolve().parents:
            raise ValueError(f"{out}: is inside the picture folder {folder}; write the dataset somewhere else")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    with writing(out, kept="nothing was written"):
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    try:
        with writing(out, kept="nothing was written"):
            yield _Folder(tmp, final, link)
            if out.is_dir():
                out.rmdir()
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _box_classes(pictures: Iterable[Picture], classes: ClassList, *, difficult: bool) -> np.ndarray:
    """The class indices a format lists for its boxes: every class of flat data (indices kept), else the tree
    nodes the boxes use (`difficult`: counting difficult boxes), in node order."""
    if classes.tree is None:
        return np.arange(len(classes), dtype=np.int64)
    used = [p.classes if difficult else p.classes[~p.difficult] for p in pictures if p.label < 0]
    return np.unique(np.concatenate(used)) if used else np.zeros(0, np.int64)


def _slots(listed: np.ndarray, n: int) -> np.ndarray:
    """class index -> position in `listed` (-1 where not listed)."""
    slot = np.full(n, -1, dtype=np.int64)
    slot[listed] = np.arange(len(listed))
    return slot


def _yolo_lines(classes: np.ndarray, boxes: np.ndarray, size: tuple[int, int]) -> str:
    """``k cx cy w h`` lines, normalized to the picture, `COORD` digits."""
    if not len(boxes):
        return ""
    w, h = size
    x1, y1, x2, y2 = boxes.T
    table = np.stack(((x1 + x2) / (2 * w), (y1 + y2) / (2 * h), (x2 - x1) / w, (y2 - y1) / h), axis=1)
    fmt = f"%d {COORD} {COORD} {COORD} {COORD}\n"
    return "".join(fmt % (int(k), *row) for k, row in zip(classes, table.tolist()))


def _left_out(counts: Mapping[str, Any], out: Path, fmt: str, hint: str) -> None:
    """Log what a format could not hold."""
    for split in (counts, counts.get("val") or {}):
        if split.get("left_out_classification"):
            log.warning(
                "%s: %s left out: %s has no classification-only pictures (%s)",
                out,
                plural(split["left_out_classification"], "classification-only picture"),
                fmt,
                hint,
            )
        if split.get("left_out_difficult"):
            log.warning(
                "%s: %s left out: %s has no difficult flag (training leaves them out too)",
                out,
                plural(split["left_out_difficult"], "difficult box", "difficult boxes"),
                fmt,
            )


def _count(counts: dict[str, int], p: Picture, boxes: int) -> None:
    counts["images"] += 1
    counts["boxes"] += boxes
    counts["classification_images"] += p.kind == CLASSIFICATION
    counts["background_images"] += p.kind != CLASSIFICATION and boxes == 0


#: characters kept in a file-name id (VOC ids, Open Images ImageIDs, class folder names)
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def _flat_id(rel: str) -> str:
    """A file-name id of a relative picture path: its sub-path without the extension, ``/`` and unsafe
    characters as ``_``."""
    stem = posixpath.splitext(rel)[0]
    return _UNSAFE.sub("_", stem).strip("._") or "picture"


# ---- COCO + class folders -----------------------------------------------------------------------------------
def _folder_of(node: str) -> str | None:
    """`node` when it can be a folder name as it is, else None."""
    ok = node not in ("", ".", "..") and not node.startswith(".") and _UNSAFE.sub("", node) == node
    return node if ok and len(node.encode("utf-8")) <= 255 else None


def _write_folders(folder: _Folder, base: str, pics: list[Picture], classes: ClassList) -> None:
    """Classification-only pictures as class folders ``base/<node id>/<file>`` (`ClassFolders`' layout), with
    ``class_ids.csv`` for ids that cannot be folder names."""
    import csv
    import io

    from yolo9000.data.folders import FOLDER_IDS

    by_class: dict[int, list[Picture]] = {}
    for p in pics:
        by_class.setdefault(p.label, []).append(p)
    names = _Names()
    renamed: list[tuple[str, str]] = []
    for k in sorted(by_class):
        node = classes.ids[k]
        name = _folder_of(node)
        if name is None:
            name = names.take(_flat_id(node) or "class")
            renamed.append((name, node))
        else:
            names.take(name)
        group = by_class[k]
        root = _common_folder([p.path for p in group])
        files = _Names()
        for p in group:
            folder.place(p.path, f"{base}/{name}/{files.take(_relative(p.path, root))}")
    if renamed:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([("folder", "id"), *renamed])
        folder.text(f"{base}/{FOLDER_IDS}", buf.getvalue(), atomic=True)


def _coco_split(
    folder: _Folder, base: str, pics: list[Picture], classes: ClassList, cats: np.ndarray, counts: dict[str, int]
) -> None:
    """One split: ``base/annotations.json``, ``base/images/``, ``base/folders/``."""
    from wordtree.files import atomic_open

    slot = _slots(cats, len(classes))
    det = [p for p in pics if p.label < 0]
    cls = [p for p in pics if p.label >= 0]
    root = _common_folder([p.path for p in det])
    names = _Names()
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
            rel = names.take(_relative(p.path, root))
            folder.place(p.path, f"{prefix}images/{rel}")
            image = {"id": i + 1, "file_name": rel, "width": p.size[0], "height": p.size[1]}
            fh.write(("," if i else "") + "\n  " + json.dumps(image, ensure_ascii=False))
            _count(counts, p, len(p.boxes))
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
            _count(counts, p, 0)


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
    train, held, counts = _split(pictures, val, classes)
    everything = train + (held or [])
    cats = _box_classes(everything, classes, difficult=True)
    with _staging(out, everything, link) as folder:
        _coco_split(folder, "", train, classes, cats, counts)
        if held is not None:
            _coco_split(folder, "val", held, classes, cats, counts["val"])
        _extra(folder, extra)
    return counts


def _extra(folder: _Folder, extra: Mapping[str, str] | None) -> None:
    for rel, text in (extra or {}).items():
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"{rel}: an extra file must lie inside the dataset folder")
        folder.text(rel, text, atomic=True)


# ---- Ultralytics YOLO ---------------------------------------------------------------------------------------
def _ultralytics_label(image: str) -> str:
    from yolo9000.data.ultralytics import ultralytics_label_path

    return ultralytics_label_path(image)


def _yolo_split(folder: _Folder, split: str, pics: list[Picture], slot: np.ndarray, counts: dict[str, int]) -> None:
    kept = [p for p in pics if p.label < 0]
    counts["left_out_classification"] += len(pics) - len(kept)
    root = _common_folder([p.path for p in kept])
    base = folder.absolute("")
    names = _Names(lambda rel: _ultralytics_label(os.path.join(base, "images", split, rel)))
    for p in kept:
        rel = names.take(_relative(p.path, root))
        image = os.path.join(base, "images", split, rel)
        folder.place(p.path, f"images/{split}/{rel}")
        easy = ~p.difficult
        counts["left_out_difficult"] += int(p.difficult.sum())
        label = os.path.relpath(_ultralytics_label(image), base)
        folder.text(label, _yolo_lines(slot[p.classes[easy]], p.boxes[easy], p.size))
        _count(counts, p, int(easy.sum()))


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

    train, held, counts = _split(pictures, val, classes)
    everything = train + (held or [])
    listed = _box_classes(everything, classes, difficult=False)
    slot = _slots(listed, len(classes))
    written = classes.written_names()
    with _staging(out, everything, link) as folder:
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
        _extra(folder, extra)
    _left_out(counts, Path(out), "Ultralytics YOLO", "the Darknet and COCO formats keep them")
    return counts


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
    train, held, counts = _split(pictures, val, classes)
    everything = train + (held or [])
    listed = _box_classes(everything, classes, difficult=False)
    slot = _slots(listed, len(classes))
    root = _common_folder([p.path for p in everything])
    with _staging(out, everything, link) as folder:
        base = folder.absolute("")
        probe = os.path.join(base, "images", "picture.png")
        if os.path.dirname(_darknet_label(probe)) != os.path.join(base, "labels"):
            raise ValueError(
                f"{out}: Darknet looks for a picture's labels by replacing the first 'images', 'JPEGImages' and "
                f"'raw' in its path, and the path {base} holds one; choose an output folder without them"
            )
        names = _Names(lambda rel: _darknet_label(os.path.join(base, "images", rel)))
        lists: dict[str, list[str]] = {}
        for split, pics, part in (("train", train, counts), ("valid", held, counts.get("val"))):
            if pics is None or part is None:
                continue
            entries = lists.setdefault(split, [])
            for p in pics:
                rel = names.take(_relative(p.path, root))
                image = os.path.join(base, "images", rel)
                folder.place(p.path, f"images/{rel}")
                if p.label >= 0:
                    text, boxes = f"{p.label} 0 0 1 1\n", 0
                else:
                    easy = ~p.difficult
                    part["left_out_difficult"] += int(p.difficult.sum())
                    text, boxes = _yolo_lines(slot[p.classes[easy]], p.boxes[easy], p.size), int(easy.sum())
                folder.text(os.path.relpath(_darknet_label(image), base), text)
                entries.append(image)
                _count(part, p, boxes)
        _write_darknet_files(folder, tree, listed, name, lists)
        _extra(folder, extra)
    _left_out(counts, Path(out), "Darknet", "")
    return counts


def _write_darknet_files(
    folder: _Folder, tree: WordTree, listed: np.ndarray, name: str, lists: dict[str, list[str]]
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
    train, held, counts = _split(pictures, val, classes)
    everything = [p for p in train + (held or []) if p.label < 0]
    listed = _box_classes(everything, classes, difficult=True)
    written = classes.written_names()
    bad = [written[k] for k in listed.tolist() if ":" in written[k]]
    if bad:
        raise ValueError(f"{out}: class {bad[0]!r} has a ':', which CVAT's labelmap.txt cannot hold")
    root = _common_folder([p.path for p in everything])
    rounded = 0
    with _staging(out, everything, link) as folder:
        ids = _Names(lambda rel: _flat_id(rel).lower())
        for split, pics, part in (("trainval", train, counts), ("test", held, counts.get("val"))):
            if pics is None or part is None:
                continue
            listing = []
            for p in pics:
                if p.label >= 0:
                    part["left_out_classification"] += 1
                    continue
                rel = ids.take(_relative(p.path, root))
                id_ = _flat_id(rel)
                filename = id_ + Path(p.path).suffix.lower()
                folder.place(p.path, f"JPEGImages/{filename}")
                xml, n = _voc_xml(filename, p, written)
                rounded += n
                folder.text(f"Annotations/{id_}.xml", xml)
                listing.append(id_)
                _count(part, p, len(p.boxes))
            folder.text(f"ImageSets/Main/{split}.txt", "".join(f"{i}\n" for i in listing), atomic=True)
        # no "background" line (CVAT writes one for segmentation masks): every line is a class of the boxes
        lines = ["# label:color_rgb:parts:actions"]
        lines += [f"{written[k]}:{','.join(map(str, voc_colour(pos + 1)))}::" for pos, k in enumerate(listed.tolist())]
        folder.text(VOC_LABEL_MAP, "\n".join(lines) + "\n", atomic=True)
        _extra(folder, extra)
    if rounded:
        log.warning("%s: %d box edge(s) rounded to whole pixels (VOC stores whole pixels)", out, rounded)
    _left_out(counts, Path(out), "Pascal VOC", "the Darknet and COCO formats keep them")
    return counts


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
    folder: _Folder, base: str, pics: list[Picture], classes: ClassList, counts: dict[str, int]
) -> dict[str, str]:
    """One split's ``images/``, ``boxes.csv`` and ``labels.csv`` below `base`; its YAML entry."""
    prefix = f"{base}/" if base else ""
    root = _common_folder([p.path for p in pics])
    names = _Names(lambda rel: _flat_id(rel).lower())
    image_ids: dict[str, str] = {}  # one ImageID per file (a picture with several labels is listed once a label)
    boxes = [OI_BOX_HEADER]
    labels = [OI_LABEL_HEADER]
    for p in pics:
        key = os.path.abspath(p.path)
        if p.kind == BACKGROUND:
            counts["left_out_background"] += 1
            continue
        if key not in image_ids:
            image_id = _flat_id(names.take(_relative(p.path, root)))
            image_ids[key] = image_id
            folder.place(p.path, f"{prefix}images/{image_id}.jpg")  # the readers open <ImageID>.jpg
        image_id = _csv_field(image_ids[key])
        if p.label >= 0:
            labels.append(f"{image_id},{OI_SOURCE},{_csv_field(classes.ids[p.label])},1")
            _count(counts, p, 0)
            continue
        easy = ~p.difficult
        counts["left_out_difficult"] += int(p.difficult.sum())
        w, h = p.size
        fmt = f"{image_id},{OI_SOURCE},%s,1,{COORD},{COORD},{COORD},{COORD},0,0,0,0,0"
        for (x1, y1, x2, y2), k in zip(p.boxes[easy].tolist(), p.classes[easy].tolist()):
            boxes.append(fmt % (_csv_field(classes.ids[k]), x1 / w, x2 / w, y1 / h, y2 / h))
        _count(counts, p, int(easy.sum()))
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

    train, held, counts = _split(pictures, val, classes)
    everything = train + (held or [])
    with _staging(out, everything, link) as folder:
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
        _extra(folder, extra)
    for split in (counts, counts.get("val") or {}):
        if split.get("left_out_background"):
            log.warning(
                "%s: %s left out: Open Images lists a picture only by its boxes and labels",
                out,
                plural(split["left_out_background"], "background picture"),
            )
    _left_out(counts, Path(out), "Open Images", "")
    return counts


#: the writers by the name `yolo9000 data convert --to` and `emoji-world --formats` give them
WRITERS: dict[str, Callable[..., dict[str, Any]]] = {
    "coco": write_coco,
    "yolo": write_yolo,
    "darknet": write_darknet,
    "voc": write_voc,
    "openimages": write_open_images,
}
