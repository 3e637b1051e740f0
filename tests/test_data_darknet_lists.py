"""Darknet `.data` + list data (`DarknetListSource`): names, labels and map, YOLO9000's x = y = 0 classification
lines (never mapped) beside mapped box lines, Darknet's label path rule, relative paths, and the errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yolo9000.data.darknet_lists import DarknetListSource, darknet_label_path, read_data_file
from yolo9000.data.labelled import BACKGROUND, CLASSIFICATION, DETECTION, LabelError, SourceClass, check_source

NAMES = ["entity", "animal", "dog", "cat", "vehicle", "car"]
WNIDS = [f"n0000000{k}" for k in range(len(NAMES))]
MAP = [2, 3, 5]  # box classes (COCO-like ids 0..2) -> tree indices: dog, cat, car


def picture(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), (10, 200, 90)).save(path, format="JPEG" if path.suffix.lower() != ".png" else "PNG")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture()
def combine(tmp_path: Path) -> Path:
    """Darknet's layout: darknet/cfg/combine.data naming data/... relative to the darknet folder, a list with an
    absolute and relative entries; COCO-like pictures under images/, ImageNet-like ones under JPEGImages/."""
    root = tmp_path / "darknet"
    a = picture(tmp_path / "coco/images/a.jpg")
    picture(root / "imagenet/JPEGImages/n1/b.JPEG")
    picture(root / "coco/images/c.png")
    picture(root / "coco/images/d.jpg")
    write(tmp_path / "coco/labels/a.txt", "0 0.5 0.5 0.2 0.2\n2 0.3 0.3 0.2 0.2\n")
    write(root / "imagenet/labels/n1/b.txt", "1 0 0 1 1\n")  # a classification line: tree index 1, not mapped
    write(root / "coco/labels/c.txt", "0 0.5 0.5 0.1 0.1\n4 0 0 0 0\n3 0 0 0 0\n")  # markers win over the box
    write(root / "coco/labels/d.txt", "")
    write(root / "data/combine.list", f"{a}\nimagenet/JPEGImages/n1/b.JPEG\n\ncoco/images/c.png\ncoco/images/d.jpg\n")
    write(root / "data/tree.names", "\n".join(NAMES) + "\n")
    write(root / "data/tree.labels", "\n".join(WNIDS) + "\n")
    write(root / "data/coco.map", "\n".join(map(str, MAP)) + "\n")
    return write(
        root / "cfg/combine.data",
        "# combine9k-like\nclasses = 6\ntrain = data/combine.list\nnames = data/tree.names\n"
        "labels = data/tree.labels\nmap = data/coco.map\nbackup = backup/\neval = imagenet\n",
    )


def test_combine9k_lines_map_and_classes(combine: Path) -> None:
    src = DarknetListSource(combine)
    assert src.format == "darknet" and src.split == "train" and src.kinds() is None and len(src) == 4
    assert src.classes == [SourceClass(n, w) for n, w in zip(NAMES, WNIDS)]
    a = src.labels(0)
    assert a.kind == DETECTION and a.normalized
    assert a.classes.tolist() == [MAP[0], MAP[2]]  # box classes go through map=
    np.testing.assert_allclose(a.boxes, [[0.4, 0.4, 0.6, 0.6], [0.2, 0.2, 0.4, 0.4]], atol=1e-6)
    b = src.labels(1)
    assert b.kind == CLASSIFICATION and b.label == 1  # map[1] would be 3 ("cat"): markers are tree indices
    c = src.labels(2)
    assert c.kind == CLASSIFICATION and c.label == 4 and len(c.boxes) == 0
    assert src.labels(3).kind == BACKGROUND
    assert src.path(1) == combine.parent.parent / "imagenet/JPEGImages/n1/b.JPEG"
    assert src.label_path(1) == combine.parent.parent / "imagenet/labels/n1/b.txt"
    assert check_source(src).as_dict() == {
        "images": 4,
        "boxes": 2,
        "classification_images": 2,
        "background_images": 1,
        "classes": 4,  # dog, car (boxes), animal, vehicle (labels)
        "problems": [],
    }


def test_box_class_bounds_follow_the_map(combine: Path) -> None:
    label = combine.parent.parent / "coco/labels/d.txt"
    src = DarknetListSource(combine)
    label.write_text("2 0.5 0.5 0.1 0.1\n3 0.5 0.5 0.1 0.1\n")
    with pytest.raises(LabelError, match=rf"^{label}:2: class 3 is not in \[0, 3\) \(the map's 3 entries\)"):
        src.labels(3)
    label.write_text("5 0 0 0 0\n")  # a marker may name any of the 6 tree classes
    assert src.labels(3).label == 5
    label.write_text("6 0 0 0 0\n")
    with pytest.raises(LabelError, match=rf"^{label}:1: class 6 of a classification line"):
        src.labels(3)
    text = combine.read_text().replace("map = data/coco.map\n", "")
    write(combine, text)
    label.write_text("5 0.5 0.5 0.1 0.1\n")  # without a map, box classes are names
    assert DarknetListSource(combine).labels(3).classes.tolist() == [5]


def test_missing_label_file_is_an_error_when_read(combine: Path) -> None:
    (combine.parent.parent / "coco/labels/d.txt").unlink()
    src = DarknetListSource(combine)
    with pytest.raises(LabelError, match=r"labels/d\.txt: label file not found \(of .*d\.jpg"):
        src.labels(3)
    counts = check_source(src)
    assert counts.images == 3 and len(counts.problems) == 1


def test_no_labels_folder_at_all_is_an_error(tmp_path: Path) -> None:
    picture(tmp_path / "pics/a.jpg")
    write(tmp_path / "t.list", "pics/a.jpg\n")
    write(tmp_path / "n.names", "a\n")
    data = write(tmp_path / "x.data", "train = t.list\nnames = n.names\n")
    # the label file of pics/a.jpg is pics/a.txt, beside it: that folder exists
    assert len(DarknetListSource(data)) == 1
    picture(tmp_path / "images/b.jpg")
    write(tmp_path / "t.list", "images/b.jpg\n")
    with pytest.raises(ValueError, match=r"t\.list: no picture has its labels folder"):
        DarknetListSource(data)


@pytest.mark.parametrize(
    ("image", "label"),
    [
        ("/d/coco/images/train2014/a.jpg", "/d/coco/labels/train2014/a.txt"),
        ("/d/VOCdevkit/VOC2007/JPEGImages/0001.jpg", "/d/VOCdevkit/VOC2007/labels/0001.txt"),
        ("/d/images/x/images/a.png", "/d/labels/x/images/a.txt"),  # the first occurrence only
        ("/d/imagenet/raw/n1/a.JPEG", "/d/imagenet/labels/n1/a.txt"),
        ("/d/drawings/images/a.JPG", "/d/dlabelsings/labels/a.txt"),  # Darknet's substring quirk, kept
        ("/d/images/a.jpeg", "/d/labels/a.txt"),  # extensions Darknet leaves in place become .txt too
        ("rel/images/a.bmp", "rel/labels/a.txt"),
    ],
)
def test_label_path_rule(image: str, label: str) -> None:
    assert darknet_label_path(image) == Path(label)


def test_relative_paths_beside_the_data_file_then_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    picture(work / "images/a.jpg")
    write(work / "labels/a.txt", "0 0.5 0.5 0.5 0.5\n")
    write(work / "lists/t.list", "images/a.jpg\n")  # relative to where Darknet runs
    write(tmp_path / "cfgs/n.names", "thing\n")  # beside the .data
    data = write(tmp_path / "cfgs/x.data", "train = lists/t.list\nnames = n.names\n")
    monkeypatch.chdir(work)
    src = DarknetListSource(data)
    assert src.path(0) == work / "images/a.jpg" and src.labels(0).classes.tolist() == [0]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"x\.data:1: train = lists/t\.list: no such file"):
        DarknetListSource(data)


def test_list_naming_missing_pictures(combine: Path) -> None:
    lst = combine.parent.parent / "data/combine.list"
    lst.write_text(lst.read_text() + "coco/images/gone.jpg\n")
    src = DarknetListSource(combine)
    assert len(src) == 4
    assert src.problems == [f"{lst}:6: image not found: {combine.parent.parent / 'coco/images/gone.jpg'}"]
    assert check_source(src).problems == src.problems
    lst.write_text("coco/images/d.jpg\ncoco/images/x.jpg\ncoco/images/y.jpg\n")
    with pytest.raises(ValueError, match=r"combine\.list: 2 of 3 listed pictures not found"):
        DarknetListSource(combine)


def test_valid_split(combine: Path) -> None:
    root = combine.parent.parent
    write(root / "data/valid.list", "coco/images/d.jpg\n")
    write(combine, combine.read_text() + "valid = data/valid.list\n")
    for split in ("valid", "val"):
        src = DarknetListSource(combine, split)
        assert src.split == "valid" and len(src) == 1
    with pytest.raises(ValueError, match="unknown split 'test'"):
        DarknetListSource(combine, "test")


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda t: t.replace("classes = 6", "classes = 7"), ValueError, r"combine\.data:2: classes = 7 but .*6 names"),
        (lambda t: t.replace("classes = 6", "classes = six"), ValueError, r"combine\.data:2: classes = 'six'"),
        (lambda t: t.replace("names = data/tree.names\n", ""), ValueError, r"combine\.data: no 'names' key"),
        (lambda t: t.replace("train = data/combine.list\n", ""), ValueError, r"combine\.data: no 'train' key"),
        (lambda t: t + "this line has no equals\n", ValueError, r"combine\.data:9: expected 'key = value'"),
        (lambda t: t.replace("tree.names", "gone.names"), FileNotFoundError, r"combine\.data:4: names = .*gone"),
    ],
)
def test_broken_data_file(combine: Path, edit: Callable[[str], str], error: type, message: str) -> None:
    write(combine, edit(combine.read_text()))
    with pytest.raises(error, match=message) as info:
        DarknetListSource(combine)
    assert "\n" not in str(info.value)


def test_labels_and_map_files_are_checked(combine: Path) -> None:
    data = combine.parent.parent / "data"
    write(data / "tree.labels", "\n".join(WNIDS[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"tree\.labels: 5 lines but .*tree\.names has 6 names"):
        DarknetListSource(combine)
    write(data / "tree.labels", "\n".join(WNIDS) + "\n")
    write(data / "coco.map", "2\n9\n5\n")
    with pytest.raises(ValueError, match=r"coco\.map:2: node index 9 out of range"):
        DarknetListSource(combine)


def test_read_data_file_keeps_line_numbers(tmp_path: Path) -> None:
    f = write(tmp_path / "x.data", "; comment\n\n classes= 3 \n#x = 1\nnames =a b.names\n")
    assert read_data_file(f) == {"classes": ("3", 3), "names": ("a b.names", 5)}
