"""`yolo9000 train --task classify`: a tree (or flat) classifier trained on class folders, its checkpoints,
resume, validation and refusals; the classification augmentation and the sampler beneath it (CPU, tiny data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import tiny_data as td
import torch
import torch.nn.functional as F

from yolo9000.cli import main
from yolo9000.darknet.checkpoint import load_checkpoint, load_model
from yolo9000.darknet.model import DarknetModel
from yolo9000.darknet.templates import build_model
from yolo9000.data.classify_augment import (
    AugmentedFolders,
    ClassifyAugment,
    collate_classification,
    eval_transform,
    factor_range,
    train_transform,
)
from yolo9000.data.folders import ClassFolders
from yolo9000.detection.targets import Targets
from yolo9000.training.classify import (
    ClassifierLoss,
    ClassifyTrainer,
    ShuffledBatches,
    build_classifier,
    check_classifier,
)

#: a tiny Darknet classifier: two convs, a 1x1 conv to one value per class, global average, softmax
CLASSIFIER_CFG = """[net]
batch=8
subdivisions=1
width=32
height=32
channels=3
learning_rate=0.05
momentum=0.9
decay=0.0005
max_batches=30

[convolutional]
filters=8
size=3
stride=1
pad=1
batch_normalize=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=16
size=3
stride=1
pad=1
batch_normalize=1
activation=leaky

[convolutional]
filters={classes}
size=1
stride=1
pad=1
activation=linear

[avgpool]

[softmax]
groups=1
{tree_line}
"""


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: a tiny model trains fastest so, and its timing does not depend on the machine's load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("classify")
    tree = td.make_tree()
    tree.save(root / "tree.json")
    (root / "tree.cfg").write_text(CLASSIFIER_CFG.format(classes=len(tree), tree_line="tree=tree.json"))
    (root / "flat.cfg").write_text(CLASSIFIER_CFG.format(classes=3, tree_line=""))
    return {
        "train": td.make_folders(root / "train", per_class=8, size=(48, 48), seed=1),
        "val": td.make_folders(root / "val", per_class=3, size=(48, 48), seed=2),
        "tree": root / "tree.json",
        "cfg": root / "tree.cfg",
        "flat_cfg": root / "flat.cfg",
        "detector_cfg": td.make_cfg(tree, root / "detector.cfg", size=32),
    }


def _train(data: dict[str, Path], out: Path, *extra: str, tree: bool = True) -> list[str]:
    args = ["train", "--task", "classify", "--folders", str(data["train"]), "--out", str(out)]
    if tree:
        args += ["--tree", str(data["tree"]), "--cfg", str(data["cfg"])]
    else:
        args += ["--cfg", str(data["flat_cfg"])]
    return [*args, "--workers", "0", "--no-tensorboard", "--no-progress", *extra]


def _log(out: Path) -> list[dict[str, str]]:
    with open(out / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------------------------- training
def test_tree_classifier_learns_validates_and_scores_through_eval(data, tmp_path):
    out = tmp_path / "run"
    args = _train(data, out, "--steps", "30", "--val-folders", str(data["val"]), "--val-every", "10")
    assert main(args) == 0
    rows = _log(out)
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    validated = [r for r in rows if r["val/top1"]]
    assert [int(r["step"]) for r in validated] == [10, 20, 30]
    assert {"val/top5", "val/cls_hF"} <= set(rows[0])
    best = load_checkpoint(out / "best.pt")["best"]
    assert best["metric"] == "val/top1"
    assert best["value"] == max(float(r["val/top1"]) for r in validated)

    model = load_model(out / "last.pt")
    assert model.region is None and model.classifier_softmax is not None
    assert model.names == list(td.make_tree().names)
    evaluated = tmp_path / "e"
    assert (
        main(["eval", "--checkpoint", str(out / "last.pt"), "--folders", str(data["val"]), "--out", str(evaluated)])
        == 0
    )
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())["classification"]
    # the run's last validation is eval's pipeline on the same weights; three classes: chance is 1/3
    assert summary["top1_leaf"] == pytest.approx(float(validated[-1]["val/top1"]))
    assert summary["top1_leaf"] > 0.5


def test_resume_after_a_crash_gives_the_weights_of_an_uninterrupted_run(data, tmp_path, monkeypatch):
    common = ("--steps", "6", "--batch", "4", "--subdivisions", "2", "--burn-in", "2", "--save-every", "3")
    assert main(_train(data, tmp_path / "whole", *common)) == 0

    after_step = ClassifyTrainer._after_step

    def crash_after_step_3(self: ClassifyTrainer) -> None:
        after_step(self)
        if self.step == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(ClassifyTrainer, "_after_step", crash_after_step_3)
        assert main(_train(data, tmp_path / "cut", *common)) == 130
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["step"] == 3
    assert main(["train", "--out", str(tmp_path / "cut"), "--resume", "--workers", "0", "--no-progress"]) == 0

    whole = load_checkpoint(tmp_path / "whole" / "last.pt")
    cut = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert cut["step"] == whole["step"] == 6 and cut["config"]["task"] == "classify"
    for name, value in whole["model"].items():
        assert torch.equal(value, cut["model"][name]), name
    assert [r["loss"] for r in _log(tmp_path / "cut")] == [r["loss"] for r in _log(tmp_path / "whole")]


def test_loader_workers_do_not_change_the_run(data, tmp_path):
    common = ("--steps", "2", "--batch", "4")
    assert main(_train(data, tmp_path / "main", *common)) == 0
    assert main([*_train(data, tmp_path / "workers", *common), "--workers", "2"]) == 0
    main_run, workers = (load_checkpoint(tmp_path / d / "last.pt")["model"] for d in ("main", "workers"))
    assert all(torch.equal(v, workers[k]) for k, v in main_run.items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_trains_on_cuda_with_amp(data, tmp_path, amp):
    out = tmp_path / amp
    assert main(_train(data, out, "--steps", "3", "--device", "cuda", "--amp", amp)) == 0
    assert all(np.isfinite(float(r["loss"])) for r in _log(out))
    assert load_model(out / "last.pt").classifier_softmax is not None


def test_flat_classifier_names_its_classes_by_folder(data, tmp_path):
    out = tmp_path / "flat"
    args = _train(data, out, "--steps", "4", "--val-folders", str(data["val"]), "--val-every", "2", tree=False)
    assert main(args) == 0
    model = load_model(out / "last.pt")
    assert model.tree is None and model.names == sorted(p.name for p in data["train"].iterdir())
    assert "val/top1" in _log(out)[0] and (out / "best.pt").is_file()
    evaluated = tmp_path / "e"
    assert (
        main(["eval", "--checkpoint", str(out / "last.pt"), "--folders", str(data["val"]), "--out", str(evaluated)])
        == 0
    )
    assert "top1" in json.loads((tmp_path / "e" / "summary.json").read_text())["classification"]


def test_flat_puts_a_flat_head_on_the_folders_even_with_a_tree(data, tmp_path):
    out = tmp_path / "flat"
    assert main(_train(data, out, "--steps", "2", "--tree", str(data["tree"]), "--flat", tree=False)) == 0
    model = load_model(out / "last.pt")
    assert model.tree is None and model.names == sorted(p.name for p in data["train"].iterdir())


@pytest.mark.parametrize(
    ("extra", "tree", "words"),
    [
        (("--cfg", "DETECTOR"), True, ("[region]", "without --task classify")),
        (("--cfg", "TREE_CFG"), False, ("uses a tree", "--tree")),
        (("--flat",), True, ("uses a tree", "without --flat")),
        (("--coco", "x.json"), True, ("--coco applies to detection",)),
        (("--cfg", "no-such-model"), True, ("no-such-model", "darknet19")),
        (("--scale", "0.5", "2"), True, ("--scale", "share of the picture's area")),
    ],
)
def test_wrong_models_and_options_are_refused_in_one_line(data, tmp_path, capsys, extra, tree, words):
    names = {"DETECTOR": str(data["detector_cfg"]), "TREE_CFG": str(data["cfg"])}
    args = _train(data, tmp_path / "run", "--steps", "1", *(names.get(a, a) for a in extra), tree=tree)
    rc = main(args)
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1, err
    assert all(w in err for w in words), err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_darknet19_template_is_a_tree_classifier_and_a_detector_name_is_not():
    tree = td.make_tree()
    model = build_classifier("darknet19", tree, None)
    check_classifier(model, "darknet19", tree, len(tree))
    assert model.classifier_softmax is not None and model.tree is tree
    flat = build_classifier("darknet19", None, 3)
    check_classifier(flat, "darknet19", None, 3)
    with pytest.raises(ValueError, match="outputs 3x1x1"):
        check_classifier(flat, "darknet19", None, 4)
    with pytest.raises(FileNotFoundError, match="not a classifier name"):  # a detector's name
        build_classifier("tiny-yolo", None, 3)
    detector = build_model("tiny-yolo", None, 3, None)
    with pytest.raises(ValueError, match=r"\[region\]"):  # a detector's cfg
        check_classifier(detector, "tiny-yolo", None, 3)


# ----------------------------------------------------------------------------------------------- the loss
def test_loss_is_the_tree_softmax_loss_with_a_tree_and_cross_entropy_without(data):
    tree = td.make_tree()
    model = DarknetModel.from_cfg_text(data["cfg"].read_text(), tree=tree)
    raw = torch.randn(5, len(tree), 1, 1)
    labels = torch.tensor([3, 4, 5, 1, 2])  # leaves and internal nodes (animal, vehicle)
    targets = collate_classification([(torch.zeros(3, 4, 4), int(k)) for k in labels])[1]
    loss, parts = ClassifierLoss(model)(raw, targets, 0)
    ts = model.classifier_softmax
    assert ts is not None
    assert loss.item() == pytest.approx(ts.loss(raw.flatten(1), labels, reduction="sum").item(), rel=1e-6)
    # the paper's per-level softmax: -log P(dog) = -log P(animal | root) - log P(dog | animal)
    z = raw.flatten(1)[0]
    by_hand = -(F.log_softmax(z[1:3], 0)[0] + F.log_softmax(z[3:5], 0)[0])
    assert ts.loss(z[None], [3], reduction="sum").item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert parts["avg_cat"].item() == pytest.approx(torch.exp(-ts.loss(raw.flatten(1), labels, "none")).mean().item())

    flat = DarknetModel.from_cfg_text(data["flat_cfg"].read_text())
    raw = torch.randn(4, 3, 1, 1)
    targets = collate_classification([(torch.zeros(3, 4, 4), k) for k in (0, 2, 1, 2)])[1]
    loss, _ = ClassifierLoss(flat)(raw, targets, 0)
    assert loss.item() == pytest.approx(F.cross_entropy(raw.flatten(1), targets.label, reduction="sum").item())


# ----------------------------------------------------------------------------------------------- data
def test_augmentation_is_a_function_of_the_seed(data):
    folders = ClassFolders(data["train"], td.make_tree())
    aug = ClassifyAugment(size=32)
    ds = AugmentedFolders(folders, train_transform(aug))
    before = torch.get_rng_state()
    a, label = ds[(5, 123)]
    assert torch.equal(torch.get_rng_state(), before)  # the caller's generator is left alone
    assert a.shape == (3, 32, 32) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    assert label == int(folders.labels[5])
    assert torch.equal(ds[(5, 123)][0], a)
    assert not torch.equal(ds[(5, 124)][0], a)
    images, targets, hsv = collate_classification([ds[(0, 1)], ds[(9, 2)]])
    assert images.shape == (2, 3, 32, 32) and hsv.numel() == 0
    assert isinstance(targets, Targets) and targets.is_cls.all() and not targets.valid.any()
    assert targets.label.tolist() == [int(folders.labels[0]), int(folders.labels[9])]


def test_eval_transform_resizes_the_shorter_side_and_crops_the_centre():
    picture = torch.zeros(3, 60, 80, dtype=torch.uint8)
    picture[:, :, 10:70] = 200  # dark 10-pixel bands left and right, cut off by the centre crop
    out = eval_transform(28)(picture)
    assert out.shape == (3, 28, 28) and out.dtype == torch.float32
    # shorter side 60 -> 32 (28 / .875), the width 80 -> 43: the centre 28 columns are inside the bright part
    assert torch.allclose(out, torch.full_like(out, 200 / 255), atol=1e-3)


def test_jitter_ranges_and_bad_crop_scales():
    assert factor_range(None) == (0.8, 1.2)
    assert factor_range(1.5) == pytest.approx((1 / 1.5, 1.5))
    assert factor_range(0.75) == pytest.approx((0.75, 1 / 0.75))
    with pytest.raises(ValueError, match="crop scale"):
        ClassifyAugment(size=32, scale=(0.5, 1.5))


def test_batches_cover_each_epoch_and_resume_mid_stream():
    whole = list(ShuffledBatches(10, 4, seed=3, start=0, stop=10))
    pictures = [i for batch in whole for i, _ in batch]
    for epoch in range(4):
        assert sorted(pictures[epoch * 10 : epoch * 10 + 10]) == list(range(10))
    assert pictures[:10] != pictures[10:20]  # a new order every epoch
    assert list(ShuffledBatches(10, 4, seed=3, start=6, stop=10)) == whole[6:]
    ranks = [list(ShuffledBatches(10, 2, seed=3, start=0, stop=5, rank=r, world_size=2)) for r in (0, 1)]
    interleaved = [b for pair in zip(*ranks) for b in pair]
    assert [i for b in interleaved for i, _ in b] == pictures[:20]  # the run's stream, shared out
    assert len({s for b in whole for _, s in b}) == 40  # a seed per picture drawn
