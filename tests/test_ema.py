"""The moving average of the weights (--ema): its ramped decay, what checkpoints hold, and an exact resume."""

from __future__ import annotations

import math

import pytest
import tiny_data as td
import torch

from yolo9000.cli import main
from yolo9000.darknet.checkpoint import load_checkpoint, load_model
from yolo9000.training.ema import EMA_RAMP, ModelEma, default_ramp, lerp_all

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return td.make_all(tmp_path_factory.mktemp("ema_data"))


def _model(data):
    from yolo9000.darknet.model import DarknetModel

    torch.manual_seed(0)
    return DarknetModel.from_cfg_text(data["cfg"].read_text(), tree=td.make_tree())


def test_update_is_the_ramped_average_of_the_parameters_and_copies_the_buffers(data):
    model = _model(data)
    ema = ModelEma(model, 0.9)
    assert not any(p.requires_grad for p in ema.module.parameters()) and not ema.module.training
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        for b in model.buffers():
            if b.is_floating_point():
                b.mul_(3.0)
    ema.update(model)
    d = 0.9 * (1 - math.exp(-1 / EMA_RAMP))
    assert ema.current_decay() == pytest.approx(0.9 * (1 - math.exp(-1 / EMA_RAMP)))
    names = dict(model.named_parameters())
    for k, v in ema.module.state_dict().items():
        if k in names:
            torch.testing.assert_close(v, d * before[k] + (1 - d) * names[k].detach())
        else:  # buffers (BatchNorm statistics) follow the model as they are
            assert torch.equal(v, model.state_dict()[k]), k
    ema.updates = 10**6
    assert ema.current_decay() == pytest.approx(0.9)
    with pytest.raises(ValueError, match="EMA decay"):
        ModelEma(model, 1.0)


def test_the_default_ramp_is_a_tenth_of_the_run_capped_at_the_fields_2000_steps():
    assert default_ramp(2000) == 200.0 and default_ramp(10**6) == EMA_RAMP and default_ramp(3) == 1.0
    # with the field's 2000-step ramp a 2000-step run ends at decay .63 (a 3-step average); with its own ramp the
    # average settles before the run ends
    short = ModelEma(torch.nn.Conv2d(1, 1, 1), 0.9999, updates=2000, ramp=default_ramp(2000))  # type: ignore[arg-type]
    field = ModelEma(torch.nn.Conv2d(1, 1, 1), 0.9999, updates=2000)  # type: ignore[arg-type]
    assert field.current_decay() < 0.64 and short.current_decay() > 0.9998


def test_ema_ramp_option(data, tmp_path):
    from yolo9000.training.config import TrainConfig

    with pytest.raises(SystemExit):
        main(td.train_args(data, tmp_path / "bad", "--ema", "0.9", "--ema-ramp", "0"))
    out = tmp_path / "r"
    assert main(td.train_args(data, out, *OPTIONS, "--ema-ramp", "50")) == 0
    assert load_checkpoint(out / "last.pt")["ema"]["ramp"] == 50.0
    with pytest.raises(ValueError, match="ema_ramp"):
        TrainConfig().updated({"ema_ramp": -1}, source="run.yaml")


OPTIONS = ("--steps", "6", "--batch", "4", "--subdivisions", "2", "--lr", "0.01", "--burn-in", "2")
OPTIONS += ("--size", "64", "--no-multiscale", "--save-every", "2", "--ema", "0.9")


def test_checkpoints_hold_the_average_and_resume_exactly(data, tmp_path, monkeypatch):
    """Stopped after step 5 (checkpoint of step 4) and resumed: the average, the raw weights and the optimizer
    equal those of a run never stopped, bit for bit."""
    from yolo9000.training.trainer import Trainer

    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main(td.train_args(data, full, *OPTIONS)) == 0
    after_step = Trainer._after_step

    def stop_after_5(self):
        after_step(self)
        if self.step == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_after_step", stop_after_5)
    assert main(td.train_args(data, cut, *OPTIONS)) == 130
    assert load_checkpoint(cut / "last.pt")["step"] == 4
    monkeypatch.setattr(Trainer, "_after_step", after_step)
    assert main(["train", "--out", str(cut), "--resume"]) == 0

    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    # a 6-step run ramps over 1 step (a tenth of the run, at least 1)
    assert a["ema"] == b["ema"] == {"decay": 0.9, "updates": 6, "ramp": 1.0}
    for key in ("model", "raw_model"):
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    # the saved model is the average (what detect, eval and convert load); the raw weights differ from it
    weights = [k for k in a["model"] if k.endswith("weight")]
    assert any(not torch.equal(a["model"][k], a["raw_model"][k]) for k in weights)
    loaded = load_model(full / "last.pt").state_dict()
    assert all(torch.equal(loaded[k], a["model"][k]) for k in weights)


def test_turning_ema_on_or_off_when_resuming(data, tmp_path, caplog):
    from yolo9000.training.config import TrainConfig
    from yolo9000.training.trainer import Trainer

    caplog.set_level("INFO", logger="yolo9000.training.trainer")
    common = dict(coco=str(data["coco"]), folders=str(data["folders"]), tree=str(data["tree"]), cfg=str(data["cfg"]))
    opts = dict(steps=2, batch=2, size=64, multiscale=False, workers=0, tensorboard=False, progress=False)
    Trainer(TrainConfig(out=str(tmp_path / "a"), ema=0.5, **common, **opts)).run()
    saved = load_checkpoint(tmp_path / "a" / "last.pt")
    off = Trainer(
        TrainConfig(out=str(tmp_path / "a"), **common, **{**opts, "steps": 3}), resume=tmp_path / "a" / "last.pt"
    )
    assert off.ema is None and "the average is dropped" in caplog.text
    assert all(torch.equal(v, saved["raw_model"][k]) for k, v in off.model.state_dict().items())

    Trainer(TrainConfig(out=str(tmp_path / "b"), **common, **opts)).run()
    on = Trainer(
        TrainConfig(out=str(tmp_path / "b"), ema=0.5, **common, **{**opts, "steps": 3}),
        resume=tmp_path / "b" / "last.pt",
    )
    assert on.ema is not None and on.ema.updates == 0 and "starts one from its weights" in caplog.text


def test_lerp_all_without_the_foreach_op_gives_the_same_average(monkeypatch):
    g = torch.Generator().manual_seed(0)
    src = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g)]
    fast = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g)]
    slow = [t.clone() for t in fast]
    lerp_all(fast, src, 0.25)
    monkeypatch.delattr(torch, "_foreach_lerp_")
    lerp_all(slow, src, 0.25)
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b, atol=1e-7)
