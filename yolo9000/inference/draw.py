"""Annotated images: boxes with labels such as `animal > dog > terrier (0.62)` (torchvision's drawing)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes

from yolo9000.detection.detections import Detections

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

#: what the drawing functions take as a picture: a (3,H,W) tensor, a PIL image or an HxWx3 uint8 array
ImageLike: TypeAlias = "torch.Tensor | Image.Image | np.ndarray"

# Okabe-Ito's colour-blind-safe colours (black left out: label text is black); a label keeps its colour across
# images, and the report page (report_assets/report.js) colours its boxes in the same order
PALETTE = [
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
]


def _text_colour(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with `rgb` (WCAG 2 relative luminance)."""
    lin = [(c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return (0, 0, 0) if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else (255, 255, 255)


TEXT_ON = [_text_colour(c) for c in PALETTE]  # label text on each palette colour


@functools.lru_cache(maxsize=1)
def default_font() -> str | None:
    """A TrueType font for labels: DejaVu Sans from matplotlib's data (always installed with it) or the system."""
    import importlib.util

    candidates = []
    spec = importlib.util.find_spec("matplotlib")  # located, not imported (importing it is slow)
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append(Path(loc) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    candidates.append(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    for c in candidates:
        if c.is_file():
            return str(c)
    return None


def to_uint8_chw(image: ImageLike) -> torch.Tensor:
    """A PIL image, HxWx3 uint8 array or (3,H,W) uint8/float tensor -> (3,H,W) uint8 tensor."""
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.dim() != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"image tensor must be (3,H,W), got {tuple(t.shape)}")
        if t.dtype != torch.uint8:
            t = (t.float().clamp(0, 1) * 255).round().to(torch.uint8)
        return t.expand(3, -1, -1) if t.shape[0] == 1 else t
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, 2)
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image array must be HxWx3 uint8, got shape {arr.shape} {arr.dtype}")
    return torch.from_numpy(arr[:, :, :3].transpose(2, 0, 1).copy())  # PIL buffers are read-only


def draw_detections(
    image: ImageLike,
    det: Detections,
    *,
    names: Sequence[str] | None = None,
    show_path: bool = False,
    max_path: int = 3,
    width: int | None = None,
    font_size: int | None = None,
) -> torch.Tensor:
    """The image (3,H,W) uint8 with every detection's box and label drawn (boxes clipped to the image)."""
    img = to_uint8_chw(image)
    if len(det) == 0:
        return img.clone()
    h, w = img.shape[1:]
    side = min(h, w)
    boxes = det.boxes.detach().float().cpu().clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w - 1)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h - 1)
    labels = [det.label_text(i, show_path=show_path, max_path=max_path, names=names) for i in range(len(det))]
    key = det.nodes if det.nodes is not None else det.labels
    slots = [int(k) % len(PALETTE) for k in key.tolist()]
    colors = [PALETTE[k] for k in slots]
    font = default_font()
    size: int | None = None
    if font:  # torchvision writes the label from the box's left edge and cuts it at the image's right edge
        size = font_size or max(10, side // 32)
        labels = [fit_label(t, font, size, w - float(x0)) for t, x0 in zip(labels, boxes[:, 0].tolist())]
    return draw_bounding_boxes(
        img,
        boxes,
        labels=labels,
        colors=colors,
        width=width or max(1, side // 200),
        font=font,
        font_size=size,
        label_colors=[TEXT_ON[k] for k in slots],
        label_background_colors=colors,
        fill_labels=True,
    )


def fit_label(text: str, font: str, size: int, room: float) -> str:
    """`text` shortened from the root end of its path ('animal > dog > terrier (0.62)' -> '... > terrier
    (0.62)') until it fits in `room` pixels, so the deepest, most specific name stays readable."""
    face = _truetype(font, size)
    parts = text.split(" > ")
    candidate = text
    while face.getlength(candidate) > room and len(parts) > 1:
        parts = parts[1:]
        candidate = "\u2026 > " + " > ".join(parts)
    return candidate


@functools.lru_cache(maxsize=8)
def _truetype(font: str, size: int) -> FreeTypeFont:
    from PIL import ImageFont

    return ImageFont.truetype(font, size)


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3,H,W) uint8 tensor -> PIL image."""
    return Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())


def thumbnail_grid(images: Sequence[torch.Tensor], *, size: int = 256, nrow: int = 4) -> Image.Image:
    """A contact sheet of (3,H,W) uint8 images, each letterboxed into a size x size tile."""
    from torchvision.utils import make_grid

    tiles = []
    for img in images:
        pil = to_pil(img)
        pil.thumbnail((size, size))
        tile = Image.new("RGB", (size, size), (32, 32, 32))
        tile.paste(pil, ((size - pil.width) // 2, (size - pil.height) // 2))
        tiles.append(torch.from_numpy(np.array(tile)).permute(2, 0, 1))
    if not tiles:
        raise ValueError("thumbnail_grid: no images")
    return to_pil(make_grid(tiles, nrow=min(nrow, len(tiles)), padding=4, pad_value=255))
