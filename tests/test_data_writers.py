"""Dataset writers (`yolo9000.data.writers`): each format written, then read back by its reader, gives the same
pictures, boxes (to 1e-6 of the pixels), classes by node id and classification-only pictures."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yolo9000.data.labelled import LabelError, LabelledSource, class_nodes, image_labels
from yolo9000.data.writers import (
    ClassList,
    Picture,
    hierarchy_json,
    picture,
    pictures_of,
    voc_colour,
    write_coco,
    write_darknet,
    write_open_images,
    write_voc,
    write_yolo,
)

#: boxes must come back within this many pixels (1e-6 of the largest side, 64 px)
ATOL = 64e-6
IDS = ["/m/0thing", "/m/0animal", "/m/0vehicle", "/m/0dog", "/m/0cat", "/m/0car", "/m/0bus"]
NAMES = ["thing", "animal", "vehicle", "dog", "cat", "car", "bus"]
PARENTS = [-1, 0, 0, 1, 1, 2, 2]


def _tree(mids: bool = False):
    """tiny_data's WordTree (fake wnids), or the same shape with Open Images-like MIDs (user ids)."""
    from wordtree.tree import WordTree

    if mids:
        return WordTree(IDS, PARENTS, NAMES)
    from tiny_data import make_tree

    return make_tree()


def _darknet_safe(path: Path) -> None:
    """Darknet's label rule replaces these anywhere in a picture's path: such a temp folder cannot hold its data."""
    if any(s in str(path.absolute()) for s in ("images", "JPEGImages", "raw")):
        pytest.skip(f"the temporary folder {path} holds a word Darknet's label rule replaces")


def _save(path: Path, size: tuple[int, int], colour: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (colour, 90, 200 - colour)).save(path)
    return path


@pytest.fixture
def data(tmp_path) -> tuple[list[Picture], list[Picture]]:
    """(training pictures, held-out pictures) over the 7 classes of `_tree` (by index: 3 dog, 4 cat, 5 car, ...):
    boxes with fractions of pixels, a difficult box, a background picture, two classification-only pictures and
    two pictures of one stem (a.png, a.jpg) in one folder."""
    src = tmp_path / "src"
    a = _save(src / "det" / "a.png", (64, 48), 10)
    a_jpg = _save(src / "det" / "a.jpg", (50, 40), 60)
    bg = _save(src / "det" / "sub" / "b.png", (40, 30), 110)
    dog = _save(src / "cls" / "dog" / "c1.png", (32, 32), 150)
    cat = _save(src / "cls" / "x" / "c2.png", (24, 32), 180)
    v = _save(src / "val" / "v.png", (48, 48), 30)
    train = [
        picture(a, (64, 48), [[1.5, 2.25, 30.75, 40.0], [10, 10, 20, 20], [0, 0, 64, 48]], [3, 5, 1]),
        picture(a_jpg, (50, 40), [[0, 0, 50, 40], [5, 6, 25, 30]], [2, 4], [True, False]),
        picture(bg, (40, 30)),
        picture(dog, (32, 32), label=3),
        picture(cat, (24, 32), label=4),
    ]
    return train, [picture(v, (48, 48), [[4, 4, 40, 44]], [6])]


def _canon(pictures, ids) -> dict:
    """picture file (links followed) -> (label id or None, sorted [(class id, difficult, box)])."""
    out: dict = {}
    for p in pictures:
        boxes = sorted(
            (ids[int(k)], bool(d), tuple(np.round(b, 3))) for k, d, b in zip(p.classes, p.difficult, p.boxes)
        )
        key = (os.path.realpath(p.path), ids[p.label] if p.label >= 0 else None)
        assert key not in out, f"{key} read twice"
        out[key] = boxes
    return out


def _boxes_of(pictures) -> dict:
    return {(os.path.realpath(p.path), p.label): p.boxes[np.lexsort(p.boxes.T[::-1])] for p in pictures}


def _read(source: LabelledSource, tree) -> list[Picture]:
    return list(pictures_of(source, class_nodes(source.classes, tree, source=str(source.origin))))


def _expect(pictures, *, classification=True, difficult=True, background=True, whole=False) -> list[Picture]:
    """What a format keeps of `pictures`: without classification-only pictures, difficult boxes or background
    pictures where it has none; `whole`: boxes on whole pixels as VOC stores them."""
    out = []
    for p in pictures:
        if p.label >= 0 and not classification:
            continue
        keep = np.ones(len(p.boxes), bool) if difficult else ~p.difficult
        if not background and p.label < 0 and not keep.any():
            continue
        boxes = np.rint(p.boxes[keep]) if whole else p.boxes[keep]
        out.append(Picture(p.path, p.size, boxes, p.classes[keep], p.difficult[keep], p.label))
    return out


def _same(got: list[Picture], want: list[Picture], ids, *, check_difficult: bool = True) -> None:
    g, w = _canon(got, ids), _canon(want, ids)
    if not check_difficult:
        g = {k: [(c, False, b) for c, _, b in v] for k, v in g.items()}
        w = {k: [(c, False, b) for c, _, b in v] for k, v in w.items()}
    assert g.keys() == w.keys()
    assert g == w
    gb, wb = _boxes_of(got), _boxes_of(want)
    for key in wb:
        np.testing.assert_allclose(gb[key], wb[key], rtol=0, atol=ATOL, err_msg=str(key))


# ---- the neutral records ------------------------------------------------------------------------------------
class _Fake(LabelledSource):
    """Three pictures: normalized boxes without a size, a malformed label file, a missing image."""

    format = "fake"

    def __init__(self, files: list[Path]) -> None:
        super().__init__()
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def path(self, i: int) -> Path:
        return self.files[i]

    def labels(self, i: int):
        if i == 1:
            raise LabelError(f"{self.files[i]}.txt:3: 4 fields, expected 5")
        return image_labels([[0.25, 0.5, 0.75, 1.0]], [1], normalized=True)


def test_pictures_of_reads_sizes_and_skips_bad_pictures(tmp_path, caplog):
    good = _save(tmp_path / "good.png", (40, 20), 0)
    bad = _save(tmp_path / "bad.png", (40, 20), 0)
    with caplog.at_level(logging.WARNING):
        pics = list(pictures_of(_Fake([good, bad, tmp_path / "gone.png"]), np.array([5, 6])))
    assert len(pics) == 1 and pics[0].size == (40, 20)
    np.testing.assert_array_equal(pics[0].boxes, [[10, 10, 30, 20]])
    assert pics[0].classes.tolist() == [6] and pics[0].label == -1
    text = caplog.text
    assert "1 picture with labels that do not read" in text and "bad.png.txt:3" in text
    assert "1 picture with missing or unreadable images" in text


def test_written_names_find_their_class_again():
    classes = ClassList(["dog", "dog", "cat", "n1", "bus "], ["n1", "n2", "n3", "n4", "n5"])
    # a repeated name, a name that is another class's id, a name with a space at the end: their ids
    assert classes.written_names() == ["n1", "n2", "cat", "n4", "n5"]
    with pytest.raises(ValueError, match="its nodes"):
        ClassList(["a"], ["b"], _tree())


# ---- COCO -----------------------------------------------------------------------------------------------------
def test_coco_round_trip_with_class_folders_and_val(data, tmp_path):
    from yolo9000.data.sources import CocoSource, FolderSource

    train, val = data
    tree = _tree(mids=True)
    counts = write_coco(train, ClassList.of_tree(tree), tmp_path / "coco", val=val)
    assert counts["images"] == 5 and counts["classification_images"] == 2 and counts["background_images"] == 1
    assert counts["val"]["images"] == 1
    out = tmp_path / "coco"
    det = CocoSource(out / "annotations.json")
    cls = FolderSource(out / "folders")
    _same(_read(det, tree) + _read(cls, tree), _expect(train), tree.ids, check_difficult=False)
    _same(_read(CocoSource(out / "val" / "annotations.json"), tree), val, tree.ids)
    doc = json.loads((out / "annotations.json").read_text())
    # categories (the nodes the boxes of both splits use) name their node; a difficult box carries the flag
    assert [c["node"] for c in doc["categories"]] == IDS[1:3] + IDS[3:]
    assert [a.get("difficult", 0) for a in doc["annotations"]].count(1) == 1
    # a MID cannot be a folder name: class_ids.csv maps the folders
    assert (out / "folders" / "class_ids.csv").read_text().splitlines()[0] == "folder,id"
    assert {c.node for c in cls.classes} == {"/m/0dog", "/m/0cat"}
    # the pictures are links to the sources, under their sub-paths
    assert (out / "images" / "sub" / "b.png").is_symlink()


def test_coco_flat_classes_keep_their_indices(data, tmp_path):
    from yolo9000.data.sources import CocoSource

    train, _ = data
    classes = ClassList(NAMES, NAMES)
    write_coco([p for p in train if p.label < 0], classes, tmp_path / "flat")
    doc = json.loads((tmp_path / "flat" / "annotations.json").read_text())
    assert [(c["id"], c["name"]) for c in doc["categories"]] == list(enumerate(NAMES, 1))
    assert "node" not in doc["categories"][0]  # a flat class names no node
    back = CocoSource(tmp_path / "flat" / "annotations.json")
    got = list(pictures_of(back, np.arange(len(back.classes))))
    _same(got, _expect([p for p in train if p.label < 0]), NAMES, check_difficult=False)


# ---- Ultralytics YOLO -----------------------------------------------------------------------------------------
def test_yolo_round_trip(data, tmp_path, caplog):
    import yaml

    from yolo9000.data.ultralytics import UltralyticsSource

    train, val = data
    tree = _tree()
    out = tmp_path / "yolo"
    with caplog.at_level(logging.WARNING):
        counts = write_yolo(train, ClassList.of_tree(tree), out, val=val)
    assert counts["left_out_classification"] == 2 and counts["left_out_difficult"] == 1
    assert "2 classification-only pictures left out" in caplog.text
    spec = yaml.safe_load((out / "data.yaml").read_text())
    assert spec["train"] == "images/train" and spec["val"] == "images/val" and "path" not in spec
    assert spec["names"] == {0: "animal", 1: "dog", 2: "cat", 3: "car", 4: "bus"}  # the box classes used
    _same(
        _read(UltralyticsSource(out / "data.yaml"), tree),
        _expect(train, classification=False, difficult=False),
        tree.ids,
    )
    _same(_read(UltralyticsSource(out / "data.yaml", "val"), tree), val, tree.ids)
    # a.png and a.jpg share a stem: the second is renamed so each has its label file; a background picture has an
    # empty one
    assert sorted(p.name for p in (out / "labels" / "train").iterdir() if p.is_file()) == ["a.txt", "a~1.txt"]
    assert (out / "labels" / "train" / "sub" / "b.txt").read_text() == ""


def test_yolo_flat_classes_and_no_val(data, tmp_path):
    import yaml

    from yolo9000.data.ultralytics import UltralyticsSource

    train, _ = data
    names = ["thing", "animal", "vehicle", "dog", "cat", "car", "dog"]  # a repeated name is written by its id
    classes = ClassList(names, [f"c{k}" for k in range(7)])
    write_yolo(train, classes, tmp_path / "flat")
    spec = yaml.safe_load((tmp_path / "flat" / "data.yaml").read_text())
    assert spec["val"] == "images/train" and list(spec["names"].values()) == names[:3] + ["c3", "cat", "car", "c6"]
    back = UltralyticsSource(tmp_path / "flat" / "data.yaml")
    got = list(pictures_of(back, np.arange(7)))
    _same(got, _expect(train, classification=False, difficult=False), classes.ids)


# ---- Darknet --------------------------------------------------------------------------------------------------
def test_darknet_round_trip_combine9k(data, tmp_path):
    from wordtree.formats import load_tree
    from yolo9000.data.darknet_lists import DarknetListSource, darknet_label_path

    _darknet_safe(tmp_path)
    train, val = data
    tree = _tree()
    out = tmp_path / "dk"
    counts = write_darknet(train, ClassList.of_tree(tree), out, val=val, name="joint")
    assert counts["classification_images"] == 2 and counts["left_out_difficult"] == 1
    data_file = out / "joint.data"
    _same(_read(DarknetListSource(data_file), tree), _expect(train, difficult=False), tree.ids)
    _same(_read(DarknetListSource(data_file, "valid"), tree), val, tree.ids)
    keys = dict(line.split(" = ") for line in data_file.read_text().splitlines() if not line.startswith("#"))
    assert keys["classes"] == "7" and keys["train"] == str(out.absolute() / "train.list")
    assert keys["map"].endswith("joint.map") and keys["labels"].endswith("joint.labels")
    # box classes through map= (tree indices of the box classes used), classification lines x = y = 0 by tree index
    # (not 2, vehicle: its one box is difficult, which Darknet has no flag for)
    assert (out / "joint.map").read_text().split() == ["1", "3", "4", "5", "6"]
    listed = (out / "train.list").read_text().splitlines()
    assert all(os.path.isabs(e) for e in listed) and len(listed) == 5
    dog = next(e for e in listed if e.endswith("c1.png"))
    assert Path(darknet_label_path(dog)).read_text() == "3 0 0 1 1\n"
    back = load_tree(out / "joint.tree")
    assert back.ids == tree.ids and back.names == tree.names and back.parent.tolist() == tree.parent.tolist()


def test_darknet_refusals(data, tmp_path):
    train, _ = data
    with pytest.raises(ValueError, match="needs a tree"):
        write_darknet(train, ClassList(NAMES, NAMES), tmp_path / "flat")
    # Darknet's label rule would replace the "images" of the output folder's own path: refused, nothing left
    with pytest.raises(ValueError, match="'images'"):
        write_darknet(train, ClassList.of_tree(_tree()), tmp_path / "my_images")
    assert not (tmp_path / "my_images").exists() and not list(tmp_path.glob(".my_images*"))


# ---- Pascal VOC -----------------------------------------------------------------------------------------------
def _labelmap_names(folder: Path) -> list[str]:
    lines = (folder / "labelmap.txt").read_text().splitlines()
    assert lines[0] == "# label:color_rgb:parts:actions"
    return [line.split(":")[0] for line in lines[1:]]


def test_voc_round_trip(data, tmp_path, caplog):
    from yolo9000.data.voc import VocSource

    train, val = data
    tree = _tree()
    out = tmp_path / "voc"
    with caplog.at_level(logging.WARNING):
        counts = write_voc(train, ClassList.of_tree(tree), out, val=val)
    assert counts["left_out_classification"] == 2 and counts["images"] == 3
    assert "rounded to whole pixels" in caplog.text
    names = _labelmap_names(out)
    assert names == ["animal", "vehicle", "dog", "cat", "car", "bus"]
    assert (out / "labelmap.txt").read_text().splitlines()[1] == "animal:%d,%d,%d::" % voc_colour(1)
    got = _read(VocSource(out, classes=names), tree)
    _same(got, _expect(train, classification=False, whole=True), tree.ids)  # difficult kept, flagged
    _same(_read(VocSource(out, "test", classes=names), tree), val, tree.ids)
    xml = (out / "Annotations" / "det_a.xml").read_text()
    # the reader's x1 = xmin - 1, x2 = xmax inverted: 1.5 -> 2 + 1, 30.75 -> 31
    assert "<xmin>3</xmin><ymin>3</ymin><xmax>31</xmax><ymax>40</ymax>" in xml and "<depth>3</depth>" in xml
    # ids are the sub-paths below the pictures' common folder; a.png and a.jpg share a stem: the second is renamed
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == [
        "det_a.png",
        "det_a_1.jpg",
        "det_sub_b.png",
        "val_v.png",
    ]


# ---- Open Images ----------------------------------------------------------------------------------------------
def test_open_images_round_trip_and_hierarchy(data, tmp_path):
    from wordtree.builder import build
    from wordtree.hierarchy import read_openimages, resolve
    from yolo9000.data.open_images import OpenImagesSource

    train, val = data
    tree = _tree(mids=True)
    out = tmp_path / "oi"
    counts = write_open_images(train, ClassList.of_tree(tree), out, val=val)
    assert counts["left_out_background"] == 1 and counts["left_out_difficult"] == 1
    _same(_read(OpenImagesSource(out), tree), _expect(train, difficult=False, background=False), tree.ids)
    _same(_read(OpenImagesSource(out / "openimages.yaml", "validation"), tree), val, tree.ids)
    header = (out / "boxes.csv").read_text().splitlines()[0]
    assert header.split(",")[:8] == ["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax"]
    assert (out / "labels.csv").read_text().splitlines()[1:] == [
        "cls_dog_c1,yolo9000,/m/0dog,1",
        "cls_x_c2,yolo9000,/m/0cat,1",
    ]
    # the hierarchy, in Open Images' form, builds the tree again (its top entry is dropped)
    assert hierarchy_json(tree)["LabelName"] == "/m/0bl9f"
    built, _ = build([], user=resolve([read_openimages(out / "hierarchy.json", out / "classes.csv")]))
    assert _edges(built) == _edges(tree)


def _edges(tree) -> set:
    return {(i, tree.ids[p] if p >= 0 else None, n) for i, p, n in zip(tree.ids, tree.parent.tolist(), tree.names)}


# ---- the output folder ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("writer", [write_coco, write_yolo, write_voc, write_open_images, write_darknet])
def test_refuses_a_folder_that_is_not_new_or_empty(data, tmp_path, writer):
    train, _ = data
    if writer is write_darknet:
        _darknet_safe(tmp_path)
    classes = ClassList.of_tree(_tree())
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty") as exc:
        writer(train, classes, out)
    assert len(str(exc.value).splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="not a folder"):
        writer(train, classes, out / "notes.txt")
    # inside a picture's folder: refused too (the links would become the source's pictures)
    with pytest.raises(ValueError, match="inside the picture folder"):
        writer(train, classes, train[0].path.parent / "converted")
    # an empty folder is fine
    (out / "notes.txt").unlink()
    writer(train, classes, out)
    assert any(out.iterdir())


def test_a_failed_write_leaves_nothing(data, tmp_path):
    train, _ = data
    gone = picture(tmp_path / "src" / "missing.png", (10, 10), [[1, 1, 5, 5]], [3])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        write_yolo(train + [gone], ClassList.of_tree(_tree()), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_copies_and_hard_links_leave_the_sources_alone(data, tmp_path):
    train, _ = data
    before = {p.path: (p.path.read_bytes(), p.path.stat().st_mtime_ns) for p in train}
    write_coco(train, ClassList.of_tree(_tree()), tmp_path / "copy", link="copy")
    write_coco(train, ClassList.of_tree(_tree()), tmp_path / "hard", link="hardlink")
    copy, hard = tmp_path / "copy" / "images" / "a.png", tmp_path / "hard" / "images" / "a.png"
    assert not copy.is_symlink() and copy.read_bytes() == train[0].path.read_bytes()
    assert copy.stat().st_ino != train[0].path.stat().st_ino
    assert hard.stat().st_ino == train[0].path.stat().st_ino
    assert {p.path: (p.path.read_bytes(), p.path.stat().st_mtime_ns) for p in train} == before
    with pytest.raises(ValueError, match="link must be"):
        write_coco(train, ClassList.of_tree(_tree()), tmp_path / "x", link="move")


def test_duplicates_and_boxes_outside_the_picture(tmp_path):
    a = _save(tmp_path / "src" / "a.png", (20, 10), 0)
    pics = [picture(a, (20, 10), [[-5, 2, 8, 12], [30, 0, 40, 5]], [3, 5]), picture(a, (20, 10), [[1, 1, 2, 2]], [4])]
    counts = write_coco(pics, ClassList.of_tree(_tree()), tmp_path / "out")
    assert counts["duplicates"] == 1 and counts["dropped_boxes"] == 1 and counts["boxes"] == 1
    doc = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert [a["bbox"] for a in doc["annotations"]] == [[0.0, 2.0, 8.0, 8.0]]  # clipped to the picture
    with pytest.raises(ValueError, match="outside the class list"):
        write_coco([picture(a, (20, 10), [[1, 1, 2, 2]], [7])], ClassList.of_tree(_tree()), tmp_path / "bad")
