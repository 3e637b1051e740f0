"""Ultralytics YOLO datasets: a ``data.yaml`` with its image folders or list files and one label txt per picture
(`UltralyticsSource`).

The yaml's rules, as Ultralytics' `check_det_dataset` and `img2label_paths`:

- ``path``: the dataset root; relative to the yaml's folder (else to the current folder, where that exists);
  absent: the yaml's folder.
- ``train`` / ``val`` / ``test``: a folder (every image under it, recursively), a ``.txt`` list of image paths, or a
  list of those, each relative to the root (a missing ``../x`` is also tried as ``x``, as Ultralytics does). In a
  list file, entries starting with ``./`` are relative to the list file's folder (Ultralytics' rule); other
  relative entries are relative to the root, else to the current folder (Ultralytics takes the current folder).
- ``names``: a list, or a dict {0: name, ...} covering 0..n-1; ``nc``, when given, must equal the count.
- a picture's label file: its path with the last ``/images/`` replaced by ``/labels/`` and the extension by
  ``.txt``. A missing or empty label file is a background picture; a picture folder whose labels folder is
  missing is listed in `problems` (its pictures read as background).

Indexing is lazy: construction lists the picture files (a `PathTable`) and reads no label file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from wordtree.files import plural
from yolo9000.data.labelled import ImageLabels, LabelledSource, SourceClass
from yolo9000.data.yolo_labels import (
    PathTable,
    missing_label_folders,
    read_image_list,
    read_yolo_labels,
    scan_images,
)

log = logging.getLogger(__name__)

#: the splits a data.yaml may hold (``valid`` is read as ``val``)
SPLITS = ("train", "val", "test")


def ultralytics_label_path(image_path: str) -> str:
    """Ultralytics' `img2label_paths` for one picture: the last ``/images/`` becomes ``/labels/``, the extension
    ``.txt``."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return sb.join(image_path.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt"


def _load_yaml(path: Path) -> dict[str, Any]:
    """The yaml's mapping; ValueError naming the file when it is not one."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: dataset yaml not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with 'path', 'train', 'val' and 'names'")
    return data


def read_names_key(names: Any, where: str, nc: Any = None) -> list[str]:
    """The class names of a data.yaml's ``names`` (a list, or a dict {0: name, ...} covering 0..n-1)."""
    if isinstance(names, dict):
        keyed: dict[int, str] = {}
        for k, v in names.items():
            if isinstance(k, bool) or not (isinstance(k, int) or (isinstance(k, str) and k.strip().isdigit())):
                raise ValueError(f"{where}: 'names' key {k!r} is not a class index")
            keyed[int(k)] = v
        if sorted(keyed) != list(range(len(keyed))):
            absent = sorted(set(range(max(keyed, default=-1) + 1)) - set(keyed))
            raise ValueError(f"{where}: 'names' must number the classes 0..{len(keyed) - 1}; missing {absent[:10]}")
        seq = [keyed[k] for k in range(len(keyed))]
    elif isinstance(names, list):
        seq = names
    else:
        raise ValueError(f"{where}: 'names' must be a list or a {{index: name}} mapping, not {type(names).__name__}")
    if not seq:
        raise ValueError(f"{where}: 'names' is empty")
    for k, v in enumerate(seq):
        if v is None or isinstance(v, (list, dict)) or not str(v).strip():
            raise ValueError(f"{where}: 'names' entry {k} is not a name: {v!r}")
    if nc is not None and (not isinstance(nc, int) or nc != len(seq)):
        raise ValueError(f"{where}: 'nc' is {nc!r} but 'names' has {len(seq)} entries")
    return [str(v).strip() for v in seq]


class UltralyticsSource(LabelledSource):
    """An Ultralytics ``data.yaml`` split (default ``train``) as a `LabelledSource` (rules: the module doc).

    Pictures keep the order of the yaml's entries: a folder's pictures sorted by path component, a list file's
    in its order. `labels(i)` reads picture i's label file (`read_yolo_labels`, polygons taken as their box)."""

    format = "yolo"

    def __init__(self, path: str | Path, split: str | None = None) -> None:
        super().__init__()
        self.origin = Path(path)
        split = "train" if split is None else ("val" if split == "valid" else split)
        if split not in SPLITS:
            raise ValueError(f"{self.origin}: unknown split {split!r} (choose from {', '.join(SPLITS)})")
        self.split = split
        data = _load_yaml(self.origin)
        if "names" not in data:
            raise ValueError(f"{self.origin}: no 'names' key (the class names, a list or {{index: name}})")
        names = read_names_key(data["names"], str(self.origin), data.get("nc"))
        self.classes = [SourceClass(n) for n in names]
        self.root = self._root(data.get("path"))
        entries = data.get(split)
        if entries is None or entries == "" or entries == []:
            raise ValueError(f"{self.origin}: no '{split}' key (the {split} pictures: a folder, a list file or a list)")
        if not isinstance(entries, list):
            entries = [entries]
        self.table = PathTable()
        for e in entries:
            if not isinstance(e, str) or not e.strip():
                raise ValueError(f"{self.origin}: '{split}' entry {e!r} is not a path")
            self._add(e.strip(), split)
        self.table.finish()
        if not len(self.table):
            raise ValueError(f"{self.origin}: '{split}' holds no picture ({', '.join(entries)})")
        for folder, count, first in missing_label_folders(self.table, lambda i: str(self.label_path(i))):
            self.problems.append(
                f"{folder}: labels folder not found: its {plural(count, 'picture')} (first: {first}) read as background"
            )
            log.warning("%s", self.problems[-1])

    def _root(self, value: Any) -> str:
        """The dataset root from ``path`` (module doc)."""
        here = self.origin.parent
        if value is None or value == "":
            return os.path.abspath(here)
        if not isinstance(value, str):
            raise ValueError(f"{self.origin}: 'path' must be a folder, not {value!r}")
        p = Path(value).expanduser()
        if p.is_absolute():
            root = p
        else:
            root = here / p
            if not root.is_dir() and p.is_dir():
                root = p
        if not root.is_dir():
            raise ValueError(f"{self.origin}: 'path' {value!r}: dataset folder {root} not found")
        return os.path.abspath(root)

    def _add(self, entry: str, split: str) -> None:
        """One folder or list file of the split into the table."""
        p = os.path.join(self.root, os.path.expanduser(entry))
        if not os.path.exists(p) and entry.startswith("../"):
            p = os.path.join(self.root, entry[3:])
        p = os.path.abspath(p)
        if os.path.isdir(p):
            if not scan_images(p, self.table):
                raise ValueError(f"{self.origin}: '{split}' folder {p} holds no picture")
        elif os.path.isfile(p):
            found = read_image_list(
                p, self.table, bases=[self.root, os.getcwd()], dot_base=os.path.dirname(p), images_only=True
            )
            self.problems += found.missing
        else:
            raise ValueError(f"{self.origin}: '{split}': {p} not found (a folder or a list file)")

    def __len__(self) -> int:
        return len(self.table)

    def path_str(self, i: int) -> str:
        """File of picture i, as a string."""
        return self.table.path(i)

    def path(self, i: int) -> Path:
        """File of picture i."""
        return Path(self.table.path(i))

    def label_path(self, i: int) -> Path:
        """Label file of picture i (Ultralytics' rule)."""
        return Path(ultralytics_label_path(self.table.path(i)))

    def labels(self, i: int) -> ImageLabels:
        """Picture i's label file read: normalized boxes; missing or empty: a background picture."""
        return read_yolo_labels(ultralytics_label_path(self.table.path(i)), len(self.classes))
