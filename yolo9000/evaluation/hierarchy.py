"""Classification and hierarchical measures on a WordTree (all vectorised over samples).

Conventions:
- A sample has a true node `t` (a leaf or an internal node: a class folder may be labelled "dog") and a
  predicted node `p` (where the top-down walk stopped) plus, for top-k, absolute probabilities P(node).
- Ancestor sets A(n) hold n and every node above it. If the tree has a single root it is left out, as it
  is shared by every node and says nothing (the usual convention of hierarchical P/R, Kiritchenko et
  al. 2006); with several top-level nodes an implicit root above them is left out the same way.
- Hierarchical precision/recall are micro-averaged: hP = sum|A(p) & A(t)| / sum|A(p)|,
  hR = sum|A(p) & A(t)| / sum|A(t)|, hF = 2 hP hR / (hP + hR).
- Tree distance is the number of edges between p and t (through the implicit root across top-level
  nodes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import pandas as pd
import torch

from wordtree.files import plural

if TYPE_CHECKING:
    from wordtree.tree import WordTree

# node indices, one per sample: a sequence of ints or an integer array
Indices: TypeAlias = Sequence[int] | np.ndarray
# values per sample and node (or box): an array, a nested sequence, or a tensor (copied to the host as float)
ArrayLike: TypeAlias = np.ndarray | torch.Tensor | Sequence[Sequence[float]]


def root_paths(tree: WordTree) -> np.ndarray:
    """(N, D+1) int64: row n holds n's ancestor at depth 0, 1, ... depth(n), then -1."""
    anc = tree.ancestors
    depth = tree.depth
    d = np.arange(anc.shape[1])
    k = depth[:, None] - d[None, :]  # column of `anc` that holds the depth-d ancestor
    ok = k >= 0
    out = np.full(anc.shape, -1, dtype=np.int64)
    rows = np.broadcast_to(np.arange(len(depth))[:, None], anc.shape)
    out[ok] = anc[rows[ok], k[ok]]
    return out


def _check_nodes(tree: WordTree, nodes: Indices, what: str) -> np.ndarray:
    nodes = np.asarray(nodes, dtype=np.int64).reshape(-1)
    bad = (nodes < 0) | (nodes >= len(tree))
    if bad.any():
        raise ValueError(f"{what} node {int(nodes[bad][0])} out of range for a tree of {len(tree)} nodes")
    return nodes


def pair_relations(tree: WordTree, pred: Indices, truth: Indices) -> pd.DataFrame:
    """Per sample: shared ancestors, tree distance in edges, and how the prediction relates to the truth.

    `relation` is "exact", "coarser" (p is a proper ancestor of t: right but not specific enough),
    "finer" (p lies below t: right, more specific than the label) or "wrong" (another branch).
    """
    pred = _check_nodes(tree, pred, "predicted")
    truth = _check_nodes(tree, truth, "true")
    if len(pred) != len(truth):
        raise ValueError(f"{plural(len(pred), 'prediction')} but {plural(len(truth), 'true label')}")
    paths = root_paths(tree)
    pp, tp = paths[pred], paths[truth]
    common = ((pp == tp) & (pp >= 0)).sum(axis=1)  # shared prefix length (paths never re-join)
    dp, dt = tree.depth[pred], tree.depth[truth]
    dist = np.where(common > 0, dp + dt - 2 * (common - 1), dp + dt + 2)
    relation = np.full(len(pred), "wrong", dtype=object)
    relation[common == dt + 1] = "finer"  # t is on p's path
    relation[(common == dp + 1) & (dp < dt)] = "coarser"
    relation[pred == truth] = "exact"
    return pd.DataFrame(
        {
            "pred": pred,
            "truth": truth,
            "pred_depth": dp,
            "truth_depth": dt,
            "common": common,
            "distance": dist,
            "relation": relation,
        }
    )


def hierarchical_scores(tree: WordTree, pred: Indices, truth: Indices) -> dict[str, float]:
    """Exact accuracy, hierarchical precision/recall/F1 and the tree distance of wrong predictions."""
    rel = pair_relations(tree, pred, truth)
    n = len(rel)
    if n == 0:
        return {"samples": 0}
    skip = 1 if len(tree.roots) == 1 else 0  # a single shared root carries no information
    inter = np.maximum(rel["common"].to_numpy() - skip, 0)
    size_p = rel["pred_depth"].to_numpy() + 1 - skip
    size_t = rel["truth_depth"].to_numpy() + 1 - skip
    hp = inter.sum() / size_p.sum() if size_p.sum() else float("nan")
    hr = inter.sum() / size_t.sum() if size_t.sum() else float("nan")
    hf = 2 * hp * hr / (hp + hr) if (hp + hr) > 0 else 0.0
    not_exact = rel["relation"] != "exact"
    wrong = rel["relation"] == "wrong"
    counts = rel["relation"].value_counts()
    return {
        "samples": int(n),
        "exact": float((~not_exact).mean()),
        "correct_or_coarser": float(rel["relation"].isin(["exact", "coarser"]).mean()),
        "coarser": float(counts.get("coarser", 0) / n),
        "finer": float(counts.get("finer", 0) / n),
        "wrong_branch": float(counts.get("wrong", 0) / n),
        "hP": float(hp),
        "hR": float(hr),
        "hF": float(hf),
        "mean_distance": float(rel["distance"].mean()),
        "mean_distance_not_exact": float(rel.loc[not_exact, "distance"].mean()) if not_exact.any() else 0.0,
        "mean_distance_wrong_branch": float(rel.loc[wrong, "distance"].mean()) if wrong.any() else 0.0,
    }


def distance_histogram(tree: WordTree, pred: Indices, truth: Indices) -> pd.DataFrame:
    """How many predictions land 0, 1, 2, ... edges from the truth, split by relation."""
    rel = pair_relations(tree, pred, truth)
    table = pd.crosstab(rel["distance"], rel["relation"]).rename_axis(index="distance", columns=None)
    for col in ("exact", "coarser", "finer", "wrong"):
        if col not in table.columns:
            table[col] = 0
    return table[["exact", "coarser", "finer", "wrong"]].astype(np.int64)


def depth_accuracy(tree: WordTree, pred: Indices, truth: Indices) -> pd.DataFrame:
    """Accuracy at each depth d: among samples whose truth is at depth >= d, the share whose prediction
    has the truth's depth-d ancestor on its path (a walk that stopped above d counts as a miss, and is
    also reported as `stopped_above`)."""
    pred = _check_nodes(tree, pred, "predicted")
    truth = _check_nodes(tree, truth, "true")
    paths = root_paths(tree)
    pp, tp = paths[pred], paths[truth]
    has = tp >= 0  # (S, D+1): the truth reaches depth d
    hit = (pp == tp) & has
    stopped = (pp < 0) & has
    n = has.sum(axis=0)
    keep = n > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame(
            {
                "depth": np.arange(paths.shape[1]),
                "samples": n,
                "accuracy": hit.sum(axis=0) / n,
                "stopped_above": stopped.sum(axis=0) / n,
            }
        )
    return frame[keep].reset_index(drop=True)


def topk_hits(
    tree: WordTree, probs: ArrayLike, truth: Indices, ks: Sequence[int] = (1, 5), *, chunk: int = 2048
) -> dict[str, float]:
    """Top-k accuracies from absolute probabilities `probs` (S, N) over the tree's N nodes.

    - ``top{k}_leaf``: one of the k most probable leaves is the truth or lies below it (for leaf labels
      this is ordinary top-k over the leaves, as Darknet scores its tree classifiers). Ties count in
      the truth's favour.
    - ``top{k}_node``: over all nodes, the truth is among the k most probable nodes once its own
      ancestors are set aside (they are always at least as probable, so they are not competitors).
    """
    truth = _check_nodes(tree, truth, "true")
    probs = _as_numpy(probs)
    if probs.ndim != 2 or probs.shape[1] != len(tree):
        raise ValueError(f"class probabilities of shape {tuple(probs.shape)} do not match a tree of {len(tree)} nodes")
    if len(truth) != len(probs):
        raise ValueError(f"{len(probs)} probability rows but {len(truth)} true labels")
    out: dict[str, float] = {}
    if len(truth) == 0:
        return out
    leaves = np.flatnonzero(tree.is_leaf)
    paths = root_paths(tree)
    leaf_rank = np.empty(len(truth), dtype=np.int64)
    node_rank = np.empty(len(truth), dtype=np.int64)
    n_nodes = len(tree)
    for s in range(0, len(truth), chunk):  # chunks bound memory only (S x N masks)
        p = probs[s : s + chunk]
        t = truth[s : s + chunk]
        rows = np.arange(len(t))
        # leaves: rank of the best leaf under the truth = 1 + leaves more probable than it (no sort needed)
        lp = p[:, leaves]
        under = paths[leaves[None, :], tree.depth[t][:, None]] == t[:, None]  # (s, L): truth on the leaf's path
        best_under = np.where(under, lp, -np.inf).max(axis=1)
        leaf_rank[s : s + chunk] = 1 + (lp > best_under[:, None]).sum(axis=1)
        # all nodes: competitors are nodes that are not ancestors-or-self of the truth
        anc = np.zeros((len(t), n_nodes + 1), dtype=bool)
        anc[rows[:, None], tree.ancestors[t]] = True  # -1 padding lands in the spare column
        pt = p[rows, t][:, None]
        node_rank[s : s + chunk] = 1 + ((p > pt) & ~anc[:, :n_nodes]).sum(axis=1)
    for k in ks:
        out[f"top{k}_leaf"] = float((leaf_rank <= k).mean())
        out[f"top{k}_node"] = float((node_rank <= k).mean())
    return out


def flat_topk(probs: ArrayLike, truth: Indices, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Plain top-k accuracy over flat classes (no tree)."""
    probs = _as_numpy(probs)
    truth = np.asarray(truth, dtype=np.int64).reshape(-1)
    if len(truth) == 0:
        return {}
    pt = probs[np.arange(len(truth)), truth][:, None]
    rank = 1 + (probs > pt).sum(axis=1)
    return {f"top{k}": float((rank <= k).mean()) for k in ks}


def classification_report(
    tree: WordTree, probs: ArrayLike, pred: Indices, truth: Indices, ks: Sequence[int] = (1, 5)
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Headline classification numbers plus the per-depth accuracy and distance-histogram tables."""
    scores = topk_hits(tree, probs, truth, ks)
    scores.update(hierarchical_scores(tree, pred, truth))
    return scores, depth_accuracy(tree, pred, truth), distance_histogram(tree, pred, truth)


def match_to_ground_truth(
    gt_boxes: ArrayLike,
    gt_image: Indices,
    pred_boxes: ArrayLike,
    pred_image: Indices,
    pred_score: Sequence[float] | np.ndarray,
    iou_threshold: float = 0.5,
) -> np.ndarray:
    """For each ground-truth box, the index of the highest-scoring prediction on the same image that
    overlaps it with IoU >= `iou_threshold`, else -1 (class-agnostic; a prediction may serve several
    boxes; on equal scores the lowest prediction index). Boxes are xyxy; only same-image pairs are formed."""
    gt_boxes = np.asarray(gt_boxes, dtype=np.float32).reshape(-1, 4)
    pred_boxes = np.asarray(pred_boxes, dtype=np.float32).reshape(-1, 4)
    gt_image = np.asarray(gt_image).reshape(-1)
    pred_image = np.asarray(pred_image).reshape(-1)
    score = np.asarray(pred_score, dtype=np.float64).reshape(-1)
    out = np.full(len(gt_image), -1, dtype=np.int64)
    if len(pred_image) == 0 or len(gt_image) == 0:
        return out
    # every (gt, prediction) pair on the same image: predictions sorted by image, a range per gt box
    by_image = np.argsort(pred_image, kind="stable")
    lo = np.searchsorted(pred_image[by_image], gt_image, side="left")
    n_pairs = np.searchsorted(pred_image[by_image], gt_image, side="right") - lo
    gi = np.repeat(np.arange(len(gt_image)), n_pairs)
    first = np.repeat(lo - (np.cumsum(n_pairs) - n_pairs), n_pairs)
    pi = by_image[first + np.arange(len(gi))]
    iou = _paired_iou(gt_boxes[gi], pred_boxes[pi])
    s = np.where(iou >= iou_threshold, score[pi], -np.inf)
    best = np.lexsort((pi, -s, gi))  # per gt: highest score, then lowest prediction index
    starts = np.unique(gi[best], return_index=True)[1]
    win = best[starts]
    ok = np.isfinite(s[win])
    out[gi[win[ok]]] = pi[win[ok]]
    return out


def _paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of a[i] with b[i] (xyxy float32, (n, 4) each), in torchvision's `box_iou` arithmetic."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = np.maximum(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0)
    inter = wh[:, 0] * wh[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):  # empty boxes: nan/inf, never >= the threshold
        return inter / (area_a + area_b - inter)


def _as_numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)
