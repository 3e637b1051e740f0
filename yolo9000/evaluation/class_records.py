"""Saved classifications: the predictions.jsonl of `yolo9000 classify`, read back to be scored on class folders.

`read_class_predictions` matches each record to a picture of the class folders and rebuilds from the probabilities
it holds the `ClassPredictions` that running the model gives (`predict.predict_classification`); `records_summary`
scores them with `classification_summary`, keeping only the top-k figures the records determine exactly.
`prediction_kind` tells the records of `yolo9000 classify` from the detections of `yolo9000 detect`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from wordtree.files import plural
from yolo9000.evaluation.predict import ClassPredictions, folder_truth
from yolo9000.evaluation.summary import ClassificationReport, classification_summary

if TYPE_CHECKING:
    from wordtree.tree import WordTree

log = logging.getLogger(__name__)

#: keys only detection records have: detect's per-image lines, one-detection lines, COCO results
_DETECTION_KEYS = frozenset({"detections", "box", "bbox", "category_id"})


def prediction_kind(path: str | Path) -> Literal["classify", "detect"] | None:
    """What a predictions file holds, by its first record: "classify" for the JSON lines of `yolo9000 classify`
    (records with "top"), "detect" for those of `yolo9000 detect` or a COCO results list, None when it says neither
    (the reader then names what is wrong)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            text = line.strip()
            if not text:
                continue
            if text.startswith("["):  # a COCO results list
                return "detect"
            try:
                rec = json.loads(text)
            except json.JSONDecodeError:
                return None
            if isinstance(rec, dict) and "top" in rec:
                return "classify"
            if isinstance(rec, dict) and _DETECTION_KEYS & rec.keys():
                return "detect"
            return None
    return None


@dataclass
class ClassRecords(ClassPredictions):
    """`ClassPredictions` read from saved records, with what decides the top-k figures they determine exactly.

    `probs` holds each record's "top" probabilities at their leaf (tree) or class (flat), zero elsewhere; with a
    tree an inner node holds the sum of the listed leaves below it (its P(node) under the tree softmax when every
    leaf is listed). `entries`: the fewest "top" entries of a scored record; `classes`: the leaves (tree) or
    classes (flat, known only from the class names) a full record lists, None when unknown; `complete`: every
    scored record lists all of them."""

    entries: int = 0
    classes: int | None = None
    complete: bool = False
    source: str = field(default="")

    def exact_ks(self, ks: Sequence[int]) -> list[int]:
        """The ks whose top-k over the leaves (tree) or classes (flat) the records determine: k up to the entries
        of every record, or every k when the records are complete. A class missing from a record ranks below all
        it lists, so a hit within its first `entries` is exact."""
        return [int(k) for k in ks if self.complete or k <= self.entries]


@dataclass
class _Parsed:
    """The records of a predictions file, flattened: one row per record, one per "top" entry."""

    files: list[str]
    lines: np.ndarray  # (R,) line number of each record
    fingerprinted: np.ndarray  # (R,) bool: the record carries a tree fingerprint (checked as it was read)
    row: np.ndarray  # (E,) record of each entry
    label: np.ndarray  # (E,) its node (tree) or class (flat)
    prob: np.ndarray  # (E,)
    said_id: np.ndarray  # (E,) object: its "id" (tree) or None
    said_name: np.ndarray  # (E,) object: its "name" or None
    stopped: np.ndarray  # (R,) tree: the node the walk stopped at; flat: -1
    stop_id: np.ndarray  # (R,) object
    stop_name: np.ndarray  # (R,) object


def read_class_predictions(
    path: str | Path,
    folders: str | Path,
    tree: WordTree | None = None,
    names: Sequence[str] | None = None,
    tree_source: str | None = None,
    hier_thresh: float | None = None,
) -> ClassRecords:
    """The records of `yolo9000 classify` (`path`, JSON lines) scored against class folders, as
    `predict_classification` gives them from the model: the truth is each picture's folder (`folder_truth`: node id
    folders with a tree, class-name folders without), the prediction the node the walk stopped at ("stopped") or
    the first "top" class (flat).

    A record is matched to a picture by its resolved "file" (a relative one is read from the current folder, as
    classify wrote it); records of other files, and pictures with no record (unreadable ones classify skipped), are
    counted in a warning and not scored; no match at all is an error naming both paths. Tree records must carry
    `tree`'s fingerprint (one read from `tree_source`); flat ones must name their classes as `names` does, when
    given (else the records' names place the folders). Bad lines are `path:line: what is wrong`.

    `hier_thresh` (trees): stop each record's "walk" where P(node) falls to it, as `classify --hier-thresh` would
    have (up to the digits the records keep), instead of taking the "stopped" node classify wrote."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: predictions file not found")
    parsed = _parse(path, tree, tree_source, hier_thresh)
    n_classes, classes, label_names = _check_classes(parsed, path, tree, names, tree_source)
    try:
        ds, truth = folder_truth(Path(folders), tree, label_names)
    except ValueError as exc:
        if tree is not None or names is not None:
            raise
        raise ValueError(f"{exc} (the class names the records of {path} give; pass the model's with --names)") from None
    where = {str(ds.path(i).resolve()): i for i in range(len(ds))}
    picture = np.array([where.get(str(Path(f).resolve()), -1) for f in parsed.files], dtype=np.int64)
    matched = np.flatnonzero(picture >= 0)
    if not len(matched):
        raise ValueError(
            f"{path}: no record is a picture of the class folders {folders} (a record's file is read from the "
            f"current folder, as `yolo9000 classify` wrote it)"
        )
    pictures, first = np.unique(picture[matched], return_index=True)  # folder order; a repeated picture's first
    scored = matched[first]
    _warn_unscored(path, folders, parsed, picture, len(matched) - len(scored), len(ds) - len(pictures))

    counts = np.bincount(parsed.row, minlength=len(parsed.files))
    row_of = np.full(len(parsed.files), -1, dtype=np.int64)
    row_of[scored] = np.arange(len(scored))
    rows = row_of[parsed.row]
    keep = rows >= 0
    probs = np.zeros((len(scored), n_classes), dtype=np.float64)
    probs[rows[keep], parsed.label[keep]] = parsed.prob[keep]
    if tree is not None:
        _add_inner_nodes(probs, tree)
        pred = parsed.stopped[scored]
    else:
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])  # every record holds an entry; "top" is best first
        pred = parsed.label[starts[scored]]
    entries = int(counts[scored].min())
    return ClassRecords(
        probs,
        pred.astype(np.int64),
        truth[pictures],
        [str(ds.path(int(i))) for i in pictures],
        entries=entries,
        classes=classes,
        complete=classes is not None and bool((counts[scored] == classes).all()),
        source=str(path),
    )


def records_summary(records: ClassRecords, tree: WordTree | None, ks: Sequence[int] = (1, 5)) -> ClassificationReport:
    """`classification_summary` of saved records with only the figures they determine exactly: top-k over the
    leaves (classes) for `ClassRecords.exact_ks`, and top-k over all nodes only when every record lists every leaf
    (the inner nodes' P(node) are the sums of their leaves then). What is left out is said in a warning."""
    exact = records.exact_ks(ks)
    noun, many = ("leaf", "leaves") if tree is not None else ("class", "classes")
    left_out = [k for k in ks if k not in exact]
    if left_out:
        named = "" if tree is not None or records.classes is not None else " (or give the class names: --names)"
        log.warning(
            "%s: records hold %s each; %s needs `yolo9000 classify --top-k %d` or more%s; not scored",
            records.source,
            plural(records.entries, noun, many),
            ", ".join(f"top-{k}" for k in left_out),
            max(left_out),
            named,
        )
    report = classification_summary(records, tree, exact)
    if tree is not None and not records.complete and exact:
        for k in exact:
            report.headline.pop(f"top{k}_node", None)
        log.warning(
            "%s: top-k over all nodes needs every leaf in each record (`yolo9000 classify --top-k %d`); "
            "the records hold %s each, so top*_node is not scored",
            records.source,
            records.classes,
            plural(records.entries, noun, many),
        )
    return report


def _warn_unscored(
    path: Path, folders: str | Path, parsed: _Parsed, picture: np.ndarray, repeated: int, missing: int
) -> None:
    """One warning each for the records that are no picture of the folders, the records of a picture already
    read, and the pictures with no record: none of them is scored."""
    other = np.flatnonzero(picture < 0)
    if len(other):
        log.warning(
            "%s: %s a file that is no picture of the class folders %s; not scored (e.g. line %d: %s)",
            path,
            plural(len(other), "record names", "records name"),
            folders,
            parsed.lines[other[0]],
            parsed.files[other[0]],
        )
    if repeated:
        said = plural(repeated, "record repeats", "records repeat")
        log.warning("%s: %s a picture already read; the first record of each picture is scored", path, said)
    if missing:
        log.warning(
            "%s: %s of the class folders %s %s no record (unreadable, or not classified); not scored",
            path,
            plural(missing, "picture"),
            folders,
            "has" if missing == 1 else "have",
        )


def _add_inner_nodes(probs: np.ndarray, tree: WordTree) -> None:
    """Fill each inner node with the sum of the leaves below it, in place: P(node) under the tree softmax (every
    sibling group sums to one), given the leaves. Deepest level first, so each child is complete when added."""
    for depth in range(int(tree.depth.max()), 0, -1):
        nodes = np.flatnonzero(tree.depth == depth)
        np.add.at(probs.T, tree.parent[nodes], probs[:, nodes].T)  # a view: adds into `probs`


def _parse(path: Path, tree: WordTree | None, tree_source: str | None, hier_thresh: float | None) -> _Parsed:
    """Read the JSON lines: each record's file, "top" entries and (tree) "stopped" node (or, at `hier_thresh`,
    where its walk stops), checked as read."""
    files: list[str] = []
    lines: list[int] = []
    printed: list[bool] = []
    row: list[int] = []
    entries: list[tuple[int, float, Any, Any]] = []
    stops: list[tuple[int, Any, Any]] = []
    kind: bool | None = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for ln, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{ln}"
            rec = _record(line, where)
            is_tree = "stopped" in rec
            if kind is not None and is_tree != kind:
                say = ("a tree record (with 'stopped')", "flat ones") if is_tree else ("a flat record", "tree ones")
                raise ValueError(f"{where}: {say[0]} among {say[1]}; one file holds the records of one model")
            kind = is_tree
            if is_tree:
                printed.append(_check_tree(rec, tree, where, tree_source))
                stop = rec["stopped"] if hier_thresh is None else _walk_stop(rec, hier_thresh, where)
                stops.append((_class_of(stop, tree, where, "'stopped'"), *_said(stop)))
            elif tree is not None:
                src = f" ({tree_source})" if tree_source else ""
                raise ValueError(
                    f"{where}: the record of a flat classifier (no 'stopped' node) but a tree{src} is given; score "
                    "it without --tree (--names names its classes)"
                )
            else:
                printed.append(False)
            file = rec.get("file")
            if not isinstance(file, str) or not file:
                raise ValueError(f"{where}: the record has no 'file'")
            top = rec.get("top")
            if not isinstance(top, list) or not top:
                raise ValueError(f"{where}: 'top' must be a non-empty list of classes")
            for entry in top:
                entries.append((_class_of(entry, tree, where, "a 'top' entry"), _prob(entry, where), *_said(entry)))
            row += [len(files)] * len(top)
            files.append(file)
            lines.append(ln)
    if not files:
        raise ValueError(f"{path}: no records (an empty predictions file)")
    label, prob, said_id, said_name = zip(*entries)
    stop = list(zip(*stops)) if stops else [[-1] * len(files), [None] * len(files), [None] * len(files)]
    return _Parsed(
        files=files,
        lines=np.array(lines, dtype=np.int64),
        fingerprinted=np.array(printed, dtype=bool),
        row=np.array(row, dtype=np.int64),
        label=np.array(label, dtype=np.int64),
        prob=np.array(prob, dtype=np.float64),
        said_id=np.array(said_id, dtype=object),
        said_name=np.array(said_name, dtype=object),
        stopped=np.array(stop[0], dtype=np.int64),
        stop_id=np.array(stop[1], dtype=object),
        stop_name=np.array(stop[2], dtype=object),
    )


def _walk_stop(rec: dict[str, Any], hier_thresh: float, where: str) -> dict[str, Any]:
    """The level of the record's greedy "walk" where the paper's walk stops at `hier_thresh`: the last whose
    P(node) ("abs", which only falls along the walk) is above it, else the first (the best root)."""
    walk = rec.get("walk")
    if not isinstance(walk, list) or not walk or not all(isinstance(level, dict) for level in walk):
        raise ValueError(
            f"{where}: no 'walk' to stop at --hier-thresh (a list of levels, as `yolo9000 classify` writes); "
            "score the 'stopped' nodes without --hier-thresh"
        )
    passed = sum(_prob(level, where, "abs", "a 'walk' level") > hier_thresh for level in walk)
    return walk[max(passed, 1) - 1]


def _record(line: str, where: str) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected a JSON object")
    if _DETECTION_KEYS & rec.keys():
        raise ValueError(f"{where}: a detection record (of `yolo9000 detect`); score detections with --coco")
    return rec


def _check_tree(rec: dict[str, Any], tree: WordTree | None, where: str, tree_source: str | None) -> bool:
    """Refuse a tree record of another tree than the evaluated one (its node numbers mean other classes); True when
    its fingerprint vouches for its nodes (else their ids and names are checked)."""
    fp = rec.get("tree_fingerprint")
    if tree is None:
        made = f"predictions made with tree {fp}" if fp is not None else "the record names tree nodes"
        raise ValueError(f"{where}: {made}; give that tree (--tree or --checkpoint) to evaluate them")
    if fp is None:
        return False
    if str(fp) != tree.fingerprint:
        src = f" ({tree_source})" if tree_source else ""
        raise ValueError(
            f"{where}: predictions made with tree {fp} but the class folders are read with tree "
            f"{tree.fingerprint}{src}; run `yolo9000 classify` with the evaluated model or pass its tree"
        )
    return True


def _class_of(entry: Any, tree: WordTree | None, where: str, what: str) -> int:
    """The node or class index of a "top" entry or the "stopped" node: its "node" (tree) or "label" (flat), else
    (tree) the node of its "id"; the range is checked later, for all records at once."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: {what} must be a JSON object")
    key = "node" if tree is not None else "label"
    if key not in entry and tree is not None and "id" in entry:
        if str(entry["id"]) not in tree:
            raise ValueError(f"{where}: id {entry['id']} of {what} is not a node of the tree")
        return tree.index(str(entry["id"]))
    if key not in entry:
        raise ValueError(f"{where}: {what} has no '{key}'")
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: '{key}' of {what} must be an index, got {value!r}")
    return value


def _prob(entry: dict[str, Any], where: str, key: str = "prob", what: str = "a 'top' entry") -> float:
    """The probability `entry[key]` of `what`, checked (a one-line error naming `where`)."""
    try:
        p = float(entry[key])
    except KeyError:
        raise ValueError(f"{where}: {what} has no '{key}'") from None
    except (TypeError, ValueError):
        raise ValueError(f"{where}: '{key}' must be a number, got {entry[key]!r}") from None
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        raise ValueError(f"{where}: '{key}' is {p}, not a probability")
    return p


def _said(entry: dict[str, Any]) -> tuple[Any, Any]:
    return entry.get("id"), entry.get("name")


def _check_classes(
    p: _Parsed, path: Path, tree: WordTree | None, names: Sequence[str] | None, tree_source: str | None
) -> tuple[int, int | None, list[str] | None]:
    """Check every entry at once (in range, a leaf of the tree, listed once per record, named as the tree or
    `names` names it). Returns the columns of the probabilities (nodes or classes), the leaves (classes) a full
    record lists (None when unknown) and the flat class names that place the class folders (None with a tree)."""
    if tree is not None:
        _check_nodes(p, path, tree, names, tree_source)
        n_classes, label_names = len(tree), None
    else:
        label_names = _flat_names(p, path, names)
        n_classes = len(label_names)
    key = p.row * n_classes + p.label
    order = np.argsort(key, kind="stable")
    twice = np.zeros(len(key), dtype=bool)
    twice[order[1:]] = np.diff(key[order]) == 0
    _refuse(twice, path, p.lines[p.row], lambda i: f"'top' lists {p.label[i]} twice")
    if tree is not None:
        return n_classes, int(tree.is_leaf.sum()), None
    return n_classes, (len(names) if names is not None else None), label_names


def _given(values: np.ndarray) -> np.ndarray:
    """True where a record gave the value (an object array of JSON values, None where it gave none)."""
    return np.fromiter((v is not None for v in values.tolist()), dtype=bool, count=len(values))


def _refuse(bad: np.ndarray, path: Path, lines: np.ndarray, message: Callable[[int], str]) -> None:
    """A `path:line: message` error for the first entry marked `bad` (`lines`: each entry's line)."""
    hits = np.flatnonzero(bad)
    if len(hits):
        i = int(hits[0])
        raise ValueError(f"{path}:{lines[i]}: {message(i)}")


def _check_nodes(p: _Parsed, path: Path, tree: WordTree, names: Sequence[str] | None, tree_source: str | None) -> None:
    """Tree records: every "top" node a leaf, every node in range and, where no fingerprint vouches for the record,
    of the id and name the record says (`names`: the model's names, else the tree's)."""
    src = f" ({tree_source})" if tree_source else ""
    ids = np.array(tree.ids, dtype=object)
    label_names = np.array(list(names) if names is not None else tree.names, dtype=object)
    every = np.arange(len(p.files))
    for label, row_of, said_id, said_name, what in (
        (p.label, p.row, p.said_id, p.said_name, "a 'top' entry"),
        (p.stopped, every, p.stop_id, p.stop_name, "'stopped'"),
    ):
        lines = p.lines[row_of]
        out = (label < 0) | (label >= len(tree))
        size = len(tree)
        _refuse(out, path, lines, lambda i: f"node {label[i]} of {what} is out of range for a tree of {size} nodes")
        unchecked = ~p.fingerprinted[row_of]
        for field_name, said, ours in (("id", said_id, ids[label]), ("name", said_name, label_names[label])):
            wrong = unchecked & _given(said) & (said.astype(str) != ours)
            _refuse(
                wrong,
                path,
                lines,
                lambda i: (
                    f"node {label[i]} of {what} is {field_name} {ours[i]!r} in the evaluated tree{src} but the "
                    f"record says {str(said[i])!r}; these predictions were made with another tree (give that one with "
                    "--tree)"
                ),
            )
    inner = ~tree.is_leaf[p.label]
    _refuse(
        inner, path, p.lines[p.row], lambda i: f"'top' lists inner node {p.label[i]}; classify's records list leaves"
    )


def _flat_names(p: _Parsed, path: Path, names: Sequence[str] | None) -> list[str]:
    """Flat records: the class names (`names`, checked against the names the records give, else the records'
    own: "" for a class no record names), every label in range."""
    lines = p.lines[p.row]
    if names is None:
        _refuse(p.label < 0, path, lines, lambda i: f"label {p.label[i]} of a 'top' entry is negative")
        found: dict[int, str] = {}
        for i, (label, name) in enumerate(zip(p.label.tolist(), p.said_name.tolist())):  # the JSON's values
            if name is not None and found.setdefault(label, str(name)) != str(name):
                raise ValueError(f"{path}:{lines[i]}: label {label} is named {name!r} here but {found[label]!r} before")
        return [found.get(i, "") for i in range(int(p.label.max()) + 1)]
    out = (p.label < 0) | (p.label >= len(names))
    _refuse(out, path, lines, lambda i: f"label {p.label[i]} is out of range for {plural(len(names), 'class name')}")
    ours = np.array(list(names), dtype=object)[p.label]
    wrong = _given(p.said_name) & (p.said_name.astype(str) != ours)
    _refuse(
        wrong,
        path,
        lines,
        lambda i: (
            f"label {p.label[i]} is {ours[i]!r} in the class names but the record says {p.said_name[i]!r}; "
            "these predictions were made with other class names"
        ),
    )
    return list(names)
