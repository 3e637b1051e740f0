"""The paper's math, no file I/O.

Region head, targets, target assignment, loss, decoding, NMS, box ops, anchors, letterbox.

Nothing here imports `yolo9000.darknet`, `data`, `training`, `inference`, `evaluation`, `emoji` or `commands`:
those build on this package (the Darknet model imports `yolo9000.detection.head`), never the other way round.
"""

from yolo9000.detection.anchors import kmeans_anchors
from yolo9000.detection.decode import DecodeOptions, decode
from yolo9000.detection.detection_model import DetectionModel, region_parts
from yolo9000.detection.detections import Detections
from yolo9000.detection.head import RegionConfig, RegionHead
from yolo9000.detection.letterbox import letterbox, letterbox_batch
from yolo9000.detection.loss import RegionLoss
from yolo9000.detection.nms import grouped_nms, tree_path_nms
from yolo9000.detection.targets import Targets

__all__ = [
    "DecodeOptions",
    "DetectionModel",
    "Detections",
    "RegionConfig",
    "RegionHead",
    "RegionLoss",
    "Targets",
    "decode",
    "grouped_nms",
    "kmeans_anchors",
    "letterbox",
    "letterbox_batch",
    "region_parts",
    "tree_path_nms",
]
