"""Where training runs: the device, the torchrun process group (NCCL on CUDA, gloo on CPU), AMP dtype, and a
digest to check that DDP replicas agree."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from yolo9000.training.resume import unwrap


@dataclass
class Dist:
    """Distributed context from torchrun's environment (world_size 1 without it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()


def setup_distributed(device: torch.device) -> Dist:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `--amp` on `device` (auto: bf16 on CUDA, none on CPU); None: full precision."""
    if amp == "auto":
        amp = "bf16" if device.type == "cuda" else "off"
    if amp == "off":
        return None
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"--amp must be auto, bf16, fp16 or off, got {amp!r}")
    if device.type != "cuda" and amp == "fp16":
        raise ValueError(f"--amp fp16 needs a CUDA device (this run uses {device}); bf16 works on CPU too")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def replica_digest(model: nn.Module) -> str:
    """A hash of every parameter and buffer (to check that DDP replicas agree)."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(unwrap(model).state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
