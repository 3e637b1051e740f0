"""The paper's math, no file I/O.

Region head, targets, target assignment, loss, decoding, NMS, box ops, anchors, letterbox.
"""
