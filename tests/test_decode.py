"""Decode + NMS on hand-made region outputs, checked by hand and against a loop port of Darknet's
`get_region_detections` + `do_nms_sort`."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from wordtree import WordTree
from yolo9000.detection.decode import DecodeOptions, decode
from yolo9000.detection.detections import Detections
from yolo9000.detection.letterbox import letterbox_sizes
from yolo9000.detection.nms import darknet_partition_position


def region(anchors, classes, tree=None):
    return SimpleNamespace(
        anchors=torch.tensor(anchors, dtype=torch.float32).reshape(-1, 2), classes=classes, tree=tree
    )


def blank(a=2, c=3, h=4, w=5, b=1):
    """Region output with every objectness at 0.01 and uniform class probabilities."""
    out = torch.zeros(b, a, 5 + c, h, w)
    out[:, :, 0:2] = 0.5
    out[:, :, 4] = 0.01
    out[:, :, 5:] = 1.0 / c
    return out


# ---------------------------------------------------------------- a loop port of Darknet (test oracle)
def _iou(a, b):
    def overlap(x1, w1, x2, w2):
        return min(x1 + w1 / 2, x2 + w2 / 2) - max(x1 - w1 / 2, x2 - w2 / 2)

    ow, oh = overlap(a[0], a[2], b[0], b[2]), overlap(a[1], a[3], b[1], b[3])
    inter = 0.0 if ow < 0 or oh < 0 else ow * oh
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _top_prediction(p, thresh, tree):
    prob, group = np.float32(1), 0
    while True:
        mx, mi = np.float32(0), 0
        off, size = int(tree.group_offset[group]), int(tree.group_size[group])
        for i in range(off, off + size):
            if p[i] > mx:
                mx, mi = p[i], i
        if prob * mx > thresh:
            prob = np.float32(prob * mx)
            group = int(tree.child_group[mi])
            if group < 0:
                return mi
        elif group == 0:
            return mi
        else:
            return int(tree.parent[off])


def darknet_oracle(out, anchors, thresh, hier, nms, im_w, im_h, net_w, net_h, tree=None):
    """Surviving (index, class, prob) triples and boxes (relative cx, cy, w, h) by index."""
    out = out.numpy().astype(np.float32)
    num_a, ent, gh, gw = out.shape
    c = ent - 5
    dets = [None] * (num_a * gh * gw)  # Darknet's array is anchor-major: dets[anchor * H * W + cell]
    for i in range(gh * gw):
        row, col = divmod(i, gw)
        for n in range(num_a):
            v = out[n, :, row, col]
            obj = v[4]
            box = [
                (col + v[0]) / gw,
                (row + v[1]) / gh,
                math.exp(v[2]) * anchors[n][0] / gw,
                math.exp(v[3]) * anchors[n][1] / gh,
            ]
            prob = np.zeros(c, np.float32)
            objectness = obj if obj > thresh else 0
            if tree is not None:
                p = v[5:].copy()
                for j in range(c):
                    if tree.parent[j] >= 0:
                        p[j] = p[j] * p[tree.parent[j]]
                k = _top_prediction(p, hier, tree)
                prob[k] = obj if obj > thresh else 0
            elif objectness:
                for j in range(c):
                    pr = np.float32(obj * v[5 + j])
                    prob[j] = pr if pr > thresh else 0
            dets[n * gh * gw + i] = {"index": n * gh * gw + i, "box": box, "objectness": objectness, "prob": prob}
    if net_w / im_w < net_h / im_h:
        new_w, new_h = net_w, im_h * net_w // im_w
    else:
        new_w, new_h = im_w * net_h // im_h, net_h
    for d in dets:
        x, y, w, h = d["box"]
        d["box"] = [
            (x - (net_w - new_w) / 2 / net_w) / (new_w / net_w),
            (y - (net_h - new_h) / 2 / net_h) / (new_h / net_h),
            w * net_w / new_w,
            h * net_h / new_h,
        ]
    k = len(dets) - 1
    i = 0
    while i <= k:
        if dets[i]["objectness"] == 0:
            dets[i], dets[k] = dets[k], dets[i]
            k -= 1
        else:
            i += 1
    dets = dets[: k + 1]
    for cls in range(c):
        dets = sorted(dets, key=lambda d: -d["prob"][cls])  # stable, like glibc's merge sort
        for i in range(len(dets)):
            if dets[i]["prob"][cls] == 0:
                continue
            for j in range(i + 1, len(dets)):
                if _iou(dets[i]["box"], dets[j]["box"]) > nms:
                    dets[j]["prob"][cls] = 0
    found = sorted((d["index"], j, float(d["prob"][j])) for d in dets for j in np.flatnonzero(d["prob"]))
    return found, {d["index"]: d["box"] for d in dets}


def as_triples(det: Detections):
    return sorted((int(i), int(lab), float(s)) for i, lab, s in zip(det.index, det.labels, det.scores))


# ---------------------------------------------------------------- hand-computed cases
def test_single_box_by_hand():
    out = blank(a=2, c=3, h=4, w=5)
    out[0, 1, :, 2, 3] = torch.tensor([0.5, 0.25, math.log(2.0), 0.0, 0.9, 0.1, 0.8, 0.1])
    reg = region([[1.0, 1.0], [2.0, 3.0]], 3)
    (det,) = decode(out, reg, thresh=0.25, nms=0.45)
    assert len(det) == 1
    assert int(det.index[0]) == 1 * 20 + 2 * 5 + 3
    assert int(det.labels[0]) == 1
    assert det.scores[0].item() == pytest.approx(0.72)
    assert det.objectness[0].item() == pytest.approx(0.9)
    assert det.probs[0].item() == pytest.approx(0.8)
    # no image size: network pixels, net = 32 x grid = 160 x 128
    cx, cy = (3 + 0.5) / 5 * 160, (2 + 0.25) / 4 * 128
    bw, bh = 2.0 * 2.0 / 5 * 160, 1.0 * 3.0 / 4 * 128
    expected = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]
    assert det.boxes[0].tolist() == pytest.approx(expected, abs=1e-4)
    assert det.image_size is None and det.path is None


def test_letterbox_undo_with_odd_padding():
    # 100 x 61 into a 32 x 32 net: new size 32 x 19, padding 13 rows (odd): Darknet uses the un-floored 6.5
    new_w, new_h = letterbox_sizes(torch.tensor([[100, 61]]), 32, 32)
    assert (int(new_w), int(new_h)) == (32, 19)
    out = blank(a=1, c=1, h=1, w=1)
    out[0, 0, :, 0, 0] = torch.tensor([0.5, 0.5, 0.0, 0.0, 0.9, 1.0])
    reg = region([[0.5, 0.25]], 1)
    (det,) = decode(out, reg, net_size=(32, 32), image_sizes=[(100, 61)], clip=False)
    y = (0.5 - 6.5 / 32) / (19 / 32) * 61
    h = 0.25 * 32 / 19 * 61
    x, w = 0.5 * 100, 0.5 * 100
    assert det.boxes[0].tolist() == pytest.approx([x - w / 2, y - h / 2, x + w / 2, y + h / 2], abs=1e-3)
    assert det.image_size == (100, 61)


def test_square_and_portrait_letterbox():
    # a square image takes Darknet's "else" branch; a portrait one is padded left/right
    nw, nh = letterbox_sizes(torch.tensor([[50, 50], [300, 600], [640, 480]]), 416, 416)
    assert nw.tolist() == [416, 208, 416] and nh.tolist() == [416, 416, 312]


def test_stretch_mode_and_clip():
    out = blank(a=1, c=1, h=1, w=1)
    out[0, 0, :, 0, 0] = torch.tensor([0.5, 0.5, math.log(3.0), 0.0, 0.9, 1.0])
    reg = region([[1.0, 0.5]], 1)
    (det,) = decode(out, reg, image_sizes=[(200, 100)], letterbox=False, clip=False)
    assert det.boxes[0].tolist() == pytest.approx([100 - 300, 50 - 25, 100 + 300, 50 + 25], abs=1e-3)
    (det,) = decode(out, reg, image_sizes=[(200, 100)], letterbox=False)
    assert det.boxes[0].tolist() == pytest.approx([0, 25, 200, 75], abs=1e-3)


def test_every_class_above_threshold_is_kept():
    out = blank(a=1, c=3, h=2, w=2)
    out[0, 0, 4:, 1, 1] = torch.tensor([0.9, 0.5, 0.45, 0.05])
    (det,) = decode(out, region([[1, 1]], 3), thresh=0.3)
    assert sorted(det.labels.tolist()) == [0, 1]
    assert det.scores.tolist() == pytest.approx([0.45, 0.405])  # sorted by score
    assert (det.index == 3).all()


def _two_boxes(shift: float, cls_a: int, cls_b: int):
    out = blank(a=1, c=2, h=1, w=2)
    out[0, 0, :, 0, 0] = torch.tensor([0.9, 0.5, math.log(2.0), math.log(2.0), 0.9, 0, 0])
    out[0, 0, :, 0, 1] = torch.tensor([shift, 0.5, math.log(2.0), math.log(2.0), 0.8, 0, 0])
    out[0, 0, 5 + cls_a, 0, 0] = 1.0
    out[0, 0, 5 + cls_b, 0, 1] = 1.0
    return out


def test_nms_per_class_and_agnostic():
    reg = region([[1, 1]], 2)
    same = _two_boxes(0.1, 0, 0)  # centres 0.45 and 0.55 (of width 2), width 1: heavy overlap
    (det,) = decode(same, reg, nms=0.45)
    assert det.index.tolist() == [0]
    (det,) = decode(same, reg, nms=1.0)  # nms=1 keeps everything
    assert det.index.tolist() == [0, 1]
    far = _two_boxes(0.9, 0, 0)  # centres 0.45 and 0.95: IoU 1/3
    assert decode(far, reg, nms=0.45)[0].index.tolist() == [0, 1]
    assert decode(far, reg, nms=0.3)[0].index.tolist() == [0]
    other = _two_boxes(0.1, 0, 1)
    assert decode(other, reg, nms=0.45)[0].labels.tolist() == [0, 1]
    assert decode(other, reg, nms=0.45, class_agnostic=True)[0].labels.tolist() == [0]


def test_batch_split_and_sizes():
    out = blank(a=1, c=2, h=2, w=2, b=3)
    out[0, 0, 4:, 0, 0] = torch.tensor([0.9, 1.0, 0.0])
    out[2, 0, 4:, 1, 1] = torch.tensor([0.8, 0.0, 1.0])
    out[2, 0, 4:, 0, 0] = torch.tensor([0.7, 0.0, 1.0])
    dets = decode(out, region([[0.2, 0.2]], 2), image_sizes=[(64, 64), (10, 20), (640, 480)])
    assert [len(d) for d in dets] == [1, 0, 2]
    assert dets[2].scores.tolist() == pytest.approx([0.8, 0.7])
    assert dets[1].boxes.shape == (0, 4) and dets[1].image_size == (10, 20)
    assert (dets[2].boxes[:, 2] <= 640).all()


def test_thresholds_are_strict():
    out = blank(a=1, c=1, h=1, w=1)
    out[0, 0, 4:, 0, 0] = torch.tensor([0.5, 1.0])
    assert len(decode(out, region([[1, 1]], 1), thresh=0.5)[0]) == 0
    assert len(decode(out, region([[1, 1]], 1), thresh=0.49)[0]) == 1


def test_bad_inputs_are_clear():
    reg = region([[1, 1], [2, 2]], 3)
    with pytest.raises(ValueError, match="anchors"):
        decode(blank(a=3, c=3), reg)
    with pytest.raises(ValueError, match="5 \\+ classes"):
        decode(blank(a=2, c=4), reg)
    with pytest.raises(ValueError, match="mode"):
        decode(blank(a=2, c=3), reg, mode="fast")
    with pytest.raises(ValueError, match="\\(B, A, 5\\+C, H, W\\)"):
        decode(torch.zeros(2, 16, 4, 5), reg)
    with pytest.raises(ValueError, match="image sizes"):
        decode(blank(a=2, c=3), reg, image_sizes=[(1, 1), (2, 2)])
    with pytest.raises(ValueError, match="class_map"):
        decode(blank(a=2, c=3), reg, class_map=[0, 1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"thresh": 1.0}, r"option 'thresh': expected a number in \[0, 1\), got 1.0"),
        ({"thresh": -0.1}, r"option 'thresh'"),
        ({"hier_thresh": 1.5}, r"option 'hier_thresh'"),
        ({"nms": 0.0}, r"option 'nms': expected a number in \(0, 1\], got 0.0"),
        ({"siblings": -1}, r"option 'siblings'"),
        ({"mode": "fast"}, "mode must be one of"),
        ({"tree_nms": True, "class_agnostic": True}, "exclude each other"),
    ],
)
def test_decode_options_are_checked_once(change, message):
    """Every decode option is checked when the options are made, with `wordtree.options`' rules; the keyword
    form of `decode` goes through the same checks."""
    with pytest.raises(ValueError, match=message):
        DecodeOptions(**change)
    with pytest.raises(ValueError, match=message):
        decode(blank(a=2, c=3), region([[1, 1], [2, 2]], 3), **change)


def test_decode_options_equal_keywords():
    """`decode(out, region, options)` and the keyword form give the same detections; `with_` changes a copy."""
    out = blank(a=2, c=3)
    out[0, 1, 4, 2, 3] = 0.9
    out[0, 1, 5:, 2, 3] = torch.tensor([0.1, 0.7, 0.2])
    reg = region([[1, 1], [2, 2]], 3)
    opts = DecodeOptions(thresh=0.3, nms=0.5)
    a = decode(out, reg, opts)[0]
    b = decode(out, reg, thresh=0.3, nms=0.5)[0]
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.labels, b.labels) and len(a) == 1
    assert opts.with_(thresh=0.8).thresh == 0.8 and opts.thresh == 0.3
    assert len(decode(out, reg, opts, thresh=0.8)[0]) == 0
    assert DecodeOptions(class_map=[3, 1]).class_map == (3, 1)


def test_records_are_json():
    out = blank(a=1, c=2, h=2, w=2)
    out[0, 0, 4:, 1, 0] = torch.tensor([0.9, 0.3, 0.7])
    (det,) = decode(out, region([[1, 1]], 2), image_sizes=[(100, 80)], names=["cat", "dog"])
    recs = det.to_records()
    json.dumps(recs)
    assert [r["name"] for r in recs] == ["dog", "cat"]
    r = recs[0]
    assert r["score"] == pytest.approx(0.63) and r["objectness"] == pytest.approx(0.9)
    assert r["bbox"][2] == pytest.approx(r["box"][2] - r["box"][0], abs=0.02)
    assert det.label_text(0) == "dog (0.63)"


# ---------------------------------------------------------------- Darknet's partition / ordering
def _partition_loop(active):
    order = list(range(len(active)))
    k, i = len(order) - 1, 0
    while i <= k:
        if not active[order[i]]:
            order[i], order[k] = order[k], order[i]
            k -= 1
        else:
            i += 1
    return {d: p for p, d in enumerate(order[: k + 1])}


def test_partition_position_matches_loop():
    g = torch.Generator().manual_seed(0)
    active = torch.rand(40, 17, generator=g) < torch.rand(40, 1, generator=g)
    pos = darknet_partition_position(active)
    for b in range(active.shape[0]):
        want = _partition_loop(active[b].tolist())
        got = {d: int(pos[b, d]) for d in range(active.shape[1]) if active[b, d]}
        assert got == want


def test_darknet_mode_breaks_ties_like_do_nms_sort():
    # prediction 0 is inactive, so the partition moves the last prediction (3) to the front; prediction 1
    # has the same score and overlaps: Darknet keeps 3, an index-ordered NMS would keep 1
    out = blank(a=1, c=1, h=1, w=4)
    for col, obj in ((1, 0.8), (3, 0.8)):
        out[0, 0, :, 0, col] = torch.tensor([0.5, 0.5, math.log(8.0), 0.0, obj, 1.0])
    (det,) = decode(out, region([[1, 1]], 1), mode="darknet")
    assert det.index.tolist() == [3]


@pytest.mark.parametrize("seed", range(6))
def test_flat_matches_darknet_loop(seed):
    g = torch.Generator().manual_seed(seed)
    a, c, h, w = 2, 4, 3, 3
    out = torch.rand(1, a, 5 + c, h, w, generator=g)
    out[:, :, 2:4] = torch.randn(1, a, 2, h, w, generator=g) * 0.3 + 0.7
    # coarse values make exact score ties common and many predictions inactive, so both the partition
    # order and the lexicographic order across classes decide which tied box survives (a plain
    # index-ordered NMS fails most of these seeds)
    out[:, :, 4] = torch.tensor([0.1, 0.1, 0.5, 1.0])[torch.randint(0, 4, (1, a, h, w), generator=g)]
    out[:, :, 5:] = torch.tensor([0.0, 0.25, 0.5, 1.0])[torch.randint(0, 4, (1, a, c, h, w), generator=g)]
    anchors = [[2.0, 1.5], [1.0, 2.5]]
    want, boxes = darknet_oracle(out[0], anchors, 0.24, 0.5, 0.3, 90, 70, 96, 96)
    (det,) = decode(
        out,
        region(anchors, c),
        thresh=0.24,
        nms=0.3,
        mode="darknet",
        net_size=(96, 96),
        image_sizes=[(90, 70)],
        clip=False,
    )
    assert as_triples(det) == [(i, k, pytest.approx(p)) for i, k, p in want]
    b = det.boxes.double()
    for k, idx in enumerate(det.index.tolist()):
        cx, cy, bw, bh = boxes[idx]
        assert [(b[k, 0] + b[k, 2]) / 180, (b[k, 1] + b[k, 3]) / 140] == pytest.approx([cx, cy], abs=1e-5)
        assert [(b[k, 2] - b[k, 0]) / 90, (b[k, 3] - b[k, 1]) / 70] == pytest.approx([bw, bh], abs=1e-5)


# ---------------------------------------------------------------- trees
def toy_tree() -> WordTree:
    # 0 animal, 1 plant | 2 dog, 3 cat (animal) | 4 tree (plant) | 5 terrier, 6 poodle (dog)
    return WordTree(
        [f"n{i:08d}" for i in range(7)],
        [-1, -1, 0, 0, 1, 2, 2],
        ["animal", "plant", "dog", "cat", "tree", "terrier", "poodle"],
    )


def tree_out(cond_rows, objs):
    tree = toy_tree()
    n = len(cond_rows)
    out = torch.zeros(1, 1, 5 + len(tree), 1, n)
    out[0, 0, 2:4] = math.log(0.5)
    out[0, 0, 0:2] = 0.5
    for col, (probs, obj) in enumerate(zip(cond_rows, objs)):
        out[0, 0, 4, 0, col] = obj
        out[0, 0, 5:, 0, col] = torch.tensor(probs)
    return out, tree


def test_tree_paper_and_darknet_modes():
    pytest.importorskip("wordtree.softmax")
    # conditional: animal .9, dog .8, terrier .7 -> absolute .9, .72, .504 (paper: terrier; Darknet: dog)
    cond = [0.9, 0.1, 0.8, 0.2, 1.0, 0.7, 0.3]
    out, tree = tree_out([cond], [0.8])
    reg = region([[1, 1]], len(tree), tree)
    (paper,) = decode(out, reg, thresh=0.25, hier_thresh=0.5, mode="paper")
    assert paper.labels.tolist() == [5] and paper.nodes.tolist() == [5]
    assert paper.probs[0].item() == pytest.approx(0.504, abs=1e-5)
    assert paper.scores[0].item() == pytest.approx(0.8 * 0.504, abs=1e-5)
    (dk,) = decode(out, reg, thresh=0.25, hier_thresh=0.5, mode="darknet")
    assert dk.labels.tolist() == [2]  # the compounded product stops at "dog"
    assert dk.scores[0].item() == pytest.approx(0.8)
    assert dk.probs[0].item() == pytest.approx(0.72, abs=1e-5)
    assert paper.path[0].tolist()[:3] == [0, 2, 5] and dk.path[0].tolist()[:2] == [0, 2]
    assert paper.path_probs[0, :3].tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert paper.path_absolute()[0, :3].tolist() == pytest.approx([0.9, 0.72, 0.504], abs=1e-5)
    assert paper.label_text(0, show_path=True) == "animal > dog > terrier (0.40)"
    assert dk.label_text(0, show_path=True, max_path=1) == ".. > dog (0.80)"
    rec = paper.to_records()[0]
    json.dumps(rec)
    assert [p["name"] for p in rec["path"]] == ["animal", "dog", "terrier"]
    assert rec["node"] == 5 and rec["name"] == "terrier"


def test_tree_records_name_every_node_by_id_too():
    """Detections.to_records: the box's node, its path and its walk's levels all carry the node's "id"."""
    pytest.importorskip("wordtree.softmax")
    out, tree = tree_out([[0.9, 0.1, 0.8, 0.2, 1.0, 0.7, 0.3]], [0.8])
    (det,) = decode(out, region([[1, 1]], len(tree), tree), thresh=0.25, siblings=2)
    rec = det.to_records()[0]
    assert rec["id"] == tree.ids[rec["node"]]
    assert [p["id"] for p in rec["path"]] == [tree.ids[p["node"]] for p in rec["path"]]
    assert rec["walk"] and [w["id"] for w in rec["walk"]] == [tree.ids[w["node"]] for w in rec["walk"]]
    assert list(rec["walk"][0]) == ["node", "id", "name", "prob", "abs", "siblings"]


def test_tree_per_node_nms_and_class_map():
    pytest.importorskip("wordtree.softmax")
    deep = [0.9, 0.1, 0.8, 0.2, 1.0, 0.9, 0.1]  # terrier
    shallow = [0.9, 0.1, 0.6, 0.4, 1.0, 0.5, 0.5]  # stops at dog (paper: .54 > .5, then .27)
    out, tree = tree_out([deep, shallow], [0.9, 0.9])
    out[0, 0, 0, 0, 1] = 0.2  # nearly the same box
    reg = region([[4, 4]], len(tree), tree)
    (det,) = decode(out, reg, mode="paper", nms=0.45)
    assert sorted(det.labels.tolist()) == [2, 5]  # different nodes never suppress each other
    (det,) = decode(out, reg, mode="paper", nms=0.45, class_agnostic=True)
    assert det.labels.tolist() == [5]
    # with a map: one candidate per mapped class, score obj * P(node)
    (det,) = decode(out, reg, thresh=0.3, nms=1.0, class_map=[2, 3, 5], mode="darknet")
    got = sorted((int(i), int(lab), round(float(s), 4)) for i, lab, s in zip(det.index, det.labels, det.scores))
    assert got == [
        (0, 0, round(0.9 * 0.72, 4)),
        (0, 2, round(0.9 * 0.648, 4)),
        (1, 0, round(0.9 * 0.54, 4)),
        (1, 1, round(0.9 * 0.36, 4)),
    ]
    assert det.nodes.tolist() == [{0: 2, 1: 3, 2: 5}[k] for k in det.labels.tolist()]


@pytest.mark.parametrize("seed", range(4))
def test_tree_darknet_mode_matches_darknet_loop(seed):
    pytest.importorskip("wordtree.softmax")
    tree = toy_tree()
    g = torch.Generator().manual_seed(seed)
    a, h, w = 2, 3, 3
    logits = torch.randn(1, a, h, w, len(tree), generator=g) * 2
    cond = torch.zeros_like(logits)
    for off, size in zip(tree.group_offset.tolist(), tree.group_size.tolist()):
        cond[..., off : off + size] = torch.softmax(logits[..., off : off + size], -1)
    out = torch.zeros(1, a, 5 + len(tree), h, w)
    out[:, :, 0:2] = torch.rand(1, a, 2, h, w, generator=g)
    out[:, :, 2:4] = torch.randn(1, a, 2, h, w, generator=g) * 0.3
    out[:, :, 4] = torch.tensor([0.1, 0.6, 0.6, 0.9])[torch.randint(0, 4, (1, a, h, w), generator=g)]
    out[:, :, 5:] = cond.permute(0, 1, 4, 2, 3)
    anchors = [[2.0, 2.0], [1.0, 3.0]]
    want, _ = darknet_oracle(out[0], anchors, 0.5, 0.4, 0.3, 96, 96, 96, 96, tree=tree)
    (det,) = decode(
        out,
        region(anchors, len(tree), tree),
        thresh=0.5,
        hier_thresh=0.4,
        nms=0.3,
        mode="darknet",
        net_size=(96, 96),
        image_sizes=[(96, 96)],
    )
    assert as_triples(det) == [(i, k, pytest.approx(p)) for i, k, p in want]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_decode_on_cuda_matches_cpu():
    g = torch.Generator().manual_seed(0)
    out = torch.rand(2, 2, 5 + 4, 5, 5, generator=g)
    reg = region([[1.0, 1.0], [2.0, 2.0]], 4)
    cpu = decode(out, reg, thresh=0.2, image_sizes=[(50, 40), (40, 50)])
    gpu = decode(out.cuda(), reg, thresh=0.2, image_sizes=[(50, 40), (40, 50)])
    for c, d in zip(cpu, gpu):
        assert d.boxes.is_cuda
        assert as_triples(c) == [(i, k, pytest.approx(s)) for i, k, s in as_triples(d.to("cpu"))]


def test_batch_results_equal_single_image_results():
    # many (image, class) groups: NMS must not blur boxes when it separates the groups
    g = torch.Generator().manual_seed(3)
    b, c = 6, 300
    out = torch.rand(b, 2, 5 + c, 4, 4, generator=g)
    out[:, :, 2:4] = torch.randn(b, 2, 2, 4, 4, generator=g) * 0.5
    out[:, :, 5:] = torch.softmax(torch.randn(b, 2, c, 4, 4, generator=g) * 4, 2)
    reg = region([[1.0, 1.5], [2.5, 2.0]], c)
    sizes = [(100 + 10 * i, 90) for i in range(b)]
    batch = decode(out, reg, thresh=0.1, nms=0.3, image_sizes=sizes)
    for i in range(b):
        (single,) = decode(out[i : i + 1], reg, thresh=0.1, nms=0.3, image_sizes=sizes[i : i + 1])
        assert as_triples(batch[i]) == as_triples(single)
        assert torch.equal(batch[i].boxes, single.boxes)
    assert sum(len(d) for d in batch) > 0


def test_grouped_nms_large_path_equals_batched_nms():
    from torchvision.ops import batched_nms

    from yolo9000.detection.nms import grouped_nms

    g = torch.Generator().manual_seed(5)
    n = 3000  # above the single-call size: one NMS per group on sorted slices
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64)
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 0.3 + 0.01
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(n, generator=g, dtype=torch.float64)
    groups = torch.randint(0, 60, (n,), generator=g) * 7  # sparse ids, some singletons below
    groups[:5] = torch.arange(1000, 1005)
    got = grouped_nms(boxes, scores, groups, 0.4)
    want = batched_nms(boxes, scores, groups, 0.4)
    assert got.tolist() == want.tolist()
    small = grouped_nms(boxes[:500], scores[:500], groups[:500], 0.4)
    assert small.tolist() == batched_nms(boxes[:500], scores[:500], groups[:500], 0.4).tolist()


def test_tree_nms_suppresses_along_a_path_only():
    pytest.importorskip("wordtree.softmax")
    terrier = [0.9, 0.1, 0.8, 0.2, 1.0, 0.9, 0.1]  # paper: terrier, P .648
    dog = [0.9, 0.1, 0.6, 0.4, 1.0, 0.5, 0.5]  # stops at dog, P .54
    cat = [0.9, 0.1, 0.2, 0.8, 1.0, 0.5, 0.5]  # cat, P .72
    out, tree = tree_out([terrier, dog, cat, dog], [0.9, 0.9, 0.9, 0.9])
    # 64-px wide boxes centred at 28.8, 35.2, 64 and 124.8 px: IoU terrier-dog .82, dog-cat .38,
    # terrier-cat .29, the last dog overlaps nothing
    out[0, 0, 0, 0, :] = torch.tensor([0.9, 0.1, 0.0, 0.9])
    out[0, 0, 2:4] = 0.0
    reg = region([[2.0, 1.0]], len(tree), tree)
    (det,) = decode(out, reg, mode="paper", nms=0.25, tree_nms=True, net_size=(128, 32))
    assert sorted(zip(det.index.tolist(), det.labels.tolist())) == [(0, 5), (2, 3), (3, 2)]
    (per_node,) = decode(out, reg, mode="paper", nms=0.25, net_size=(128, 32))
    assert len(per_node) == 4
    (agnostic,) = decode(out, reg, mode="paper", nms=0.25, class_agnostic=True, net_size=(128, 32))
    assert sorted(agnostic.index.tolist()) == [2, 3]  # the cat (highest score) removes the terrier too
    with pytest.raises(ValueError, match="tree_nms"):
        decode(blank(a=1, c=2), region([[1, 1]], 2), tree_nms=True)


def _greedy_tree_nms(boxes, scores, nodes, tree, thr):
    from torchvision.ops import box_iou

    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    iou = box_iou(boxes, boxes)
    kept = []
    for j in order:
        related = lambda a, b: tree.is_ancestor(a, b) or tree.is_ancestor(b, a) or a == b  # noqa: E731
        if not any(iou[i, j] > thr and related(int(nodes[i]), int(nodes[j])) for i in kept):
            kept.append(j)
    return sorted(kept)


@pytest.mark.parametrize("seed", range(3))
def test_tree_path_nms_equals_greedy_loop(seed):
    from yolo9000.detection.nms import tree_path_nms

    tree = toy_tree()
    g = torch.Generator().manual_seed(seed)
    n = 60
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64)
    boxes = torch.cat([xy, xy + 0.2 + 0.3 * torch.rand(n, 2, generator=g, dtype=torch.float64)], 1)
    scores = torch.rand(n, generator=g, dtype=torch.float64)
    nodes = torch.randint(0, len(tree), (n,), generator=g)
    images = torch.randint(0, 2, (n,), generator=g)
    got = sorted(tree_path_nms(boxes, scores, images, nodes, tree, 0.3).tolist())
    want = []
    for img in (0, 1):
        idx = (images == img).nonzero(as_tuple=True)[0]
        want += [int(idx[k]) for k in _greedy_tree_nms(boxes[idx], scores[idx], nodes[idx], tree, 0.3)]
    assert got == sorted(want)
    assert 0 < len(got) < n
