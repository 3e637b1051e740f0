"""Ultralytics YOLO data (`UltralyticsSource`) and the YOLO label file reader (`read_yolo_labels`): the yaml forms,
the label path rule, boxes to 1e-6, background pictures, laziness and every bad-input error with its file:line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yolo9000.data import yolo_labels
from yolo9000.data.labelled import BACKGROUND, DETECTION, LabelError, LabelledDataset, SourceClass, check_source
from yolo9000.data.ultralytics import UltralyticsSource, ultralytics_label_path
from yolo9000.data.yolo_labels import CORNER_TOLERANCE, PathTable, read_image_list, read_yolo_labels


def picture(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    """A tiny real picture (PNG or JPEG by the extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 30)).save(path)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cxcywh(cx: float, cy: float, w: float, h: float) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


@pytest.fixture()
def folders(tmp_path: Path) -> Path:
    """root/images/{train,val}, root/labels/{train,val}: a detection picture, an empty and a missing label file,
    and one picture in a subfolder; the yaml names path relative to itself."""
    root = tmp_path / "ds"
    for name in ("a.jpg", "b.png", "c.jpg", "sub/d.png"):
        picture(root / "images" / "train" / name)
    picture(root / "images" / "val" / "v.jpg")
    write(root / "labels/train/a.txt", "0 0.5 0.5 0.2 0.4\n\n1 0.25 0.75 0.5 0.5\n")
    write(root / "labels/train/b.txt", "")
    write(root / "labels/train/sub/d.txt", "1 0.1 0.1 0.2 0.2\n")
    write(root / "labels/val/v.txt", "0 0.5 0.5 1 1\n")
    write(tmp_path / "data.yaml", "path: ds\ntrain: images/train\nval: images/val\nnames: [cat, dog]\n")
    return tmp_path / "data.yaml"


def test_folder_form_reads_boxes_backgrounds_and_counts(folders: Path) -> None:
    src = UltralyticsSource(folders)
    root = folders.parent / "ds"
    assert src.format == "yolo" and src.split == "train" and src.kinds() is None
    assert [SourceClass("cat"), SourceClass("dog")] == src.classes
    assert [src.path(i) for i in range(len(src))] == [
        root / "images/train" / n for n in ("a.jpg", "b.png", "c.jpg", "sub/d.png")
    ]
    a = src.labels(0)
    assert a.normalized and a.kind == DETECTION
    np.testing.assert_allclose(a.boxes, [cxcywh(0.5, 0.5, 0.2, 0.4), cxcywh(0.25, 0.75, 0.5, 0.5)], atol=1e-6)
    assert a.classes.tolist() == [0, 1]
    assert src.labels(1).kind == BACKGROUND and src.labels(2).kind == BACKGROUND  # empty, missing
    np.testing.assert_allclose(src.labels(3).boxes, [[0, 0, 0.2, 0.2]], atol=1e-6)
    counts = check_source(src).as_dict()
    assert counts == {
        "images": 4,
        "boxes": 3,
        "classification_images": 0,
        "background_images": 2,
        "classes": 2,
        "problems": [],
    }
    val = UltralyticsSource(folders, "val")
    assert len(val) == 1 and val.split == "val"
    np.testing.assert_allclose(val.labels(0).boxes, [[0, 0, 1, 1]])


def test_dataset_gives_pixel_boxes(folders: Path) -> None:
    src = UltralyticsSource(folders)
    sample = LabelledDataset(src, np.array([7, 9]), ["n7", "n9"]).load(0)
    np.testing.assert_allclose(
        sample.boxes.numpy(),
        np.array([cxcywh(0.5, 0.5, 0.2, 0.4), cxcywh(0.25, 0.75, 0.5, 0.5)]) * [40, 30, 40, 30],
        atol=1e-4,
    )
    assert sample.nodes.tolist() == [7, 9]


def test_list_file_form_and_names_dict(tmp_path: Path) -> None:
    root = tmp_path / "root"
    a = picture(root / "images/a.jpg")
    b = picture(root / "images/b.jpg")
    c = picture(tmp_path / "elsewhere/images/c.jpg")
    write(root / "labels/a.txt", "2 0.5 0.5 0.5 0.5\n")
    write(root / "labels/b.txt", "0 0.5 0.5 0.5 0.5\n")
    write(tmp_path / "elsewhere/labels/c.txt", "1 0.5 0.5 0.5 0.5\n")
    # "./" is relative to the list's folder (lists/), other relative entries to the root, absolute ones stay
    write(root / "lists/train.txt", f"./../images/a.jpg\nimages/b.jpg\n{c}\nimages/notes.md\n")
    write(root / "data.yaml", "train: lists/train.txt\nnames:\n  0: cat\n  1: dog\n  2: bird\n")
    src = UltralyticsSource(root / "data.yaml")
    assert [s.name for s in src.classes] == ["cat", "dog", "bird"]
    assert [os.path.normpath(src.path(i)) for i in range(len(src))] == [str(a), str(b), str(c)]
    assert [int(src.labels(i).classes[0]) for i in range(3)] == [2, 0, 1]
    assert src.problems == [f"{root / 'lists/train.txt'}:4: not an image file name (skipped): images/notes.md"]


def test_list_of_folders(tmp_path: Path) -> None:
    for part in ("p1", "p2"):
        picture(tmp_path / part / "images" / f"{part}.jpg")
        write(tmp_path / part / "labels" / f"{part}.txt", "0 0.5 0.5 0.1 0.1\n")
    write(tmp_path / "data.yaml", "train: [p1/images, p2/images]\nval: p1/images\nnames: [thing]\n")
    src = UltralyticsSource(tmp_path / "data.yaml")
    assert [src.path(i).name for i in range(len(src))] == ["p1.jpg", "p2.jpg"]
    assert check_source(src).boxes == 2


def test_list_naming_missing_pictures(tmp_path: Path) -> None:
    for k in range(3):
        picture(tmp_path / f"images/{k}.jpg")
    (tmp_path / "labels").mkdir()
    write(tmp_path / "ok.txt", "./images/0.jpg\n./images/1.jpg\n./images/gone.jpg\n./images/2.jpg\n")
    write(tmp_path / "bad.txt", "./images/0.jpg\n./images/x.jpg\n./images/y.jpg\n")
    write(tmp_path / "data.yaml", "train: ok.txt\nval: bad.txt\nnames: [a]\n")
    src = UltralyticsSource(tmp_path / "data.yaml")
    assert len(src) == 3
    assert src.problems == [f"{tmp_path / 'ok.txt'}:3: image not found: {tmp_path / 'images/gone.jpg'}"]
    assert check_source(src).problems == src.problems
    with pytest.raises(ValueError, match=r"bad\.txt: 2 of 3 listed pictures not found"):
        UltralyticsSource(tmp_path / "data.yaml", "val")


def test_missing_labels_folder_reads_as_background(tmp_path: Path) -> None:
    picture(tmp_path / "images/x.jpg")
    write(tmp_path / "data.yaml", "train: images\nnames: [a]\n")
    src = UltralyticsSource(tmp_path / "data.yaml")
    assert src.labels(0).kind == BACKGROUND
    assert len(src.problems) == 1 and "labels folder not found" in src.problems[0]
    assert str(tmp_path / "labels") in src.problems[0]


def test_construction_reads_no_label_file(folders: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(folders.parent / "ds/labels/train/c.txt", "not a label\n")
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError("a file was opened while indexing")

    monkeypatch.setattr("builtins.open", refuse)
    src = UltralyticsSource(folders)  # yaml is read with Path.read_text, the folders with os.scandir
    monkeypatch.undo()
    assert calls == [] and len(src) == 4
    with pytest.raises(LabelError, match=r"c\.txt:1: 3 fields"):
        src.labels(2)


def test_label_path_rule_replaces_the_last_images_folder() -> None:
    s = os.sep
    assert ultralytics_label_path(f"{s}d{s}images{s}x{s}images{s}a.b.jpg") == f"{s}d{s}images{s}x{s}labels{s}a.b.txt"
    assert ultralytics_label_path(f"{s}d{s}pics{s}a.png") == f"{s}d{s}pics{s}a.txt"
    assert ultralytics_label_path(f"{s}d{s}myimages{s}a.png") == f"{s}d{s}myimages{s}a.txt"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("0 0.5 0.5 0.1\n", 1, "4 fields, expected 5"),
        ("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1 0.3\n", 2, "6 fields, expected 5"),
        ("\n0 0.5 0.5 0.1 0.1 0.2 0.2 0.3\n", 2, "8 fields"),
        ("0 0.5 abc 0.1 0.1\n", 1, "'abc' is not a number"),
        ("0 1.2 0.5 0.1 0.1\n", 1, "cx = 1.2 is outside"),
        ("0 0.5 0.5 -0.1 0.1\n", 1, "w = -0.1 is outside"),
        ("0 0.5 nan 0.1 0.1\n", 1, "cy = nan is outside"),
        ("0 0.95 0.5 0.2 0.1\n", 1, "box corners"),
        ("0 0.5 0.5 0.2 0.1\n2 0.5 0.5 0.1 0.1\n", 2, r"class 2 is not in \[0, 2\)"),
        ("-1 0.5 0.5 0.1 0.1\n", 1, r"class -1 is not in \[0, 2\)"),
        ("1.5 0.5 0.5 0.1 0.1\n", 1, "class '1.5' is not an integer"),
        ("0 0.1 0.1 1.1 0.2 0.3 0.3\n", 1, "x1 y1 = 1.1 is outside|x1 = 1.1 is outside"),
    ],
)
def test_bad_label_lines_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    f = write(tmp_path / "labels/x.txt", text)
    with pytest.raises(LabelError, match=f"^{f}:{line}: .*({message})"):
        read_yolo_labels(f, 2)


def test_tolerance_clips_and_polygons_become_boxes(tmp_path: Path) -> None:
    inside = CORNER_TOLERANCE / 2
    f = write(
        tmp_path / "x.txt",
        f"0 {0.1 - inside} 0.5 0.2 0.2\n1.0 0.2 0.3 0.6 0.1 0.4 0.7 0.25 0.5\n1 0.5 0.5 1.0000005 0.5\n",
    )
    lab = read_yolo_labels(f, 2)
    np.testing.assert_allclose(
        lab.boxes, [[0, 0.4, 0.2 - inside, 0.6], [0.2, 0.1, 0.6, 0.7], [0, 0.25, 1, 0.75]], atol=1e-6
    )
    assert lab.classes.tolist() == [0, 1, 1]
    assert (lab.boxes >= 0).all() and (lab.boxes <= 1).all()


def test_classification_lines_only_when_asked(tmp_path: Path) -> None:
    f = write(tmp_path / "x.txt", "1 0 0 0.001 0.001\n0 0.5 0.5 0.2 0.2\n")
    assert read_yolo_labels(f, 2).classes.tolist() == [1, 0]  # a tiny box at the corner without the convention
    lab = read_yolo_labels(f, 3, classification_lines=True)
    assert lab.label == 1 and len(lab.boxes) == 0


def test_missing_label_file_is_background_or_an_error(tmp_path: Path) -> None:
    assert read_yolo_labels(tmp_path / "none.txt", 2).kind == BACKGROUND
    with pytest.raises(LabelError, match="none.txt: label file not found"):
        read_yolo_labels(tmp_path / "none.txt", 2, missing_ok=False)


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("train: images\n", "no 'names' key"),
        ("names: [a]\n", "no 'train' key"),
        ("train: nowhere\nnames: [a]\n", "'train': .*nowhere not found"),
        ("train: images\nnames: {0: a, 2: c}\n", r"'names' must number the classes 0..1; missing \[1\]"),
        ("train: images\nnames: {x: a}\n", "'names' key 'x' is not a class index"),
        ("train: images\nnames: a\n", "'names' must be a list"),
        ("train: images\nnames: [a, b]\nnc: 3\n", "'nc' is 3 but 'names' has 2"),
        ("path: missing_root\ntrain: images\nnames: [a]\n", "'path' 'missing_root'"),
        ("train: [images\nnames: [a]\n", r":\d+: not valid YAML"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_broken_yaml_is_one_line_naming_it(tmp_path: Path, yaml: str, message: str) -> None:
    picture(tmp_path / "images/x.jpg")
    y = write(tmp_path / "data.yaml", yaml)
    with pytest.raises(ValueError, match=message) as info:
        UltralyticsSource(y)
    assert str(info.value).startswith(str(y)) and "\n" not in str(info.value)


def test_unknown_split(folders: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        UltralyticsSource(folders, "dev")


def test_path_table_round_trip(tmp_path: Path) -> None:
    table = PathTable()
    names = [("/a/b", "x.jpg"), ("/a/b", "ü ñ.png"), ("/c", "y.jpg"), ("", "z.jpg")]
    for folder, name in names:
        table.add(folder, name)
    table.finish()
    assert [table.path(i) for i in range(len(table))] == [os.path.join(f, n) if f else n for f, n in names]
    firsts, counts = table.folder_firsts()
    assert firsts.tolist() == [0, 2, 3] and counts.tolist() == [2, 1, 1]


def test_list_base_is_chosen_by_the_first_relative_entry(tmp_path: Path) -> None:
    picture(tmp_path / "second/images/a.jpg")
    write(tmp_path / "l.txt", "images/a.jpg\n")
    table = PathTable()
    found = read_image_list(tmp_path / "l.txt", table, bases=[str(tmp_path / "first"), str(tmp_path / "second")])
    table.finish()
    assert found.added == 1 and table.base == str(tmp_path / "second") and table.entry(0) == "images/a.jpg"
    assert yolo_labels.is_image_name("X.JPEG") and not yolo_labels.is_image_name("x.txt")


def test_scan_keeps_path_order_and_takes_pictures_only(tmp_path: Path) -> None:
    for name in ("z.jpg", "a.JPG", "m/b.webp", "m/n/c.tiff", "notes.txt", "m/readme.md"):
        write(tmp_path / name, "")
    table = PathTable()
    assert yolo_labels.scan_images(tmp_path, table) == 4
    table.finish()
    assert [Path(table.path(i)).relative_to(tmp_path).as_posix() for i in range(len(table))] == [
        "a.JPG",
        "m/b.webp",
        "m/n/c.tiff",
        "z.jpg",
    ]
