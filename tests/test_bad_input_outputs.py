"""The output rule of every writing command (`wordtree.files.prepare_output_dir`): a user's files are never
overwritten or deleted, an output may not be or hold an input, and an interrupted checkpoint write leaves a run
that `--resume` continues."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tiny_data as td
import torch
import write_faults as wf

from wordtree.cli import main as wordtree_main
from wordtree.files import OUTPUT_MARKER
from yolo9000.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _train_args(data, out, *extra):
    return td.train_args(data, out, "--steps", "2", "--batch", "2", "--sizes", "64", "64", *extra)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Tiny data, a trained run (its last.pt) and a folder of the user's files."""
    root = tmp_path_factory.mktemp("outputs")
    data = td.make_all(root / "data")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    env = {**data, "root": root, "ckpt": root / "run" / "last.pt", "run": root / "run"}
    try:
        assert main(_train_args(data, root / "run")) == 0
        assert main(_commands(env, root / "evaluated")["eval"]) == 0
    finally:
        torch.set_num_threads(threads)
    return env


def _user_folder(path: Path) -> Path:
    """A folder of the user's, with names the commands would write."""
    path.mkdir(parents=True)
    names = (
        "index.html",
        "detections.jsonl",
        "config.yaml",
        "log.csv",
        "summary.json",
        "wordtree.json",
        "wordtree.cfg",
    )
    for name in names:
        (path / name).write_text(f"the user's {name}\n")
    (path / "cat.jpg").write_bytes(b"not really a picture")
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    if argv[0] == "build-wordtree":
        rc = wordtree_main(argv[1:])
    else:
        rc = main(argv)
    return rc, capsys.readouterr().err


def _commands(env, out: Path) -> dict[str, list[str]]:
    """One writing command per kind, writing to `out`."""
    return {
        "train": _train_args(env, out, "--steps", "1"),
        "detect": ["detect", str(env["images"]), "--checkpoint", str(env["ckpt"]), "--out", str(out), "--quiet"],
        "eval": [
            "eval",
            "--checkpoint",
            str(env["ckpt"]),
            "--coco",
            str(env["coco"]),
            "--out",
            str(out),
            "--no-plots",
            "--no-progress",
        ],
        "convert": ["convert", str(env["ckpt"]), "--to-darknet", "-o", str(out / "wordtree")],
        "anchors": ["anchors", "--coco", str(env["coco"]), "-k", "2", "--max-k", "0", "--out", str(out / "log.csv")],
        "emoji-world": ["emoji-world", str(out)],
        "build-wordtree": ["build-wordtree", "-q", "--wnids", str(env["root"] / "wnids.txt"), "-o", str(out)],
    }


def _other_pictures(user: Path) -> tuple[Path, Path]:
    """An input folder with `cat.png` and an output folder where only the user's `cat.jpg` lies: the annotated
    copy of cat.png would take its name."""
    from PIL import Image

    pics, out = user.parent / "pics", user.parent / "only"
    pics.mkdir()
    Image.new("RGB", (64, 48), (120, 30, 30)).save(pics / "cat.png")
    out.mkdir()
    (out / "cat.jpg").write_bytes(b"the user's cat")
    return pics, out


def _ran_detect(e, u) -> Path:
    """A folder `yolo9000 detect` wrote (marker and all)."""
    out = u.parent / "det"
    assert main(_commands(e, out)["detect"]) == 0
    return out


_TINY_WORLD = ["--detection", "2", "--classification-per-class", "1", "--test", "1", "--size", "64"]
_TINY_WORLD += ["--cls-size", "48", "--workers", "1", "--quiet"]


def _world_with_users_file(u: Path) -> Path:
    """A tiny emoji world (seed 0) into which the user put a file of their own."""
    from yolo9000.emoji.render import default_font_path

    if not default_font_path().is_file():
        pytest.skip("emoji font not installed")
    world = u.parent / "world"
    assert main(["emoji-world", str(world), *_TINY_WORLD]) == 0
    (world / "test" / "notes.txt").write_text("the user's notes")
    return world


def _rows():
    """(id, argv maker, expected exit code, regex on the one stderr line); `u` is a folder of the user's files
    (`_user_folder`), `e` the module's data and trained run."""
    R = []

    def row(rid, make, rc, rx):
        R.append(pytest.param(make, rc, rx, id=rid))

    for kind in ("train", "detect", "eval", "build-wordtree"):
        row(f"{kind}-user-folder", lambda e, u, k=kind: _commands(e, u)[k], 1, r"not empty and was not written by")
        row(
            f"{kind}-user-folder-force",
            lambda e, u, k=kind: _commands(e, u)[k] + ["--force"],
            1,
            r"(config\.yaml|detections\.jsonl|summary\.json|wordtree\.json) was not written by .* would be "
            r"overwritten",
        )
        row(
            f"{kind}-out-is-file",
            lambda e, u, k=kind: _commands(e, u / "cat.jpg")[k],
            1,
            r"cat\.jpg: is an existing file",
        )
    row(
        "eval-overwrite-is-force",
        lambda e, u: _commands(e, u)["eval"] + ["--overwrite"],
        1,
        r"summary\.json was not written by yolo9000 eval",
    )
    row(
        "emoji-world-user-folder",
        lambda e, u: _commands(e, u)["emoji-world"],
        1,
        r"not empty and is not an emoji world",
    )
    row(
        "emoji-world-user-folder-force",
        lambda e, u: _commands(e, u)["emoji-world"] + ["--force"],
        1,
        r"not empty and is not an emoji world",
    )
    row(
        "emoji-world-force-over-users-file",
        lambda e, u: ["emoji-world", str(_world_with_users_file(u)), "--seed", "1", "--force", *_TINY_WORLD],
        1,
        r"world: test/notes\.txt was not written by yolo9000 emoji-world and would be deleted",
    )
    row("emoji-world-out-is-file", lambda e, u: _commands(e, u / "cat.jpg")["emoji-world"], 1, r"is not a directory")
    row(
        "detect-out-is-input",
        lambda e, u: ["detect", str(e["images"]), "--checkpoint", str(e["ckpt"]), "--out", str(e["images"])],
        1,
        r"--out .*images: is the input",
    )
    row(
        "detect-out-inside-input",
        lambda e, u: ["detect", str(e["images"]), "--checkpoint", str(e["ckpt"]), "--out", str(e["images"] / "x")],
        1,
        r"is inside the input folder",
    )
    row(
        "detect-annotated-name-is-users",
        lambda e, u: (
            ["detect", str(_other_pictures(u)[0]), "--checkpoint", str(e["ckpt"]), "--quiet", "--force"]
            + ["--out", str(u.parent / "only")]
        ),
        1,
        r"only: cat\.jpg was not written by yolo9000 detect",
    )
    row(
        "detect-again-without-force",
        lambda e, u: _commands(e, _ran_detect(e, u))["detect"],
        1,
        r"already holds results \(detections\.jsonl\); use --force",
    )
    row(
        "detect-into-eval-output",
        lambda e, u: _commands(e, e["root"] / "evaluated")["detect"],
        1,
        r"holds the output of yolo9000 eval, not of yolo9000 detect",
    )
    row(
        "eval-out-holds-checkpoint",
        lambda e, u: _commands(e, e["run"])["eval"],
        1,
        r"holds the input .*last\.pt",
    )
    row("train-out-is-data", lambda e, u: _commands(e, e["folders"])["train"], 1, r"is the input")
    row("train-out-inside-data", lambda e, u: _commands(e, e["images"] / "run")["train"], 1, r"inside the input")
    row(
        "train-existing-run-without-resume",
        lambda e, u: _commands(e, e["run"])["train"],
        1,
        r"last\.pt exists; pass --resume",
    )
    row(
        "train-resume-user-run",
        lambda e, u: _commands(e, u)["train"] + ["--resume", str(e["ckpt"])],
        1,
        r"not empty and was not written",
    )
    row(
        "convert-user-file",
        lambda e, u: _commands(e, u)["convert"] + ["--force"],
        1,
        r"wordtree\.\w+: already exists and was not written",
    )
    row("convert-exists", lambda e, u: _commands(e, u)["convert"], 1, r"wordtree\.\w+: already exists \(use --force")
    row(
        "convert-onto-its-input",
        lambda e, u: ["convert", str(e["ckpt"]), str(e["ckpt"]), "-o", str(e["ckpt"]), "--force"],
        1,
        r"-o .*last\.pt: is the input",
    )
    row(
        "anchors-user-file",
        lambda e, u: _commands(e, u)["anchors"] + ["--force"],
        1,
        r"log\.csv: already exists and was not written",
    )
    row("anchors-exists", lambda e, u: _commands(e, u)["anchors"], 1, r"log\.csv: already exists \(use --force")
    row(
        "anchors-out-is-folder",
        lambda e, u: ["anchors", "--coco", str(e["coco"]), "--out", str(u)],
        1,
        r"is an existing folder",
    )
    row(
        "anchors-out-is-input",
        lambda e, u: ["anchors", "--coco", str(e["coco"]), "--out", str(e["coco"]), "--force"],
        1,
        r"annotations\.json: is the input",
    )
    return R


@pytest.fixture
def wnids(env):
    (env["root"] / "wnids.txt").write_text("n02084071\nn02121808\n")


@pytest.mark.parametrize("make, rc, rx", _rows())
def test_refused_with_one_line(env, tmp_path, capsys, make, rc, rx, wnids):
    user = _user_folder(tmp_path / "mine")
    argv = make(env, user)
    if argv[0] == "build-wordtree":
        pytest.importorskip("nltk")
    before = _digest(tmp_path), _digest(env["root"])  # the user's folders, the data and the trained run
    got, err = _run(argv, capsys)
    assert got == rc, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(rx, lines[0]), lines[0]
    assert (_digest(tmp_path), _digest(env["root"])) == before, "a refused command changed a file"


def test_nothing_the_user_had_changes(env, tmp_path, capsys, wnids):
    """Every writing command, with and without --force and with its output on an input, leaves a folder of the
    user's files exactly as it was; a new folder works and carries the marker."""
    user = _user_folder(tmp_path / "mine")
    before = _digest(user)
    data_before = _digest(env["root"] / "data")
    for kind, argv in _commands(env, user).items():
        for extra in ([], ["--force"]):
            rc, err = _run(argv + extra, capsys)
            assert rc != 0 and "Traceback" not in err, (kind, extra, err)
            assert _digest(user) == before, (kind, extra)
    # the output on an input folder (the user's own folder, and the data)
    for argv in (
        ["detect", str(user), "--checkpoint", str(env["ckpt"]), "--out", str(user), "--quiet"],
        ["detect", str(user), "--checkpoint", str(env["ckpt"]), "--out", str(user), "--quiet", "--force"],
        ["detect", str(env["images"]), "--checkpoint", str(env["ckpt"]), "--out", str(env["images"]), "--force"],
        _commands(env, env["images"])["eval"] + ["--force"],
        _commands(env, env["images"])["train"] + ["--force"],
        _commands(env, env["folders"])["train"] + ["--force"],
    ):
        rc, err = _run(argv, capsys)
        assert rc == 1 and "input" in err, err
    assert _digest(user) == before
    assert _digest(env["root"] / "data") == data_before
    # a tool-written folder may be written again with --force; the user's file in it survives
    out = tmp_path / "det"
    detect = _commands(env, out)["detect"]
    assert _run(detect, capsys)[0] == 0
    assert (out / OUTPUT_MARKER).is_file()
    (out / "mine.txt").write_text("keep me")
    assert _run(detect, capsys)[0] == 1  # already holds results
    assert _run(detect + ["--force"], capsys)[0] == 0
    assert (out / "mine.txt").read_text() == "keep me"


def test_resume_keeps_the_users_file_and_runs_without_marker(env, tmp_path, capsys):
    """`--resume` continues a run folder the tool wrote, even one from before the marker existed, and leaves a
    file the user put there alone."""
    import shutil

    run = tmp_path / "old-run"
    shutil.copytree(env["run"], run)
    (run / OUTPUT_MARKER).unlink()  # as written before the marker existed
    (run / "notes.txt").write_text("the user's notes")
    rc, err = _run(_train_args(env, run, "--steps", "3"), capsys)
    assert rc == 1 and "last.pt exists; pass --resume" in err or "not written by" in err, err
    rc, err = _run(["train", "--out", str(run), "--resume", "--steps", "3", "--no-progress"], capsys)
    assert rc == 0, err
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 3
    assert (run / "notes.txt").read_text() == "the user's notes"
    assert (run / OUTPUT_MARKER).is_file()


# `yolo9000 ...` in a child process whose torch.save writes half of the checkpoint of its KILL_CALL-th save into
# the file it is given, then interrupts itself: MODE=int sends SIGINT and lets the interrupt run its course;
# MODE=kill sends SIGINT and, while the interrupt is being handled, SIGKILL (nothing gets to clean up)
_DIE_IN_SAVE = """
import io, os, signal, sys, time
import torch
from yolo9000.cli import main

real_save, calls = torch.save, []


def save_half_then_die(obj, f, *a, **k):
    calls.append(1)
    if len(calls) < int(os.environ["KILL_CALL"]):
        return real_save(obj, f, *a, **k)
    buf = io.BytesIO()
    real_save(obj, buf, *a, **k)
    f.write(buf.getvalue()[: len(buf.getvalue()) // 2])  # half a checkpoint on disk
    f.flush()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)
    except KeyboardInterrupt:
        if os.environ["MODE"] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise


torch.save = save_half_then_die
sys.exit(main(sys.argv[1:]))
"""


def _run_dying(args, mode: str, kill_call: int):
    child_env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MODE": mode,
        "KILL_CALL": str(kill_call),
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return subprocess.run(
        [sys.executable, "-c", _DIE_IN_SAVE, *args], env=child_env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_interrupted_while_writing_a_checkpoint_then_resume(env, tmp_path):
    """SIGINT, then SIGKILL, in the middle of writing last.pt: the old last.pt stays whole (never half a file
    under its name) and `--resume` continues from it to the end."""
    out = tmp_path / "cut"
    args = _train_args(env, out, "--steps", "4", "--save-every", "2")
    # SIGINT while the step-4 checkpoint is half written: exit 130, the step-2 checkpoint intact, no temp file
    cut = _run_dying(args, "int", kill_call=2)
    assert cut.returncode == 130 and "interrupted" in cut.stderr, cut.stderr
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 2
    assert not list(out.glob(".last.pt*")), "an interrupted write left its temporary file"
    # resumed, then SIGKILL while handling a SIGINT in the middle of the write: the half file is a temp file only
    killed = _run_dying(["train", "--out", str(out), "--resume"], "kill", kill_call=1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 2
    assert main(["train", "--out", str(out), "--resume"]) == 0
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 4


# --- a write that fails: one line naming the file, the reason (sizes for a full disk) and what was kept --------


def _error_line(err: str, command: str) -> str:
    """The one line a failed command printed (no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "Errno" not in err, err
    assert lines[0].startswith(f"yolo9000 {command}: error: "), lines[0]
    return lines[0].removeprefix(f"yolo9000 {command}: error: ")


_FULL = r"cannot write: no space left on device \(needs [\d.]+ (KiB|MiB), [\d.]+ (bytes|KiB|MiB|GiB|TiB) free\)"


def _export(env, out: Path) -> list[str]:
    return ["export", "--checkpoint", str(env["ckpt"]), "-o", str(out)]


def test_export_to_a_full_disk(env, tmp_path, capsys):
    """A real 64 KiB tmpfs (root only): the ONNX does not fit."""
    with wf.tmpfs(tmp_path / "disk", 64 * 1024) as disk:
        rc, err = _run(_export(env, disk / "m.onnx"), capsys)
        assert rc == 1
        line = _error_line(err, "export")
        assert re.fullmatch(rf"{re.escape(str(disk / 'm.onnx'))}: {_FULL}; nothing was written", line), line
        assert os.listdir(disk) == []


def test_export_to_a_disk_that_fills_part_way(env, tmp_path, capsys, monkeypatch):
    """The same with a failing writer (anywhere): 1000 bytes fit, 2 KiB are free."""
    wf.fill_disk(monkeypatch, room=1000, free=2048)
    out = tmp_path / "m.onnx"
    rc, err = _run(_export(env, out), capsys)
    monkeypatch.undo()
    assert rc == 1
    line = _error_line(err, "export")
    assert re.fullmatch(
        rf"{re.escape(str(out))}: cannot write: no space left on device \(needs [\d.]+ KiB, 2\.0 KiB free\); "
        r"nothing was written",
        line,
    ), line
    assert os.listdir(tmp_path) == []


def test_export_into_a_read_only_folder(env, tmp_path, capsys):
    with wf.read_only_folder(tmp_path / "ro") as folder:
        rc, err = _run(_export(env, folder / "m.onnx"), capsys)
        assert rc == 1
        line = _error_line(err, "export")
        assert re.fullmatch(
            rf"{re.escape(str(folder / 'm.onnx'))}: cannot create it in {re.escape(str(folder))}: "
            r"(read-only file system|permission denied); nothing was written",
            line,
        ), line
        with pytest.raises(OSError, match="read-only file system|permission denied"):
            main(["-v", *_export(env, folder / "m.onnx")])  # -v: the error itself, with its traceback


def test_train_checkpoint_on_a_full_disk_keeps_the_previous(env, tmp_path, capsys):
    """A real tmpfs with room for one checkpoint but not two (the new one is written beside the old one): the
    step-2 save fails with torch's "unexpected pos"; train ends with the one line, the step-1 last.pt intact."""
    room = int(env["ckpt"].stat().st_size * 1.5) + 64 * 1024
    with wf.tmpfs(tmp_path / "disk", room) as disk:
        out = disk / "run"
        rc, err = _run(_train_args(env, out, "--save-every", "1"), capsys)
        assert rc == 1
        line = _error_line(err, "train")
        assert re.fullmatch(rf"{re.escape(str(out / 'last.pt'))}: {_FULL}; the previous last\.pt is unchanged", line)
        assert torch.load(out / "last.pt", weights_only=False)["step"] == 1
        assert not list(out.glob(".last.pt*")), "the failed write left its temporary file"


def test_train_checkpoint_on_a_disk_that_fills_part_way(env, tmp_path, capsys, monkeypatch):
    """The same with a failing writer (anywhere): the second checkpoint's torch.save hits a full disk half-way."""
    real_save, saves = torch.save, []

    def save_then_fill(obj, f, *args, **kwargs):
        if not hasattr(f, "fileno"):  # the checkpoint's size measured for the message
            return real_save(obj, f, *args, **kwargs)
        saves.append(1)
        if len(saves) < 2:
            return real_save(obj, f, *args, **kwargs)
        f.write(b"PK\x03\x04" + b"\0" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save_then_fill)
    out = tmp_path / "run"
    rc, err = _run(_train_args(env, out, "--save-every", "1"), capsys)
    monkeypatch.undo()
    assert rc == 1
    line = _error_line(err, "train")
    assert re.fullmatch(rf"{re.escape(str(out / 'last.pt'))}: {_FULL}; the previous last\.pt is unchanged", line)
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 1
    assert not list(out.glob(".last.pt*"))


@pytest.mark.parametrize("kind", ["detect", "eval"])
def test_detect_and_eval_on_a_full_disk(env, tmp_path, capsys, kind):
    """A real 16 KiB tmpfs: whichever file does not fit is named, with the reason; no traceback."""
    with wf.tmpfs(tmp_path / "disk", 16 * 1024) as disk:
        rc, err = _run(_commands(env, disk / "out")[kind], capsys)
        assert rc == 1
        line = _error_line(err, kind)
        assert re.fullmatch(
            rf"{re.escape(str(disk / 'out'))}/\S+: cannot write: no space left on device \(.*free\); "
            r"(nothing was written|the previous \S+ is unchanged)",
            line,
        ), line


def test_build_wordtree_into_a_read_only_folder(env, tmp_path, capsys, wnids):
    pytest.importorskip("nltk")
    with wf.read_only_folder(tmp_path / "ro") as folder:
        rc, err = _run(_commands(env, folder)["build-wordtree"], capsys)
        assert rc == 1
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert re.fullmatch(
            rf"build-wordtree: error: {re.escape(str(folder))}/\S+: cannot create it in {re.escape(str(folder))}: "
            r"(read-only file system|permission denied); nothing was written",
            lines[0],
        ), lines[0]
