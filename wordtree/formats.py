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

from wordtree.files import plural, read_output_marker, write_text_atomic
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
            problems.append(f"{names_file}: {plural(len(names), 'name')} for {plural(len(ids), 'tree node')}")
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
        raise ValueError(f"{path}: {plural(len(vals), 'entry', 'entries')} but {count} expected")
    return vals


def read_map(
    path: str | Path, tree: WordTree, source: str | None = None, labels: Iterable[str] | None = None
) -> LabelMap:
    """A Darknet ``.map`` (line k = tree index of dataset label k) as a `LabelMap`."""
    path = Path(path)
    ids = [tree.ids[idx] for idx in read_map_indices(path, size=len(tree))]
    labs = list(labels) if labels is not None else [str(k) for k in range(len(ids))]
    if len(labs) != len(ids):
        raise ValueError(f"{path}: {plural(len(ids), 'line')} but {plural(len(labs), 'label')} given")
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
                problems.append(f"{side}: {plural(len(side_lines), 'line')} but {path.name} has {plural(n, 'node')}")
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
            problems.append(f"{path}: label map {src!r}: {plural(len(labs), 'label')} but {plural(len(ws), 'id')}")
        problems += [f"{path}: label map {src!r}: id {w} is not a node" for w in ws if w not in seen]
    return problems


def _fits(tree: WordTree) -> str:
    """A tree's identity in a problem line: its fingerprint and size."""
    return f"tree {tree.fingerprint} ({plural(len(tree), 'node')})"


def _load_quietly(path: Path) -> WordTree | None:
    """The tree of a file that passed its own checks, or None when it cannot be read."""
    try:
        return load_tree(path)
    except (OSError, ValueError, TreeError):
        return None


def _is_wordtree_json(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False
    return f'"format": "{FORMAT_NAME}"' in head


def _trees_beside(tree_path: Path) -> list[tuple[Path, WordTree]]:
    """`tree_path`'s tree, and the same stem's other tree file (wordtree.tree beside wordtree.json)."""
    found = []
    for p in [tree_path] + [tree_path.with_suffix(ext) for ext in (".tree", ".json") if ext != tree_path.suffix]:
        if p.is_file() and (p.suffix != ".json" or _is_wordtree_json(p)):
            t = _load_quietly(p)
            if t is not None:
                found.append((p, t))
    return found


def _pair_problems(trees: list[tuple[Path, WordTree]]) -> list[str]:
    """A JSON tree that is not the .tree of its stem (one of them is left from another build): its label maps
    point at nodes of another tree."""
    problems = []
    darknet = {p.stem: t for p, t in trees if p.suffix == ".tree"}
    for p, t in trees:
        other = darknet.get(p.stem)
        if p.suffix != ".json" or other is None or other.fingerprint == t.fingerprint:
            continue
        beside = f"{p.with_suffix('.tree').name} beside it is {_fits(other)}"
        problems.append(f"{p}: {_fits(t)}, but {beside}")
        problems += [f"{p}: label map {src!r}: made for {_fits(t)}, but {beside}" for src in sorted(t.label_maps)]
    return problems


def _map_problems(path: Path, trees: list[tuple[Path, WordTree]], marker: dict[str, Any] | None) -> list[str]:
    """A ``.map`` that does not fit the tree beside it: the marker says it was made for another tree (fingerprint
    or size), it differs from the same label map in the JSON beside it, it is not one of that JSON's label maps
    in a folder build-wordtree wrote, or its label count differs from its ``.names`` or the marker's."""
    try:
        entries = read_map_indices(path)
    except (OSError, ValueError):
        return []  # its lines' problems are reported by the range check
    ref_path, ref = trees[0]
    problems = []
    info = ((marker or {}).get("info") or {}).get(path.name)
    if isinstance(info, dict):
        fp, nodes = info.get("tree_fingerprint"), info.get("tree_nodes")
        if fp is not None and (fp != ref.fingerprint or (nodes is not None and nodes != len(ref))):
            made = f"tree {fp} ({plural(int(nodes), 'node')})" if isinstance(nodes, int) else f"tree {fp}"
            problems.append(f"{path}: made for {made}, but {ref_path.name} beside it is {_fits(ref)}")
        labels = info.get("labels")
        if isinstance(labels, int) and labels != len(entries):
            problems.append(f"{path}: {plural(len(entries), 'entry', 'entries')} but it was written with {labels}")
    jsons = [(p, t) for p, t in trees if p.suffix == ".json" and t.fingerprint == ref.fingerprint]
    for p, t in jsons:
        if path.stem in t.label_maps and t.label_map(path.stem) != entries:
            problems.append(f"{path}: differs from label map {path.stem!r} of {p.name} beside it (another tree's?)")
    listed = set((marker or {}).get("files") or [])
    ours = (marker or {}).get("command") == "build-wordtree" and any(p.name in listed for p, _ in jsons)
    if ours and jsons and not any(path.stem in t.label_maps for _, t in jsons):
        problems.append(f"{path}: not a label map of {jsons[0][0].name} beside it (left from an earlier build?)")
    names = path.with_suffix(".names")
    if names.is_file() and names.stem not in {p.stem for p, _ in trees}:
        count = len([ln for ln in _read_lines(names) if ln.strip()])
        if count != len(entries):
            problems.append(f"{names}: {plural(count, 'label')} but {path.name} has {len(entries)}")
    return problems


def _beside_problems(tree_path: Path) -> list[str]:
    """Label maps beside the tree `tree_path` (already checked on its own) that were made for another tree."""
    trees = _trees_beside(tree_path)
    if not trees:
        return []
    marker = read_output_marker(tree_path.parent)
    problems = _pair_problems(trees)
    for m in sorted(tree_path.parent.glob("*.map")):
        problems += _map_problems(m, trees, marker)
    return problems


def check_dir(folder: str | Path) -> list[str]:
    """Every problem of the tree files in `folder` (each ``.tree`` and wordtree JSON, as `check_file`), and of
    the label maps beside them: a ``.map`` or a JSON's label map whose tree fingerprint or size does not match
    the tree beside it (what the folder's marker recorded, or the JSON's own maps), or a ``.map`` left from an
    earlier build."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    trees = sorted(folder.glob("*.tree"))
    trees += [p for p in sorted(folder.glob("*.json")) if _is_wordtree_json(p) and not p.with_suffix(".tree").is_file()]
    if not trees:
        return [f"{folder}: no tree file in it (a .tree or a wordtree .json)"]
    problems: list[str] = []
    for t in trees:
        problems += [p for p in check_file(t) if p not in problems]
    return problems


def check_file(path: str | Path) -> list[str]:
    """Every broken invariant of a tree file, each as ``file:line: message`` (empty list = valid).

    Accepts a Darknet ``.tree`` (its sibling ``.names``/``.labels``/``*.map`` files are checked too), a
    ``.names``/``.labels``/``.map`` file beside one, or our JSON format. Checks: syntax, parent out of range
    or after its child, cycles, non-contiguous sibling groups, bad or duplicate ids, side files of the wrong
    length; for a valid tree, the label maps beside it made for another tree (`check_dir`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".json":
        probs = _check_json_file(path)
        return probs or _beside_problems(path)
    if path.suffix in (".names", ".labels", ".map"):
        trees = (
            [path.with_suffix(".tree")] if path.with_suffix(".tree").is_file() else sorted(path.parent.glob("*.tree"))
        )
        if len(trees) != 1:
            return [f"{path}: cannot tell which .tree file it belongs to ({len(trees)} .tree files beside it)"]
        probs = _check_tree_file(trees[0]) or _beside_problems(trees[0])
        key = str(path)
        own = [p for p in probs if p.startswith(key)]
        invalid = [p for p in probs if p.startswith(str(trees[0]))]
        return own or ([] if not invalid else [f"{path}: its tree {trees[0]} is invalid: {invalid[0]}"])
    if path.suffix == ".tree" or path.suffix == "":
        return _check_tree_file(path) or _beside_problems(path)
    # anything else: sniff
    head = path.read_text(encoding="utf-8", errors="replace")[:200].lstrip()
    if head.startswith("{"):
        return _check_json_file(path) or _beside_problems(path)
    return _check_tree_file(path) or _beside_problems(path)
