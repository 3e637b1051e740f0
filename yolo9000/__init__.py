"""YOLO9000 detector: Darknet-compatible model, region head, joint loss, data, training, decoding."""

__version__ = "0.1.0"
