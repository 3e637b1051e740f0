"""Defaults shared by the commands: the run folder of `yolo9000 train` with no options, and its checkpoint,
which `yolo9000 detect` and `yolo9000 eval` use when given no model."""

from __future__ import annotations

from pathlib import Path

DEFAULT_RUN_DIR = Path("runs/emoji")


def default_checkpoint() -> Path:
    """`DEFAULT_RUN_DIR/last.pt` (it may not exist)."""
    return DEFAULT_RUN_DIR / "last.pt"
