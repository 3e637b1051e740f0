"""Exact fp32 CPU inference convolutions: oneDNN with weights reordered once and the activation fused, or
Winograd where it measures faster.

PyTorch's eager `conv2d` reorders the weights into oneDNN's blocked layout on every call; for the 13x13
layers of YOLOv2 (up to 47 MB of weights) that costs as much as the arithmetic. Reordering once (what
inductor's weight freezing does) gives bit-identical outputs at up to 2x the speed, and fusing bias and
leaky ReLU into the convolution saves a pass over every activation map. Layers `winograd.choose_tile` picks
go through `winograd_conv3x3` instead (fp32 throughout, output within ~5e-5 of the direct convolution); on
small maps their transform-domain products run through oneDNN as well, with the filters laid out once per
tile count.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import torch
from torch import nn

from yolo9000.darknet.layers import activation as apply_activation
from yolo9000.inference import winograd

log = logging.getLogger(__name__)
_MAX_SHAPES = 4

# Darknet activation -> oneDNN post-op (name, scalars); others run after the convolution
_ONEDNN_POSTOPS = {
    "leaky": ("leaky_relu", [0.1]),
    "linear": ("none", []),
    "relu": ("relu", []),
    "logistic": ("sigmoid", []),
}


def onednn_available() -> bool:
    """Whether this PyTorch build has the oneDNN pointwise convolution used here."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class FusedConv2d(nn.Module):
    """A bias-carrying `nn.Conv2d` plus a Darknet activation, for fp32 inference on CPU.

    winograd: False, True/"auto" (`winograd.choose_tile` per input shape), or a fixed tile 2 or 4.
    Inputs that are not fp32 CPU tensors, or a build without oneDNN, take the plain conv + activation, so the
    module stays correct wherever the model is moved.
    """

    applies_activation = True  # ConvBlock skips its own activation

    def __init__(self, conv: nn.Conv2d, activation: str, winograd_tile: bool | int | str = "auto") -> None:
        super().__init__()
        if conv.bias is None:
            raise ValueError("FusedConv2d needs the conv bias: fold batch norms first (DarknetModel.fuse())")
        self.conv, self.activation = conv, activation
        self.tile: int | str | None = "auto" if winograd_tile is True else (winograd_tile or None)
        if self.tile not in (None, "auto", *winograd.TILES):
            raise ValueError(f"winograd must be False, True, 'auto' or one of {winograd.TILES}, got {winograd_tile!r}")
        if self.tile is not None and not winograd.supports(conv):
            self.tile = None
        # oneDNN weights (opaque tensors) per input shape: oneDNN picks the layout for the shape, and a weight
        # laid out for another shape can run 20x slower; made on first use, never copied or pickled
        self._packed: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._wino: dict[int, torch.Tensor] = {}
        self._onednn = onednn_available() and activation in _ONEDNN_POSTOPS

    def __getstate__(self) -> dict:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        return {**state, "_packed": OrderedDict(), "_wino": {}}

    def _laid_out(self, key: tuple, make) -> torch.Tensor:
        """The oneDNN weights for `key` from the small LRU, made by `make()` on first use."""
        if key not in self._packed:
            self._packed[key] = make()
            if len(self._packed) > _MAX_SHAPES:  # multi-scale inputs: keep the recent shapes
                self._packed.popitem(last=False)
        self._packed.move_to_end(key)
        return self._packed[key]

    def _pack(self, shape: tuple[int, ...]) -> torch.Tensor | None:
        conv = self.conv

        def make() -> torch.Tensor:
            w = conv.weight.detach().contiguous(memory_format=torch.channels_last)
            return torch._C._nn.mkldnn_reorder_conv2d_weight(  # type: ignore[call-arg]  # stub lacks input_size
                w.to_mkldnn(), list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups, list(shape)
            )

        try:
            return self._laid_out(shape, make)
        except (RuntimeError, NotImplementedError) as exc:  # a build without it: the plain path from now on
            log.debug("oneDNN weight reorder unavailable (%s); using conv2d", exc)
            self._onednn = False
            return None

    def _wino_onednn(self, u: torch.Tensor, tile: int, x: torch.Tensor) -> torch.Tensor | None:
        """oneDNN's layout of the Winograd filters for this input's tile count (small maps only: there its
        grouped GEMM measured 5-20% faster than MKL's batched one; on larger maps it was slower)."""
        tiles = winograd.tile_count(x.shape[0], x.shape[2], x.shape[3], tile)
        try:
            return self._laid_out(("winograd", tile, tiles), lambda: winograd.onednn_weights(u, tiles))
        except (RuntimeError, NotImplementedError) as exc:
            log.debug("oneDNN Winograd weights unavailable (%s); using the batched GEMM", exc)
            return None

    def _tile_for(self, x: torch.Tensor) -> int | None:
        if self.tile is None:
            return None
        if isinstance(self.tile, str):  # "auto", the one string __init__ accepts
            return winograd.choose_tile(x.shape[1], x.shape[2], x.shape[3], x.shape[0])
        return self.tile

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        fast = (
            x.device.type == "cpu"
            and x.dtype == torch.float32 == conv.weight.dtype
            and conv.weight.device.type == "cpu"
            and not torch.is_grad_enabled()
        )
        if fast:
            tile = self._tile_for(x)
            if tile is not None:
                if tile not in self._wino:
                    self._wino[tile] = winograd.winograd_weights(conv.weight, tile)
                u = self._wino[tile]
                onednn = self._wino_onednn(u, tile, x) if self._onednn and min(x.shape[2:]) < 20 else None
                return winograd.winograd_conv3x3(x, u, tile, conv.bias, self.activation, onednn=onednn)
            packed = self._pack(tuple(x.shape)) if self._onednn else None
            if packed is not None:
                attr, scalars = _ONEDNN_POSTOPS[self.activation]
                return torch.ops.mkldnn._convolution_pointwise(
                    x,
                    packed,
                    conv.bias,
                    list(conv.padding),
                    list(conv.stride),
                    list(conv.dilation),
                    conv.groups,
                    attr,
                    scalars,
                    "",
                )
        return apply_activation(self.activation, conv(x), inplace=not torch.is_grad_enabled())

    def extra_repr(self) -> str:
        return f"activation={self.activation}, winograd={self.tile}, onednn={self._onednn}"


def fuse_cpu_convs_(model: nn.Module, winograd_tile: bool | int | str = "auto") -> int:
    """Give every conv block of a BN-folded `model` a `FusedConv2d`; returns how many were replaced."""
    from yolo9000.darknet.layers import ConvBlock

    count = 0
    for block in model.modules():
        if isinstance(block, ConvBlock) and not isinstance(block.conv, FusedConv2d):
            if block.bn is not None:
                raise ValueError("fold batch norms first (DarknetModel.fuse()) before fusing CPU convolutions")
            # add_module: ConvBlock.conv is typed as the nn.Conv2d this stands in for at inference
            block.add_module("conv", FusedConv2d(block.conv, block.activation, winograd_tile))
            count += 1
    return count
