"""The trainer: joint detection + classification training of a DarknetModel with the region loss.

SGD (momentum .9, weight decay on conv weights only), Darknet's burn-in + steps schedule (or cosine), gradient
accumulation over `subdivisions` micro-batches, AMP (bf16/fp16) + channels_last on CUDA, optional
torch.compile, DDP through torchrun (gloo on CPU), atomic checkpoints that resume exactly, a CSV log,
TensorBoard scalars when installed, and a clear stop on a non-finite loss (the last good checkpoint is kept).
With validation data (`--val-coco` / `--val-folders`) the model is scored every `val_every` steps and at the end
through `yolo9000 eval`'s pipeline (`yolo9000.training.validation`); OUT/best.pt keeps the best checkpoint and
OUT/curves.png the curves (`yolo9000.training.curves`). With `--ema` the validated and saved model is the
exponential moving average of the weights (`yolo9000.training.ema`); checkpoints keep the raw weights too.

The trainer is the loop: the model comes from a builder (`yolo9000.darknet.templates.build_model` by default),
Darknet weights from `yolo9000.darknet.weights.load_weights`, the settings from `TrainConfig.resolved` against
the cfg's [net]/[region], the resume state and the run's own random streams from `yolo9000.training.resume`.

The loss is summed over images (Darknet's per-batch delta); each micro-batch's sum is divided by the number of
images in one optimizer step, so the step sees the mean over the batch (Darknet updates with lr / batch). Under
DDP the gradients are averaged over ranks: the lr applies to the mean over the global batch (Darknet's lr x
ngpus rule is not applied). The data already carries tree nodes, so a cfg's `map=` is not re-applied.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import torch
from torch import nn

from wordtree.files import OutputDir, plural, prepare_output_dir, write_text_atomic
from wordtree.formats import load_tree
from wordtree.tree import WordTree
from yolo9000.darknet.cfg import parse_cfg
from yolo9000.darknet.checkpoint import load_checkpoint
from yolo9000.darknet.model import DarknetModel
from yolo9000.darknet.templates import build_model
from yolo9000.darknet.weights import load_weights
from yolo9000.data import (
    ClassFolders,
    CocoDetection,
    JointBatchSampler,
    JointDataset,
    distort_hsv_batch,
)
from yolo9000.data.image_io import device_decode_problem
from yolo9000.data.joint import EncodedBatch, collate_for
from yolo9000.data.labelled import ConcatSamples, LabelledSource, read_names_csv
from yolo9000.data.sources import labelled_datasets, open_source
from yolo9000.detection.loss import RegionLoss
from yolo9000.detection.targets import Targets
from yolo9000.device import resolve_device
from yolo9000.progress import redirect_logging
from yolo9000.training.config import ResolvedTrainConfig, TrainConfig, loader_workers
from yolo9000.training.distributed import amp_dtype, replica_digest, setup_distributed
from yolo9000.training.ema import ModelEma, default_ramp
from yolo9000.training.metrics_log import MetricsLog
from yolo9000.training.resume import TrainingRng, load_training_state, save_training_checkpoint
from yolo9000.training.schedule import DarknetSchedule, make_scheduler
from yolo9000.training.validation import SECONDS, Validator, prepare_validation

if TYPE_CHECKING:
    from yolo9000.progress import Progress

log = logging.getLogger(__name__)

__all__ = ["Trainer", "TrainingDiverged", "train", "build_model", "param_groups"]


LOSS_PARTS = ("coord", "obj", "noobj", "class", "prior", "cls_only")


#: `(spec, tree, classes, anchors) -> DarknetModel`: `build_model`'s signature (a recipe may know more names)
ModelBuilder = Callable[[str, "WordTree | None", "int | None", "list[float] | None"], DarknetModel]
#: A micro-batch from the loader: images (uint8 tensor, or JPEG bytes with --decode gpu), targets, HSV draws
Batch = tuple["torch.Tensor | EncodedBatch", Targets, torch.Tensor]


class StepResult(NamedTuple):
    """What one optimizer step reports: mean loss per image, summed loss parts, input size, learning rate,
    seconds waiting for data and seconds in all."""

    loss: float
    sums: dict[str, torch.Tensor | float]
    size: int
    lr: float
    wait: float
    seconds: float


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped before the bad update."""


def param_groups(model: nn.Module, decay: float) -> list[dict[str, Any]]:
    """Weight decay on conv weights only (Darknet decays conv weights, never biases or BN parameters)."""
    conv_w = {id(m.weight) for m in model.modules() if isinstance(m, nn.Conv2d)}
    with_decay = [p for p in model.parameters() if id(p) in conv_w and p.requires_grad]
    rest = [p for p in model.parameters() if id(p) not in conv_w and p.requires_grad]
    return [{"params": with_decay, "weight_decay": decay}, {"params": rest, "weight_decay": 0.0}]


def _layer_spec(cfg_text: str) -> list[tuple[str, dict[str, str]]]:
    """The layers a cfg text builds (sections after [net]; the tree/map file names left out), for comparing."""
    skip = {"tree", "map"}
    return [
        (s.name, {k: v for k, v in s.options.items() if k not in skip}) for s in parse_cfg(cfg_text) if s.name != "net"
    ]


# ----------------------------------------------------------------------------------------------- trainer
#: The files `yolo9000 train` writes into its run folder (a user's file of one of these names is never replaced)
RUN_FILES = ("config.yaml", "log.csv", "summary.json", "last.pt", "best.pt", "curves.png", "tensorboard")

#: What best.pt holds under "best" (and every checkpoint, for resuming): {"metric": name, "value": v, "step": n}
BestRecord = dict[str, Any]


def start_pretrained(model: DarknetModel, spec: str) -> None:
    """`--pretrained`: torchvision's ImageNet weights into the model's [torchvision] layers (a new run only: a
    resumed one has its trained weights); a model without such a layer is a one-line error."""
    from yolo9000.darknet.torchvision_backbone import load_pretrained

    n = load_pretrained(model)
    if n == 0:
        raise ValueError(f"--pretrained: {spec} has no [torchvision] layer (it applies to torchvision:NAME models)")
    log.info("%s: %d tensors from torchvision's ImageNet weights", spec, n)


def _one_dataset(parts: Sequence[Any], kind: str) -> Any:
    """None, the one dataset, or several as one (`ConcatSamples`)."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ConcatSamples(parts, kind)


class Trainer:
    """Builds data, model, optimizer and loop from a TrainConfig; `run()` trains and returns a summary dict.

    `model_builder(spec, tree, classes, anchors)` makes the model named by `cfg.cfg` (default `build_model`:
    a cfg file or a `yolo9000.darknet.templates` name; a recipe may pass one that knows more names).

    The run's randomness (model initialisation, loader worker seeds, dropout) comes from its own streams seeded
    by `cfg.seed` (`yolo9000.training.resume.TrainingRng`): constructing or running a Trainer leaves the caller's
    global RNG states as they were."""

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
        self.model_builder: ModelBuilder = model_builder or build_model
        self.device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = setup_distributed(self.device)
        self.rng = TrainingRng(cfg.seed, cuda=self.device.type == "cuda")

        self.ckpt: dict[str, Any] | None = None
        self.resume_path = str(resume) if resume is not None else None
        if resume is not None:
            self.ckpt = load_checkpoint(resume)
        # the run folder: new, empty or one `yolo9000 train` made (a user's files in it are never replaced);
        # checked now, created and marked when training starts (`run`)
        self._force, self._resume = force, resume
        self._bar: Progress | None = None  # the progress bar while `run` trains (console lines go above it)
        self.out_dir = self._run_folder(save=False)
        if resume is None and (self.run_dir / "last.pt").exists():
            raise ValueError(
                f"{self.run_dir / 'last.pt'} exists; pass --resume to continue that run or choose another --out"
            )

        self._build_data()
        self._build_model()
        self._build_optim()
        self._build_ema()
        self._build_validation()

    def _run_folder(self, save: bool) -> OutputDir:
        """The run folder under the rule of `wordtree.files.prepare_output_dir`; `save` creates and marks it.

        A folder without the marker is taken as this command's own only when resuming from its `last.pt`
        (a checkpoint of ours, loaded above): runs written before the marker existed resume as before."""
        cfg, resume = self.cfg, self._resume
        inputs = [cfg.coco, cfg.images, cfg.folders, cfg.tree, cfg.label_map, cfg.cfg, cfg.weights]
        inputs += [
            cfg.val_coco,
            cfg.val_images,
            cfg.val_folders,
            cfg.names_csv,
            *(cfg.data or []),
            *(cfg.val_data or []),
        ]
        if cfg.coco and not cfg.images:
            inputs.append(str(Path(cfg.coco).parent / "images"))  # the COCO reader's default image folder

        def resuming_here(folder: Path) -> bool:
            last = folder / "last.pt"
            return (
                resume is not None
                and self.ckpt is not None
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
        if coco is None and folders is None and not cfg.data:
            raise ValueError(
                "no training data: give --data (a dataset in any format), --coco (boxes) and/or --folders "
                "(class pictures)"
            )
        self.tree = tree
        coco_det = CocoDetection(coco, images, tree, label_map=cfg.label_map, exif=cfg.exif) if coco else None
        folder_cls = ClassFolders(folders, tree, exif=cfg.exif) if folders else None
        det_parts: list[Any] = [coco_det] if coco_det is not None else []
        cls_parts: list[Any] = [folder_cls] if folder_cls is not None else []
        data_names: list[str] | None = None
        if cfg.data:
            sources = self._open_sources(cfg.data, cfg.split, "--data")
            extra_det, extra_cls, data_names = labelled_datasets(
                sources,
                tree,
                names=read_names_csv(cfg.names_csv) if cfg.names_csv else None,
                label_map=cfg.label_map,
                exif=cfg.exif,
            )
            det_parts += extra_det
            cls_parts += extra_cls
        self.det = _one_dataset(det_parts, "detection")
        self.cls = _one_dataset(cls_parts, "classification")
        flat_sets = [p.names for p in det_parts + cls_parts if tree is None]
        if tree is None and len({tuple(n) for n in flat_sets}) > 1:
            raise ValueError(
                "these datasets name different classes: a --tree puts several label sets (COCO categories, class "
                "folders, --data classes) in one space"
            )
        if self.det is not None:
            names = self.det.names
        elif self.cls is not None:
            names = self.cls.names
        else:
            raise ValueError(f"no training pictures in {', '.join(cfg.data or [])}")
        self.names = list(tree.names) if tree is not None else list(data_names or names)
        if cfg.cfg is None:
            raise ValueError("--cfg is required with your own data (a cfg file or a model name)")
        self.model_spec = cfg.cfg

    def _open_sources(self, paths: Sequence[str], split: str | None, flag: str) -> list[LabelledSource]:
        """The datasets of `--data` (or `--val-data`), each logged with its counts as the index knows them."""
        sources = []
        for path in paths:
            try:
                source = open_source(path, split)
            except (ValueError, FileNotFoundError) as exc:
                text = str(exc)  # most messages start with the file they are about: name it once
                raise ValueError(f"{flag} {text}" if text.startswith(str(path)) else f"{flag} {path}: {text}") from None
            for problem in source.problems[:5]:
                log.warning("%s", problem)
            if len(source.problems) > 5:
                log.warning(
                    "%s: %d more problem(s) (yolo9000 data check lists them all)", path, len(source.problems) - 5
                )
            log.info("%s: %s, %s", flag, source.describe(), plural(len(source), "picture"))
            sources.append(source)
        return sources

    # ------------------------------------------------------------------ model
    def _build_model(self) -> None:
        cfg = self.cfg
        if cfg.flat:
            raise ValueError("--flat applies to --task classify (a detector's head is flat without --tree)")
        classes = None if self.tree is not None else len(self.names)
        with self.rng.active():  # the initial weights come from the run's seed
            model = self.model_builder(self.model_spec, self.tree, classes, cfg.anchors)
        if model.region is None or model.head is None:
            raise ValueError(
                f"{self.model_spec}: the cfg has no [region] layer; it is not a detector (train a classifier with "
                "--task classify)"
            )
        if self.tree is None and model.tree is not None:
            raise ValueError(f"{self.model_spec}: the cfg uses a tree; pass the same tree with --tree")
        if model.region.classes != len(self.names):
            raise ValueError(
                f"{self.model_spec}: the region has classes={model.region.classes} but the data has "
                f"{len(self.names)} classes/nodes"
            )
        self.start_seen = 0
        if self.ckpt is None and cfg.pretrained:
            start_pretrained(model, self.model_spec)
        if self.ckpt is None and cfg.weights:
            seen = load_weights(model, cfg.weights, cfg.weights_layers)
            layers = cfg.weights_layers or len(model.conv_blocks())
            log.info("%s: loaded %d conv layer(s) as the starting point", Path(cfg.weights), layers)
            if layers == len(model.conv_blocks()):  # a whole detector: its `seen` goes on counting, as Darknet's
                self.start_seen = seen
        self.settings: ResolvedTrainConfig = cfg.resolved(model.net, model.region)

        self.model = model.to(self.device)
        self.model.train()
        self.amp_dtype = amp_dtype(cfg.amp, self.device)
        channels_last = cfg.channels_last if cfg.channels_last is not None else self.device.type == "cuda"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.model.to(memory_format=torch.channels_last)

        # the data already gives tree nodes (categories resolved by node id), so the cfg's map= is not re-applied;
        # any module of (raw output, targets, seen) -> (loss, parts) trains (a classifier's loss too)
        self.loss_fn: nn.Module = RegionLoss(
            model.region,
            tree=model.tree,
            cls_objectness=self.settings.cls_objectness,
            cls_anchor=self.settings.cls_anchor,
            apply_map=False,
        ).to(self.device)
        self.forward_model: nn.Module = self.model
        if self.dist.enabled:
            self.forward_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if cfg.compile:
            # an OptimizedModule (an nn.Module), typed by torch as a plain callable
            self.forward_model = cast(
                nn.Module, torch.compile(self.forward_model, dynamic=len(self.settings.sizes) > 1)
            )

    def _build_optim(self) -> None:
        s = self.settings
        self.optimizer = torch.optim.SGD(param_groups(self.model, s.decay), lr=s.lr, momentum=s.momentum)
        self.schedule = DarknetSchedule(
            policy=s.policy,
            burn_in=s.burn_in,
            power=s.power,
            steps=s.lr_steps,
            scales=s.lr_scales,
            max_batches=s.steps,
        )
        self.scheduler = make_scheduler(self.optimizer, self.schedule)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step, self.seen = 0, self.start_seen
        if self.ckpt is not None:
            self._load_resumed_model(self.ckpt)
            self.step, self.seen = load_training_state(
                self.ckpt,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                scaler=self.scaler,
                rng=self.rng,
                rank=self.dist.rank,
            )
            if self.step < self.settings.steps:  # a finished run is reported by the caller, not "resumed"
                log.info("resumed from step %d (%d images seen)", self.step, self.seen)

    def _load_resumed_model(self, ck: dict[str, Any]) -> None:
        """The checkpoint's weights into the model; one line when it was made with another tree or another
        layer cfg than this model (not a list of mismatched state-dict keys)."""
        where = self.resume_path or "checkpoint"
        model = self.model
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
        try:  # the raw weights where the checkpoint's model is their moving average (--ema)
            model.load_state_dict(ck.get("raw_model") or ck["model"])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ValueError(f"{where}: the saved weights do not fit --cfg {self.model_spec} ({first})") from None

    def _build_ema(self) -> None:
        """The moving average of the weights (--ema), continued from a resumed checkpoint's."""
        ramp = self.cfg.ema_ramp or default_ramp(self.settings.steps)
        self.ema = ModelEma(self.model, self.cfg.ema, ramp=ramp) if self.cfg.ema else None
        ck = self.ckpt
        if ck is None:
            return
        where = self.resume_path or "checkpoint"
        if self.ema is not None and ck.get("ema") is not None:
            self.ema.load_state_dict(ck["ema"], ck["model"])
        elif self.ema is not None:
            log.info("%s: holds no moving average; --ema %g starts one from its weights", where, self.ema.decay)
        elif ck.get("ema") is not None:
            log.info("%s: EMA off; training goes on from its raw weights (the average is dropped)", where)

    # ------------------------------------------------------------------ validation
    def _build_validation(self) -> None:
        """The validation data, checked now (before the first step), and the best figure so far when resuming."""
        s = self.settings
        self.validator: Validator | None = prepare_validation(
            self.cfg,
            tree=self.tree,
            names=self.names,
            size=s.final_size or s.sizes[-1],
            batch=s.batch * self.dist.world_size,
            steps=s.steps,
            device=self.device,
        )
        self.best: BestRecord | None = self._resumed_best()

    def _resumed_best(self) -> BestRecord | None:
        """The best validation of the run being resumed: best.pt's record (written atomically, only when the
        figure improved: never behind the checkpoint's), else the checkpoint's; None when it was chosen by
        another metric than this run's."""
        if self.ckpt is None or self.validator is None:
            return None
        best: BestRecord | None = self.ckpt.get("best")
        on_disk = self.run_dir / "best.pt"
        if on_disk.is_file():
            try:
                best = load_checkpoint(on_disk).get("best") or best
            except (ValueError, OSError) as exc:
                log.warning("%s; the run's best so far is taken from its last checkpoint", exc)
        if best is not None and best.get("metric") != self.validator.metric:
            log.info(
                "best.pt was chosen by %s; this run chooses by %s: the next validation replaces it",
                best.get("metric"),
                self.validator.metric,
            )
            return None
        return best

    def _validation_due(self) -> bool:
        v = self.validator
        return v is not None and (self.step % v.every == 0 or self.step == self.settings.steps)

    def _validate(self) -> dict[str, float]:
        """The figures of the model being validated (the moving average with --ema), on the main rank (shared
        with the others under DDP); best.pt written when the metric improved."""
        v = self.validator
        assert v is not None  # _validation_due
        figures: dict[str, float] = {}
        if self.dist.main:
            figures = v(self.ema.module if self.ema is not None else self.model)
            self.model.train()  # predict_* put the model in eval mode
        if self.dist.enabled:
            shared: list[dict[str, float]] = [figures]
            torch.distributed.broadcast_object_list(shared, src=0)
            figures = shared[0]
        value = figures[v.metric]
        if v.better(value, self.best["value"] if self.best is not None else None):
            self.best = {"metric": v.metric, "value": value, "step": self.step}
            self.save("best.pt")
        self._say(self._validation_line(figures))
        return figures

    def _validation_line(self, figures: dict[str, float]) -> str:
        shown = " ".join(f"{k[4:]} {v:.4f}" for k, v in figures.items() if k != SECONDS)
        best = self.best
        where = f"best {best['metric'][4:]} {best['value']:.4f} at step {best['step']}" if best else "no best yet"
        return f"step {self.step}/{self.settings.steps} val: {shown} ({where}; {figures[SECONDS]:.1f} s)"

    def _say(self, line: str) -> None:
        """One line on the console of the main rank, above the progress bar when there is one."""
        if not self.dist.main:
            return
        if self._bar is not None:
            self._bar.write(line)
        else:
            log.info("%s", line)

    def _write_curves(self) -> None:
        """OUT/curves.png from the log (main rank); a failure to draw is a warning, never the end of the run."""
        if not self.dist.main or not (self.run_dir / "log.csv").is_file():
            return
        from yolo9000.training.curves import write_curves

        try:
            write_curves(self.run_dir / "log.csv", self.out_dir.claim("curves.png"), best=self.best)
        except Exception as exc:  # noqa: BLE001 - the picture is an extra: training goes on without it
            log.warning("curves.png not written (%s: %s)", type(exc).__name__, exc)

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

    def _loader(self) -> torch.utils.data.DataLoader[Any]:
        cfg, s = self.cfg, self.settings
        decode = self._decode_mode()
        dataset = JointDataset(
            self.det,
            self.cls,
            s.augment,
            dtype=torch.uint8,
            defer_hsv=True,
            cls_augment_cfg=s.cls_augment,
            decode=decode,
        )
        final_steps = min(200, max(1, s.steps // 20)) if s.final_size else 0
        self.sampler = JointBatchSampler(
            dataset.size_of(0),
            dataset.size_of(1),
            s.micro,
            cls_fraction=cfg.cls_fraction,
            repeat_det=cfg.repeat_det,
            repeat_cls=cfg.repeat_cls,
            sizes=s.sizes,
            every=cfg.scale_every,
            accumulate=s.subdivisions,
            total_steps=s.steps,
            final_size=s.final_size,
            final_steps=final_steps,
            seed=cfg.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            start=self.step * s.subdivisions,
            length=s.steps * s.subdivisions,
        )
        workers = loader_workers(cfg.workers)
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
        """Write a checkpoint on the main rank (buffers taken from rank 0, as DDP does at the next forward).

        Its model is the one validated: the moving average with --ema, whose checkpoints also hold the raw
        weights ("raw_model") and the averaging state ("ema") to resume exactly; "best" is the best validation
        so far (best.pt's own for best.pt)."""
        saved = self.ema.module if self.ema is not None else self.model
        if self.dist.enabled:
            for b in list(self.model.buffers()) + (list(saved.buffers()) if saved is not self.model else []):
                torch.distributed.broadcast(b, 0)
        if not self.dist.main:
            return None
        self.model.seen = saved.seen = self.seen  # `yolo9000 convert` writes it into a .weights header
        extra: dict[str, Any] = {"best": self.best, "steps": self.settings.steps}  # "steps": where the run ends
        if self.ema is not None:
            extra["raw_model"] = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
            extra["ema"] = self.ema.state_dict()
        return save_training_checkpoint(
            self.out_dir.claim(name),
            saved,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler=self.scaler,
            rng=self.rng.snapshot(),
            sampler={"position": self.step * self.settings.subdivisions, "seed": self.cfg.seed},
            step=self.step,
            seen=self.seen,
            names=self.names,
            config=self.cfg.to_dict(),
            extra=extra,
        )

    def run(self) -> dict[str, Any]:
        """Train until `steps`; returns a summary (final loss, step, images/s, checkpoint path).

        A resumed run that already reached `steps` trains nothing and writes nothing: its summary has
        "already_done" true and no loss."""
        s = self.settings
        if self.ckpt is not None and self.step >= s.steps:
            return {
                "step": self.step,
                "seen": self.seen,
                "loss": None,
                "already_done": True,
                "checkpoint": self.resume_path or str(self.run_dir / "last.pt"),
                "steps": s.steps,
                **self._best_summary(),
            }
        if self.dist.main:
            self.out_dir = self._run_folder(save=True)  # checked again: the folder may have changed meanwhile
            self.cfg.save(self.out_dir.claim("config.yaml"))
        metrics = self._metrics_log()
        bar = self._bar = self._progress_bar()
        if self.dist.main:
            if self.validator is not None:
                self._say(self.validator.describe())
            else:
                self._say("no validation data (--val-coco / --val-folders): no val figures and no best.pt")
        last_loss = float("nan")
        t_run, imgs_run = time.perf_counter(), 0
        try:
            # the loader's worker seeds and any dropout draw from the run's streams; log lines go above the bar
            with self.rng.active(), redirect_logging():
                batches = iter(self._loader())
                while self.step < s.steps:
                    result = self._train_step(batches)
                    last_loss = result.loss
                    imgs_run += s.micro * s.subdivisions * self.dist.world_size
                    # validated before last.pt is written: interrupted here, the run resumes before this step
                    figures = self._validate() if self._validation_due() else {}
                    self._report(result, metrics, bar, figures)
                    self._after_step()
                    if figures:
                        self._write_curves()
        finally:
            self._bar = None
            if bar is not None:
                bar.close()
            if metrics is not None:
                metrics.close()
        if self.validator is None:
            self._write_curves()  # with validation, drawn after the last one
        return self._finish(last_loss, imgs_run / max(time.perf_counter() - t_run, 1e-9))

    def _metrics_log(self) -> MetricsLog | None:
        if not self.dist.main:
            return None
        columns = (self.validator.figures + (SECONDS,)) if self.validator is not None else ()
        return MetricsLog(self.run_dir, self.step if self.ckpt is not None else None, self.cfg.tensorboard, columns)

    def _progress_bar(self) -> Progress | None:
        """A bar on a terminal, a line per 10% of the steps otherwise (main rank, unless --no-progress)."""
        if not (self.dist.main and self.cfg.progress):
            return None
        from yolo9000.progress import progress_bar

        return progress_bar(self.settings.steps, initial=self.step, desc="train", unit="step")

    def _device_batch(self, batches: Iterator[Batch]) -> tuple[torch.Tensor, Targets, float]:
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

    def _train_step(self, batches: Iterator[Batch]) -> StepResult:
        """One optimizer step over `subdivisions` micro-batches; stops before the update on a non-finite loss."""
        t0 = time.perf_counter()
        subdivisions = self.settings.subdivisions
        images_per_step = self.settings.micro * subdivisions
        wait = 0.0
        sums: dict[str, torch.Tensor | float] = {}
        loss_total = torch.zeros((), device=self.device)
        size = 0
        for k in range(subdivisions):
            images, targets, waited = self._device_batch(batches)
            wait += waited
            size = images.shape[-1]
            self.seen += images.shape[0] * self.dist.world_size
            sync = k == subdivisions - 1 or not self.dist.enabled
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
        if self.ema is not None:
            self.ema.update(self.model)
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.step += 1
        return StepResult(loss_value, sums, size, lr, wait, time.perf_counter() - t0)

    def _report(
        self,
        result: StepResult,
        metrics: MetricsLog | None,
        bar: Progress | None,
        figures: dict[str, float] | None = None,
    ) -> None:
        """The step's row in the metrics log (every `log_every` steps and the last; the validation `figures` of
        a validated step join it) and the progress bar."""
        subdivisions = self.settings.subdivisions
        images_per_step = self.settings.micro * subdivisions
        logged = self.step % self.cfg.log_every == 0 or self.step == self.settings.steps
        if metrics is not None and figures and not logged:
            metrics.write({"step": self.step, "seen": self.seen, **figures})
        if metrics is not None and logged:
            row: dict[str, float | int] = {
                "step": self.step,
                "seen": self.seen,
                "lr": result.lr,
                "size": result.size,
                "loss": result.loss,
            }
            for k, v in sorted(result.sums.items()):
                v = float(v)
                if k in LOSS_PARTS:  # summed over images: report the per-image mean, like "loss"
                    row[f"loss_{k}"] = v / images_per_step
                elif k.endswith("count"):
                    row[k] = v
                else:  # per-micro-batch averages (avg_iou, recall, ...)
                    row[k] = v / subdivisions
            row.update(
                {
                    "images_per_s": images_per_step * self.dist.world_size / max(result.seconds, 1e-9),
                    "data_wait_s": result.wait,
                    "step_time_s": result.seconds,
                    **(figures or {}),
                }
            )
            metrics.write(row)
        if bar is not None:  # the figures first: a line per 10% (not a terminal) is printed by update
            bar.set_postfix(loss=f"{result.loss:.3f}", size=result.size, lr=f"{result.lr:.2e}", refresh=False)
            bar.update(1)

    def _after_step(self) -> None:
        """Checkpoint every `save_every` steps and at the end."""
        if self.step % self.cfg.save_every == 0 or self.step == self.settings.steps:
            self.save()

    def _finish(self, last_loss: float, images_per_s: float) -> dict[str, Any]:
        """The run's summary (and `summary.json` on the main rank)."""
        summary: dict[str, Any] = {
            "step": self.step,
            "seen": self.seen,
            "loss": last_loss,
            "images_per_s": images_per_s,
            "checkpoint": str(self.run_dir / "last.pt"),
        }
        summary.update(self._best_summary())
        if self.dist.enabled:
            digests: list[str | None] = [None] * self.dist.world_size
            torch.distributed.all_gather_object(digests, replica_digest(self.model))
            summary["replica_digests"] = digests
        if self.dist.main:
            write_text_atomic(self.out_dir.claim("summary.json"), json.dumps(summary, indent=2) + "\n")
        return summary

    def _best_summary(self) -> dict[str, Any]:
        """{"best": the best validation with its checkpoint} for the summary; empty without one."""
        if self.best is None:
            return {}
        return {"best": {**self.best, "checkpoint": str(self.run_dir / "best.pt")}}

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
    trainer_class: type[Trainer] | None = None,
) -> dict[str, Any]:
    """Build a Trainer (or `trainer_class`, e.g. the classifier's) from `cfg`, run it, and return its summary."""
    trainer = (trainer_class or Trainer)(cfg, resume=resume, model_builder=model_builder, force=force)
    try:
        return trainer.run()
    finally:
        trainer.close()
