"""Writing evaluation results: tables (CSV + Markdown), PR curves and AP bar charts (PNG), headline JSON.

Nothing here computes a metric; it only lays out what `yolo9000.evaluation.summary` measured. Existing files are
never overwritten unless the caller says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from wordtree.files import OutputDir, atomic_open, prepare_output_dir, write_text_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def markdown_table(frame: pd.DataFrame, *, floatfmt: str = "{:.4f}", index: bool = False) -> str:
    """A GitHub-flavoured Markdown table (pandas' `to_markdown` needs the optional `tabulate`)."""
    df = frame.reset_index() if index else frame
    cols = [str(c) for c in df.columns]

    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, (float, np.floating)):
            return "" if math.isnan(v) else floatfmt.format(v)
        return str(v).replace("|", "\\|").replace("\n", " ")

    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---:" if n else ":---" for n in numeric) + " |"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _json_ready(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    return x


class ReportWriter:
    """Writes into one output folder under the rule of `wordtree.files.prepare_output_dir` (a folder it did
    not make only with `overwrite`, and never over a user's file); refuses to replace files of an earlier
    report unless `overwrite`. Each file is written to a temporary name and renamed into place."""

    def __init__(
        self,
        out_dir: str | Path,
        *,
        overwrite: bool = False,
        inputs: Sequence[str | Path | None] = (),
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.out = Path(out_dir)
        self.overwrite = overwrite
        self.inputs, self.settings = list(inputs), dict(settings or {})
        self._check(save=False)
        self.dir: OutputDir | None = None
        self.written: list[Path] = []

    def _check(self, save: bool, owned: Sequence[str] = ()) -> OutputDir:
        return prepare_output_dir(
            self.out,
            command="yolo9000 eval",
            settings=self.settings,
            force=self.overwrite,
            inputs=self.inputs,
            owned=owned,
            save=save,
        )

    def _target(self, name: str) -> Path:
        path = self.out / name
        if path.exists() and not self.overwrite:
            raise ValueError(f"{path}: already exists (use --force or another --out)")
        if self.dir is None:
            self.dir = self._check(save=True)
        self.dir.claim(name)
        self.written.append(path)
        return path

    def finish(self) -> None:
        """The report is complete: with --force, files of an earlier report not written again are removed
        (a plot of a run with other classes never stays beside this one)."""
        if self.dir is not None:
            self.dir.finish()

    def check_free(self, names: Sequence[str]) -> None:
        """Fail before any work when one of `names` would be overwritten."""
        self._check(save=False, owned=names)  # a user's file of these names is refused even with `overwrite`
        if self.overwrite:
            return
        taken = [self.out / n for n in names if (self.out / n).exists()]
        if taken:
            raise ValueError(f"{taken[0]}: already exists (use --force or another --out)")

    def table(self, stem: str, frame: pd.DataFrame, *, title: str | None = None) -> None:
        """`<stem>.csv` and `<stem>.md`."""
        with atomic_open(self._target(f"{stem}.csv"), "w") as fh:
            frame.to_csv(fh, index=False)
        md = (f"## {title}\n\n" if title else "") + markdown_table(frame)
        write_text_atomic(self._target(f"{stem}.md"), md)

    def json(self, name: str, data: Mapping[str, Any]) -> None:
        write_text_atomic(self._target(name), json.dumps(_json_ready(data), indent=2, sort_keys=False) + "\n")

    def text(self, name: str, text: str) -> None:
        write_text_atomic(self._target(name), text)

    def figure(self, name: str, fig: Figure) -> None:
        import matplotlib.pyplot as plt

        with atomic_open(self._target(name), "wb") as fh:
            fig.savefig(fh, format=Path(name).suffix[1:] or "png", dpi=100, bbox_inches="tight")
        plt.close(fig)


def _use_agg() -> None:
    """Draw into files only (no display needed), unless a notebook shows the figures inline."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")


#: classes per panel of the PR-curve figure: tab10's colours, so no colour stands for two classes in a legend
CURVES_PER_PANEL = 10


def _panels(classes: np.ndarray, groups: Sequence[str] | np.ndarray | None) -> list[tuple[str, list[int]]]:
    """(title, class positions) of each panel: the classes of a group together (groups in the order their first
    class comes), at most `CURVES_PER_PANEL` to a panel; a group split over panels is numbered."""
    by_group: dict[str, list[int]] = {}
    for k in classes.tolist():
        by_group.setdefault(str(groups[k]) if groups is not None else "", []).append(k)
    panels = []
    for group, members in by_group.items():
        chunks = [members[i : i + CURVES_PER_PANEL] for i in range(0, len(members), CURVES_PER_PANEL)]
        for i, chunk in enumerate(chunks):
            part = f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else ""
            panels.append((f"{group}{part}".strip(), chunk))
    return panels


def pr_curve_figure(
    recall: np.ndarray,
    pr: np.ndarray,
    names: Sequence[str] | np.ndarray,
    *,
    mean: np.ndarray | None = None,
    max_curves: int = 20,
    groups: Sequence[str] | np.ndarray | None = None,
    title: str = "Precision-recall at IoU 0.5",
) -> Figure:
    """PR curves of the first `max_curves` classes with a curve (the caller orders them: most ground truth first)
    and the mean of all classes in each panel. A panel holds at most 10 classes, each its own tab10 colour, and
    with `groups` (a label per class: its box group) only classes of one group, so no legend shows a colour
    twice."""
    _use_agg()
    import matplotlib.pyplot as plt

    valid = np.flatnonzero(np.isfinite(pr).any(axis=1))[:max_curves]
    panels = _panels(valid, groups) or [("", [])]
    ncols = min(len(panels), 2)
    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(7 * ncols, 5 * nrows), squeeze=False)
    colours = [plt.get_cmap("tab10")(i) for i in range(CURVES_PER_PANEL)]
    for ax, (panel, members) in zip(axes.flat, panels):
        for colour, k in zip(colours, members):
            ax.plot(recall, np.nan_to_num(pr[k]), lw=1.2, color=colour, label=str(names[k]))
        if mean is not None and len(valid):
            ax.plot(recall, mean, "k-", lw=2.5, label="mean (all classes)")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(panel if len(panels) > 1 else f"{title}: {panel}" if panel else title)
        ax.grid(alpha=0.3)
        if members:
            ax.legend(fontsize=7, loc="lower left", ncol=2)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    if len(panels) > 1:
        fig.suptitle(title)
        fig.tight_layout()
    return fig


def ap_bar_figure(
    per_class: pd.DataFrame,
    *,
    column: str = "AP50",
    group: str | None = "group",
    max_bars: int = 60,
    title: str | None = None,
) -> Figure:
    """Horizontal bars of per-class AP, sorted, coloured by `group` (e.g. boxed in training or not)."""
    _use_agg()
    import matplotlib.pyplot as plt

    df = per_class[per_class["n_gt"] > 0].sort_values(column, ascending=True).tail(max_bars)
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(df) + 1.5))
    colours = None
    if group and group in df.columns:
        from matplotlib.patches import Patch

        cmap = {g: plt.cm.tab10(i % 10) for i, g in enumerate(sorted(df[group].astype(str).unique()))}
        colours = [cmap[str(g)] for g in df[group]]
        ax.legend(handles=[Patch(color=c, label=g) for g, c in cmap.items()], fontsize=8, loc="lower right")
    ax.barh(np.arange(len(df)), df[column].fillna(0).to_numpy(), color=colours)
    ax.set_yticks(np.arange(len(df)))
    ax.set_yticklabels(df["name"].astype(str), fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel(column)
    ax.set_title(title or f"Per-class {column}")
    ax.grid(axis="x", alpha=0.3)
    return fig


def depth_accuracy_figure(frame: pd.DataFrame, title: str = "Accuracy per tree depth") -> Figure:
    """Line of accuracy against depth, with the share of walks that stopped above that depth."""
    _use_agg()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(frame["depth"], frame["accuracy"], "o-", label="accuracy")
    ax.plot(frame["depth"], frame["stopped_above"], "s--", label="walk stopped above")
    ax.set_xlabel("depth")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return fig
