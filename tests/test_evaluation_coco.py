"""yolo9000.evaluation.coco: COCO mAP on hand-made predictions with known AP, ancestor crediting."""

from __future__ import annotations

import numpy as np
import pytest
from evaluation_helpers import AP_TP_FP_TP, WNID, node, preds_frame, toy_tree, write_coco

from wordtree import LabelMap, WordTree
from yolo9000.evaluation.coco import (
    category_nodes,
    credit_matrix,
    evaluate_detections,
    load_coco,
)


@pytest.fixture(scope="module")
def tree() -> WordTree:
    return toy_tree()


def test_flat_known_ap(tmp_path):
    cats = [{"id": 2, "name": "cat"}, {"id": 1, "name": "dog"}]  # not in id order: tables follow the ids
    gt = write_coco(
        tmp_path / "gt.json",
        {1: (100, 100), 2: (100, 100)},
        [(1, 1, (10, 10, 40, 40)), (2, 1, (20, 20, 50, 50)), (2, 2, (0, 0, 30, 30))],
        cats,
    )
    coco = load_coco(gt)
    preds = preds_frame(
        [
            (1, (10, 10, 40, 40), 0.9, 1),  # TP dog
            (1, (60, 60, 30, 30), 0.8, 1),  # FP dog
            (2, (20, 20, 50, 50), 0.7, 1),  # TP dog
            (2, (0, 0, 30, 30), 0.6, 2),  # TP cat
        ]
    )
    res, _ = evaluate_detections(coco, preds)
    per = res.per_class.set_index("name")
    assert per.loc["dog", "AP50"] == pytest.approx(AP_TP_FP_TP, abs=1e-6)
    assert per.loc["dog", "AP"] == pytest.approx(AP_TP_FP_TP, abs=1e-6)  # exact boxes: same at every IoU
    assert per.loc["cat", "AP"] == pytest.approx(1.0)
    assert res.stats["AP"] == pytest.approx((AP_TP_FP_TP + 1.0) / 2, abs=1e-6)
    assert res.stats["AP50"] == pytest.approx((AP_TP_FP_TP + 1.0) / 2, abs=1e-6)
    assert per.loc["dog", "n_gt"] == 2 and per.loc["dog", "n_det"] == 3
    # the PR curve at IoU .5: precision 1 up to recall .5, then 2/3
    k = list(per.index).index("dog")
    assert res.pr50[k, 50] == pytest.approx(1.0) and res.pr50[k, 51] == pytest.approx(2 / 3)


def test_shifted_box_scores_only_at_loose_iou(tmp_path):
    cats = [{"id": 1, "name": "dog"}]
    gt = write_coco(tmp_path / "gt.json", {1: (200, 200)}, [(1, 1, (0, 0, 100, 100))], cats)
    # IoU of a 100x100 box shifted by 25 px: 75*100 / (2*10000 - 7500) = 0.6
    res, _ = evaluate_detections(load_coco(gt), preds_frame([(1, (25, 0, 100, 100), 0.9, 1)]))
    assert res.stats["AP50"] == pytest.approx(1.0)
    assert res.stats["AP75"] == pytest.approx(0.0)
    assert res.stats["AP"] == pytest.approx(0.3)  # IoU thresholds .50, .55, .60 of ten hit


def test_no_predictions_scores_zero(tmp_path):
    cats = [{"id": 1, "name": "dog"}]
    gt = write_coco(tmp_path / "gt.json", {1: (50, 50)}, [(1, 1, (0, 0, 10, 10))], cats)
    res, _ = evaluate_detections(load_coco(gt), preds_frame([]))
    assert res.stats["AP"] == 0.0
    assert res.per_class["AP50"].tolist() == [0.0]


def test_unknown_flat_label_is_an_error(tmp_path):
    gt = write_coco(tmp_path / "gt.json", {1: (50, 50)}, [(1, 1, (0, 0, 10, 10))], [{"id": 1, "name": "dog"}])
    with pytest.raises(ValueError, match="category id"):
        evaluate_detections(load_coco(gt), preds_frame([(1, (0, 0, 10, 10), 0.5, 7)]))


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"images": []}', "no 'annotations' list"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_bad_coco_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_coco(path)
    assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_coco(tmp_path / "missing.json")


def test_credit_matrix_rule(tree):
    cats = np.array([node(tree, n) for n in ("animal", "dog", "terrier", "car")])
    preds = np.array([node(tree, n) for n in ("terrier", "dog", "poodle", "animal", "cat", "entity", "car")])
    got = credit_matrix(preds, cats, tree.ancestors)
    want = np.array(
        [
            [1, 1, 1, 0],  # terrier counts for animal, dog, terrier
            [1, 1, 0, 0],  # dog: not specific enough for terrier
            [1, 1, 0, 0],  # poodle
            [1, 0, 0, 0],  # animal
            [1, 0, 0, 0],  # cat
            [0, 0, 0, 0],  # entity counts for nothing below it
            [0, 0, 0, 1],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="out of range"):
        credit_matrix(np.array([99]), cats, tree.ancestors)


def test_category_nodes_by_wnid_label_map_and_name(tree, tmp_path):
    tree_m = tree.with_label_maps([LabelMap("coco", ("doggy",), (WNID["dog"],))])
    cats = [
        {"id": 3, "name": "whatever", "wnid": WNID["car"]},
        {"id": 5, "name": "doggy"},
        {"id": 9, "name": "terrier"},
    ]
    gt = write_coco(tmp_path / "gt.json", {1: (10, 10)}, [], cats)
    got = category_nodes(load_coco(gt), tree_m)
    assert got.tolist() == [node(tree, "car"), node(tree, "dog"), node(tree, "terrier")]
    bad = write_coco(tmp_path / "bad.json", {1: (10, 10)}, [], [{"id": 1, "name": "unicorn"}])
    with pytest.raises(ValueError, match="'unicorn' .*matches no tree node"):
        category_nodes(load_coco(bad), tree)
    bad2 = write_coco(tmp_path / "bad2.json", {1: (10, 10)}, [], [{"id": 1, "name": "x", "wnid": "n09999999"}])
    with pytest.raises(ValueError, match="n09999999"):
        category_nodes(load_coco(bad2), tree)


def test_terrier_box_counts_for_dog_but_not_the_reverse(tree, tmp_path):
    cats = [
        {"id": 1, "name": "dog", "wnid": WNID["dog"]},
        {"id": 2, "name": "terrier", "wnid": WNID["terrier"]},
        {"id": 3, "name": "animal", "wnid": WNID["animal"]},
    ]
    anns = [(1, 1, (0, 0, 20, 20)), (1, 2, (50, 50, 20, 20)), (2, 3, (10, 10, 30, 30))]
    coco = load_coco(write_coco(tmp_path / "gt.json", {1: (100, 100), 2: (100, 100)}, anns, cats))
    preds = preds_frame(
        [
            (1, (0, 0, 20, 20), 0.9, node(tree, "terrier")),  # on the dog box: credited to dog (TP)
            (1, (50, 50, 20, 20), 0.8, node(tree, "dog")),  # on the terrier box: too coarse for terrier
            (2, (10, 10, 30, 30), 0.7, node(tree, "poodle")),  # on the animal box
        ]
    )
    res, scored = evaluate_detections(coco, preds, tree=tree)
    per = res.per_class.set_index("name")
    assert per.loc["terrier", "AP50"] == pytest.approx(0.0)  # only the coarse "dog" box overlapped it
    # dog: the terrier box (TP, .9) and the dog box on the terrier GT (FP, .8) and poodle (FP on img 2)
    assert per.loc["dog", "n_det"] == 3
    assert per.loc["dog", "AP50"] == pytest.approx(1.0)  # the one TP ranks first
    # animal: all three credited; the TP (poodle on the animal box) ranks third -> precision 1/3 at recall 1
    assert per.loc["animal", "n_det"] == 3 and per.loc["animal", "AP50"] == pytest.approx(1 / 3)
    # each prediction appears once per credited category, with its own score
    got = {s: sorted(g) for s, g in scored.groupby("score")["category_id"]}
    assert got == {0.9: [1, 2, 3], 0.8: [1, 3], 0.7: [1, 3]}
    assert per.loc["terrier", "depth"] == 3
