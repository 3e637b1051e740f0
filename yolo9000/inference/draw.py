"""Annotated images: boxes with labels such as `animal > dog > terrier (0.62)` (torchvision's drawing)."""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes

from yolo9000.detection.decode import Detections

# 20 well-separated colours (Tableau 20); a label keeps its colour across images
PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (174, 199, 232),
    (255, 187, 120),
    (152, 223, 138),
    (255, 152, 150),
    (197, 176, 213),
    (196, 156, 148),
    (247, 182, 210),
    (199, 199, 199),
    (219, 219, 141),
    (158, 218, 229),
]


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


def to_uint8_chw(image) -> torch.Tensor:
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
    image,
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
    colors = [PALETTE[int(k) % len(PALETTE)] for k in key.tolist()]
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
        label_colors="white",
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
def _truetype(font: str, size: int):
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


def html_summary(entries: Sequence[dict], skipped: Sequence[tuple[str, str]], title: str = "yolo9000 detect") -> str:
    """A self-contained HTML page: one card per image (annotated picture link + its labels), then the skips.

    entries: dicts with "image" (source path), "annotated" (relative path or None) and "labels" (strings).
    """
    esc = html.escape
    cards = []
    for e in entries:
        pic = (
            f'<a href="{esc(e["annotated"])}"><img src="{esc(e["annotated"])}" loading="lazy"></a>'
            if e.get("annotated")
            else ""
        )
        items = "".join(f"<li>{esc(t)}</li>" for t in e["labels"]) or "<li><i>no detections</i></li>"
        cards.append(f'<div class="card">{pic}<div class="name">{esc(str(e["image"]))}</div><ul>{items}</ul></div>')
    skip = ""
    if skipped:
        rows = "".join(f"<li>{esc(p)}: {esc(why)}</li>" for p, why in skipped)
        skip = f"<h2>Skipped ({len(skipped)})</h2><ul>{rows}</ul>"
    n_det = sum(len(e["labels"]) for e in entries)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; background: #fafafa; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ width: 280px; background: white; border: 1px solid #ddd; padding: 6px; }}
.card img {{ width: 100%; }}
.name {{ font-size: 12px; color: #555; word-break: break-all; }}
ul {{ font-size: 13px; padding-left: 1.2em; margin: 4px 0; }}
</style></head><body>
<h1>{esc(title)}</h1><p>{len(entries)} images, {n_det} detections.</p>
<div class="grid">{"".join(cards)}</div>{skip}
</body></html>
"""
