"""yolo9000.evaluation.summary: the per-box hierarchy measures of a detection report."""

from __future__ import annotations

import pytest
from evaluation_helpers import WNID, node, preds_frame, toy_tree, write_coco

from wordtree import WordTree
from yolo9000.evaluation.coco import load_coco


@pytest.fixture(scope="module")
def tree() -> WordTree:
    return toy_tree()


def test_per_box_hierarchy(tree, tmp_path):
    from yolo9000.evaluation import detection_report

    cats = [{"id": 1, "name": "terrier", "wnid": WNID["terrier"]}, {"id": 2, "name": "cat", "wnid": WNID["cat"]}]
    anns = [(1, 1, (0, 0, 20, 20)), (1, 2, (50, 50, 20, 20)), (1, 1, (0, 50, 20, 20)), (1, 2, (50, 0, 20, 20))]
    coco = load_coco(write_coco(tmp_path / "gt.json", {1: (100, 100)}, anns, cats))
    preds = preds_frame(
        [
            (1, (0, 0, 20, 20), 0.9, node(tree, "terrier")),  # exact
            (1, (0, 0, 20, 20), 0.5, node(tree, "car")),  # lower score on the same box: ignored
            (1, (50, 50, 20, 20), 0.8, node(tree, "animal")),  # coarser than cat (distance 1)
            (1, (0, 50, 20, 20), 0.7, node(tree, "poodle")),  # wrong branch (distance 2)
        ]
    )  # the cat box at (50, 0) is not found
    rep = detection_report(coco, preds, tree=tree)
    box = rep.headline["per_box"]
    assert box["boxes"] == 4 and box["found"] == pytest.approx(0.75)
    assert box["exact"] == pytest.approx(1 / 3) and box["coarser"] == pytest.approx(1 / 3)
    assert box["wrong_branch"] == pytest.approx(1 / 3)
    assert box["mean_distance_not_exact"] == pytest.approx(1.5)
    # ancestor sets without the root: {animal,dog,terrier} x2, {animal,cat}; preds terrier, animal, poodle
    assert box["hP"] == pytest.approx((3 + 1 + 2) / (3 + 1 + 3))
    assert box["hR"] == pytest.approx((3 + 1 + 2) / (3 + 2 + 3))
    assert rep.box_depth.set_index("depth").loc[3, "accuracy"] == pytest.approx(1 / 2)


def _report(tree, tmp_path, name, cats, boxed_names, preds):
    """A detection report of one box per category on one image, with `boxed_names` the training box labels."""
    import numpy as np

    from yolo9000.evaluation import detection_report

    anns = [(1, k + 1, (10 * k, 0, 10, 10)) for k in range(len(cats))]
    coco = load_coco(
        write_coco(
            tmp_path / f"{name}.json",
            {1: (100, 100)},
            anns,
            [{"id": k + 1, "name": c, "wnid": WNID[c]} for k, c in enumerate(cats)],
        )
    )
    boxed = np.zeros(len(tree), dtype=bool)
    boxed[[node(tree, b) for b in boxed_names]] = True
    return detection_report(coco, preds_frame(preds), tree=tree, boxed=boxed)


def test_short_table_names_groups_in_the_readmes_terms_and_omits_empty_ones(tree, tmp_path):
    """`yolo9000 eval`'s console table: all classes, then each box group that has classes, named as the README
    names them; (a) + (b) only when both have classes (else it repeats one)."""
    from yolo9000.evaluation import group_table

    cats = ["terrier", "poodle", "cat", "dog"]  # dog boxed: terrier, poodle under it (a); cat never boxed (b)
    found = [(1, (0, 0, 10, 10), 0.9, node(tree, "terrier")), (1, (30, 0, 10, 10), 0.95, node(tree, "dog"))]
    rep = _report(tree, tmp_path, "all", cats, ["dog"], found)
    table = group_table({"walk": rep})
    assert table.columns.tolist() == ["group", "classes", "AP50", "AP"]
    assert table["group"].tolist() == [
        "all classes",
        "(a) fine, boxed parent",
        "(b) never boxed",
        "(c) coarse: boxed in training",
        "(a) + (b): never had a box",
    ]  # "above a boxed class" has no class: left out
    rows = table.set_index("group")
    assert rows["classes"].tolist() == [4, 2, 1, 1, 3]
    assert rows.loc["(a) fine, boxed parent", "AP50"] == pytest.approx(0.5)
    assert rows.loc["(c) coarse: boxed in training", "AP50"] == pytest.approx(1.0)
    # no never-boxed class: neither (b) nor (a) + (b)
    rep = _report(tree, tmp_path, "few", ["terrier", "dog"], ["dog"], found)
    assert group_table({"walk": rep})["group"].tolist() == [
        "all classes",
        "(a) fine, boxed parent",
        "(c) coarse: boxed in training",
    ]


def test_short_table_of_fine_and_coarse_labels_under_two_scorings(tree, tmp_path):
    """The README's emoji-world table: (a), (b) from the fine labels, (c) from the coarse ones, a column per
    scoring; an empty group (no never-boxed class) is left out."""
    from yolo9000.evaluation import group_table

    fine = ["terrier", "poodle", "cat"]
    walk = [(1, (0, 0, 10, 10), 0.9, node(tree, "terrier")), (1, (20, 0, 10, 10), 0.9, node(tree, "cat"))]
    fine_walk = _report(tree, tmp_path, "fw", fine, ["dog"], walk)
    fine_map = _report(tree, tmp_path, "fm", fine, ["dog"], walk[:1])
    coarse_walk = _report(tree, tmp_path, "cw", ["dog", "cat"], ["dog"], walk[:1])
    coarse_map = _report(tree, tmp_path, "cm", ["dog", "cat"], ["dog"], [])
    table = group_table(
        {"map": fine_map, "walk": fine_walk}, {"map": coarse_map, "walk": coarse_walk}, never_boxed="never-boxed cats"
    )
    assert table.columns.tolist() == ["group", "classes", "AP50 map", "AP50 walk", "AP map", "AP walk"]
    rows = table.set_index("group")
    assert rows.index.tolist() == ["all fine classes", "(a) fine, boxed parent", "(b) never-boxed cats", "(c) coarse"]
    assert rows["classes"].tolist() == [3, 2, 1, 1]
    assert rows.loc["(b) never-boxed cats", ["AP50 map", "AP50 walk"]].tolist() == pytest.approx([0.0, 1.0])
    assert rows.loc["(c) coarse", ["AP50 map", "AP50 walk"]].tolist() == pytest.approx([0.0, 1.0])
    only_boxed = _report(tree, tmp_path, "ob", ["terrier"], ["dog"], walk)
    table = group_table({"walk": only_boxed}, {"walk": coarse_walk})
    assert table["group"].tolist() == ["all fine classes", "(a) fine, boxed parent", "(c) coarse"]


def test_short_classification_table():
    from yolo9000.evaluation import classification_table

    head = {"samples": 4, "top1_leaf": 0.5, "top5_leaf": 1.0, "top1_node": 0.25, "exact": 0.25, "hF": 0.6}
    table = classification_table(head)
    assert table["classification"].tolist() == [
        "images",
        "top-1 (leaves)",
        "top-5 (leaves)",
        "exact node (tree walk)",
        "hierarchical F1",
    ]
    assert classification_table({"samples": 2, "top1": 1.0, "top5": 1.0})["classification"].tolist() == [
        "images",
        "top-1",
        "top-5",
    ]
