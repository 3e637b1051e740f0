"""The machinery every writer shares: the pictures checked and split (`prepare_splits`), the staging folder
that becomes the dataset (`staging`, `Folder`), unique names (`Names`), the classes a format lists
(`box_classes`, `slots`), YOLO label lines, the counts and what was left out."""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from wordtree.files import plural, write_text_atomic, writing
from yolo9000.data.labelled import CLASSIFICATION
from yolo9000.data.writers.records import ClassList, Picture

log = logging.getLogger(__package__)  # one logger for the package, as before the split: yolo9000.data.writers

#: how images are placed in the output folder
LINKS = ("symlink", "copy", "hardlink")
#: normalized coordinates are written with 9 significant digits: a round trip within 1e-6 of the pixels
COORD = "%.9g"


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


def prepare_splits(
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


def common_folder(paths: Sequence[Path]) -> str:
    """The deepest folder holding every path ("" for none)."""
    if not paths:
        return ""
    return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])


def relative(path: Path, root: str) -> str:
    """`path` below `root`, as a POSIX relative path."""
    return Path(os.path.relpath(os.path.abspath(path), root)).as_posix()


def _renamed(rel: str, k: int) -> str:
    stem, ext = posixpath.splitext(rel)
    return f"{stem}~{k}{ext}"


class Names:
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


class Folder:
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
def staging(out: str | Path, pictures: Sequence[Picture], link: str) -> Iterator[Folder]:
    """A `Folder` staged beside `out` and renamed to `out` on success (removed on failure). `out` must be new or
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
            yield Folder(tmp, final, link)
            if out.is_dir():
                out.rmdir()
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def box_classes(pictures: Iterable[Picture], classes: ClassList, *, difficult: bool) -> np.ndarray:
    """The class indices a format lists for its boxes: every class of flat data (indices kept), else the tree
    nodes the boxes use (`difficult`: counting difficult boxes), in node order."""
    if classes.tree is None:
        return np.arange(len(classes), dtype=np.int64)
    used = [p.classes if difficult else p.classes[~p.difficult] for p in pictures if p.label < 0]
    return np.unique(np.concatenate(used)) if used else np.zeros(0, np.int64)


def slots(listed: np.ndarray, n: int) -> np.ndarray:
    """class index -> position in `listed` (-1 where not listed)."""
    slot = np.full(n, -1, dtype=np.int64)
    slot[listed] = np.arange(len(listed))
    return slot


def yolo_lines(classes: np.ndarray, boxes: np.ndarray, size: tuple[int, int]) -> str:
    """``k cx cy w h`` lines, normalized to the picture, `COORD` digits."""
    if not len(boxes):
        return ""
    w, h = size
    x1, y1, x2, y2 = boxes.T
    table = np.stack(((x1 + x2) / (2 * w), (y1 + y2) / (2 * h), (x2 - x1) / w, (y2 - y1) / h), axis=1)
    fmt = f"%d {COORD} {COORD} {COORD} {COORD}\n"
    return "".join(fmt % (int(k), *row) for k, row in zip(classes, table.tolist()))


def left_out(counts: Mapping[str, Any], out: Path, fmt: str, hint: str) -> None:
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


def count(counts: dict[str, int], p: Picture, boxes: int) -> None:
    counts["images"] += 1
    counts["boxes"] += boxes
    counts["classification_images"] += p.kind == CLASSIFICATION
    counts["background_images"] += p.kind != CLASSIFICATION and boxes == 0


#: characters kept in a file-name id (VOC ids, Open Images ImageIDs, class folder names)
UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def flat_id(rel: str) -> str:
    """A file-name id of a relative picture path: its sub-path without the extension, ``/`` and unsafe
    characters as ``_``."""
    stem = posixpath.splitext(rel)[0]
    return UNSAFE.sub("_", stem).strip("._") or "picture"


def write_extra(folder: Folder, extra: Mapping[str, str] | None) -> None:
    for rel, text in (extra or {}).items():
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"{rel}: an extra file must lie inside the dataset folder")
        folder.text(rel, text, atomic=True)
