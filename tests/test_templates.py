"""The shipped model templates are never taken for cfg files, and the named models (`--cfg yolov2`,
`tiny-yolo`, `tiny-yolo9000`, ...) work in every command that takes a cfg, sized as the rules say."""

from __future__ import annotations

from pathlib import Path

import pytest

from wordtree.formats import save_json
from yolo9000.cli import main
from yolo9000.darknet import templates

REPO = Path(__file__).resolve().parents[1]


def test_templates_are_not_cfg_files():
    """NAME.cfg.in in cfg_templates/ with a README saying how to get a cfg; no .cfg file in the package's
    darknet folder; every template renders to a cfg without fields; the wheel ships them."""
    package = REPO / "yolo9000" / "darknet"
    assert not list(package.rglob("*.cfg")), "a template named .cfg would be taken for a cfg file"
    for name in templates.TEMPLATES:
        path = templates.TEMPLATE_DIR / f"{name}{templates.TEMPLATE_SUFFIX}"
        assert "${" in path.read_text(encoding="utf-8"), path
    assert "yolo9000 cfg --template" in (templates.TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    tree = Path(__file__).parent  # any name: only the tree= line's text
    for key in templates.MODELS:
        text = templates.template_cfg(key, _tree() if key in templates.TREE_TEMPLATES else None, tree_file=str(tree))
        assert "${" not in text and "[net]" in text
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")  # (tomllib is 3.11+)
    assert '"yolo9000.darknet" = ["cfg_templates/*.cfg.in"' in pyproject


def _tree():
    from test_detect_cli import toy_tree

    return toy_tree()


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A user's folder with a names file (3 classes) and a tree (7 nodes); the current folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "three.names").write_text("red\ngreen\nblue\n")
    save_json(_tree(), tmp_path / "toy.json")
    return tmp_path


def test_export_with_a_named_model_writes_only_its_file(work, capsys):
    """`export --cfg NAME`: a flat model is sized for --names; the folder holds only the inputs and -o
    afterwards (no marker, no temporary files)."""
    before = {p.name for p in work.iterdir()}
    assert main(["export", "--cfg", "tiny-yolo", "--names", "three.names", "--size", "96", "-o", "x.onnx"]) == 0
    assert "3 classes" in capsys.readouterr().out
    assert {p.name for p in work.iterdir()} - before == {"x.onnx"}  # hidden files included


def test_named_models_in_detect_and_convert(work, random_pictures, capsys):
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.darknet.templates import model_from_template
    from yolo9000.darknet.weights import save_weights

    flags = ["--no-progress", "--no-images", "--no-summary", "--size", "96"]
    assert (
        main(["detect", "--cfg", "tiny-yolo9000", "--tree", "toy.json", "--out", "d", *flags, str(random_pictures[0])])
        == 0
    )
    assert "1 image:" in capsys.readouterr().out  # one image, singular
    assert (
        main(["detect", "--cfg", "tiny-yolo", "--names", "three.names", "--out", "e", *flags, str(random_pictures[0])])
        == 0
    )
    save_weights(model_from_template("tiny-yolo", classes=3), work / "three.weights")
    assert main(["convert", "three.weights", "tiny-yolo", "--names", "three.names", "-o", "three.pt"]) == 0
    model = load_model(work / "three.pt")
    assert model.region is not None and model.region.classes == 3 and model.names == ["red", "green", "blue"]


def test_load_detector_model_sizes_a_named_flat_model_for_its_names(work):
    """The loader of detect, eval and export: --names sizes a flat named model; a tree sizes a tree one."""
    from yolo9000.inference.detector import load_detector_model

    model, names = load_detector_model(cfg="yolov2", names=work / "three.names")
    assert model.region is not None and model.region.classes == 3 and names == ["red", "green", "blue"]
    model, names = load_detector_model(cfg="tiny_yolo9000", tree=work / "toy.json")
    assert model.region is not None and model.region.classes == 7 and model.tree is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--cfg", "tiny-yolo9000", "-o", "x.onnx"], "--cfg tiny-yolo9000: the template has a tree head"),
        (["export", "--cfg", "yolov9", "-o", "x.onnx"], "--cfg yolov9: no such cfg file, and not a model name"),
        (["detect", "--cfg", "yolo9000", "--no-progress", "pic.png"], "pass --tree to size it"),
        (["convert", "yolo9000", "w.weights", "-o", "x.pt"], "CFG yolo9000: the template has a tree head"),
    ],
)
def test_named_model_errors_are_one_line(work, capsys, argv, message):
    (work / "w.weights").write_bytes(b"\0" * 16)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (work / "x.onnx").exists() and not (work / "x.pt").exists()
