"""Training configuration: defaults < YAML file < command-line overrides; saved as YAML beside the checkpoints.

Options left at None are filled from the model cfg's [net]/[region] sections (Darknet's batch, subdivisions,
learning_rate, burn_in, steps, scales, max_batches, size, random, jitter, hue, saturation, exposure).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from wordtree import options as rules

DEFAULT_OUT = "runs/train"

# The rule of each numeric field (wordtree.options, the same rules as the command line); list fields give the
# rule of each item and the number of items (None: any number, 0: an even number of w,h pairs).
_NUMBERS: dict[str, Callable[[object, str | None], Any]] = {
    "cls_fraction": rules.probability,
    "repeat_det": rules.positive_float,
    "repeat_cls": rules.positive_float,
    "weights_layers": rules.positive_int,
    "steps": rules.positive_int,
    "batch": rules.positive_int,
    "subdivisions": rules.positive_int,
    "lr": rules.positive_float,
    "momentum": rules.probability,
    "decay": rules.non_negative_float,
    "burn_in": rules.non_negative_int,
    "size": rules.size32,
    "scale_every": rules.positive_int,
    "final_size": rules.size32,
    "jitter": rules.probability,
    "hue": rules.probability,
    "saturation": rules.positive_float,
    "exposure": rules.positive_float,
    "max_boxes": rules.positive_int,
    "workers": rules.non_negative_int,
    "seed": rules.non_negative_int,
    "save_every": rules.positive_int,
    "log_every": rules.positive_int,
}
_LISTS: dict[str, tuple[Callable[[object, str | None], Any], int | None]] = {
    "anchors": (rules.positive_float, 0),
    "lr_steps": (rules.positive_int, None),
    "lr_scales": (rules.non_negative_float, None),
    "sizes": (rules.size32, 2),
    "scale": (rules.positive_float, 2),
    "cls_scale": (rules.positive_float, 2),
}
_BOOLS = {"exif", "multiscale", "flip", "channels_last", "compile", "tensorboard", "progress"}
_CHOICES = {"decode": ("cpu", "gpu")}


def check_option(name: str, value: Any) -> Any:
    """`value` of the field `name` checked by its rule (numbers parsed, lists copied); raises `ValueError`
    ``option 'NAME': expected ..., got ...``."""
    key = name.replace("-", "_")
    if key in _NUMBERS:
        return _NUMBERS[key](value, name)
    if key in _LISTS:
        rule, count = _LISTS[key]
        if count == 0:
            shape = "an even number of values (w h pairs)"
        else:
            shape = f"a list of {count} values" if count else "a list of values"
        if not isinstance(value, (list, tuple)) or not value or (count and len(value) != count):
            raise ValueError(f"option {name!r}: expected {shape}, got {value!r}")
        if count == 0 and len(value) % 2:
            raise ValueError(f"option {name!r}: expected {shape}, got {len(value)} values")
        return [rule(v, name) for v in value]
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise ValueError(f"option {name!r}: expected true or false, got {value!r}")
        return value
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ValueError(f"option {name!r}: expected one of {', '.join(_CHOICES[key])}, got {value!r}")
        return value
    if key == "extra":
        if not isinstance(value, dict):
            raise ValueError(f"option {name!r}: expected a mapping, got {value!r}")
        return value
    if not isinstance(value, (str, os.PathLike)):  # file names, device, choices
        raise ValueError(f"option {name!r}: expected a string, got {value!r}")
    return value


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
    exif: bool = True  # turn pictures as their EXIF orientation says; False: the stored pixels, as Darknet
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
    decode: str = "cpu"  # gpu: the loader reads JPEG bytes and the training step decodes them (nvjpeg on CUDA)
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
                try:
                    clean[key] = check_option(str(k), v)
                except ValueError as exc:
                    raise ValueError(f"{source}: {exc}") from None
        return dataclasses.replace(self, **clean)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/JSON-able)."""
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write the config as YAML (atomically)."""
        from wordtree.files import write_text_atomic

        return write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))
