"""Open Images as a `LabelledSource`: the boxes CSV, the image-level labels CSV and the class descriptions, named
by a small YAML file and read in bounded memory (the train split's 14.6M boxes in about 16 s and 1.1 GB at peak:
``benchmarks/scale_open_images.py``).

```yaml
# openimages.yaml (paths relative to this file)
images: train/                                        # folder of <ImageID>.jpg
boxes: oidv6-train-annotations-bbox.csv               # ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,...
labels: oidv7-train-annotations-human-imagelabels.csv # ImageID,Source,LabelName,Confidence (optional)
classes: oidv7-class-descriptions.csv                 # LabelName,DisplayName (or the headerless MID,name files)
hierarchy: bbox_labels_600_hierarchy.json             # optional: for `build-wordtree --hierarchy`; not read here
group_of: keep                                        # keep | skip: the rule for IsGroupOf boxes
```

Several splits: ``train:``, ``validation:`` and ``test:`` mappings, each with its own ``images``, ``boxes`` and
``labels`` (any key); the keys at the top level are shared. `split` picks one (default ``train``).

```yaml
classes: oidv7-class-descriptions-boxable.csv
group_of: keep
train: {images: train/, boxes: oidv6-train-annotations-bbox.csv, labels: oidv7-train-annotations-human-imagelabels.csv}
validation: {images: validation/, boxes: validation-annotations-bbox.csv}
```

A folder holding ``openimages.yaml`` may be given for the YAML. One of ``boxes`` and ``labels`` is needed; the boxes
CSV may have more columns (the XClick points), which are not read.

The rules:

- Each boxes row is a box of the picture ``images/<ImageID>.jpg``, ``XMin,YMin,XMax,YMax`` in 0..1 of the picture.
  A box outside [0, 1], empty or reversed makes its picture's `labels` raise a `LabelError` naming ``file:line``
  (the training loader logs and skips the picture, ``data check`` lists it).
- ``IsGroupOf`` boxes: ``keep`` (the default) trains them as ordinary boxes around the group; ``skip`` drops them,
  and a picture left without a box is left out (it is no background picture: it shows something).
- Image-level labels with ``Confidence`` 1 (verified present) on a picture without boxes make classification-only
  pictures: one per distinct (ImageID, LabelName), so a picture with three such labels appears three times, each
  with one label and the same file. Positive labels on pictures with boxes are skipped: the boxes say it, and
  YOLO9000 trains classification only on pictures without boxes. ``Confidence`` 0 (verified absent) is skipped:
  YOLO9000's loss has no term for a class known to be absent. Other values (machine scores) are skipped too.
- The classes are the MIDs used, in the descriptions' order, as ``SourceClass(DisplayName, node=MID)``. An MID
  that the descriptions do not have stops the reading with ``file:line: unknown MID ...`` (the first few, and how
  many more).
- Pictures: the detection pictures in the order the boxes CSV first names them, then the classification-only ones.

Memory: the CSVs are read in chunks of `chunk_rows` rows; what is kept is numpy arrays: per box 22 bytes (four
float32 coordinates, an int16 class, its row for messages), per picture its ImageID as bytes and its first box.
Coordinates are float32: within 6e-8 of the CSV's value.
"""

from __future__ import annotations

import csv
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from yolo9000.data.labelled import (
    CLASSIFICATION,
    DETECTION,
    ImageLabels,
    LabelError,
    LabelledSource,
    SourceClass,
    image_labels,
)

log = logging.getLogger(__name__)

BOX_COLUMNS = (
    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
).split(",")
LABEL_COLUMNS = ["ImageID", "Source", "LabelName", "Confidence"]
SPLITS = ("train", "validation", "test")
KEYS = ("images", "boxes", "labels", "classes", "hierarchy", "group_of")
CHUNK_ROWS = 1_000_000  # rows parsed at a time: ~150 MB of text and ~0.4 GB of parser buffers for the train CSV
# strings as objects, never "category": its categories are type-inferred, and an ImageID such as 00000000000000e5
# would become the number 0.0
_BOX_READ = {"ImageID": "object", "LabelName": "object", "XMin": "float32", "YMin": "float32"}
_BOX_READ |= {"XMax": "float32", "YMax": "float32"}  # in the stored x1,y1,x2,y2 order
_LABEL_READ = {"ImageID": "object", "LabelName": "object", "Confidence": "float32"}
_SHOWN = 5  # unknown MIDs and rows without an ImageID named in full, the rest counted


@dataclass(frozen=True)
class OpenImagesFiles:
    """What an Open Images YAML names for one split (paths resolved, existence checked)."""

    yaml: Path
    split: str | None
    images: Path
    classes: Path
    boxes: Path | None = None
    labels: Path | None = None
    hierarchy: Path | None = None
    group_of: str = "keep"


def read_description(path: str | Path, split: str | None = None) -> OpenImagesFiles:
    """The files of `split` in an Open Images YAML (or a folder holding ``openimages.yaml``). A broken YAML, an
    unknown or missing key, a split it lacks or a file that is not there: ValueError / FileNotFoundError."""
    p = Path(path)
    if p.is_dir():
        p = p / "openimages.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: Open Images YAML not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        raise ValueError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping of {', '.join(KEYS)} (or train:/validation:/test: mappings)")
    _check_keys(p, data, KEYS + SPLITS, "")
    splits = [s for s in SPLITS if s in data]
    entry = {k: v for k, v in data.items() if k not in SPLITS}
    if splits:
        chosen = split or "train"
        if chosen not in splits:
            raise ValueError(f"{p}: no split {chosen!r} (it has {', '.join(splits)}; pick one with --split)")
        part = data[chosen]
        if not isinstance(part, dict):
            raise ValueError(f"{p}: {chosen}: expected a mapping of images, boxes, labels")
        _check_keys(p, part, KEYS, f"{chosen}: ")
        entry |= part
    elif split is not None:
        raise ValueError(f"{p}: no splits (train:/validation:/test:) in this file, so no split {split!r}")
    else:
        chosen = None
    where = f"{p}: " + (f"{chosen}: " if chosen else "")
    for key in ("images", "classes"):
        if key not in entry:
            raise ValueError(f"{where}missing key {key!r}")
    if "boxes" not in entry and "labels" not in entry:
        raise ValueError(f"{where}missing key 'boxes' or 'labels' (one of them is needed)")
    group_of = str(entry.get("group_of", "keep")).strip().lower()
    if group_of not in ("keep", "skip"):
        raise ValueError(f"{where}group_of: expected keep or skip, got {entry['group_of']!r}")

    def file(key: str, folder: bool = False) -> Path | None:
        value = entry.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}{key}: expected a path, got {value!r}")
        f = (p.parent / value.strip()).resolve()
        if not (f.is_dir() if folder else f.is_file()):
            raise FileNotFoundError(f"{where}{key}: {'folder' if folder else 'file'} {f} not found")
        return f

    images, classes = file("images", folder=True), file("classes")
    assert images is not None and classes is not None
    return OpenImagesFiles(p, chosen, images, classes, file("boxes"), file("labels"), file("hierarchy"), group_of)


def is_open_images_yaml(path: str | Path) -> bool:
    """Whether `path` is an Open Images YAML (or a folder holding ``openimages.yaml``): a mapping with ``classes``
    and ``boxes`` or ``labels``, at the top or in a split (an Ultralytics data.yaml has ``names`` instead)."""
    p = Path(path)
    p = p / "openimages.yaml" if p.is_dir() else p
    if p.suffix.lower() not in (".yaml", ".yml") or not p.is_file():
        return False
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    parts = [data] + [data[s] for s in SPLITS if isinstance(data.get(s), dict)]
    return "classes" in data and any("boxes" in d or "labels" in d for d in parts)


def _check_keys(path: Path, data: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = [str(k) for k in data if k not in allowed]
    if unknown:
        raise ValueError(f"{path}: {where}unknown key {unknown[0]!r} (expected {', '.join(allowed)})")


def read_class_descriptions(path: str | Path) -> tuple[list[str], list[str]]:
    """(MIDs, display names) of an Open Images class-description CSV, with the ``LabelName,DisplayName`` header
    of v7 or without one (``/m/011k07,Tortoise`` rows). Errors name file:line."""
    p = Path(path)
    mids: list[str] = []
    names: list[str] = []
    first: dict[str, int] = {}
    with open(p, newline="", encoding="utf-8-sig") as fh:
        for line, row in enumerate(csv.reader(fh), 1):
            if not row or not any(c.strip() for c in row):
                continue
            if line == 1 and row[0].strip().lower() in ("labelname", "label_name", "mid"):
                continue  # the header
            if len(row) != 2 or not row[0].strip():
                raise ValueError(f"{p}:{line}: expected 'LabelName,DisplayName', got {','.join(row)[:60]!r}")
            mid = row[0].strip()
            if mid in first:
                raise ValueError(f"{p}:{line}: {mid} described twice (first on line {first[mid]})")
            first[mid] = line
            mids.append(mid)
            names.append(row[1].strip())
    if not mids:
        raise ValueError(f"{p}: no class descriptions")
    return mids, names


def _check_header(path: Path, wanted: list[str], needed: list[str]) -> list[str]:
    """The column names of a CSV, after checking it has every `needed` one (ValueError naming line 1)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = [c.strip() for c in next(csv.reader(fh), [])]
    missing = [c for c in needed if c not in header]
    if missing:
        raise ValueError(
            f"{path}:1: expected the Open Images header {','.join(wanted)} (more columns may follow); "
            f"missing {', '.join(missing)}, got {','.join(header)[:120]!r}"
        )
    return header


def _chunks(path: Path, columns: dict[str, str], chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """(first row, frame) of each chunk of `columns` of a CSV. Blank lines stay (as empty rows) so that a row's
    line is its index + 2; a line that does not parse is a ValueError naming it."""
    reader = pd.read_csv(
        path,
        usecols=list(columns),
        dtype=columns,  # type: ignore[arg-type]
        chunksize=chunk_rows,
        skip_blank_lines=False,
        keep_default_na=False,  # only an empty field is missing: "NA" could be an ImageID
        na_values=[""],
        encoding="utf-8-sig",
    )
    start = 0
    with reader:
        while True:
            try:
                frame = next(reader)
            except StopIteration:
                return
            except pd.errors.ParserError as exc:  # an unclosed quote: the CSV cannot be split into rows
                message = str(exc).removeprefix("Error tokenizing data. ")
                raise ValueError(f"{path}: not a valid CSV ({message})") from None
            except ValueError as exc:  # a value that is not a number, somewhere in this chunk: find it
                numeric = [c for c, t in columns.items() if t != "object"]
                raise ValueError(_locate(path, start + 2, numeric, exc)) from None
            yield start, frame
            start += len(frame)


def _locate(path: Path, first_line: int, numeric: list[str], exc: Exception) -> str:
    """``file:line: message`` of the first field of `numeric` columns from `first_line` on that is no number."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = [c.strip() for c in next(csv.reader([fh.readline()]))]
        cols = [(header.index(c), c) for c in numeric if c in header]
        for line, row in enumerate(csv.reader(itertools.islice(fh, first_line - 2, None)), first_line):
            for k, name in cols:
                value = row[k].strip() if k < len(row) else ""
                try:
                    float(value or "nan")
                except ValueError:
                    return f"{path}:{line}: {name} {value[:40]!r} is not a number"
    return f"{path}: {exc}"


def _categorical(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values as an object array) of a string column; code -1 is an empty field."""
    codes, uniques = pd.factorize(frame[column])
    return codes, np.asarray(uniques, dtype=object)


class _Reader:
    """What both CSVs share while they are read: the MID -> description index, unknown MIDs, problems."""

    def __init__(self, mids: list[str], chunk_rows: int) -> None:
        self.mid_index = {m: k for k, m in enumerate(mids)}
        self.class_dtype = np.int16 if len(mids) < 2**15 else np.int32
        self.chunk_rows = max(1, int(chunk_rows))
        self.unknown: list[tuple[Path, int, str]] = []  # the first few rows naming an unknown MID
        self.unknown_rows = 0
        self.problems: list[str] = []
        self.skipped_rows = 0  # rows skipped as problems (the first few are in `problems`)
        # ImageID -> image code, numbered as first seen: each ImageID is kept once, however the rows are ordered
        self.image_index: dict[str, int] = {}

    def image_codes(self, ids: np.ndarray) -> np.ndarray:
        """The image code of each of the distinct `ids`, the new ones numbered on."""
        codes = self.known_codes(ids)
        new = np.flatnonzero(codes < 0)
        codes[new] = np.arange(len(self.image_index), len(self.image_index) + len(new), dtype=np.int32)
        self.image_index.update(zip(ids[new].tolist(), codes[new].tolist()))
        return codes

    def known_codes(self, ids: np.ndarray) -> np.ndarray:
        """The image code of each of the distinct `ids`, -1 for one not seen yet."""
        # map() keeps the loop over ImageIDs in C: three times a generator's speed
        found = map(self.image_index.get, ids.tolist(), itertools.repeat(-1))
        return np.fromiter(found, dtype=np.int32, count=len(ids))

    def classes(self, path: Path, start: int, frame: pd.DataFrame) -> np.ndarray:
        """Each row's description index: -1 for an empty LabelName, -2 for an unknown MID (noted)."""
        codes, categories = _categorical(frame, "LabelName")
        of_cat = np.array([self.mid_index.get(c, -2) for c in categories], dtype=np.int32)
        cls = np.append(of_cat, -1)[codes]  # code -1 (empty) takes the appended -1
        bad = np.flatnonzero(cls == -2)
        self.unknown_rows += len(bad)
        for r in bad[: _SHOWN - len(self.unknown)]:
            self.unknown.append((path, start + int(r) + 2, str(categories[codes[r]])))
        return cls

    def skip(self, path: Path, start: int, rows: np.ndarray, what: str) -> None:
        """Note rows skipped as problems (`what` is wrong with them)."""
        for r in rows[: max(0, _SHOWN - self.skipped_rows)]:
            self.problems.append(f"{path}:{start + int(r) + 2}: {what}, row skipped")
        self.skipped_rows += len(rows)

    def image_rows(self, path: Path, start: int, frame: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
        """The rows that name an ImageID (`codes` >= 0); the others are problems, unless the whole line is blank."""
        has_id = codes >= 0
        if not has_id.all():
            blank = frame.isna().all(axis=1).to_numpy()
            self.skip(path, start, np.flatnonzero(~has_id & ~blank), "no ImageID")
        return has_id

    def finish(self, classes: Path) -> list[str]:
        """The problems, after raising the unknown MIDs (ValueError) if there were any."""
        if self.unknown:
            path, line, mid = self.unknown[0]
            more = ""
            if self.unknown_rows > 1:
                shown = ", ".join(f"{m} at line {n}" for _, n, m in self.unknown[1:])
                etc = ", ..." if self.unknown_rows > _SHOWN else ""
                more = f" (and {self.unknown_rows - 1} more rows: {shown}{etc})"
            raise ValueError(f"{path}:{line}: unknown MID {mid} (not in {classes}){more}")
        if self.skipped_rows > _SHOWN:
            self.problems.append(f"... and {self.skipped_rows - _SHOWN} more rows skipped")
        return self.problems


def _compact(ids: list[str]) -> np.ndarray:
    """ImageIDs as fixed-width bytes (16 bytes each for Open Images' ids), else as unicode."""
    if not ids:
        return np.empty(0, dtype="S1")
    try:
        return np.array(ids, dtype="S")
    except UnicodeEncodeError:
        return np.array(ids, dtype=str)


class OpenImagesSource(LabelledSource):
    """An Open Images split (see the module's doc for the YAML and the rules): detection pictures from the boxes
    CSV, then classification-only pictures from positive image-level labels on pictures without boxes.

    `skipped` counts what the rules leave out: ``group_of_boxes``, ``boxed_labels`` (positive labels on pictures
    with boxes), ``negative_labels`` and ``other_labels`` (neither 0 nor 1)."""

    format = "openimages"

    def __init__(self, path: str | Path, split: str | None = None, *, chunk_rows: int = CHUNK_ROWS) -> None:
        super().__init__()
        self.files = read_description(path, split)
        self.origin, self.split = self.files.yaml, self.files.split
        self.hierarchy = self.files.hierarchy
        mids, names = read_class_descriptions(self.files.classes)
        reader = _Reader(mids, chunk_rows)
        self.skipped = {"group_of_boxes": 0, "boxed_labels": 0, "negative_labels": 0, "other_labels": 0}
        box_image, box_class, self._box, self._row = self._read_boxes(reader)
        n_boxed = len(reader.image_index)  # image codes below it are the pictures named in the boxes CSV
        self._label_image, label_class = self._read_labels(reader, n_boxed)
        self.problems = reader.finish(self.files.classes)
        # the classes used, in the descriptions' order
        used = np.zeros(len(mids), dtype=bool)
        used[box_class[box_class >= 0]] = True
        used[label_class] = True
        new_index = np.cumsum(used, dtype=np.int32) - 1
        self.classes = [SourceClass(names[k], mids[k]) for k in np.flatnonzero(used)]
        self._class = np.where(box_class >= 0, new_index[np.maximum(box_class, 0)], -1).astype(reader.class_dtype)
        del box_class
        self._label = new_index[label_class]
        # picture i < n_det: rows _start[c] .. _start[c + 1] of its image code c
        counts = np.bincount(box_image, minlength=n_boxed)
        self._start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._det = np.flatnonzero(counts).astype(np.int32)
        self._ids = _compact(list(reader.image_index))
        reader.image_index.clear()
        self.box_count = len(self._box)
        log.info(
            "%s: %d detection pictures (%d boxes), %d classification-only pictures, %d classes; skipped %d group-of "
            "boxes, %d positive labels on pictures with boxes, %d verified-absent labels, %d other labels",
            self.describe(),
            len(self._det),
            self.box_count,
            len(self._label),
            len(self.classes),
            *self.skipped.values(),
        )

    # ------------------------------------------------------------------------------------------ reading
    def _read_boxes(self, reader: _Reader) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(each box's image code, description index, x1y1x2y2 float32, row), grouped by image (the rows of one
        image in file order)."""
        path = self.files.boxes
        image: list[np.ndarray] = [np.empty(0, dtype=np.int32)]
        cls: list[np.ndarray] = [np.empty(0, dtype=reader.class_dtype)]
        box: list[np.ndarray] = [np.empty((0, 4), dtype=np.float32)]
        row: list[np.ndarray] = [np.empty(0, dtype=np.uint32)]
        if path is not None:
            header = _check_header(path, BOX_COLUMNS, list(_BOX_READ))
            columns = dict(_BOX_READ)
            skip_group = self.files.group_of == "skip" and "IsGroupOf" in header
            if skip_group:
                columns["IsGroupOf"] = "float32"
            for start, frame in _chunks(path, columns, reader.chunk_rows):
                codes, categories = _categorical(frame, "ImageID")
                keep = reader.image_rows(path, start, frame, codes)
                c = reader.classes(path, start, frame)
                if skip_group:
                    group = frame["IsGroupOf"].to_numpy() == 1
                    self.skipped["group_of_boxes"] += int((group & keep).sum())
                    keep &= ~group
                image.append(reader.image_codes(categories)[codes[keep]])
                cls.append(c[keep].astype(reader.class_dtype))
                b = np.empty((int(keep.sum()), 4), dtype=np.float32)
                for k, name in enumerate(("XMin", "YMin", "XMax", "YMax")):
                    b[:, k] = frame[name].to_numpy()[keep]
                box.append(b)
                row.append((start + np.flatnonzero(keep)).astype(np.uint32))
                del frame
        img = np.concatenate(image)
        del image
        # one list at a time: the peak is the kept arrays plus one list's copy
        boxes = np.concatenate(box)
        del box
        classes, rows = np.concatenate(cls), np.concatenate(row)
        del cls, row
        if len(img) > 1 and not (img[1:] >= img[:-1]).all():  # the real file is grouped by ImageID: no sort
            order = np.argsort(img, kind="stable")
            img = img[order]  # one array at a time: each old one is freed before the next copy
            classes = classes[order]
            boxes = boxes[order]
            rows = rows[order]
        return img, classes, boxes, rows

    def _read_labels(self, reader: _Reader, n_boxed: int) -> tuple[np.ndarray, np.ndarray]:
        """(image code, description index) of each classification-only picture, one per distinct (image, label),
        grouped by image. Image codes below `n_boxed` are the pictures with boxes."""
        path = self.files.labels
        image: list[np.ndarray] = [np.empty(0, dtype=np.int32)]
        cls: list[np.ndarray] = [np.empty(0, dtype=np.int32)]
        if path is not None:
            _check_header(path, LABEL_COLUMNS, list(_LABEL_READ))
            for start, frame in _chunks(path, _LABEL_READ, reader.chunk_rows):
                codes, categories = _categorical(frame, "ImageID")
                keep = reader.image_rows(path, start, frame, codes)
                c = reader.classes(path, start, frame)
                conf = frame["Confidence"].to_numpy()
                known = reader.known_codes(categories)
                has_boxes = np.append((known >= 0) & (known < n_boxed), False)[codes]
                positive, negative = keep & (conf == 1), keep & (conf == 0)
                self.skipped["negative_labels"] += int(negative.sum())
                self.skipped["other_labels"] += int((keep & ~positive & ~negative).sum())
                self.skipped["boxed_labels"] += int((positive & has_boxes).sum())
                reader.skip(path, start, np.flatnonzero(positive & ~has_boxes & (c == -1)), "no LabelName")
                take = positive & ~has_boxes & (c >= 0)
                used = np.unique(codes[take])  # only the ImageIDs kept are remembered
                known[used] = reader.image_codes(categories[used])
                image.append(known[codes[take]])
                cls.append(c[take])
        n = len(reader.mid_index)
        # one picture per distinct (image, label): a label verified twice (two sources) is one picture
        pairs = np.unique(np.concatenate(image).astype(np.int64) * n + np.concatenate(cls))
        return (pairs // n).astype(np.int32), (pairs % n).astype(np.int32)

    # ------------------------------------------------------------------------------------------ the source
    def __len__(self) -> int:
        return len(self._det) + len(self._label)

    def _code(self, i: int) -> int:
        if not 0 <= i < len(self):
            raise IndexError(f"picture {i} of {len(self)}")
        return int(self._det[i]) if i < len(self._det) else int(self._label_image[i - len(self._det)])

    def image_id(self, i: int) -> str:
        """The ImageID of picture i."""
        v = self._ids[self._code(i)]
        return v.decode() if isinstance(v, bytes) else str(v)

    def path(self, i: int) -> Path:
        """``images/<ImageID>.jpg`` of picture i (the same file for each classification entry of one picture)."""
        return self.files.images / f"{self.image_id(i)}.jpg"

    def labels(self, i: int) -> ImageLabels:
        """The boxes of a detection picture (normalized x1,y1,x2,y2), or the one label of a classification entry;
        a `LabelError` naming the boxes CSV's line of its first malformed box."""
        code = self._code(i)
        if i >= len(self._det):
            return image_labels(label=int(self._label[i - len(self._det)]), normalized=True)
        a, b = int(self._start[code]), int(self._start[code + 1])
        box, cls = self._box[a:b], self._class[a:b]
        bad = ~((box >= 0) & (box <= 1)).all(axis=1) | (box[:, 0] > box[:, 2]) | (box[:, 1] > box[:, 3]) | (cls < 0)
        if bad.any():
            raise LabelError(self._box_problem(a + int(np.argmax(bad))))
        return ImageLabels(box.astype(np.float64), cls.astype(np.int64), np.zeros(b - a, dtype=bool), normalized=True)

    def _box_problem(self, k: int) -> str:
        """``file:line: what is wrong`` with stored box k."""
        where = f"{self.files.boxes}:{int(self._row[k]) + 2}"
        if self._class[k] < 0:
            return f"{where}: no LabelName"
        names = ("XMin", "YMin", "XMax", "YMax")
        box = self._box[k]
        for name, v in zip(names, box):
            if not np.isfinite(v):
                return f"{where}: {name} is empty"
            if not 0 <= v <= 1:
                return f"{where}: {name} {float(v):g} outside [0, 1]"
        axis = 0 if box[0] > box[2] else 1
        return f"{where}: {names[axis]} {float(box[axis]):g} > {names[axis + 2]} {float(box[axis + 2]):g}"

    def kinds(self) -> np.ndarray:
        """`DETECTION` for the pictures with boxes, then `CLASSIFICATION`: all known from the CSVs."""
        out = np.full(len(self), CLASSIFICATION, dtype=np.int8)
        out[: len(self._det)] = DETECTION
        return out
