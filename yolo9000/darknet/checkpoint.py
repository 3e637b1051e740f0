"""Model checkpoints: written atomically (temp file + rename), enough to rebuild the model exactly.

A checkpoint dict holds "model" (state_dict), "cfg_text", "tree" (JSON-able dict or None), "tree_fingerprint"
(`WordTree.fingerprint` or None), "names", "step", "seen", "config", and whatever `extra` adds (a training run's
resume state: `yolo9000.training.resume`). Loading refuses model tensors holding NaN or inf and a
"tree_fingerprint" that is not its stored tree's.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from wordtree.files import atomic_open
from wordtree.formats import tree_from_dict, tree_to_dict
from yolo9000.darknet.model import DarknetModel

CHECKPOINT_VERSION = 1


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temp file in the target folder, fsync, then rename over `path` (never half-written)."""
    path = Path(path)
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
    return path


def save_checkpoint(
    path: str | Path,
    model: DarknetModel,
    *,
    step: int = 0,
    seen: int = 0,
    names: list[str] | None = None,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    with_rng: bool | None = None,
) -> Path:
    """Write a checkpoint of `model` (a plain `DarknetModel`, not a DDP or torch.compile wrapper) atomically.

    `extra` entries are stored beside the model's (a training run adds its optimizer, schedule and RNG state
    through `yolo9000.training.resume.save_training_checkpoint`). `with_rng` is deprecated and ignored (removed
    in the next release): a model checkpoint holds no RNG state.
    """
    if with_rng is not None:  # the RNG state belongs to a training run (yolo9000.training.resume)
        warnings.warn(
            "save_checkpoint(with_rng=...) is deprecated and ignored: a training run's RNG state is saved by "
            "yolo9000.training.resume.save_training_checkpoint",
            DeprecationWarning,
            stacklevel=2,
        )
    tree = model.tree
    ckpt: dict[str, Any] = {
        "version": CHECKPOINT_VERSION,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "cfg_text": model.cfg_text,
        "tree": tree_to_dict(tree) if tree is not None else None,
        "tree_fingerprint": tree.fingerprint if tree is not None else None,
        "names": list(names) if names is not None else (list(tree.names) if tree is not None else None),
        "step": int(step),
        "seen": int(seen),
        "config": config,
    }
    if extra:
        ckpt.update(extra)
    return atomic_save(ckpt, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
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


def check_finite(state: dict[str, Any], path: str | Path) -> None:
    """Refuse a state dict holding NaN or inf, naming the first such tensor."""
    for name, value in state.items():
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = value[~torch.isfinite(value)].flatten()[0].item()
            raise ValueError(f"{path}: tensor {name} holds {bad} (NaN or inf); the checkpoint is unusable")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> DarknetModel:
    """Rebuild the DarknetModel saved in a checkpoint (from its cfg text and tree) with its weights, in eval mode."""
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
