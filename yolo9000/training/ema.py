"""An exponential moving average of a model's weights, as detectors are trained today (Ultralytics' ModelEMA,
timm's ModelEmaV2): after each optimizer step ``ema = d * ema + (1 - d) * weights`` over the floating-point
parameters, the buffers (BatchNorm's running statistics, counters) copied as they are.

The decay ramps up from 0: ``d = decay * (1 - exp(-updates / ramp))``, so the average follows the fast-moving
first steps and settles into a long average later. The field's ramp is 2000 steps, set for runs of 100k+ steps;
a run of 2000 steps never leaves that ramp (its decay stays under .63, an average over the last 3 steps), so the
default ramp is a tenth of the run, capped at 2000 (`default_ramp`).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from yolo9000.darknet.model import DarknetModel

#: steps over which the decay rises to its full value (1 - 1/e of it after this many updates), for long runs
EMA_RAMP = 2000.0
#: the default ramp as a share of the run's steps, for runs shorter than 10 x EMA_RAMP
EMA_RAMP_SHARE = 0.1


def default_ramp(steps: int) -> float:
    """The ramp for a run of `steps` steps: a tenth of it, capped at `EMA_RAMP` (at least 1)."""
    return max(1.0, min(EMA_RAMP, EMA_RAMP_SHARE * steps))


def lerp_all(targets: list[torch.Tensor], sources: list[torch.Tensor], weight: float) -> None:
    """``t += weight * (s - t)`` for each pair: one kernel per dtype group through torch's foreach op (what its
    optimizers use), a plain loop where that underscored op is missing."""
    foreach = getattr(torch, "_foreach_lerp_", None)
    if foreach is not None:
        foreach(targets, sources, weight)
        return
    for t, s in zip(targets, sources):
        t.lerp_(s, weight)


class ModelEma:
    """The averaged copy of `model` (`module`, in eval mode, no gradients); `update(model)` after each step.

    `state_dict()` / `load_state_dict()` carry the number of updates (the ramp's position) and the decay; the
    averaged weights are the module's own state dict."""

    def __init__(self, model: DarknetModel, decay: float, *, updates: int = 0, ramp: float = EMA_RAMP) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        if not ramp > 0:
            raise ValueError(f"EMA ramp must be positive, got {ramp}")
        self.decay, self.updates, self.ramp = float(decay), int(updates), float(ramp)
        self.module: DarknetModel = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay of the next update: `decay` ramped up by the number of updates so far."""
        return self.decay * (1.0 - math.exp(-self.updates / self.ramp))

    @torch.no_grad()
    def update(self, model: DarknetModel) -> None:
        """Fold the weights of `model` (the plain model being trained) into the average."""
        self.updates += 1
        weight = 1.0 - self.current_decay()
        ema_params: list[torch.Tensor] = [p for p in self.module.parameters() if p.is_floating_point()]
        params = [p.detach() for p in model.parameters() if p.is_floating_point()]
        lerp_all(ema_params, params, weight)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        """The averaging state (not the weights): {"decay", "updates", "ramp"}."""
        return {"decay": self.decay, "updates": self.updates, "ramp": self.ramp}

    def load_state_dict(self, state: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        """Continue from a checkpoint: its averaging `state` (the ramp too, so a resumed run averages exactly as
        the uninterrupted one) and the averaged `weights` (a state dict)."""
        self.module.load_state_dict(weights)
        self.updates = int(state["updates"])
        self.ramp = float(state.get("ramp", self.ramp))
