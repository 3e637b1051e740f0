"""Darknet's test-time preprocessing: RGB/255 planar input, `resize_image` and `letterbox_image`.

`letterbox` reproduces Darknet bit for bit (its two-pass align-corners bilinear resize in float32, including
the near-black last row that float rounding causes for some size pairs, the 0.5 canvas and the floored
offset). `letterbox_batch` is the fast path for training/inference: torch's align-corners interpolate on the
device, batched per size, within float rounding of the exact path except on the quirky last row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from PIL import Image


def to_chw_float(image: Image.Image | np.ndarray | torch.Tensor) -> torch.Tensor:
    """A PIL image, an HxW / HxWx3 / HxWx4 uint8 array, or a (3,H,W) tensor -> (3,H,W) float32 in 0..1.

    Grey is replicated and alpha dropped (as stb_image does when asked for 3 channels); uint8 values become
    k/255 in float32, which is bit-identical to Darknet's conversion.
    """
    if isinstance(image, torch.Tensor):
        t = image
        if t.dim() != 3 or t.shape[0] not in (1, 3, 4):
            raise ValueError(f"image tensor must be (C,H,W) with C in 1, 3, 4; got {tuple(t.shape)}")
        t = t[:3] if t.shape[0] >= 3 else t.expand(3, -1, -1)
        if t.dtype == torch.uint8:
            return t.float() / 255.0
        return t.float()
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL
        arr = np.asarray(image.convert("RGB"))
    else:
        arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"image array must be HxW, HxWx3 or HxWx4, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[:, :, :3]
    t = torch.from_numpy(arr.transpose(2, 0, 1).copy())  # a copy: PIL's buffer is read-only
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    if t.dtype.is_floating_point:
        return t.float()
    raise ValueError(f"image array must be uint8 or float, got {arr.dtype}")


def letterbox_size(w: int, h: int, net_w: int, net_h: int) -> tuple[int, int]:
    """The size Darknet resizes a w x h image to inside a net_w x net_h canvas (float32 test, int math)."""
    if np.float32(net_w) / np.float32(w) < np.float32(net_h) / np.float32(h):
        return net_w, (h * net_w) // w
    return (w * net_h) // h, net_h


def letterbox_params(w: int, h: int, net_w: int, net_h: int) -> tuple[int, int, int, int]:
    """(new_w, new_h, dx, dy): resized size and the floored top-left offset on the canvas."""
    new_w, new_h = letterbox_size(w, h, net_w, net_h)
    return new_w, new_h, (net_w - new_w) // 2, (net_h - new_h) // 2


def letterbox_sizes(image_sizes: torch.Tensor, net_w: int, net_h: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(new_w, new_h) of the image inside Darknet's letterbox, per image (integer arithmetic, as in
    `correct_region_boxes`)."""
    w, h = image_sizes[:, 0], image_sizes[:, 1]
    # Darknet compares the ratios in float32
    by_width = (torch.tensor(float(net_w), dtype=torch.float32) / w.float()) < (
        torch.tensor(float(net_h), dtype=torch.float32) / h.float()
    )
    new_w = torch.where(by_width, torch.full_like(w, net_w), torch.div(w * net_h, h, rounding_mode="floor"))
    new_h = torch.where(by_width, torch.div(h * net_w, w, rounding_mode="floor"), torch.full_like(h, net_h))
    return new_w, new_h


def unletterbox(
    bx: torch.Tensor,
    by: torch.Tensor,
    bw: torch.Tensor,
    bh: torch.Tensor,
    new_w: torch.Tensor,
    new_h: torch.Tensor,
    net_w: int,
    net_h: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The inverse of the letterbox for boxes: centre/size relative to the canvas -> relative to the image.

    `new_w`, `new_h` are the letterboxed image sizes per box (`letterbox_sizes`); Darknet's
    `correct_region_boxes` in float64.
    """
    nw, nh = new_w.double(), new_h.double()
    bx = (bx - (net_w - nw) / 2.0 / net_w) / (nw / net_w)
    by = (by - (net_h - nh) / 2.0 / net_h) / (nh / net_h)
    return bx, by, bw * net_w / nw, bh * net_h / nh


def resize_darknet(im: torch.Tensor, ow: int, oh: int) -> torch.Tensor:
    """Darknet's `resize_image` on a (C,H,W) float32 tensor, exact in float32, near-black last row included
    (see ARCHITECTURE.md, Darknet quirks)."""
    c, ih, iw = im.shape
    if ow < 1 or oh < 1:
        raise ValueError(f"resize target must be positive, got {ow}x{oh}")
    im = im.float()
    f32 = torch.float32
    # float32 scale, as in C: (float)(im.w - 1) / (w - 1)
    w_scale = torch.tensor(iw - 1, dtype=f32) / torch.tensor(ow - 1, dtype=f32) if ow > 1 else torch.tensor(0.0)
    h_scale = torch.tensor(ih - 1, dtype=f32) / torch.tensor(oh - 1, dtype=f32) if oh > 1 else torch.tensor(0.0)

    # pass 1: columns
    cols = torch.arange(ow, dtype=f32)
    sx = cols * w_scale
    ix = sx.to(torch.int64)
    dx = sx - ix.to(f32)
    last_col = (cols == ow - 1) | torch.tensor(iw == 1)
    ix0 = torch.where(last_col, torch.full_like(ix, iw - 1), ix)
    ix1 = torch.where(last_col, ix0, (ix + 1).clamp(max=iw - 1))
    left = im[:, :, ix0]
    right = im[:, :, ix1]
    part = (1 - dx) * left + dx * right
    part = torch.where(last_col, left, part)

    # pass 2: rows; the add is skipped on the last row (Darknet's quirk, kept for parity)
    rows = torch.arange(oh, dtype=f32)
    sy = rows * h_scale
    iy = sy.to(torch.int64)
    dy = (sy - iy.to(f32))[:, None]
    out = (1 - dy) * part[:, iy, :]
    add = dy * part[:, (iy + 1).clamp(max=ih - 1), :]
    skip = (rows == oh - 1) | torch.tensor(ih == 1)
    out = torch.where(skip[:, None], out, out + add)
    return out


def letterbox(image: Image.Image | np.ndarray | torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Darknet's `letterbox_image`: (3, net_h, net_w) float tensor with the image resized exactly as Darknet
    does, on a 0.5 canvas at the floored centre offset. `size` is an int or (width, height)."""
    net_w, net_h = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    im = to_chw_float(image)
    _, h, w = im.shape
    if w < 1 or h < 1:
        raise ValueError(f"cannot letterbox an empty image ({w}x{h})")
    new_w, new_h, dx, dy = letterbox_params(w, h, net_w, net_h)
    resized = resize_darknet(im, new_w, new_h)
    canvas = torch.full((3, net_h, net_w), 0.5, dtype=torch.float32)
    canvas[:, dy : dy + new_h, dx : dx + new_w] = resized
    return canvas


def letterbox_batch(
    images: Sequence[torch.Tensor],
    size: int | tuple[int, int],
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Fast letterbox of many images into one (B, 3, net_h, net_w) float batch.

    Images are (3,H,W) uint8 or float tensors (or anything `to_chw_float` takes); the resize is torch's
    align-corners bilinear interpolate (Darknet's sampling grid, without its last-row quirk), run on
    `device`, batched across images of equal size.
    """
    net_w, net_h = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    device = torch.device(device) if device is not None else None
    out = torch.full((len(images), 3, net_h, net_w), 0.5, dtype=torch.float32, device=device)
    by_size: dict[tuple[int, int], list[int]] = {}
    tensors = []
    for i, img in enumerate(images):
        t = img if isinstance(img, torch.Tensor) and img.dim() == 3 and img.shape[0] == 3 else to_chw_float(img)
        tensors.append(t)
        by_size.setdefault((t.shape[-1], t.shape[-2]), []).append(i)
    for (w, h), idx in by_size.items():
        new_w, new_h, dx, dy = letterbox_params(w, h, net_w, net_h)
        batch = torch.stack([tensors[i] for i in idx]).to(device=device if device else tensors[idx[0]].device)
        batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
        if (new_w, new_h) != (w, h):
            batch = F.interpolate(batch, size=(new_h, new_w), mode="bilinear", align_corners=True, antialias=False)
        out[idx, :, dy : dy + new_h, dx : dx + new_w] = batch.to(out.device)
    return out
