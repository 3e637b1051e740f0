"""Every command on a tree that is not WordNet's: build it from a hierarchy CSV, train on COCO categories that
name their node by `node` and class folders named by id (or mapped by `class_ids.csv`), detect with user names,
eval with ancestor credit and unseen classes, and the Darknet export read back (small generated data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tiny_data as td
from PIL import Image

from wordtree.formats import load_json
from yolo9000.cli import main

HIERARCHY = """id,parent,name
/m/animal,,animal
/m/dog,/m/animal,dog
/m/cat,/m/animal,cat
acme:vehicle,,vehicle
acme:car,acme:vehicle,car
acme:bus,acme:vehicle,bus
acme:fruit,,fruit
acme:lemon,acme:fruit,lemon
"""
COLOURS = {**td.COLOURS, "lemon": (240, 230, 40), "fruit": (240, 230, 40)}
DET = [{"id": 3, "name": "animal", "node": "/m/animal"}, {"id": 7, "name": "vehicle", "node": "acme:vehicle"}]
FINE = [
    {"id": 1, "name": "dog", "node": "/m/dog"},
    {"id": 2, "name": "car", "node": "acme:car"},
    {"id": 3, "name": "lemon", "node": "acme:lemon"},  # its branch never has a training box
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _folders(root: Path) -> Path:
    """Class folders: `acme:car` and `acme:lemon` by id; `dog`, `cat` (no folder may be named /m/dog) mapped."""
    rng = np.random.default_rng(1)
    for folder, name in (("dog", "dog"), ("cat", "cat"), ("acme:car", "car"), ("acme:lemon", "lemon")):
        (root / folder).mkdir(parents=True)
        for k in range(3):
            arr = np.empty((64, 64, 3), np.uint8)
            arr[:] = rng.integers(90, 160, size=3)
            arr[8:56, 8:56] = COLOURS[name]
            Image.fromarray(arr).save(root / folder / f"{k}.png")
    (root / "class_ids.csv").write_text("folder,id\ndog,/m/dog\ncat,/m/cat\n")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from wordtree.cli import main as build_wordtree

    root = tmp_path_factory.mktemp("user_tree")
    (root / "h.csv").write_text(HIERARCHY)
    assert build_wordtree(["--hierarchy", str(root / "h.csv"), "-o", str(root / "tree"), "-q"]) == 0
    tree = load_json(root / "tree" / "wordtree.json")
    td.COLOURS["lemon"] = COLOURS["lemon"]  # make_coco colours boxes by category name
    try:
        test = td.make_coco(root / "test", n_images=4, seed=5, categories=FINE)
    finally:
        del td.COLOURS["lemon"]
    return {
        "coco": td.make_coco(root / "det", categories=DET),
        "images": root / "det" / "images",
        "folders": _folders(root / "cls"),
        "tree": root / "tree" / "wordtree.json",
        "cfg": td.make_cfg(tree, root / "model.cfg"),
        "test": test,
        "test_images": root / "test" / "images",
    }


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    args = td.train_args(data, out, "--steps", "4", "--batch", "4", "--lr", "0.01", "--burn-in", "1")
    assert main(args + ["--cls-fraction", "0.5", "--device", "cpu"]) == 0
    return out / "last.pt"


def test_train_uses_node_fields_and_mapped_folders(data, checkpoint):
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.data import ClassFolders, CocoDetection

    tree = load_json(data["tree"])
    model = load_model(checkpoint)
    assert model.tree == tree and model.tree.fingerprint == tree.fingerprint
    det = CocoDetection(data["coco"], data["images"], tree)
    nodes = {int(n) for i in range(len(det)) for n in det.load(i).nodes}
    assert nodes == {tree.index("/m/animal"), tree.index("acme:vehicle")}  # the categories' "node" fields
    cls = ClassFolders(data["folders"], tree)
    assert sorted(tree.ids[n] for n in cls.class_nodes) == ["/m/cat", "/m/dog", "acme:car", "acme:lemon"]


def test_detect_names_user_nodes(data, checkpoint, tmp_path):
    out = tmp_path / "det"
    args = ["detect", "--checkpoint", str(checkpoint), "--thresh", "0.0", "--out", str(out), "--show-path"]
    assert main(args + ["--no-images", "--no-summary", "--quiet", "--device", "cpu", str(data["test_images"])]) == 0
    rows = [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]
    tree = load_json(data["tree"])
    dets = [d for r in rows for d in r["detections"]]
    assert dets and {r["tree_fingerprint"] for r in rows} == {tree.fingerprint}
    for d in dets:
        assert d["name"] == tree.names[d["node"]] and d["id"] == tree.ids[d["node"]]  # the user's own ids
        assert [p["name"] for p in d["path"]] == [tree.names[i] for i in tree.path(d["node"])]
        assert [p["id"] for p in d["path"]] == [tree.ids[i] for i in tree.path(d["node"])]
    assert {d["id"] for d in dets} & {"/m/animal", "/m/dog", "/m/cat", "acme:vehicle", "acme:car", "acme:lemon"}


def test_eval_credits_ancestors_and_scores_the_never_boxed_branch(data, checkpoint, tmp_path):
    out = tmp_path / "eval"
    args = ["eval", "--checkpoint", str(checkpoint), "--coco", str(data["test"]), "--images", str(data["test_images"])]
    args += ["--train-maps", str(data["coco"]), "--out", str(out), "--no-progress", "--no-plots", "--device", "cpu"]
    assert main(args) == 0
    per = pd.read_csv(out / "per_class.csv").set_index("name")
    assert per.loc[["dog", "car", "lemon"], "id"].tolist() == ["/m/dog", "acme:car", "acme:lemon"]  # node ids
    assert per["group"].to_dict() == {"dog": "under_boxed", "car": "under_boxed", "lemon": "never_boxed"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detection"]["unseen"]["classes"] == 3 and 0.0 <= summary["detection"]["AP50"] <= 1.0


def test_darknet_export_and_reload_keep_the_user_tree(data, checkpoint, tmp_path):
    from yolo9000.darknet.model import load_darknet

    out = tmp_path / "dn" / "user.cfg"
    assert main(["convert", str(checkpoint), "--to-darknet", "-o", str(out)]) == 0
    tree = load_json(data["tree"])
    dn_tree = (out.parent / "user.tree").read_text().splitlines()
    assert [line.split()[0] for line in dn_tree] == list(tree.ids)  # "<id> <parent index>" per line
    assert (out.parent / "user.names").read_text().splitlines() == list(tree.names)
    model = load_darknet(out, out.with_suffix(".weights"))
    assert model.tree is not None and model.tree.fingerprint == tree.fingerprint
    assert model.tree.names == tree.names


def test_class_ids_file_errors_name_the_file(data, tmp_path):
    import shutil

    from yolo9000.data import ClassFolders

    tree = load_json(data["tree"])
    root = tmp_path / "cls"
    shutil.copytree(data["folders"], root)
    (root / "class_ids.csv").write_text("folder,id\ndog,/m/wolf\ncat,/m/cat\n")
    with pytest.raises(ValueError, match=r"class_ids\.csv: folder 'dog' maps to '/m/wolf', not a node of the tree"):
        ClassFolders(root, tree)
    (root / "class_ids.csv").write_text("folder,node\ndog,/m/dog\n")
    with pytest.raises(ValueError, match=r"class_ids\.csv:1: expected the header folder,id"):
        ClassFolders(root, tree)
    (root / "class_ids.csv").unlink()
    with pytest.raises(ValueError, match=r"folder name 'cat' is not a node id of the tree .*class_ids\.csv"):
        ClassFolders(root, tree)
