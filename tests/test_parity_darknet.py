"""Parity with the original Darknet (CPU build) on yolov2.cfg at 416 with seeded random weights.

Reference outputs live in ../shared/reference/darknet_outputs (see its README); the 200 MB weights file is
generated once per session with ../shared/tools/make_darknet_weights.py (the `yolov2_seed0_weights`
fixture in conftest.py, shared with test_decode_parity.py). Everything skips cleanly when the
shared folder is absent.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from yolo9000.darknet.layers import reorg
from yolo9000.darknet.model import load_darknet
from yolo9000.detection.letterbox import letterbox
from yolo9000.inference.optimize import optimize_for_inference


@pytest.fixture(scope="session")
def yolov2_cpu(reference_dir, yolov2_seed0_weights):
    """yolov2 with Darknet's CPU batch norm, as the reference was computed."""
    return load_darknet(reference_dir / "darknet" / "yolov2.cfg", yolov2_seed0_weights, bn_mode="cpu")


@pytest.fixture(scope="session")
def ref_input(darknet_outputs):
    return torch.from_numpy(np.load(darknet_outputs / "input_letterbox_416.npy"))[None]


@pytest.fixture(scope="session")
def cpu_layers(yolov2_cpu, ref_input):
    with torch.no_grad():
        return yolov2_cpu.layer_outputs(ref_input)


def test_letterbox_matches_darknet_exactly(darknet_outputs):
    from PIL import Image

    ref = np.load(darknet_outputs / "input_letterbox_416.npy")
    ours = letterbox(Image.open(darknet_outputs / "test_image_640x480.png"), 416).numpy()
    assert ours.shape == ref.shape == (3, 416, 416)
    assert np.array_equal(ours, ref)


def test_per_layer_statistics(darknet_outputs, yolov2_cpu, cpu_layers):
    stats = json.loads((darknet_outputs / "yolov2_416_layers.json").read_text())["layers"]
    assert len(stats) == len(cpu_layers) == 32
    outs = list(cpu_layers[:-1]) + [yolov2_cpu.head.activate(cpu_layers[-1]).flatten(1, 2)]  # region: activated
    for s, out in zip(stats, outs):
        a = out[0].double()
        assert list(a.shape) == s["shape_chw"], s["index"]
        scale = max(abs(s["mean"]), s["std"])
        assert abs(a.mean().item() - s["mean"]) <= 1e-4 * scale + 1e-7, (s["index"], s["type"])
        assert a.std().item() == pytest.approx(s["std"], rel=1e-4), (s["index"], s["type"])
        assert a.max().item() == pytest.approx(s["max"], rel=1e-4, abs=1e-6)
        flat = a.flatten()
        assert torch.allclose(
            flat[s["sample_idx"]],
            torch.tensor(s["sample_val"], dtype=torch.float64),
            atol=1e-4 * max(1.0, abs(s["max"])),
        )


def test_reorg_layer_in_model(darknet_outputs, cpu_layers):
    ref_in = np.load(darknet_outputs / "yolov2_416_reorg_in_layer26.npy")
    ref_out = np.load(darknet_outputs / "yolov2_416_reorg_out_layer27.npy")
    ours_in = cpu_layers[26][0]
    assert np.abs(ours_in.numpy() - ref_in).max() < 1e-4
    assert torch.equal(cpu_layers[27][0], reorg(ours_in[None])[0])
    assert np.array_equal(reorg(torch.from_numpy(ref_in)[None])[0].numpy(), ref_out)
    # route 28 = [reorg, layer 24], reorg first
    assert torch.equal(cpu_layers[28], torch.cat([cpu_layers[27], cpu_layers[24]], 1))


def test_region_output_within_1e4(darknet_outputs, yolov2_cpu, cpu_layers):
    ref = np.load(darknet_outputs / "yolov2_416_region_output.npy")
    ours = yolov2_cpu.head.activate(cpu_layers[-1])[0]
    assert ours.shape == ref.shape == (5, 85, 13, 13)
    assert np.abs(ours.numpy() - ref).max() < 1e-4


def test_gpu_batchnorm_drift_is_small(darknet_outputs, yolov2_cpu, ref_input):
    ref = np.load(darknet_outputs / "yolov2_416_region_output.npy")
    model = copy.deepcopy(yolov2_cpu).set_bn_mode("gpu")  # sqrt(var + 1e-5), PyTorch's formula
    with torch.no_grad():
        out = model.region_output(ref_input)[0].numpy()
    drift = np.abs(out - ref).max()
    assert 1e-5 < drift < 5e-3  # differs from the CPU build, but only slightly


def _darknet_detections(darknet_outputs, thresh):
    runs = json.loads((darknet_outputs / "yolov2_416_detections.json").read_text())["runs"]
    run = next(r for r in runs if abs(r["thresh"] - thresh) < 1e-9)
    rows = sorted((d["index"], c, p, d["bbox_xywh"], d["objectness"]) for d in run["detections"] for c, p in d["probs"])
    return rows


def _our_detections(model, x=None, region=None):
    decode = pytest.importorskip("yolo9000.detection.decode").decode
    if region is None:
        with torch.no_grad():
            region = model.region_output(x)
    det = decode(
        region,
        model.region,
        thresh=0.25,
        hier_thresh=0.5,
        nms=0.45,
        mode="darknet",
        net_size=(416, 416),
        image_sizes=[(640, 480)],
        clip=False,
    )[0]
    order = sorted(range(len(det)), key=lambda i: (int(det.index[i]), int(det.labels[i])))
    return det, order


def _check_same_detections(darknet_outputs, model, x, prob_tol, region=None):
    ref = _darknet_detections(darknet_outputs, 0.25)
    det, order = _our_detections(model, x, region)
    assert [(int(det.index[i]), int(det.labels[i])) for i in order] == [(r[0], r[1]) for r in ref]
    for i, r in zip(order, ref):
        assert det.scores[i].item() == pytest.approx(r[2], abs=prob_tol)
        cx, cy, w, h = r[3]
        want = torch.tensor([(cx - w / 2) * 640, (cy - h / 2) * 480, (cx + w / 2) * 640, (cy + h / 2) * 480])
        assert torch.allclose(det.boxes[i].float(), want, rtol=1e-3, atol=0.05 + 400 * prob_tol)


def test_same_detections_at_025(darknet_outputs, yolov2_cpu, cpu_layers):
    region = yolov2_cpu.head.activate(cpu_layers[-1])
    _check_same_detections(darknet_outputs, yolov2_cpu, None, prob_tol=1e-5, region=region)


@pytest.mark.parametrize("winograd", [False, 2, 4, "auto"])
def test_fast_paths_keep_detections(darknet_outputs, yolov2_cpu, ref_input, winograd):
    fused = optimize_for_inference(yolov2_cpu, dtype=None, channels_last=True, winograd=winograd)
    ref = np.load(darknet_outputs / "yolov2_416_region_output.npy")
    with torch.no_grad():
        out = fused.region_output(ref_input)[0].numpy()
    assert np.abs(out - ref).max() < 1e-4  # folding keeps the CPU-BN formula; Winograd stays fp32-accurate
    _check_same_detections(darknet_outputs, fused, None, prob_tol=1e-4, region=torch.from_numpy(out)[None])
