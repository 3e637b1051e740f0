"""`yolo9000 emoji-world OUT --formats ...` (`yolo9000.emoji.formats`): the world in every format, read back by
each format's reader, gives the world's own boxes, nodes and classification-only pictures; Open Images gives those
of the habitat world of the same seed."""

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

#: the tiny world of tests/test_emoji_world.py
TINY = dict(n_detection=10, n_classification_per_class=2, n_test=6, image_size=96, cls_image_size=64)
CLI_TINY = ["--detection", "10", "--classification-per-class", "2", "--test", "6", "--size", "96"]
CLI_TINY += ["--cls-size", "64", "--seed", "3", "--workers", "1", "--quiet"]
ALL = "coco,yolo,darknet,voc,oi"


def _darknet_safe(path: Path) -> None:
    """Darknet's label rule replaces these anywhere in a picture's path: such a temp folder cannot hold its data."""
    if any(s in str(path.absolute()) for s in ("images", "JPEGImages", "raw")):
        pytest.skip(f"the temporary folder {path} holds a word Darknet's label rule replaces")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from yolo9000.cli import main

    out = tmp_path_factory.mktemp("formats") / "world"
    _darknet_safe(out)
    assert main(["emoji-world", str(out), *CLI_TINY, "--formats", ALL]) == 0
    return out


@pytest.fixture(scope="module")
def habitat(tmp_path_factory) -> Path:
    from yolo9000.emoji.world import generate_world

    return generate_world(tmp_path_factory.mktemp("habitat") / "world", seed=3, taxonomy="habitat", **TINY)


def _listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.lstat().st_mtime_ns for p in sorted(root.rglob("*"))}


def _targets(sources, tree) -> dict:
    """(picture bytes' digest, label node id or None) -> sorted [(node id, box)] of every picture of `sources`,
    with its boxes kept apart for the 1e-6 comparison."""
    from yolo9000.data.labelled import class_nodes
    from yolo9000.data.writers import pictures_of

    out: dict = {}
    for s in sources:
        for p in pictures_of(s, class_nodes(s.classes, tree, source=str(s.origin))):
            key = (hashlib.sha1(p.path.read_bytes()).hexdigest(), tree.ids[p.label] if p.label >= 0 else None)
            assert key not in out, f"{p.path} twice"
            order = np.lexsort(p.boxes.T[::-1])
            out[key] = ([tree.ids[k] for k in p.classes[order]], p.boxes[order])
    return out


def _same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (nodes, boxes) in want.items():
        assert got[key][0] == nodes, key
        np.testing.assert_allclose(got[key][1], boxes, rtol=0, atol=96e-6, err_msg=str(key))


def _world_truth(world: Path, tree, *, boxed_only: bool = False) -> tuple[dict, dict]:
    """(detection + class folders, test) targets of a world's own COCO files and class folders."""
    from yolo9000.data.sources import CocoSource, FolderSource

    det = CocoSource(world / "detection" / "annotations.json")
    train = _targets([det, FolderSource(world / "classification")], tree)
    if boxed_only:  # a picture without boxes cannot be in Open Images' CSVs
        train = {k: v for k, v in train.items() if k[1] is not None or len(v[0])}
    return train, _targets([CocoSource(world / "test" / "annotations.json")], tree)


# ---- the command ------------------------------------------------------------------------------------------------
def test_every_format_is_written_and_a_rerun_changes_nothing(world, capsys):
    from yolo9000.cli import main

    for rel in (
        "yolo/data.yaml",
        "darknet/emoji.data",
        "darknet/train.list",
        "darknet/valid.list",
        "voc/labelmap.txt",
        "voc/ImageSets/Main/trainval.txt",
        "voc/ImageSets/Main/test.txt",
        "oi/openimages.yaml",
        "oi/hierarchy.json",
        "oi/wordtree.json",
        "oi/classes.csv",
        "yolo/README.md",
    ):
        assert (world / rel).is_file(), rel
    assert not (world / "coco").exists()  # coco is the world itself
    before = _listing(world)
    assert main(["emoji-world", str(world), *CLI_TINY, "--formats", ALL]) == 0
    text = capsys.readouterr().out
    assert "kept the identical emoji world" in text and text.count("kept (already there)") == 4
    assert f"--data {world / 'yolo/data.yaml'} --folders {world / 'classification'}" in text
    assert _listing(world) == before


def test_formats_added_later_are_the_only_ones_written(tmp_path, capsys):
    from yolo9000.cli import main
    from yolo9000.emoji.world import generate_world

    _darknet_safe(tmp_path)
    out = tmp_path / "w"
    assert main(["emoji-world", str(out), *CLI_TINY, "--formats", "coco,yolo"]) == 0
    assert (out / "yolo" / "data.yaml").is_file() and not (out / "voc").exists()
    yolo = _listing(out / "yolo")
    world = (out / "world.json").stat().st_mtime_ns
    assert main(["emoji-world", str(out), *CLI_TINY, "--formats", "yolo,voc"]) == 0
    assert "voc/:" in capsys.readouterr().out
    assert _listing(out / "yolo") == yolo and (out / "voc" / "labelmap.txt").is_file()
    assert (out / "world.json").stat().st_mtime_ns == world
    # the world's ownership rule knows the format folders: --force replaces a world that holds them
    generate_world(out, seed=4, force=True, **TINY)
    assert not (out / "yolo").exists() and json.loads((out / "world.json").read_text())["config"]["seed"] == 4
    # an unknown format stops before any picture is drawn; a folder of a format's name that is not one is kept
    assert main(["emoji-world", str(tmp_path / "new"), *CLI_TINY, "--formats", "coco,png"]) == 1
    assert "unknown format 'png'" in capsys.readouterr().err and not (tmp_path / "new").exists()
    (out / "voc").mkdir()
    (out / "voc" / "notes.txt").write_text("mine")
    seed4 = [a if a != "3" else "4" for a in CLI_TINY]
    assert main(["emoji-world", str(out), *seed4, "--formats", "voc"]) == 1
    assert "holds no labelmap.txt" in capsys.readouterr().err and (out / "voc" / "notes.txt").read_text() == "mine"


# ---- read back by each format's reader ----------------------------------------------------------------------------
def test_yolo_darknet_and_voc_give_the_world_targets(world):
    from wordtree.tree import WordTree
    from yolo9000.data.darknet_lists import DarknetListSource
    from yolo9000.data.sources import FolderSource
    from yolo9000.data.ultralytics import UltralyticsSource
    from yolo9000.data.voc import VocSource

    tree = WordTree.load(world / "wordtree.json")
    train, test = _world_truth(world, tree)
    folders = FolderSource(world / "classification")  # what yolo/ and voc/ leave to the class folders
    _same(_targets([UltralyticsSource(world / "yolo" / "data.yaml"), folders], tree), train)
    _same(_targets([UltralyticsSource(world / "yolo" / "data.yaml", "val")], tree), test)
    data = world / "darknet" / "emoji.data"
    _same(_targets([DarknetListSource(data)], tree), train)
    _same(_targets([DarknetListSource(data, "valid")], tree), test)
    lines = (world / "voc" / "labelmap.txt").read_text().splitlines()
    names = [line.split(":")[0] for line in lines[1:]]  # after the header
    _same(_targets([VocSource(world / "voc", classes=names), folders], tree), train)
    _same(_targets([VocSource(world / "voc", "test", classes=names)], tree), test)


def test_open_images_is_the_habitat_world(world, habitat):
    from wordtree.builder import build
    from wordtree.hierarchy import read_openimages, resolve
    from wordtree.tree import WordTree
    from yolo9000.data.open_images import OpenImagesSource

    oi = world / "oi"
    assert (oi / "wordtree.json").read_bytes() == (habitat / "wordtree.json").read_bytes()
    tree = WordTree.load(habitat / "wordtree.json")
    train, test = _world_truth(habitat, tree, boxed_only=True)
    _same(_targets([OpenImagesSource(oi / "openimages.yaml")], tree), train)
    _same(_targets([OpenImagesSource(oi / "openimages.yaml", "validation")], tree), test)
    # boxes at habitat labels, never the minibeasts; build-wordtree --hierarchy gives the habitat tree again
    assert "minibeasts" not in {line.split(",")[2] for line in (oi / "boxes.csv").read_text().splitlines()[1:]}
    built, _ = build([], user=resolve([read_openimages(oi / "hierarchy.json", oi / "classes.csv")]))
    assert built.ids == tree.ids and built.names == tree.names and built.parent.tolist() == tree.parent.tolist()
