"""Box helpers with Darknet's exact IoU arithmetic (centre-size boxes), broadcasting over leading dims.

torchvision's `box_iou` takes two flat sets of xyxy boxes; the loss needs element-wise/broadcast IoU
between centre-size boxes with Darknet's edge arithmetic (edges at c +- w/2), so these live here.
"""

from __future__ import annotations

import torch


def iou_cxcywh(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of broadcastable (..., 4) boxes (cx, cy, w, h) as Darknet's `box_iou` computes it.

    Overlap per axis = min(right edges) - max(left edges); no overlap (negative on either axis) gives 0.
    """
    ax, ay, aw, ah = a.unbind(-1)
    bx, by, bw, bh = b.unbind(-1)
    ow = torch.minimum(ax + aw / 2, bx + bw / 2) - torch.maximum(ax - aw / 2, bx - bw / 2)
    oh = torch.minimum(ay + ah / 2, by + bh / 2) - torch.maximum(ay - ah / 2, by - bh / 2)
    inter = ow.clamp(min=0) * oh.clamp(min=0)
    union = aw * ah + bw * bh - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter))


def iou_wh(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of broadcastable (..., 2) sizes (w, h) of boxes sharing one centre (anchor matching, k-means)."""
    inter = torch.minimum(a[..., 0], b[..., 0]) * torch.minimum(a[..., 1], b[..., 1])
    union = a[..., 0] * a[..., 1] + b[..., 0] * b[..., 1] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter))
