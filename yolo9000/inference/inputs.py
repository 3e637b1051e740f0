"""What `yolo9000 detect` reads: command-line paths expanded into images and videos, images decoded ahead on
a thread pool, and the frames of animated images or (with PyAV) video files."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from wordtree.files import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

IMAGE_EXTS = set(IMAGE_EXTENSIONS)
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}


@dataclass
class Inputs:
    """Expanded command-line inputs: still images, videos, and what was skipped (path, reason)."""

    images: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _is_multiframe(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return getattr(im, "n_frames", 1) > 1
    except Exception:  # noqa: BLE001 - unreadable files are reported when they are loaded
        return False


def expand_inputs(paths: Iterable[str | Path], *, recursive: bool = True) -> Inputs:
    """Files and folders -> image and video lists (folders: image files inside, sorted); missing paths skipped."""
    found = Inputs()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(
                f
                for f in (p.rglob("*") if recursive else p.iterdir())
                if f.is_file() and f.suffix.lower() in IMAGE_EXTS
            )
            if not files:
                found.skipped.append((str(p), "folder has no image files"))
                log.warning("%s: folder has no image files", p)
            found.images.extend(files)
        elif p.is_file():
            ext = p.suffix.lower()
            if ext in VIDEO_EXTS or (ext in {".gif", ".webp", ".png", ".tif", ".tiff"} and _is_multiframe(p)):
                found.videos.append(p)
            else:
                found.images.append(p)
        else:
            found.skipped.append((str(p), "not found"))
            log.warning("%s: not found, skipped", p)
    return found


def read_or_reason(path: Path, *, exif: bool = True) -> torch.Tensor | str:
    """(3,H,W) uint8 image, or the reason it cannot be read (`exif`: as `yolo9000.data.image_io.read_image`)."""
    from yolo9000.data.image_io import read_image

    try:
        return read_image(path, exif=exif)
    except (OSError, ValueError) as exc:
        return str(exc).split(": ", 1)[-1] if str(exc).startswith(str(path)) else str(exc)


def readable_batches(
    paths: Sequence[Path], batch_size: int, *, workers: int, exif: bool, skipped: list[tuple[str, str]]
) -> Iterator[tuple[int, list[tuple[Path, torch.Tensor]]]]:
    """`paths` read ahead on `workers` threads (0: in the caller's), in batches of `batch_size`: per batch, how
    many paths it had and the (path, image) pairs that could be read. An unreadable picture is logged and added to
    `skipped` with its reason."""
    from yolo9000.data.prefetch import batched, prefetched

    loaded = prefetched(paths, lambda p: read_or_reason(p, exif=exif), workers=workers, depth=2 * batch_size)
    for chunk in batched(paths, batch_size):
        pairs = [next(loaded) for _ in chunk]
        for p, why in pairs:
            if isinstance(why, str):
                skipped.append((str(p), why))
                log.warning("%s: %s, skipped", p, why)
        yield len(chunk), [(p, im) for p, im in pairs if isinstance(im, torch.Tensor)]


def frames_pil(path: Path) -> tuple[Iterator[tuple[torch.Tensor, float]], int]:
    """Frames of an animated GIF/WebP/PNG/TIFF as ((3,H,W) uint8, duration ms), and their count."""
    from PIL import Image, ImageSequence

    from yolo9000.data.image_io import MAX_PIXELS, to_rgb_array

    im = Image.open(path)
    if im.width * im.height > MAX_PIXELS:
        im.close()
        raise ValueError(
            f"frames too large ({im.width}x{im.height} pixels; the limit is {MAX_PIXELS / 1e6:g} megapixels, "
            f"yolo9000.data.image_io.MAX_PIXELS)"
        )
    n = getattr(im, "n_frames", 1)

    def gen() -> Iterator[tuple[torch.Tensor, float]]:
        with im:
            for frame in ImageSequence.Iterator(im):
                arr = to_rgb_array(frame)  # as read_image decodes a still picture (16-bit, palette, ...)
                yield torch.from_numpy(arr.transpose(2, 0, 1).copy()), float(frame.info.get("duration", 100) or 100)

    return gen(), n


def frames_av(path: Path) -> tuple[Iterator[tuple[torch.Tensor, float]], int]:
    """Frames of a video file through PyAV (optional dependency)."""
    try:
        import av
    except ImportError:
        raise ValueError(
            f"reading {path.suffix} video needs PyAV (pip install av); animated GIF/WebP files work without it"
        ) from None
    container = av.open(str(path))
    stream = container.streams.video[0]
    rate = float(stream.average_rate) if stream.average_rate else 25.0

    def gen() -> Iterator[tuple[torch.Tensor, float]]:
        with container:
            for frame in container.decode(stream):
                yield torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).contiguous(), 1000 / rate

    return gen(), int(stream.frames or 0)
