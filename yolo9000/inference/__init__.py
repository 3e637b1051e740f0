"""Inference: the detector, its inputs (images, folders, video), drawing, fast CPU inference."""
