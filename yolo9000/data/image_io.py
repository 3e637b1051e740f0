"""Image decoding for the training data: RGB planar uint8, grey replicated, alpha dropped, like stb_image.

The file is read once into memory. JPEG and PNG are decoded by torchvision (libjpeg-turbo, libpng) straight into
the (3, H, W) uint8 tensor the augmentation resizes; what torchvision does not decode (CMYK JPEGs, TIFF, GIF, BMP,
WebP, ...) goes through PIL. Beyond 8-bit RGB/grey: 16-bit pixels keep their top 8 bits (``>> 8``), CMYK, palette
(transparency included), LA, 1-bit, 32-bit integer (taken as 16-bit values) and float (``[0, 1]`` scaled to 255,
else clipped) images become RGB. The EXIF orientation is honoured by default (as PIL/torchvision users expect);
``exif=False`` reads the stored pixels as Darknet does. Images over `MAX_PIXELS` are refused from the header,
before decoding.

`read_encoded` is the half of `read_image` that stays on the CPU when the training step decodes JPEGs on the GPU
(`--decode gpu`): the file's bytes, its size and EXIF orientation from the header, for `decode_on_device`.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from PIL import Image, ImageFile

#: the largest image `read_image` decodes (width * height), checked from the file header before decoding.
MAX_PIXELS = 100_000_000

_EXIF_ORIENTATION = 0x0112

# read_image enforces MAX_PIXELS itself: PIL's own warning (from 89 megapixels) would be a second, unasked line
warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit", module=r"PIL\.Image")
# a corrupt EXIF block is read as no orientation (the stored pixels), not reported as PIL's two-line warning
warnings.filterwarnings("ignore", message=r"Corrupt EXIF data", module=r"PIL\.TiffImagePlugin")
# torchvision 0.29 marks its decoders deprecated (for torchcodec) on every call; `_TORCHVISION` below falls back to
# PIL once they are gone
warnings.filterwarnings("ignore", message=r"The image decoding and encoding capabilities of TorchVision are deprec")

log = logging.getLogger(__name__)

try:
    from torchvision.io import ImageReadMode
    from torchvision.io import decode_image as _tv_decode
    from torchvision.io import decode_jpeg as _tv_decode_jpeg

    _TORCHVISION = True
except ImportError:  # pragma: no cover - a torchvision without image decoders: PIL decodes everything
    _TORCHVISION = False

#: formats torchvision decodes itself (PIL modes it handles exactly as `to_rgb_array` does); the rest goes to PIL
_TV_MODES = {"JPEG": {"RGB", "L"}, "PNG": {"RGB", "RGBA", "L", "LA", "P", "PA", "1", "I;16", "I;16B", "I"}}


class DecodeError(RuntimeError, ValueError):
    """An image file exists but cannot be decoded (the loader logs it and replaces the sample).

    Also a ValueError: a bad input file, as the CLIs treat it (they print it as one line)."""


def _too_large(path: Path, size: str) -> DecodeError:
    return DecodeError(
        f"{path}: image too large ({size}; the limit is {MAX_PIXELS / 1e6:g} megapixels, "
        f"yolo9000.data.image_io.MAX_PIXELS)"
    )


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag of an opened PIL image (1, as stored, when absent or unreadable)."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: the stored pixels
        return 1
    return value if isinstance(value, int) else 1


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, None], 3, axis=2)


def to_rgb_array(im: Image.Image) -> np.ndarray:
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


def _read_bytes(path: Path) -> bytearray:
    """The whole file, read once (a writable buffer: torch shares it without copying)."""
    try:
        with open(path, "rb") as f:
            data = bytearray(f.seek(0, io.SEEK_END))
            f.seek(0)
            f.readinto(data)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise FileNotFoundError(f"{path}: image file not found") from None
    return data


def _open(path: Path, data: bytearray) -> ImageFile.ImageFile:
    """PIL's lazy open of `data` (the header only), with the size limit checked; one DecodeError line otherwise."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # so large that PIL refuses to open it
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(path, f"{found.group(1) if found else 'over ' + str(MAX_PIXELS)} pixels") from None
    except Exception as exc:  # noqa: BLE001 - any header failure is reported the same way
        raise DecodeError(f"{path}: cannot decode image ({_reason(exc)})") from exc
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise _too_large(path, f"{w}x{h} pixels")
    return im


def _reason(exc: Exception) -> str:
    """One line for a decoder's exception (torchvision's start with the C++ source location: dropped)."""
    lines = str(exc).strip().splitlines()
    text = re.sub(r"^\w+, \S+\.cpp:\d+, ", "", lines[0] if lines else "")
    return f"{type(exc).__name__}: {text}"


def _on_torchvision(fmt: str | None, mode: str) -> bool:
    return _TORCHVISION and fmt in _TV_MODES and mode in _TV_MODES[fmt]


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


@dataclass(frozen=True)
class _Sniffed:
    format: str  # "JPEG" or "PNG"
    width: int
    height: int
    exif: bool  # a JPEG with an APP1 Exif segment (its orientation is read by PIL)


def _sniff(data: bytearray) -> _Sniffed | None:
    """Format and size of a JPEG (RGB or grey) or PNG that torchvision decodes, from the first bytes; None for
    anything else or anything unusual (PIL then opens it, with its own messages). PIL's header parser costs
    more than the rest of the per-picture Python work of the loader."""
    if not _TORCHVISION or len(data) < 26:
        return None
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR":
        width, height = struct.unpack_from(">II", data, 16)
        return _Sniffed("PNG", width, height, False) if 0 < width * height <= MAX_PIXELS else None
    if data[0] != 0xFF or data[1] != 0xD8:
        return None
    i, n, exif = 2, len(data), False
    while i + 10 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_SOF:
            height, width, components = (data[i + 5] << 8) | data[i + 6], (data[i + 7] << 8) | data[i + 8], data[i + 9]
            if components not in (1, 3) or not 0 < width * height <= MAX_PIXELS:  # CMYK, or PIL's messages
                return None
            return _Sniffed("JPEG", width, height, exif)
        exif |= marker == 0xE1 and data[i + 4 : i + 10] == b"Exif\x00\x00"
        i += 2 + ((data[i + 2] << 8) | data[i + 3])
    return None


def _checked(path: Path, img: torch.Tensor) -> torch.Tensor:
    if img.ndim != 3 or img.shape[0] != 3 or img.shape[1] == 0 or img.shape[2] == 0:
        raise DecodeError(f"{path}: decoded to an unusable shape {tuple(img.shape)}")
    return img


def _decode_tv(path: Path, data: bytearray, exif: bool) -> torch.Tensor:
    """Decode a JPEG or PNG with torchvision (16-bit PNGs keep their top 8 bits)."""
    try:
        img = _tv_decode(torch.frombuffer(data, dtype=torch.uint8), mode=ImageReadMode.RGB, apply_exif_orientation=exif)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported the same way
        raise DecodeError(f"{path}: cannot decode image ({_reason(exc)})") from exc
    if img.dtype == torch.uint16:
        img = (img.to(torch.int32) >> 8).to(torch.uint8)
    return _checked(path, img)


def _decode(path: Path, data: bytearray, im: Image.Image, exif: bool) -> torch.Tensor:
    """Decode the opened file: torchvision for JPEG/PNG, else PIL."""
    from PIL import ImageOps

    if _on_torchvision(im.format, im.mode):
        return _decode_tv(path, data, exif)
    try:
        if exif and _orientation(im) in range(2, 9):
            im = ImageOps.exif_transpose(im)
        arr = to_rgb_array(im)
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported the same way
        raise DecodeError(f"{path}: cannot decode image ({_reason(exc)})") from exc
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DecodeError(f"{path}: decoded to an unusable shape {arr.shape}")
    return torch.from_numpy(arr).permute(2, 0, 1)


def read_image(path: str | Path, *, exif: bool = True) -> torch.Tensor:
    """Decode `path` into a (3, H, W) uint8 RGB tensor (JPEG/PNG: channels-last in memory, as the decoder writes it,
    which is what the uint8 resize reads fastest; `.contiguous()` for a planar copy).

    `exif=True` turns the picture as its EXIF orientation says (the size may swap); `exif=False` keeps the
    stored pixels, as Darknet reads them.
    """
    path = Path(path)
    data = _read_bytes(path)
    if _sniff(data) is not None:
        return _decode_tv(path, data, exif)
    with _open(path, data) as im:
        return _decode(path, data, im, exif)


def image_size(path: str | Path, *, exif: bool = True) -> tuple[int, int]:
    """(width, height) of the picture as `read_image` gives it (EXIF-turned unless `exif` is False), from its
    header alone; FileNotFoundError or DecodeError (one line naming the file) otherwise."""
    from PIL import Image

    path = Path(path)
    try:
        im = Image.open(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise FileNotFoundError(f"{path}: image file not found") from None
    except Exception as exc:  # noqa: BLE001 - any header failure is reported the same way
        raise DecodeError(f"{path}: cannot decode image ({_reason(exc)})") from exc
    with im:
        w, h = im.size
        turned = exif and _orientation(im) in (5, 6, 7, 8)
    return (h, w) if turned else (w, h)


@dataclass(frozen=True)
class EncodedImage:
    """A picture as `read_encoded` hands it to the training step: a JPEG's bytes for `decode_on_device`, or, for
    what the device does not decode, the decoded (3, H, W) uint8 tensor (`encoded` False).

    `shape` is the (3, H, W) of the decoded, EXIF-turned picture (from the header), so boxes can be placed before
    any pixel is decoded; `orientation` is the EXIF orientation still to apply after decoding (1: none)."""

    data: torch.Tensor
    encoded: bool
    shape: tuple[int, int, int]
    orientation: int = 1


def read_encoded(path: str | Path, *, exif: bool = True) -> EncodedImage:
    """The file's bytes when it is a JPEG the device can decode (RGB or grey), else the picture decoded here, as
    `read_image` would (same errors, same size limit)."""
    path = Path(path)
    data = _read_bytes(path)
    head = _sniff(data)
    if head is not None and head.format == "JPEG" and not (exif and head.exif):
        shape = (3, head.height, head.width)
        return EncodedImage(torch.frombuffer(data, dtype=torch.uint8), True, shape, 1)
    with _open(path, data) as im:
        if _TORCHVISION and im.format == "JPEG" and im.mode in _TV_MODES["JPEG"]:
            o = _orientation(im) if exif else 1
            o = o if o in range(1, 9) else 1
            w, h = im.size
            return EncodedImage(torch.frombuffer(data, dtype=torch.uint8), True, (3, w, h) if o >= 5 else (3, h, w), o)
        img = _decode(path, data, im, exif)
    return EncodedImage(img, False, (3, int(img.shape[1]), int(img.shape[2])))


def apply_orientation(img: torch.Tensor, orientation: int) -> torch.Tensor:
    """Turn a stored (..., H, W) picture as EXIF `orientation` 1-8 says (PIL's `exif_transpose`), on any device."""
    if orientation == 2:
        return img.flip(-1)
    if orientation == 3:
        return img.flip(-1, -2)
    if orientation == 4:
        return img.flip(-2)
    if orientation == 5:
        return img.transpose(-1, -2)
    if orientation == 6:
        return img.rot90(-1, (-2, -1))
    if orientation == 7:
        return img.transpose(-1, -2).flip(-1, -2)
    if orientation == 8:
        return img.rot90(1, (-2, -1))
    return img


def decode_on_device(images: list[EncodedImage], device: torch.device | str) -> list[torch.Tensor | None]:
    """Decode a batch of `read_encoded` pictures on `device` (CUDA: nvjpeg, one batched call; CPU: libjpeg, the
    same path, for tests), EXIF-turned, as (3, H, W) uint8 there. A picture that fails to decode is None (logged);
    the rest of the batch is kept."""
    device = torch.device(device)
    out: list[torch.Tensor | None] = [None] * len(images)
    todo = [k for k, im in enumerate(images) if im.encoded]
    for k, im in enumerate(images):
        if not im.encoded:
            out[k] = im.data.to(device, non_blocking=True)
    if todo:
        try:
            decoded = _tv_decode_jpeg([images[k].data for k in todo], mode=ImageReadMode.RGB, device=device)
        except RuntimeError:  # one bad file fails the batched call: decode one by one to find it
            decoded = []
            for k in todo:
                try:
                    decoded.append(_tv_decode_jpeg(images[k].data, mode=ImageReadMode.RGB, device=device))
                except RuntimeError as exc:
                    log.warning("skipping an undecodable JPEG in the batch (%s); its slot is left empty", _reason(exc))
                    decoded.append(None)
        for k, img in zip(todo, decoded):
            if img is not None:
                img = apply_orientation(img, images[k].orientation)
                out[k] = img if tuple(img.shape) == images[k].shape else None
    return out


def device_decode_problem(device: torch.device | str) -> str | None:
    """Why `decode_on_device` cannot run on `device` (not CUDA, no torchvision decoders, nvjpeg failing), or None."""
    device = torch.device(device)
    if device.type != "cuda":
        return f"the device is {device}, not CUDA"
    if not _TORCHVISION:
        return "this torchvision has no image decoders"
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buf, format="JPEG")
    try:
        _tv_decode_jpeg([torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)], device=device)
    except Exception as exc:  # noqa: BLE001 - any failure (no nvjpeg, a CPU-only build) means: decode on the CPU
        return f"nvjpeg decoding failed ({_reason(exc)[:160]})"
    return None
