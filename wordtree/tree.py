"""The immutable WordTree: node order, sibling groups and the index arrays the tree softmax needs.

Node order keeps Darknet's two invariants: a parent comes before its children, and the children of a
node are contiguous (one softmax group). Darknet starts a new group whenever the parent index changes
between consecutive lines, so a tree that breaks contiguity would be silently split into extra groups.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

#: the shape of a WordNet noun id (``n`` + 8 digits, the synset's offset): a node with such an id comes from
#: WordNet; any other id is a user id (``/m/0bl9f``, ``acme:widget-3``)
WORDNET_ID_RE = re.compile(r"n\d{8}")
#: Darknet reads a `.tree` line's id with ``sscanf("%s")`` into a 256-byte buffer: a longer id overflows it
MAX_ID_BYTES = 255


_WARNED: set[str] = set()


def warn_renamed(old: str, new: str) -> None:
    """One DeprecationWarning per process for the old name `old` of `new` (kept for one release)."""
    if old in _WARNED:
        return
    _WARNED.add(old)
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}", DeprecationWarning, stacklevel=3
    )


def is_wordnet_id(node_id: str) -> bool:
    """True when `node_id` is shaped like a WordNet noun id (``n02084071``)."""
    return WORDNET_ID_RE.fullmatch(node_id) is not None


def id_problem(node_id: str) -> str | None:
    """Why `node_id` cannot identify a tree node (None when it can): empty, whitespace or control characters
    (they would split or break a Darknet `.tree` line), or longer than Darknet's id buffer."""
    if not node_id:
        return "empty id"
    bad = [c for c in node_id if c.isspace() or unicodedata.category(c).startswith("C")]
    if bad:
        return f"id {node_id!r} holds whitespace or a control character ({bad[0]!r})"
    if len(node_id.encode("utf-8")) > MAX_ID_BYTES:
        return f"id {node_id[:40]!r}... is longer than {MAX_ID_BYTES} bytes (Darknet's id buffer)"
    return None


class TreeError(ValueError):
    """A tree whose arrays break an invariant; `problems` lists every one found."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{where}{self.problems[0]}{more}" if self.problems else f"{where}invalid tree")


@dataclass(frozen=True, init=False)
class LabelMap:
    """How one dataset's labels map onto tree nodes: label k (in dataset order) -> node id (`ids`: WordNet or
    user ids).

    `wnids` (attribute and keyword) is the deprecated old name of `ids`, removed in the next release."""

    source: str
    labels: tuple[str, ...]
    ids: tuple[str, ...]

    def __init__(
        self,
        source: str,
        labels: Sequence[str],
        ids: Sequence[str] | None = None,
        *,
        wnids: Sequence[str] | None = None,
    ) -> None:
        if wnids is not None:
            warn_renamed("LabelMap(wnids=...)", "LabelMap(ids=...)")
            if ids is not None:
                raise TypeError("LabelMap: pass ids (wnids is its deprecated old name), not both")
            ids = wnids
        if ids is None:
            raise TypeError("LabelMap() missing required argument 'ids'")
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "labels", tuple(labels))
        object.__setattr__(self, "ids", tuple(ids))
        if len(self.labels) != len(self.ids):
            raise ValueError(f"label map {self.source!r}: {len(self.labels)} labels but {len(self.ids)} ids")

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "wnids" in state:  # pickled before the rename
            state = {**state, "ids": state.pop("wnids")}
        self.__dict__.update(state)

    @property
    def wnids(self) -> tuple[str, ...]:
        """Deprecated old name of `ids` (removed in the next release)."""
        warn_renamed("LabelMap.wnids", "LabelMap.ids")
        return self.ids


def id_problems(ids: Sequence[str]) -> list[tuple[int, str, int | None]]:
    """(position, what is wrong, position of the first use for a duplicate, else None) for every id that cannot
    identify a node (`id_problem`) or repeats an earlier one; empty ids (a syntax problem of their own) are
    skipped. Each file format words the positions its own way."""
    out: list[tuple[int, str, int | None]] = []
    seen: dict[str, int] = {}
    for i, w in enumerate(ids):
        bad = id_problem(w) if w else None
        if bad:
            out.append((i, bad, None))
        elif w in seen:
            out.append((i, f"duplicate id {w}", seen[w]))
        elif w:
            seen[w] = i
    return out


def distinct_source(base: str, used: set[str]) -> str:
    """`base`, else base2, base3, ...: the first name not in `used` (which it joins), so that label maps from
    sources of the same name (two folders called "train", a file coco.csv beside --coco) stay apart."""
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}{k}"
    used.add(name)
    return name


def find_problems(parent: np.ndarray | Sequence[int]) -> list[str]:
    """Every broken invariant of a Darknet-style parent array, one message per problem (line = node index)."""
    problems: list[str] = []
    n = len(parent)
    seen_parents: set[int] = set()
    prev = -1
    for i, p in enumerate(parent):
        p = int(p)
        if p < -1 or p >= n:
            problems.append(f"line {i + 1}: parent index {p} out of range [-1, {n - 1}]")
            continue
        if p == i:
            problems.append(f"line {i + 1}: node is its own parent (cycle)")
            continue
        if p > i:
            problems.append(f"line {i + 1}: parent {p} (line {p + 1}) comes after its child")
        if p != prev:
            if p in seen_parents:
                problems.append(
                    f"line {i + 1}: children of node {p} are not contiguous "
                    f"(Darknet would split them into separate softmax groups)"
                )
            seen_parents.add(p)
        prev = p
    if not problems:
        return problems
    # cycles can only exist when some parent comes after its child
    parr = np.asarray(parent, dtype=np.int64)
    ok = (parr >= -1) & (parr < n)
    state = np.zeros(n, dtype=np.int8)  # 0 unvisited, 1 on stack, 2 done
    for start in range(n):
        if state[start]:
            continue
        chain = []
        node = start
        while node >= 0 and ok[node] and state[node] == 0:
            state[node] = 1
            chain.append(node)
            node = int(parr[node])
        if node >= 0 and ok[node] and state[node] == 1 and parr[node] != node:
            cyc = chain[chain.index(node) :]
            problems.append(f"line {node + 1}: cycle through lines {', '.join(str(c + 1) for c in cyc)}")
        for c in chain:
            state[c] = 2
    return problems


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class WordTree:
    """A label hierarchy in Darknet layout: node i has `parent[i]` (-1 for roots), siblings contiguous.

    Each node has an id (`ids`: a WordNet id such as ``n02084071`` or a user id such as ``/m/0bl9f``;
    `is_wordnet` tells which), a display name (`names`) and an index. `wnids` (attribute and keyword) is the
    deprecated old name of `ids`, removed in the next release.

    Arrays (numpy, read-only, int64): `parent`, `group` (softmax group of each node), `group_offset`,
    `group_size`, `group_parent`, `child_group` (group of a node's children, -1 for leaves), `depth`
    (roots 0), `ancestors` (N x (max_depth+1): the node, its parent, ... padded with -1).

    `derived` (dict): values derived from this tree by other packages (device tensors, softmax modules), e.g.
    keyed by (name, device str); dropped with the tree, and never compared, pickled or saved.
    """

    def __init__(
        self,
        ids: Sequence[str] | None = None,
        parent: np.ndarray | Sequence[int] | None = None,
        names: Sequence[str] | None = None,
        *,
        label_maps: Iterable[LabelMap] = (),
        targets: Iterable[str] | None = None,
        source: str | None = None,
        wnids: Sequence[str] | None = None,
    ) -> None:
        if wnids is not None:
            warn_renamed("WordTree(wnids=...)", "WordTree(ids=...)")
            if ids is not None:
                raise TypeError("WordTree: pass ids (wnids is its deprecated old name), not both")
            ids = wnids
        if ids is None or parent is None:
            raise TypeError("WordTree() needs the node ids and their parent indices")
        node_ids = [str(w) for w in ids]
        if len(node_ids) == 0:
            raise TreeError(["tree has no nodes"], source)
        if len(parent) != len(node_ids):
            raise TreeError([f"{len(node_ids)} ids but {len(parent)} parents"], source)
        name_list = list(node_ids) if names is None else [str(s) for s in names]
        if len(name_list) != len(node_ids):
            raise TreeError([f"{len(node_ids)} nodes but {len(name_list)} names"], source)
        problems = find_problems(parent)
        problems += [f"line {i + 1}: empty id" for i, w in enumerate(node_ids) if not w]
        problems += [
            f"line {i + 1}: {what}" + (f" (first on line {j + 1})" if j is not None else "")
            for i, what, j in id_problems(node_ids)
        ]
        problems += [
            f"line {i + 1}: name {n!r} holds a line break (Darknet's .names has one name per line)"
            for i, n in enumerate(name_list)
            if "\n" in n or "\r" in n
        ]
        if problems:
            raise TreeError(problems, source)
        self._ids = tuple(node_ids)
        self._names = tuple(name_list)
        self._index = {w: i for i, w in enumerate(node_ids)}
        self._build_arrays(np.asarray(parent, dtype=np.int64))
        self._label_maps: dict[str, LabelMap] = {}
        for m in label_maps:
            self._add_label_map(m)
        tset = set(targets) if targets is not None else set()
        unknown = sorted(tset - self._index.keys())
        if unknown:
            raise TreeError([f"target {w} is not a node of the tree" for w in unknown], source)
        self._is_target = _frozen(np.array([w in tset for w in node_ids], dtype=bool))
        self.derived: dict[Any, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("derived", None)  # device tensors and modules: rebuilt on demand, never carried along
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_wnids" in state:  # pickled before the rename
            state = {**state, "_ids": state.pop("_wnids")}
        self.__dict__.update(state)
        self.derived = {}

    # ---- construction -------------------------------------------------------------------------
    def _build_arrays(self, parent: np.ndarray) -> None:
        n = len(parent)
        # group = maximal run of equal parent values (Darknet's read_tree rule)
        starts = np.ones(n, dtype=bool)
        starts[1:] = parent[1:] != parent[:-1]
        group = np.cumsum(starts) - 1
        group_offset = np.flatnonzero(starts)
        group_size = np.diff(np.append(group_offset, n))
        group_parent = parent[group_offset]
        child_group = np.full(n, -1, dtype=np.int64)
        has_parent = group_parent >= 0
        child_group[group_parent[has_parent]] = np.flatnonzero(has_parent)
        depth = np.zeros(n, dtype=np.int64)
        for i in range(n):  # parents come first, so one forward pass suffices
            if parent[i] >= 0:
                depth[i] = depth[parent[i]] + 1
        max_depth = int(depth.max())
        anc = np.full((n, max_depth + 1), -1, dtype=np.int64)
        anc[:, 0] = np.arange(n)
        for k in range(1, max_depth + 1):
            prev = anc[:, k - 1]
            valid = prev >= 0
            anc[valid, k] = parent[prev[valid]]
        self.parent = _frozen(parent.copy())
        self.group = _frozen(group.astype(np.int64))
        self.group_offset = _frozen(group_offset.astype(np.int64))
        self.group_size = _frozen(group_size.astype(np.int64))
        self.group_parent = _frozen(group_parent.astype(np.int64))
        self.child_group = _frozen(child_group)
        self.depth = _frozen(depth)
        self.ancestors = _frozen(anc)

    def _add_label_map(self, m: LabelMap) -> None:
        missing = [w for w in m.ids if w not in self._index]
        if missing:
            raise TreeError([f"label map {m.source!r}: id {w} is not in the tree" for w in missing])
        self._label_maps[m.source] = m

    @classmethod
    def from_edges(
        cls,
        parent_of: Mapping[str, str | None],
        names: Mapping[str, str] | None = None,
        *,
        sibling_key: Callable[[str], Any] | None = None,
        label_maps: Iterable[LabelMap] = (),
        targets: Iterable[str] | None = None,
    ) -> WordTree:
        """Lay out a child -> parent mapping in Darknet's pre-order group layout.

        Roots form the first block; then, recursively, each node's children are written as one block.
        Siblings are ordered by `sibling_key(id)` (default: the id), so equal input gives equal output.
        """
        key: Callable[[str], Any] = sibling_key or (lambda w: w)
        kids: dict[str | None, list[str]] = {}
        for child, par in parent_of.items():
            if par is not None and par not in parent_of:
                raise TreeError([f"node {child}: parent {par} is not a node of the tree"])
            kids.setdefault(par, []).append(child)
        order: list[str] = []
        parent_idx: list[int] = []
        pos: dict[str, int] = {}
        queue: list[str | None] = [None]  # a stack gives the pre-order of blocks Darknet's 9k.tree uses
        while queue:
            node = queue.pop()
            block = sorted(kids.get(node, []), key=key)
            pidx = -1 if node is None else pos[node]
            for c in block:
                pos[c] = len(order)
                order.append(c)
                parent_idx.append(pidx)
            queue.extend(reversed(block))
        if len(order) != len(parent_of):
            lost = sorted(set(parent_of) - set(order))
            raise TreeError([f"node {w} is on a cycle and never reaches a root" for w in lost])
        nm = [names.get(w, w) for w in order] if names else None
        return cls(order, parent_idx, nm, label_maps=label_maps, targets=targets)

    # ---- basic accessors ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"WordTree({len(self)} nodes, {self.num_groups} groups, max depth {self.max_depth})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WordTree):
            return NotImplemented
        return self._ids == other._ids and self._names == other._names and np.array_equal(self.parent, other.parent)

    __hash__ = None  # type: ignore[assignment]

    @property
    def ids(self) -> tuple[str, ...]:
        """Node ids in node order (the identity of each node): WordNet ids and user ids."""
        return self._ids

    @property
    def wnids(self) -> tuple[str, ...]:
        """Deprecated old name of `ids` (removed in the next release)."""
        warn_renamed("WordTree.wnids", "WordTree.ids")
        return self._ids

    @property
    def is_wordnet(self) -> np.ndarray:
        """Boolean mask of nodes whose id is a WordNet id (the others carry user ids)."""
        mask = self.__dict__.get("_is_wordnet")
        if mask is None:  # computed on first use (also for trees pickled before user ids existed)
            mask = self.__dict__["_is_wordnet"] = _frozen(np.array([is_wordnet_id(w) for w in self._ids], dtype=bool))
        return mask

    @property
    def names(self) -> tuple[str, ...]:
        """Display names in node order (not unique: identify nodes by index or id)."""
        return self._names

    @property
    def fingerprint(self) -> str:
        """The tree's identity for files made with it: sha256 over "id parent\\n" lines (Darknet's .tree
        layout, parent = node index, -1 for roots), first 16 hex digits; names and label maps do not count."""
        fp = self.__dict__.get("_fingerprint")
        if fp is None:
            text = "".join(f"{w} {int(p)}\n" for w, p in zip(self._ids, self.parent))
            fp = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
            self.__dict__["_fingerprint"] = fp
        return fp

    @property
    def num_groups(self) -> int:
        """Number of softmax (sibling) groups."""
        return len(self.group_offset)

    @property
    def max_depth(self) -> int:
        """Depth of the deepest node (roots have depth 0)."""
        return self.ancestors.shape[1] - 1

    @property
    def is_leaf(self) -> np.ndarray:
        """Boolean mask of nodes without children."""
        return self.child_group < 0

    @property
    def is_target(self) -> np.ndarray:
        """Boolean mask of nodes that were requested targets when the tree was built (all False if unknown)."""
        return self._is_target

    @property
    def targets(self) -> tuple[str, ...]:
        """Ids of the builder's target nodes, in node order."""
        return tuple(w for w, t in zip(self._ids, self._is_target) if t)

    @property
    def roots(self) -> np.ndarray:
        """Indices of the top-level nodes (group 0)."""
        return np.flatnonzero(self.parent < 0)

    @property
    def label_maps(self) -> dict[str, LabelMap]:
        """Dataset label maps saved with the tree, by source name."""
        return dict(self._label_maps)

    def index(self, key: str | int) -> int:
        """Node index of a node id (or a node index, checked)."""
        if isinstance(key, (int, np.integer)):
            if not 0 <= int(key) < len(self):
                raise IndexError(f"node index {key} out of range for a tree of {len(self)} nodes")
            return int(key)
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"{key!r} is not a node of this tree") from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._index

    def find(self, name: str) -> list[int]:
        """All nodes whose display name equals `name` (names repeat, hence a list)."""
        return [i for i, s in enumerate(self._names) if s == name]

    def path(self, node: str | int) -> list[int]:
        """Node indices from the root down to `node` (inclusive)."""
        row = self.ancestors[self.index(node)]
        return [int(x) for x in row[row >= 0][::-1]]

    def children(self, node: str | int) -> list[int]:
        """Child indices of `node` (one contiguous block)."""
        g = self.child_group[self.index(node)]
        if g < 0:
            return []
        off = int(self.group_offset[g])
        return list(range(off, off + int(self.group_size[g])))

    def siblings(self, node: str | int) -> list[int]:
        """All members of `node`'s softmax group, itself included."""
        g = self.group[self.index(node)]
        off = int(self.group_offset[g])
        return list(range(off, off + int(self.group_size[g])))

    def subtree(self, node: str | int) -> list[int]:
        """`node` and all its descendants, in node order."""
        i = self.index(node)
        return [int(x) for x in np.flatnonzero((self.ancestors == i).any(axis=1))]

    def is_ancestor(self, ancestor: str | int, node: str | int) -> bool:
        """True if `ancestor` is `node` or lies on its path to the root."""
        return bool((self.ancestors[self.index(node)] == self.index(ancestor)).any())

    def label_map(self, source: str) -> list[int]:
        """Node index of each label of `source`, in dataset label order (Darknet's `.map` content)."""
        m = self._label_maps[source]
        return [self._index[w] for w in m.ids]

    def with_label_maps(self, maps: Iterable[LabelMap]) -> WordTree:
        """A copy of this tree that also carries `maps` (replacing maps of the same source)."""
        merged = dict(self._label_maps)
        for m in maps:
            merged[m.source] = m
        return WordTree(
            self._ids,
            self.parent,
            self._names,
            label_maps=merged.values(),
            targets=self.targets,
        )

    # ---- exports ------------------------------------------------------------------------------------
    def to_networkx(self) -> nx.DiGraph:
        """A `networkx.DiGraph` with edges parent -> child; nodes are indices with id/wnid/name attributes."""
        import networkx as nx

        g: nx.DiGraph = nx.DiGraph()
        for i, (w, s) in enumerate(zip(self._ids, self._names)):
            g.add_node(i, id=w, wnid=w, name=s, depth=int(self.depth[i]))
        kids = np.flatnonzero(self.parent >= 0)
        g.add_edges_from(zip(self.parent[kids].tolist(), kids.tolist()))
        return g

    def to_frame(self) -> pd.DataFrame:
        """A pandas DataFrame with one row per node: id (and wnid), wordnet, name, parent, depth, group, leaf,
        target."""
        import pandas as pd

        return pd.DataFrame(
            {
                "id": self._ids,
                "wnid": self._ids,
                "wordnet": self.is_wordnet,
                "name": self._names,
                "parent": self.parent,
                "depth": self.depth,
                "group": self.group,
                "n_children": np.where(self.child_group >= 0, self.group_size[self.child_group], 0),
                "leaf": self.is_leaf,
                "target": self._is_target,
            }
        ).rename_axis("node")

    def summary(self) -> dict[str, int]:
        """Headline statistics: nodes, groups, depth, largest group, leaves and targets."""
        leaf = self.is_leaf
        tgt = self._is_target
        return {
            "nodes": len(self),
            "groups": self.num_groups,
            "roots": int((self.parent < 0).sum()),
            "max_depth": self.max_depth,
            "largest_group": int(self.group_size.max()),
            "leaves": int(leaf.sum()),
            "targets": int(tgt.sum()),
            "target_leaves": int((tgt & leaf).sum()),
            "target_internal": int((tgt & ~leaf).sum()),
            "one_child_nodes": int(((self.child_group >= 0) & (self.group_size[self.child_group] == 1)).sum()),
        }

    # ---- persistence (implemented in wordtree.formats; thin wrappers here) ---------------------------
    def save(self, path: str | Path) -> None:
        """Write this tree (and its label maps) as our JSON format."""
        from wordtree.formats import save_json

        save_json(self, path)

    @classmethod
    def load(cls, path: str | Path) -> WordTree:
        """Read a tree saved with `save`."""
        from wordtree.formats import load_json

        return load_json(path)

    @classmethod
    def from_darknet(cls, tree_file: str | Path, names_file: str | Path | None = None) -> WordTree:
        """Read Darknet's `.tree` (and optionally `.names`) files."""
        from wordtree.formats import read_darknet

        return read_darknet(tree_file, names_file)

    def to_darknet(self, directory: str | Path, stem: str = "tree") -> dict[str, str]:
        """Write `<stem>.tree/.names/.labels` and one `<source>.map` per label map; returns the paths."""
        from wordtree.formats import write_darknet

        return write_darknet(self, directory, stem)
