"""Bad models and predictions never pass silently: NaN/inf weights and checkpoints, a `.weights` file for another
cfg, resuming with another cfg or tree or after the last step, predictions from another tree, empty predictions,
non-finite scores and boxes. Each row: a command, its exit code and the words its one-line message must hold.
Plus the tree fingerprint and the files that carry it (checkpoint, detect's JSON lines, convert's cfg)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tiny_data as td
import torch

from yolo9000.cli import main

TRAIN_OPTS = ["--workers", "0", "--no-tensorboard", "--no-progress", "--batch", "2", "--size", "64"]


def _other_tree():
    """The test tree's 7 wnids with another structure ("bus" under "animal"): same size, other node meaning."""
    from wordtree.tree import LabelMap, WordTree

    edges = dict(td.TREE_EDGES, n90000007="n90000002")
    tree = WordTree.from_edges(edges, td.TREE_NAMES)
    return tree.with_label_maps([LabelMap("detection", ("animal", "vehicle"), ("n90000002", "n90000003"))])


def _bigger_tree():
    """The test tree plus one leaf: its tiny-yolo9000 cfg shares the trunk but not the last conv layer."""
    from wordtree.tree import WordTree

    edges = dict(td.TREE_EDGES, n90000008="n90000003")
    return WordTree.from_edges(edges, dict(td.TREE_NAMES, n90000008="truck"))


def _poke(path: Path, value: float, index: int, header: int = 20) -> Path:
    """Set float `index` of a .weights body to `value`."""
    raw = bytearray(path.read_bytes())
    raw[header + 4 * index : header + 4 * index + 4] = np.float32(value).tobytes()
    path.write_bytes(bytes(raw))
    return path


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """Data, a 2-step run, weights files, another tree and cfg, and detect's JSON lines of the run."""
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.darknet.weights import save_weights

    root = tmp_path_factory.mktemp("badmodels")
    d = dict(td.make_all(root / "data"))
    d["root"] = root
    tree = td.make_tree()
    run = root / "run"
    assert main(_train(d, run, "--steps", "2")) == 0
    d["run"], d["ckpt"] = run, run / "last.pt"
    torch.manual_seed(0)
    model = DarknetModel.from_cfg_text(d["cfg"].read_text(), tree=tree)
    d["n_conv"] = len(model.conv_blocks())
    save_weights(model, root / "good.weights")
    d["good_weights"] = root / "good.weights"
    for name, value, index in (("nan0", float("nan"), 3), ("inf_late", float("inf"), None)):
        p = root / f"{name}.weights"
        shutil.copy(root / "good.weights", p)
        # the second: inside the last conv layer's weights
        _poke(p, value, index if index is not None else (p.stat().st_size - 20) // 4 - 5)
        d[name] = p
    other = _other_tree()
    other.save(root / "other_tree.json")
    d["other_tree"] = root / "other_tree.json"
    big = _bigger_tree()
    big.save(root / "big_tree.json")
    big_model = DarknetModel.from_cfg_text(td.make_cfg(big, root / "big.cfg").read_text(), tree=big)
    save_weights(big_model, root / "big.weights")
    d["big_weights"] = root / "big.weights"
    d["wide_cfg"] = td.make_cfg(tree, root / "wide.cfg", width=0.25)
    ck = torch.load(d["ckpt"], weights_only=False)
    key = next(k for k, v in ck["model"].items() if v.is_floating_point())
    ck["model"][key] = ck["model"][key].clone()
    ck["model"][key].view(-1)[0] = float("inf")
    torch.save(ck, root / "inf.pt")
    d["inf_ckpt"], d["inf_key"] = root / "inf.pt", key
    ck["model"] = torch.load(d["ckpt"], weights_only=False)["model"]
    ck["tree_fingerprint"] = "deadbeefdeadbeef"  # the stored tree is the test tree: the record disagrees
    torch.save(ck, root / "altered.pt")
    d["altered_ckpt"] = root / "altered.pt"
    # the first n-1 conv layers of the whole-model file: a Darknet-style backbone (darknet19_448.conv.23)
    from yolo9000.darknet.weights import conv_layer_sizes

    sizes = conv_layer_sizes(model.conv_blocks())
    raw = (root / "good.weights").read_bytes()
    (root / "prefix.weights").write_bytes(raw[: 20 + 4 * sum(sizes[:-1])])
    (root / "cut.weights").write_bytes(raw[: 20 + 4 * (sum(sizes[:-1]) - 7)])  # ends inside a layer
    d["prefix_weights"], d["cut_weights"] = root / "prefix.weights", root / "cut.weights"
    assert main(["convert", str(d["ckpt"]), "-o", str(root / "export" / "m")]) == 0
    d["export_cfg"], d["export_weights"] = root / "export" / "m.cfg", root / "export" / "m.weights"
    empty = root / "nothing.jsonl"  # detect's lines for images where nothing was found
    empty.write_text("".join(json.dumps({"image": f"img00{i}.png", "detections": []}) + "\n" for i in range(3)))
    d["nothing_jsonl"] = empty
    det = root / "det"
    argv = ["detect", "--checkpoint", str(d["ckpt"]), "--thresh", "0.001", "--out", str(det)]
    assert main(argv + ["--no-images", "--no-summary", "--quiet", "--device", "cpu", str(d["images"])]) == 0
    d["jsonl"] = det / "detections.jsonl"
    return d


def _train(d, out, *extra):
    base = ["train", "--coco", str(d["coco"]), "--folders", str(d["folders"]), "--tree", str(d["tree"])]
    return [*base, "--cfg", str(d["cfg"]), "--out", str(out), *TRAIN_OPTS, *extra]


def _preds(root: Path, name: str, text: str) -> Path:
    p = root / name
    p.write_text(text)
    return p


def _det_line(score=0.9, box=(1, 1, 20, 20), **extra) -> str:
    rec = {"image": "img000.png", "detections": [{"box": list(box), "score": score, "node": 1}], **extra}
    return json.dumps(rec) + "\n"


def _eval(d, pred: Path, out: str, *extra):
    return ["eval", "--predictions", str(pred), "--coco", str(d["coco"]), "--out", str(d["root"] / out), *extra]


# (id, argv builder, exit code, regexes the message must match (formatted with the fixture's paths, escaped)):
# with exit code 1 the one line on stderr, with exit code 0 the log (a warning or what was done)
CASES = [
    (
        "weights-nan-convert",
        lambda d: ["convert", str(d["cfg"]), str(d["nan0"]), "--tree", str(d["tree"]), "-o", str(d["root"] / "x.pt")],
        1,
        ["{nan0}", r"conv layer 0 \(biases\) holds nan", "NaN or inf"],
    ),
    (
        "weights-inf-last-layer-detect",
        lambda d: [
            "detect",
            "--cfg",
            str(d["cfg"]),
            "--weights",
            str(d["inf_late"]),
            "--tree",
            str(d["tree"]),
            "--out",
            str(d["root"] / "o1"),
            str(d["images"]),
        ],
        1,
        ["{inf_late}", r"conv layer {last} \(weights\) holds inf"],
    ),
    (
        "weights-nan-train",
        lambda d: _train(d, d["root"] / "t_nan", "--steps", "1", "--weights", str(d["nan0"])),
        1,
        ["{nan0}", "conv layer 0", "nan"],
    ),
    (
        "weights-nan-train-partial",
        lambda d: _train(d, d["root"] / "t_nanp", "--steps", "1", "--weights", str(d["nan0"]), "--weights-layers", "2"),
        1,
        ["{nan0}", "conv layer 0", "nan"],
    ),
    (
        "ckpt-inf-detect",
        lambda d: ["detect", "--checkpoint", str(d["inf_ckpt"]), "--out", str(d["root"] / "o2"), str(d["images"])],
        1,
        ["{inf_ckpt}", r"tensor {inf_key} holds inf"],
    ),
    (
        "ckpt-inf-convert",
        lambda d: ["convert", str(d["inf_ckpt"]), "-o", str(d["root"] / "dk" / "m")],
        1,
        ["{inf_ckpt}", "tensor {inf_key}"],
    ),
    (
        "ckpt-inf-eval",
        lambda d: [
            "eval",
            "--checkpoint",
            str(d["inf_ckpt"]),
            "--coco",
            str(d["coco"]),
            "--out",
            str(d["root"] / "e0"),
        ],
        1,
        ["{inf_ckpt}", "tensor {inf_key}"],
    ),
    (
        "ckpt-inf-resume",
        lambda d: _train(d, d["root"] / "t_inf", "--resume", str(d["inf_ckpt"])),
        1,
        ["{inf_ckpt}", "tensor {inf_key}"],
    ),
    (
        "ckpt-fingerprint-altered",
        lambda d: ["detect", "--checkpoint", str(d["altered_ckpt"]), "--out", str(d["root"] / "o3"), str(d["images"])],
        1,
        ["{altered_ckpt}", "fingerprint deadbeefdeadbeef", "stored tree has {fp}"],
    ),
    (
        "other-cfg-weights-without-layers",
        lambda d: _train(d, d["root"] / "t_big", "--steps", "1", "--weights", str(d["big_weights"])),
        1,
        ["{big_weights}", r"has \d+ bytes \(\d+ float32 values\) but the model needs \d+ bytes", "--weights-layers N"],
    ),
    (
        "other-cfg-weights-with-layers",
        lambda d: _train(
            d,
            d["root"] / "t_bigl",
            "--steps",
            "1",
            "--weights",
            str(d["big_weights"]),
            "--weights-layers",
            str(d["n_conv"] - 1),
        ),
        0,
        ["{big_weights}: loaded {prev} conv layer"],
    ),
    (
        "backbone-prefix-without-layers",
        lambda d: _train(d, d["root"] / "t_pre", "--steps", "1", "--weights", str(d["prefix_weights"])),
        1,
        ["{prefix_weights}", "holds exactly this model's first {prev} conv layers", "--weights-layers {prev}"],
    ),
    (
        "backbone-prefix-with-layers",
        lambda d: _train(
            d,
            d["root"] / "t_prel",
            "--steps",
            "1",
            "--weights",
            str(d["prefix_weights"]),
            "--weights-layers",
            str(d["n_conv"] - 1),
        ),
        0,
        ["{prefix_weights}: loaded {prev} conv layer"],
    ),
    (
        "backbone-cut-inside-a-layer",
        lambda d: _train(
            d,
            d["root"] / "t_cut",
            "--steps",
            "1",
            "--weights",
            str(d["cut_weights"]),
            "--weights-layers",
            str(d["n_conv"] - 1),
        ),
        1,
        ["{cut_weights}", "holds only {before_prev} conv layers", "{prev} requested"],
    ),
    (
        "too-many-weights-layers",
        lambda d: _train(
            d, d["root"] / "t_99", "--steps", "1", "--weights", str(d["big_weights"]), "--weights-layers", "99"
        ),
        1,
        ["{big_weights}", r"asked for 99 conv layers \(--weights-layers 99\)", "only {n_conv}$"],
    ),
    (
        "whole-model-weights",
        lambda d: _train(d, d["root"] / "t_good", "--steps", "1", "--weights", str(d["good_weights"])),
        0,
        ["{good_weights}: loaded {n_conv} conv layer"],
    ),
    (
        "resume-other-cfg",
        lambda d: _train(d, d["root"] / "run", "--resume", "--cfg", str(d["wide_cfg"])),
        1,
        ["{ckpt}", "another cfg", "{wide_cfg}"],
    ),
    (
        "resume-other-tree",
        lambda d: _train(d, d["root"] / "run", "--resume", "--tree", str(d["other_tree"])),
        1,
        ["{ckpt}", "trained with tree {fp} but the resumed model has tree {other_fp}", "{other_tree}"],
    ),
    (
        "eval-other-tree-predictions",
        lambda d: _eval(d, d["jsonl"], "e1", "--tree", str(d["other_tree"])),
        1,
        [
            "{jsonl}: line 1",
            "predictions made with tree {fp}",
            "ground truth is read with tree {other_fp}",
            "{other_tree}",
        ],
    ),
    (
        "eval-other-tree-checkpoint",
        lambda d: [
            "eval",
            "--checkpoint",
            str(d["ckpt"]),
            "--tree",
            str(d["other_tree"]),
            "--coco",
            str(d["coco"]),
            "--images",
            str(d["images"]),
            "--out",
            str(d["root"] / "e2"),
        ],
        1,
        ["{ckpt}", "tree {fp} is not the evaluated tree {other_fp}", "{other_tree}"],
    ),
    (
        "eval-predictions-tree-vs-checkpoint",
        lambda d: _eval(d, d["jsonl"], "e3", "--tree", str(d["other_tree"]), "--checkpoint", str(d["ckpt"])),
        1,
        ["{ckpt}", "{fp}", "{other_fp}"],
    ),
    (
        "eval-exported-cfg-other-tree",
        lambda d: [
            "eval",
            "--cfg",
            str(d["export_cfg"]),
            "--weights",
            str(d["export_weights"]),
            "--tree",
            str(d["other_tree"]),
            "--coco",
            str(d["coco"]),
            "--out",
            str(d["root"] / "e10"),
        ],
        1,
        ["{export_cfg}", "exported with tree {fp}", "read with tree {other_fp}", "{other_tree}"],
    ),
    (
        "convert-exported-cfg-other-tree",
        lambda d: [
            "convert",
            str(d["export_cfg"]),
            str(d["export_weights"]),
            "--tree",
            str(d["other_tree"]),
            "-o",
            str(d["root"] / "back_other.pt"),
        ],
        1,
        ["{export_cfg}", "exported with tree {fp}", "read with tree {other_fp}", "{other_tree}"],
    ),
    (
        "detect-exported-cfg-other-tree",
        lambda d: [
            "detect",
            "--cfg",
            str(d["export_cfg"]),
            "--weights",
            str(d["export_weights"]),
            "--tree",
            str(d["other_tree"]),
            str(d["root"] / "pics"),
            "--out",
            str(d["root"] / "det_other"),
        ],
        1,
        ["{export_cfg}", "exported with tree {fp}", "read with tree {other_fp}", "{other_tree}"],
    ),
    (
        "eval-empty-predictions",
        lambda d: _eval(d, _preds(d["root"], "empty.jsonl", "\n \n"), "e4", "--tree", str(d["tree"])),
        1,
        [r"empty\.jsonl", "empty predictions file"],
    ),
    (
        "eval-empty-results-list",
        lambda d: _eval(d, _preds(d["root"], "empty.json", "[]"), "e5", "--tree", str(d["tree"])),
        1,
        [r"empty\.json", "predictions list is empty"],
    ),
    (
        "eval-zero-detections-warns",
        lambda d: _eval(d, d["nothing_jsonl"], "e11", "--tree", str(d["tree"]), "--no-plots"),
        0,
        ["{nothing_jsonl}: no detection on any ground-truth image; scored as zero detections"],
    ),
    (
        "eval-nan-score",
        lambda d: _eval(
            d,
            _preds(d["root"], "nan.jsonl", _det_line() + _det_line(score=float("nan"))),
            "e6",
            "--tree",
            str(d["tree"]),
        ),
        1,
        [r"nan\.jsonl: line 2", "score is nan"],
    ),
    (
        "eval-inf-score-results-list",
        lambda d: _eval(
            d,
            _preds(
                d["root"],
                "inf.json",
                json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": float("inf")}]),
            ),
            "e12",
        ),
        1,
        [r"inf\.json: entry 1", "score is inf"],
    ),
    (
        "eval-inf-box",
        lambda d: _eval(
            d, _preds(d["root"], "inf.jsonl", _det_line(box=(1, 1, float("inf"), 5))), "e7", "--tree", str(d["tree"])
        ),
        1,
        [r"inf\.jsonl: line 1", "'box' holds a non-finite value"],
    ),
    (
        "eval-fingerprint-without-tree",
        lambda d: _eval(d, _preds(d["root"], "fp.jsonl", _det_line(tree_fingerprint="0123456789abcdef")), "e8"),
        1,
        [r"fp\.jsonl", "0123456789abcdef", "--tree"],
    ),
    (
        "eval-same-tree-predictions",
        lambda d: _eval(d, d["jsonl"], "e9", "--tree", str(d["tree"]), "--checkpoint", str(d["ckpt"]), "--no-plots"),
        0,
        [],
    ),
]


@pytest.mark.parametrize(("argv", "code", "patterns"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_model_input(w, argv, code, patterns, capsys, caplog):
    fill = {k: re.escape(str(v)) for k, v in w.items()}
    n = w["n_conv"]
    fill.update(
        last=n - 1, prev=n - 1, before_prev=n - 2, fp=td.make_tree().fingerprint, other_fp=_other_tree().fingerprint
    )
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level("INFO"):
        assert main(argv(w)) == code
    captured = capsys.readouterr()
    if code:
        text = captured.err.strip()
        assert len(text.splitlines()) == 1, text
    else:
        assert "Traceback" not in captured.err
        text = caplog.text
    for pattern in patterns:
        assert re.search(pattern.format(**fill), text), (pattern.format(**fill), text)


def test_resume_at_last_step_says_so(w, capsys):
    run = w["root"] / "done"
    assert main(_train(w, run, "--steps", "1")) == 0

    def files():  # the run's own files (the output-folder marker records each command's settings)
        return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and not p.name.startswith(".yolo9000")}

    before = files()
    capsys.readouterr()
    assert main(_train(w, run, "--resume")) == 0
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "already reached its last step (1 of 1" in out and "nan" not in out
    assert str(run / "last.pt") in out
    assert files() == before  # nothing rewritten
    assert main(_train(w, run, "--resume", "--steps", "2")) == 0  # a larger --steps continues it
    assert "trained 2 steps" in capsys.readouterr().out


# ---- the fingerprint and the files that carry it --------------------------------------------------------
def test_fingerprint_is_wnids_and_parents():
    from wordtree.tree import WordTree

    tree = td.make_tree()
    lines = "".join(f"{wnid} {int(p)}\n" for wnid, p in zip(tree.ids, tree.parent))
    assert tree.fingerprint == hashlib.sha256(lines.encode()).hexdigest()[:16]
    assert len(tree.fingerprint) == 16 and int(tree.fingerprint, 16) >= 0
    renamed = WordTree(tree.ids, tree.parent, [n.upper() for n in tree.names])  # no label maps, other names
    assert renamed.fingerprint == tree.fingerprint
    assert _other_tree().fingerprint != tree.fingerprint
    assert _bigger_tree().fingerprint != tree.fingerprint


def test_checkpoint_detect_and_convert_carry_the_fingerprint(w):
    from yolo9000.darknet.checkpoint import load_checkpoint
    from yolo9000.darknet.model import load_darknet

    fp = td.make_tree().fingerprint
    assert load_checkpoint(w["ckpt"])["tree_fingerprint"] == fp
    records = [json.loads(line) for line in w["jsonl"].read_text().splitlines() if line.strip()]
    assert records and all(r["tree_fingerprint"] == fp for r in records)
    out = w["root"] / "dk_ok" / "model"
    assert main(["convert", str(w["ckpt"]), "-o", str(out)]) == 0
    cfg = out.parent / "model.cfg"
    assert cfg.read_text().splitlines()[0] == f"# tree_fingerprint={fp}"
    model = load_darknet(cfg, out.parent / "model.weights")  # the comment is a comment to the parser
    assert model.tree is not None and model.tree.fingerprint == fp
    # converted back and forth, the cfg still holds the line once
    assert main(["convert", str(cfg), str(out.parent / "model.weights"), "-o", str(w["root"] / "back.pt")]) == 0
    assert main(["convert", str(w["root"] / "back.pt"), "-o", str(w["root"] / "dk2" / "m")]) == 0
    assert (w["root"] / "dk2" / "m.cfg").read_text().count("tree_fingerprint=") == 1
