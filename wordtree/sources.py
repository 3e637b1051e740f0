"""Label sources: where a tree's targets come from, each giving a `LabelMap` (dataset label -> wnid).

* `coco()`: COCO's 80 categories mapped to WordNet (``wordtree/data/coco_wordnet.csv``, checked against WordNet);
* `imagenet1k()`: the 1000 ILSVRC-2012 classes in their usual order (``wordtree/data/imagenet1k_wnids.txt``);
* `class_folders(root)`: a folder of class folders named by wnid (ImageNet-21k layout), optionally the
  top-K by image count or those with at least N images;
* `release_status(xml)`: the same selection from ImageNet's ``ReleaseStatus.xml`` (image counts only);
* `wnid_file(path)`: a text file of wnids (or NLTK synset names), optionally followed by a label;
* `names(texts)`: free-text names resolved through WordNet, ambiguous ones reported.

Every function validates its ids against WordNet and reports *all* bad entries: with
``on_invalid="error"`` it raises `TargetError` listing them, with ``"skip"`` it drops them and lists them in
`SourceResult.problems`. `merge()` joins several sources into one target list for the builder.
"""

from __future__ import annotations

import csv
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wordtree.builder import TargetError, data_dir
from wordtree.files import IMAGE_EXTENSIONS, plural
from wordtree.tree import LabelMap, warn_renamed
from wordtree.wordnet import SYNSET_NAME_RE, WNID_RE, NounGraph, noun_graph


@dataclass
class SourceResult:
    """A source's label map plus what was wrong with it (`problems`) and what was decided (`notes`)."""

    label_map: LabelMap
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] | None = None  # images per wnid, for count-based sources

    @property
    def ids(self) -> tuple[str, ...]:
        """The node id (here a WordNet id) of each label, in label order."""
        return self.label_map.ids

    @property
    def wnids(self) -> tuple[str, ...]:
        """Deprecated old name of `ids` (removed in the next release)."""
        warn_renamed("SourceResult.wnids", "SourceResult.ids")
        return self.label_map.ids

    def __len__(self) -> int:
        return len(self.label_map.ids)


def _finish(
    source: str,
    labels: list[str],
    wnids: list[str],
    problems: list[str],
    on_invalid: str,
    notes: list[str] | None = None,
    counts: dict[str, int] | None = None,
) -> SourceResult:
    if on_invalid not in ("error", "skip"):
        raise ValueError(f"on_invalid={on_invalid!r}: expected 'error' or 'skip'")
    if problems and on_invalid == "error":
        raise TargetError([f"{source}: {p}" for p in problems])
    return SourceResult(LabelMap(source, tuple(labels), tuple(wnids)), list(problems), list(notes or []), counts)


def _resolve_id(token: str, graph: NounGraph) -> tuple[str | None, str | None]:
    """(wnid, None) for a valid noun wnid or synset name, else (None, problem)."""
    if SYNSET_NAME_RE.match(token) and token not in graph:
        w = graph.wnid_for_name(token)
        return (w, None) if w else (None, f"{token}: no such synset name in WordNet")
    p = graph.problem(token)
    return (None, p) if p else (token, None)


# ---- shipped lists ------------------------------------------------------------------------------------------
def coco(
    path: str | Path | None = None, *, graph: NounGraph | None = None, on_invalid: str = "error", source: str = "coco"
) -> SourceResult:
    """COCO's 80 categories (official names, in category-id order) -> wnids from the shipped CSV."""
    p = Path(path) if path else data_dir() / "coco_wordnet.csv"
    g = graph or noun_graph()
    labels, wnids, problems = [], [], []
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no such file") from None
    if not rows or not {"name", "wnid"} <= set(rows[0]):
        raise ValueError(f"{p}: expected a CSV with 'name' and 'wnid' columns")
    for i, row in enumerate(rows, 2):
        w, prob = _resolve_id(row["wnid"].strip(), g)
        if w is None:
            problems.append(f"{p}:{i}: {row['name']}: {prob}")
            continue
        labels.append(row["name"].strip())
        wnids.append(w)
    return _finish(source, labels, wnids, problems, on_invalid)


def imagenet1k(
    path: str | Path | None = None,
    *,
    graph: NounGraph | None = None,
    on_invalid: str = "error",
    source: str = "imagenet1k",
) -> SourceResult:
    """The ILSVRC-2012 classes in ILSVRC2012_ID order; each label is its wnid (the class-folder name)."""
    return wnid_file(path or data_dir() / "imagenet1k_wnids.txt", graph=graph, on_invalid=on_invalid, source=source)


# ---- user lists -------------------------------------------------------------------------------------------
def wnid_file(
    path: str | Path, *, graph: NounGraph | None = None, on_invalid: str = "error", source: str | None = None
) -> SourceResult:
    """A text file with one wnid (``n02084071``) or synset name (``dog.n.01``) per line, optionally followed
    by a label (``n02084071 dog``); ``#`` starts a comment."""
    p = Path(path)
    g = graph or noun_graph()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no such file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not a UTF-8 text file") from None
    labels, wnids, problems = [], [], []
    seen: dict[str, int] = {}
    for i, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        token, _, label = body.partition(" ")
        token = token.split("\t")[0]
        label = (label or body[len(token) :]).strip() or token
        w, prob = _resolve_id(token, g)
        if w is None:
            problems.append(f"{p}:{i}: {prob}")
            continue
        if w in seen:
            problems.append(f"{p}:{i}: {w} repeats line {seen[w]}")
            continue
        seen[w] = i
        labels.append(label)
        wnids.append(w)
    if not wnids and not problems:
        raise ValueError(f"{p}: no wnids in the file")
    return _finish(source or p.stem, labels, wnids, problems, on_invalid)


def names(
    texts: Iterable[str],
    *,
    graph: NounGraph | None = None,
    ambiguous: str = "first",
    on_invalid: str = "error",
    source: str = "names",
) -> SourceResult:
    """Free-text names -> noun synsets. An entry may pin its sense: ``label = dog.n.01`` or ``= n02084071``.

    A name with several noun senses is *ambiguous*: it is reported in `notes` with every candidate, and
    resolved to WordNet's most common sense (``ambiguous="first"``) or counted as a problem (``"error"``).
    """
    if ambiguous not in ("first", "error"):
        raise ValueError(f"ambiguous={ambiguous!r}: expected 'first' or 'error'")
    g = graph or noun_graph()
    labels, wnids, problems, notes = [], [], [], []
    seen: dict[str, str] = {}
    for raw in texts:
        label, sep, query = raw.partition("=")
        label, query = label.strip(), (query.strip() if sep else label.strip())
        if not label:
            continue
        cands = g.resolve(query)
        if not cands:
            problems.append(f"{query!r}: no noun synset in WordNet")
            continue
        if len(cands) > 1:
            shown = "; ".join(f"{g.name(w)} ({w}): {g.glosses.get(w, '')[:60]}" for w in cands[:6])
            more = f"; +{len(cands) - 6} more" if len(cands) > 6 else ""
            if ambiguous == "error":
                problems.append(
                    f"{label!r} is ambiguous ({len(cands)} noun senses: {shown}{more}); "
                    f"write '{label} = <synset>' to choose"
                )
                continue
            notes.append(f"{label!r} is ambiguous, took {g.name(cands[0])} ({cands[0]}) of {len(cands)}: {shown}{more}")
        w = cands[0]
        if w in seen:
            notes.append(f"{label!r} and {seen[w]!r} are the same synset {g.name(w)}")
            continue
        seen[w] = label
        labels.append(label)
        wnids.append(w)
    return _finish(source, labels, wnids, problems, on_invalid, notes)


# ---- count-based selections ---------------------------------------------------------------------------
def _select(counts: dict[str, int], top_k: int | None, min_images: int | None) -> tuple[list[str], str]:
    if top_k is not None and top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {top_k}")
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))  # most images first, ties by wnid
    if min_images is not None:
        items = [kv for kv in items if kv[1] >= min_images]
    if top_k is not None:
        items = items[:top_k]
    why = []
    if min_images is not None:
        why.append(f">= {plural(min_images, 'image')}")
    if top_k is not None:
        why.append(f"top {top_k} by image count")
    note = f"selected {len(items)} of {plural(len(counts), 'class', 'classes')}" + (
        f" ({', '.join(why)})" if why else ""
    )
    if items and why:
        note += f"; counts {items[-1][1]}..{items[0][1]}"
    return sorted(w for w, _ in items), note


def count_images(folder: str | Path) -> int:
    """Image files (by extension) directly inside `folder`."""
    with os.scandir(folder) as it:
        return sum(1 for e in it if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS)


def class_folders(
    root: str | Path,
    *,
    top_k: int | None = None,
    min_images: int | None = None,
    graph: NounGraph | None = None,
    on_invalid: str = "error",
    source: str | None = None,
) -> SourceResult:
    """Class folders named by wnid under `root`; labels are the folder names in sorted order (as
    torchvision's ImageFolder numbers them). Folders that are not noun wnids are problems."""
    r = Path(root)
    if not r.is_dir():
        raise FileNotFoundError(f"{r}: no such folder")
    g = graph or noun_graph()
    problems, counts = [], {}
    for entry in sorted(os.scandir(r), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        p = (
            g.problem(entry.name)
            if WNID_RE.match(entry.name)
            else (f"folder {entry.name!r} is not named by a WordNet id (e.g. n02084071)")
        )
        if p:
            problems.append(f"{r / entry.name}: {p}")
            continue
        counts[entry.name] = count_images(entry.path)
    if not counts and not problems:
        raise ValueError(f"{r}: no class folders inside")
    chosen, note = _select(counts, top_k, min_images)
    empty = [w for w in chosen if counts[w] == 0]
    notes = [note] + (
        [f"{plural(len(empty), 'selected folder')} without images: {', '.join(empty[:5])}"] if empty else []
    )
    return _finish(source or r.name or "folders", chosen, chosen, problems, on_invalid, notes, counts)


def read_release_status(path: str | Path) -> dict[str, int]:
    """Image count per wnid from ImageNet's ``ReleaseStatus.xml`` (its ``images/synsetInfos`` section)."""
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no such file") from None
    except ET.ParseError as exc:
        raise ValueError(f"{p}: not valid XML ({exc})") from None
    infos = root.find("images/synsetInfos")
    if infos is None:
        raise ValueError(f"{p}: no <images><synsetInfos> section (not an ImageNet ReleaseStatus.xml?)")
    counts: dict[str, int] = {}
    for s in infos.iter("synset"):
        w, n = s.get("wnid"), s.get("numImages")
        if not w or n is None or not re.fullmatch(r"\d+", n):
            raise ValueError(f"{p}: <synset> without wnid/numImages: {ET.tostring(s, encoding='unicode')[:80]}")
        counts[w] = int(n)
    return counts


def release_status(
    path: str | Path,
    *,
    top_k: int | None = None,
    min_images: int | None = None,
    graph: NounGraph | None = None,
    on_invalid: str = "error",
    source: str = "imagenet21k",
) -> SourceResult:
    """Synsets selected by image count from ``ReleaseStatus.xml``, labels = wnids in sorted order.
    Darknet's 9k classes are ``min_images=777`` (the paper's "top 9000")."""
    g = graph or noun_graph()
    counts = read_release_status(path)
    problems = [f"{path}: {p}" for w in sorted(counts) if (p := g.problem(w))]
    valid = {w: n for w, n in counts.items() if g.problem(w) is None}
    chosen, note = _select(valid, top_k, min_images)
    return _finish(source, chosen, chosen, problems, on_invalid, [note], counts)


# ---- merging ------------------------------------------------------------------------------------------------
def merge(results: Sequence[SourceResult | LabelMap]) -> tuple[list[str], list[LabelMap]]:
    """All sources' wnids as one target list (first-seen order, no repeats) and their label maps;
    sources must have distinct names."""
    maps = [r.label_map if isinstance(r, SourceResult) else r for r in results]
    names_seen: set[str] = set()
    for m in maps:
        if m.source in names_seen:
            raise ValueError(f"two label sources are both named {m.source!r}; rename one")
        names_seen.add(m.source)
    targets: list[str] = []
    seen: set[str] = set()
    for m in maps:
        for w in m.ids:
            if w not in seen:
                seen.add(w)
                targets.append(w)
    return targets, maps
