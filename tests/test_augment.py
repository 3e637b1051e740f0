"""Augmentation keeps boxes consistent with the pixels: draw a box, augment, check the drawn region follows."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch

from yolo9000.data.augment import (
    AugmentConfig,
    augment,
    distort_hsv,
    distort_hsv_batch,
    hsv_to_rgb,
    multiscale_sizes,
    rand_scale,
    rgb_to_hsv,
)

GEOMETRY_ONLY = dict(hue=0.0, saturation=1.0, exposure=1.0)


def _drawn(w=120, h=80, box=(70, 20, 110, 60)):
    img = torch.full((3, h, w), 128, dtype=torch.uint8)
    x0, y0, x1, y1 = box
    img[:, y0:y1, x0:x1] = torch.tensor([250, 10, 10], dtype=torch.uint8)[:, None, None]
    return img, torch.tensor([box], dtype=torch.float32)


def _red(out: torch.Tensor) -> torch.Tensor:
    return (out[0] > 0.75) & (out[1] < 0.3) & (out[2] < 0.3)


@pytest.mark.parametrize("seed", range(12))
def test_box_follows_the_drawn_region(seed):
    img, boxes = _drawn()
    size = 96
    cfg = AugmentConfig(jitter=0.3, flip=True, scale=(0.5, 1.8), **GEOMETRY_ONLY)
    out, b, kept = augment(img, boxes, size, np.random.default_rng(seed), cfg)
    assert out.shape == (3, size, size) and out.dtype == torch.float32
    red = _red(out)
    if len(b) == 0:  # cropped away entirely: at most an antialiased sliver of red may remain
        assert red.sum() <= 2 * size
        return
    assert kept.tolist() == [0]
    cx, cy, w, h = (b[0] * size).tolist()
    ys, xs = torch.nonzero(red, as_tuple=True)
    assert len(xs) > 0
    # the red pixels span the box (clipped to the canvas) to within the antialiasing of one pixel
    assert abs(xs.min().item() - (cx - w / 2)) <= 1.5 and abs(xs.max().item() + 1 - (cx + w / 2)) <= 1.5
    assert abs(ys.min().item() - (cy - h / 2)) <= 1.5 and abs(ys.max().item() + 1 - (cy + h / 2)) <= 1.5
    inside = red[int(cy - h / 2 + 1) : int(cy + h / 2 - 1), int(cx - w / 2 + 1) : int(cx + w / 2 - 1)]
    if inside.numel():
        assert inside.float().mean() > 0.95


def test_flip_mirrors_box_and_pixels():
    img, boxes = _drawn()
    cfg = AugmentConfig(jitter=0.0, flip=True, **GEOMETRY_ONLY)
    seen_flip = seen_plain = False
    for seed in range(20):
        out, b, _ = augment(img, boxes, 96, np.random.default_rng(seed), cfg)
        cx = b[0, 0].item()
        red_cx = torch.nonzero(_red(out), as_tuple=True)[1].float().mean().item() / 96
        assert abs(cx - red_cx) < 0.02
        seen_flip |= cx < 0.5
        seen_plain |= cx > 0.5
    assert seen_flip and seen_plain


def test_letterbox_without_augmentation_is_exact():
    img, boxes = _drawn(w=100, h=50, box=(10, 10, 30, 40))
    out, b, _ = augment(img, boxes, 64, np.random.default_rng(0), AugmentConfig.none())
    # 100x50 -> 64x32, centred: rows 16..47 hold the image, the rest is 0.5 grey
    assert torch.all(out[:, :16] == 0.5) and torch.all(out[:, 48:] == 0.5)
    assert not torch.all(out[:, 16:48] == 0.5)
    s = 64 / 100
    want = torch.tensor([[20 * s / 64, (16 + 25 * s) / 64, 20 * s / 64, 30 * s / 64]])
    torch.testing.assert_close(b, want)


def test_same_seed_same_output_and_classification_images():
    img, boxes = _drawn()
    cfg = AugmentConfig()
    a = augment(img, boxes, 64, np.random.default_rng(5), cfg)
    b = augment(img, boxes, 64, np.random.default_rng(5), cfg)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = augment(img, boxes, 64, np.random.default_rng(6), cfg)
    assert not torch.equal(a[0], c[0])
    out, nb, kept = augment(img, None, 64, np.random.default_rng(5), cfg)
    assert out.shape == (3, 64, 64) and nb.shape == (0, 4) and kept.numel() == 0


def test_box_cap_and_shuffle_keep_index():
    img = torch.full((3, 200, 200), 100, dtype=torch.uint8)
    xs = torch.arange(40, dtype=torch.float32) * 5
    boxes = torch.stack([xs, xs, xs + 4, xs + 4], dim=1)
    out, b, kept = augment(img, boxes, 200, np.random.default_rng(1), AugmentConfig(jitter=0.0, flip=False))
    assert len(b) == 30 and len(set(kept.tolist())) == 30
    assert kept.tolist() != sorted(kept.tolist())  # Darknet shuffles before capping at 30
    # each kept box is the input box it claims to be (no jitter, no flip: a pure scale of 1)
    torch.testing.assert_close(b[:, 0] * 200, boxes[kept, 0] + 2)


def test_hsv_conversion_matches_colorsys():
    x = torch.rand(3, 6, 7)
    hsv = rgb_to_hsv(x)
    for i in range(6):
        for j in range(7):
            want = colorsys.rgb_to_hsv(*x[:, i, j].tolist())
            assert hsv[:, i, j].tolist() == pytest.approx(list(want), abs=1e-5)
    torch.testing.assert_close(hsv_to_rgb(hsv), x, atol=1e-5, rtol=0)


def test_distortions():
    red = torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand(3, 2, 2).clone()
    torch.testing.assert_close(distort_hsv(red, 0.5, 1.0, 1.0)[:, 0, 0], torch.tensor([0.0, 1.0, 1.0]))
    grey = distort_hsv(red, 0.0, 0.0, 1.0)
    torch.testing.assert_close(grey[:, 0, 0], torch.tensor([1.0, 1.0, 1.0]))
    half = distort_hsv(torch.full((3, 2, 2), 0.8), 0.0, 1.0, 2.0)
    assert torch.all(half == 1.0)  # exposure scales V, clamped to 1


def test_rand_scale_range():
    rng = np.random.default_rng(0)
    vals = np.array([rand_scale(rng, 1.5) for _ in range(400)])
    assert vals.min() >= 1 / 1.5 - 1e-9 and vals.max() <= 1.5 + 1e-9
    assert (vals < 1).mean() == pytest.approx(0.5, abs=0.1)
    vals2 = np.array([rand_scale(rng, 0.75) for _ in range(400)])  # .75 acts like 1/.75
    assert vals2.min() >= 0.75 - 1e-9 and vals2.max() <= 1 / 0.75 + 1e-9


def test_multiscale_sizes():
    assert multiscale_sizes(416) == list(range(320, 609, 32))
    assert multiscale_sizes(416, 320, 352) == [320, 352]
    with pytest.raises(ValueError, match="multiples of 32"):
        multiscale_sizes(416, 300, 608)


def test_deferred_hsv_on_the_batch_equals_per_image_hsv():
    img, boxes = _drawn()
    cfg = AugmentConfig(jitter=0.3, hue=0.1, saturation=1.5, exposure=1.5)
    direct = [augment(img, boxes, 64, np.random.default_rng(s), cfg) for s in range(4)]
    deferred = [
        augment(img, boxes, 64, np.random.default_rng(s), cfg, dtype=torch.uint8, defer_hsv=True) for s in range(4)
    ]
    batch = torch.stack([d[0] for d in deferred])
    assert batch.dtype == torch.uint8
    out = distort_hsv_batch(batch.float() / 255, torch.stack([d[3] for d in deferred]))
    for k in range(4):
        assert torch.equal(direct[k][1], deferred[k][1])  # same geometry from the same draws
        # uint8 rounding of the undistorted canvas is the only difference
        assert (out[k] - direct[k][0]).abs().max() < 2.5 / 255
