"""The neutral records every writer takes: `Picture` (and `picture`, from plain lists), `ClassList`, and
`pictures_of`, which reads any `LabelledSource` into them."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wordtree.files import plural
from wordtree.tree import WordTree
from yolo9000.data.labelled import BACKGROUND, CLASSIFICATION, DETECTION, LabelError, LabelledSource, SourceClass

log = logging.getLogger(__package__)  # one logger for the package, as before the split: yolo9000.data.writers


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
