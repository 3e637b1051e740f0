"""Region output -> detections: boxes undone through the letterbox, Darknet's scores, NMS.

Everything is batched over images and predictions: only predictions whose objectness passes `thresh`
are gathered (a score is never above the objectness), scored, and put through one
`torchvision.ops.batched_nms` call for the whole batch (groups = image x class/node).

Scores (Darknet's `get_region_detections`):
- flat softmax: one candidate per (box, class) with `obj * P(class) > thresh` (Darknet keeps every class
  above the threshold, so a box may carry several labels);
- tree, `mode="darknet"`: the node from Darknet's `hierarchy_top_prediction` (its compounded-product quirk)
  and the objectness as the score, exactly as `detector test` prints;
- tree, `mode="paper"`: the paper's top-down walk on conditional probabilities; the score is
  `obj * P(node)` (absolute), so a vague "animal" ranks below a confident "terrier";
- tree with `class_map` (Darknet's `detector valid` with a `.map`): one candidate per mapped class with
  `obj * P(map[j]) > thresh`.

NMS is per class/node (Darknet), class-agnostic, or `tree_nms` (only boxes whose nodes lie on one
root-to-leaf path compete). In `mode="darknet"` it also reproduces `do_nms_sort`'s ordering of exact score
ties (its zero-objectness partition followed by one stable sort per class), which can change which of two
tied boxes survives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from wordtree import options
from yolo9000.detection.detections import Detections
from yolo9000.detection.letterbox import letterbox_sizes, unletterbox
from yolo9000.detection.nms import (
    darknet_partition_position,
    exact_darknet_rank,
    grouped_nms,
    thresholded_rows,
    tree_cached,
    tree_index,
    tree_path_nms,
)

if TYPE_CHECKING:  # imports point one way: decode only reads the region settings
    from wordtree import WordTree
    from wordtree.softmax import TreeSoftmax
    from yolo9000.detection.head import RegionConfig, RegionHead

MODES = ("paper", "darknet")


@dataclass(frozen=True)
class DecodeOptions:
    """How region outputs become detections; one value passed through `decode`, `Detector`, evaluation and the
    commands (whose options of the same names fill it). Checked once, here, with `wordtree.options`' rules.

    thresh:         score threshold in [0, 1) (a prediction takes part when its objectness passes it).
    hier_thresh:    the top-down walk stops where P(node) falls to it or below (trees), in [0, 1).
    nms:            IoU above which a lower-scored box is dropped, in (0, 1]; 1 keeps everything.
    mode:           "paper" (the paper's walk, score obj * P(node)) or "darknet" (`detector test`'s quirks).
    class_agnostic: NMS across classes.
    tree_nms:       NMS only between boxes whose nodes lie on one root-to-leaf path (trees).
    class_map:      tree node of each output class (Darknet's `.map`, `detector valid`); labels are positions.
    letterbox:      the input was letterboxed (False: stretched) when undoing the boxes.
    clip:           clip boxes to the image (Darknet does not).
    siblings:       K > 0 adds each kept box's greedy walk with the K most likely siblings per level (trees).
    """

    thresh: float = 0.25
    hier_thresh: float = 0.5
    nms: float = 0.45
    mode: str = "paper"
    class_agnostic: bool = False
    tree_nms: bool = False
    class_map: tuple[int, ...] | None = None
    letterbox: bool = True
    clip: bool = True
    siblings: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"decode: mode must be one of {MODES}, got {self.mode!r}")
        set_ = partial(object.__setattr__, self)
        set_("thresh", options.threshold(self.thresh, "thresh"))
        set_("hier_thresh", options.threshold(self.hier_thresh, "hier_thresh"))
        set_("nms", options.iou_threshold(self.nms, "nms"))
        set_("siblings", options.non_negative_int(self.siblings, "siblings"))
        if self.tree_nms and self.class_agnostic:
            raise ValueError("decode: tree_nms and class_agnostic exclude each other")
        if self.class_map is not None:
            set_("class_map", tuple(int(c) for c in self.class_map))

    def with_(self, **changes: Any) -> DecodeOptions:
        """A copy with `changes` applied (checked again)."""
        return replace(self, **changes) if changes else self


def _absolute_at(tree: "WordTree", cond: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
    """P(node) = product of P(n | parent) over the node's ancestors; cond (n, N), nodes (K,) -> (n, K)."""
    anc = tree_index(tree, "ancestors", cond.device)[nodes]  # (K, D+1), -1 padded
    vals = cond[:, anc.clamp(min=0)]  # (n, K, D+1)
    vals = torch.where(anc >= 0, vals, torch.ones_like(vals))
    return vals.prod(-1)


def _tree_paths(tree: "WordTree", cond: torch.Tensor, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root-first path of each node (padded -1) and P(n | parent) along it; cond (n, N), nodes (n,)."""
    dev = cond.device
    anc = tree_index(tree, "ancestors", dev)[nodes]  # (n, D+1) node, parent, ..., -1
    depth = tree_index(tree, "depth", dev)[nodes]
    length = anc.shape[1]
    idx = depth[:, None] - torch.arange(length, device=dev)[None]
    path = torch.where(idx >= 0, anc.gather(1, idx.clamp(min=0)), torch.full_like(anc, -1))
    probs = torch.where(path >= 0, cond.gather(1, path.clamp(min=0)), torch.zeros((), dtype=cond.dtype, device=dev))
    return path, probs


def _check_inputs(region_out: torch.Tensor, region: RegionConfig) -> None:
    if region_out.dim() != 5:
        raise ValueError(f"decode: region output must be (B, A, 5+C, H, W), got shape {tuple(region_out.shape)}")
    a, e = region_out.shape[1], region_out.shape[2]
    anchors = torch.as_tensor(region.anchors).reshape(-1, 2)
    if a != anchors.shape[0]:
        raise ValueError(f"decode: region output has {a} anchors but the region config has {anchors.shape[0]}")
    if e != 5 + int(region.classes):
        raise ValueError(
            f"decode: region output has {e} entries per anchor, expected 5 + classes = {5 + int(region.classes)}"
        )


def _check_options(
    batch: int, tree: WordTree | None, opts: DecodeOptions, image_sizes: Sequence[tuple[int, int]] | None
) -> None:
    if opts.tree_nms and tree is None:
        raise ValueError("decode: tree_nms needs a tree region")
    if opts.class_map is not None and tree is None:
        raise ValueError("decode: class_map needs a tree region (Darknet applies .map only to tree heads)")
    if image_sizes is not None and len(image_sizes) != batch:
        raise ValueError(f"decode: {len(image_sizes)} image sizes for a batch of {batch}")


def _size_tensor(image_sizes: Sequence[tuple[int, int]] | None, device: torch.device) -> torch.Tensor | None:
    """(B, 2) long (width, height) of the original images, checked positive; None when not given."""
    if image_sizes is None:
        return None
    sizes = torch.as_tensor([[int(w), int(h)] for w, h in image_sizes], dtype=torch.long, device=device)
    if (sizes <= 0).any():
        raise ValueError(f"decode: image sizes must be positive, got {sizes.tolist()}")
    return sizes


class _Selected(NamedTuple):
    """The predictions whose objectness passes `thresh` (a score is never above the objectness)."""

    active: torch.Tensor  # (B, A*HW) bool, Darknet's detection order
    b_idx: torch.Tensor  # (n,) image
    p_idx: torch.Tensor  # (n,) prediction index a*HW + cell
    a_idx: torch.Tensor  # (n,) anchor
    s_idx: torch.Tensor  # (n,) cell (row * W + col)
    rows: torch.Tensor  # (n, 5) float32 x, y, w, h, objectness of each selected prediction (activated)
    classes: torch.Tensor  # (B, A, HW, C) view of every prediction's class entries (class axis strided)
    activate: Callable[[torch.Tensor], torch.Tensor] | None  # class activation still to apply (raw logits)

    @property
    def obj(self) -> torch.Tensor:
        return self.rows[:, 4]

    def cls(self, r: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities (trees: P(node | parent)) of the selected predictions `r` (default all), float32."""
        b, a, s = (self.b_idx, self.a_idx, self.s_idx) if r is None else (self.b_idx[r], self.a_idx[r], self.s_idx[r])
        c = self.classes[b, a, s].float()
        return c if self.activate is None else self.activate(c)


def _select(region_out: torch.Tensor, thresh: float, head: "RegionHead | None" = None) -> _Selected:
    """Gather only the predictions above the objectness threshold, for the whole batch at once. With `head`,
    `region_out` holds its raw logits: x, y and the objectness get their sigmoid here, only the class
    entries are left for `_Selected.cls` (and the tree walk) to activate."""
    bsz, num_a, ent, gh, gw = region_out.shape
    hw = gh * gw
    r = region_out.reshape(bsz, num_a, ent, hw)
    obj = r[:, :, 4].float()
    if head is not None:
        obj = torch.sigmoid(obj)
    active = obj.reshape(bsz, num_a * hw) > thresh  # Darknet: obj if obj > thresh else 0
    b_idx, p_idx = active.nonzero(as_tuple=True)
    a_idx, s_idx = torch.div(p_idx, hw, rounding_mode="floor"), p_idx % hw
    rows = r[b_idx, a_idx, :5, s_idx].float()
    activate = None
    if head is not None:
        rows[:, [0, 1]] = torch.sigmoid(rows[:, [0, 1]])
        rows[:, 4] = obj[b_idx, a_idx, s_idx]
        activate = partial(head.class_probs, dim=-1)
    return _Selected(active, b_idx, p_idx, a_idx, s_idx, rows, r[:, :, 5:].transpose(2, 3), activate)


def _grid_boxes(sel: _Selected, anchors: torch.Tensor, gw: int, gh: int) -> tuple[torch.Tensor, ...]:
    """(bx, by, bw, bh) relative to the network input (Darknet's `get_region_box`), in float64 like its exp."""
    anchors = torch.as_tensor(anchors, dtype=torch.float64).reshape(-1, 2).to(sel.rows.device)
    col, row = (sel.s_idx % gw).double(), torch.div(sel.s_idx, gw, rounding_mode="floor").double()
    r64 = sel.rows[:, :4].double()
    bx = (col + r64[:, 0]) / gw
    by = (row + r64[:, 1]) / gh
    bw = torch.exp(r64[:, 2]) * anchors[sel.a_idx, 0] / gw
    bh = torch.exp(r64[:, 3]) * anchors[sel.a_idx, 1] / gh
    return bx, by, bw, bh


def _image_boxes(
    sel: _Selected,
    anchors: torch.Tensor,
    grid: tuple[int, int],
    net: tuple[int, int],
    sizes: torch.Tensor | None,
    letterbox: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(relative xyxy (n, 4), pixels per unit (n, 4)) of every selected prediction.

    Relative to the original image when its size is known (letterbox undone, Darknet's `correct_region_boxes`),
    else to the network input.
    """
    (gw, gh), (net_w, net_h) = grid, net
    bx, by, bw, bh = _grid_boxes(sel, anchors, gw, gh)
    if sizes is not None:
        if letterbox:
            new_w, new_h = letterbox_sizes(sizes, net_w, net_h)
            bx, by, bw, bh = unletterbox(bx, by, bw, bh, new_w[sel.b_idx], new_h[sel.b_idx], net_w, net_h)
        scale_w, scale_h = sizes[sel.b_idx, 0].double(), sizes[sel.b_idx, 1].double()
    else:
        scale_w = torch.full_like(bx, float(net_w))
        scale_h = torch.full_like(by, float(net_h))
    rel = torch.stack([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2], 1)
    return rel, torch.stack([scale_w, scale_h, scale_w, scale_h], 1)


class _Candidates(NamedTuple):
    """Scored candidates: one per (selected prediction, label) that passes `thresh`."""

    r_idx: torch.Tensor  # (k,) row into the selected predictions
    labels: torch.Tensor  # (k,) class, tree node or map position
    scores: torch.Tensor  # (k,)
    probs: torch.Tensor  # (k,) probability of the label
    nodes: torch.Tensor | None  # (k,) tree node (trees only)
    num_labels: int  # label count (NMS groups are image x label)
    dense: Callable[[torch.Tensor], torch.Tensor] | None  # Darknet's stored class scores (tie order)


def _per_label(obj: torch.Tensor, probs: torch.Tensor, thresh: float, mode: str) -> tuple[Any, ...]:
    """(row, label, score, prob, dense) of every (box, label) with obj * P(label) > thresh (Darknet keeps each)."""
    scores_all = obj[:, None] * probs
    r_idx, lab = (scores_all > thresh).nonzero(as_tuple=True)
    # Darknet stores 0 for classes at or below the threshold, which decides the order of exact ties
    dense = thresholded_rows(scores_all, r_idx, thresh) if mode == "darknet" else None
    return r_idx, lab, scores_all[r_idx, lab], probs[r_idx, lab], dense


def _flat_candidates(sel: _Selected, thresh: float, mode: str) -> _Candidates:
    """Flat softmax/logistic head: every class above the threshold."""
    cls = sel.cls()
    r_idx, lab, score, prob, dense = _per_label(sel.obj, cls, thresh, mode)
    return _Candidates(r_idx, lab, score, prob, None, cls.shape[1], dense)


def _mapped_candidates(
    sel: _Selected, tree: "WordTree", class_map: Sequence[int], thresh: float, mode: str
) -> _Candidates:
    """Tree with a `.map` (Darknet's `detector valid`): every mapped class whose absolute P passes."""
    cmap = torch.as_tensor(list(class_map), dtype=torch.long, device=sel.rows.device)
    if cmap.numel() and (cmap.min() < 0 or cmap.max() >= len(tree)):
        raise ValueError(f"decode: class_map entries must be tree nodes in [0, {len(tree) - 1}]")
    r_idx, lab, score, prob, dense = _per_label(sel.obj, _absolute_at(tree, sel.cls(), cmap), thresh, mode)
    return _Candidates(r_idx, lab, score, prob, cmap[lab], int(cmap.numel()), dense)


def _tree_candidates(
    sel: _Selected, tree: "WordTree", ts: "TreeSoftmax", thresh: float, hier_thresh: float, mode: str
) -> _Candidates:
    """Tree without a map: one node per box from the top-down walk (paper: obj * P(node); darknet: obj)."""
    obj = sel.obj
    # the walk reads the class entries in place (conditional probabilities, or logits whose softmax it takes
    # only in the groups it visits), for every prediction: cheaper than gathering the selected rows
    pred = ts.predict(sel.classes, threshold=hier_thresh, mode=mode, probs=sel.activate is None)
    lab = pred.node[sel.b_idx, sel.a_idx, sel.s_idx].long()
    prob = pred.prob[sel.b_idx, sel.a_idx, sel.s_idx].float() if mode == "paper" else None
    if prob is None:
        prob = _absolute_at_rows(tree, sel.cls(), lab)
    score = obj * prob if mode == "paper" else obj
    r_idx = (score > thresh).nonzero(as_tuple=True)[0]
    lab = lab[r_idx]
    return _Candidates(r_idx, lab, score[r_idx], prob[r_idx], lab, len(tree), None)


def _nms_scores(
    cand: _Candidates, sel: _Selected, images: torch.Tensor, groups: torch.Tensor, mode: str
) -> torch.Tensor:
    """Scores NMS ranks by: the scores, or in darknet mode the reverse of `do_nms_sort`'s exact order."""
    if mode != "darknet":
        return cand.scores.double()
    pos = darknet_partition_position(sel.active)[images, sel.p_idx[cand.r_idx]]
    rank = exact_darknet_rank(groups, cand.scores, pos, cand.dense, cand.labels)
    return (rank.numel() - rank).double()


def _suppress(
    cand: _Candidates,
    sel: _Selected,
    rel: torch.Tensor,
    tree: "WordTree | None",
    *,
    mode: str,
    nms: float,
    class_agnostic: bool,
    tree_nms: bool,
) -> torch.Tensor:
    """Indices of the candidates that survive NMS, ordered by image, then by score (descending)."""
    images = sel.b_idx[cand.r_idx]
    groups = images if (class_agnostic or tree_nms) else images * cand.num_labels + cand.labels
    scores = _nms_scores(cand, sel, images, groups, mode)
    boxes = rel[cand.r_idx]
    if nms < 1.0 and cand.r_idx.numel() and tree_nms:
        # _check_options rejects tree_nms without a tree, and tree candidates always carry their nodes
        assert tree is not None and cand.nodes is not None
        keep = tree_path_nms(boxes, scores, images, cand.nodes, tree, nms)
    elif nms < 1.0 and cand.r_idx.numel():
        # IoU is invariant to the per-axis scaling to pixels, so NMS on relative boxes matches Darknet
        keep = grouped_nms(boxes, scores, groups, nms)
    else:
        keep = torch.argsort(scores, descending=True, stable=True)
    keep = keep[torch.argsort(scores[keep], descending=True, stable=True)]
    return keep[torch.argsort(images[keep], stable=True)]


def _kept_columns(
    cand: _Candidates,
    sel: _Selected,
    keep: torch.Tensor,
    rel: torch.Tensor,
    scale: torch.Tensor,
    sizes: torch.Tensor | None,
    tree: "WordTree | None",
    clip: bool,
    siblings: int = 0,
) -> dict[str, torch.Tensor]:
    """The `Detections` tensors of the kept candidates, for the whole batch (boxes in pixels)."""
    fr = cand.r_idx[keep]
    pix = rel[fr] * scale[fr]
    if clip and sizes is not None:
        wh = sizes[sel.b_idx[fr]].double()
        pix = torch.minimum(pix.clamp(min=0), torch.cat([wh, wh], 1))
    cols = {
        "boxes": pix.float(),
        "scores": cand.scores[keep].float(),
        "objectness": sel.obj[fr],
        "labels": cand.labels[keep],
        "probs": cand.probs[keep].float(),
        "index": sel.p_idx[fr],
    }
    if tree is not None:
        assert cand.nodes is not None  # tree candidates (mapped or not) always carry their nodes
        cols["nodes"] = cand.nodes[keep]
        cond = sel.cls(fr)
        cols["path"], cols["path_probs"] = _kept_paths(tree, cond, cols["nodes"])
        if siblings > 0:
            cols.update(greedy_walk(tree, cond, siblings))
    return cols


def greedy_walk(tree: "WordTree", cond: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """The walk `TreeSoftmax.predict` takes, followed to a leaf whatever the threshold, with the top-k siblings.

    cond (n, N) holds P(node | parent) per row. From the root group down, each level takes the most likely
    member (first on ties, as `predict`) and records the k most likely members of that group. Returns
    `walk`/`walk_probs` (n, L) and `siblings`/`sibling_probs` (n, L, k), -1 / 0 padded (L = max_depth + 1).
    The loop runs over tree levels only; every row and group member is one tensor operation.
    """
    dev, n, length = cond.device, cond.shape[0], tree.max_depth + 1
    offset, size = tree_index(tree, "group_offset", dev), tree_index(tree, "group_size", dev)
    child = tree_index(tree, "child_group", dev)
    width = int(tree.group_size.max())
    k = max(1, min(int(k), width))
    walk = torch.full((n, length), -1, dtype=torch.long, device=dev)
    walk_p = torch.zeros(n, length, dtype=cond.dtype, device=dev)
    sib = torch.full((n, length, k), -1, dtype=torch.long, device=dev)
    sib_p = torch.zeros(n, length, k, dtype=cond.dtype, device=dev)
    rows = torch.arange(n, device=dev)
    grp = torch.zeros(n, dtype=torch.long, device=dev)  # group 0 holds the roots
    slot = torch.arange(width, device=dev)
    for level in range(length):
        if rows.numel() == 0:
            break
        valid = slot[None] < size[grp][:, None]  # (m, width) members of each row's group
        members = torch.where(valid, offset[grp][:, None] + slot[None], torch.zeros_like(slot)[None])
        vals = cond[rows[:, None], members].masked_fill(~valid, float("-inf"))
        best = vals.argmax(1)  # the first maximum, as predict's segment_first_argmax
        node = members.gather(1, best[:, None])[:, 0]
        walk[rows, level] = node
        walk_p[rows, level] = vals.gather(1, best[:, None])[:, 0]
        top_v, top_i = vals.topk(k, dim=1)
        real = top_v > float("-inf")
        sib[rows, level] = torch.where(real, members.gather(1, top_i), torch.full_like(top_i, -1))
        sib_p[rows, level] = torch.where(real, top_v, torch.zeros_like(top_v))
        nxt = child[node]
        go = nxt >= 0
        rows, grp = rows[go], nxt[go]
    return {"walk": walk, "walk_probs": walk_p, "siblings": sib, "sibling_probs": sib_p}


def _kept_paths(tree: "WordTree", cond: torch.Tensor, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root-first paths and their conditional probabilities; empty (0, max_depth + 1) without detections."""
    if nodes.numel():
        return _tree_paths(tree, cond, nodes)
    dev = cond.device
    empty = torch.zeros(0, tree.max_depth + 1, dtype=torch.long, device=dev)
    return empty, torch.zeros(0, tree.max_depth + 1, device=dev)


def _per_image(
    cols: dict[str, torch.Tensor],
    images: torch.Tensor,
    batch: int,
    tree: "WordTree | None",
    image_sizes: Sequence[tuple[int, int]] | None,
    names: Sequence[str] | None,
    class_map: Sequence[int] | None,
) -> list[Detections]:
    """Split the batch's kept columns (ordered by image) into one `Detections` per image."""
    counts = torch.bincount(images, minlength=batch).tolist()
    split = {k: torch.split(v, counts) for k, v in cols.items()}
    node_names = None
    if tree is not None:  # label names given for the nodes (e.g. 9k.names) name the path too
        node_names = (
            list(names) if names is not None and class_map is None and len(names) == len(tree) else list(tree.names)
        )
    return [
        Detections(
            **{k: v[i] for k, v in split.items()},
            image_size=(int(image_sizes[i][0]), int(image_sizes[i][1])) if image_sizes is not None else None,
            names=names if names is not None else (node_names if class_map is None else None),
            node_names=node_names,
            node_ids=tree.ids if tree is not None else None,
        )
        for i in range(batch)
    ]


@torch.no_grad()
def decode(
    region_out: torch.Tensor,
    region: RegionConfig,
    options: DecodeOptions | None = None,
    *,
    net_size: tuple[int, int] | None = None,
    image_sizes: Sequence[tuple[int, int]] | None = None,
    tree_softmax: TreeSoftmax | None = None,
    names: Sequence[str] | None = None,
    head: RegionHead | None = None,
    **changes: Any,
) -> list[Detections]:
    """Detections per image from Darknet's activated region output (or, with `head`, from its raw logits).

    region_out: (B, A, 5+C, H, W) as `DarknetModel.region_output` returns (x, y, obj after the sigmoid;
    w, h raw; classes as (tree-)softmax probabilities). `options` (`DecodeOptions`, its defaults when None;
    single fields may be changed by keyword: `decode(out, region, thresh=.5)`) says how to score, suppress
    and undo the boxes. `net_size` = (W, H) of the network input (default 32 x the grid); `image_sizes` =
    original (width, height) per image to undo the letterbox (Darknet's `correct_region_boxes`, un-floored
    half offset included). Without `image_sizes` boxes stay in network pixels. `names` label the records.

    `head`: `region_out` is that head's raw logits (`head.view(raw)`), activated here only where needed:
    x, y and objectness for the predictions that pass `thresh`, the tree walk's softmax in the groups it
    visits, all class probabilities only for the kept boxes (or for the predictions that pass, in the
    flat, mapped and darknet-mode cases), without activating every prediction (YOLO9000: 9418 nodes each).
    The detections are those of `decode(head.activate(raw))` up to float rounding: a softmax taken over one
    group instead of the whole layout can differ in the last bits (up to about 1e-6 on the 9418-node tree),
    which may swap two boxes whose scores tie to that precision.
    """
    opts = (options or DecodeOptions()).with_(**changes)
    _check_inputs(region_out, region)
    bsz, _, _, gh, gw = region_out.shape
    tree = region.tree
    _check_options(bsz, tree, opts, image_sizes)
    thresh, mode = opts.thresh, opts.mode
    net = (int(net_size[0]), int(net_size[1])) if net_size is not None else (gw * 32, gh * 32)
    sel = _select(region_out, thresh, head)
    sizes = _size_tensor(image_sizes, region_out.device)
    rel, scale = _image_boxes(sel, region.anchors, (gw, gh), net, sizes, opts.letterbox)
    if tree is None:
        cand = _flat_candidates(sel, thresh, mode)
    elif opts.class_map is not None:
        cand = _mapped_candidates(sel, tree, opts.class_map, thresh, mode)
    else:
        ts = tree_softmax if tree_softmax is not None else _tree_softmax_for(tree, region_out.device)
        cand = _tree_candidates(sel, tree, ts, thresh, opts.hier_thresh, mode)
    keep = _suppress(
        cand, sel, rel, tree, mode=mode, nms=opts.nms, class_agnostic=opts.class_agnostic, tree_nms=opts.tree_nms
    )
    cols = _kept_columns(cand, sel, keep, rel, scale, sizes, tree, opts.clip, opts.siblings)
    return _per_image(cols, sel.b_idx[cand.r_idx[keep]], bsz, tree, image_sizes, names, opts.class_map)


def _absolute_at_rows(tree: "WordTree", cond: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
    """P(nodes[i]) for row i of cond (n, N)."""
    anc = tree_index(tree, "ancestors", cond.device)[nodes]  # (n, D+1)
    vals = cond.gather(1, anc.clamp(min=0))
    return torch.where(anc >= 0, vals, torch.ones_like(vals)).prod(-1)


def _tree_softmax_for(tree: "WordTree", device: torch.device) -> "TreeSoftmax":
    """A TreeSoftmax for `tree` on `device`, built once and kept in the tree's own `derived` cache."""

    def build() -> "TreeSoftmax":
        from wordtree.softmax import TreeSoftmax

        return TreeSoftmax(tree).to(device)

    return tree_cached(tree, ("detection.tree_softmax", str(device)), build)


__all__ = [
    "Detections",
    "decode",
    "greedy_walk",
    "MODES",
]
