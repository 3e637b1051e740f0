"""Learning-rate schedules: Darknet's burn-in + steps (default) or poly, and a cosine option, as LambdaLR factors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

#: The learning-rate policies after burn-in (a cfg's other policy runs as "constant", with a warning)
POLICIES = ("steps", "poly", "cosine", "constant")


@dataclass
class DarknetSchedule:
    """Factor of the base lr at optimizer step k (0-based), as Darknet's `get_current_rate`.

    Darknet evaluates the rate after counting the current batch, so step k uses batch_num = k + 1:
    (batch_num / burn_in) ** power during burn-in, then `steps`: multiply by scales[i] for each
    steps[i] <= batch_num; or `poly` (Darknet's, the classifier cfgs'): (1 - batch_num / max_batches) ** power;
    or `cosine`: from 1 down to `min_factor` at `max_batches`; or `constant`.
    """

    policy: str = "steps"
    burn_in: int = 1000
    power: float = 4.0
    steps: list[int] = field(default_factory=lambda: [400000, 450000])
    scales: list[float] = field(default_factory=lambda: [0.1, 0.1])
    max_batches: int = 500200
    min_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown lr policy {self.policy!r} (choose {', '.join(POLICIES)})")
        if self.policy == "steps" and len(self.steps) != len(self.scales):
            raise ValueError(f"lr steps {self.steps} and scales {self.scales} differ in length")

    def __call__(self, k: int) -> float:
        batch_num = k + 1
        if self.burn_in > 0 and batch_num < self.burn_in:
            return (batch_num / self.burn_in) ** self.power
        if self.policy == "steps":
            f = 1.0
            for s, sc in zip(self.steps, self.scales):
                if s > batch_num:
                    break
                f *= sc
            return f
        if self.policy == "poly":
            # Darknet raises the same `power` as burn-in's; past max_batches (a resumed, longer run) the rate is 0
            return max(0.0, 1 - batch_num / max(1, self.max_batches)) ** self.power
        if self.policy == "cosine":
            span = max(1, self.max_batches - self.burn_in)
            t = min(1.0, max(0.0, (batch_num - self.burn_in) / span))
            return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t))
        return 1.0


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: DarknetSchedule) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR over `schedule` (its state_dict holds the step count and the schedule's fields)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
