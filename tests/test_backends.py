"""`yolo9000 detect --backend/--model` on small generated models: the same detections and JSON lines on every
backend, the run's first line naming backend and precision, and one-line errors for bad files and options."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch
from test_detect_cli import read_jsonl, tiny_cfg, toy_tree

from yolo9000.cli import main
from yolo9000.inference import backends as B
from yolo9000.inference.export import export_onnx, read_info

pytest.importorskip("onnxruntime")
HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None
RUNTIMES = ["onnxruntime"] + (["openvino"] if HAVE_OPENVINO else [])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A flat (3 classes) and a tree (toy tree) tiny detector with confident heads: cfg + weights + names
    files, checkpoint, and both exported (raw .onnx; the tree one also as region .onnx)."""
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.darknet.weights import save_weights

    d = tmp_path_factory.mktemp("backends")
    torch.manual_seed(0)
    flat = DarknetModel.from_cfg_text(tiny_cfg(3))
    tree = toy_tree()
    treem = DarknetModel.from_cfg_text(tiny_cfg(len(tree)), tree=tree)
    with torch.no_grad():
        for m, cls in ((flat, [0.0, 0, 0]), (treem, [3.0, 0, 3.0, 0, 0, 2.0, 0])):
            head = m.conv_blocks()[-1].conv
            head.weight.normal_(0, 0.5)
            bias = torch.zeros(2, 5 + len(cls))
            bias[:, 4], bias[:, 5:] = 3.0, torch.tensor(cls)
            head.bias.copy_(bias.flatten())
    (d / "tiny.cfg").write_text(tiny_cfg(3))
    save_weights(flat, d / "tiny.weights")
    (d / "tiny.names").write_text("red\ngreen\nblue\n")
    save_checkpoint(d / "tree.pt", treem, names=list(tree.names))
    export_onnx(flat.eval(), d / "flat.onnx", names=["red", "green", "blue"])
    export_onnx(treem.eval(), d / "tree.onnx")
    export_onnx(treem.eval(), d / "tree_region.onnx", output="region")
    return d


def _detect(args: list[str], out, pics, capsys) -> tuple[list[dict], str]:
    assert main(["detect", "--quiet", "--no-images", "--out", str(out), *args, *map(str, pics)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    return read_jsonl(out / "detections.jsonl"), first


def _keys(rows: list[dict]) -> list[list[tuple]]:
    return [
        [(d["index"], d["label"], d["name"], tuple(p["node"] for p in d.get("path", []))) for d in r["detections"]]
        for r in rows
    ]


def _scores(rows: list[dict]) -> list[float]:
    return [d["score"] for r in rows for d in r["detections"]]


@pytest.mark.parametrize("backend", RUNTIMES)
def test_flat_model_same_json_lines_on_every_backend(models, random_pictures, tmp_path, capsys, backend):
    cfg = [
        "--cfg",
        str(models / "tiny.cfg"),
        "--weights",
        str(models / "tiny.weights"),
        "--names",
        str(models / "tiny.names"),
    ]
    base = ["--thresh", "0.05"]
    want, first = _detect(cfg + base, tmp_path / "torch", random_pictures, capsys)
    assert first == "yolo9000 detect: backend torch on cpu, fp32"
    assert sum(len(r["detections"]) for r in want) > 0
    in_memory, first = _detect(cfg + base + ["--backend", backend], tmp_path / "mem", random_pictures, capsys)
    assert first.startswith(f"yolo9000 detect: backend {backend}") and "fp32" in first
    from_file, _ = _detect(
        ["--model", str(models / "flat.onnx"), "--backend", backend, *base], tmp_path / "file", random_pictures, capsys
    )
    for got in (in_memory, from_file):
        assert _keys(got) == _keys(want)
        assert _scores(got) == pytest.approx(_scores(want), abs=1e-4)
        assert [{k: v for k, v in r.items() if k != "detections"} for r in got] == [
            {k: v for k, v in r.items() if k != "detections"} for r in want
        ]


@pytest.mark.parametrize("model", ["tree.onnx", "tree_region.onnx"])
@pytest.mark.parametrize("backend", RUNTIMES)
def test_tree_model_same_paths_on_every_backend(models, random_pictures, tmp_path, capsys, backend, model):
    want, _ = _detect(["--checkpoint", str(models / "tree.pt")], tmp_path / "torch", random_pictures, capsys)
    assert any(r["detections"] for r in want)
    got, first = _detect(
        ["--model", str(models / model), "--backend", backend], tmp_path / "rt", random_pictures, capsys
    )
    assert backend in first
    assert _keys(got) == _keys(want)
    assert _scores(got) == pytest.approx(_scores(want), abs=1e-4)
    assert all(r["tree_fingerprint"] == toy_tree().fingerprint for r in got)


def test_fast_is_the_best_library_backend(models, random_pictures, tmp_path, capsys):
    cfg = ["--cfg", str(models / "tiny.cfg"), "--weights", str(models / "tiny.weights"), "--thresh", "0.05"]
    want, _ = _detect(cfg, tmp_path / "fp32", random_pictures, capsys)
    got, first = _detect(cfg + ["--precision", "fast"], tmp_path / "fast", random_pictures, capsys)
    assert first.startswith(f"yolo9000 detect: backend {B.best_backend()}")
    assert _keys(got) == _keys(want)


@pytest.mark.skipif(not HAVE_OPENVINO, reason="OpenVINO not installed")
def test_openvino_precision_is_f32_unless_bf16_is_asked(models):
    fp32 = B.load_runtime_model(models / "flat.onnx", "openvino")
    assert fp32.backend.precision == "fp32" and "hint f32" in fp32.describe()
    try:
        bf16 = B.load_runtime_model(models / "flat.onnx", "openvino", precision="bf16")
    except RuntimeError as exc:  # a CPU without bf16 support
        pytest.skip(str(exc))
    assert bf16.backend.precision == "bf16" and "bf16" in bf16.describe()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack: the guard is Linux's")
def test_openvino_models_freed_out_of_order_leave_signal_handlers_working(models):
    """OpenVINO's CPU plugin swaps the thread's signal stack per compiled model; freed out of order they left an
    unmapped one, and the next signal a Python handler took (Ctrl-C, the DataLoader's SIGCHLD) was a SIGSEGV."""
    if not B.backend_available("openvino"):
        pytest.skip("needs openvino")
    model = str(models / "flat.onnx")
    script = f"""
import gc, os, signal
from yolo9000.inference import backends as B
a = B.load_runtime_model({model!r}, "openvino")
b = B.load_runtime_model({model!r}, "openvino")
del a; gc.collect()
del b; gc.collect()
got = []
signal.signal(signal.SIGUSR1, lambda *_: got.append(1))
os.kill(os.getpid(), signal.SIGUSR1)
print("handled", len(got))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "handled 1" in run.stdout, (run.returncode, run.stderr[-2000:])


def test_runtime_model_dynamic_batch_and_region_output(models):
    from yolo9000.darknet.checkpoint import load_model

    eager = load_model(models / "tree.pt", "cpu").eval()
    raw, region = (B.load_runtime_model(models / f, "onnxruntime") for f in ("tree.onnx", "tree_region.onnx"))
    for b in (1, 3):
        x = torch.rand(b, 3, 64, 64)
        with torch.no_grad():
            want = eager.region_output(x)
        assert torch.allclose(raw.region_output(x), want, atol=1e-5)
        assert torch.allclose(region.region_output(x), want, atol=1e-5)
    with pytest.raises(ValueError, match="exported for input"):
        raw(torch.rand(1, 3, 96, 96))


# --- bad input: one line naming the file or option ---------------------------------------------------------


def _error(args, tmp_path, capsys, pics) -> str:
    assert main(["detect", "--quiet", "--out", str(tmp_path / "o"), *args, *map(str, pics)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_models_and_options(models, random_pictures, tmp_path, capsys):
    plain = tmp_path / "plain.onnx"  # an ONNX model without our metadata
    with pytest.warns(DeprecationWarning):  # the legacy exporter, as yolo9000's own export uses
        torch.onnx.export(torch.nn.Conv2d(3, 4, 1), (torch.rand(1, 3, 8, 8),), str(plain), dynamo=False)
    assert "plain.onnx: no yolo9000 metadata" in _error(["--model", str(plain)], tmp_path, capsys, random_pictures)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    assert "garbage.onnx" in _error(["--model", str(garbage)], tmp_path, capsys, random_pictures)
    missing = tmp_path / "missing.onnx"
    assert "missing.onnx: no such file" in _error(["--model", str(missing)], tmp_path, capsys, random_pictures)
    assert "expected an exported .onnx" in _error(
        ["--model", str(models / "tiny.cfg")], tmp_path, capsys, random_pictures
    )
    onnx_file = str(models / "flat.onnx")
    assert "--backend torch runs checkpoints" in _error(
        ["--model", onnx_file, "--backend", "torch"], tmp_path, capsys, random_pictures
    )
    err = _error(["--model", onnx_file, "--cfg", str(models / "tiny.cfg")], tmp_path, capsys, random_pictures)
    assert "drop --cfg" in err
    err = _error(
        ["--model", onnx_file, "--precision", "bf16", "--backend", "onnxruntime"], tmp_path, capsys, random_pictures
    )
    assert "fp32 only" in err
    assert "exported for 64x64" in _error(["--model", onnx_file, "--size", "96"], tmp_path, capsys, random_pictures)
    err = _error(["--model", onnx_file, "--names", str(models / "tiny.cfg")], tmp_path, capsys, random_pictures)
    assert "names but" in err


def test_missing_runtime_package_is_one_line(models, random_pictures, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    err = _error(["--model", str(models / "flat.onnx"), "--backend", "openvino"], tmp_path, capsys, random_pictures)
    assert err.endswith("--backend openvino: the openvino package is not installed (pip install 'yolo9000[openvino]')")
    assert B.best_backend() == "onnxruntime"


def test_metadata_round_trip(models):
    info = read_info(models / "tree.onnx")
    props = info.to_props()
    assert all(isinstance(v, str) for v in props.values())
    assert json.loads(props["tree_fingerprint"]) == toy_tree().fingerprint
    again = type(info).from_props(props, "x.onnx")
    assert again == info
    bad = dict(props, tree_fingerprint=json.dumps("0" * 16))
    with pytest.raises(ValueError, match="fingerprint"):
        type(info).from_props(bad, "x.onnx").region_config()
    with pytest.raises(ValueError, match="x.onnx: malformed"):
        type(info).from_props(dict(props, region="{}"), "x.onnx")


@pytest.mark.parametrize("tree", [False, True])
def test_decoding_raw_logits_gives_the_full_activations_detections(tree):
    """`decode(head.view(raw), head=head)` (activating only what it reads) gives the detections of
    `decode(head.activate(raw))`, in both modes, for flat and tree heads, with and without the report's walk."""
    from yolo9000.detection.decode import decode
    from yolo9000.detection.head import RegionConfig, RegionHead

    wt = toy_tree() if tree else None
    classes = len(wt) if wt is not None else 4
    head = RegionHead(RegionConfig(anchors=[[1.0, 1.0], [2.0, 3.0]], num=2, classes=classes, softmax=True, tree=wt))
    gen = torch.Generator().manual_seed(0)
    raw = torch.randn(3, 2 * (5 + classes), 5, 6, generator=gen) * 2
    full = head.activate(raw)
    found = 0
    for mode in ("paper", "darknet"):
        for thresh in (0.05, 0.5, 0.9, 0.97):
            for hier in (0.0, 0.4, 0.8):
                kw = dict(thresh=thresh, hier_thresh=hier, mode=mode, tree_softmax=head.tree_softmax)
                kw["siblings"] = 2 if tree else 0
                want, got = decode(full, head.config, **kw), decode(head.view(raw), head.config, head=head, **kw)
                for w, g in zip(want, got):
                    assert torch.equal(w.labels, g.labels) and torch.equal(w.index, g.index)
                    for k in ("scores", "probs", "objectness", "boxes", "path_probs", "walk_probs"):
                        if getattr(w, k, None) is not None:
                            torch.testing.assert_close(getattr(g, k), getattr(w, k), atol=1e-6, rtol=1e-6)
                    if tree:
                        assert torch.equal(w.path, g.path) and torch.equal(w.walk, g.walk)
                    found += len(w)
    assert found > 0


def test_one_loader_for_checkpoints_cfgs_and_exported_models(models):
    """`load_detector_model` (detect's, eval's and export's loader) loads an exported model into its runtime."""
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.inference.detector import load_detector_model

    model, names = load_detector_model(model=models / "flat.onnx")
    assert (
        isinstance(model, B.RuntimeModel) and model.backend.name == "onnxruntime" and names == ["red", "green", "blue"]
    )
    renamed = models / "renamed.names"
    renamed.write_text("a\nb\nc\n")
    assert load_detector_model(model=models / "flat.onnx", names=renamed)[1] == ["a", "b", "c"]
    tree_model, tree_names = load_detector_model(model=models / "tree.onnx")
    assert tree_model.tree is not None and tree_names == list(toy_tree().names)
    assert isinstance(load_detector_model(checkpoint=models / "tree.pt")[0], DarknetModel)
    with pytest.raises(ValueError, match="drop --checkpoint, --tree"):
        load_detector_model(model=models / "tree.onnx", checkpoint=models / "tree.pt", tree="t.json")
