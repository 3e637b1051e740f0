"""`yolo9000 eval --predictions OUT/predictions.jsonl --folders DIR`: the records of `yolo9000 classify` scored as
running the classifier scores it (yolo9000.evaluation.class_records), and the refusals around it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_classify_cli import NAMES, PARENTS, biased, classifier_cfg

from yolo9000.cli import main

IDS = [f"n{i:08d}" for i in range(7)]  # the toy tree's: animal > {dog > {terrier, poodle}, cat}; plant > tree
COLOURS = ["red", "green", "blue"]
HIER_THRESH = "0.35"


def class_folders(root: Path, classes: list[str], seed: int) -> Path:
    """Three small pictures per class folder, each a random colour with noise (so that a random model's answers
    differ between them), and one unreadable picture (classify and eval skip it)."""
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i, (w, h) in enumerate(((40, 30), (32, 32), (24, 44))):
            pixels = rng.integers(0, 255, 3) + rng.normal(0, 30, (h, w, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / name / f"pic{i}.png")
    (root / classes[0] / "broken.png").write_bytes(b"not a png")
    return root


def run(*argv: str) -> int:
    return main([*map(str, argv)])


def classify(ckpt: Path, folders: Path, out: Path, *extra: str) -> Path:
    """`yolo9000 classify` of the class folders; its records file."""
    argv = ["--checkpoint", ckpt, "--device", "cpu", "--workers", "0", "--no-summary", "-q", "--out", out]
    assert run("classify", *argv, *extra, folders) == 0
    return out / "predictions.jsonl"


def classification(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())["classification"]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A tree and a flat classifier checkpoint, their class folders, the records `yolo9000 classify --top-k 5`
    wrote of them, and the reports of `yolo9000 eval --checkpoint` on the same folders."""
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.model import DarknetModel

    d = tmp_path_factory.mktemp("made")
    (d / "toy.tree").write_text("".join(f"{w} {p}\n" for w, p in zip(IDS, PARENTS)))
    torch.manual_seed(0)
    tree_model = DarknetModel.from_cfg_text(classifier_cfg(7, "toy.tree"), base_dir=d)
    save_checkpoint(d / "tree.pt", biased(tree_model, [1.0, 0, 0.5, 0, 0, 0.3, 0], std=1.5), names=NAMES)
    tree_model.tree.save(d / "tree.json")
    torch.manual_seed(0)
    flat_model = biased(DarknetModel.from_cfg_text(classifier_cfg(3)), [0.15, -0.08, -0.28], std=2.0)
    save_checkpoint(d / "flat.pt", flat_model, names=COLOURS)
    (d / "flat.names").write_text("\n".join(COLOURS) + "\n")
    # node-id folders: the four leaves and "dog", an inner node (a truth the hierarchy scores as such)
    tree_dir = class_folders(d / "tree_val", [IDS[n] for n in (5, 6, 3, 4, 2)], seed=1)
    flat_dir = class_folders(d / "flat_val", COLOURS, seed=2)
    got = {"d": d, "tree_dir": tree_dir, "flat_dir": flat_dir}
    for kind, folders in (("tree", tree_dir), ("flat", flat_dir)):
        options = ["--top-k", "5", "--hier-thresh", HIER_THRESH]
        got[f"{kind}_records"] = classify(d / f"{kind}.pt", folders, d / f"{kind}_cls", *options)
        common = ["--folders", folders, "--no-plots", "--no-progress", "--device", "cpu", "--workers", "0"]
        evaluated = ["eval", "--checkpoint", d / f"{kind}.pt", *common, "--hier-thresh", HIER_THRESH]
        assert run(*evaluated, "--out", d / f"{kind}_eval") == 0
    return got


def test_tree_records_score_as_running_the_checkpoint(made, tmp_path, caplog):
    d = made["d"]
    out = tmp_path / "e"
    with caplog.at_level(logging.WARNING):
        labels = ["--folders", made["tree_dir"], "--tree", d / "tree.json"]
        assert run("eval", "--predictions", made["tree_records"], *labels, "--out", out, "--no-plots") == 0
    got, want = classification(out), classification(d / "tree_eval")
    assert set(got) == set(want) and {"top1_leaf", "top5_node", "hF", "exact"} <= set(got)
    assert got == pytest.approx(want, abs=1e-6)
    assert got["samples"] == 15  # 5 folders of 3 readable pictures
    assert 0 < got["exact"] < 1 and 0 < got["top1_leaf"] < 1  # not a degenerate model: the figures say something
    for table in ("depth_accuracy.csv", "distances.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(out / table), pd.read_csv(d / "tree_eval" / table))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["hier_thresh"] == float(HIER_THRESH)  # from classify's output folder
    assert summary["meta"]["predictions"] == str(made["tree_records"])
    # the unreadable picture: classify skipped it, so it has no record (eval --checkpoint skips it too)
    assert "1 picture of the class folders" in caplog.text and "has no record" in caplog.text


def test_flat_records_score_as_running_the_checkpoint(made, tmp_path, monkeypatch, capsys):
    d = made["d"]
    for i, names in enumerate((["--names", d / "flat.names"], ["--checkpoint", d / "flat.pt"])):
        out = tmp_path / f"e{i}"
        labels = ["--folders", made["flat_dir"], *names]
        assert run("eval", "--predictions", made["flat_records"], *labels, "--out", out) == 0
        got, want = classification(out), classification(d / "flat_eval")
        assert got == pytest.approx(want, abs=1e-6) and set(got) == {"top1", "top5", "samples"}
        assert got["samples"] == 9 and 0 < got["top1"] < 1
    # classify given a relative folder writes relative files: they are read from the current folder, as written
    monkeypatch.chdir(d)
    records = classify(Path("flat.pt"), Path("flat_val"), tmp_path / "cls", "--top-k", "3")
    assert json.loads(records.read_text().splitlines()[0])["file"].startswith("flat_val/")
    capsys.readouterr()
    assert run("eval", "--predictions", records, "--folders", made["flat_dir"], "--checkpoint", "flat.pt",
               "--out", tmp_path / "rel") == 0  # fmt: skip
    assert classification(tmp_path / "rel") == pytest.approx(classification(d / "flat_eval"), abs=1e-6)
    printed = capsys.readouterr().out
    assert f"classification on {made['flat_dir']}:" in printed and "| top-5 " in printed


def test_the_class_records_module_rebuilds_the_model_run(made):
    """`read_class_predictions` gives the probabilities `predict_classification` gives (to the records' digits):
    the leaves as written, every inner node as the sum of its leaves."""
    from yolo9000 import evaluation as ev
    from yolo9000.darknet.checkpoint import load_model

    d = made["d"]
    model = load_model(d / "tree.pt")
    ran = ev.predict_classification(model, made["tree_dir"], hier_thresh=float(HIER_THRESH))
    read = ev.read_class_predictions(made["tree_records"], made["tree_dir"], tree=model.tree)
    assert read.files == ran.files
    np.testing.assert_allclose(read.probs, ran.probs, atol=4e-6)
    np.testing.assert_array_equal(read.pred, ran.pred)
    np.testing.assert_array_equal(read.truth, ran.truth)
    assert read.complete and read.entries == 4 and read.exact_ks((1, 5, 10)) == [1, 5, 10]


def test_fewer_entries_than_k_leave_top_k_out_with_a_warning(made, tmp_path, caplog):
    d = made["d"]
    records = classify(d / "tree.pt", made["tree_dir"], tmp_path / "cls", "--top-k", "2", "--hier-thresh", HIER_THRESH)
    out = tmp_path / "e"
    with caplog.at_level(logging.WARNING):
        labels = ["--folders", made["tree_dir"], "--tree", d / "tree.json"]
        assert run("eval", "--predictions", records, *labels, "--out", out) == 0
    got, want = classification(out), classification(d / "tree_eval")
    # top-1 over the leaves and the walk's measures are exact; top-5 needs 5 leaves, top-k over nodes every leaf
    assert not {"top5_leaf", "top1_node", "top5_node"} & set(got)
    assert got == pytest.approx({k: v for k, v in want.items() if k in got}, abs=1e-6)
    assert {"top1_leaf", "exact", "hF", "samples"} <= set(got)
    assert "records hold 2 leaves each; top-5 needs `yolo9000 classify --top-k 5` or more; not scored" in caplog.text
    assert "top-k over all nodes needs every leaf in each record (`yolo9000 classify --top-k 4`)" in caplog.text


def test_records_of_other_pictures_and_repeats_are_counted_not_scored(made, tmp_path, caplog):
    from yolo9000 import evaluation as ev

    rows = made["flat_records"].read_text().splitlines()
    other = json.loads(rows[0]) | {"file": str(tmp_path / "elsewhere.png")}
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join([rows[0], json.dumps(other), *rows[1:], rows[2], ""]) + "\n")
    with caplog.at_level(logging.WARNING):
        read = ev.read_class_predictions(mixed, made["flat_dir"], names=COLOURS)
    assert len(read.truth) == 9 and read.complete and read.entries == 3
    elsewhere = f"1 record names a file that is no picture of the class folders {made['flat_dir']}; not scored"
    assert f"{elsewhere} (e.g. line 2: {tmp_path / 'elsewhere.png'})" in caplog.text
    assert "1 record repeats a picture already read" in caplog.text
    # without names the records' own name each class folder; records of 3 classes are complete only with names
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        bare = ev.read_class_predictions(made["flat_records"], made["flat_dir"])
        report = ev.records_summary(bare, None)
    assert bare.classes is None and not bare.complete
    np.testing.assert_array_equal(bare.truth, read.truth)
    assert set(report.headline) == {"top1", "samples"}
    assert "records hold 3 classes each; top-5 needs" in caplog.text and "--names" in caplog.text
    copy = shutil.copytree(made["flat_dir"], tmp_path / "copy")  # the same classes, other pictures
    with pytest.raises(ValueError, match=f"{mixed}: no record is a picture of the class folders {copy}"):
        ev.read_class_predictions(mixed, copy, names=COLOURS)


def test_hier_thresh_stops_the_saved_walks_again(made, tmp_path, caplog):
    """`eval --predictions --hier-thresh T` scores the records as the model run at T scores the pictures, whatever
    threshold classify used; without it, where classify stopped."""
    d = made["d"]
    labels = ["--folders", made["tree_dir"], "--tree", d / "tree.json", "--no-plots"]
    scored = {}
    for t in ("0.05", "0.2", "0.5"):
        assert (
            run("eval", "--predictions", made["tree_records"], *labels, "--hier-thresh", t, "--out", tmp_path / t) == 0
        )
        common = ["--folders", made["tree_dir"], "--no-plots", "--device", "cpu", "--workers", "0"]
        assert run("eval", "--checkpoint", d / "tree.pt", *common, "--hier-thresh", t, "--out", tmp_path / f"m{t}") == 0
        scored[t] = got = classification(tmp_path / t)
        assert got == pytest.approx(classification(tmp_path / f"m{t}"), abs=1e-6), t
        assert json.loads((tmp_path / t / "summary.json").read_text())["meta"]["hier_thresh"] == float(t)
    assert len({(s["exact"], s["hF"]) for s in scored.values()}) == 3, "the thresholds stop the walks alike"
    assert classification(d / "tree_eval") not in scored.values()  # classify's 0.35: not what these scored
    # a flat classifier's records have no walk: told, and scored as they are
    with caplog.at_level(logging.WARNING):
        flat = ["--folders", made["flat_dir"], "--names", d / "flat.names", "--hier-thresh", "0.5"]
        assert run("eval", "--predictions", made["flat_records"], *flat, "--out", tmp_path / "flat") == 0
    assert "--hier-thresh is not applied" in caplog.text and "a flat classifier's records" in caplog.text
    assert classification(tmp_path / "flat") == pytest.approx(classification(d / "flat_eval"), abs=1e-6)


def _edited(src: Path, dst: Path, edit) -> Path:
    """`src`'s records with `edit(record)` applied to the first one (it returns the new line's text)."""
    rows = src.read_text().splitlines()
    dst.write_text("\n".join([edit(json.loads(rows[0])), *rows[1:]]) + "\n")
    return dst


@pytest.mark.parametrize(
    "case, message",
    [
        ("other_tree", "predictions made with tree {fp} but the class folders are read with tree"),
        ("no_tree", "predictions made with tree {fp}; give that tree (--tree or --checkpoint)"),
        ("bad_json", "bad.jsonl:1: not valid JSON"),
        ("no_top", "bad.jsonl:1: 'top' must be a non-empty list of classes"),
        ("no_prob", "bad.jsonl:1: a 'top' entry has no 'prob'"),
        ("no_file", "bad.jsonl:1: the record has no 'file'"),
        ("inner_top", "bad.jsonl:1: 'top' lists inner node 2"),
        ("flat_names", "label 2 is 'blau' in the class names but the record says 'blue'; these predictions were"),
        ("flat_with_tree", "the record of a flat classifier (no 'stopped' node) but a tree"),
        ("no_walk", "bad.jsonl:1: no 'walk' to stop at --hier-thresh (a list of levels, as `yolo9000 classify`"),
        ("no_abs", "bad.jsonl:1: a 'walk' level has no 'abs'"),
        ("bad_abs", "bad.jsonl:1: 'abs' is 1.5, not a probability"),
        ("detections", "holds detections (of `yolo9000 detect`, or COCO results), not the records of `yolo9000"),
        ("with_coco", "holds the records of `yolo9000 classify`, not detections; score them on the class folders"),
        ("coco_and_folders", "--folders cannot be used with --predictions and --coco together"),
        ("no_truth", "--predictions needs the ground truth: add --coco (detections) or --folders"),
    ],
)
def test_bad_records_and_options_are_one_line_errors(made, tmp_path, capsys, case, message):
    from wordtree import WordTree

    d = made["d"]
    tree_rec, flat_rec = made["tree_records"], made["flat_records"]
    fp = json.loads(tree_rec.read_text().splitlines()[0])["tree_fingerprint"]
    bad = tmp_path / "bad.jsonl"
    folders, labels = made["tree_dir"], ["--tree", d / "tree.json"]
    preds = tree_rec
    if case == "other_tree":  # the same ids, "tree" moved under "animal": another tree
        WordTree(IDS, [-1, -1, 0, 0, 0, 2, 2], NAMES).save(tmp_path / "other.json")
        labels = ["--tree", tmp_path / "other.json"]
        message += " " + WordTree.load(tmp_path / "other.json").fingerprint + f" ({tmp_path / 'other.json'})"
    elif case == "no_tree":
        labels = []
    elif case == "bad_json":
        preds = _edited(tree_rec, bad, lambda r: json.dumps(r)[:-3])
    elif case == "no_top":
        preds = _edited(tree_rec, bad, lambda r: json.dumps({k: v for k, v in r.items() if k != "top"}))
    elif case == "no_prob":
        preds = _edited(tree_rec, bad, lambda r: json.dumps(r | {"top": [{"node": 5, "id": IDS[5]}]}))
    elif case == "no_file":
        preds = _edited(tree_rec, bad, lambda r: json.dumps({k: v for k, v in r.items() if k != "file"}))
    elif case == "inner_top":
        preds = _edited(tree_rec, bad, lambda r: json.dumps(r | {"top": [{"node": 2, "prob": 0.5}]}))
    elif case == "flat_names":
        (tmp_path / "other.names").write_text("red\ngreen\nblau\n")
        preds, folders, labels = flat_rec, made["flat_dir"], ["--names", tmp_path / "other.names"]
    elif case == "flat_with_tree":
        preds, folders = flat_rec, made["flat_dir"]
    elif case in ("no_walk", "no_abs", "bad_abs"):
        walk = {"no_walk": None, "no_abs": [{"node": 0}], "bad_abs": [{"node": 0, "abs": 1.5}]}[case]
        preds = _edited(tree_rec, bad, lambda r: json.dumps(r | {"walk": walk}))
        labels += ["--hier-thresh", "0.5"]
    elif case == "detections":
        bad.write_text(json.dumps({"image": "a.png", "detections": [{"box": [0, 0, 1, 1], "score": 1, "node": 5}]}))
        preds = bad
    message = message.format(fp=fp)
    truth = ["--folders", folders]
    if case in ("with_coco", "coco_and_folders"):
        (tmp_path / "gt.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
        truth = ["--coco", tmp_path / "gt.json"] + (["--folders", folders] if case == "coco_and_folders" else [])
    elif case == "no_truth":
        truth = []
    capsys.readouterr()
    assert run("eval", "--predictions", preds, *truth, *labels, "--out", tmp_path / "out") == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out" / "summary.json").exists()
