"""yolo9000.evaluation.inputs: which classes had training boxes, and the box groups."""

from __future__ import annotations

import numpy as np
import pytest
from evaluation_helpers import WNID, node, preds_frame, toy_tree, write_coco

from wordtree import LabelMap, WordTree
from yolo9000.evaluation.coco import evaluate_detections, load_coco


@pytest.fixture(scope="module")
def tree() -> WordTree:
    return toy_tree()


def test_subset_map_of_never_boxed_classes(tree, tmp_path):
    from yolo9000.evaluation import box_groups

    cats = [
        {"id": 1, "name": "dog", "wnid": WNID["dog"]},
        {"id": 2, "name": "poodle", "wnid": WNID["poodle"]},
        {"id": 3, "name": "car", "wnid": WNID["car"]},
        {"id": 4, "name": "cat", "wnid": WNID["cat"]},
    ]
    anns = [(1, 1, (0, 0, 20, 20)), (1, 2, (50, 50, 20, 20)), (1, 3, (0, 50, 20, 20)), (1, 4, (50, 0, 20, 20))]
    coco = load_coco(write_coco(tmp_path / "gt.json", {1: (100, 100)}, anns, cats))
    preds = preds_frame(
        [
            (1, (0, 0, 20, 20), 0.9, node(tree, "dog")),
            (1, (50, 50, 20, 20), 0.8, node(tree, "poodle")),
            (1, (0, 50, 20, 20), 0.7, node(tree, "cat")),  # wrong: car GT, cat predicted
            (1, (50, 0, 20, 20), 0.6, node(tree, "cat")),
        ]
    )
    res, _ = evaluate_detections(coco, preds, tree=tree)
    boxed = np.zeros(len(tree), dtype=bool)
    boxed[[node(tree, "dog"), node(tree, "car")]] = True  # detection training had dog and car boxes
    groups = box_groups(tree, res.per_class["node"].to_numpy(), boxed)
    assert dict(zip(res.per_class["name"], groups)) == {
        "dog": "boxed",
        "poodle": "under_boxed",
        "car": "boxed",
        "cat": "never_boxed",
    }
    unseen = res.subset(res.per_class["category_id"][np.isin(groups, ["under_boxed", "never_boxed"])])
    assert unseen["classes"] == 2
    # poodle found (AP 1); cat found at .6 after a false cat at .7 on the car box (AP .5)
    assert unseen["AP50"] == pytest.approx(0.75)
    seen = res.subset(res.per_class["category_id"][groups == "boxed"])
    # dog found; car missed; the poodle box is also a dog box -> FP at a lower score than the TP
    assert seen["AP50"] == pytest.approx(0.5)


def test_box_groups_all_four(tree):
    from yolo9000.evaluation import box_groups

    boxed = np.zeros(len(tree), dtype=bool)
    boxed[node(tree, "dog")] = True
    cats = [node(tree, n) for n in ("dog", "animal", "entity", "terrier", "cat", "car")]
    assert box_groups(tree, cats, boxed).tolist() == [
        "boxed",
        "boxed_below",
        "boxed_below",
        "under_boxed",
        "never_boxed",
        "never_boxed",
    ]
    with pytest.raises(ValueError, match="boxed mask"):
        box_groups(tree, cats, boxed[:3])


def test_boxed_from_files(tree, tmp_path):
    from yolo9000.evaluation import boxed_from_file

    want = {node(tree, "dog"), node(tree, "car")}
    (tmp_path / "train.map").write_text(f"{node(tree, 'dog')}\n{node(tree, 'car')}\n")
    (tmp_path / "wnids.txt").write_text(f"# boxed classes\n{WNID['dog']}\n{WNID['car']} car\n")
    cats = [
        {"id": 1, "name": "dog", "wnid": WNID["dog"]},
        {"id": 2, "name": "car", "wnid": WNID["car"]},
        {"id": 3, "name": "cat", "wnid": WNID["cat"]},
    ]  # cat is a category without any box
    write_coco(tmp_path / "train.json", {1: (10, 10)}, [(1, 1, (0, 0, 5, 5)), (1, 2, (1, 1, 5, 5))], cats)
    for name in ("train.map", "wnids.txt", "train.json"):
        assert set(np.flatnonzero(boxed_from_file(tmp_path / name, tree))) == want, name
    pytest.importorskip("wordtree.formats")
    tree.with_label_maps([LabelMap("detection", ("dog", "car"), (WNID["dog"], WNID["car"]))]).save(
        tmp_path / "tree.json"
    )
    assert set(np.flatnonzero(boxed_from_file(tmp_path / "tree.json", tree))) == want
    (tmp_path / "bad.map").write_text("1\n99\n")
    with pytest.raises(ValueError, match="bad.map: line 2: node 99 out of range"):
        boxed_from_file(tmp_path / "bad.map", tree)
    (tmp_path / "bad.txt").write_text("n09999999\n")
    with pytest.raises(ValueError, match="n09999999"):
        boxed_from_file(tmp_path / "bad.txt", tree)


def _jsonl(path, records):
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_records_naming_their_node_by_id_are_read(tree, tmp_path):
    """`detect` writes "node" and "id"; a record with only the "id" (or the older "wnid") names the same node."""
    from yolo9000.evaluation import read_predictions

    coco = load_coco(write_coco(tmp_path / "gt.json", {1: (100, 100)}, [], [{"id": 1, "name": "dog"}]))
    dets = [
        {"box": [0, 0, 10, 10], "score": 0.9, "id": WNID["terrier"]},
        {"box": [5, 5, 20, 20], "score": 0.8, "wnid": WNID["cat"]},
        {"box": [5, 5, 20, 20], "score": 0.7, "node": node(tree, "dog"), "id": WNID["dog"], "name": "dog"},
    ]
    got = read_predictions(_jsonl(tmp_path / "p.jsonl", [{"image_id": 1, "detections": dets}]), coco, tree=tree)
    assert got["label"].tolist() == [node(tree, "terrier"), node(tree, "cat"), node(tree, "dog")]
    bad = _jsonl(tmp_path / "bad.jsonl", [{"image_id": 1, "box": [0, 0, 1, 1], "score": 0.5, "id": "n09999999"}])
    with pytest.raises(ValueError, match="bad.jsonl: line 1: id n09999999 is not a node of the tree"):
        read_predictions(bad, coco, tree=tree)


def test_predictions_of_another_tree_are_refused_at_the_first_mismatch(tree, tmp_path):
    """Without a tree fingerprint, a record's "id" / "name" must be the evaluated tree's node at its index (node
    numbers of another tree would score as other classes, silently)."""
    from yolo9000.evaluation import read_predictions

    coco = load_coco(write_coco(tmp_path / "gt.json", {1: (100, 100)}, [], [{"id": 1, "name": "dog"}]))
    dog, cat = node(tree, "dog"), node(tree, "cat")
    good = {"box": [0, 0, 10, 10], "score": 0.9, "node": dog, "id": WNID["dog"], "name": "dog"}
    wrong_id = {"box": [0, 0, 10, 10], "score": 0.8, "node": cat, "id": WNID["dog"], "name": "cat"}
    wrong_name = {"box": [0, 0, 10, 10], "score": 0.7, "label": cat, "name": "dog"}
    lines = [{"image_id": 1, "detections": [good]}, {"image_id": 1, "detections": [good, wrong_id, wrong_name]}]
    path = _jsonl(tmp_path / "other.jsonl", lines)
    msg = rf"other.jsonl: line 2: node {cat} is id '{WNID['cat']}' in the evaluated tree \(tree.json\) but the record"
    with pytest.raises(ValueError, match=msg + rf" says '{WNID['dog']}'"):
        read_predictions(path, coco, tree=tree, tree_source="tree.json")
    path = _jsonl(tmp_path / "named.jsonl", [{"image_id": 1, "detections": [good, wrong_name]}])
    with pytest.raises(ValueError, match=rf"named.jsonl: line 1: label {cat} is name 'cat' .* says 'dog'"):
        read_predictions(path, coco, tree=tree)
    # the model's label names are what a record's "name" is checked against, when the model is given
    names = [f"{n} (ours)" for n in tree.names]
    path = _jsonl(tmp_path / "ours.jsonl", [{"image_id": 1, "detections": [{**good, "name": "dog (ours)"}]}])
    assert read_predictions(path, coco, tree=tree, names=names)["label"].tolist() == [dog]
    # a record with the evaluated tree's fingerprint is that tree's: nothing more to check
    marked = [{"image_id": 1, "tree_fingerprint": tree.fingerprint, "detections": [good, wrong_name]}]
    got = read_predictions(_jsonl(tmp_path / "marked.jsonl", marked), coco, tree=tree)
    assert got["label"].tolist() == [dog, cat]
