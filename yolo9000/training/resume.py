"""What a training run needs beyond the model to resume exactly: its random streams, the optimizer, schedule and
scaler state, the sampler position, and the plain model inside DDP / torch.compile wrappers.

A run's randomness is its own (`TrainingRng`): the global RNGs (python, numpy, torch CPU, CUDA) hold the run's
states only while the trainer builds its model or trains, and the caller's states are put back after it, so
constructing or running a `Trainer` never reseeds a library user's global RNGs. The states are written into each
checkpoint under "rng" and restored on resume.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from yolo9000.darknet.checkpoint import save_checkpoint
from yolo9000.darknet.model import DarknetModel

#: The global RNG states: "python", "numpy", "torch" (CPU) and, on CUDA, "cuda" (one per device)
RngState = dict[str, Any]


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DDP / torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = cast(nn.Module, model._orig_mod)  # torch.compile's wrapper; nn.Module types attributes loosely
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def unwrap_darknet(model: nn.Module) -> DarknetModel:
    """The `DarknetModel` inside DDP / torch.compile wrappers (a trainer's model is always one)."""
    base = unwrap(model)
    if not isinstance(base, DarknetModel):
        raise TypeError(f"expected a DarknetModel, got {type(base).__name__}")
    return base


def rng_state(cuda: bool | None = None) -> RngState:
    """Every global RNG's state (python, numpy, torch CPU; CUDA when `cuda`, default: when it is initialised)."""
    state: RngState = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if cuda is None:
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    if cuda:
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: RngState) -> None:
    """Restore `rng_state()`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        except (RuntimeError, IndexError):  # fewer GPUs now than when saved: keep the current CUDA state
            pass


class TrainingRng:
    """A training run's random streams, kept apart from the caller's global RNGs.

    Seeded from `seed` as a run always was (numpy's and torch's global generators, CUDA's too on a CUDA device),
    without touching the caller's states: `active()` puts the run's states into the global RNGs for its body
    (model initialisation, the loader's worker seeds, dropout) and the caller's back after it.
    """

    def __init__(self, seed: int, cuda: bool = False) -> None:
        self.cuda = cuda
        self._active = False
        outer = rng_state(cuda)
        try:
            np.random.seed(seed)
            torch.default_generator.manual_seed(seed)
            if cuda:
                torch.cuda.manual_seed_all(seed)
            self.state = rng_state(cuda)
        finally:
            set_rng_state(outer)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Run the body on the run's random streams; the caller's are put back after it (also on an error)."""
        if self._active:  # nested: already on the run's streams
            yield
            return
        outer = rng_state(self.cuda)
        set_rng_state(self.state)
        self._active = True
        try:
            yield
        finally:
            self._active = False
            self.state = rng_state(self.cuda)
            set_rng_state(outer)

    def snapshot(self) -> RngState:
        """The run's states now (what a checkpoint stores)."""
        return rng_state(self.cuda) if self._active else self.state

    def restore(self, saved: RngState | list[RngState], rank: int = 0) -> None:
        """Continue from a checkpoint's "rng" (one state, or one per rank)."""
        self.state = saved[rank] if isinstance(saved, list) else saved


def save_training_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    rng: RngState,
    sampler: dict[str, int],
    step: int,
    seen: int,
    names: list[str] | None,
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """A model checkpoint (`yolo9000.darknet.checkpoint.save_checkpoint`) of the plain model inside `model`'s
    wrappers, with what resuming needs: "optimizer", "scheduler", "scaler", "rng" and "sampler", and `extra`
    (the trainer's: the raw weights and EMA state when the saved model is the average, the best validation)."""
    resume = {
        **(extra or {}),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng,
        "sampler": sampler,
    }
    return save_checkpoint(path, unwrap_darknet(model), step=step, seen=seen, names=names, config=config, extra=resume)


def load_training_state(
    ckpt: dict[str, Any],
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    rng: TrainingRng,
    rank: int = 0,
) -> tuple[int, int]:
    """Put a checkpoint's resume state into the optimizer, schedule, scaler and run RNG; returns (step, seen)."""
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if "scaler" in ckpt:
        scaler.load_state_dict(ckpt["scaler"])
    if "rng" in ckpt:
        rng.restore(ckpt["rng"], rank)
    return int(ckpt["step"]), int(ckpt["seen"])
