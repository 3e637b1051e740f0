"""Anchor priors by k-means on training box sizes with the paper's distance d = 1 - IoU (YOLOv2 §2).

Boxes are compared by shape only (all centred at one point), so large boxes do not dominate the way they do
with Euclidean k-means. Anchors come out in grid units (cells of 32 input pixels), the unit of Darknet's
`anchors=` line, for a given network input size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import torch

from yolo9000.detection.box_ops import iou_wh

if TYPE_CHECKING:
    import pandas as pd

STRIDE = 32  # input pixels per output cell of the YOLOv2 / YOLO9000 heads


@dataclass(frozen=True)
class KMeansResult:
    """Anchors (k, 2) sorted by area, mean IoU of each box with its best anchor, and iterations run."""

    anchors: np.ndarray
    mean_iou: float
    iterations: int

    def cfg_line(self, decimals: int = 5) -> str:
        """The `anchors = w0,h0, w1,h1, ...` line of a Darknet `[region]` section."""
        return "anchors = " + format_anchors(self.anchors, decimals)


def mean_iou(wh: np.ndarray | torch.Tensor, anchors: np.ndarray | torch.Tensor) -> float:
    """Average over boxes of the best shape IoU with any anchor (the paper's "Avg IOU")."""
    x = torch.as_tensor(np.asarray(wh), dtype=torch.float64).reshape(-1, 2)
    c = torch.as_tensor(np.asarray(anchors), dtype=torch.float64).reshape(-1, 2)
    if len(x) == 0:
        raise ValueError("mean_iou: no boxes")
    return float(iou_wh(x[:, None], c[None]).amax(1).mean())


def _init_plus_plus(x: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """k-means++ seeding with the 1 - IoU distance (loop over k centres, not over boxes)."""
    n = len(x)
    centres = [x[int(torch.randint(n, (1,), generator=g))]]
    dist = 1 - iou_wh(x, centres[0][None])
    for _ in range(1, k):
        w = dist.clamp(min=0) ** 2
        total = float(w.sum())
        if total > 0:
            idx = int(torch.multinomial(w / total, 1, generator=g))
        else:
            idx = int(torch.randint(n, (1,), generator=g))
        centres.append(x[idx])
        dist = torch.minimum(dist, 1 - iou_wh(x, x[idx][None]))
    return torch.stack(centres)


def _shape_iou(x: torch.Tensor, area: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(N, k) IoU of sizes x (N, 2) with centroids c (k, 2), all centred at one point (few passes)."""
    inter = torch.minimum(x[:, 0:1], c[:, 0]) * torch.minimum(x[:, 1:2], c[:, 1])
    return inter / (area[:, None] + c[:, 0] * c[:, 1] - inter)


def kmeans_anchors(
    wh: np.ndarray | torch.Tensor,
    k: int,
    *,
    iters: int = 300,
    restarts: int = 3,
    seed: int = 0,
    tol: float = 1e-4,
    max_boxes: int | None = None,
    device: str | torch.device = "cpu",
) -> KMeansResult:
    """k-means with d = 1 - IoU on (N, 2) box sizes; centroids are cluster means (as in the paper).

    Deterministic for a seed; the best of `restarts` k-means++ seedings (highest mean IoU) is returned.
    Stops when no box changes cluster or no centroid moves by more than `tol` (relative). An emptied
    cluster is re-seeded with the worst-covered boxes. `max_boxes` clusters a random sample (the mean IoU
    is still computed over every box). Iterations run in float32, the reported mean IoU in float64.
    """
    x64 = torch.as_tensor(np.asarray(wh), dtype=torch.float64, device=device).reshape(-1, 2)
    if k < 1:
        raise ValueError(f"k-means: k must be >= 1, got {k}")
    x64 = x64[torch.isfinite(x64).all(1) & (x64 > 0).all(1)]
    n_unique = len(torch.unique(x64, dim=0)) if len(x64) else 0
    if n_unique < k:
        raise ValueError(f"k-means: {k} anchors need at least {k} distinct box sizes, got {n_unique}")
    g = torch.Generator().manual_seed(seed)
    x = x64
    if max_boxes is not None and len(x) > max_boxes:
        x = x[torch.randperm(len(x), generator=g)[:max_boxes].to(x.device)]
    x = x.float()
    area = x[:, 0] * x[:, 1]
    best: KMeansResult | None = None
    for _ in range(max(1, restarts)):
        c = _init_plus_plus(x.cpu(), k, g).to(x.device)
        prev = None
        it = 0
        for it in range(1, iters + 1):
            iou = _shape_iou(x, area, c)
            assign = iou.argmax(1)
            if prev is not None and torch.equal(assign, prev):
                break  # Lloyd's fixed point: the centroids are the means of these clusters
            prev = assign
            counts = torch.bincount(assign, minlength=k).to(x.dtype)
            new = torch.zeros_like(c).index_add_(0, assign, x) / counts.clamp(min=1)[:, None]
            empty = counts == 0
            if empty.any():  # rare: re-seed each empty cluster with the worst-covered boxes
                worst = torch.argsort(iou.amax(1))[: int(empty.sum())]
                new[empty] = x[worst]
                prev = None
            moved = float(((new - c).abs() / c).max())
            c = new
            if moved <= tol:
                break
        c64 = c.double()
        score = float(_shape_iou(x64, x64[:, 0] * x64[:, 1], c64).amax(1).mean())
        if best is None or score > best.mean_iou:
            order = torch.argsort(c64[:, 0] * c64[:, 1])
            best = KMeansResult(c64[order].cpu().numpy(), score, it)
    assert best is not None
    return best


def anchor_table(wh: np.ndarray | torch.Tensor, ks: Iterable[int] = range(1, 10), **kw: Any) -> pd.DataFrame:
    """A pandas DataFrame: one row per k with the mean IoU and the anchors (grid units if `wh` is)."""
    import pandas as pd

    rows = []
    for k in ks:
        r = kmeans_anchors(wh, k, **kw)
        rows.append({"k": k, "mean_iou": r.mean_iou, "anchors": " ".join(f"{w:.3f},{h:.3f}" for w, h in r.anchors)})
    return pd.DataFrame(rows).set_index("k")


def grid_sizes(box_sizes: np.ndarray, size: int = 416, letterbox: bool = True) -> np.ndarray:
    """(N, 2) box sizes in grid units of a `size` x `size` input (cells of 32 px).

    letterbox: the image is scaled by size / max(W, H) (our and Darknet's letterbox at test time);
    otherwise stretched to size x size.
    """
    b = np.asarray(box_sizes, dtype=np.float64).reshape(-1, 4)
    if letterbox:
        m = np.maximum(b[:, 2], b[:, 3])
        rel = b[:, 0:2] / m[:, None]
    else:
        rel = b[:, 0:2] / b[:, 2:4]
    return rel * (size / STRIDE)


def format_anchors(anchors: np.ndarray | Sequence[Sequence[float]], decimals: int = 5) -> str:
    """`w0,h0, w1,h1, ...` as a cfg `anchors=` value."""
    return ", ".join(f"{w:.{decimals}g},{h:.{decimals}g}" for w, h in anchors)
