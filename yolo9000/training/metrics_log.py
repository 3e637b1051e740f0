"""The training log: CSV rows and TensorBoard scalars (when installed), written by the main rank."""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

from wordtree.files import atomic_open

log = logging.getLogger(__name__)


class MetricsLog:
    """CSV rows (+ TensorBoard scalars when available) on the main rank."""

    def __init__(self, run_dir: Path, resume_step: int | None, tensorboard: bool) -> None:
        self.path = run_dir / "log.csv"
        self.fields: list[str] | None = None
        if self.path.is_file() and resume_step is not None:
            # drop rows a killed run logged after its last checkpoint: they are about to be redone
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            if rows:
                self.fields = list(rows[0].keys())
                rows = [r for r in rows if int(r["step"]) <= resume_step]
                with atomic_open(self.path, "w") as f:  # the old log or the new one, never half of it
                    w = csv.DictWriter(f, fieldnames=self.fields)
                    w.writeheader()
                    w.writerows(rows)
        elif self.path.is_file():
            self.path.unlink()
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except Exception as exc:  # noqa: BLE001 - tensorboard is optional
                log.info("TensorBoard logging off (%s)", exc)

    def write(self, row: dict) -> None:
        if self.fields is None:
            self.fields = list(row.keys())
        new = not self.path.is_file()
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        if self.tb is not None:
            step = int(row["step"])
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k if "/" in k else f"train/{k}", v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
