"""One shape for every dataset format: a `LabelledSource` says, per picture, its file and its `ImageLabels` (boxes
with source class indices, or the one class of a classification-only picture); `LabelledDataset` turns a source
into training samples with tree nodes; `check_source` counts a source and lists its problems.

The readers (Ultralytics YOLO, Darknet lists, Pascal VOC, Open Images, COCO, class folders) live in their own
modules and only fill this shape; `yolo9000.data.sources.open_source` picks one from a path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from wordtree.tree import WordTree
from yolo9000.data.coco import DetectionSample, category_nodes_of
from yolo9000.data.folders import ClassificationSample
from yolo9000.data.image_io import read_encoded, read_image

log = logging.getLogger(__name__)

#: what a picture is, as `LabelledSource.kinds` and `ImageLabels.kind` say it
DETECTION, CLASSIFICATION, BACKGROUND = 0, 1, 2
KIND_NAMES = ("detection", "classification", "background")


class LabelError(ValueError):
    """A problem in a label file or annotation, its message starting with ``file:line:`` (or ``file:``)."""


@dataclass(frozen=True)
class SourceClass:
    """A class as the dataset names it: its `name`, and the tree node id it names itself where the format says
    (Darknet's `labels=` wnid, an Open Images MID, a COCO category's "node"/"wnid")."""

    name: str
    node: str | None = None


@dataclass(frozen=True)
class ImageLabels:
    """What a dataset says about one picture.

    boxes:      (n,4) float64 x1,y1,x2,y2: in 0..1 of the picture when `normalized`, else in pixels.
    classes:    (n,) int64 index into the source's `classes`.
    difficult:  (n,) bool, boxes that scoring ignores (VOC's `difficult`); training uses them.
    label:      the class index of a classification-only picture (boxes then empty), else -1.
    size:       (width, height) where the annotation states it, else None.
    """

    boxes: np.ndarray
    classes: np.ndarray
    difficult: np.ndarray
    label: int = -1
    normalized: bool = False
    size: tuple[int, int] | None = None

    @property
    def kind(self) -> int:
        """`DETECTION`, `CLASSIFICATION` or `BACKGROUND` (no box and no class: a picture of nothing to find)."""
        if self.label >= 0:
            return CLASSIFICATION
        return DETECTION if len(self.boxes) else BACKGROUND

    def pixel_boxes(self, width: int, height: int) -> np.ndarray:
        """The boxes in pixels of a `width` x `height` picture."""
        if not self.normalized:
            return self.boxes
        return self.boxes * np.array([width, height, width, height], dtype=np.float64)


def image_labels(
    boxes: Sequence[Sequence[float]] | np.ndarray = (),
    classes: Sequence[int] | np.ndarray = (),
    difficult: Sequence[bool] | np.ndarray | None = None,
    *,
    label: int = -1,
    normalized: bool = False,
    size: tuple[int, int] | None = None,
) -> ImageLabels:
    """An `ImageLabels` from plain lists (the readers' constructor)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    c = np.asarray(classes, dtype=np.int64).reshape(-1)
    d = np.zeros(len(b), dtype=bool) if difficult is None else np.asarray(difficult, dtype=bool).reshape(-1)
    return ImageLabels(b, c, d, label, normalized, size)


class LabelledSource:
    """A dataset in some format: pictures, each with its `ImageLabels`.

    Subclasses set `format` (a short name), `origin` (the file or folder the user gave, for messages), `classes`
    and `split`, and implement `__len__`, `path` and `labels`. `kinds` returns each picture's kind when the
    index knows it without reading every label file (None: found per picture when it is read, as a Darknet list
    mixes its kinds). `problems` lists what the index found wrong and skipped, each ``file:line: message``.
    """

    format: str = ""
    origin: Path = Path()
    split: str | None = None
    classes: list[SourceClass]
    problems: list[str]

    def __init__(self) -> None:
        self.classes = []
        self.problems = []

    def __len__(self) -> int:
        raise NotImplementedError

    def path(self, i: int) -> Path:
        """The file of picture i."""
        raise NotImplementedError

    def labels(self, i: int) -> ImageLabels:
        """The labels of picture i; a `LabelError` naming the file and line when they are malformed."""
        raise NotImplementedError

    def kinds(self) -> np.ndarray | None:
        """Each picture's kind (`DETECTION`, `CLASSIFICATION`, `BACKGROUND`) when known without reading every
        label file, else None."""
        return None

    def describe(self) -> str:
        """One line: format, origin and split."""
        split = f" ({self.split})" if self.split else ""
        return f"{self.format} {self.origin}{split}"


def read_names_csv(path: str | Path) -> dict[str, str]:
    """``name,id`` rows (a header ``name,id``): free-form class names -> tree node ids. Errors name file:line."""
    import csv

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: names CSV not found")
    out: dict[str, str] = {}
    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or [c.strip().lower() for c in rows[0]] != ["name", "id"]:
        raise ValueError(f"{p}:1: expected the header name,id")
    for line, row in enumerate(rows[1:], 2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ValueError(f"{p}:{line}: expected 'name,id', got {','.join(row)[:60]!r}")
        out[row[0].strip()] = row[1].strip()
    return out


def class_nodes(
    classes: Sequence[SourceClass],
    tree: WordTree,
    *,
    names: dict[str, str] | None = None,
    label_map: str | None = None,
    source: str = "<data>",
) -> np.ndarray:
    """The tree node of each source class (int64), by the rules of `category_nodes_of` (its own node id, a tree
    label map, the shipped COCO and VOC -> WordNet tables, a node id or the one node of that display name), after
    `names` (a `read_names_csv` table, which wins). Every class that maps to nothing is listed in one error."""
    from yolo9000.data.voc import voc_table

    table = {**voc_table(), **(names or {})}
    nodes = np.full(len(classes), -1, dtype=np.int64)
    unplaced: list[str] = []
    for k, c in enumerate(classes):
        node = c.node if c.node is not None else table.get(c.name)
        cat = {"id": k, "name": c.name} if node is None or node not in tree else {"id": k, "name": c.name, "node": node}
        try:
            nodes[k] = category_nodes_of([cat], tree, label_map=label_map, coco_names=True, display_names=True)[0]
        except ValueError:
            unplaced.append(repr(c.name) + (f" ({c.node})" if c.node else ""))
    if unplaced:
        shown = ", ".join(unplaced[:20]) + (f" and {len(unplaced) - 20} more" if len(unplaced) > 20 else "")
        raise ValueError(
            f"{source}: {len(unplaced)} class(es) map to no node of the tree: {shown} (name them by node id, "
            "or map them with --names NAMES.csv of name,id rows)"
        )
    return nodes


class LabelledDataset(torch.utils.data.Dataset):
    """A `LabelledSource` as training samples: `load(i)` gives a `DetectionSample` (boxes in pixels of the decoded
    picture, tree nodes) or, for a classification-only picture, a `ClassificationSample`; a background picture is a
    `DetectionSample` without boxes.

    `node_of` maps source class indices to the model's classes (tree nodes, or flat class indices). `indices`
    restricts the dataset to those pictures (`split_by_kind`). Boxes with no area inside the picture are dropped.
    A label file found malformed when read is a `LabelError`, which the training loader logs and skips.
    """

    def __init__(
        self,
        source: LabelledSource,
        node_of: np.ndarray,
        names: Sequence[str],
        *,
        indices: np.ndarray | None = None,
        kind: str = "detection",
        exif: bool = True,
    ) -> None:
        self.source, self.node_of, self.names = source, np.asarray(node_of, dtype=np.int64), list(names)
        self.indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.kind, self.exif = kind, exif

    def __len__(self) -> int:
        return len(self.indices)

    def path(self, i: int) -> Path:
        """File of picture i."""
        return self.source.path(int(self.indices[i]))

    def labels(self, i: int) -> ImageLabels:
        """The source's labels of picture i."""
        return self.source.labels(int(self.indices[i]))

    def load(self, i: int, *, encoded: bool = False) -> DetectionSample | ClassificationSample:
        """Decode picture i (`encoded`: `read_encoded`) with its labels in the model's classes."""
        j = int(self.indices[i])
        labels = self.source.labels(j)
        path = self.source.path(j)
        img = (read_encoded if encoded else read_image)(path, exif=self.exif)
        if labels.label >= 0:
            return ClassificationSample(img, int(self.node_of[labels.label]), str(path))
        h, w = img.shape[1:]
        boxes = labels.pixel_boxes(w, h).clip(0, [w, h, w, h]).astype(np.float32)
        # difficult boxes are not trained on, as Darknet's voc_label.py and Ultralytics' VOC.yaml leave them out
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & ~labels.difficult
        nodes = self.node_of[labels.classes[keep]]
        return DetectionSample(img, torch.from_numpy(boxes[keep]), torch.from_numpy(nodes), str(path))

    def __getitem__(self, i: int) -> DetectionSample | ClassificationSample:
        return self.load(i)


def split_by_kind(dataset: LabelledDataset) -> tuple[LabelledDataset | None, LabelledDataset | None]:
    """(detection pictures, classification-only pictures) of `dataset` where its source knows each picture's kind;
    background pictures go with the detection ones. A source that does not know (a Darknet list) stays one
    detection dataset whose classification-only pictures show themselves when read, as in Darknet's one list."""
    kinds = dataset.source.kinds()
    if kinds is None:
        return (dataset if len(dataset) else None), None
    kinds = kinds[dataset.indices]
    det = dataset.indices[kinds != CLASSIFICATION]
    cls = dataset.indices[kinds == CLASSIFICATION]

    def view(idx: np.ndarray, kind: str) -> LabelledDataset | None:
        if not len(idx):
            return None
        return LabelledDataset(
            dataset.source, dataset.node_of, dataset.names, indices=idx, kind=kind, exif=dataset.exif
        )

    return view(det, "detection"), view(cls, "classification")


class ConcatSamples(torch.utils.data.Dataset):
    """Several datasets of one kind as one (`load`, `path`, `__len__`), for training on several sources."""

    def __init__(self, parts: Sequence[torch.utils.data.Dataset], kind: str) -> None:
        self.parts = list(parts)
        self.kind = kind
        self.names = list(getattr(self.parts[0], "names", []))
        self._ends = np.cumsum([len(p) for p in self.parts])  # type: ignore[arg-type]

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def _locate(self, i: int) -> tuple[torch.utils.data.Dataset, int]:
        k = int(np.searchsorted(self._ends, i, side="right"))
        start = int(self._ends[k - 1]) if k else 0
        return self.parts[k], i - start

    def path(self, i: int) -> Path:
        """File of picture i."""
        part, j = self._locate(i)
        return part.path(j)  # type: ignore[attr-defined]

    def load(self, i: int, *, encoded: bool = False) -> DetectionSample | ClassificationSample:
        """Picture i of the part it falls in."""
        part, j = self._locate(i)
        return part.load(j, encoded=encoded)  # type: ignore[attr-defined]

    def __getitem__(self, i: int) -> DetectionSample | ClassificationSample:
        return self.load(i)


@dataclass
class SourceCounts:
    """What `check_source` found: the keys of `yolo9000 data check --json`."""

    images: int = 0
    boxes: int = 0
    classification_images: int = 0
    background_images: int = 0
    classes: int = 0
    problems: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # the classes used, by node id (or name): to count over sources

    def as_dict(self) -> dict:
        """The JSON object of `data check --json`."""
        return {
            "images": self.images,
            "boxes": self.boxes,
            "classification_images": self.classification_images,
            "background_images": self.background_images,
            "classes": self.classes,
            "problems": list(self.problems),
        }


def iter_labels(source: LabelledSource, problems: list[str] | None = None) -> Iterator[tuple[int, ImageLabels]]:
    """(index, labels) of every picture whose labels read; a `LabelError` goes to `problems` (when given, else it
    is raised) and the picture is left out."""
    for i in range(len(source)):
        try:
            yield i, source.labels(i)
        except LabelError as exc:
            if problems is None:
                raise
            problems.append(str(exc))


def check_source(
    source: LabelledSource,
    *,
    tree: WordTree | None = None,
    names: dict[str, str] | None = None,
    label_map: str | None = None,
    progress: bool = False,
) -> SourceCounts:
    """Read every label of `source` and count pictures, boxes, classification-only and background pictures and the
    classes used; every problem (malformed lines, missing pictures, classes the tree cannot place) is listed."""
    from yolo9000.progress import track

    counts = SourceCounts(problems=list(source.problems))
    used = np.zeros(len(source.classes), dtype=bool)
    seen = track(
        iter_labels(source, counts.problems), total=len(source), desc="check", unit="picture", enabled=progress
    )
    for i, lab in seen:
        counts.images += 1
        kind = lab.kind
        counts.boxes += len(lab.boxes)
        counts.classification_images += kind == CLASSIFICATION
        counts.background_images += kind == BACKGROUND
        used[lab.classes] = True
        if lab.label >= 0:
            used[lab.label] = True
        if not source.path(i).is_file():
            counts.problems.append(f"{source.path(i)}: image file not found")
    counts.classes = int(used.sum())
    counts.used = {c.node or c.name for c, u in zip(source.classes, used) if u}
    if tree is not None:
        try:
            chosen = [c for c, u in zip(source.classes, used) if u]
            class_nodes(chosen, tree, names=names, label_map=label_map, source=str(source.origin))
        except ValueError as exc:
            counts.problems.append(str(exc))
    return counts
