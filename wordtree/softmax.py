"""The tree softmax of YOLO9000: a softmax inside every sibling group of a WordTree.

`TreeSoftmax(tree)` maps logits `(..., N)` over the N tree nodes to

* conditional log-probabilities log P(node | parent) (`log_conditional`, all nodes),
* absolute log-probabilities log P(node) (`log_absolute`, all nodes),
* log P(node) for one given node per row (`log_prob`) and the loss -log P(target) (`loss`), computed only over
  the groups on each row's root path (at most max_depth + 1 groups), which is far cheaper than a softmax over
  all N logits; the gradient is Darknet's hierarchical class delta (a softmax-CE push in every group on the
  path from the label up to the root, nothing below it),
* log P(node at depth d | its parent) at every level of given nodes' root paths (`path_log_conditional`,
  read through the padded `PathTables`: the one per-level implementation, which the region loss and its
  matcher use with tables trimmed to a batch's labels),
* the top-down prediction walk (`predict`, paper rule or Darknet's exact quirk), `topk` and `inspect`.

Internally everything is computed in float32 (float64 stays float64), so fp16/bf16 inputs are stable.
Full (..., N) outputs come back in the input dtype; per-row values (log_prob, loss, prediction
probabilities) in the compute dtype. NaN logits propagate to every value that depends on them.

How it stays fast without a Python loop over groups or rows:
* path-only work (loss, log_prob, predict) expands each row's (offset, size) group segments into one flat
  list of touched logits (about 100 per row on the 9k tree instead of 9418) and reduces them with scatter
  ops (`softmax_ops`); predict loops over tree levels only;
* all-node work buckets the groups by size: each size class is one dense block of a node-major
  (nodes, rows) tensor, reduced by one fused (log-)softmax over an outer axis. Row-major inputs go through
  it in row chunks of ~8 MB (transposed in and out); node-major inputs, such as the region head's class
  logits viewed with the classes last, are used in place and the result keeps their memory layout.
See benchmarks/bench_tree_softmax.py for the measured cost against a flat softmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from wordtree.softmax_ops import expand_segments, segment_first_argmax, segment_logsumexp
from wordtree.tree import WordTree

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PathTables", "TreeSoftmax", "TreePrediction"]

#: node indices as the path-only methods take them: a tensor, an array, a sequence or one index
NodeIndices = Tensor | np.ndarray | Sequence[int] | int

_MEMBER_MAJOR_MAX = 16  # groups up to this size are laid out member-major (see _build_buckets)
_CHUNK_ELEMENTS = 1 << 21  # on CPU, inputs are processed in chunks of about this many logits (8 MB fp32)
_PAD_GROWTH = 1.25  # no-grad all-node path: groups above 8 members are padded to sizes ~25% apart


class TreePrediction(NamedTuple):
    """Result of the top-down walk, each of the logits' leading shape."""

    node: Tensor  # long: node where the walk stopped
    prob: Tensor  # absolute probability P(node)
    depth: Tensor  # long: depth of that node (roots 0)


def _long(a: np.ndarray) -> Tensor:
    return torch.tensor(np.asarray(a, dtype=np.int64))


class PathTables(NamedTuple):
    """A tree's sibling groups as padded index tables, all that `log_conditional` reads.

    A flat softmax over C classes is the one-group case (`PathTables.flat`). Callers that know which nodes
    a batch reads may `trim` the tables to the depths and group widths those nodes need (fewer padded
    entries to gather and reduce); the values do not change.
    """

    path_by_depth: Tensor  # (N, L) node at depth d on each node's root path (root first), -1 below the node
    members: Tensor  # (G, S) members of each sibling group, padded with -1
    group: Tensor  # (N,) sibling group of each node

    @classmethod
    def from_tree(cls, tree: WordTree) -> PathTables:
        """The tables of `tree` (L = max_depth + 1 levels, S = its largest group), as CPU long tensors."""
        depth, ancestors = np.asarray(tree.depth), np.asarray(tree.ancestors)  # ancestors: node first, root last
        idx = depth[:, None] - np.arange(ancestors.shape[1])[None, :]
        path = np.where(idx >= 0, np.take_along_axis(ancestors, np.clip(idx, 0, None), axis=1), -1)
        size, offset = np.asarray(tree.group_size), np.asarray(tree.group_offset)
        k = np.arange(int(size.max()))[None, :]
        members = np.where(k < size[:, None], offset[:, None] + k, -1)
        return cls(_long(path), _long(members), _long(tree.group))

    @classmethod
    def flat(cls, classes: int) -> PathTables:
        """One group of every class: the tables of a flat softmax."""
        every = torch.arange(classes, dtype=torch.long)
        return cls(every[:, None], every[None, :], torch.zeros(classes, dtype=torch.long))

    def to(self, device: torch.device | str) -> PathTables:
        """The same tables on `device`."""
        return PathTables(*(t.to(device) for t in self))

    def trim(self, levels: int, width: int) -> PathTables:
        """The first `levels` depths and `width` member slots: enough for nodes at depth < `levels` whose path
        groups have at most `width` members."""
        return PathTables(self.path_by_depth[:, :levels], self.members[:, :width], self.group)

    def log_conditional(
        self, logits: Tensor, nodes: Tensor, *, rows: Tensor | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        """log P(path node at depth d | its parent) for every level d of each node's root path.

        logits (R, N, *cells): the node axis is axis 1; trailing `cells` axes share their row's node (e.g. the
        anchors and cells of one image). nodes (K,): one node per output row, read from logits row
        `rows[k]` (default: row k), so only the groups on the paths are gathered, never whole rows.
        Returns (K, L, *cells) in `dtype` (default float32; float64 stays float64). Each level is a
        log-softmax over that level's sibling group only (padded members count as -inf); levels past a node's
        own depth hold a root group's value: mask them with ``path_by_depth[nodes] >= 0`` (summing the kept
        levels gives log P(node)). Nodes and rows are not checked here (`TreeSoftmax.path_log_conditional`
        checks them): this runs inside the loss, without host syncs.
        """
        k = nodes.numel()
        if rows is None:
            rows = torch.arange(k, device=logits.device)
        cdt = dtype or (torch.float64 if logits.dtype == torch.float64 else torch.float32)
        path = self.path_by_depth[nodes]  # (K, L)
        levels = path.shape[1]
        mem = self.members[torch.where(path >= 0, self.group[path.clamp(min=0)], 0)]  # (K, L, S)
        width = mem.shape[-1]
        cells = logits.shape[2:]
        pick = rows[:, None]
        z = logits[pick, mem.clamp(min=0).reshape(k, levels * width)].to(cdt)  # (K, L*S, *cells)
        pad = (mem < 0).view(k, levels, width, *([1] * len(cells)))
        z = z.view(k, levels, width, *cells).masked_fill(pad, float("-inf"))
        on_path = logits[pick, path.clamp(min=0)].to(cdt)  # (K, L, *cells)
        return on_path - torch.logsumexp(z, dim=2)


def _row_offsets(x: Tensor) -> tuple[Tensor, Tensor, int]:
    """The rows of `x` (..., N) in whatever layout it has, without a copy: (offset of each row's first entry
    (R,), a 1-D view of the memory `x` spans, the stride of the last axis). Entry j of row r is
    ``flat[offsets[r] + j * step]``."""
    dev = x.device
    offsets = torch.zeros((), dtype=torch.long, device=dev)
    for size, stride in zip(x.shape[:-1], x.stride()[:-1]):  # over the leading axes (a few), not the data
        offsets = offsets[..., None] + torch.arange(size, device=dev) * stride
    span = 1 + sum((size - 1) * stride for size, stride in zip(x.shape, x.stride())) if x.numel() else 0
    return offsets.reshape(-1), x.as_strided((span,), (1,), x.storage_offset()), x.stride(-1)


class TreeSoftmax(nn.Module):
    """Softmax over each sibling group of `tree`; its index tensors are (non-persistent) buffers."""

    # the buffers registered in __init__ and the _build_* methods (nn.Module's __getattr__ types them loosely)
    parent: Tensor
    group: Tensor
    group_offset: Tensor
    group_size: Tensor
    group_parent: Tensor
    child_group: Tensor
    depth: Tensor
    ancestors: Tensor
    path_by_depth: Tensor
    members: Tensor
    is_leaf: Tensor
    perm: Tensor
    fast_src: Tensor
    fast_pad: Tensor
    fast_pos: Tensor
    lvl_parent_node: Tensor
    lvl_parent_local: Tensor
    node_level_pos: Tensor
    lvl_parent_perm: Tensor
    perm_level_pos: Tensor

    def __init__(self, tree: WordTree) -> None:
        super().__init__()
        if not isinstance(tree, WordTree):
            raise TypeError(f"TreeSoftmax needs a WordTree, got {type(tree).__name__}")
        self.tree = tree
        self.num_nodes = len(tree)
        self.num_groups = tree.num_groups
        self.max_depth = tree.max_depth
        for name in (
            "parent",
            "group",
            "group_offset",
            "group_size",
            "group_parent",
            "child_group",
            "depth",
            "ancestors",
        ):
            self.register_buffer(name, _long(getattr(tree, name)), persistent=False)
        self.register_buffer("is_leaf", torch.tensor(np.asarray(tree.is_leaf, dtype=bool)), persistent=False)
        tables = PathTables.from_tree(tree)
        self.register_buffer("path_by_depth", tables.path_by_depth, persistent=False)
        self.register_buffer("members", tables.members, persistent=False)
        self._build_buckets(tree)
        self._build_fast_buckets(tree)
        self._build_levels(tree)

    # ---- layouts built once ---------------------------------------------------------------------------
    def _build_buckets(self, tree: WordTree) -> None:
        # Differentiable path: groups of equal size side by side, so each size class is one dense block of
        # a node-major (nodes, rows) tensor. Small groups are stored member-major, (size, groups, rows), so
        # the softmax reduces over the outer axis and vectorises over groups x rows; large ones group-major.
        size, off = tree.group_size, tree.group_offset
        order = np.argsort(size, kind="stable")
        self._buckets: list[tuple[int, bool, int, int]] = []  # (size, member_major, start, end) in perm
        chunks, pos = [], 0
        for s in np.unique(size):
            gs = order[size[order] == s]
            members = off[gs][:, None] + np.arange(s)[None, :]  # (groups, size)
            member_major = bool(s <= _MEMBER_MAJOR_MAX)
            chunks.append((members.T if member_major else members).reshape(-1))
            self._buckets.append((int(s), member_major, pos, pos + members.size))
            pos += members.size
        perm = np.concatenate(chunks)
        self.register_buffer("perm", _long(perm), persistent=False)

    def _build_fast_buckets(self, tree: WordTree) -> None:
        # The no-grad path pads groups up to a few size classes (fewer, larger ops): padded slots read any
        # node and are set to -inf, so they add nothing to a softmax and are never read back.
        size, off = tree.group_size, tree.group_offset
        steps, v = list(range(1, 9)), 8
        while v < size.max():
            v = int(np.ceil(v * _PAD_GROWTH))
            steps.append(v)
        ladder = np.array(steps[:-1] + [int(size.max())])
        padded = ladder[np.searchsorted(ladder, size)]
        self._fast_buckets: list[tuple[int, bool, int, int]] = []
        src, pads, pos_of_node, slot_group = [], [], np.empty(len(tree), dtype=np.int64), []
        pos = 0
        for s in np.unique(padded):
            gs = np.flatnonzero(padded == s)  # groups in node order
            k = np.arange(s)[None, :]
            members = off[gs][:, None] + k  # (groups, s)
            real = k < size[gs][:, None]
            member_major = bool(s <= _MEMBER_MAJOR_MAX)
            if member_major:
                members, real = members.T, real.T
            grp = np.broadcast_to(gs[:, None] if not member_major else gs[None, :], members.shape)
            flat_m, flat_r = members.reshape(-1), real.reshape(-1)
            slots = pos + np.arange(flat_m.size)
            pos_of_node[flat_m[flat_r]] = slots[flat_r]
            pads.append(slots[~flat_r])
            src.append(np.where(flat_r, flat_m, 0))
            slot_group.append(grp.reshape(-1))
            self._fast_buckets.append((int(s), member_major, pos, pos + flat_m.size))
            pos += flat_m.size
        self.register_buffer("fast_src", _long(np.concatenate(src)), persistent=False)
        self.register_buffer("fast_pad", _long(np.concatenate(pads)), persistent=False)
        self.register_buffer("fast_pos", _long(pos_of_node), persistent=False)
        self._fast_slot_group = np.concatenate(slot_group)

    def _build_levels(self, tree: WordTree) -> None:
        # groups in level order (level = depth of its members) for the absolute-probability recursion
        glevel = tree.depth[tree.group_offset]
        order = np.argsort(glevel, kind="stable")
        pos = np.empty_like(order)
        pos[order] = np.arange(len(order))
        counts = np.bincount(glevel, minlength=tree.max_depth + 1)
        starts = np.concatenate([[0], np.cumsum(counts)])
        gp = tree.group_parent[order]
        local = np.zeros(len(order), dtype=np.int64)
        has = gp >= 0
        local[has] = pos[tree.group[gp[has]]] - starts[glevel[order][has] - 1]
        self.register_buffer("lvl_parent_node", _long(np.maximum(gp, 0)), persistent=False)
        self.register_buffer("lvl_parent_local", _long(local), persistent=False)
        self.register_buffer("node_level_pos", _long(pos[tree.group]), persistent=False)
        self._levels = [(int(starts[d]), int(starts[d + 1])) for d in range(len(counts))]
        # the same in the padded bucket order of `_grouped_fast`
        self.register_buffer("lvl_parent_perm", self.fast_pos[self.lvl_parent_node], persistent=False)
        self.register_buffer("perm_level_pos", _long(pos[self._fast_slot_group]), persistent=False)

    # ---- input checks ---------------------------------------------------------------------------------
    def _rows(self, logits: Tensor) -> tuple[Tensor, torch.Size]:
        self._check(logits)
        return logits.reshape(-1, self.num_nodes), logits.shape[:-1]

    def _check(self, logits: Tensor) -> None:
        if not isinstance(logits, Tensor):
            raise TypeError(f"TreeSoftmax: logits must be a tensor, got {type(logits).__name__}")
        if not logits.is_floating_point():
            raise ValueError(f"TreeSoftmax: logits must be floating point, got {logits.dtype}")
        if logits.dim() == 0 or logits.shape[-1] != self.num_nodes:
            raise ValueError(
                f"TreeSoftmax: logits have shape {tuple(logits.shape)}, but the last dimension must equal the "
                f"tree's {self.num_nodes} nodes"
            )
        if logits.device != self.parent.device:
            raise ValueError(
                f"TreeSoftmax: logits are on {logits.device} but the module is on {self.parent.device} "
                f"(move it with .to(device))"
            )

    @staticmethod
    def _cdtype(x: Tensor) -> torch.dtype:
        return torch.float64 if x.dtype == torch.float64 else torch.float32

    def _nodes(
        self, nodes: NodeIndices, lead: torch.Size, what: str, device: torch.device, ignore_index: int | None = None
    ) -> Tensor:
        nodes = torch.as_tensor(nodes, device=device)
        if nodes.is_floating_point() or nodes.is_complex() or nodes.dtype == torch.bool:
            raise ValueError(f"TreeSoftmax: {what} must be integer node indices, got {nodes.dtype}")
        try:
            nodes = torch.broadcast_to(nodes.long(), lead)
        except RuntimeError:
            raise ValueError(
                f"TreeSoftmax: {what} of shape {tuple(nodes.shape)} do not match the logits' leading shape "
                f"{tuple(lead)}"
            ) from None
        flat = nodes.reshape(-1)
        check = flat if ignore_index is None else flat[flat != ignore_index]
        bad = (check < 0) | (check >= self.num_nodes)
        if bool(bad.any()):
            extra = "" if ignore_index is None else f" (and not ignore_index={ignore_index})"
            raise ValueError(
                f"TreeSoftmax: {what} must be node indices in [0, {self.num_nodes}){extra}; got {int(check[bad][0])}"
            )
        return flat

    # ---- all-node probabilities -----------------------------------------------------------------------
    def _grouped(self, xn: Tensor, out: Tensor, kind: str, d: int) -> Tensor:
        """Write the per-group (log-)softmax of `xn`, whose nodes lie along dim `d`, into `out` (same shape);
        for kind "abs" turn it into absolute log-probabilities."""
        fn = torch.softmax if kind == "cond" else torch.log_softmax
        pre, post = xn.shape[:d], xn.shape[d + 1 :]
        for s, member_major, a, b in self._buckets:
            idx = self.perm[a:b]
            xb = xn.index_select(d, idx).to(out.dtype)
            if member_major:
                r = fn(xb.view(*pre, s, (b - a) // s, *post), d)
            else:
                r = fn(xb.view(*pre, (b - a) // s, s, *post), d + 1)
            out.index_copy_(d, idx, r.view(xb.shape))
        if kind == "abs":
            out = self._absolute(out, d)
        return out

    def _absolute(self, lc: Tensor, d: int) -> Tensor:
        # log P(j) = log P(j | parent) + c[group(j)], c[g] = log P(parent of g), filled one level at a time
        a0, b0 = self._levels[0]
        blocks = [lc.new_zeros((*lc.shape[:d], b0 - a0, *lc.shape[d + 1 :]))]
        for a, b in self._levels[1:]:
            up = lc.index_select(d, self.lvl_parent_node[a:b])
            blocks.append(up + blocks[-1].index_select(d, self.lvl_parent_local[a:b]))
        c = torch.cat(blocks, d)
        return lc.add_(c.index_select(d, self.node_level_pos))  # in place: nothing saved lc for backward

    def _grouped_fast(self, xn: Tensor, kind: str) -> Tensor:
        """No-grad `_grouped` for a node-major (N, ...) tensor, returned as (N, m) in the compute dtype: one
        gather into the padded bucket order, then each bucket's (log-)softmax goes straight into its slice."""
        op = torch.softmax if kind == "cond" else torch.log_softmax  # public out= variants: no temporaries
        xp = xn.index_select(0, self.fast_src).to(self._cdtype(xn))
        xp = xp.view(xp.shape[0], -1).index_fill_(0, self.fast_pad, float("-inf"))
        res = torch.empty_like(xp)
        m = xp.shape[1]
        for s, member_major, a, b in self._fast_buckets:
            shape, dim = ((s, (b - a) // s, m), 0) if member_major else (((b - a) // s, s, m), 1)
            op(xp[a:b].view(shape), dim, out=res[a:b].view(shape))
        if kind == "abs":
            a0, b0 = self._levels[0]
            blocks = [res.new_zeros((b0 - a0, m))]
            for a, b in self._levels[1:]:
                up = res.index_select(0, self.lvl_parent_perm[a:b])
                blocks.append(up.add_(blocks[-1].index_select(0, self.lvl_parent_local[a:b])))
            res.add_(torch.cat(blocks, 0).index_select(0, self.perm_level_pos))
        return res.index_select(0, self.fast_pos)

    @staticmethod
    def _chunk(x: Tensor) -> int:
        # chunks keep CPU temporaries cache-warm and out of fresh (page-faulting) allocations; a GPU wants
        # few large kernels instead
        return _CHUNK_ELEMENTS if x.device.type == "cpu" else 1 << 62

    def _all_nodes(self, logits: Tensor, kind: str, keep_dtype: bool = True) -> Tensor:
        """Per-group softmax ("cond"), log-softmax ("log") or absolute log-probabilities ("abs") of all nodes.

        Every group reduction runs over an outer axis and vectorises over rows: node-major inputs (last-dim
        stride != 1, e.g. a movedim view of a region output) are used in their own layout; row-major ones
        are processed in chunks of rows (temporaries stay small and cache-warm), each transposed to
        node-major and back.
        """
        self._check(logits)
        n = self.num_nodes
        cdt = self._cdtype(logits)
        odt = logits.dtype if keep_dtype else cdt
        lead = logits.shape[:-1]
        fast = not (torch.is_grad_enabled() and logits.requires_grad)
        if logits.dim() > 1 and logits.stride(-1) != 1:
            strides = logits.stride()
            order = sorted(range(logits.dim()), key=lambda i: -strides[i])
            out = torch.empty([logits.shape[i] for i in order], dtype=odt if fast else cdt, device=logits.device)
            out = out.permute([order.index(i) for i in range(logits.dim())])  # same memory order as input
            xn, on = logits.movedim(-1, 0), out.movedim(-1, 0)
            if not fast:
                return self._grouped(xn, on, kind, 0).movedim(0, -1).to(odt)
            step = max(1, self._chunk(logits) // max(1, xn[:, :1].numel()))
            for i in range(0, xn.shape[1], step):
                xc = xn[:, i : i + step]
                on[:, i : i + step] = self._grouped_fast(xc, kind).view(xc.shape)
            return out
        x = logits.reshape(-1, n)
        rows = x.shape[0]
        out = torch.empty((rows, n), dtype=odt, device=logits.device)
        step = max(1, self._chunk(logits) // n)
        for r0 in range(0, rows, step):
            xt = x[r0 : r0 + step].t().contiguous()
            if fast:
                res = self._grouped_fast(xt, kind)
            else:
                res = self._grouped(xt, torch.empty(xt.shape, dtype=cdt, device=xt.device), kind, 0)
            out[r0 : r0 + step] = res.t()
        return out.view(*lead, n)

    def forward(self, logits: Tensor) -> Tensor:
        """Same as `log_conditional` (like `nn.LogSoftmax`, one group at a time)."""
        return self.log_conditional(logits)

    def log_conditional(self, logits: Tensor) -> Tensor:
        """log P(node | parent) for every node: a log-softmax inside each sibling group. Shape (..., N)."""
        return self._all_nodes(logits, "log")

    def darknet_probs(self, logits: Tensor) -> Tensor:
        """P(node | parent) for every node: what Darknet's GPU region layer stores in its class entries."""
        return self._all_nodes(logits, "cond")

    def log_absolute(self, logits: Tensor) -> Tensor:
        """log P(node) for every node (sum of conditional log-probabilities along its path). Shape (..., N)."""
        return self._all_nodes(logits, "abs")

    def probabilities(self, logits: Tensor, absolute: bool = True) -> Tensor:
        """P(node) (absolute=True) or P(node | parent) for every node, in the input dtype."""
        if absolute:
            return self.log_absolute(logits).exp()
        return self.darknet_probs(logits)

    # ---- path-only: per-level conditionals, log P(node) and the loss ------------------------------------
    @property
    def path_tables(self) -> PathTables:
        """The tree's padded path and group tables (`PathTables`), on this module's device."""
        return PathTables(self.path_by_depth, self.members, self.group)

    def path_log_conditional(self, logits: Tensor, nodes: NodeIndices, *, rows: Tensor | None = None) -> Tensor:
        """log P(n_d | n_(d-1)) at every level d = 0..max_depth of each node's root path n_0 (a root) ... n.

        logits (R, N, *cells) with the node axis second, e.g. rows of logits (R, N) or images' class logits
        (R, N, anchors, cells) whose trailing axes share the row's node; nodes (K,) with `rows` (K,) the
        logits row of each (default: one node per row, or one node for every row). Returns
        (K, max_depth + 1, *cells), float32 (float64 stays float64); levels past a node's depth are 0, so
        the sum over the levels is log P(node). Only the sibling groups on the paths are read
        (`PathTables.log_conditional`, which the region loss and its matcher call with tables trimmed to
        their batch). For many rows of one node each, `log_prob` is cheaper (ragged, no padded groups).
        """
        if not isinstance(logits, Tensor) or logits.dim() < 2 or not logits.is_floating_point():
            raise ValueError("TreeSoftmax.path_log_conditional: logits must be a floating tensor (R, N, ...)")
        if logits.shape[1] != self.num_nodes:
            raise ValueError(
                f"TreeSoftmax.path_log_conditional: logits have shape {tuple(logits.shape)}, but axis 1 must equal "
                f"the tree's {self.num_nodes} nodes"
            )
        count = logits.shape[0] if rows is None else rows.numel()
        flat = self._nodes(nodes, torch.Size([count]), "nodes", logits.device)  # one node per row (or one for all)
        logc = self.path_tables.log_conditional(logits, flat, rows=rows)
        keep = (self.path_by_depth[flat] >= 0).view(*flat.shape, -1, *([1] * (logits.dim() - 2)))
        return torch.where(keep, logc, torch.zeros((), dtype=logc.dtype, device=logc.device))

    def _path_log_prob(self, x: Tensor, nodes: Tensor, rows: Tensor | None = None) -> Tensor:
        """log P(nodes[r]) from row rows[r] of x (R, N), touching only the groups on each path.

        One gather of every member of every group on the path (the path nodes are among them), so the
        backward pass is a single zero-filled (R, N) gradient plus a scatter of those few entries.
        """
        n_rows, width = nodes.numel(), self.max_depth + 1
        cdt = self._cdtype(x)
        if rows is None:
            rows = torch.arange(n_rows, device=x.device)
        anc = self.ancestors.index_select(0, nodes).view(-1)  # (R * L): node, parent, ..., -1
        seg_pos = torch.nonzero(anc >= 0).view(-1)  # one segment per (row, path level)
        path = anc.index_select(0, seg_pos)
        g = self.group.index_select(0, path)
        seg, member = expand_segments(self.group_offset.index_select(0, g), self.group_size.index_select(0, g))
        seg_row = seg_pos // width
        elem_row = seg_row.index_select(0, seg)
        flat_idx = (rows * self.num_nodes).index_select(0, elem_row) + member
        xv = x.reshape(-1).index_select(0, flat_idx).to(cdt)
        lse = segment_logsumexp(xv, seg, seg_pos.numel())
        on = torch.nonzero(member == path.index_select(0, seg)).view(-1)  # the path node of each segment
        out = torch.zeros(n_rows, dtype=cdt, device=x.device)
        return out.index_add(0, elem_row.index_select(0, on), xv.index_select(0, on)).index_add(0, seg_row, -lse)

    def log_prob(self, logits: Tensor, nodes: NodeIndices) -> Tensor:
        """Absolute log P(nodes[...]) per row; `nodes` broadcasts to the logits' leading shape."""
        x, lead = self._rows(logits)
        flat = self._nodes(nodes, lead, "nodes", x.device)
        return self._path_log_prob(x, flat).view(lead)

    def loss(
        self,
        logits: Tensor,
        targets: NodeIndices,
        reduction: str = "mean",
        ignore_index: int = -100,
        weight: Tensor | None = None,
    ) -> Tensor:
        """-log P(target) per row (targets may be internal nodes), reduced like `nll_loss`.

        `weight` (N,) scales each row's loss by weight[target]; "mean" divides by the sum of those weights
        (the number of non-ignored rows without weights), so it is NaN when every row is ignored.
        """
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"TreeSoftmax.loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        x, lead = self._rows(logits)
        flat = self._nodes(targets, lead, "targets", x.device, ignore_index)
        keep = torch.nonzero(flat != ignore_index).view(-1)
        nodes = flat[keep]
        per = -self._path_log_prob(x, nodes, keep)
        if weight is not None:
            weight = torch.as_tensor(weight, device=x.device)
            if weight.shape != (self.num_nodes,):
                raise ValueError(
                    f"TreeSoftmax.loss: weight must have shape ({self.num_nodes},), got {tuple(weight.shape)}"
                )
            w = weight.to(per.dtype)[nodes]
            per = per * w
        if reduction == "none":
            out = per.new_zeros(flat.numel()).index_put((keep,), per)
            return out.view(lead)
        total = per.sum()
        if reduction == "sum":
            return total
        denom = w.sum() if weight is not None else per.new_tensor(float(keep.numel()))
        return total / denom

    # ---- prediction ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self, logits: Tensor, threshold: float = 0.5, mode: str = "paper", *, probs: bool = False
    ) -> TreePrediction:
        """Top-down walk from the root group, vectorised over rows (one step per tree level).

        paper: take the most likely child while P(child) = product of conditional probabilities on the path
        stays > threshold; stop at the last node that passed (the best root if none does).
        darknet: Darknet's `hierarchy_top_prediction` on already-absolute probabilities, so its running
        product multiplies absolute probabilities (ancestors counted again at every level), reproduced
        exactly. `prob` is always the returned node's absolute probability (NaN if the walk met a NaN).
        `probs=True` means the input already holds conditional probabilities (e.g. `darknet_probs`).
        """
        if mode not in ("paper", "darknet"):
            raise ValueError(f"TreeSoftmax.predict: mode must be 'paper' or 'darknet', got {mode!r}")
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"TreeSoftmax.predict: threshold must lie in [0, 1], got {threshold}")
        self._check(logits)
        lead = logits.shape[:-1]
        # the walk reads only the groups it visits, straight from the input's memory (any layout, no copy:
        # e.g. the class entries of a whole region output, node axis strided)
        base, flat, step = _row_offsets(logits)
        cdt, dev = self._cdtype(logits), logits.device
        n = base.numel()
        node = torch.zeros(n, dtype=torch.long, device=dev)
        prob = torch.ones(n, dtype=cdt, device=dev)  # absolute P of the current node
        run = torch.ones(n, dtype=cdt, device=dev)  # Darknet's running product p (== prob in paper mode)
        nan = torch.zeros(n, dtype=torch.bool, device=dev)
        rows = torch.arange(n, device=dev)
        grp = torch.zeros(n, dtype=torch.long, device=dev)
        for level in range(self.max_depth + 1):
            if rows.numel() == 0:
                break
            k = rows.numel()
            seg, member = expand_segments(self.group_offset[grp], self.group_size[grp])
            xv = flat.index_select(0, base[rows[seg]] + member * step).to(cdt)
            if probs:
                cond = xv
            else:
                lse = segment_logsumexp(xv, seg, k)
                cond = torch.exp(xv - lse[seg])
            absv = cond * prob[rows][seg]  # Darknet's x[j] * x[parent[j]]
            seg_nan = torch.zeros(k, dtype=torch.int32, device=dev).index_add_(0, seg, torch.isnan(absv).int())
            nan[rows] |= seg_nan > 0
            if mode == "paper":  # most likely child by its conditional probability, first on ties
                _, first = segment_first_argmax(cond, seg, k)
                found = first < absv.numel()
                best_v = absv[first.clamp(max=max(absv.numel() - 1, 0))]
                cand = best_v
            else:  # strict '>' scan from (max=0, max_i=0) that skips NaN
                best_v, first = segment_first_argmax(torch.nan_to_num(absv, nan=0.0), seg, k)
                found = best_v > 0
                cand = run[rows] * best_v
            first = first.clamp(max=max(absv.numel() - 1, 0))
            best = torch.where(found, member[first], torch.zeros_like(first))
            best_v = torch.where(found, best_v, torch.zeros_like(best_v))
            ok = (cand > threshold) & found
            if level == 0:
                # both rules return the best root when even it fails the threshold (Darknet: max_i, else 0)
                root_p = torch.where(found, best_v, absv[first])
                node[rows] = best
                prob[rows] = root_p
            node[rows] = torch.where(ok, best, node[rows])
            prob[rows] = torch.where(ok, best_v, prob[rows])
            run[rows] = torch.where(ok, cand if mode == "darknet" else best_v, run[rows])
            nxt = self.child_group[best]
            go = ok & (nxt >= 0)
            rows, grp = rows[go], nxt[go]
        prob = torch.where(nan, torch.full_like(prob, float("nan")), prob)
        return TreePrediction(node.view(lead), prob.view(lead), self.depth[node].view(lead))

    def topk(self, logits: Tensor, k: int, leaves_only: bool = False) -> tuple[Tensor, Tensor]:
        """The k most probable nodes (by absolute probability) per row: (probs, nodes), each (..., k)."""
        x, lead = self._rows(logits)
        avail = int(self.is_leaf.sum()) if leaves_only else self.num_nodes
        if not 1 <= int(k) <= avail:
            raise ValueError(f"TreeSoftmax.topk: k must lie in [1, {avail}], got {k}")
        la = self._all_nodes(x, "abs", keep_dtype=False)
        if leaves_only:
            la = la.masked_fill(~self.is_leaf, float("-inf"))
        vals, idx = la.topk(int(k), dim=1)
        return vals.exp().view(*lead, int(k)), idx.view(*lead, int(k))

    def inspect(self, logits: Tensor, node: int | str | None = None, threshold: float = 0.5) -> pd.DataFrame:
        """A pandas DataFrame explaining one prediction.

        One row per member of every sibling group on the path to `node` (default: the paper-mode prediction
        at `threshold`), then the group of `node`'s own children: level, group, node, wnid (the node's
        id), name, on_path, conditional and absolute probability, rank among siblings (1 = most probable).
        """
        import pandas as pd

        if not isinstance(logits, Tensor) or logits.dim() != 1:
            raise ValueError("TreeSoftmax.inspect: logits must be a 1-d tensor of one prediction's N logits")
        with torch.no_grad():
            lc = self.log_conditional(logits).double().cpu().numpy()
            la = self.log_absolute(logits).double().cpu().numpy()
            if node is None:
                node = int(self.predict(logits, threshold).node)
        node = self.tree.index(node)
        path = self.tree.path(node)
        groups = [int(self.tree.group[p]) for p in path]
        below = int(self.tree.child_group[node])
        if below >= 0:
            groups.append(below)
        records = []
        on = set(path)
        for g in groups:
            off, size = int(self.tree.group_offset[g]), int(self.tree.group_size[g])
            members = np.arange(off, off + size)
            order = np.argsort(-lc[members], kind="stable")
            rank = np.empty(size, dtype=np.int64)
            rank[order] = np.arange(1, size + 1)
            for m, r in zip(members, rank):
                records.append(
                    {
                        "level": int(self.tree.depth[m]),
                        "group": g,
                        "node": int(m),
                        "wnid": self.tree.ids[m],
                        "name": self.tree.names[m],
                        "on_path": int(m) in on,
                        "conditional": float(np.exp(lc[m])),
                        "absolute": float(np.exp(la[m])),
                        "rank": int(r),
                    }
                )
        return pd.DataFrame.from_records(records)

    def extra_repr(self) -> str:
        return f"nodes={self.num_nodes}, groups={self.num_groups}, max_depth={self.max_depth}"
