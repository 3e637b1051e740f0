"""yolo9000.evaluation.writer: the figures of a report (PR curves) and the Markdown tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from yolo9000.evaluation.writer import markdown_table, pr_curve_figure


def _legend_colours(ax) -> list[tuple[str, tuple[float, ...]]]:
    """(label, RGBA) of each class curve in a panel's legend (the mean is left out)."""
    from matplotlib.colors import to_rgba

    legend = ax.get_legend()
    if legend is None:
        return []
    return [(t.get_text(), to_rgba(h.get_color())) for t, h in zip(legend.get_texts(), legend.legend_handles)]


def test_pr_curves_of_24_classes_never_share_a_colour_in_a_legend():
    """The emoji world's 24 fine classes: panels of at most 10 classes (a group's classes together), each class
    its own colour in its panel's legend, and every class shown once."""
    import matplotlib.pyplot as plt

    recall = np.linspace(0, 1, 101)
    rng = np.random.default_rng(0)
    pr = np.sort(rng.random((24, 101)), axis=1)[:, ::-1]
    names = [f"class {k}" for k in range(24)]
    groups = np.array(["(a) fine, boxed parent"] * 20 + ["(b) never boxed"] * 4)
    for kw in ({}, {"groups": groups}):
        fig = pr_curve_figure(recall, pr, names, mean=pr.mean(axis=0), max_curves=40, **kw)
        shown = []
        for ax in fig.axes:
            entries = [(label, c) for label, c in _legend_colours(ax) if label != "mean (all classes)"]
            assert len(entries) <= 10
            assert len({c for _, c in entries}) == len(entries), entries  # no colour twice in one legend
            assert all(c != (0.0, 0.0, 0.0, 1.0) for _, c in entries)  # black is the mean's
            shown += [label for label, _ in entries]
        assert sorted(shown) == sorted(names)
        if kw:
            titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
            assert titles == ["(a) fine, boxed parent (1/2)", "(a) fine, boxed parent (2/2)", "(b) never boxed"]
        plt.close(fig)


def test_pr_curves_of_a_few_classes_are_one_panel():
    import matplotlib.pyplot as plt

    recall = np.linspace(0, 1, 11)
    pr = np.vstack([np.linspace(1, 0, 11), np.full(11, np.nan), np.linspace(1, 0.5, 11)])
    fig = pr_curve_figure(recall, pr, ["dog", "cat", "car"], mean=np.linspace(1, 0.2, 11))
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "Precision-recall at IoU 0.5"
    assert [label for label, _ in _legend_colours(fig.axes[0])] == ["dog", "car", "mean (all classes)"]
    plt.close(fig)


def test_markdown_table_formats_floats_and_leaves_nan_empty():
    frame = pd.DataFrame({"group": ["all", "b|c"], "AP50": [0.12345, float("nan")], "classes": [3, 0]})
    assert markdown_table(frame, floatfmt="{:.3f}").splitlines() == [
        "| group | AP50 | classes |",
        "| :--- | ---: | ---: |",
        "| all | 0.123 | 3 |",
        "| b\\|c |  | 0 |",
    ]
