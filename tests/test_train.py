"""Training: a few steps on tiny generated COCO + class-folder data reduce the loss (through the real CLI),
schedule, config merging, backbone loading, and the clean stop on a non-finite loss."""

from __future__ import annotations

import argparse
import csv

import pytest
import tiny_data as td
import torch
import yaml

from yolo9000.cli import main
from yolo9000.training.config import TrainConfig
from yolo9000.training.schedule import DarknetSchedule

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return td.make_all(tmp_path_factory.mktemp("train_data"))


_args = td.train_args


def _fixed_batch_loss(model, data):
    from yolo9000.data import AugmentConfig, ClassFolders, CocoDetection, JointDataset, SampleKey, collate
    from yolo9000.detection.loss import RegionLoss

    tree = model.tree
    ds = JointDataset(
        CocoDetection(data["coco"], None, tree), ClassFolders(data["folders"], tree), AugmentConfig.none()
    )
    keys = [SampleKey(0, i, 64, 0) for i in range(6)] + [SampleKey(1, i, 64, 0) for i in range(0, 9, 3)]
    images, targets = collate([ds[k] for k in keys])
    loss_fn = RegionLoss(model.region, model.head.tree_softmax, apply_map=False)
    model.train()  # batch statistics: a few steps leave BN's running averages far from converged
    with torch.no_grad():
        loss, _ = loss_fn(model(images), targets, seen=10**6)
    return float(loss)


def test_cli_training_reduces_the_loss(data, tmp_path):
    from yolo9000.darknet.checkpoint import load_checkpoint, load_model
    from yolo9000.darknet.model import DarknetModel

    out = tmp_path / "run"
    rc = main(
        _args(
            data,
            out,
            "--steps",
            "14",
            "--batch",
            "8",
            "--subdivisions",
            "2",
            "--lr",
            "0.01",
            "--burn-in",
            "3",
            "--multiscale",
            "--sizes",
            "64",
            "96",
            "--scale-every",
            "2",
            "--cls-fraction",
            "0.25",
            "--save-every",
            "5",
        )
    )
    assert rc == 0
    for name in ("last.pt", "config.yaml", "log.csv", "summary.json"):
        assert (out / name).is_file(), name
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["steps"] == 14 and saved["cls_fraction"] == 0.25
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 15))
    assert {int(r["size"]) for r in rows} <= {64, 96}
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] == pytest.approx(0.01 * (1 / 3) ** 4) and lrs[-1] == pytest.approx(0.01)

    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["step"] == 14 and ckpt["seen"] == 14 * 8 and ckpt["cfg_text"] and ckpt["tree"]
    assert {"optimizer", "scheduler", "rng", "sampler"} <= set(ckpt)
    trained = load_model(out / "last.pt")
    torch.manual_seed(0)
    fresh = DarknetModel.from_cfg_text(data["cfg"].read_text(), tree=trained.tree)
    before, after = _fixed_batch_loss(fresh, data), _fixed_batch_loss(trained, data)
    assert after < 0.6 * before, (before, after)

    # an existing run is never overwritten silently
    assert main(_args(data, out, "--steps", "1")) == 1


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    from yolo9000.darknet.checkpoint import load_checkpoint
    from yolo9000.detection.loss import RegionLoss
    from yolo9000.training.trainer import TrainingDiverged, train

    calls = {"n": 0}
    orig = RegionLoss.forward

    def flaky(self, raw, targets, seen):
        calls["n"] += 1
        loss, parts = orig(self, raw, targets, seen)
        return (loss * float("nan") if calls["n"] >= 3 else loss), parts

    monkeypatch.setattr(RegionLoss, "forward", flaky)
    cfg = TrainConfig(
        coco=str(data["coco"]),
        folders=str(data["folders"]),
        tree=str(data["tree"]),
        cfg=str(data["cfg"]),
        out=str(tmp_path / "nan"),
        steps=5,
        batch=2,
        subdivisions=1,
        size=64,
        multiscale=False,
        workers=0,
        tensorboard=False,
        progress=False,
        save_every=1,
    )
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 3; .*last good checkpoint is .*last\.pt"):
        train(cfg)
    assert load_checkpoint(tmp_path / "nan" / "last.pt")["step"] == 2


def test_yaml_config_with_command_line_overrides(tmp_path):
    from yolo9000.cli import build_parser
    from yolo9000.commands.train import config_from_args

    path = tmp_path / "c.yaml"
    path.write_text("steps: 7\nlr: 0.002\ncls-fraction: 0.5\n")
    args = build_parser().parse_args(["train", "--config", str(path), "--lr", "0.01"])
    cfg, resume = config_from_args(args)
    assert (cfg.steps, cfg.lr, cfg.cls_fraction, resume) == (7, 0.01, 0.5, None)
    path.write_text("stepz: 7\n")
    with pytest.raises(ValueError, match=r"c\.yaml: unknown option 'stepz'"):
        TrainConfig.from_yaml(path)
    path.write_text("steps: [1,\n")
    with pytest.raises(ValueError, match=r"c\.yaml: not valid YAML"):
        TrainConfig.from_yaml(path)


def _train_parser():
    from yolo9000.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_every_train_option_has_help_and_booleans_are_flags(capsys):
    from yolo9000.commands.train import FlagAction

    parser = _train_parser()
    assert [a.option_strings for a in parser._actions if not a.help] == []
    flags = {a.dest for a in parser._actions if isinstance(a, FlagAction)}
    assert flags == {"pretrained", "flat", "multiscale", "flip", "channels_last", "compile", "tensorboard", "progress"}
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "[--progress | --no-progress]" in text and "--progress, --no-progress" in text
    assert "[PROGRESS]" not in text and "true/false" not in text


def test_flags_parse_and_the_old_true_false_form_still_works_with_a_warning(data, tmp_path, capsys, caplog):
    from yolo9000.cli import build_parser
    from yolo9000.commands.train import config_from_args

    parse = build_parser().parse_args
    cfg, _ = config_from_args(parse(["train", "--no-progress", "--multiscale", "--no-tensorboard", "--no-flip"]))
    assert (cfg.progress, cfg.multiscale, cfg.tensorboard, cfg.flip) == (False, True, False, False)
    cfg, _ = config_from_args(parse(["train", "--progress", "false", "--compile", "yes"]))
    assert (cfg.progress, cfg.compile) == (False, True)
    assert capsys.readouterr().err == ""
    # the old form is a logged warning when the command runs (here: before its one-line error)
    old_form = ("--tensorboard", "false", "--progress", "false", "--multiscale", "no")
    assert main(_args(data, tmp_path / "x", *old_form, "--batch", "3", "--subdivisions", "2")) == 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "--tensorboard false is deprecated; use --no-tensorboard",
        "--progress false is deprecated; use --no-progress",
        "--multiscale no is deprecated; use --no-multiscale",
    ]
    # unset flags leave the YAML's values alone, and the YAML keys stay booleans
    path = tmp_path / "c.yaml"
    path.write_text("progress: false\ntensorboard: true\n")
    cfg, _ = config_from_args(parse(["train", "--config", str(path)]))
    assert (cfg.progress, cfg.tensorboard) == (False, True)
    cfg, _ = config_from_args(parse(["train", "--config", str(path), "--progress"]))
    assert cfg.progress is True
    for bad in (["--progress", "maybe"], ["--no-progress=false"]):
        with pytest.raises(SystemExit):
            parse(["train", *bad])
    assert "yolo9000 train: error:" in capsys.readouterr().err


def test_flat_is_refused_for_a_detector(data, tmp_path, capsys):
    assert main(_args(data, tmp_path / "run", "--steps", "1", "--flat")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--flat applies to --task classify" in err, err


def test_counts_in_the_summary_line(data, tmp_path, capsys):
    assert main(_args(data, tmp_path / "one", "--steps", "1", "--batch", "1", "--cls-fraction", "0")) == 0
    assert "trained 1 step, 1 image, final loss" in capsys.readouterr().out


def test_progress_in_a_log_is_a_line_per_tenth_of_the_steps(data, tmp_path, capsys):
    """Not a terminal (a log file, CI): the training progress is plain lines, no bar, no carriage returns."""
    assert main(_args(data, tmp_path / "run", "--steps", "10", "--batch", "2", "--progress")) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("train: ")]
    assert len(lines) == 10 and "\r" not in err, err
    assert lines[0].startswith("train:  10% 1/10 steps, ") and "loss=" in lines[0]


def test_darknet_schedule():
    s = DarknetSchedule(burn_in=4, power=4, steps=[10, 20], scales=[0.1, 0.5])
    assert [s(k) for k in range(3)] == pytest.approx([(1 / 4) ** 4, (2 / 4) ** 4, (3 / 4) ** 4])
    assert s(3) == 1.0 and s(8) == 1.0
    assert s(9) == pytest.approx(0.1) and s(19) == pytest.approx(0.05)
    c = DarknetSchedule(policy="cosine", burn_in=0, max_batches=100, min_factor=0.1)
    assert c(-1) == pytest.approx(1.0) and c(49) == pytest.approx(0.55) and c(99) == pytest.approx(0.1)
    # Darknet's poly (darknet19.cfg's): lr * (1 - batch_num / max_batches) ** power after burn-in, 0 past the end
    p = DarknetSchedule(policy="poly", burn_in=2, power=4, max_batches=10)
    assert p(0) == pytest.approx(0.5**4) and p(1) == pytest.approx(0.8**4) and p(4) == pytest.approx(0.5**4)
    assert p(9) == 0.0 and p(20) == 0.0
    with pytest.raises(ValueError, match="unknown lr policy 'exp'"):
        DarknetSchedule(policy="exp")


def test_darknet19_runs_its_poly_policy(caplog):
    from yolo9000.darknet.cfg import net_options, parse_cfg
    from yolo9000.darknet.templates import darknet19_cfg
    from yolo9000.detection.head import RegionConfig

    net = net_options(parse_cfg(darknet19_cfg(classes=10))[0])
    settings = TrainConfig(steps=100).resolved(net, RegionConfig())
    assert (settings.policy, settings.power) == ("poly", 4.0) and "not supported" not in caplog.text


def test_backbone_from_darknet_weights(data, tmp_path):
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.darknet.weights import load_weights, save_weights
    from yolo9000.training.trainer import param_groups

    tree = td.make_tree()
    torch.manual_seed(1)
    src = DarknetModel.from_cfg_text(data["cfg"].read_text(), tree=tree)
    src.seen = 77
    save_weights(src, tmp_path / "src.weights")
    torch.manual_seed(2)
    dst = DarknetModel.from_cfg_text(data["cfg"].read_text(), tree=tree)
    assert load_weights(dst, tmp_path / "src.weights", layers=3) == 77
    assert dst.seen == 0  # a trunk starts a new model: the file's `seen` is not taken
    blocks_s, blocks_d = src.conv_blocks(), dst.conv_blocks()
    for k in range(3):
        assert torch.equal(blocks_s[k].conv.weight, blocks_d[k].conv.weight)
    assert not torch.equal(blocks_s[3].conv.weight, blocks_d[3].conv.weight)
    with pytest.raises(ValueError, match="asked for 99 conv layers"):
        load_weights(dst, tmp_path / "src.weights", layers=99)
    decay, rest = param_groups(dst, 5e-4)
    assert decay["weight_decay"] == 5e-4 and rest["weight_decay"] == 0.0
    assert all(p.dim() == 4 for p in decay["params"]) and all(p.dim() == 1 for p in rest["params"])


def test_named_models_with_anchors():
    from yolo9000.darknet.templates import anchor_pairs, build_model

    tree = td.make_tree()
    m = build_model("tiny_yolo9000", tree, None, [1.0, 1.5, 3.0, 2.0])
    assert m.region.num == 2 and m.region.anchors.tolist() == [[1.0, 1.5], [3.0, 2.0]]
    assert m.region.classes == len(tree)
    flat = build_model("tiny-yolo", None, 4)
    assert flat.region.classes == 4 and flat.tree is None
    with pytest.raises(ValueError, match="needs a tree"):
        build_model("yolo9000", None, 4)
    with pytest.raises(ValueError, match="w,h pairs"):
        build_model("tiny_yolo9000", tree, None, [1.0, 2.0, 3.0])
    with pytest.raises(FileNotFoundError, match="not a detector name"):
        build_model("darknet19", tree, None)
    # the one anchors parser: flat w,h lists and pairs alike
    assert anchor_pairs([1, 2, 3, 4]) == anchor_pairs([(1, 2), (3, 4)]) == [(1.0, 2.0), (3.0, 4.0)]
    with pytest.raises(ValueError, match="--anchors: anchor sizes must be positive"):
        anchor_pairs([1, -2], "--anchors")


def test_classification_pictures_get_their_own_placement_scale(data, tmp_path, capsys):
    from yolo9000.data import AugmentConfig, ClassFolders, JointDataset, SampleKey
    from yolo9000.data.joint import CLS
    from yolo9000.training.config import scale_range

    tree = td.make_tree()
    folders = ClassFolders(data["folders"], tree)
    plain = AugmentConfig(jitter=0.0, hue=0.0, saturation=1.0, exposure=1.0, flip=False)
    small = AugmentConfig(jitter=0.0, hue=0.0, saturation=1.0, exposure=1.0, flip=False, scale=(0.3, 0.3))
    joint = JointDataset(None, folders, plain, cls_augment_cfg=small)
    grey = (joint[SampleKey(CLS, 0, 64, seed=1)]["image"] - 0.5).abs().amax(0) < 1e-6
    assert grey.float().mean() > 0.8  # a 19x19 picture on a 64x64 grey canvas
    full = JointDataset(None, folders, plain)[SampleKey(CLS, 0, 64, seed=1)]["image"]
    assert ((full - 0.5).abs().amax(0) < 1e-6).float().mean() < 0.2
    assert scale_range(None, "--cls-scale") == (1.0, 1.0) and scale_range([0.3, 1], "--cls-scale") == (0.3, 1.0)
    with pytest.raises(ValueError, match="--cls-scale takes MIN MAX"):
        scale_range([1.0, 0.3], "--cls-scale")
    assert main(_args(data, tmp_path / "bad", "--steps", "1", "--cls-scale", "1", "0.3")) != 0
    assert "--cls-scale takes MIN MAX" in capsys.readouterr().err


def test_config_resolved_against_the_cfg():
    """Options left at None come from the cfg's [net]/[region] in one place; given ones win."""
    from yolo9000.darknet.templates import tiny_yolo

    model = tiny_yolo(classes=3, size=96, width=0.25)
    net, region = model.net, model.region
    r = TrainConfig().resolved(net, region)
    assert (r.batch, r.subdivisions, r.micro) == (
        net["batch"],
        net["subdivisions"],
        net["batch"] // net["subdivisions"],
    )
    assert r.lr == net["learning_rate"] and r.momentum == net["momentum"] and r.decay == net["decay"]
    assert r.steps == (net["max_batches"] or 1000) and r.lr_steps == net["steps"] and r.lr_scales == net["scales"]
    assert r.augment.jitter == region.jitter and r.augment.hue == region.hue
    assert r.sizes == ([96] if not region.random else r.sizes) and r.cls_augment == r.augment
    assert (r.cls_objectness, r.cls_anchor) == ("paper", "label")
    given = TrainConfig(batch=8, subdivisions=2, lr=0.5, size=64, multiscale=False, jitter=0.0, cls_scale=[0.5, 1.0])
    g = given.resolved(net, region)
    assert (g.batch, g.micro, g.lr, g.sizes, g.final_size, g.augment.jitter) == (8, 4, 0.5, [64], None, 0.0)
    assert g.cls_augment.scale == (0.5, 1.0) and g.augment.scale == (1.0, 1.0)
    assert TrainConfig(multiscale=True, sizes=[64, 128], size=96).resolved(net, region).final_size == 128
    with pytest.raises(ValueError, match="batch 6 is not divisible by subdivisions 4"):
        TrainConfig(batch=6, subdivisions=4).resolved(net, region)
