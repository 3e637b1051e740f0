"""Training configuration: defaults < YAML file < command-line overrides; saved as YAML beside the checkpoints.

Options left at None are filled from the model cfg's [net]/[region] sections (Darknet's batch, subdivisions,
learning_rate, momentum, decay, burn_in, policy, steps, scales, power, max_batches, width, random, jitter, hue,
saturation, exposure) in one place, `TrainConfig.resolved(net, region)`, whose `ResolvedTrainConfig` the trainer
reads.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from wordtree import options as rules
from yolo9000.darknet.templates import TASKS
from yolo9000.data.augment import AugmentConfig, multiscale_sizes
from yolo9000.detection.head import RegionConfig
from yolo9000.training.schedule import POLICIES

log = logging.getLogger(__name__)

DEFAULT_OUT = "runs/train"
#: what `yolo9000 train` trains: a detector (the region loss), or a classifier on class folders
#: (`yolo9000.training.classify`)

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
    "val_every": rules.positive_int,
    "ema": rules.threshold,
    "ema_ramp": rules.positive_float,
}


def _path_text(value: object, name: str | None) -> str:
    """A file or folder name in a list option (`data`, `val_data`)."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ValueError(f"option {name!r}: expected file or folder names, got {value!r}")
    return str(value)


_LISTS: dict[str, tuple[Callable[[object, str | None], Any], int | None]] = {
    "anchors": (rules.positive_float, 0),
    "lr_steps": (rules.positive_int, None),
    "lr_scales": (rules.non_negative_float, None),
    "sizes": (rules.size32, 2),
    "scale": (rules.positive_float, 2),
    "cls_scale": (rules.positive_float, 2),
    "data": (_path_text, None),
    "val_data": (_path_text, None),
}
_BOOLS = {"pretrained", "flat", "exif", "multiscale", "flip", "channels_last", "compile", "tensorboard", "progress"}
_CHOICES = {"decode": ("cpu", "gpu"), "task": TASKS}


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


#: Options that change only what a run prints and logs, never its weights (`TrainConfig.differences` ignores them)
COSMETIC = frozenset({"progress", "tensorboard", "log_every"})

# Rules for classification-only pictures when the options leave them unset: YOLO9000's (a recipe such as the
# emoji world's, `yolo9000.emoji.recipe`, sets its own in the config)
PAPER_CLS_RULES: dict[str, Any] = {"cls_objectness": "paper", "cls_anchor": "label", "cls_scale": None}


def loader_workers(workers: int | None) -> int:
    """The DataLoader workers per rank: `workers`, else one per CPU core but one, at most 8."""
    return workers if workers is not None else min(8, max(0, (os.cpu_count() or 1) - 1))


def scale_range(value: Sequence[float] | None, flag: str) -> tuple[float, float]:
    """A [min, max] placement-scale option as a checked tuple ((1, 1) when unset)."""
    if value is None:
        return (1.0, 1.0)
    values = [float(v) for v in value]
    if len(values) != 2 or not 0 < values[0] <= values[1]:
        raise ValueError(f"{flag} takes MIN MAX with 0 < MIN <= MAX, got {' '.join(map(str, value))}")
    return (values[0], values[1])


@dataclass
class TrainConfig:
    """Every knob of `yolo9000 train` (see `yolo9000 train --help` for each)."""

    task: str = "detect"  # one of TASKS
    # data
    coco: str | None = None
    images: str | None = None
    folders: str | None = None
    tree: str | None = None
    label_map: str | None = None
    # datasets in any format `yolo9000.data.sources.open_source` reads (YOLO data.yaml, Darknet .data, VOC, Open
    # Images YAML, COCO JSON, class folders), mixed with --coco / --folders; `split` picks their split
    data: list[str] | None = None
    split: str | None = None
    names_csv: str | None = None  # name,id rows placing free-form class names of `data` in the tree
    cls_fraction: float | None = None
    repeat_det: float = 1.0
    repeat_cls: float = 1.0
    exif: bool = True  # turn pictures as their EXIF orientation says; False: the stored pixels, as Darknet
    # model
    cfg: str | None = None
    weights: str | None = None
    weights_layers: int | None = None
    pretrained: bool = False  # torchvision's ImageNet weights into the [torchvision] layers of a new run
    flat: bool = False  # --task classify: a flat softmax over the class folders, even with --tree
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
    cls_scale: list[float] | None = None  # the same for classification pictures (None: PAPER_CLS_RULES)
    # loss
    # classification images; None: the paper's rules (PAPER_CLS_RULES)
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
    tensorboard: bool | None = None  # None: on when the tensorboard package is installed (silently off otherwise)
    progress: bool = True
    # validation while training (yolo9000.training.validation): COCO boxes and/or class folders
    val_coco: str | None = None
    val_images: str | None = None  # default: VAL_JSON_DIR/images, else the JSON's folder (as `yolo9000 eval`)
    val_folders: str | None = None
    val_data: list[str] | None = None  # held-out data in any `data` format (its validation split by default)
    val_split: str | None = None
    val_every: int | None = None  # None: from the size of the validation set (validation.default_val_every)
    val_metric: str | None = None  # the figure that picks best.pt; None: val/AP50 (val/top1 with folders only)
    # exponential moving average of the weights (yolo9000.training.ema); None or 0: off
    ema: float | None = None
    ema_ramp: float | None = None  # steps of the decay's warm-up; None: yolo9000.training.ema.default_ramp(steps)
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

    def resolved(self, net: dict[str, Any], region: RegionConfig) -> ResolvedTrainConfig:
        """The config with every option left at None filled from the model cfg's `[net]` options (typed, as
        `DarknetModel.net`) and its `[region]`, and the class-picture rules from `PAPER_CLS_RULES`; checked
        (batch divisible by subdivisions, scale ranges). The trainer reads only this."""
        batch = int(self.batch or net["batch"])
        subdivisions = int(self.subdivisions or net["subdivisions"])
        if batch % subdivisions:
            raise ValueError(f"batch {batch} is not divisible by subdivisions {subdivisions}")
        steps = int(self.steps or net["max_batches"] or 1000)
        size = int(self.size or net["width"])
        multiscale = bool(region.random) if self.multiscale is None else self.multiscale
        if multiscale:
            bounds: Sequence[int | None] = self.sizes or [None, None]
            sizes = multiscale_sizes(size, bounds[0], bounds[1])
        else:
            sizes = [size]
        final_size = self.final_size if self.final_size else (max(sizes) if multiscale else None)
        augment = AugmentConfig(
            jitter=region.jitter if self.jitter is None else self.jitter,
            hue=region.hue if self.hue is None else self.hue,
            saturation=region.saturation if self.saturation is None else self.saturation,
            exposure=region.exposure if self.exposure is None else self.exposure,
            flip=self.flip,
            max_boxes=self.max_boxes,
            scale=scale_range(self.scale, "--scale"),
        )
        rules_: dict[str, Any] = {
            k: v if getattr(self, k) is None else getattr(self, k) for k, v in PAPER_CLS_RULES.items()
        }
        # classification pictures (one big object, ImageNet-like) may be shrunk onto the canvas so their objects
        # come at detection scale; None keeps the detection setting
        cls_scale = rules_["cls_scale"]
        cls_augment = (
            augment if cls_scale is None else dataclasses.replace(augment, scale=scale_range(cls_scale, "--cls-scale"))
        )
        policy = self.policy or str(net["policy"])
        if policy not in POLICIES:
            log.warning("lr policy %r is not supported; using a constant rate after burn-in", policy)
            policy = "constant"
        return ResolvedTrainConfig(
            batch=batch,
            subdivisions=subdivisions,
            micro=batch // subdivisions,
            steps=steps,
            sizes=sizes,
            final_size=final_size,
            augment=augment,
            cls_augment=cls_augment,
            cls_objectness=str(rules_["cls_objectness"]),
            cls_anchor=str(rules_["cls_anchor"]),
            lr=float(self.lr if self.lr is not None else net["learning_rate"]),
            decay=float(self.decay if self.decay is not None else net["decay"]),
            momentum=float(self.momentum if self.momentum is not None else net["momentum"]),
            policy=policy,
            burn_in=int(self.burn_in if self.burn_in is not None else net["burn_in"] or 0),
            power=float(net["power"] or 4),
            lr_steps=[int(v) for v in (self.lr_steps if self.lr_steps is not None else net["steps"] or [])],
            lr_scales=[float(v) for v in (self.lr_scales if self.lr_scales is not None else net["scales"] or [])],
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/JSON-able)."""
        return asdict(self)

    def differences(self, saved: dict[str, Any]) -> list[str]:
        """The options whose values differ between this config and `saved` (a run's `to_dict()`, e.g. from its
        checkpoint; options it lacks take their defaults), leaving out those that change only the console and the
        logs (`COSMETIC`): empty when `saved` is a run of this config."""
        known = set(self.names())
        other = TrainConfig().updated({k: v for k, v in saved.items() if k in known}, source="the saved config")
        mine, theirs = self.to_dict(), other.to_dict()
        return [k for k in mine if k not in COSMETIC and mine[k] != theirs[k]]

    def save(self, path: str | Path) -> Path:
        """Write the config as YAML (atomically)."""
        from wordtree.files import write_text_atomic

        return write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


@dataclass(frozen=True)
class ResolvedTrainConfig:
    """A `TrainConfig` with the model cfg's defaults filled in (`TrainConfig.resolved`): what the trainer runs.

    `micro` is the images per micro-batch (batch / subdivisions); `sizes` the input sizes the sampler draws from
    (one without multi-scale); `final_size` the size of the last steps (None: no final phase); `augment` and
    `cls_augment` the augmentation of detection and classification pictures.
    """

    batch: int
    subdivisions: int
    micro: int
    steps: int
    sizes: list[int]
    final_size: int | None
    augment: AugmentConfig
    cls_augment: AugmentConfig
    cls_objectness: str
    cls_anchor: str
    lr: float
    decay: float
    momentum: float
    policy: str
    burn_in: int
    power: float
    lr_steps: list[int]
    lr_scales: list[float]
