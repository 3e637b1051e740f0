"""`wordtree.files`: a write that fails (a full disk, a read-only folder) raises `WriteFailed`, one line naming
the file, the reason (for a full disk, the bytes needed and free) and what was kept; the previous file is never
touched and no temporary file is left. The same for checkpoints (`yolo9000.darknet.checkpoint.atomic_save`,
whose torch.save reports a full disk as "[enforce fail at inline_container.cc] unexpected pos")."""

from __future__ import annotations

import errno
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import write_faults as wf
from PIL import Image

from wordtree.files import WriteFailed, atomic_open, write_bytes_atomic, write_text_atomic, writing
from yolo9000.cli import error_line
from yolo9000.darknet.checkpoint import atomic_save, load_checkpoint


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text and "Errno" not in text, text
    return text


def _no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")], "a failed write left its temp file"


# --- a failing writer: a disk that fills up part-way (anywhere) ------------------------------------------------


def test_bytes_on_a_full_disk_name_the_file_sizes_and_nothing_written(tmp_path, monkeypatch):
    wf.fill_disk(monkeypatch, room=300, free=512)
    target = tmp_path / "model.onnx"
    with pytest.raises(WriteFailed) as caught:
        write_bytes_atomic(target, b"x" * 1000)
    exc = caught.value
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC and exc.out_of_space
    assert (exc.needed, exc.free, exc.at_least) == (1000, 512, False)
    assert _one_line(exc) == (
        f"{target}: cannot write: no space left on device (needs 1000 bytes, 512 bytes free); nothing was written"
    )
    assert not target.exists()
    _no_temp_files(tmp_path)


def test_text_over_an_existing_file_keeps_it(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    target.write_text('{"old": 1}\n')
    wf.fill_disk(monkeypatch, room=10, free=2048)
    with pytest.raises(WriteFailed) as caught:
        write_text_atomic(target, '{"new": "' + "y" * 3000 + '"}\n')
    text = _one_line(caught.value)
    assert text.startswith(f"{target}: cannot write: no space left on device (needs 2.9 KiB, 2.0 KiB free)")
    assert text.endswith("; the previous summary.json is unchanged")
    assert target.read_text() == '{"old": 1}\n'
    _no_temp_files(tmp_path)


def test_a_stream_of_unknown_size_says_needs_more_than_what_fitted(tmp_path, monkeypatch):
    wf.fill_disk(monkeypatch, room=4096, free=100)
    target = tmp_path / "detections.jsonl"
    with pytest.raises(WriteFailed, match=r"needs more than 4\.0 KiB, 100 bytes free\); nothing was written$"):
        with atomic_open(target, "w") as fh:
            for _ in range(1000):
                fh.write("0123456789abcdef\n")
                fh.flush()
    _no_temp_files(tmp_path)


def test_an_oserror_that_is_no_failed_write_passes_unchanged(tmp_path):
    """A library's own OSError (PIL's "cannot write mode P as JPEG": no errno) and a missing input (another
    file's name) are not the target's write failures."""
    with pytest.raises(OSError, match="cannot write mode P") as caught:
        with atomic_open(tmp_path / "a.jpg", "wb"):
            raise OSError("cannot write mode P as JPEG")
    assert not isinstance(caught.value, WriteFailed)
    with pytest.raises(FileNotFoundError) as missing:
        with atomic_open(tmp_path / "b.txt", "w") as fh:
            fh.write((tmp_path / "no-such-input.txt").read_text())
    assert not isinstance(missing.value, WriteFailed)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_writing_turns_an_oserror_of_a_direct_writer_into_one_line(tmp_path):
    """`writing(path)` for writers that cannot go through atomic_open (appending a log, a library's saver)."""
    log = tmp_path / "log.csv"
    log.write_text("step,loss\n")
    with pytest.raises(WriteFailed) as caught:
        with writing(log, kept="the rows written before are kept"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert _one_line(caught.value) == f"{log}: cannot write: read-only file system; the rows written before are kept"
    with pytest.raises(OSError, match="no errno") as other:
        with writing(log):
            raise OSError("no errno")
    assert not isinstance(other.value, WriteFailed)


def test_the_cli_line_of_a_plain_oserror_names_the_file():
    assert error_line(PermissionError(errno.EACCES, "Permission denied", "/x/y")) == "/x/y: Permission denied"
    assert error_line(OSError(errno.ENOSPC, "No space left on device")) == "No space left on device"
    failed = WriteFailed("/x/last.pt", "read-only file system", code=errno.EROFS)
    assert error_line(failed) == str(failed) == "/x/last.pt: cannot write: read-only file system; nothing was written"
    assert error_line(ValueError("--size 30: not a multiple of 32")) == "--size 30: not a multiple of 32"


def _checkpoint(step: int, values: int = 20000) -> dict:
    return {"model": {"w": torch.full((values,), float(step))}, "step": step}


def _saved_size(obj: dict) -> int:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return len(buf.getvalue())


def test_checkpoint_on_a_disk_that_fills_part_way_keeps_the_previous(tmp_path, monkeypatch):
    """torch.save's writer fails on the full disk and torch raises "unexpected pos" over the OSError: one line
    with the checkpoint's whole size, and the previous last.pt loads as before."""
    path = tmp_path / "last.pt"
    atomic_save(_checkpoint(1), path)
    new = _checkpoint(2)
    wf.fill_disk(monkeypatch, room=5000, free=6000)
    with pytest.raises(WriteFailed) as caught:
        atomic_save(new, path)
    exc = caught.value
    assert exc.errno == errno.ENOSPC and exc.needed == _saved_size(new) and not exc.at_least
    text = _one_line(exc)
    assert "inline_container" not in text and "unexpected pos" not in text
    assert re.fullmatch(
        rf"{re.escape(str(path))}: cannot write: no space left on device \(needs [\d.]+ KiB, 5\.9 KiB free\); "
        r"the previous last\.pt is unchanged",
        text,
    ), text
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    _no_temp_files(tmp_path)


def test_checkpoint_whose_flush_fails_reports_its_whole_size(tmp_path, monkeypatch):
    """The disk fills at the final flush/fsync, after torch.save returned: the size is still the checkpoint's."""
    obj = _checkpoint(3)

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(WriteFailed) as caught:
        atomic_save(obj, tmp_path / "best.pt")
    assert caught.value.needed == _saved_size(obj) and not caught.value.at_least
    assert str(caught.value).endswith("; nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_torch_short_write_with_no_oserror_is_a_full_disk(tmp_path, monkeypatch):
    """torch can report the short write alone ("unexpected pos 425664 vs 425560", no OSError under it): with
    less free than the checkpoint needs, that is a full disk."""
    real_save = torch.save
    obj = _checkpoint(4)
    size = _saved_size(obj)

    def short_save(o: object, f: object, *args: object, **kwargs: object) -> None:
        if not hasattr(f, "fileno"):  # the size measured for the message
            return real_save(o, f, *args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 425664 vs 425560")

    monkeypatch.setattr(torch, "save", short_save)
    monkeypatch.setattr(wf.shutil, "disk_usage", lambda p: wf.SimpleNamespace(free=1000))
    with pytest.raises(WriteFailed) as caught:
        atomic_save(obj, tmp_path / "last.pt")
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.needed == size
    assert re.search(
        r": no space left on device \(needs [\d.]+ KiB, 1000 bytes free\); nothing was written$",
        _one_line(caught.value),
    )
    # any other error of torch.save is not a write failure
    monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("bad storage")))
    with pytest.raises(RuntimeError, match="bad storage"):
        atomic_save(obj, tmp_path / "last.pt")


# --- real filesystems: a small tmpfs, a read-only folder ------------------------------------------------------


def test_checkpoint_on_a_real_full_tmpfs(tmp_path):
    """torch's real "unexpected pos" on a full tmpfs becomes the one line; the previous checkpoint stays."""
    small, big = _checkpoint(1, values=2000), _checkpoint(2, values=40000)
    with wf.tmpfs(tmp_path / "disk", 64 * 1024) as disk:
        atomic_save(small, disk / "last.pt")
        with pytest.raises(WriteFailed) as caught:
            atomic_save(big, disk / "last.pt")
        text = _one_line(caught.value)
        assert caught.value.errno == errno.ENOSPC and caught.value.needed == _saved_size(big)
        assert text.startswith(f"{disk / 'last.pt'}: cannot write: no space left on device (needs ")
        assert re.search(r"needs [\d.]+ KiB, [\d.]+ KiB free\); the previous last\.pt is unchanged$", text), text
        assert caught.value.free is not None and caught.value.free < caught.value.needed
        assert load_checkpoint(disk / "last.pt")["step"] == 1
        _no_temp_files(disk)


def test_text_and_bytes_on_a_real_full_tmpfs(tmp_path):
    with wf.tmpfs(tmp_path / "disk", 16 * 1024) as disk:
        with pytest.raises(WriteFailed, match=r"needs 64\.0 KiB, [\d.]+ KiB free\); nothing was written$"):
            write_bytes_atomic(disk / "model.onnx", b"\0" * 65536)
        write_text_atomic(disk / "summary.json", "{}\n")
        with pytest.raises(WriteFailed, match=r"KiB free\); the previous summary.json is unchanged$"):
            write_text_atomic(disk / "summary.json", "[" + "1," * 20000 + "1]\n")
        assert (disk / "summary.json").read_text() == "{}\n"
        _no_temp_files(disk)


def test_read_only_folder(tmp_path):
    with wf.read_only_folder(tmp_path / "ro") as folder:
        with pytest.raises(WriteFailed) as caught:
            write_text_atomic(folder / "wordtree.json", "{}\n")
        text = _one_line(caught.value)
        assert caught.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
        assert text.startswith(f"{folder / 'wordtree.json'}: cannot create it in {folder}: ")
        assert text.split(": ")[-1].split(";")[0] in ("read-only file system", "permission denied")
        assert text.endswith("; nothing was written") and "needs" not in text
        with pytest.raises(WriteFailed, match=f"cannot create it in {folder / 'sub'}: "):
            atomic_save({"step": 1}, folder / "sub" / "last.pt")


def _noise_picture() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, size=(200, 200, 3), dtype=np.uint8))


def test_a_picture_on_a_real_full_tmpfs_is_no_silent_truncated_file(tmp_path):
    """PIL's encoders ignore a short write to a descriptor: a JPEG on a full disk used to replace the target
    with a truncated picture without a word. Through atomic_open every byte goes through write(): it fails."""
    picture = _noise_picture()
    with wf.tmpfs(tmp_path / "disk", 16 * 1024) as disk:
        with pytest.raises(WriteFailed, match=r"a\.jpg: cannot write: no space left on device .*nothing was written$"):
            with atomic_open(disk / "a.jpg", "wb") as fh:
                picture.save(fh, format="JPEG", quality=90)
        assert os.listdir(disk) == []


def test_a_picture_is_written_as_pil_writes_it(tmp_path):
    picture, buf = _noise_picture(), io.BytesIO()
    picture.save(buf, format="JPEG", quality=90)
    with atomic_open(tmp_path / "a.jpg", "wb") as fh:
        picture.save(fh, format="JPEG", quality=90)
    assert (tmp_path / "a.jpg").read_bytes() == buf.getvalue()
