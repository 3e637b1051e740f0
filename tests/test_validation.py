"""Validation while training: the figures in log.csv, best.pt (reproduced by `yolo9000 eval` to 1e-6), one-line
errors for bad validation data before the first step, and Ctrl-C during validation."""

from __future__ import annotations

import csv
import json
import math
import re

import pytest
import tiny_data as td
import torch

from yolo9000.cli import main
from yolo9000.darknet.checkpoint import load_checkpoint
from yolo9000.training.config import TrainConfig
from yolo9000.training.metrics_log import MetricsLog
from yolo9000.training.validation import TRAIN_IMAGES_PER_VAL_IMAGE, Validator, default_val_every

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = ("--batch", "4", "--lr", "0.01", "--burn-in", "2", "--size", "64", "--no-multiscale")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("val_data")
    d = td.make_all(root)
    d["val"] = td.make_coco(root / "val", n_images=5, seed=5)
    return d


def _rows(out):
    with open(out / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_validated_steps_log_figures_and_eval_reproduces_best(data, tmp_path, capsys):
    out = tmp_path / "run"
    val = ["--val-coco", str(data["val"]), "--val-folders", str(data["folders"]), "--val-every", "3"]
    assert main(td.train_args(data, out, "--steps", "7", *QUICK, *val)) == 0
    printed = capsys.readouterr()
    rows = _rows(out)
    assert [r["step"] for r in rows] == [str(i) for i in range(1, 8)]
    validated = [r for r in rows if r["val/AP50"]]
    assert [r["step"] for r in validated] == ["3", "6", "7"]  # every 3 steps and at the end
    for column in ("val/AP", "val/box_hF", "val/top1", "val/top5", "val/cls_hF", "val/seconds"):
        assert all(r[column] for r in validated) and not any(r[column] for r in rows if not r["val/AP50"])

    best = load_checkpoint(out / "best.pt")
    record = best["best"]
    assert record["metric"] == "val/AP50" and best["step"] == record["step"]
    logged = {int(r["step"]): float(r["val/AP50"]) for r in validated}
    assert record["value"] == logged[record["step"]] == max(logged.values())
    assert load_checkpoint(out / "last.pt")["best"] == record  # what --resume carries on with
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert printed.out.strip().splitlines()[-1] == (
        f"best val/AP50 {record['value']:.4f} at step {record['step']} -> {out / 'best.pt'}"
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["step"] == record["step"]

    # `yolo9000 eval` on best.pt at the run's size gives the logged figure: the same pipeline and settings
    report = tmp_path / "eval"
    args = ["eval", "--checkpoint", str(out / "best.pt"), "--coco", str(data["val"]), "--images"]
    args += [str(data["val"].parent / "images"), "--size", "64", "--device", "cpu", "--no-progress", "--no-plots"]
    assert main(args + ["--out", str(report)]) == 0
    scored = json.loads((report / "summary.json").read_text())["detection"]["AP50"]
    assert scored == pytest.approx(record["value"], abs=1e-6)


def test_a_run_without_validation_data_says_so_once(data, tmp_path, caplog):
    caplog.set_level("INFO", logger="yolo9000.training.trainer")
    out = tmp_path / "run"
    assert main(td.train_args(data, out, "--steps", "2", *QUICK)) == 0
    said = [r.getMessage() for r in caplog.records if "validation" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("no validation data")
    assert not (out / "best.pt").exists() and (out / "curves.png").is_file()
    assert not any(k.startswith("val/") for k in _rows(out)[0])


def _bad_coco(path, **changes):
    doc = json.loads(path.read_text())
    doc.update(changes)
    bad = path.with_name(f"bad_{len(list(path.parent.glob('bad_*')))}.json")
    bad.write_text(json.dumps(doc))
    return bad


@pytest.mark.parametrize(
    "case, message",
    [
        ("category", r"--val-coco: .*category 'zebra' \(id 9\) matches no tree node"),
        ("images", r"--val-images: .*nowhere: image folder of .* not found"),
        ("boxes", r"--val-coco: .*no ground-truth boxes to score against \(2 annotation\(s\): 2 crowd"),
        ("metric", r"--val-metric val/AP99: not a figure of this validation \(one of val/AP50, "),
        ("alone", r"--val-images needs validation data: add --val-data, --val-coco"),
    ],
)
def test_bad_validation_data_is_one_line_before_the_first_step(data, tmp_path, capsys, monkeypatch, case, message):
    from yolo9000.training.trainer import Trainer

    monkeypatch.setattr(Trainer, "_train_step", lambda self, batches: pytest.fail("trained a step"))
    val = data["val"]
    images = str(val.parent / "images")
    doc = json.loads(val.read_text())
    options = {
        "category": ["--val-coco", str(_bad_coco(val, categories=doc["categories"] + [{"id": 9, "name": "zebra"}]))],
        "images": ["--val-coco", str(val), "--val-images", str(tmp_path / "nowhere")],
        "boxes": [
            "--val-coco",
            str(_bad_coco(val, annotations=[{**a, "iscrowd": 1} for a in doc["annotations"][:2]])),
            "--val-images",
            images,
        ],
        "metric": ["--val-coco", str(val), "--val-metric", "val/AP99"],
        "alone": ["--val-images", images],
    }[case]
    out = tmp_path / "run"
    assert main(td.train_args(data, out, "--steps", "2", *QUICK, *options)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("yolo9000 train: error: ")
    assert re.search(message, err), err
    assert not (out / "last.pt").exists() and not (out / "log.csv").exists()


def test_ctrl_c_during_validation_keeps_the_checkpoints_and_the_run_resumes(data, tmp_path, monkeypatch):
    """Interrupted while validating at step 4 (after last.pt and best.pt of step 2): both files stay readable,
    `--resume` redoes steps 3-4 and the run ends as one never interrupted."""
    full, cut = tmp_path / "full", tmp_path / "cut"
    options = ("--steps", "6", *QUICK, "--save-every", "2", "--val-coco", str(data["val"]), "--val-every", "2")
    assert main(td.train_args(data, full, *options)) == 0

    calls = {"n": 0}
    real = Validator.__call__

    def interrupted(self, model):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, model)

    monkeypatch.setattr(Validator, "__call__", interrupted)
    assert main(td.train_args(data, cut, *options)) == 130  # the CLI's answer to Ctrl-C
    assert load_checkpoint(cut / "last.pt")["step"] == 2
    assert load_checkpoint(cut / "best.pt")["best"]["step"] == 2
    monkeypatch.setattr(Validator, "__call__", real)
    assert main(["train", "--out", str(cut), "--resume"]) == 0

    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["step"] == b["step"] == 6
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["best"] == b["best"] == load_checkpoint(cut / "best.pt")["best"]
    assert [r["step"] for r in _rows(cut)] == [str(i) for i in range(1, 7)]
    assert [r["val/AP50"] for r in _rows(cut)] == [r["val/AP50"] for r in _rows(full)]


def test_resume_keeps_the_best_and_its_value(data, tmp_path):
    """A resumed run goes on comparing with the best so far; a better figure in the old run is not lost."""
    from yolo9000.training.trainer import Trainer

    out = tmp_path / "run"
    cfg = TrainConfig(
        coco=str(data["coco"]),
        folders=str(data["folders"]),
        tree=str(data["tree"]),
        cfg=str(data["cfg"]),
        val_coco=str(data["val"]),
        val_every=1,
        out=str(out),
        steps=2,
        batch=2,
        size=64,
        multiscale=False,
        workers=0,
        tensorboard=False,
        progress=False,
    )
    t = Trainer(cfg)
    t.run()
    record = load_checkpoint(out / "best.pt")["best"]
    resumed = Trainer(TrainConfig(**{**cfg.to_dict(), "steps": 3}), resume=out / "last.pt")
    assert resumed.best == record
    resumed.best = {**record, "value": math.inf}  # nothing can beat it: best.pt is left as it is
    resumed.run()
    assert load_checkpoint(out / "best.pt")["best"] == record


def test_default_val_every_keeps_validation_a_small_share():
    # the emoji world: 300 test images, 16 images per step -> 188 steps, rounded up to 200
    assert math.ceil(TRAIN_IMAGES_PER_VAL_IMAGE * 300 / 16) == 188 and default_val_every(300, 16, 2000) == 200
    assert default_val_every(5000, 64, 100) == 100  # never beyond the run: it is validated at its end anyway
    assert default_val_every(1, 64, 100) == 1
    assert [default_val_every(n, 1, 10**6) for n in (1, 2, 3, 11, 21, 51, 100)] == [10, 20, 50, 200, 500, 1000, 1000]


def test_metrics_log_widens_its_header_for_later_columns(tmp_path):
    log = MetricsLog(tmp_path, None, tensorboard=False)
    log.write({"step": 1, "loss": 2.0})
    log.write({"step": 2, "loss": 1.5, "val/AP50": 0.25})
    log.write({"step": 3, "loss": 1.0})
    rows = _rows(tmp_path)
    assert list(rows[0]) == ["step", "loss", "val/AP50"]
    assert [r["val/AP50"] for r in rows] == ["", "0.25", ""]
    declared = MetricsLog(tmp_path / "b", None, tensorboard=False, columns=["val/AP50"])
    (tmp_path / "b").mkdir()
    declared.write({"step": 1, "loss": 2.0})
    assert list(_rows(tmp_path / "b")[0]) == ["step", "loss", "val/AP50"]
    resumed = MetricsLog(tmp_path, 2, tensorboard=False)  # rows after the checkpoint go, the header stays
    assert [r["step"] for r in _rows(tmp_path)] == ["1", "2"] and resumed.fields == ["step", "loss", "val/AP50"]
