"""Darknet-style training augmentation on uint8 pictures with torchvision.transforms.v2 (antialiased resize).

Per image (Darknet's `load_data_detection`): aspect-ratio jitter, the image resized to fill one side of the
square canvas and placed at a random offset on 0.5 grey, HSV distortion of the whole canvas, horizontal flip
with probability .5; boxes follow every step, are clipped to the canvas, and boxes narrower than 0.001 of it
are dropped.
Detection and classification images go through the same pipeline (the latter with no boxes).

`plan` draws the randomness and moves the boxes from the picture's size alone; `place` copies the resized
picture onto the canvas once (mirrored on the way). `augment` is both on the CPU; with `--decode gpu` the loader
only plans, and `render_batch` resizes and places the batch where it was decoded.

Deliberate differences from Darknet: the labels use the same integer placement as the pixels (Darknet labels use
the untruncated floats, a sub-pixel mismatch), and resizing is torchvision's antialiased bilinear. An optional
`scale` range (Darknet: fixed 1) enlarges or shrinks the placed image; enlarged images are cropped by the canvas
and their boxes clipped or dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
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


@dataclass(frozen=True)
class Placement:
    """Where a picture lands on the `size` x `size` canvas: resized to `nw` x `nh` with its top-left at (dx, dy)
    (negative: cropped by the canvas), then the whole canvas mirrored when `flip`."""

    nw: int
    nh: int
    dx: int
    dy: int
    flip: bool

    def as_row(self) -> list[int]:
        """[nw, nh, dx, dy, flip] (a row of a batch's placement tensor)."""
        return [self.nw, self.nh, self.dx, self.dy, int(self.flip)]


def plan(
    height: int,
    width: int,
    boxes: torch.Tensor | None,
    size: int,
    rng: np.random.Generator,
    cfg: AugmentConfig = AugmentConfig(),
) -> tuple[Placement, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The geometry of `augment` without the pixels: the random draws (in Darknet's order), the placement, and the
    boxes (n,4 xyxy pixels of a `height` x `width` picture) moved with it.

    Returns (placement, boxes (m,4) cx,cy,w,h in 0..1 of the canvas, index (m,) of the input boxes kept in output
    order, (dhue, dsat, dexp) float tensor). Only the header's size is needed: the loader plans before decoding.
    """
    h, w = int(height), int(width)
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
    order = rng.permutation(n) if (cfg.shuffle_boxes and n > 1) else np.arange(n)
    hsv = torch.tensor([dhue, dsat, dexp], dtype=torch.float32)
    placement = Placement(nw_i, nh_i, dx, dy, flip)
    if n == 0:  # a class picture
        return placement, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), hsv

    # the boxes take the pixels' path: clipped to the picture, scaled as it is resized, shifted to its place,
    # clipped to the canvas, mirrored with it (float32, the arithmetic of torchvision's box transforms; numpy:
    # a few boxes cost less there than in torch's per-op dispatch)
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)[order]
    xyxy = np.minimum(np.maximum(xyxy, np.float32(0)), np.array([w, h, w, h], dtype=np.float32))
    xyxy = xyxy * np.array([nw_i / w, nh_i / h, nw_i / w, nh_i / h], dtype=np.float32)
    xyxy = np.minimum(np.maximum(xyxy + np.array([dx, dy, dx, dy], dtype=np.float32), np.float32(0)), np.float32(size))
    if flip:
        xyxy = np.stack((-(xyxy[:, 2] - size), xyxy[:, 1], -(xyxy[:, 0] - size), xyxy[:, 3]), axis=1)
    xyxy = xyxy / np.float32(size)
    wh = xyxy[:, 2:] - xyxy[:, :2]
    keep = (wh[:, 0] >= cfg.min_size) & (wh[:, 1] >= cfg.min_size)
    out = np.concatenate(((xyxy[:, :2] + xyxy[:, 2:]) / np.float32(2), wh), axis=1)[keep]
    kept = order[keep]
    if cfg.max_boxes is not None and out.shape[0] > cfg.max_boxes:
        out, kept = out[: cfg.max_boxes], kept[: cfg.max_boxes]
    return placement, torch.from_numpy(out), torch.from_numpy(kept.astype(np.int64)), hsv


def place(img: torch.Tensor, p: Placement, size: int, fill: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """Put the resized picture `img` (C, nh, nw) on a `size` x `size` canvas of `fill` (or into `out`) as `p`
    says: one copy of the visible part, mirrored on the way when `p.flip` (the mirror of the whole canvas).

    The canvas keeps the picture's memory layout: channels-last (as the JPEG decoder and the uint8 resize write
    it) stays channels-last, a copy of whole pixel rows, and the batch reaches the device in the layout the
    model trains in there; a planar picture gives a planar canvas."""
    if out is None:
        c = img.shape[0]
        if c > 1 and img.stride(0) == 1:  # channels-last
            out = torch.full((size, size, c), fill, dtype=img.dtype, device=img.device).permute(2, 0, 1)
        else:
            out = torch.full((c, size, size), fill, dtype=img.dtype, device=img.device)
    else:
        out.fill_(fill)
    dx = size - p.dx - p.nw if p.flip else p.dx
    x0, y0 = max(dx, 0), max(p.dy, 0)
    x1, y1 = min(dx + p.nw, size), min(p.dy + p.nh, size)
    if x1 > x0 and y1 > y0:
        part = img[:, y0 - p.dy : y1 - p.dy]
        part = part.flip(-1)[:, :, x0 - dx : x1 - dx] if p.flip else part[:, :, x0 - dx : x1 - dx]
        out[:, y0:y1, x0:x1] = part
    return out


def augment(
    image: torch.Tensor,
    boxes: torch.Tensor | None,
    size: int,
    rng: np.random.Generator,
    cfg: AugmentConfig = AugmentConfig(),
    *,
    dtype: torch.dtype = torch.float32,
    defer_hsv: bool = False,
    out: torch.Tensor | None = None,
) -> tuple:
    """Augment one image onto a `size` x `size` canvas (written into `out`, a (3,size,size) tensor of the canvas
    dtype, when given).

    image: (3,H,W) uint8 (float in [0,1] is accepted too); boxes: (n,4) xyxy pixels or None.
    dtype: float32 (values in [0,1], padding exactly 0.5 before the exposure change) or uint8 (what the
    training loader ships: 4x less memory traffic, made float on the device).
    Returns (image (3,size,size), boxes (m,4) cx,cy,w,h in 0..1 of the canvas, index (m,) long of the
    input boxes kept, in output order), plus the (dhue, dsat, dexp) tensor when `defer_hsv`.
    """
    p, placed, kept, hsv = plan(int(image.shape[-2]), int(image.shape[-1]), boxes, size, rng, cfg)
    dhue, dsat, dexp = hsv.tolist()
    # HSV is pointwise, so it is applied to the resized picture and, separately, to the grey padding (Darknet
    # distorts the whole canvas): cheaper than distorting the full canvas. With `defer_hsv` it is left to
    # `distort_hsv_batch` on the device and the parameters are returned.
    img = F.resize(image, [p.nh, p.nw], antialias=True)
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
    canvas = place(img, p, size, fill, out=out)
    if defer_hsv:
        return canvas, placed, kept, hsv
    return canvas, placed, kept


def render_batch(pictures: Sequence[torch.Tensor | None], placements: torch.Tensor, size: int) -> torch.Tensor:
    """The uint8 canvases (B,3,size,size) of decoded pictures (3,H,W uint8, all on one device; None: left grey)
    resized and placed by the rows of `placements` (B,5: `Placement.as_row`), on the pictures' device: the
    pixel half of the deferred-HSV `augment` for a batch decoded there (`--decode gpu`)."""
    device = next((p.device for p in pictures if p is not None), torch.device("cpu"))
    out = torch.full((len(pictures), 3, size, size), 128, dtype=torch.uint8, device=device)
    for k, (img, row) in enumerate(zip(pictures, placements.tolist())):  # one picture at a time: sizes differ
        if img is None:
            continue
        p = Placement(row[0], row[1], row[2], row[3], bool(row[4]))
        place(F.resize(img, [p.nh, p.nw], antialias=True), p, size, 128.0, out=out[k])
    return out


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
