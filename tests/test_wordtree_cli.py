"""`build-wordtree` end to end (in-process through `main`, plus one real subprocess)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from wordtree.cli import main
from wordtree.tree import WordTree
from wordtree.wordnet import WordNetNotFound, noun_graph

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _wordnet():
    try:
        noun_graph()
    except WordNetNotFound as exc:
        pytest.skip(f"WordNet not installed: {exc}")


def test_defaults_build_coco_plus_imagenet(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out, err = capsys.readouterr()
    folder = tmp_path / "wordtree_out"
    assert f"wrote {folder}" in out
    assert "nodes 1420" in out and "targets 1056" in out and "label map coco: 80 labels -> 80 nodes" in out
    assert "WordNet" in err and "building the tree" in err  # progress lines with timings go to stderr
    names = sorted(p.name for p in folder.iterdir() if p.name != ".yolo9000-output.json")  # the tool's marker
    assert names == [
        "coco.map",
        "coco.names",
        "imagenet1k.map",
        "imagenet1k.names",
        "wordtree.json",
        "wordtree.labels",
        "wordtree.names",
        "wordtree.tree",
    ]
    tree = WordTree.load(folder / "wordtree.json")
    assert len(tree) == 1420 and set(tree.label_maps) == {"coco", "imagenet1k"}
    dark = WordTree.from_darknet(folder / "wordtree.tree", folder / "wordtree.names")
    assert dark == tree
    coco_map = [int(x) for x in (folder / "coco.map").read_text().split()]
    assert tree.ids[coco_map[16]] == "n02084071"  # COCO "dog"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    # same inputs: identical bytes, so rewriting is allowed without --force
    assert main(["-q"]) == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    # different content: refused without --force, nothing touched
    assert main(["-q", "--no-collapse"]) == 1
    err = capsys.readouterr().err
    assert "already exist with different content" in err and "--force" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert main(["-q", "--no-collapse", "--force"]) == 0
    assert len(WordTree.load(folder / "wordtree.json")) > 1420


def test_check_good_and_broken_files(tmp_path, capsys):
    assert main(["-q", "--imagenet1k", "-o", str(tmp_path / "t"), "--format", "darknet"]) == 0
    capsys.readouterr()
    good = tmp_path / "t" / "wordtree.tree"
    assert main(["--check", str(good)]) == 0
    assert capsys.readouterr().out.strip().endswith(": OK")
    bad = tmp_path / "bad.tree"
    bad.write_text("n00000001 -1\nn00000002 3\nn00000003 0\nn00000001 0\n")
    assert main(["check", str(bad)]) == 1  # the `wordtree check FILE` spelling
    out = capsys.readouterr().out
    assert f"{bad}:2: parent 3 (line 4) comes after its child" in out
    assert f"{bad}:4: duplicate id n00000001 (first on line 1)" in out
    assert "problems" in out.splitlines()[-1]
    assert main(["--info", str(good)]) == 0
    assert "nodes 1373" in capsys.readouterr().out


def test_folders_top_k_and_invalid_targets(tmp_path, capsys):
    root = tmp_path / "train"
    for wnid, n in {"n02084071": 4, "n02121620": 2, "n02110185": 6, "n02055803": 1}.items():
        (root / wnid).mkdir(parents=True)
        for k in range(n):
            (root / wnid / f"{k}.jpg").write_bytes(b"")
    out_dir = tmp_path / "out"
    assert main(["--folders", str(root), "--top-k", "2", "-o", str(out_dir), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    tree = WordTree.load(out_dir / "wordtree.json")
    assert set(tree.targets) == {"n02084071", "n02110185"}
    assert tree.label_maps["train"].ids == ("n02084071", "n02110185")
    assert "selected 2 of 4 classes (top 2 by image count)" in err
    (root / "not_a_wnid").mkdir()
    wn = tmp_path / "ids.txt"
    wn.write_text("n02084071\nn99999999\nv01835496\n")
    assert main(["-q", "--folders", str(root), "--wnids", str(wn), "-o", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert "not_a_wnid" in err and "n99999999" in err and "v01835496" in err
    assert err.strip().splitlines()[-1].startswith("build-wordtree: error: 3 invalid targets;")
    assert not (tmp_path / "o2").exists()
    assert main(["-q", "--folders", str(root), "--wnids", str(wn), "-o", str(tmp_path / "o2"), "--skip-invalid"]) == 0
    assert set(WordTree.load(tmp_path / "o2" / "wordtree.json").targets) == {
        "n02084071",
        "n02121620",
        "n02110185",
        "n02055803",
    }


def test_names_keep_and_errors(tmp_path, capsys):
    assert (
        main(
            [
                "--names",
                "penguin, owl, poodle, taxi, lemon",
                "--keep",
                "physical_entity.n.01",
                "-o",
                str(tmp_path),
                "--stem",
                "emoji",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert "is ambiguous" in err
    tree = WordTree.load(tmp_path / "emoji.json")
    assert len(tree.targets) == 5 and tree.label_maps["names"].labels[0] == "penguin"
    assert main(["--top-k", "5"]) == 1
    assert "--top-k/--min-images select from" in capsys.readouterr().err
    assert main(["--wnids", str(tmp_path / "missing.txt")]) == 1
    assert "missing.txt: no such file" in capsys.readouterr().err


def test_darknet_compatible_preset(tmp_path, capsys):
    assert main(["--imagenet1k", "--darknet-compatible", "-o", str(tmp_path), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "nodes 1372" in out and "top level: object, matter" in out
    meta = json.loads((tmp_path / "wordtree.json").read_text())["meta"]
    assert meta["options"]["keep"] == "n00001930" and len(meta["options"]["graft"]) == 4


def test_help_has_examples_and_module_entry_point():
    r = subprocess.run(
        [sys.executable, "-m", "wordtree", "--help"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert r.returncode == 0
    assert "examples:" in r.stdout and "--darknet-compatible" in r.stdout and "--top-k" in r.stdout


# --- issue 23: the first hour of a new user ------------------------------------------------------------------
SHOP = (
    "id,parent,name\nacme:catalogue,,catalogue\nacme:phones,acme:catalogue,phones\nacme:phone-x,acme:phones,Phone X\n"
)


def _sources(folder: Path) -> set[str]:
    return set(WordTree.load(folder / "wordtree.json").label_maps)


def test_coco_and_imagenet1k_pairs(tmp_path, capsys):
    """`--coco/--no-coco` and `--imagenet1k/--no-imagenet1k`: the README's `--imagenet1k --no-coco -o in1k`; the
    defaults less one; naming a source uses only those named."""
    assert main(["--imagenet1k", "--no-coco", "-o", str(tmp_path / "in1k"), "-q"]) == 0
    assert _sources(tmp_path / "in1k") == {"imagenet1k"}
    assert main(["--imagenet1k", "-o", str(tmp_path / "named"), "-q", "--format", "json"]) == 0
    assert _sources(tmp_path / "named") == {"imagenet1k"}  # as before: a named source replaces the defaults
    assert main(["--no-imagenet1k", "-o", str(tmp_path / "coco"), "-q", "--format", "json"]) == 0
    assert _sources(tmp_path / "coco") == {"coco"}
    assert main(["--no-coco", "--no-imagenet1k", "-o", str(tmp_path / "none"), "-q"]) == 1
    assert "no label sources left" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_every_option_has_help_and_booleans_are_flag_pairs():
    from wordtree.cli import _parser

    for action in _parser()._actions:
        assert action.help, action.option_strings
        if action.nargs == 0 and action.dest not in ("help", "version", "coco", "imagenet1k"):
            assert isinstance(action, argparse.BooleanOptionalAction), action.option_strings


def test_prog_and_version(capsys, monkeypatch):
    from wordtree.cli import _prog, package_version

    assert _prog("/usr/local/bin/wordtree") == "wordtree" and _prog("/x/build-wordtree") == "build-wordtree"
    assert _prog("/x/pytest") == "build-wordtree"
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/wordtree", "--help"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("usage: wordtree ")
    with pytest.raises(SystemExit):
        main(["--version"])
    version = package_version()
    assert capsys.readouterr().out.strip() == f"build-wordtree {version}" and version[0].isdigit()
    r = subprocess.run(
        [sys.executable, "-m", "wordtree", "--version"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert r.returncode == 0 and r.stdout.strip() == f"python3 -m wordtree {version}"


def test_a_hierarchy_alone_counts_its_classes_once_and_quiet_is_quiet(tmp_path, capsys):
    shop = tmp_path / "shop.csv"
    shop.write_text(SHOP)
    assert main(["--hierarchy", str(shop), "-o", str(tmp_path / "shop")]) == 0
    out, err = capsys.readouterr()
    assert "building the tree over 3 user nodes ..." in err
    assert "targets:" not in err and "0 targets" not in err and "WordNet target" not in err
    assert "targets 3: 1 leaf, 2 internal; 0 intermediate nodes" in out and "(1 leaf)" in out
    assert main(["--hierarchy", str(shop), "-o", str(tmp_path / "shop2"), "-q"]) == 0
    assert capsys.readouterr() == ("", "")  # -q: warnings and errors only
    assert (tmp_path / "shop2" / "wordtree.json").is_file()
    (tmp_path / "ids.txt").write_text("n02084071\nn99999999\n")
    assert main(["--wnids", str(tmp_path / "ids.txt"), "--skip-invalid", "-q", "-o", str(tmp_path / "w")]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [
        "build-wordtree: warning: skipped ids: "
        f"{tmp_path / 'ids.txt'}:2: n99999999: no noun synset with offset 99999999 in WordNet 3.0"
    ]


def test_force_replaces_the_earlier_build_and_check_flags_maps_of_another_tree(tmp_path, capsys):
    """README's "Your own hierarchy": two builds into `-o tree`. The first build's my_classes.map/.names would
    point at wrong nodes of the second tree: refused without --force, removed with it; the user's file stays."""
    (tmp_path / "my_classes.txt").write_text("n02084071\nn02121808\n")
    (tmp_path / "drones.csv").write_text("id,parent,name\ndrone,aircraft.n.01,drone\nquadcopter,drone,quadcopter\n")
    tree = tmp_path / "tree"
    first = ["--coco", "--wnids", str(tmp_path / "my_classes.txt"), "-o", str(tree), "-q"]
    assert main(first) == 0
    old = {p.name: p.read_bytes() for p in tree.iterdir()}
    (tree / "notes.txt").write_text("the user's")
    second = ["--graft", str(tmp_path / "drones.csv"), "-o", str(tree)]
    assert main(second + ["-q"]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(second + ["--force"]) == 0
    out = capsys.readouterr().out
    assert "removed the earlier run's my_classes.map, my_classes.names (--force)" in out
    assert not (tree / "my_classes.map").exists() and (tree / "notes.txt").read_text() == "the user's"
    assert main(["--check", str(tree)]) == 0
    assert capsys.readouterr().out.strip() == f"{tree}: OK"
    # the folder as an older version left it: the first build's maps beside the new tree, all in the marker
    for name in ("my_classes.map", "my_classes.names", "coco.map"):
        (tree / name).write_bytes(old[name])
    marker = json.loads((tree / ".yolo9000-output.json").read_text())
    marker["files"] += ["my_classes.map", "my_classes.names"]
    (tree / ".yolo9000-output.json").write_text(json.dumps(marker))
    assert main(["--check", str(tree)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{tree / 'coco.map'}: differs from label map 'coco' of wordtree.json beside it (another tree's?)" in lines
    assert any(ln.startswith(f"{tree / 'my_classes.map'}: not a label map of wordtree.json") for ln in lines)
    assert lines[-1] == f"{tree}: 2 problems"
    assert main(["check", str(tree / "wordtree.tree")]) == 1  # the tree's own check sees its maps too
    capsys.readouterr()


def test_check_flags_maps_whose_tree_fingerprint_or_size_differs(tmp_path, capsys):
    """A .map whose marker says it was made for another tree (the tree beside it was replaced), a .map whose
    label count differs from its .names, and a JSON that is not the .tree of its stem."""
    shop = tmp_path / "shop.csv"
    shop.write_text(SHOP)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["--hierarchy", str(shop), "-o", str(a), "-q", "--format", "darknet"]) == 0
    shop.write_text(SHOP + "acme:phone-y,acme:phones,Phone Y\n")
    assert main(["--hierarchy", str(shop), "-o", str(b), "-q"]) == 0
    for ext in (".tree", ".names", ".labels"):  # a's tree replaced by another one, its map kept
        (a / f"wordtree{ext}").write_bytes((b / f"wordtree{ext}").read_bytes())
    assert main(["--check", str(a)]) == 1
    out = capsys.readouterr().out
    new = WordTree.load(b / "wordtree.json")
    assert f"{a / 'shop.map'}: made for tree " in out and "(3 nodes), but wordtree.tree beside it is tree " in out
    assert f"{new.fingerprint} (4 nodes)" in out
    (b / "shop.names").write_text("catalogue\nphones\n")
    assert main(["--check", str(b)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == f"{b / 'shop.names'}: 2 labels but shop.map has 4"
    # b's .tree replaced by another tree (phone-y moved up): the JSON beside it and its label map are another's
    (b / "wordtree.tree").write_text("acme:catalogue -1\nacme:phones 0\nacme:phone-y 0\nacme:phone-x 1\n")
    (b / "wordtree.labels").write_text("acme:catalogue\nacme:phones\nacme:phone-y\nacme:phone-x\n")
    assert main(["--check", str(b)]) == 1
    out = capsys.readouterr().out
    assert f"{b / 'wordtree.json'}: tree {new.fingerprint} (4 nodes), but wordtree.tree beside it is tree " in out
    assert f"{b / 'wordtree.json'}: label map 'shop': made for tree {new.fingerprint} (4 nodes)" in out
    assert f"{b / 'shop.map'}: made for tree {new.fingerprint} (4 nodes), but wordtree.tree beside it" in out
    assert main(["--check", str(tmp_path / "missing")]) == 1
    assert "missing: no such file" in capsys.readouterr().err
