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
