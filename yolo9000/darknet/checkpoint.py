"""Training checkpoints: written atomically (temp file + rename), enough to rebuild the model and resume exactly.

A checkpoint dict holds "model" (state_dict), "cfg_text", "tree" (JSON-able dict or None), "tree_fingerprint"
(`WordTree.fingerprint` or None), "names", "step", "seen", and for resuming "optimizer", "scheduler", "scaler",
"rng" (python, numpy, torch, cuda), "sampler", "config". Loading refuses model tensors holding NaN or inf and a
"tree_fingerprint" that is not its stored tree's;
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from wordtree.files import atomic_open
from wordtree.formats import tree_from_dict, tree_to_dict

CHECKPOINT_VERSION = 1


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DDP / torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = cast(nn.Module, model._orig_mod)  # torch.compile's wrapper; nn.Module types attributes loosely
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def rng_state() -> dict:
    """Every global RNG's state (python, numpy, torch CPU, CUDA when present)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore `rng_state()`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        except (RuntimeError, IndexError):  # fewer GPUs now than when saved: keep the current CUDA state
            pass


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temp file in the target folder, fsync, then rename over `path` (never half-written)."""
    path = Path(path)
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
    return path


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    optimizer=None,
    scheduler=None,
    scaler=None,
    step: int = 0,
    seen: int = 0,
    names: list[str] | None = None,
    config: dict | None = None,
    sampler: dict | None = None,
    extra: dict | None = None,
    with_rng: bool = True,
) -> Path:
    """Write a checkpoint atomically; `model` may be wrapped in DDP or torch.compile."""
    m = unwrap(model)
    tree = getattr(m, "tree", None)
    ckpt = {
        "version": CHECKPOINT_VERSION,
        "model": {k: v.detach().cpu() for k, v in m.state_dict().items()},
        "cfg_text": getattr(m, "cfg_text", None),
        "tree": tree_to_dict(tree) if tree is not None else None,
        "tree_fingerprint": tree.fingerprint if tree is not None else None,
        "names": list(names) if names is not None else (list(tree.names) if tree is not None else None),
        "step": int(step),
        "seen": int(seen),
        "config": config,
        "sampler": sampler,
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        ckpt["scheduler"] = scheduler.state_dict()
    if scaler is not None:
        ckpt["scaler"] = scaler.state_dict()
    if with_rng:
        ckpt["rng"] = rng_state()
    if extra:
        ckpt.update(extra)
    return atomic_save(ckpt, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict, with one-line errors for a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - truncated zip, pickle errors, ...
        raise ValueError(f"{p}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{p}: not a yolo9000 checkpoint (no 'model' entry)")
    check_finite(ckpt["model"], p)
    return ckpt


def check_finite(state: dict, path: str | Path) -> None:
    """Refuse a state dict holding NaN or inf, naming the first such tensor."""
    for name, value in state.items():
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = value[~torch.isfinite(value)].flatten()[0].item()
            raise ValueError(f"{path}: tensor {name} holds {bad} (NaN or inf); the checkpoint is unusable")


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the DarknetModel saved in a checkpoint (from its cfg text and tree) with its weights, in eval mode."""
    from yolo9000.darknet.model import DarknetModel

    ckpt = load_checkpoint(path)
    if not ckpt.get("cfg_text"):
        raise ValueError(f"{path}: checkpoint has no 'cfg_text' to rebuild the model from")
    tree = tree_from_dict(ckpt["tree"]) if ckpt.get("tree") else None
    stored = ckpt.get("tree_fingerprint")
    if stored is not None and (tree is None or str(stored) != tree.fingerprint):
        raise ValueError(
            f"{path}: the checkpoint records tree fingerprint {stored} but its stored tree has "
            f"{tree.fingerprint if tree is not None else 'none'}; the file was altered or mixed up"
        )
    model = DarknetModel.from_cfg_text(ckpt["cfg_text"], tree=tree, source=f"{path}:cfg_text")
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"{path}: weights do not fit the saved cfg ({first})") from None
    model.seen = int(ckpt.get("seen", 0))
    model.names = ckpt.get("names")
    return model.to(device).eval()
