"""Darknet layers (reorg, maxpool, conv+BN), the Darknet resize/letterbox, and the fast paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from yolo9000.darknet.layers import ConvBlock, MaxPool, reorg
from yolo9000.detection.letterbox import letterbox, letterbox_batch, letterbox_params, resize_darknet


def reorg_index_form(x: np.ndarray, s: int) -> np.ndarray:
    """Darknet's per-element reorg index (the arithmetic of `reorg_cpu`), written independently of the reshape
    formula."""
    c, h, w = x.shape
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    cp = c // (s * s)
    for k in range(c):
        for j in range(h):
            for i in range(w):
                c2, off = k % cp, k // cp
                h2, w2 = j * s + off // s, i * s + off % s
                out[k * h * w + j * w + i] = flat[c2 * (h * s) * (w * s) + h2 * (w * s) + w2]
    return out.reshape(c * s * s, h // s, w // s)


def test_reorg_spec_examples():
    x = torch.arange(16.0).reshape(1, 4, 2, 2)
    assert reorg(x).flatten().tolist() == [0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15]
    x = torch.arange(64.0).reshape(1, 4, 4, 4)
    y = reorg(x)[0]
    assert y[0].tolist() == [[0, 2], [4, 6]] and y[1].tolist() == [[16, 18], [20, 22]]
    assert y[4].tolist() == [[1, 3], [5, 7]] and y[8].tolist() == [[8, 10], [12, 14]]
    assert y[15].tolist() == [[57, 59], [61, 63]]
    assert not torch.equal(y, F.pixel_unshuffle(x, 2)[0])  # Darknet's reorg is not space-to-depth


@pytest.mark.parametrize(
    "shape, s", [((4, 4, 4), 2), ((8, 6, 6), 2), ((12, 6, 8), 2), ((64, 26, 26), 2), ((18, 6, 9), 3)]
)
def test_reorg_matches_index_form(shape, s):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ours = reorg(torch.from_numpy(x)[None], s)[0].numpy()
    assert np.array_equal(ours, reorg_index_form(x, s))


def test_reorg_layer_keeps_channels_last():
    from yolo9000.darknet.layers import Reorg

    x = torch.randn(2, 16, 6, 8)
    got = Reorg(2)(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(got, reorg(x)) and got.is_contiguous(memory_format=torch.channels_last)
    assert Reorg(2)(x).is_contiguous()


def test_reorg_is_a_permutation_with_gradient():
    x = torch.randn(2, 8, 4, 6, requires_grad=True)
    y = reorg(x)
    assert sorted(y.detach().flatten().tolist()) == sorted(x.detach().flatten().tolist())
    (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
    # the gradient is the inverse permutation of the index ramp
    assert torch.equal(reorg(x.grad), torch.arange(y.numel(), dtype=torch.float32).reshape(y.shape))
    with pytest.raises(ValueError, match="reorg stride 2"):
        reorg(torch.zeros(1, 6, 4, 4))


def test_reorg_matches_darknet_arrays(reference_dir):
    d = reference_dir / "darknet_outputs"
    x = torch.from_numpy(np.load(d / "yolov2_416_reorg_in_layer26.npy"))
    ref = np.load(d / "yolov2_416_reorg_out_layer27.npy")
    assert np.array_equal(reorg(x[None])[0].numpy(), ref)


def maxpool_reference(x: np.ndarray, size: int, stride: int, padding: int) -> np.ndarray:
    """Darknet's forward_maxpool_layer loop (outside positions are -inf)."""
    c, h, w = x.shape
    oh, ow = (h + padding - size) // stride + 1, (w + padding - size) // stride + 1
    off = -(padding // 2)
    out = np.full((c, oh, ow), -np.inf, dtype=x.dtype)
    for k in range(c):
        for i in range(oh):
            for j in range(ow):
                for n in range(size):
                    for m in range(size):
                        r, cc = off + i * stride + n, off + j * stride + m
                        if 0 <= r < h and 0 <= cc < w:
                            out[k, i, j] = max(out[k, i, j], x[k, r, cc])
    return out


@pytest.mark.parametrize(
    "size, stride, padding, hw",
    [
        (2, 2, None, (6, 8)),
        (2, 2, None, (7, 5)),
        (2, 1, None, (5, 6)),
        (3, 2, None, (7, 7)),
        (3, 1, 2, (5, 4)),
        (2, 2, 0, (7, 7)),
    ],
)
def test_maxpool_darknet_geometry(size, stride, padding, hw):
    x = np.random.default_rng(1).standard_normal((2,) + hw).astype(np.float32)
    pool = MaxPool(size, stride, padding)
    ours = pool(torch.from_numpy(x)[None])[0].numpy()
    ref = maxpool_reference(x, size, stride, pool.padding)
    assert ours.shape == ref.shape and np.array_equal(ours, ref)


def test_maxpool_common_cases():
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(MaxPool(2, 2)(x), F.max_pool2d(x, 2, 2))
    # size 2 / stride 1 keeps the size: replicate-pad right/bottom then pool
    y = MaxPool(2, 1)(x)
    assert y.shape == x.shape
    assert torch.equal(y, F.max_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, 1))


def _bn_block(bn=True):
    torch.manual_seed(0)
    m = ConvBlock(3, 6, 3, 1, 1, batch_normalize=bn, activation="leaky")
    if bn:
        with torch.no_grad():
            m.bn.weight.uniform_(0.5, 1.5)
            m.bn.bias.normal_()
            m.bn.running_mean.normal_()
            m.bn.running_var.uniform_(0.0, 2.0)
            m.bn.running_var[0] = 1e-7  # near-zero variance: the two epsilons disagree strongly
    return m.eval()


def test_conv_bn_modes_and_fuse():
    m = _bn_block()
    x = torch.randn(2, 3, 9, 9)
    z = m.conv(x)
    bn = m.bn
    gpu = F.leaky_relu(
        (z - bn.running_mean[:, None, None]) / (bn.running_var[:, None, None] + 1e-5).sqrt() * bn.weight[:, None, None]
        + bn.bias[:, None, None],
        0.1,
    )
    cpu = F.leaky_relu(
        (z - bn.running_mean[:, None, None]) / (bn.running_var[:, None, None].sqrt() + 1e-6) * bn.weight[:, None, None]
        + bn.bias[:, None, None],
        0.1,
    )
    assert torch.allclose(m(x), gpu, atol=1e-5)
    m.bn_mode = "cpu"
    assert torch.allclose(m(x), cpu, atol=1e-4, rtol=1e-5)
    assert not torch.allclose(gpu, cpu, atol=1e-2)  # channel 0 tells the two modes apart
    assert m.conv.bias is None  # BN convs carry no conv bias (the weights file's "bias" is beta)


def test_model_fuse_keeps_outputs():
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.inference.optimize import optimize_for_inference

    text = (
        "[net]\nwidth=64\nheight=64\nchannels=3\n"
        "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\npad=1\nactivation=leaky\n"
        "[maxpool]\nsize=2\nstride=2\n"
        "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\npad=1\nactivation=leaky\n"
        "[convolutional]\nfilters=12\nsize=1\nactivation=linear\n"
        "[region]\nnum=2\nclasses=1\nsoftmax=1\n"
    )
    torch.manual_seed(0)
    m = DarknetModel.from_cfg_text(text).eval()
    with torch.no_grad():
        for b in m.conv_blocks():
            if b.bn is not None:
                b.bn.running_var.uniform_(0.5, 1.5)
                b.bn.running_mean.normal_(0, 0.1)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        ref = m.region_output(x)
        fast = optimize_for_inference(m, dtype=None, channels_last=True)
        assert all(b.bn is None for b in fast.conv_blocks())
        assert torch.allclose(fast.region_output(x), ref, atol=1e-5)
        assert m.conv_blocks()[0].bn is not None  # the original is untouched
        bf = optimize_for_inference(m, dtype=torch.bfloat16)
        out = bf.region_output(x)
        assert out.dtype == torch.float32 and torch.allclose(out, ref, atol=0.1)


def test_resize_darknet_last_row_quirk():
    # Darknet's resize_image: float rounding skips the last row's second term for some size pairs
    ones = torch.ones(1, 326, 7)
    out = resize_darknet(ones, 7, 320)
    assert torch.allclose(out[0, :-1], torch.ones(319, 7))
    assert out[0, -1, 0].item() == pytest.approx(3.05e-5, rel=0.02)
    out = resize_darknet(torch.ones(1, 16, 5), 5, 416)
    assert out[0, -1, 0].item() == pytest.approx(9.5e-7, rel=0.05)
    # the last column is special-cased and stays exact
    assert torch.equal(resize_darknet(torch.ones(1, 4, 326), 320, 4), torch.ones(1, 4, 320))


def test_resize_darknet_is_align_corners_bilinear():
    x = torch.rand(3, 13, 17)
    ours = resize_darknet(x, 29, 31)
    ref = F.interpolate(x[None], size=(31, 29), mode="bilinear", align_corners=True)[0]
    assert torch.allclose(ours[:, :-1], ref[:, :-1], atol=1e-5)


def test_letterbox_geometry_and_inputs():
    from PIL import Image

    img = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    assert letterbox_params(50, 30, 64, 64) == (64, 38, 0, 13)
    assert letterbox_params(30, 50, 64, 64) == (38, 64, 13, 0)
    out = letterbox(img, 64)
    assert out.shape == (3, 64, 64)
    assert torch.all(out[:, :13] == 0.5) and torch.all(out[:, 13 + 38 :] == 0.5)
    assert torch.equal(letterbox(Image.fromarray(img), 64), out)
    assert torch.equal(letterbox(torch.from_numpy(img).permute(2, 0, 1), 64), out)
    rgba = np.concatenate([img, np.full((30, 50, 1), 7, np.uint8)], axis=2)
    assert torch.equal(letterbox(rgba, 64), out)
    grey = letterbox(img[:, :, 0], 64)
    assert torch.equal(grey[0], grey[2])
    # non-square network size
    assert letterbox(img, (96, 64)).shape == (3, 64, 96)
    with pytest.raises(ValueError, match="image array must be"):
        letterbox(np.zeros((4, 4, 2), np.uint8), 32)


def test_letterbox_batch_close_to_exact():
    rng = np.random.default_rng(0)
    imgs = [
        torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8))
        for h, w in [(30, 50), (50, 30), (30, 50), (64, 64)]
    ]
    fast = letterbox_batch(imgs, 64)
    assert fast.shape == (4, 3, 64, 64)
    for i, im in enumerate(imgs):
        exact = letterbox(im, 64)
        _, h, w = im.shape
        nw, nh, dx, dy = letterbox_params(w, h, 64, 64)
        inner = (slice(None), slice(dy, dy + nh - 1), slice(dx, dx + nw))  # all but the quirky last row
        assert torch.allclose(fast[i][inner], exact[inner], atol=1e-5)
        assert torch.equal(fast[i][:, :dy], exact[:, :dy])


def resize_scalar_reference(im: np.ndarray, w: int, h: int) -> np.ndarray:
    """Darknet's resize_image as its C loops read, in float32 scalars."""
    f = np.float32
    c, ih, iw = im.shape
    part = np.zeros((c, ih, w), np.float32)
    out = np.zeros((c, h, w), np.float32)
    w_scale = f(iw - 1) / f(w - 1)
    h_scale = f(ih - 1) / f(h - 1)
    for k in range(c):
        for r in range(ih):
            for col in range(w):
                if col == w - 1 or iw == 1:
                    val = im[k, r, iw - 1]
                else:
                    sx = f(col) * w_scale
                    ix = int(sx)
                    dx = sx - f(ix)
                    val = (f(1) - dx) * im[k, r, ix] + dx * im[k, r, ix + 1]
                part[k, r, col] = val
    for k in range(c):
        for r in range(h):
            sy = f(r) * h_scale
            iy = int(sy)
            dy = sy - f(iy)
            for col in range(w):
                out[k, r, col] = (f(1) - dy) * part[k, iy, col]
            if r == h - 1 or ih == 1:
                continue
            for col in range(w):
                out[k, r, col] += dy * part[k, iy + 1, col]
    return out


@pytest.mark.parametrize(
    "src, dst", [((7, 5), (13, 11)), ((20, 9), (6, 4)), ((16, 3), (5, 21)), ((1, 6), (4, 9)), ((9, 1), (3, 5))]
)
def test_resize_darknet_bit_exact_vs_scalar_loops(src, dst):
    im = np.random.default_rng(2).random((2, src[1], src[0]), dtype=np.float32)
    ours = resize_darknet(torch.from_numpy(im), *dst).numpy()
    assert np.array_equal(ours, resize_scalar_reference(im, *dst))
