"""Darknet's training data: a ``.data`` file, its image list and one label txt per picture, including YOLO9000's
combine9k convention (`DarknetListSource`), and Darknet's label path rule (`darknet_label_path`).

The ``.data`` file holds ``key = value`` lines (``#`` and ``;`` comment lines; unknown keys such as ``backup``,
``eval`` and ``results`` are ignored):

- ``train`` / ``valid``: the image list of each split (one path per line);
- ``names``: one class name per line (line k names class k); ``classes``, when given, must equal its line count;
- ``labels``: one node id (WordNet id) per line, beside ``names`` (Darknet's ``9k.labels``): class k's tree node;
- ``map``: one integer per line: a box line's class c becomes class map[c], exactly as Darknet's region layer
  maps box classes (spec section 2.6). A classification line (x = y = 0) is never mapped: its class is a class
  (tree index) of ``names`` itself. Box classes must then be below the map's length, else below the name count.

Darknet opens these paths relative to the folder it runs in. We look for a relative path beside the ``.data``
first, then in the current folder, then in the ``.data``'s parent folder (Darknet's own layout: ``cfg/x.data``
naming ``data/...``); a list's relative entries are resolved the same way (plus the list's own folder), the base
chosen once per list by its first relative entry that exists. Darknet also strips every space of a ``.data`` line;
we strip only around the key and the value.

A listed picture that is not a file is skipped and listed in `problems`. A picture without its label file is a
`LabelError` when read (Darknet stops there; an empty label file is a background picture).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from wordtree.files import plural
from wordtree.formats import read_map_indices, read_names
from yolo9000.data.labelled import ImageLabels, LabelError, LabelledSource, SourceClass
from yolo9000.data.yolo_labels import PathTable, missing_label_folders, read_image_list, read_yolo_labels

log = logging.getLogger(__name__)

#: Darknet's `fill_truth_detection` replacements, in its order; each replaces the first occurrence only
DARKNET_REPLACEMENTS = (
    ("images", "labels"),
    ("JPEGImages", "labels"),
    ("raw", "labels"),
    (".jpg", ".txt"),
    (".png", ".txt"),
    (".JPG", ".txt"),
    (".JPEG", ".txt"),
)
#: a split name -> the `.data` key of its list
SPLIT_KEYS = {"train": "train", "valid": "valid", "val": "valid"}


def darknet_label_path(image_path: str | Path) -> Path:
    """The label file Darknet reads for a picture: in the path as written, the first "images", "JPEGImages" and
    "raw" each become "labels" (anywhere in the string, as Darknet's `find_replace`), and the first ".jpg",
    ".png", ".JPG", ".JPEG" become ".txt". Another extension (".jpeg", ".bmp", ...), which Darknet leaves in
    place, also becomes ".txt"."""
    s = str(image_path)
    for old, new in DARKNET_REPLACEMENTS:
        s = s.replace(old, new, 1)
    stem, ext = os.path.splitext(s)
    if ext != ".txt":
        s = stem + ".txt"
    return Path(s)


def read_data_file(path: Path) -> dict[str, tuple[str, int]]:
    """A Darknet ``.data`` file: key -> (value, line number); the last of a repeated key wins (as Darknet)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: .data file not found") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    out: dict[str, tuple[str, int]] = {}
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        key, eq, value = s.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{path}:{n}: expected 'key = value', got {s[:60]!r}")
        out[key.strip()] = (value.strip(), n)
    return out


class DarknetListSource(LabelledSource):
    """A Darknet ``.data`` split (``train``, default, or ``valid``) as a `LabelledSource` (rules: the module doc).

    Construction reads the ``.data``, names, labels, map and list files and checks that the pictures exist; label
    files are read lazily by `labels(i)`. Whether a picture is a detection, classification-only or background one
    shows when its label file is read (`kinds` is None), as in Darknet's one mixed list."""

    format = "darknet"

    def __init__(self, path: str | Path, split: str | None = None) -> None:
        super().__init__()
        self.origin = Path(path)
        split = "train" if split is None else split
        if split not in SPLIT_KEYS:
            raise ValueError(f"{self.origin}: unknown split {split!r} (choose from train, valid)")
        self.split = SPLIT_KEYS[split]
        self._here = self.origin.parent
        self._keys = read_data_file(self.origin)
        names_path = self._file("names")
        if names_path is None:
            raise ValueError(f"{self.origin}: no 'names' key (the class names file, one per line)")
        names = read_names(names_path)
        if "classes" in self._keys:
            value, line = self._keys["classes"]
            try:
                n = int(value)
            except ValueError:
                raise ValueError(f"{self.origin}:{line}: classes = {value!r} is not an integer") from None
            if n != len(names):
                raise ValueError(f"{self.origin}:{line}: classes = {n} but {names_path} has {len(names)} names")
        nodes: list[str | None] = [None] * len(names)
        labels_path = self._file("labels")
        if labels_path is not None:
            ids = read_names(labels_path)
            if len(ids) != len(names):
                raise ValueError(
                    f"{labels_path}: {plural(len(ids), 'line')} but {names_path} has {plural(len(names), 'name')} "
                    "(labels= gives the node of each name, line by line)"
                )
            nodes = [i.strip() or None for i in ids]
        self.classes = [SourceClass(name, node) for name, node in zip(names, nodes)]
        map_path = self._file("map")
        self.box_map = (
            None if map_path is None else np.asarray(read_map_indices(map_path, size=len(names)), dtype=np.int64)
        )
        list_path = self._file(self.split)
        if list_path is None:
            raise ValueError(f"{self.origin}: no '{self.split}' key (the {self.split} image list)")
        self.list_path = list_path
        bases = [str(Path(b).absolute()) for b in (self._here, Path.cwd(), self._here.parent, list_path.parent)]
        self.table = PathTable()
        self.problems += read_image_list(list_path, self.table, bases=bases).missing
        self.table.finish()
        self._check_label_folders()

    def _file(self, key: str) -> Path | None:
        """The file a key names (module doc: beside the .data, the current folder, the .data's parent)."""
        if key not in self._keys:
            return None
        value, line = self._keys[key]
        p = Path(value).expanduser()
        tried = [p] if p.is_absolute() else [self._here / p, p, self._here.parent / p]
        for t in tried:
            if t.is_file():
                return t
        looked = ", ".join(str(t) for t in tried)
        raise FileNotFoundError(f"{self.origin}:{line}: {key} = {value}: no such file (looked for {looked})")

    def _check_label_folders(self) -> None:
        """No label folder at all is an error (a layout Darknet's rule does not fit); some missing are problems."""
        gone = missing_label_folders(self.table, lambda i: str(self.label_path(i)))
        if gone and sum(c for _, c, _ in gone) == len(self.table):
            folder, _, first = gone[0]
            raise ValueError(
                f"{self.list_path}: no picture has its labels folder (first: {first} -> {folder}); Darknet reads "
                "a picture's labels from its path with images, JPEGImages or raw replaced by labels"
            )
        for folder, count, first in gone:
            self.problems.append(f"{folder}: labels folder not found for {plural(count, 'picture')} (first: {first})")
            log.warning("%s", self.problems[-1])

    def __len__(self) -> int:
        return len(self.table)

    def path(self, i: int) -> Path:
        """File of picture i."""
        return Path(self.table.path(i))

    def label_path(self, i: int) -> Path:
        """Label file of picture i: Darknet's rule on the list's entry, then resolved as the entry is."""
        return Path(self.table.base) / darknet_label_path(self.table.entry(i))

    def labels(self, i: int) -> ImageLabels:
        """Picture i's label file: boxes (classes through ``map=``), or the class of an x = y = 0 line."""
        label = self.label_path(i)
        try:
            return read_yolo_labels(
                label, len(self.classes), box_map=self.box_map, classification_lines=True, missing_ok=False
            )
        except LabelError:
            if not label.exists():
                raise LabelError(
                    f"{label}: label file not found (of {self.path(i)}; Darknet needs one per picture, empty for a "
                    "picture without objects)"
                ) from None
            raise
