"""Darknet `.weights` files: header by version, exact float32 layout per conv layer, atomic writes.

The layout (Darknet's `load_weights_upto` / `save_weights_upto`): int32 major, minor, revision; `seen` as uint64
when major*10+minor >= 2 and major, minor < 1000 (int32 otherwise); then per [convolutional] in cfg order: bias
(BN beta), [gamma, running mean, running var], weights.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from wordtree.files import atomic_open
from yolo9000.darknet.layers import ConvBlock

if TYPE_CHECKING:
    from yolo9000.darknet.model import DarknetModel

__all__ = ["load_weights", "save_weights", "read_weights_header", "weight_count"]

log = logging.getLogger(__name__)


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


@torch.no_grad()
def load_weights(model: DarknetModel, path: str | Path, allow_partial: bool = False) -> int:
    """Load a Darknet .weights file into `model`; returns `seen`.

    The size must match the cfg exactly (error states both sizes). `allow_partial` accepts a shorter file
    that ends on a conv-layer boundary (Darknet's `partial` pretrained backbones) and loads that prefix.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: weights file not found")
    version, seen, header = read_weights_header(p)
    size = p.stat().st_size
    need = weight_count(model)
    expected = header + 4 * need
    if (size - header) % 4:
        raise ValueError(
            f"{p}: weights file has {size} bytes, not a header plus whole float32 values "
            f"(the cfg needs {expected} bytes)"
        )
    if size != expected and not (allow_partial and size < expected):
        raise ValueError(
            f"{p}: weights file has {size} bytes but the cfg {model.source} needs {expected} bytes "
            f"({header}-byte header + {need} float32 values)"
        )
    data = np.fromfile(p, dtype="<f4", offset=header)
    loaded, pos = fill_conv_layers(model.conv_blocks(), data, p)
    if loaded < len(model.conv_blocks()) and pos != data.size:
        raise ValueError(
            f"{p}: weights end inside conv layer {loaded} ({data.size} floats in the file; "
            f"a partial file must end on a layer boundary)"
        )
    if allow_partial and loaded < len(model.conv_blocks()):
        log.info("%s: loaded %d of %d conv layers", p, loaded, len(model.conv_blocks()))
    model.seen = seen
    model.weights_version = version
    return seen


@torch.no_grad()
def save_weights(
    model: DarknetModel, path: str | Path, seen: int | None = None, version: tuple[int, int, int] | None = None
) -> None:
    """Write `model` as a Darknet .weights file (atomically: temp file then rename).

    `version`/`seen` default to those of the last loaded file (so load -> save gives identical bytes), else
    (0, 2, 0) and 0 as Darknet writes them.
    """
    p = Path(path)
    major, minor, revision = version if version is not None else model.weights_version
    seen = model.seen if seen is None else seen
    parts = [
        struct.pack("<3i", major, minor, revision),
        struct.pack("<Q" if _seen_is_long(major, minor) else "<i", int(seen)),
    ]
    with atomic_open(p, "wb") as f:
        for part in parts:
            f.write(part)
        for block in model.conv_blocks():
            for t in _conv_tensors(block):
                f.write(t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes())
