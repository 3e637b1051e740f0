"""`yolo9000 train`: joint detection + classification training (the emoji world when no data is given)."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wordtree.files import plural
from yolo9000.commands import options
from yolo9000.commands.defaults import DEFAULT_RUN_DIR
from yolo9000.training.config import TASKS, TrainConfig
from yolo9000.training.schedule import POLICIES

log = logging.getLogger(__name__)

EPILOG = f"""\
examples:
  yolo9000 train                                   # the synthetic emoji world -> {DEFAULT_RUN_DIR}/last.pt
  yolo9000 emoji-world data/habitat --taxonomy habitat && yolo9000 train --world data/habitat --out runs/habitat
  yolo9000 train --steps 2000 --batch 32 --out runs/emoji2
  yolo9000 train --coco coco/train.json --images coco/train2017 --folders imagenet/train \\
      --tree wordtree.json --cfg yolo9000 --cls-fraction 0.8 --weights darknet19_448.conv.23 --weights-layers 23
  yolo9000 train --config my.yaml --lr 5e-4        # YAML config, command line wins
  yolo9000 train --coco train.json --images train/ --val-coco val.json --val-images val/ --tree wordtree.json \\
      --cfg yolo9000 --ema 0.9999                  # val mAP every N steps -> OUT/best.pt, OUT/curves.png
  yolo9000 train --out runs/emoji --resume         # continue exactly where the last checkpoint stopped
  torchrun --nproc_per_node 4 -m yolo9000 train --config my.yaml   # DDP (gloo on CPU, NCCL on GPU)
  yolo9000 train --task classify --folders imagenet/train --val-folders imagenet/val --tree wordtree.json \\
      --cfg darknet19 --size 224 --batch 64 --lr 0.1 --out runs/cls   # a classifier (no [region]), tree loss

Options not given come from the YAML config, then from the model cfg's [net]/[region] sections.
The resolved config is saved as OUT/config.yaml; checkpoints are OUT/last.pt (and with validation data
OUT/best.pt: the best --val-metric), the log OUT/log.csv (val/ columns on validated steps), the curves
OUT/curves.png. With no data the emoji world is validated on its test split.

An --out that holds a run (OUT/last.pt) is refused unless --resume is given; only the default run (no data,
no --out) reuses its earlier run: a finished run of the same options is reused as it is (one line), an
unfinished one resumes, and a run of other options is refused.
"""


def _bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


#: The namespace attribute where `FlagAction` keeps the deprecation warnings `run` logs
DEPRECATED = "deprecated_options"


class FlagAction(argparse.Action):
    """A boolean option as `--NAME` / `--no-NAME` (argparse's BooleanOptionalAction); the older `--NAME VALUE`
    (true/false, yes/no, 1/0, on/off) still parses, with one logged deprecation warning (`run` logs it)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        strings = []
        for option in option_strings:
            strings.append(option)
            if option.startswith("--"):
                strings.append(f"--no-{option[2:]}")
        super().__init__(strings, dest, nargs="?", **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        negative = bool(option_string and option_string.startswith("--no-"))
        if values is None:
            setattr(namespace, self.dest, not negative)
            return
        if negative:
            parser.error(f"{option_string} takes no value")
        try:
            value = _bool(str(values))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"argument {option_string}: {exc}")
        flag = option_string if value else f"--no-{(option_string or '')[2:]}"
        # said by `run` once logging is set up (a log line, not a line of its own before an error)
        said = getattr(namespace, DEPRECATED, [])
        setattr(namespace, DEPRECATED, [*said, f"{option_string} {values} is deprecated; use {flag}"])
        setattr(namespace, self.dest, value)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """`--NAME, --no-NAME` for a `FlagAction` in the option list and `--NAME | --no-NAME` in the usage line (its
    optional legacy value stays out of both)."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, FlagAction):
            return ", ".join(action.option_strings)
        return super()._format_action_invocation(action)

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if isinstance(action, FlagAction):
            return "| " + action.option_strings[1]  # after the first option string in the usage line
        return super()._format_args(action, default_metavar)


def add_parser(subparsers: options.Subparsers) -> argparse.ArgumentParser:
    """Register `train`."""
    p = subparsers.add_parser(
        "train",
        help="train a detector jointly on boxes and class folders",
        description="Train YOLO9000-style: COCO-format boxes and class-folder images over one WordTree.",
        formatter_class=HelpFormatter,
        epilog=EPILOG,
    )
    A = argparse.SUPPRESS  # unset options stay out of the namespace, so YAML values survive
    d = p.add_argument_group("data")
    d.add_argument("--config", type=Path, help="YAML file of options (names as below, - or _)")
    d.add_argument(
        "--task",
        choices=TASKS,
        default=A,
        help="detect (default): a detector with the region loss; classify: a classifier cfg (no [region], e.g. "
        "darknet19) on --folders (validated on --val-folders) with the paper's per-level tree softmax loss "
        "(flat without --tree: cross-entropy), random crops (--scale MIN MAX: their share of the area, default "
        ".08 1), flips and a mild colour jitter (--hue, --saturation, --exposure)",
    )
    d.add_argument(
        "--data",
        action="append",
        default=A,
        metavar="SRC",
        help="a dataset in any format: Ultralytics data.yaml, Darknet .data (combine9k x=y=0 lines are class "
        "pictures), Pascal VOC year folder, Open Images YAML, COCO JSON or class folders; repeat to mix several "
        "(`yolo9000 data check SRC` counts one)",
    )
    d.add_argument("--split", default=A, metavar="NAME", help="split of --data (default: its training split)")
    d.add_argument(
        "--names-csv", default=A, metavar="CSV", help="name,id rows placing free-form class names of --data in the tree"
    )
    d.add_argument("--coco", default=A, help="COCO detection JSON (boxes)")
    d.add_argument("--images", default=A, help="image folder of --coco (default: JSON_DIR/images)")
    d.add_argument("--folders", default=A, help="class folders named by node id (or mapped in class_ids.csv)")
    d.add_argument("--tree", default=A, help="WordTree JSON (build-wordtree) or Darknet .tree")
    d.add_argument("--label-map", default=A, help="tree label map naming COCO categories without a 'node' or 'wnid'")
    d.add_argument(
        "--world",
        default=None,
        metavar="DIR",
        help="with no data: the emoji world to train on, a folder made by `yolo9000 emoji-world DIR` (its "
        "taxonomy, tree and splits), or a new or empty folder to generate the default world in (default: the "
        "default world, kept in the user cache)",
    )
    d.add_argument(
        "--cls-fraction",
        type=options.probability,
        default=A,
        help="share of classification images per batch (default: by dataset sizes)",
    )
    d.add_argument("--repeat-det", type=options.positive_float, default=A, help="repeat factor of the detection set")
    d.add_argument(
        "--repeat-cls", type=options.positive_float, default=A, help="repeat factor of the classification set"
    )
    d.add_argument(
        "--ignore-exif",
        dest="exif",
        action="store_const",
        const=False,
        default=A,
        help="read the stored pixels, ignoring the EXIF orientation (as Darknet does; YAML: exif: false)",
    )
    v = p.add_argument_group("validation (scored as `yolo9000 eval` scores: its pipeline and default decoding)")
    v.add_argument("--val-coco", default=A, metavar="JSON", help="COCO JSON of held-out boxes (AP, AP50, per-box tree)")
    v.add_argument(
        "--val-images", default=A, metavar="DIR", help="image folder of --val-coco (default: JSON_DIR/images)"
    )
    v.add_argument(
        "--val-folders", default=A, metavar="DIR", help="held-out class folders (top-1, top-5, hierarchical)"
    )
    v.add_argument(
        "--val-data",
        action="append",
        default=A,
        metavar="SRC",
        help="held-out data in any --data format (its validation split: val, valid, test or validation)",
    )
    v.add_argument("--val-split", default=A, metavar="NAME", help="split of --val-data (default: its held-out split)")
    v.add_argument(
        "--val-every",
        type=options.positive_int,
        default=A,
        metavar="N",
        help="steps between validations, and at the end (default: about 10 training images per validation "
        "image, which keeps validation under 10%% of the training time)",
    )
    v.add_argument(
        "--val-metric",
        default=A,
        metavar="NAME",
        help="figure that picks OUT/best.pt (default val/AP50; val/top1 with --val-folders only)",
    )
    v.add_argument(
        "--ema",
        type=options.threshold,
        default=A,
        metavar="DECAY",
        help="validate and save a moving average of the weights, e.g. 0.9999 (its decay ramped up over "
        "--ema-ramp steps; checkpoints also keep the raw weights to resume exactly; default off, 0: off)",
    )
    v.add_argument(
        "--ema-ramp",
        type=options.positive_float,
        default=A,
        metavar="STEPS",
        help="steps over which the EMA decay rises to 1 - 1/e of DECAY (default: a tenth of --steps, at most "
        "2000, the field's value for long runs)",
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--cfg", default=A, help="Darknet cfg file or model name (yolo9000, yolov2, tiny_yolo9000, emoji-tiny)"
    )
    m.add_argument(
        "--flat",
        action=FlagAction,
        default=A,
        help="--task classify: a flat softmax head over the class folders (one class per folder) instead of the "
        "tree softmax, even with --tree (default: off; without --tree the head is flat anyway)",
    )
    m.add_argument(
        "--pretrained",
        action=FlagAction,
        default=A,
        help="start a torchvision:NAME backbone from torchvision's ImageNet weights (its weights API: a download "
        "into $TORCH_HOME, or the file already there; default: off)",
    )
    m.add_argument(
        "--anchors",
        type=options.positive_float,
        nargs="+",
        default=A,
        metavar="W H",
        help="anchor w h pairs in grid cells for a named model (from `yolo9000 anchors`)",
    )
    m.add_argument(
        "--weights",
        default=A,
        help="Darknet .weights to start from: a file for this whole model, or with --weights-layers the "
        "first layers of another cfg's file (e.g. darknet19_448.conv.23 --weights-layers 23)",
    )
    m.add_argument(
        "--weights-layers",
        type=options.positive_int,
        default=A,
        metavar="N",
        help="load only the first N conv layers of --weights (needed for a file made for another cfg)",
    )
    o = p.add_argument_group("schedule")
    o.add_argument("--out", default=A, help=f"run folder (default {DEFAULT_RUN_DIR})")
    o.add_argument(
        "--force",
        action="store_true",
        default=False,
        help="train into an --out this command did not make (never over files it did not write)",
    )
    o.add_argument("--steps", type=options.positive_int, default=A, help="optimizer steps (default: cfg max_batches)")
    o.add_argument(
        "--batch", type=options.positive_int, default=A, help="images per step and rank (default: cfg batch)"
    )
    o.add_argument(
        "--subdivisions", type=options.positive_int, default=A, help="micro-batches per step (gradient accumulation)"
    )
    o.add_argument("--lr", type=options.positive_float, default=A, help="base learning rate")
    o.add_argument("--momentum", type=options.probability, default=A, help="SGD momentum (default: cfg momentum)")
    o.add_argument(
        "--decay",
        type=options.non_negative_float,
        default=A,
        help="weight decay, conv weights only (default: cfg decay)",
    )
    o.add_argument("--burn-in", type=options.non_negative_int, default=A, help="warm-up steps, lr*(step/burn_in)^4")
    o.add_argument(
        "--policy",
        choices=POLICIES,
        default=A,
        help="learning-rate policy after burn-in: steps, poly (Darknet's, (1 - step/steps)^power), cosine or "
        "constant (default: the cfg's policy)",
    )
    o.add_argument(
        "--lr-steps",
        type=options.positive_int,
        nargs="+",
        default=A,
        metavar="STEP",
        help="steps at which the rate is multiplied by --lr-scales (policy steps; default: cfg steps)",
    )
    o.add_argument(
        "--lr-scales",
        type=options.non_negative_float,
        nargs="+",
        default=A,
        metavar="SCALE",
        help="one factor per --lr-steps entry (default: cfg scales)",
    )
    o.add_argument("--size", type=options.size32, default=A, help="input size (default: cfg width)")
    o.add_argument(
        "--multiscale",
        action=FlagAction,
        default=A,
        help="draw a new input size every --scale-every steps (default: the cfg's [region] random)",
    )
    o.add_argument(
        "--sizes",
        type=options.size32,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=A,
        help="multi-scale range, step 32 (default 320 608 for a 416 net, scaled for others)",
    )
    o.add_argument("--scale-every", type=options.positive_int, default=A, help="steps between size changes (10)")
    o.add_argument("--final-size", type=options.size32, default=A, help="size for the last steps (default: largest)")
    a = p.add_argument_group("augmentation / loss")
    a.add_argument(
        "--jitter",
        type=options.probability,
        default=A,
        help="aspect-ratio jitter, share of each side (default: cfg jitter)",
    )
    a.add_argument("--hue", type=options.probability, default=A, help="random hue shift, +-HUE (default: cfg hue)")
    a.add_argument(
        "--saturation",
        type=options.positive_float,
        default=A,
        help="random saturation factor, 1/S..S (default: cfg saturation)",
    )
    a.add_argument(
        "--exposure",
        type=options.positive_float,
        default=A,
        help="random exposure factor, 1/E..E (default: cfg exposure)",
    )
    a.add_argument("--flip", action=FlagAction, default=A, help="random horizontal flips (default: on)")
    a.add_argument(
        "--max-boxes",
        type=options.positive_int,
        default=A,
        help="most boxes kept per picture, after shuffling (default 30)",
    )
    a.add_argument(
        "--scale",
        type=options.positive_float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=A,
        help="size of the placed picture vs the canvas, drawn per picture (default 1 1: Darknet)",
    )
    a.add_argument(
        "--cls-scale",
        type=options.positive_float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=A,
        help="the same for classification pictures, e.g. .3 1 to bring one big object down "
        "to detection scale (default: as --scale)",
    )
    a.add_argument(
        "--cls-objectness",
        choices=("paper", "darknet", "none"),
        default=A,
        help="objectness on classification-only images (paper: the .3 IoU rule)",
    )
    a.add_argument(
        "--cls-anchor",
        choices=("label", "objectness"),
        default=A,
        help="box of a classification image that gets its class loss: label (the paper: the box "
        "most confident of the image's label) or objectness (the box most confident of an object)",
    )
    r = p.add_argument_group("runtime")
    r.add_argument("--device", default=A, help="auto, cpu, cuda, cuda:1")
    r.add_argument(
        "--amp",
        choices=("auto", "bf16", "fp16", "off"),
        default=A,
        help="mixed precision (default auto: bf16 on CUDA, off on the CPU; fp16 on CUDA only)",
    )
    r.add_argument(
        "--channels-last", action=FlagAction, default=A, help="channels-last memory format (default: on CUDA only)"
    )
    r.add_argument("--compile", action=FlagAction, default=A, help="torch.compile the model (default: off)")
    r.add_argument("--workers", type=options.non_negative_int, default=A, help="DataLoader workers per rank")
    r.add_argument(
        "--decode",
        choices=("cpu", "gpu"),
        default=A,
        help="where JPEGs are decoded: cpu (the loader workers, default) or gpu (the workers read the bytes, the "
        "training step decodes the batch with nvjpeg and resizes it on the device; CPU otherwise, with one line)",
    )
    r.add_argument(
        "--seed",
        type=options.non_negative_int,
        default=A,
        help="seed of the initial weights, the data order and the augmentation (default 0)",
    )
    r.add_argument("--save-every", type=options.positive_int, default=A, help="steps between checkpoints (100)")
    r.add_argument(
        "--log-every", type=options.positive_int, default=A, help="steps between rows of OUT/log.csv (default 1)"
    )
    r.add_argument(
        "--tensorboard",
        action=FlagAction,
        default=A,
        help="TensorBoard scalars in OUT/tensorboard (default: on when the tensorboard package is installed)",
    )
    r.add_argument(
        "--progress",
        action=FlagAction,
        default=A,
        help="a progress bar on a terminal, a line per 10%% of the steps otherwise (default: on)",
    )
    r.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CKPT",
        help="continue from OUT/last.pt (or the given checkpoint) exactly, with the run's own cfg and tree (another "
        "is refused); a run that already reached its last step says so and trains nothing (a larger --steps "
        "continues it)",
    )
    p.set_defaults(func=run)
    return p


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, Path | None]:
    """The merged config (checkpoint/YAML < command line) and the checkpoint to resume from."""
    given = {k: v for k, v in vars(args).items() if k in TrainConfig.names()}
    base = TrainConfig(out=str(DEFAULT_RUN_DIR))
    if args.config:
        base = TrainConfig.from_yaml(args.config, base)
    resume = None
    if args.resume is not None:
        out = Path(given.get("out", base.out))
        resume = out / "last.pt" if args.resume is True else Path(args.resume)
        from yolo9000.darknet.checkpoint import load_checkpoint

        saved = load_checkpoint(resume).get("config")
        if saved:
            saved = {k: v for k, v in saved.items() if k != "world"}  # runs before 0.2 stored the emoji folder
            base = TrainConfig().updated(saved, source=str(resume))
    return base.updated(given, source="command line"), resume


def run(args: argparse.Namespace) -> int:
    """Train; prints the final summary line."""
    from yolo9000.emoji import recipe
    from yolo9000.training.trainer import train

    for line in getattr(args, DEPRECATED, []):
        log.warning("%s", line)
    cfg, resume = config_from_args(args)
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 prints
    earlier = None
    if cfg.task == "classify":  # a classifier on class folders (no emoji world, no default run)
        from yolo9000.training.classify import train_classifier

        if args.world is not None:
            raise ValueError("--world is the emoji world of detection training; --task classify trains on --folders")
        summary = train_classifier(cfg, resume=resume, force=args.force)
    else:
        # the default run (no data, no --out: the README's first command) may be run again: it reuses its run
        default_run = recipe.uses_world(cfg) and resume is None and not _out_given(args)
        if recipe.uses_world(cfg):  # no data given: the synthetic emoji world and its recipe
            cfg = recipe.training_config(cfg, args.world)
        earlier = _earlier_run(cfg) if default_run else None
        if earlier is not None:
            resume = earlier[0]
            if main_rank and earlier[2] is not None and earlier[1] < earlier[2]:
                print(f"{resume}: an unfinished run of these options (step {earlier[1]} of {earlier[2]}); resuming it")
        summary = train(cfg, resume=resume, model_builder=recipe.build_model, force=args.force)
    if not main_rank:
        return 0
    if summary.get("already_done"):
        steps = plural(summary["steps"], "step")
        if earlier is not None:
            print(
                f"{summary['checkpoint']}: reusing the finished run of these options ({steps}); delete "
                f"{cfg.out} or give --out DIR to train again"
            )
        else:
            print(
                f"{summary['checkpoint']}: the run already reached its last step ({summary['step']} of {steps}); "
                "nothing to train (give a larger --steps to continue it)"
            )
    elif summary.get("checkpoint"):
        print(
            f"trained {plural(summary['step'], 'step')}, {plural(summary['seen'], 'image')}, final loss "
            f"{summary['loss']:.4f}, {summary['images_per_s']:.1f} images/s -> {summary['checkpoint']}"
        )
    best = summary.get("best")
    if best:  # the run's last line: the checkpoint to use
        print(f"best {best['metric']} {best['value']:.4f} at step {best['step']} -> {best['checkpoint']}")
    return 0


def _out_given(args: argparse.Namespace) -> bool:
    """True when the user named the run folder: --out, or `out:` in the --config YAML."""
    if "out" in vars(args):
        return True
    if args.config is None:
        return False
    import yaml

    data = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))  # read (and checked) before, by from_yaml
    return isinstance(data, dict) and any(str(k).replace("-", "_") == "out" for k in data)


def _earlier_run(cfg: TrainConfig) -> tuple[Path, int, int | None] | None:
    """The run already in the default run's folder: (OUT/last.pt, its step, its last step or None when unknown)
    when it is a run of these options; None when there is none. A run of other options is the usual refusal,
    naming the options that differ."""
    last = Path(cfg.out) / "last.pt"
    if not last.is_file():
        return None
    from yolo9000.darknet.checkpoint import load_checkpoint

    ck = load_checkpoint(last)
    differ = cfg.differences(ck.get("config") or {})
    if differ:
        shown = ", ".join(differ[:4]) + (", ..." if len(differ) > 4 else "")
        raise ValueError(
            f"{last} exists, a run of other options ({shown} differ); pass --resume to continue that run, "
            f"choose another --out, or delete {cfg.out}"
        )
    # the step it ends at (checkpoints before issue 23 hold it only when --steps was given)
    steps = ck.get("steps") or (ck.get("config") or {}).get("steps")
    return last, int(ck.get("step", 0)), int(steps) if steps else None
