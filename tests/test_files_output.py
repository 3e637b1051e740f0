"""The output rule of `wordtree.files`: --force replaces an earlier run's whole output set (never a user's file),
and single output files leave nothing beside them."""

from __future__ import annotations

import json

import pytest

from wordtree.files import (
    OUTPUT_MARKER,
    WRITTEN_RECORD,
    plural,
    prepare_output_dir,
    prepare_output_files,
    read_output_marker,
    write_text_atomic,
)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """The record of single files lives in the user cache folder: one of the test's own."""
    monkeypatch.setenv("YOLO9000_CACHE", str(tmp_path / "cache"))


def _run(out, names, *, force=False, command="yolo9000 detect"):
    """A command writing `names` into `out` (each file's text: its name), finished as a command would."""
    folder = prepare_output_dir(out, command=command, force=force)
    for name in names:
        write_text_atomic(folder.claim(name, info={"of": name}), name)
    return folder.finish()


def test_force_removes_the_earlier_files_not_written_again(tmp_path):
    out = tmp_path / "out"
    assert _run(out, ["a.txt", "b.txt", "pics/c.jpg"]) == []
    (out / "mine.txt").write_text("the user's")  # never listed in the marker
    # without --force an earlier file stays (a run into its own folder adds to it)
    assert _run(out, ["a.txt"]) == []
    assert (out / "b.txt").is_file()
    removed = _run(out, ["a.txt", "d.txt"], force=True)
    assert removed == ["b.txt", "pics/c.jpg"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        OUTPUT_MARKER,
        "a.txt",
        "d.txt",
        "mine.txt",
    ]  # pics/ went with its last file; the user's file stays
    marker = read_output_marker(out)
    assert marker is not None and marker["command"] == "yolo9000 detect"
    assert marker["files"] == ["a.txt", "d.txt"] and set(marker["info"]) == {"a.txt", "d.txt"}


def test_force_never_removes_what_the_marker_does_not_name_inside_the_folder(tmp_path):
    out = tmp_path / "out"
    _run(out, ["a.txt"])
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    doc = json.loads((out / OUTPUT_MARKER).read_text())
    doc["files"] += ["../outside.txt", str(outside), "sub"]  # a hand-edited marker, and a folder
    (out / OUTPUT_MARKER).write_text(json.dumps(doc))
    (out / "sub").mkdir()
    (out / "sub" / "x.txt").write_text("in a listed folder")
    assert _run(out, ["b.txt"], force=True) == ["a.txt"]
    assert outside.read_text() == "keep" and (out / "sub" / "x.txt").is_file()


def test_a_folder_of_another_command_replaced_with_force(tmp_path):
    out = tmp_path / "out"
    _run(out, ["detections.jsonl"], command="yolo9000 detect")
    with pytest.raises(ValueError, match="holds the output of yolo9000 detect"):
        prepare_output_dir(out, command="yolo9000 eval", save=False)
    assert _run(out, ["summary.json"], force=True, command="yolo9000 eval") == ["detections.jsonl"]
    assert read_output_marker(out)["files"] == ["summary.json"]


def test_the_marker_always_names_its_command(tmp_path):
    with pytest.raises(ValueError, match="command"):
        prepare_output_dir(tmp_path / "out", command="")
    assert not (tmp_path / "out").exists()


def test_single_files_leave_no_marker_and_force_replaces_only_the_tools(tmp_path):
    out = tmp_path / "model.onnx"
    files = prepare_output_files([out], command="yolo9000 export", flag="-o")
    write_text_atomic(out, "first")
    files.record()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "model.onnx"]  # nothing beside it
    assert (tmp_path / "cache" / WRITTEN_RECORD).is_file()
    with pytest.raises(ValueError, match="already exists \\(use --force"):
        prepare_output_files([out], command="yolo9000 export")
    files = prepare_output_files([out], command="yolo9000 export", force=True)  # ours: allowed
    write_text_atomic(out, "second")
    files.record()
    # a user's file is refused even with --force, and so is ours once the user changed it
    user = tmp_path / "mine.onnx"
    user.write_text("the user's")
    with pytest.raises(ValueError, match="mine.onnx: already exists and was not written by yolo9000 export"):
        prepare_output_files([user], command="yolo9000 export", force=True)
    out.write_text("edited by the user")
    with pytest.raises(ValueError, match="or was changed since"):
        prepare_output_files([out], command="yolo9000 export", force=True)


def test_single_files_listed_by_an_older_marker_still_count_as_the_tools(tmp_path):
    (tmp_path / "old.cfg").write_text("written by an older version")
    doc = {"tool": "yolo9000", "command": None, "settings": {}, "files": ["old.cfg"]}
    (tmp_path / OUTPUT_MARKER).write_text(json.dumps(doc))
    prepare_output_files([tmp_path / "old.cfg"], command="yolo9000 cfg", force=True)


def test_plural():
    assert [plural(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert plural(1, "leaf", "leaves") == "1 leaf" and plural(3, "leaf", "leaves") == "3 leaves"
