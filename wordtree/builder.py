"""Build a WordTree from WordNet for a set of target synsets (YOLO9000 paper, section 4).

The paper's rule: take every hypernym path of every target to the root; add the targets with a single path
first; then, repeatedly, the remaining target whose cheapest path adds the fewest new nodes; finally drop
intermediate nodes that are not targets and have one child. What the paper leaves open is fixed here by the
rules that rebuild Darknet's shipped ``9k.tree`` (see the project's wordtree notes), each an option:

* ``tie_break="names"``: among equally cheap paths take the one whose root-first list of NLTK synset names
  is smallest (what ``min()`` over NLTK synsets gives); ``"first"`` takes the first path in data-file order.
* ``schedule="levels"``: sweep the remaining targets in order, adding each whose cheapest path costs at most
  ``k``; raise ``k`` only when a sweep adds nothing. ``"global"`` always adds the single cheapest target
  next; ``"sequential"`` visits each target once.
* ``cost="path"``: a path costs all its nodes not yet in the tree; ``"prefix"``: only those it would add.
* ``order="wnid"``: targets are visited sorted by wnid (``"given"``: input order).
* ``hoist=True``: a target whose only child is a leaf hands that leaf to its own parent, so they become
  siblings (a one-member softmax group says nothing; this is also how Darknet's tree came out).
* ``keep="root"``: the WordNet root (entity) is not emitted and its children become the top level; a wnid
  keeps only that synset's strict descendants (Darknet: ``physical_entity``), reporting the targets it drops;
  ``None`` keeps everything.
* ``graft``/``name_overrides``: hand re-attachments and display names applied after building; empty by
  default, filled only by an explicit preset such as `darknet_preset()`.

User nodes (`wordtree.hierarchy`: ``--hierarchy`` and ``--graft`` files) join the tree in `build(user=...)`:
each WordNet synset a user node names as its parent is grown like a target (its path chosen by the rules
above) and kept as a node (never collapsed); the user nodes hang below it, user roots stand beside WordNet's
top level, and user nodes that are not targets are collapsed by the same rule.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from wordtree.hierarchy import UserNodes, name_collisions
from wordtree.tree import LabelMap, WordTree
from wordtree.wordnet import SYNSET_NAME_RE, NounGraph, noun_graph

log = logging.getLogger(__name__)

ROOT_KEEP = "root"
TIE_BREAKS = ("names", "first")
SCHEDULES = ("levels", "global", "sequential")
COSTS = ("path", "prefix")
ORDERS = ("wnid", "given")


class TargetError(ValueError):
    """Some requested targets cannot be tree nodes; `problems` lists all of them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        more = f" (+{len(problems) - 1} more; use skip to drop them)" if len(problems) > 1 else ""
        super().__init__(f"invalid target {problems[0]}{more}" if problems else "invalid targets")


@dataclass(frozen=True)
class BuildOptions:
    """Every rule of the builder; the defaults are the general rules that rebuild Darknet's 9k tree."""

    collapse: bool = True
    hoist: bool = True
    tie_break: str = "names"
    schedule: str = "levels"
    cost: str = "path"
    single_path_first: bool = True
    order: str = "wnid"
    keep: str | None = ROOT_KEEP
    graft: tuple[tuple[str, str], ...] = ()
    name_overrides: tuple[tuple[str, str], ...] = ()
    on_invalid: str = "error"

    def __post_init__(self) -> None:
        for val, allowed, what in (
            (self.tie_break, TIE_BREAKS, "tie_break"),
            (self.schedule, SCHEDULES, "schedule"),
            (self.cost, COSTS, "cost"),
            (self.order, ORDERS, "order"),
            (self.on_invalid, ("error", "skip"), "on_invalid"),
        ):
            if val not in allowed:
                raise ValueError(f"{what}={val!r}: expected one of {', '.join(allowed)}")

    def to_dict(self) -> dict:
        """JSON-able form (stored in the tree file's metadata)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["graft"] = [list(x) for x in self.graft]
        d["name_overrides"] = [list(x) for x in self.name_overrides]
        return d


@dataclass
class BuildReport:
    """What the builder did: rejected and dropped targets, counts per step, wall time."""

    requested: int = 0
    invalid: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # valid targets outside the kept subtree
    single_path: int = 0
    decisions: int = 0
    tied_decisions: int = 0
    nodes_before_collapse: int = 0
    collapsed: int = 0
    hoisted: int = 0
    grafted: int = 0
    user_nodes: int = 0
    graft_parents: int = 0
    name_collisions: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """Human-readable report lines (the CLI prints them)."""
        out = [
            f"targets: {self.requested} requested, {len(self.invalid)} invalid, {len(self.dropped)} dropped "
            f"outside the kept subtree",
            f"paths: {self.single_path} single-path targets, {self.decisions} choices "
            f"({self.tied_decisions} cost ties)",
            f"nodes: {self.nodes_before_collapse} before collapse, {self.collapsed} collapsed, "
            f"{self.hoisted} leaves hoisted, {self.grafted} grafted",
        ]
        if self.user_nodes:
            out.append(f"user nodes: {self.user_nodes}, below {self.graft_parents} WordNet synsets")
        out += [f"invalid: {p}" for p in self.invalid]
        out += [f"warning: {w}" for w in self.name_collisions]
        if self.dropped:
            shown = ", ".join(self.dropped[:8])
            out.append(f"dropped: {shown}{' ...' if len(self.dropped) > 8 else ''}")
        return out


# ---- presets -------------------------------------------------------------------------------------------
def data_dir() -> Path:
    """The folder of shipped lists: the package ``wordtree.data`` (``wordtree/data/``, in a checkout and in an
    installed wheel alike). Every reader of those lists goes through here."""
    root = resources.files("wordtree.data")
    # wheels install unpacked, so this is a real folder (a zipped install would need importlib.resources.as_file)
    if not isinstance(root, Path) or not (root / "darknet_compatible.json").is_file():
        raise FileNotFoundError(f"shipped data folder not found (package wordtree.data at {root})")
    return root


def darknet_preset(path: str | Path | None = None) -> BuildOptions:
    """Options that rebuild Darknet's 9k tree: general defaults + ``physical_entity`` roots + its 4 hand edits
    and 3 display-name overrides, read from ``wordtree/data/darknet_compatible.json``."""
    p = Path(path) if path else data_dir() / "darknet_compatible.json"
    try:
        d = json.loads(p.read_text())
        graft = tuple((g["child"], g["parent"]) for g in d["graft"])
        names = tuple((n["wnid"], n["name"]) for n in d["names"])
        opts = dict(d.get("options", {}))
        return BuildOptions(keep=d["keep"], graft=graft, name_overrides=names, **opts)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{p}: not a valid preset file ({exc})") from None


# ---- target validation --------------------------------------------------------------------------------
def normalize_targets(targets: Iterable[str], graph: NounGraph) -> tuple[list[str], list[str]]:
    """Wnids (synset names such as ``dog.n.01`` are resolved), deduplicated in first-seen order, and the
    problems of every target that is not a noun synset."""
    good: list[str] = []
    seen: set[str] = set()
    problems: list[str] = []
    for raw in targets:
        t = str(raw).strip()
        if SYNSET_NAME_RE.match(t) and t not in graph:
            w = graph.wnid_for_name(t)
            if w is None:
                problems.append(f"{t}: no such synset name in WordNet")
                continue
            t = w
        p = graph.problem(t)
        if p:
            problems.append(p)
        elif t not in seen:
            seen.add(t)
            good.append(t)
    return good, problems


# ---- the path-selection phase ----------------------------------------------------------------------------
class _Grower:
    """The growing tree (child -> parent) and the cost of each candidate path against it."""

    def __init__(self, graph: NounGraph, opts: BuildOptions) -> None:
        self.graph = graph
        self.opts = opts
        self.parent: dict[str, str | None] = {}
        self._paths: dict[str, list[tuple[tuple[str, ...], object]]] = {}

    def paths(self, t: str) -> list[tuple[tuple[str, ...], object]]:
        """(path leaf-first, tie key) for every hypernym path of `t`."""
        got = self._paths.get(t)
        if got is None:
            got = []
            for i, p in enumerate(self.graph.hypernym_paths(t)):
                key = tuple(self.graph.names[n] for n in p) if self.opts.tie_break == "names" else i
                got.append((p[::-1], key))
            self._paths[t] = got
        return got

    def cost(self, path: tuple[str, ...]) -> int:
        tree = self.parent
        if self.opts.cost == "path":
            return sum(1 for n in path if n not in tree)
        c = 0
        for n in path:
            if n in tree:
                break
            c += 1
        return c

    def best(self, t: str) -> tuple[int, object, tuple[str, ...], bool]:
        """(cost, tie key, path, whether another path tied on cost)."""
        scored = sorted((self.cost(p), key, p) for p, key in self.paths(t))
        tied = len(scored) > 1 and scored[0][0] == scored[1][0]
        return scored[0][0], scored[0][1], scored[0][2], tied

    def add(self, path: tuple[str, ...]) -> list[str]:
        """Add `path` (leaf first) up to the first node already in the tree; returns the new nodes."""
        tree = self.parent
        new = []
        for i, n in enumerate(path):
            if n in tree:
                break
            tree[n] = path[i + 1] if i + 1 < len(path) else None
            new.append(n)
        return new


def _grow(targets: list[str], graph: NounGraph, opts: BuildOptions, report: BuildReport) -> dict[str, str | None]:
    g = _Grower(graph, opts)
    # every path starts at a root of the graph (entity.n.01 for WordNet): it is in the tree from the start
    for t in targets:
        for p, _ in g.paths(t):
            g.parent.setdefault(p[-1], None)
    rest = targets
    if opts.single_path_first:
        for t in targets:
            ps = g.paths(t)
            if len(ps) == 1:
                g.add(ps[0][0])
                report.single_path += 1
        rest = [t for t in targets if len(g.paths(t)) > 1]
    rest = [t for t in rest if t not in g.parent]

    def take(t: str) -> list[str]:
        c, _, path, tied = g.best(t)
        report.decisions += 1
        report.tied_decisions += tied
        return g.add(path)

    if opts.schedule == "sequential":
        for t in rest:
            if t not in g.parent:
                take(t)
    elif opts.schedule == "levels":
        k = 1
        while rest:
            added = False
            lowest: int | None = None
            for t in rest:
                if t in g.parent:
                    continue
                c = g.best(t)[0]
                if c <= k:
                    take(t)
                    added = True
                elif lowest is None or c < lowest:
                    lowest = c
            rest = [t for t in rest if t not in g.parent]
            if not added and rest:
                assert lowest is not None  # a target left in `rest` was costed above without being added
                k = lowest  # sweeps with k below the cheapest remaining cost would add nothing
    else:  # global: a heap of (cost, position) with lazy updates; costs only fall as the tree grows
        pos = {t: i for i, t in enumerate(rest)}
        users: dict[str, list[str]] = {}
        for t in rest:
            for p, _ in g.paths(t):
                for n in p:
                    users.setdefault(n, []).append(t)
        current = {t: g.best(t)[0] for t in rest}
        heap = [(c, pos[t], t) for t, c in current.items()]
        heapq.heapify(heap)
        while heap:
            c, _, t = heapq.heappop(heap)
            if t in g.parent or c != current[t]:
                continue
            touched = {u for n in take(t) for u in users.get(n, ()) if u not in g.parent}
            for u in sorted(touched, key=pos.__getitem__):
                nc = g.best(u)[0]
                if nc != current[u]:
                    current[u] = nc
                    heapq.heappush(heap, (nc, pos[u], u))
    return g.parent


# ---- post-processing ------------------------------------------------------------------------------------
def _children(parent: Mapping[str, str | None]) -> dict[str | None, list[str]]:
    kids: dict[str | None, list[str]] = {}
    for c, p in parent.items():
        kids.setdefault(p, []).append(c)
    return kids


def _graft(parent: dict[str, str | None], graft: Iterable[tuple[str, str]], report: BuildReport) -> None:
    for child, new_parent in graft:
        if child not in parent or new_parent not in parent:
            continue
        node: str | None = new_parent
        while node is not None:  # refuse an edit that would put a node under its own descendant
            if node == child:
                raise ValueError(f"graft {child} -> {new_parent} would create a cycle")
            node = parent[node]
        parent[child] = new_parent
        report.grafted += 1


def _drop_class_less_roots(parent: dict[str, str | None], targets: set[str]) -> None:
    """Remove the roots of `parent` that are not targets; their children become roots."""
    tops = {n for n, p in parent.items() if p is None and n not in targets}
    for n, p in list(parent.items()):
        if p in tops:
            parent[n] = None
    for t in tops:
        del parent[t]


def _keep(parent: dict[str, str | None], keep: str | None, targets: set[str], report: BuildReport) -> None:
    """Cut the tree to the strict descendants of `keep` (its children become roots); `ROOT_KEEP` removes
    the graph's non-target roots (entity) only; targets cut away are listed in `report.dropped`."""
    if keep is None:
        return
    if keep == ROOT_KEEP:
        _drop_class_less_roots(parent, targets)
        return
    inside: dict[str, bool] = {}
    for n in parent:  # walk up once per node, memoising whole chains
        chain: list[str] = []
        node: str | None = n
        ok = False
        while node is not None and node not in inside:
            chain.append(node)
            if parent[node] == keep:
                ok = True
                break
            node = parent[node]
        else:
            ok = inside.get(node, False) if node is not None else False
        for c in chain:
            inside[c] = ok
    report.dropped.extend(sorted(t for t in targets if t in parent and not inside[t]))
    kept = {n: (None if p == keep else p) for n, p in parent.items() if inside[n]}
    parent.clear()
    parent.update(kept)


def _collapse(parent: dict[str, str | None], targets: set[str], splice: bool, report: BuildReport) -> None:
    """Delete childless non-targets; if `splice`, also splice out one-child non-targets; until stable
    (`targets`: every node to keep)."""
    changed = True
    while changed:
        changed = False
        kids = _children(parent)
        for n in sorted(parent):
            if n in targets or n not in parent:
                continue
            ks = [k for k in kids.get(n, ()) if parent.get(k) == n]
            if not ks:
                del parent[n]
                changed = True
            elif splice and len(ks) == 1:
                parent[ks[0]] = parent[n]
                kids.setdefault(parent[n], []).append(ks[0])
                del parent[n]
                report.collapsed += 1
                changed = True


def _hoist(parent: dict[str, str | None], targets: set[str], report: BuildReport) -> None:
    kids = _children(parent)
    moves = [
        (ks[0], parent[n])
        for n, ks in kids.items()
        if n is not None and n in targets and len(ks) == 1 and ks[0] not in kids
    ]
    for c, p in moves:
        parent[c] = p
    report.hoisted += len(moves)


# ---- public entry points -----------------------------------------------------------------------------
def build(
    targets: Iterable[str],
    options: BuildOptions | None = None,
    *,
    graph: NounGraph | None = None,
    label_maps: Iterable[LabelMap] = (),
    user: UserNodes | None = None,
) -> tuple[WordTree, BuildReport]:
    """Build the tree and say what happened. Raises `TargetError` listing every invalid target unless
    ``options.on_invalid == "skip"`` (then they are skipped and listed in the report).

    `user` (from `wordtree.hierarchy.resolve`) adds user nodes: grafted below WordNet synsets, or a hierarchy
    of their own. With no WordNet targets and no graft, the tree is the user hierarchy alone (no WordNet
    needed: `graph` is not loaded)."""
    opts = options or BuildOptions()
    t0 = time.perf_counter()
    tlist = list(targets)
    if user is not None and not tlist and not user.wordnet_parents:
        return _build_user_only(user, opts, label_maps, t0)
    g = graph if graph is not None else noun_graph()
    report = BuildReport()
    report.requested = len(tlist)
    good, problems = normalize_targets(tlist, g)
    report.invalid = problems
    if problems and opts.on_invalid == "error":
        raise TargetError(problems)
    for p in problems:
        log.warning("skipping invalid target: %s", p)
    # a graft's WordNet parent is grown like a target and kept as a node, but is no target class itself
    anchors = sorted(set(user.wordnet_parents.values()) - set(good)) if user is not None else []
    if not good and not anchors:
        raise ValueError("no valid targets to build a tree from")
    if opts.keep not in (None, ROOT_KEEP) and opts.keep not in g:
        w = g.wnid_for_name(opts.keep) if SYNSET_NAME_RE.match(opts.keep) else None
        if w is None:
            raise ValueError(f"keep={opts.keep!r}: not a noun synset (give a wnid such as n00001930)")
        opts = replace(opts, keep=w)
    order = sorted(good) if opts.order == "wnid" else good
    tset = set(order)
    grown = order + [a for a in anchors if a not in tset]
    parent = _grow(grown, g, opts, report)
    _graft(parent, opts.graft, report)
    _keep(parent, opts.keep, tset | set(anchors), report)
    if user is not None:
        outside = [u for u, w in user.wordnet_parents.items() if w not in parent or w in report.dropped]
        if outside:
            raise ValueError(
                "; ".join(
                    f"{user.nodes[u].where}: {u}: parent {g.name(user.wordnet_parents[u])} lies outside the kept "
                    f"subtree {opts.keep}"
                    for u in outside
                )
            )
        report.dropped = [d for d in report.dropped if d in tset]
    if report.dropped:
        log.warning("%d targets lie outside %s and were dropped", len(report.dropped), opts.keep)
    report.nodes_before_collapse = len(parent)
    _collapse(parent, tset | set(anchors), opts.collapse, report)
    if opts.hoist:
        _hoist(parent, tset, report)
    if not parent:
        raise ValueError(f"no target lies inside the kept subtree {opts.keep}")
    overrides = dict(opts.name_overrides)
    names = {w: overrides.get(w) or g.display_name(w) for w in parent}
    maps = _fit_label_maps(label_maps, parent, opts.on_invalid, set(report.dropped))
    targets_out = [t for t in order if t in parent]
    if user is not None:
        report.graft_parents = len(set(user.wordnet_parents.values()))
        _add_user(parent, names, user, opts, report)
        targets_out += user.targets
        maps += user.label_maps
    tree = WordTree.from_edges(parent, names, targets=targets_out, label_maps=maps)
    report.seconds = time.perf_counter() - t0
    return tree, report


def _add_user(
    parent: dict[str, str | None], names: dict[str, str], user: UserNodes, opts: BuildOptions, report: BuildReport
) -> None:
    """Hang the user nodes into `parent` (below their WordNet synsets, or as roots); collapse those that are
    not targets by the options' rules; warn about display names that collide."""
    own = dict(user.parent)
    keep = set(user.targets)
    if opts.keep == ROOT_KEEP:  # as WordNet's entity: a root that is no class hands its children to the top
        _drop_class_less_roots(own, keep)
    _collapse(own, keep | set(user.wordnet_parents.values()) | set(parent), opts.collapse, report)
    parent.update(own)
    names.update({n: user.nodes[n].name for n in own})
    report.user_nodes = len(own)
    report.name_collisions = name_collisions(names, own)
    for w in report.name_collisions:
        log.warning("%s", w)


def _build_user_only(
    user: UserNodes, opts: BuildOptions, label_maps: Iterable[LabelMap], t0: float
) -> tuple[WordTree, BuildReport]:
    """The tree of a user hierarchy alone (no WordNet node)."""
    report = BuildReport()
    parent: dict[str, str | None] = {}
    names: dict[str, str] = {}
    _add_user(parent, names, user, opts, report)
    if not parent:
        raise ValueError("the hierarchy has no nodes left to build a tree from")
    maps = _fit_label_maps(list(label_maps) + user.label_maps, parent, opts.on_invalid, set())
    tree = WordTree.from_edges(parent, names, targets=[t for t in user.targets if t in parent], label_maps=maps)
    report.seconds = time.perf_counter() - t0
    return tree, report


def _fit_label_maps(
    label_maps: Iterable[LabelMap], parent: Mapping, on_invalid: str, dropped: set[str]
) -> list[LabelMap]:
    """Label maps restricted to the tree: labels of targets dropped by `keep` go (reported in the build
    report); any other label without a node is an error unless invalid targets are being skipped."""
    out = []
    for m in label_maps:
        missing = [(lab, w) for lab, w in zip(m.labels, m.ids) if w not in parent and w not in dropped]
        if missing and on_invalid == "error":
            shown = ", ".join(f"{lab}={w}" for lab, w in missing[:5])
            have = "label has" if len(missing) == 1 else "labels have"
            raise ValueError(f"label map {m.source!r}: {len(missing)} {have} no node in the tree ({shown})")
        gone = sum(1 for w in m.ids if w not in parent)
        if gone:
            log.warning("label map %r: dropping %d labels without a tree node", m.source, gone)
            keep = [(lab, w) for lab, w in zip(m.labels, m.ids) if w in parent]
            m = LabelMap(m.source, tuple(lab for lab, _ in keep), tuple(w for _, w in keep))
        out.append(m)
    return out


def build_wordtree(
    targets: Iterable[str],
    *,
    collapse: bool = True,
    graph: NounGraph | None = None,
    label_maps: Iterable[LabelMap] = (),
    darknet_compatible: bool = False,
    **options: Any,
) -> WordTree:
    """Build a WordTree over `targets` (WordNet ids such as ``"n02084071"`` or names such as ``"dog.n.01"``).

    Keyword options are the fields of `BuildOptions` (hoist, tie_break, schedule, cost, order, keep, graft,
    name_overrides, on_invalid). ``darknet_compatible=True`` starts from `darknet_preset()` instead of the
    defaults. Same inputs give the same tree (siblings ordered by wnid).
    """
    base = darknet_preset() if darknet_compatible else BuildOptions()
    opts = replace(base, collapse=collapse, **options)
    tree, _ = build(targets, opts, graph=graph, label_maps=label_maps)
    return tree
