"""User hierarchies: node ids beyond WordNet, `--hierarchy` CSV and Open Images JSON files, their problems,
and the round trips through our JSON and Darknet's files (read back the way Darknet's `read_tree` reads)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from wordtree import LabelMap, TreeError, WordTree
from wordtree.builder import BuildOptions, build
from wordtree.cli import main
from wordtree.formats import check_file, load_json, read_darknet, tree_from_dict, tree_to_dict, write_darknet
from wordtree.hierarchy import HierarchyError, read_csv, read_openimages, resolve
from wordtree.tree import id_problem, is_wordnet_id

SHOP = """id,parent,name
acme:catalogue,,catalogue
acme:phones,acme:catalogue,phones
acme:phone-x,acme:phones,Phone X
acme:phone-y,acme:phones,Phone Y
/m/0bl9f,,Entity
/m/tv,acme:catalogue,TVs
/m/tv-1,/m/tv,TV 1
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def darknet_read_tree(text: str) -> dict[str, list[int]]:
    """Darknet's `read_tree` (src/tree.c), transliterated: ``sscanf(line, "%s %d", id, &parent)``; a new group
    starts whenever the parent differs from the previous line's (`groups` counts from 0, `last_parent` starts at
    -1); `child[parent]` = the group's index; offsets and sizes are recorded when a group ends."""
    parent, group, child, group_offset, group_size = [], [], [], [], []
    last_parent, size, groups = -1, 0, 0
    for n, line in enumerate(text.splitlines()):
        fields = line.split()
        p = int(fields[1]) if len(fields) > 1 else -1
        parent.append(p)
        child.append(-1)
        if p != last_parent:
            groups += 1
            group_offset.append(n - size)
            group_size.append(size)
            size, last_parent = 0, p
        group.append(groups)
        if p >= 0:
            child[p] = groups
        size += 1
    group_offset.append(len(parent) - size)
    group_size.append(size)
    return {"parent": parent, "group": group, "child": child, "offset": group_offset, "size": group_size}


# ---- node ids ----------------------------------------------------------------------------------------------
def test_node_ids_wordnet_or_user():
    assert is_wordnet_id("n02084071") and not is_wordnet_id("/m/0bl9f") and not is_wordnet_id("n0208407")
    assert id_problem("/m/0bl9f") is None and id_problem("acme:widget-3") is None
    assert "whitespace" in id_problem("a b") and "whitespace" in id_problem("a\tb")
    assert "control" in id_problem("a\x07b") and id_problem("") == "empty id"
    assert "255 bytes" in id_problem("x" * 256)  # Darknet reads an id into a 256-byte buffer
    tree = WordTree(["n00000001", "/m/0bl9f", "acme:w"], [-1, 0, 0], ["thing", "Entity", "widget"])
    assert tree.ids == ("n00000001", "/m/0bl9f", "acme:w")
    assert tree.is_wordnet.tolist() == [True, False, False]
    assert tree.to_frame()["wordnet"].tolist() == [True, False, False]
    with pytest.raises(TreeError, match="line 2: id 'a b' holds whitespace"):
        WordTree(["root", "a b"], [-1, 0])
    with pytest.raises(TreeError, match="line break"):
        WordTree(["root", "x"], [-1, 0], ["root", "two\nlines"])


def test_wordnet_tree_files_and_fingerprint_unchanged():
    # a WordNet tree's JSON keeps the "wnid" keys and its fingerprint the "id parent" definition
    tree = WordTree(["n00000001", "n00000002"], [-1, 0], ["a", "b"], label_maps=[LabelMap("m", ("b",), ("n00000002",))])
    d = tree_to_dict(tree)
    assert [set(n) for n in d["nodes"]] == [{"wnid", "name", "parent", "target"}] * 2
    assert d["label_maps"][0]["wnids"] == ["n00000002"]
    import hashlib

    assert tree.fingerprint == hashlib.sha256(b"n00000001 -1\nn00000002 0\n").hexdigest()[:16]


# ---- --hierarchy CSV ----------------------------------------------------------------------------------------
def test_csv_hierarchy_builds_alone_and_round_trips(tmp_path):
    path = _write(tmp_path / "shop.csv", SHOP)
    tree, report = build([], user=resolve([read_csv(path)]))
    assert report.user_nodes == 7 and not tree.is_wordnet.any()
    # Darknet's invariants: parents first, siblings contiguous; every row a target, the file a label map
    assert all(p < i for i, p in enumerate(tree.parent.tolist()))
    assert sorted(tree.names[i] for i in tree.children("acme:phones")) == ["Phone X", "Phone Y"]
    assert tree.names[tree.parent[tree.index("/m/tv-1")]] == "TVs"
    assert {tree.names[i] for i in tree.roots} == {"catalogue", "Entity"}
    assert len(tree.targets) == 7 and tree.label_maps["shop"].ids[2] == "acme:phone-x"
    # our JSON: user nodes under "id", the label map under "ids"; same tree back
    d = tree_to_dict(tree)
    assert all("id" in n and "wnid" not in n for n in d["nodes"]) and "ids" in d["label_maps"][0]
    assert tree_from_dict(json.loads(json.dumps(d))) == tree
    tree.save(tmp_path / "t.json")
    assert check_file(tmp_path / "t.json") == [] and load_json(tmp_path / "t.json").fingerprint == tree.fingerprint
    # Darknet's files: ids in .tree/.labels, names in .names, label indices in .map
    files = write_darknet(tree, tmp_path / "dn", "shop_tree")
    assert check_file(files["shop_tree.tree"]) == []
    back = read_darknet(files["shop_tree.tree"], files["shop_tree.names"])
    assert back == tree and back.fingerprint == tree.fingerprint
    lines = Path(files["shop.map"]).read_text().split()
    assert [tree.ids[int(i)] for i in lines] == list(tree.label_maps["shop"].ids)


def test_darknet_read_tree_conventions_hold_for_a_user_tree(tmp_path):
    rows = ["id,parent,name", "z-root,,Z", "a-root,,A"]
    rows += [f"a{k},a-root,a {k}" for k in range(3)] + [f"z{k},z-root,z {k}" for k in range(2)]
    rows += ["a0x,a0,deep", "z1x,z1,deeper", "z1y,z1,deeper 2"]
    tree, _ = build([], user=resolve([read_csv(_write(tmp_path / "h.csv", "\n".join(rows) + "\n"))]))
    text = Path(write_darknet(tree, tmp_path, "user")["user.tree"]).read_text()
    dn = darknet_read_tree(text)
    assert dn["parent"][: len(tree.roots)] == [-1] * len(tree.roots)  # roots: parent index -1, first block
    # Darknet's groups (a new one at each change of parent) are ours: every child block is one softmax group
    assert dn["group"] == tree.group.tolist() and dn["child"] == tree.child_group.tolist()
    assert dn["offset"] == tree.group_offset.tolist() and dn["size"] == tree.group_size.tolist()
    assert len(set(dn["group"])) == len({-1, *tree.parent.tolist()})  # as many groups as parents: none split
    # a hand-written file whose siblings are not contiguous: Darknet would split "a"'s children into two groups;
    # we refuse it, naming the line
    split = "a -1\nb -1\nc 0\nd 1\ne 0\n"
    assert len(set(darknet_read_tree(split)["group"])) == 4  # 3 parents (-1, a, b), 4 groups
    _write(tmp_path / "split.tree", split)
    with pytest.raises(TreeError, match="line 5: children of node 0 are not contiguous"):
        read_darknet(tmp_path / "split.tree")


def test_collapse_of_non_target_rows(tmp_path):
    text = "id,parent,name\nall,,all\nmid,all,mid\nleaf,mid,leaf\nother,all,other\nlonely,,lonely\n"
    path = _write(tmp_path / "h.csv", text)
    targets = ["leaf", "other"]
    tree, report = build([], BuildOptions(), user=resolve([read_csv(path, targets=targets)]))
    # "mid" (one child, no target) is spliced out; "all" is a non-target root: its children go to the top
    # (as WordNet's entity); "lonely" (no child, no target) goes
    assert set(tree.ids) == {"leaf", "other"} and report.collapsed == 1
    kept, _ = build([], BuildOptions(collapse=False, keep=None), user=resolve([read_csv(path, targets=targets)]))
    assert set(kept.ids) == {"all", "mid", "leaf", "other"} and kept.targets == ("other", "leaf")


# ---- Open Images -----------------------------------------------------------------------------------------------
OI_JSON = """{
 "LabelName": "/m/0bl9f",
 "Subcategory": [
  {"LabelName": "/m/01g317"},
  {"LabelName": "/m/0138tl", "Subcategory": [{"LabelName": "/m/0gjkl"}, {"LabelName": "/m/0l14j_"}]},
  {"LabelName": "/m/04yx4", "Part": [{"LabelName": "/m/0dzct"}]}
 ]
}
"""
OI_NAMES = "/m/01g317,Person\n/m/0138tl,Toy\n/m/0gjkl,Doll\n/m/0l14j_,Kite\n/m/04yx4,Man\n/m/0dzct,Human face\n"


def test_open_images_hierarchy_with_names(tmp_path):
    h = _write(tmp_path / "bbox_labels_600_hierarchy.json", OI_JSON)
    names = _write(tmp_path / "class-descriptions.csv", OI_NAMES)
    out = tmp_path / "oi"
    assert main(["--hierarchy", str(h), "--hierarchy-names", str(names), "-o", str(out), "-q"]) == 0
    tree = load_json(out / "wordtree.json")
    # Entity (no description: no class) is dropped like WordNet's entity; a Part is not a kind: a root
    assert "/m/0bl9f" not in tree and {tree.names[i] for i in tree.roots} == {"Person", "Toy", "Man", "Human face"}
    assert [tree.names[i] for i in tree.children("/m/0138tl")] == ["Doll", "Kite"]
    assert check_file(out / "wordtree.tree") == [] and check_file(out / "wordtree.json") == []


def test_open_images_dag_keeps_the_parent_nearest_the_root(tmp_path, caplog):
    """Open Images lists some classes under several parents (a helmet under clothing and under sports
    equipment, each time with its subtree): each keeps the parent nearest the root, the first listed on ties."""
    dag = OI_JSON.replace(
        '{"LabelName": "/m/0l14j_"}',  # Kite's place: Person (with its subtree), listed under Toy as well
        '{"LabelName": "/m/0l14j_"}, {"LabelName": "/m/01g317", "Subcategory": [{"LabelName": "/m/04yx4"}]}',
    ).replace('{"LabelName": "/m/01g317"},', '{"LabelName": "/m/01g317", "Subcategory": [{"LabelName": "/m/04yx4"}]},')
    h = _write(tmp_path / "h.json", dag)
    with caplog.at_level(logging.WARNING, logger="wordtree.hierarchy"):
        nodes = resolve([read_openimages(h, _write(tmp_path / "n.csv", OI_NAMES))])
    # Person: under Entity (depth 1), not under Toy (depth 2); Man: under Person both times, then also under Entity
    # (listed after: Entity's Subcategory comes first in the file, but Man's own entry there is nearer the root)
    assert nodes.parent["/m/01g317"] == "/m/0bl9f" and nodes.parent["/m/04yx4"] == "/m/0bl9f"
    assert nodes.parent["/m/0l14j_"] == "/m/0138tl" and len(nodes) == 7
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        warning.startswith(f"{h}: 2 classes are listed under several parents")
        and "Person (/m/01g317) under /m/0bl9f, not Toy (/m/0138tl)" in warning
    )
    tree, _ = build([], BuildOptions(keep=None), user=nodes)
    assert tree.parent[tree.index("/m/04yx4")] == tree.index("/m/0bl9f")


def test_open_images_problems_name_the_line(tmp_path):
    bad = OI_JSON.replace('{"LabelName": "/m/0l14j_"}', '{"LabelName": "bad id"}')
    h = _write(tmp_path / "h.json", bad)
    with pytest.raises(HierarchyError) as info:
        resolve([read_openimages(h, _write(tmp_path / "n.csv", OI_NAMES))])
    (problem,) = info.value.problems
    assert problem.startswith(f"{h}:5: ") and "'bad id'" in problem


# ---- bad input: every problem, each with file, line and id ------------------------------------------------------
def test_every_problem_is_reported_at_once(tmp_path, capsys):
    bad = _write(
        tmp_path / "bad.csv",
        "id,parent,name\n"
        "a b,,spaces\n"  # 2 bad id
        "n01234567,,wnid-shaped\n"  # 3 a WordNet-shaped user id
        "x,,X\n"
        "x,,X again\n"  # 5 duplicate
        "y,x,Y\n"
        "y,z,Y two\n"  # 7 two parents
        "c1,c2,cycle 1\n"  # 8 cycle with 9
        "c2,c1,cycle 2\n"
        "m,nowhere,missing\n"  # 10 missing parent
        "long,,a,b\n",  # 11 an extra column
    )
    cols = _write(tmp_path / "cols.csv", "id,parent\nq,\n")
    extra = _write(tmp_path / "extra.csv", "id,parent,name,colour\nq,,Q,red\n")
    out = tmp_path / "out"
    assert main(["--hierarchy", str(bad), "--hierarchy", str(cols), "--hierarchy", str(extra), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    for expected in (
        f"{bad}:2: id 'a b' holds whitespace",
        f"{bad}:3: id 'n01234567' is shaped like a WordNet id",
        f"{bad}:5: x: duplicate id (first at {bad}:4)",
        f"{bad}:7: y: two parents: x ({bad}:6) and z here",
        f"{bad}:8: c1: cycle through c1 ({bad}:8), c2 ({bad}:9)",
        f"{bad}:10: m: missing parent nowhere",
        f"{bad}:11: long: 4 fields, expected 3",
        f"{cols}:1: header 'id,parent': expected the columns id,parent,name (missing name)",
        f"{extra}:1: header 'id,parent,name,colour': expected the columns id,parent,name (extra ['colour'])",
        "9 problems in the hierarchy files",
    ):
        assert expected in err, expected
    assert len(err.strip().splitlines()) == 10  # one line per problem and the count
    assert not out.exists()


def test_two_files_giving_one_id_two_parents(tmp_path):
    a = _write(tmp_path / "a.csv", "id,parent,name\nroot,,R\nother,,O\nleaf,root,L\n")
    b = _write(tmp_path / "b.csv", "id,parent,name\nleaf,other,L\n")
    with pytest.raises(HierarchyError, match=rf"{b}:2: leaf: two parents: root \({a}:4\) and other here"):
        resolve([read_csv(a), read_csv(b)])
    # the same row in two files is one node
    c = _write(tmp_path / "c.csv", "id,parent,name\nleaf,root,L\n")
    assert len(resolve([read_csv(a), read_csv(c)])) == 3


def test_hierarchy_alone_needs_no_wordnet(tmp_path, monkeypatch):
    import wordtree.wordnet as wn

    def no_wordnet(*a, **k):
        raise AssertionError("WordNet was loaded for a hierarchy alone")

    monkeypatch.setattr(wn, "noun_graph", no_wordnet)
    monkeypatch.setattr(wn, "find_wordnet", no_wordnet)
    path = _write(tmp_path / "shop.csv", SHOP)
    out = tmp_path / "o"
    assert main(["--hierarchy", str(path), "-o", str(out), "-q"]) == 0
    tree = load_json(out / "wordtree.json")
    assert set(tree.label_maps) == {"shop"} and len(tree) == 7  # no default COCO / ImageNet sources
    assert main(["--info", str(out / "wordtree.tree")]) == 0


# ---- class names: blank, duplicate, missing ---------------------------------------------------------------------
def test_blank_or_duplicate_open_images_names_are_errors_naming_the_line(tmp_path, capsys):
    h = _write(tmp_path / "h.json", OI_JSON)
    names = _write(tmp_path / "n.csv", OI_NAMES.replace("/m/0gjkl,Doll", "/m/0gjkl, ").replace(",Kite", ",Toy"))
    with pytest.raises(HierarchyError) as info:
        resolve([read_openimages(h, names)])
    assert info.value.problems == [
        f"{names}:3: /m/0gjkl: blank class name",
        f"{names}:4: /m/0l14j_: duplicate class name 'Toy' (first on line 2)",
    ]
    # the command stops with the same lines instead of writing an empty name into the .names file
    out = tmp_path / "out"
    assert main(["--hierarchy", str(h), "--hierarchy-names", str(names), "-o", str(out)]) == 1
    assert f"{names}:3: /m/0gjkl: blank class name" in capsys.readouterr().err and not out.exists()
    # a description of an id outside the hierarchy is not checked; an id described twice is
    extra = _write(tmp_path / "x.csv", OI_NAMES + "/m/other,\n/m/0gjkl,Doll again\n")
    (problem,) = read_openimages(h, extra).problems
    assert problem == f"{extra}:8: /m/0gjkl: described twice (first on line 3)"


def test_a_class_missing_from_the_names_file_is_an_error(tmp_path):
    """Without targets the names file says which classes there are: one it leaves out would drop out of the
    tree. The top entry (Open Images' Entity) is the one class it leaves out on purpose."""
    h = _write(tmp_path / "h.json", OI_JSON)
    names = _write(tmp_path / "n.csv", OI_NAMES.replace("/m/0l14j_,Kite\n", ""))
    with pytest.raises(HierarchyError) as info:
        resolve([read_openimages(h, names)])
    assert info.value.problems == [f"{h}:5: /m/0l14j_: class of the hierarchy without a name in {names}"]
    # explicit targets: only a target without a name is an error
    assert read_openimages(h, names, targets=["/m/01g317", "/m/0138tl"]).problems == []
    (problem,) = read_openimages(h, names, targets=["/m/0l14j_"]).problems
    assert problem.startswith(f"{h}:5: /m/0l14j_: class of the hierarchy without a name")


def test_blank_or_duplicate_csv_names_are_errors_naming_the_line(tmp_path):
    csv_file = _write(tmp_path / "h.csv", "id,parent,name\na,,A\nb,a,\nc,a,A\n")
    with pytest.raises(HierarchyError) as info:
        resolve([read_csv(csv_file)])
    assert info.value.problems == [
        f"{csv_file}:3: b: blank class name",
        f"{csv_file}:4: c: duplicate class name 'A' (first on line 2)",
    ]


def test_the_several_parents_warning_names_every_class(tmp_path, caplog):
    """Open Images' hierarchy has 45 classes under several parents: every one is named, one per line."""
    kids = [{"LabelName": f"/m/k{i}"} for i in range(8)]
    doc = {"LabelName": "/m/top", "Subcategory": [{"LabelName": "/m/a", "Subcategory": kids}, {"LabelName": "/m/b"}]}
    doc["Subcategory"][1]["Subcategory"] = kids
    h = _write(tmp_path / "h.json", json.dumps(doc, indent=1))
    with caplog.at_level(logging.WARNING, logger="wordtree.hierarchy"):
        read_openimages(h)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    lines = warning.splitlines()
    assert lines[0].startswith(f"{h}: 8 classes are listed under several parents")
    assert lines[1:] == [f"  /m/k{i} under /m/a, not /m/b" for i in range(8)]
