"""`torchvision:NAME` models: the `[torchvision]` cfg section (slices of a backbone's feature sequence, ImageNet
normalisation in the first), the detector (YOLOv2's region head, passthrough from stride 16) and classifier
templates, checkpoints, ONNX export, `load_pretrained` from a weights file in torchvision's format in
$TORCH_HOME (never a download), and the refusal of Darknet .weights.

Small backbones at small sizes (resnet18, mobilenet_v3_small at 64-96 px), all with `weights=None`.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import tiny_data as td
import torch
import torchvision

from yolo9000.darknet import templates
from yolo9000.darknet import torchvision_backbone as tv
from yolo9000.darknet.cfg import parse_cfg
from yolo9000.darknet.model import DarknetModel, load_darknet
from yolo9000.darknet.weights import load_weights, save_weights

MEAN = torch.tensor(tv.IMAGENET_MEAN).reshape(1, 3, 1, 1)
STD = torch.tensor(tv.IMAGENET_STD).reshape(1, 3, 1, 1)


def _model(name: str, size: int, **kw) -> DarknetModel:
    text = templates.torchvision_cfg(name, size=size, **kw)
    tree = kw.get("tree")
    return DarknetModel.from_cfg_text(text, tree=tree, source=f"{tv.PREFIX}{name}.cfg").eval()


def _resnet_trunk(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torchvision's resnet up to layer4, on an ImageNet-normalised input."""
    x = (x - MEAN) / STD
    for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
        x = getattr(net, name)(x)
    return x


@pytest.fixture(scope="module")
def resnet18_detector() -> DarknetModel:
    """resnet18 under YOLOv2's head at 96 px, 20 flat classes."""
    return _model("resnet18", 96, classes=20)


@pytest.fixture(scope="module")
def mobilenet_tree_detector() -> DarknetModel:
    """mobilenet_v3_small under YOLOv2's head at 64 px, with the test tree's head."""
    return _model("mobilenet_v3_small", 64, tree=td.make_tree(), tree_file="toy.tree")


# ------------------------------------------------------------------------------------------- the section
def test_detector_cfg_parses_builds_and_splits_at_stride_16_and_32(resnet18_detector):
    model = resnet18_detector
    text = model.cfg_text
    kinds = [s.name for s in parse_cfg(text)[1:]]
    assert kinds == ["torchvision", "torchvision", "convolutional", "route", "convolutional", "reorg", "route"] + [
        "convolutional",
        "convolutional",
        "region",
    ]
    split = tv.detector_split("resnet18")
    assert split == (7, 8, 256, 512)  # up to layer3 (stride 16), then layer4 (stride 32)
    assert "model=resnet18\nfrom=0\nto=7" in text and "model=resnet18\nfrom=7\nto=8" in text
    assert model.shapes[0] == (256, 96 // 16, 96 // 16) and model.shapes[1] == (512, 96 // 32, 96 // 32)
    assert model.shapes[5] == (256, 3, 3)  # the passthrough: 64 filters reorganised to stride 32
    assert model.shapes[6] == (256 + 512, 3, 3)
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        outs = model.layer_outputs(x)
        y = model(x)
    assert tuple(outs[0].shape) == (2, 256, 6, 6) and tuple(outs[1].shape) == (2, 512, 3, 3)
    assert tuple(y.shape) == (2, 5 * (5 + 20), 3, 3)
    assert model.region is not None and model.region.classes == 20 and model.region.num == 5
    # the same forward at another size (multi-scale training): a 128 px input gives a 4x4 grid
    with torch.no_grad():
        assert tuple(model(torch.rand(1, 3, 128, 128)).shape) == (1, 125, 4, 4)


def test_slices_are_torchvisions_modules_on_normalised_input(resnet18_detector):
    """Layers 0 and 1 hold resnet18's modules under torchvision's names; with its weights they compute its
    trunk, normalisation included (only the first slice normalises)."""
    model = resnet18_detector
    first, second = model.layers[0], model.layers[1]
    assert isinstance(first, tv.TorchvisionBackbone) and isinstance(second, tv.TorchvisionBackbone)
    assert first.prefixes == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3"]
    assert second.prefixes == ["layer4"] and second.mean is None and first.mean is not None
    assert not any(k.endswith((".mean", ".std")) for k in model.state_dict())  # constants, not weights
    net = torchvision.models.get_model("resnet18", weights=None).eval()
    state = net.state_dict()
    for layer in (first, second):
        layer.body.load_state_dict({ours: state[theirs] for ours, theirs in layer.torchvision_keys().items()})
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(model.layer_outputs(x)[1], _resnet_trunk(net, x), atol=1e-5)


def test_mobilenet_split_follows_the_measured_strides(mobilenet_tree_detector):
    split = tv.detector_split("mobilenet_v3_small")
    net = torchvision.models.get_model("mobilenet_v3_small", weights=None).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        at16 = net.features[: split.split](x)
        at32 = net.features(x)
        before = net.features[: split.split - 1](x)
    assert at16.shape[2:] == (4, 4) and at32.shape[2:] == (2, 2) and split.end == len(net.features)
    assert before.shape[2] == 4 and net.features[: split.split + 1](x).shape[2] == 2  # the last stride-16 module
    assert (split.channels16, split.channels32) == (at16.shape[1], at32.shape[1])
    model = mobilenet_tree_detector
    assert model.shapes[0][1:] == (4, 4) and model.shapes[1][1:] == (2, 2)
    with torch.no_grad():
        assert tuple(model(x).shape) == (1, 5 * (5 + 7), 2, 2)


def test_tree_head_detector(mobilenet_tree_detector):
    model = mobilenet_tree_detector
    tree = model.tree
    assert tree is not None and tree.names == td.make_tree().names
    assert "tree=toy.tree" in model.cfg_text and f"classes={len(tree)}" in model.cfg_text
    assert model.region is not None and model.region.tree is tree
    assert model.head is not None and model.head.tree_softmax is not None
    with torch.no_grad():
        out = model.region_output(torch.rand(2, 3, 64, 64))
    assert tuple(out.shape) == (2, 5, 5 + len(tree), 2, 2)


@pytest.mark.parametrize("flat", [True, False])
def test_classifier_flat_and_tree(flat):
    tree = None if flat else td.make_tree()
    n = 5 if flat else len(tree)
    text = templates.torchvision_cfg("mobilenet_v3_small", task="classify", size=64, classes=5, tree=tree)
    assert "[avgpool]" in text and "[cost]" in text and "[region]" not in text
    assert ("tree=wordtree.tree" in text) is not flat
    model = DarknetModel.from_cfg_text(text, tree=tree).eval()
    assert model.region is None and (model.classifier_softmax is None) is flat
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        logits = model(x).flatten(1)
        probs = model.classify(x)
    assert tuple(logits.shape) == (3, n) and tuple(probs.shape) == (3, n)
    if flat:
        assert torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)
    else:
        assert model.classifier_softmax is not None
        assert torch.allclose(probs, model.classifier_softmax.darknet_probs(logits))
    assert model.shapes[-1] == (n, 1, 1)


# ------------------------------------------------------------------------------------------- names
def test_torchvision_names_resolve_wherever_template_names_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file of that name here
    name = "torchvision:mobilenet_v3_small"
    assert templates.template_key(name) == name and templates.is_template_name(name)
    assert templates.template_key("torchvision:") is None
    assert f"{tv.PREFIX}NAME" in templates.template_names()
    detector = templates.build_model(name, None, 3)
    assert detector.region is not None and detector.source == f"{name}.cfg" and detector.net["width"] == 416
    classifier = templates.build_model(name, td.make_tree(), None, task="classify")
    assert classifier.region is None and classifier.classifier_softmax is not None and classifier.net["width"] == 224
    sized = templates.template_cfg(name, classes=4, size=64, anchors=[1, 2, 3, 4], what="--template")
    assert "width=64" in sized and "num=2" in sized and "filters=18" in sized
    assert load_darknet(name).region is not None  # 80 classes, as yolov2
    with pytest.raises(FileNotFoundError, match="not a classifier name"):
        templates.build_model("yolov2", None, 3, task="classify")
    with pytest.raises(ValueError, match="--template yolov2: not a classifier name"):
        templates.template_cfg("yolov2", task="classify", what="--template")
    with pytest.raises(ValueError, match="a classifier has no anchors"):
        templates.template_cfg(name, classes=3, anchors=[1, 1], task="classify")


def test_bad_names_and_slices_are_one_line():
    with pytest.raises(ValueError, match="torchvision has no classification model 'resnet19'") as info:
        templates.template_cfg("torchvision:resnet19", classes=3)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="VisionTransformer has no feature sequence.*supported: .*ResNet"):
        templates.template_cfg("torchvision:vit_b_16", classes=3)
    with pytest.raises(ValueError, match="needs features at stride 16 then 32"):
        tv.detector_split("squeezenet1_1")  # its features end at stride 16
    base = "[net]\nwidth=64\nheight=64\nchannels=3\n\n[torchvision]\nmodel=resnet18\n"
    with pytest.raises(ValueError, match=r"<cfg>:6 \[torchvision\]: from=3 to=9 is no slice of resnet18's 8"):
        DarknetModel.from_cfg_text(base + "from=3\nto=9\n")
    with pytest.raises(ValueError, match="modules 7..7 of resnet18 do not take a 3x64x64 input"):
        DarknetModel.from_cfg_text(base + "from=7\n")  # layer4 wants layer3's 256 channels
    with pytest.raises(ValueError, match="needs model=NAME"):
        DarknetModel.from_cfg_text("[net]\nwidth=64\nheight=64\n[torchvision]\nfrom=0\n")


def test_shape_probe_leaves_the_global_rng_alone():
    tv.detector_split.cache_clear()
    torch.manual_seed(3)
    want = torch.rand(4)
    torch.manual_seed(3)
    tv.detector_split("regnet_x_400mf")  # RegNet cannot be built on the meta device: built for real
    assert torch.equal(torch.rand(4), want)


# ------------------------------------------------------------------------------------------- files
def test_checkpoint_round_trip(tmp_path, mobilenet_tree_detector):
    from yolo9000.darknet.checkpoint import load_model, save_checkpoint

    model = mobilenet_tree_detector  # its random initial weights: a rebuild that loaded nothing would differ
    save_checkpoint(tmp_path / "m.pt", model)
    back = load_model(tmp_path / "m.pt")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))
    assert back.cfg_text == model.cfg_text and back.tree is not None


def test_onnx_export_matches_torch(tmp_path, resnet18_detector):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from yolo9000.inference.export import INPUT_NAME, export_onnx

    model = resnet18_detector
    path = export_onnx(model, tmp_path / "m.onnx")
    x = torch.rand(3, 3, 96, 96)
    with torch.no_grad():
        want = model(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x.numpy()})[0]
    assert got.shape == want.shape == (3, 5 * (5 + 20), 3, 3)
    assert abs(got - want).max() < 1e-4


def test_darknet_weights_refuse_a_torchvision_layer(tmp_path, resnet18_detector):
    path = tmp_path / "m.weights"
    with pytest.raises(ValueError, match=r"layer 0 \[torchvision\] model=resnet18 .*no place in a Darknet") as info:
        save_weights(resnet18_detector, path)
    assert "\n" not in str(info.value) and not path.exists()
    path.write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match=r"layer 0 \[torchvision\] model=resnet18"):
        load_weights(resnet18_detector, path)


# ------------------------------------------------------------------------------------------- pretrained
def _weights_path(torch_home: Path, name: str) -> Path:
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return torch_home / "hub" / "checkpoints" / Path(url).name


def test_load_pretrained_reads_torchvisions_weights_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    torch.manual_seed(1)
    source = torchvision.models.get_model("resnet18", weights=None).eval()
    state = source.state_dict()
    file = _weights_path(tmp_path, "resnet18")
    file.parent.mkdir(parents=True)
    torch.save(state, file)

    model = _model("resnet18", 64, classes=2)
    assert tv.load_pretrained(model) == sum(not k.startswith("fc.") for k in state)
    for layer in model.layers[:2]:
        assert isinstance(layer, tv.TorchvisionBackbone)
        got = layer.body.state_dict()
        for ours, theirs in layer.torchvision_keys().items():
            assert torch.equal(got[ours], state[theirs]), ours
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.layer_outputs(x)[1], _resnet_trunk(source, x), atol=1e-5)
    plain = templates.tiny_yolo(classes=2, size=64, width=0.25)
    assert tv.load_pretrained(plain) == 0  # no torchvision layer: nothing to load, nothing read


def _no_network(url: str, *args: object, **kwargs: object) -> None:
    raise urllib.error.URLError("no network")


def test_load_pretrained_without_network_or_file_is_one_line(tmp_path, monkeypatch, resnet18_detector):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    with pytest.raises(ValueError, match="torchvision:resnet18: --pretrained needs torchvision's ImageNet") as info:
        tv.load_pretrained(resnet18_detector)
    assert "\n" not in str(info.value) and str(_weights_path(tmp_path, "resnet18")) in str(info.value)
