"""The WordTree builder on hand-made hierarchies (every rule) and on real WordNet (paper figures)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from wordtree.builder import BuildOptions, TargetError, build, build_wordtree, darknet_preset
from wordtree.formats import dumps_json
from wordtree.tree import LabelMap
from wordtree.wordnet import NounGraph


def G(**hyps) -> NounGraph:
    """A hand-made hypernym graph; ids double as synset names (for the name tie-break)."""
    return NounGraph.from_hypernyms({k: v.split() if isinstance(v, str) else v for k, v in hyps.items()})


def edges(tree) -> dict[str, str | None]:
    return {w: (tree.ids[p] if p >= 0 else None) for w, p in zip(tree.ids, tree.parent.tolist())}


@pytest.fixture()
def wordnet(graph):
    return graph  # conftest's session-wide WordNet noun graph


CHAIN = G(root="", a="root", b="a", t1="b", c="root", t2="c", t3="c")


def test_collapse_splices_single_child_intermediates():
    tree = build_wordtree(["t1", "t2", "t3"], graph=CHAIN)
    assert edges(tree) == {"t1": None, "c": None, "t2": "c", "t3": "c"}  # root dropped, a and b spliced out
    assert tree.targets == ("t1", "t2", "t3")
    full = build_wordtree(["t1", "t2", "t3"], graph=CHAIN, collapse=False)
    assert edges(full) == {"a": None, "c": None, "b": "a", "t1": "b", "t2": "c", "t3": "c"}
    kept_root = build_wordtree(["t1", "t2", "t3"], graph=CHAIN, keep=None)
    assert edges(kept_root) == {"root": None, "t1": "root", "c": "root", "t2": "c", "t3": "c"}


def test_layout_keeps_darknet_invariants():
    tree = build_wordtree(["t1", "t2", "t3"], graph=CHAIN, collapse=False)
    par = tree.parent.tolist()
    assert all(p < i for i, p in enumerate(par))  # parents first
    # Darknet's pre-order group layout, siblings by wnid: the top block, then a's block, recursively, ...
    assert list(tree.ids) == ["a", "c", "b", "t1", "t2", "t3"]


def test_cheapest_path_wins_and_single_path_targets_go_first():
    g = G(root="", x="root", y="x", z="root", m="y z", s="y")
    # s (one path) is added first, so m's path through y costs 1 new node and the one through z costs 2
    assert edges(build_wordtree(["m", "s"], graph=g, keep=None))["m"] == "y"
    # alone, m's path through z is shorter (2 new nodes against 3)
    assert edges(build_wordtree(["m"], graph=g, keep=None, collapse=False))["m"] == "z"
    _, rep = build(["m", "s"], BuildOptions(keep=None), graph=g)
    assert rep.single_path == 1 and rep.decisions == 1 and rep.tied_decisions == 0


def test_cost_ties_break_by_root_first_names_or_first_path():
    g = G(root="", beta="root", alpha="root", a1="alpha", b1="beta", m="beta alpha")
    names = build_wordtree(["a1", "b1", "m"], graph=g)
    assert edges(names)["m"] == "alpha"  # ('root', 'alpha', 'm') < ('root', 'beta', 'm')
    first = build_wordtree(["a1", "b1", "m"], graph=g, tie_break="first")
    assert edges(first)["m"] == "beta"  # first hypernym listed
    _, rep = build(["a1", "b1", "m"], graph=g)
    assert rep.tied_decisions == 1


def test_cost_counts_whole_path_or_prefix():
    # w enters through zz (zt puts zz in the tree); m may hang under p (via w) or under y. Paths of m:
    #   A root>u>w>p>m: new nodes u,p,m (whole 3) but only p,m get added (prefix 2)
    #   B root>zz>w>p>m: 2 / 2        C root>y>m: 2 / 2
    g = G(root="", u="root", zz="root", zt="zz", w="u zz", p="w", y="root", m="p y")
    opts = BuildOptions(keep=None, collapse=False, hoist=False)
    whole, _ = build(["zt", "w", "m"], opts, graph=g)
    prefix, _ = build(["zt", "w", "m"], replace(opts, cost="prefix"), graph=g)
    assert edges(whole)["m"] == "y"  # B and C tie at 2; ('root', 'y', ..) < ('root', 'zz', ..)
    assert edges(prefix)["m"] == "p"  # A, B and C tie at 2; A's ('root', 'u', ..) is smallest


def test_hoist_moves_an_only_leaf_child_up():
    g = G(root="", q="root", p="q", c="p", r="q")
    hoisted = build_wordtree(["p", "c", "r"], graph=g)
    assert edges(hoisted) == {"q": None, "c": "q", "p": "q", "r": "q"}
    plain = build_wordtree(["p", "c", "r"], graph=g, hoist=False)
    assert edges(plain) == {"q": None, "p": "q", "r": "q", "c": "p"}


def test_keep_subtree_reports_dropped_targets():
    g = G(root="", q="root", p="q", r="q", o="root", o2="o")
    tree, rep = build(["p", "r", "o2"], BuildOptions(keep="q"), graph=g)
    assert edges(tree) == {"p": None, "r": None}
    assert rep.dropped == ["o2"]
    with pytest.raises(ValueError, match="kept subtree"):
        build(["o2"], BuildOptions(keep="q"), graph=g)
    # a dataset label whose target was cut away leaves its label map (reported), not an error
    lm = LabelMap("ds", ("P", "O2"), ("p", "o2"))
    tree, rep = build(["p", "r", "o2"], BuildOptions(keep="q"), graph=g, label_maps=[lm])
    assert tree.label_maps["ds"].labels == ("P",) and rep.dropped == ["o2"]


def test_graft_reattaches_after_building_and_refuses_cycles():
    g = G(root="", q="root", p="q", c="p", r="q", s="root", s1="s", s2="s")
    tree, rep = build(["c", "r", "s1", "s2", "p"], BuildOptions(graft=(("s", "r"),)), graph=g)
    assert edges(tree)["s"] == "r" and rep.grafted == 1
    with pytest.raises(ValueError, match="cycle"):
        build(["c", "r", "p"], BuildOptions(graft=(("p", "c"),), hoist=False), graph=g)


def test_invalid_targets_are_all_reported_or_skipped():
    g = G(root="", a="root", b="root")
    with pytest.raises(TargetError) as err:
        build_wordtree(["a", "v01234567", "n99999999", "b"], graph=g)
    assert len(err.value.problems) == 2
    assert "v01234567" in err.value.problems[0] and "n99999999" in err.value.problems[1]
    assert "+1 more" in str(err.value)
    tree, rep = build(["a", "v01234567", "b"], BuildOptions(on_invalid="skip"), graph=g)
    assert set(tree.ids) == {"a", "b"} and len(rep.invalid) == 1
    with pytest.raises(ValueError, match="no valid targets"):
        build(["zzz"], BuildOptions(on_invalid="skip"), graph=g)
    with pytest.raises(ValueError, match="schedule"):
        BuildOptions(schedule="fastest")


def test_same_targets_in_any_order_give_identical_bytes():
    g = G(root="", x="root", y="x", z="root", m="y z", s="y", t="z", u="root", v="u")
    targets = ["m", "s", "t", "v", "u"]
    texts = set()
    for seed in range(4):
        rng = random.Random(seed)
        shuffled = targets[:]
        rng.shuffle(shuffled)
        texts.add(dumps_json(build_wordtree(shuffled, graph=g)))
    assert len(texts) == 1


@pytest.mark.parametrize("schedule", ["levels", "global", "sequential"])
def test_every_schedule_places_every_target(schedule):
    g = G(root="", x="root", y="x", z="root", m="y z", n="m z", s="y", t="z")
    tree = build_wordtree(["n", "m", "s", "t"], graph=g, schedule=schedule)
    assert set(tree.targets) == {"n", "m", "s", "t"}


def test_label_maps_travel_with_the_tree():
    lm = LabelMap("toy", ("first", "second"), ("t2", "t1"))
    tree = build_wordtree(["t1", "t2", "t3"], graph=CHAIN, label_maps=[lm])
    assert [tree.ids[i] for i in tree.label_map("toy")] == ["t2", "t1"]
    bad = LabelMap("toy", ("x",), ("a",))  # "a" is collapsed away: not a node
    with pytest.raises(ValueError, match="no node in the tree"):
        build_wordtree(["t1", "t2", "t3"], graph=CHAIN, label_maps=[bad])


# ---- real WordNet ------------------------------------------------------------------------------------------
def test_imagenet1k_node_counts(wordnet):
    from wordtree.sources import imagenet1k

    ids = list(imagenet1k(graph=wordnet).ids)
    tree, rep = build(ids, graph=wordnet)
    s = tree.summary()
    # the paper's WordTree1k has 1369 nodes; these rules give 1000 targets + 373 intermediates (see notes)
    assert (s["nodes"], s["targets"], s["target_leaves"]) == (1373, 1000, 1000)
    assert [tree.ids[i] for i in tree.roots] == ["n00001930", "n00002137"]  # physical_entity, abstraction
    preset = darknet_preset()
    assert len(build(ids, preset, graph=wordnet)[0]) == 1372
    assert len(build(ids, replace(preset, tie_break="first"), graph=wordnet)[0]) == 1369
    dog = tree.index("n02110185")  # Siberian husky
    path = [tree.names[i] for i in tree.path(dog)]
    assert path[:4] == ["physical entity", "object", "whole", "organism"]  # living thing: one child, collapsed
    assert path[-4:] == ["dog", "working dog", "sled dog", "Siberian husky"]


def test_real_targets_by_synset_name_and_verbs(wordnet):
    tree = build_wordtree(["dog.n.01", "n02121620", "n02084071"], graph=wordnet)
    assert set(tree.targets) == {"n02084071", "n02121620"}
    assert tree.names[tree.index("n02084071")] == "dog"
    # dog and cat meet at carnivore: collapse leaves carnivore as their parent
    assert tree.parent[tree.index("n02084071")] == tree.parent[tree.index("n02121620")]
    with pytest.raises(TargetError) as err:
        build_wordtree(["n02084071", "v01835496", "n00000042"], graph=wordnet)
    assert len(err.value.problems) == 2 and "not a noun" in err.value.problems[0]
