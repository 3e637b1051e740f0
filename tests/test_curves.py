"""OUT/curves.png: drawn from log.csv (loss parts, lr, validation figures), atomically, without pyplot."""

from __future__ import annotations

import numpy as np
import pandas as pd

from yolo9000.training.curves import MAX_POINTS, curves_figure, write_curves


def _log(steps: int, val_every: int | None = None) -> pd.DataFrame:
    step = np.arange(1, steps + 1)
    log = pd.DataFrame({"step": step, "lr": 1e-3, "loss": 5 / step, "loss_coord": 1 / step, "loss_obj": 0.5})
    if val_every:
        validated = step % val_every == 0
        log["val/AP50"] = np.where(validated, step / steps, np.nan)
        log["val/top1"] = np.where(validated, 0.5, np.nan)
        log["val/seconds"] = np.where(validated, 2.0, np.nan)
    return log


def test_panels_follow_the_columns_of_the_log():
    fig = curves_figure(_log(10))
    assert [ax.get_title() for ax in fig.axes] == ["loss (per image)", "learning rate"]
    fig = curves_figure(_log(10, 5), best={"metric": "val/AP50", "value": 1.0, "step": 10})
    val = fig.axes[2]
    assert val.get_title() == "validation (best val/AP50 1.0000 at step 10)"
    assert sorted(line.get_label() for line in val.get_lines() if not line.get_label().startswith("_")) == [
        "val/AP50",
        "val/top1",
    ]  # the seconds are not a figure
    ap50 = next(line for line in val.get_lines() if line.get_label() == "val/AP50")
    assert list(ap50.get_xdata()) == [5.0, 10.0]  # only the validated steps


def test_a_long_log_is_thinned_to_a_few_thousand_points():
    fig = curves_figure(_log(3 * MAX_POINTS + 7))
    loss = next(line for line in fig.axes[0].get_lines() if line.get_label() == "loss")
    assert len(loss.get_xdata()) <= MAX_POINTS


def test_write_curves_replaces_the_picture_atomically(tmp_path):
    csv = tmp_path / "log.csv"
    _log(20, 10).to_csv(csv, index=False)
    out = write_curves(csv, tmp_path / "curves.png")
    first = out.read_bytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    _log(40, 10).to_csv(csv, index=False)
    write_curves(csv, out, best={"metric": "val/AP50", "value": 1.0, "step": 40})
    assert out.read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "log.csv"]  # no temporary file left
