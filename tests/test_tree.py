"""The WordTree core: layout, arrays, invariants and lookups on small hand-made trees."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from wordtree import LabelMap, TreeError, WordTree


@pytest.fixture()
def toy() -> WordTree:
    # animal -> {bird -> {owl, penguin}, dog -> {terrier}}, vehicle -> {car}
    edges = {
        "animal": None,
        "vehicle": None,
        "bird": "animal",
        "dog": "animal",
        "owl": "bird",
        "penguin": "bird",
        "terrier": "dog",
        "car": "vehicle",
    }
    return WordTree.from_edges(edges, targets=["owl", "penguin", "dog", "car"])


def test_layout_keeps_darknet_invariants(toy: WordTree) -> None:
    assert toy.ids == ("animal", "vehicle", "bird", "dog", "owl", "penguin", "terrier", "car")
    assert toy.parent.tolist() == [-1, -1, 0, 0, 2, 2, 3, 1]
    assert toy.group.tolist() == [0, 0, 1, 1, 2, 2, 3, 4]
    assert toy.group_offset.tolist() == [0, 2, 4, 6, 7]
    assert toy.group_size.tolist() == [2, 2, 2, 1, 1]
    assert toy.group_parent.tolist() == [-1, 0, 2, 3, 1]
    assert toy.child_group.tolist() == [1, 4, 2, 3, -1, -1, -1, -1]
    assert toy.depth.tolist() == [0, 0, 1, 1, 2, 2, 2, 1]
    assert toy.ancestors[6].tolist() == [6, 3, 0]
    assert toy.max_depth == 2 and toy.num_groups == 5


def test_lookups(toy: WordTree) -> None:
    assert toy.path("terrier") == [0, 3, 6]
    assert toy.children("bird") == [4, 5]
    assert toy.children("owl") == []
    assert toy.siblings("owl") == [4, 5]
    assert toy.subtree("animal") == [0, 2, 3, 4, 5, 6]
    assert toy.is_ancestor("animal", "owl") and not toy.is_ancestor("dog", "owl")
    assert toy.index(3) == 3
    with pytest.raises(KeyError, match="not a node"):
        toy.index("cat")
    with pytest.raises(IndexError):
        toy.index(99)
    assert toy.targets == ("dog", "owl", "penguin", "car")


def test_arrays_are_read_only(toy: WordTree) -> None:
    with pytest.raises(ValueError):
        toy.parent[0] = 3


def test_exports(toy: WordTree) -> None:
    g = toy.to_networkx()
    assert g.number_of_nodes() == 8 and g.number_of_edges() == 6
    assert set(g.successors(2)) == {4, 5}
    df = toy.to_frame()
    assert list(df["wnid"]) == list(toy.ids)
    assert df.loc[3, "n_children"] == 1 and bool(df.loc[4, "leaf"])
    s = toy.summary()
    assert s["nodes"] == 8 and s["leaves"] == 4 and s["targets"] == 4
    assert s["target_internal"] == 1 and s["one_child_nodes"] == 2


def test_label_maps(toy: WordTree) -> None:
    t = toy.with_label_maps([LabelMap("coco", ("bird", "dog"), ("bird", "dog"))])
    assert t.label_map("coco") == [2, 3]
    with pytest.raises(TreeError, match="not in the tree"):
        toy.with_label_maps([LabelMap("x", ("cat",), ("n0000",))])


@pytest.mark.parametrize(
    "parent, message",
    [
        ([-1, 0, -1, 0], "not contiguous"),
        ([-1, 2, 0], "comes after its child"),
        ([-1, 5], "out of range"),
        ([1, 0], "cycle"),
        ([0], "its own parent"),
    ],
)
def test_invalid_parent_arrays(parent: list[int], message: str) -> None:
    with pytest.raises(TreeError) as info:
        WordTree([f"n{i}" for i in range(len(parent))], parent)
    assert any(message in p for p in info.value.problems), info.value.problems
    assert all(p.startswith("line ") for p in info.value.problems)


def test_every_problem_reported() -> None:
    with pytest.raises(TreeError) as info:
        WordTree(["a", "b", "a", "d"], [-1, 3, 0, 9])
    text = "\n".join(info.value.problems)
    assert "duplicate id a" in text and "out of range" in text and "after its child" in text


def test_names_length_checked() -> None:
    with pytest.raises(TreeError, match="names"):
        WordTree(["a", "b"], [-1, 0], names=["only one"])


def test_single_node_tree() -> None:
    t = WordTree(["n1"], [-1])
    assert len(t) == 1 and t.num_groups == 1 and t.path(0) == [0]
    assert np.array_equal(t.is_leaf, [True])


def test_wnids_is_a_deprecated_alias_of_ids(toy: WordTree, monkeypatch: pytest.MonkeyPatch) -> None:
    """`wnids` (attributes and keywords) still works for one release, with one DeprecationWarning per name."""
    import pickle

    from wordtree import tree as tree_module

    monkeypatch.setattr(tree_module, "_WARNED", set())
    with pytest.warns(DeprecationWarning, match=r"WordTree.wnids is deprecated .* next release; use WordTree.ids"):
        assert toy.wnids == toy.ids
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once: the second use is quiet
        assert toy.wnids == toy.ids
    with pytest.warns(DeprecationWarning, match=r"WordTree\(wnids=...\)"):
        old = WordTree(wnids=["a", "b"], parent=[-1, 0])
    assert old.ids == ("a", "b")
    with pytest.warns(DeprecationWarning, match=r"LabelMap\(wnids=...\)"):
        m = LabelMap("src", ("x",), wnids=("a",))
    assert m == LabelMap("src", ("x",), ("a",))
    with pytest.warns(DeprecationWarning, match=r"LabelMap.wnids"):
        assert m.wnids == ("a",)
    with pytest.raises(TypeError, match="not both"):
        LabelMap("src", ("x",), ("a",), wnids=("a",))
    # objects pickled before the rename load under the new name
    state = {**m.__dict__}
    state["wnids"] = state.pop("ids")
    revived = LabelMap.__new__(LabelMap)
    revived.__setstate__(state)
    assert revived == m
    tree_state = pickle.loads(pickle.dumps(old)).__getstate__()
    tree_state["_wnids"] = tree_state.pop("_ids")
    back = WordTree.__new__(WordTree)
    back.__setstate__(tree_state)
    assert back == old and back.ids == ("a", "b")
