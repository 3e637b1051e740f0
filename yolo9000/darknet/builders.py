"""One small builder per Darknet cfg section kind: the layer it makes and the shape it outputs.

`DarknetModel` walks the sections after [net] and calls `BUILDERS[section.name]`; each builder checks its
options against the incoming shape (channels, height, width at the cfg's nominal size) and fails with the
section's file and line. To support a new section kind, add a builder here (and the layer in `layers.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from wordtree.formats import read_map_indices
from yolo9000.darknet.cfg import Section
from yolo9000.darknet.layers import (
    ConvBlock,
    Dropout,
    GlobalAvgPool,
    MaxPool,
    Passthrough,
    Reorg,
    Route,
    Shortcut,
    Upsample,
)
from yolo9000.darknet.torchvision_backbone import torchvision_layer
from yolo9000.detection.head import RegionConfig, make_tree_softmax

if TYPE_CHECKING:
    from wordtree.softmax import TreeSoftmax
    from wordtree.tree import WordTree

log = logging.getLogger(__name__)

Shape = tuple[int, int, int]  # (channels, height, width)


@dataclass
class BuildState:
    """What the builders share while a model is assembled: the [net] options, the tree, the folder relative
    files are looked for in, every earlier layer's output shape, and what the head sections set."""

    net: dict
    tree: Any = None
    base: Path | None = None
    shapes: list[Shape] = field(default_factory=list)
    region: RegionConfig | None = None
    classifier_softmax: TreeSoftmax | None = None


Builder = Callable[[Section, int, Shape, BuildState], tuple[nn.Module, Shape]]


def candidate_paths(option: str, base_dir: Path | None) -> list[Path]:
    """Where a relative file named in a cfg may live: as given, next to the cfg, or its basename next to it."""
    p = Path(option)
    cands = [p]
    if base_dir is not None and not p.is_absolute():
        cands += [base_dir / p, base_dir / p.name]
    return cands


def find_file(option: str, base_dir: Path | None) -> Path | None:
    """The first of `candidate_paths` that is a file, or None."""
    for c in candidate_paths(option, base_dir):
        if c.is_file():
            return c
    return None


def convolutional(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    c, h, w = shape
    size = s.get_int("size", 1)
    stride = s.get_int("stride", 1)
    padding = size // 2 if s.get_int("pad", 0) else s.get_int("padding", 0)
    filters = s.get_int("filters", 1)
    groups = s.get_int("groups", 1)
    if filters < 1 or size < 1 or stride < 1:
        raise ValueError(f"{s.where()}: filters, size and stride must be >= 1")
    if c % groups or filters % groups:
        raise ValueError(f"{s.where()}: groups={groups} does not divide channels {c} / filters {filters}")
    try:
        layer = ConvBlock(
            c,
            filters,
            size,
            stride,
            padding,
            bool(s.get_int("batch_normalize", 0)),
            s.get_str("activation", "logistic"),
            groups,
        )
    except ValueError as exc:
        raise ValueError(f"{s.where()}: {exc}") from None
    return layer, (filters, (h + 2 * padding - size) // stride + 1, (w + 2 * padding - size) // stride + 1)


def maxpool(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    c, h, w = shape
    stride = s.get_int("stride", 1)
    size = s.get_int("size", stride)
    layer = MaxPool(size, stride, s.get_int("padding", size - 1))
    return layer, (c, layer.out_size(h), layer.out_size(w))


def avgpool(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    return GlobalAvgPool(), (shape[0], 1, 1)


def reorg(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    c, h, w = shape
    stride = s.get_int("stride", 1)
    if s.get_int("reverse", 0) or s.get_int("flatten", 0) or s.get_int("extra", 0):
        raise ValueError(f"{s.where()}: only reorg with reverse=0, flatten=0, extra=0 is supported")
    if c % (stride * stride) or h % stride or w % stride:
        raise ValueError(
            f"{s.where()}: reorg stride {stride} needs channels divisible by "
            f"{stride * stride} and sizes divisible by {stride}; input is {c}x{h}x{w}"
        )
    return Reorg(stride), (c * stride * stride, h // stride, w // stride)


def route(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    raw = s.get_ints("layers")
    if not raw:
        raise ValueError(f"{s.where()}: route needs layers=")
    srcs = [idx + r if r < 0 else r for r in raw]
    for r, src in zip(raw, srcs):
        if not 0 <= src < idx:
            raise ValueError(f"{s.where()}: route layer {r} points to layer {src}, outside 0..{idx - 1}")
    shapes = state.shapes
    if len({shapes[src][1:] for src in srcs}) > 1:
        raise ValueError(
            f"{s.where()}: route concatenates layers of different sizes "
            + ", ".join(f"{src}:{shapes[src][2]}x{shapes[src][1]}" for src in srcs)
        )
    h, w = shapes[srcs[0]][1:]
    return Route(srcs), (sum(shapes[src][0] for src in srcs), h, w)


def shortcut(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    r = s.get_int("from", -1)
    src = idx + r if r < 0 else r
    if not 0 <= src < idx or state.shapes[src] != shape:
        c, h, w = shape
        raise ValueError(f"{s.where()}: shortcut from={r} must name an earlier layer of shape {c}x{h}x{w}")
    return Shortcut(src, s.get_str("activation", "linear")), shape


def upsample(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    c, h, w = shape
    stride = s.get_int("stride", 2)
    return Upsample(stride), (c, h * stride, w * stride)


def dropout(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    return Dropout(s.get_float("probability", 0.5)), shape


def softmax(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    c, h, w = shape
    if state.tree is not None:
        if len(state.tree) != c * h * w and len(state.tree) != c:
            raise ValueError(f"{s.where()}: the tree has {len(state.tree)} nodes but the input has {c} channels")
        state.classifier_softmax = make_tree_softmax(state.tree)
    return Passthrough("softmax"), shape


def cost(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    return Passthrough("cost"), shape


def region_config(s: Section, net: dict, tree: WordTree | None = None, map: list[int] | None = None) -> RegionConfig:
    """A `RegionConfig` from a parsed `[region]` section and the typed `[net]` options (Darknet's defaults)."""
    num = s.get_int("num", 1)
    anchors = s.get_floats("anchors")
    if anchors is None:
        anchors = [0.5] * (2 * num)  # Darknet's default bias
    if len(anchors) != 2 * num:
        raise ValueError(f"{s.where()}: anchors has {len(anchors)} values but num={num} needs {2 * num}")
    classes = s.get_int("classes", 20)
    if tree is not None and len(tree) != classes:
        raise ValueError(f"{s.where()}: the tree has {len(tree)} nodes but classes={classes}")
    try:
        return RegionConfig(
            anchors=torch.tensor(anchors, dtype=torch.float32, device="cpu").reshape(num, 2),
            num=num,
            classes=classes,
            coords=s.get_int("coords", 4),
            softmax=bool(s.get_int("softmax", 0)),
            tree=tree,
            map=map,
            thresh=s.get_float("thresh", 0.5),
            object_scale=s.get_float("object_scale", 1.0),
            noobject_scale=s.get_float("noobject_scale", 1.0),
            class_scale=s.get_float("class_scale", 1.0),
            coord_scale=s.get_float("coord_scale", 1.0),
            rescore=bool(s.get_int("rescore", 0)),
            bias_match=bool(s.get_int("bias_match", 0)),
            absolute=bool(s.get_int("absolute", 0)),
            jitter=s.get_float("jitter", 0.2),
            random=bool(s.get_int("random", 0)),
            hue=net.get("hue", 0.0),
            saturation=net.get("saturation", 1.0),
            exposure=net.get("exposure", 1.0),
            tree_file=s.get_str("tree"),
            map_file=s.get_str("map"),
        )
    except ValueError as exc:
        raise ValueError(f"{s.where()}: {exc}") from None


def region(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    if state.region is not None:
        raise ValueError(f"{s.where()}: only one [region] layer is supported")
    mapping = None
    map_opt = s.get_str("map")
    if map_opt:
        found = find_file(map_opt, state.base)
        if found is None:
            # only Darknet-style training of COCO ids uses it; a checkpoint has no folder to look in
            level = logging.WARNING if state.base is not None else logging.DEBUG
            log.log(level, "%s: map file %r not found; box labels will not be remapped", s.where(), map_opt)
        else:
            mapping = read_map_indices(found)
    cfg = region_config(s, state.net, tree=state.tree, map=mapping)
    if shape[0] != cfg.filters:
        raise ValueError(
            f"{s.where()}: the layer before [region] has {shape[0]} filters but num={cfg.num} x "
            f"(coords {cfg.coords} + 1 + classes {cfg.classes}) = {cfg.filters}"
        )
    state.region = cfg
    return Passthrough("region"), shape


BUILDERS: dict[str, Builder] = {
    "convolutional": convolutional,
    "maxpool": maxpool,
    "avgpool": avgpool,
    "reorg": reorg,
    "route": route,
    "shortcut": shortcut,
    "upsample": upsample,
    "dropout": dropout,
    "softmax": softmax,
    "cost": cost,
    "region": region,
    "torchvision": torchvision_layer,
}


def build_layer(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    """The layer of section `s` (layer number `idx`) and its output shape; records the shape in `state`."""
    builder = BUILDERS.get(s.name)
    if builder is None:  # parse_cfg only lets known sections through
        raise ValueError(f"{s.where()}: layer type [{s.name}] is not supported")
    layer, out = builder(s, idx, shape, state)
    if out[1] < 1 or out[2] < 1:
        raise ValueError(
            f"{s.where()}: output size becomes {out[2]}x{out[1]} at input {state.net['width']}x{state.net['height']}"
        )
    state.shapes.append(out)
    return layer, out
