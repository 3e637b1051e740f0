"""Training configuration: defaults < YAML file < command-line overrides; saved as YAML beside the checkpoints.

Options left at None are filled from the model cfg's [net]/[region] sections (Darknet's batch, subdivisions,
learning_rate, burn_in, steps, scales, max_batches, size, random, jitter, hue, saturation, exposure).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

DEFAULT_OUT = "runs/train"


@dataclass
class TrainConfig:
    """Every knob of `yolo9000 train` (see `yolo9000 train --help` for each)."""

    # data
    coco: str | None = None
    images: str | None = None
    folders: str | None = None
    tree: str | None = None
    label_map: str | None = None
    cls_fraction: float | None = None
    repeat_det: float = 1.0
    repeat_cls: float = 1.0
    # model
    cfg: str | None = None
    weights: str | None = None
    weights_layers: int | None = None
    anchors: list[float] | None = None  # w,h pairs in grid cells (e.g. from `yolo9000 anchors`)
    # schedule / optimisation (None: from the cfg's [net])
    out: str = DEFAULT_OUT
    steps: int | None = None
    batch: int | None = None
    subdivisions: int | None = None
    lr: float | None = None
    momentum: float | None = None
    decay: float | None = None
    burn_in: int | None = None
    policy: str | None = None
    lr_steps: list[int] | None = None
    lr_scales: list[float] | None = None
    size: int | None = None
    multiscale: bool | None = None
    sizes: list[int] | None = None  # [min, max], step 32
    scale_every: int = 10
    final_size: int | None = None  # Darknet: the largest size for the last 200 steps
    # augmentation (None: from the cfg)
    jitter: float | None = None
    hue: float | None = None
    saturation: float | None = None
    exposure: float | None = None
    flip: bool = True
    max_boxes: int = 30
    scale: list[float] | None = None  # [min, max] size of the placed picture vs the canvas (Darknet: 1)
    cls_scale: list[float] | None = None  # the same for classification pictures (None: trainer.PAPER_CLS_RULES)
    # loss
    # classification images; None: the paper's rules (trainer.PAPER_CLS_RULES)
    cls_objectness: str | None = None
    cls_anchor: str | None = None
    # runtime
    device: str = "auto"
    amp: str = "auto"  # auto | bf16 | fp16 | off
    channels_last: bool | None = None
    compile: bool = False
    workers: int | None = None
    seed: int = 0
    save_every: int = 100
    log_every: int = 1
    tensorboard: bool = True
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def names(cls) -> list[str]:
        """Field names."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_yaml(cls, path: str | Path, base: "TrainConfig | None" = None) -> "TrainConfig":
        """Read a YAML mapping of field names (dashes or underscores) over `base` (default: the defaults);
        unknown keys are an error."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise ValueError(f"{p}: not valid YAML{where}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{p}: expected a mapping of option: value")
        return (base or cls()).updated(data, source=str(p))

    def updated(self, values: dict[str, Any], source: str = "overrides") -> "TrainConfig":
        """A copy with `values` applied (None values are ignored)."""
        known = set(self.names())
        clean = {}
        for k, v in values.items():
            key = str(k).replace("-", "_")
            if key not in known:
                raise ValueError(f"{source}: unknown option {k!r}")
            if v is not None:
                clean[key] = v
        return dataclasses.replace(self, **clean)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/JSON-able)."""
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write the config as YAML (atomically)."""
        from wordtree.files import write_text_atomic

        return write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))
