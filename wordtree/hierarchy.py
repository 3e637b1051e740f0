"""User hierarchies: tree nodes that WordNet lacks, from files, alone or grafted below WordNet synsets.

Two file kinds give user nodes, each node an id, a parent and a display name:

* a CSV with the header ``id,parent,name`` (`read_csv`); for ``--hierarchy`` an empty parent makes a root,
  for ``--graft`` every row needs a parent;
* Open Images' hierarchy JSON (``LabelName`` / ``Subcategory`` nesting) with its class-description CSV
  (``/m/011k07,Tortoise``) for the names (`read_openimages`).

A parent is a WordNet synset (a wnid ``n02686568`` or a synset name ``aircraft.n.01``: that row is a *graft*)
or another user id of any of the files. A user id is any non-empty string without whitespace or control
characters that is not shaped like a WordNet id or synset name (``/m/0bl9f``, ``acme:widget-3``, ``drone``).

`resolve` joins the files into one `UserNodes` and reports every problem of every file at once, each with its
file, line and id: a bad id, a wrong header or row length, a duplicate id, a node given two parents (within a
file or by two files), a missing parent, a WordNet parent that is not a noun synset, a cycle. The builder
(`wordtree.builder.build`) adds the WordNet paths of the graft parents with the paper's rules, keeps each named
parent as a node, and hangs the user nodes below them; user roots stand beside WordNet's top level.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from wordtree.tree import LabelMap, distinct_source, id_problem
from wordtree.wordnet import SYNSET_NAME_RE, WNID_RE, NounGraph

log = logging.getLogger(__name__)

CSV_COLUMNS = ("id", "parent", "name")
KINDS = ("hierarchy", "graft")


class HierarchyError(ValueError):
    """User hierarchy files with problems; `problems` lists every one (``file:line: id: what``)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__((self.problems[0] + more) if self.problems else "invalid hierarchy")


@dataclass(frozen=True)
class UserNode:
    """One row of a hierarchy or graft file: its id, parent token (None for a root), name and place."""

    id: str
    parent: str | None
    name: str
    file: str
    at: int | str  # line (Open Images JSON: of its "LabelName"), or the entry's JSON path where none is found
    target: bool = True

    @property
    def where(self) -> str:
        """Its place for messages: ``file:line`` (or ``file: $.Subcategory[2]``)."""
        return f"{self.file}:{self.at}" if isinstance(self.at, int) else f"{self.file}: {self.at}"


@dataclass
class UserFile:
    """The rows of one file, with the problems found while reading it."""

    path: str
    kind: str
    nodes: list[UserNode] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        """Label-map name of the file's targets: its stem."""
        return Path(self.path).stem or "hierarchy"


@dataclass
class UserNodes:
    """Every user node of all files, checked: its row (`nodes`), resolved parent (user id, wnid, or None),
    targets, label maps."""

    nodes: dict[str, UserNode]
    parent: dict[str, str | None]
    targets: list[str]
    label_maps: list[LabelMap]
    wordnet_parents: dict[str, str]  # user id -> wnid of a WordNet parent (the grafts)

    def __len__(self) -> int:
        return len(self.parent)


def is_wordnet_ref(token: str) -> bool:
    """True when `token` names a WordNet synset: shaped like a wnid (``n02686568``) or a synset name."""
    return bool(WNID_RE.match(token) or SYNSET_NAME_RE.match(token))


def user_id_problem(node_id: str) -> str | None:
    """Why `node_id` cannot be a user id (None when it can)."""
    bad = id_problem(node_id)
    if bad:
        return bad
    if is_wordnet_ref(node_id):
        return (
            f"id {node_id!r} is shaped like a WordNet id or synset name; WordNet nodes come from WordNet "
            f"(name them as a parent to graft below them), a user id must look different"
        )
    return None


# ---- readers -------------------------------------------------------------------------------------------------
def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None


def read_csv(path: str | Path, kind: str = "hierarchy", targets: Iterable[str] | None = None) -> UserFile:
    """The rows of an ``id,parent,name`` CSV (header required, exactly those three columns in any order).

    `kind` "hierarchy" allows an empty parent (a root); "graft" needs one on every row. `targets` (ids) marks
    which rows are target classes (default: all), the others may be collapsed away by the builder."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: expected one of {', '.join(KINDS)}")
    p = Path(path)
    out = UserFile(str(p), kind)
    rows = list(csv.reader(io.StringIO(_text(p))))
    if not rows:
        out.problems.append(f"{p}:1: empty file (expected the header {','.join(CSV_COLUMNS)})")
        return out
    header = [h.strip() for h in rows[0]]
    if sorted(header) != sorted(CSV_COLUMNS):
        missing = [c for c in CSV_COLUMNS if c not in header]
        extra = [c for c in header if c not in CSV_COLUMNS]
        what = "; ".join(
            x for x in (f"missing {', '.join(missing)}" if missing else "", f"extra {extra}" if extra else "") if x
        )
        out.problems.append(
            f"{p}:1: header {','.join(header)!r}: expected the columns {','.join(CSV_COLUMNS)} ({what or 'repeated'})"
        )
        return out
    col = {c: header.index(c) for c in CSV_COLUMNS}
    want = set(targets) if targets is not None else None
    name_line: dict[str, int] = {}  # each name's first line: a class name names one class
    for line, row in enumerate(rows[1:], 2):
        if not row or all(not c.strip() for c in row):
            continue
        cells = [c.strip() for c in row]
        if len(cells) != len(CSV_COLUMNS):
            shown = cells[col["id"]] if len(cells) > col["id"] else cells[0]
            out.problems.append(
                f"{p}:{line}: {shown}: {len(cells)} fields, expected {len(CSV_COLUMNS)} ({','.join(header)})"
            )
            continue
        nid, par, name = cells[col["id"]], cells[col["parent"]], cells[col["name"]]
        bad = user_id_problem(nid)
        if bad:
            out.problems.append(f"{p}:{line}: {bad}")
            continue
        if not par and kind == "graft":
            out.problems.append(f"{p}:{line}: {nid}: a graft needs a parent (a WordNet synset or another id)")
            continue
        if "\n" in name or "\r" in name:
            out.problems.append(f"{p}:{line}: {nid}: the name holds a line break")
            continue
        why = _name_problem(name, name_line, line)
        if why:
            out.problems.append(f"{p}:{line}: {nid}: {why}")
            continue
        target = want is None or nid in want
        out.nodes.append(UserNode(nid, par or None, name, str(p), line, target))
    return out


def _name_problem(name: str, first_line: dict[str, int], line: int) -> str | None:
    """Why `name` (on `line`) cannot name a class: blank (Darknet's `.names` would hold an empty line, which
    the tree's own loader rejects) or already the name of the class on an earlier line (labels must tell
    classes apart). Records the name's first line in `first_line`."""
    if not name:
        return "blank class name"
    if name in first_line:
        return f"duplicate class name {name!r} (first on line {first_line[name]})"
    first_line[name] = line
    return None


def _label_lines(text: str) -> dict[str, list[int]]:
    """Line numbers of each ``"LabelName": "<id>"`` in a JSON text, in file order (for messages)."""
    lines: dict[str, list[int]] = {}
    for m in re.finditer(r'"LabelName"\s*:\s*"((?:[^"\\]|\\.)*)"', text):
        lines.setdefault(json.loads(f'"{m.group(1)}"'), []).append(text.count("\n", 0, m.start()) + 1)
    return lines


def read_openimages(
    hierarchy: str | Path, descriptions: str | Path | None = None, targets: Iterable[str] | None = None
) -> UserFile:
    """Open Images' hierarchy JSON as user nodes, named from its class-description CSV (``LabelName,Name``
    rows, with or without a header).

    Each ``Subcategory`` entry is a child of the entry holding it. A ``Part`` entry (a part of its holder,
    not a kind of it) becomes a root unless it is also a subcategory somewhere. Targets: the ids given, else
    every id the descriptions name (the top ``Entity`` usually is not: the builder drops such a root and its
    children become the top level, as WordNet's ``entity``)."""
    p = Path(hierarchy)
    out = UserFile(str(p), "hierarchy")
    text = _text(p)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        out.problems.append(f"{p}:{exc.lineno}: not valid JSON ({exc.msg})")
        return out
    names: dict[str, str] = {}
    name_line: dict[str, int] = {}  # line of each id's description
    if descriptions is not None:
        names, name_line = _read_descriptions(Path(descriptions), out)
    where = _label_lines(text)
    seen_at: dict[str, int] = {}
    want = set(targets) if targets is not None else (set(names) if descriptions is not None else None)
    parts: list[tuple[str, str]] = []

    def place(entry: object, parent: str | None, path: str) -> None:
        if not isinstance(entry, dict) or not isinstance(entry.get("LabelName"), str):
            out.problems.append(f"{p}: {path}: an entry without a string LabelName")
            return
        nid = entry["LabelName"].strip()
        k = seen_at.get(nid, 0)
        seen_at[nid] = k + 1
        lines = where.get(nid, [])
        node = UserNode(nid, parent, names.get(nid, nid), str(p), lines[k] if k < len(lines) else path)
        bad = user_id_problem(nid)
        if bad:
            out.problems.append(f"{node.where}: {bad}")
            return
        out.nodes.append(replace(node, target=want is None or nid in want))
        for i, sub in enumerate(entry.get("Subcategory", []) or []):
            place(sub, nid, f"{path}.Subcategory[{i}]")
        for i, part in enumerate(entry.get("Part", []) or []):
            if isinstance(part, dict) and isinstance(part.get("LabelName"), str):
                parts.append((part["LabelName"].strip(), f"{path}.Part[{i}]"))

    place(data, None, "$")
    out.nodes = _nearest_parents(out.nodes, str(p))
    placed = {n.id for n in out.nodes}
    for nid, path in parts:
        if nid not in placed and not user_id_problem(nid):
            placed.add(nid)
            out.nodes.append(UserNode(nid, None, names.get(nid, nid), str(p), path, want is None or nid in want))
    if parts:
        log.info("%s: %d Part entries (not kinds of their holder) kept out of the is-a tree", p, len(parts))
    if descriptions is not None:
        top = data.get("LabelName", "").strip() if isinstance(data, dict) else ""
        out.problems += _description_problems(out.nodes, names, name_line, Path(descriptions), top, targets)
    return out


def _read_descriptions(path: Path, out: UserFile) -> tuple[dict[str, str], dict[str, int]]:
    """Open Images' class descriptions (``LabelName,Name`` rows, an optional header): (name of each id, its
    line). Rows of the wrong length and an id described twice go to `out.problems`."""
    names: dict[str, str] = {}
    at: dict[str, int] = {}
    for line, row in enumerate(csv.reader(io.StringIO(_text(path))), 1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            out.problems.append(f"{path}:{line}: {row[0].strip()}: {len(row)} fields, expected 2 (LabelName,Name)")
            continue
        key, name = row[0].strip(), row[1].strip()
        if line == 1 and key in ("LabelName", "label_name"):
            continue
        if key in at:
            out.problems.append(f"{path}:{line}: {key}: described twice (first on line {at[key]})")
            continue
        names[key], at[key] = name, line
    return names, at


def _description_problems(
    nodes: Sequence[UserNode],
    names: dict[str, str],
    at: dict[str, int],
    path: Path,
    top: str,
    targets: Iterable[str] | None,
) -> list[str]:
    """The names file's problems for the hierarchy's classes: a blank or duplicate name (on the class's line of
    `path`), and a target class the file does not name.

    A missing class is an error, not a note: without explicit targets the names file is what makes a class a
    target, so a class it leaves out would silently drop out of the tree (likely a names file of another
    Open Images version); an explicit target it leaves out would carry a bare id as its label. Only the top
    entry (Open Images' ``Entity``) is left out on purpose: the builder drops it like WordNet's entity."""
    problems: list[str] = []
    first: dict[str, int] = {}
    wanted = set(targets) if targets is not None else None
    for n in sorted(nodes, key=lambda n: at.get(n.id, 0)):  # in the names file's order: "first on" is earlier
        if n.id in at:
            why = _name_problem(names[n.id], first, at[n.id])
            if why:
                problems.append(f"{path}:{at[n.id]}: {n.id}: {why}")
        elif (n.id in wanted) if wanted is not None else n.id != top:
            problems.append(f"{n.where}: {n.id}: class of the hierarchy without a name in {path}")
    return problems


def _nearest_parents(nodes: list[UserNode], source: str) -> list[UserNode]:
    """One node per id. Open Images' hierarchy is a DAG (a helmet is listed under clothing and under sports
    equipment, with the same subtree each time): a class listed under several parents keeps the one nearest the
    root, the first listed on ties (the paper's rule for WordNet), and the choice is logged."""
    import networkx as nx

    top = object()  # one source above the roots: depth = shortest distance from a root over every parent
    g = nx.DiGraph((n.parent if n.parent is not None else top, n.id) for n in nodes)
    depth = nx.single_source_shortest_path_length(g, top) if nodes else {}
    chosen: dict[str, UserNode] = {}
    others: dict[str, list[str]] = {}
    for n in nodes:  # file order: the first listed wins ties
        old = chosen.get(n.id)
        if old is None:
            chosen[n.id] = n
        elif n.parent != old.parent:
            rank = lambda u: 0 if u.parent is None else depth.get(u.parent, len(depth) + 1)  # noqa: E731
            if rank(n) < rank(old):
                chosen[n.id], n = n, old
            others.setdefault(n.id, []).append(n.parent or "(root)")
    if others:
        name = lambda i: f"{chosen[i].name} ({i})" if i in chosen and chosen[i].name != i else i  # noqa: E731
        # every class, one per line: a user checking the choices needs all of them (Open Images has 45)
        shown = "".join(
            f"\n  {name(i)} under {name(chosen[i].parent or '(root)')}, not {', '.join(map(name, dict.fromkeys(o)))}"
            for i, o in others.items()
        )
        log.warning(
            "%s: %d classes are listed under several parents; each keeps the parent nearest the root:%s",
            source,
            len(others),
            shown,
        )
    return list(chosen.values())


def read_file(
    path: str | Path, kind: str = "hierarchy", names: str | Path | None = None, targets: Iterable[str] | None = None
) -> UserFile:
    """A hierarchy or graft file by its form: a JSON file is Open Images' hierarchy, anything else a CSV."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        if kind == "graft":
            raise ValueError(f"{p}: a graft file is an id,parent,name CSV")
        return read_openimages(p, names, targets)
    if names is not None:
        raise ValueError(f"{names}: a names file goes with an Open Images hierarchy JSON; a CSV names its rows")
    return read_csv(p, kind, targets)


def read_targets(path: str | Path) -> list[str]:
    """Ids (one per line, ``#`` comments) that a hierarchy's target classes are."""
    p = Path(path)
    ids = [ln.split("#", 1)[0].strip() for ln in _text(p).splitlines()]
    return [i.split(",")[0].strip() for i in ids if i]


# ---- joining files ------------------------------------------------------------------------------------------
def _wordnet_parent(token: str, graph: NounGraph | None) -> tuple[str | None, str | None]:
    """(wnid, None) for a WordNet noun synset named by wnid or synset name, else (None, why not)."""
    if graph is None:
        return None, f"parent {token} is a WordNet synset, but no WordNet graph was given"
    if SYNSET_NAME_RE.match(token) and token not in graph:
        w = graph.wnid_for_name(token)
        return (w, None) if w else (None, f"parent {token}: no such noun synset name in WordNet")
    why = graph.problem(token)
    return (None, f"parent {why}") if why else (token, None)


def resolve(files: Sequence[UserFile], graph: NounGraph | None = None, taken: Iterable[str] = ()) -> UserNodes:
    """Join the files' rows into one set of user nodes; raise `HierarchyError` listing every problem.

    `graph` resolves WordNet parents (needed only when some row names one). Each file's targets become a label
    map named by its stem, numbered where the name is `taken` (other sources) or used by another file."""
    problems = [q for f in files for q in f.problems]
    first: dict[str, UserNode] = {}
    targets: set[str] = set()
    for n in (n for f in files for n in f.nodes):
        old = first.get(n.id)
        if old is None:
            first[n.id] = n
        elif old.parent != n.parent:
            was, now = old.parent or "(root)", n.parent or "(root)"
            problems.append(f"{n.where}: {n.id}: two parents: {was} ({old.where}) and {now} here")
            continue
        elif old.file == n.file:
            problems.append(f"{n.where}: {n.id}: duplicate id (first at {old.where})")
            continue
        if n.target:
            targets.add(n.id)
    kinds = {f.path: f.kind for f in files}
    parent: dict[str, str | None] = {}
    wordnet_parents: dict[str, str] = {}
    for nid, n in first.items():
        par = n.parent
        if par is None or par in first:
            parent[nid] = par
        elif is_wordnet_ref(par):
            w, why = _wordnet_parent(par, graph)
            if w is None:
                problems.append(f"{n.where}: {nid}: {why}")
            else:
                parent[nid] = wordnet_parents[nid] = w
        else:
            wants = "a WordNet noun synset or an id of the files" if kinds[n.file] == "graft" else "an id of the files"
            problems.append(f"{n.where}: {nid}: missing parent {par} (not {wants})")
    problems += _cycles(first, parent)
    if problems:
        raise HierarchyError(problems)
    maps, used = [], set(taken)
    for f in files:
        rows = [n for n in f.nodes if n.id in targets and first[n.id] is n]
        if rows:
            name = distinct_source(f.source, used)
            maps.append(LabelMap(name, tuple(n.name for n in rows), tuple(n.id for n in rows)))
    return UserNodes(first, parent, [i for i in first if i in targets], maps, wordnet_parents)


def _cycles(first: dict[str, UserNode], parent: dict[str, str | None]) -> list[str]:
    """One problem per cycle among user parents, naming every member with its place (from the first listed)."""
    import networkx as nx

    order = {nid: k for k, nid in enumerate(first)}
    g = nx.DiGraph((c, p) for c, p in parent.items() if p in first)
    problems = []
    for cyc in sorted(nx.simple_cycles(g), key=lambda c: min(order[x] for x in c)):
        start = min(range(len(cyc)), key=lambda k: order[cyc[k]])
        cyc = cyc[start:] + cyc[:start]
        members = ", ".join(f"{c} ({first[c].where})" for c in cyc)
        problems.append(f"{first[cyc[0]].where}: {cyc[0]}: cycle through {members}")
    return problems


def name_collisions(names: dict[str, str], user_ids: Iterable[str]) -> list[str]:
    """One warning per display name (compared without case) that a user node shares with other nodes,
    naming every id that carries it."""
    by_name: dict[str, list[str]] = {}
    for nid, name in names.items():
        by_name.setdefault(name.casefold(), []).append(nid)
    out = []
    done: set[str] = set()
    for nid in user_ids:
        key = names[nid].casefold()
        ids = by_name.get(key, [])
        if len(ids) > 1 and key not in done:
            done.add(key)
            out.append(f"name {names[nid]!r} is shared by {', '.join(sorted(ids))}")
    return out
