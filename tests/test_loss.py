"""RegionLoss on hand-made cases: exact targets for an object in a known cell, the classification-only argmax,
options, errors, dtypes and devices."""

from __future__ import annotations

import math

import pytest
import torch

from wordtree.tree import WordTree
from yolo9000.detection.head import RegionConfig
from yolo9000.detection.loss import RegionLoss
from yolo9000.detection.targets import Targets


def region(classes=3, tree=None, anchors=((1.0, 1.0), (3.0, 2.0)), **kw) -> RegionConfig:
    base = dict(
        anchors=anchors,
        num=len(anchors),
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


def one_image(boxes, nodes):
    return Targets.collate([{"boxes": boxes, "nodes": nodes}])


def iou(p, q):
    ow = min(p[0] + p[2] / 2, q[0] + q[2] / 2) - max(p[0] - p[2] / 2, q[0] - q[2] / 2)
    oh = min(p[1] + p[3] / 2, q[1] + q[3] / 2) - max(p[1] - p[3] / 2, q[1] - q[3] / 2)
    inter = max(ow, 0) * max(oh, 0)
    return inter / (p[2] * p[3] + q[2] * q[3] - inter)


def test_object_in_known_cell_gets_exact_targets():
    h, w = 4, 5
    rc = region()
    raw = torch.zeros(1, 2 * 8, h, w, dtype=torch.float64, requires_grad=True)  # sigmoid .5, exp 1, uniform
    truth = (0.55, 0.3, 0.5, 0.4)
    tg = one_image([truth], [2])
    loss, parts = RegionLoss(rc)(raw, tg, seen=20000)
    loss.backward()
    g = raw.grad.view(2, 8, h, w)
    # cell: col int(.55*5) = 2, row int(.3*4) = 1; anchor by shape: (.5,.4) vs (.2,.25) IoU .25, vs (.6,.5) IoU 2/3
    a, j, i = 1, 1, 2
    s = 2 - 0.5 * 0.4
    tx, ty = 0.55 * 5 - 2, 0.3 * 4 - 1
    tw, th = math.log(0.5 * 5 / 3.0), math.log(0.4 * 4 / 2.0)
    sd = 0.25  # sigmoid'(0)
    assert g[a, 0, j, i].item() == pytest.approx(-s * (tx - 0.5) * sd)
    assert g[a, 1, j, i].item() == pytest.approx(-s * (ty - 0.5) * sd)
    assert g[a, 2, j, i].item() == pytest.approx(-s * tw)
    assert g[a, 3, j, i].item() == pytest.approx(-s * th)
    # no coordinate gradient anywhere else (seen >= 12800: no prior term)
    mask = torch.zeros(2, h, w, dtype=torch.bool)
    mask[a, j, i] = True
    assert torch.count_nonzero(g[:, 0:4][~mask[:, None].expand(2, 4, h, w)]) == 0
    # objectness target = IoU of the current prediction (rescore), scale 5
    pred = ((i + 0.5) / w, (j + 0.5) / h, 3.0 / w, 2.0 / h)
    assert g[a, 4, j, i].item() == pytest.approx(-5.0 * (iou(pred, truth) - 0.5) * sd)
    # every other prediction: noobject (the uniform predictions overlap the truth by less than .6)
    others = g[:, 4][~mask]
    assert torch.allclose(others, torch.full_like(others, 0.5 * sd))
    # flat softmax class gradient at the slot only: softmax - onehot
    assert torch.allclose(g[a, 5:, j, i], torch.tensor([1 / 3, 1 / 3, -2 / 3], dtype=torch.float64))
    assert torch.count_nonzero(g[:, 5:][~mask[:, None].expand(2, 3, h, w)]) == 0
    assert parts["count"].item() == 1
    assert parts["coord"].item() == pytest.approx(0.5 * s * ((tx - 0.5) ** 2 + (ty - 0.5) ** 2 + tw**2 + th**2))
    assert parts["class"].item() == pytest.approx(math.log(3))
    assert parts["avg_iou"].item() == pytest.approx(iou(pred, truth))
    assert parts["prior"].item() == 0


def test_prior_term_before_12800_images():
    h, w = 2, 2
    rc = region()
    raw = torch.randn(1, 16, h, w, dtype=torch.float64, requires_grad=True)
    tg = one_image([], [])
    loss, parts = RegionLoss(rc)(raw, tg, seen=12799)
    loss.backward()
    r = raw.detach().view(2, 8, h, w)
    g = raw.grad.view(2, 8, h, w)
    sx = torch.sigmoid(r[:, 0])
    assert torch.allclose(g[:, 0], -0.01 * (0.5 - sx) * sx * (1 - sx))
    assert torch.allclose(g[:, 2], 0.01 * r[:, 2])
    assert parts["prior"].item() > 0
    _, parts2 = RegionLoss(rc)(raw, tg, seen=12800)
    assert parts2["prior"].item() == 0


def small_tree() -> WordTree:
    # root group {0, 1}; 0 -> {2, 3, 4}; 2 -> {5, 6}
    return WordTree([f"n{i}" for i in range(7)], [-1, -1, 0, 0, 0, 2, 2])


@pytest.mark.parametrize("mode", ["darknet", "paper", "none"])
def test_classification_only_argmax(mode):
    tree = small_tree()
    rc = region(classes=7, tree=tree)
    h, w = 3, 3
    raw = torch.zeros(1, 2 * 12, h, w, dtype=torch.float64)
    r = raw.view(2, 12, h, w)
    label = 5  # path 0 -> 2 -> 5
    r[:, 4] = -2.0
    r[0, 4, 0, 1] = 6.0  # very confident box, but P(label) small there
    r[0, 5 + 1, 0, 1] = 5.0
    r[1, 5 + 0, 2, 2], r[1, 5 + 2, 2, 2], r[1, 5 + 5, 2, 2] = 8.0, 8.0, 8.0  # P(label) ~1, obj low
    r[1, 4, 2, 2] = -4.0
    r[1, 4, 1, 0] = 1.0  # the best product: fair objectness, good P(label)
    r[1, 5 + 0, 1, 0], r[1, 5 + 2, 1, 0], r[1, 5 + 5, 1, 0] = 3.0, 3.0, 3.0
    raw.requires_grad_(True)
    tg = Targets.collate([{"boxes": [], "nodes": [], "is_cls": True, "label": label}])
    loss, parts = RegionLoss(rc, cls_objectness=mode)(raw, tg, seen=0)
    loss.backward()
    g = raw.grad.view(2, 12, h, w)
    # class gradient only at the chosen prediction, only on the groups of the label's path
    nz = torch.nonzero(g[:, 5:]).tolist()
    assert {(a, j, i) for a, _, j, i in nz} == {(1, 1, 0)}
    assert {k for _, k, _, _ in nz} == {0, 1, 2, 3, 4, 5, 6}  # groups {0,1}, {2,3,4}, {5,6}
    # no box or prior gradient on a classification image
    assert torch.count_nonzero(g[:, 0:4]) == 0
    obj = g[:, 4]
    if mode == "none":
        assert torch.count_nonzero(obj) == 0
    else:
        assert obj[1, 1, 0].item() == 0.0  # sigmoid(1) = .73 > .3: no push even in the paper mode
        assert torch.count_nonzero(obj) == 2 * h * w - 1
    assert parts["cls_count"].item() == 1 and parts["count"].item() == 0
    assert parts["cls_only"].item() > 0 and parts["class"].item() == 0


def test_classification_anchor_by_objectness():
    tree = small_tree()
    rc = region(classes=7, tree=tree)
    raw = torch.zeros(1, 2 * 12, 3, 3, dtype=torch.float64)
    r = raw.view(2, 12, 3, 3)
    r[:, 4] = -2.0
    r[0, 4, 0, 1] = 6.0  # the most confident box, though its P(label) is small
    r[1, 5 + 0, 2, 2], r[1, 5 + 2, 2, 2], r[1, 5 + 5, 2, 2] = 8.0, 8.0, 8.0  # where the paper's rule goes
    raw.requires_grad_(True)
    tg = Targets.collate([{"boxes": [], "nodes": [], "is_cls": True, "label": 5}])
    loss, _ = RegionLoss(rc, cls_objectness="none", cls_anchor="objectness")(raw, tg, seen=0)
    loss.backward()
    nz = torch.nonzero(raw.grad.view(2, 12, 3, 3)[:, 5:]).tolist()
    assert {(a, j, i) for a, _, j, i in nz} == {(0, 0, 1)}
    with pytest.raises(ValueError, match="cls_anchor"):
        RegionLoss(rc, cls_anchor="best")


def test_classification_tie_goes_to_first_location():
    tree = small_tree()
    rc = region(classes=7, tree=tree)
    raw = torch.zeros(2, 2 * 12, 2, 3, requires_grad=True)
    tg = Targets.collate([{"boxes": [], "nodes": [], "is_cls": True, "label": 6}] * 2)
    loss, _ = RegionLoss(rc, cls_objectness="darknet")(raw, tg, seen=0)
    loss.backward()
    g = raw.grad.view(2, 2, 12, 2, 3)
    for b in range(2):
        assert torch.nonzero(g[b, :, 5:].abs().sum(1)).tolist() == [[0, 0, 0]]


def test_tree_class_loss_only_at_and_above_label():
    tree = small_tree()
    rc = region(classes=7, tree=tree)
    raw = torch.randn(1, 24, 2, 2, requires_grad=True)
    loss, _ = RegionLoss(rc)(raw, one_image([(0.2, 0.2, 0.3, 0.3)], [2]), seen=20000)
    loss.backward()
    g = raw.grad.view(2, 12, 2, 2)[:, 5:]
    cls_nodes = {k for _, k, _, _ in torch.nonzero(g).tolist()}
    assert cls_nodes == {0, 1, 2, 3, 4}  # node 2's children 5, 6 get nothing


def test_matches_tree_softmax_loss_when_available():
    softmax = pytest.importorskip("wordtree.softmax")
    tree = small_tree()
    rc = region(classes=7, tree=tree, anchors=((1.0, 1.0),))
    raw = torch.randn(1, 12, 1, 1, dtype=torch.float64, requires_grad=True)
    loss_fn = RegionLoss(rc, tree_softmax=softmax.TreeSoftmax(tree))
    _, parts = loss_fn(raw, one_image([(0.5, 0.5, 0.4, 0.4)], [6]), seen=20000)
    ts = softmax.TreeSoftmax(tree)
    expect = ts.loss(raw.detach()[:, 5:, 0, 0], torch.tensor([6]), reduction="sum")
    assert parts["class"].item() == pytest.approx(expect.item(), rel=1e-9)


def test_reduction_mean_divides_by_batch():
    rc = region()
    raw = torch.randn(3, 16, 3, 3)
    tg = Targets.collate([{"boxes": [(0.5, 0.5, 0.3, 0.3)], "nodes": [1]}] * 3)
    s, ps = RegionLoss(rc)(raw, tg, 0)
    m, pm = RegionLoss(rc, reduction="mean")(raw, tg, 0)
    assert m.item() == pytest.approx(s.item() / 3, rel=1e-6)
    assert pm["coord"].item() == pytest.approx(ps["coord"].item() / 3, rel=1e-6)
    assert pm["cost"].item() == pytest.approx(ps["cost"].item() / 3, rel=1e-5)
    with torch.inference_mode():
        li, pi = RegionLoss(rc)(raw, tg, 0)
    assert li.item() == pytest.approx(s.item(), rel=1e-6) and math.isnan(pi["cost"].item())


def test_degenerate_and_edge_boxes():
    rc = region()
    raw = torch.randn(1, 16, 4, 4, requires_grad=True)
    # x == 1.0 stays in the last cell; a zero-width and a NaN box are ignored
    tg = one_image([(1.0, 1.0, 0.2, 0.2), (0.5, 0.5, 0.0, 0.3), (float("nan"), 0.5, 0.2, 0.2)], [0, 1, 2])
    loss, parts = RegionLoss(rc)(raw, tg, 0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(raw.grad).all()
    assert parts["count"].item() == 1
    g = raw.grad.view(2, 8, 4, 4)
    assert g[:, 5:, 3, 3].abs().sum() > 0


def test_training_a_free_output_fits_the_truth():
    rc = region()
    raw = torch.zeros(1, 16, 4, 4, requires_grad=True)
    truth = (0.62, 0.41, 0.45, 0.3)
    tg = one_image([truth], [1])
    opt = torch.optim.SGD([raw], lr=1.0)
    fn = RegionLoss(rc)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss, parts = fn(raw, tg, 20000)
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    assert parts["avg_iou"].item() > 0.95 and parts["recall"].item() == 1.0
    assert parts["avg_obj"].item() > 0.9 and parts["avg_noobj"].item() < 0.2 and parts["avg_cat"].item() > 0.95


def test_errors_are_clear():
    rc = region()
    fn = RegionLoss(rc)
    tg = one_image([(0.5, 0.5, 0.2, 0.2)], [1])
    with pytest.raises(ValueError, match="channels"):
        fn(torch.zeros(1, 15, 2, 2), tg, 0)
    with pytest.raises(ValueError, match="box class 7"):
        fn(torch.zeros(1, 16, 2, 2), one_image([(0.5, 0.5, 0.2, 0.2)], [7]), 0)
    with pytest.raises(ValueError, match="classification label -1"):
        fn(torch.zeros(1, 16, 2, 2), Targets.collate([{"boxes": [], "nodes": [], "is_cls": True}]), 0)
    with pytest.raises(ValueError, match="target rows"):
        fn(torch.zeros(2, 16, 2, 2), tg, 0)
    with pytest.raises(ValueError, match="cls_objectness"):
        RegionLoss(rc, cls_objectness="maybe")
    with pytest.raises(ValueError, match="map's 2 entries"):
        RegionLoss(region(map=[0, 2]))(torch.zeros(1, 16, 2, 2), one_image([(0.5, 0.5, 0.2, 0.2)], [2]), 0)


def test_autocast_bf16_computes_in_float32():
    rc = region(classes=7, tree=small_tree())
    raw = torch.randn(2, 24, 3, 3).bfloat16().requires_grad_(True)
    tg = Targets.collate(
        [{"boxes": [(0.4, 0.6, 0.3, 0.5)], "nodes": [5]}, {"boxes": [], "nodes": [], "is_cls": True, "label": 3}]
    )
    fn = RegionLoss(rc)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = fn(raw, tg, 0)
    assert loss.dtype == torch.float32
    loss.backward()
    assert raw.grad.dtype == torch.bfloat16
    ref, _ = fn(raw.detach().float(), tg, 0)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)


def test_channels_last_input():
    rc = region()
    raw = torch.randn(2, 16, 3, 3)
    tg = Targets.collate([{"boxes": [(0.4, 0.6, 0.3, 0.5), (0.41, 0.6, 0.3, 0.5)], "nodes": [2, 1]}] * 2)
    r1 = raw.clone().requires_grad_(True)
    r2 = raw.to(memory_format=torch.channels_last).requires_grad_(True)
    a, _ = RegionLoss(rc)(r1, tg, 0)
    b, _ = RegionLoss(rc)(r2, tg, 0)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)
    (a * 2).backward()
    (b * 2).backward()
    assert torch.allclose(r1.grad, r2.grad, atol=1e-7)


def test_no_grad_and_eval_paths():
    rc = region()
    raw = torch.randn(1, 16, 3, 3, requires_grad=True)
    tg = one_image([(0.4, 0.6, 0.3, 0.5)], [2])
    with torch.no_grad():
        a, _ = RegionLoss(rc)(raw, tg, 0)
    b, _ = RegionLoss(rc)(raw.detach(), tg, 0)
    c, _ = RegionLoss(rc)(raw, tg, 0)
    assert not a.requires_grad and not b.requires_grad and c.requires_grad
    assert a.item() == pytest.approx(c.item()) and b.item() == pytest.approx(c.item())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rc = region(classes=7, tree=small_tree())
    raw = torch.randn(3, 24, 5, 5, dtype=torch.float64)
    tg = Targets.collate(
        [
            {"boxes": [(0.4, 0.6, 0.3, 0.5), (0.41, 0.6, 0.3, 0.5)], "nodes": [5, 6]},
            {"boxes": [], "nodes": [], "is_cls": True, "label": 3},
            {"boxes": [(0.1, 0.2, 0.1, 0.1)], "nodes": [1]},
        ]
    )
    fn = RegionLoss(rc)
    rc_ = raw.clone().requires_grad_(True)
    lc, _ = fn(rc_, tg, 0)
    lc.backward()
    rg = raw.cuda().requires_grad_(True)
    lg, _ = fn.cuda()(rg, tg.to("cuda"), 0)
    lg.backward()
    assert lg.item() == pytest.approx(lc.item(), rel=1e-9)
    assert torch.allclose(rg.grad.cpu(), rc_.grad, atol=1e-12)


def test_tree_keyword_gives_the_same_loss():
    """RegionLoss(tree=...) is the same loss as the region's tree or a tree softmax's; two trees are an error."""
    softmax = pytest.importorskip("wordtree.softmax")
    tree = small_tree()
    rc = region(classes=7, tree=tree, anchors=((1.0, 1.0),))
    raw = torch.randn(2, 12, 2, 2, dtype=torch.float64)
    tg = Targets.collate(
        [{"boxes": [(0.3, 0.3, 0.4, 0.4)], "nodes": [5]}, {"boxes": [], "nodes": [], "is_cls": True, "label": 3}]
    )
    by_region, _ = RegionLoss(rc)(raw, tg, 0)
    by_tree, _ = RegionLoss(rc, tree=tree)(raw, tg, 0)
    by_softmax, _ = RegionLoss(rc, softmax.TreeSoftmax(tree))(raw, tg, 0)
    assert by_region.item() == by_tree.item() == by_softmax.item()
    other = WordTree([f"m{i}" for i in range(7)], [-1, -1, 0, 0, 0, 2, 2])
    with pytest.raises(ValueError, match="different trees"):
        RegionLoss(rc, softmax.TreeSoftmax(other), tree=tree)
