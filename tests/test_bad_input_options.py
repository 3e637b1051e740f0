"""Bad numeric options, table-driven: every command refuses them with exit code 2 and a message naming the
option; a YAML config (or a resumed run's config) with a wrong type or range names the file and the option;
good edge values still parse. The rules are defined once, in `wordtree.options` (issue 13, Arguments)."""

from __future__ import annotations

import pytest

from wordtree.cli import _parser as wordtree_parser
from wordtree.cli import main as wordtree_main
from wordtree.options import positive_int, probability, size32
from yolo9000.cli import build_parser
from yolo9000.cli import main as yolo_main
from yolo9000.training.config import TrainConfig

# (command line, option the message must name, words the message must hold)
BAD_ARGS = [
    (["train", "--steps", "-5"], "--steps", "positive integer"),
    (["train", "--batch", "0"], "--batch", "positive integer"),
    (["train", "--batch", "sixteen"], "--batch", "'sixteen'"),
    (["train", "--size", "70"], "--size", "multiple of 32"),
    (["train", "--sizes", "320", "600"], "--sizes", "multiple of 32"),
    (["train", "--final-size", "0"], "--final-size", "multiple of 32"),
    (["train", "--subdivisions", "0"], "--subdivisions", "positive integer"),
    (["train", "--lr", "-0.1"], "--lr", "positive number"),
    (["train", "--lr", "nan"], "--lr", "positive number"),
    (["train", "--momentum", "1.5"], "--momentum", "[0, 1]"),
    (["train", "--cls-fraction", "2"], "--cls-fraction", "[0, 1]"),
    (["train", "--hue", "-1"], "--hue", "[0, 1]"),
    (["train", "--workers", "-1"], "--workers", ">= 0"),
    (["train", "--save-every", "0"], "--save-every", "positive integer"),
    (["train", "--weights-layers", "2.5"], "--weights-layers", "positive integer"),
    (["train", "--anchors", "1", "-2"], "--anchors", "positive number"),
    (["detect", "x.jpg", "--size", "70"], "--size", "multiple of 32"),
    (["detect", "x.jpg", "--thresh", "1.5"], "--thresh", "[0, 1)"),
    (["detect", "x.jpg", "--nms", "-0.1"], "--nms", "(0, 1]"),
    (["detect", "x.jpg", "--hier-thresh", "1"], "--hier-thresh", "[0, 1)"),
    (["detect", "x.jpg", "--hier-thresh", "x"], "--hier-thresh", "'x'"),
    (["detect", "x.jpg", "--batch-size", "0"], "--batch-size", "positive integer"),
    (["detect", "x.jpg", "--max-path", "-1"], "--max-path", ">= 0"),
    (["eval", "--thresh", "7"], "--thresh", "[0, 1)"),
    (["eval", "--thresh", "1"], "--thresh", "[0, 1)"),
    (["eval", "--hier-thresh", "1"], "--hier-thresh", "[0, 1)"),
    (["eval", "--nms", "0"], "--nms", "(0, 1]"),
    (["eval", "--size", "-32"], "--size", "multiple of 32"),
    (["eval", "--max-images", "0"], "--max-images", "positive integer"),
    (["eval", "--batch-size", "1.5"], "--batch-size", "positive integer"),
    (["anchors", "--coco", "a.json", "-k", "0"], "--num", "positive integer"),
    (["anchors", "--coco", "a.json", "--size", "100"], "--size", "multiple of 32"),
    (["anchors", "--coco", "a.json", "--iters", "-1"], "--iters", "positive integer"),
    (["anchors", "--coco", "a.json", "--max-k", "-1"], "--max-k", ">= 0"),
    (["emoji-world", "out", "--detection", "0"], "--detection", "positive integer"),
    (["emoji-world", "out", "--size", "-5"], "--size", "positive integer"),
    (["emoji-world", "out", "--seed", "abc"], "--seed", "'abc'"),
]


@pytest.mark.parametrize(("argv", "option", "words"), BAD_ARGS, ids=[" ".join(r[0]) for r in BAD_ARGS])
def test_bad_numeric_option_exits_2_naming_it(argv, option, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written; if it were, not into the repository
    with pytest.raises(SystemExit) as exc:
        yolo_main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in err and words in err and "expected" in err, err
    assert list(tmp_path.iterdir()) == []


BAD_WORDTREE_ARGS = [
    (["--top-k", "0"], "--top-k", "positive integer"),
    (["--top-k", "many"], "--top-k", "'many'"),
    (["--min-images", "-3"], "--min-images", ">= 0"),
]


@pytest.mark.parametrize(
    ("argv", "option", "words"), BAD_WORDTREE_ARGS, ids=[" ".join(r[0]) for r in BAD_WORDTREE_ARGS]
)
def test_build_wordtree_bad_numeric_option(argv, option, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        wordtree_main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert option in err and words in err, err
    assert list(tmp_path.iterdir()) == []


# (YAML text, option the message must name, words the message must hold)
BAD_YAML = [
    ('batch: "sixteen"\n', "batch", "expected a positive integer, got 'sixteen'"),
    ("batch: 0\n", "batch", "expected a positive integer, got 0"),
    ("steps: -5\n", "steps", "positive integer"),
    ("steps: 2.5\n", "steps", "positive integer"),
    ("size: 70\n", "size", "multiple of 32"),
    ("sizes: [320, 600]\n", "sizes", "multiple of 32"),
    ("sizes: 320\n", "sizes", "list of 2 values"),
    ("lr: fast\n", "lr", "positive number"),
    ("cls-fraction: 1.5\n", "cls-fraction", "[0, 1]"),
    ("momentum: true\n", "momentum", "[0, 1]"),
    ("flip: maybe\n", "flip", "true or false"),
    ("anchors: [1, 2, 3]\n", "anchors", "even number"),
    ("workers: -2\n", "workers", ">= 0"),
    ("cfg: 12\n", "cfg", "a string"),
]


@pytest.mark.parametrize(("text", "option", "words"), BAD_YAML, ids=[r[0].strip() for r in BAD_YAML])
def test_yaml_config_with_bad_value_names_file_and_option(text, option, words, tmp_path, capsys):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as exc:
        TrainConfig.from_yaml(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: option {option!r}: ") and words in msg, msg
    # the command says the same in one line, exit code 1 (a bad file, as for every other file error)
    assert yolo_main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert f"option {option!r}" in err and "my.yaml" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_yaml_unknown_option_still_refused(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("stepz: 7\n")
    with pytest.raises(ValueError, match=r"my\.yaml: unknown option 'stepz'"):
        TrainConfig.from_yaml(path)


def test_resumed_config_is_checked_by_the_same_rules():
    saved = TrainConfig().to_dict() | {"batch": 0}
    with pytest.raises(ValueError, match=r"run/last\.pt: option 'batch': expected a positive integer, got 0"):
        TrainConfig().updated(saved, source="run/last.pt")


def test_yaml_good_values_are_kept(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("batch: 1\nsize: 32\nsizes: [32, 64]\ncls-fraction: 0\nmomentum: 1\nlr: 1\nburn-in: 0\n")
    cfg = TrainConfig.from_yaml(path)
    assert (cfg.batch, cfg.size, cfg.sizes, cfg.cls_fraction, cfg.momentum, cfg.lr, cfg.burn_in) == (
        1,
        32,
        [32, 64],
        0.0,
        1.0,
        1.0,
        0,
    )


# good edge values: still accepted by argument parsing (nothing runs)
GOOD_ARGS = [
    (["detect", "x.jpg", "--thresh", "0"], "thresh", 0.0),
    (["detect", "x.jpg", "--nms", "1"], "nms", 1.0),
    (["detect", "x.jpg", "--size", "32"], "size", 32),
    (["detect", "x.jpg", "--hier-thresh", "0"], "hier_thresh", 0.0),
    (["detect", "x.jpg", "--workers", "0"], "workers", 0),
    (["eval", "--thresh", "0", "--nms", "1"], "nms", 1.0),
    (["eval", "--size", "32"], "size", 32),
    (["train", "--size", "32"], "size", 32),
    (["train", "--batch", "1"], "batch", 1),
    (["train", "--sizes", "32", "608"], "sizes", [32, 608]),
    (["train", "--burn-in", "0"], "burn_in", 0),
    (["train", "--cls-fraction", "1"], "cls_fraction", 1.0),
    (["anchors", "--coco", "a.json", "--max-k", "0"], "max_k", 0),
    (["anchors", "--coco", "a.json", "--size", "32"], "size", 32),
    (["emoji-world", "out", "--seed", "0"], "seed", 0),
]


@pytest.mark.parametrize(("argv", "dest", "value"), GOOD_ARGS, ids=[" ".join(r[0]) for r in GOOD_ARGS])
def test_good_edge_values_parse(argv, dest, value):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value


def test_build_wordtree_good_edge_values_parse():
    args = wordtree_parser().parse_args(["--top-k", "1", "--min-images", "0"])
    assert (args.top_k, args.min_images) == (1, 0)


@pytest.mark.parametrize(
    ("rule", "value", "words"),
    [
        (size32, 70, "expected a positive multiple of 32, got 70"),
        (size32, 0, "multiple of 32"),
        (size32, True, "multiple of 32"),
        (positive_int, 16.0, "positive integer"),
        (probability, float("inf"), "[0, 1]"),
    ],
)
def test_rules_in_python(rule, value, words):
    with pytest.raises(ValueError, match=r"option 'x': ") as exc:
        rule(value, "x")
    assert words in str(exc.value)


def test_library_size_checks_use_the_same_rule():
    from yolo9000.darknet import templates
    from yolo9000.data.augment import multiscale_sizes

    with pytest.raises(ValueError, match="expected a positive multiple of 32, got 70"):
        templates.yolov2(size=70)
    with pytest.raises(ValueError, match="multiples of 32"):
        multiscale_sizes(416, 300, 608)
    with pytest.raises(ValueError, match="multiples of 32"):
        multiscale_sizes(416, 0, 608)
    assert multiscale_sizes(416) == list(range(320, 609, 32))
