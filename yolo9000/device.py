"""Where a model runs: one reading of `--device` for every command (training, inference, evaluation)."""

from __future__ import annotations

import torch


def resolve_device(name: str | None = "auto", local_rank: int = 0) -> torch.device:
    """'auto' or None (this rank's CUDA device when CUDA is there, else the CPU), 'cpu', 'cuda', 'cuda:N'.

    A CUDA device without an index is `cuda:local_rank` (the torchrun rank on this node); a CUDA request on a
    machine without CUDA, or a name torch does not know, is a one-line error."""
    if name is None or name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: unknown device (use cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {name}: CUDA is not available on this machine")
        if dev.index is None:
            dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    return dev
