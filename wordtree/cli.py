"""``build-wordtree`` (also ``wordtree``): build a WordTree from label sources, or check tree files."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from wordtree.builder import (
    COSTS,
    ROOT_KEEP,
    SCHEDULES,
    TIE_BREAKS,
    BuildOptions,
    BuildReport,
    TargetError,
    build,
    darknet_preset,
)
from wordtree.files import plural
from wordtree.formats import load_tree, read_names
from wordtree.hierarchy import HierarchyError
from wordtree.options import arg_type, non_negative_int, positive_int
from wordtree.tree import WordTree, distinct_source
from wordtree.version import package_version

if TYPE_CHECKING:
    from wordtree.files import OutputDir
    from wordtree.hierarchy import UserFile
    from wordtree.sources import SourceResult
    from wordtree.wordnet import NounGraph

PROG = "build-wordtree"
#: The names the command answers to (pyproject's console scripts); usage and errors use the one typed
PROGS = ("build-wordtree", "wordtree")
DEFAULT_OUT = "wordtree_out"

EPILOG = """\
examples:
  build-wordtree                                   # COCO + ImageNet-1k into ./wordtree_out
  build-wordtree --imagenet1k --no-coco -o in1k    # ImageNet-1k alone (paper's WordTree1k)
  build-wordtree --folders /data/imagenet21k --top-k 9000 --coco
  build-wordtree --release-status ReleaseStatus.xml --min-images 777 --imagenet1k --coco --darknet-compatible
  build-wordtree --names "penguin, owl, poodle, taxi, lemon" --names more_names.txt
  build-wordtree --wnids my_classes.txt --no-collapse --format json
  build-wordtree --hierarchy shop.csv -o shop    # your own hierarchy alone (CSV id,parent,name)
  build-wordtree --hierarchy bbox_labels_600_hierarchy.json --hierarchy-names oidv7-class-descriptions.csv
  build-wordtree --graft drones.csv               # COCO + ImageNet-1k + "drone,aircraft.n.01,drone"
  build-wordtree --check wordtree_out/wordtree.tree   (or: wordtree check FILE)
  build-wordtree --check wordtree_out               # a folder: its trees, and label maps made for another tree
  build-wordtree --info wordtree_out/wordtree.json

sources: with no WordNet source given, --coco and --imagenet1k are used (--no-coco / --no-imagenet1k leave
one out); naming one (e.g. --imagenet1k) uses only those named. Each source's label map (dataset label ->
tree node) is saved in the JSON file and written as <source>.map (+ <source>.names) for Darknet.
--darknet-compatible adds Darknet's hand edits (wordtree/data/darknet_compatible.json): roots under
physical_entity, 4 re-attachments, 3 display names; with Darknet's class set it rebuilds 9k.tree exactly.

your own nodes: --hierarchy FILE (repeatable) reads a CSV with the header id,parent,name (empty parent: a
root) or Open Images' hierarchy JSON; alone it builds that hierarchy alone, beside WordNet sources its roots
stand beside WordNet's top level. --graft FILE reads the same CSV where every parent is a WordNet synset
(wnid or name like aircraft.n.01) or another id of the files: the synset's path is added with the rules
below, the synset is kept as a node, and the rows hang below it. A user id is any text without whitespace
that is not shaped like a wnid (n + 8 digits) or a synset name; every row of a file is a target class unless
--hierarchy-targets lists them. Each file's rows become a label map named by the file's stem.

output: the folder gets a marker (.yolo9000-output.json) naming the files written and the tree each label
map was made for. A run into the same folder rewrites identical files; one that would change a file, or
leave a file of the earlier run beside the new tree, needs --force, which replaces the earlier run's whole
output set (its files not written again are deleted; a file the tool did not write is never touched).
-q prints nothing but warnings and errors.
"""


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Build a YOLO9000 WordTree from WordNet 3.0 for a set of label sources, or check tree files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    s = p.add_argument_group("label sources")
    s.add_argument(
        "--coco",
        nargs="?",
        const="",
        default=None,
        metavar="CSV",
        help="COCO's 80 categories (the shipped mapping, or a CSV with name,wnid columns); a default source",
    )
    s.add_argument(
        "--no-coco",
        dest="coco",
        action="store_const",
        const=False,
        help="leave COCO out (of the defaults: with no other source, ImageNet-1k alone)",
    )
    s.add_argument(
        "--imagenet1k",
        nargs="?",
        const="",
        default=None,
        metavar="FILE",
        help="the 1000 ILSVRC-2012 classes (shipped list, or a file of wnids); a default source",
    )
    s.add_argument(
        "--no-imagenet1k",
        dest="imagenet1k",
        action="store_const",
        const=False,
        help="leave ImageNet-1k out (of the defaults: with no other source, COCO alone)",
    )
    s.add_argument(
        "--folders",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of class folders named by wnid (repeatable)",
    )
    s.add_argument("--release-status", metavar="XML", help="ImageNet's ReleaseStatus.xml (image counts per synset)")
    s.add_argument(
        "--wnids",
        action="append",
        default=[],
        metavar="FILE",
        help="a text file of wnids or synset names, optionally each followed by a label (repeatable)",
    )
    s.add_argument(
        "--names",
        action="append",
        default=[],
        metavar="FILE|TEXT",
        help="free-text names: a file (one per line) or a comma-separated list (repeatable)",
    )
    s.add_argument(
        "--top-k",
        type=arg_type(positive_int),
        metavar="K",
        help="keep the K classes with most images (--folders, --release-status)",
    )
    s.add_argument(
        "--min-images",
        type=arg_type(non_negative_int),
        metavar="N",
        help="keep classes with at least N images (same sources)",
    )
    s.add_argument(
        "--ambiguous",
        choices=("first", "error"),
        default="first",
        help="a name with several noun senses: take the most common one (default) or fail",
    )
    s.add_argument(
        "--hierarchy",
        action="append",
        default=[],
        metavar="FILE",
        help="your own hierarchy: a CSV id,parent,name or Open Images' hierarchy JSON (repeatable)",
    )
    s.add_argument(
        "--hierarchy-names",
        metavar="CSV",
        help="Open Images' class descriptions (LabelName,Name rows): the names of a --hierarchy JSON",
    )
    s.add_argument(
        "--hierarchy-targets",
        metavar="FILE",
        help="ids (one per line) that are target classes of the --hierarchy/--graft files (default: every "
        "row); the others may be collapsed",
    )
    s.add_argument(
        "--graft",
        action="append",
        default=[],
        metavar="CSV",
        help="classes WordNet lacks: a CSV id,parent,name whose parents are WordNet synsets or its own ids "
        "(repeatable)",
    )
    s.add_argument(
        "--skip-invalid",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="skip (and list) invalid targets (verbs, unknown ids) instead of failing",
    )

    b = p.add_argument_group("building (defaults: the general rules that rebuild Darknet's 9k tree)")
    b.add_argument(
        "--darknet-compatible",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="Darknet's preset: roots under physical_entity + its 4 hand edits + 3 names",
    )
    b.add_argument(
        "--collapse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="splice out non-target intermediate nodes with one child (default: on)",
    )
    b.add_argument(
        "--hoist",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a target whose only child is a leaf hands it to its own parent (default: on)",
    )
    b.add_argument(
        "--tie-break",
        choices=TIE_BREAKS,
        help="equal-cost paths: smallest root-first synset names (default) or first path",
    )
    b.add_argument("--schedule", choices=SCHEDULES, help="order of multi-path targets (default: levels)")
    b.add_argument("--cost", choices=COSTS, help="path cost: all new nodes on it (default) or the added prefix")
    b.add_argument(
        "--keep",
        metavar="SYNSET",
        help="'root' (default: drop entity, its children are the top level), 'all', or a synset "
        "(wnid or name) whose strict descendants are kept",
    )

    o = p.add_argument_group("output")
    o.add_argument("-o", "--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default ./{DEFAULT_OUT})")
    o.add_argument("--stem", default="wordtree", help="file name stem (default: wordtree)")
    o.add_argument("--format", default="json,darknet", help="json, darknet or both (default: json,darknet)")
    o.add_argument(
        "--force",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="replace the earlier run's output set in the folder: files that differ are overwritten, files not "
        "written again are deleted (never a file this tool did not write)",
    )
    o.add_argument(
        "-q",
        "--quiet",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="print nothing but warnings and errors (no progress, no summary)",
    )

    c = p.add_argument_group("checking")
    c.add_argument(
        "--check",
        nargs="+",
        metavar="FILE",
        help="validate tree files (.tree/.names/.labels/.map/.json) or folders (every tree file in it, and its "
        "label maps against the tree beside them)",
    )
    c.add_argument("--info", metavar="FILE", help="print the summary of a tree file (.json or .tree)")
    return p


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.2f}s] {msg}", file=sys.stderr, flush=True)


def _check(files: list[str]) -> int:
    """`--check`: every problem of each file or folder, then one line per argument (OK, or the count)."""
    from wordtree.formats import check_dir, check_file

    bad = 0
    for f in files:
        problems = check_dir(f) if Path(f).is_dir() else check_file(f)
        for line in problems:
            print(line)
        if problems:
            bad += 1
            print(f"{f}: {plural(len(problems), 'problem')}")
        else:
            print(f"{f}: OK")
    return 1 if bad else 0


def _print_summary(tree: WordTree, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    s = tree.summary()
    print(
        f"nodes {s['nodes']}  groups {s['groups']}  top-level {s['roots']}  max depth {s['max_depth']}  "
        f"largest group {s['largest_group']}",
        file=out,
    )
    if s["targets"]:
        print(
            f"targets {s['targets']}: {plural(s['target_leaves'], 'leaf', 'leaves')}, {s['target_internal']} "
            f"internal; {plural(s['nodes'] - s['targets'], 'intermediate node')}",
            file=out,
        )
    else:
        print(f"leaves {s['leaves']}, one-child nodes {s['one_child_nodes']}", file=out)
    big = int(tree.group_size.argmax())
    gp = int(tree.group_parent[big])
    print(
        f"largest group under {'(top level)' if gp < 0 else tree.names[gp]}; top level: "
        + ", ".join(tree.names[i] for i in tree.roots[:8])
        + (" ..." if len(tree.roots) > 8 else ""),
        file=out,
    )
    for src in sorted(tree.label_maps):
        m = tree.label_maps[src]
        idx = tree.label_map(src)
        leaves = int(tree.is_leaf[idx].sum())
        counts = f"{plural(len(m.labels), 'label')} -> {plural(len(set(idx)), 'node')}"
        print(f"label map {src}: {counts} ({plural(leaves, 'leaf', 'leaves')})", file=out)


def _gather_sources(
    args: argparse.Namespace, graph: NounGraph | None, progress: Callable[[str], None]
) -> list[SourceResult]:
    from wordtree import sources as S

    # collect every source's problems first, so one run reports all invalid entries of all sources
    on_invalid = "skip"
    any_given = _wordnet_sources_given(args) or bool(args.hierarchy)
    if (args.top_k is not None or args.min_images is not None) and not (args.folders or args.release_status):
        raise ValueError("--top-k/--min-images select from --folders or --release-status; give one of them")
    results = []
    if _wanted(args.coco, any_given):
        results.append(S.coco(args.coco or None, graph=graph, on_invalid=on_invalid))
    if _wanted(args.imagenet1k, any_given):
        results.append(S.imagenet1k(args.imagenet1k or None, graph=graph, on_invalid=on_invalid))
    for d in args.folders:
        progress(f"counting images in {d} ...")
        results.append(
            S.class_folders(d, top_k=args.top_k, min_images=args.min_images, graph=graph, on_invalid=on_invalid)
        )
    if args.release_status:
        results.append(
            S.release_status(
                args.release_status, top_k=args.top_k, min_images=args.min_images, graph=graph, on_invalid=on_invalid
            )
        )
    for f in args.wnids:
        results.append(S.wnid_file(f, graph=graph, on_invalid=on_invalid))
    for k, spec in enumerate(args.names):
        p = Path(spec)
        texts = read_names(p, comments=True) if p.is_file() else [t for t in spec.split(",") if t.strip()]
        if not texts:
            raise ValueError(f"--names {spec!r}: no names given")
        src = p.stem if p.is_file() else ("names" if k == 0 else f"names{k + 1}")
        results.append(S.names(texts, graph=graph, ambiguous=args.ambiguous, on_invalid=on_invalid, source=src))
    # distinct source names (two folders called "train" ...)
    used: set[str] = set()
    for r in results:
        r.label_map = replace(r.label_map, source=distinct_source(r.label_map.source, used))
    if not results:
        raise ValueError("no label sources left (--no-coco --no-imagenet1k); name one, e.g. --wnids FILE")
    problems = [f"{r.label_map.source}: {p}" for r in results for p in r.problems]
    if problems and not args.skip_invalid:
        raise TargetError(problems)
    for r in results:
        progress(f"source {r.label_map.source}: {plural(len(r), 'label')}" + (f"; {r.notes[0]}" if r.notes else ""))
        for n in r.notes[1:]:
            progress(f"  {n}")
        for prob in r.problems:  # --skip-invalid: a warning, printed with -q too
            print(f"{getattr(args, 'prog', PROG)}: warning: skipped {r.label_map.source}: {prob}", file=sys.stderr)
    return results


def _wanted(value: str | bool | None, any_given: bool) -> bool:
    """Whether a default source (--coco/--imagenet1k: a path or "" when named, False for --no-..., None when not
    mentioned) is used: when named, or when no source is named and it was not turned off."""
    return isinstance(value, str) or (value is None and not any_given)


def _wordnet_sources_given(args: argparse.Namespace) -> bool:
    """True when the command line names a WordNet label source (else the defaults apply, or, beside
    --hierarchy, none); --no-coco/--no-imagenet1k name none."""
    named = [isinstance(args.coco, str), isinstance(args.imagenet1k, str)]
    return any(named + [bool(args.folders), bool(args.release_status), bool(args.wnids), bool(args.names)])


def _user_files(args: argparse.Namespace) -> list[UserFile]:
    """The --hierarchy and --graft files, read (their problems kept for `resolve` to report at once)."""
    from wordtree import hierarchy as H

    targets = H.read_targets(args.hierarchy_targets) if args.hierarchy_targets else None
    jsons = [f for f in args.hierarchy if Path(f).suffix.lower() == ".json"]
    if args.hierarchy_names and not jsons:
        raise ValueError("--hierarchy-names names the classes of an Open Images --hierarchy JSON; none is given")
    files = [H.read_file(f, "hierarchy", args.hierarchy_names if f in jsons else None, targets) for f in args.hierarchy]
    files += [H.read_file(f, "graft", None, targets) for f in args.graft]
    return files


def _options(args: argparse.Namespace, graph: NounGraph | None) -> BuildOptions:
    opts = darknet_preset() if args.darknet_compatible else BuildOptions()
    changes: dict[str, Any] = {}
    for name in ("collapse", "hoist", "tie_break", "schedule", "cost"):
        v = getattr(args, name)
        if v is not None:
            changes[name] = v
    if args.keep is not None:
        k = args.keep.strip()
        if k == "all":
            changes["keep"] = None
        elif k == ROOT_KEEP:
            changes["keep"] = ROOT_KEEP
        elif graph is None:
            raise ValueError(f"--keep {k!r}: a synset to keep needs WordNet sources (a --hierarchy alone has none)")
        else:
            w = graph.resolve(k)
            if len(w) != 1:
                raise ValueError(
                    f"--keep {k!r}: expected one noun synset (wnid or name like physical_entity.n.01), found {len(w)}"
                )
            changes["keep"] = w[0]
    changes["on_invalid"] = "skip" if args.skip_invalid else "error"
    return replace(opts, **changes)


def _inputs(args: argparse.Namespace) -> list[str]:
    """The files and folders the label sources read (an output folder may neither be nor hold one)."""
    keys = ("coco", "imagenet1k", "release_status", "hierarchy_names", "hierarchy_targets")
    found: list[object] = [getattr(args, k, None) for k in keys]
    for k in ("folders", "wnids", "names", "hierarchy", "graft"):
        found += list(getattr(args, k, None) or [])
    return [x for x in found if isinstance(x, str) and x]  # not --no-coco's False, nor an unnamed None


def _output_dir(
    args: argparse.Namespace, *, save: bool = True, owned: Iterable[str] | Callable[[str], bool] = ()
) -> OutputDir:
    """The output folder under the rule of `wordtree.files.prepare_output_dir`."""
    from wordtree.files import prepare_output_dir

    settings = {"stem": args.stem, "format": args.format}
    return prepare_output_dir(
        args.out,
        command="build-wordtree",
        settings=settings,
        force=args.force,
        inputs=_inputs(args),
        owned=owned,
        save=save,
    )


def _file_info(tree: WordTree, name: str, stem: str) -> dict[str, Any]:
    """What the marker says of a written file: the tree it belongs to (fingerprint and size), and for a label
    map (`<source>.map`/`.names`, and the JSON's maps) its source and label count: `--check FOLDER` compares."""
    info: dict[str, Any] = {"tree_fingerprint": tree.fingerprint, "tree_nodes": len(tree)}
    source = Path(name).stem
    if source != stem and source in tree.label_maps:
        info["label_map"] = source
        info["labels"] = len(tree.label_maps[source].labels)
    return info


def _made_for(info: object, tree: WordTree) -> bool:
    """True when the marker's `info` of a file says it was made for `tree` (and, for a label map, for one of its
    maps): such a file of an earlier run may stay beside it."""
    if not isinstance(info, dict) or info.get("tree_fingerprint") != tree.fingerprint:
        return False
    return info.get("label_map") is None or info["label_map"] in tree.label_maps


def _write(tree: WordTree, args: argparse.Namespace, meta: dict[str, Any]) -> tuple[list[Path], list[str]]:
    """Write the tree's files; returns the files written and the earlier run's files removed (--force)."""
    from wordtree.formats import darknet_texts, dumps_json, write_text_atomic

    formats = {f.strip() for f in args.format.split(",") if f.strip()}
    unknown = formats - {"json", "darknet"}
    if unknown or not formats:
        raise ValueError(f"--format {args.format!r}: expected json, darknet or json,darknet")
    out = Path(args.out)
    files: dict[str, str] = {}
    if "json" in formats:
        files[f"{args.stem}.json"] = dumps_json(tree, meta)
    if "darknet" in formats:
        if args.stem in tree.label_maps:
            raise ValueError(f"--stem {args.stem!r} clashes with the label source of the same name; pick another")
        files.update(darknet_texts(tree, args.stem))
    clash = [
        n
        for n, text in files.items()
        if (out / n).exists() and (out / n).read_text(encoding="utf-8", errors="replace") != text
    ]
    # files of the earlier run this one does not write: they would stay beside a tree they were not made for
    before = _output_dir(args, save=False, owned=files)
    stale = [n for n in before.stale(keep=files) if not _made_for(before.info.get(n), tree)]
    if (clash or stale) and not args.force:
        what = (
            f"{', '.join(clash)} already exist with different content"
            if clash
            else f"{', '.join(stale)} of the earlier run would stay beside the new tree"
        )
        raise FileExistsError(f"{out}: {what} (use --force to replace the earlier output, or -o to write elsewhere)")
    target = _output_dir(args, owned=files)
    written = []
    for n, text in files.items():
        write_text_atomic(target.claim(n, flush=False, info=_file_info(tree, n, args.stem)), text)
        written.append(out / n)
    removed = target.finish()  # with --force: the earlier run's files not written again
    return written, removed


def _build(args: argparse.Namespace) -> int:
    from wordtree import sources as S
    from wordtree.hierarchy import is_wordnet_ref, resolve
    from wordtree.wordnet import find_wordnet, noun_graph

    progress = _Progress(args.quiet)
    _output_dir(args, save=False)  # refuse a folder of the user's before the slow part
    user_files = _user_files(args)
    wordnet = _wordnet_sources_given(args) or not args.hierarchy
    grafts = any(n.parent and is_wordnet_ref(n.parent) for f in user_files for n in f.nodes)
    graph = None
    if wordnet or grafts:  # a --hierarchy alone, without a graft, needs no WordNet
        progress(f"WordNet: {find_wordnet()}")
        graph = noun_graph()
        progress(f"WordNet {graph.version or '?'} noun graph loaded: {plural(len(graph), 'synset')}")
    results = _gather_sources(args, graph, progress) if wordnet else []
    targets, maps = S.merge(results)
    user = resolve(user_files, graph, taken={m.source for m in maps}) if user_files else None
    if user is not None:
        for m in user.label_maps:
            progress(f"source {m.source}: {plural(len(m.labels), 'label')} from {user.nodes[m.ids[0]].file}")
    opts = _options(args, graph)
    parts = [plural(len(targets), "WordNet target")] if wordnet else []
    parts += [plural(len(user), "user node")] if user is not None else []
    progress(f"building the tree over {' and '.join(parts)} ...")
    tree, report = build(targets, opts, graph=graph, label_maps=maps, user=user)
    for line in _report_lines(report, wordnet):
        progress(line)
    warnings = list(report.name_collisions)  # printed with -q too
    if report.dropped:
        warnings.append(
            f"{plural(len(report.dropped), 'target')} dropped outside the kept subtree: "
            + ", ".join(f"{graph.names[w] if graph else w}" for w in report.dropped[:10])
            + (" ..." if len(report.dropped) > 10 else "")
        )
    warnings += [f"skipped invalid target: {line}" for line in report.invalid]
    for line in warnings:
        print(f"{args.prog}: warning: {line}", file=sys.stderr)
    meta = {
        "tool": "build-wordtree",
        "wordnet": (graph.version or "unknown") if graph is not None else "not used",
        "options": opts.to_dict(),
        "sources": [{"name": r.label_map.source, "labels": len(r), "notes": r.notes[:1]} for r in results],
    }
    if user_files:
        meta["hierarchy"] = list(args.hierarchy)
        meta["graft"] = list(args.graft)
    written, removed = _write(tree, args, meta)
    if not args.quiet:  # -q: warnings and errors only
        out = Path(args.out)
        print(f"wrote {out.resolve()}: {', '.join(p.name for p in written)}")
        if removed:
            print(f"removed the earlier run's {', '.join(removed)} (--force)")
        _print_summary(tree)
    progress("done")
    return 0


def _report_lines(report: BuildReport, wordnet: bool) -> list[str]:
    """The build report's lines the progress shows: the WordNet target counts (only when WordNet sources were
    used: a hierarchy alone has none, and "0 targets" beside its 3 classes misleads) and the user nodes."""
    lines = report.lines()
    head = lines[:3] if wordnet else []
    return head + [ln for ln in lines if ln.startswith("user nodes")]


def _prog(argv0: str | None = None) -> str:
    """The command's name as typed: `wordtree` or `build-wordtree` (the console scripts), else build-wordtree."""
    name = Path(sys.argv[0] if argv0 is None else argv0).name
    return name if name in PROGS else PROG


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Entry point of the ``build-wordtree`` and ``wordtree`` console scripts (`prog`: the name usage and errors
    show; default: the script's name as typed, else build-wordtree)."""
    prog = prog or (_prog() if argv is None else PROG)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "check":
        argv = ["--check"] + argv[1:]
    elif argv and argv[0] == "info":
        argv = ["--info"] + argv[1:]
    elif argv and argv[0] == "build":
        argv = argv[1:]
    args = _parser(prog).parse_args(argv)
    args.prog = prog
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")  # -q keeps warnings
    logging.getLogger("wordtree.builder").setLevel(logging.ERROR)  # the CLI prints the report itself
    try:
        if args.check:
            return _check(args.check)
        if args.info:
            tree = load_tree(args.info)
            print(f"{args.info}: {tree!r}")
            _print_summary(tree)
            return 0
        return _build(args)
    except TargetError as exc:
        for prob in exc.problems:
            print(f"{prog}: invalid target: {prob}", file=sys.stderr)
        print(
            f"{prog}: error: {plural(len(exc.problems), 'invalid target')}; fix them or pass --skip-invalid",
            file=sys.stderr,
        )
        return 1
    except HierarchyError as exc:
        for prob in exc.problems:
            print(f"{prog}: error: {prob}", file=sys.stderr)
        print(f"{prog}: error: {plural(len(exc.problems), 'problem')} in the hierarchy files", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, FileExistsError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
