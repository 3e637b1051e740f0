"""File helpers shared by every package of the toolkit: atomic writes and the user cache folder.

Every file the toolkit writes goes through `atomic_open` (a temporary file in the target folder, flushed,
fsynced and renamed into place), so an interrupted run leaves the old file or the new one, never half of one.
A write that fails (a full disk, a read-only folder) raises `WriteFailed`, whose message is the one line the
commands print: the file, the reason (for a full disk, the bytes needed and free) and what was kept.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeGuard

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


#: Errors that mean the disk (or the user's quota, or the largest file allowed) is full
_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _size(n: int) -> str:
    """`n` bytes for a person: "512 bytes", "60.0 KiB", "1.2 GiB"."""
    if n < 1024:
        return f"{n} byte{'s' if n != 1 else ''}"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n` and `noun` in agreement: "1 image", "3 images", "0 images" (`many`: an irregular plural, e.g.
    plural(n, "leaf", "leaves"))."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"


def _free_bytes(folder: Path) -> int | None:
    """The bytes free to this user on the filesystem of `folder` (or of its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


class WriteFailed(OSError):
    """A file that could not be written: one line naming the file, the reason (for a full disk, how much was
    needed and how much is free) and what was kept. The writers of this module raise it in place of the
    OSError of a failed write (its `errno` is that error's); the command lines print it as it is.

    `needed` is the size of the file being written (None when unknown; `at_least` when only a lower bound is
    known), `free` the bytes free on its filesystem after the failed write was removed."""

    def __init__(
        self,
        path: str | Path,
        reason: str,
        *,
        code: int | None = None,
        folder: bool = False,
        needed: int | None = None,
        at_least: bool = False,
        free: int | None = None,
        kept: str | None = None,
    ) -> None:
        super().__init__(code, reason)
        self.path = Path(path)
        self.reason = reason
        self.folder = folder  # the folder refused the file (could not create it there)
        self.needed, self.at_least, self.free = needed, at_least, free
        if kept is None:
            kept = f"the previous {self.path.name} is unchanged" if self.path.exists() else "nothing was written"
        self.kept = kept

    @property
    def out_of_space(self) -> bool:
        """True when the filesystem (or quota) was full."""
        return self.errno in _SPACE_ERRNOS

    def __str__(self) -> str:
        head = f"cannot create it in {self.path.parent}" if self.folder else "cannot write"
        sizes = []
        if self.out_of_space and self.needed is not None:
            sizes.append(f"needs {'more than ' if self.at_least else ''}{_size(self.needed)}")
        if self.out_of_space and self.free is not None:
            sizes.append(f"{_size(self.free)} free")
        extra = f" ({', '.join(sizes)})" if sizes else ""
        return f"{self.path}: {head}: {self.reason}{extra}; {self.kept}"


def _reason(exc: OSError) -> str:
    """The strerror of `exc` as the middle of a sentence ("no space left on device")."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def write_failed(
    path: str | Path,
    exc: OSError | None,
    *,
    needed: int | None = None,
    at_least: bool = False,
    folder: bool = False,
    kept: str | None = None,
) -> WriteFailed:
    """The `WriteFailed` for `path` from the OSError `exc` of a failed write (None: a write cut short with no
    error given, as torch reports one; it counts as a full disk when less than `needed` is free).

    Call it after the partial file was removed: the free space and what was kept are measured now."""
    path = Path(path)
    if isinstance(exc, WriteFailed):
        return exc
    free = _free_bytes(path.parent)
    code = exc.errno if exc is not None else None
    if code is None and needed is not None and free is not None and free < needed:
        code = errno.ENOSPC  # torch reports a short write without its error: the disk was full
    if exc is not None:
        reason = _reason(exc)
    else:
        reason = "no space left on device" if code == errno.ENOSPC else "the write was cut short"
    return WriteFailed(path, reason, code=code, folder=folder, needed=needed, at_least=at_least, free=free, kept=kept)


def _is_write_error(exc: BaseException, *names: str) -> TypeGuard[OSError]:
    """An OSError of the operating system (errno set) on one of the files `names` (or on an open file: no name),
    not one a library raises for its own reasons (PIL's "cannot write mode P as JPEG" has no errno)."""
    if not isinstance(exc, OSError) or exc.errno is None:
        return False
    return exc.filename is None or os.fspath(exc.filename) in names


@contextlib.contextmanager
def writing(path: str | Path, *, needed: int | None = None, kept: str | None = None) -> Iterator[None]:
    """Turn an OSError of the operating system raised in the block into the `WriteFailed` of `path`: for
    writers that cannot go through `atomic_open` (appending a log, a library writing its own files). `kept`
    says what is left on a failure (default: "the previous NAME is unchanged" or "nothing was written")."""
    path = Path(path)
    try:
        yield
    except WriteFailed:
        raise
    except OSError as exc:
        if exc.errno is None:
            raise
        raise write_failed(path, exc, needed=needed, kept=kept) from exc


def _raw_file(fd: int) -> io.FileIO:
    """The unbuffered file of the descriptor `fd` (a seam for the tests' full disk)."""
    return io.FileIO(fd, "w")


class _Writer(io.BufferedWriter):
    """A buffered writer that hides its descriptor (`fileno` is unsupported), so that every byte goes through
    `write`, where a full disk raises: libraries that write to a descriptor themselves ignore a short write
    (PIL's encoders leave a truncated picture on a full disk without a word)."""

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno: write through write() (wordtree.files.atomic_open)")


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, size: int | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing (`mode` "w" text UTF-8 with \\n, or "wb"); on a clean
    exit it is flushed, fsynced, given normal permissions and renamed over `path`; on an error it is removed.

    A write that fails (a full disk, a read-only or forbidden folder) raises `WriteFailed`: one line naming
    `path`, the reason (with the bytes needed, `size` when given, and free for a full disk) and what was kept
    (the previous file is never touched)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_failed(path, exc, needed=size, folder=True) from exc
    written = 0
    try:
        raw = _raw_file(fd)
        binary = _Writer(raw)
        fh: IO[Any] = binary if mode == "wb" else io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
        with fh:
            yield fh
            fh.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, _new_file_mode(path))  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            with contextlib.suppress(OSError):
                written = os.path.getsize(tmp)
            with contextlib.suppress(OSError):  # the error of the write is the one to report
                os.unlink(tmp)
        if _is_write_error(exc, tmp, str(path)):
            at_least = size is None  # only what reached the disk is known
            raise write_failed(
                path, exc, needed=size if size is not None else written or None, at_least=at_least
            ) from exc
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (see `atomic_open`; a failed write raises `WriteFailed`); returns the
    path."""
    with atomic_open(path, "w", size=len(text.encode("utf-8"))) as fh:
        fh.write(text)
    return Path(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (see `atomic_open`; a failed write raises `WriteFailed`); returns the
    path."""
    with atomic_open(path, "wb", size=len(data)) as fh:
        fh.write(data)
    return Path(path)


#: The marker file every writing command leaves in its output folder (see `prepare_output_dir`)
OUTPUT_MARKER = ".yolo9000-output.json"


def read_output_marker(folder: str | Path) -> dict[str, Any] | None:
    """The marker of `folder` (``{"tool": "yolo9000", "command", "settings", "files", "info"?}``), or None when
    it has none (or it is unreadable or not ours)."""
    try:
        data = json.loads((Path(folder) / OUTPUT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("tool") != "yolo9000" or not isinstance(data.get("files", []), list):
        return None
    if not isinstance(data.get("info", {}), dict):
        data["info"] = {}
    return data


_read_marker = read_output_marker


def _write_marker(folder: Path, doc: dict[str, Any]) -> None:
    write_text_atomic(folder / OUTPUT_MARKER, json.dumps(doc, indent=2, default=str) + "\n")


def _is_own_temp(name: str) -> bool:
    """A temporary file of `atomic_open` for the marker (left by a run killed while writing it)."""
    return name.startswith(f".{OUTPUT_MARKER}.") and name.endswith(".tmp")


def _inside(name: str) -> bool:
    """True for a marker entry that names a path inside its folder (relative, no ".."), not the marker itself:
    the only entries a command may remove."""
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts and name != OUTPUT_MARKER


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
    """An output folder accepted by `prepare_output_dir`: `claim` a name before writing it, and `finish` once
    the command's files are written (with --force it removes the earlier run's files not written again)."""

    def __init__(
        self,
        path: Path,
        command: str,
        settings: dict[str, Any],
        files: Iterable[str],
        *,
        flag: str,
        save: bool,
        marked: bool = False,
        pattern: Callable[[str], bool] | None = None,
        force: bool = False,
        info: dict[str, Any] | None = None,
    ) -> None:
        if not command:
            raise ValueError("an output folder needs the name of the command that writes it")
        self.path, self.command, self.settings, self.flag = path, command, settings, flag
        self.recorded = set(files)  # names the tool wrote here (from the marker), and those claimed since
        self.previous = frozenset(self.recorded)  # the earlier output set, as the marker listed it
        self.claimed: set[str] = set()  # names this run claimed
        self.info: dict[str, Any] = {k: v for k, v in (info or {}).items() if k in self.recorded}
        self.marked = marked  # the folder carries the marker of this command (or was adopted as one of its own)
        self.pattern = pattern  # names the command writes, by rule (with `marked`, such files are the tool's)
        self.force = force
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

    def claim(self, name: str, *, flush: bool = True, info: dict[str, Any] | None = None) -> Path:
        """The path of `name` in the folder, recorded in the marker (at once, or at the next `flush`);
        a ValueError when a file of the user's has that name. `info` (JSON) is kept in the marker under the
        name (e.g. the tree a label map was made for, which `wordtree check` compares)."""
        self.check(name)
        if name not in self.recorded:
            self.recorded.add(name)
            self._dirty = True
        if name not in self.claimed:
            self.claimed.add(name)
            if self.info.pop(name, None) is not None:  # said of the earlier run's file
                self._dirty = True
        if info is not None and self.info.get(name) != info:
            self.info[name] = dict(info)
            self._dirty = True
        if flush:
            self.flush()
        return self.path / name

    def stale(self, keep: Iterable[str] = ()) -> list[str]:
        """The files of the earlier output set (the marker's list when the folder was prepared) that this run
        has not claimed, nor names in `keep`, and that are still there (sorted; folders are never listed)."""
        kept = set(keep) | self.claimed
        return sorted(
            n
            for n in self.previous - kept
            if _inside(n) and os.path.lexists(self.path / n) and not (self.path / n).is_dir()
        )

    def finish(self, *, remove: bool | None = None) -> list[str]:
        """End the command's writing: with `remove` (default: the `force` the folder was prepared with) the
        files of the earlier output set that this run did not write again are deleted, so the folder holds one
        run's output (a map of an earlier tree never stays beside a new one). Only names the marker listed are
        touched, never a user's file; folders left empty by it are removed. Returns the removed names."""
        removed: list[str] = []
        if not self._save or not (self.force if remove is None else remove):
            self.flush()
            return removed
        for name in self.stale():
            target = self.path / name
            with writing(target, kept=f"{name} of the earlier run is kept"):
                target.unlink()
            removed.append(name)
            self.recorded.discard(name)
            self.info.pop(name, None)
            self._dirty = True
            for parent in target.parents:  # folders it leaves empty, up to the output folder
                if parent == self.path or self.path not in parent.parents:
                    break
                with contextlib.suppress(OSError):  # not empty: kept
                    parent.rmdir()
        self.flush()
        return removed

    def flush(self) -> None:
        """Write the marker (naming the command, its settings and the files claimed) when it changed."""
        if not self._save or not (self._dirty or not (self.path / OUTPUT_MARKER).exists()):
            return
        doc: dict[str, Any] = {
            "tool": "yolo9000",
            "command": self.command,
            "settings": self.settings,
            "files": sorted(self.recorded),
        }
        info = {k: self.info[k] for k in sorted(self.info) if k in self.recorded}
        if info:
            doc["info"] = info
        _write_marker(self.path, doc)
        self._dirty = False


def prepare_output_dir(
    path: str | Path,
    *,
    command: str,
    settings: dict[str, Any] | None = None,
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
    - `force` replaces the earlier output set as a whole: `OutputDir.finish()`, called once the command's files
      are written, deletes the files the marker listed that this run did not write again (never a file the
      marker does not list).
    - An output folder equal to an input, inside an input folder, or holding an input is refused (paths are
      resolved; `inputs` that do not exist are ignored), and so is a `path` that is an existing file.
    - Every file goes through the atomic writers of this module (temporary name, then rename).

    Errors are one-line ValueErrors naming `flag`, the folder and the problem. The marker is JSON:
    ``{"tool": "yolo9000", "command": ..., "settings": {...}, "files": [names written], "info": {name: ...}}``
    ("info" only when a claim gave some); it is written at once unless `save` is false (a check before the slow
    part, or the other ranks of a distributed run)."""
    if not command:
        raise ValueError("prepare_output_dir: `command` names the command that writes the folder")
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
        path,
        command,
        settings,
        [str(n) for n in (marker or {}).get("files", [])],
        flag=flag,
        save=save,
        marked=marked,
        pattern=pattern,
        force=force,
        info=(marker or {}).get("info"),
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


#: Single files the tool wrote into users' folders, kept in the user's cache folder (`cache_dir()`), never
#: beside them: a later --force replaces such a file only while it is unchanged since the tool wrote it.
WRITTEN_RECORD = "written-files.json"
_RECORD_LIMIT = 2000  # entries kept (the most recent); a forgotten file is refused, never lost


def _record_key(path: Path) -> str:
    """The record's key of `path`: its absolute path through a resolved folder (the file itself not followed)."""
    return str(path.parent.resolve() / path.name)


def _stamp(path: Path) -> dict[str, int] | None:
    """What identifies the file at `path` as written (inode, size, modification time), or None if absent."""
    try:
        st = path.lstat()
    except OSError:
        return None
    return {"inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_record() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((cache_dir() / WRITTEN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}


def _wrote(path: Path) -> bool:
    """True when the record shows the tool wrote the file at `path` and nothing changed it since."""
    entry = _read_record().get(_record_key(path))
    stamp = _stamp(path)
    return entry is not None and stamp is not None and all(entry.get(k) == v for k, v in stamp.items())


class OutputFiles:
    """Single output files accepted by `prepare_output_files`; `record` them once written (so that a later
    --force may replace them). Nothing is written beside them: the record lives in the user's cache folder."""

    def __init__(self, paths: list[Path], command: str = "yolo9000") -> None:
        self.paths = paths
        self.command = command

    def record(self) -> None:
        """Remember the files (written by now) as the tool's. A cache that cannot be written is no error:
        a later --force is then refused for these files, which is the safe side."""
        record = _read_record()
        for p in self.paths:
            stamp = _stamp(p)
            if stamp is not None and p.is_file():
                key = _record_key(p)
                record.pop(key, None)  # re-inserted last: the newest entries are the ones kept
                record[key] = {**stamp, "command": self.command}
        kept = {
            k: v for k, v in record.items() if _stamp(Path(k)) == {f: v.get(f) for f in ("inode", "size", "mtime_ns")}
        }
        items = list(kept.items())[-_RECORD_LIMIT:]
        with contextlib.suppress(OSError):
            write_text_atomic(cache_dir() / WRITTEN_RECORD, json.dumps({"files": dict(items)}, indent=1) + "\n")


def prepare_output_files(
    paths: Iterable[str | Path],
    *,
    command: str,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    flag: str = "--out",
) -> OutputFiles:
    """The rule of `prepare_output_dir` for commands that write single files into a user's folder (`convert`,
    `anchors --out`, `export -o`, `cfg -o`): an existing file is refused unless `force`, and even then unless
    the tool wrote it (as `OutputFiles.record` remembered, in the user's cache folder) and it is unchanged
    since, or the marker of an output folder lists it; a path that is a folder or an input is refused. Nothing
    but the files themselves is written into the user's folder. Write each file atomically, then call
    `record()` on the result."""
    files = [Path(p) for p in paths]
    inputs = list(inputs)
    for p in files:
        if p.is_dir():
            raise ValueError(f"{flag} {p}: is an existing folder, not a file")
        _check_inputs(p, inputs, flag)
        if p.exists() or p.is_symlink():
            if not force:
                raise ValueError(f"{p}: already exists (use --force to overwrite)")
            if not _wrote(p) and p.name not in ((_read_marker(p.parent) or {}).get("files") or []):
                raise ValueError(
                    f"{p}: already exists and was not written by {command} (or was changed since); --force "
                    f"replaces only files this tool wrote, so move it away or choose another {flag}"
                )
    return OutputFiles(files, command)
