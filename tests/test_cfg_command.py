"""`yolo9000 cfg`: a template written as a cfg for a user's tree, which loads back and detects with that tree."""

from __future__ import annotations

import pytest
import tiny_data as td
import torch

from yolo9000.cli import main
from yolo9000.darknet.model import load_darknet


@pytest.fixture()
def tree_file(tmp_path):
    path = tmp_path / "trees" / "shop.json"
    path.parent.mkdir()
    td.make_tree().save(path)
    return path


def test_cfg_for_a_tree_loads_back(tree_file, tmp_path, capsys):
    out = tmp_path / "cfgs" / "my.cfg"
    argv = ["cfg", "--template", "tiny-yolo9000", "--tree", str(tree_file), "--size", "96", "-o", str(out)]
    assert main([*argv, "--anchors", "1", "1.5", "3", "2"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    tree = td.make_tree()
    text = out.read_text()
    assert text.startswith(f"# tree_fingerprint={tree.fingerprint}\n")
    assert "\ntree=../trees/shop.json\n" in text  # relative to the cfg's folder
    model = load_darknet(out, tree=tree_file)
    assert model.region is not None and model.region.classes == len(tree) and model.region.num == 2
    assert model.region.anchors.tolist() == [[1.0, 1.5], [3.0, 2.0]] and model.net["width"] == 96
    alone = load_darknet(out)  # the tree= line finds the tree from the cfg's folder
    assert alone.tree is not None and alone.tree.fingerprint == tree.fingerprint
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 96, 96)).shape == (1, 2 * (5 + len(tree)), 3, 3)


def test_cfg_never_overwrites_and_reports_one_line(tree_file, tmp_path, capsys):
    out = tmp_path / "my.cfg"
    out.write_text("mine\n")
    assert main(["cfg", "--template", "yolo9000", "--tree", str(tree_file), "-o", str(out)]) == 1
    assert out.read_text() == "mine\n"
    assert "already exists" in capsys.readouterr().err
    new = tmp_path / "new.cfg"
    cases = [
        (["--template", "yolo9000"], "the template has a tree head; pass --tree"),
        (["--template", "resnet"], "--template resnet: not a template name (darknet19, tiny-yolo, tiny-yolo9000"),
        (["--template", "yolov2", "--classes", "3", "--anchors", "1", "2", "3"], "--anchors needs w,h pairs"),
        (["--template", "yolov2", "--tree", str(tree_file), "--classes", "3"], "--classes 3: the tree"),
    ]
    for extra, message in cases:
        assert main(["cfg", *extra, "-o", str(new)]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not new.exists()


def test_flat_template_for_classes(tmp_path):
    out = tmp_path / "three.cfg"
    assert main(["cfg", "--template", "tiny-yolo", "--classes", "3", "--size", "64", "-o", str(out)]) == 0
    model = load_darknet(out)
    assert model.tree is None and model.region is not None and model.region.classes == 3
    assert "tree=" not in out.read_text()


def test_detect_with_the_written_cfg(tree_file, tmp_path):
    d = td.make_all(tmp_path / "data")
    cfg = tmp_path / "my.cfg"
    assert main(["cfg", "--template", "tiny-yolo9000", "--tree", str(tree_file), "--size", "64", "-o", str(cfg)]) == 0
    picture = sorted(d["images"].iterdir())[0]
    out = tmp_path / "det"
    argv = ["detect", "--cfg", str(cfg), "--tree", str(tree_file), "--quiet", "--no-images", "--no-summary"]
    assert main([*argv, "--out", str(out), str(picture)]) == 0
    assert (out / "detections.jsonl").is_file()
