"""The txt files of the YOLO family (Ultralytics and Darknet): one picture's label file (`read_yolo_labels`), image
list files (`read_image_list`), folder scans (`scan_images`) and the compact path table both readers index with
(`PathTable`: a million paths in a few tens of MB).

A label file has one object per line, ``class cx cy w h``, normalized to the picture. The rules, stricter than
Darknet (which stops reading at the first line without 5 fields) and Ultralytics (which checks only the 4 numbers):

- a blank line is skipped; any other line needs 5 fields (or an Ultralytics polygon, below), else an error;
- the class is an integer (``3`` or ``3.0``) in [0, number of classes);
- cx, cy, w, h lie in [0, 1] within `COORD_TOLERANCE` (clipped), and the box corners cx ± w/2, cy ± h/2 within
  `CORNER_TOLERANCE` (labelling tools round; the corners are clipped to [0, 1]);
- a polygon line (Ultralytics segments: class then 3 or more x y pairs, an odd field count) becomes the box around
  its points, as Ultralytics' `segments2boxes`; its points obey the [0, 1] rule;
- with `classification_lines` (Darknet's combine9k convention), a line with x = 0 and y = 0 exactly marks a
  classification-only picture: the first such line's class is the picture's `label`, and its box lines are ignored
  as in Darknet's region layer (Darknet shuffles the lines first, so of several markers with different classes it
  picks one at random; we take the first). A marker's w and h are read as numbers and otherwise ignored.
- a missing or empty label file is a background picture (with `missing_ok`; Darknet readers pass False, as
  Darknet stops on a missing label file).

Every error is a `LabelError` ``path:LINE: what is wrong``.
"""

from __future__ import annotations

import logging
import os
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wordtree.files import IMAGE_EXTENSIONS, plural
from yolo9000.data.labelled import ImageLabels, LabelError, image_labels

log = logging.getLogger(__name__)

#: how far cx, cy, w, h (and polygon points) may stray outside [0, 1] before they are an error (then clipped)
COORD_TOLERANCE = 1e-6
#: how far a box corner (cx ± w/2, cy ± h/2) may stray outside [0, 1]: labelling tools round to 6 digits or fewer
CORNER_TOLERANCE = 1e-3


def _class_id(token: str) -> int | None:
    """The integer a class field holds ("3" or "3.0", as Ultralytics reads classes as floats), else None."""
    try:
        return int(token)
    except ValueError:
        pass
    try:
        v = float(token)
    except ValueError:
        return None
    return int(v) if v.is_integer() else None


def _numbers(tokens: Sequence[str], where: str) -> list[float]:
    """The floats of `tokens`; a `LabelError` at `where` naming the first that is not a number."""
    out = []
    for t in tokens:
        try:
            out.append(float(t))
        except ValueError:
            raise LabelError(f"{where}: {t!r} is not a number") from None
    return out


def _check_unit(values: Sequence[float], names: str, where: str) -> None:
    """Each value in [0, 1] within `COORD_TOLERANCE` (NaN and inf fail too)."""
    for v, name in zip(values, names.split()):
        if not -COORD_TOLERANCE <= v <= 1 + COORD_TOLERANCE:
            raise LabelError(f"{where}: {name} = {v:g} is outside [0, 1] (coordinates are normalized)")


def _box(nums: list[float], where: str) -> tuple[float, float, float, float]:
    """x1, y1, x2, y2 of a ``cx cy w h`` line, corners checked and clipped to [0, 1]."""
    _check_unit(nums, "cx cy w h", where)
    cx, cy, w, h = nums
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    lo, hi = -CORNER_TOLERANCE, 1 + CORNER_TOLERANCE
    if not (lo <= x1 and x2 <= hi and lo <= y1 and y2 <= hi):
        raise LabelError(
            f"{where}: box corners ({x1:.6g}, {y1:.6g}, {x2:.6g}, {y2:.6g}) reach outside the picture [0, 1]"
        )
    return max(x1, 0.0), max(y1, 0.0), min(x2, 1.0), min(y2, 1.0)


def _polygon_box(nums: list[float], where: str) -> tuple[float, float, float, float]:
    """The box around an Ultralytics segment's x y pairs."""
    xs, ys = nums[0::2], nums[1::2]
    for k, (x, y) in enumerate(zip(xs, ys)):
        _check_unit((x, y), f"x{k} y{k}", where)
    return max(min(xs), 0.0), max(min(ys), 0.0), min(max(xs), 1.0), min(max(ys), 1.0)


def read_yolo_labels(
    path: str | Path,
    num_classes: int,
    *,
    box_map: Sequence[int] | np.ndarray | None = None,
    classification_lines: bool = False,
    missing_ok: bool = True,
) -> ImageLabels:
    """One picture's YOLO label file (see the module doc) as normalized x1y1x2y2 boxes.

    num_classes: the source's classes; box classes and marker classes index them.
    box_map: Darknet's ``map=``: a box line's class c must be < len(box_map) and becomes box_map[c] (values already
        checked < num_classes). Never applied to x = y = 0 marker lines, whose class is a source class itself.
    classification_lines: read x = y = 0 lines as classification-only markers (Darknet's combine9k).
    missing_ok: a missing file is a background picture; else a `LabelError`.
    """
    p = Path(path)
    try:
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        if missing_ok:
            return image_labels(normalized=True)
        raise LabelError(f"{p}: label file not found") from None
    except UnicodeDecodeError as exc:
        raise LabelError(f"{p}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise LabelError(f"{p}: cannot read the label file ({exc.strerror or exc})") from None
    box_limit = num_classes if box_map is None else len(box_map)
    boxes: list[tuple[float, float, float, float]] = []
    classes: list[int] = []
    label = -1
    for line_no, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{p}:{line_no}"
        n = len(fields)
        if n != 5 and (n < 7 or n % 2 == 0):
            raise LabelError(
                f"{where}: {n} fields, expected 5 (class cx cy w h) or a polygon (class x1 y1 x2 y2 x3 y3 ...)"
            )
        c = _class_id(fields[0])
        if c is None:
            raise LabelError(f"{where}: class {fields[0]!r} is not an integer")
        nums = _numbers(fields[1:], where)
        if classification_lines and n == 5 and nums[0] == 0 and nums[1] == 0:
            if not 0 <= c < num_classes:
                raise LabelError(f"{where}: class {c} of a classification line (x = y = 0) is not below {num_classes}")
            if label < 0:
                label = c
            continue
        if not 0 <= c < box_limit:
            what = f"the map's {box_limit} entries" if box_map is not None else plural(box_limit, "class", "classes")
            raise LabelError(f"{where}: class {c} is not in [0, {box_limit}) ({what})")
        boxes.append(_box(nums, where) if n == 5 else _polygon_box(nums, where))
        classes.append(c if box_map is None else int(box_map[c]))
    if label >= 0:
        return image_labels(label=label, normalized=True)
    return image_labels(boxes, classes, normalized=True)


# ---- paths ---------------------------------------------------------------------------------------------------
class PathTable:
    """Many file paths in little memory: each path is a folder (stored once) and a file name, the names packed
    into one bytes blob with offsets (about 13 bytes per path plus its name's length, where a list of str would
    take some 90). `base` is joined in front of relative entries by `path`; `entry` gives them as listed."""

    def __init__(self, base: str = "") -> None:
        self.base = base
        self.folders: list[str] = []
        self._folder_index: dict[str, int] = {}
        self._ids = array("I")
        self._ends = array("q")
        self._blob = bytearray()

    def add(self, folder: str, name: str) -> None:
        """Append folder/name (as written: relative entries stay relative to `base`)."""
        k = self._folder_index.get(folder)
        if k is None:
            k = self._folder_index[folder] = len(self.folders)
            self.folders.append(folder)
        self._ids.append(k)
        self._blob += name.encode("utf-8", "surrogateescape")  # os.fsencode on POSIX, without its checks
        self._ends.append(len(self._blob))

    def add_many(self, folder: str, names: Sequence[str]) -> None:
        """Append several names of one folder."""
        if not names:
            return
        k = self._folder_index.get(folder)
        if k is None:
            k = self._folder_index[folder] = len(self.folders)
            self.folders.append(folder)
        encoded = [n.encode("utf-8", "surrogateescape") for n in names]
        ends = np.cumsum([len(b) for b in encoded], dtype=np.int64) + len(self._blob)
        self._ids.extend(array("I", [k]) * len(names))
        self._blob += b"".join(encoded)
        self._ends.extend(array("q", ends.tobytes()))

    def add_path(self, entry: str) -> None:
        """Append a path string, split at its last separator."""
        folder, _, name = entry.rpartition(os.sep)
        self.add(folder if folder or not entry.startswith(os.sep) else os.sep, name)

    def finish(self) -> PathTable:
        """Freeze the table into numpy arrays (call once, after the last `add`)."""
        # views, not copies: the arrays keep their buffers, which nothing appends to any more
        self.folder_ids = np.frombuffer(self._ids, dtype=np.uint32) if len(self._ids) else np.zeros(0, np.uint32)
        self.ends = np.frombuffer(self._ends, dtype=np.int64) if len(self._ends) else np.zeros(0, np.int64)
        self.blob = self._blob
        self._ids, self._ends, self._blob, self._folder_index = array("I"), array("q"), bytearray(), {}
        return self

    def __len__(self) -> int:
        return len(self.ends)

    def entry(self, i: int) -> str:
        """Path i as listed (relative to `base` when relative)."""
        start = int(self.ends[i - 1]) if i else 0
        name = self.blob[start : int(self.ends[i])].decode("utf-8", "surrogateescape")  # os.fsdecode on POSIX
        folder = self.folders[int(self.folder_ids[i])]
        return os.path.join(folder, name) if folder else name

    def path(self, i: int) -> str:
        """Path i, `base` joined in front of a relative entry."""
        e = self.entry(i)
        return os.path.join(self.base, e) if self.base else e

    def folder_firsts(self) -> tuple[np.ndarray, np.ndarray]:
        """(the first entry index of each folder, the entry count of each folder), in folder order."""
        counts = np.bincount(self.folder_ids, minlength=len(self.folders))
        firsts = np.full(len(self.folders), -1, dtype=np.int64)
        order = np.argsort(self.folder_ids, kind="stable")
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        have = counts > 0
        firsts[have] = order[starts[have]]
        return firsts, counts


_IMAGE_SUFFIXES = frozenset(IMAGE_EXTENSIONS)


def is_image_name(name: str) -> bool:
    """Whether `name` ends in one of `IMAGE_EXTENSIONS` (any case)."""
    dot = name.rfind(".")
    return dot > name.rfind(os.sep) + 1 and name[dot:].lower() in _IMAGE_SUFFIXES


def scan_images(folder: str | Path, table: PathTable) -> int:
    """Add every image file under `folder` (recursively, following links once per folder) to `table`, each
    folder's entries sorted by name, a subfolder's pictures at its name's place; the number added."""
    seen: set[tuple[int, int]] = set()
    added = 0

    def walk(d: str) -> None:
        nonlocal added
        st = os.stat(d)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(d) as it:
            entries = sorted((e.name, e.is_dir()) for e in it if e.is_dir() or (e.is_file() and is_image_name(e.name)))
        files: list[str] = []  # a run of pictures, added at once before the next subfolder keeps the order
        for name, is_dir in entries:
            if is_dir:
                table.add_many(d, files)
                added += len(files)
                files = []
                walk(os.path.join(d, name))
            else:
                files.append(name)
        table.add_many(d, files)
        added += len(files)

    walk(str(folder))
    return added


@dataclass
class ListRead:
    """What `read_image_list` found: entries added, and the missing ones (``list:LINE: image not found: ...``)."""

    added: int
    missing: list[str]


def _list_lines(p: Path) -> Iterator[tuple[int, str]]:
    """(line number, stripped entry) of each non-blank line of a list file, streamed."""
    try:
        with open(p, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                e = line.strip()
                if e:
                    yield n, e
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: image list not found") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None


def read_image_list(
    list_file: str | Path,
    table: PathTable,
    *,
    bases: Sequence[str],
    dot_base: str | None = None,
    images_only: bool = False,
    max_missing: float = 0.5,
) -> ListRead:
    """Add the image paths of a list file (one per line; blank lines skipped) to `table`.

    Relative entries resolve against the first of `bases` under which the first relative entry found under any of
    them exists (chosen once; until then a relative entry found nowhere is missing). Without `dot_base` the entries
    are kept as listed and `table.base` becomes that base (one list per table: Darknet). With `dot_base`, entries
    starting with ``./`` are relative to it (Ultralytics: the list file's folder) and every entry is stored joined
    to its base. `images_only`: skip entries without an image extension (Ultralytics), each a problem. A listed
    picture that is not a file is skipped and reported, logged once with the count; more than `max_missing` of
    them is a ValueError naming the list, as is a list that names no picture.
    """
    p = Path(list_file)
    dotted = dot_base is not None
    base: str | None = None  # chosen by the first relative entry found
    missing: list[str] = []
    added = listed = 0
    for line_no, e in _list_lines(p):
        listed += 1
        if dot_base is not None and e.startswith("./"):
            full = dot_base + os.sep + e[2:]
        elif e.startswith(os.sep):
            full = e
        else:
            if base is None:
                base = next((b for b in bases if os.path.isfile(os.path.join(b, e))), None)
            full = os.path.join(base if base is not None else (bases[0] if bases else ""), e)
        if images_only and not is_image_name(e):
            missing.append(f"{p}:{line_no}: not an image file name (skipped): {e}")
        elif not os.path.isfile(full):
            missing.append(f"{p}:{line_no}: image not found: {full}")
        else:
            table.add_path(full if dotted else e)
            added += 1
    if not dotted:
        table.base = base if base is not None else (bases[0] if bases else "")
    if missing:
        log.warning("%s: %s skipped (first: %s)", p, plural(len(missing), "listed picture"), missing[0])
    if len(missing) > max_missing * listed:
        raise ValueError(
            f"{p}: {len(missing)} of {plural(listed, 'listed picture')} not found (first: {missing[0]}); "
            "are the list's paths relative to another folder?"
        )
    if not added:
        raise ValueError(f"{p}: the list names no picture")
    return ListRead(added, missing)


def missing_label_folders(table: PathTable, label_of: Callable[[int], str]) -> list[tuple[str, int, str]]:
    """(label folder, picture count, first picture) of each picture folder whose label folder does not exist,
    `label_of(i)` giving picture i's label file: one `os.path.isdir` per folder of the table, not per picture."""
    firsts, counts = table.folder_firsts()
    out = []
    for first, count in zip(firsts.tolist(), counts.tolist()):
        if first < 0:
            continue
        picture = table.path(first)
        folder = os.path.dirname(label_of(first)) or "."
        if not os.path.isdir(folder):
            out.append((folder, count, picture))
    return out
