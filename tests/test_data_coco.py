"""COCO-format detection data: categories to tree nodes, box clipping, and the clear errors."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tiny_data as td
import torch

from yolo9000.data import AugmentConfig, CocoDetection, JointDataset, SampleKey, map_categories
from yolo9000.data.joint import DET


@pytest.fixture()
def tree():
    return td.make_tree()


@pytest.fixture()
def coco(tmp_path):
    return td.make_coco(tmp_path / "det", n_images=4)


def _rewrite(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_categories_map_to_tree_nodes_by_wnid_and_label_map(coco, tree):
    ds = CocoDetection(coco, None, tree)
    # "animal" carries its wnid, "vehicle" is resolved through the tree's "detection" label map
    assert ds.cat_to_node == {3: tree.index("n90000002"), 7: tree.index("n90000003")}
    data = json.loads(coco.read_text())
    assert len(ds) == len(data["images"])
    for i, iid in enumerate(ds.image_ids):
        anns = [a for a in data["annotations"] if a["image_id"] == iid]
        want = np.array(
            [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in anns],
            np.float32,
        )
        sample = ds.load(i)
        assert sample.image.dtype == torch.uint8 and sample.image.shape == (3, 72, 96)
        np.testing.assert_allclose(sample.boxes.numpy(), want)
        assert sample.nodes.tolist() == [ds.cat_to_node[a["category_id"]] for a in anns]


def test_flat_categories_are_dense_in_id_order():
    cats = [{"id": 9, "name": "b"}, {"id": 2, "name": "a"}, {"id": 5, "name": "c"}]
    mapping, names = map_categories(cats)
    assert mapping == {2: 0, 5: 1, 9: 2} and names == ["a", "c", "b"]


def test_category_without_node_is_a_clear_error(coco, tree):
    _rewrite(coco, lambda d: d["categories"].append({"id": 11, "name": "zebra"}))
    with pytest.raises(ValueError, match=r"annotations\.json: category 'zebra' \(id 11\) has no 'node' or 'wnid'"):
        CocoDetection(coco, None, tree)


def test_category_wnid_not_in_tree(coco, tree):
    _rewrite(coco, lambda d: d["categories"].append({"id": 11, "name": "zebra", "wnid": "n02391049"}))
    with pytest.raises(ValueError, match="'zebra'.*n02391049 which is not a node"):
        CocoDetection(coco, None, tree)


def test_unknown_label_map_name(coco, tree):
    with pytest.raises(ValueError, match="no label map 'imagenet'"):
        CocoDetection(coco, None, tree, label_map="imagenet")


def test_one_category_rule_for_training_and_evaluation(coco, tree):
    """Training (`CocoDetection`) and evaluation (`category_nodes`) place every category on the same node."""
    from yolo9000.evaluation.coco import category_ids, category_nodes, load_coco

    ds = CocoDetection(coco, None, tree)
    gt = load_coco(coco)
    assert dict(zip(category_ids(gt), category_nodes(gt, tree).tolist())) == ds.cat_to_node
    # the leniencies are arguments of both sides, and on both they only place what the strict rules leave out
    _rewrite(coco, lambda d: d["categories"].append({"id": 11, "name": "dog"}))  # only its display name says
    with pytest.raises(ValueError, match=r"'dog' \(id 11\) has no 'node' or 'wnid'"):
        CocoDetection(coco, None, tree)
    with pytest.raises(ValueError, match=r"'dog' \(id 11\) has no 'node' or 'wnid'"):
        category_nodes(load_coco(coco), tree, display_names=False)
    lenient = CocoDetection(coco, None, tree, display_names=True)
    assert lenient.cat_to_node == {**ds.cat_to_node, 11: tree.index("n90000004")}
    gt = load_coco(coco)
    assert dict(zip(category_ids(gt), category_nodes(gt, tree).tolist())) == lenient.cat_to_node


def test_category_rule_order_and_leniencies(tree):
    from yolo9000.data.coco import category_nodes_of

    cats = [
        {"id": 1, "name": "cat", "node": "n90000006"},  # its own node wins over its name
        {"id": 2, "name": "vehicle"},  # the tree's label map
        {"id": 3, "name": "n90000007"},  # a node id as name (display_names)
        {"id": 4, "name": "dog"},  # a unique display name (display_names)
    ]
    got = category_nodes_of(cats, tree, display_names=True)
    assert got == [tree.index(w) for w in ("n90000006", "n90000003", "n90000007", "n90000004")]
    with pytest.raises(ValueError, match=r"'n90000007' \(id 3\) has no 'node' or 'wnid'"):
        category_nodes_of(cats, tree)
    with pytest.raises(ValueError, match=r"'unicorn' \(id 5\) matches no tree node"):
        category_nodes_of([{"id": 5, "name": "unicorn"}], tree, display_names=True)


def test_coco_table_is_a_leniency_for_coco_style_names():
    """COCO's own names (without node fields) find their WordNet nodes through the shipped table, when asked."""
    from wordtree import WordTree
    from yolo9000.data.coco import category_nodes_of, coco_table

    table = coco_table()
    names = ["person", "dog", "cat", "car", "bus"]
    tree = WordTree.from_edges({table[n]: None for n in names}, {table[n]: f"node {n}" for n in names})
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(names)]
    assert category_nodes_of(cats, tree, coco_names=True) == [tree.index(table[n]) for n in names]
    with pytest.raises(ValueError, match=r"'person' \(id 1\) has no 'node'"):
        category_nodes_of(cats, tree)
    mapping, _ = map_categories(cats, tree, coco_names=True)
    assert mapping == {i + 1: tree.index(table[n]) for i, n in enumerate(names)}


def test_a_name_two_label_maps_send_apart_needs_one_map(tree):
    from wordtree import LabelMap
    from yolo9000.data.coco import category_nodes_of

    two = tree.with_label_maps([LabelMap("other", ("vehicle",), ("n90000006",))])
    cats = [{"id": 7, "name": "vehicle"}]
    for lenient in (False, True):  # the same refusal in training and evaluation
        with pytest.raises(ValueError, match="'vehicle' .* several nodes .*pass a label map name"):
            category_nodes_of(cats, two, coco_names=lenient, display_names=lenient)
    assert category_nodes_of(cats, two, label_map="other") == [tree.index("n90000006")]
    assert map_categories(cats, two, label_map="detection")[0] == {7: tree.index("n90000003")}


def test_corrupt_json(coco, tree):
    coco.write_text('{"images": [1, 2')
    with pytest.raises(ValueError, match=r"annotations\.json: not valid JSON \(line 1"):
        CocoDetection(coco, None, tree)


def test_not_coco_json(coco, tree):
    coco.write_text('{"images": []}')
    with pytest.raises(ValueError, match="missing or non-list 'annotations'"):
        CocoDetection(coco, None, tree)


def test_annotation_for_unknown_image(coco, tree):
    _rewrite(
        coco, lambda d: d["annotations"].append({"id": 99, "image_id": 1234, "category_id": 3, "bbox": [0, 0, 5, 5]})
    )
    with pytest.raises(ValueError, match="unknown image id 1234"):
        CocoDetection(coco, None, tree)


def test_boxes_outside_image_are_clipped_or_dropped(coco, tree, caplog):
    def edit(d):
        d["annotations"] = [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [80, 60, 40, 40]},  # reaches past: clipped
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [200, 10, 10, 10]},  # fully outside: dropped
            {"id": 3, "image_id": 1, "category_id": 7, "bbox": [10, 10, 0, 10]},  # no area: dropped
            {"id": 4, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 1},  # crowd: skipped
        ]

    _rewrite(coco, edit)
    with caplog.at_level(logging.WARNING):
        ds = CocoDetection(coco, None, tree)
    assert "skipped 2 box(es) with no area inside their image" in caplog.text
    s = ds.load(ds.image_ids.index(1))
    assert s.boxes.tolist() == [[80.0, 60.0, 96.0, 72.0]]
    assert s.nodes.tolist() == [tree.index("n90000002")]


def test_missing_images(coco, tree, tmp_path, caplog):
    with pytest.raises(FileNotFoundError, match="image folder .* not found"):
        CocoDetection(coco, tmp_path / "nowhere", tree)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="none of the 4 images"):
        CocoDetection(coco, empty, tree)
    (coco.parent / "images" / "img001.png").unlink()
    with caplog.at_level(logging.WARNING):
        ds = CocoDetection(coco, None, tree)
    assert len(ds) == 3 and "1 image file(s) missing" in caplog.text


def test_undecodable_image_is_logged_and_replaced(coco, tree, caplog):
    ds = CocoDetection(coco, None, tree)
    ds.path(0).write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    joint = JointDataset(ds, None, AugmentConfig())
    with caplog.at_level(logging.WARNING):
        out = joint[SampleKey(DET, 0, 64, seed=3)]
    assert "cannot decode image" in caplog.text and "img000.png" in caplog.text
    assert out["image"].shape == (3, 64, 64) and len(out["nodes"]) >= 1
    for i in range(len(ds)):
        ds.path(i).write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="in a row failed to load"):
        joint[SampleKey(DET, 0, 64, seed=3)]
