"""Grafting classes that WordNet lacks below WordNet synsets (`build-wordtree --graft`), and user hierarchies
beside WordNet sources (needs WordNet: skips without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wordtree.builder import build
from wordtree.cli import main
from wordtree.formats import check_file, load_json, read_darknet
from wordtree.hierarchy import HierarchyError, read_csv, resolve

AIRCRAFT = "n02686568"
FEW = "n02691156 airliner\nn04552348 warplane\nn02084071 dog\n"  # a small ImageNet-like list keeps it fast


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def few(tmp_path) -> Path:
    return _write(tmp_path / "few.txt", FEW)


def test_drone_grafted_below_aircraft_joins_coco(graph, few, tmp_path, capsys):
    drones = _write(
        tmp_path / "drones.csv",
        "id,parent,name\ndrone,aircraft.n.01,drone\nquadcopter,drone,quadcopter\nacme:widget-3,n03183080,widget\n",
    )
    out = tmp_path / "out"
    assert main(["--coco", "--wnids", str(few), "--graft", str(drones), "-o", str(out), "-q"]) == 0
    tree = load_json(out / "wordtree.json")
    # the named parent is a node (its path chosen by the builder's rules), the grafted nodes hang below it
    assert [tree.ids[i] for i in tree.path("quadcopter")][-3:] == [AIRCRAFT, "drone", "quadcopter"]
    assert tree.names[tree.index(AIRCRAFT)] == "aircraft" and not tree.is_target[tree.index(AIRCRAFT)]
    assert tree.ids[tree.parent[tree.index("acme:widget-3")]] == "n03183080"  # device
    assert not tree.is_wordnet[tree.index("drone")] and tree.is_wordnet[tree.index(AIRCRAFT)]
    # COCO's airplane (airliner) lies below aircraft beside the drone
    assert tree.is_ancestor(AIRCRAFT, "n02691156") and tree.is_target[tree.index("drone")]
    assert set(tree.label_maps) == {"coco", "few", "drones"}
    assert list(tree.label_maps["drones"].ids) == ["drone", "quadcopter", "acme:widget-3"]
    # every file round-trips and validates
    for f in ("wordtree.json", "wordtree.tree", "drones.map"):
        assert check_file(out / f) == [], f
    back = read_darknet(out / "wordtree.tree", out / "wordtree.names")
    assert back.ids == tree.ids and back.fingerprint == tree.fingerprint


def test_graft_parent_is_kept_even_with_one_child(graph, tmp_path):
    # helicopter.n.01 is no target; without the graft it would not be a node at all
    g = _write(tmp_path / "g.csv", "id,parent,name\nrc-heli,helicopter.n.01,RC helicopter\n")
    tree, report = build(["n02084071", "n02691156"], graph=graph, user=resolve([read_csv(g, "graft")], graph))
    heli = graph.wnid_for_name("helicopter.n.01")
    assert tree.children(heli) == [tree.index("rc-heli")] and report.graft_parents == 1
    assert not tree.is_target[tree.index(heli)] and len(tree.children(heli)) == 1  # one child, still kept
    assert tree.is_ancestor(tree.parent[tree.index(heli)], "n02691156")  # its path joins the airliner's


def test_hierarchy_beside_wordnet_sources(graph, few, tmp_path):
    h = _write(
        tmp_path / "shop.csv",
        "id,parent,name\nacme:products,,products\nacme:phone,acme:products,phone\nacme:bag,n02773037,bag\n",
    )
    out = tmp_path / "out"
    assert main(["--wnids", str(few), "--hierarchy", str(h), "-o", str(out), "-q"]) == 0
    tree = load_json(out / "wordtree.json")
    top = {tree.ids[i] for i in tree.roots}
    assert "acme:products" in top and any(tree.is_wordnet[i] for i in tree.roots)  # beside WordNet's top level
    assert tree.ids[tree.parent[tree.index("acme:bag")]] == "n02773037"  # a wnid parent: a graft
    assert "coco" not in tree.label_maps  # sources given: no defaults


def test_bad_grafts_each_one_line_with_file_line_and_id(graph, few, tmp_path, capsys):
    g = _write(
        tmp_path / "g.csv",
        "id,parent,name\n"
        "g1,v01234567,verb parent\n"  # not a noun
        "g2,zzz.n.01,no synset\n"  # no such synset name
        "g3,unknown,not in the file\n"  # neither WordNet nor an id of the files
        "g4,,no parent\n"  # a graft needs one
        "g 5,aircraft.n.01,space\n",  # bad id
    )
    h = _write(tmp_path / "h.csv", "id,parent,name\nshared,,S\n")
    g2 = _write(tmp_path / "g2.csv", "id,parent,name\nshared,aircraft.n.01,S\n")  # two sources, two parents
    args = ["--wnids", str(few), "--graft", str(g), "--hierarchy", str(h), "--graft", str(g2)]
    assert main(args + ["-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    for expected in (
        f"{g}:2: g1: parent v01234567: not a noun id",
        f"{g}:3: g2: parent zzz.n.01: no such noun synset name in WordNet",
        f"{g}:4: g3: missing parent unknown (not a WordNet noun synset or an id of the files)",
        f"{g}:5: g4: a graft needs a parent",
        f"{g}:6: id 'g 5' holds whitespace",
        f"{g2}:2: shared: two parents: (root) ({h}:2) and aircraft.n.01 here",
    ):
        assert sum(expected in line for line in err) == 1, expected
    assert err[-1].endswith("6 problems in the hierarchy files")


def test_name_collision_is_a_warning_with_both_ids(graph, few, tmp_path, capsys):
    g = _write(tmp_path / "g.csv", "id,parent,name\nacme:dog,n02084071,dog\n")
    out = tmp_path / "o"
    assert main(["--wnids", str(few), "--graft", str(g), "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert "warning: name 'dog' is shared by acme:dog, n02084071" in err
    with pytest.raises(HierarchyError, match="g.csv:2: acme:dog: missing parent"):
        resolve([read_csv(_write(tmp_path / "g.csv", "id,parent,name\nacme:dog,nowhere,dog\n"), "graft")], graph)
