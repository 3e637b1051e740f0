"""Darknet compatibility: cfg parser, layers, the generic model, .weights I/O, checkpoints, shipped cfg templates."""

from yolo9000.darknet.model import DarknetModel, load_darknet
from yolo9000.darknet.weights import load_weights, read_weights_header, save_weights, weight_count

__all__ = ["DarknetModel", "load_darknet", "load_weights", "read_weights_header", "save_weights", "weight_count"]
