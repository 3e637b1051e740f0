"""Target assignment for the region loss: which prediction answers for each ground-truth box (Darknet's rules).

In the spirit of DETR's `HungarianMatcher` or torchvision's `Matcher`, but YOLOv2's rule is not a bipartite
matching; it is Darknet's `forward_region_layer`:

* a detection truth belongs to the cell holding its centre (C truncation) and to the anchor whose shape has
  the highest IoU with its own (both centred at one point; without `bias_match`, the sizes the network
  currently predicts at that cell); ties go to the first anchor, like Darknet's '>' scan;
* truths of one image on the same (anchor, cell): the later one wins (Darknet overwrites the deltas); a tree
  class target is overwritten group by group (only the groups both label paths share);
* every prediction's best IoU with its image's truths (no noobject term above the ignore threshold);
* a classification-only image: the one prediction that best predicts its label (the paper), or the one most
  confident that there is an object (`cls_anchor="objectness"`).

Everything is batched over images, truths, anchors and cells; call it under `torch.no_grad()`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from wordtree.softmax import PathTables
from yolo9000.detection.box_ops import iou_cxcywh, iou_wh

__all__ = [
    "Assignment",
    "ClassTables",
    "Truths",
    "assigned_predictions",
    "best_anchor",
    "best_truth_iou",
    "choose_classification_box",
    "classification_images",
    "last_write_wins",
    "match",
    "matching_shapes",
    "predicted_boxes",
    "surviving_class_groups",
    "truth_cells",
]


class Truths(NamedTuple):
    """One batch's ground truth as the matcher reads it."""

    boxes: torch.Tensor  # (B, T, 4) cx, cy, w, h (0..1); empty slots hold a harmless box (finite log and IoU)
    tvalid: torch.Tensor  # (B, T) real detection truths
    nodes: torch.Tensor  # (B, T) class node of each truth (after the region map; 0 in empty slots)
    labels: torch.Tensor  # (B,) classification labels
    is_cls: torch.Tensor  # (B,) classification-only images
    n_cls: int  # their number (known on the host: it sizes the outputs)


#: The class layout: one group for a flat softmax (`PathTables.flat`), the sibling groups of a tree (padded with
#: -1, `PathTables.from_tree`): fields path_by_depth (N, D'), members (G, S'), group (N,). The matcher's name for
#: the tree softmax's tables, whose `log_conditional` is the one per-level log P(node | parent) implementation.
ClassTables = PathTables


class Assignment(NamedTuple):
    """What target building decided for one batch (see `match`)."""

    boxes: torch.Tensor  # (B, T, 4) truths, empty slots replaced by a harmless box
    tvalid: torch.Tensor  # (B, T) real detection truths
    nodes: torch.Tensor  # (B, T) class node of each truth (after the map)
    labels: torch.Tensor  # (B,) classification labels
    is_cls: torch.Tensor  # (B,)
    gi: torch.Tensor  # (B, T) column, row and cell of each truth
    gj: torch.Tensor
    gcell: torch.Tensor
    best_n: torch.Tensor  # (B, T) anchor of each truth
    winner: torch.Tensor  # (B, T) truths whose box/objectness terms survive (last write wins)
    cls_w: torch.Tensor  # (B, T, D') path groups whose class terms survive
    best_iou: torch.Tensor  # (B, A*HW) best IoU of each prediction with its image's truths
    assigned: torch.Tensor  # (B, A*HW) predictions that hold a truth
    n_cls: int
    cls_img: torch.Tensor  # (Bc,) classification images
    chosen: torch.Tensor  # (Bc,) their chosen prediction (anchor-major location)
    chosen_mask: torch.Tensor  # (B, A*HW)
    path_by_depth: torch.Tensor  # (N, D') trimmed tables for this batch
    members: torch.Tensor  # (G, S')
    group: torch.Tensor  # (N,)


def predicted_boxes(act: torch.Tensor, anchors: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, A, HW, 4) boxes (cx, cy, w, h relative to the input) of activated entries `act` (B, A, 5, HW)."""
    cell = torch.arange(h * w, device=act.device)
    dt = act.dtype
    return torch.stack(
        [
            ((cell % w).to(dt) + act[:, :, 0]) / w,
            (torch.div(cell, w, rounding_mode="floor").to(dt) + act[:, :, 1]) / h,
            torch.exp(act[:, :, 2]) * anchors[:, 0, None] / w,
            torch.exp(act[:, :, 3]) * anchors[:, 1, None] / h,
        ],
        dim=-1,
    )


def best_truth_iou(pred: torch.Tensor, boxes: torch.Tensor, tvalid: torch.Tensor) -> torch.Tensor:
    """(B, A*HW) best IoU of every predicted box (B, A, HW, 4) with its image's real truths (0 without any)."""
    b, a, hw, _ = pred.shape
    iou_all = iou_cxcywh(pred.reshape(b, a * hw, 1, 4), boxes[:, None, :, :])  # (B, AHW, T)
    return torch.where(tvalid[:, None, :], iou_all, torch.zeros_like(iou_all)).amax(dim=-1)


def truth_cells(boxes: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(column, row, row-major cell) of each truth's centre on an h x w grid; boxes (..., 4)."""
    gi = (boxes[..., 0] * w).long().clamp(0, w - 1)  # C truncation; clamp guards x == 1.0
    gj = (boxes[..., 1] * h).long().clamp(0, h - 1)
    return gi, gj, gj * w + gi


def matching_shapes(
    anchors: torch.Tensor, pred: torch.Tensor, gcell: torch.Tensor, h: int, w: int, bias_match: bool
) -> torch.Tensor:
    """The shapes truths are matched against, relative to the input and broadcastable to (B, T, A, 2).

    bias_match: the anchors themselves (1, 1, A, 2); else the sizes currently predicted at each truth's cell
    (B, T, A, 2), as Darknet does without `bias_match`.
    """
    if bias_match:
        return torch.stack([anchors[:, 0] / w, anchors[:, 1] / h], dim=-1)[None, None]
    b, a = pred.shape[:2]
    t = gcell.shape[1]
    return pred[..., 2:4].gather(2, gcell[:, None, :, None].expand(b, a, t, 2)).permute(0, 2, 1, 3)


def best_anchor(boxes: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
    """(B, T) anchor whose shape has the highest IoU with each truth's (w, h) at a shared centre.

    Ties go to the first anchor (argmax's first maximum, like Darknet's '>' scan).
    """
    return iou_wh(boxes[:, :, None, 2:4], shapes).argmax(dim=-1)


def last_write_wins(slot: torch.Tensor, tvalid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(winner (B, T), same (B, T, T')): a truth loses its (anchor, cell) `slot` to any later real truth there.

    same[b, t, t'] is True where the later truth t' takes truth t's slot.
    """
    t = slot.shape[1]
    later = torch.triu(torch.ones(t, t, dtype=torch.bool, device=slot.device), diagonal=1)
    same = (slot[:, :, None] == slot[:, None, :]) & tvalid[:, None, :] & later  # (B, T, T')
    return tvalid & ~same.any(-1), same


def surviving_class_groups(
    same: torch.Tensor, nodes: torch.Tensor, tvalid: torch.Tensor, tables: ClassTables
) -> torch.Tensor:
    """(B, T, D') which groups on each truth's label path keep its class target.

    A later truth at the same slot overwrites only the groups on its own path; the others keep the earlier
    truth's targets (Darknet writes the class deltas group by group).
    """
    path = tables.path_by_depth[nodes]  # (B, T, D')
    pgroup = torch.where(path >= 0, tables.group[path.clamp(min=0)], torch.full_like(path, -1))
    shared = same[..., None] & (pgroup[:, :, None, :] == pgroup[:, None, :, :]) & (pgroup[:, None] >= 0)
    return tvalid[..., None] & (path >= 0) & ~shared.any(2)


def assigned_predictions(slot: torch.Tensor, winner: torch.Tensor, num_pred: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, num_pred) bool: the predictions (anchor-major a*HW + cell) that hold a winning truth."""
    b = slot.shape[0]
    dev = slot.device
    assigned = torch.zeros(b * num_pred, dtype=dtype, device=dev)
    flat = (torch.arange(b, device=dev)[:, None] * num_pred + slot).reshape(-1)
    return assigned.index_add_(0, flat, winner.reshape(-1).to(dtype)).view(b, num_pred) > 0


def classification_images(is_cls: torch.Tensor, n_cls: int) -> torch.Tensor:
    """(n_cls,) indices of the classification images in batch order, without another host sync."""
    return torch.argsort((~is_cls).to(torch.uint8), stable=True)[:n_cls]


def choose_classification_box(
    box: torch.Tensor,
    cls_raw: torch.Tensor,
    cls_img: torch.Tensor,
    label: torch.Tensor,
    tables: ClassTables,
    *,
    cls_anchor: str,
    class_mode: str,
) -> torch.Tensor:
    """Anchor-major location (a*HW + cell) that a classification image's class loss goes to.

    cls_anchor "label": the location maximising obj * P(label) (the paper); "objectness": the highest
    objectness. box (B, A, 5, HW) raw entries, cls_raw (B, A, C, HW) class logits, label (Bc,).
    Log space (log sigmoid + sum of log conditionals) keeps the order of Darknet's float product without its
    underflow to 0 on deep trees; ties go to the first location, as in Darknet.
    """
    bc = cls_img.numel()
    _, a, _, hw = box.shape
    if cls_anchor == "objectness":
        return box[cls_img, :, 4].reshape(bc, a * hw).argmax(dim=1)
    if class_mode == "logistic":
        logp = F.logsigmoid(cls_raw[cls_img, :, label, :].to(box.dtype))  # (Bc, A, HW)
    else:
        logp = _label_log_prob(cls_raw, cls_img, label, tables, box.dtype)
    score = F.logsigmoid(box[cls_img, :, 4]) + logp
    return score.reshape(bc, a * hw).argmax(dim=1)


def _label_log_prob(
    cls_raw: torch.Tensor, cls_img: torch.Tensor, label: torch.Tensor, tables: ClassTables, dt: torch.dtype
) -> torch.Tensor:
    """(Bc, A, HW) log P(label) at every anchor and cell from only the groups on each label's path."""
    bc = cls_img.numel()
    path = tables.path_by_depth[label]  # (Bc, D')
    # classes second (a view): each classification image's anchors and cells share its label's path
    logc = tables.log_conditional(cls_raw.transpose(1, 2), label, rows=cls_img, dtype=dt)  # (Bc, D', A, HW)
    return torch.where((path >= 0).view(bc, path.shape[1], 1, 1), logc, 0).sum(1)


def match(
    box: torch.Tensor,
    act: torch.Tensor,
    cls_raw: torch.Tensor,
    truths: Truths,
    tables: ClassTables,
    anchors: torch.Tensor,
    *,
    h: int,
    w: int,
    bias_match: bool = True,
    cls_anchor: str = "label",
    class_mode: str = "softmax",
) -> Assignment:
    """Darknet's target assignment for one batch (no grad).

    box (B, A, 5, HW) raw box entries, act the same activated (x, y, obj sigmoid; w, h raw), cls_raw
    (B, A, C, HW) class logits, anchors (A, 2) in grid units (dtype and device of `box`). Returns each
    truth's cell, anchor and surviving terms, every prediction's best IoU and whether it holds a truth, and
    the chosen prediction of each classification image.
    """
    b, a, _, hw = box.shape
    boxes, tvalid = truths.boxes, truths.tvalid
    pred = predicted_boxes(act, anchors, h, w)
    best_iou = best_truth_iou(pred, boxes, tvalid)
    gi, gj, gcell = truth_cells(boxes, h, w)
    best_n = best_anchor(boxes, matching_shapes(anchors, pred, gcell, h, w, bias_match))
    slot = best_n * hw + gcell
    winner, same = last_write_wins(slot, tvalid)
    cls_img = classification_images(truths.is_cls, truths.n_cls)
    chosen = (
        choose_classification_box(
            box, cls_raw, cls_img, truths.labels[cls_img], tables, cls_anchor=cls_anchor, class_mode=class_mode
        )
        if truths.n_cls
        else cls_img.new_zeros(0)
    )
    chosen_mask = torch.zeros(b, a * hw, dtype=torch.bool, device=box.device)
    chosen_mask[cls_img, chosen] = True
    return Assignment(
        boxes=boxes,
        tvalid=tvalid,
        nodes=truths.nodes,
        labels=truths.labels,
        is_cls=truths.is_cls,
        gi=gi,
        gj=gj,
        gcell=gcell,
        best_n=best_n,
        winner=winner,
        cls_w=surviving_class_groups(same, truths.nodes, tvalid, tables),
        best_iou=best_iou,
        assigned=assigned_predictions(slot, winner, a * hw, box.dtype),
        n_cls=truths.n_cls,
        cls_img=cls_img,
        chosen=chosen,
        chosen_mask=chosen_mask,
        path_by_depth=tables.path_by_depth,
        members=tables.members,
        group=tables.group,
    )
