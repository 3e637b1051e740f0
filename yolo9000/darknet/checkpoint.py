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

from wordtree.files import WriteFailed, atomic_open, write_failed
from wordtree.formats import tree_from_dict, tree_to_dict
from yolo9000.darknet.model import DarknetModel

CHECKPOINT_VERSION = 1


class _ByteCounter:
    """A write-only file that keeps only the count of the bytes written to it."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing to flush."""


def _saved_size(obj: Any) -> int | None:
    """The size of `obj` saved by torch.save (serialized into a counter, not into memory); None if it fails."""
    counter = _ByteCounter()
    try:
        torch.save(obj, counter)  # type: ignore[arg-type]  # torch's stub wants a BinaryIO; write() suffices
    except Exception:  # noqa: BLE001 - the size is a courtesy of the error message
        return None
    return counter.count


def _oserror_under(exc: BaseException) -> OSError | None:
    """The OSError of the operating system that `exc` was raised over (torch reports a failed write of its
    zip writer as "[enforce fail at inline_container.cc] unexpected pos A vs B" over the OSError), if any."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno is not None:
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _short_write(exc: RuntimeError) -> bool:
    """torch's error for a file that took fewer bytes than it wrote (a full disk)."""
    text = str(exc)
    return "unexpected pos" in text or "inline_container" in text or "PytorchStreamWriter failed" in text


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temp file in the target folder, fsync, then rename over `path` (never half-written).

    A save that fails for a full disk or a read-only / forbidden folder raises `wordtree.files.WriteFailed`:
    one line naming `path`, the reason (for a full disk, the checkpoint's size and the space free) and what
    was kept (the previous file is unchanged)."""
    path = Path(path)
    try:
        with atomic_open(path, "wb") as f:
            torch.save(obj, f)
    except WriteFailed as exc:
        # failed when flushing after torch.save: only what reached the disk is known, measure the whole save
        size = _saved_size(obj) if exc.out_of_space and exc.at_least else None
        if size is None:
            raise
        raise write_failed(path, _oserror_under(exc.__cause__ or exc), needed=size) from exc.__cause__
    except RuntimeError as exc:
        cause = _oserror_under(exc)
        if cause is None and not _short_write(exc):
            raise
        raise write_failed(path, cause, needed=_saved_size(obj)) from exc
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
