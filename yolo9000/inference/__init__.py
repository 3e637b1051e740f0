"""Inference: the detector, its inputs (images, folders, video), drawing, the file runner, fast CPU inference."""

from yolo9000.inference.detector import PRECISIONS, Detector, load_detector_model
from yolo9000.inference.optimize import optimize_for_inference
from yolo9000.inference.runner import Report, detect_files

__all__ = ["PRECISIONS", "Detector", "Report", "detect_files", "load_detector_model", "optimize_for_inference"]
