"""`Detector` and `load_detector_model`: the decode options travel as one `DecodeOptions`, single fields may be
changed by keyword, and a model without a `[region]` is one error naming it."""

from __future__ import annotations

import re

import pytest
import torch
from darknet_files import cfg_text, conv, maxpool
from test_detect_cli import tiny_cfg, toy_tree

from yolo9000.darknet.model import DarknetModel
from yolo9000.detection.decode import DecodeOptions, decode
from yolo9000.inference.detector import Detector, load_detector_model


@pytest.fixture(scope="module")
def flat() -> DarknetModel:
    torch.manual_seed(0)
    return DarknetModel.from_cfg_text(tiny_cfg(3), source="tiny.cfg").eval()


def test_options_and_keyword_changes(flat):
    base = DecodeOptions(thresh=0.3, mode="darknet")
    assert Detector(flat).options == DecodeOptions()
    assert Detector(flat, None, base).options is base
    assert Detector(flat, None, base, nms=0.5).options == DecodeOptions(thresh=0.3, mode="darknet", nms=0.5)
    assert Detector(flat, thresh=0.1, siblings=2).options == DecodeOptions(thresh=0.1, siblings=2)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"thresh": 1.0}, "option 'thresh': expected a number in [0, 1)"),
        ({"nms": 0}, "option 'nms': expected a number in (0, 1]"),
        ({"mode": "fast"}, "mode must be one of"),
        ({"tree_nms": True}, "--tree-nms needs a model with a tree [region]"),
    ],
)
def test_bad_options_are_one_error(flat, changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Detector(flat, **changes)


def test_the_options_reach_decode(flat):
    """The detector's detections are decode's with the same options (boxes in the image's pixels)."""
    image = torch.randint(0, 256, (3, 48, 80), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    options = DecodeOptions(thresh=0.05, nms=0.6, class_agnostic=True)
    det = Detector(flat, ["a", "b", "c"], options)
    (got,) = det([image])
    with torch.inference_mode():
        x = det.preprocess([image])
        (want,) = decode(flat.region_output(x), flat.region, options, net_size=(64, 64), image_sizes=[(80, 48)])
    assert len(got) == len(want) > 0
    assert torch.allclose(got.boxes, want.boxes, atol=1e-5) and torch.equal(got.labels, want.labels)
    assert list(got.names or []) == ["a", "b", "c"]


def test_tree_options_on_a_tree_model():
    tree = toy_tree()
    model = DarknetModel.from_cfg_text(tiny_cfg(len(tree)), tree=tree).eval()
    det = Detector(model, tree_nms=True)
    assert det.options.tree_nms and det.region.tree is tree
    assert det.tree_softmax is model.head.tree_softmax


def test_a_model_without_a_region_cannot_detect(tmp_path):
    classifier = tmp_path / "classifier.cfg"
    classifier.write_text(cfg_text(conv(8), maxpool(), conv(4, size=1, bn=False, activation="linear")))
    with pytest.raises(ValueError, match=r"classifier\.cfg: the model has no \[region\] layer, so it cannot detect"):
        load_detector_model(cfg=classifier)
    model = DarknetModel.from_cfg_text(classifier.read_text(), source="classifier.cfg")
    with pytest.raises(ValueError, match="no \\[region\\] layer"):
        Detector(model)


def test_load_detector_model_names(tmp_path):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(tiny_cfg(3))
    (tmp_path / "three.names").write_text("red\ngreen\nblue\n")
    model, names = load_detector_model(cfg=cfg, names=tmp_path / "three.names")
    assert isinstance(model, DarknetModel) and not model.training and names == ["red", "green", "blue"]
    assert load_detector_model(cfg=cfg)[1] is None
    with pytest.raises(ValueError, match="either --checkpoint or --cfg"):
        load_detector_model(checkpoint="x.pt", cfg=cfg)
