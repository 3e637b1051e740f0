"""Pascal VOC detection AP, by the rules of the VOC devkit (VOCevaldet.m, VOCap.m).

Per class, detections are taken in descending score (ties in the order given). Each one is compared with every
ground-truth box of its class in its picture and goes to the one it overlaps most (the first of equal ones),
whether that box is already taken or not, as the devkit does:

- overlap (IoU) >= `iou` with a `difficult` box: ignored, neither true nor false positive;
- with a box not yet taken: a true positive, and the box is taken;
- with a box already taken, or overlap below `iou` (or no box at all): a false positive.

This differs from COCO's matching, which moves on to the best box not yet taken. Recall counts the non-difficult
boxes. AP is the area under the precision envelope two ways: VOC2007's 11-point mean of the best precision at
recall >= 0, 0.1, ..., 1 (thresholds ``np.arange(0, 1.1, 0.1)``, as the widely used Python port in py-faster-rcnn
and Detectron2 builds them), and VOC2010's all-point area.

Boxes are x1, y1, x2, y2 pixel edges, as `yolo9000.data.voc.VocSource` reads them (x1 = xmin - 1, x2 = xmax).
The plain IoU of such boxes equals the devkit's "+1" IoU on the XML's 1-based inclusive pixel indices
(width = xmax - xmin + 1), so no +1 is added here. Detections written back to VOC coordinates (xmin = x1 + 1)
score the same under the devkit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from pycocotools.coco import COCO

    from yolo9000.data.labelled import LabelledSource

#: the 11 recall thresholds of the VOC2007 metric, built as the Python devkit ports build them
VOC07_RECALLS = np.arange(0.0, 1.1, 0.1)


def voc_ap(recall: ArrayLike, precision: ArrayLike, *, use_07: bool) -> float:
    """AP of one class from its cumulative recall and precision (in descending score order).

    `use_07`: VOC2007's 11-point interpolation, the mean over t in 0, 0.1, ..., 1 of the highest precision at
    recall >= t (0 where none). Else VOC2010's all-point AP: the area under the precision envelope (precision
    made non-increasing from the right), summed where recall changes. NaN precision (0 / 0, before the first
    counted detection) counts as 0, as the devkit's ``max`` skips it."""
    rec = np.asarray(recall, dtype=np.float64).reshape(-1)
    prec = np.nan_to_num(np.asarray(precision, dtype=np.float64).reshape(-1), nan=0.0)
    if rec.shape != prec.shape:
        raise ValueError(f"recall and precision differ in length ({len(rec)} vs {len(prec)})")
    if use_07:
        if not len(rec):
            return 0.0
        # best precision at or after each point; recall never decreases, so "recall >= t" is a suffix
        envelope = np.maximum.accumulate(prec[::-1])[::-1]
        first = np.searchsorted(rec, VOC07_RECALLS, side="left")
        best = np.where(first < len(rec), envelope[np.minimum(first, len(rec) - 1)], 0.0)
        return float(best.sum() / len(VOC07_RECALLS))
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


@dataclass
class VocResult:
    """Output of `voc_eval`.

    per_class:  one row per class: ``class``, ``name``, ``n_gt`` (non-difficult boxes), ``n_difficult``,
                ``n_det``, ``tp``, ``fp``, ``AP07`` and ``AP`` (VOC2010); AP is NaN for a class without a
                non-difficult box.
    mAP_voc07, mAP_voc2010: the means over the classes with a non-difficult box (NaN when none has one).
    curves:     per class, (recall, precision) after each counted detection in score order.
    """

    per_class: pd.DataFrame
    mAP_voc07: float
    mAP_voc2010: float
    curves: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The means and per-class APs as plain JSON values (NaN as None)."""

        def num(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        return {
            "mAP_voc07": num(self.mAP_voc07),
            "mAP_voc2010": num(self.mAP_voc2010),
            "per_class": [
                {
                    "class": int(r["class"]),
                    "name": str(r["name"]),
                    "n_gt": int(r["n_gt"]),
                    "AP07": num(r["AP07"]),
                    "AP": num(r["AP"]),
                }
                for _, r in self.per_class.iterrows()
            ],
        }


def _column(x: ArrayLike, dtype: type, n: int | None, what: str) -> np.ndarray:
    a: np.ndarray = np.asarray(x, dtype=dtype).reshape(-1)
    if n is not None and len(a) != n:
        raise ValueError(f"{what} has {len(a)} entries for {n} boxes")
    return a


def _boxes(x: ArrayLike, what: str) -> np.ndarray:
    b = np.asarray(x, dtype=np.float64)
    if b.size == 0:
        return b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{what} must be (n, 4) x1, y1, x2, y2, got shape {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError(f"{what} has a non-finite coordinate")
    return b


def best_overlaps(
    det_key: np.ndarray, det_boxes: np.ndarray, gt_key: np.ndarray, gt_boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each detection, the ground-truth box of the same key (class and picture) it overlaps most: (IoU,
    index into the ground truth), (-inf, -1) where there is none; of equal overlaps the first box wins."""
    order = np.argsort(gt_key, kind="stable")  # keeps the given order of boxes within a key
    sorted_key = gt_key[order]
    lo = np.searchsorted(sorted_key, det_key, side="left")
    count = np.searchsorted(sorted_key, det_key, side="right") - lo
    # every (detection, candidate box) pair, as flat arrays
    det_of = np.repeat(np.arange(len(det_key)), count)
    offset = np.arange(len(det_of)) - np.repeat(np.cumsum(count) - count, count)
    gt_of = order[lo[det_of] + offset]
    a, b = det_boxes[det_of], gt_boxes[gt_of]
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    # per detection: highest IoU first, then the box given first (its position in the sorted order)
    rank = np.lexsort((lo[det_of] + offset, -iou, det_of))
    firsts = rank[np.unique(det_of[rank], return_index=True)[1]]
    ov = np.full(len(det_key), -np.inf)
    best = np.full(len(det_key), -1, dtype=np.int64)
    ov[det_of[firsts]] = iou[firsts]
    best[det_of[firsts]] = gt_of[firsts]
    return ov, best


def voc_eval(
    det_image: ArrayLike,
    det_class: ArrayLike,
    det_score: ArrayLike,
    det_boxes: ArrayLike,
    gt_image: ArrayLike,
    gt_class: ArrayLike,
    gt_boxes: ArrayLike,
    gt_difficult: ArrayLike | None = None,
    *,
    iou: float = 0.5,
    names: Sequence[str] | None = None,
) -> VocResult:
    """VOC07 11-point and VOC2010 all-point AP per class, and their means, of detections against ground truth.

    Detections: picture index, class index and score (n,) and boxes (n, 4). Ground truth: picture index, class
    index (m,), boxes (m, 4) and `difficult` flags (none difficult when None). Pictures and classes are any
    integers shared by both; classes are 0 .. K-1 with K the length of `names` when given, else one past the
    highest class seen. Matching and AP follow the devkit (module docstring); the greedy matching is vectorised
    (each detection's best box is fixed, so the first detection in score order to claim a box is its match).
    """
    d_box = _boxes(det_boxes, "detection boxes")
    g_box = _boxes(gt_boxes, "ground-truth boxes")
    d_img = _column(det_image, np.int64, len(d_box), "det_image")
    d_cls = _column(det_class, np.int64, len(d_box), "det_class")
    d_score = _column(det_score, np.float64, len(d_box), "det_score")
    g_img = _column(gt_image, np.int64, len(g_box), "gt_image")
    g_cls = _column(gt_class, np.int64, len(g_box), "gt_class")
    g_diff = (
        np.zeros(len(g_box), bool) if gt_difficult is None else _column(gt_difficult, bool, len(g_box), "gt_difficult")
    )
    if (d_cls < 0).any() or (g_cls < 0).any():
        raise ValueError("class indices must be >= 0")
    if not np.isfinite(d_score).all():
        raise ValueError("detection scores must be finite")
    seen = int(max(d_cls.max(initial=-1), g_cls.max(initial=-1))) + 1
    k = len(names) if names is not None else seen
    if seen > k:
        raise ValueError(f"class index {seen - 1} out of range for {k} class names")

    # one key per (class, picture): pictures may be any integers, so rank them first
    pics = np.unique(np.concatenate([d_img, g_img]))
    d_key = d_cls * len(pics) + np.searchsorted(pics, d_img)
    g_key = g_cls * len(pics) + np.searchsorted(pics, g_img)

    order = np.lexsort((-d_score, d_cls))  # by class, then score descending; stable for ties
    ov, best = best_overlaps(d_key[order], d_box[order], g_key, g_box)
    hit = ov >= iou
    ignored = hit & np.append(g_diff, False)[best]  # best -1 (no box) reads the appended False
    claim = hit & ~ignored
    tp = np.zeros(len(order), dtype=bool)
    claim_at = np.nonzero(claim)[0]
    tp[claim_at[np.unique(best[claim_at], return_index=True)[1]]] = True  # first claim of each box
    fp = ~tp & ~ignored

    sorted_cls = d_cls[order]
    bounds = np.searchsorted(sorted_cls, np.arange(k + 1))
    n_gt = np.bincount(g_cls[~g_diff], minlength=k)[:k]
    n_diff = np.bincount(g_cls[g_diff], minlength=k)[:k]
    rows, curves = [], []
    for c in range(k):  # one vectorised pass per class
        s = slice(bounds[c], bounds[c + 1])
        counted = ~ignored[s]
        tps = np.cumsum(tp[s][counted])
        fps = np.cumsum(fp[s][counted])
        with np.errstate(invalid="ignore", divide="ignore"):
            rec = tps / n_gt[c] if n_gt[c] else np.full(len(tps), np.nan)
            prec = tps / np.maximum(tps + fps, np.finfo(np.float64).eps)
        curves.append((rec, prec))
        ap07 = voc_ap(rec, prec, use_07=True) if n_gt[c] else math.nan
        ap10 = voc_ap(rec, prec, use_07=False) if n_gt[c] else math.nan
        rows.append(
            (
                c,
                names[c] if names is not None else str(c),
                int(n_gt[c]),
                int(n_diff[c]),
                int(bounds[c + 1] - bounds[c]),
                int(tp[s].sum()),
                int(fp[s].sum()),
                ap07,
                ap10,
            )
        )
    per_class = pd.DataFrame(rows, columns=["class", "name", "n_gt", "n_difficult", "n_det", "tp", "fp", "AP07", "AP"])
    scored = per_class[per_class["n_gt"] > 0]
    m07 = float(scored["AP07"].mean()) if len(scored) else math.nan
    m10 = float(scored["AP"].mean()) if len(scored) else math.nan
    return VocResult(per_class, m07, m10, curves)


def source_ground_truth(
    source: LabelledSource, indices: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(picture index, class, boxes in pixels, difficult) of every box of `source` (or of its pictures
    `indices`), the ground-truth arguments of `voc_eval`; class indices are the source's. A picture whose labels
    are normalized and state no size is opened for its size. A `LabelError` propagates."""
    from PIL import Image

    images, classes, boxes, difficult = [], [], [], []
    for i in range(len(source)) if indices is None else indices:
        lab = source.labels(int(i))
        if not len(lab.boxes):
            continue
        if lab.normalized:
            size = lab.size
            if size is None:
                with Image.open(source.path(int(i))) as im:  # reads the header only
                    size = im.size
            b = lab.pixel_boxes(*size)
        else:
            b = lab.boxes
        images.append(np.full(len(b), int(i), dtype=np.int64))
        classes.append(lab.classes)
        boxes.append(b)
        difficult.append(lab.difficult)
    if not images:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, bool)
    return np.concatenate(images), np.concatenate(classes), np.concatenate(boxes), np.concatenate(difficult)


def voc_from_coco(coco_gt: COCO, scored: pd.DataFrame) -> VocResult:
    """`voc_eval` of detections already scored against a COCO ground truth (`evaluate_detections`' second result:
    one row per credited category, columns image_id, category_id, score, x1..y2). Boxes marked "difficult" (the
    VOC ground truth `coco_ground_truth` writes) are VOC's difficult ones; categories are numbered in id order."""
    anns = coco_gt.dataset.get("annotations", [])
    cat_ids = sorted(coco_gt.getCatIds())
    index = {c: k for k, c in enumerate(cat_ids)}
    boxes = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    gt_class = np.array([index[a["category_id"]] for a in anns], dtype=np.int64)
    gt_image = np.array([a["image_id"] for a in anns], dtype=np.int64)
    hard = np.array([bool(a.get("difficult", False)) for a in anns], dtype=bool)
    det_class = scored["category_id"].map(index).to_numpy(dtype=np.int64)
    return voc_eval(
        scored["image_id"].to_numpy(dtype=np.int64),
        det_class,
        scored["score"].to_numpy(dtype=np.float64),
        scored[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64),
        gt_image,
        gt_class,
        boxes,
        hard,
        names=[str(coco_gt.cats[c]["name"]) for c in cat_ids],
    )
