"""Ragged segment helpers for the tree softmax: expand (offset, size) runs into element lists and reduce them.

Every sibling group is a contiguous run of node indices, so "the groups on a row's path" or "the group a
row is currently descending into" are lists of (row, offset, size) segments. These helpers turn such lists
into flat element indices and do the per-segment max / sum / first-argmax with scatter ops, so the cost is
proportional to the number of touched logits, not to rows x nodes.
"""

from __future__ import annotations

import torch
from torch import Tensor


def expand_segments(offset: Tensor, size: Tensor) -> tuple[Tensor, Tensor]:
    """For segments `[offset[s], offset[s] + size[s])` return `(seg_id, member)` of all their elements.

    Elements come segment by segment, in increasing member order inside each segment.
    """
    total = int(size.sum()) if size.numel() else 0
    dev = offset.device
    if total == 0:
        empty = torch.zeros(0, dtype=torch.long, device=dev)
        return empty, empty
    seg_id = torch.repeat_interleave(torch.arange(size.numel(), device=dev), size, output_size=total)
    start = torch.cumsum(size, 0) - size
    member = (offset - start).index_select(0, seg_id) + torch.arange(total, device=dev)
    return seg_id, member


def segment_max(x: Tensor, seg_id: Tensor, num: int) -> Tensor:
    """Per-segment maximum (NaN if the segment holds a NaN, -inf for an empty segment)."""
    out = torch.full((num,), float("-inf"), dtype=x.dtype, device=x.device)
    return out.scatter_reduce(0, seg_id, x, "amax", include_self=True)


def segment_sum(x: Tensor, seg_id: Tensor, num: int) -> Tensor:
    """Per-segment sum (differentiable)."""
    return torch.zeros(num, dtype=x.dtype, device=x.device).index_add(0, seg_id, x)


def segment_logsumexp(x: Tensor, seg_id: Tensor, num: int) -> Tensor:
    """Stable per-segment log-sum-exp; the shift is detached (it cancels exactly in value and gradient)."""
    m = segment_max(x.detach(), seg_id, num)
    # an all -inf segment would give -inf - -inf = NaN; shift those by 0 instead
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    s = segment_sum(torch.exp(x - m.index_select(0, seg_id)), seg_id, num)
    return m + torch.log(s)


def segment_first_argmax(x: Tensor, seg_id: Tensor, num: int) -> tuple[Tensor, Tensor]:
    """Per segment: (max value, element position of its first occurrence).

    A segment holding a NaN gets max NaN and position `len(x)` (no element equals NaN); callers must
    treat that position as "none".
    """
    m = segment_max(x, seg_id, num)
    e = x.numel()
    pos = torch.arange(e, device=x.device)
    cand = torch.where(x == m.index_select(0, seg_id), pos, torch.full_like(pos, e))
    first = torch.full((num,), e, dtype=torch.long, device=x.device)
    first = first.scatter_reduce(0, seg_id, cand, "amin", include_self=True)
    return m, first
