"""YOLO9000 in PyTorch: a Darknet-compatible model, the region head and joint loss, decoding, training,
inference and evaluation over a WordTree (`wordtree`).

The names a user needs are here; they load on first use, so `import yolo9000` stays cheap:

    from yolo9000 import load_darknet, load_model, Detector, DecodeOptions, decode, Detections, RegionLoss
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "load_darknet": "yolo9000.darknet.model",
    "DarknetModel": "yolo9000.darknet.model",
    "load_model": "yolo9000.darknet.checkpoint",
    "decode": "yolo9000.detection.decode",
    "DecodeOptions": "yolo9000.detection.decode",
    "DetectionModel": "yolo9000.detection.detection_model",
    "Detections": "yolo9000.detection.detections",
    "RegionLoss": "yolo9000.detection.loss",
    "Detector": "yolo9000.inference.detector",
}

__all__ = [
    "DarknetModel",
    "DecodeOptions",
    "DetectionModel",
    "Detections",
    "Detector",
    "RegionLoss",
    "__version__",
    "decode",
    "load_darknet",
    "load_model",
]

if TYPE_CHECKING:
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.darknet.model import DarknetModel, load_darknet
    from yolo9000.detection.decode import DecodeOptions, decode
    from yolo9000.detection.detection_model import DetectionModel
    from yolo9000.detection.detections import Detections
    from yolo9000.detection.loss import RegionLoss
    from yolo9000.inference.detector import Detector


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'yolo9000' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
