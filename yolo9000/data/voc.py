"""Pascal VOC detection data: a year folder (``VOCdevkit/VOC2007``) with ``Annotations/<id>.xml``,
``JPEGImages/<id>.jpg`` and the split lists ``ImageSets/Main/<split>.txt``.

Boxes. A VOC XML box is 1-based pixel indices with both ends inclusive: a box over the picture's first pixel
column has xmin = xmax = 1. `VocSource` gives boxes in pixel-edge coordinates (0 .. width), as torchvision and
Detectron2 read VOC::

    x1 = xmin - 1,   y1 = ymin - 1,   x2 = xmax,   y2 = ymax

so a box is xmax - xmin + 1 pixels wide, the devkit's own measure, and the devkit's "+1" IoU on the XML's
numbers is the plain IoU of these boxes (`yolo9000.evaluation.voc_ap`). A writer inverts the rule: xmin = x1 + 1,
ymin = y1 + 1, xmax = x2, ymax = y2. A box may reach one pixel past the picture (xmin = 0, as tools that count
from 0 write, or xmax = width + 1); it is clipped to the picture. Further out is a `LabelError`.

Classes are the 20 VOC names in the devkit's order (`VOC_CLASSES`), or the `classes` given for VOC-format data
with other names; any other name is a `LabelError`. `difficult` boxes are kept and flagged: scoring ignores them.
Each XML is read when its picture's labels are asked for, so opening a year folder reads only the split list.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from wordtree.builder import data_dir
from yolo9000.data.labelled import ImageLabels, LabelError, LabelledSource, SourceClass, image_labels

#: the 20 VOC classes in the devkit's order (VOCopts.classes), the class indices of `VocSource`
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

#: picture extensions tried after ``.jpg`` (VOC-format exports of labelling tools keep PNGs too)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG")


@functools.cache
def voc_table() -> dict[str, str]:
    """VOC's 20 class names -> WordNet 3.0 wnid, from the table shipped in `wordtree/data/voc_wordnet.csv`."""
    with open(data_dir() / "voc_wordnet.csv", newline="", encoding="utf-8") as fh:
        return {r["name"].strip(): r["wnid"].strip() for r in csv.DictReader(fh)}


@dataclass
class _Element:
    """An XML element with the line its start tag is on (ElementTree keeps no line numbers)."""

    tag: str
    line: int
    text: str = ""
    children: list[_Element] = field(default_factory=list)

    def find(self, tag: str) -> _Element | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[_Element]:
        return [c for c in self.children if c.tag == tag]

    def findtext(self, tag: str) -> str | None:
        child = self.find(tag)
        return None if child is None else child.text.strip()


def _parse_xml(path: Path) -> _Element:
    """The root element of the XML file at `path`; a `LabelError` naming file and line when it is malformed.

    Expat resolves no external entities and (2.4.1 on) bounds entity expansion, so a hostile file cannot reach
    other files or blow up memory."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LabelError(f"{path}: annotation file not found") from None
    except OSError as exc:
        raise LabelError(f"{path}: cannot read the annotation ({exc.strerror or exc})") from None
    parser = expat.ParserCreate()
    stack: list[_Element] = []
    root: list[_Element] = []

    def start(tag: str, _attrs: dict[str, str]) -> None:
        el = _Element(tag, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(el)
        stack.append(el)

    def end(_tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].text += text

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise LabelError(f"{path}:{exc.lineno}: malformed XML ({expat.ErrorString(exc.code)})") from None
    return root[0]


def _size(path: Path, ann: _Element) -> tuple[int, int]:
    """(width, height) of the annotation's <size>: positive integers, else a `LabelError`."""
    size = ann.find("size")
    if size is None:
        raise LabelError(f"{path}: no <size> (the picture's width and height are needed to check the boxes)")
    try:
        w, h = (int(float(size.findtext(k) or "")) for k in ("width", "height"))
    except ValueError:
        w = h = 0
    if w <= 0 or h <= 0:
        got = f"{size.findtext('width')!r} x {size.findtext('height')!r}"
        raise LabelError(f"{path}:{size.line}: <size> needs a positive integer <width> and <height>, got {got}")
    return w, h


def _flag(path: Path, obj: _Element, tag: str, what: str) -> bool:
    """An optional 0/1 field of an object (<difficult>): absent or empty is 0."""
    text = obj.findtext(tag) or "0"
    try:
        return int(float(text)) != 0
    except ValueError:
        raise LabelError(f"{path}:{obj.line}: {what}: <{tag}> must be 0 or 1, got {text!r}") from None


class VocSource(LabelledSource):
    """A Pascal VOC year folder as a `LabelledSource` (format "voc").

    `year_dir` is ``VOCdevkit/VOC2007`` (or 2012, or a VOC-format export); `split` names the list
    ``ImageSets/Main/<split>.txt`` of picture ids (default ``trainval``). `classes` replaces the 20 VOC names for
    VOC-format data with other classes. Boxes are in pixels, converted as the module docstring says.
    """

    format = "voc"

    def __init__(self, year_dir: str | Path, split: str | None = None, *, classes: Sequence[str] | None = None):
        super().__init__()
        root = Path(year_dir)
        self.origin = root
        self.split = split or "trainval"
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: VOC year folder not found")
        if not (root / "Annotations").is_dir():
            years = sorted(p.name for p in root.glob("VOC*") if (p / "Annotations").is_dir())
            hint = f" (it holds {', '.join(years)}: give one of those)" if years else ""
            raise FileNotFoundError(f"{root}: no Annotations/ folder, not a VOC year folder{hint}")
        names = list(VOC_CLASSES if classes is None else classes)
        if not names or len(set(names)) != len(names) or not all(n.strip() == n and n for n in names):
            raise ValueError(f"{root}: classes must be distinct non-empty names, got {names}")
        self.classes = [SourceClass(n) for n in names]
        self._index = {n: k for k, n in enumerate(names)}
        self.ids = self._read_split(root / "ImageSets" / "Main", self.split)

    @staticmethod
    def _read_split(folder: Path, split: str) -> list[str]:
        """The picture ids of ``folder/<split>.txt``: the first field of each line (one id a line)."""
        listed = folder / f"{split}.txt"
        if not listed.is_file():
            # <class>_<split>.txt files are per-class lists of the same pictures, not splits
            have = sorted(p.stem for p in folder.glob("*.txt") if "_" not in p.stem) if folder.is_dir() else []
            where = f"the splits here are: {', '.join(have)}" if have else f"{folder} has no split lists"
            raise FileNotFoundError(f"{listed}: split list not found ({where})")
        with open(listed, encoding="utf-8") as fh:
            ids = [line.split()[0] for line in fh if line.strip()]
        if not ids:
            raise ValueError(f"{listed}: the split list names no pictures")
        return ids

    def __len__(self) -> int:
        return len(self.ids)

    def annotation_path(self, i: int) -> Path:
        """The XML file of picture i."""
        return self.origin / "Annotations" / f"{self.ids[i]}.xml"

    def path(self, i: int) -> Path:
        """``JPEGImages/<id>.jpg``, or the id with another picture extension where only that exists."""
        folder = self.origin / "JPEGImages"
        for suffix in IMAGE_SUFFIXES:
            p = folder / f"{self.ids[i]}{suffix}"
            if p.is_file():
                return p
        return folder / f"{self.ids[i]}.jpg"

    def labels(self, i: int) -> ImageLabels:
        """Picture i's boxes (pixels, x1 = xmin - 1 ...), classes, difficult flags and size, read from its XML."""
        path = self.annotation_path(i)
        ann = _parse_xml(path)
        if ann.tag != "annotation":
            raise LabelError(f"{path}:{ann.line}: not a VOC annotation (the root element is <{ann.tag}>)")
        w, h = _size(path, ann)
        boxes: list[tuple[float, float, float, float]] = []
        classes: list[int] = []
        difficult: list[bool] = []
        for n, obj in enumerate(ann.findall("object"), 1):
            name = obj.findtext("name") or ""
            what = f"object {n} ({name!r})" if name else f"object {n}"
            if name not in self._index:
                raise LabelError(f"{path}:{obj.line}: {what}: {self._unknown(name)}")
            boxes.append(self._box(path, obj, what, w, h))
            classes.append(self._index[name])
            difficult.append(_flag(path, obj, "difficult", what))
        return image_labels(boxes, classes, difficult, normalized=False, size=(w, h))

    def _unknown(self, name: str) -> str:
        if not name:
            return "no <name>"
        known = ", ".join(c.name for c in self.classes[:20]) + (" ..." if len(self.classes) > 20 else "")
        return f"unknown class {name!r} (the classes are: {known}; VOC-format data with other names needs classes=)"

    @staticmethod
    def _box(path: Path, obj: _Element, what: str, w: int, h: int) -> tuple[float, float, float, float]:
        """The object's <bndbox> as x1, y1, x2, y2 pixel edges, checked against the w x h picture and clipped."""
        bb = obj.find("bndbox")
        where = f"{path}:{obj.line if bb is None else bb.line}: {what}"
        try:
            if bb is None:
                raise ValueError
            xmin, ymin, xmax, ymax = (float(bb.findtext(k) or "") for k in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError:
            raise LabelError(f"{where}: <bndbox> needs numeric <xmin>, <ymin>, <xmax> and <ymax>") from None
        box = f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})"
        if not xmin <= xmax or not ymin <= ymax:  # also catches NaN
            raise LabelError(f"{where}: {box} has xmin > xmax or ymin > ymax")
        if xmin < 0 or ymin < 0 or xmax > w + 1 or ymax > h + 1:
            raise LabelError(f"{where}: {box} is outside the {w}x{h} picture (1-based, up to {w}, {h})")
        return max(xmin - 1, 0.0), max(ymin - 1, 0.0), min(xmax, float(w)), min(ymax, float(h))
