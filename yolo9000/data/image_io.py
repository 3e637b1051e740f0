"""Image decoding for the training data (PIL: RGB planar uint8, grey replicated, alpha dropped, like stb_image).

Beyond 8-bit RGB/grey: 16-bit pixels keep their top 8 bits (``>> 8``), CMYK, palette (transparency included),
LA, 1-bit, 32-bit integer (taken as 16-bit values) and float (``[0, 1]`` scaled to 255, else clipped) images
become RGB. The EXIF orientation is honoured by default (as PIL/torchvision users expect); ``exif=False`` reads the
stored pixels as Darknet does. Images over `MAX_PIXELS` are refused from the header, before decoding.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch

#: the largest image `read_image` decodes (width * height), checked from the file header before decoding.
MAX_PIXELS = 100_000_000

_EXIF_ORIENTATION = 0x0112

# read_image enforces MAX_PIXELS itself: PIL's own warning (from 89 megapixels) would be a second, unasked line
warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit", module=r"PIL\.Image")
# a corrupt EXIF block is read as no orientation (the stored pixels), not reported as PIL's two-line warning
warnings.filterwarnings("ignore", message=r"Corrupt EXIF data", module=r"PIL\.TiffImagePlugin")


class DecodeError(RuntimeError, ValueError):
    """An image file exists but cannot be decoded (the loader logs it and replaces the sample).

    Also a ValueError: a bad input file, as the CLIs treat it (they print it as one line)."""


def _too_large(path: Path, size: str) -> DecodeError:
    return DecodeError(
        f"{path}: image too large ({size}; the limit is {MAX_PIXELS / 1e6:g} megapixels, "
        f"yolo9000.data.image_io.MAX_PIXELS)"
    )


def _orientation(im) -> int:
    """The EXIF orientation tag of an opened PIL image (1, as stored, when absent or unreadable)."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: the stored pixels
        return 1
    return value if isinstance(value, int) else 1


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, None], 3, axis=2)


def to_rgb_array(im) -> np.ndarray:
    """(H, W, 3) uint8 of an opened PIL image in any mode."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":  # 16-bit grey (mode I: older Pillow's 16-bit PNG/TIFF)
        ints = np.asarray(im).astype(np.int64)
        return _grey_to_rgb((np.clip(ints, 0, 65535) >> 8).astype(np.uint8))
    if mode == "F":
        floats = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if floats.size and floats.min() >= 0.0 and floats.max() <= 1.0:
            floats = floats * 255.0
        return _grey_to_rgb(np.clip(np.rint(floats), 0, 255).astype(np.uint8))
    if mode in ("P", "PA") and (mode == "PA" or "transparency" in im.info):
        im = im.convert("RGBA")  # the palette's colours; the alpha is then dropped like an RGBA file's
    return np.array(im.convert("RGB"))


def read_image(path: str | Path, *, exif: bool = True) -> torch.Tensor:
    """Decode `path` into a (3, H, W) uint8 RGB tensor.

    `exif=True` turns the picture as its EXIF orientation says (the size may swap); `exif=False` keeps the
    stored pixels, as Darknet reads them.
    """
    from PIL import Image, ImageOps

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise _too_large(path, f"{w}x{h} pixels")
            if exif and _orientation(im) in range(2, 9):
                im = ImageOps.exif_transpose(im)
            arr = to_rgb_array(im)
    except DecodeError:
        raise
    except Image.DecompressionBombError as exc:  # so large that PIL refuses to open it
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(path, f"{found.group(1) if found else 'over ' + str(MAX_PIXELS)} pixels") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported the same way
        raise DecodeError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from exc
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DecodeError(f"{path}: decoded to an unusable shape {arr.shape}")
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()
