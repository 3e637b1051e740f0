"""Inference: the detector, its inputs (images, folders, video), drawing, the file runner, fast inference, and
export to ONNX / OpenVINO with their runtimes as backends."""

from yolo9000.inference.backends import BACKENDS, RuntimeModel, best_backend, load_runtime_model, runtime_model
from yolo9000.inference.detector import PRECISIONS, Detector, load_detector_model
from yolo9000.inference.export import ModelInfo, export_onnx, export_openvino, read_info
from yolo9000.inference.optimize import optimize_for_inference
from yolo9000.inference.runner import Report, detect_files

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "Detector",
    "ModelInfo",
    "Report",
    "RuntimeModel",
    "best_backend",
    "detect_files",
    "export_onnx",
    "export_openvino",
    "load_detector_model",
    "load_runtime_model",
    "optimize_for_inference",
    "read_info",
    "runtime_model",
]
