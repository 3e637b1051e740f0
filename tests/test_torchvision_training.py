"""`torchvision:NAME` models through the commands: a detector trains on an emoji world (from torchvision's
ImageNet weights with --pretrained, read from a weights file the test writes in $TORCH_HOME, never downloaded)
and exports to ONNX; a classifier trains with --task classify and classifies pictures; --pretrained refuses a
model without a torchvision backbone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision

from tests.tiny_data import make_all
from yolo9000.cli import main
from yolo9000.emoji.render import DEFAULT_FONT, default_font_path

QUICK = ["--steps", "2", "--batch", "2", "--subdivisions", "1", "--size", "64", "--workers", "0"]
QUICK += ["--no-tensorboard", "--no-progress"]


def _no_network(url: str, *args: object, **kwargs: object) -> None:
    raise AssertionError(f"a test tried to download {url}")


@pytest.fixture()
def imagenet_resnet18(tmp_path, monkeypatch) -> dict[str, torch.Tensor]:
    """torchvision's resnet18 ImageNet weights file, stood in for by seeded random weights in its format."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    torch.manual_seed(3)
    state = torchvision.models.get_model("resnet18", weights=None).state_dict()
    url = torchvision.models.get_model_weights("resnet18").DEFAULT.url
    file = tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    file.parent.mkdir(parents=True)
    torch.save(state, file)
    return state


@pytest.mark.skipif(not default_font_path().is_file(), reason=f"emoji font not installed ({DEFAULT_FONT})")
def test_detector_trains_on_the_emoji_world_from_imagenet_weights_and_exports(tmp_path, imagenet_resnet18):
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.darknet.torchvision_backbone import TorchvisionBackbone
    from yolo9000.training.config import TrainConfig
    from yolo9000.training.trainer import Trainer

    world = tmp_path / "world"
    tiny = ["--detection", "6", "--classification-per-class", "1", "--test", "3", "--size", "96", "--quiet"]
    assert main(["emoji-world", str(world), *tiny, "--cls-size", "64"]) == 0
    run = tmp_path / "run"
    assert (
        main(
            ["train", "--world", str(world), "--cfg", "torchvision:resnet18", "--pretrained", *QUICK, "--out", str(run)]
        )
        == 0
    )
    model = load_model(run / "last.pt")
    assert isinstance(model.layers[0], TorchvisionBackbone) and model.tree is not None
    # the run started from the weights file: a new trainer of the same config holds them before any step
    cfg = TrainConfig(
        cfg="torchvision:resnet18",
        pretrained=True,
        coco=str(world / "detection" / "annotations.json"),
        tree=str(world / "wordtree.json"),
        out=str(tmp_path / "fresh"),
        size=64,
    )
    fresh = Trainer(cfg).model
    keys = fresh.layers[0].torchvision_keys()
    got = fresh.layers[0].body.state_dict()
    for ours, theirs in list(keys.items())[:5]:
        assert torch.equal(got[ours].cpu(), imagenet_resnet18[theirs]), theirs
    onnx = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", str(run / "last.pt"), "--size", "64", "-o", str(onnx)]) == 0
    assert onnx.is_file() and onnx.stat().st_size > 1_000_000


def test_classifier_trains_with_imagenet_weights_and_classifies(tmp_path, imagenet_resnet18):
    data = make_all(tmp_path / "data")
    run = tmp_path / "cls"
    args = ["train", "--task", "classify", "--folders", str(data["folders"]), "--tree", str(data["tree"])]
    assert main([*args, "--cfg", "torchvision:resnet18", "--pretrained", *QUICK, "--out", str(run)]) == 0
    out = tmp_path / "classified"
    assert main(["classify", "--checkpoint", str(run / "last.pt"), str(data["folders"]), "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 9 and all(r["walk"] and r["stopped"] for r in records)


def test_pretrained_needs_a_torchvision_backbone(tmp_path, capsys):
    data = make_all(tmp_path / "data")
    args = ["train", "--coco", str(data["coco"]), "--tree", str(data["tree"]), "--cfg", str(data["cfg"])]
    assert main([*args, "--pretrained", *QUICK, "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no [torchvision] layer" in err
    assert not Path(tmp_path / "run" / "last.pt").exists()
