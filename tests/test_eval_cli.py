"""The `yolo9000 eval` command (yolo9000.commands.eval): models, saved predictions, trees and errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evaluation_helpers import AP_TP_FP_TP, WNID, node, toy_emoji_world, toy_tree, toy_world, write_coco

from wordtree import WordTree


@pytest.fixture(scope="module")
def tree() -> WordTree:
    return toy_tree()


def test_eval_cli_model_end_to_end(tree, tmp_path, capsys):
    from yolo9000.cli import main

    ckpt, gt, images, cls = toy_world(tmp_path, tree)
    out = tmp_path / "report"
    args = [
        "eval",
        "--checkpoint",
        str(ckpt),
        "--coco",
        str(gt),
        "--images",
        str(images),
        "--folders",
        str(cls),
        "--out",
        str(out),
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    # a short table in the README's terms (every figure is in the files the last line names)
    assert printed[1] == f"detection on {gt} (walk scoring: one label per box):"
    assert [ln.split(" | ")[0] for ln in printed[4:9]] == [
        "| all classes",
        "| (a) fine, boxed parent",
        "| (b) never boxed",
        "| (c) coarse: boxed in training",
        "| (a) + (b): never had a box",
    ]
    assert "| top-5 (leaves) | 1.000 |" in printed and len(printed) < 25
    assert printed[-1].startswith(f"all figures in {out}: groups.csv/.md, per_class.csv/.md")
    for f in (
        "summary.json",
        "per_class.csv",
        "per_class.md",
        "pr_curves.png",
        "ap_per_class.png",
        "classification.csv",
        "depth_accuracy.png",
        "distances.csv",
    ):
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    det, cl = summary["detection"], summary["classification"]
    assert 0.0 <= det["AP50"] <= 1.0 and det["images"] == 3
    assert det["unseen"]["classes"] == 2  # poodle (under boxed dog) and cat (no box on its path)
    assert summary["meta"]["boxed_from"] == "model tree label maps"
    assert cl["samples"] == 4 and 0.0 <= cl["top1_leaf"] <= cl["top5_leaf"] <= 1.0
    per = pd.read_csv(out / "per_class.csv")
    assert per.set_index("name")["group"].to_dict() == {"dog": "boxed", "poodle": "under_boxed", "cat": "never_boxed"}
    # an existing report is never overwritten silently
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1
    # `yolo9000 detect` output scored with --predictions gives the same table as running the model here
    detect_out = tmp_path / "det"
    assert summary["meta"]["detections"] > 0
    assert (
        main(
            [
                "detect",
                "--checkpoint",
                str(ckpt),
                "--thresh",
                "0.005",
                "--out",
                str(detect_out),
                "--no-images",
                "--no-summary",
                "--quiet",
                "--device",
                "cpu",
                str(images),
            ]
        )
        == 0
    )
    out2 = tmp_path / "report2"
    assert (
        main(
            [
                "eval",
                "--predictions",
                str(detect_out / "detections.jsonl"),
                "--checkpoint",
                str(ckpt),
                "--coco",
                str(gt),
                "--out",
                str(out2),
                "--no-plots",
            ]
        )
        == 0
    )
    pd.testing.assert_frame_equal(pd.read_csv(out2 / "per_class.csv"), per)
    assert json.loads((out2 / "summary.json").read_text())["meta"]["detections"] == summary["meta"]["detections"]
    assert main(args + ["--overwrite", "--scoring", "map", "--no-plots"]) == 0
    meta = json.loads((out / "summary.json").read_text())["meta"]
    assert meta["scoring"] == "map" and meta["thresh"] == 0.005 and meta["tree_nms"] is False
    assert meta["backend"] == "torch" and meta["precision"] == "fp32" and meta["size"] == [64, 64]


def test_eval_cli_scores_saved_predictions(tmp_path, capsys, caplog):
    from yolo9000.cli import main

    cats = [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}]
    gt = write_coco(
        tmp_path / "gt.json",
        {1: (100, 100), 2: (100, 100)},
        [(1, 1, (10, 10, 40, 40)), (2, 1, (20, 20, 50, 50)), (2, 2, (0, 0, 30, 30))],
        cats,
    )
    # JSON lines as `yolo9000 detect` writes them: one image per line, boxes x1 y1 x2 y2
    lines = [
        {
            "image": "some/dir/img1.png",
            "detections": [
                {"box": [10, 10, 50, 50], "score": 0.9, "name": "dog"},
                {"box": [60, 60, 90, 90], "score": 0.8, "name": "dog"},
            ],
        },
        {
            "image": "img2.png",
            "detections": [
                {"bbox": [20, 20, 50, 50], "score": 0.7, "category_id": 1},
                {"box": [0, 0, 30, 30], "score": 0.6, "name": "cat"},
            ],
        },
        {"image": "not_in_gt.png", "detections": [{"box": [0, 0, 1, 1], "score": 0.5, "name": "cat"}]},
    ]
    pred = tmp_path / "det.jsonl"
    pred.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "r"
    assert main(["eval", "--predictions", str(pred), "--coco", str(gt), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detection"]["AP50"] == pytest.approx((AP_TP_FP_TP + 1) / 2, abs=1e-6)
    assert "unseen" not in summary["detection"]  # flat labels: no tree, no box groups
    # a COCO results list gives the same numbers
    res = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [60, 60, 30, 30], "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": [20, 20, 50, 50], "score": 0.7},
        {"image_id": 2, "category_id": 2, "bbox": [0, 0, 30, 30], "score": 0.6},
    ]
    (tmp_path / "res.json").write_text(json.dumps(res))
    assert (
        main(["eval", "--predictions", str(tmp_path / "res.json"), "--coco", str(gt), "--out", str(tmp_path / "r2")])
        == 0
    )
    s2 = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert s2["detection"]["AP"] == pytest.approx(summary["detection"]["AP"])
    # saved detections were labelled where detect's walk stopped: a --hier-thresh here is said not to apply
    with caplog.at_level(logging.WARNING):
        args = ["eval", "--predictions", str(pred), "--coco", str(gt), "--hier-thresh", "0.7"]
        assert main([*args, "--out", str(tmp_path / "r5")]) == 0
    assert "--hier-thresh 0.7 is not applied to saved detections" in caplog.text
    s5 = json.loads((tmp_path / "r5" / "summary.json").read_text())
    assert s5["detection"]["AP"] == pytest.approx(summary["detection"]["AP"])
    # a broken line is reported with its line number
    capsys.readouterr()
    pred.write_text(json.dumps(lines[0]) + "\n{oops\n")
    assert main(["eval", "--predictions", str(pred), "--coco", str(gt), "--out", str(tmp_path / "r3")]) == 1
    assert "det.jsonl: line 2" in capsys.readouterr().err
    bad = {"image": "img1.png", "detections": [{"box": [1, 2, 3], "score": 0.5, "name": "dog"}]}
    pred.write_text(json.dumps(bad) + "\n")
    assert main(["eval", "--predictions", str(pred), "--coco", str(gt), "--out", str(tmp_path / "r4")]) == 1
    assert "det.jsonl: line 1: 'box' must be 4 numbers" in capsys.readouterr().err


def test_eval_cli_tree_predictions_with_train_map(tree, tmp_path):
    pytest.importorskip("wordtree.formats")
    from yolo9000.cli import main

    tree_file = tmp_path / "tree.json"
    tree.save(tree_file)
    cats = [{"id": 1, "name": "dog", "wnid": WNID["dog"]}, {"id": 2, "name": "cat", "wnid": WNID["cat"]}]
    gt = write_coco(tmp_path / "gt.json", {1: (100, 100)}, [(1, 1, (0, 0, 20, 20)), (1, 2, (50, 50, 20, 20))], cats)
    lines = [
        {
            "image_id": 1,
            "detections": [
                {"box": [0, 0, 20, 20], "score": 0.9, "node": node(tree, "terrier")},  # credited to dog
                {"box": [50, 50, 70, 70], "score": 0.8, "wnid": WNID["animal"]},
            ],
        }
    ]  # too coarse for cat
    pred = tmp_path / "p.jsonl"
    pred.write_text("\n".join(json.dumps(x) for x in lines))
    train_map = tmp_path / "train.map"  # Darknet .map: node index of each boxed class
    train_map.write_text(f"{node(tree, 'dog')}\n")
    out = tmp_path / "o"
    assert (
        main(
            [
                "eval",
                "--predictions",
                str(pred),
                "--tree",
                str(tree_file),
                "--coco",
                str(gt),
                "--train-maps",
                str(train_map),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    det = summary["detection"]
    # saved predictions: no decoding, runtime or scoring applied, so summary.json records none
    assert set(summary["meta"]) == {"predictions", "coco", "folders", "tree_nodes", "boxed_from", "detections"}
    assert det["AP50"] == pytest.approx(0.5)
    assert det["boxed"] == {
        "classes": 1,
        "AP": pytest.approx(1.0),
        "AP50": pytest.approx(1.0),
        "AP75": pytest.approx(1.0),
    }
    assert det["unseen"]["classes"] == 1 and det["unseen"]["AP50"] == 0.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--coco", "missing.json"], "missing.json: COCO annotation file not found"),
        ([], "nothing to evaluate"),
        (["--checkpoint", "nope.pt", "--coco", "x.json"], "nope.pt: checkpoint not found"),
        (["--predictions", "p.jsonl"], "--predictions needs the ground truth"),
        (["--predictions", "p.jsonl", "--coco", "x.json", "--folders", "."], "cannot be used with --predictions"),
        (["--model", "m.onnx", "--coco", "x.json", "--folders", "."], "--folders needs --checkpoint or --cfg"),
        (["--model", "x.json", "--checkpoint", "x.json", "--coco", "x.json"], "drop --checkpoint"),
        (["--model", "x.json", "--coco", "x.json"], "expected an exported .onnx or OpenVINO .xml"),
    ],
)
def test_eval_cli_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    from yolo9000.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    assert main(["eval", *argv, "--out", "rep"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_darknet_9k_tree_with_coco9k_map(reference_dir, tmp_path):
    """Darknet's 9418-node tree: COCO categories placed by coco9k.map, a breed box credited to "dog"."""
    from yolo9000.cli import main

    dk = reference_dir / "darknet"
    tree = WordTree.from_darknet(dk / "9k.tree", dk / "9k.names")
    names = [ln.strip() for ln in (dk / "coco.names").read_text().splitlines() if ln.strip()]
    cmap = [int(ln) for ln in (dk / "coco9k.map").read_text().splitlines() if ln.strip()]
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(names)][::-1]  # listed out of id order
    dog, cat = names.index("dog"), names.index("cat")
    gt = write_coco(
        tmp_path / "gt.json", {1: (200, 200)}, [(1, dog + 1, (0, 0, 50, 50)), (1, cat + 1, (100, 100, 50, 50))], cats
    )
    breed = max(tree.subtree(cmap[dog]), key=lambda n: tree.depth[n])  # the deepest node under "dog"
    above_cat = int(tree.parent[cmap[cat]])
    lines = [
        {
            "image_id": 1,
            "detections": [
                {"box": [0, 0, 50, 50], "score": 0.9, "node": int(breed)},
                {"box": [100, 100, 150, 150], "score": 0.8, "node": above_cat},
            ],
        }
    ]  # coarser than "cat": no credit
    pred = tmp_path / "p.jsonl"
    pred.write_text(json.dumps(lines[0]) + "\n")
    out = tmp_path / "o"
    assert (
        main(
            [
                "eval",
                "--predictions",
                str(pred),
                "--tree",
                str(dk / "9k.tree"),
                "--names",
                str(dk / "9k.names"),
                "--coco",
                str(gt),
                "--category-map",
                str(dk / "coco9k.map"),
                "--train-maps",
                str(dk / "coco9k.map"),
                "--out",
                str(out),
                "--no-plots",
            ]
        )
        == 0
    )
    per = pd.read_csv(out / "per_class.csv").set_index("name")
    assert per.loc["dog", "AP50"] == pytest.approx(1.0) and per.loc["cat", "AP50"] == pytest.approx(0.0)
    assert per.sort_values("category_id")["node"].tolist() == cmap  # the .map is in category-id order
    det = json.loads((out / "summary.json").read_text())["detection"]
    assert det["boxed"]["classes"] == 2 and det["unseen"]["classes"] == 0
    assert det["per_box"]["finer"] == pytest.approx(0.5) and det["per_box"]["coarser"] == pytest.approx(0.5)


def test_eval_cli_flat_model(tmp_path):
    """A flat (no tree) detector: classes map to COCO categories and class folders by name."""
    from PIL import Image

    from yolo9000.cli import main
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.templates import tiny_yolo

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "flat.pt", tiny_yolo(classes=2, size=64, width=0.125), names=["cat", "dog"])
    rng = np.random.default_rng(1)
    (tmp_path / "images").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "images" / f"img{i + 1}.png")
        for c in ("cat", "dog"):
            (tmp_path / "cls" / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "cls" / c / f"{i}.png")
    cats = [{"id": 7, "name": "dog"}, {"id": 9, "name": "cat"}]
    gt = write_coco(
        tmp_path / "gt.json", {1: (64, 64), 2: (64, 64)}, [(1, 7, (0, 0, 30, 30)), (2, 9, (5, 5, 40, 40))], cats
    )
    out = tmp_path / "o"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(ckpt),
                "--coco",
                str(gt),
                "--images",
                str(tmp_path / "images"),
                "--folders",
                str(tmp_path / "cls"),
                "--out",
                str(out),
                "--no-plots",
                "--no-progress",
                "--max-images",
                "1",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detection"]["images"] == 1  # --max-images
    assert summary["meta"]["tree_nodes"] is None and "unseen" not in summary["detection"]
    cl = summary["classification"]
    assert cl["samples"] == 4 and cl["top5"] == 1.0 and cl["top1"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    per = pd.read_csv(out / "per_class.csv")
    assert per["category_id"].tolist() == [7, 9] and per["n_det"].sum() > 0


def test_eval_cli_classifier_on_folders(tmp_path, capsys):
    """A Darknet classifier (no [region]) is evaluated on class folders, from a cfg or a checkpoint; detection
    evaluation refuses it in one line."""
    from PIL import Image

    from yolo9000.cli import main
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.templates import darknet19
    from yolo9000.darknet.weights import save_weights

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = darknet19(classes=2, size=64)
    (tmp_path / "c.cfg").write_text(model.cfg_text)
    save_weights(model, tmp_path / "c.weights")
    ckpt = save_checkpoint(tmp_path / "c.pt", model, names=["cat", "dog"])
    rng = np.random.default_rng(2)
    for c in ("cat", "dog"):
        (tmp_path / "cls" / c).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "cls" / c / "0.png")
    common = ["--folders", str(tmp_path / "cls"), "--no-plots", "--no-progress", "--device", "cpu"]
    from_cfg = ["--cfg", str(tmp_path / "c.cfg"), "--weights", str(tmp_path / "c.weights")]
    for i, model_args in enumerate((from_cfg, ["--checkpoint", str(ckpt)])):
        assert main(["eval", *model_args, *common, "--out", str(tmp_path / f"r{i}")]) == 0
        cl = json.loads((tmp_path / f"r{i}" / "summary.json").read_text())["classification"]
        assert cl["samples"] == 2 and cl["top5"] == 1.0
    capsys.readouterr()
    gt = write_coco(tmp_path / "gt.json", {1: (50, 40)}, [(1, 1, (0, 0, 10, 10))], [{"id": 1, "name": "cat"}])
    argv = [
        "eval",
        "--checkpoint",
        str(ckpt),
        "--coco",
        str(gt),
        "--images",
        str(tmp_path / "cls"),
        "--out",
        str(tmp_path / "x"),
    ]
    assert main(argv + ["--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert "no [region] layer, so it cannot detect" in err and len(err.splitlines()) == 1


def test_decode_options_from_eval_args():
    """One DecodeOptions from eval's options, with eval's defaults (a low .005 threshold for mAP)."""
    from yolo9000.cli import build_parser
    from yolo9000.commands.options import decode_options
    from yolo9000.detection.decode import DecodeOptions

    assert decode_options(build_parser().parse_args(["eval"])) == DecodeOptions(thresh=0.005)
    args = build_parser().parse_args(
        ["eval", "--thresh", "0", "--hier-thresh", "0.7", "--nms", "1", "--mode", "darknet"]
    )
    assert decode_options(args) == DecodeOptions(thresh=0.0, hier_thresh=0.7, nms=1.0, mode="darknet")


def test_eval_has_every_decode_and_runtime_option_of_detect():
    """One set of definitions: eval's decoding and runtime options are detect's, with detect's defaults (but
    mAP's low score threshold)."""
    from yolo9000.cli import build_parser

    parser = build_parser()
    detect = vars(parser.parse_args(["detect"]))
    evaluate = vars(parser.parse_args(["eval"]))
    shared = (
        "hier_thresh nms mode agnostic_nms tree_nms size device backend batch_size precision exact_letterbox "
        "ignore_exif workers model checkpoint cfg weights tree names"
    ).split()
    assert {k: evaluate[k] for k in shared} == {k: detect[k] for k in shared}
    assert (detect["thresh"], evaluate["thresh"]) == (0.25, 0.005)
    args = parser.parse_args(["eval", "--tree-nms", "--backend", "onnxruntime", "--precision", "fast"])
    assert (args.tree_nms, args.backend, args.precision) == (True, "onnxruntime", "fast")


def test_eval_of_an_exported_model_scores_as_its_checkpoint(tmp_path, capsys):
    """`eval --model FILE.onnx` runs the same Detector in ONNX Runtime: the same AP (to 1e-3) as the checkpoint."""
    pytest.importorskip("onnxruntime")
    from PIL import Image
    from test_detect_cli import toy_tree, toy_tree_checkpoint

    from yolo9000.cli import main
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.data.image_io import read_image
    from yolo9000.inference.detector import Detector
    from yolo9000.inference.export import export_onnx

    ckpt = toy_tree_checkpoint(tmp_path / "tree.pt", 0.5, [3.0, 0, 3.0, 0, 0, 2.0, 0])
    onnx = export_onnx(load_model(ckpt), tmp_path / "tree.onnx")
    tree = toy_tree()
    # ground truth: the checkpoint's own confident boxes, moved a little, some of them relabelled: an AP
    # strictly between 0 and 1
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    detector = Detector(load_model(ckpt), thresh=0.3)
    images, anns = {}, []
    for i in range(8):
        w, h = int(rng.integers(48, 96)), int(rng.integers(48, 96))
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / "images" / f"img{i + 1}.png")
        images[i + 1] = (w, h)
        (found,) = detector([read_image(tmp_path / "images" / f"img{i + 1}.png")])
        for box, n in zip(found.boxes[:3].tolist(), found.nodes[:3].tolist()):
            x1, y1, x2, y2 = (v + float(rng.normal(0, 2)) for v in box)
            label = n if rng.random() < 0.7 else int(rng.integers(len(tree)))
            anns.append((i + 1, label + 1, (x1, y1, x2 - x1, y2 - y1)))
    cats = [{"id": k + 1, "name": name, "node": tree.ids[k]} for k, name in enumerate(tree.names)]
    gt = write_coco(tmp_path / "gt.json", images, anns, cats)
    common = ["--coco", str(gt), "--images", str(tmp_path / "images"), "--no-plots", "--no-progress"]
    assert main(["eval", "--checkpoint", str(ckpt), *common, "--out", str(tmp_path / "pt")]) == 0
    assert main(["eval", "--model", str(onnx), *common, "--out", str(tmp_path / "onnx")]) == 0
    assert "yolo9000 eval: backend onnxruntime" in capsys.readouterr().out
    pt, ox = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("pt", "onnx"))
    assert 0 < pt["detection"]["AP"] < 1 and pt["meta"]["detections"] == ox["meta"]["detections"]
    for k in ("AP", "AP50", "AP75"):
        assert ox["detection"][k] == pytest.approx(pt["detection"][k], abs=1e-3)
    per_pt, per_ox = (pd.read_csv(tmp_path / d / "per_class.csv") for d in ("pt", "onnx"))
    np.testing.assert_allclose(per_ox["AP"], per_pt["AP"], atol=1e-3)
    assert ox["meta"]["backend"] == "onnxruntime" and ox["meta"]["model"] == str(onnx)


def test_eval_on_an_emoji_world_prints_the_readmes_table(tree, tmp_path, capsys):
    """On an emoji world's test split eval prints the README's (a), (b), (c) under both scorings from one run of
    the model: (c) on the coarse labels; the data's report follows --scoring and the coarse one is written too."""
    from yolo9000.cli import main

    ckpt, world = toy_emoji_world(tmp_path, tree)
    out = tmp_path / "report"
    argv = ["eval", "--checkpoint", str(ckpt), "--emoji-world", str(world), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].startswith("mAP on the emoji world's test split")
    assert printed[2] == "| group | classes | AP50 map | AP50 walk | AP map | AP walk |"
    assert [ln.split(" | ")[:2] for ln in printed[4:8]] == [
        ["| all fine classes", "3"],
        ["| (a) fine, boxed parent", "2"],
        ["| (b) never-boxed cats", "1"],
        ["| (c) coarse", "1"],
    ]
    assert len(printed) == 9 and printed[-1].startswith(f"all figures in {out}: groups.csv/.md")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["scoring"] == "walk" and summary["meta"]["coarse"] == str(
        world / "test" / "annotations_coarse.json"
    )
    assert summary["coarse_detection"]["boxed"]["classes"] == 1 and summary["detection"]["boxed"]["classes"] == 0
    groups = pd.read_csv(out / "groups.csv").set_index("group")
    assert groups.loc["(c) coarse", "AP50 walk"] == pytest.approx(summary["coarse_detection"]["boxed"]["AP50"])
    assert pd.read_csv(out / "per_class_coarse.csv")["name"].tolist() == ["dog", "cat"]
    # each scoring's figures are those of a plain run with that --scoring on the fine or the coarse labels
    for scoring in ("map", "walk"):
        for labels, key in (("annotations.json", "(a) fine, boxed parent"), ("annotations_coarse.json", "(c) coarse")):
            alone = tmp_path / f"{scoring}-{labels}"
            common = ["--coco", str(world / "test" / labels), "--images", str(world / "test" / "images")]
            common += ["--train-tree", str(world / "wordtree.json"), "--no-progress", "--no-plots"]
            assert main(["eval", "--checkpoint", str(ckpt), *common, "--scoring", scoring, "--out", str(alone)]) == 0
            det = json.loads((alone / "summary.json").read_text())["detection"]
            group = "under_boxed" if key.startswith("(a)") else "boxed"
            assert groups.loc[key, f"AP50 {scoring}"] == pytest.approx(det[group]["AP50"], nan_ok=True)
    # --scoring map: the data's report is the map one; the table is the same
    assert main(argv[:-3] + ["--out", str(tmp_path / "m"), "--scoring", "map", "--no-plots", "--no-progress"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "m" / "groups.csv"), pd.read_csv(out / "groups.csv"))


def test_eval_options_have_help_and_booleans_take_no(tmp_path):
    """Every option of eval has help text; its switches come in --x / --no-x pairs (the old --no-progress,
    --no-plots and --overwrite keep working); a plain second `yolo9000 eval` writes beside the first report."""
    import argparse

    from yolo9000.cli import build_parser
    from yolo9000.commands import eval as eval_command
    from yolo9000.commands.defaults import free_default_folder

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["eval"]
    for action in sub._actions:
        if action.option_strings == ["--overwrite"]:  # the old name of --force, not shown
            assert action.help == argparse.SUPPRESS
            continue
        assert action.help and action.help != argparse.SUPPRESS, action.option_strings
        assert not isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)), action.option_strings
    args = parser.parse_args(["eval", "--no-progress", "--no-plots", "--overwrite"])
    assert (args.progress, args.plots, args.overwrite) == (False, False, True)
    args = parser.parse_args(["eval"])
    assert (args.progress, args.plots, args.overwrite, args.out) == (True, True, False, None)
    assert parser.parse_args(["eval", "--force", "--no-force"]).overwrite is False
    cwd = Path.cwd()
    try:
        import os

        os.chdir(tmp_path)
        assert free_default_folder(eval_command.DEFAULT_OUT) == Path("runs/eval")
        (tmp_path / "runs" / "eval").mkdir(parents=True)
        assert free_default_folder(eval_command.DEFAULT_OUT) == Path("runs/eval")  # empty: used
        (tmp_path / "runs" / "eval" / "summary.json").write_text("{}")
        assert free_default_folder(eval_command.DEFAULT_OUT) == Path("runs/eval2")
    finally:
        os.chdir(cwd)


def test_plain_eval_after_train_prints_the_readmes_table_each_time(tree, tmp_path, monkeypatch, capsys):
    """The README's first command ends with a plain `yolo9000 eval`: the default checkpoint on the default world's
    test split, the (a), (b), (c) table printed; run again, it writes a second report beside the first."""
    import yolo9000.emoji.world as emoji_world
    from yolo9000.cli import main
    from yolo9000.commands import eval as eval_command

    ckpt, world = toy_emoji_world(tmp_path, tree)
    monkeypatch.setattr(eval_command, "default_checkpoint", lambda: ckpt)
    monkeypatch.setattr(emoji_world, "ensure_world", lambda root=None, **kw: world)
    monkeypatch.chdir(tmp_path)
    for out in ("runs/eval", "runs/eval2"):
        assert main(["eval", "--no-progress", "--no-plots"]) == 0
        printed = capsys.readouterr().out.splitlines()
        assert [ln.split(" | ")[0] for ln in printed[4:8]] == [
            "| all fine classes",
            "| (a) fine, boxed parent",
            "| (b) never-boxed cats",
            "| (c) coarse",
        ]
        assert printed[-1].startswith(f"all figures in {out}: ")
        assert (tmp_path / out / "groups.md").is_file()
