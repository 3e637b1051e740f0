"""`yolo9000 detect` end to end on generated pictures with small random-weights models (flat and tree)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from darknet_files import cfg_text, conv, maxpool, write_pictures
from PIL import Image

from wordtree import WordTree
from yolo9000.cli import main

pytest.importorskip("yolo9000.darknet.model")


def tiny_cfg(classes: int) -> str:
    """A 64x64 two-anchor detector (2x2 grid) with a softmax over `classes`."""
    return cfg_text(
        conv(8),
        maxpool(),
        conv(8),
        maxpool(),
        maxpool(),
        maxpool(),
        maxpool(),
        conv(2 * (5 + classes), size=1, bn=False, activation="linear"),
        (
            "region",
            {"anchors": "0.8,0.9, 1.5,1.2", "bias_match": 1, "classes": classes, "coords": 4, "num": 2, "softmax": 1},
        ),
    )


def toy_tree() -> WordTree:
    return WordTree(
        [f"n{i:08d}" for i in range(7)],
        [-1, -1, 0, 0, 1, 2, 2],
        ["animal", "plant", "dog", "cat", "tree", "terrier", "poodle"],
    )


@pytest.fixture(scope="module")
def flat_model(tmp_path_factory):
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.darknet.weights import save_weights

    d = tmp_path_factory.mktemp("flat")
    torch.manual_seed(0)
    model = DarknetModel.from_cfg_text(tiny_cfg(3))
    with torch.no_grad():  # a confident, varied head so that random weights still give detections
        head = model.conv_blocks()[-1].conv
        head.weight.normal_(0, 0.5)
        head.bias.copy_(torch.tensor([0, 0, 0, 0, 3.0, 0, 0, 0] * 2))
    (d / "tiny.cfg").write_text(tiny_cfg(3))
    save_weights(model, d / "tiny.weights")
    (d / "tiny.names").write_text("red\ngreen\nblue\n")
    return d


def toy_tree_checkpoint(path: Path, weight_std: float, class_bias: list[float]) -> Path:
    """A checkpoint of the tiny detector over `toy_tree()`: head weights N(0, weight_std), objectness bias 3
    (most cells pass), `class_bias` on the 7 node logits (which walks are likely)."""
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.model import DarknetModel

    tree = toy_tree()
    torch.manual_seed(1)
    model = DarknetModel.from_cfg_text(tiny_cfg(len(tree)), tree=tree)
    with torch.no_grad():
        head = model.conv_blocks()[-1].conv
        head.weight.normal_(0, weight_std)
        bias = torch.zeros(2, 5 + len(tree))
        bias[:, 4] = 3.0
        bias[:, 5:] = torch.tensor(class_bias)
        head.bias.copy_(bias.flatten())
    return save_checkpoint(path, model, names=list(tree.names))


@pytest.fixture(scope="module")
def tree_checkpoint(tmp_path_factory):
    pytest.importorskip("wordtree.softmax")
    # animal > dog > terrier is likely
    return toy_tree_checkpoint(tmp_path_factory.mktemp("tree") / "tree.pt", 0.5, [3.0, 0, 3.0, 0, 0, 2.0, 0])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_flat_model_on_images_folders_and_bad_files(flat_model, tmp_path, capsys):
    pics = write_pictures(tmp_path / "in")  # its own folder: a broken file goes beside them
    sub = tmp_path / "in" / "more"
    sub.mkdir()
    (sub / "broken.jpg").write_bytes(b"this is not a jpeg")
    out = tmp_path / "out"
    code = main(
        [
            "detect",
            "--cfg",
            str(flat_model / "tiny.cfg"),
            "--weights",
            str(flat_model / "tiny.weights"),
            "--names",
            str(flat_model / "tiny.names"),
            "--thresh",
            "0.05",
            "--batch-size",
            "2",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--quiet",
            str(pics[0]),
            str(tmp_path / "in"),
            str(tmp_path / "missing.png"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "missing.png: not found" in captured.err and "broken.jpg" in captured.err
    rows = read_jsonl(out / "detections.jsonl")
    # pic0 given twice (file and folder): both runs are reported, each with its own annotated file
    assert sorted(Path(r["image"]).name for r in rows) == ["pic0.png", "pic0.png", "pic1.png", "pic2.png"]
    assert len(list(out.glob("pic0*.jpg"))) == 2
    assert (out / "index.html").is_file() and (out / "summary.jpg").is_file()
    total = sum(len(r["detections"]) for r in rows)
    assert total > 0
    for r in rows:
        for d in r["detections"]:
            x1, y1, x2, y2 = d["box"]
            assert 0 <= x1 <= x2 <= r["width"] and 0 <= y1 <= y2 <= r["height"]
            assert d["name"] == ["red", "green", "blue"][d["label"]]
            assert d["score"] == pytest.approx(d["objectness"] * d["prob"], abs=1e-5)
            assert d["score"] > 0.05
    assert f"{total} detections" in captured.out

    # the CLI's records equal a direct Detector call on the same picture
    from yolo9000.data.image_io import read_image as load_image
    from yolo9000.inference.detector import Detector, load_detector_model

    model, names = load_detector_model(
        cfg=flat_model / "tiny.cfg", weights=flat_model / "tiny.weights", names=flat_model / "tiny.names"
    )
    (det,) = Detector(model, names, thresh=0.05)([load_image(pics[1])])
    row = next(r for r in rows if r["image"].endswith("pic1.png"))
    assert [d["box"] for d in row["detections"]] == [d["box"] for d in det.to_records()]
    assert names == ["red", "green", "blue"]


def test_tree_checkpoint_with_paths_and_video(random_pictures, tree_checkpoint, tmp_path, capsys):
    pics = random_pictures
    frames = [Image.open(p).convert("RGB").resize((72, 56)) for p in pics]
    gif = tmp_path / "clip.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    out = tmp_path / "out"
    code = main(
        [
            "detect",
            "--checkpoint",
            str(tree_checkpoint),
            "--show-path",
            "--thresh",
            "0.2",
            "--out",
            str(out),
            "--quiet",
            str(pics[0]),
            str(gif),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = read_jsonl(out / "detections.jsonl")
    assert [r.get("frame") for r in rows] == [None, 0, 1, 2]
    assert all(r["video"] == str(gif) for r in rows[1:])
    names = list(toy_tree().names)
    tree = toy_tree()
    dets = [d for r in rows for d in r["detections"]]
    assert dets, "the biased head should detect something"
    for d in dets:
        path = [p["node"] for p in d["path"]]
        assert path == tree.path(d["node"])  # root .. node
        assert d["name"] == names[d["node"]]
        assert d["path"][-1]["abs"] == pytest.approx(d["prob"], abs=1e-5)
        assert d["score"] == pytest.approx(d["objectness"] * d["prob"], abs=1e-5)  # paper mode
    assert (out / "index.html").is_file()
    page_data = (out / "report" / "data-000.js").read_text()  # the report's grid labels
    assert " > " in page_data  # path labels such as "animal > dog > terrier (0.62)"
    with Image.open(out / "clip_det.gif") as im:
        assert im.n_frames == 3


def test_darknet_mode_scores_by_objectness(random_pictures, tree_checkpoint, tmp_path, capsys):
    pics = random_pictures
    out = tmp_path / "out"
    assert (
        main(
            [
                "detect",
                "--checkpoint",
                str(tree_checkpoint),
                "--mode",
                "darknet",
                "--thresh",
                "0.2",
                "--no-images",
                "--out",
                str(out),
                "--quiet",
                str(pics[2]),
            ]
        )
        == 0
    )
    (row,) = read_jsonl(out / "detections.jsonl")
    assert row["detections"]
    assert all(d["score"] == d["objectness"] for d in row["detections"])
    assert not list(out.glob("*.jpg"))


def test_clear_errors(random_pictures, flat_model, tmp_path, capsys, monkeypatch):
    pics = random_pictures
    base = ["detect", "--cfg", str(flat_model / "tiny.cfg"), "--quiet"]

    (tmp_path / "two.names").write_text("a\nb\n")
    assert (
        main(
            base
            + [
                "--weights",
                str(flat_model / "tiny.weights"),
                "--names",
                str(tmp_path / "two.names"),
                "--out",
                str(tmp_path / "o1"),
                str(pics[0]),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert "2 names" in err and "classes=3" in err and len(err.splitlines()) == 1

    tree_file = tmp_path / "toy.tree"  # 7 nodes for a cfg with classes=3
    tree = toy_tree()
    tree_file.write_text("".join(f"{w} {p}\n" for w, p in zip(tree.ids, tree.parent.tolist())))
    assert (
        main(
            base
            + [
                "--weights",
                str(flat_model / "tiny.weights"),
                "--tree",
                str(tree_file),
                "--out",
                str(tmp_path / "o0"),
                str(pics[0]),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert "7 nodes" in err and "classes=3" in err and len(err.splitlines()) == 1

    short = tmp_path / "short.weights"
    short.write_bytes((flat_model / "tiny.weights").read_bytes()[:-40])
    assert main(base + ["--weights", str(short), "--out", str(tmp_path / "o2"), str(pics[0])]) == 1
    err = capsys.readouterr().err
    assert "short.weights" in err and len(err.strip().splitlines()) == 1

    assert main(base + ["--out", str(tmp_path / "o3"), str(tmp_path / "nothing.png")]) == 1
    assert "nothing.png: not found" in capsys.readouterr().err

    out = tmp_path / "o4"
    assert main(base + ["--out", str(out), str(pics[0])]) == 0
    capsys.readouterr()
    assert main(base + ["--out", str(out), str(pics[0])]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(base + ["--out", str(out), "--force", str(pics[0])]) == 0

    monkeypatch.chdir(tmp_path)
    assert main(["detect", str(pics[0])]) == 1
    assert "yolo9000 train" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("--thresh", "1", "a number in [0, 1)"),
        ("--hier-thresh", "-0.1", "a number in [0, 1)"),
        ("--nms", "0", "a number in (0, 1]"),
        ("--batch-size", "0", "a positive integer"),
    ],
)
def test_numbers_are_checked_once_by_argument_parsing(option, value, expected, tmp_path, capsys):
    """wordtree.options' rules, as argparse types: exit code 2 and one line naming the option."""
    with pytest.raises(SystemExit) as exc:
        main(["detect", "--cfg", "tiny.cfg", option, value, "--out", str(tmp_path / "o"), "x.png"])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}: expected {expected}, got" in last
    assert not (tmp_path / "o").exists()


def test_decode_options_from_the_parsed_options():
    import argparse

    from yolo9000.commands.options import decode_options
    from yolo9000.detection.decode import DecodeOptions

    args = argparse.Namespace(thresh=0.3, hier_thresh=0.6, nms=0.5, mode="darknet")
    got = decode_options(args, tree_nms=True, siblings=2)
    assert got == DecodeOptions(thresh=0.3, hier_thresh=0.6, nms=0.5, mode="darknet", tree_nms=True, siblings=2)


def test_cfg_takes_a_template_name(random_pictures, tmp_path):
    """--cfg names a template as well as a file (random weights: only that it runs)."""
    out = tmp_path / "o"
    args = ["detect", "--cfg", "tiny-yolo", "--size", "96", "--quiet", "--no-images", "--no-summary"]
    assert main(args + ["--out", str(out), str(random_pictures[0])]) == 0
    assert (out / "detections.jsonl").is_file()


def test_default_out_is_never_overwritten(random_pictures, flat_model, tmp_path, monkeypatch, capsys):
    pics = random_pictures
    monkeypatch.chdir(tmp_path)
    args = [
        "detect",
        "--cfg",
        str(flat_model / "tiny.cfg"),
        "--weights",
        str(flat_model / "tiny.weights"),
        "--quiet",
        "--no-images",
        str(pics[0]),
    ]
    assert main(args) == 0 and main(args) == 0
    assert (tmp_path / "runs/detect/detections.jsonl").is_file()
    assert (tmp_path / "runs/detect2/detections.jsonl").is_file()


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--show-path" in text and "9k.tree" in text


def test_report_depth_option(random_pictures, tree_checkpoint, tmp_path, capsys):
    base = ["detect", "--checkpoint", str(tree_checkpoint), "--quiet", "--thresh", "0.2", str(random_pictures[0])]
    with pytest.raises(SystemExit):
        main(base + ["--report-depth", "-1", "--out", str(tmp_path / "bad")])
    assert "--report-depth: expected an integer >= 0, got -1" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(base + ["--report-depth", "1", "--out", str(tmp_path / "one")]) == 0
    (row,) = read_jsonl(tmp_path / "one" / "detections.jsonl")
    tree = toy_tree()
    for d in row["detections"]:  # today's fields stay; the walk to a leaf comes with one sibling per level
        assert {"box", "score", "label", "name", "prob", "node", "path"} <= set(d)
        assert [len(s["siblings"]) for s in d["walk"]] == [1] * len(d["walk"])
        assert tree.is_leaf[d["walk"][-1]["node"]]


def test_default_checkpoint_and_inputs(random_pictures, tree_checkpoint, tmp_path, monkeypatch, capsys):
    import shutil

    from yolo9000.darknet.checkpoint import load_checkpoint, save_checkpoint
    from yolo9000.darknet.model import DarknetModel

    pics = random_pictures
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs/emoji").mkdir(parents=True)
    shutil.copy(tree_checkpoint, tmp_path / "runs/emoji/last.pt")
    assert main(["detect", "--quiet", "--no-images", str(pics[1])]) == 0  # runs/emoji/last.pt by default
    (row,) = read_jsonl(tmp_path / "runs/detect/detections.jsonl")
    assert row["image"] == str(pics[1]) and row["width"] == 50

    # no inputs with a model trained on the user's own data: say what to give
    ckpt = load_checkpoint(tree_checkpoint)
    model = DarknetModel.from_cfg_text(ckpt["cfg_text"], tree=toy_tree())
    save_checkpoint(tmp_path / "own.pt", model, config={"coco": "mine.json", "folders": None})
    capsys.readouterr()
    assert main(["detect", "--checkpoint", str(tmp_path / "own.pt"), "--quiet"]) == 1
    assert "no inputs given" in capsys.readouterr().err


def test_precision_and_size_options(random_pictures, flat_model, tmp_path):
    pics = random_pictures
    base = [
        "detect",
        "--cfg",
        str(flat_model / "tiny.cfg"),
        "--weights",
        str(flat_model / "tiny.weights"),
        "--quiet",
        "--no-images",
        "--thresh",
        "0.05",
    ]
    assert main(base + ["--out", str(tmp_path / "fp32"), str(pics[2])]) == 0
    assert main(base + ["--precision", "bf16", "--out", str(tmp_path / "bf16"), str(pics[2])]) == 0
    (fp32,) = read_jsonl(tmp_path / "fp32/detections.jsonl")
    (bf16,) = read_jsonl(tmp_path / "bf16/detections.jsonl")
    top = lambda r: max(d["score"] for d in r["detections"])  # noqa: E731
    assert top(bf16) == pytest.approx(top(fp32), abs=0.05)
    assert main(base + ["--precision", "fast", "--out", str(tmp_path / "fast"), str(pics[2])]) == 0
    (fast,) = read_jsonl(tmp_path / "fast/detections.jsonl")
    assert [(d["index"], d["label"]) for d in fast["detections"]] == [
        (d["index"], d["label"]) for d in fp32["detections"]
    ]
    assert [d["score"] for d in fast["detections"]] == pytest.approx([d["score"] for d in fp32["detections"]], abs=1e-4)
    assert main(base + ["--size", "96", "--out", str(tmp_path / "s96"), str(pics[2])]) == 0
    (s96,) = read_jsonl(tmp_path / "s96/detections.jsonl")
    assert {d["index"] for d in s96["detections"]} - set(range(2 * 3 * 3)) == set()  # a 3x3 grid at 96 px
    with pytest.raises(SystemExit) as exc:  # not a multiple of 32: refused by argument parsing
        main(base + ["--size", "100", "--out", str(tmp_path / "bad"), str(pics[2])])
    assert exc.value.code == 2


def test_tree_nms_option(random_pictures, tree_checkpoint, flat_model, tmp_path, capsys):
    import itertools

    from torchvision.ops import box_iou

    pics = random_pictures
    out = tmp_path / "out"
    assert (
        main(
            [
                "detect",
                "--checkpoint",
                str(tree_checkpoint),
                "--tree-nms",
                "--nms",
                "0.3",
                "--thresh",
                "0.1",
                "--no-images",
                "--out",
                str(out),
                "--quiet",
                *map(str, pics),
            ]
        )
        == 0
    )
    tree = toy_tree()
    for row in read_jsonl(out / "detections.jsonl"):
        dets = row["detections"]
        for a, b in itertools.combinations(dets, 2):
            related = (
                a["node"] == b["node"]
                or tree.is_ancestor(a["node"], b["node"])
                or tree.is_ancestor(b["node"], a["node"])
            )
            iou = box_iou(torch.tensor([a["box"]]), torch.tensor([b["box"]])).item()
            assert not (related and iou > 0.31), (a, b)
    capsys.readouterr()
    assert (
        main(
            [
                "detect",
                "--cfg",
                str(flat_model / "tiny.cfg"),
                "--tree-nms",
                "--quiet",
                "--out",
                str(tmp_path / "o"),
                str(pics[0]),
            ]
        )
        == 1
    )
    assert "--tree-nms" in capsys.readouterr().err


def test_long_path_labels_are_shortened_from_the_root_to_fit():
    from yolo9000.inference.draw import _truetype, default_font, fit_label

    font = default_font()
    if font is None:
        pytest.skip("no TrueType font for labels")
    text = "physical entity > animal > dog > terrier (0.62)"
    assert fit_label(text, font, 12, 10_000) == text
    short = fit_label(text, font, 12, 150)
    assert short.startswith("\u2026 > ") and short.endswith("terrier (0.62)")
    assert _truetype(font, 12).getlength(short) <= 150
    assert fit_label("dog (0.62)", font, 12, 5) == "dog (0.62)"  # nothing left to drop: unchanged


@pytest.mark.parametrize("command", ["detect", "export", "convert", "cfg", "anchors", "darknet", "data", "classify"])
def test_every_option_has_help_and_flags_come_in_pairs(command):
    """Item 7 of issue 23: help text on every option; a boolean is --flag/--no-flag, never a value (`-q/--quiet`,
    detect's short form of --no-progress, is the one alias)."""
    import argparse

    from yolo9000.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parsers = [sub.choices[command]]
    parsers += [c for a in parsers[0]._actions if isinstance(a, argparse._SubParsersAction) for c in a.choices.values()]
    for parser in parsers:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = "/".join(action.option_strings) or action.dest
            assert action.help, f"{command} {name}: no help text"
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                assert action.option_strings == ["-q", "--quiet"], f"{command} {name}: a flag without --no-"


def test_progress_in_a_log_is_a_line_per_share(random_pictures, flat_model, tmp_path, capsys):
    """Not a terminal (a log, CI): progress is plain lines, not a bar; counts agree in number ("1 image")."""
    d = flat_model
    argv = ["detect", "--cfg", str(d / "tiny.cfg"), "--weights", str(d / "tiny.weights"), "--no-images"]
    assert main([*argv, "--out", str(tmp_path / "a"), *map(str, random_pictures[:3])]) == 0
    captured = capsys.readouterr()
    assert "detect: 100% 3/3 images" in captured.err and "\r" not in captured.err
    assert main([*argv, "--no-progress", "--out", str(tmp_path / "b"), str(random_pictures[0])]) == 0
    captured = capsys.readouterr()
    assert "detect:" not in captured.err
    assert captured.out.splitlines()[-2].startswith("1 image: ")
