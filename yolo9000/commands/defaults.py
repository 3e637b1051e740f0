"""Defaults shared by the commands: the run folder of `yolo9000 train` with no options, and its checkpoint,
which `yolo9000 detect` and `yolo9000 eval` use when given no model; the numbered default output folders of
`detect` and `eval` (runs/detect, runs/detect2, ...)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_RUN_DIR = Path("runs/emoji")


def default_checkpoint() -> Path:
    """`DEFAULT_RUN_DIR/last.pt` (it may not exist)."""
    return DEFAULT_RUN_DIR / "last.pt"


def free_default_folder(base: Path) -> Path:
    """`base`, or the first of base2, base3, ... that is missing or an empty folder: a command run again with no
    --out writes beside its earlier output (and never into a folder holding anything of the user's)."""
    out, k = base, 1
    while out.is_file() or (out.is_dir() and any(out.iterdir())):
        k += 1
        out = base.with_name(f"{base.name}{k}")
    return out
