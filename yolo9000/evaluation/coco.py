"""COCO-style detection mAP through pycocotools, with WordTree ancestor crediting.

A tree prediction carries the node where the top-down walk stopped. It counts for a ground-truth
category when that category's node is the predicted node or one of its ancestors: a "terrier" box is a
"dog" box and an "animal" box, but a "dog" box is not a "terrier" box (it was not specific enough).
Each prediction is therefore copied once per credited category before pycocotools scores it.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from wordtree.files import plural
from yolo9000.data.coco import category_nodes_of
from yolo9000.data.coco_index import load_coco_json

if TYPE_CHECKING:
    from pycocotools.coco import COCO, _Dataset

    from wordtree.tree import WordTree

log = logging.getLogger(__name__)

#: columns of a predictions table: boxes are x1, y1, x2, y2 in original image pixels; `label` is a tree node
#: index when a tree is used, else a COCO category id.
PRED_COLUMNS = ("image_id", "x1", "y1", "x2", "y2", "score", "label")

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def category_ids(coco: COCO) -> list[int]:
    """Category ids in ascending order: the order of every per-category array here (COCOeval sorts them too)."""
    return sorted(coco.getCatIds())


def load_coco(path: str | Path) -> COCO:
    """Load a COCO annotation file with pycocotools, with one-line errors for missing/invalid files."""
    path = Path(path)
    return coco_from_dict(load_coco_json(path), str(path))  # ids unique, every bbox 4 finite numbers


def coco_from_dict(data: dict, source: str) -> COCO:
    """A pycocotools COCO over `data`, a COCO dict checked as `load_coco_json` checks a file (ids given to
    annotations without one, areas and crowd flags filled in); `source` names it in messages."""
    from pycocotools.coco import COCO

    for a in data["annotations"]:
        a.setdefault("area", float(a["bbox"][2]) * float(a["bbox"][3]))
        a.setdefault("iscrowd", 0)
    no_id = [a for a in data["annotations"] if a.get("id") is None]
    if no_id:  # pycocotools indexes annotations by id; give the missing ones fresh unique ids
        first = max((a["id"] for a in data["annotations"] if a.get("id") is not None), default=0) + 1
        for k, a in enumerate(no_id):
            a["id"] = first + k
        log.warning("%s: %d annotation(s) without an 'id' got ids from %d on", source, len(no_id), first)
    flat = sum(1 for a in data["annotations"] if not a["iscrowd"] and min(a["bbox"][2], a["bbox"][3]) <= 0)
    if flat:
        log.warning("%s: %d box(es) with zero width or height; no detection can match them", source, flat)
    coco = COCO()
    coco.dataset = cast("_Dataset", data)  # checked above as far as scoring needs
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        coco.createIndex()
    setattr(coco, "source", source)  # not a COCO attribute: remembered for error messages
    return coco


def category_nodes(
    coco: COCO,
    tree: WordTree,
    *,
    source: str | None = None,
    label_map: str | None = None,
    coco_names: bool = True,
    display_names: bool = True,
) -> np.ndarray:
    """Tree node of every COCO category (in `category_ids(coco)` order: ascending id), by the rule training uses
    (`yolo9000.data.coco.category_nodes_of`).

    A category's own ``"node"`` (a node id) or ``"wnid"`` field wins; else a label map of the tree naming the
    category (`label_map`: that one); else, with `coco_names` (on here), when (nearly) every category name is one
    of COCO's 80, the shipped COCO -> WordNet table; else, with `display_names` (on here), a node with that id or
    the unique node with that display name. Anything else is a one-line error naming the category.
    """
    where = source or str(getattr(coco, "source", "COCO file"))  # load_coco remembers the file
    cats = [coco.cats[c] for c in category_ids(coco)]
    nodes = category_nodes_of(
        cats, tree, label_map=label_map, coco_names=coco_names, display_names=display_names, source=where
    )
    return np.asarray(nodes, dtype=np.int64)


def credit_matrix(nodes: np.ndarray, cat_nodes: np.ndarray, ancestors: np.ndarray) -> np.ndarray:
    """(P, K) bool: prediction p counts for category k when cat_nodes[k] is nodes[p] or an ancestor of it.

    `ancestors` is the tree's (N, D+1) table (row i = i, parent(i), ..., padded -1). One pass per depth
    level, no loop over predictions or categories.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    cat_nodes = np.asarray(cat_nodes, dtype=np.int64)
    n_nodes = ancestors.shape[0]
    bad = (nodes < 0) | (nodes >= n_nodes)
    if bad.any():
        raise ValueError(f"prediction node {int(nodes[bad][0])} out of range for a tree of {n_nodes} nodes")
    # incidence[n, k]: category k sits at node n (several categories may share one node)
    incidence = np.zeros((n_nodes + 1, len(cat_nodes)), dtype=bool)  # extra row: the -1 padding
    incidence[cat_nodes, np.arange(len(cat_nodes))] = True
    rows = ancestors[nodes]  # (P, D+1)
    out = np.zeros((len(nodes), len(cat_nodes)), dtype=bool)
    for d in range(rows.shape[1]):
        out |= incidence[rows[:, d]]  # -1 indexes the all-False padding row
    return out


def credit_predictions(
    preds: pd.DataFrame, cat_ids: Sequence[int], cat_nodes: np.ndarray, ancestors: np.ndarray
) -> pd.DataFrame:
    """Copy each tree prediction once per credited category; adds `category_id` (and keeps `label`)."""
    if len(preds) == 0:
        return preds.assign(category_id=pd.Series(dtype=np.int64))
    mask = credit_matrix(preds["label"].to_numpy(), cat_nodes, ancestors)
    p_idx, k_idx = np.nonzero(mask)
    out = preds.iloc[p_idx].reset_index(drop=True)
    out["category_id"] = np.asarray(cat_ids, dtype=np.int64)[k_idx]
    return out


@dataclass
class CocoResult:
    """Output of `coco_map`: headline stats, per-category APs and the PR curves at IoU .5."""

    stats: dict[str, float]
    per_class: pd.DataFrame  # one row per category: category_id, name, n_gt, n_det, AP, AP50, AP75
    recall: np.ndarray  # (R,) recall thresholds
    pr50: np.ndarray  # (K, R) precision at IoU .5, all areas, maxDets 100 (nan where the class has no GT)
    pr_all50: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (R,) mean over classes

    def subset(self, ids: Sequence[int]) -> dict[str, float]:
        """mAP, AP50, AP75 over the categories `ids` only (classes without ground truth are left out)."""
        sel = self.per_class[self.per_class["category_id"].isin(list(ids))]
        sel = sel[sel["n_gt"] > 0]
        return {
            "classes": int(len(sel)),
            "AP": float(sel["AP"].mean()) if len(sel) else float("nan"),
            "AP50": float(sel["AP50"].mean()) if len(sel) else float("nan"),
            "AP75": float(sel["AP75"].mean()) if len(sel) else float("nan"),
        }


def _mean_valid(a: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    a = np.where(a > -1, a, np.nan)
    with np.errstate(invalid="ignore"), _quiet_nanmean():
        return np.nanmean(a, axis=axis)


@contextlib.contextmanager
def _quiet_nanmean() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield


def coco_map(coco_gt: COCO, dets: pd.DataFrame, *, max_dets: int = 100) -> CocoResult:
    """Score detections with pycocotools' COCOeval (bbox).

    `dets` has columns image_id, x1, y1, x2, y2 (original pixels), score, category_id. Detections on
    images absent from the ground truth are dropped with a warning.
    """
    from pycocotools.cocoeval import COCOeval

    cat_ids = category_ids(coco_gt)
    img_ids = set(coco_gt.getImgIds())
    if len(dets):
        known = dets["image_id"].isin(img_ids)
        if not known.all():
            n, images = int((~known).sum()), int(dets.loc[~known, "image_id"].nunique())
            log.warning(
                "%s on %s not in the ground truth %s dropped",
                plural(n, "detection"),
                plural(images, "image"),
                "was" if n == 1 else "were",
            )
            dets = dets[known]
    n_gt = pd.Series(
        [a["category_id"] for a in coco_gt.dataset["annotations"] if not a.get("iscrowd", 0)], dtype=np.int64
    ).value_counts()
    n_det = dets["category_id"].value_counts() if len(dets) else pd.Series(dtype=np.int64)
    names = [coco_gt.cats[c].get("name", str(c)) for c in cat_ids]

    if len(dets) == 0:
        # pycocotools cannot load an empty result set: every class with ground truth scores 0
        has_gt = np.array([n_gt.get(c, 0) > 0 for c in cat_ids])
        ap = np.where(has_gt, 0.0, np.nan)
        r = np.linspace(0.0, 1.0, 101)
        stats = {k: (0.0 if has_gt.any() else float("nan")) for k in STAT_NAMES}
        pr = np.where(has_gt[:, None], 0.0, np.nan) * np.ones((len(cat_ids), len(r)))
        per = _per_class_frame(cat_ids, names, n_gt, n_det, ap, ap, ap)
        return CocoResult(stats, per, r, pr, np.zeros_like(r))

    arr = np.column_stack(
        [
            dets["image_id"].to_numpy(np.float64),
            dets["x1"].to_numpy(np.float64),
            dets["y1"].to_numpy(np.float64),
            (dets["x2"] - dets["x1"]).to_numpy(np.float64),
            (dets["y2"] - dets["y1"]).to_numpy(np.float64),
            dets["score"].to_numpy(np.float64),
            dets["category_id"].to_numpy(np.float64),
        ]
    )
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(arr)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.catIds = cat_ids
        ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {k: float(v) for k, v in zip(STAT_NAMES, ev.stats)}
    stats = {k: (v if v > -1 else float("nan")) for k, v in stats.items()}
    prec = ev.eval["precision"]  # (T, R, K, A, M)
    p_all = prec[:, :, :, 0, -1]  # all areas, most detections
    ap = _mean_valid(p_all, axis=(0, 1))
    iou = np.asarray(ev.params.iouThrs)
    t50 = int(np.argmin(np.abs(iou - 0.5)))
    t75 = int(np.argmin(np.abs(iou - 0.75)))
    ap50 = _mean_valid(p_all[t50], axis=0)
    ap75 = _mean_valid(p_all[t75], axis=0)
    pr50 = np.where(p_all[t50] > -1, p_all[t50], np.nan).T  # (K, R)
    per = _per_class_frame(cat_ids, names, n_gt, n_det, ap, ap50, ap75)
    with _quiet_nanmean():
        pr_mean = np.nanmean(pr50, axis=0) if np.isfinite(pr50).any() else np.zeros(pr50.shape[1])
    return CocoResult(stats, per, np.asarray(ev.params.recThrs), pr50, pr_mean)


def _per_class_frame(
    cat_ids: Sequence[int],
    names: Sequence[str],
    n_gt: pd.Series,
    n_det: pd.Series,
    ap: np.ndarray,
    ap50: np.ndarray,
    ap75: np.ndarray,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "category_id": np.asarray(cat_ids, dtype=np.int64),
            "name": names,
            "n_gt": [int(n_gt.get(c, 0)) for c in cat_ids],
            "n_det": [int(n_det.get(c, 0)) for c in cat_ids],
            "AP": np.asarray(ap, dtype=np.float64),
            "AP50": np.asarray(ap50, dtype=np.float64),
            "AP75": np.asarray(ap75, dtype=np.float64),
        }
    )


def evaluate_detections(
    coco_gt: COCO,
    preds: pd.DataFrame,
    *,
    tree: WordTree | None = None,
    cat_nodes: np.ndarray | None = None,
    max_dets: int = 100,
) -> tuple[CocoResult, pd.DataFrame]:
    """mAP of `preds` (columns `PRED_COLUMNS`) against `coco_gt`.

    With a tree, `label` is a node index and each prediction is credited to every category at or above
    its node (`cat_nodes` defaults to `category_nodes(coco_gt, tree)`); without one, `label` must already
    be a COCO category id. Returns the result and the credited detections that were scored.
    """
    missing = [c for c in PRED_COLUMNS if c not in preds.columns]
    if missing:
        raise ValueError(f"predictions table lacks columns {missing}")
    anns = coco_gt.dataset.get("annotations", [])
    crowd = sum(1 for a in anns if a.get("iscrowd", 0))
    if not any(not a.get("iscrowd", 0) and min(a["bbox"][2:]) > 0 for a in anns):  # no AP would mean anything
        why = (
            f"{len(anns)} annotation(s): {crowd} crowd, {len(anns) - crowd} with zero size"
            if anns
            else "no annotations"
        )
        raise ValueError(
            f"{getattr(coco_gt, 'source', 'the COCO file')}: no ground-truth boxes to score against ({why})"
        )
    if tree is not None:
        if cat_nodes is None:
            cat_nodes = category_nodes(coco_gt, tree)
        scored = credit_predictions(preds, category_ids(coco_gt), cat_nodes, tree.ancestors)
    else:
        scored = preds.assign(category_id=preds["label"].astype(np.int64))
        unknown = ~scored["category_id"].isin(category_ids(coco_gt))
        if unknown.any():
            raise ValueError(
                f"prediction label {int(scored.loc[unknown, 'category_id'].iloc[0])} is not a "
                f"category id of {getattr(coco_gt, 'source', 'the COCO file')}"
            )
    result = coco_map(coco_gt, scored, max_dets=max_dets)
    if tree is not None:
        assert cat_nodes is not None  # looked up above when not given
        result.per_class["node"] = cat_nodes
        result.per_class["id"] = [tree.ids[n] for n in cat_nodes]  # the node id (a wnid or a user id)
        result.per_class["depth"] = tree.depth[cat_nodes]
    return result, scored
