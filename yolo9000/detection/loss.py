"""The YOLOv2 / YOLO9000 region loss: Darknet's `forward_region_layer` training deltas as a scalar loss.

The loss is written so that its gradient with respect to the raw head output is exactly Darknet's delta
(`delta_region_box`, `delta_region_class` and the objectness writes of `forward_region_layer`), negated and
passed through the sigmoid derivative on x, y and objectness:

* x, y, objectness: 1/2 * scale * (target - sigmoid(z))^2;  w, h: 1/2 * scale * (target - z)^2;
* classes: scale * cross-entropy inside every softmax group on the path from the label to its root (the
  gradient of -log P(group member) w.r.t. the group's logits is softmax - onehot, Darknet's class delta);
  a flat softmax is the one-group case.

Darknet overwrites deltas ("last write wins"); here every prediction slot gets at most one term per entry:
assignments replace noobject/prior terms, a later truth at the same (anchor, cell) replaces an earlier one
(for a tree group by group: groups on the later truth's path take its targets, groups only on the earlier
path keep theirs).

Normalisation: with `reduction="sum"` (default) the loss is summed over the batch, like Darknet's per-batch
delta; Darknet then steps with lr / batch, so a trainer should do the same (or use `reduction="mean"`, which
divides by the number of images). The reported parts are the summed terms (divided by B for "mean").

`seen` is the number of training images seen *including* this batch (Darknet increments it first); the
prior term (scale .01 toward each anchor at its cell centre) applies while `seen < prior_until` (12800).

Targets: `Targets.nodes` are tree nodes / class ids. If the region has a `map` (Darknet's `map=coco9k.map`)
and `apply_map` is true, detection nodes are dataset ids mapped through it (classification labels are not
mapped, as in Darknet). Boxes of width or height <= 0, or with a non-finite value, are ignored, and so
are the boxes of classification images (Darknet ignores every other row after the classification marker).

Classification-only images without a tree (flat softmax) are handled the same way with P(label) from the
softmax; Darknet has no such case (its marker branch needs a tree).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from wordtree.softmax import PathTables
from yolo9000.detection.box_ops import iou_cxcywh
from yolo9000.detection.head import RegionConfig
from yolo9000.detection.matcher import Assignment, Truths, match
from yolo9000.detection.targets import Targets

if TYPE_CHECKING:
    from wordtree.softmax import TreeSoftmax
    from wordtree.tree import WordTree

CLS_OBJECTNESS = ("paper", "darknet", "none")
CLS_ANCHOR = ("label", "objectness")
PRIOR_UNTIL = 12800  # Darknet: prior term while fewer images than this have been seen
PRIOR_SCALE = 0.01
PAPER_CLS_IOU = 0.3  # the paper: a classification image's chosen box is assumed to have IoU >= .3


def _class_layout(tree: WordTree | None, classes: int, softmax: bool) -> tuple[str, PathTables]:
    """(class mode, tables): the tree's sibling groups, else one group of every class.

    Darknet's logistic classes (no tree, no softmax) are independent sigmoids; the one-group tables then only
    serve the shapes."""
    if tree is not None:
        if len(tree) != classes:
            raise ValueError(f"region: classes={classes} but the tree has {len(tree)} nodes")
        return "tree", PathTables.from_tree(tree)
    return ("softmax" if softmax else "logistic"), PathTables.flat(classes)


def _loss_tree(tree: WordTree | None, tree_softmax: TreeSoftmax | None, region: RegionConfig) -> WordTree | None:
    """The class tree: `tree=`, else the tree softmax's, else the region's; two different trees are an error."""
    if tree is None:
        return tree_softmax.tree if tree_softmax is not None else region.tree
    if tree_softmax is not None and tree_softmax.tree != tree:
        raise ValueError("RegionLoss: tree= and tree_softmax= hold different trees; pass one of them")
    return tree


def _region_map(cmap: Sequence[int] | None, classes: int) -> torch.Tensor | None:
    """The region's `map` (dataset id -> tree node) as a long tensor, checked against the class count."""
    if cmap is None:
        return None
    m = torch.as_tensor(list(cmap), dtype=torch.long)
    if m.numel() and (m.min() < 0 or m.max() >= classes):
        raise ValueError(f"region map: entries must lie in [0, {classes}), got [{int(m.min())}, {int(m.max())}]")
    return m


def _check_options(cls_objectness: str, cls_anchor: str, reduction: str) -> None:
    if cls_objectness not in CLS_OBJECTNESS:
        raise ValueError(f"cls_objectness must be one of {CLS_OBJECTNESS}, got {cls_objectness!r}")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if cls_anchor not in CLS_ANCHOR:
        raise ValueError(f"cls_anchor must be one of {CLS_ANCHOR}, got {cls_anchor!r}")


class RegionLoss(nn.Module):
    """YOLOv2/YOLO9000 region loss for a raw head output `(B, A*(5+C), H, W)` and padded `Targets`.

    region: the `RegionConfig` (anchors in grid units, scales, thresh, rescore, bias_match, softmax, tree,
    map). tree: the class tree (default: the tree_softmax's, else `region.tree`); tree_softmax: an optional
    `wordtree.softmax.TreeSoftmax` whose tree is used (the older way to pass the tree). The class terms are
    the tree softmax's per-level log P(node | parent) (`PathTables.log_conditional`) on the tables of that
    tree, trimmed to each batch's labels. cls_objectness: objectness on classification-only images: "paper" (noobject
    everywhere, the chosen box pushed up to .3 when below it, the 2017 YOLO9000 code), "darknet" (HEAD:
    noobject everywhere, nothing at the chosen box) or "none" (no objectness term on those images).
    cls_anchor: where a classification image's class loss goes: "label" (the paper: the box predicting the
    highest probability for the image's label) or "objectness" (the box most confident that an object is
    there, whatever its class: the label cannot pick its own box, so the classifier must be right where
    the detector looks). Which prediction answers for which truth is `yolo9000.detection.matcher.match`.
    """

    # buffers registered in __init__ (non-persistent); declared so they type as tensors, not Tensor | Module
    anchors: torch.Tensor
    path_by_depth: torch.Tensor
    members: torch.Tensor
    group: torch.Tensor
    group_size: torch.Tensor
    tree: WordTree | None
    cmap: torch.Tensor | None  # a buffer when the region has a map (and apply_map), else None

    def __init__(
        self,
        region: RegionConfig,
        tree_softmax: TreeSoftmax | None = None,
        cls_objectness: str = "paper",
        *,
        tree: WordTree | None = None,
        cls_anchor: str = "label",
        apply_map: bool = True,
        reduction: str = "sum",
        prior_until: int = PRIOR_UNTIL,
        prior_scale: float = PRIOR_SCALE,
    ) -> None:
        super().__init__()
        _check_options(cls_objectness, cls_anchor, reduction)
        self.cls_objectness, self.cls_anchor = cls_objectness, cls_anchor
        self.reduction = reduction
        self.prior_until = int(prior_until)
        self.prior_scale = float(prior_scale)
        anchors = torch.as_tensor(region.anchors, dtype=torch.float32).reshape(-1, 2)
        self.num = int(region.num)
        if anchors.shape[0] != self.num:
            raise ValueError(f"region: {anchors.shape[0]} anchors given but num={self.num}")
        self.classes = int(region.classes)
        self.thresh = float(region.thresh)
        self.object_scale = float(region.object_scale)
        self.noobject_scale = float(region.noobject_scale)
        self.class_scale = float(region.class_scale)
        self.coord_scale = float(region.coord_scale)
        self.rescore = bool(region.rescore)
        self.bias_match = bool(region.bias_match)
        self.tree = _loss_tree(tree, tree_softmax, region)
        self.class_mode, tables = _class_layout(self.tree, self.classes, bool(region.softmax))
        self.register_buffer("anchors", anchors.clone(), persistent=False)
        self.register_buffer("path_by_depth", tables.path_by_depth, persistent=False)
        self.register_buffer("members", tables.members, persistent=False)
        self.register_buffer("group", tables.group, persistent=False)
        self.register_buffer("group_size", (tables.members >= 0).sum(1), persistent=False)
        cmap = _region_map(region.map if apply_map else None, self.classes)
        if cmap is not None:
            self.register_buffer("cmap", cmap, persistent=False)
        else:
            self.cmap = None

    # ------------------------------------------------------------------------------------------------
    def forward(self, raw: torch.Tensor, targets: Targets, seen: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss, parts): the region loss of raw head output `raw` (B, A*(5+C), H, W) for `targets`.

        Computed in float32 (float64 if `raw` is float64) whatever the autocast state; pass the head output
        as it comes (bf16/fp16 under autocast need no `.float()` copy); the gradient comes back in its dtype.
        parts: detached 0-dim tensors "coord", "obj", "noobj", "class", "prior", "cls_only" (the terms of
        the loss), "avg_iou", "recall" (IoU > .5), "avg_obj", "avg_noobj", "avg_cat" (mean P(class) at the
        truths), "cost" (Darknet's printed cost: sum of squared deltas; NaN under inference_mode),
        "count" (detection truths), "cls_count" (classification images).
        """
        if raw.dim() != 4:
            raise ValueError(f"RegionLoss: expected raw output (B, A*(5+C), H, W), got shape {tuple(raw.shape)}")
        b, ch, h, w = raw.shape
        a, c = self.num, self.classes
        if ch != a * (5 + c):
            raise ValueError(f"RegionLoss: raw output has {ch} channels, expected {a}*(5+{c}) = {a * (5 + c)}")
        if targets.batch_size != b:
            raise ValueError(f"RegionLoss: {targets.batch_size} target rows for a batch of {b} images")
        with torch.autocast(device_type=raw.device.type, enabled=False):
            return self._forward(raw, targets.to(raw.device), int(seen))

    def _forward(self, raw: torch.Tensor, tg: Targets, seen: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        dt = torch.float64 if raw.dtype == torch.float64 else torch.float32
        b, _, h, w = raw.shape
        a, c = self.num, self.classes
        # The loss is built on small detached leaves: the activated box entries `act` (x, y, obj through
        # the sigmoid, w, h raw) and the class logits of the few slots that get a class loss. Their
        # gradients are minus Darknet's deltas; like Darknet's backward, they are multiplied by the sigmoid
        # derivative on x, y, obj, and _InjectGrad writes them into one zero tensor shaped like `raw`
        # (instead of autograd building several full-size gradients through slices and gathers).
        need_grad = torch.is_grad_enabled() and raw.requires_grad
        inner = not torch.is_inference_mode_enabled()  # the leaves' gradients also give Darknet's cost
        norm = float(b) if self.reduction == "mean" else 1.0
        rv = raw.detach().reshape(b, a, 5 + c, h * w)
        box = rv[:, :, :5].to(dt, copy=True)  # (B, A, 5, HW) raw
        cls_raw = rv[:, :, 5:]
        act = torch.cat([torch.sigmoid(box[:, :, 0:2]), box[:, :, 2:4], torch.sigmoid(box[:, :, 4:5])], dim=2)
        with torch.no_grad():
            s = self._assign(box, act, cls_raw, tg, h, w)
        with torch.enable_grad() if inner else contextlib.nullcontext():
            act.requires_grad_(inner)
            coord, obj, iou_t, so = self._truth_terms(act, s, h, w)
            noobj, prior, objp = self._dense_terms(act, s, seen)
            if s.n_cls and self.cls_objectness == "paper":  # the paper's IoU >= .3 assumption
                oc = objp[s.cls_img, s.chosen]
                obj = obj + (0.5 * self.object_scale * (PAPER_CLS_IOU - oc).clamp(min=0) ** 2).sum()
            rows, rb, ra, rc, per_row, pcat = self._class_terms(cls_raw, s, dt, inner)
            n_det = s.winner.numel()
            cls_det, cls_only = per_row[:n_det].sum(), per_row[n_det:].sum()
            total = (coord + obj + noobj + prior + cls_det + cls_only) / norm
        cost = torch.full((), float("nan"), dtype=dt, device=raw.device)
        if inner:
            gact, grows = torch.autograd.grad(total, [act, rows], allow_unused=True)
            gact = torch.zeros_like(act) if gact is None else gact
            grows = torch.zeros_like(rows) if grows is None else grows
            # delta = -grad * norm; rows of one slot carry disjoint groups, so squares add up per entry
            cost = (gact.square().sum() + grows.square().sum()) * norm
            if need_grad:
                dsig = torch.cat(
                    [
                        act[:, :, 0:2] * (1 - act[:, :, 0:2]),
                        torch.ones_like(act[:, :, 2:4]),
                        act[:, :, 4:5] * (1 - act[:, :, 4:5]),
                    ],
                    dim=2,
                ).detach()
                total = _InjectGrad.apply(total.detach(), raw, gact * dsig, grows, rb, ra, rc)
            else:
                total = total.detach()
        with torch.no_grad():
            tvalid, det = s.tvalid, ~s.is_cls
            n_truth = tvalid.sum()
            cnt = n_truth.clamp(min=1).to(dt)
            zero = torch.zeros((), dtype=dt, device=raw.device)
            parts = {
                "coord": coord.detach() / norm,
                "obj": obj.detach() / norm,
                "noobj": noobj.detach() / norm,
                "class": cls_det.detach() / norm,
                "prior": prior.detach() / norm,
                "cls_only": cls_only.detach() / norm,
                "avg_iou": torch.where(tvalid, iou_t, zero).sum() / cnt,
                "recall": (tvalid & (iou_t > 0.5)).sum().to(dt) / cnt,
                "avg_obj": torch.where(tvalid, so, zero).sum() / cnt,
                "avg_noobj": torch.where(det[:, None], objp, zero).sum() / (det.sum() * objp.shape[1]).clamp(min=1),
                "avg_cat": torch.where(tvalid.reshape(-1), pcat[:n_det], zero).sum() / cnt,
                "cost": cost,
                "count": n_truth.to(dt),
                "cls_count": s.is_cls.sum().to(dt),
            }
        return total, parts

    def _assign(
        self, box: torch.Tensor, act: torch.Tensor, cls_raw: torch.Tensor, tg: Targets, h: int, w: int
    ) -> Assignment:
        """Target building (no grad): this batch's truths and class tables, then the matcher's decisions."""
        truths, tables = self._truths(tg, box.dtype, box.device)
        anchors = self.anchors.to(device=box.device, dtype=box.dtype)
        return match(
            box,
            act,
            cls_raw,
            truths,
            tables,
            anchors,
            h=h,
            w=w,
            bias_match=self.bias_match,
            cls_anchor=self.cls_anchor,
            class_mode=self.class_mode,
        )

    def _truths(self, tg: Targets, dt: torch.dtype, dev: torch.device) -> tuple[Truths, PathTables]:
        """The real detection truths (classes through the region map) and the class tables trimmed to the
        widths this batch's labels need."""
        group, gsize = self.group.to(dev), self.group_size.to(dev)
        boxes = tg.boxes.to(dt)
        nodes, valid = tg.nodes.long(), tg.valid.bool()
        if boxes.shape[1] == 0:  # no box slots at all: one empty slot keeps the shapes simple
            b = boxes.shape[0]
            boxes, nodes, valid = boxes.new_zeros(b, 1, 4), nodes.new_zeros(b, 1), valid.new_zeros(b, 1)
        is_cls = tg.is_cls.bool()
        labels = tg.label.long()
        tvalid = valid & ~is_cls[:, None] & torch.isfinite(boxes).all(-1) & (boxes[..., 2] > 0) & (boxes[..., 3] > 0)
        # the loss's single host sync: input checks, the number of classification images and the widths
        # of the (padded) path and group tables that this batch's labels need
        n_cls, dl, sw = self._sync_stats(nodes, tvalid, labels, is_cls, group, gsize)
        tables = PathTables(self.path_by_depth.to(dev), self.members.to(dev), group).trim(dl, sw)
        if self.cmap is not None:
            nodes = self.cmap.to(dev)[nodes.clamp(0, self.cmap.numel() - 1)]
        nodes = torch.where(tvalid, nodes, torch.zeros_like(nodes))
        # a harmless box in empty slots keeps log() and IoU finite; their terms are masked anyway
        boxes = torch.where(tvalid[..., None], boxes, boxes.new_tensor([0.5, 0.5, 0.25, 0.25]))
        return Truths(boxes, tvalid, nodes, labels, is_cls, n_cls), tables

    def _truth_terms(
        self, act: torch.Tensor, s: Assignment, h: int, w: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Coordinate and objectness terms at each winning truth's prediction; (coord, obj, IoU, obj prob)."""
        dt = act.dtype
        b, t = s.winner.shape
        bidx = torch.arange(b, device=act.device)[:, None].expand(b, t)
        g = act[bidx, s.best_n, :, s.gcell]  # (B, T, 5)
        sx, sy, rw, rh, so = g.unbind(-1)
        anchors = self.anchors.to(device=act.device, dtype=dt)[s.best_n]  # (B, T, 2)
        bx, by, bw, bh = s.boxes.unbind(-1)
        gi, gj = s.gi.to(dt), s.gj.to(dt)
        tx, ty = bx * w - gi, by * h - gj
        tw, th = torch.log(bw * w / anchors[..., 0]), torch.log(bh * h / anchors[..., 1])
        scale = self.coord_scale * (2 - bw * bh)
        coord_t = 0.5 * scale * ((tx - sx) ** 2 + (ty - sy) ** 2 + (tw - rw) ** 2 + (th - rh) ** 2)
        zero = act.new_zeros(())
        coord = torch.where(s.winner, coord_t, zero).sum()
        with torch.no_grad():
            pbox = torch.stack(
                [
                    (gi + sx) / w,
                    (gj + sy) / h,
                    torch.exp(rw) * anchors[..., 0] / w,
                    torch.exp(rh) * anchors[..., 1] / h,
                ],
                dim=-1,
            )
            iou_t = iou_cxcywh(pbox, s.boxes)
        target = iou_t if self.rescore else torch.ones_like(iou_t)
        obj = torch.where(s.winner, 0.5 * self.object_scale * (target - so) ** 2, zero).sum()
        return coord, obj, iou_t, so

    def _dense_terms(
        self, act: torch.Tensor, s: Assignment, seen: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Noobject and prior terms over every prediction; (noobj, prior, objectness (B, A*HW))."""
        b = act.shape[0]
        zero = act.new_zeros(())
        objp = act[:, :, 4].reshape(b, -1)
        det = ~s.is_cls
        mask = det[:, None] & (s.best_iou <= self.thresh) & ~s.assigned
        if self.cls_objectness != "none":
            mask = mask | (s.is_cls[:, None] & ~s.chosen_mask)
        noobj = torch.where(mask, 0.5 * self.noobject_scale * objp**2, zero).sum()
        if seen < self.prior_until:  # pull every unassigned box toward its anchor at the cell centre
            pri = 0.5 * self.prior_scale * (((0.5 - act[:, :, 0:2]) ** 2).sum(2) + (act[:, :, 2:4] ** 2).sum(2))
            prior = torch.where(det[:, None] & ~s.assigned, pri.reshape(b, -1), zero).sum()
        else:
            prior = zero
        return noobj, prior, objp

    def _class_terms(
        self, cls_raw: torch.Tensor, s: Assignment, dt: torch.dtype, need_grad: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Class loss rows: one gather of the logits at every truth's slot and each chosen slot.

        Returns (rows (R, C) leaf, row image/anchor/cell indices, per-row loss (R,), P(class) per row)."""
        b, t = s.winner.shape
        hw = cls_raw.shape[-1]
        dev = cls_raw.device
        rb = torch.cat([torch.arange(b, device=dev).repeat_interleave(t), s.cls_img])
        ra = torch.cat([s.best_n.reshape(-1), torch.div(s.chosen, hw, rounding_mode="floor")])
        rc = torch.cat([s.gcell.reshape(-1), s.chosen % hw])
        rows = cls_raw[rb, ra, :, rc].to(dt).requires_grad_(need_grad)  # (B*T + Bc, C)
        rnode = torch.cat([s.nodes.reshape(-1), s.labels[s.cls_img].clamp(min=0)])
        zero = rows.new_zeros(())
        if self.class_mode == "logistic":
            onehot = F.one_hot(rnode, self.classes).to(dt)
            bce = F.binary_cross_entropy_with_logits(rows, onehot, reduction="none").sum(-1)
            weight = torch.cat([s.winner.reshape(-1), torch.ones_like(s.cls_img, dtype=torch.bool)])
            per_row = self.class_scale * torch.where(weight, bce, zero)
            with torch.no_grad():
                pcat = torch.sigmoid(rows.gather(1, rnode[:, None]))[:, 0]
        else:
            tables = PathTables(s.path_by_depth, s.members, s.group)
            rpath = tables.path_by_depth[rnode]  # (R, D')
            weight = torch.cat([s.cls_w.reshape(b * t, -1), rpath[b * t :] >= 0])
            logc = tables.log_conditional(rows, rnode)  # (R, D') log P(path node | parent)
            per_row = -self.class_scale * torch.where(weight, logc, zero).sum(-1)
            with torch.no_grad():
                pcat = torch.exp(torch.where(rpath >= 0, logc, zero).sum(-1))
        return rows, rb, ra, rc, per_row, pcat

    def _sync_stats(
        self,
        nodes: torch.Tensor,
        tvalid: torch.Tensor,
        labels: torch.Tensor,
        is_cls: torch.Tensor,
        group: torch.Tensor,
        gsize: torch.Tensor,
    ) -> tuple[int, int, int]:
        """(classification images, longest path, widest group on the paths of this batch's classes), with
        clear errors for out-of-range class indices instead of a device-side assert; one host sync."""
        dev = nodes.device
        hi = self.cmap.numel() if self.cmap is not None else self.classes
        bad_box = ((nodes < 0) | (nodes >= hi)) & tvalid
        bad_cls = ((labels < 0) | (labels >= self.classes)) & is_cls
        node = nodes.clamp(0, hi - 1)
        if self.cmap is not None:
            node = self.cmap.to(dev)[node]
        used = torch.cat(
            [torch.where(tvalid, node, -1).reshape(-1), torch.where(is_cls, labels.clamp(0, self.classes - 1), -1)]
        )
        path = self.path_by_depth.to(dev)[used.clamp(min=0)]  # (U, D+1)
        on = (path >= 0) & (used >= 0)[:, None]
        widths = torch.where(on, gsize[group[path.clamp(min=0)]], 0)
        depth = torch.where(used >= 0, on.sum(1), 0)
        stats = torch.stack(
            [
                bad_box.any().long(),
                bad_cls.any().long(),
                is_cls.sum(),
                depth.max().clamp(min=1),
                widths.max().clamp(min=1),
            ]
        ).tolist()
        if stats[0]:
            v = nodes[bad_box][0].item()
            what = f"the region map's {hi} entries" if self.cmap is not None else f"{self.classes} classes"
            raise ValueError(f"RegionLoss: box class {v} is out of range for {what}")
        if stats[1]:
            v = labels[bad_cls][0].item()
            raise ValueError(f"RegionLoss: classification label {v} is out of range for {self.classes} classes")
        return int(stats[2]), int(stats[3]), int(stats[4])


class _InjectGrad(torch.autograd.Function):
    """Passes the loss value through; backward builds d loss / d raw from the box and class-row gradients."""

    @staticmethod
    def forward(
        ctx: Any,
        total: torch.Tensor,
        raw: torch.Tensor,
        gbox: torch.Tensor,
        grows: torch.Tensor,
        rb: torch.Tensor,
        ra: torch.Tensor,
        rc: torch.Tensor,
    ) -> torch.Tensor:
        ctx.save_for_backward(gbox, grows, rb, ra, rc)
        ctx.raw_shape, ctx.raw_dtype = raw.shape, raw.dtype
        ctx.raw_device = raw.device
        ctx.channels_last = (
            raw.dim() == 4 and raw.is_contiguous(memory_format=torch.channels_last) and not raw.is_contiguous()
        )
        return total.clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        gbox, grows, rb, ra, rc = ctx.saved_tensors
        b, ch, h, w = ctx.raw_shape
        a = gbox.shape[1]
        fmt = torch.channels_last if ctx.channels_last else torch.contiguous_format
        grad = torch.empty(ctx.raw_shape, dtype=ctx.raw_dtype, device=ctx.raw_device, memory_format=fmt).zero_()
        v = grad.view(b, a, ch // a, h * w)
        v[:, :, :5] = (gbox * g).to(ctx.raw_dtype)
        # rows of one slot may repeat (several truths in one cell): accumulate
        v.permute(0, 1, 3, 2)[..., 5:].index_put_((rb, ra, rc), (grows * g).to(ctx.raw_dtype), accumulate=True)
        return None, grad, None, None, None, None, None
