"""`yolo9000 darknet check DIR` and the table of Darknet's published files (`yolo9000.darknet.published`);
`yolo9000 --version`."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from darknet_files import REFERENCE, skip_without_shared

from yolo9000.cli import COMMANDS, main
from yolo9000.darknet.published import PUBLISHED, TEXT_FILES, WEIGHTS_FILES, sha256_of

DARKNET = REFERENCE / "darknet"


def _weights_file(path: Path, values: int, header: int = 16) -> Path:
    """A sparse .weights file of `values` float32 after a Darknet header of `header` bytes (16: int32 seen)."""
    minor = 1 if header == 16 else 2
    with open(path, "wb") as fh:
        fh.write(struct.pack("<3i", 0, minor, 0))
        fh.write(struct.pack("<i" if header == 16 else "<Q", 0))
        fh.truncate(header + 4 * values)
    return path


def _run_json(capsys, folder: Path) -> dict:
    capsys.readouterr()
    assert main(["darknet", "check", str(folder), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_registered_and_version(capsys):
    assert "darknet" in COMMANDS
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("yolo9000 ") and len(out.split()) >= 2


def test_empty_folder_lists_every_file_and_where_to_get_it(tmp_path, capsys):
    doc = _run_json(capsys, tmp_path)
    assert doc["present"] == 0 and doc["published"] == 0
    by_name = {f["name"]: f for f in doc["files"]}
    assert set(by_name) == set(PUBLISHED)
    assert by_name["yolov2.cfg"]["upstream"] == "pjreddie/darknet: cfg/yolov2.cfg"
    assert by_name["9k.tree"]["upstream"] == "pjreddie/darknet: data/9k.tree"
    assert by_name["yolov2.weights"]["url"] == "https://pjreddie.com/media/files/yolov2.weights"
    assert by_name["yolov2.weights"]["size"] == 203_934_260  # Darknet's published file: 16-byte header
    assert by_name["darknet19_448.conv.23"]["size"] == 79_327_120
    assert all(f["status"] == "missing" for f in doc["files"])
    assert main(["darknet", "check", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "0 files present" in text and "get it from https://pjreddie.com/media/files/yolo9000.weights" in text


def test_weights_by_the_size_their_cfg_implies(tmp_path, capsys):
    table = {w.name: w for w in WEIGHTS_FILES}
    _weights_file(tmp_path / "yolov2.weights", table["yolov2.weights"].values)
    _weights_file(tmp_path / "darknet19_448.conv.23", table["darknet19_448.conv.23"].values, header=20)
    _weights_file(tmp_path / "yolo9000.weights", table["yolo9000.weights"].values - 1)  # one value short
    (tmp_path / "mine.cfg").write_text("[net]\n")
    doc = _run_json(capsys, tmp_path)
    by_name = {f["name"]: f for f in doc["files"]}
    assert by_name["yolov2.weights"]["status"] == "size matches"
    assert "size matches yolov2.cfg" in by_name["yolov2.weights"]["detail"]
    assert by_name["darknet19_448.conv.23"]["status"] == "size matches"  # a 20-byte header counts too
    assert by_name["yolo9000.weights"]["status"] == "differs"
    assert "yolo9000.cfg implies 195,230,020" in by_name["yolo9000.weights"]["detail"]
    assert by_name["mine.cfg"]["status"] == "digest not known"
    assert doc["present"] == 4 and doc["published"] == 2


def test_text_files_by_digest_also_in_a_darknet_checkout(tmp_path, capsys):
    skip_without_shared(DARKNET)
    (tmp_path / "cfg").mkdir()
    (tmp_path / "data").mkdir()
    shutil.copy(DARKNET / "yolov2.cfg", tmp_path / "cfg" / "yolov2.cfg")  # where a Darknet checkout has it
    shutil.copy(DARKNET / "9k.tree", tmp_path / "9k.tree")
    (tmp_path / "coco.names").write_text((DARKNET / "coco.names").read_text() + "extra\n")
    doc = _run_json(capsys, tmp_path)
    by_name = {f["name"]: f for f in doc["files"]}
    assert by_name["yolov2.cfg"]["status"] == "published"
    assert by_name["9k.tree"]["status"] == "published"
    assert by_name["coco.names"]["status"] == "differs"
    assert by_name["9k.names"]["status"] == "missing"


def test_bad_folder_is_one_line(tmp_path, capsys):
    assert main(["darknet", "check", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such folder" in err


def test_the_table_is_darknets_own_files():
    """Sizes and digests recomputed from Darknet's files (../shared/reference), and the value count of each
    weights file from its cfg, as the model builder reads it."""
    from yolo9000.darknet.model import load_darknet
    from yolo9000.darknet.weights import conv_layer_sizes, weight_count

    skip_without_shared(DARKNET)
    for known in TEXT_FILES:
        path = DARKNET / known.name
        assert path.stat().st_size == known.size, known.name
        assert sha256_of(path) == known.sha256, known.name
    counts: dict[str, int] = {}
    for known in WEIGHTS_FILES:
        if known.cfg not in counts:
            tree = DARKNET / "9k.tree" if known.cfg == "yolo9000.cfg" else None
            counts[known.cfg] = weight_count(load_darknet(DARKNET / known.cfg, tree=tree))
        if known.name.endswith(".conv.23"):  # `darknet partial ... 23`: the first 23 layers, 18 of them convs
            model = load_darknet(DARKNET / known.cfg)
            assert known.values == sum(conv_layer_sizes(model.conv_blocks()[:18]))
        else:
            assert known.values == counts[known.cfg], known.name


@pytest.mark.parametrize(
    ("name", "tree", "classes", "weights"),
    [("yolov2", None, None, "yolov2.weights"), ("tiny-yolo", None, 80, "yolov2-tiny.weights")],
)
def test_named_models_take_the_published_weights(name, tree, classes, weights):
    """`--cfg yolov2` holds as many values as yolov2.weights (and `tiny-yolo` sized for 80 classes as
    yolov2-tiny.weights): the named models load Darknet's published files."""
    from yolo9000.darknet.templates import model_from_template
    from yolo9000.darknet.weights import weight_count

    known = {w.name: w for w in WEIGHTS_FILES}[weights]
    assert weight_count(model_from_template(name, tree, classes=classes)) == known.values


def test_named_yolo9000_takes_the_published_weights():
    """`--cfg yolo9000 --tree 9k.tree` holds as many values as yolo9000.weights."""
    from yolo9000.darknet.templates import model_from_template
    from yolo9000.darknet.weights import weight_count

    tree = skip_without_shared(DARKNET / "9k.tree")
    known = {w.name: w for w in WEIGHTS_FILES}["yolo9000.weights"]
    assert weight_count(model_from_template("yolo9000", tree)) == known.values
