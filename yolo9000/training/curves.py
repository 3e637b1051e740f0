"""A run's curves: OUT/curves.png drawn from OUT/log.csv (loss and its parts, learning rate, validation figures
against step), rewritten atomically by the trainer at each validation and at the end.

Drawn on matplotlib's Agg canvas without pyplot, so it never changes the caller's backend and needs no display.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from wordtree.files import atomic_open

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: log.csv columns drawn in the loss panel (the total and the parts the region loss reports)
LOSS_COLUMNS = ("loss", "loss_coord", "loss_obj", "loss_noobj", "loss_class", "loss_prior", "loss_cls_only")
#: validation figures drawn (with the one that picks best.pt): the headline ones of `yolo9000 eval`
VAL_COLUMNS = ("val/AP50", "val/AP", "val/box_hF", "val/top1", "val/top5", "val/cls_hF")
#: points per curve at most (a long log is drawn from every k-th row, after a running mean over k rows)
MAX_POINTS = 2000


def _thinned(steps: pd.Series, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The finite points of a curve, averaged over windows when there are more than `MAX_POINTS`."""
    keep = values.notna().to_numpy()
    x, y = steps.to_numpy(np.float64)[keep], values.to_numpy(np.float64)[keep]
    k = int(np.ceil(len(y) / MAX_POINTS))
    if k > 1:
        n = len(y) // k * k
        x, y = x[:n].reshape(-1, k)[:, -1], y[:n].reshape(-1, k).mean(axis=1)
    return x, y


def _panel(ax: Axes, log: pd.DataFrame, columns: list[str], title: str, *, log_scale: bool = False) -> None:
    for c in columns:
        x, y = _thinned(log["step"], pd.to_numeric(log[c], errors="coerce"))
        if len(y):
            ax.plot(x, y, label=c, marker="o" if len(y) < 30 else None, markersize=3)
    ax.set_title(title)
    ax.set_xlabel("step")
    if log_scale and (pd.to_numeric(log[columns[0]], errors="coerce") > 0).any():
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if len(columns) > 1:
        ax.legend(fontsize=7)


def curves_figure(log: pd.DataFrame, *, best: dict[str, float | int | str] | None = None) -> Figure:
    """The figure of a training log (log.csv as a table): loss panel, learning-rate panel, and one panel of
    validation figures when the log has them (`best`: {"metric", "value", "step"} is marked on it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    losses = [c for c in LOSS_COLUMNS if c in log]
    shown = VAL_COLUMNS + ((str(best["metric"]),) if best is not None else ())
    val = [c for c in log.columns if c in shown and pd.to_numeric(log[c], errors="coerce").notna().any()]
    panels = 2 + bool(val)
    fig = Figure(figsize=(5 * panels, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    if losses:
        _panel(axes[0], log, losses, "loss (per image)", log_scale=True)
    if "lr" in log:
        _panel(axes[1], log, ["lr"], "learning rate")
    if val:
        _panel(axes[2], log, val, "validation")
        if best is not None:
            axes[2].axvline(float(best["step"]), color="grey", linestyle=":", linewidth=1)
            axes[2].set_title(f"validation (best {best['metric']} {float(best['value']):.4f} at step {best['step']})")
    fig.tight_layout()
    return fig


def write_curves(log_csv: str | Path, out: str | Path, *, best: dict[str, float | int | str] | None = None) -> Path:
    """Draw `log_csv` into the PNG `out`, atomically (the old picture or the new one, never half of one)."""
    log = pd.read_csv(log_csv)
    fig = curves_figure(log, best=best)
    with atomic_open(out, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    return Path(out)
