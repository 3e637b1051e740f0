"""File helpers shared by every package of the toolkit: atomic writes and the user cache folder.

Every file the toolkit writes goes through `atomic_open` (a temporary file in the target folder, flushed,
fsynced and renamed into place), so an interrupted run leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
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


#: The marker file every writing command leaves in its output folder (see `prepare_output_dir`)
OUTPUT_MARKER = ".yolo9000-output.json"


def _read_marker(folder: Path) -> dict | None:
    """The marker of `folder`, or None when it has none (or it is unreadable or not ours)."""
    try:
        data = json.loads((folder / OUTPUT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("tool") != "yolo9000" or not isinstance(data.get("files", []), list):
        return None
    return data


def _write_marker(folder: Path, doc: dict) -> None:
    write_text_atomic(folder / OUTPUT_MARKER, json.dumps(doc, indent=2, default=str) + "\n")


def _is_own_temp(name: str) -> bool:
    """A temporary file of `atomic_open` for the marker (left by a run killed while writing it)."""
    return name.startswith(f".{OUTPUT_MARKER}.") and name.endswith(".tmp")


def _check_inputs(path: Path, inputs: Iterable[str | Path | None], flag: str) -> None:
    """Refuse an output equal to an input, inside an input folder, or holding an input."""
    out = path.resolve()
    for given in inputs:
        if given is None or given == "":
            continue
        if not os.path.exists(given):
            continue  # not a path (free text), or missing: the command reports that itself
        inp = Path(given).resolve()
        if out == inp:
            raise ValueError(f"{flag} {path}: is the input {given}; write the results somewhere else")
        if inp in out.parents and inp.is_dir():
            raise ValueError(f"{flag} {path}: is inside the input folder {given}; write the results somewhere else")
        if out in inp.parents:
            raise ValueError(f"{flag} {path}: holds the input {given}; write the results somewhere else")


class OutputDir:
    """An output folder accepted by `prepare_output_dir`: `claim` a name before writing it."""

    def __init__(
        self,
        path: Path,
        command: str,
        settings: dict,
        files: Iterable[str],
        *,
        flag: str,
        save: bool,
        marked: bool = False,
        pattern: Callable[[str], bool] | None = None,
    ):
        self.path, self.command, self.settings, self.flag = path, command, settings, flag
        self.recorded = set(files)  # names the tool wrote here (from the marker), and those claimed since
        self.marked = marked  # the folder carries the marker of this command (or was adopted as one of its own)
        self.pattern = pattern  # names the command writes, by rule (with `marked`, such files are the tool's)
        self._save = save
        self._dirty = False

    def is_ours(self, name: str) -> bool:
        """True when `name` is free or a file the tool wrote (never a user's file)."""
        if name in self.recorded or not os.path.lexists(self.path / name):
            return True
        return self.marked and self.pattern is not None and self.pattern(name)

    def foreign(self) -> list[str]:
        """Every file under the folder (relative POSIX paths, sorted) that the tool did not write: what a
        command that replaces the whole folder would delete."""
        found = []
        if self.path.is_dir():
            for p in sorted(self.path.rglob("*")):
                rel = p.relative_to(self.path).as_posix()
                if p.is_dir() and not p.is_symlink():
                    continue
                if rel == OUTPUT_MARKER or _is_own_temp(rel) or self.is_ours(rel):
                    continue
                found.append(rel)
        return found

    def check_replace_all(self) -> None:
        """Refuse (one line, naming the first file) to replace a folder that holds a file the tool did not write."""
        foreign = self.foreign()
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise ValueError(
                f"{self.flag} {self.path}: {foreign[0]}{more} was not written by {self.command} and would be "
                f"deleted; move it away or choose another {self.flag} (--force replaces only what this tool wrote)"
            )

    def check(self, name: str) -> None:
        """A one-line ValueError when a file of the user's has the name `name`."""
        if not self.is_ours(name):
            raise ValueError(
                f"{self.flag} {self.path}: {name} was not written by {self.command} and would be overwritten; "
                f"move it away or choose another {self.flag} (--force replaces only files this tool wrote)"
            )

    def claim(self, name: str, *, flush: bool = True) -> Path:
        """The path of `name` in the folder, recorded in the marker (at once, or at the next `flush`);
        a ValueError when a file of the user's has that name."""
        self.check(name)
        if name not in self.recorded:
            self.recorded.add(name)
            self._dirty = True
        if flush:
            self.flush()
        return self.path / name

    def flush(self) -> None:
        """Write the marker (naming the command, its settings and the files claimed) when it changed."""
        if not self._save or not (self._dirty or not (self.path / OUTPUT_MARKER).exists()):
            return
        doc = {"tool": "yolo9000", "command": self.command, "settings": self.settings, "files": sorted(self.recorded)}
        _write_marker(self.path, doc)
        self._dirty = False


def prepare_output_dir(
    path: str | Path,
    *,
    command: str,
    settings: dict | None = None,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    owned: Iterable[str] | Callable[[str], bool] = (),
    flag: str = "--out",
    save: bool = True,
    adopt: Callable[[Path], bool] | None = None,
) -> OutputDir:
    """Check that a command may write into the folder `path`, create it and mark it; the one rule for outputs.

    The rule, for every command that writes a folder:

    - The folder must be new, empty, or carry the marker `.yolo9000-output.json` written by the same `command`
      (its name as the user types it, e.g. "yolo9000 detect"). Any other folder is refused unless `force`.
      `adopt(path)` may vouch for an unmarked folder as one of the command's own (outputs written before the
      marker existed: a run folder being resumed from its checkpoint, an emoji world's `world.json`); the names
      in `owned` found there then count as the tool's.
    - Even with `force`, a file is replaced only when the marker shows the tool wrote it: each name in `owned`
      (the files the command will write) that exists without being in the marker is refused, naming it, and so
      is any later `OutputDir.claim` of such a name. `owned` may instead be a test of relative paths (for
      outputs named by rule, such as an emoji world's pictures): in a folder marked by this command, files it
      accepts count as the tool's; `OutputDir.check_replace_all` refuses to replace a folder holding any other.
    - An output folder equal to an input, inside an input folder, or holding an input is refused (paths are
      resolved; `inputs` that do not exist are ignored), and so is a `path` that is an existing file.
    - Every file goes through the atomic writers of this module (temporary name, then rename).

    Errors are one-line ValueErrors naming `flag`, the folder and the problem. The marker is JSON:
    ``{"tool": "yolo9000", "command": ..., "settings": {...}, "files": [names written]}``; it is written at once
    unless `save` is false (a check before the slow part, or the other ranks of a distributed run)."""
    path = Path(path)
    settings = dict(settings or {})
    pattern = owned if callable(owned) else None
    names: list[str] = [] if callable(owned) else list(owned)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path}: is an existing file, not a folder")
    _check_inputs(path, inputs, flag)
    marker = _read_marker(path) if path.is_dir() else None
    adopted = marker is None and path.is_dir() and adopt is not None and adopt(path)
    if adopted:  # vouched for: the command's own file names in it are the tool's
        marker = {"tool": "yolo9000", "command": command, "settings": {}, "files": names}
    if path.is_dir() and not force:
        if marker is None and any(p.name != OUTPUT_MARKER and not _is_own_temp(p.name) for p in path.iterdir()):
            raise ValueError(
                f"{flag} {path}: folder is not empty and was not written by {command} (no {OUTPUT_MARKER}); "
                f"choose another {flag} or pass --force"
            )
        if marker is not None and marker.get("command") != command:
            raise ValueError(
                f"{flag} {path}: holds the output of {marker.get('command') or 'another command'}, not of "
                f"{command}; choose another {flag} or pass --force"
            )
    marked = marker is not None and marker.get("command") == command
    out = OutputDir(
        path, command, settings, (marker or {}).get("files", []), flag=flag, save=save, marked=marked, pattern=pattern
    )
    for name in names:
        out.check(name)  # raises, naming the file
    if save:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"{flag} {path}: cannot create the folder ({exc.strerror or exc})") from None
        for name in names:
            out.claim(name, flush=False)
        out._dirty = True  # the command and settings of this run
        out.flush()
    return out


class OutputFiles:
    """Single output files accepted by `prepare_output_files`; `record` them in their folders' markers once
    written (so that a later --force may replace them)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def record(self) -> None:
        """Name the files in the marker of their folder (created when missing), after they were written."""
        for folder in sorted({p.parent for p in self.paths}):
            marker = _read_marker(folder) or {"tool": "yolo9000", "command": None, "settings": {}, "files": []}
            old = set(marker.get("files") or [])
            names = old | {p.name for p in self.paths if p.parent == folder and p.is_file()}
            if names != old:
                marker["files"] = sorted(names)
                _write_marker(folder, marker)


def prepare_output_files(
    paths: Iterable[str | Path],
    *,
    command: str,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    flag: str = "--out",
) -> OutputFiles:
    """The rule of `prepare_output_dir` for commands that write single files into a user's folder (`convert`,
    `anchors --out`): an existing file is refused unless `force`, and even then unless the marker of its folder
    shows the tool wrote it; a path that is a folder or an input is refused. Call `record()` on the result
    after writing: it names the files in their folder's marker."""
    files = [Path(p) for p in paths]
    inputs = list(inputs)
    for p in files:
        if p.is_dir():
            raise ValueError(f"{flag} {p}: is an existing folder, not a file")
        _check_inputs(p, inputs, flag)
        if p.exists() or p.is_symlink():
            if not force:
                raise ValueError(f"{p}: already exists (use --force to overwrite)")
            if p.name not in ((_read_marker(p.parent) or {}).get("files") or []):
                raise ValueError(
                    f"{p}: already exists and was not written by {command}; --force replaces only files this "
                    f"tool wrote, so move it away or choose another {flag}"
                )
    return OutputFiles(files)
