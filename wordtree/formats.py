"""WordTree files: our JSON (nodes + label maps), Darknet's ``.tree/.names/.labels/.map``, and a validator.

Darknet's ``.tree`` has one line per node, ``<id> <parent line index>`` (``-1`` for top-level nodes);
``.names`` and ``.labels`` have one display name / node id per node; a ``.map`` has, for dataset label k (line
k), the index of its tree node. Darknet itself reads only the ``.tree``'s parent indices (and the id as a
string), so a node id may be a WordNet id or a user id (no whitespace, at most 255 bytes).

In our JSON a node is ``{"wnid": ...}`` when its id is a WordNet id and ``{"id": ...}`` otherwise, and a label
map lists ``"wnids"`` when all its nodes are WordNet nodes and ``"ids"`` otherwise: a WordNet tree's file is the
same bytes as before user ids existed, and readers accept either key.
Every writer is deterministic (same tree, same bytes) and writes atomically.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from wordtree.files import write_text_atomic
from wordtree.tree import LabelMap, TreeError, WordTree, find_problems, id_problems, is_wordnet_id

log = logging.getLogger(__name__)

FORMAT_NAME = "wordtree"
FORMAT_VERSION = 1


# ---- helpers ----------------------------------------------------------------------------------------------
def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.rstrip("\r") for ln in lines]


# ---- JSON --------------------------------------------------------------------------------------------------
def _id_key(ids: Iterable[str]) -> str:
    """The JSON key of node ids: "wnid(s)" when every id is a WordNet id, else "id(s)"."""
    return "wnid" if all(is_wordnet_id(i) for i in ids) else "id"


def _node_id(d: dict[str, Any], key: str = "id") -> Any:
    """A JSON node's id (`key` "id") or a label map's ids ("ids"), under either name: "id(s)" or "wnid(s)"
    (KeyError naming both when absent)."""
    for k in (key, "wn" + key):
        if k in d:
            return d[k]
    raise KeyError(f"'{key}' (or 'wn{key}')")


def tree_to_dict(tree: WordTree, meta: dict | None = None) -> dict:
    """A JSON-able dict of the tree: nodes (id or wnid, name, parent, target) in node order, plus label maps."""
    tgt = tree.is_target
    d: dict = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "nodes": [
            {_id_key([w]): w, "name": n, "parent": int(p), "target": bool(t)}
            for w, n, p, t in zip(tree.ids, tree.names, tree.parent.tolist(), tgt.tolist())
        ],
        "label_maps": [
            {"source": m.source, "labels": list(m.labels), _id_key(m.ids) + "s": list(m.ids)}
            for m in sorted(tree.label_maps.values(), key=lambda m: m.source)
        ],
    }
    if meta:
        d["meta"] = meta
    return d


def tree_from_dict(d: dict, source: str | None = None) -> WordTree:
    """Rebuild a tree from `tree_to_dict` output; ValueError naming `source` on a malformed dict."""
    where = f"{source}: " if source else ""
    if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
        raise ValueError(f'{where}not a wordtree JSON file (missing "format": "{FORMAT_NAME}")')
    if int(d.get("version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{where}wordtree format version {d['version']} is newer than this reader ({FORMAT_VERSION})")
    try:
        nodes = d["nodes"]
        ids = [str(_node_id(n)) for n in nodes]
        names = [str(n.get("name", w)) for n, w in zip(nodes, ids)]
        parent = [int(n["parent"]) for n in nodes]
        targets = [w for n, w in zip(nodes, ids) if n.get("target")]
        maps = [
            LabelMap(str(m["source"]), tuple(map(str, m["labels"])), tuple(map(str, _node_id(m, "ids"))))
            for m in d.get("label_maps", [])
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}malformed wordtree JSON ({type(exc).__name__}: {exc})") from None
    tree = WordTree(ids, parent, names, targets=targets, source=source)
    try:
        return tree.with_label_maps(maps) if maps else tree
    except TreeError as exc:
        raise TreeError(exc.problems, source) from None


def dumps_json(tree: WordTree, meta: dict | None = None) -> str:
    """Our JSON text: one node per line, so files diff well; byte-identical for equal trees."""
    d = tree_to_dict(tree, meta)
    head = {k: v for k, v in d.items() if k not in ("nodes", "label_maps")}
    parts = ["{"]
    for k, v in head.items():
        parts.append(f" {json.dumps(k)}: {json.dumps(v, sort_keys=True, ensure_ascii=False)},")
    parts.append(' "nodes": [')
    parts.append(",\n".join("  " + json.dumps(n, ensure_ascii=False) for n in d["nodes"]))
    parts.append(" ],")
    parts.append(' "label_maps": [')
    parts.append(",\n".join("  " + json.dumps(m, ensure_ascii=False) for m in d["label_maps"]))
    parts.append(" ]")
    parts.append("}")
    return "\n".join(p for p in parts if p) + "\n"


def save_json(tree: WordTree, path: str | Path, meta: dict | None = None) -> None:
    """Write our JSON format (atomically)."""
    write_text_atomic(path, dumps_json(tree, meta))


def load_json(path: str | Path) -> WordTree:
    """Read our JSON format; errors name the file."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    return tree_from_dict(d, str(path))


# ---- Darknet -----------------------------------------------------------------------------------------------
def _parse_tree_lines(lines: list[str], path: Path) -> tuple[list[str], list[int], list[str]]:
    """Node ids, parents and every syntax problem (``file:line: ...``)."""
    ids: list[str] = []
    parent: list[int] = []
    problems: list[str] = []
    for i, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) != 2:
            problems.append(f"{path}:{i}: expected '<id> <parent index>', got {line.strip()[:60]!r}")
            ids.append(parts[0] if parts else "")
            parent.append(-1)
            continue
        try:
            p = int(parts[1])
        except ValueError:
            problems.append(f"{path}:{i}: parent {parts[1]!r} is not an integer")
            p = -1
        ids.append(parts[0])
        parent.append(p)
    return ids, parent, problems


def _blank_names(lines: list[str], path: Path) -> list[str]:
    """One problem per blank line of a ``.names`` file: every node needs a name (an empty one reads as a
    missing line)."""
    return [f"{path}:{i}: empty name" for i, name in enumerate(lines, 1) if not name.strip()]


def read_darknet(tree_file: str | Path, names_file: str | Path | None = None) -> WordTree:
    """Read Darknet's ``.tree`` (and ``.names``, one non-empty name per node); raises `TreeError` listing every
    problem."""
    tree_file = Path(tree_file)
    ids, parent, problems = _parse_tree_lines(_read_lines(tree_file), tree_file)
    names = None
    if names_file is not None:
        names = _read_lines(Path(names_file))
        if len(names) != len(ids):
            problems.append(f"{names_file}: {len(names)} names for {len(ids)} tree nodes")
        problems += _blank_names(names, Path(names_file))
    if problems:
        raise TreeError(problems, str(tree_file))
    return WordTree(ids, parent, names, source=str(tree_file))


def read_names(path: str | Path, *, comments: bool = False) -> list[str]:
    """Names from a text file, one per line, as Darknet's `.names` (line k names class / node k; trailing
    blank lines dropped). `comments=True` reads a plain list instead: `#` comments and blank lines skipped."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: names file not found")
    lines = _read_lines(p)
    if comments:
        return [s for s in (ln.split("#", 1)[0].strip() for ln in lines) if s]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{p}: names file is empty")
    return lines


def load_tree(tree: WordTree | str | Path, names: str | Path | None = None) -> WordTree:
    """A WordTree from our JSON or a Darknet `.tree` file (a WordTree is returned as it is).

    The node names of a `.tree` come from `names` when given (one per node, else an error), otherwise from
    the `.names` file beside it when that has one line per node (Darknet keeps 9k.tree and 9k.names together).
    """
    if isinstance(tree, WordTree):
        return tree
    p = Path(tree)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: tree file not found")
    if p.suffix.lower() == ".json":
        if names is not None:
            raise ValueError(f"{names}: a JSON tree carries its own names; a names file applies to a .tree")
        return load_json(p)
    if names is not None:
        return read_darknet(p, names)
    beside = p.with_suffix(".names")
    if beside.is_file() and beside != p:
        n_nodes = sum(1 for line in _read_lines(p) if line.strip())
        n_names = len([ln for ln in _read_lines(beside) if ln.strip()])
        if n_names == n_nodes:
            return read_darknet(p, beside)
        log.warning("%s: not used as node names of %s (line count differs)", beside, p)
    return read_darknet(p)


def read_map_indices(path: str | Path, *, size: int | None = None, count: int | None = None) -> list[int]:
    """The integers of a Darknet ``.map`` file: line k holds the tree node (or class) of dataset label k.

    The one reader of ``.map`` files (the tree's label maps, the `[region]`'s ``map=``, evaluation's category
    map). A line's first whitespace-separated field is the index; blank lines are skipped (Darknet's ``atoi``
    would read them as 0, which no file means). `size`: indices must lie in [0, size); `count`: the file must
    have that many entries. Every problem is one line naming the file (and the line)."""
    path = Path(path)
    vals: list[int] = []
    for i, line in enumerate(_read_lines(path), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            idx = int(fields[0])
        except ValueError:
            raise ValueError(f"{path}:{i}: {line.strip()[:40]!r} is not a node index") from None
        if size is not None and not 0 <= idx < size:
            raise ValueError(f"{path}:{i}: node index {idx} out of range for a tree of {size} nodes")
        vals.append(idx)
    if count is not None and len(vals) != count:
        raise ValueError(f"{path}: {len(vals)} entries but {count} expected")
    return vals


def read_map(
    path: str | Path, tree: WordTree, source: str | None = None, labels: Iterable[str] | None = None
) -> LabelMap:
    """A Darknet ``.map`` (line k = tree index of dataset label k) as a `LabelMap`."""
    path = Path(path)
    ids = [tree.ids[idx] for idx in read_map_indices(path, size=len(tree))]
    labs = list(labels) if labels is not None else [str(k) for k in range(len(ids))]
    if len(labs) != len(ids):
        raise ValueError(f"{path}: {len(ids)} lines but {len(labs)} labels given")
    return LabelMap(source or path.stem, tuple(labs), tuple(ids))


def darknet_texts(tree: WordTree, stem: str = "tree") -> dict[str, str]:
    """File name -> content of the Darknet files for `tree` (``.tree``, ``.names``, ``.labels``, maps)."""
    out = {
        f"{stem}.tree": "".join(f"{w} {int(p)}\n" for w, p in zip(tree.ids, tree.parent.tolist())),
        f"{stem}.names": "".join(f"{n}\n" for n in tree.names),
        f"{stem}.labels": "".join(f"{w}\n" for w in tree.ids),
    }
    for src in sorted(tree.label_maps):
        out[f"{src}.map"] = "".join(f"{i}\n" for i in tree.label_map(src))
        out[f"{src}.names"] = "".join(f"{lab}\n" for lab in tree.label_maps[src].labels)
    return out


def write_darknet(tree: WordTree, directory: str | Path, stem: str = "tree") -> dict[str, str]:
    """Write `<stem>.tree/.names/.labels`, and per label map `<source>.map` + `<source>.names` (its labels
    in dataset order); returns {file name: path}."""
    d = Path(directory)
    clash = [s for s in tree.label_maps if s == stem]
    if clash:
        raise ValueError(f"label map source {clash[0]!r} has the same name as the tree stem; pick another stem")
    paths = {}
    for name, text in darknet_texts(tree, stem).items():
        write_text_atomic(d / name, text)
        paths[name] = str(d / name)
    return paths


# ---- validator ------------------------------------------------------------------------------------------------
def _check_tree_file(path: Path) -> list[str]:
    lines = _read_lines(path)
    if not lines:
        return [f"{path}: empty tree file"]
    ids, parent, problems = _parse_tree_lines(lines, path)
    problems += [f"{path}:{p[5:]}" if p.startswith("line ") else f"{path}: {p}" for p in find_problems(parent)]
    problems += [
        f"{path}:{i + 1}: {what}" + (f" (first on line {j + 1})" if j is not None else "")
        for i, what, j in id_problems(ids)
    ]
    n = len(ids)
    for ext in (".names", ".labels"):
        side = path.with_suffix(ext)
        if side.is_file():
            side_lines = _read_lines(side)
            if len(side_lines) != n:
                problems.append(f"{side}: {len(side_lines)} lines but {path.name} has {n} nodes")
            if ext == ".names":
                problems += _blank_names(side_lines, side)
            if ext == ".labels":
                for i, (a, b) in enumerate(zip(side_lines, ids), 1):
                    if a.strip() != b:
                        problems.append(f"{side}:{i}: id {a.strip()!r} differs from {path.name} line {i} ({b})")
                        break
    for m in sorted(path.parent.glob("*.map")):
        problems += _check_map_lines(m, n)
    return problems


def _check_map_lines(path: Path, n: int) -> list[str]:
    problems = []
    for i, line in enumerate(_read_lines(path), 1):
        try:
            idx = int(line.strip())
        except ValueError:
            problems.append(f"{path}:{i}: {line.strip()[:40]!r} is not a node index")
            continue
        if not 0 <= idx < n:
            problems.append(f"{path}:{i}: node index {idx} out of range [0, {n - 1}]")
    return problems


def _check_json_file(path: Path) -> list[str]:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return [f"{path}: not valid JSON ({exc})"]
    if not isinstance(d, dict) or d.get("format") != FORMAT_NAME or not isinstance(d.get("nodes"), list):
        return [f'{path}: not a wordtree JSON file (needs "format": "{FORMAT_NAME}" and a "nodes" list)']
    problems = []
    ids: list[str] = []
    parent: list[int] = []
    for i, node in enumerate(d["nodes"]):
        try:
            ids.append(str(_node_id(node)))
            parent.append(int(node["parent"]))
        except (KeyError, TypeError, ValueError):
            problems.append(f"{path}: node {i}: needs an id (or wnid) and an integer parent")
            ids.append("")
            parent.append(-1)
    problems += [f"{path}: node {p[5:]}" if p.startswith("line ") else f"{path}: {p}" for p in find_problems(parent)]
    problems += [
        f"{path}: node {i}: {what}" + (f" (first at node {j})" if j is not None else "")
        for i, what, j in id_problems(ids)
    ]
    seen = set(filter(None, ids))
    for m in d.get("label_maps", []) or []:
        src = m.get("source", "?") if isinstance(m, dict) else "?"
        try:
            labs, ws = list(m["labels"]), list(_node_id(m, "ids"))
        except (KeyError, TypeError):
            problems.append(f"{path}: label map {src!r}: needs 'labels' and 'ids' (or 'wnids') lists")
            continue
        if len(labs) != len(ws):
            problems.append(f"{path}: label map {src!r}: {len(labs)} labels but {len(ws)} ids")
        problems += [f"{path}: label map {src!r}: id {w} is not a node" for w in ws if w not in seen]
    return problems


def check_file(path: str | Path) -> list[str]:
    """Every broken invariant of a tree file, each as ``file:line: message`` (empty list = valid).

    Accepts a Darknet ``.tree`` (its sibling ``.names``/``.labels``/``*.map`` files are checked too), a
    ``.names``/``.labels``/``.map`` file beside one, or our JSON format. Checks: syntax, parent out of range
    or after its child, cycles, non-contiguous sibling groups, bad or duplicate ids, side files of the wrong length.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".json":
        return _check_json_file(path)
    if path.suffix in (".names", ".labels", ".map"):
        trees = (
            [path.with_suffix(".tree")] if path.with_suffix(".tree").is_file() else sorted(path.parent.glob("*.tree"))
        )
        if len(trees) != 1:
            return [f"{path}: cannot tell which .tree file it belongs to ({len(trees)} .tree files beside it)"]
        probs = _check_tree_file(trees[0])
        key = str(path)
        own = [p for p in probs if p.startswith(key)]
        return own or ([] if not probs else [f"{path}: its tree {trees[0]} is invalid: {probs[0]}"])
    if path.suffix == ".tree" or path.suffix == "":
        return _check_tree_file(path)
    # anything else: sniff
    head = path.read_text(encoding="utf-8", errors="replace")[:200].lstrip()
    return _check_json_file(path) if head.startswith("{") else _check_tree_file(path)
