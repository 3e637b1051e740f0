"""Region output -> detections: boxes undone through the letterbox, Darknet's scores, NMS.

Everything is batched over images and predictions: only predictions whose objectness passes `thresh`
are gathered (a score is never above the objectness), scored, and put through one
`torchvision.ops.batched_nms` call for the whole batch (groups = image x class/node).

Scores (darknet_spec.md §3.1-§3.3):
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

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch

from yolo9000.detection.letterbox import letterbox_sizes, unletterbox
from yolo9000.detection.nms import (  # grouped_nms, tree_path_nms, darknet_partition_position: re-exported here
    darknet_partition_position,
    exact_darknet_rank,
    grouped_nms,
    thresholded_rows,
    tree_index,
    tree_path_nms,
)

if TYPE_CHECKING:  # imports point one way: decode only reads the region settings
    from wordtree import WordTree
    from wordtree.softmax import TreeSoftmax
    from yolo9000.detection.head import RegionConfig

MODES = ("paper", "darknet")


@dataclass
class Detections:
    """Detections of one image, sorted by score (descending).

    boxes:      (n, 4) float, x1 y1 x2 y2 in original-image pixels (network pixels when the image size
                was not given).
    scores:     (n,) the detection score (see the module docstring for each mode).
    objectness: (n,) the box's objectness (sigmoid output).
    labels:     (n,) long, class index (flat), tree node (tree), or map position (tree with class_map).
    probs:      (n,) probability of the label: P(class) for flat heads, absolute P(node) for trees.
    index:      (n,) long, Darknet's prediction index anchor * H * W + row * W + col.
    nodes:      (n,) long tree node of each detection (trees only, else None).
    path:       (n, L) long, root..node for trees, padded with -1 on the right (else None).
    path_probs: (n, L) float, P(node | parent) along `path` (0 at padding; else None).
    image_size: (width, height) of the original image, or None.
    names:      optional label names (indexed by `labels`), used by `to_records` and drawing.
    node_names: optional tree node names (indexed by `path` entries).
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    objectness: torch.Tensor
    labels: torch.Tensor
    probs: torch.Tensor
    index: torch.Tensor
    nodes: torch.Tensor | None = None
    path: torch.Tensor | None = None
    path_probs: torch.Tensor | None = None
    image_size: tuple[int, int] | None = None
    names: Sequence[str] | None = field(default=None, repr=False)
    node_names: Sequence[str] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def to(self, device: torch.device | str) -> "Detections":
        """The same detections with every tensor on `device`."""
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return replace(self, **moved)

    def path_absolute(self) -> torch.Tensor | None:
        """(n, L) absolute probabilities along `path` (cumulative products; 0 at padding)."""
        if self.path is None or self.path_probs is None:
            return None
        return torch.cumprod(self.path_probs, dim=1) * (self.path >= 0)

    def label_text(
        self, i: int, *, show_path: bool = False, max_path: int = 3, names: Sequence[str] | None = None
    ) -> str:
        """Display label of detection i: `terrier (0.62)` or `animal > dog > terrier (0.62)`."""
        names = names if names is not None else self.names
        node_names = self.node_names if self.node_names is not None else names
        label = int(self.labels[i])
        text = names[label] if names is not None and 0 <= label < len(names) else str(label)
        if show_path and self.path is not None:
            nodes = [int(n) for n in self.path[i].tolist() if n >= 0]
            shown = nodes[-max_path:] if max_path > 0 else nodes
            parts = [node_names[n] if node_names is not None else str(n) for n in shown]
            text = (".. > " if len(shown) < len(nodes) else "") + " > ".join(parts)
        return f"{text} ({float(self.scores[i]):.2f})"

    def to_records(self, names: Sequence[str] | None = None, *, digits: int = 6) -> list[dict[str, Any]]:
        """JSON-able list, one dict per detection (box xyxy, COCO bbox xywh, score, label, name, path...)."""
        names = names if names is not None else self.names
        node_names = self.node_names if self.node_names is not None else names
        boxes = self.boxes.detach().double().cpu().tolist()
        cols = {
            k: getattr(self, k).detach().cpu().tolist() for k in ("scores", "objectness", "labels", "probs", "index")
        }
        nodes = self.nodes.cpu().tolist() if self.nodes is not None else None
        paths = self.path.cpu().tolist() if self.path is not None else None
        pprobs = self.path_probs.double().cpu().tolist() if self.path_probs is not None else None
        pabs = self.path_absolute().double().cpu().tolist() if paths is not None else None
        r = lambda v: round(float(v), digits)  # noqa: E731
        out = []
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            label = int(cols["labels"][i])
            rec: dict[str, Any] = {
                "box": [round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)],
                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                "score": r(cols["scores"][i]),
                "objectness": r(cols["objectness"][i]),
                "label": label,
                "name": names[label] if names is not None and 0 <= label < len(names) else str(label),
                "prob": r(cols["probs"][i]),
                "index": int(cols["index"][i]),
            }
            if nodes is not None:
                rec["node"] = int(nodes[i])
            if paths is not None:
                rec["path"] = [
                    {"node": n, "name": node_names[n] if node_names is not None else str(n), "prob": r(p), "abs": r(a)}
                    for n, p, a in zip(paths[i], pprobs[i], pabs[i])
                    if n >= 0
                ]
            out.append(rec)
        return out


def _check_inputs(region_out: torch.Tensor, region: "RegionConfig", mode: str, thresh: float, nms: float) -> None:
    if mode not in MODES:
        raise ValueError(f"decode: mode must be one of {MODES}, got {mode!r}")
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
    if not (0.0 <= thresh < 1.0) or not (0.0 < nms <= 1.0):
        raise ValueError(f"decode: need 0 <= thresh < 1 and 0 < nms <= 1, got thresh={thresh}, nms={nms}")


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


@torch.no_grad()
def decode(
    region_out: torch.Tensor,
    region: "RegionConfig",
    *,
    thresh: float = 0.25,
    hier_thresh: float = 0.5,
    nms: float = 0.45,
    mode: str = "paper",
    net_size: tuple[int, int] | None = None,
    image_sizes: Sequence[tuple[int, int]] | None = None,
    tree_softmax: "TreeSoftmax | None" = None,
    class_agnostic: bool = False,
    tree_nms: bool = False,
    class_map: Sequence[int] | None = None,
    letterbox: bool = True,
    clip: bool = True,
    names: Sequence[str] | None = None,
) -> list[Detections]:
    """Detections per image from Darknet's activated region output.

    region_out: (B, A, 5+C, H, W) as `DarknetModel.region_output` returns (x, y, obj after the sigmoid;
    w, h raw; classes as (tree-)softmax probabilities). `net_size` = (W, H) of the network input (default
    32 x the grid); `image_sizes` = original (width, height) per image to undo the letterbox (Darknet's
    `correct_region_boxes`, un-floored half offset included; `letterbox=False` undoes a plain stretch).
    Without `image_sizes` boxes stay in network pixels. `nms` is the IoU above which a lower-scored box of
    the same class/node (or any box with `class_agnostic`; with `tree_nms`, any box whose node lies on the
    same root-to-leaf path, so "terrier" suppresses a weaker "dog" but not a "cat") is dropped; `nms=1` keeps
    everything. `clip`
    clips the returned boxes to the image (Darknet itself does not clip).
    """
    _check_inputs(region_out, region, mode, thresh, nms)
    bsz, num_a, ent, gh, gw = region_out.shape
    dev = region_out.device
    tree = getattr(region, "tree", None)
    if tree_nms and (tree is None or class_agnostic):
        raise ValueError("decode: tree_nms needs a tree region and excludes class_agnostic")
    if class_map is not None and tree is None:
        raise ValueError("decode: class_map needs a tree region (Darknet applies .map only to tree heads)")
    if image_sizes is not None and len(image_sizes) != bsz:
        raise ValueError(f"decode: {len(image_sizes)} image sizes for a batch of {bsz}")
    net_w, net_h = (int(net_size[0]), int(net_size[1])) if net_size is not None else (gw * 32, gh * 32)
    hw = gh * gw
    num_p = num_a * hw

    obj_all = region_out[:, :, 4].reshape(bsz, num_p).float()
    active = obj_all > thresh  # Darknet: objectness = obj if obj > thresh else 0
    b_idx, p_idx = active.nonzero(as_tuple=True)
    a_idx, s_idx = torch.div(p_idx, hw, rounding_mode="floor"), p_idx % hw
    rows = region_out.reshape(bsz, num_a, ent, hw)[b_idx, a_idx, :, s_idx].float()  # (n_sel, 5+C)
    obj = rows[:, 4]
    cls = rows[:, 5:]

    # --- boxes (spec §2.4), in float64 like Darknet's exp, relative to the network input
    anchors = torch.as_tensor(region.anchors, dtype=torch.float64).reshape(-1, 2).to(dev)
    col, row = (s_idx % gw).double(), torch.div(s_idx, gw, rounding_mode="floor").double()
    r64 = rows[:, :4].double()
    bx = (col + r64[:, 0]) / gw
    by = (row + r64[:, 1]) / gh
    bw = torch.exp(r64[:, 2]) * anchors[a_idx, 0] / gw
    bh = torch.exp(r64[:, 3]) * anchors[a_idx, 1] / gh
    if image_sizes is not None:
        sizes = torch.as_tensor([[int(w), int(h)] for w, h in image_sizes], dtype=torch.long, device=dev)
        if (sizes <= 0).any():
            raise ValueError(f"decode: image sizes must be positive, got {sizes.tolist()}")
        if letterbox:
            new_w, new_h = letterbox_sizes(sizes, net_w, net_h)
            bx, by, bw, bh = unletterbox(bx, by, bw, bh, new_w[b_idx], new_h[b_idx], net_w, net_h)
        scale_w, scale_h = sizes[b_idx, 0].double(), sizes[b_idx, 1].double()
    else:
        scale_w = torch.full_like(bx, float(net_w))
        scale_h = torch.full_like(by, float(net_h))
    rel = torch.stack([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2], 1)  # relative xyxy

    # --- candidates: (row into the selected predictions, label, score, prob)
    dense = None
    nodes = None
    if tree is None:
        scores_all = obj[:, None] * cls
        r_idx, lab = (scores_all > thresh).nonzero(as_tuple=True)
        score = scores_all[r_idx, lab]
        prob = cls[r_idx, lab]
        num_labels = cls.shape[1]
        if mode == "darknet":  # Darknet stores 0 for classes at or below the threshold
            dense = thresholded_rows(scores_all, r_idx, thresh)
    elif class_map is not None:
        cmap = torch.as_tensor(list(class_map), dtype=torch.long, device=dev)
        if cmap.numel() and (cmap.min() < 0 or cmap.max() >= len(tree)):
            raise ValueError(f"decode: class_map entries must be tree nodes in [0, {len(tree) - 1}]")
        absm = _absolute_at(tree, cls, cmap)  # (n_sel, M)
        scores_all = obj[:, None] * absm
        r_idx, lab = (scores_all > thresh).nonzero(as_tuple=True)
        score, prob = scores_all[r_idx, lab], absm[r_idx, lab]
        nodes = cmap[lab]
        num_labels = int(cmap.numel())
        if mode == "darknet":  # Darknet stores 0 for classes at or below the threshold
            dense = thresholded_rows(scores_all, r_idx, thresh)
    else:
        ts = tree_softmax if tree_softmax is not None else _tree_softmax_for(tree, dev)
        # the region output already holds conditional probabilities: the walk reads them directly
        pred = ts.predict(cls, threshold=hier_thresh, mode=mode, probs=True)
        lab = pred.node.long()
        prob = pred.prob.float() if mode == "paper" else _absolute_at_rows(tree, cls, lab)
        score = obj * prob if mode == "paper" else obj
        keep = score > thresh
        r_idx = keep.nonzero(as_tuple=True)[0]
        lab, score, prob = lab[r_idx], score[r_idx], prob[r_idx]
        nodes = lab
        num_labels = len(tree)

    gb = b_idx[r_idx]
    groups = gb if (class_agnostic or tree_nms) else gb * num_labels + lab
    boxes_rel = rel[r_idx]
    if mode == "darknet":
        pos = darknet_partition_position(active)[gb, p_idx[r_idx]]
        rank = exact_darknet_rank(groups, score, pos, dense, lab)
        nms_scores = (rank.numel() - rank).double()
    else:
        nms_scores = score.double()
    if nms < 1.0 and r_idx.numel() and tree_nms:
        keep_idx = tree_path_nms(boxes_rel, nms_scores, gb, nodes, tree, nms)
    elif nms < 1.0 and r_idx.numel():
        # IoU is invariant to the per-axis scaling to pixels, so NMS on relative boxes matches Darknet
        keep_idx = grouped_nms(boxes_rel, nms_scores, groups, nms)
    else:
        keep_idx = torch.argsort(nms_scores, descending=True, stable=True)
    # final order: by image, then by score
    by_score = torch.argsort(nms_scores[keep_idx], descending=True, stable=True)
    keep_idx = keep_idx[by_score]
    keep_idx = keep_idx[torch.argsort(gb[keep_idx], stable=True)]

    fr = r_idx[keep_idx]
    pix = boxes_rel[keep_idx] * torch.stack([scale_w, scale_h, scale_w, scale_h], 1)[fr]
    if clip and image_sizes is not None:
        wh = sizes[b_idx[fr]].double()
        pix = torch.minimum(pix.clamp(min=0), torch.cat([wh, wh], 1))
    path = path_probs = None
    if tree is not None and fr.numel():
        path, path_probs = _tree_paths(tree, cls[fr], nodes[keep_idx])
    elif tree is not None:
        path = torch.zeros(0, tree.max_depth + 1, dtype=torch.long, device=dev)
        path_probs = torch.zeros(0, tree.max_depth + 1, device=dev)

    counts = torch.bincount(gb[keep_idx], minlength=bsz).tolist()
    parts = {
        "boxes": pix.float(),
        "scores": score[keep_idx].float(),
        "objectness": obj[fr],
        "labels": lab[keep_idx],
        "probs": prob[keep_idx].float(),
        "index": p_idx[fr],
    }
    if tree is not None:
        parts.update(nodes=nodes[keep_idx], path=path, path_probs=path_probs)
    split = {k: torch.split(v, counts) for k, v in parts.items()}
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
        )
        for i in range(bsz)
    ]


def _absolute_at_rows(tree: "WordTree", cond: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
    """P(nodes[i]) for row i of cond (n, N)."""
    anc = tree_index(tree, "ancestors", cond.device)[nodes]  # (n, D+1)
    vals = cond.gather(1, anc.clamp(min=0))
    return torch.where(anc >= 0, vals, torch.ones_like(vals)).prod(-1)


_TS_CACHE: dict[tuple[int, str], Any] = {}


def _tree_softmax_for(tree: "WordTree", device: torch.device) -> "TreeSoftmax":
    """A TreeSoftmax for `tree` on `device`, built once per (tree, device)."""
    key = (id(tree), str(device))
    ts = _TS_CACHE.get(key)
    if ts is None or ts[0] is not tree:
        from wordtree.softmax import TreeSoftmax

        _TS_CACHE[key] = ts = (tree, TreeSoftmax(tree).to(device))
    return ts[1]


__all__ = [
    "Detections",
    "decode",
    "darknet_partition_position",
    "grouped_nms",
    "tree_path_nms",
    "MODES",
]
