"""`build-wordtree` end to end (in-process through `main`, plus one real subprocess)."""

from __future__ import annotations

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
    assert err.strip().splitlines()[-1].startswith("build-wordtree: error: 3 invalid target(s)")
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
