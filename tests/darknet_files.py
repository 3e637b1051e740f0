"""Small Darknet-format inputs for tests, written from the format itself (not by the code under test).

`cfg_text` renders a cfg from (section, options) pairs, so a test states only the layers it needs;
`write_pictures` writes random RGB PNGs. Session-wide generated files (pictures, the yolov2 seed-0 weights)
are fixtures in `conftest.py`; the Darknet parity inputs are made in `parity_inputs.py`.

`SHARED` is where Darknet's own files are looked for: `../shared` beside the checkout, or `$YOLO9000_SHARED`;
`skip_without_shared` skips a test that needs a file from there with the reason conftest.py counts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ["YOLO9000_SHARED"]) if os.environ.get("YOLO9000_SHARED") else REPO.parent / "shared"
REFERENCE = SHARED / "reference"
# every skip for a missing ../shared starts with this, so the session summary can count them
NEEDS_SHARED = "needs ../shared"


def skip_without_shared(path: Path) -> Path:
    """`path` if it exists, else skip the calling test with the reason the session summary counts."""
    if not path.exists():
        pytest.skip(f"{NEEDS_SHARED}: {path} not found (a bare clone has none; YOLO9000_SHARED sets the location)")
    return path


Section = tuple[str, dict]


def conv(
    filters: int | str, size: int = 3, *, bn: bool = True, activation: str = "leaky", stride: int = 1, pad: int = 1
) -> Section:
    """A [convolutional] section (batch norm first, as Darknet writes it)."""
    opts = {"batch_normalize": 1} if bn else {}
    opts.update(filters=filters, size=size, stride=stride, pad=pad, activation=activation)
    return "convolutional", opts


def maxpool(size: int = 2, stride: int = 2) -> Section:
    return "maxpool", {"size": size, "stride": stride}


def cfg_text(*sections: Section, width: int = 64, height: int = 64, channels: int = 3) -> str:
    """A cfg with a [net] section of the given input size followed by `sections`, one blank line apart."""
    blocks = [("net", {"width": width, "height": height, "channels": channels}), *sections]
    return "\n".join(f"[{name}]\n" + "".join(f"{k}={v}\n" for k, v in opts.items()) for name, opts in blocks)


PICTURE_SIZES = ((80, 60), (50, 90), (64, 64))


def write_pictures(folder: Path, sizes=PICTURE_SIZES, seed: int = 0) -> list[Path]:
    """Random-noise RGB pictures `pic{i}.png` of the given (w, h) sizes in `folder`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (w, h) in enumerate(sizes):
        p = folder / f"pic{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths
