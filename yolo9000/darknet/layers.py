"""Darknet layers as PyTorch modules: conv+BN+activation, Darknet maxpool, route, reorg, avgpool.

Each module mirrors one Darknet layer type; `yolo9000.darknet.model` wires them from a parsed cfg.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("leaky", "linear", "relu", "logistic", "mish", "swish")


def activation(name: str, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Apply a Darknet activation by name (leaky slope 0.1)."""
    if name == "leaky":
        return F.leaky_relu(x, 0.1, inplace=inplace)
    if name == "linear":
        return x
    if name == "relu":
        return F.relu(x)
    if name == "logistic":
        return torch.sigmoid(x)
    if name == "swish":
        return x * torch.sigmoid(x)
    if name == "mish":
        return F.mish(x)
    raise ValueError(f"unknown activation {name!r}")


class ConvBlock(nn.Module):
    """`[convolutional]`: conv (no bias when BN), optional BN, activation.

    `bn_mode` picks the inference batch norm: "gpu" is PyTorch's `(x-m)/sqrt(v+1e-5)` (Darknet's GPU path);
    "cpu" reproduces Darknet's CPU build, `(x-m)/(sqrt(v)+1e-6)`, for parity with CPU-made reference
    outputs. Training always uses PyTorch batch statistics.
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        size: int,
        stride: int = 1,
        padding: int = 0,
        batch_normalize: bool = False,
        activation: str = "leaky",
        groups: int = 1,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unsupported activation {activation!r} (supported: {', '.join(ACTIVATIONS)})")
        self.conv = nn.Conv2d(
            in_channels, filters, size, stride=stride, padding=padding, groups=groups, bias=not batch_normalize
        )
        # Darknet's running stats move by 1% per batch
        self.bn = nn.BatchNorm2d(filters, eps=1e-5, momentum=0.01) if batch_normalize else None
        self.activation = activation
        self.bn_mode = "gpu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            if self.bn_mode == "cpu" and not self.training:
                bn = self.bn
                mean, var = bn.running_mean, bn.running_var
                assert mean is not None and var is not None  # this block's BN always tracks running stats
                scale = bn.weight / (var.sqrt() + 1e-6)
                x = (x - mean[:, None, None]) * scale[:, None, None] + bn.bias[:, None, None]
            else:
                x = self.bn(x)
        # x is this block's own fresh tensor, so the activation may overwrite it when no graph is recorded
        return activation(self.activation, x, inplace=not torch.is_grad_enabled())

    def extra_repr(self) -> str:
        return f"activation={self.activation}, bn_mode={self.bn_mode}"


class MaxPool(nn.Module):
    """`[maxpool]` with Darknet's geometry: out = (in + padding - size)//stride + 1, window origin
    -padding//2 + stride*i, outside positions are -inf (so size 2 / stride 1 keeps the size, repeating
    the last row/column's own maximum)."""

    def __init__(self, size: int, stride: int, padding: int | None = None) -> None:
        super().__init__()
        if size < 1 or stride < 1:
            raise ValueError(f"maxpool size and stride must be >= 1 (got size={size}, stride={stride})")
        self.size = size
        self.stride = stride
        self.padding = size - 1 if padding is None else padding

    def out_size(self, n: int) -> int:
        return (n + self.padding - self.size) // self.stride + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        left = self.padding // 2
        oh, ow = self.out_size(h), self.out_size(w)
        right = (ow - 1) * self.stride + self.size - w - left
        bottom = (oh - 1) * self.stride + self.size - h - left
        if left or right > 0 or bottom > 0:
            x = F.pad(x, (left, max(right, 0), left, max(bottom, 0)), value=float("-inf"))
        out = F.max_pool2d(x, self.size, self.stride)
        return out[..., :oh, :ow]

    def extra_repr(self) -> str:
        return f"size={self.size}, stride={self.stride}, padding={self.padding}"


def reorg(x: torch.Tensor, stride: int = 2) -> torch.Tensor:
    """Darknet's `[reorg]` (its `reorg_cpu`): read the NCHW buffer as (C/s², H·s, W·s), space-to-depth that.

    Output channel (dy·s + dx)·(C/s²) + c. This is *not* `pixel_unshuffle`; yolov2 weights need exactly this.
    """
    b, c, h, w = x.shape
    s = stride
    if c % (s * s) or h % s or w % s:
        raise ValueError(f"reorg stride {s} needs channels divisible by {s * s} and even sizes, got {tuple(x.shape)}")
    y = x.reshape(b, c // (s * s), h, s, w, s).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(b, c * s * s, h // s, w // s)


class Reorg(nn.Module):
    """`[reorg]` layer (reverse=0 only; the form every YOLOv2/YOLO9000 cfg uses)."""

    def __init__(self, stride: int = 2) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = reorg(x, self.stride)
        if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            # keep a channels_last model channels_last: the route after it concatenates with channels_last
            # maps, and a mixed concat falls back to a slow NCHW copy (yolov2 b8: 3.7 -> 0.9 ms)
            y = y.contiguous(memory_format=torch.channels_last)
        return y

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class Route(nn.Module):
    """`[route]`: channel concatenation of earlier layers' outputs (absolute indices, in listed order)."""

    def __init__(self, sources: list[int]) -> None:
        super().__init__()
        self.sources = list(sources)

    def forward(self, outputs: list[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        if len(self.sources) == 1:
            return outputs[self.sources[0]]
        return torch.cat([outputs[i] for i in self.sources], dim=1)

    def extra_repr(self) -> str:
        return f"layers={self.sources}"


class Shortcut(nn.Module):
    """`[shortcut]`: residual add of an earlier layer's output, then activation."""

    def __init__(self, source: int, activation: str = "linear") -> None:
        super().__init__()
        self.source = source
        self.activation = activation

    def forward(self, x: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        return activation(self.activation, x + outputs[self.source])


class GlobalAvgPool(nn.Module):
    """`[avgpool]`: mean over each channel's spatial map, kept as (B, C, 1, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)


class Upsample(nn.Module):
    """`[upsample]`: nearest-neighbour upsampling by an integer stride."""

    def __init__(self, stride: int = 2) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.stride, mode="nearest")


class Dropout(nn.Module):
    """`[dropout]`: Darknet scales at train time like `nn.Dropout`; identity at inference."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, self.training)


class Passthrough(nn.Module):
    """Layers that do not change the tensor in `model(x)` (`[cost]`, `[softmax]`, `[region]`): their work is
    done by the head / loss, so the raw output stays the input of the last such layer."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_repr(self) -> str:
        return self.kind
