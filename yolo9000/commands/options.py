"""argparse ``type=`` checks for the numeric options of every `yolo9000` command.

The rules themselves live once in `wordtree.options` (also used by `build-wordtree`, `TrainConfig` and the
library's size checks); these are their command-line forms: a bad value ends the command with exit code 2 and
``argument --NAME: expected ..., got ...``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from wordtree import options
from yolo9000.detection.decode import MODES, DecodeOptions

if TYPE_CHECKING:
    import torch

    from yolo9000.detection.detection_model import DetectionModel
    from yolo9000.inference.detector import Detector

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
        help="a Darknet .cfg file, or a model name (yolov2, yolo9000, tiny-yolo, tiny-yolo9000): a tree model is "
        "sized for --tree, a flat one for --names (default: its own classes, 80 for yolov2)",
    )
    m.add_argument(
        "--weights", type=path_type, help="Darknet .weights for --cfg (without: random weights, with a warning)"
    )
    m.add_argument("--tree", type=path_type, help=tree_help)
    m.add_argument("--names", type=path_type, help="label names, one per line (as many as the region's classes)")
    return m


_GIVEN = "given_options"  # the namespace attribute where `StoreGiven` notes the options given


class StoreGiven(argparse.Action):
    """argparse's plain store that also notes that the option was given on the command line (`given` reads it):
    for a command where an option given means more than its default (eval's --hier-thresh on saved records)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, _GIVEN, set(getattr(namespace, _GIVEN, ())) | {self.dest})


def given(args: argparse.Namespace, dest: str) -> bool:
    """True when the option stored in `dest` (with `StoreGiven`) was given on the command line, not defaulted."""
    return dest in getattr(args, _GIVEN, ())


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
        action=StoreGiven,
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


def add_nms_kind_options(group: argparse._ArgumentGroup) -> None:
    """--agnostic-nms / --tree-nms (one or the other) of a detecting command (`detect`, `eval`); `nms_kind` reads
    them back as `DecodeOptions` fields."""
    kind = group.add_mutually_exclusive_group()
    kind.add_argument(
        "--agnostic-nms",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="NMS across classes/nodes, not per class",
    )
    kind.add_argument(
        "--tree-nms",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="tree models: NMS between nodes on one root-to-leaf path (a 'terrier' box "
        "removes an overlapping weaker 'dog', never a 'cat')",
    )


def nms_kind(args: argparse.Namespace) -> dict[str, bool]:
    """The `DecodeOptions` fields of `add_nms_kind_options`: ``decode_options(args, **nms_kind(args))``."""
    return {"class_agnostic": bool(args.agnostic_nms), "tree_nms": bool(args.tree_nms)}


def add_exported_model_option(group: argparse._ArgumentGroup, path_type: Callable[[str], Any] = str) -> None:
    """--model: an exported FILE.onnx / .xml (`yolo9000 export`), for `detect` and `eval`."""
    group.add_argument(
        "--model",
        type=path_type,
        help="an exported model (`yolo9000 export`): FILE.onnx (ONNX Runtime, or --backend openvino) or an "
        "OpenVINO FILE.xml; it carries its own names, tree and input size",
    )


def add_runtime_options(group: argparse._ArgumentGroup, *, batch_size: int = 8) -> None:
    """How a detecting command (`detect`, `eval`) runs the network: --size, --device, --backend, --batch-size,
    --precision, --exact-letterbox, --ignore-exif and --workers, with one meaning everywhere (they are the
    `Detector`'s arguments and the image reader's)."""
    group.add_argument(
        "--size", type=size32, default=None, help="network input size, a multiple of 32 (default: the cfg's)"
    )
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda if available)")
    group.add_argument(
        "--backend",
        choices=("torch", "onnxruntime", "openvino"),
        default=None,
        help="what runs the network (decode and NMS are the same for all): torch (default for checkpoints and "
        "cfgs, which other backends get exported in memory), onnxruntime (default for .onnx), openvino "
        "(default for .xml)",
    )
    group.add_argument(
        "--batch-size",
        type=positive_int,
        default=batch_size,
        help=f"images per forward pass (default {batch_size})",
    )
    group.add_argument(
        "--precision",
        choices=("fp32", "fast", "bf16", "fp16"),
        default="fp32",
        help="fp32 (default, every backend); fast: fp32 on the fastest library backend installed (onnxruntime, "
        "else openvino, else torch with folded batch norm; same detections); bf16/fp16: torch with folded batch "
        "norm, or OpenVINO's bf16/f16 hint (faster, drifts ~1e-2, can change detections)",
    )
    group.add_argument(
        "--exact-letterbox",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="Darknet's bit-exact resize (slower) instead of the batched torch letterbox",
    )
    group.add_argument(
        "--ignore-exif",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="read the stored pixels, ignoring the EXIF orientation (as Darknet does; default: honour it)",
    )
    group.add_argument(
        "--workers",
        type=non_negative_int,
        default=2,
        help="image-reading threads (0: read in the main thread; default 2)",
    )


def build_detector(
    args: argparse.Namespace,
    model: DetectionModel,
    names: Sequence[str] | None,
    decoding: DecodeOptions,
    device: str | torch.device,
    command: str,
) -> Detector:
    """The `Detector` of a detecting command's runtime options (`add_runtime_options`); prints its first line,
    which says what runs (backend and precision)."""
    from yolo9000.inference.detector import Detector

    detector = Detector(
        model,
        names,
        decoding,
        device=device,
        precision=args.precision,
        exact_letterbox=args.exact_letterbox,
        size=args.size,
        backend=args.backend,
    )
    print(f"yolo9000 {command}: {detector.describe()}")
    return detector
