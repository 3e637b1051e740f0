"""Training classifiers (`yolo9000 train --task classify`): a model without [region] on class folders.

The loss is the paper's (section 3, Hierarchical classification): a softmax in every sibling group on the label's
path to the root, -log P(label) = the sum over the path's levels of -log P(node | parent), computed by
`TreeSoftmax.loss` (the code the region loss shares); a flat model is trained with cross-entropy. Labels may be
internal nodes of the tree (a folder of "dog" pictures trains the path down to "dog" and nothing below it).

The loop is the detection trainer's (`yolo9000.training.trainer.Trainer`, subclassed): SGD with the cfg's [net]
rate, momentum and decay (or the options), Darknet's burn-in and schedule, gradient accumulation, AMP on CUDA,
DDP, `--ema`, the run folder rule, checkpoints that `load_model` and `yolo9000 eval` read and that resume
exactly, log.csv, and validation on --val-folders (top-1, top-5, hierarchical) with OUT/best.pt by val/top1.
What differs is the data (class folders through `yolo9000.data.classify_augment`, in an order and with
augmentation that are functions of the seed and the step), the model check and the loss.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wordtree.formats import load_tree
from wordtree.softmax import TreeSoftmax
from wordtree.tree import WordTree
from yolo9000.darknet.model import DarknetModel
from yolo9000.darknet.templates import CLASSIFIERS, build_model, model_from_template, template_key
from yolo9000.darknet.weights import load_weights
from yolo9000.data.classify_augment import (
    CROP_SCALE,
    AugmentedFolders,
    ClassifyAugment,
    collate_classification,
    factor_range,
    train_transform,
)
from yolo9000.data.folders import ClassFolders
from yolo9000.detection.head import RegionConfig
from yolo9000.detection.targets import Targets
from yolo9000.training.config import TrainConfig, loader_workers
from yolo9000.training.distributed import amp_dtype
from yolo9000.training.trainer import Batch, ModelBuilder, Trainer, start_pretrained, train

log = logging.getLogger(__name__)

__all__ = [
    "ClassifierLoss",
    "ClassifyTrainer",
    "ShuffledBatches",
    "build_classifier",
    "check_classifier",
    "train_classifier",
]

#: options of detection training that a classifier run refuses (a value given would be silently unused)
DETECTION_OPTIONS = (
    "coco",
    "images",
    "label_map",
    "data",
    "split",
    "names_csv",
    "cls_fraction",
    "anchors",
    "sizes",
    "final_size",
    "jitter",
    "cls_scale",
    "cls_objectness",
    "cls_anchor",
    "val_coco",
    "val_images",
    "val_data",
    "val_split",
)


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def refuse_detection_options(cfg: TrainConfig) -> None:
    """One line for the first option of `cfg` that only detection training reads."""
    for name in DETECTION_OPTIONS:
        if getattr(cfg, name) is not None:
            raise ValueError(f"{_flag(name)} applies to detection; --task classify trains on --folders")
    if cfg.multiscale:
        raise ValueError("--multiscale applies to detection; --task classify trains at one --size")
    if cfg.decode != "cpu":
        raise ValueError("--decode gpu applies to detection; --task classify decodes in the loader workers")


def build_classifier(
    spec: str, tree: WordTree | None, classes: int | None, anchors: list[float] | None = None
) -> DarknetModel:
    """The model of `--cfg` for classifier training: a classifier template name (`darknet19`, sized for `tree`
    or `classes`), else what `yolo9000.darknet.templates.build_model` builds (a cfg file, another model name)."""
    key = template_key(spec)
    if not Path(spec).is_file() and key is not None and key in CLASSIFIERS:
        return model_from_template(spec, tree, classes=classes)
    if not Path(spec).is_file() and key is None and ":" not in spec:
        names = ", ".join(sorted(k.replace("_", "-") for k in CLASSIFIERS))
        raise FileNotFoundError(f"--cfg {spec}: no such cfg file, and not a classifier name ({names})")
    return build_model(spec, tree, classes, anchors, task="classify")


def check_classifier(model: DarknetModel, spec: str, tree: WordTree | None, classes: int) -> None:
    """Refuse, in one line, a model that cannot be trained as a classifier of `classes` classes or tree nodes:
    a detector, a tree model without --tree, or an output that is not one value per class."""
    if model.region is not None:
        raise ValueError(f"{spec}: the model has a [region] layer (a detector); train it without --task classify")
    if tree is None and model.tree is not None:
        raise ValueError(
            f"{spec}: the cfg uses a tree ([softmax] tree=); pass the same tree with --tree, without --flat"
        )
    c, h, w = model.shapes[-1]
    if (h, w) != (1, 1) or c != classes:
        raise ValueError(
            f"{spec}: the model outputs {c}x{h}x{w} values per picture but the data has {classes} classes/nodes "
            f"(a classifier ends in one value per class, e.g. [avgpool] after a conv of filters={classes})"
        )


class ClassifierLoss(nn.Module):
    """`(raw output, targets, seen) -> (loss summed over the pictures, parts)`, as the trainer calls a loss.

    With a tree: -log P(label) through the tree softmax (the model's own, else one built for its tree): the
    paper's per-level softmax over the label's root path. Flat: cross-entropy over the classes."""

    def __init__(self, model: DarknetModel) -> None:
        super().__init__()
        ts = model.classifier_softmax
        if ts is None and model.tree is not None:
            ts = TreeSoftmax(model.tree)
        self.tree_softmax = ts

    def forward(self, raw: torch.Tensor, targets: Targets, seen: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss summed over the pictures, {"avg_cat": the mean P(label)}) of raw output (B, C[, 1, 1])."""
        logits = raw.flatten(1).float()
        labels = targets.label
        if self.tree_softmax is not None:
            per = self.tree_softmax.loss(logits, labels, reduction="none")
        else:
            per = F.cross_entropy(logits, labels, reduction="none")
        return per.sum(), {"avg_cat": torch.exp(-per.detach()).mean()}


class ShuffledBatches(torch.utils.data.Sampler[list[tuple[int, int]]]):
    """Micro-batches of (picture, augmentation seed): a fresh shuffle of the `n` pictures every epoch, both a
    function of `seed` and the position in the run only, so a resumed run (`start`) continues the same stream.

    Micro-batch b of rank r holds the run's pictures at positions (b * world_size + r) * micro ..+ micro."""

    def __init__(
        self, n: int, micro: int, *, seed: int, start: int, stop: int, rank: int = 0, world_size: int = 1
    ) -> None:
        if n < 1:
            raise ValueError("no pictures to sample")
        self.n, self.micro, self.seed = n, micro, seed
        self.start, self.stop = start, stop
        self.rank, self.world_size = rank, world_size
        self._epoch, self._order = -1, np.arange(n)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def _picture(self, position: int) -> int:
        epoch, at = divmod(position, self.n)
        if epoch != self._epoch:  # one shuffle per epoch, kept while the epoch lasts
            self._epoch, self._order = epoch, np.random.default_rng([self.seed, 0, epoch]).permutation(self.n)
        return int(self._order[at])

    def batch(self, b: int) -> list[tuple[int, int]]:
        """Micro-batch `b` of this rank."""
        first = (b * self.world_size + self.rank) * self.micro
        seeds = np.random.default_rng([self.seed, 1, b * self.world_size + self.rank]).integers(0, 2**62, self.micro)
        return [(self._picture(first + k), int(s)) for k, s in enumerate(seeds)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for b in range(self.start, self.stop):
            yield self.batch(b)


class ClassifyTrainer(Trainer):
    """The detection `Trainer` with class folders, a classifier and `ClassifierLoss` (see the module docstring);
    `run()` trains and returns the same summary."""

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        resume: str | Path | None = None,
        model_builder: ModelBuilder | None = None,
        force: bool = False,
    ) -> None:
        refuse_detection_options(cfg)
        super().__init__(cfg, resume=resume, model_builder=model_builder or build_classifier, force=force)

    # ------------------------------------------------------------------ data
    def _build_data(self) -> None:
        cfg = self.cfg
        if cfg.folders is None:
            raise ValueError("--task classify needs --folders DIR (class folders: DIR/<class>/<pictures>)")
        if cfg.cfg is None:
            raise ValueError("--task classify needs --cfg: a classifier cfg file or model name (darknet19)")
        # --flat: one class per folder; the tree (if given) is not the head's, the folders keep their names
        self.tree = load_tree(cfg.tree) if cfg.tree and not cfg.flat else None
        self.det = None
        self.cls = ClassFolders(cfg.folders, self.tree, exif=cfg.exif)
        self.names = list(self.tree.names) if self.tree is not None else list(self.cls.names)
        self.model_spec = cfg.cfg

    def _augment(self, size: int) -> ClassifyAugment:
        """The training augmentation: --scale is the crop's area range, --hue / --saturation / --exposure the
        colour jitter (Darknet's meaning: shifts of +-hue, factors 1/S..S), --no-flip turns the flips off."""
        cfg = self.cfg
        hue = cfg.hue or 0.0
        scale = cfg.scale or CROP_SCALE
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(
                f"--scale {scale[0]} {scale[1]}: with --task classify it is the crop's share of the picture's area, "
                "0 < MIN <= MAX <= 1"
            )
        if hue > 0.5:
            raise ValueError(f"--hue {hue}: hue shifts go up to .5 (half the colour circle)")
        return ClassifyAugment(
            size=size,
            scale=(float(scale[0]), float(scale[1])),
            flip=cfg.flip,
            brightness=factor_range(cfg.exposure),
            saturation=factor_range(cfg.saturation),
            hue=(-hue, hue),
        )

    # ------------------------------------------------------------------ model
    def _build_model(self) -> None:
        cfg = self.cfg
        classes = None if self.tree is not None else len(self.names)
        with self.rng.active():  # the initial weights come from the run's seed
            model = self.model_builder(self.model_spec, self.tree, classes, None)
        check_classifier(model, self.model_spec, self.tree, len(self.names))
        self.start_seen = 0
        if self.ckpt is None and cfg.pretrained:
            start_pretrained(model, self.model_spec)
        if self.ckpt is None and cfg.weights:
            load_weights(model, cfg.weights, cfg.weights_layers)
            layers = cfg.weights_layers or len(model.conv_blocks())
            log.info("%s: loaded %d conv layer(s) as the starting point", Path(cfg.weights), layers)
        # a classifier has no [region]: its defaults (one input size, no detection augmentation) resolve the rest
        self.settings = cfg.resolved(model.net, RegionConfig())
        self.augment = self._augment(self.settings.sizes[-1])
        self.model = model.to(self.device)
        self.model.train()
        self.amp_dtype = amp_dtype(cfg.amp, self.device)
        channels_last = cfg.channels_last if cfg.channels_last is not None else self.device.type == "cuda"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.loss_fn = ClassifierLoss(self.model).to(self.device)
        self.forward_model: nn.Module = self.model
        if self.dist.enabled:
            self.forward_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if cfg.compile:  # an OptimizedModule (an nn.Module), typed by torch as a plain callable
            self.forward_model = cast(nn.Module, torch.compile(self.forward_model))

    # ------------------------------------------------------------------ loop
    def _loader(self) -> torch.utils.data.DataLoader[Any]:
        cfg, s = self.cfg, self.settings
        self.batches = ShuffledBatches(
            len(self.cls),
            s.micro,
            seed=cfg.seed,
            start=self.step * s.subdivisions,
            stop=s.steps * s.subdivisions,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        workers = loader_workers(cfg.workers)
        return torch.utils.data.DataLoader(
            AugmentedFolders(self.cls, train_transform(self.augment)),
            batch_sampler=self.batches,
            collate_fn=collate_classification,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )

    def _device_batch(self, batches: Iterator[Batch]) -> tuple[torch.Tensor, Targets, float]:
        """The next micro-batch on the device (float images, already augmented, in the training memory format),
        its targets, and the seconds spent waiting for the loader."""
        tw = time.perf_counter()
        images, targets, _ = next(batches)
        wait = time.perf_counter() - tw
        if not isinstance(images, torch.Tensor):  # collate_classification gives decoded pictures only
            raise TypeError(f"expected an image tensor from the loader, got {type(images).__name__}")
        images = images.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return images, targets.to(self.device, non_blocking=True), wait


def train_classifier(
    cfg: TrainConfig,
    *,
    resume: str | Path | None = None,
    model_builder: ModelBuilder | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Build a `ClassifyTrainer` from `cfg`, run it, and return its summary (`yolo9000.training.trainer.train`)."""
    return train(cfg, resume=resume, model_builder=model_builder, force=force, trainer_class=ClassifyTrainer)
