"""The emoji world in every format (`emoji-world --formats`) trains on the same targets as its COCO + class folders:
the trainer's own datasets, picture by picture (same boxes to 1e-6, same nodes, same classification-only pictures);
`data check --json` counts each format as the COCO files count the same pictures; `data convert` round-trips
coco -> darknet -> coco; and each format trains and evaluates from the command line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from yolo9000.emoji.render import DEFAULT_FONT, default_font_path

pytestmark = pytest.mark.skipif(
    not default_font_path().is_file(),
    reason=f"emoji font not installed ({DEFAULT_FONT}; Debian package fonts-noto-color-emoji)",
)

TINY = ["--detection", "10", "--classification-per-class", "2", "--test", "6", "--size", "96", "--cls-size", "64"]
TINY += ["--seed", "3", "--workers", "1", "--quiet"]
QUICK = ["--cfg", "emoji-tiny", "--steps", "1", "--batch", "4", "--subdivisions", "1", "--size", "64", "--workers", "0"]
QUICK += ["--no-tensorboard", "--no-progress"]


def _darknet_safe(path: Path) -> None:
    if any(s in str(path.absolute()) for s in ("images", "JPEGImages", "raw")):
        pytest.skip(f"the temporary folder {path} holds a word Darknet's label rule replaces")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from yolo9000.cli import main

    out = tmp_path_factory.mktemp("fmt") / "world"
    _darknet_safe(out)
    assert main(["emoji-world", str(out), *TINY, "--formats", "coco,yolo,darknet,voc,oi"]) == 0
    return out


@pytest.fixture(scope="module")
def habitat(tmp_path_factory) -> Path:
    from yolo9000.cli import main

    out = tmp_path_factory.mktemp("fmt_habitat") / "world"
    assert main(["emoji-world", str(out), *TINY, "--taxonomy", "habitat"]) == 0
    return out


def _targets(args: list[str], out: Path) -> dict:
    """(picture digest, label node id or None) -> (node ids, boxes) of every picture of the trainer's datasets."""
    import argparse

    import torch

    from wordtree.formats import load_tree
    from yolo9000.commands.train import add_parser, config_from_args
    from yolo9000.data.folders import ClassificationSample
    from yolo9000.emoji import recipe
    from yolo9000.training.trainer import Trainer

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    ns = parser.parse_args(["train", *args, *QUICK, "--out", str(out)])
    cfg, _ = config_from_args(ns)
    trainer = Trainer(cfg, model_builder=recipe.build_model)
    tree = load_tree(cfg.tree)
    found: dict = {}
    for ds in (trainer.det, trainer.cls):
        for i in range(0 if ds is None else len(ds)):
            s = ds.load(i)
            digest = hashlib.sha1(Path(s.path).read_bytes()).hexdigest()
            if isinstance(s, ClassificationSample):
                key, value = (digest, tree.ids[s.label]), ([], np.zeros((0, 4)))
            else:
                boxes = s.boxes.numpy().astype(np.float64)
                order = np.lexsort(boxes.T[::-1])
                key, value = (digest, None), ([tree.ids[n] for n in s.nodes[order].tolist()], boxes[order])
            assert key not in found, s.path
            found[key] = value
    assert isinstance(trainer.det, torch.utils.data.Dataset)
    return found


def _same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (nodes, boxes) in want.items():
        assert got[key][0] == nodes, key
        np.testing.assert_allclose(got[key][1], boxes, rtol=0, atol=1e-6 * 96, err_msg=str(key))


def test_every_format_gives_the_coco_and_folder_targets(world, habitat, tmp_path):
    tree = ["--tree", str(world / "wordtree.json")]
    folders = ["--folders", str(world / "classification")]
    want = _targets(["--coco", str(world / "detection" / "annotations.json"), *folders, *tree], tmp_path / "a")
    assert sum(k[1] is not None for k in want) and sum(k[1] is None for k in want)
    _same(_targets(["--data", str(world / "yolo" / "data.yaml"), *folders, *tree], tmp_path / "b"), want)
    _same(_targets(["--data", str(world / "darknet" / "emoji.data"), *tree], tmp_path / "c"), want)
    _same(_targets(["--data", str(world / "voc"), *folders, *tree], tmp_path / "d"), want)
    # Open Images: the habitat world's pictures and labels (pictures without any box have no row in its CSVs)
    htree = ["--tree", str(habitat / "wordtree.json")]
    hfolders = ["--folders", str(habitat / "classification")]
    hwant = _targets(["--coco", str(habitat / "detection" / "annotations.json"), *hfolders, *htree], tmp_path / "e")
    hwant = {k: v for k, v in hwant.items() if k[1] is not None or v[0]}
    _same(_targets(["--data", str(world / "oi" / "openimages.yaml"), *htree], tmp_path / "f"), hwant)


def _check(capsys, *sources: Path | str) -> dict:
    from yolo9000.cli import main

    assert main(["data", "check", *map(str, sources), "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def test_data_check_counts_each_format_as_coco_counts_it(world, habitat, capsys):
    keys = ("images", "boxes", "classification_images", "background_images", "classes")
    coco = _check(capsys, world / "detection" / "annotations.json")
    both = _check(capsys, world / "detection" / "annotations.json", world / "classification")
    for fmt in ("yolo/data.yaml", "voc"):  # boxes only: the class pictures stay in their folders
        got = _check(capsys, world / fmt)
        assert {k: got[k] for k in keys} == {k: coco[k] for k in keys}, fmt
    got = _check(capsys, world / "darknet" / "emoji.data")
    assert {k: got[k] for k in keys} == {k: both[k] for k in keys}
    assert got["classification_images"] > 0 and got["problems"] == []
    hboth = _check(capsys, habitat / "detection" / "annotations.json", habitat / "classification")
    got = _check(capsys, world / "oi" / "openimages.yaml")
    assert got["boxes"] == hboth["boxes"] and got["classification_images"] == hboth["classification_images"]
    assert got["images"] == hboth["images"] - hboth["background_images"] and got["background_images"] == 0


def test_convert_round_trips_coco_darknet_coco(world, tmp_path, capsys):
    from wordtree.tree import WordTree
    from yolo9000.cli import main
    from yolo9000.data.labelled import class_nodes
    from yolo9000.data.sources import open_source
    from yolo9000.data.writers import pictures_of

    _darknet_safe(tmp_path)
    tree_file = world / "wordtree.json"
    det, cls = world / "detection" / "annotations.json", world / "classification"
    dk, back = tmp_path / "dk", tmp_path / "back"
    assert main(["data", "convert", str(det), str(cls), "--to", "darknet", str(dk), "--tree", str(tree_file)]) == 0
    data_file = next(dk.glob("*.data"))
    assert main(["data", "convert", str(data_file), "--to", "coco", str(back), "--tree", str(tree_file)]) == 0
    assert main(["data", "convert", str(det), "--to", "coco", str(tmp_path / "again")]) == 0  # flat: no tree
    tree = WordTree.load(tree_file)

    def records(*paths: Path) -> dict:
        out = {}
        for p in paths:
            s = open_source(p)
            for pic in pictures_of(s, class_nodes(s.classes, tree)):
                digest = hashlib.sha1(pic.path.read_bytes()).hexdigest()
                order = np.lexsort(pic.boxes.T[::-1])
                out[(digest, pic.label)] = (pic.classes[order].tolist(), pic.boxes[order])
        return out

    want = records(det, cls)
    got = records(back / "annotations.json", back / "folders")
    assert got.keys() == want.keys()
    for key, (nodes, boxes) in want.items():
        assert got[key][0] == nodes
        np.testing.assert_allclose(got[key][1], boxes, atol=1e-6 * 96)
    assert main(["data", "convert", str(det), "--to", "coco", str(back)]) == 1  # never into a folder with files
    assert "empty" in capsys.readouterr().err


def test_each_format_trains_and_evaluates_from_the_command_line(world, habitat, tmp_path, capsys, monkeypatch):
    from yolo9000.cli import main

    monkeypatch.setenv("YOLO9000_CACHE", str(tmp_path / "cache"))
    tree = ["--tree", str(world / "wordtree.json")]
    runs = {
        "voc": ["--data", str(world / "voc"), "--folders", str(world / "classification"), *tree],
        "darknet": ["--data", str(world / "darknet" / "emoji.data"), *tree],
    }
    for name, args in runs.items():
        data = args[1]
        assert main(["train", *args, *QUICK, "--val-data", data, "--out", str(tmp_path / name)]) == 0, name
        assert "val/AP50" in (tmp_path / name / "log.csv").read_text().splitlines()[0]
        evaluated = ["eval", "--checkpoint", str(tmp_path / name / "last.pt"), "--data", data, "--size", "64"]
        if name == "darknet":  # the training list: its classification-only pictures too (valid holds none)
            evaluated += ["--split", "train"]
        assert main([*evaluated, "--out", str(tmp_path / f"{name}-eval"), "--no-plots"]) == 0, name
        summary = json.loads((tmp_path / f"{name}-eval" / "summary.json").read_text())
        assert np.isfinite(summary["detection"]["AP50"])
        text = capsys.readouterr().out
        if name == "voc":
            assert "VOC07 11-point" in text
            assert summary["meta"]["voc"]["mAP_voc2010"] is not None
            assert "classification" not in summary  # VOC has no classification-only pictures
        else:  # the Darknet list's classification-only pictures are scored as class folders are
            assert "classification on the classification-only pictures of" in text
            assert summary["classification"]["samples"] == 48, summary["classification"]
