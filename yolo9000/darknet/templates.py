"""Our architectures as cfg templates shipped in `yolo9000/darknet/cfg_templates/NAME.cfg.in` (templates with
`${...}` fields, never handed out as cfg files: `template_cfg` renders one), the constructors rendered from them,
and the one reading of a model spec (a cfg file or a template name) for training.

`template_cfg(name, tree)` gives a template's cfg text sized for a tree (`yolo9000 cfg` writes it); the
constructors (`yolov2`, `yolo9000`, ...) build a `DarknetModel` from that text, which becomes `model.cfg_text`,
so a checkpoint rebuilds exactly the same module and `yolo9000 convert` can hand it to Darknet.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from wordtree.formats import load_tree
from wordtree.options import size32
from wordtree.tree import WordTree
from yolo9000.darknet import torchvision_backbone as tv
from yolo9000.darknet.model import DarknetModel
from yolo9000.detection.head import YOLO9000_ANCHORS, YOLOV2_ANCHORS

#: The template texts: NAME.cfg.in, not NAME.cfg, so no one takes them for cfg files (`yolo9000 cfg` writes those)
TEMPLATE_DIR = Path(__file__).resolve().parent / "cfg_templates"
TEMPLATE_SUFFIX = ".cfg.in"
TEMPLATES = ("yolov2", "yolo9000", "darknet19", "tiny-yolo")
DEFAULT_TREE_FILE = "wordtree.tree"

#: A tree argument: a WordTree, or the path of our tree JSON or a Darknet `.tree`
TreeLike = WordTree | str | Path
#: Anchors: (w, h) pairs in grid cells, or the same values flat (w, h, w, h, ...) as `--anchors` takes them
AnchorsLike = Sequence[float] | Sequence[Sequence[float]] | np.ndarray


def render_cfg(template: str | Path, **values: object) -> str:
    """The text of a cfg template (a name in TEMPLATES, or a template file) with its `${...}` fields filled in."""
    path = Path(template) if isinstance(template, Path) else TEMPLATE_DIR / f"{template}{TEMPLATE_SUFFIX}"
    if not path.is_file():
        raise ValueError(f"unknown model template {template!r} (choose from {', '.join(TEMPLATES)})")
    try:
        return Template(path.read_text(encoding="utf-8")).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise ValueError(f"{path}: template field {exc.args[0]!r} has no value") from None


def anchor_pairs(anchors: AnchorsLike, what: str = "anchors") -> list[tuple[float, float]]:
    """(w, h) pairs in grid cells from pairs or a flat w, h, w, h, ... list (`--anchors`): the one anchors
    parser. An odd count, no values or a size that is not positive is one line naming `what`."""
    arr = np.asarray(anchors, dtype=float)
    if arr.ndim == 1 and (arr.size == 0 or arr.size % 2):
        raise ValueError(f"{what} needs w,h pairs, got {arr.size} values")
    if arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] != 2):
        raise ValueError(f"{what} needs w,h pairs, got an array of shape {arr.shape}")
    arr = arr.reshape(-1, 2)
    if len(arr) == 0:
        raise ValueError(f"{what} needs w,h pairs, got none")
    if not (arr > 0).all():
        raise ValueError(f"{what}: anchor sizes must be positive")
    return [(float(w), float(h)) for w, h in arr]


def pick_anchors(
    anchors: AnchorsLike | None, num_anchors: int | None, default: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Anchors as (w, h) grid-unit pairs: the given ones, or `num_anchors` spread over `default` (sorted by area)."""
    if anchors is not None:
        pairs = anchor_pairs(anchors)
        if num_anchors is not None and len(pairs) != num_anchors:
            raise ValueError(f"{len(pairs)} anchors given but num_anchors={num_anchors}")
        return pairs
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


def _tree(tree: TreeLike | None) -> WordTree | None:
    return load_tree(tree) if tree is not None else None


def _tree_line(tree: WordTree | None, tree_file: str | None) -> str:
    """The `tree=` line of a tree head (the file named, else Darknet's default name), or nothing."""
    return f"tree={tree_file or DEFAULT_TREE_FILE}" if tree is not None else ""


def _region_values(
    tree: WordTree | None, classes: int, anchors: list[tuple[float, float]], tree_file: str | None
) -> dict[str, object]:
    if tree is not None:
        classes = len(tree)
    if classes < 1:
        raise ValueError(f"classes must be >= 1, got {classes}")
    return {
        "classes": classes,
        "num": len(anchors),
        "anchors": ", ".join(f"{w:g},{h:g}" for w, h in anchors),
        "filters": len(anchors) * (5 + classes),
        "tree_line": _tree_line(tree, tree_file),
    }


def _check_size(size: int) -> int:
    return size32(size, "size")


def _needs_tree(tree: WordTree | None, name: str) -> WordTree:
    if tree is None:
        raise ValueError(f"{name}() needs a WordTree (or a .tree path)")
    return tree


# ----------------------------------------------------------------------------------------------- cfg texts
def yolov2_cfg(
    tree: TreeLike | None = None,
    classes: int = 80,
    anchors: AnchorsLike | None = None,
    num_anchors: int | None = None,
    size: int = 416,
    jitter: float = 0.3,
    tree_file: str | None = None,
) -> str:
    """The cfg text of `yolov2` (`tree_file`: the file its `tree=` line names)."""
    vals = _region_values(_tree(tree), classes, pick_anchors(anchors, num_anchors, YOLOV2_ANCHORS), tree_file)
    return render_cfg("yolov2", size=_check_size(size), jitter=jitter, **vals)


def yolo9000_cfg(
    tree: TreeLike | None,
    anchors: AnchorsLike | None = None,
    num_anchors: int | None = None,
    size: int = 544,
    jitter: float = 0.2,
    tree_file: str | None = None,
) -> str:
    """The cfg text of `yolo9000` for `tree`."""
    t = _needs_tree(_tree(tree), "yolo9000")
    vals = _region_values(t, len(t), pick_anchors(anchors, num_anchors, YOLO9000_ANCHORS), tree_file)
    return render_cfg("yolo9000", size=_check_size(size), jitter=jitter, **vals)


def darknet19_cfg(
    classes: int = 1000, tree: TreeLike | None = None, size: int = 224, tree_file: str | None = None
) -> str:
    """The cfg text of the `darknet19` classifier."""
    t = _tree(tree)
    if t is not None:
        classes = len(t)
    return render_cfg("darknet19", size=_check_size(size), classes=classes, tree_line=_tree_line(t, tree_file))


TINY_WIDTHS = (16, 32, 64, 128, 256, 512, 1024)


def tiny_yolo_cfg(
    tree: TreeLike | None = None,
    classes: int = 20,
    anchors: AnchorsLike | None = None,
    num_anchors: int | None = None,
    size: int = 416,
    width: float = 1.0,
    jitter: float = 0.2,
    tree_file: str | None = None,
) -> str:
    """The cfg text of `tiny_yolo`."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    chans = {f"c{i + 1}": max(8, int(round(c * width))) for i, c in enumerate(TINY_WIDTHS)}
    vals = _region_values(_tree(tree), classes, pick_anchors(anchors, num_anchors, YOLOV2_ANCHORS), tree_file)
    return render_cfg("tiny-yolo", size=_check_size(size), jitter=jitter, **chans, **vals)


def tiny_yolo9000_cfg(
    tree: TreeLike | None,
    anchors: AnchorsLike | None = None,
    num_anchors: int | None = 3,
    size: int = 416,
    width: float = 1.0,
    tree_file: str | None = None,
) -> str:
    """The cfg text of `tiny_yolo9000` for `tree`."""
    t = _needs_tree(_tree(tree), "tiny_yolo9000")
    pairs = pick_anchors(anchors, num_anchors, YOLO9000_ANCHORS)
    return tiny_yolo_cfg(tree=t, anchors=pairs, size=size, width=width, tree_file=tree_file)


TASKS = ("detect", "classify")


def check_task(task: str | None) -> None:
    """Refuse a task that is not one of `TASKS` (None: left to the caller's default)."""
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")


#: The [net] of a torchvision detector: yolov2's (inference batch; the paper's detection recipe)
TV_DETECT_NET = """batch=1
subdivisions=1
width={size}
height={size}
channels=3
learning_rate=0.001
momentum=0.9
decay=0.0005
burn_in=1000
policy=steps
steps=400000,450000
scales=.1,.1
max_batches=500200
hue=.1
saturation=1.5
exposure=1.5
angle=0"""
#: The [net] of a torchvision classifier: darknet19's (the paper's ImageNet recipe)
TV_CLASSIFY_NET = """batch=1
subdivisions=1
width={size}
height={size}
channels=3
learning_rate=0.1
momentum=0.9
decay=0.0005
policy=poly
power=4
max_batches=800000
hue=.1
saturation=.75
exposure=.75
angle=7
aspect=.75"""
#: YOLOv2's [region] options after classes/tree (its cfg's)
TV_REGION = """coords=4
softmax=1
bias_match=1
rescore=1
thresh=.6
object_scale=5
noobject_scale=1
class_scale=1
coord_scale=1
absolute=1
jitter={jitter}
random=1"""


def _conv(filters: int | str, size: int, activation: str = "leaky") -> str:
    bn = "batch_normalize=1\n" if activation == "leaky" else ""
    return f"[convolutional]\n{bn}filters={filters}\nsize={size}\nstride=1\npad=1\nactivation={activation}"


def torchvision_cfg(
    name: str,
    *,
    tree: TreeLike | None = None,
    classes: int | None = None,
    size: int | None = None,
    task: str = "detect",
    anchors: AnchorsLike | None = None,
    num_anchors: int | None = None,
    jitter: float = 0.3,
    tree_file: str | None = None,
) -> str:
    """The cfg text of `torchvision:NAME` (`name` without the prefix). `task="detect"` (size 416 by default):
    the backbone in two `[torchvision]` slices, up to stride 16 and on to stride 32, under YOLOv2's head (3x3
    conv, passthrough from stride 16 by a 64-filter 1x1 conv and `[reorg]`, 3x3 conv, 1x1 conv to the anchors'
    outputs, `[region]`; YOLOv2's anchors by default). `task="classify"` (size 224): the whole backbone, a 1x1
    conv to the classes, `[avgpool]`, `[softmax]` and `[cost]`, as darknet19. A tree sizes the head and adds a
    `tree=` line naming `tree_file`; else `classes` (default 80 for a detector, 1000 for a classifier)."""
    check_task(task)
    t = _tree(tree)
    comment = f"# {tv.PREFIX}{name}: torchvision's {name} (ImageNet-normalised in its first layer)"
    if task == "classify":
        if anchors is not None or num_anchors is not None:
            raise ValueError(f"{tv.PREFIX}{name}: a classifier has no anchors")
        tv.check_name(name, f"{tv.PREFIX}{name}")
        n = len(t) if t is not None else (1000 if classes is None else classes)
        if n < 1:
            raise ValueError(f"classes must be >= 1, got {n}")
        parts = [
            f"{comment}, a 1x1 conv to the classes, global average, softmax",
            "[net]\n" + TV_CLASSIFY_NET.format(size=_check_size(224 if size is None else size)),
            f"[torchvision]\nmodel={name}\nfrom=0",
            _conv(n, 1, "linear"),
            "[avgpool]",
            "\n".join(line for line in ("[softmax]", "groups=1", _tree_line(t, tree_file)) if line),
            "[cost]",
        ]
        return "\n\n".join(parts) + "\n"
    split = tv.detector_split(name)
    width = min(1024, max(256, split.channels32))  # the head follows the backbone's width, as YOLOv2's 1024
    vals = _region_values(
        t, 80 if classes is None else classes, pick_anchors(anchors, num_anchors, YOLOV2_ANCHORS), tree_file
    )
    region = [f"anchors={vals['anchors']}", f"num={vals['num']}", f"classes={vals['classes']}", str(vals["tree_line"])]
    parts = [
        f"{comment}, YOLOv2's region head on its stride-32 features with a passthrough from stride 16",
        "[net]\n" + TV_DETECT_NET.format(size=_check_size(416 if size is None else size)),
        f"# stride 16: {split.channels16} channels\n[torchvision]\nmodel={name}\nfrom=0\nto={split.split}",
        f"# stride 32: {split.channels32} channels\n[torchvision]\nmodel={name}\nfrom={split.split}\nto={split.end}",
        _conv(width, 3),
        "# passthrough: back to the stride-16 map (layer 0), squeeze, then reorg to stride 32\n[route]\nlayers=-3",
        _conv(64, 1),
        "[reorg]\nstride=2",
        "# reorg output first, then the head map\n[route]\nlayers=-1,-4",
        _conv(width, 3),
        _conv(str(vals["filters"]), 1, "linear"),
        "[region]\n" + "\n".join(line for line in region if line) + "\n" + TV_REGION.format(jitter=jitter),
    ]
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------------------------- constructors
def yolov2(
    tree: TreeLike | None = None,
    classes: int = 80,
    anchors: AnchorsLike | None = None,
    num_anchors: int | None = None,
    size: int = 416,
    jitter: float = 0.3,
) -> DarknetModel:
    """YOLOv2 with the passthrough layer; flat softmax over `classes`, or a tree head when `tree` is given."""
    t = _tree(tree)
    text = yolov2_cfg(t, classes, anchors, num_anchors, size, jitter)
    return DarknetModel.from_cfg_text(text, tree=t, source="yolov2.cfg")


def yolo9000(
    tree: TreeLike | None,
    anchors: AnchorsLike | None = None,
    num_anchors: int | None = None,
    size: int = 544,
    jitter: float = 0.2,
) -> DarknetModel:
    """YOLO9000-style detector: Darknet-19 trunk and a 1x1 tree head (3 anchors by default) for any WordTree."""
    t = _tree(tree)
    text = yolo9000_cfg(t, anchors, num_anchors, size, jitter)
    return DarknetModel.from_cfg_text(text, tree=t, source="yolo9000.cfg")


def darknet19(classes: int = 1000, tree: TreeLike | None = None, size: int = 224) -> DarknetModel:
    """Darknet-19 classifier; `model.classify(x)` gives (B, classes) probabilities (tree: conditional)."""
    t = _tree(tree)
    return DarknetModel.from_cfg_text(darknet19_cfg(classes, t, size), tree=t, source="darknet19.cfg")


def tiny_yolo(
    tree: TreeLike | None = None,
    classes: int = 20,
    anchors: AnchorsLike | None = None,
    num_anchors: int | None = None,
    size: int = 416,
    width: float = 1.0,
    jitter: float = 0.2,
) -> DarknetModel:
    """A tiny YOLOv2-style detector (7 3x3 convs); `width` scales every channel count (min 8) for CPU runs."""
    t = _tree(tree)
    text = tiny_yolo_cfg(t, classes, anchors, num_anchors, size, width, jitter)
    return DarknetModel.from_cfg_text(text, tree=t, source="tiny-yolo.cfg")


def tiny_yolo9000(
    tree: TreeLike | None,
    anchors: AnchorsLike | None = None,
    num_anchors: int | None = 3,
    size: int = 416,
    width: float = 1.0,
) -> DarknetModel:
    """`tiny_yolo` with a tree head (3 YOLO9000 anchors by default)."""
    t = _tree(tree)
    text = tiny_yolo9000_cfg(t, anchors, num_anchors, size, width)
    return DarknetModel.from_cfg_text(text, tree=t, source="tiny-yolo.cfg")


MODELS: dict[str, Callable[..., DarknetModel]] = {
    "yolov2": yolov2,
    "yolo9000": yolo9000,
    "darknet19": darknet19,
    "tiny_yolo": tiny_yolo,
    "tiny_yolo9000": tiny_yolo9000,
}
#: The cfg text of each constructor (same keys)
CFG_TEXTS: dict[str, Callable[..., str]] = {
    "yolov2": yolov2_cfg,
    "yolo9000": yolo9000_cfg,
    "darknet19": darknet19_cfg,
    "tiny_yolo": tiny_yolo_cfg,
    "tiny_yolo9000": tiny_yolo9000_cfg,
}
#: Templates whose head is a tree: they are sized only for a tree
TREE_TEMPLATES = frozenset({"yolo9000", "tiny_yolo9000"})
#: Templates without a [region] layer
CLASSIFIERS = frozenset({"darknet19"})


# ----------------------------------------------------------------------------------------------- by name
def template_key(name: str) -> str | None:
    """The key in `MODELS` of a template name (dashes or underscores: `tiny-yolo9000`), `name` itself for a
    `torchvision:NAME` (checked when its cfg is made), or None."""
    if name.startswith(tv.PREFIX):
        return name if len(name) > len(tv.PREFIX) else None
    key = name.replace("-", "_")
    return key if key in MODELS else None


def is_torchvision_key(key: str) -> bool:
    """True for the key of a `torchvision:NAME` model."""
    return key.startswith(tv.PREFIX)


def template_names(detectors: bool = False, classifiers: bool = False) -> list[str]:
    """The template names as the command line shows them (`tiny-yolo9000`), then `torchvision:NAME`;
    `detectors`: without classifiers; `classifiers`: only them."""
    keys = [k for k in MODELS if not (detectors and k in CLASSIFIERS) and not (classifiers and k not in CLASSIFIERS)]
    return sorted(k.replace("_", "-") for k in keys) + [f"{tv.PREFIX}NAME"]


def _check_task(key: str, name: str, task: str | None, what: str) -> None:
    """Refuse `task` ("detect" or "classify") for a Darknet template of the other kind."""
    if task is None or is_torchvision_key(key):
        return
    check_task(task)
    if (task == "classify") != (key in CLASSIFIERS):
        kind = "classifier" if task == "classify" else "detector"
        names = template_names(detectors=task == "detect", classifiers=task == "classify")
        raise ValueError(f"{what} {name}: not a {kind} name ({', '.join(names)})")


def template_cfg(
    name: str,
    tree: TreeLike | None = None,
    *,
    classes: int | None = None,
    anchors: AnchorsLike | None = None,
    size: int | None = None,
    tree_file: str | None = None,
    what: str = "--cfg",
    task: str | None = None,
) -> str:
    """The cfg text of template `name` sized for `tree` (classes = the tree's nodes, a `tree=` line naming
    `tree_file`) or, for a flat template, for `classes` (default: the template's). `anchors` (pairs or flat)
    and `size` replace the template's defaults. `task` ("detect" or "classify") picks the head of a
    `torchvision:NAME` (default: a detector) and must fit a Darknet template (None: any). `what` names the
    option in messages: a name that is no template, or a tree template without a tree, is one line."""
    key = template_key(name)
    if key is None:
        raise ValueError(f"{what} {name}: not a template name ({', '.join(template_names())})")
    _check_task(key, name, task, what)
    t = _tree(tree)
    if is_torchvision_key(key):
        return torchvision_cfg(
            key[len(tv.PREFIX) :],
            tree=t,
            classes=classes if t is None else None,
            size=size,
            task=task or "detect",
            anchors=anchor_pairs(anchors, "--anchors") if anchors is not None else None,
            tree_file=tree_file,
        )
    if t is None and key in TREE_TEMPLATES:
        raise ValueError(f"{what} {name}: the template has a tree head; pass --tree to size it")
    params = inspect.signature(CFG_TEXTS[key]).parameters
    kw: dict[str, Any] = {"tree": t}
    if "tree_file" in params:
        kw["tree_file"] = tree_file
    if classes is not None and t is None:
        kw["classes"] = classes
    if anchors is not None:
        if "anchors" not in params:
            raise ValueError(f"{what} {name}: the template has no anchors (a classifier)")
        pairs = anchor_pairs(anchors, "--anchors")
        kw.update(anchors=pairs, num_anchors=len(pairs))
    if size is not None:
        kw["size"] = size
    return CFG_TEXTS[key](**kw)


def model_from_template(
    name: str,
    tree: TreeLike | None = None,
    *,
    classes: int | None = None,
    anchors: AnchorsLike | None = None,
    size: int | None = None,
    what: str = "--cfg",
    task: str | None = None,
) -> DarknetModel:
    """A `DarknetModel` of template `name` (see `template_cfg`)."""
    t = _tree(tree)
    text = template_cfg(name, t, classes=classes, anchors=anchors, size=size, what=what, task=task)
    key = template_key(name)
    source = f"{name if key is None or is_torchvision_key(key) else key.replace('_', '-')}.cfg"
    return DarknetModel.from_cfg_text(text, tree=t, source=source)


def is_template_name(spec: str | Path) -> bool:
    """True when `spec` names a template rather than a file (a file of that name wins, as in `load_darknet`)."""
    return not Path(spec).is_file() and template_key(str(spec)) is not None


def load_template(
    name: str,
    weights: str | Path | None = None,
    tree: TreeLike | None = None,
    *,
    classes: int | None = None,
    what: str = "--cfg",
    task: str | None = None,
) -> DarknetModel:
    """Template `name` (see `template_cfg`: a tree sizes it, else `classes`, else the template's default) with
    `weights` loaded, in eval mode: the `--cfg NAME` of `detect`, `eval`, `export` and `convert`. Darknet's
    published weights load into their names: yolov2.weights into `yolov2`, yolov2-tiny.weights into `tiny-yolo`
    (80 classes), yolo9000.weights into `yolo9000` with 9k.tree. (A `torchvision:NAME` takes no .weights.)"""
    from yolo9000.darknet.weights import load_weights

    model = model_from_template(name, tree, classes=classes, what=what, task=task)
    if weights is not None:
        load_weights(model, weights)
    return model.eval()


def build_model(
    spec: str,
    tree: WordTree | None,
    classes: int | None,
    anchors: AnchorsLike | None = None,
    *,
    task: str = "detect",
) -> DarknetModel:
    """A model for training from a cfg file path or a template name (`yolo9000 train --cfg`): a detector, or
    with `task="classify"` a classifier (`darknet19`, `torchvision:NAME` with the classifier head).

    `anchors` (flat w,h list or pairs in grid cells) replace the defaults of a named model; a cfg file keeps its
    own. A flat template is sized for `tree` when given, else for `classes`; a tree template needs a tree.
    """
    check_task(task)
    p = Path(spec)
    if p.is_file():
        if anchors is not None:
            raise ValueError(f"--anchors applies to model names; edit the anchors= line of {p} instead")
        return DarknetModel.from_cfg_text(p.read_text(encoding="utf-8"), tree=tree, base_dir=p.parent, source=str(p))
    key = template_key(spec)
    classify = task == "classify"
    if key is None or (not is_torchvision_key(key) and (key in CLASSIFIERS) != classify):
        names = template_names(detectors=not classify, classifiers=classify)
        raise FileNotFoundError(
            f"--cfg {spec}: no such cfg file, and not a {'classifier' if classify else 'detector'} name "
            f"({', '.join(names)})"
        )
    if tree is None and (classes is None or key in TREE_TEMPLATES):
        raise ValueError(f"--cfg {spec}: needs a tree (--tree) to size its head")
    return model_from_template(spec, tree, classes=classes, anchors=anchors, task=task)
