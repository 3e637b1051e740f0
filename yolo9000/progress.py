"""Progress of the long stages: a tqdm bar on a terminal, a plain line per `every` share of the work otherwise
(a log file, a pipe, CI), so a log shows how far a run got without a carriage-return mess.

`progress_bar(total, desc=..., unit=...)` gives an object with tqdm's `update`, `set_postfix`, `write` and `close`;
`track(iterable, ...)` wraps an iterable; `redirect_logging()` sends log records above the bar (tqdm's logging
redirect), so a warning is never glued onto a bar.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import IO, Any, Protocol, TypeVar

from wordtree.files import plural

T = TypeVar("T")

#: The share of the work between two lines when the output is not a terminal
EVERY = 0.1


class Progress(Protocol):
    """What the callers use of a progress bar (tqdm has it; `LineProgress` is the same for logs)."""

    n: float

    def update(self, n: float = 1) -> bool | None:
        """Advance by `n` units."""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool | None = True, **kwargs: Any) -> None:
        """Figures shown after the count (loss=..., size=...)."""

    def write(self, s: str) -> None:
        """A console line that does not break the bar."""

    def close(self) -> None:
        """The last line (when kept) and no more output."""


def is_terminal(stream: IO[str] | None) -> bool:
    """True when `stream` is an interactive terminal (a bar redraws well there, nowhere else)."""
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams (pytest's capture, notebooks' objects)
        return False


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LineProgress:
    """tqdm's interface as one line per `every` share of `total` (and the last one): ``desc: 30% 60/200 step,
    0:41 elapsed, about 1:35 left, loss=...``. Without a total, a line every `every * 100` units."""

    def __init__(
        self,
        total: float | None,
        *,
        desc: str,
        unit: str,
        initial: float = 0,
        every: float = EVERY,
        file: IO[str] | None = None,
        leave: bool = True,
    ) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.every, self.leave = every, leave
        self.file = file if file is not None else sys.stderr
        self.postfix = ""
        self._start, self._start_n = time.perf_counter(), initial
        self._printed, self._printed_n = self._mark(initial), initial
        self._closed = False

    def _mark(self, n: float) -> int:
        """Which `every`-sized slice `n` is in."""
        if self.total:
            return int(n / self.total / self.every + 1e-9)
        return int(n // max(1, round(self.every * 100)))

    def line(self) -> str:
        """The current state as one line."""
        elapsed = time.perf_counter() - self._start
        done = self.n - self._start_n
        if self.total:
            text = f"{self.desc}: {100 * self.n / self.total:3.0f}% {self.n:g}/{plural(int(self.total), self.unit)}"
        else:
            text = f"{self.desc}: {plural(int(self.n), self.unit)}"
        text += f", {_clock(elapsed)} elapsed"
        if self.total and 0 < done and self.n < self.total:
            text += f", about {_clock(elapsed / done * (self.total - self.n))} left"
        return text + (f", {self.postfix}" if self.postfix else "")

    def update(self, n: float = 1) -> bool | None:
        """Advance; print a line when a new `every` share is reached."""
        self.n += n
        mark = self._mark(self.n)
        if mark > self._printed and not self._closed:
            self._printed, self._printed_n = mark, self.n
            self.write(self.line())
        return None

    def set_postfix(self, ordered_dict: Any = None, refresh: bool | None = True, **kwargs: Any) -> None:
        """Figures for the next line (as tqdm: key=value)."""
        values = dict(ordered_dict or {}, **kwargs)
        self.postfix = " ".join(f"{k}={v}" for k, v in values.items())

    def write(self, s: str) -> None:
        """A console line (on the lines' own stream)."""
        print(s, file=self.file, flush=True)

    def close(self) -> None:
        """The final state as a line when it was not the last one printed (a stop before the end included)."""
        if self._closed:
            return
        self._closed = True
        if self.leave and self.n > self._start_n and self.n != self._printed_n:
            self.write(self.line())

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(
    total: float | None,
    *,
    desc: str,
    unit: str,
    initial: float = 0,
    enabled: bool = True,
    leave: bool = True,
    every: float = EVERY,
    file: IO[str] | None = None,
) -> Progress:
    """A tqdm bar when `file` (default stderr) is a terminal, else a `LineProgress`; a silent tqdm when not
    `enabled`."""
    from tqdm import tqdm

    stream = file if file is not None else sys.stderr
    if enabled and not is_terminal(stream):
        return LineProgress(total, desc=desc, unit=unit, initial=initial, every=every, file=stream, leave=leave)
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        disable=not enabled,
        leave=leave,
        dynamic_ncols=True,
        file=file,
    )


def track(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str,
    unit: str,
    enabled: bool = True,
    leave: bool = True,
    every: float = EVERY,
    file: IO[str] | None = None,
    count: Callable[[T], int] | None = None,
) -> Iterator[T]:
    """`iterable`, with a `progress_bar` advanced by one per item, or by `count(item)` units (a batch's images);
    `total` default: its length."""
    if total is None and isinstance(iterable, Sized):
        total = len(iterable)
    bar = progress_bar(total, desc=desc, unit=unit, enabled=enabled, leave=leave, every=every, file=file)
    try:
        for item in iterable:
            yield item
            bar.update(1 if count is None else count(item))
    finally:
        bar.close()


@contextlib.contextmanager
def redirect_logging() -> Iterator[None]:
    """Log records printed above any tqdm bar (`tqdm.contrib.logging.logging_redirect_tqdm` over the root
    logger's console handler), never glued onto it. Without a console handler (logging not set up, or captured
    as under pytest) nothing changes: tqdm's redirect would add one."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    root = logging.getLogger()
    console = any(
        isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in (sys.stdout, sys.stderr)
        for h in root.handlers
    )
    with logging_redirect_tqdm(loggers=[root]) if console else contextlib.nullcontext():
        yield
