"""File helpers shared by every package of the toolkit: atomic writes and the user cache folder.

Every file the toolkit writes goes through `atomic_open` (a temporary file in the target folder, flushed,
fsynced and renamed into place), so an interrupted run leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

ENV_CACHE = "YOLO9000_CACHE"

#: File endings counted as pictures, in class folders and image inputs alike (lower case)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff")


def cache_dir() -> Path:
    """The user cache folder of this toolkit: `$YOLO9000_CACHE`, else `$XDG_CACHE_HOME/yolo9000`, else
    `~/.cache/yolo9000` (created on demand by the callers that write to it)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "yolo9000"


def _new_file_mode(path: Path) -> int:
    """The mode `open()` would give `path`: its current mode if it exists, else 0666 less the umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing (`mode` "w" text UTF-8 with \\n, or "wb"); on a clean
    exit it is flushed, fsynced, given normal permissions and renamed over `path`; on an error it is removed."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode == "w":
            fh: IO[Any] = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        else:
            fh = os.fdopen(fd, "wb")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode(path))  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (see `atomic_open`); returns the path."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (see `atomic_open`); returns the path."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)
