"""Parity with Darknet's shipped 9k tree (runs only where ../shared/reference is present)."""

from __future__ import annotations

import pytest

from wordtree import sources as S
from wordtree.builder import BuildOptions, build, darknet_preset
from wordtree.formats import read_map, write_darknet
from wordtree.tree import LabelMap, WordTree


@pytest.fixture(scope="module")
def dk(reference_dir):
    d = reference_dir / "darknet"
    tree = WordTree.from_darknet(d / "9k.tree", d / "9k.names")
    return d, tree


def _parents(tree: WordTree) -> dict[str, str | None]:
    return {w: (tree.ids[p] if p >= 0 else None) for w, p in zip(tree.ids, tree.parent.tolist())}


def _matching(built: WordTree, ref: WordTree) -> int:
    mine, theirs = _parents(built), _parents(ref)
    return sum(mine.get(w, "-") == p for w, p in theirs.items())


def test_darknet_files_round_trip_byte_identical(dk, tmp_path):
    d, tree = dk
    assert len(tree) == 9418 and tree.num_groups == 1846 and tree.max_depth == 16
    coco_names = (d / "coco.names").read_text().split("\n")[:80]
    m = read_map(d / "coco9k.map", tree, "coco9k", coco_names)
    assert tree.names[tree.index(m.ids[0])] == "person"
    write_darknet(tree.with_label_maps([m]), tmp_path, "9k")
    for name, ref in (
        ("9k.tree", "9k.tree"),
        ("9k.names", "9k.names"),
        ("9k.labels", "9k.labels"),
        ("coco9k.map", "coco9k.map"),
    ):
        assert (tmp_path / name).read_bytes() == (d / ref).read_bytes(), name


def test_built_from_9k_labels_matches_parents(dk, graph):
    d, ref = dk
    labels = (d / "9k.labels").read_text().split()
    default, _ = build(labels, BuildOptions(), graph=graph)
    share = _matching(default, ref) / len(ref)
    print(
        f"\n9k.labels, default rules: {_matching(default, ref)}/9418 parents match ({share:.2%}), {len(default)} nodes"
    )
    assert share >= 0.99
    preset, _ = build(labels, darknet_preset(), graph=graph)
    print(f"9k.labels, --darknet-compatible: {_matching(preset, ref)}/9418, {len(preset)} nodes")
    assert _matching(preset, ref) >= 9408 and len(preset) == 9418


def test_preset_with_darknet_class_set_rebuilds_every_parent(dk, graph, reference_dir):
    d, ref = dk
    labels = (d / "9k.labels").read_text().split()
    rich = S.release_status(reference_dir / "imagenet" / "ReleaseStatus.xml", min_images=777, graph=graph)
    in1k = S.imagenet1k(graph=graph)
    coco = [labels[int(x)] for x in (d / "coco9k.map").read_text().split()]  # Darknet's own COCO choices
    targets, _ = S.merge([rich, in1k, LabelMap("coco9k", tuple(coco), tuple(coco))])
    tree, report = build(targets, darknet_preset(), graph=graph)
    matching = _matching(tree, ref)
    print(
        f"\nDarknet class set ({len(targets)} candidates), preset: {matching}/9418 parents, {len(tree)} nodes, "
        f"{len(report.dropped)} non-physical targets dropped, {report.seconds:.2f} s"
    )
    assert len(tree) == 9418 and matching == 9418
    assert set(tree.ids) == set(ref.ids)
    assert [tree.names[tree.index(w)] for w in ref.ids] == list(ref.names)  # incl. the 3 overrides
    assert len(report.dropped) == 260 and report.grafted == 4
