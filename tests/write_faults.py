"""Faults for the tests of failed writes: a real small tmpfs (full, or read-only) where the system allows
mounting one, and a failing writer (a disk that fills up part-way) that works anywhere."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@contextlib.contextmanager
def tmpfs(path: Path, size: int, *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size` bytes mounted on `path` (created) for the block, read-only if asked; the test is
    skipped where mounting is not permitted (not root, no CAP_SYS_ADMIN, not Linux)."""
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs Linux and mount(8)")
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={max(size, 4096)}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@contextlib.contextmanager
def read_only_folder(path: Path) -> Iterator[Path]:
    """A folder where no file can be created: chmod 0o555, or for root (who ignores permissions) a read-only
    tmpfs (the test is skipped where neither works)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    try:
        if not os.access(path, os.W_OK):
            yield path
            return
    finally:
        path.chmod(0o755)
    with tmpfs(path, 64 * 1024, read_only=True) as mounted:
        yield mounted


class FillingFile(io.FileIO):
    """A file on a disk with `room` bytes left: a write past it puts what fits on disk, then raises ENOSPC
    (as a real full disk does)."""

    def __init__(self, fd: int, room: int) -> None:
        super().__init__(fd, "w")
        self.room = room

    def write(self, data: Any) -> int:
        data = bytes(data)
        if len(data) > self.room:
            if self.room:
                super().write(data[: self.room])
                self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return super().write(data) or 0


def fill_disk(monkeypatch: pytest.MonkeyPatch, room: int, free: int) -> None:
    """Every file `wordtree.files.atomic_open` writes lies on a disk with `room` bytes left, and the disk
    reports `free` bytes free."""
    import wordtree.files

    monkeypatch.setattr(wordtree.files, "_raw_file", lambda fd: FillingFile(fd, room))
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10 * free, used=9 * free, free=free))
