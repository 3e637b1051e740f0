"""`export_onnx` / `export_openvino` / `yolo9000 export`: valid graphs (onnx.checker, ONNX Runtime, OpenVINO),
outputs within 1e-4 of eager fp32 on the Darknet parity input (raw and region), the decoding metadata, and
Darknet's 15 yolov2 detections on the parity picture through every backend.

The yolov2 exports (200 MB each) are made once per module; yolo9000.cfg with Darknet's 9k tree needs ../shared
and is exported once at 416, run on one picture.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from darknet_files import REFERENCE, cfg_text, conv, maxpool, skip_without_shared

from yolo9000.darknet.model import DarknetModel, load_darknet
from yolo9000.inference import export as E

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None


def _ort_run(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {E.INPUT_NAME: x.numpy()})[0]


@pytest.fixture(scope="module")
def yolov2(yolov2_416_cfg, yolov2_seed0_weights):
    """yolov2 with Darknet's CPU batch norm and seed-0 weights (the parity model)."""
    return load_darknet(yolov2_416_cfg, yolov2_seed0_weights, bn_mode="cpu")


@pytest.fixture(scope="module")
def yolov2_exports(yolov2, tmp_path_factory):
    """{"raw": .onnx, "region": .onnx, "xml": OpenVINO IR of the raw output} of the parity model."""
    d = tmp_path_factory.mktemp("export_yolov2")
    files = {
        "raw": E.export_onnx(yolov2, d / "yolov2.onnx"),
        "region": E.export_onnx(yolov2, d / "yolov2_region.onnx", output="region"),
    }
    if HAVE_OPENVINO:
        files["xml"] = E.export_openvino(yolov2, d / "yolov2.xml")
    yield files
    for f in d.iterdir():
        f.unlink()


@pytest.fixture(scope="module")
def runtimes(yolov2_exports):
    """The exports loaded once: {"onnxruntime:raw", "onnxruntime:region", "openvino:xml"} -> RuntimeModel."""
    from yolo9000.inference.backends import load_runtime_model

    kinds = {"onnxruntime:raw": "raw", "onnxruntime:region": "region", "openvino:xml": "xml"}
    return {
        k: load_runtime_model(yolov2_exports[f], k.partition(":")[0]) for k, f in kinds.items() if f in yolov2_exports
    }


@pytest.mark.parametrize("output", ["raw", "region"])
def test_round_trip_within_1e4_on_the_parity_input(yolov2, yolov2_exports, runtimes, darknet_reference, output):
    x = torch.from_numpy(darknet_reference.input)[None]
    with torch.no_grad():
        want = (yolov2(x) if output == "raw" else yolov2.region_output(x)).numpy()
    if output == "region":  # the tree-free softmax graph; raw graphs are checked by every export
        onnx.checker.check_model(str(yolov2_exports[output]))
    runtime = runtimes[f"onnxruntime:{output}"]
    assert runtime.backend.output == output
    got = runtime(x).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-4
    if output == "region":  # and Darknet's own region output, as the eager model is
        assert np.abs(got[0] - darknet_reference.region_output).max() < 1e-4


def test_dynamic_batch_and_metadata(runtimes):
    runtime = runtimes["onnxruntime:raw"]
    session = runtime.backend.session
    assert session.get_inputs()[0].shape == ["batch", 3, 416, 416]
    props = runtime.backend.metadata()
    assert json.loads(props["input"])["letterbox"] == "darknet"
    assert json.loads(props["region"])["anchors"][0] == pytest.approx([0.57273, 0.677385])
    info = runtime.info
    assert (info.width, info.height, info.classes, info.num, info.output) == (416, 416, 80, 5, "raw")
    assert info.tree is None and info.version
    x = torch.rand(3, 3, 416, 416)
    assert runtime(x).shape == (3, 425, 13, 13)


def _graph_dims(path) -> dict[str, list]:
    """{input/output name: its declared dims, a name for a symbolic axis, else the size}."""
    proto = onnx.load(str(path), load_external_data=False)
    values = list(proto.graph.input) + list(proto.graph.output)
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def test_yolov2_graph_names_only_its_batch_axis(yolov2_exports):
    assert _graph_dims(yolov2_exports["raw"]) == {"images": ["batch", 3, 416, 416], "output": ["batch", 425, 13, 13]}
    assert _graph_dims(yolov2_exports["region"])["output"] == ["batch", 5, 85, 13, 13]


@pytest.mark.parametrize("template", ["tiny-yolo", "tiny-yolo9000"])
@pytest.mark.parametrize("output", ["raw", "region"])
def test_template_graphs_name_only_their_batch_axis(template, output, tmp_path):
    """Axis 0 of the input and the output is `batch`, every other axis its fixed size (tiny-yolo's stride-1
    maxpool once made the exporter name the grid height `batch`); ONNX Runtime runs batches of 1 and 3."""
    from test_detect_cli import toy_tree

    from yolo9000.darknet import templates

    if template == "tiny-yolo9000":
        model = templates.tiny_yolo9000(toy_tree(), size=96, width=0.25).eval()
    else:
        model = templates.tiny_yolo(classes=3, size=96, width=0.25).eval()
    region = model.region
    path = E.export_onnx(model, tmp_path / "m.onnx", output=output)
    shape = [region.num * region.entries] if output == "raw" else [region.num, region.entries]
    assert _graph_dims(path) == {"images": ["batch", 3, 96, 96], "output": ["batch", *shape, 3, 3]}
    for batch in (1, 3):
        x = torch.rand(batch, 3, 96, 96)
        with torch.no_grad():
            want = (model(x) if output == "raw" else model.region_output(x)).numpy()
        got = _ort_run(path, x)
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-4


def test_openvino_ir_round_trip(yolov2, yolov2_exports, runtimes, darknet_reference):
    if "xml" not in yolov2_exports:
        pytest.skip("OpenVINO not installed")
    xml = yolov2_exports["xml"]
    assert xml.with_suffix(".bin").is_file()
    info = E.read_info(xml)  # the metadata travels in the IR's rt_info
    assert (info.classes, info.output, info.width) == (80, "raw", 416)
    runtime = runtimes["openvino:xml"]
    assert runtime.backend.precision == "fp32" and "hint f32" in runtime.describe()
    x = torch.from_numpy(darknet_reference.input)[None]
    with torch.no_grad():
        assert np.abs(runtime(x).numpy() - yolov2(x).numpy()).max() < 1e-4


def _detector(model, **kw):
    from yolo9000.inference.detector import Detector

    return Detector(
        model, thresh=0.25, hier_thresh=0.5, nms=0.45, mode="darknet", exact_letterbox=True, clip=False, **kw
    )


@pytest.mark.parametrize("backend", ["torch", "onnxruntime:raw", "onnxruntime:region", "openvino:xml"])
def test_darknets_15_detections_through_every_backend(backend, yolov2, runtimes, darknet_reference, parity_image):
    from test_decode_parity import check_run

    from yolo9000.data.image_io import read_image

    if backend == "torch":
        detector = _detector(yolov2)
    else:
        if backend not in runtimes:
            pytest.skip(f"{backend} not installed")
        detector = _detector(runtimes[backend])
        assert detector.backend == backend.partition(":")[0] and detector.precision == "fp32"
    (det,) = detector([read_image(parity_image)])
    run = next(r for r in darknet_reference.detections["runs"] if r["thresh"] == 0.25)
    assert len(det) == len(run["detections"]) == 15
    check_run(det, run, box_tol=1e-4)


# --- the tree softmax in the graph ------------------------------------------------------------------------


def _tree_head_cfg(classes: int) -> str:
    """A 64x64 detector (2x2 grid) whose region uses a tree (tree= is given when loading)."""
    return cfg_text(
        conv(8),
        maxpool(),
        conv(16),
        maxpool(),
        maxpool(),
        maxpool(),
        maxpool(),
        conv(3 * (5 + classes), size=1, bn=False, activation="linear"),
        ("region", {"anchors": "0.8,0.9, 1.5,1.2, 3,3", "classes": classes, "num": 3}),
    )


@pytest.fixture(scope="module")
def tree_9k():
    from wordtree.formats import load_tree

    d = skip_without_shared(REFERENCE / "darknet")
    return load_tree(d / "9k.tree", d / "9k.names")


def test_region_graph_tree_softmax_on_the_9k_tree(tree_9k, tmp_path):
    torch.manual_seed(0)
    model = DarknetModel.from_cfg_text(_tree_head_cfg(len(tree_9k)), tree=tree_9k).eval()
    path = E.export_onnx(model, tmp_path / "tree.onnx", output="region")
    onnx.checker.check_model(onnx.load(str(path)))
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        want = model.region_output(x).numpy()
    got = _ort_run(path, x)
    assert np.abs(got - want).max() < 1e-4
    info = E.read_info(path)
    assert info.tree_fingerprint == tree_9k.fingerprint
    assert info.region_config().tree.names == tree_9k.names


def test_padded_tree_softmax_equals_tree_softmax():
    from test_detect_cli import toy_tree

    from wordtree.softmax import TreeSoftmax

    ts = TreeSoftmax(toy_tree())
    logits = torch.randn(2, 3, len(ts.tree), 4, 5)
    want = ts.darknet_probs(logits.movedim(2, -1)).movedim(-1, 2)
    assert torch.allclose(E.PaddedTreeSoftmax(ts)(logits), want, atol=1e-6)


@pytest.fixture(scope="module")
def yolo9000_files(tree_9k, tmp_path_factory, parity_image):
    """yolo9000.cfg (../shared's, with 9k.tree) with seed-0 random Darknet weights, exported once at 416 to ONNX
    (raw; ONNX Runtime and OpenVINO both read it; the IR path is tested on yolov2), and the eager model's
    detections on the parity picture (the torch backend)."""
    import parity_inputs as P

    from yolo9000.data.image_io import read_image
    from yolo9000.inference.detector import Detector

    cfg = skip_without_shared(REFERENCE / "darknet" / "yolo9000.cfg")
    d = tmp_path_factory.mktemp("yolo9000")
    weights = P.write_darknet_weights(cfg.read_text(), d / "yolo9000_seed0.weights", seed=0)
    model = load_darknet(cfg, weights, tree=tree_9k)
    weights.unlink()
    image = read_image(parity_image)
    files = {"image": image, "torch": _tree_records(Detector(model, size=416), image)}
    files["onnx"] = E.export_onnx(model, d / "yolo9000.onnx", size=416)
    del model
    yield files
    for f in d.iterdir():
        f.unlink()


def _tree_records(detector, image) -> list[tuple]:
    (det,) = detector([image])
    return [(r["index"], r["label"], tuple(p["node"] for p in r["path"])) for r in det.to_records()], det


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_yolo9000_same_hierarchical_detections_as_torch(yolo9000_files, backend):
    from yolo9000.inference.backends import load_runtime_model
    from yolo9000.inference.detector import Detector

    if backend == "openvino" and not HAVE_OPENVINO:
        pytest.skip("OpenVINO not installed")
    want, ref = yolo9000_files["torch"]
    assert want, "seed-0 weights give detections on the parity picture"
    runtime = load_runtime_model(yolo9000_files["onnx"], backend)
    got, det = _tree_records(Detector(runtime), yolo9000_files["image"])
    assert got == want
    assert torch.allclose(det.scores, ref.scores, atol=1e-4)
    assert [det.label_text(i, show_path=True) for i in range(len(det))] == [
        ref.label_text(i, show_path=True) for i in range(len(ref))
    ]


# --- the command ------------------------------------------------------------------------------------------


def test_export_command_and_output_rule(tmp_path, capsys):
    from test_detect_cli import tiny_cfg

    from yolo9000.cli import main

    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(tiny_cfg(3))
    (tmp_path / "tiny.names").write_text("red\ngreen\nblue\n")
    out = tmp_path / "tiny.onnx"
    base = ["export", "--cfg", str(cfg), "--names", str(tmp_path / "tiny.names")]
    assert main(base + ["-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert E.read_info(out).names == ["red", "green", "blue"]
    assert main(base + ["-o", str(out)]) == 1  # exists: refused without --force
    assert "already exists" in capsys.readouterr().err
    assert main(base + ["-o", str(out), "--force"]) == 0  # ours: replaced with --force
    user = tmp_path / "mine.onnx"
    user.write_bytes(b"user data")
    assert main(base + ["-o", str(user), "--force"]) == 1  # never a file the tool did not write
    assert user.read_bytes() == b"user data"
    assert main(base + ["-o", str(tmp_path / "x.xml"), "--format", "onnx"]) == 1
    assert "writes a .onnx file" in capsys.readouterr().err
    if HAVE_OPENVINO:
        assert main(base + ["-o", str(tmp_path / "tiny.xml"), "--output", "region"]) == 0
        assert (tmp_path / "tiny.bin").is_file() and E.read_info(tmp_path / "tiny.xml").output == "region"


def test_export_command_takes_a_template_name(tmp_path, capsys):
    """--cfg names a template (sized for --tree) as well as a file; the graph names only its batch axis."""
    from test_detect_cli import toy_tree

    from wordtree.formats import save_json
    from yolo9000.cli import main

    tree_file = tmp_path / "toy.json"
    save_json(toy_tree(), tree_file)
    out = tmp_path / "t.onnx"
    assert main(["export", "--cfg", "tiny-yolo9000", "--tree", str(tree_file), "--size", "96", "-o", str(out)]) == 0
    assert "7 classes, tree" in capsys.readouterr().out
    info = E.read_info(out)
    assert info.classes == 7 and info.region_config().tree.fingerprint == toy_tree().fingerprint
    assert _graph_dims(out)["output"] == ["batch", 3 * (5 + 7), 3, 3]
