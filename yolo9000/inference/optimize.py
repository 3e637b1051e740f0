"""Fast inference copies of a `DarknetModel` in PyTorch: batch norm folded, channels_last, low precision or
`torch.compile`, through public PyTorch APIs only. Faster fp32 on CPU comes from the runtimes
(`yolo9000.inference.backends`: ONNX Runtime, OpenVINO), which `--precision fast` picks."""

from __future__ import annotations

import copy

import torch

from yolo9000.darknet.model import DarknetModel


def optimize_for_inference(
    model: DarknetModel,
    dtype: torch.dtype | None = torch.bfloat16,
    channels_last: bool = True,
    fuse: bool = True,
    compile: bool = False,
) -> DarknetModel:
    """A copy of `model` for fast inference: BN folded into convs, channels_last, optional low precision and
    `torch.compile` (inductor with weight freezing; call it under `torch.inference_mode()`/`no_grad`).

    fp32 (`dtype=None`) keeps Darknet's decisions (drift ~4e-5, the rounding of the folded weights); bf16
    moves scores by ~1e-2, which flips decisions whose scores sit within ~1e-2 of the threshold or of an
    overlapping box's score (14 of Darknet's 15 yolov2 detections kept on the parity image). On CPU a batch
    runs its full-resolution layers image by image (`DarknetModel.per_image_bytes`), which keeps their maps in
    cache. `compile=True` compiles on the first call per input shape (seconds to minutes).
    See benchmarks/bench_forward.py for the measured speed of each path beside ONNX Runtime and OpenVINO.
    """
    fast = copy.deepcopy(model).eval()
    if fuse:
        fast.fuse()
    fast.set_inference_format(dtype, channels_last)
    if compile:
        fast.per_image_bytes = 0  # inductor plans the whole batch itself
        # compile forward only, so region_output()/classify() and attribute access keep working
        # an instance attribute shadowing the method (setattr: mypy forbids assigning to a method)
        setattr(fast, "forward", torch.compile(fast.forward, dynamic=False, options={"freezing": True}))
    return fast
