"""Tree files: JSON and Darknet round trips, byte-identical rewrites, and the validator on broken files."""

from __future__ import annotations

import json

import pytest

from wordtree.formats import (
    check_file,
    dumps_json,
    load_json,
    read_darknet,
    read_map,
    save_json,
    tree_from_dict,
    tree_to_dict,
    write_darknet,
)
from wordtree.tree import LabelMap, TreeError, WordTree

PARENT = {
    "n00000001": None,
    "n00000002": None,
    "n00000003": "n00000001",
    "n00000004": "n00000001",
    "n00000005": "n00000004",
    "n00000006": "n00000004",
    "n00000007": "n00000002",
}
NAMES = {w: f"node {w[-1]}" for w in PARENT}


@pytest.fixture()
def tree() -> WordTree:
    maps = [LabelMap("toy", ("cat", "dog", "thing"), ("n00000005", "n00000006", "n00000001"))]
    return WordTree.from_edges(
        PARENT, NAMES, targets=["n00000003", "n00000005", "n00000006", "n00000007"], label_maps=maps
    )


def test_json_round_trip_keeps_everything(tree, tmp_path):
    path = tmp_path / "t.json"
    save_json(tree, path, meta={"note": "x"})
    back = load_json(path)
    assert back == tree
    assert back.targets == tree.targets
    assert back.label_maps == tree.label_maps
    assert back.label_map("toy") == tree.label_map("toy")
    assert json.loads(path.read_text())["meta"] == {"note": "x"}
    assert WordTree.load(path) == tree  # the thin wrappers in tree.py
    tree.save(tmp_path / "u.json")
    assert (tmp_path / "u.json").read_text() == dumps_json(tree)
    d = tree_to_dict(tree)
    json.dumps(d)  # JSON-able (checkpoints embed it)
    assert tree_from_dict(d) == tree


def test_json_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        load_json(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="bad.json: not a wordtree JSON file"):
        load_json(bad)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_json(tmp_path / "missing.json")


def test_darknet_round_trip_is_byte_identical(tree, tmp_path):
    paths = write_darknet(tree, tmp_path, "toy9k")
    assert set(paths) == {"toy9k.tree", "toy9k.names", "toy9k.labels", "toy.map", "toy.names"}
    tree_text = (tmp_path / "toy9k.tree").read_text()
    assert tree_text.splitlines()[:3] == ["n00000001 -1", "n00000002 -1", "n00000003 0"]
    back = read_darknet(tmp_path / "toy9k.tree", tmp_path / "toy9k.names")
    assert back == tree
    m = read_map(tmp_path / "toy.map", back, "toy", (tmp_path / "toy.names").read_text().split("\n")[:-1])
    assert m == tree.label_maps["toy"]
    other = tmp_path / "again"
    write_darknet(back.with_label_maps([m]), other, "toy9k")
    for name in paths:
        assert (other / name).read_bytes() == (tmp_path / name).read_bytes()
    assert (tmp_path / "toy9k.labels").read_text().split() == list(tree.ids)
    assert check_file(tmp_path / "toy9k.tree") == []


def test_read_darknet_lists_every_problem(tmp_path):
    f = tmp_path / "x.tree"
    f.write_text("n00000001 -1\nn00000002 five\nn00000003\n")
    with pytest.raises(TreeError) as err:
        read_darknet(f)
    assert len(err.value.problems) == 2
    assert f"{f}:2:" in err.value.problems[0] and f"{f}:3:" in err.value.problems[1]
    f.write_text("n00000001 -1\nn00000002 0\n")
    names = tmp_path / "x.names"
    names.write_text("a\n")
    with pytest.raises(TreeError, match="1 name for 2 tree nodes"):
        read_darknet(f, names)


def _write(tmp_path, text: str, name: str = "t.tree"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_check_reports_every_broken_invariant_with_line_numbers(tmp_path):
    p = _write(
        tmp_path,
        "\n".join(
            [
                "n00000001 -1",  # 1
                "n00000002 0",  # 2
                "n00000003 9",  # 3 parent out of range
                "n00000004 1",  # 4
                "n00000005 0",  # 5 children of line 1 not contiguous (lines 2 and 5)
                "n00000002 5",  # 6 duplicate id; parent after child? no: 5 < 6
                "n00000007 6",  # 7 its own parent (index 6)
                "n00000008 8",  # 8 parent 8 = line 9, after the child
                "n00000009 7",  # 9 cycle with line 8 (8 -> 9 -> 8)
            ]
        )
        + "\n",
    )
    problems = check_file(p)
    text = "\n".join(problems)
    assert f"{p}:3: parent index 9 out of range" in text
    assert f"{p}:5: children of node 0 are not contiguous" in text
    assert f"{p}:6: duplicate id n00000002 (first on line 2)" in text
    assert f"{p}:7: node is its own parent" in text
    assert f"{p}:8: parent 8 (line 9) comes after its child" in text
    assert any("cycle through lines" in q and "8" in q and "9" in q for q in problems)


def test_check_side_files_and_maps(tmp_path):
    _write(tmp_path, "n00000001 -1\nn00000002 0\nn00000003 0\n")
    _write(tmp_path, "a\nb\n", "t.names")
    _write(tmp_path, "n00000001\nn00000009\nn00000003\n", "t.labels")
    _write(tmp_path, "0\n7\nx\n", "coco.map")
    problems = check_file(tmp_path / "t.tree")
    text = "\n".join(problems)
    assert f"{tmp_path / 't.names'}: 2 lines but t.tree has 3 nodes" in text
    assert f"{tmp_path / 't.labels'}:2: id 'n00000009' differs" in text
    assert f"{tmp_path / 'coco.map'}:2: node index 7 out of range [0, 2]" in text
    assert f"{tmp_path / 'coco.map'}:3: 'x' is not a node index" in text
    # asking about one side file reports only that file's problems
    assert check_file(tmp_path / "t.names") == [f"{tmp_path / 't.names'}: 2 lines but t.tree has 3 nodes"]
    with pytest.raises(FileNotFoundError):
        check_file(tmp_path / "absent.tree")


def test_check_json(tree, tmp_path):
    good = tmp_path / "good.json"
    save_json(tree, good)
    assert check_file(good) == []
    d = tree_to_dict(tree)
    d["nodes"][2]["parent"] = 5  # after its child
    d["nodes"][3]["wnid"] = d["nodes"][0]["wnid"]
    d["label_maps"][0]["wnids"][0] = "n12345678"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    problems = check_file(bad)
    text = "\n".join(problems)
    assert "node 3: parent 5 (line 6) comes after its child" in text
    assert "duplicate id n00000001" in text
    assert "id n12345678 is not a node" in text
    (tmp_path / "junk.json").write_text("[1, 2]")
    assert "not a wordtree JSON file" in check_file(tmp_path / "junk.json")[0]


def test_an_empty_name_is_rejected_by_the_loader_and_the_check(tmp_path):
    """A blank line in a .names file: the loader and `--check` agree, naming the file and line."""
    _write(tmp_path, "n00000001 -1\nn00000002 0\nn00000003 0\n")
    names = _write(tmp_path, "a\n\nc\n", "t.names")
    assert check_file(tmp_path / "t.tree") == [f"{names}:2: empty name"]
    assert check_file(names) == [f"{names}:2: empty name"]
    with pytest.raises(TreeError, match=f"{names}:2: empty name"):
        read_darknet(tmp_path / "t.tree", names)
