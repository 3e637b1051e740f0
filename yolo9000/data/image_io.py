"""Image decoding for the training data (PIL: RGB planar uint8, grey replicated, alpha dropped, like stb_image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class DecodeError(RuntimeError, ValueError):
    """An image file exists but cannot be decoded (the loader logs it and replaces the sample).

    Also a ValueError: a bad input file, as the CLIs treat it (they print it as one line)."""


def read_image(path: str | Path) -> torch.Tensor:
    """Decode `path` into a (3, H, W) uint8 RGB tensor."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            arr = np.array(im.convert("RGB"))
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported the same way
        raise DecodeError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from exc
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DecodeError(f"{path}: decoded to an unusable shape {arr.shape}")
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()
