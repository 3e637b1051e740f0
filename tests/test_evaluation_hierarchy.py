"""yolo9000.evaluation.hierarchy: top-k and hierarchical measures, by hand and against reference loops."""

from __future__ import annotations

import numpy as np
import pytest
from evaluation_helpers import node, toy_tree

from wordtree import WordTree
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


@pytest.fixture(scope="module")
def tree() -> WordTree:
    return toy_tree()


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
