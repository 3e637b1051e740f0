"""The training log: CSV rows and TensorBoard scalars (when installed), written by the main rank.

Rows need not have the same columns: validation figures (`val/...`) come only on the steps that were validated.
A column first seen in a later row widens the header (the file is rewritten once, atomically; earlier rows are
blank in it), so `log.csv` always has one header naming every column.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wordtree.files import atomic_open, writing

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

log = logging.getLogger(__name__)


def tensorboard_installed() -> bool:
    """True when the `tensorboard` package (which torch's SummaryWriter needs) can be imported."""
    return importlib.util.find_spec("tensorboard") is not None


def _summary_writer(folder: Path, wanted: bool | None) -> SummaryWriter | None:
    """TensorBoard's writer into `folder`, or None: when not `wanted`, or when the package is missing (a
    warning only when it was asked for explicitly)."""
    if wanted is False or (wanted is None and not tensorboard_installed()):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(folder))
    except ImportError:
        log.warning("--tensorboard: the tensorboard package is not installed (pip install tensorboard); log.csv only")
    except Exception as exc:  # noqa: BLE001 - TensorBoard is optional: training goes on without it
        log.warning("TensorBoard logging off (%s: %s); log.csv only", type(exc).__name__, exc)
    return None


class MetricsLog:
    """CSV rows (+ TensorBoard scalars when available) on the main rank.

    `tensorboard`: True writes scalars (one warning line when the package is missing), False does not, None
    writes them when the package is installed and says nothing otherwise.
    `columns` are put in the header after the first row's own (the figures of later rows, e.g. validation's)."""

    def __init__(
        self, run_dir: Path, resume_step: int | None, tensorboard: bool | None, columns: Sequence[str] = ()
    ) -> None:
        self.path = run_dir / "log.csv"
        self.fields: list[str] | None = None
        self.columns = list(columns)
        if self.path.is_file() and resume_step is not None:
            # drop rows a killed run logged after its last checkpoint: they are about to be redone
            fields, rows = self._read()
            if fields:
                self.fields = fields
                self._rewrite([r for r in rows if int(r["step"]) <= resume_step])
        elif self.path.is_file():
            self.path.unlink()
        self.tb = _summary_writer(run_dir / "tensorboard", tensorboard)

    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        with open(self.path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            return list(reader.fieldnames or []), rows

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        """The file with `rows` under the current header (the old log or the new one, never half of it)."""
        assert self.fields is not None
        with atomic_open(self.path, "w") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, restval="")
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict[str, float | int]) -> None:
        """Append `row` (a "step" and any figures); a column not yet in the header widens it."""
        if self.fields is None:
            self.fields = list(row) + [c for c in self.columns if c not in row]
        added = [k for k in row if k not in self.fields]
        if added:
            self.fields += added
            if self.path.is_file():
                self._rewrite(self._read()[1])
        new = not self.path.is_file()
        with writing(self.path, kept="the rows written before are kept"), open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, restval="")
            if new:
                w.writeheader()
            w.writerow(row)
        if self.tb is not None:
            step = int(row["step"])
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k if "/" in k else f"train/{k}", v, step)

    def close(self) -> None:
        """Flush and close TensorBoard's writer."""
        if self.tb is not None:
            self.tb.close()
