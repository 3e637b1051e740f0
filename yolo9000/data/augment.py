"""Darknet-style training augmentation with torchvision.transforms.v2 and tv_tensors.BoundingBoxes.

Per image (Darknet's `load_data_detection`): aspect-ratio jitter, the image resized to fill one side of the
square canvas and placed at a random offset on 0.5 grey, HSV distortion of the whole canvas, horizontal flip
with probability .5; boxes follow every step, are clipped to the canvas, and boxes narrower than 0.001 of it
are dropped.
Detection and classification images go through the same pipeline (the latter with no boxes).

Deliberate differences from Darknet: the labels use the same integer placement as the pixels (Darknet labels use
the untruncated floats, a sub-pixel mismatch), and resizing is torchvision's antialiased bilinear. An optional
`scale` range (Darknet: fixed 1) enlarges or shrinks the placed image; enlarged images are cropped by the canvas
and their boxes clipped or dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from wordtree.options import SIZE_STEP, size32


@dataclass(frozen=True)
class AugmentConfig:
    """Darknet's augmentation constants ([region] jitter, [net] hue/saturation/exposure)."""

    jitter: float = 0.2
    hue: float = 0.1
    saturation: float = 1.5
    exposure: float = 1.5
    flip: bool = True
    scale: tuple[float, float] = (1.0, 1.0)
    min_size: float = 0.001  # boxes below this width/height (fraction of the canvas) are dropped
    max_boxes: int | None = 30  # Darknet keeps at most 30 truths per image after shuffling
    shuffle_boxes: bool = True

    @staticmethod
    def none() -> "AugmentConfig":
        """No randomness: a centred, aspect-preserving letterbox (evaluation)."""
        return AugmentConfig(
            jitter=0.0, hue=0.0, saturation=1.0, exposure=1.0, flip=False, max_boxes=None, shuffle_boxes=False
        )


def rand_scale(rng: np.random.Generator, s: float) -> float:
    """Darknet's `rand_scale`: u in [min(1,s), max(1,s)], returned as u or 1/u with probability ½ each."""
    lo, hi = min(1.0, s), max(1.0, s)
    u = float(rng.uniform(lo, hi)) if hi > lo else 1.0
    return u if rng.random() < 0.5 else 1.0 / u


def rgb_to_hsv(img: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) RGB in [0,1] -> HSV with H in [0,1) (H = 0 for grey pixels)."""
    r, g, b = img.unbind(-3)
    maxc, _ = img.max(dim=-3)
    minc, _ = img.min(dim=-3)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    d = delta.clamp_min(1e-12)
    h = torch.where(maxc == r, (g - b) / d, torch.where(maxc == g, 2.0 + (b - r) / d, 4.0 + (r - g) / d))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack((h, s, maxc), dim=-3)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of `rgb_to_hsv` (H wraps; S and V are used as given, so S > 1 may give values below 0)."""
    h, s, v = hsv.unsqueeze(-3).unbind(-4)  # each (..., 1, H, W)
    n = torch.tensor([5.0, 3.0, 1.0], dtype=hsv.dtype, device=hsv.device).view(3, 1, 1)
    k = (n + (h % 1.0) * 6.0) % 6.0
    return v - v * s * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)


def distort_hsv(img: torch.Tensor, dhue: float, dsat: float, dexp: float) -> torch.Tensor:
    """Darknet's `distort_image`: H += dhue (wrapped), S *= dsat, V *= dexp, back to RGB, clamp to [0,1]."""
    if dhue == 0.0 and dsat == 1.0 and dexp == 1.0:
        return img
    if dhue == 0.0 and dsat == 1.0:  # scaling V alone is scaling RGB
        return (img * dexp).clamp_(0.0, 1.0)
    h, s, v = rgb_to_hsv(img).unbind(-3)
    out = hsv_to_rgb(torch.stack(((h + dhue) % 1.0, s * dsat, v * dexp), dim=-3))
    return out.clamp_(0.0, 1.0)


def distort_hsv_batch(images: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """`distort_hsv` for a batch (B,3,H,W) float with per-image (dhue, dsat, dexp) rows `params` (B,3):
    the training loop runs it on the device, where it costs next to nothing."""
    p = params.to(images.device, images.dtype).view(-1, 3, 1, 1)
    h, s, v = rgb_to_hsv(images).unbind(-3)
    out = hsv_to_rgb(torch.stack(((h + p[:, 0]) % 1.0, s * p[:, 1], v * p[:, 2]), dim=-3))
    return out.clamp_(0.0, 1.0)


def _place(x, nw: int, nh: int, dx: int, dy: int, size: int, fill: float):
    """Resize `x` (tv_tensor image or boxes) to nw x nh and put its top-left at (dx, dy) of a size² canvas."""
    x = F.resize(x, [nh, nw], antialias=True)
    left, top = max(dx, 0), max(dy, 0)
    right, bottom = max(size - nw - dx, 0), max(size - nh - dy, 0)
    if left or top or right or bottom:
        x = F.pad(x, [left, top, right, bottom], fill=fill)
    cl, ct = max(-dx, 0), max(-dy, 0)
    if cl or ct or x.shape[-1] != size or x.shape[-2] != size:
        x = F.crop(x, ct, cl, size, size)
    return x


def augment(
    image: torch.Tensor,
    boxes: torch.Tensor | None,
    size: int,
    rng: np.random.Generator,
    cfg: AugmentConfig = AugmentConfig(),
    *,
    dtype: torch.dtype = torch.float32,
    defer_hsv: bool = False,
) -> tuple:
    """Augment one image onto a `size` x `size` canvas.

    image: (3,H,W) uint8 (float in [0,1] is accepted too); boxes: (n,4) xyxy pixels or None.
    dtype: float32 (values in [0,1], padding exactly 0.5 before the exposure change) or uint8 (what the
    training loader ships: 4x less memory traffic, made float on the device).
    Returns (image (3,size,size), boxes (m,4) cx,cy,w,h in 0..1 of the canvas, index (m,) long of the
    input boxes kept, in output order), plus the (dhue, dsat, dexp) tensor when `defer_hsv`.
    """
    h, w = int(image.shape[-2]), int(image.shape[-1])
    if boxes is None:
        boxes = torch.zeros(0, 4)
    n = boxes.shape[0]
    dw, dh = cfg.jitter * w, cfg.jitter * h
    new_ar = (w + rng.uniform(-dw, dw)) / (h + rng.uniform(-dh, dh)) if cfg.jitter > 0 else w / h
    scale = float(rng.uniform(*cfg.scale)) if cfg.scale[1] > cfg.scale[0] else float(cfg.scale[0])
    if new_ar < 1:
        nh, nw = size * scale, size * scale * new_ar
    else:
        nw, nh = size * scale, size * scale / new_ar
    nw_i, nh_i = max(1, int(nw)), max(1, int(nh))
    if cfg.jitter > 0 or cfg.scale != (1.0, 1.0):
        dx = int(rng.uniform(min(0, size - nw_i), max(0, size - nw_i)))
        dy = int(rng.uniform(min(0, size - nh_i), max(0, size - nh_i)))
    else:  # deterministic letterbox placement, as Darknet's letterbox_image (floored centre offset)
        dx, dy = (size - nw_i) // 2, (size - nh_i) // 2
    dhue = rng.uniform(-cfg.hue, cfg.hue) if cfg.hue > 0 else 0.0
    dsat, dexp = rand_scale(rng, cfg.saturation), rand_scale(rng, cfg.exposure)
    flip = cfg.flip and rng.random() < 0.5
    order = torch.from_numpy(rng.permutation(n)) if (cfg.shuffle_boxes and n > 1) else torch.arange(n)

    # HSV is pointwise, so it is applied to the resized picture and, separately, to the grey padding (Darknet
    # distorts the whole canvas): cheaper than distorting the full canvas. With `defer_hsv` it is left to
    # `distort_hsv_batch` on the device and the parameters are returned.
    img = F.resize(tv_tensors.Image(image), [nh_i, nw_i], antialias=True).as_subclass(torch.Tensor)
    fill = 0.5
    if defer_hsv and dtype == torch.uint8 and img.dtype == torch.uint8:
        fill = 128.0  # stays uint8 end to end: the cheapest path for the loader workers
    else:
        img = img.float().div_(255) if img.dtype == torch.uint8 else img.float()
        if not defer_hsv:
            img = distort_hsv(img, dhue, dsat, dexp)
            fill = min(1.0, 0.5 * dexp)
        if dtype == torch.uint8:
            img, fill = img.mul_(255).round_().to(torch.uint8), float(round(fill * 255))
    img = tv_tensors.Image(img)
    if (nw_i, nh_i) != (size, size) or dx or dy:
        img = _place(img, nw_i, nh_i, dx, dy, size, fill)
    bb = tv_tensors.BoundingBoxes(boxes[order].float(), format="XYXY", canvas_size=(h, w))
    bb = _place(bb, nw_i, nh_i, dx, dy, size, 0.0)
    if flip:
        img, bb = F.horizontal_flip(img), F.horizontal_flip(bb)

    xyxy = bb.as_subclass(torch.Tensor).clamp(0, size) / size
    wh = xyxy[:, 2:] - xyxy[:, :2]
    keep = (wh[:, 0] >= cfg.min_size) & (wh[:, 1] >= cfg.min_size)
    out = torch.cat(((xyxy[:, :2] + xyxy[:, 2:]) / 2, wh), dim=1)[keep]
    kept = order[keep]
    if cfg.max_boxes is not None and out.shape[0] > cfg.max_boxes:
        out, kept = out[: cfg.max_boxes], kept[: cfg.max_boxes]
    img = img.as_subclass(torch.Tensor).contiguous()
    if defer_hsv:
        return img, out, kept, torch.tensor([dhue, dsat, dexp], dtype=torch.float32)
    return img, out, kept


def multiscale_sizes(net_size: int, lo: int | None = None, hi: int | None = None, step: int = 32) -> list[int]:
    """The multi-scale choices: Darknet's 320..608 (step 32) for a 416 net, scaled alike for other sizes."""
    if lo is None:
        lo = max(step, int(math.floor(net_size * 320 / 416 / step + 0.5)) * step)
    if hi is None:
        hi = max(lo, int(math.floor(net_size * 608 / 416 / step + 0.5)) * step)
    try:
        if step == SIZE_STEP:  # the network input sizes: the one rule of wordtree.options
            lo, hi = size32(lo), size32(hi)
        elif lo < step or lo % step or hi % step:
            raise ValueError
        if lo > hi:
            raise ValueError
    except ValueError:
        raise ValueError(f"multi-scale range {lo}..{hi} must be positive multiples of {step} with min <= max") from None
    return list(range(lo, hi + 1, step))
