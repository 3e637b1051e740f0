"""Training data: COCO detection JSON, class folders, Darknet-style augmentation, the joint sampler."""

from yolo9000.data.augment import AugmentConfig, augment, distort_hsv, distort_hsv_batch, multiscale_sizes
from yolo9000.data.coco import CocoDetection, map_categories
from yolo9000.data.folders import ClassFolders
from yolo9000.data.image_io import DecodeError, read_image
from yolo9000.data.joint import CLS, DET, JointBatchSampler, JointDataset, SampleKey, collate

__all__ = [
    "AugmentConfig",
    "augment",
    "distort_hsv",
    "distort_hsv_batch",
    "multiscale_sizes",
    "CocoDetection",
    "map_categories",
    "ClassFolders",
    "DecodeError",
    "read_image",
    "JointBatchSampler",
    "JointDataset",
    "SampleKey",
    "collate",
    "DET",
    "CLS",
]
