"""argparse ``type=`` checks for the numeric options of every `yolo9000` command.

The rules themselves live once in `wordtree.options` (also used by `build-wordtree`, `TrainConfig` and the
library's size checks); these are their command-line forms: a bad value ends the command with exit code 2 and
``argument --NAME: expected ..., got ...``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeAlias

from wordtree import options
from yolo9000.detection.decode import MODES, DecodeOptions

#: what `yolo9000.cli` hands each command's `add_parser` (argparse's class is generic only in its stubs)
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

positive_int = options.arg_type(options.positive_int)
non_negative_int = options.arg_type(options.non_negative_int)
size32 = options.arg_type(options.size32)
probability = options.arg_type(options.probability)
positive_float = options.arg_type(options.positive_float)
non_negative_float = options.arg_type(options.non_negative_float)
threshold = options.arg_type(options.threshold)  # score thresholds: [0, 1)
iou_threshold = options.arg_type(options.iou_threshold)  # NMS IoU: (0, 1]


def add_model_options(
    parser: argparse.ArgumentParser,
    title: str = "model",
    path_type: Callable[[str], Any] = str,
    tree_help: str = "our tree JSON or a Darknet .tree, when the cfg's [region] uses a tree",
) -> argparse._ArgumentGroup:
    """The options that name a model, shared by `detect`, `export` and `eval`: a checkpoint, or a Darknet cfg
    with its weights, tree and names. Returns the group, for a command's own extra model options."""
    m = parser.add_argument_group(title)
    m.add_argument(
        "--checkpoint", type=path_type, help="a yolo9000 checkpoint (.pt) from `yolo9000 train` or `convert`"
    )
    m.add_argument(
        "--cfg",
        type=path_type,
        help="a Darknet .cfg file, or a template name (yolov2, yolo9000, tiny-yolo, tiny-yolo9000) sized for --tree",
    )
    m.add_argument(
        "--weights", type=path_type, help="Darknet .weights for --cfg (without: random weights, with a warning)"
    )
    m.add_argument("--tree", type=path_type, help=tree_help)
    m.add_argument("--names", type=path_type, help="label names, one per line (as many as the region's classes)")
    return m


def add_decode_options(group: argparse._ArgumentGroup, defaults: DecodeOptions) -> None:
    """The decoding options of a detecting command (`detect`, `eval`): --thresh, --hier-thresh, --nms and --mode,
    with the command's defaults (`DecodeOptions()` for detect, `EVAL_OPTIONS` for eval). `decode_options` reads
    them back."""
    group.add_argument(
        "--thresh",
        type=threshold,
        default=defaults.thresh,
        help=f"score threshold in [0, 1) (default {defaults.thresh:g})",
    )
    group.add_argument(
        "--hier-thresh",
        type=threshold,
        default=defaults.hier_thresh,
        help=f"tree: stop descending when P(node) falls to this, in [0, 1) (default {defaults.hier_thresh:g})",
    )
    group.add_argument(
        "--nms",
        type=iou_threshold,
        default=defaults.nms,
        help=f"NMS IoU threshold in (0, 1]; 1 disables NMS (default {defaults.nms:g})",
    )
    group.add_argument(
        "--mode",
        choices=MODES,
        default=defaults.mode,
        help="tree scoring: the paper's walk and obj*P(node), or Darknet's exact output",
    )


def decode_options(args: argparse.Namespace, **changes: Any) -> DecodeOptions:
    """The `DecodeOptions` of the decoding options `add_decode_options` added (checked by argparse), with the
    command's own fields in `changes` (detect: its NMS kind and report depth; eval: its category map)."""
    return DecodeOptions(thresh=args.thresh, hier_thresh=args.hier_thresh, nms=args.nms, mode=args.mode, **changes)
