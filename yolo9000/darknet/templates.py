"""Our architectures as Python constructors, each rendered from a cfg template shipped in `yolo9000/darknet/cfgs/`.

The rendered text becomes `model.cfg_text`, so a checkpoint rebuilds exactly the same module and
`yolo9000 convert` can hand it to Darknet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from string import Template

import numpy as np

from wordtree.formats import load_tree
from wordtree.options import size32
from yolo9000.darknet.model import DarknetModel
from yolo9000.detection.head import YOLO9000_ANCHORS, YOLOV2_ANCHORS

CFG_DIR = Path(__file__).resolve().parent / "cfgs"
TEMPLATES = ("yolov2", "yolo9000", "darknet19", "tiny-yolo")
DEFAULT_TREE_FILE = "wordtree.tree"


def render_cfg(template: str | Path, **values) -> str:
    """The text of a cfg template (a name in TEMPLATES, or a template file) with its `${...}` fields filled in."""
    path = Path(template) if isinstance(template, Path) else CFG_DIR / f"{template}.cfg"
    if not path.is_file():
        raise ValueError(f"unknown model template {template!r} (choose from {', '.join(TEMPLATES)})")
    try:
        return Template(path.read_text(encoding="utf-8")).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise ValueError(f"{path}: template field {exc.args[0]!r} has no value") from None


def pick_anchors(anchors: Sequence | None, num_anchors: int | None, default: Sequence) -> list[tuple[float, float]]:
    """Anchors as (w, h) grid-unit pairs: the given ones, or `num_anchors` spread over `default` (sorted by area)."""
    if anchors is not None:
        arr = np.asarray(anchors, dtype=float).reshape(-1, 2)
        if num_anchors is not None and len(arr) != num_anchors:
            raise ValueError(f"{len(arr)} anchors given but num_anchors={num_anchors}")
        if (arr <= 0).any():
            raise ValueError("anchor sizes must be positive")
        return [(float(w), float(h)) for w, h in arr]
    base = sorted(default, key=lambda a: a[0] * a[1])
    n = len(base) if num_anchors is None else int(num_anchors)
    if n < 1:
        raise ValueError(f"num_anchors must be >= 1, got {n}")
    if n > len(base):
        raise ValueError(
            f"num_anchors={n} needs explicit anchors= (only {len(base)} defaults); compute them with `yolo9000 anchors`"
        )
    idx = np.round(np.linspace(0, len(base) - 1, n)).astype(int)
    return [base[i] for i in idx]


def _region_values(tree, classes: int, anchors, tree_file: str | None) -> dict:
    if tree is not None:
        classes = len(tree)
    if classes < 1:
        raise ValueError(f"classes must be >= 1, got {classes}")
    return {
        "classes": classes,
        "num": len(anchors),
        "anchors": ", ".join(f"{w:g},{h:g}" for w, h in anchors),
        "filters": len(anchors) * (5 + classes),
        "tree_line": f"tree={tree_file or DEFAULT_TREE_FILE}" if tree is not None else "",
    }


def _check_size(size: int) -> int:
    return size32(size, "size")


def yolov2(
    tree=None, classes: int = 80, anchors=None, num_anchors: int | None = None, size: int = 416, jitter: float = 0.3
) -> DarknetModel:
    """YOLOv2 with the passthrough layer; flat softmax over `classes`, or a tree head when `tree` is given."""
    tree = load_tree(tree) if tree is not None else None
    vals = _region_values(tree, classes, pick_anchors(anchors, num_anchors, YOLOV2_ANCHORS), None)
    text = render_cfg("yolov2", size=_check_size(size), jitter=jitter, **vals)
    return DarknetModel.from_cfg_text(text, tree=tree, source="yolov2.cfg")


def yolo9000(tree, anchors=None, num_anchors: int | None = None, size: int = 544, jitter: float = 0.2) -> DarknetModel:
    """YOLO9000-style detector: Darknet-19 trunk and a 1x1 tree head (3 anchors by default) for any WordTree."""
    tree = load_tree(tree) if tree is not None else None
    if tree is None:
        raise ValueError("yolo9000() needs a WordTree (or a .tree path)")
    vals = _region_values(tree, len(tree), pick_anchors(anchors, num_anchors, YOLO9000_ANCHORS), None)
    text = render_cfg("yolo9000", size=_check_size(size), jitter=jitter, **vals)
    return DarknetModel.from_cfg_text(text, tree=tree, source="yolo9000.cfg")


def darknet19(classes: int = 1000, tree=None, size: int = 224) -> DarknetModel:
    """Darknet-19 classifier; `model.classify(x)` gives (B, classes) probabilities (tree: conditional)."""
    tree = load_tree(tree) if tree is not None else None
    if tree is not None:
        classes = len(tree)
    text = render_cfg(
        "darknet19",
        size=_check_size(size),
        classes=classes,
        tree_line=f"tree={DEFAULT_TREE_FILE}" if tree is not None else "",
    )
    return DarknetModel.from_cfg_text(text, tree=tree, source="darknet19.cfg")


TINY_WIDTHS = (16, 32, 64, 128, 256, 512, 1024)


def tiny_yolo(
    tree=None,
    classes: int = 20,
    anchors=None,
    num_anchors: int | None = None,
    size: int = 416,
    width: float = 1.0,
    jitter: float = 0.2,
) -> DarknetModel:
    """A tiny YOLOv2-style detector (7 3x3 convs); `width` scales every channel count (min 8) for CPU runs."""
    tree = load_tree(tree) if tree is not None else None
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    chans = {f"c{i + 1}": max(8, int(round(c * width))) for i, c in enumerate(TINY_WIDTHS)}
    vals = _region_values(tree, classes, pick_anchors(anchors, num_anchors, YOLOV2_ANCHORS), None)
    text = render_cfg("tiny-yolo", size=_check_size(size), jitter=jitter, **chans, **vals)
    return DarknetModel.from_cfg_text(text, tree=tree, source="tiny-yolo.cfg")


def tiny_yolo9000(tree, anchors=None, num_anchors: int | None = 3, size: int = 416, width: float = 1.0) -> DarknetModel:
    """`tiny_yolo` with a tree head (3 YOLO9000 anchors by default)."""
    tree = load_tree(tree) if tree is not None else None
    if tree is None:
        raise ValueError("tiny_yolo9000() needs a WordTree (or a .tree path)")
    anchors = pick_anchors(anchors, num_anchors, YOLO9000_ANCHORS)
    return tiny_yolo(tree=tree, anchors=anchors, size=size, width=width)


MODELS: dict[str, Callable[..., DarknetModel]] = {
    "yolov2": yolov2,
    "yolo9000": yolo9000,
    "darknet19": darknet19,
    "tiny_yolo": tiny_yolo,
    "tiny_yolo9000": tiny_yolo9000,
}
