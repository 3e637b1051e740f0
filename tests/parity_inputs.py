"""The inputs and the vendored Darknet measurements of the parity tests, so they run from a bare clone.

Darknet's reference run (tests/data/parity/README.md) used two inputs that are made, not stored:

* the 640x480 test picture: `draw_test_image()` draws it from its definition (ramps, a sine pattern and six
  flat shapes; below) and `write_test_image()` saves it as PNG (PNG bytes do not matter, only the pixels);
* seed-0 random weights for yolov2 (203,934,264 bytes): `write_darknet_weights()` walks a cfg's layers and
  writes a Darknet `.weights` file from `numpy.random.default_rng(seed)` in the documented draw order.

Both are pinned by digest (`TEST_IMAGE_RGB_SHA256`, `YOLOV2_SEED0_SHA256`): the digests of what Darknet was
given. The cfg is the project's own yolov2 template at 416 (`yolov2_cfg_text`), which has the same layers
as Darknet's yolov2.cfg (checked in test_parity_darknet.py where ../shared is present).

`DarknetReference.load()` reads the vendored measurements in tests/data/parity/; `reduce_darknet_outputs`
is how they were cut down from Darknet's full output files (and how a test re-checks them against those).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

PARITY_DATA = Path(__file__).resolve().parent / "data" / "parity"

TEST_IMAGE_SIZE = (640, 480)  # (width, height)
# sha256 of the test picture's raw RGB bytes (row-major H x W x 3 uint8), as Darknet decoded it
TEST_IMAGE_RGB_SHA256 = "85e92c4dcaa9f200929c0cb5d481adc87d4087ad7ca6e6e00661044e4e62f1a7"
# the seed-0 yolov2 .weights file Darknet's reference run loaded
YOLOV2_SEED0_BYTES = 203_934_264
YOLOV2_SEED0_SHA256 = "042ea9bf8540db0953c3af6badd86de8934e14c17b5fc2c3a297eb1bb625dbff"


def sha256_hex(data: bytes | np.ndarray) -> str:
    """sha256 of bytes, or of an array's C-order bytes (float arrays as little-endian float32)."""
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data, dtype="<f4" if data.dtype.kind == "f" else None).tobytes()
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


# --- the test picture -----------------------------------------------------------------------------------

RED, GREEN, BLUE, WHITE, DARK, YELLOW, BLACK = (
    (220, 30, 30),
    (30, 200, 60),
    (40, 60, 230),
    (245, 245, 245),
    (15, 15, 15),
    (255, 255, 0),
    (0, 0, 0),
)


def draw_test_image() -> np.ndarray:
    """The (480, 640, 3) uint8 test picture.

    Background, per pixel (x, y), each channel rounded half-to-even then clipped to 0..255:
    red rises linearly from 0 at x=0 to 255 at x=639, green likewise from y=0 to y=479, and blue is
    128 + 100 * sin(x / 23) * cos(y / 31) (no value lies within 1e-6 of a rounding tie, so the libm in use
    does not matter). Then, each painted over the previous ones, in this order:
    a red box x in [60, 220), y in [50, 170); a green disc of radius 80 around (420, 130), rim included;
    a blue triangle with corners (120, 420), (300, 420), (210, 260), edges included; a white ellipse
    around (470, 350) with half-axes 110 (x) and 60 (y), tested in floating point as
    (dx/110)^2 + (dy/60)^2 <= 1; a dark bar x in [330, 350), y in [220, 460); and in x in [540, 620),
    y in [20, 100) an 8-pixel checkerboard, yellow where floor(x/8) + floor(y/8) is even, black elsewhere.
    """
    width, height = TEST_IMAGE_SIZE
    cols = np.arange(width, dtype=np.float64)[None, :]  # x, as a row
    rows = np.arange(height, dtype=np.float64)[:, None]  # y, as a column
    xs = np.broadcast_to(cols, (height, width))
    ys = np.broadcast_to(rows, (height, width))

    planes = np.empty((height, width, 3), dtype=np.float64)
    planes[..., 0] = xs * 255.0 / (width - 1)
    planes[..., 1] = ys * 255.0 / (height - 1)
    planes[..., 2] = 128.0 + 100.0 * np.sin(xs / 23.0) * np.cos(ys / 31.0)
    img = np.clip(np.rint(planes), 0, 255).astype(np.uint8)

    def box(x0, x1, y0, y1):
        return (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)

    def turn(px, py, ax, ay, bx, by):
        """Twice the signed area of triangle (a, b, p): which side of the line a->b the point p is on."""
        return (bx - ax) * (py - ay) - (by - ay) * (px - ax)

    corners = ((120.0, 420.0), (300.0, 420.0), (210.0, 260.0))
    sides = [turn(xs, ys, *corners[i], *corners[(i + 1) % 3]) for i in range(3)]
    inside = np.all([s >= 0 for s in sides], axis=0) | np.all([s <= 0 for s in sides], axis=0)

    patch = box(540, 620, 20, 100)
    even = (np.floor_divide(xs, 8) + np.floor_divide(ys, 8)) % 2 == 0
    layers = [
        (box(60, 220, 50, 170), RED),
        ((xs - 420.0) ** 2 + (ys - 130.0) ** 2 <= 80.0**2, GREEN),
        (inside, BLUE),
        (((xs - 470.0) / 110.0) ** 2 + ((ys - 350.0) / 60.0) ** 2 <= 1.0, WHITE),
        (box(330, 350, 220, 460), DARK),
        (patch & even, YELLOW),
        (patch & ~even, BLACK),
    ]
    for mask, colour in layers:
        img[mask] = colour
    return img


def write_test_image(path: Path) -> Path:
    """Save `draw_test_image()` as an 8-bit RGB PNG at `path`."""
    from PIL import Image

    Image.fromarray(draw_test_image(), "RGB").save(path, format="PNG")
    return Path(path)


# --- seed-0 random Darknet weights -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConvSpec:
    """What a [convolutional] section stores in a .weights file."""

    filters: int
    in_channels: int
    size: int
    groups: int
    batch_normalize: bool
    feeds_detector: bool  # a conv without batch norm right before [region]/[yolo]/[detection]

    @property
    def fan_in(self) -> int:
        return self.in_channels // self.groups * self.size * self.size


def _sections(cfg_text: str) -> list[tuple[str, dict[str, str]]]:
    """(name, options) per `[section]`; comments (# ;) and blank lines dropped, blanks inside lines ignored."""
    out: list[tuple[str, dict[str, str]]] = []
    for raw in cfg_text.splitlines():
        line = "".join(raw.split())
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            out.append((line.strip("[]").lower(), {}))
        elif "=" in line:
            key, value = line.split("=", 1)
            out[-1][1][key] = value
    return out


_KEEPS_CHANNELS = {
    "maxpool", "max", "avgpool", "avg", "softmax", "soft", "dropout", "cost", "shortcut", "upsample",
    "region", "yolo", "detection", "logistic", "activation", "l2norm", "normalization", "lrn",
}  # fmt: skip
_DETECTORS = {"region", "yolo", "detection"}


def conv_specs(cfg_text: str) -> list[ConvSpec]:
    """The [convolutional] layers of a cfg in file order, with the channel count each one reads."""
    sections = _sections(cfg_text)
    if not sections or sections[0][0] not in ("net", "network"):
        raise ValueError("a cfg starts with [net]")
    channels = int(sections[0][1].get("channels", 3))
    produced: list[int] = []  # output channels of each layer so far
    specs: list[ConvSpec] = []
    last_conv_layer = None
    for i, (name, opts) in enumerate(sections[1:]):
        if name in ("convolutional", "conv"):
            spec = ConvSpec(
                filters=int(opts.get("filters", 1)),
                in_channels=channels,
                size=int(opts.get("size", 1)),
                groups=int(opts.get("groups", 1)),
                batch_normalize=bool(int(opts.get("batch_normalize", 0))),
                feeds_detector=False,
            )
            specs.append(spec)
            last_conv_layer = i
            channels = spec.filters
        elif name == "route":
            picked = [int(v) for v in opts["layers"].split(",")]
            channels = sum(produced[j if j >= 0 else i + j] for j in picked)
        elif name == "reorg":
            s = int(opts.get("stride", 1))
            channels = channels // (s * s) if int(opts.get("reverse", 0)) else channels * s * s
        elif name not in _KEEPS_CHANNELS:
            raise ValueError(f"layer {i}: no channel rule for [{name}]")
        if name in _DETECTORS and last_conv_layer == i - 1 and not specs[-1].batch_normalize:
            specs[-1] = replace(specs[-1], feeds_detector=True)
        produced.append(channels)
    return specs


def write_darknet_weights(cfg_text: str, path: Path, seed: int = 0, detector_gain: float = 1.0) -> Path:
    """A random Darknet .weights file for `cfg_text`: header 0.2.0 with a 64-bit `seen` of 0, then per conv
    in cfg order the float32 arrays Darknet reads, drawn in that same order from `default_rng(seed)`:

    bias ~ Normal(0, 0.1); with batch norm also scale ~ Uniform(0.8, 1.2), rolling mean ~ Normal(0, 0.1),
    rolling variance ~ Uniform(0.5, 1.5); then filters * fan_in weights ~ Normal(0, gain / sqrt(fan_in)),
    gain sqrt(2) (He) except `detector_gain` for the conv feeding the detection layer.
    """
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<3iq", 0, 2, 0, 0))
        for spec in conv_specs(cfg_text):
            n = spec.filters
            arrays = [rng.normal(0.0, 0.1, n)]
            if spec.batch_normalize:
                arrays += [rng.uniform(0.8, 1.2, n), rng.normal(0.0, 0.1, n), rng.uniform(0.5, 1.5, n)]
            gain = detector_gain if spec.feeds_detector else math.sqrt(2.0)
            arrays.append(rng.normal(0.0, gain / math.sqrt(spec.fan_in), n * spec.fan_in))
            for a in arrays:
                f.write(a.astype("<f4").tobytes())
    return Path(path)


def yolov2_cfg_text(size: int = 416) -> str:
    """The project's yolov2 template as `yolo9000.darknet.templates.yolov2` renders it (80 classes, 5 anchors)."""
    import torch

    from yolo9000.darknet import templates

    with torch.device("meta"):  # only the text is wanted: no 200 MB of parameters, no random draws
        return templates.yolov2(size=size).cfg_text


# --- Darknet's measurements, as vendored ------------------------------------------------------------------

ARRAYS_FILE = "darknet_yolov2_416.npz"
LAYERS_FILE = "yolov2_416_layers.json"
DETECTIONS_FILE = "yolov2_416_detections.json.gz"
DIGESTS_FILE = "digests.json"

# per-layer statistics the tests compare; Darknet's file also has sums, min, nan/inf counts and first8
LAYER_KEYS = ("index", "type", "shape_chw", "mean", "std", "max", "sample_idx", "sample_val")
# per detection; Darknet's file also repeats anchor/row/col (= index) and the top class
DETECTION_KEYS = ("index", "bbox_xywh", "objectness", "probs")


@dataclass
class DarknetReference:
    """Darknet's yolov2-at-416 run on the test picture (tests/data/parity/README.md)."""

    input: np.ndarray  # (3, 416, 416) float32: the letterboxed network input
    reorg_in: np.ndarray  # (64, 26, 26) float32: layer 26, the reorg layer's input
    region_output: np.ndarray  # (5, 85, 13, 13) float32: the activated [region] output
    reorg_out: dict  # {"shape": [256, 13, 13], "dtype": "float32", "sha256": ...}: layer 27, the reorg output
    digests: dict  # the same for every array above, as Darknet wrote them
    layers: list[dict]  # per-layer statistics, LAYER_KEYS
    detections: dict  # thresholds 0.25 and 0.005: every post-NMS detection, DETECTION_KEYS

    @classmethod
    def load(cls, folder: Path = PARITY_DATA) -> "DarknetReference":
        with np.load(folder / ARRAYS_FILE) as z:
            arrays = {k: z[k] for k in z.files}
        digests = json.loads((folder / DIGESTS_FILE).read_text())
        with gzip.open(folder / DETECTIONS_FILE, "rt", encoding="utf-8") as f:
            detections = json.load(f)
        return cls(
            input=arrays["input_letterbox_416"],
            reorg_in=arrays["reorg_in_layer26"],
            region_output=arrays["region_output"],
            reorg_out=digests["reorg_out_layer27"],
            digests=digests,
            layers=json.loads((folder / LAYERS_FILE).read_text())["layers"],
            detections=detections,
        )


def reduce_darknet_outputs(src: Path) -> dict:
    """Darknet's full output files in `src` (../shared/reference/darknet_outputs) cut down to what the tests
    read: {"arrays": {...}, "digests": {...}, "layers": {...}, "detections": {...}}."""
    reorg_out = np.load(src / "yolov2_416_reorg_out_layer27.npy")
    arrays = {
        "input_letterbox_416": np.load(src / "input_letterbox_416.npy"),
        "reorg_in_layer26": np.load(src / "yolov2_416_reorg_in_layer26.npy"),
        "region_output": np.load(src / "yolov2_416_region_output.npy"),
    }
    layers = json.loads((src / "yolov2_416_layers.json").read_text())
    layers["layers"] = [{k: s[k] for k in LAYER_KEYS} for s in layers["layers"]]
    detections = json.loads((src / "yolov2_416_detections.json").read_text())
    for run in detections["runs"]:
        run["detections"] = [{k: d[k] for k in DETECTION_KEYS} for d in run["detections"]]
    # sha256 of each array's float32 C-order bytes: layer 27 is vendored only as this digest
    digests = {
        k: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": sha256_hex(a)}
        for k, a in [*arrays.items(), ("reorg_out_layer27", reorg_out)]
    }
    return {"arrays": arrays, "digests": digests, "layers": layers, "detections": detections}


def write_reduced(reduced: dict, dest: Path) -> None:
    """Write `reduce_darknet_outputs`'s result as the files of tests/data/parity (README.md aside)."""
    dest.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest / ARRAYS_FILE, **reduced["arrays"])
    rows = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in reduced["digests"].items()]
    (dest / DIGESTS_FILE).write_text("{\n" + ",\n".join(rows) + "\n}\n")
    (dest / LAYERS_FILE).write_text(json.dumps(reduced["layers"], separators=(",", ":")) + "\n")
    text = json.dumps(reduced["detections"], separators=(",", ":")) + "\n"
    (dest / DETECTIONS_FILE).write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
