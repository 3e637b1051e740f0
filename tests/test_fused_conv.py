"""Winograd convolutions and the fused oneDNN inference conv against plain conv2d + activation."""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from yolo9000.darknet import models
from yolo9000.inference import winograd
from yolo9000.inference.fused_conv import FusedConv2d, fuse_cpu_convs_
from yolo9000.inference.optimize import optimize_for_inference


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, seed: int = 0) -> nn.Conv2d:
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
    return conv.eval()


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("hw", [(13, 13), (26, 26), (7, 10), (1, 1), (4, 8)])
def test_winograd_matches_direct_conv(tile, hw):
    conv = _conv(16, 24)
    x = torch.randn(2, 16, *hw)
    want = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1)
    got = winograd.winograd_conv3x3(x, winograd.winograd_weights(conv.weight, tile), tile, conv.bias)
    assert got.shape == want.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert (got.double() - want).abs().max() < 1e-4 * max(1.0, want.abs().max().item())


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("hw", [(13, 13), (7, 10), (1, 1)])
def test_winograd_through_onednn_equals_batched_gemm(tile, hw):
    from yolo9000.inference import fused_conv

    if not fused_conv.onednn_available():
        pytest.skip("this PyTorch build has no oneDNN pointwise convolution")
    conv = _conv(16, 24)
    x = torch.randn(2, 16, *hw)
    u = winograd.winograd_weights(conv.weight, tile)
    packed = winograd.onednn_weights(u, winograd.tile_count(2, *hw, tile))
    got = winograd.winograd_conv3x3(x, u, tile, conv.bias, "leaky", onednn=packed)
    want = winograd.winograd_conv3x3(x, u, tile, conv.bias, "leaky")
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(got, want, atol=1e-5)


def test_fused_conv_keeps_onednn_winograd_weights_per_tile_count():
    from yolo9000.inference import fused_conv

    if not fused_conv.onednn_available():
        pytest.skip("this PyTorch build has no oneDNN pointwise convolution")
    conv = _conv(128, 16)
    fused = FusedConv2d(conv, "leaky", 2)
    with torch.no_grad():
        for b in (1, 2, 1):
            x = torch.randn(b, 128, 13, 13)
            assert torch.allclose(fused(x), F.leaky_relu(conv(x), 0.1), atol=1e-4)
    assert set(fused._packed) == {("winograd", 2, 49), ("winograd", 2, 98)}


def test_winograd_applies_activation_in_place_before_layout():
    conv = _conv(8, 8)
    x = torch.randn(1, 8, 9, 9)
    got = winograd.winograd_conv3x3(x, winograd.winograd_weights(conv.weight, 2), 2, conv.bias, "leaky")
    assert torch.allclose(got, F.leaky_relu(conv(x), 0.1), atol=1e-5)


def test_winograd_rejects_what_it_cannot_do():
    with pytest.raises(ValueError, match="tile"):
        winograd.winograd_weights(torch.zeros(4, 4, 3, 3), 3)
    assert not winograd.supports(_conv(4, 4, stride=2))
    assert not winograd.supports(_conv(4, 4, k=1))
    assert winograd.choose_tile(64, 104, 104) is None  # narrow layers: the direct conv measured as fast
    assert winograd.choose_tile(128, 52, 52) == 4 and winograd.choose_tile(256, 26, 26, batch=8) == 4
    # small maps: m=2 until a batch gives m=4 about 64 tiles
    assert winograd.choose_tile(1024, 13, 13) == 2 and winograd.choose_tile(1024, 13, 13, batch=2) == 2
    assert winograd.choose_tile(1024, 13, 13, batch=4) == 4


def test_winograd_weights_are_stored_output_major():
    u = winograd.winograd_weights(torch.randn(6, 5, 3, 3), 2)
    assert u.shape == (16, 5, 6) and u.transpose(1, 2).is_contiguous()


@pytest.mark.parametrize(
    "k,stride,act", [(3, 1, "leaky"), (1, 1, "linear"), (3, 2, "leaky"), (3, 1, "mish"), (1, 1, "logistic")]
)
@pytest.mark.parametrize("tile", [False, "auto", 2])
def test_fused_conv_equals_conv_plus_activation(k, stride, act, tile):
    from yolo9000.darknet.layers import activation

    conv = _conv(128, 32, k=k, stride=stride)
    fused = FusedConv2d(conv, act, tile)
    x = torch.randn(2, 128, 26, 26).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want = activation(act, conv(x))
        got = fused(x)
    assert torch.allclose(got, want, atol=2e-5, rtol=1e-5)


def test_fused_conv_falls_back_when_training_or_low_precision():
    conv = _conv(64, 16)
    fused = FusedConv2d(conv, "leaky", "auto")
    x = torch.randn(1, 64, 13, 13, requires_grad=True)
    y = fused(x)  # grad enabled: the plain, differentiable path
    y.sum().backward()
    assert x.grad is not None
    with torch.no_grad():
        half = fused.to(torch.bfloat16)(x.detach().bfloat16())
    assert half.dtype == torch.bfloat16


def test_fused_conv_needs_folded_bias_and_valid_tile():
    with pytest.raises(ValueError, match="fold batch norms"):
        FusedConv2d(nn.Conv2d(4, 4, 3, padding=1, bias=False), "leaky")
    with pytest.raises(ValueError, match="winograd"):
        FusedConv2d(_conv(4, 4), "leaky", 3)
    model = models.yolov2(size=64)
    with pytest.raises(ValueError, match="fold batch norms"):
        fuse_cpu_convs_(model)
    with pytest.raises(ValueError, match="fp32"):
        optimize_for_inference(model, dtype=torch.bfloat16, winograd=True)
    with pytest.raises(ValueError, match="no compile"):
        optimize_for_inference(model, dtype=None, winograd=True, compile=True)


def test_optimized_model_copies_pickles_and_matches_eager():
    torch.manual_seed(0)
    model = models.yolov2(size=96).eval()
    with torch.no_grad():
        for block in model.conv_blocks():
            if block.bn is not None:
                block.bn.running_mean.uniform_(-0.1, 0.1)
                block.bn.running_var.uniform_(0.5, 1.5)
    fast = optimize_for_inference(model, dtype=None, winograd=True)
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        want, got = model(x), fast(x)
        again = copy.deepcopy(fast)(x)  # the oneDNN weights are opaque: rebuilt, not copied
    buf = io.BytesIO()
    torch.save(fast, buf)
    scale = want.abs().max().item()
    assert (got - want).abs().max().item() < 1e-4 * max(scale, 1.0)
    assert torch.equal(again, got)


def test_onednn_weights_are_laid_out_per_input_shape():
    from yolo9000.inference import fused_conv

    if not fused_conv.onednn_available():
        pytest.skip("this PyTorch build has no oneDNN pointwise convolution")
    conv = _conv(16, 8, k=1)
    fused = FusedConv2d(conv, "leaky", False)
    with torch.no_grad():
        for s in (8, 16, 8, 24, 32, 40, 48):
            x = torch.randn(1, 16, s, s)
            assert torch.allclose(fused(x), F.leaky_relu(conv(x), 0.1), atol=1e-5)
    assert len(fused._packed) == fused_conv._MAX_SHAPES  # a small LRU: multi-scale inputs stay bounded
    assert (1, 16, 48, 48) in fused._packed and (1, 16, 8, 8) not in fused._packed


def test_large_layers_run_per_image_with_the_same_result():
    """A CPU no-grad batch runs its full-resolution layers image by image (cache blocking); the output, and
    every route into those layers, equals the batched run."""
    torch.manual_seed(0)
    model = models.yolov2(size=96).eval()
    fast = optimize_for_inference(model, dtype=None, winograd=True)
    assert fast.per_image_bytes > 0
    x = torch.rand(3, 3, 96, 96)
    with torch.no_grad():
        fast.per_image_bytes = 0
        batched = fast(x)
        fast.per_image_bytes = 20_000  # stops inside the network, after the route's source at 12x12
        per_image = fast(x)
        fast.per_image_bytes = 1  # never small enough: the whole network per image
        whole = fast(x)
        single = fast(x[1:2])  # batch 1: nothing to split
    for got in (per_image, whole):
        assert got.shape == batched.shape
        assert (got - batched).abs().max() < 1e-4 * max(1.0, batched.abs().max().item())
    assert torch.allclose(single, batched[1:2], atol=1e-4)
    fast.per_image_bytes = 20_000
    fast._run_large_layers_per_image = None  # with autograd on (training), the batch runs whole
    fast(x)
