"""Open Images as a labelled source: boxes, classification-only pictures from image-level labels, the group-of
rule, splits, the chunked reader, and the clear errors naming file:line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yolo9000.data.labelled import (
    CLASSIFICATION,
    DETECTION,
    LabelError,
    LabelledDataset,
    check_source,
    split_by_kind,
)
from yolo9000.data.open_images import (
    OpenImagesSource,
    is_open_images_yaml,
    read_class_descriptions,
    read_description,
)

HEADER = (
    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside,"
    "XClick1X,XClick2X,XClick3X,XClick4X,XClick1Y,XClick2Y,XClick3Y,XClick4Y"
)
A, B, C, D, E = (f"{k:016x}" for k in (0xA1, 0xB2, 0xC3, 0xD4, 0xE5))
CAT, DOG, BIRD, FISH = "/m/01cat", "/m/02dog", "/m/03bird", "/m/04fish"
CLICKS = ",".join(["-1"] * 8)


def box(image: str, mid: str, x1: float, x2: float, y1: float, y2: float, group: int = 0) -> str:
    """A boxes row (XMin,XMax,YMin,YMax order, as Open Images)."""
    return f"{image},xclick,{mid},1,{x1},{x2},{y1},{y2},0,0,{group},0,0,{CLICKS}"


BOXES = [
    box(A, CAT, 0.1, 0.5, 0.2, 0.6),
    box(A, DOG, 0.0, 1.0, 0.25, 0.75),
    box(B, DOG, 0.3, 0.4, 0.1, 0.9),
    box(B, CAT, 0.0, 0.9, 0.0, 0.9, group=1),
    box(C, BIRD, 0.2, 0.8, 0.2, 0.8, group=1),
]
LABELS = [
    f"{A},verification,{CAT},1",  # boxed picture: skipped
    f"{D},verification,{CAT},1",
    f"{D},crowdsource-verification,{DOG},1",
    f"{D},verification,{CAT},1",  # the same label verified twice: one picture
    f"{D},verification,{BIRD},0",  # verified absent: skipped
    f"{E},verification,{FISH},0",
]


def write_oi(
    root: Path,
    boxes: list[str] = BOXES,
    labels: list[str] | None = LABELS,
    *,
    yaml: str | None = None,
    header: str = HEADER,
    classes: str = f"LabelName,DisplayName\n{CAT},Cat\n{DOG},Dog\n{BIRD},Bird\n{FISH},Fish\n",
) -> Path:
    """A tiny Open Images folder (real JPEGs named <ImageID>.jpg); returns its YAML."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for k, image in enumerate((A, B, C, D, E)):
        Image.new("RGB", (40, 20), (40 * k, 90, 200)).save(root / "images" / f"{image}.jpg")
    (root / "boxes.csv").write_text(header + "\n" + "".join(r + "\n" for r in boxes))
    if labels is not None:
        (root / "labels.csv").write_text("ImageID,Source,LabelName,Confidence\n" + "".join(r + "\n" for r in labels))
    (root / "classes.csv").write_text(classes)
    text = "images: images/\nboxes: boxes.csv\nclasses: classes.csv\n" + ("labels: labels.csv\n" if labels else "")
    (root / "openimages.yaml").write_text(text if yaml is None else yaml)
    return root / "openimages.yaml"


@pytest.fixture()
def oi(tmp_path: Path) -> Path:
    return write_oi(tmp_path / "oi")


def test_boxes_become_detection_pictures(oi):
    src = OpenImagesSource(oi)
    assert src.format == "openimages" and src.split is None and src.problems == []
    assert [(c.name, c.node) for c in src.classes] == [("Cat", CAT), ("Dog", DOG), ("Bird", BIRD)]  # fish unused
    assert [src.image_id(i) for i in range(3)] == [A, B, C]
    assert src.path(0) == oi.parent.resolve() / "images" / f"{A}.jpg"
    a = src.labels(0)
    assert a.normalized and a.kind == DETECTION and a.label == -1
    np.testing.assert_allclose(a.boxes, [[0.1, 0.2, 0.5, 0.6], [0.0, 0.25, 1.0, 0.75]], atol=1e-7)  # x1,y1,x2,y2
    assert a.classes.tolist() == [0, 1] and a.difficult.tolist() == [False, False]
    b = src.labels(1)  # group_of keep (the default): the group box is an ordinary one
    np.testing.assert_allclose(b.boxes, [[0.3, 0.1, 0.4, 0.9], [0.0, 0.0, 0.9, 0.9]], atol=1e-7)
    assert b.classes.tolist() == [1, 0] and src.labels(2).classes.tolist() == [2]
    assert src.box_count == 5 and src.skipped["group_of_boxes"] == 0


def test_positive_labels_without_boxes_become_classification_pictures(oi):
    src = OpenImagesSource(oi)
    assert len(src) == 5 and src.kinds().tolist() == [DETECTION] * 3 + [CLASSIFICATION] * 2
    entries = [src.labels(i) for i in (3, 4)]
    assert [e.kind for e in entries] == [CLASSIFICATION] * 2 and all(len(e.boxes) == 0 for e in entries)
    assert sorted(src.classes[e.label].node for e in entries) == [CAT, DOG]  # one entry per (image, label)
    assert src.path(3) == src.path(4) == oi.parent.resolve() / "images" / f"{D}.jpg"
    # the boxed picture's label, the verified-absent ones (bird on D, fish on E) and the repeat: no pictures
    assert src.skipped == {"group_of_boxes": 0, "boxed_labels": 1, "negative_labels": 2, "other_labels": 0}
    assert E not in {src.image_id(i) for i in range(len(src))}


def test_group_of_skip(tmp_path):
    write_oi(tmp_path)
    src = OpenImagesSource(_yaml(tmp_path, "group_of: skip\n"))
    # C had only a group box: left out (not a background picture); B keeps its one ordinary box
    assert [src.image_id(i) for i in range(len(src))] == [A, B, D, D]
    assert src.labels(1).classes.tolist() == [1] and src.box_count == 3
    assert src.skipped["group_of_boxes"] == 2 and "Bird" not in [c.name for c in src.classes]


def _yaml(root: Path, extra: str) -> Path:
    (root / "openimages.yaml").write_text(
        "images: images/\nboxes: boxes.csv\nlabels: labels.csv\nclasses: classes.csv\n" + extra
    )
    return root / "openimages.yaml"


def test_check_source_counts_and_training_samples(oi):
    src = OpenImagesSource(oi)
    counts = check_source(src).as_dict()
    assert counts == {
        "images": 5,
        "boxes": 5,
        "classification_images": 2,
        "background_images": 0,
        "classes": 3,
        "problems": [],
    }
    ds = LabelledDataset(src, np.array([10, 11, 12]), ["cat", "dog", "bird"])
    det, cls = split_by_kind(ds)
    assert det is not None and cls is not None and len(det) == 3 and len(cls) == 2
    sample = det.load(0)  # pixel boxes of the 40x20 picture, tree nodes of the classes
    np.testing.assert_allclose(sample.boxes.numpy(), [[4, 4, 20, 12], [0, 5, 40, 15]], atol=1e-4)
    assert sample.nodes.tolist() == [10, 11]
    assert {cls.load(i).label for i in range(2)} == {10, 11}


def test_is_open_images_yaml(tmp_path):
    yaml_path = write_oi(tmp_path / "oi")
    assert is_open_images_yaml(yaml_path) and is_open_images_yaml(yaml_path.parent)
    splits = tmp_path / "splits.yaml"
    splits.write_text("classes: c.csv\ntrain: {images: i/, labels: l.csv}\n")
    assert is_open_images_yaml(splits)
    ultralytics = tmp_path / "data.yaml"
    ultralytics.write_text("path: .\ntrain: images/train\nval: images/val\nnames: [cat, dog]\n")
    assert not is_open_images_yaml(ultralytics) and not is_open_images_yaml(tmp_path / "oi" / "boxes.csv")


def test_headerless_descriptions_and_folder_path(tmp_path):
    yaml_path = write_oi(tmp_path, classes=f'{CAT},Cat\n{DOG},"Dog, domestic"\n{BIRD},Bird\n{FISH},Fish\n')
    mids, names = read_class_descriptions(tmp_path / "classes.csv")
    assert mids == [CAT, DOG, BIRD, FISH] and names == ["Cat", "Dog, domestic", "Bird", "Fish"]
    src = OpenImagesSource(yaml_path.parent)  # a folder holding openimages.yaml
    assert [c.name for c in src.classes] == ["Cat", "Dog, domestic", "Bird"]


def test_splits(tmp_path):
    write_oi(tmp_path)
    (tmp_path / "val.csv").write_text(HEADER + "\n" + box(E, FISH, 0.1, 0.2, 0.3, 0.4) + "\n")
    yaml_path = tmp_path / "splits.yaml"
    yaml_path.write_text(
        "classes: classes.csv\ngroup_of: skip\n"
        "train: {images: images/, boxes: boxes.csv, labels: labels.csv}\n"
        "validation: {images: images/, boxes: val.csv, hierarchy: val.csv}\n"
        "test: {images: images/, labels: labels.csv}\n"
    )
    train = OpenImagesSource(yaml_path)
    assert train.split == "train" and train.skipped["group_of_boxes"] == 2 and len(train) == 4
    assert train.hierarchy is None
    val = OpenImagesSource(yaml_path, "validation")
    assert val.split == "validation" and len(val) == 1 and val.classes[0].node == FISH
    assert val.hierarchy == (tmp_path / "val.csv").resolve()  # recorded for the user, not read
    test = OpenImagesSource(yaml_path, "test")  # labels only: A's label makes a picture now
    assert [test.image_id(i) for i in range(len(test))] == [A, D, D] and test.box_count == 0
    assert set(test.kinds().tolist()) == {CLASSIFICATION}
    with pytest.raises(ValueError, match=r"splits\.yaml: no split 'val' \(it has train, validation, test;"):
        OpenImagesSource(yaml_path, "val")
    with pytest.raises(ValueError, match=r"openimages\.yaml: no splits .* no split 'validation'"):
        OpenImagesSource(tmp_path / "openimages.yaml", "validation")


def _same(a: OpenImagesSource, b: OpenImagesSource) -> None:
    assert len(a) == len(b) and a.classes == b.classes and a.problems == b.problems and a.skipped == b.skipped
    for i in range(len(a)):
        assert a.path(i) == b.path(i)
        try:
            la = a.labels(i)
        except LabelError as exc:
            with pytest.raises(LabelError, match=str(exc).replace("[", r"\[").replace("]", r"\]")):
                b.labels(i)
            continue
        lb = b.labels(i)
        assert la.label == lb.label and la.classes.tolist() == lb.classes.tolist()
        np.testing.assert_array_equal(la.boxes, lb.boxes)


def test_chunked_reader_equals_one_chunk(tmp_path):
    # rows of one picture apart (the sort path), a bad box, a row without ImageID, labels over several chunks
    rows = [box(A, CAT, 0.1, 0.5, 0.2, 0.6), box(B, DOG, 0.3, 0.4, 0.1, 0.9), box(C, BIRD, 0.2, 1.5, 0.2, 0.8)]
    rows += [box(A, DOG, 0.0, 1.0, 0.25, 0.75), box("", CAT, 0.1, 0.2, 0.1, 0.2), box(B, CAT, 0.0, 0.9, 0.0, 0.9, 1)]
    labels = LABELS + [f"{E},verification,{BIRD},1", f"{D},verification,{FISH},1", f"{E},verification,{CAT},1"]
    yaml_path = write_oi(tmp_path, rows, labels)
    whole = OpenImagesSource(yaml_path)
    assert [whole.image_id(i) for i in range(3)] == [A, B, C]
    a = whole.labels(0)  # A's rows 1 and 4, in file order
    np.testing.assert_allclose(a.boxes, [[0.1, 0.2, 0.5, 0.6], [0.0, 0.25, 1.0, 0.75]], atol=1e-7)
    assert a.classes.tolist() == [0, 1] and whole.labels(1).classes.tolist() == [1, 0]  # B: its dog, its group cat
    with pytest.raises(LabelError, match=r"boxes\.csv:4: XMax 1\.5 outside"):
        whole.labels(2)
    assert [p.split("/")[-1] for p in whole.problems] == ["boxes.csv:6: no ImageID, row skipped"]
    for size in (1, 2, 3):  # a chunk of only E's row once turned 00000000000000e5 into the number 0.0
        _same(whole, OpenImagesSource(yaml_path, chunk_rows=size))


# ---------------------------------------------------------------------------------------------- bad input
def test_unknown_mid_names_file_and_line(tmp_path):
    rows = BOXES + [box(A, "/m/0zzz", 0.1, 0.2, 0.1, 0.2), box(B, "/m/0yyy", 0.1, 0.2, 0.1, 0.2)]
    yaml_path = write_oi(tmp_path, rows, LABELS + [f"{D},verification,/m/0xxx,0"])
    with pytest.raises(ValueError, match=r"boxes\.csv:7: unknown MID /m/0zzz \(not in .*classes\.csv\) "
                       r"\(and 2 more rows: /m/0yyy at line 8, /m/0xxx at line 8\)"):  # fmt: skip
        OpenImagesSource(yaml_path)


def test_wrong_header(tmp_path):
    yaml_path = write_oi(tmp_path, header=HEADER.replace("XMin", "Xmin"))
    with pytest.raises(ValueError, match=r"boxes\.csv:1: expected the Open Images header .*missing XMin"):
        OpenImagesSource(yaml_path)
    (tmp_path / "labels.csv").write_text("ImageID,LabelName\n")
    (tmp_path / "boxes.csv").write_text(HEADER + "\n")
    with pytest.raises(ValueError, match=r"labels\.csv:1: .*missing Confidence"):
        OpenImagesSource(yaml_path)


def test_bad_boxes_are_label_errors_with_file_and_line(tmp_path):
    rows = [box(A, CAT, 0.1, 0.5, 0.2, 0.6), box(B, DOG, 0.3, 1.2, 0.1, 0.9), box(C, CAT, 0.6, 0.4, 0.1, 0.9)]
    rows += [f"{D},xclick,{CAT},1,0.1,,0.2,0.3,0,0,0,0,0,{CLICKS}", f"{E},xclick,,1,0.1,0.2,0.2,0.3,0,0,0,0,0,{CLICKS}"]
    src = OpenImagesSource(write_oi(tmp_path, rows, None))
    assert src.labels(0).classes.tolist() == [0]
    wrong = {1: r"boxes\.csv:3: XMax 1\.2 outside \[0, 1\]", 2: r"boxes\.csv:4: XMin 0\.6 > XMax 0\.4"}
    wrong |= {3: r"boxes\.csv:5: XMax is empty", 4: r"boxes\.csv:6: no LabelName"}
    for i, message in wrong.items():
        with pytest.raises(LabelError, match=message):
            src.labels(i)
    counts = check_source(src)
    assert counts.images == 1 and len(counts.problems) == 4 and "boxes.csv:3: XMax" in counts.problems[0]


def test_not_a_number_names_its_line(tmp_path):
    rows = [box(A, CAT, 0.1, 0.5, 0.2, 0.6)] * 3 + [box(B, DOG, 0.3, "x0.4", 0.1, 0.9)]
    yaml_path = write_oi(tmp_path, rows, None)
    for size in (2, 100):
        with pytest.raises(ValueError, match=r"boxes\.csv:5: XMax 'x0\.4' is not a number"):
            OpenImagesSource(yaml_path, chunk_rows=size)
    write_oi(tmp_path, rows[:1] + ['"' + rows[0]] + rows[:2], None)  # an unclosed quote
    with pytest.raises(ValueError, match=r"boxes\.csv: not a valid CSV \(C error: EOF inside string"):
        OpenImagesSource(yaml_path)


def test_rows_without_image_id_are_problems(tmp_path):
    rows = [box(A, CAT, 0.1, 0.5, 0.2, 0.6), box("", CAT, 0.1, 0.5, 0.2, 0.6), ""]  # a blank line is no problem
    src = OpenImagesSource(write_oi(tmp_path, rows, [f",verification,{CAT},1", f"{D},verification,,1"]))
    assert len(src) == 1
    assert [p.split("/")[-1] for p in src.problems] == [
        "boxes.csv:3: no ImageID, row skipped",
        "labels.csv:2: no ImageID, row skipped",
        "labels.csv:3: no LabelName, row skipped",
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("images: images/\nboxes: boxes.csv\n", r"openimages\.yaml: missing key 'classes'"),
        ("images: images/\nclasses: classes.csv\n", r"missing key 'boxes' or 'labels'"),
        ("boxes: boxes.csv\nclasses: classes.csv\n", r"missing key 'images'"),
        ("images: images/\nbox: boxes.csv\nclasses: classes.csv\n", r"unknown key 'box'"),
        ("images: images/\nboxes: boxes.csv\nclasses: classes.csv\ngroup_of: maybe\n", r"group_of: expected keep"),
        ("train: {images: images/, boxes: boxes.csv}\n", r"openimages\.yaml: train: missing key 'classes'"),
        ("images: images/\nboxes: [boxes.csv\n", r"openimages\.yaml:\d+: not valid YAML"),
        ("- images\n", r"expected a mapping"),
    ],
)
def test_bad_yaml(tmp_path, text, message):
    write_oi(tmp_path, yaml=text)
    with pytest.raises(ValueError, match=message):
        read_description(tmp_path / "openimages.yaml")


def test_missing_files(tmp_path):
    write_oi(tmp_path, yaml="images: images/\nboxes: nothere.csv\nclasses: classes.csv\n")
    with pytest.raises(FileNotFoundError, match=r"openimages\.yaml: boxes: file .*nothere\.csv not found"):
        OpenImagesSource(tmp_path / "openimages.yaml")
    with pytest.raises(FileNotFoundError, match="Open Images YAML not found"):
        OpenImagesSource(tmp_path / "none.yaml")
    (tmp_path / "classes.csv").write_text(f"{CAT},Cat\n{CAT},Cat again\n")
    with pytest.raises(ValueError, match=r"classes\.csv:2: /m/01cat described twice \(first on line 1\)"):
        read_class_descriptions(tmp_path / "classes.csv")
