"""Winograd F(m x m, 3 x 3) convolution for fp32 inference: fewer multiplications, fp32 accuracy.

A 3x3 convolution computes each m x m output tile from an (m+2)^2 input tile with (m+2)^2 products per
channel pair instead of 9 m^2 (2.25x fewer for m=2, 4x for m=4; Lavin & Gray 2016). The products become
(m+2)^2 independent GEMMs (tiles x C_in) @ (C_in x C_out), which the BLAS runs at full speed; the input and
output transforms are two small dense matmuls. Everything stays fp32, so unlike bf16 the result stays within
~1e-5 (m=2) to ~5e-5 (m=4) of the direct convolution and Darknet's decisions near a threshold are kept.

Which layers gain depends on the shape (measured on a 2-core AMX Xeon against oneDNN's direct convolution with
weights reordered once, benchmarks/bench_winograd.py): the 32-channel layer at 208x208 spends more time in
the transforms than it saves, the 64-channel one at 104x104 breaks even; from 128 channels on, maps of 26x26
and larger gain 1.2-1.8x with m=4; 13x13 maps gain 1.1-1.3x with m=2 at batch 1 (a GEMM over 49 tiles runs well
below peak, and m=4 gives only 16) and
take m=4 once a batch gives it about 64 tiles. `choose_tile` encodes that rule per call, so a model keeps
working (and stays fast) at every input size. `yolo9000.inference.fused_conv` puts it into a model.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from yolo9000.darknet.layers import activation as apply_activation

# (B^T, G, A^T) for F(2x2, 3x3) and F(4x4, 3x3) with interpolation points 0, +-1 (, +-2) and infinity.
_MATRICES = {
    2: (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
    4: (
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        [
            [1 / 4, 0, 0],
            [-1 / 6, -1 / 6, -1 / 6],
            [-1 / 6, 1 / 6, -1 / 6],
            [1 / 24, 1 / 12, 1 / 6],
            [1 / 24, -1 / 12, 1 / 6],
            [0, 0, 1],
        ],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    ),
}
TILES = tuple(_MATRICES)


def supports(conv: nn.Conv2d) -> bool:
    """True for the convolutions this module can replace: 3x3, stride 1, 'same' padding 1, no groups."""
    return (
        tuple(conv.kernel_size) == (3, 3)
        and tuple(conv.stride) == (1, 1)
        and tuple(conv.padding) == (1, 1)
        and tuple(conv.dilation) == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


def choose_tile(channels_in: int, height: int, width: int, batch: int = 1) -> int | None:
    """The tile size that measured fastest against oneDNN's direct convolution (weights reordered once)
    for this shape on CPU; None: the direct convolution.

    Narrow layers (C_in < 128) move more data in the transforms than they save (64 channels at 104x104 is
    a wash, and the first to lose when other processes share the memory bus). Small maps (13x13 at 416)
    give few tiles per image, and a GEMM over few rows runs far below peak: m=2 (4x as many tiles as m=4)
    until a batch gives m=4 about 64 tiles; larger maps take m=4.
    """
    if channels_in < 128:
        return None
    if min(height, width) < 20:
        return 4 if tile_count(batch, height, width, 4) >= 64 else 2
    return 4


def winograd_weights(weight: torch.Tensor, tile: int) -> torch.Tensor:
    """The transformed filters G g G^T of a (C_out, C_in, 3, 3) weight, shaped ((m+2)^2, C_in, C_out) fp32.

    Stored C_out-major (the result is a transposed view): MKL's batched GEMM then streams each filter
    row once, which measured up to 1.4x faster for the wide 13x13 layers and no slower elsewhere.
    """
    if tile not in _MATRICES:
        raise ValueError(f"Winograd tile must be one of {TILES}, got {tile!r}")
    g = torch.tensor(_MATRICES[tile][1], dtype=torch.float64, device=weight.device)
    a = tile + 2
    u = torch.einsum("ik,ockl,jl->ijoc", g, weight.detach().double(), g)  # float64: no error added here
    return u.reshape(a * a, weight.shape[0], weight.shape[1]).float().contiguous().transpose(1, 2)


@functools.lru_cache(maxsize=8)
def _transforms(tile: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """kron(B^T, B^T) and kron(A^T, A^T) for `tile`, made once per device."""
    bt, _, at = (torch.tensor(v, dtype=torch.float64) for v in _MATRICES[tile])
    return torch.kron(bt, bt).float().to(device), torch.kron(at, at).float().to(device)


def tile_count(batch: int, height: int, width: int, tile: int) -> int:
    """How many m x m output tiles cover a batch of height x width maps (the GEMM rows)."""
    return batch * -(-height // tile) * -(-width // tile)


def onednn_weights(u: torch.Tensor, tiles: int) -> torch.Tensor:
    """`u` from `winograd_weights` laid out by oneDNN for `winograd_conv3x3(..., onednn=)` at `tiles` rows.

    The (m+2)^2 GEMMs then run as one grouped 1x1 convolution, whose blocked kernel keeps closer to peak than
    the batched GEMM on the few rows of small maps (13x13: 49 tiles per image)."""
    a2, c, k = u.shape
    w = u.permute(0, 2, 1).reshape(a2 * k, c, 1, 1).contiguous(memory_format=torch.channels_last)
    # torch's _nn.pyi omits the native function's last argument, input_size
    return torch._C._nn.mkldnn_reorder_conv2d_weight(  # type: ignore[call-arg]
        w.to_mkldnn(), [0, 0], [1, 1], [1, 1], a2, [1, a2 * c, tiles, 1]
    )


def winograd_conv3x3(
    x: torch.Tensor,
    u: torch.Tensor,
    tile: int,
    bias: torch.Tensor | None = None,
    activation: str = "linear",
    onednn: torch.Tensor | None = None,
) -> torch.Tensor:
    """3x3 stride-1 pad-1 convolution of fp32 `x` (B, C, H, W) with filters `u` from `winograd_weights`.

    `onednn`: the same filters from `onednn_weights` for this input's tile count; the products then go
    through oneDNN instead of the batched GEMM. The bias and the Darknet `activation` (elementwise) are
    applied before the output is laid out, saving a pass over it. Returns (B, C_out, H, W) in channels_last
    memory.
    """
    b, c, h, w = x.shape
    m, a = tile, tile + 2
    kb, ka = _transforms(tile, x.device)
    th, tw = -(-h // m), -(-w // m)
    # (B,H,W,C) zero-padded by 1 before and enough after for whole tiles; tiles are an overlapping view of it
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, tw * m + 1 - w, 1, th * m + 1 - h)).contiguous()
    s = xp.stride()
    p, k = b * th * tw, u.shape[-1]
    if onednn is None:  # point-major: (a^2, tiles, C) for a batched GEMM per transform point
        tiles = xp.as_strided((a, a, b, th, tw, c), (s[1], s[2], s[0], s[1] * m, s[2] * m, s[3]))
        v = (kb @ tiles.reshape(a * a, p * c)).view(a * a, p, c)  # input transform B^T d B, all tiles at once
        prod = torch.bmm(v, u)  # (a^2, tiles, C_out): the elementwise products summed over C_in
        y = (ka @ prod.view(a * a, p * k)).view(m, m, b, th, tw, k)  # output transform A^T M A
        layout = (2, 3, 0, 4, 1, 5)
    else:  # tile-major: (tiles, a^2 * C), the channels_last input of a grouped 1x1 convolution
        tiles = xp.as_strided((b, th, tw, a, a, c), (s[0], s[1] * m, s[2] * m, s[1], s[2], s[3]))
        v = torch.matmul(kb, tiles.reshape(p, a * a, c))
        prod = torch.ops.mkldnn._convolution_pointwise(
            v.view(1, p, 1, a * a * c).permute(0, 3, 1, 2), onednn, None, [0, 0], [1, 1], [1, 1], a * a, "none", [], ""
        )
        y = torch.matmul(ka, prod.permute(0, 2, 3, 1).reshape(p, a * a, k)).view(b, th, tw, m, m, k)
        layout = (0, 1, 3, 2, 4, 5)
    if bias is not None:
        y.add_(bias)
    y = apply_activation(activation, y, inplace=True)
    y = y.permute(*layout).reshape(b, th * m, tw * m, k)
    if th * m != h or tw * m != w:
        y = y[:, :h, :w].contiguous()
    return y.permute(0, 3, 1, 2)
