"""`yolo9000 export` of classifiers (tree and flat, a Darknet cfg and a torchvision backbone) and
`yolo9000 classify --model`: the graph's (B, C) logits within 1e-4 of torch, the metadata, the same records as
`classify --checkpoint`, and one-line refusals where a classifier file meets a detector's command (and back)."""

from __future__ import annotations

import argparse
import importlib.util
import json

import pytest
import torch
from darknet_files import write_pictures
from test_classify_cli import NAMES, PARENTS, biased, check_tree_record, classifier_cfg, read_jsonl, toy_tree

from yolo9000.cli import main
from yolo9000.commands import classify as classify_command
from yolo9000.inference import export as E

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None
needs_openvino = pytest.mark.skipif(not HAVE_OPENVINO, reason="OpenVINO is not installed (the openvino extra)")
FLAT_NAMES = ["red", "green", "blue"]


def _with_batch_norm_stats(model, seed: int):
    """Random BN statistics and affine terms, so folding them into the convs changes the weights."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.conv_blocks():
            if block.bn is not None:
                n = block.bn.num_features
                block.bn.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                block.bn.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                block.bn.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                block.bn.bias.copy_(torch.randn(n, generator=gen) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Checkpoints of a tree classifier (toy tree), a flat one (3 names) and a torchvision mobilenet_v3_small
    classifier at 64 px; the tree classifier as a cfg + .weights too; a tiny detector exported to ONNX."""
    from test_detect_cli import tiny_cfg

    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.darknet.templates import model_from_template
    from yolo9000.darknet.weights import save_weights

    d = tmp_path_factory.mktemp("classifiers")
    (d / "toy.tree").write_text("".join(f"n{i:08d} {p}\n" for i, p in enumerate(PARENTS)))  # Darknet's "id parent"
    (d / "toy.names").write_text("\n".join(NAMES) + "\n")
    tree_text = classifier_cfg(7, "toy.tree")
    (d / "tree.cfg").write_text(tree_text)
    torch.manual_seed(0)
    tree_model = biased(DarknetModel.from_cfg_text(tree_text, base_dir=d), [3.0, 0, 2.0, 0, 0, 0.3, 0])
    _with_batch_norm_stats(tree_model, 1)
    save_weights(tree_model, d / "tree.weights")
    save_checkpoint(d / "tree.pt", tree_model, names=NAMES)
    flat = biased(DarknetModel.from_cfg_text(classifier_cfg(3)), [1.0, 0.5, 0], std=1.0)
    save_checkpoint(d / "flat.pt", _with_batch_norm_stats(flat, 2), names=FLAT_NAMES)
    torch.manual_seed(0)
    tv = model_from_template("torchvision:mobilenet_v3_small", classes=3, size=64, task="classify")
    save_checkpoint(d / "tv.pt", biased(tv, [1.0, 0.5, 0], std=1.0).eval(), names=FLAT_NAMES)  # logits of size ~1
    E.export_onnx(DarknetModel.from_cfg_text(tiny_cfg(3)).eval(), d / "detector.onnx")
    return d


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Four random pictures of different shapes (letterboxed alike by every backend)."""
    return write_pictures(tmp_path_factory.mktemp("cls_pictures"), sizes=((40, 30), (25, 45), (32, 32), (70, 50)))


def export(argv: list[str], capsys) -> list[str]:
    """`yolo9000 export ARGV` (must succeed); its printed lines."""
    assert main(["export", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def refused(command: str, argv: list[str], capsys) -> str:
    """`yolo9000 COMMAND ARGV` must fail with one line on stderr; that line."""
    assert main([command, *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def classify(argv: list[str]) -> int:
    """`yolo9000 classify ARGV` through the command's parser, so a refusal raises its ValueError."""
    parser = argparse.ArgumentParser(prog="yolo9000")
    classify_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["classify", *argv])
    return int(args.func(args))


def records(model_args: list[str], pictures, out) -> list[dict]:
    """The JSON records of `classify MODEL_ARGS` over the pictures."""
    argv = [*model_args, "--device", "cpu", "--no-summary", "-q", "--out", str(out), *map(str, pictures)]
    assert classify(argv) == 0
    return read_jsonl(out / "predictions.jsonl")


def assert_same_records(got: list[dict], want: list[dict]) -> None:
    """The same pictures, nodes / labels and walks; every probability within 1e-4."""
    assert [r["file"] for r in got] == [r["file"] for r in want]
    for g, w in zip(got, want):
        for key in ("top", "walk"):
            assert [(e.get("node"), e.get("label"), e["name"]) for e in g[key]] == [
                (e.get("node"), e.get("label"), e["name"]) for e in w[key]
            ]
            assert [e["prob"] for e in g[key]] == pytest.approx([e["prob"] for e in w[key]], abs=1e-4)
        assert [e["abs"] for e in g["walk"]] == pytest.approx([e["abs"] for e in w["walk"]], abs=1e-4)
        if "stopped" in w:
            assert g["stopped"]["node"] == w["stopped"]["node"]
            assert g["stopped"]["abs"] == pytest.approx(w["stopped"]["abs"], abs=1e-4)
            assert g["tree_fingerprint"] == w["tree_fingerprint"]
        else:
            assert "stopped" not in g


def graph_dims(path) -> dict[str, list]:
    """{input/output name: its declared dims, a name for a symbolic axis, else the size}."""
    proto = onnx.load(str(path), load_external_data=False)
    values = [*proto.graph.input, *proto.graph.output]
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def assert_logits_match(path, checkpoint, size: int) -> None:
    """ONNX Runtime's output on a batch of 3 equals the torch model's class logits (BN folded or not)."""
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.inference.classify import class_logits

    x = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = class_logits(load_model(checkpoint), x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {E.INPUT_NAME: x.numpy()})[0])
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert float(want.std()) > 1e-2  # the logits differ across classes and pictures: a real comparison


@pytest.mark.parametrize("kind", ["tree", "flat"])
def test_checkpoint_export_matches_torch_and_classify(models, pictures, tmp_path, capsys, kind):
    out = tmp_path / f"{kind}.onnx"
    lines = export(["--checkpoint", str(models / f"{kind}.pt"), "-o", str(out)], capsys)
    classes = 7 if kind == "tree" else 3
    assert f"class logits, {classes} classes" in lines[0]
    assert lines[-1] == f"classify with: yolo9000 classify --model {out} PICS"
    onnx.checker.check_model(str(out))
    assert graph_dims(out) == {E.INPUT_NAME: ["batch", 3, 32, 32], E.OUTPUT_NAME: ["batch", classes]}

    props = {p.key: json.loads(p.value) for p in onnx.load(str(out), load_external_data=False).metadata_props}
    assert props["task"] == "classify" and "region" not in props
    assert props["classifier"] == {"classes": classes, "activation": "tree" if kind == "tree" else "softmax"}
    assert props["output"] == {"kind": "raw", "shape": ["batch", classes]}
    assert props["input"]["width"] == 32 and props["input"]["letterbox"] == "darknet"
    info = E.read_info(out)
    assert info.task == "classify" and info.anchors == [] and info.classes == classes
    if kind == "tree":
        assert info.names == NAMES and props["tree_fingerprint"] == toy_tree().fingerprint
        assert info.word_tree().fingerprint == toy_tree().fingerprint
    else:
        assert info.names == FLAT_NAMES and info.tree is None and info.tree_fingerprint is None

    assert_logits_match(out, models / f"{kind}.pt", 32)
    want = records(["--checkpoint", str(models / f"{kind}.pt")], pictures, tmp_path / "pt")
    got = records(["--model", str(out)], pictures, tmp_path / "onnx")
    assert_same_records(got, want)
    if kind == "tree":
        for r in got:
            check_tree_record(r, toy_tree(), 0.5, k=4)
    else:
        assert all(r["walk"] == [] and r["top"][0]["name"] in FLAT_NAMES for r in got)


def test_cfg_file_export_and_runtime_classifier(models, pictures, tmp_path, capsys):
    """A Darknet cfg with `[softmax] tree=` and its .weights exports as the checkpoint does; the runtime
    classifier is what `Classifier` runs (same records, its backend named)."""
    from yolo9000.inference.backends import RuntimeClassifier
    from yolo9000.inference.classify import Classifier, load_classifier

    out = tmp_path / "cfg.onnx"
    export(["--cfg", str(models / "tree.cfg"), "--weights", str(models / "tree.weights"), "-o", str(out)], capsys)
    assert_logits_match(out, models / "tree.pt", 32)
    runtime, names = load_classifier(model=out)
    assert isinstance(runtime, RuntimeClassifier) and runtime.region is None and names == NAMES
    classifier = Classifier(runtime, names, top_k=2)
    assert classifier.describe().startswith("a tree of 7 nodes, 32x32 pixels, backend onnxruntime")
    renamed = tmp_path / "renamed.names"
    renamed.write_text("".join(f"n{i}\n" for i in range(7)))
    assert load_classifier(model=out, names=renamed)[1] == [f"n{i}" for i in range(7)]


@pytest.mark.parametrize("backend", ["onnxruntime", pytest.param("openvino", marks=needs_openvino)])
def test_checkpoint_on_a_runtime_backend_is_exported_in_memory(models, pictures, tmp_path, capsys, backend):
    """`classify --checkpoint C --backend B` runs what `export` then `classify --model` would (no file written),
    at --size; the library says where its backend goes."""
    from yolo9000.inference.backends import runtime_classifier
    from yolo9000.inference.classify import Classifier, load_classifier

    ckpt = str(models / "tree.pt")
    for size in ("32", "64"):
        want = records(["--checkpoint", ckpt, "--size", size], pictures, tmp_path / f"pt{size}")
        capsys.readouterr()
        got = records(["--checkpoint", ckpt, "--size", size, "--backend", backend], pictures, tmp_path / f"rt{size}")
        assert_same_records(got, want)
        first = capsys.readouterr().out.splitlines()[0]
        assert f"{size}x{size} pixels, backend {backend}" in first, first
    assert sorted(p.name for p in tmp_path.rglob("*.onnx")) == []
    with pytest.raises(ValueError, match=f"pass backend='{backend}' to `Classifier`, which exports it in memory"):
        load_classifier(checkpoint=ckpt, backend=backend)
    net, names = load_classifier(checkpoint=ckpt)
    classifier = Classifier(net, names, backend=backend)
    assert classifier.describe().startswith(f"a tree of 7 nodes, 32x32 pixels, backend {backend}")
    other = "openvino" if backend == "onnxruntime" else "onnxruntime"
    with pytest.raises(ValueError, match=f"is loaded in {backend}, not {other}"):
        Classifier(runtime_classifier(net, backend, names=names), names, backend=other)


@needs_openvino
def test_openvino_ir_and_onnx_in_openvino(models, pictures, tmp_path, capsys):
    xml = tmp_path / "tree.xml"
    lines = export(["--checkpoint", str(models / "tree.pt"), "-o", str(xml)], capsys)
    assert lines[-1] == f"classify with: yolo9000 classify --model {xml} PICS"
    assert xml.with_suffix(".bin").is_file()
    info = E.read_info(xml)  # the metadata travels in the IR's rt_info
    assert info.task == "classify" and info.tree_fingerprint == toy_tree().fingerprint and info.names == NAMES
    want = records(["--checkpoint", str(models / "tree.pt")], pictures, tmp_path / "pt")
    assert_same_records(records(["--model", str(xml)], pictures, tmp_path / "xml"), want)
    onnx_file = tmp_path / "tree.onnx"
    export(["--checkpoint", str(models / "tree.pt"), "-o", str(onnx_file)], capsys)
    got = records(["--model", str(onnx_file), "--backend", "openvino"], pictures, tmp_path / "ov")
    assert_same_records(got, want)


def test_torchvision_classifier(models, pictures, tmp_path, capsys):
    """torchvision's mobilenet_v3_small with the classifier head (ImageNet normalisation in the graph)."""
    out = tmp_path / "tv.onnx"
    lines = export(["--checkpoint", str(models / "tv.pt"), "-o", str(out)], capsys)
    assert "class logits, 3 classes" in lines[0]
    assert graph_dims(out) == {E.INPUT_NAME: ["batch", 3, 64, 64], E.OUTPUT_NAME: ["batch", 3]}
    assert_logits_match(out, models / "tv.pt", 64)
    want = records(["--checkpoint", str(models / "tv.pt")], pictures, tmp_path / "pt")
    assert_same_records(records(["--model", str(out)], pictures, tmp_path / "onnx"), want)


def test_metadata_round_trip_and_detectors_unchanged(models):
    from yolo9000.darknet.checkpoint import load_model

    info = E.export_info(load_model(models / "tree.pt"))
    props = info.to_props()
    assert list(props)[:2] == ["yolo9000_version", "task"]
    assert E.ModelInfo.from_props(props, "x.onnx") == info
    with pytest.raises(ValueError, match="classifier: it has no \\[region\\]"):
        info.region_config()
    with pytest.raises(ValueError, match="x.onnx: unknown task 'segment'"):
        E.ModelInfo.from_props(dict(props, task='"segment"'), "x.onnx")
    with pytest.raises(ValueError, match="x.onnx: no yolo9000 metadata \\(classifier missing\\)"):
        E.ModelInfo.from_props({k: v for k, v in props.items() if k != "classifier"}, "x.onnx")
    with pytest.raises(ValueError, match="x.onnx: malformed"):
        E.ModelInfo.from_props(dict(props, classifier="{}"), "x.onnx")
    # a detector's metadata carries no task (as files written before classifiers): it reads as a detector
    detector = E.read_info(models / "detector.onnx")
    assert detector.task == "detect" and "task" not in detector.to_props()
    assert E.ModelInfo.from_props(detector.to_props(), "d.onnx") == detector


def test_refusals(models, pictures, tmp_path, capsys):
    pic = str(pictures[0])
    cls_onnx = tmp_path / "tree.onnx"
    export(["--checkpoint", str(models / "tree.pt"), "-o", str(cls_onnx)], capsys)
    detector = str(models / "detector.onnx")

    # --output region is a detector's
    region = tmp_path / "region.onnx"
    err = refused("export", ["--checkpoint", str(models / "tree.pt"), "--output", "region", "-o", str(region)], capsys)
    assert "--output region" in err and "is a classifier" in err
    err = refused("export", ["--cfg", "darknet19", "--output", "region", "-o", str(region)], capsys)
    assert "darknet19 is a classifier" in err
    assert not region.exists()

    # a classifier file in detect / eval, a detector file in classify
    err = refused("detect", ["--model", str(cls_onnx), "--out", str(tmp_path / "d"), pic], capsys)
    assert err.endswith(f"is an exported classifier; run it with `yolo9000 classify --model {cls_onnx}`")
    (tmp_path / "gt.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    argv = ["--model", str(cls_onnx), "--coco", str(tmp_path / "gt.json"), "--out", str(tmp_path / "e")]
    assert "yolo9000 classify --model" in refused("eval", argv, capsys)
    err = refused("classify", ["--model", detector, "--out", str(tmp_path / "c"), pic], capsys)
    assert err.endswith(f"is an exported detector; run it with `yolo9000 detect --model {detector}`")

    # --model excludes the other model options; --backend is for --model; its size is fixed
    out = str(tmp_path / "c")
    with pytest.raises(ValueError, match="drop --checkpoint$"):
        classify(["--model", str(cls_onnx), "--checkpoint", str(models / "tree.pt"), "--out", out, pic])
    with pytest.raises(ValueError, match="drop --cfg, --weights$"):
        classify(["--model", str(cls_onnx), "--cfg", "x.cfg", "--weights", "x.weights", "--out", out, pic])
    with pytest.raises(ValueError, match="--backend torch runs checkpoints and cfgs"):
        classify(["--model", str(cls_onnx), "--backend", "torch", "--out", out, pic])
    with pytest.raises(ValueError, match="--size 64: .* was exported for 32x32"):
        classify(["--model", str(cls_onnx), "--size", "64", "--out", out, pic])
    three = tmp_path / "three.names"
    three.write_text("a\nb\nc\n")
    with pytest.raises(ValueError, match="3 names but .* has 7 classes"):
        classify(["--model", str(cls_onnx), "--names", str(three), "--out", out, pic])
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


@pytest.mark.slow
def test_darknet19_template_for_a_tree(tmp_path, pictures, capsys):
    """`export --cfg darknet19 --tree T` (random weights, 80 MB at 32 px): the tree in the metadata and a
    runnable classifier."""
    from wordtree.formats import save_json

    save_json(toy_tree(), tmp_path / "toy.json")
    out = tmp_path / "d19.onnx"
    lines = export(["--cfg", "darknet19", "--tree", str(tmp_path / "toy.json"), "--size", "32", "-o", str(out)], capsys)
    assert "class logits, 7 classes, tree" in lines[0]
    assert E.read_info(out).tree_fingerprint == toy_tree().fingerprint
    for r in records(["--model", str(out)], pictures, tmp_path / "run"):
        check_tree_record(r, toy_tree(), 0.5, k=4)
