"""NMS for decoded detections and Darknet's `do_nms_sort` ordering.

- `grouped_nms`: per-group NMS (groups = image x class/node) through torchvision;
- `tree_path_nms`: NMS where only boxes whose nodes lie on one root-to-leaf path compete;
- `darknet_partition_position` / `exact_darknet_rank`: where Darknet's zero-objectness partition and its
  per-class stable sorts put each candidate, so that exact score ties resolve as in Darknet.

`tree_index` keeps a WordTree's index arrays as device tensors in the tree's own `derived` cache (`tree_cached`,
shared with `yolo9000.detection.decode`), so they are freed with the tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch
from torchvision.ops import batched_nms
from torchvision.ops import nms as _nms

if TYPE_CHECKING:
    from wordtree.tree import WordTree

#: `dense_rows(idx)`: every class score of candidates idx (see `exact_darknet_rank`)
DenseRows = Callable[[torch.Tensor], torch.Tensor]

T = TypeVar("T")

__all__ = [
    "grouped_nms",
    "tree_path_nms",
    "darknet_partition_position",
    "exact_darknet_rank",
    "thresholded_rows",
    "tree_cached",
    "tree_index",
]


def darknet_partition_position(active: torch.Tensor) -> torch.Tensor:
    """Where each detection sits after `do_nms_sort`'s zero-objectness partition.

    active: (B, P) bool in Darknet's detection order. Darknet walks i upward and swaps every inactive entry
    with the last one of the shrinking range, so the k-th hole in the final range [0, n_active) receives the
    k-th active entry counted from the end. Returns (B, P) long positions (meaningful where active).
    """
    b, p = active.shape
    ar = torch.arange(p, device=active.device).expand(b, p)
    n_act = active.sum(1, keepdim=True)
    inside = ar < n_act
    holes = inside & ~active
    hole_rank = torch.cumsum(holes.long(), 1) - 1
    tail = active & ~inside
    # rank from the end among tail actives: 0 for the last one
    tail_rank = torch.flip(torch.cumsum(torch.flip(tail.long(), [1]), 1), [1]) - 1
    hole_pos = torch.zeros(b, p + 1, dtype=torch.long, device=active.device)
    hole_pos.scatter_(1, torch.where(holes, hole_rank, torch.full_like(hole_rank, p)), ar.clone())
    pos = torch.where(active & inside, ar, torch.zeros_like(ar))
    pos = torch.where(tail, hole_pos.gather(1, tail_rank.clamp(min=0)), pos)
    return pos


def exact_darknet_rank(
    groups: torch.Tensor,
    scores: torch.Tensor,
    pos: torch.Tensor,
    dense_rows: DenseRows | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rank of each candidate in `do_nms_sort`'s per-class order (0 = first), unique over all candidates.

    Darknet sorts the active range once per class with a stable sort, each starting from the previous
    class's order, so within class k the order is lexicographic by (prob[k], prob[k-1], ..., prob[0])
    descending, then by partition position. Only exact score ties need the long key, so it is built for
    the tied candidates alone. `dense_rows(idx)` gives those candidates' full (thresholded) class scores
    (flat heads / maps); None when each box has a single non-zero class (tree without map), where ties
    fall straight to the position.
    """
    g = groups.cpu().numpy()
    s = scores.detach().double().cpu().numpy()
    p = pos.cpu().numpy()
    order = np.lexsort([p, -s, g])
    if dense_rows is not None and len(s) > 1:
        gs, ss = g[order], s[order]
        same = (gs[1:] == gs[:-1]) & (ss[1:] == ss[:-1])
        tied = np.zeros(len(s), dtype=bool)
        tied[1:] |= same
        tied[:-1] |= same
        if tied.any():
            slots = np.flatnonzero(tied)  # tied blocks are contiguous in `order`
            rows = order[slots]
            if labels is None:
                raise ValueError("exact_darknet_rank: dense_rows needs the candidates' labels")
            d = dense_rows(torch.from_numpy(rows).to(scores.device)).detach().double().cpu().numpy()
            k = labels.cpu().numpy()[rows]
            # key column c' holds prob[k - 1 - c'] (classes below k, nearest first); zero past class 0
            cols = k[:, None] - 1 - np.arange(d.shape[1])[None]
            tie = np.where(cols >= 0, np.take_along_axis(d, np.clip(cols, 0, None), 1), 0.0)
            keys = [p[rows]] + [-tie[:, c] for c in range(tie.shape[1] - 1, -1, -1)] + [-s[rows], g[rows]]
            order[slots] = rows[np.lexsort(keys)]
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return torch.from_numpy(rank).to(scores.device)


def thresholded_rows(scores_all: torch.Tensor, r_idx: torch.Tensor, thresh: float) -> DenseRows:
    """dense_rows(idx) -> every class score of candidates idx as Darknet stores them (0 if <= thresh)."""

    def rows(idx: torch.Tensor) -> torch.Tensor:
        sel = scores_all[r_idx[idx]]
        return sel * (sel > thresh)

    return rows


def grouped_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou: float) -> torch.Tensor:
    """Greedy NMS within each group (IoU > `iou` suppresses); kept indices sorted by score, descending.

    Few boxes: one `batched_nms` call (its coordinate-offset trick, in float64 with compact group ids so
    that the offsets do not blur the boxes). Many boxes (low thresholds, big batches): one `nms` per
    group on contiguous slices of the group-sorted boxes, never a pass over all boxes per group, and
    groups with a single box skip NMS altogether.
    """
    n = scores.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=scores.device)
    boxes, scores = boxes.double(), scores.double()
    uniq, compact = torch.unique(groups, return_inverse=True)
    if n <= (1000 if boxes.device.type == "cpu" else 25000):
        return batched_nms(boxes, scores, compact, iou)
    by_score = torch.argsort(scores, descending=True, stable=True)
    order = by_score[torch.argsort(compact[by_score], stable=True)]  # by group, then score
    counts = torch.bincount(compact, minlength=uniq.numel())
    starts = torch.cumsum(counts, 0) - counts
    keep = torch.zeros(n, dtype=torch.bool, device=scores.device)
    keep[order[starts[counts == 1]]] = True
    for start, count in zip(starts[counts > 1].tolist(), counts[counts > 1].tolist()):
        idx = order[start : start + count]
        keep[idx[_nms(boxes[idx], scores[idx], iou)]] = True
    kept = keep.nonzero(as_tuple=True)[0]
    return kept[torch.argsort(scores[kept], descending=True, stable=True)]


def tree_path_nms(
    boxes: torch.Tensor, scores: torch.Tensor, images: torch.Tensor, nodes: torch.Tensor, tree: "WordTree", iou: float
) -> torch.Tensor:
    """Greedy NMS per image where a box suppresses lower-scored overlapping boxes whose node is its
    ancestor or descendant (one root-to-leaf path), never boxes on other branches.

    The relation is not a partition, so it cannot be expressed as NMS groups; the exact greedy result is
    the fixed point of keep[j] = no kept i before j suppresses j, reached by repeating that matrix step
    (as in Cluster-NMS) until nothing changes. Returns kept indices sorted by score, descending.
    """
    dev = scores.device
    anc = tree_index(tree, "ancestors", dev)
    depth = tree_index(tree, "depth", dev)
    keep = torch.zeros(scores.numel(), dtype=torch.bool, device=dev)
    if scores.numel() == 0:
        return keep.nonzero(as_tuple=True)[0]
    # every image's boxes as one score-sorted row of a padded (M images, K) block, so that all images run
    # at once in (M, K, K) matrices, K the busiest image's count (not the whole batch squared)
    order = torch.argsort(scores, descending=True, stable=True)
    order = order[torch.argsort(images[order], stable=True)]  # by image, then score
    _, counts = torch.unique_consecutive(images[order], return_counts=True)
    m, k = counts.numel(), int(counts.max())
    row = torch.repeat_interleave(torch.arange(m, device=dev), counts)
    col = torch.arange(order.numel(), device=dev) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    slot = torch.full((m, k), -1, dtype=torch.long, device=dev)
    slot[row, col] = order
    valid = slot >= 0
    idx = slot.clamp(min=0)
    n, d = nodes[idx], depth[nodes[idx]]  # (M, K)
    diff = d[:, None, :] - d[:, :, None]  # [m, i, j] = depth(j) - depth(i)
    up = anc[n[:, None, :].expand(m, k, k), diff.clamp(min=0)]  # ancestor of j that many steps up
    i_above_j = (diff >= 0) & (up == n[:, :, None])
    related = (i_above_j | i_above_j.transpose(1, 2)) & valid[:, :, None] & valid[:, None, :]
    suppress = torch.triu((_pairwise_iou(boxes[idx]) > iou) & related, diagonal=1)  # higher-ranked suppress
    alive = valid
    for _ in range(k + 1):
        nxt = ~(suppress & alive[:, :, None]).any(1) & valid
        if torch.equal(nxt, alive):
            break
        alive = nxt
    keep[slot[alive]] = True
    kept = keep.nonzero(as_tuple=True)[0]
    return kept[torch.argsort(scores[kept], descending=True, stable=True)]


def _pairwise_iou(boxes: torch.Tensor) -> torch.Tensor:
    """IoU of every pair of xyxy boxes within each row: (M, K, 4) -> (M, K, K); torchvision's `box_iou`
    arithmetic, batched."""
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    lt = torch.max(boxes[:, :, None, :2], boxes[:, None, :, :2])
    rb = torch.min(boxes[:, :, None, 2:], boxes[:, None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area[:, :, None] + area[:, None, :] - inter)


def tree_cached(tree: "WordTree", key: tuple, build: Callable[[], T]) -> T:
    """`tree.derived[key]`, made by `build()` on first use: cached on the tree itself, so it dies with it."""
    hit = tree.derived.get(key)
    if hit is None:
        hit = tree.derived[key] = build()
    return hit


def tree_index(tree: "WordTree", name: str, device: torch.device) -> torch.Tensor:
    """A tree's index array (`ancestors`, `depth`) as a long tensor on `device`, built once per tree."""
    return tree_cached(
        tree,
        (f"detection.{name}", str(device)),
        lambda: torch.tensor(np.asarray(getattr(tree, name)), dtype=torch.long, device=device),
    )
