"""`DetectionModel`: our torch model and an exported runtime model both satisfy it; `region_parts` is the one
"cannot detect" check."""

from __future__ import annotations

import pytest
import torch

from yolo9000.darknet import templates
from yolo9000.detection.detection_model import DetectionModel, region_parts
from yolo9000.detection.head import RegionConfig, RegionHead


def _tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return templates.tiny_yolo(classes=3, size=64, width=0.125).eval()


def test_darknet_model_is_a_detection_model():
    model = _tiny()
    assert isinstance(model, DetectionModel)
    region, head = region_parts(model)
    assert isinstance(region, RegionConfig) and isinstance(head, RegionHead)
    x = torch.rand(1, 3, 64, 64)
    assert model(x).shape == (1, region.filters, 2, 2)
    assert model.region_output(x).shape == (1, region.num, region.entries, 2, 2)


def test_a_classifier_cannot_detect():
    model = templates.darknet19(classes=5, size=64)
    assert model.region is None
    with pytest.raises(ValueError, match="no \\[region\\] layer, so it cannot detect"):
        region_parts(model)


def test_runtime_model_is_a_detection_model(tmp_path):
    pytest.importorskip("onnxruntime")
    from yolo9000.inference.backends import load_runtime_model
    from yolo9000.inference.export import export_onnx

    model = _tiny()
    path = export_onnx(model, tmp_path / "tiny.onnx")
    runtime = load_runtime_model(path, "onnxruntime")
    assert isinstance(runtime, DetectionModel)
    region, _ = region_parts(runtime)
    assert region.classes == 3 and runtime.tree is None
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(runtime.region_output(x), model.region_output(x), atol=1e-4, rtol=1e-4)
