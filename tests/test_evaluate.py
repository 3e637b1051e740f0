"""Evaluation: COCO mAP on hand-made predictions with known AP, ancestor crediting, hierarchical measures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wordtree import LabelMap, WordTree
from yolo9000.evaluation.coco import (
    category_nodes,
    credit_matrix,
    evaluate_detections,
    load_coco,
)
from yolo9000.evaluation.hierarchy import (
    depth_accuracy,
    distance_histogram,
    flat_topk,
    hierarchical_scores,
    match_to_ground_truth,
    pair_relations,
    root_paths,
    topk_hits,
)

# entity ─┬─ animal ─┬─ dog ─┬─ terrier
#         │          │       └─ poodle
#         │          └─ cat
#         └─ vehicle ── car
EDGES = {
    "n00000001": None,
    "n00000002": "n00000001",
    "n00000003": "n00000001",
    "n00000004": "n00000002",
    "n00000005": "n00000002",
    "n00000006": "n00000003",
    "n00000007": "n00000004",
    "n00000008": "n00000004",
}
NAMES = {
    "n00000001": "entity",
    "n00000002": "animal",
    "n00000003": "vehicle",
    "n00000004": "dog",
    "n00000005": "cat",
    "n00000006": "car",
    "n00000007": "terrier",
    "n00000008": "poodle",
}
WNID = {v: k for k, v in NAMES.items()}

# 101-point interpolated AP of the ranking TP, FP, TP with 2 ground-truth boxes:
# precision 1 up to recall .5 (51 thresholds), 2/3 above it (50 thresholds)
AP_TP_FP_TP = (51 * 1.0 + 50 * 2 / 3) / 101


@pytest.fixture(scope="module")
def tree() -> WordTree:
    return WordTree.from_edges(EDGES, NAMES)


def node(tree, name: str) -> int:
    return tree.index(WNID[name])


def write_coco(path, images, anns, cats):
    data = {
        "images": [{"id": i, "file_name": f"img{i}.png", "width": w, "height": h} for i, (w, h) in images.items()],
        "annotations": [
            {"id": k + 1, "image_id": img, "category_id": cat, "bbox": list(b), "area": b[2] * b[3], "iscrowd": 0}
            for k, (img, cat, b) in enumerate(anns)
        ],
        "categories": cats,
    }
    path.write_text(json.dumps(data))
    return path


def preds_frame(rows):
    """rows: (image_id, (x, y, w, h), score, label)."""
    return pd.DataFrame(
        [(i, b[0], b[1], b[0] + b[2], b[1] + b[3], s, lab) for i, b, s, lab in rows],
        columns=["image_id", "x1", "y1", "x2", "y2", "score", "label"],
    )


# ---- COCO mAP ----------------------------------------------------------------------------------------
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


# ---- ancestor crediting ----------------------------------------------------------------------------
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


# ---- hierarchical measures ----------------------------------------------------------------------
def test_root_paths(tree):
    p = root_paths(tree)
    t = node(tree, "terrier")
    assert p[t].tolist() == [node(tree, n) for n in ("entity", "animal", "dog", "terrier")]
    assert p[node(tree, "car")].tolist() == [node(tree, "entity"), node(tree, "vehicle"), node(tree, "car"), -1]


def test_pair_relations_and_distances(tree):
    names_p = ["terrier", "dog", "poodle", "car", "animal", "entity"]
    names_t = ["terrier", "terrier", "terrier", "terrier", "dog", "vehicle"]
    rel = pair_relations(tree, [node(tree, n) for n in names_p], [node(tree, n) for n in names_t])
    assert rel["relation"].tolist() == ["exact", "coarser", "wrong", "wrong", "coarser", "coarser"]
    # edges: terrier-dog 1, poodle-terrier 2 (via dog), car-terrier 5 (via entity), animal-dog 1
    assert rel["distance"].tolist() == [0, 1, 2, 5, 1, 1]
    finer = pair_relations(tree, [node(tree, "poodle")], [node(tree, "animal")])
    assert finer["relation"].tolist() == ["finer"] and finer["distance"].tolist() == [2]


def test_hierarchical_precision_recall_by_hand(tree):
    # single root "entity" is left out of the ancestor sets
    # pred poodle / true terrier: A(p)={animal,dog,poodle}, A(t)={animal,dog,terrier}: inter 2
    # pred dog / true terrier:    A(p)={animal,dog}, A(t)={animal,dog,terrier}: inter 2
    # pred car / true cat:        A(p)={vehicle,car}, A(t)={animal,cat}: inter 0
    pred = [node(tree, n) for n in ("poodle", "dog", "car")]
    truth = [node(tree, n) for n in ("terrier", "terrier", "cat")]
    s = hierarchical_scores(tree, pred, truth)
    assert s["hP"] == pytest.approx(4 / 7)
    assert s["hR"] == pytest.approx(4 / 8)
    assert s["hF"] == pytest.approx(2 * (4 / 7) * 0.5 / (4 / 7 + 0.5))
    assert s["exact"] == 0.0 and s["coarser"] == pytest.approx(1 / 3)
    assert s["mean_distance_wrong_branch"] == pytest.approx((2 + 4) / 2)
    perfect = hierarchical_scores(tree, truth, truth)
    assert perfect["hP"] == perfect["hR"] == perfect["hF"] == perfect["exact"] == 1.0


def test_depth_accuracy_and_histogram(tree):
    pred = [node(tree, n) for n in ("poodle", "dog", "car", "animal")]
    truth = [node(tree, n) for n in ("terrier", "terrier", "cat", "terrier")]
    acc = depth_accuracy(tree, pred, truth).set_index("depth")
    assert acc.loc[0, "accuracy"] == 1.0
    assert acc.loc[1, "accuracy"] == pytest.approx(3 / 4)
    # depth 2: all four truths reach it; poodle and dog share "dog", car/cat differ, animal stopped above
    assert acc.loc[2, "accuracy"] == pytest.approx(2 / 4)
    assert acc.loc[2, "stopped_above"] == pytest.approx(1 / 4)
    assert acc.loc[3, "accuracy"] == 0.0 and acc.loc[3, "samples"] == 3
    hist = distance_histogram(tree, pred, truth)
    assert hist.loc[2, "wrong"] == 1 and hist.loc[4, "wrong"] == 1  # poodle/terrier 2, car/cat 4
    assert hist.loc[1, "coarser"] == 1 and hist.loc[2, "coarser"] == 1
    assert int(hist.to_numpy().sum()) == 4


def absolute_probs(tree, cond: dict[str, float]) -> np.ndarray:
    """Absolute probabilities from conditional ones (missing nodes: conditional 0; root 1)."""
    c = np.array([cond.get(n, 0.0) for n in tree.names])
    c[tree.parent < 0] = 1.0
    anc = tree.ancestors
    vals = np.where(anc >= 0, c[np.maximum(anc, 0)], 1.0)
    return vals.prod(axis=1)


def test_topk_leaves_and_nodes(tree):
    # P: animal .6 (dog .5 (terrier .3, poodle .7), cat .5), vehicle .4 (car 1)
    p = absolute_probs(
        tree, {"animal": 0.6, "vehicle": 0.4, "dog": 0.5, "cat": 0.5, "terrier": 0.3, "poodle": 0.7, "car": 1.0}
    )
    # absolute: poodle .21, terrier .09, cat .3, car .4, dog .3, animal .6, vehicle .4
    probs = np.stack([p] * 4)
    truth = [node(tree, n) for n in ("car", "poodle", "terrier", "dog")]
    got = topk_hits(tree, probs, truth, ks=(1, 2, 3, 5))
    # leaves ranked: car .4, cat .3, poodle .21, terrier .09
    # car top1; poodle rank 3; terrier rank 4; dog (internal): best leaf under it is poodle, rank 3
    assert got["top1_leaf"] == pytest.approx(1 / 4)
    assert got["top2_leaf"] == pytest.approx(1 / 4)
    assert got["top3_leaf"] == pytest.approx(3 / 4)
    assert got["top5_leaf"] == 1.0
    # nodes, ancestors of the truth set aside:
    # car (.4): animal .6 beats it -> rank 2; poodle (.21): animal is an ancestor, vehicle .4, car .4, cat .3
    # beat it -> rank 4; terrier (.09): vehicle, car, cat, poodle -> rank 5; dog (.3): vehicle, car -> rank 3
    assert got["top1_node"] == 0.0
    assert got["top2_node"] == pytest.approx(1 / 4)
    assert got["top3_node"] == pytest.approx(2 / 4)
    assert got["top5_node"] == 1.0
    with pytest.raises(ValueError, match="do not match a tree"):
        topk_hits(tree, probs[:, :3], truth)


def test_flat_topk():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5]])
    got = flat_topk(probs, [1, 2, 0], ks=(1, 2))
    assert got == {"top1": pytest.approx(1 / 3), "top2": pytest.approx(2 / 3)}


def test_match_to_ground_truth():
    gt = [[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]]
    gt_img = [1, 1, 2]
    pr = [[0, 0, 10, 9], [1, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]]
    pr_img = [1, 1, 3, 1]
    got = match_to_ground_truth(gt, gt_img, pr, pr_img, [0.2, 0.9, 0.5, 0.99])
    assert got.tolist() == [1, -1, -1]  # best-scoring overlap on the same image only


# ---- the `yolo9000 eval` command ------------------------------------------------------------------
def _toy_world(tmp_path, tree):
    """A random-weights tiny tree model in a checkpoint, 3 images with COCO boxes, 2 class folders."""
    from PIL import Image

    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.templates import tiny_yolo9000

    tree = tree.with_label_maps([LabelMap("detection", ("dog", "car"), (WNID["dog"], WNID["car"]))])
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = tiny_yolo9000(tree, size=64, width=0.125)
    ckpt = save_checkpoint(tmp_path / "m.pt", model)
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(tmp_path / "images" / f"{i}.png")
    cats = [
        {"id": 1, "name": "dog", "wnid": WNID["dog"]},
        {"id": 2, "name": "poodle", "wnid": WNID["poodle"]},
        {"id": 3, "name": "cat", "wnid": WNID["cat"]},
    ]
    gt = write_coco(
        tmp_path / "gt.json",
        {1: (80, 60), 2: (80, 60), 3: (80, 60)},
        [(1, 1, (10, 10, 30, 20)), (2, 2, (5, 5, 40, 30)), (3, 3, (20, 20, 30, 30))],
        cats,
    )
    data = json.loads(gt.read_text())
    for im in data["images"]:
        im["file_name"] = f"{im['id'] - 1}.png"
    gt.write_text(json.dumps(data))
    for name in ("terrier", "cat"):
        d = tmp_path / "cls" / WNID[name]
        d.mkdir(parents=True)
        for j in range(2):
            Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(d / f"{j}.png")
    return ckpt, gt, tmp_path / "images", tmp_path / "cls"


def test_eval_cli_model_end_to_end(tree, tmp_path, capsys):
    from yolo9000.cli import main

    ckpt, gt, images, cls = _toy_world(tmp_path, tree)
    out = tmp_path / "report"
    args = [
        "eval",
        "--checkpoint",
        str(ckpt),
        "--coco",
        str(gt),
        "--images",
        str(images),
        "--folders",
        str(cls),
        "--out",
        str(out),
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| detection | AP50 |" in printed and "top5_leaf" in printed
    for f in (
        "summary.json",
        "per_class.csv",
        "per_class.md",
        "pr_curves.png",
        "ap_per_class.png",
        "classification.csv",
        "depth_accuracy.png",
        "distances.csv",
    ):
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    det, cl = summary["detection"], summary["classification"]
    assert 0.0 <= det["AP50"] <= 1.0 and det["images"] == 3
    assert det["unseen"]["classes"] == 2  # poodle (under boxed dog) and cat (no box on its path)
    assert summary["meta"]["boxed_from"] == "model tree label maps"
    assert cl["samples"] == 4 and 0.0 <= cl["top1_leaf"] <= cl["top5_leaf"] <= 1.0
    per = pd.read_csv(out / "per_class.csv")
    assert per.set_index("name")["group"].to_dict() == {"dog": "boxed", "poodle": "under_boxed", "cat": "never_boxed"}
    # an existing report is never overwritten silently
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1
    # `yolo9000 detect` output scored with --predictions gives the same table as running the model here
    detect_out = tmp_path / "det"
    assert summary["meta"]["detections"] > 0
    assert (
        main(
            [
                "detect",
                "--checkpoint",
                str(ckpt),
                "--thresh",
                "0.005",
                "--out",
                str(detect_out),
                "--no-images",
                "--no-summary",
                "--quiet",
                "--device",
                "cpu",
                str(images),
            ]
        )
        == 0
    )
    out2 = tmp_path / "report2"
    assert (
        main(
            [
                "eval",
                "--predictions",
                str(detect_out / "detections.jsonl"),
                "--checkpoint",
                str(ckpt),
                "--coco",
                str(gt),
                "--out",
                str(out2),
                "--no-plots",
            ]
        )
        == 0
    )
    pd.testing.assert_frame_equal(pd.read_csv(out2 / "per_class.csv"), per)
    assert json.loads((out2 / "summary.json").read_text())["meta"]["detections"] == summary["meta"]["detections"]
    assert main(args + ["--overwrite", "--scoring", "map", "--no-plots"]) == 0
    assert json.loads((out / "summary.json").read_text())["meta"]["scoring"] == "map"


def test_eval_cli_scores_saved_predictions(tmp_path, capsys):
    from yolo9000.cli import main

    cats = [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}]
    gt = write_coco(
        tmp_path / "gt.json",
        {1: (100, 100), 2: (100, 100)},
        [(1, 1, (10, 10, 40, 40)), (2, 1, (20, 20, 50, 50)), (2, 2, (0, 0, 30, 30))],
        cats,
    )
    # JSON lines as `yolo9000 detect` writes them: one image per line, boxes x1 y1 x2 y2
    lines = [
        {
            "image": "some/dir/img1.png",
            "detections": [
                {"box": [10, 10, 50, 50], "score": 0.9, "name": "dog"},
                {"box": [60, 60, 90, 90], "score": 0.8, "name": "dog"},
            ],
        },
        {
            "image": "img2.png",
            "detections": [
                {"bbox": [20, 20, 50, 50], "score": 0.7, "category_id": 1},
                {"box": [0, 0, 30, 30], "score": 0.6, "name": "cat"},
            ],
        },
        {"image": "not_in_gt.png", "detections": [{"box": [0, 0, 1, 1], "score": 0.5, "name": "cat"}]},
    ]
    pred = tmp_path / "det.jsonl"
    pred.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "r"
    assert main(["eval", "--predictions", str(pred), "--coco", str(gt), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detection"]["AP50"] == pytest.approx((AP_TP_FP_TP + 1) / 2, abs=1e-6)
    assert "unseen" not in summary["detection"]  # flat labels: no tree, no box groups
    # a COCO results list gives the same numbers
    res = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [60, 60, 30, 30], "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": [20, 20, 50, 50], "score": 0.7},
        {"image_id": 2, "category_id": 2, "bbox": [0, 0, 30, 30], "score": 0.6},
    ]
    (tmp_path / "res.json").write_text(json.dumps(res))
    assert (
        main(["eval", "--predictions", str(tmp_path / "res.json"), "--coco", str(gt), "--out", str(tmp_path / "r2")])
        == 0
    )
    s2 = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert s2["detection"]["AP"] == pytest.approx(summary["detection"]["AP"])
    # a broken line is reported with its line number
    capsys.readouterr()
    pred.write_text(json.dumps(lines[0]) + "\n{oops\n")
    assert main(["eval", "--predictions", str(pred), "--coco", str(gt), "--out", str(tmp_path / "r3")]) == 1
    assert "det.jsonl: line 2" in capsys.readouterr().err
    bad = {"image": "img1.png", "detections": [{"box": [1, 2, 3], "score": 0.5, "name": "dog"}]}
    pred.write_text(json.dumps(bad) + "\n")
    assert main(["eval", "--predictions", str(pred), "--coco", str(gt), "--out", str(tmp_path / "r4")]) == 1
    assert "det.jsonl: line 1: 'box' must be 4 numbers" in capsys.readouterr().err


def test_eval_cli_tree_predictions_with_train_map(tree, tmp_path):
    pytest.importorskip("wordtree.formats")
    from yolo9000.cli import main

    tree_file = tmp_path / "tree.json"
    tree.save(tree_file)
    cats = [{"id": 1, "name": "dog", "wnid": WNID["dog"]}, {"id": 2, "name": "cat", "wnid": WNID["cat"]}]
    gt = write_coco(tmp_path / "gt.json", {1: (100, 100)}, [(1, 1, (0, 0, 20, 20)), (1, 2, (50, 50, 20, 20))], cats)
    lines = [
        {
            "image_id": 1,
            "detections": [
                {"box": [0, 0, 20, 20], "score": 0.9, "node": node(tree, "terrier")},  # credited to dog
                {"box": [50, 50, 70, 70], "score": 0.8, "wnid": WNID["animal"]},
            ],
        }
    ]  # too coarse for cat
    pred = tmp_path / "p.jsonl"
    pred.write_text("\n".join(json.dumps(x) for x in lines))
    train_map = tmp_path / "train.map"  # Darknet .map: node index of each boxed class
    train_map.write_text(f"{node(tree, 'dog')}\n")
    out = tmp_path / "o"
    assert (
        main(
            [
                "eval",
                "--predictions",
                str(pred),
                "--tree",
                str(tree_file),
                "--coco",
                str(gt),
                "--train-maps",
                str(train_map),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    det = json.loads((out / "summary.json").read_text())["detection"]
    assert det["AP50"] == pytest.approx(0.5)
    assert det["boxed"] == {
        "classes": 1,
        "AP": pytest.approx(1.0),
        "AP50": pytest.approx(1.0),
        "AP75": pytest.approx(1.0),
    }
    assert det["unseen"]["classes"] == 1 and det["unseen"]["AP50"] == 0.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--coco", "missing.json"], "missing.json: COCO annotation file not found"),
        ([], "nothing to evaluate"),
        (["--checkpoint", "nope.pt", "--coco", "x.json"], "nope.pt: checkpoint not found"),
        (["--predictions", "p.jsonl"], "--predictions needs the ground truth"),
        (["--predictions", "p.jsonl", "--coco", "x.json", "--folders", "."], "cannot be used with --predictions"),
        (["--coco", "x.json", "--hier-thresh", "1"], "--hier-thresh must be in [0, 1)"),
    ],
)
def test_eval_cli_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    from yolo9000.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    assert main(["eval", *argv, "--out", "rep"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


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


def test_darknet_9k_tree_with_coco9k_map(reference_dir, tmp_path):
    """Darknet's 9418-node tree: COCO categories placed by coco9k.map, a breed box credited to "dog"."""
    from yolo9000.cli import main

    dk = reference_dir / "darknet"
    tree = WordTree.from_darknet(dk / "9k.tree", dk / "9k.names")
    names = [ln.strip() for ln in (dk / "coco.names").read_text().splitlines() if ln.strip()]
    cmap = [int(ln) for ln in (dk / "coco9k.map").read_text().splitlines() if ln.strip()]
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(names)][::-1]  # listed out of id order
    dog, cat = names.index("dog"), names.index("cat")
    gt = write_coco(
        tmp_path / "gt.json", {1: (200, 200)}, [(1, dog + 1, (0, 0, 50, 50)), (1, cat + 1, (100, 100, 50, 50))], cats
    )
    breed = max(tree.subtree(cmap[dog]), key=lambda n: tree.depth[n])  # the deepest node under "dog"
    above_cat = int(tree.parent[cmap[cat]])
    lines = [
        {
            "image_id": 1,
            "detections": [
                {"box": [0, 0, 50, 50], "score": 0.9, "node": int(breed)},
                {"box": [100, 100, 150, 150], "score": 0.8, "node": above_cat},
            ],
        }
    ]  # coarser than "cat": no credit
    pred = tmp_path / "p.jsonl"
    pred.write_text(json.dumps(lines[0]) + "\n")
    out = tmp_path / "o"
    assert (
        main(
            [
                "eval",
                "--predictions",
                str(pred),
                "--tree",
                str(dk / "9k.tree"),
                "--names",
                str(dk / "9k.names"),
                "--coco",
                str(gt),
                "--category-map",
                str(dk / "coco9k.map"),
                "--train-maps",
                str(dk / "coco9k.map"),
                "--out",
                str(out),
                "--no-plots",
            ]
        )
        == 0
    )
    per = pd.read_csv(out / "per_class.csv").set_index("name")
    assert per.loc["dog", "AP50"] == pytest.approx(1.0) and per.loc["cat", "AP50"] == pytest.approx(0.0)
    assert per.sort_values("category_id")["node"].tolist() == cmap  # the .map is in category-id order
    det = json.loads((out / "summary.json").read_text())["detection"]
    assert det["boxed"]["classes"] == 2 and det["unseen"]["classes"] == 0
    assert det["per_box"]["finer"] == pytest.approx(0.5) and det["per_box"]["coarser"] == pytest.approx(0.5)


def test_eval_cli_flat_model(tmp_path):
    """A flat (no tree) detector: classes map to COCO categories and class folders by name."""
    from PIL import Image

    from yolo9000.cli import main
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.templates import tiny_yolo

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "flat.pt", tiny_yolo(classes=2, size=64, width=0.125), names=["cat", "dog"])
    rng = np.random.default_rng(1)
    (tmp_path / "images").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "images" / f"img{i + 1}.png")
        for c in ("cat", "dog"):
            (tmp_path / "cls" / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "cls" / c / f"{i}.png")
    cats = [{"id": 7, "name": "dog"}, {"id": 9, "name": "cat"}]
    gt = write_coco(
        tmp_path / "gt.json", {1: (64, 64), 2: (64, 64)}, [(1, 7, (0, 0, 30, 30)), (2, 9, (5, 5, 40, 40))], cats
    )
    out = tmp_path / "o"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(ckpt),
                "--coco",
                str(gt),
                "--images",
                str(tmp_path / "images"),
                "--folders",
                str(tmp_path / "cls"),
                "--out",
                str(out),
                "--no-plots",
                "--no-progress",
                "--max-images",
                "1",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detection"]["images"] == 1  # --max-images
    assert summary["meta"]["tree_nodes"] is None and "unseen" not in summary["detection"]
    cl = summary["classification"]
    assert cl["samples"] == 4 and cl["top5"] == 1.0 and cl["top1"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    per = pd.read_csv(out / "per_class.csv")
    assert per["category_id"].tolist() == [7, 9] and per["n_det"].sum() > 0


def test_unreadable_images_are_skipped_and_logged(tree, tmp_path, caplog):
    from yolo9000.evaluation import predict_detections

    ckpt, gt, images, _ = _toy_world(tmp_path, tree)
    (images / "1.png").write_bytes(b"not a png")  # image id 2
    (images / "2.png").unlink()  # image id 3
    from yolo9000.darknet.checkpoint import load_model

    with caplog.at_level("WARNING"):
        preds = predict_detections(load_model(ckpt), load_coco(gt), images, thresh=0.0, workers=1)
    assert set(preds["image_id"]) == {1}
    assert "1.png" in caplog.text and "2.png" in caplog.text
    assert "2 of 3 images could not be read" in caplog.text
    (images / "0.png").unlink()
    with pytest.raises(ValueError, match="none of the 3 images of the COCO file could be read"):
        predict_detections(load_model(ckpt), load_coco(gt), images)
    (images / "1.png").unlink()
    with pytest.raises(FileNotFoundError, match="wrong --images folder"):
        predict_detections(load_model(ckpt), load_coco(gt), images)


def test_topk_matches_a_loop_reference(tree):
    """Vectorised ranks against a plain loop over samples (random probabilities, leaf and internal truths)."""
    rng = np.random.default_rng(3)
    probs = rng.random((60, len(tree)))
    truth = rng.integers(0, len(tree), 60)
    leaves = [int(n) for n in np.flatnonzero(tree.is_leaf)]
    want = {f"top{k}_{w}": 0.0 for k in (1, 2, 3) for w in ("leaf", "node")}
    for p, t in zip(probs, truth):
        ranked_leaves = sorted(leaves, key=lambda n: -p[n])
        first = next(i for i, n in enumerate(ranked_leaves) if tree.is_ancestor(int(t), n)) + 1
        competitors = [n for n in range(len(tree)) if not tree.is_ancestor(n, int(t))]
        node_rank = 1 + sum(p[n] > p[t] for n in competitors)
        for k in (1, 2, 3):
            want[f"top{k}_leaf"] += (first <= k) / len(truth)
            want[f"top{k}_node"] += (node_rank <= k) / len(truth)
    got = topk_hits(tree, probs, truth, ks=(1, 2, 3), chunk=7)  # several chunks
    assert got == pytest.approx(want)


def test_distances_and_hierarchical_pr_match_networkx(tree):
    import networkx as nx

    rng = np.random.default_rng(5)
    pred, truth = rng.integers(0, len(tree), 40), rng.integers(0, len(tree), 40)
    g = tree.to_networkx().to_undirected()
    rel = pair_relations(tree, pred, truth)
    assert rel["distance"].tolist() == [nx.shortest_path_length(g, int(p), int(t)) for p, t in zip(pred, truth)]
    root = int(tree.roots[0])  # single root: left out of the ancestor sets
    anc = [set(tree.path(int(n))) - {root} for n in range(len(tree))]
    inter = sum(len(anc[p] & anc[t]) for p, t in zip(pred, truth))
    s = hierarchical_scores(tree, pred, truth)
    assert s["hP"] == pytest.approx(inter / sum(len(anc[p]) for p in pred))
    assert s["hR"] == pytest.approx(inter / sum(len(anc[t]) for t in truth))
