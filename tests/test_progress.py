"""Progress of long stages: a bar on a terminal, a line per 10% in logs; counts in the right number."""

from __future__ import annotations

import io
import logging
import sys

from yolo9000.progress import LineProgress, progress_bar, redirect_logging, track


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_tenth_and_no_carriage_returns():
    out = io.StringIO()
    bar = progress_bar(40, desc="train", unit="step", file=out)
    assert isinstance(bar, LineProgress)  # not a terminal: lines, not a bar
    for i in range(40):
        bar.set_postfix(loss=f"{1 / (i + 1):.3f}")
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in out.getvalue()
    assert lines[0].startswith("train:  10% 4/40 steps, ") and "left" in lines[0] and "loss=0.250" in lines[0]
    assert lines[-1].startswith("train: 100% 40/40 steps, ") and "left" not in lines[-1]


def test_a_stop_before_the_end_prints_where_it_stopped_and_a_resumed_run_starts_from_its_step():
    out = io.StringIO()
    bar = progress_bar(100, desc="train", unit="step", initial=50, file=out)
    for _ in range(17):
        bar.update(1)
    bar.close()
    bar.close()  # once only
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == [
        "train:  60% 60/100 steps",
        "train:  67% 67/100 steps",
    ]


def test_a_terminal_gets_a_tqdm_bar_and_disabled_progress_prints_nothing():
    from tqdm import tqdm

    terminal = _Terminal()
    bar = progress_bar(10, desc="x", unit="step", file=terminal)
    assert isinstance(bar, tqdm)
    bar.close()
    quiet = io.StringIO()
    assert list(track(range(5), desc="x", unit="picture", enabled=False, file=quiet)) == [0, 1, 2, 3, 4]
    assert quiet.getvalue() == ""


def test_track_wraps_an_iterable_of_unknown_length():
    out = io.StringIO()
    assert sum(track(iter(range(25)), desc="draw", unit="picture", every=0.1, file=out)) == 300
    assert out.getvalue().splitlines()[0].startswith("draw: 10 pictures, ")  # a line every 10 units


def test_log_records_go_above_the_bar(monkeypatch):
    """Under redirect_logging a warning is its own line, never glued onto a bar (tqdm's logging redirect)."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)  # the console handler's stream, as logging.basicConfig sets it
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(handler)
    try:
        with redirect_logging():
            bar = progress_bar(4, desc="train", unit="step")
            bar.update(1)
            logging.getLogger("yolo9000.test").warning("something to say")
            bar.close()
    finally:
        root.removeHandler(handler)
    text = terminal.getvalue()
    assert "WARNING something to say" in text and "|WARNING" not in text and "]WARNING" not in text


def test_without_a_console_handler_logging_is_left_alone(monkeypatch):
    """Logging not set up (or captured, as here under pytest): the redirect adds no handler of its own."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    before = list(logging.getLogger().handlers)
    with redirect_logging():
        assert logging.getLogger().handlers == before
        logging.getLogger("yolo9000.test").warning("only in the captured log")
    assert terminal.getvalue() == ""
