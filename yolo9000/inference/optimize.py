"""Fast inference copies of a `DarknetModel`: batch norm folded, channels_last, low precision, oneDNN /
Winograd convolutions (`fused_conv`, `winograd`) or `torch.compile`."""

from __future__ import annotations

import copy

import torch

from yolo9000.darknet.model import DarknetModel
from yolo9000.inference.fused_conv import fuse_cpu_convs_


def optimize_for_inference(
    model: DarknetModel,
    dtype: torch.dtype | None = torch.bfloat16,
    channels_last: bool = True,
    fuse: bool = True,
    compile: bool = False,
    winograd: bool | int | str = False,
) -> DarknetModel:
    """A copy of `model` for fast inference: BN folded into convs, channels_last, optional low precision and
    `torch.compile` (inductor with weight freezing; call it under `torch.inference_mode()`/`no_grad`).

    In fp32 (`dtype=None`) on CPU the folded convs also get oneDNN weights reordered once with the activation
    fused (bit-identical to the unfused convs), and with `winograd` (True/"auto", 2 or 4) Winograd
    F(m x m, 3 x 3) for the layers where it measures faster (`yolo9000.inference.winograd.choose_tile`).

    On CPU a batch runs its full-resolution layers image by image (`per_image_bytes`), which keeps their maps
    in cache. Measured on yolov2 at 416 on a 2-core AMX CPU (benchmarks/bench_forward.py), time relative to
    lightnet at batch 1 / 8 and max drift of the region output from Darknet's: fp32 folded 0.51x / 0.56x,
    4e-5; + Winograd 0.45x / 0.39x, 3e-5, both with Darknet's detections; bf16 0.32x / 0.22x, 7e-2, which
    flips decisions whose scores sit within ~1e-2 of the threshold or of an overlapping box's score (14 of 15
    detections kept on the parity image).
    `compile=True` compiles on the first call per input shape (seconds to minutes).
    """
    fast = copy.deepcopy(model).eval()
    if fuse:
        fast.fuse()
    fast.set_inference_format(dtype, channels_last)
    if winograd and (compile or not fuse or dtype not in (None, torch.float32)):
        raise ValueError("winograd needs the fp32 folded model (dtype=None, fuse=True) and no compile")
    if fuse and dtype in (None, torch.float32) and not compile:  # inductor's freezing does its own fusion
        fuse_cpu_convs_(fast, winograd)
    if compile:
        fast.per_image_bytes = 0  # inductor plans the whole batch itself
        # compile forward only, so region_output()/classify() and attribute access keep working
        # an instance attribute shadowing the method (setattr: mypy forbids assigning to a method)
        setattr(fast, "forward", torch.compile(fast.forward, dynamic=False, options={"freezing": True}))
    return fast
