"""VOC07 11-point and VOC2010 all-point AP (`yolo9000.evaluation.voc_ap`) against a loop transcription of the
devkit's VOCevaldet.m / VOCap.m, and hand-made cases with known APs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from yolo9000.data.labelled import LabelledSource, SourceClass, image_labels
from yolo9000.evaluation.voc_ap import source_ground_truth, voc_ap, voc_eval

# --- the reference: the devkit's loops, on its 1-based inclusive pixel indices ------------------------------


def devkit_ap(rec: list[float], prec: list[float], use_07: bool) -> float:
    """VOCap.m (all points) and the 11-point loop of VOC2007's VOCevaldet.m, as the Python ports write it."""
    if use_07:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = max([p for r, p in zip(rec, prec) if r >= t], default=0.0)
            ap += p / 11
        return ap
    mrec = [0.0, *rec, 1.0]
    mpre = [0.0, *prec, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def devkit_eval(dets, gts, cls: int, thr: float = 0.5) -> tuple[float, float, int, int]:
    """(AP07, AP2010, tp, fp) of class `cls`. dets: (image, class, score, box); gts: (image, class, difficult,
    box); boxes are pixel edges and go back to the XML's numbers (xmin = x1 + 1) for the devkit's +1 IoU."""
    gt: dict[int, dict[str, list]] = {}
    npos = 0
    for img, c, diff, b in gts:
        if c != cls:
            continue
        r = gt.setdefault(img, {"bb": [], "diff": [], "det": []})
        r["bb"].append((b[0] + 1, b[1] + 1, b[2], b[3]))
        r["diff"].append(bool(diff))
        r["det"].append(False)
        npos += not diff
    mine = sorted([(s, img, b) for img, c, s, b in dets if c == cls], key=lambda t: -t[0])  # stable, as MATLAB
    tp, fp = [], []
    for _, img, b in mine:
        bb = (b[0] + 1, b[1] + 1, b[2], b[3])
        r = gt.get(img, {"bb": [], "diff": [], "det": []})
        ovmax, jmax = -math.inf, -1
        for j, g in enumerate(r["bb"]):
            bi = (max(bb[0], g[0]), max(bb[1], g[1]), min(bb[2], g[2]), min(bb[3], g[3]))
            iw, ih = bi[2] - bi[0] + 1, bi[3] - bi[1] + 1
            if iw > 0 and ih > 0:
                ua = (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - iw * ih
                ov = iw * ih / ua
                if ov > ovmax:
                    ovmax, jmax = ov, j
        if ovmax >= thr:
            if not r["diff"][jmax]:
                if not r["det"][jmax]:
                    tp.append(1), fp.append(0)
                    r["det"][jmax] = True
                else:
                    tp.append(0), fp.append(1)
            else:
                tp.append(0), fp.append(0)  # difficult: neither
        else:
            tp.append(0), fp.append(1)
    ctp, cfp, rec, prec = 0, 0, [], []
    for t, f in zip(tp, fp):
        ctp, cfp = ctp + t, cfp + f
        rec.append(ctp / npos if npos else math.nan)
        prec.append(ctp / (ctp + cfp) if ctp + cfp else 0.0)
    if not npos:
        return math.nan, math.nan, sum(tp), sum(fp)
    return devkit_ap(rec, prec, True), devkit_ap(rec, prec, False), sum(tp), sum(fp)


def random_case(seed: int, *, n_img: int = 10, k: int = 5, integer: bool = True, ties: bool = False):
    """Ground truth with difficult boxes, jittered and duplicate detections, stray boxes, a class that only has
    difficult boxes (3), one with detections but no boxes (4), and images with detections but no boxes."""
    rng = np.random.default_rng(seed)
    gts, dets = [], []

    def box() -> list[float]:
        x, y = rng.integers(0, 60, 2)
        w, h = rng.integers(4, 40, 2)
        b = [float(x), float(y), float(x + w), float(y + h)]
        return b if integer else [v + float(rng.random()) for v in b]

    for img in range(n_img):
        for _ in range(rng.integers(0, 6)):
            c = int(rng.integers(0, 4))
            diff = c == 3 or rng.random() < 0.2
            b = box()
            gts.append((img, c, diff, b))
            for _ in range(rng.choice([0, 1, 1, 2, 3])):  # missed, found, found twice ...
                j = rng.integers(-4, 5, 4) if integer else rng.normal(0, 3, 4)
                jb = [b[0] + j[0], b[1] + j[1], max(b[0] + j[0] + 1, b[2] + j[2]), max(b[1] + j[1] + 1, b[3] + j[3])]
                cls = c if rng.random() < 0.85 else int(rng.integers(0, k))
                dets.append((img, cls, float(rng.random()), [float(v) for v in jb]))
        for _ in range(rng.integers(0, 3)):  # strays, some on images without boxes
            dets.append((int(rng.integers(0, n_img + 3)), int(rng.integers(0, k)), float(rng.random()), box()))
    if ties:
        dets = [(i, c, round(s, 1), b) for i, c, s, b in dets]
    rng.shuffle(dets)
    return dets, gts


def run(dets, gts, k: int | None = None, **kw):
    d = list(zip(*dets)) if dets else [[], [], [], np.zeros((0, 4))]
    g = list(zip(*gts)) if gts else [[], [], [], np.zeros((0, 4))]
    names = [f"c{c}" for c in range(k)] if k else None
    return voc_eval(d[0], d[1], d[2], np.array(d[3]), g[0], g[1], np.array(g[3]), g[2], names=names, **kw)


@pytest.mark.parametrize(
    "seed,integer,ties", [(0, True, False), (1, True, True), (2, False, False), (3, True, False), (4, False, True)]
)
def test_matches_the_devkit_reference_on_random_data(seed, integer, ties):
    dets, gts = random_case(seed, integer=integer, ties=ties)
    res = run(dets, gts, k=5)
    pc = res.per_class
    for c in range(5):
        ap07, ap10, tp, fp = devkit_eval(dets, gts, c)
        row = pc.iloc[c]
        assert (int(row["tp"]), int(row["fp"])) == (tp, fp), c
        np.testing.assert_allclose([row["AP07"], row["AP"]], [ap07, ap10], rtol=0, atol=1e-12, err_msg=str(c))
    valid = [c for c in range(5) if pc.iloc[c]["n_gt"] > 0]
    assert pc["AP"].isna().tolist() == [c not in valid for c in range(5)]
    assert np.isnan(pc.iloc[3]["AP"]) and np.isnan(pc.iloc[4]["AP"])  # only difficult boxes; no boxes
    assert res.mAP_voc07 == pytest.approx(np.mean([devkit_eval(dets, gts, c)[0] for c in valid]), abs=1e-12)
    assert res.mAP_voc2010 == pytest.approx(np.mean([devkit_eval(dets, gts, c)[1] for c in valid]), abs=1e-12)
    assert 0 < res.mAP_voc2010 < 1  # the cases are neither trivial nor hopeless


def test_class_without_detections_scores_zero():
    dets, gts = random_case(5)
    dets = [d for d in dets if d[1] != 2]
    res = run(dets, gts, k=5)
    assert res.per_class.iloc[2]["n_gt"] > 0 and res.per_class.iloc[2]["AP"] == 0.0
    assert res.per_class.iloc[2]["AP07"] == 0.0 == devkit_eval(dets, gts, 2)[0]


BOX_A, BOX_B = [0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 40.0]


def test_perfect_detections_score_one():
    gts = [(0, 0, False, BOX_A), (0, 1, False, BOX_B), (1, 0, False, BOX_B)]
    dets = [(0, 0, 0.9, BOX_A), (0, 1, 0.5, BOX_B), (1, 0, 0.3, BOX_B)]
    res = run(dets, gts)
    assert res.per_class["AP07"].tolist() == [1.0, 1.0] and res.per_class["AP"].tolist() == [1.0, 1.0]
    assert res.mAP_voc07 == res.mAP_voc2010 == 1.0


def test_false_positive_first_halves_the_ap():
    res = run([(0, 0, 0.9, BOX_B), (0, 0, 0.8, BOX_A)], [(0, 0, False, BOX_A)])
    assert res.per_class.iloc[0]["AP07"] == pytest.approx(0.5) and res.per_class.iloc[0]["AP"] == pytest.approx(0.5)


def test_tp_fp_tp_gives_the_two_metrics_apart():
    # recall .5, .5, 1; precision 1, .5, 2/3: all-point .5 * 1 + .5 * 2/3; 11-point (6 * 1 + 5 * 2/3) / 11
    gts = [(0, 0, False, BOX_A), (0, 0, False, BOX_B)]
    res = run([(0, 0, 0.9, BOX_A), (0, 0, 0.8, [50.0, 50.0, 60.0, 60.0]), (0, 0, 0.7, BOX_B)], gts)
    assert res.per_class.iloc[0]["AP"] == pytest.approx(5 / 6, abs=1e-12)
    assert res.per_class.iloc[0]["AP07"] == pytest.approx(28 / 33, abs=1e-12)


def test_difficult_match_is_neither_true_nor_false():
    fp_box = [50.0, 50.0, 60.0, 60.0]
    dets = [(0, 0, 0.9, BOX_A), (0, 0, 0.85, fp_box), (0, 0, 0.8, BOX_B)]
    res = run(dets, [(0, 0, True, BOX_A), (0, 0, False, BOX_B)])
    row = res.per_class.iloc[0]
    assert (row["n_gt"], row["n_difficult"], row["tp"], row["fp"]) == (1, 1, 1, 1)
    assert row["AP"] == pytest.approx(0.5) and row["AP07"] == pytest.approx(0.5)  # FP then TP, one box to find
    plain = run(dets, [(0, 0, False, BOX_A), (0, 0, False, BOX_B)]).per_class.iloc[0]
    assert plain["AP"] == pytest.approx(5 / 6)


def test_duplicate_is_a_false_positive_and_best_box_rule_is_the_devkits():
    res = run([(0, 0, 0.9, BOX_A), (0, 0, 0.8, BOX_A)], [(0, 0, False, BOX_A)])
    row = res.per_class.iloc[0]
    assert (row["tp"], row["fp"], row["AP"]) == (1, 1, 1.0)
    # the second detection overlaps taken A most (IoU .905) and free B by .739: the devkit calls it false,
    # it does not move on to B as COCO would
    a, b = [0.0, 0.0, 10.0, 10.0], [2.0, 0.0, 12.0, 10.0]
    dets = [(0, 0, 0.9, a), (0, 0, 0.8, [0.5, 0.0, 10.5, 10.0])]
    gts = [(0, 0, False, a), (0, 0, False, b)]
    row = run(dets, gts).per_class.iloc[0]
    assert (row["tp"], row["fp"]) == (1, 1) == devkit_eval(dets, gts, 0)[2:]
    assert row["AP"] == pytest.approx(0.5)


def test_equal_overlaps_go_to_the_first_box():
    a, b = [0.0, 0.0, 10.0, 10.0], [2.0, 0.0, 12.0, 10.0]
    mid = [1.0, 0.0, 11.0, 10.0]  # IoU 90 / 110 with both
    for first, tp in ((b, 1), (a, 0)):  # B taken: mid goes to A (free); A taken: mid goes to A again (false)
        dets = [(0, 0, 0.9, first), (0, 0, 0.8, mid)]
        gts = [(0, 0, False, a), (0, 0, False, b)]
        row = run(dets, gts).per_class.iloc[0]
        assert (row["tp"], row["fp"]) == (1 + tp, 1 - tp) == devkit_eval(dets, gts, 0)[2:]


def test_iou_threshold_is_inclusive():
    gts = [(0, 0, False, [0.0, 0.0, 10.0, 10.0])]
    half = [(0, 0, 0.9, [0.0, 0.0, 20.0, 10.0])]  # IoU exactly 100 / 200
    assert run(half, gts).per_class.iloc[0]["tp"] == 1
    assert run(half, gts, iou=0.51).per_class.iloc[0]["tp"] == 0


def test_no_detections_and_no_boxes():
    res = run([], [(0, 0, False, BOX_A), (3, 1, True, BOX_B)], k=3)
    assert res.per_class["AP"].tolist()[0] == 0.0 and np.isnan(res.per_class["AP"].tolist()[1:]).all()
    assert res.mAP_voc07 == 0.0 == res.mAP_voc2010
    none = run([(0, 0, 0.5, BOX_A)], [], k=1)
    assert math.isnan(none.mAP_voc2010) and none.per_class.iloc[0]["fp"] == 1
    assert none.as_dict()["mAP_voc07"] is None


def test_voc_ap_directly():
    assert voc_ap([], [], use_07=True) == 0.0 == voc_ap([], [], use_07=False)
    assert voc_ap([0.5, 1.0], [1.0, 1.0], use_07=False) == 1.0
    # the envelope lifts the dip: precision .5 at recall .5 becomes 1 (seen later at recall 1)
    assert voc_ap([0.25, 0.5, 1.0], [0.5, 0.5, 1.0], use_07=False) == 1.0
    rec, prec = [0.1, 0.3, 0.3, 0.6], [1.0, 0.75, 0.6, 0.6]
    for use_07 in (True, False):
        assert voc_ap(rec, prec, use_07=use_07) == pytest.approx(devkit_ap(rec, prec, use_07), abs=1e-15)
    assert voc_ap([0.0, 1.0], [float("nan"), 1.0], use_07=True) == 1.0  # 0 / 0 before the first count
    with pytest.raises(ValueError, match="differ in length"):
        voc_ap([0.1], [1.0, 1.0], use_07=True)


def test_bad_arguments():
    with pytest.raises(ValueError, match="det_class has 1 entries for 2 boxes"):
        voc_eval([0, 0], [0], [0.5, 0.5], np.zeros((2, 4)), [], [], np.zeros((0, 4)))
    with pytest.raises(ValueError, match=r"must be \(n, 4\)"):
        voc_eval([0], [0], [0.5], np.zeros((1, 3)), [], [], np.zeros((0, 4)))
    with pytest.raises(ValueError, match="class index 2 out of range for 2 class names"):
        voc_eval([0], [2], [0.5], np.zeros((1, 4)), [], [], np.zeros((0, 4)), names=["a", "b"])


class _Normalized(LabelledSource):
    """Two pictures of 200 x 100 with normalized boxes, one without boxes."""

    format = "test"

    def __init__(self) -> None:
        super().__init__()
        self.classes = [SourceClass("a"), SourceClass("b")]

    def __len__(self) -> int:
        return 2

    def labels(self, i: int):
        if i == 1:
            return image_labels(size=(200, 100))
        return image_labels(
            [[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1]], [1, 0], [False, True], normalized=True, size=(200, 100)
        )


def test_source_ground_truth_gives_pixel_boxes():
    img, cls, boxes, diff = source_ground_truth(_Normalized())
    assert img.tolist() == [0, 0] and cls.tolist() == [1, 0] and diff.tolist() == [False, True]
    np.testing.assert_allclose(boxes, [[20, 20, 100, 60], [0, 0, 200, 100]])
    res = voc_eval([0], [1], [0.7], [[20, 20, 100, 60]], img, cls, boxes, diff, names=["a", "b"])
    assert res.per_class["AP"].tolist()[1] == 1.0 and math.isnan(res.per_class["AP"].tolist()[0])
