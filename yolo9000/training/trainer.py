"""The trainer: joint detection + classification training of a DarknetModel with the region loss.

SGD (momentum .9, weight decay on conv weights only), Darknet's burn-in + steps schedule (or cosine), gradient
accumulation over `subdivisions` micro-batches, AMP (bf16/fp16) + channels_last on CUDA, optional
torch.compile, DDP through torchrun (gloo on CPU), atomic checkpoints that resume exactly, a CSV log,
TensorBoard scalars when installed, and a clear stop on a non-finite loss (the last good checkpoint is kept).

The loss is summed over images (Darknet's per-batch delta); each micro-batch's sum is divided by the number of
images in one optimizer step, so the step sees the mean over the batch (Darknet updates with lr / batch). Under
DDP the gradients are averaged over ranks: the lr applies to the mean over the global batch (Darknet's lr x
ngpus rule is not applied). The data already carries tree nodes, so a cfg's `map=` is not re-applied.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import torch
from torch import nn

from wordtree.files import prepare_output_dir, write_text_atomic
from wordtree.formats import load_tree
from yolo9000.darknet.checkpoint import load_checkpoint, save_checkpoint, set_rng_state, unwrap
from yolo9000.darknet.model import DarknetModel
from yolo9000.data import (
    AugmentConfig,
    ClassFolders,
    CocoDetection,
    JointBatchSampler,
    JointDataset,
    distort_hsv_batch,
    multiscale_sizes,
)
from yolo9000.data.image_io import device_decode_problem
from yolo9000.data.joint import EncodedBatch, collate_for
from yolo9000.device import resolve_device
from yolo9000.training.config import TrainConfig
from yolo9000.training.distributed import amp_dtype, replica_digest, setup_distributed
from yolo9000.training.metrics_log import MetricsLog
from yolo9000.training.schedule import DarknetSchedule, make_scheduler

log = logging.getLogger(__name__)

__all__ = ["Trainer", "TrainingDiverged", "train", "build_model", "load_backbone", "param_groups"]


LOSS_PARTS = ("coord", "obj", "noobj", "class", "prior", "cls_only")


ModelBuilder = Callable[[str, Any, "int | None", "list[float] | None"], DarknetModel]


class StepResult(NamedTuple):
    """What one optimizer step reports: mean loss per image, summed loss parts, input size, learning rate,
    seconds waiting for data and seconds in all."""

    loss: float
    sums: dict
    size: int
    lr: float
    wait: float
    seconds: float


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped before the bad update."""


# Rules for classification-only pictures when the options leave them unset: YOLO9000's (a recipe such as the
# emoji world's, `yolo9000.emoji.recipe`, sets its own in the config)
PAPER_CLS_RULES = {"cls_objectness": "paper", "cls_anchor": "label", "cls_scale": None}


def _scale_range(value, flag: str) -> tuple[float, float]:
    """A [min, max] placement-scale option as a checked tuple ((1, 1) when unset)."""
    if value is None:
        return (1.0, 1.0)
    values = [float(v) for v in value]
    if len(values) != 2 or not 0 < values[0] <= values[1]:
        raise ValueError(f"{flag} takes MIN MAX with 0 < MIN <= MAX, got {' '.join(map(str, value))}")
    return (values[0], values[1])


def build_model(spec: str, tree, classes: int | None, anchors: list[float] | None = None):
    """A DarknetModel from a cfg file path or a `yolo9000.darknet.templates` constructor name.

    `anchors` (flat w,h list in grid cells) replace the defaults of a named model; a cfg file keeps its own.
    """
    from yolo9000.darknet.model import DarknetModel

    pairs = None
    if anchors is not None:
        if len(anchors) < 2 or len(anchors) % 2:
            raise ValueError(f"--anchors needs w,h pairs, got {len(anchors)} values")
        pairs = [(float(anchors[i]), float(anchors[i + 1])) for i in range(0, len(anchors), 2)]
    p = Path(spec)
    if p.is_file():
        if pairs is not None:
            raise ValueError(f"--anchors applies to model names; edit the anchors= line of {p} instead")
        return DarknetModel.from_cfg_text(p.read_text(encoding="utf-8"), tree=tree, base_dir=p.parent, source=str(p))
    from yolo9000.darknet import templates

    ctor = templates.MODELS.get(spec.replace("-", "_"))
    if ctor is None or spec.replace("-", "_") == "darknet19":
        raise FileNotFoundError(
            f"--cfg {spec}: no such cfg file, and not a detector name "
            f"({', '.join(sorted(set(templates.MODELS) - {'darknet19'}))})"
        )
    kw = {} if pairs is None else {"anchors": pairs, "num_anchors": len(pairs)}
    if tree is not None:
        return ctor(tree=tree, **kw)
    if classes is None or "classes" not in inspect.signature(ctor).parameters:
        raise ValueError(f"--cfg {spec}: needs a tree (--tree) to size its head")
    return ctor(classes=classes, **kw)


@torch.no_grad()
def load_backbone(model, path: str | Path, layers: int | None = None) -> int:
    """Copy the first `layers` conv layers of a Darknet .weights file into `model` (all of them when None).

    With `layers` the file may belong to another cfg sharing the trunk (e.g. the Darknet-19 ImageNet
    classifier, `darknet19_448.conv.23` with layers=23): layers are read in order until `layers` are loaded,
    a shape stops fitting, or the file ends. Without it the file must fit the whole model exactly (a file
    for another cfg is an error stating both sizes, never a silent partial load). Returns layers loaded.
    """
    from yolo9000.darknet.weights import conv_layer_sizes, fill_conv_layers, read_weights_header

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: weights file not found")
    _, _, header = read_weights_header(p)
    base = cast(DarknetModel, unwrap(model))  # a DarknetModel, maybe inside a wrapper
    blocks = base.conv_blocks()
    if layers is None:
        ends = np.cumsum(conv_layer_sizes(blocks))
        total = int(ends[-1]) if len(ends) else 0
        size, need = p.stat().st_size, header + 4 * total
        if size != need:
            floats = (size - header) // 4
            hint = "to start from the first N layers of another cfg pass --weights-layers N"
            if (size - header) % 4 == 0 and floats in ends:  # e.g. darknet19_448.conv.23 for yolo9000
                k = int(np.searchsorted(ends, floats)) + 1
                hint = f"it holds exactly this model's first {k} conv layers: pass --weights-layers {k} to load them"
            raise ValueError(
                f"{p}: weights file has {size} bytes ({floats} float32 values) but the model needs {need} bytes "
                f"({header}-byte header + {total} float32 values) for all {len(blocks)} conv "
                f"layers; {hint}"
            )
    if layers is not None and layers < 1:
        raise ValueError(f"{p}: --weights-layers must be >= 1, got {layers}")
    data = np.fromfile(p, dtype="<f4", offset=header)
    limit = len(blocks) if layers is None else layers
    if limit > len(blocks):
        raise ValueError(
            f"{p}: asked for {limit} conv layers (--weights-layers {limit}) but the model has only {len(blocks)}"
        )
    loaded, _ = fill_conv_layers(blocks[:limit], data, p)
    if layers is not None and loaded < layers:
        raise ValueError(f"{p}: holds only {loaded} conv layers that fit this model, {layers} requested")
    if loaded == 0:
        raise ValueError(f"{p}: no conv layer of this file fits the model's first layer")
    log.info("%s: loaded %d conv layer(s) as the starting point", p, loaded)
    return loaded


def param_groups(model: nn.Module, decay: float) -> list[dict]:
    """Weight decay on conv weights only (Darknet decays conv weights, never biases or BN parameters)."""
    conv_w = {id(m.weight) for m in model.modules() if isinstance(m, nn.Conv2d)}
    with_decay = [p for p in model.parameters() if id(p) in conv_w and p.requires_grad]
    rest = [p for p in model.parameters() if id(p) not in conv_w and p.requires_grad]
    return [{"params": with_decay, "weight_decay": decay}, {"params": rest, "weight_decay": 0.0}]


def _layer_spec(cfg_text: str) -> list[tuple[str, dict]]:
    """The layers a cfg text builds (sections after [net]; the tree/map file names left out), for comparing."""
    from yolo9000.darknet.cfg import parse_cfg

    skip = {"tree", "map"}
    return [
        (s.name, {k: v for k, v in s.options.items() if k not in skip}) for s in parse_cfg(cfg_text) if s.name != "net"
    ]


# ----------------------------------------------------------------------------------------------- trainer
#: The files `yolo9000 train` writes into its run folder (a user's file of one of these names is never replaced)
RUN_FILES = ("config.yaml", "log.csv", "summary.json", "last.pt", "tensorboard")


class Trainer:
    """Builds data, model, optimizer and loop from a TrainConfig; `run()` trains and returns a summary dict.

    `model_builder(spec, tree, classes, anchors)` makes the model named by `cfg.cfg` (default `build_model`:
    a cfg file or a `yolo9000.darknet.templates` name; a recipe may pass one that knows more names)."""

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        resume: str | Path | None = None,
        model_builder: ModelBuilder | None = None,
        force: bool = False,
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.model_builder = model_builder or build_model
        self.device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = setup_distributed(self.device)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)

        self.ckpt = None
        if resume is not None:
            self.ckpt = load_checkpoint(resume)
            self.resume_path = str(resume)
        # the run folder: new, empty or one `yolo9000 train` made (a user's files in it are never replaced);
        # checked now, created and marked when training starts (`run`)
        self._force, self._resume = force, resume
        self.out_dir = self._run_folder(save=False)
        if resume is None and (self.run_dir / "last.pt").exists():
            raise ValueError(
                f"{self.run_dir / 'last.pt'} exists; pass --resume to continue that run or choose another --out"
            )

        self._build_data()
        self._build_model()
        self._build_optim()

    def _run_folder(self, save: bool):
        """The run folder under the rule of `wordtree.files.prepare_output_dir`; `save` creates and marks it.

        A folder without the marker is taken as this command's own only when resuming from its `last.pt`
        (a checkpoint of ours, loaded above): runs written before the marker existed resume as before."""
        cfg, resume = self.cfg, self._resume
        inputs = [cfg.coco, cfg.images, cfg.folders, cfg.tree, cfg.label_map, cfg.cfg, cfg.weights]
        if cfg.coco and not cfg.images:
            inputs.append(str(Path(cfg.coco).parent / "images"))  # the COCO reader's default image folder

        def resuming_here(folder: Path) -> bool:
            last = folder / "last.pt"
            return (
                resume is not None
                and isinstance(self.ckpt, dict)
                and "model" in self.ckpt
                and last.is_file()
                and Path(resume).resolve() == last.resolve()
            )

        return prepare_output_dir(
            self.run_dir,
            command="yolo9000 train",
            settings={"resumed_from": str(resume) if resume is not None else None},
            force=self._force,
            inputs=inputs,
            owned=RUN_FILES,
            save=save,
            adopt=resuming_here,
        )

    # ------------------------------------------------------------------ data
    def _build_data(self) -> None:
        cfg = self.cfg
        tree = load_tree(cfg.tree) if cfg.tree else None
        coco, images, folders = cfg.coco, cfg.images, cfg.folders
        self.cls_rules: dict[str, Any] = {
            k: v if getattr(cfg, k) is None else getattr(cfg, k) for k, v in PAPER_CLS_RULES.items()
        }
        if coco is None and folders is None:
            raise ValueError("no training data: give --coco (boxes) and/or --folders (class pictures)")
        self.tree = tree
        self.det = CocoDetection(coco, images, tree, label_map=cfg.label_map, exif=cfg.exif) if coco else None
        self.cls = ClassFolders(folders, tree, exif=cfg.exif) if folders else None
        if self.cls is not None and tree is None and self.det is not None:
            raise ValueError(
                "classification folders together with flat COCO classes need a --tree to put both "
                "label sets in one space"
            )
        if self.det is not None:
            names = self.det.names
        else:
            assert self.cls is not None  # checked above: boxes and/or class folders
            names = self.cls.names
        self.names = list(tree.names) if tree is not None else list(names)
        if cfg.cfg is None:
            raise ValueError("--cfg is required with your own data (a cfg file or a model name)")
        self.model_spec = cfg.cfg

    # ------------------------------------------------------------------ model
    def _build_model(self) -> None:
        cfg = self.cfg
        model = self.model_builder(
            self.model_spec, self.tree, None if self.tree is not None else len(self.names), cfg.anchors
        )
        if model.region is None or model.head is None:
            raise ValueError(f"{self.model_spec}: the cfg has no [region] layer; it is not a detector")
        if self.tree is None and model.tree is not None:
            raise ValueError(f"{self.model_spec}: the cfg uses a tree; pass the same tree with --tree")
        if model.region.classes != len(self.names):
            raise ValueError(
                f"{self.model_spec}: the region has classes={model.region.classes} but the data has "
                f"{len(self.names)} classes/nodes"
            )
        self.start_seen = 0
        if self.ckpt is None and cfg.weights:
            loaded = load_backbone(model, cfg.weights, cfg.weights_layers)
            if loaded == len(model.conv_blocks()):  # a whole detector: keep its `seen`, as Darknet does
                from yolo9000.darknet.weights import read_weights_header

                self.start_seen = int(read_weights_header(cfg.weights)[1])
        net, region = model.net, model.region
        self.batch = int(cfg.batch or net.get("batch", 64))
        self.subdivisions = int(cfg.subdivisions or net.get("subdivisions", 1))
        if self.batch % self.subdivisions:
            raise ValueError(f"batch {self.batch} is not divisible by subdivisions {self.subdivisions}")
        self.micro = self.batch // self.subdivisions
        self.steps = int(cfg.steps or net.get("max_batches") or 1000)
        size = int(cfg.size or net.get("width", 416))
        multiscale = bool(region.random) if cfg.multiscale is None else cfg.multiscale
        if multiscale:
            bounds: Sequence[int | None] = cfg.sizes or [None, None]
            lo, hi = bounds[:2]
            self.sizes = multiscale_sizes(size, lo, hi)
        else:
            self.sizes = [size]
        self.final_size = cfg.final_size if cfg.final_size else (max(self.sizes) if multiscale else None)
        self.augment_cfg = AugmentConfig(
            jitter=region.jitter if cfg.jitter is None else cfg.jitter,
            hue=region.hue if cfg.hue is None else cfg.hue,
            saturation=region.saturation if cfg.saturation is None else cfg.saturation,
            exposure=region.exposure if cfg.exposure is None else cfg.exposure,
            flip=cfg.flip,
            max_boxes=cfg.max_boxes,
            scale=_scale_range(cfg.scale, "--scale"),
        )
        # classification pictures (one big object, ImageNet-like) may be shrunk onto the canvas so their
        # objects come at detection scale; None keeps the detection setting
        cls_scale = self.cls_rules["cls_scale"]
        self.cls_augment_cfg = (
            self.augment_cfg
            if cls_scale is None
            else replace(self.augment_cfg, scale=_scale_range(cls_scale, "--cls-scale"))
        )

        self.model = model.to(self.device)
        self.model.train()
        self.amp_dtype = amp_dtype(cfg.amp, self.device)
        channels_last = cfg.channels_last if cfg.channels_last is not None else self.device.type == "cuda"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.model.to(memory_format=torch.channels_last)

        from yolo9000.detection.loss import RegionLoss

        # the data already gives tree nodes (categories resolved by node id), so the cfg's map= is not re-applied
        self.loss_fn = RegionLoss(
            region,
            tree_softmax=getattr(model.head, "tree_softmax", None),
            cls_objectness=self.cls_rules["cls_objectness"],
            cls_anchor=self.cls_rules["cls_anchor"],
            apply_map=False,
        ).to(self.device)
        self.forward_model: nn.Module = self.model
        if self.dist.enabled:
            self.forward_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if cfg.compile:
            # an OptimizedModule (an nn.Module), typed by torch as a plain callable
            self.forward_model = cast(nn.Module, torch.compile(self.forward_model, dynamic=len(self.sizes) > 1))

    def _build_optim(self) -> None:
        cfg, net = self.cfg, self.model.net
        self.base_lr = float(cfg.lr if cfg.lr is not None else net.get("learning_rate", 1e-3))
        decay = float(cfg.decay if cfg.decay is not None else net.get("decay", 5e-4))
        momentum = float(cfg.momentum if cfg.momentum is not None else net.get("momentum", 0.9))
        self.optimizer = torch.optim.SGD(param_groups(self.model, decay), lr=self.base_lr, momentum=momentum)
        policy = cfg.policy or str(net.get("policy", "steps"))
        if policy not in ("steps", "cosine", "constant"):
            log.warning("lr policy %r is not supported; using a constant rate after burn-in", policy)
        steps = cfg.lr_steps if cfg.lr_steps is not None else list(net.get("steps", []) or [])
        scales = cfg.lr_scales if cfg.lr_scales is not None else list(net.get("scales", []) or [])
        self.schedule = DarknetSchedule(
            policy=policy if policy in ("steps", "cosine", "constant") else "constant",
            burn_in=int(cfg.burn_in if cfg.burn_in is not None else net.get("burn_in", 0) or 0),
            power=float(net.get("power", 4) or 4),
            steps=[int(s) for s in steps],
            scales=[float(s) for s in scales],
            max_batches=self.steps,
        )
        self.scheduler = make_scheduler(self.optimizer, self.schedule)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step, self.seen = 0, self.start_seen
        if self.ckpt is not None:
            ck = self.ckpt
            self._load_resumed_model(ck)
            self.optimizer.load_state_dict(ck["optimizer"])
            self.scheduler.load_state_dict(ck["scheduler"])
            if "scaler" in ck:
                self.scaler.load_state_dict(ck["scaler"])
            self.step, self.seen = int(ck["step"]), int(ck["seen"])
            if "rng" in ck:
                set_rng_state(ck["rng"][self.dist.rank] if isinstance(ck["rng"], list) else ck["rng"])
            log.info("resumed from step %d (%d images seen)", self.step, self.seen)

    def _load_resumed_model(self, ck: dict) -> None:
        """The checkpoint's weights into the model; one line when it was made with another tree or another
        layer cfg than this model (not a list of mismatched state-dict keys)."""
        where = getattr(self, "resume_path", "checkpoint")
        model = cast(DarknetModel, unwrap(self.model))
        saved_fp = ck.get("tree_fingerprint")
        if saved_fp is None and ck.get("tree"):  # checkpoints written before the fingerprint was stored
            from wordtree.formats import tree_from_dict

            saved_fp = tree_from_dict(ck["tree"]).fingerprint
        now_fp = model.tree.fingerprint if model.tree is not None else None
        if saved_fp != now_fp:
            raise ValueError(
                f"{where}: the run was trained with tree {saved_fp or '(none)'} but the resumed model has tree "
                f"{now_fp or '(none)'} (--tree {self.cfg.tree}); resume with the run's own tree or start a new --out"
            )
        if ck.get("cfg_text") and model.cfg_text and _layer_spec(ck["cfg_text"]) != _layer_spec(model.cfg_text):
            raise ValueError(
                f"{where}: the run was trained with another cfg than --cfg {self.model_spec} (its layers differ); "
                f"resume with the run's own cfg or start a new --out"
            )
        try:
            model.load_state_dict(ck["model"])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ValueError(f"{where}: the saved weights do not fit --cfg {self.model_spec} ({first})") from None

    # ------------------------------------------------------------------ loop
    def _decode_mode(self) -> str:
        """`cfg.decode`, or "cpu" with one logged line where decoding on the device cannot work."""
        if self.cfg.decode != "gpu":
            return "cpu"
        problem = device_decode_problem(self.device)
        if problem is not None:
            log.warning("--decode gpu: %s; decoding on the CPU in the loader workers instead", problem)
            return "cpu"
        return "gpu"

    def _loader(self):
        cfg = self.cfg
        decode = self._decode_mode()
        dataset = JointDataset(
            self.det,
            self.cls,
            self.augment_cfg,
            dtype=torch.uint8,
            defer_hsv=True,
            cls_augment_cfg=self.cls_augment_cfg,
            decode=decode,
        )
        final_steps = min(200, max(1, self.steps // 20)) if self.final_size else 0
        self.sampler = JointBatchSampler(
            dataset.size_of(0),
            dataset.size_of(1),
            self.micro,
            cls_fraction=cfg.cls_fraction,
            repeat_det=cfg.repeat_det,
            repeat_cls=cfg.repeat_cls,
            sizes=self.sizes,
            every=cfg.scale_every,
            accumulate=self.subdivisions,
            total_steps=self.steps,
            final_size=self.final_size,
            final_steps=final_steps,
            seed=cfg.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            start=self.step * self.subdivisions,
            length=self.steps * self.subdivisions,
        )
        workers = cfg.workers if cfg.workers is not None else min(8, max(0, (os.cpu_count() or 1) - 1))
        return torch.utils.data.DataLoader(
            dataset,
            batch_sampler=self.sampler,
            collate_fn=collate_for(decode),
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )

    def save(self, name: str = "last.pt") -> Path | None:
        """Write a checkpoint on the main rank (buffers taken from rank 0, as DDP does at the next forward)."""
        if self.dist.enabled:
            for b in unwrap(self.model).buffers():
                torch.distributed.broadcast(b, 0)
        if not self.dist.main:
            return None
        cast(DarknetModel, unwrap(self.model)).seen = self.seen  # `yolo9000 convert` writes it into a .weights header
        return save_checkpoint(
            self.out_dir.claim(name),
            self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler=self.scaler,
            step=self.step,
            seen=self.seen,
            names=self.names,
            config=self.cfg.to_dict(),
            sampler={"position": self.step * self.subdivisions, "seed": self.cfg.seed},
        )

    def run(self) -> dict:
        """Train until `steps`; returns a summary (final loss, step, images/s, checkpoint path).

        A resumed run that already reached `steps` trains nothing and writes nothing: its summary has
        "already_done" true and no loss."""
        if self.ckpt is not None and self.step >= self.steps:
            return {
                "step": self.step,
                "seen": self.seen,
                "loss": None,
                "already_done": True,
                "checkpoint": getattr(self, "resume_path", str(self.run_dir / "last.pt")),
                "steps": self.steps,
            }
        if self.dist.main:
            self.out_dir = self._run_folder(save=True)  # checked again: the folder may have changed meanwhile
            self.cfg.save(self.out_dir.claim("config.yaml"))
        metrics = self._metrics_log()
        bar = self._progress_bar()
        batches = iter(self._loader())
        last_loss = float("nan")
        t_run, imgs_run = time.perf_counter(), 0
        try:
            while self.step < self.steps:
                result = self._train_step(batches)
                last_loss = result.loss
                imgs_run += self.micro * self.subdivisions * self.dist.world_size
                self._report(result, metrics, bar)
                self._after_step()
        finally:
            if bar is not None:
                bar.close()
            if metrics is not None:
                metrics.close()
        return self._finish(last_loss, imgs_run / max(time.perf_counter() - t_run, 1e-9))

    def _metrics_log(self) -> MetricsLog | None:
        if not self.dist.main:
            return None
        return MetricsLog(self.run_dir, self.step if self.ckpt is not None else None, self.cfg.tensorboard)

    def _progress_bar(self):
        if not (self.dist.main and self.cfg.progress):
            return None
        from tqdm import tqdm

        return tqdm(total=self.steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True)

    def _device_batch(self, batches) -> tuple[torch.Tensor, torch.Tensor, float]:
        """The next micro-batch on the device (images float, HSV-distorted, in the training memory format),
        its targets, and the seconds spent waiting for the loader."""
        tw = time.perf_counter()
        images, targets, hsv = next(batches)
        wait = time.perf_counter() - tw
        if isinstance(images, EncodedBatch):  # --decode gpu: JPEG bytes, decoded, resized and placed here
            images = images.render(self.device, targets)
        # uint8 over the bus, then float, HSV distortion and channels_last on the device
        images = images.to(self.device, non_blocking=True).float().div_(255)
        images = distort_hsv_batch(images, hsv.to(self.device, non_blocking=True))
        images = images.contiguous(memory_format=self.memory_format)
        return images, targets.to(self.device, non_blocking=True), wait

    def _train_step(self, batches) -> StepResult:
        """One optimizer step over `subdivisions` micro-batches; stops before the update on a non-finite loss."""
        t0 = time.perf_counter()
        images_per_step = self.micro * self.subdivisions
        wait = 0.0
        sums: dict = {}
        loss_total = torch.zeros((), device=self.device)
        size = 0
        for k in range(self.subdivisions):
            images, targets, waited = self._device_batch(batches)
            wait += waited
            size = images.shape[-1]
            self.seen += images.shape[0] * self.dist.world_size
            sync = k == self.subdivisions - 1 or not self.dist.enabled
            # not sync: DDP, perhaps inside torch.compile's wrapper (which forwards attributes to it)
            ddp = cast(nn.parallel.DistributedDataParallel, self.forward_model)
            ctx = contextlib.nullcontext() if sync else ddp.no_sync()
            with ctx:
                with torch.autocast(
                    self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
                ):
                    raw = self.forward_model(images)
                loss, parts = self.loss_fn(raw.float(), targets, self.seen)
                self.scaler.scale(loss / images_per_step).backward()
            loss_total += loss.detach()
            for name, v in parts.items():  # kept on the device: no sync per micro-batch
                sums[name] = sums.get(name, 0.0) + (v.detach() if torch.is_tensor(v) else v)
        if self.dist.enabled:
            torch.distributed.all_reduce(loss_total)
        loss_value = float(loss_total) / (images_per_step * self.dist.world_size)
        if not math.isfinite(loss_value):
            kept = self.run_dir / "last.pt"
            raise TrainingDiverged(
                f"loss became {loss_value} at step {self.step + 1}; stopped before updating the weights"
                + (f"; the last good checkpoint is {kept}" if kept.exists() else "")
                + " (try a lower --lr or a longer --burn-in)"
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.step += 1
        return StepResult(loss_value, sums, size, lr, wait, time.perf_counter() - t0)

    def _report(self, result: StepResult, metrics: MetricsLog | None, bar) -> None:
        """The step's row in the metrics log (every `log_every` steps and the last) and the progress bar."""
        images_per_step = self.micro * self.subdivisions
        if metrics is not None and (self.step % self.cfg.log_every == 0 or self.step == self.steps):
            row = {"step": self.step, "seen": self.seen, "lr": result.lr, "size": result.size, "loss": result.loss}
            for k, v in sorted(result.sums.items()):
                v = float(v)
                if k in LOSS_PARTS:  # summed over images: report the per-image mean, like "loss"
                    row[f"loss_{k}"] = v / images_per_step
                elif k.endswith("count"):
                    row[k] = v
                else:  # per-micro-batch averages (avg_iou, recall, ...)
                    row[k] = v / self.subdivisions
            row.update(
                {
                    "images_per_s": images_per_step * self.dist.world_size / max(result.seconds, 1e-9),
                    "data_wait_s": result.wait,
                    "step_time_s": result.seconds,
                }
            )
            metrics.write(row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{result.loss:.3f}", size=result.size, lr=f"{result.lr:.2e}")

    def _after_step(self) -> None:
        """Checkpoint every `save_every` steps and at the end."""
        if self.step % self.cfg.save_every == 0 or self.step == self.steps:
            self.save()

    def _finish(self, last_loss: float, images_per_s: float) -> dict:
        """The run's summary (and `summary.json` on the main rank)."""
        summary = {
            "step": self.step,
            "seen": self.seen,
            "loss": last_loss,
            "images_per_s": images_per_s,
            "checkpoint": str(self.run_dir / "last.pt"),
        }
        if self.dist.enabled:
            digests: list[str | None] = [None] * self.dist.world_size
            torch.distributed.all_gather_object(digests, replica_digest(self.model))
            summary["replica_digests"] = digests
        if self.dist.main:
            write_text_atomic(self.out_dir.claim("summary.json"), json.dumps(summary, indent=2) + "\n")
        return summary

    def close(self) -> None:
        """Leave the process group (when this trainer joined one)."""
        if self.dist.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def train(
    cfg: TrainConfig,
    *,
    resume: str | Path | None = None,
    model_builder: ModelBuilder | None = None,
    force: bool = False,
) -> dict:
    """Build a Trainer from `cfg`, run it, and return its summary."""
    trainer = Trainer(cfg, resume=resume, model_builder=model_builder, force=force)
    try:
        return trainer.run()
    finally:
        trainer.close()
