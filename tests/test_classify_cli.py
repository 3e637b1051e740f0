"""`yolo9000 classify` end to end on generated pictures with small random-weights classifiers (tree and flat)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from darknet_files import cfg_text, conv, maxpool, write_pictures

from wordtree import WordTree
from yolo9000.commands import classify as classify_command

NAMES = ["animal", "plant", "dog", "cat", "tree", "terrier", "poodle"]
PARENTS = [-1, -1, 0, 0, 1, 2, 2]


def toy_tree() -> WordTree:
    """animal > {dog > {terrier, poodle}, cat}; plant > tree."""
    return WordTree([f"n{i:08d}" for i in range(7)], PARENTS, NAMES)


def classifier_cfg(classes: int, tree_line: str = "") -> str:
    """A 32x32 classifier: two convs, a 1x1 conv to the classes, global average and softmax."""
    softmax = {"groups": 1, **({"tree": tree_line} if tree_line else {})}
    return cfg_text(
        conv(8),
        maxpool(),
        conv(8),
        maxpool(),
        conv(classes, size=1, bn=False, activation="linear"),
        ("avgpool", {}),
        ("softmax", softmax),
        width=32,
        height=32,
    )


def biased(model, bias: list[float], std: float = 0.3):
    """Random head weights N(0, std) over a class bias (which walks are likely), from a fixed seed."""
    torch.manual_seed(3)
    with torch.no_grad():
        head = model.conv_blocks()[-1].conv
        head.weight.normal_(0, std)
        head.bias.copy_(torch.tensor(bias))
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tree classifier as a Darknet cfg with `[softmax] tree=` (+ .weights) and as a checkpoint, and a flat
    classifier cfg with its weights and names."""
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.darknet.weights import save_weights

    d = tmp_path_factory.mktemp("models")
    # a Darknet .tree: "id parent" per node, written from the format itself
    (d / "toy.tree").write_text("".join(f"n{i:08d} {p}\n" for i, p in enumerate(PARENTS)))
    (d / "toy.names").write_text("\n".join(NAMES) + "\n")
    tree_text = classifier_cfg(7, "toy.tree")
    (d / "tree.cfg").write_text(tree_text)
    torch.manual_seed(0)
    # animal likely; dog over cat; terrier vs poodle close: most walks stop at dog at .5
    tree_model = biased(DarknetModel.from_cfg_text(tree_text, base_dir=d), [3.0, 0, 2.0, 0, 0, 0.3, 0])
    save_weights(tree_model, d / "tree.weights")
    save_checkpoint(d / "tree.pt", tree_model, names=NAMES)
    flat_text = classifier_cfg(3)
    (d / "flat.cfg").write_text(flat_text)
    save_weights(biased(DarknetModel.from_cfg_text(flat_text), [1.0, 0.5, 0], std=1.0), d / "flat.weights")
    (d / "flat.names").write_text("red\ngreen\nblue\n")
    detector = cfg_text(
        conv(8),
        maxpool(),
        conv(2 * 8, size=1, bn=False, activation="linear"),
        ("region", {"anchors": "1,1, 2,2", "classes": 3, "coords": 4, "num": 2, "softmax": 1}),
        width=32,
        height=32,
    )
    (d / "detector.cfg").write_text(detector)
    return d


@pytest.fixture()
def pictures(tmp_path):
    """Five readable pictures, two in a nested folder, and a broken one beside them."""
    top = write_pictures(tmp_path / "in", sizes=((40, 30), (25, 45), (32, 32)), seed=1)
    nested = write_pictures(tmp_path / "in" / "more" / "deeper", sizes=((50, 20), (20, 50)), seed=2)
    (tmp_path / "in" / "more" / "broken.jpg").write_bytes(b"this is not a jpeg")
    return top + nested


def classify(argv: list[str]) -> int:
    """`yolo9000 classify ARGV` through the command's own parser (as `yolo9000.cli` registers it)."""
    parser = argparse.ArgumentParser(prog="yolo9000")
    classify_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["classify", *argv])
    return int(args.func(args))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_tree_record(rec: dict, tree: WordTree, hier_thresh: float, k: int) -> None:
    """The rules of a tree record, from the tree alone."""
    top = rec["top"]
    assert len(top) == k
    probs = [t["prob"] for t in top]
    assert probs == sorted(probs, reverse=True)
    assert all(tree.is_leaf[t["node"]] for t in top)
    assert all(t["name"] == NAMES[t["node"]] and t["id"] == tree.ids[t["node"]] for t in top)
    walk = rec["walk"]
    nodes = [w["node"] for w in walk]
    assert PARENTS[nodes[0]] == -1 and tree.is_leaf[nodes[-1]]  # a root .. a leaf
    assert all(PARENTS[b] == a for a, b in zip(nodes, nodes[1:]))  # a parent -> child chain
    assert np.allclose([w["abs"] for w in walk], np.cumprod([w["prob"] for w in walk]), atol=1e-5)
    stopped = rec["stopped"]
    assert stopped["node"] in nodes
    level = nodes.index(stopped["node"])
    assert stopped["abs"] == pytest.approx(walk[level]["abs"], abs=1e-5)
    # the paper's rule: every node down to the stop passed hier-thresh (the best root is kept even if it fails)
    assert all(w["abs"] > hier_thresh for w in walk[1 : level + 1])
    if level + 1 < len(walk):
        assert walk[level + 1]["abs"] <= hier_thresh + 1e-6


def test_tree_checkpoint_records_match_evaluation(models, pictures, tmp_path, capsys):
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.evaluation.predict import LabelledPictures, predict_classification

    out = tmp_path / "out"
    ins = tmp_path / "in"
    code = classify(
        ["--checkpoint", str(models / "tree.pt"), "--device", "cpu", "--batch-size", "2", "--out", str(out), "-q"]
        + [str(ins), str(tmp_path / "missing.png")]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "missing.png: not found" in captured.err and "broken.jpg" in captured.err
    assert "5 pictures classified" in captured.out and f"results: {out / 'predictions.jsonl'}" in captured.out
    rows = read_jsonl(out / "predictions.jsonl")
    files = [Path(r["file"]) for r in rows]
    assert sorted(files) == sorted(pictures)  # the nested folders too
    tree = toy_tree()
    for r in rows:
        check_tree_record(r, tree, 0.5, k=4)  # 4 leaves: --top-k 5 gives all of them
        assert sum(t["prob"] for t in r["top"]) == pytest.approx(1.0, abs=1e-4)  # the leaves share all mass
        assert r["tree_fingerprint"] == tree.fingerprint
    stops = {r["stopped"]["name"] for r in rows}
    assert "dog" in stops  # the biased head: the walk stops above the leaves for some pictures

    # the same preprocessing and walk as `yolo9000 eval` classifies with
    model = load_model(models / "tree.pt")
    got = predict_classification(model, LabelledPictures(files, np.zeros(len(files), dtype=np.int64), "test"))
    assert [r["stopped"]["node"] for r in rows] == got.pred.tolist()
    for r, p in zip(rows, got.probs):
        assert [t["prob"] for t in r["top"]] == pytest.approx([p[t["node"]] for t in r["top"]], abs=1e-5)
        # the greedy walk, written from its definition: the most probable child at every level
        node, walk = max((n for n in range(7) if PARENTS[n] < 0), key=lambda n: p[n]), []
        while True:
            walk.append(node)
            children = [n for n in range(7) if PARENTS[n] == node]
            if not children:
                break
            node = max(children, key=lambda n: p[n])
        assert [w["node"] for w in r["walk"]] == walk
        assert [w["abs"] for w in r["walk"]] == pytest.approx([p[n] for n in walk], abs=1e-5)


def test_darknet_cfg_with_tree_and_page(models, pictures, tmp_path, capsys):
    odd = tmp_path / "in" / "a&b <c>.png"  # a name the page must escape
    odd.write_bytes(pictures[0].read_bytes())
    out = tmp_path / "out"
    argv = ["--cfg", str(models / "tree.cfg"), "--weights", str(models / "tree.weights"), "--device", "cpu"]
    code = classify(argv + ["--top-k", "2", "--hier-thresh", "0.3", "--out", str(out), "-q", str(tmp_path / "in")])
    assert code == 0
    rows = read_jsonl(out / "predictions.jsonl")
    assert len(rows) == 6
    for r in rows:
        check_tree_record(r, toy_tree(), 0.3, k=2)
    # the cfg file and its weights give what the checkpoint of the same model gives
    ckpt_out = tmp_path / "ckpt"
    classify(["--checkpoint", str(models / "tree.pt"), "--top-k", "2", "--hier-thresh", "0.3", "--device", "cpu"]
             + ["--out", str(ckpt_out), "-q", str(tmp_path / "in")])  # fmt: skip
    again = read_jsonl(ckpt_out / "predictions.jsonl")
    assert [r["stopped"]["node"] for r in again] == [r["stopped"]["node"] for r in rows]

    page = (out / "index.html").read_text()
    for p in pictures:
        assert f">{p.name}</h3>" in page
    assert "a&amp;b &lt;c&gt;.png" in page and "<c>" not in page
    assert "broken.jpg" in page  # the skipped picture is listed by name
    assert str(tmp_path) not in page and str(models) not in page  # names only, never the folders
    assert "a tree of 7 nodes, 32x32 pixels" in page
    thumbs = sorted(out.glob("thumbs/*.jpg"))
    assert len(thumbs) == 6 and all(f'src="thumbs/{t.name}"' in page for t in thumbs)
    assert page.count("<tr class=stop>") == 6  # one stopped node marked per picture
    assert "http" not in page.split("</style>")[1]  # no external assets


def test_darknet19_template_sized_for_a_tree(models, pictures, tmp_path):
    from wordtree.formats import save_json

    save_json(toy_tree(), tmp_path / "toy.json")
    out = tmp_path / "out"
    argv = ["--cfg", "darknet19", "--tree", str(tmp_path / "toy.json"), "--size", "32", "--device", "cpu"]
    assert classify(argv + ["--out", str(out), "--no-summary", "-q", str(pictures[0]), str(pictures[3])]) == 0
    rows = read_jsonl(out / "predictions.jsonl")
    assert [Path(r["file"]).name for r in rows] == [pictures[0].name, pictures[3].name]
    for r in rows:
        check_tree_record(r, toy_tree(), 0.5, k=4)
    assert not (out / "index.html").exists() and not (out / "thumbs").exists()


def test_torchvision_name_gets_the_classifier_head(models, pictures, tmp_path):
    from wordtree.formats import save_json

    save_json(toy_tree(), tmp_path / "toy.json")
    out = tmp_path / "out"
    argv = ["--cfg", "torchvision:mobilenet_v3_small", "--tree", str(tmp_path / "toy.json"), "--size", "64"]
    assert classify(argv + ["--device", "cpu", "--out", str(out), "--no-summary", "-q", str(pictures[0])]) == 0
    (row,) = read_jsonl(out / "predictions.jsonl")
    check_tree_record(row, toy_tree(), 0.5, k=4)


def test_flat_classifier(models, pictures, tmp_path):
    out = tmp_path / "out"
    argv = ["--cfg", str(models / "flat.cfg"), "--weights", str(models / "flat.weights")]
    argv += [
        "--names",
        str(models / "flat.names"),
        "--top-k",
        "2",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--out",
        str(out),
        "-q",
    ]
    assert classify(argv + [str(tmp_path / "in")]) == 0
    rows = read_jsonl(out / "predictions.jsonl")
    assert len(rows) == 5
    from yolo9000.darknet.model import load_darknet
    from yolo9000.data.image_io import read_image
    from yolo9000.detection.letterbox import letterbox_batch

    model = load_darknet(models / "flat.cfg", models / "flat.weights")
    for r in rows:
        assert r["walk"] == [] and "stopped" not in r
        top = r["top"]
        assert len(top) == 2 and top[0]["prob"] >= top[1]["prob"] and sum(t["prob"] for t in top) <= 1 + 1e-6
        assert all(t["name"] == ["red", "green", "blue"][t["label"]] for t in top)
        with torch.no_grad():  # the model's own softmax at its cfg size
            p = model.classify(letterbox_batch([read_image(r["file"])], (32, 32)))[0]
        assert [t["label"] for t in top] == p.topk(2).indices.tolist()
        assert [t["prob"] for t in top] == pytest.approx(p.topk(2).values.tolist(), abs=1e-5)
    assert "<table" not in (out / "index.html").read_text()  # no walk to show


def test_detectors_and_bad_models_refused(models, pictures, tmp_path):
    pic = str(pictures[0])
    out = str(tmp_path / "out")
    with pytest.raises(ValueError, match="yolo9000 detect"):
        classify(["--cfg", str(models / "detector.cfg"), "--out", out, pic])
    with pytest.raises(ValueError, match="detector template.*yolo9000 detect"):
        classify(["--cfg", "yolov2", "--out", out, pic])
    with pytest.raises(ValueError, match="no model given"):
        classify(["--out", out, pic])
    with pytest.raises(ValueError, match="--weights needs --cfg"):
        classify(["--checkpoint", str(models / "tree.pt"), "--weights", str(models / "tree.weights"), pic])
    with pytest.raises(ValueError, match="4 names but the model has 3 classes"):
        (tmp_path / "four.names").write_text("a\nb\nc\nd\n")
        classify(["--cfg", str(models / "flat.cfg"), "--names", str(tmp_path / "four.names"), "--out", out, pic])
    with pytest.raises(ValueError, match="no inputs given"):
        classify(["--checkpoint", str(models / "tree.pt"), "--out", out])
    assert not Path(out).exists()  # nothing written by a refused run


def test_output_folder_rules(models, pictures, tmp_path, monkeypatch):
    base = ["--checkpoint", str(models / "tree.pt"), "--device", "cpu", "-q"]
    out = tmp_path / "out"
    assert classify(base + ["--out", str(out), str(tmp_path / "in")]) == 0
    first = (out / "predictions.jsonl").read_text()
    with pytest.raises(ValueError, match="already holds results.*--force"):
        classify(base + ["--out", str(out), str(pictures[0])])
    assert (out / "predictions.jsonl").read_text() == first
    # --force replaces the run: one picture now, the earlier thumbnails removed
    assert classify(base + ["--out", str(out), "--force", str(pictures[0])]) == 0
    assert len(read_jsonl(out / "predictions.jsonl")) == 1 and len(list(out.glob("thumbs/*.jpg"))) == 1
    # a folder of the user's is refused, and even --force never writes over the user's file
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("my page")
    with pytest.raises(ValueError, match="not empty and was not written by yolo9000 classify"):
        classify(base + ["--out", str(mine), str(pictures[0])])
    with pytest.raises(ValueError, match="index.html was not written by yolo9000 classify"):
        classify(base + ["--out", str(mine), "--force", str(pictures[0])])
    assert (mine / "index.html").read_text() == "my page"
    # inside an input folder: refused
    with pytest.raises(ValueError, match="inside the input folder"):
        classify(base + ["--out", str(tmp_path / "in" / "res"), str(tmp_path / "in")])
    # the default: runs/classify, then runs/classify2 beside a run's results
    monkeypatch.chdir(tmp_path)
    assert classify(base + [str(pictures[0])]) == 0
    assert classify(base + [str(pictures[1])]) == 0
    assert (tmp_path / "runs/classify/predictions.jsonl").is_file()
    assert (tmp_path / "runs/classify2/predictions.jsonl").is_file()


def test_nothing_readable(models, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="no picture could be read"):
        classify(["--checkpoint", str(models / "tree.pt"), "--out", str(tmp_path / "out"), str(tmp_path / "bad")])
    assert not (tmp_path / "out" / "predictions.jsonl").exists()
    with pytest.raises(FileNotFoundError, match="nothing to classify"):
        classify(["--checkpoint", str(models / "tree.pt"), "--out", str(tmp_path / "o2"), str(tmp_path / "nope")])


def test_every_option_has_help_and_flags_come_in_pairs():
    """As every command's: help text on each option; a boolean is --flag/--no-flag (-q/--quiet is the alias)."""
    parser = argparse.ArgumentParser(prog="yolo9000")
    sub = parser.add_subparsers(dest="command")
    command = classify_command.add_parser(sub)
    for action in command._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"classify {name}: no help text"
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            assert action.option_strings == ["-q", "--quiet"], f"classify {name}: a flag without --no-"
    args = parser.parse_args(["classify", "x.jpg", "--hier-thresh", "0", "--top-k", "1", "--size", "32"])
    assert (args.hier_thresh, args.top_k, args.size) == (0.0, 1, 32)
    for bad in (["--top-k", "0"], ["--hier-thresh", "1"], ["--size", "70"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["classify", "x.jpg", *bad])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_records(models, pictures):
    from yolo9000.data.image_io import read_image
    from yolo9000.inference.classify import Classifier, load_classifier

    images = [read_image(p) for p in pictures]
    model, names = load_classifier(checkpoint=models / "tree.pt")
    cpu = Classifier(model, names, device="cpu")(images)
    gpu = Classifier(model, names, device="cuda")(images)
    for a, b in zip(cpu, gpu):
        assert [w["node"] for w in a["walk"]] == [w["node"] for w in b["walk"]]
        assert a["stopped"]["node"] == b["stopped"]["node"]
        assert [t["prob"] for t in a["top"]] == pytest.approx([t["prob"] for t in b["top"]], abs=1e-4)
