"""The one dataset shape: COCO and class folders as `LabelledSource`s, `open_source`'s choice of format, the
class placement rule with its one error listing every unplaced class, `check_source`'s counts, training samples
equal to the COCO reader's, and the joint loader's handling of classification-only pictures in a mixed stream."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tiny_data import make_all, make_tree, train_args
from yolo9000.data.coco import CocoDetection
from yolo9000.data.folders import ClassFolders, ClassificationSample
from yolo9000.data.labelled import (
    CLASSIFICATION,
    DETECTION,
    LabelError,
    LabelledDataset,
    LabelledSource,
    SourceClass,
    check_source,
    class_nodes,
    image_labels,
    read_names_csv,
)
from yolo9000.data.sources import CocoSource, FolderSource, labelled_datasets, open_source, source_format


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    return make_all(tmp_path_factory.mktemp("sources"))


def test_format_is_chosen_by_what_the_path_is(tmp_path, data):
    assert source_format(data["coco"]) == "coco"
    assert source_format(data["folders"]) == "folders"
    voc = tmp_path / "VOC2007"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "ImageSets").mkdir()
    assert source_format(voc) == "voc"
    (tmp_path / "a.data").write_text("classes = 1\n")
    assert source_format(tmp_path / "a.data") == "darknet"
    (tmp_path / "data.yaml").write_text("path: .\ntrain: images\nnames: [a]\n")
    assert source_format(tmp_path / "data.yaml") == "yolo"
    (tmp_path / "oi.yaml").write_text("images: train\nboxes: boxes.csv\nclasses: classes.csv\n")
    assert source_format(tmp_path / "oi.yaml") == "openimages"
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match=r"x\.txt: not a dataset this reads"):
        source_format(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError, match="nope: dataset not found"):
        source_format(tmp_path / "nope")
    (tmp_path / "bad.yaml").write_text("a: [\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:\d+: not valid YAML"):
        source_format(tmp_path / "bad.yaml")


def test_coco_source_matches_the_coco_reader(data):
    tree = make_tree()
    source = open_source(data["coco"])
    assert isinstance(source, CocoSource) and source.format == "coco"
    coco = CocoDetection(data["coco"], data["images"], tree)
    node_of = class_nodes(source.classes, tree)
    ds = LabelledDataset(source, node_of, tree.names)
    assert len(ds) == len(coco)
    for i in range(len(ds)):
        a, b = ds.load(i), coco.load(i)
        assert a.path == b.path
        np.testing.assert_allclose(a.boxes.numpy(), b.boxes.numpy(), atol=1e-6)
        assert a.nodes.tolist() == b.nodes.tolist()
    counts = check_source(source)
    raw = json.loads(data["coco"].read_text())
    assert counts.images == len(raw["images"]) and counts.boxes == len(raw["annotations"])
    assert counts.classification_images == 0 and counts.problems == []
    assert counts.classes == len({a["category_id"] for a in raw["annotations"]})


def test_folder_source_is_classification_only(data):
    tree = make_tree()
    source = open_source(data["folders"])
    assert isinstance(source, FolderSource)
    folders = ClassFolders(data["folders"], tree)
    assert (source.kinds() == CLASSIFICATION).all()
    ds = LabelledDataset(source, class_nodes(source.classes, tree), tree.names)
    for i in range(len(ds)):
        sample = ds.load(i)
        assert isinstance(sample, ClassificationSample)
        assert sample.label == int(folders.labels[i]) and sample.path == str(folders.path(i))
    counts = check_source(source)
    assert (counts.images, counts.classification_images, counts.boxes) == (len(folders), len(folders), 0)
    assert counts.classes == 3


def test_every_unplaced_class_is_listed_in_one_error(tmp_path):
    tree = make_tree()
    classes = [SourceClass("dog"), SourceClass("unicorn"), SourceClass("x", "n99999999"), SourceClass("dragon")]
    with pytest.raises(ValueError, match=r"src: 3 class\(es\) map to no node.*'unicorn'.*n99999999.*'dragon'"):
        class_nodes(classes, tree, source="src")
    table = tmp_path / "names.csv"
    table.write_text("name,id\nunicorn,n90000005\ndragon,n90000002\n")
    nodes = class_nodes(
        [SourceClass("dog"), SourceClass("unicorn"), SourceClass("dragon")], tree, names=read_names_csv(table)
    )
    assert [tree.ids[n] for n in nodes] == ["n90000004", "n90000005", "n90000002"]
    table.write_text("label,id\n")
    with pytest.raises(ValueError, match=r"names\.csv:1: expected the header name,id"):
        read_names_csv(table)
    table.write_text("name,id\nonly-a-name\n")
    with pytest.raises(ValueError, match=r"names\.csv:2: expected 'name,id'"):
        read_names_csv(table)


def test_voc_names_place_through_the_shipped_table():
    from wordtree.tree import WordTree

    tree = WordTree.from_edges(
        {"n00001740": None, "n02084071": "n00001740", "n02691156": "n00001740"},
        {"n00001740": "entity", "n02084071": "dog", "n02691156": "airplane"},
    )
    nodes = class_nodes([SourceClass("aeroplane"), SourceClass("dog")], tree)
    assert [tree.ids[n] for n in nodes] == ["n02691156", "n02084071"]


class _Mixed(LabelledSource):
    """Pictures whose kind shows only when read (as a Darknet list's): even ones boxed, odd ones class-only,
    picture 3's labels malformed."""

    format = "test"

    def __init__(self, files: list[Path]) -> None:
        super().__init__()
        self.files = files
        self.classes = [SourceClass("dog", "n90000004"), SourceClass("car", "n90000006")]

    def __len__(self) -> int:
        return len(self.files)

    def path(self, i: int) -> Path:
        return self.files[i]

    def labels(self, i: int):
        if i == 3:
            raise LabelError(f"{self.files[i]}:1: bad line")
        if i % 2:
            return image_labels(label=1)
        return image_labels([[0.1, 0.1, 0.6, 0.5], [0.5, 0.5, 2.0, 0.9]], [0, 1], normalized=True)


def test_a_mixed_stream_trains_class_pictures_as_such_and_skips_bad_labels(data, caplog):
    from yolo9000.data.joint import CLS, DET, JointDataset, SampleKey

    tree = make_tree()
    files = sorted((data["images"]).glob("*.png"))[:6]
    source = _Mixed(files)
    det, cls, names = labelled_datasets([source], tree)
    assert cls == [] and len(det) == 1 and names == list(tree.names)  # kinds unknown: one stream, as Darknet's
    sample = det[0].load(0)
    h, w = sample.image.shape[1:]
    # normalized boxes in pixels of the decoded picture, the one reaching past the edge clipped
    np.testing.assert_allclose(
        sample.boxes.numpy(), [[0.1 * w, 0.1 * h, 0.6 * w, 0.5 * h], [0.5 * w, 0.5 * h, w, 0.9 * h]], rtol=1e-6
    )
    assert [tree.ids[n] for n in sample.nodes.tolist()] == ["n90000004", "n90000006"]
    joint = JointDataset(det[0], None)
    item = joint[SampleKey(DET, 1, 64, 0)]
    assert item["is_cls"] and item["label"] == tree.index("n90000006") and len(item["nodes"]) == 0
    assert not joint[SampleKey(DET, 0, 64, 0)]["is_cls"]
    with caplog.at_level("WARNING"):
        item = joint[SampleKey(DET, 3, 64, 5)]  # malformed labels: logged, replaced by another picture
    assert joint.skipped == 1 and "bad line" in caplog.text
    assert CLS == 1


def test_check_counts_kinds_and_lists_problems(data):
    files = sorted((data["images"]).glob("*.png"))[:6] + [data["images"] / "gone.png"]
    counts = check_source(_Mixed(files))
    assert counts.images == 6  # picture 3's labels did not read
    assert counts.classification_images == 2 and counts.boxes == 8 and counts.background_images == 0
    assert any("bad line" in p for p in counts.problems)
    assert any("gone.png: image file not found" in p for p in counts.problems)
    assert counts.as_dict().keys() == {
        "images",
        "boxes",
        "classification_images",
        "background_images",
        "classes",
        "problems",
    }
    assert DETECTION == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data) -> Path:
    from yolo9000.cli import main

    out = tmp_path_factory.mktemp("trained") / "run"
    args = train_args(data, out, "--steps", "2", "--batch", "4", "--subdivisions", "1", "--size", "64")
    # the same data once more through --data (COCO file and class folders), validated on the COCO file
    args += ["--data", str(data["coco"]), "--data", str(data["folders"]), "--val-data", str(data["coco"])]
    assert main(args) == 0
    return out


def test_train_on_data_mixes_with_the_coco_and_folder_options(trained):
    log = (trained / "log.csv").read_text()
    assert "val/AP50" in log.splitlines()[0]


def test_eval_on_data_scores_as_on_the_coco_file(tmp_path, data, trained, monkeypatch):
    from yolo9000.cli import main

    monkeypatch.setenv("YOLO9000_CACHE", str(tmp_path / "cache"))
    common = ["eval", "--checkpoint", str(trained / "last.pt"), "--size", "64", "--no-plots"]
    assert main([*common, "--coco", str(data["coco"]), "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--data", str(data["coco"]), "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert a["detection"]["AP50"] == pytest.approx(b["detection"]["AP50"], abs=1e-9)


def test_data_check_command_json(tmp_path, data, capsys):
    from yolo9000.cli import main

    assert main(["data", "check", str(data["coco"]), str(data["folders"]), "--json", "--quiet"]) == 0
    doc = json.loads(capsys.readouterr().out)
    raw = json.loads(data["coco"].read_text())
    assert doc["images"] == len(raw["images"]) + 9 and doc["boxes"] == len(raw["annotations"])
    assert doc["classification_images"] == 9 and doc["background_images"] == 0 and doc["problems"] == []
    assert doc["classes"] == 2 + 3
    assert [s["format"] for s in doc["sources"]] == ["coco", "folders"]
    torch.manual_seed(0)
