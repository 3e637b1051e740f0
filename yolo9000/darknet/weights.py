"""Darknet `.weights` files: header by version, exact float32 layout per conv layer, atomic writes.

The layout (Darknet's `load_weights_upto` / `save_weights_upto`): int32 major, minor, revision; `seen` as uint64
when major*10+minor >= 2 and major, minor < 1000 (int32 otherwise); then per [convolutional] in cfg order: bias
(BN beta), [gamma, running mean, running var], weights.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from wordtree.files import atomic_open
from yolo9000.darknet.layers import ConvBlock

if TYPE_CHECKING:
    from yolo9000.darknet.model import DarknetModel

__all__ = [
    "load_weights",
    "save_weights",
    "read_weights_header",
    "weight_count",
    "conv_layer_sizes",
    "check_darknet_layers",
]
#: Layer kinds of ours whose tensors a Darknet .weights file has no place for
NOT_IN_WEIGHTS = frozenset({"torchvision"})


def _seen_is_long(major: int, minor: int) -> bool:
    return (major * 10 + minor) >= 2 and major < 1000 and minor < 1000


def read_weights_header(path: str | Path) -> tuple[tuple[int, int, int], int, int]:
    """((major, minor, revision), seen, header_bytes) of a Darknet .weights file."""
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(12)
        if len(head) < 12:
            raise ValueError(f"{p}: weights file has {len(head)} bytes, too short for a Darknet header (>= 16)")
        major, minor, revision = struct.unpack("<3i", head)
        long_seen = _seen_is_long(major, minor)
        raw = f.read(8 if long_seen else 4)
    if len(raw) < (8 if long_seen else 4):
        raise ValueError(f"{p}: weights file ends inside its header")
    seen = struct.unpack("<Q" if long_seen else "<i", raw)[0]
    return (major, minor, revision), int(seen), 12 + len(raw)


def _conv_tensors(block: ConvBlock) -> list[torch.Tensor]:
    """The tensors of one conv layer in .weights order: bias/beta, [gamma, mean, var], weights."""
    if block.bn is not None:
        bn = block.bn
        assert bn.running_mean is not None and bn.running_var is not None  # ConvBlock's BN tracks running stats
        return [bn.bias, bn.weight, bn.running_mean, bn.running_var, block.conv.weight]
    assert block.conv.bias is not None  # a conv without BN has a bias
    return [block.conv.bias, block.conv.weight]


def check_darknet_layers(model: DarknetModel, path: str | Path) -> None:
    """Refuse, in one line naming the layer, a model with a layer a .weights file cannot hold (a torchvision
    backbone): the file would silently leave it out."""
    for i, kind in enumerate(model.kinds):
        if kind in NOT_IN_WEIGHTS:
            layer = model.layers[i]
            what = f"[{kind}] model={getattr(layer, 'name', '?')}"
            raise ValueError(
                f"{path}: layer {i} {what} of {model.source} has no place in a Darknet .weights file; "
                "keep the model as a checkpoint (.pt)"
            )


def weight_count(model: DarknetModel) -> int:
    """Number of float32 values a .weights file for this model holds."""
    return sum(t.numel() for b in model.conv_blocks() for t in _conv_tensors(b))


def conv_layer_sizes(blocks: list[ConvBlock]) -> list[int]:
    """The float32 values each conv layer takes in a .weights body, in order."""
    return [sum(t.numel() for t in _conv_tensors(b)) for b in blocks]


def _tensor_names(block: ConvBlock) -> list[str]:
    """Darknet's names of `_conv_tensors(block)`, for messages."""
    if block.bn is not None:
        return ["biases", "scales", "rolling_mean", "rolling_variance", "weights"]
    return ["biases", "weights"]


@torch.no_grad()
def fill_conv_layers(blocks: list[ConvBlock], data: np.ndarray, source: str | Path | None = None) -> tuple[int, int]:
    """Copy whole conv layers, in order, from the float32 values `data` (a .weights body) while they fit.

    Returns (layers loaded, values used); a layer that does not fit entirely stops the copy untouched. A
    layer holding NaN or inf is an error naming `source`, the layer and its tensor (nothing of it is copied).
    """
    pos = loaded = 0
    for block in blocks:  # a loop over layers
        tensors = _conv_tensors(block)
        n = sum(t.numel() for t in tensors)
        if pos + n > data.size:
            break
        chunk = data[pos : pos + n]
        if not np.isfinite(chunk).all():
            first = int(np.flatnonzero(~np.isfinite(chunk))[0])
            ends = np.cumsum([t.numel() for t in tensors])
            name = _tensor_names(block)[int(np.searchsorted(ends, first, side="right"))]
            raise ValueError(
                f"{source or 'weights'}: conv layer {loaded} ({name}) holds {chunk[first]} at float "
                f"{pos + first}; the weights are unusable (NaN or inf)"
            )
        for t in tensors:
            t.copy_(torch.from_numpy(data[pos : pos + t.numel()].reshape(t.shape)))
            pos += t.numel()
        loaded += 1
    return loaded, pos


def _size_problem(p: Path, size: int, header: int, blocks: list[ConvBlock], source: str) -> str:
    """The one line for a file that does not hold exactly every conv layer of the model (both sizes, and how to
    load the layers it does hold when it is a prefix of the model's, e.g. `darknet19_448.conv.23`)."""
    ends = np.cumsum(conv_layer_sizes(blocks))
    total = int(ends[-1]) if len(ends) else 0
    need = header + 4 * total
    if (size - header) % 4:
        return (
            f"{p}: weights file has {size} bytes, not a header plus whole float32 values (the model {source} "
            f"needs {need} bytes: {header}-byte header + {total} float32 values)"
        )
    floats = (size - header) // 4
    hint = "to start from the first N layers of another cfg pass --weights-layers N"
    if floats in ends:
        k = int(np.searchsorted(ends, floats)) + 1
        hint = f"it holds exactly this model's first {k} conv layers: pass --weights-layers {k} to load them"
    return (
        f"{p}: weights file has {size} bytes ({floats} float32 values) but the model needs {need} bytes "
        f"({header}-byte header + {total} float32 values) for all {len(blocks)} conv layers of {source}; {hint}"
    )


@torch.no_grad()
def load_weights(
    model: DarknetModel, path: str | Path, layers: int | None = None, *, allow_partial: bool = False
) -> int:
    """Load a Darknet .weights file into `model`; returns the file's `seen`. The one `.weights` loader.

    `layers=None`: the file must hold exactly every conv layer of the model (an error states both sizes and,
    when the file is a prefix of the model's layers, the `layers` that would load it); `model.seen` and
    `model.weights_version` become the header's. `layers=N` (`yolo9000 train --weights-layers N`): the first N
    conv layers are read from the start of the file, which may belong to another cfg sharing the trunk and hold
    more after them (the Darknet-19 ImageNet classifier's `darknet19_448.conv.23` with N=23); fewer than N whole
    layers is an error. A partial load starts a new model: its `seen` stays as it was unless N is every layer.
    `allow_partial` (deprecated): `layers` = the whole layers a shorter file holds, which must end on a layer
    boundary. A layer holding NaN or inf is an error naming it.
    """
    p = Path(path)
    check_darknet_layers(model, p)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: weights file not found")
    version, seen, header = read_weights_header(p)
    blocks = model.conv_blocks()
    size, need = p.stat().st_size, header + 4 * sum(conv_layer_sizes(blocks))
    if allow_partial:
        warnings.warn("load_weights(allow_partial=True) is deprecated; pass layers=N", DeprecationWarning, 2)
        if layers is None and size < need:
            layers = _whole_layers(p, size, header, blocks)
    if layers is None:
        if size != need:
            raise ValueError(_size_problem(p, size, header, blocks, model.source))
        layers = len(blocks)
    if layers < 1:
        raise ValueError(f"{p}: --weights-layers must be >= 1, got {layers}")
    if layers > len(blocks):
        raise ValueError(
            f"{p}: asked for {layers} conv layers (--weights-layers {layers}) but the model has only {len(blocks)}"
        )
    data = np.fromfile(p, dtype="<f4", offset=header)
    loaded, _ = fill_conv_layers(blocks[:layers], data, p)
    if loaded < layers:
        raise ValueError(f"{p}: holds only {loaded} conv layers that fit this model, {layers} requested")
    if loaded == len(blocks):  # a whole model: its `seen` goes on counting, as Darknet's does
        model.seen = seen
        model.weights_version = version
    return seen


def _whole_layers(p: Path, size: int, header: int, blocks: list[ConvBlock]) -> int:
    """How many of the model's conv layers a shorter file holds (`allow_partial`): it must end on a boundary."""
    ends = np.cumsum(conv_layer_sizes(blocks))
    floats = (size - header) / 4
    if floats not in ends:
        raise ValueError(
            f"{p}: weights end inside conv layer {int(np.searchsorted(ends, floats))} ({floats:g} floats in the "
            f"file; a partial file must end on a layer boundary)"
        )
    return int(np.searchsorted(ends, floats)) + 1


@torch.no_grad()
def save_weights(
    model: DarknetModel, path: str | Path, seen: int | None = None, version: tuple[int, int, int] | None = None
) -> None:
    """Write `model` as a Darknet .weights file (atomically: temp file then rename).

    `version`/`seen` default to those of the last loaded file (so load -> save gives identical bytes), else
    (0, 2, 0) and 0 as Darknet writes them.
    """
    p = Path(path)
    check_darknet_layers(model, p)
    major, minor, revision = version if version is not None else model.weights_version
    seen = model.seen if seen is None else seen
    parts = [
        struct.pack("<3i", major, minor, revision),
        struct.pack("<Q" if _seen_is_long(major, minor) else "<i", int(seen)),
    ]
    size = sum(len(part) for part in parts) + 4 * weight_count(model)  # for the message of a full disk
    with atomic_open(p, "wb", size=size) as f:
        for part in parts:
            f.write(part)
        for block in model.conv_blocks():
            for t in _conv_tensors(block):
                f.write(t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes())
