"""RegionLoss gradients against a direct loop re-implementation of Darknet's `forward_region_layer` deltas.

The reference below follows Darknet's `forward_region_layer` literally (loops over images, anchors, cells
and truths, "last write wins"); Darknet's gradient w.r.t. the raw conv output is -delta times the sigmoid
derivative on x, y and objectness. Our loss (summed over the batch) must have exactly that gradient.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wordtree.tree import WordTree
from yolo9000.detection.head import RegionConfig
from yolo9000.detection.loss import RegionLoss
from yolo9000.detection.targets import Targets


# ---------------------------------------------------------------------------------------------------------
# reference (test-only, deliberately naive)
def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _activate(raw: np.ndarray, a: int, c: int, tree: WordTree | None) -> np.ndarray:
    b, _, h, w = raw.shape
    o = raw.reshape(b, a, 5 + c, h, w).copy()
    o[:, :, 0:2] = _sig(o[:, :, 0:2])
    o[:, :, 4] = _sig(o[:, :, 4])
    z = o[:, :, 5:].copy()
    if tree is None:
        e = np.exp(z - z.max(2, keepdims=True))
        o[:, :, 5:] = e / e.sum(2, keepdims=True)
    else:
        for g in range(tree.num_groups):
            s0, n = int(tree.group_offset[g]), int(tree.group_size[g])
            zz = z[:, :, s0 : s0 + n]
            e = np.exp(zz - zz.max(2, keepdims=True))
            o[:, :, 5 + s0 : 5 + s0 + n] = e / e.sum(2, keepdims=True)
    return o


def _iou(p, q):
    ow = min(p[0] + p[2] / 2, q[0] + q[2] / 2) - max(p[0] - p[2] / 2, q[0] - q[2] / 2)
    oh = min(p[1] + p[3] / 2, q[1] + q[3] / 2) - max(p[1] - p[3] / 2, q[1] - q[3] / 2)
    if ow < 0 or oh < 0:
        return 0.0
    inter = ow * oh
    return inter / (p[2] * p[3] + q[2] * q[3] - inter)


def darknet_delta(o, truths, cls_label, anchors, rc: RegionConfig, seen: int, cls_obj: str = "darknet"):
    """Darknet's delta (B, A, 5+C, H, W) for activated output o; truths[b] = list of (x, y, w, h, cls)."""
    b_, a_, e_, h_, w_ = o.shape
    delta = np.zeros_like(o)
    tree = rc.tree
    parent = tree.parent if tree is not None else None

    def class_delta(b, a, j, i, c):
        s = rc.class_scale
        if tree is None:
            for k in range(rc.classes):
                delta[b, a, 5 + k, j, i] = s * ((1.0 if k == c else 0.0) - o[b, a, 5 + k, j, i])
            return
        while c >= 0:
            g = tree.group[c]
            s0, n = int(tree.group_offset[g]), int(tree.group_size[g])
            for k in range(s0, s0 + n):
                delta[b, a, 5 + k, j, i] = s * (0 - o[b, a, 5 + k, j, i])
            delta[b, a, 5 + c, j, i] = s * (1 - o[b, a, 5 + c, j, i])
            c = int(parent[c])

    def box_delta(b, a, j, i, tb, scale):
        tx = tb[0] * w_ - i
        ty = tb[1] * h_ - j
        tw = math.log(tb[2] * w_ / anchors[a][0])
        th = math.log(tb[3] * h_ / anchors[a][1])
        delta[b, a, 0, j, i] = scale * (tx - o[b, a, 0, j, i])
        delta[b, a, 1, j, i] = scale * (ty - o[b, a, 1, j, i])
        delta[b, a, 2, j, i] = scale * (tw - o[b, a, 2, j, i])
        delta[b, a, 3, j, i] = scale * (th - o[b, a, 3, j, i])
        return _iou(decode(b, a, j, i), tb)

    def decode(b, a, j, i):
        return (
            (i + o[b, a, 0, j, i]) / w_,
            (j + o[b, a, 1, j, i]) / h_,
            math.exp(o[b, a, 2, j, i]) * anchors[a][0] / w_,
            math.exp(o[b, a, 3, j, i]) * anchors[a][1] / h_,
        )

    for b in range(b_):
        if cls_label[b] is not None:
            c = cls_label[b]
            if cls_obj != "none":
                delta[b, :, 4] = rc.noobject_scale * (0 - o[b, :, 4])
            best, loc = 0.0, (0, 0, 0)
            for a in range(a_):
                for j in range(h_):
                    for i in range(w_):
                        p, k = 1.0, c
                        if tree is None:
                            p = o[b, a, 5 + c, j, i]
                        else:
                            while k >= 0:
                                p *= o[b, a, 5 + k, j, i]
                                k = int(parent[k])
                        p = o[b, a, 4, j, i] * p
                        if p > best:
                            best, loc = p, (a, j, i)
            class_delta(b, *loc, c)
            if cls_obj == "darknet":
                delta[b, loc[0], 4, loc[1], loc[2]] = 0
            elif cls_obj == "paper":
                ob = o[b, loc[0], 4, loc[1], loc[2]]
                delta[b, loc[0], 4, loc[1], loc[2]] = rc.object_scale * (0.3 - ob) if ob < 0.3 else 0.0
            continue
        tr = truths[b]
        for j in range(h_):
            for i in range(w_):
                for a in range(a_):
                    pb = decode(b, a, j, i)
                    best_iou = max([_iou(pb, t[:4]) for t in tr], default=0.0)
                    delta[b, a, 4, j, i] = rc.noobject_scale * (0 - o[b, a, 4, j, i])
                    if best_iou > rc.thresh:
                        delta[b, a, 4, j, i] = 0
                    if seen < 12800:
                        box_delta(
                            b, a, j, i, ((i + 0.5) / w_, (j + 0.5) / h_, anchors[a][0] / w_, anchors[a][1] / h_), 0.01
                        )
        for t in tr:
            i, j = int(t[0] * w_), int(t[1] * h_)
            best_iou, best_n = 0.0, 0
            for a in range(a_):
                if rc.bias_match:
                    shape = (0, 0, anchors[a][0] / w_, anchors[a][1] / h_)
                else:
                    pb = decode(b, a, j, i)
                    shape = (0, 0, pb[2], pb[3])
                v = _iou((0, 0, t[2], t[3]), shape)
                if v > best_iou:
                    best_iou, best_n = v, a
            iou = box_delta(b, best_n, j, i, t[:4], rc.coord_scale * (2 - t[2] * t[3]))
            target = iou if rc.rescore else 1.0
            delta[b, best_n, 4, j, i] = rc.object_scale * (target - o[b, best_n, 4, j, i])
            c = int(t[4])
            if rc.map is not None:
                c = rc.map[c]
            class_delta(b, best_n, j, i, c)
    return delta


# ---------------------------------------------------------------------------------------------------------
def random_tree(rng: np.random.Generator, n: int) -> WordTree:
    """A random tree in Darknet layout (parents first, siblings contiguous), built through from_edges."""
    parent_of = {"n0": None, "n1": None}
    for k in range(2, n):
        parent_of[f"n{k}"] = f"n{int(rng.integers(0, k))}" if rng.random() > 0.1 else None
    return WordTree.from_edges(parent_of)


def make_region(classes: int, tree=None, num: int = 3, **kw) -> RegionConfig:
    anchors = [[0.6, 0.8], [2.0, 1.5], [3.5, 4.2], [1.2, 3.0], [4.5, 2.2]][:num]
    base = dict(
        anchors=anchors,
        num=num,
        classes=classes,
        softmax=True,
        tree=tree,
        thresh=0.6,
        object_scale=5.0,
        noobject_scale=1.0,
        class_scale=1.0,
        coord_scale=1.0,
        rescore=True,
        bias_match=True,
    )
    base.update(kw)
    return RegionConfig(**base)


def random_truths(rng, n, classes, near=None):
    out = []
    for _ in range(n):
        if near is not None and out and rng.random() < near:
            x, y, w, h, _ = out[-1]  # same cell and shape as the previous one: forces a shared slot
            x, y = x + rng.uniform(-1e-3, 1e-3), y + rng.uniform(-1e-3, 1e-3)
        else:
            x, y = rng.uniform(0.02, 0.98), rng.uniform(0.02, 0.98)
            w, h = rng.uniform(0.03, 0.9), rng.uniform(0.03, 0.9)
        out.append((x, y, w, h, int(rng.integers(0, classes))))
    return out


def compare(rc: RegionConfig, truths, cls_label, seen, cls_obj="darknet", hw=(4, 5), seed=0, raw=None):
    a, c = rc.num, rc.classes
    # Targets hold float32 boxes: give the reference the same values
    truths = [[tuple(float(np.float32(v)) for v in t[:4]) + (t[4],) for t in tr] for tr in truths]
    h, w = hw
    b = len(truths)
    g = torch.Generator().manual_seed(seed)
    if raw is None:
        raw = torch.randn(b, a * (5 + c), h, w, generator=g, dtype=torch.float64)
    raw = raw.clone().requires_grad_(True)
    per = []
    for tr, lab in zip(truths, cls_label):
        if lab is not None:
            per.append({"boxes": [], "nodes": [], "is_cls": True, "label": lab})
        else:
            per.append({"boxes": [t[:4] for t in tr], "nodes": [t[4] for t in tr]})
    tg = Targets.collate(per)
    tg.boxes = tg.boxes.double()
    loss_fn = RegionLoss(rc, cls_objectness=cls_obj)
    loss, parts = loss_fn(raw, tg, seen)
    loss.backward()
    o = _activate(raw.detach().numpy(), a, c, rc.tree)
    anchors = rc.anchors.double().tolist()
    delta = darknet_delta(o, truths, cls_label, anchors, rc, seen, cls_obj)
    dsig = np.ones_like(o)
    dsig[:, :, [0, 1, 4]] = o[:, :, [0, 1, 4]] * (1 - o[:, :, [0, 1, 4]])
    expect = (-delta * dsig).reshape(raw.shape)
    got = raw.grad.numpy()
    # same set of non-zero entries, same values
    np.testing.assert_array_equal(got != 0, expect != 0)
    np.testing.assert_allclose(got, expect, rtol=1e-9, atol=1e-12)
    # Darknet's reported cost: the sum of squared deltas (before the sigmoid derivative)
    assert parts["cost"].item() == pytest.approx(float((delta**2).sum()), rel=1e-9, abs=1e-12)
    # Darknet's equivalent loss: 1/2 s (t - y)^2 per written box/obj entry + CE per class group
    return loss, parts, delta


@pytest.mark.parametrize("seen", [0, 12799, 12800, 10**6])
def test_flat_detection(seen):
    rng = np.random.default_rng(1)
    rc = make_region(classes=6, num=3)
    truths = [random_truths(rng, int(rng.integers(1, 5)), 6) for _ in range(3)]
    compare(rc, truths, [None] * 3, seen, seed=seen % 7)


@pytest.mark.parametrize("seen", [100, 20000])
def test_tree_detection(seen):
    rng = np.random.default_rng(2)
    tree = random_tree(rng, 23)
    rc = make_region(classes=len(tree), tree=tree, num=3)
    truths = [random_truths(rng, int(rng.integers(1, 6)), len(tree)) for _ in range(3)]
    compare(rc, truths, [None] * 3, seen, seed=3)


@pytest.mark.parametrize("cls_obj", ["darknet", "paper", "none"])
@pytest.mark.parametrize("use_tree", [True, False])
def test_classification_only(cls_obj, use_tree):
    rng = np.random.default_rng(3)
    tree = random_tree(rng, 19) if use_tree else None
    c = 19 if use_tree else 7
    rc = make_region(classes=c, tree=tree, num=2)
    labels = [int(x) for x in rng.integers(0, c, size=3)]
    compare(rc, [[], [], []], labels, 50, cls_obj=cls_obj, seed=4)


@pytest.mark.parametrize("use_tree", [True, False])
@pytest.mark.parametrize("seen", [10, 50000])
def test_mixed_batch(use_tree, seen):
    rng = np.random.default_rng(4)
    tree = random_tree(rng, 31) if use_tree else None
    c = 31 if use_tree else 9
    rc = make_region(classes=c, tree=tree, num=5)
    truths = [random_truths(rng, 3, c), [], random_truths(rng, 1, c), [], random_truths(rng, 0, c)]
    labels = [None, int(rng.integers(0, c)), None, int(rng.integers(0, c)), None]
    compare(rc, truths, labels, seen, cls_obj="darknet", hw=(3, 3), seed=5)


def test_paper_objectness_pushes_low_objectness_to_point_three():
    rc = make_region(classes=5, num=1)
    raw = torch.zeros(1, 10, 2, 2, dtype=torch.float64)
    raw[0, 4] = -3.0  # objectness sigmoid(-3) = .047 < .3 everywhere
    raw[0, 5 + 2, 1, 0] = 4.0  # label 2 most likely at row 1, col 0
    loss, parts, delta = compare(rc, [[]], [2], 0, cls_obj="paper", hw=(2, 2), raw=raw)
    ob = 1 / (1 + math.exp(3))
    assert delta[0, 0, 4, 1, 0] == pytest.approx(5.0 * (0.3 - ob))
    assert parts["obj"].item() == pytest.approx(0.5 * 5.0 * (0.3 - ob) ** 2)


@pytest.mark.parametrize("use_tree", [True, False])
def test_last_write_wins_same_slot(use_tree):
    rng = np.random.default_rng(5)
    tree = random_tree(rng, 41) if use_tree else None
    c = 41 if use_tree else 8
    rc = make_region(classes=c, tree=tree, num=3)
    # many truths sharing (anchor, cell) with their predecessor
    truths = [random_truths(rng, 8, c, near=0.7) for _ in range(3)]
    compare(rc, truths, [None] * 3, 100, seed=6)
    compare(rc, truths, [None] * 3, 100000, seed=7)


def test_last_write_wins_tree_group_by_group():
    # root group {0, 1}; 0 -> {2, 3}; 2 -> {4, 5}; 3 -> {6, 7}
    tree = WordTree([f"n{i}" for i in range(8)], [-1, -1, 0, 0, 2, 2, 3, 3])
    rc = make_region(classes=8, tree=tree, num=1)
    box = (0.3, 0.3, 0.2, 0.2)
    # truth 1 (node 4: groups {0,1}, {2,3}, {4,5}) then truth 2 (node 6: groups {0,1}, {2,3}, {6,7}) in one slot:
    # group {4, 5} keeps truth 1's target, the shared groups take truth 2's
    truths = [[box + (4,), (0.301, 0.302, 0.2, 0.2, 6)]]
    _, _, delta = compare(rc, truths, [None], 20000, hw=(3, 3), seed=8)
    assert delta[0, 0, 5 + 4, 0, 0] > 0 and delta[0, 0, 5 + 6, 0, 0] > 0 and delta[0, 0, 5 + 3, 0, 0] > 0
    assert delta[0, 0, 5 + 2, 0, 0] < 0  # overwritten: node 2 is no longer on the target path


@pytest.mark.parametrize("use_tree", [True, False])
def test_map_applied_to_detection_truths_only(use_tree):
    rng = np.random.default_rng(6)
    tree = random_tree(rng, 17) if use_tree else None
    c = 17 if use_tree else 10
    cmap = [int(x) for x in rng.permutation(c)[:4]]
    rc = make_region(classes=c, tree=tree, num=2, map=cmap)
    truths = [random_truths(rng, 3, 4), []]
    compare(rc, truths, [None, int(rng.integers(0, c))], 20000, seed=9)


def test_no_bias_match_and_no_rescore():
    rng = np.random.default_rng(7)
    rc = make_region(classes=4, num=3, bias_match=False, rescore=False)
    truths = [random_truths(rng, 4, 4) for _ in range(2)]
    compare(rc, truths, [None, None], 20000, seed=10)


def test_scales_from_config():
    rng = np.random.default_rng(8)
    rc = make_region(classes=4, num=2, object_scale=2.5, noobject_scale=0.7, class_scale=1.9, coord_scale=3.0)
    truths = [random_truths(rng, 3, 4) for _ in range(2)]
    compare(rc, truths, [None, None], 0, seed=11)


def test_ignore_threshold_suppresses_noobject():
    rc = make_region(classes=3, num=2)
    h = w = 4
    raw = torch.randn(1, 2 * 8, h, w, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    truth = (0.6, 0.35, 0.3, 0.2, 1)  # cell (row 1, col 2)
    # anchor 1 at that cell predicts the truth exactly: best IoU 1 > .6, so no noobject push there
    sx, sy = 0.6 * w - 2, 0.35 * h - 1
    raw[0, 8 + 0, 1, 2] = math.log(sx / (1 - sx))
    raw[0, 8 + 1, 1, 2] = math.log(sy / (1 - sy))
    raw[0, 8 + 2, 1, 2] = math.log(0.3 * w / 2.0)
    raw[0, 8 + 3, 1, 2] = math.log(0.2 * h / 1.5)
    _, _, delta = compare(rc, [[truth]], [None], 20000, hw=(h, w), raw=raw)
    assert delta[0, 1, 4, 1, 2] == 0.0
    assert delta[0, 0, 4, 1, 2] != 0.0  # anchor 0 holds the truth (best shape): objectness target


@pytest.mark.parametrize("seed", range(4))
def test_random_configurations(seed):
    rng = np.random.default_rng(100 + seed)
    use_tree = bool(seed % 2)
    tree = random_tree(rng, int(rng.integers(5, 40))) if use_tree else None
    c = len(tree) if use_tree else int(rng.integers(2, 12))
    rc = make_region(
        classes=c,
        tree=tree,
        num=int(rng.integers(1, 6)),
        thresh=float(rng.uniform(0.3, 0.7)),
        rescore=bool(rng.integers(2)),
        bias_match=bool(rng.integers(2)),
    )
    b = int(rng.integers(1, 5))
    labels = [int(rng.integers(0, c)) if rng.random() < 0.3 else None for _ in range(b)]
    truths = [[] if lab is not None else random_truths(rng, int(rng.integers(0, 7)), c, near=0.4) for lab in labels]
    hw = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    compare(rc, truths, labels, int(rng.choice([0, 20000])), cls_obj="darknet", hw=hw, seed=seed)


def test_darknet_9k_tree(reference_dir):
    tree_file = reference_dir / "darknet" / "9k.tree"
    if not tree_file.is_file():
        pytest.skip(f"{tree_file} not found")
    tree = WordTree.from_darknet(tree_file)
    rng = np.random.default_rng(9)
    rc = make_region(classes=len(tree), tree=tree, num=3)
    truths = [random_truths(rng, 4, len(tree), near=0.5), [], random_truths(rng, 2, len(tree))]
    compare(rc, truths, [None, 6912, None], 500, hw=(2, 3), seed=12)  # 6912: "dog" in 9k.tree
