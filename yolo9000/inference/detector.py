"""`Detector`: a `DetectionModel` (a `DarknetModel` from our checkpoint or Darknet cfg + weights, or an exported
model in its runtime) with the letterbox, the forward pass and `decode`, batched on one device;
`load_detector_model` loads a `DarknetModel` (or an exported model in its runtime) with its label names.

`yolo9000.inference.runner.detect_files` runs a Detector over images, folders and videos."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import torch

from wordtree.formats import load_tree, read_names
from wordtree.options import size32
from yolo9000.darknet.model import DarknetModel
from yolo9000.detection.decode import DecodeOptions, decode
from yolo9000.detection.detection_model import DetectionModel, region_parts
from yolo9000.detection.detections import Detections
from yolo9000.inference.backends import RuntimeModel, best_backend, load_runtime_model, runtime_model
from yolo9000.inference.export import input_size

log = logging.getLogger(__name__)

# "fast": fp32 on the fastest library backend installed (`backends.best_backend`): same decisions as fp32
PRECISIONS = {"fp32": None, "fast": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# ---------------------------------------------------------------- model loading
@overload
def load_detector_model(
    *,
    checkpoint: str | Path | None = None,
    cfg: str | Path | None = None,
    weights: str | Path | None = None,
    tree: str | Path | None = None,
    names: str | Path | None = None,
    model: None = None,
    backend: str | None = None,
    precision: str = "fp32",
) -> tuple[DarknetModel, list[str] | None]: ...


@overload
def load_detector_model(
    *,
    checkpoint: str | Path | None = None,
    cfg: str | Path | None = None,
    weights: str | Path | None = None,
    tree: str | Path | None = None,
    names: str | Path | None = None,
    model: str | Path,
    backend: str | None = None,
    precision: str = "fp32",
) -> tuple[DetectionModel, list[str] | None]: ...


def load_detector_model(
    *,
    checkpoint: str | Path | None = None,
    cfg: str | Path | None = None,
    weights: str | Path | None = None,
    tree: str | Path | None = None,
    names: str | Path | None = None,
    model: str | Path | None = None,
    backend: str | None = None,
    precision: str = "fp32",
) -> tuple[DetectionModel, list[str] | None]:
    """(model, label names or None): the one loader of `detect`, `eval` and `export`.

    `model`: an exported FILE.onnx / OpenVINO FILE.xml, loaded into its runtime (`backends.load_runtime_model`
    with `backend` and `precision`) as a `RuntimeModel` that carries its own weights, tree and names; it excludes
    checkpoint, cfg, weights and tree. Otherwise a `DarknetModel` in eval mode on CPU from a checkpoint or
    Darknet files (`cfg`: a .cfg file, or a model name of `yolo9000.darknet.templates` sized for `tree`, else,
    when flat, for the `names` given, else its default classes);
    `backend` and `precision` are then the `Detector`'s business. Names come from `names` (a file, read by
    `wordtree.formats.read_names`), else the model's, else the tree's node names. A names file whose length
    differs from the region's classes is an error naming both numbers; a model without a `[region]` is an error
    naming it.
    """
    if model is not None:
        given = {"checkpoint": checkpoint, "cfg": cfg, "weights": weights, "tree": tree}
        dropped = [f"--{k}" for k, v in given.items() if v is not None]
        if dropped:
            raise ValueError(f"--model is an exported model with its own weights and tree; drop {', '.join(dropped)}")
        runtime = load_runtime_model(model, backend, precision)
        label_names = read_names(names) if names is not None else runtime.names
        if label_names is not None and len(label_names) != runtime.region.classes:
            raise ValueError(f"{names}: {len(label_names)} names but {model} has {runtime.region.classes} classes")
        return runtime, (list(label_names) if label_names is not None else None)
    return _load_darknet_detector(checkpoint=checkpoint, cfg=cfg, weights=weights, tree=tree, names=names)


def _load_darknet_detector(
    *,
    checkpoint: str | Path | None,
    cfg: str | Path | None,
    weights: str | Path | None,
    tree: str | Path | None,
    names: str | Path | None,
) -> tuple[DarknetModel, list[str] | None]:
    """`load_detector_model` for a checkpoint or Darknet files."""
    if checkpoint is not None and cfg is not None:
        raise ValueError("give either --checkpoint or --cfg [--weights], not both")
    model: DarknetModel
    if checkpoint is not None:
        from yolo9000.darknet.checkpoint import load_model

        if tree is not None:
            raise ValueError("--tree applies to Darknet cfgs; a checkpoint carries its own tree")
        model = load_model(checkpoint, "cpu")
        label_names = model.names
    elif cfg is not None:
        from yolo9000.darknet.model import load_darknet
        from yolo9000.darknet.templates import is_template_name, load_template, template_names

        named = is_template_name(cfg)
        if not named and not Path(cfg).is_file():
            raise FileNotFoundError(
                f"--cfg {cfg}: no such cfg file, and not a model name ({', '.join(template_names())})"
            )
        word_tree = load_tree(tree, names) if tree is not None else None
        if named:
            # a flat template is sized for the names given (a tree sizes a tree template; else its default)
            classes = len(read_names(names)) if names is not None and word_tree is None else None
            model = load_template(str(cfg), weights, word_tree, classes=classes)
        else:
            model = load_darknet(cfg, weights, tree=word_tree, tree_source=str(tree) if tree is not None else None)
        if weights is None:
            log.warning("%s: no --weights given, the model has random weights", cfg)
        label_names = None
    else:
        raise ValueError("no model: give --checkpoint, or --cfg with --weights")
    region, _ = region_parts(model)
    if names is not None:
        label_names = read_names(names)
        if len(label_names) != region.classes:
            raise ValueError(f"{names}: {len(label_names)} names but the model's [region] has classes={region.classes}")
    if label_names is None and region.tree is not None:
        label_names = list(region.tree.names)
    if label_names is not None and len(label_names) != region.classes:
        raise ValueError(f"{model.source}: {len(label_names)} names stored but the model has {region.classes} classes")
    return model.eval(), (list(label_names) if label_names is not None else None)


# ---------------------------------------------------------------- the detector
class Detector:
    """Letterbox -> model -> `decode`, batched on one device.

    `model`: a `DarknetModel`, or a `backends.RuntimeModel` (an exported model in ONNX Runtime / OpenVINO);
    `backend` ("torch", "onnxruntime", "openvino"; None: torch, or the fastest installed for "fast") runs a
    `DarknetModel` there, exported in memory. Every backend's output goes through the same region activation,
    `decode` and NMS. `options` (`DecodeOptions`: thresh, hier_thresh, nms, mode, class_agnostic, tree_nms,
    clip, siblings, ...; its defaults when None) go to `decode` as they are; single fields may be changed by
    keyword, `Detector(model, thresh=0.5)`, as in `decode`. `precision` "fast" runs fp32 on the fastest
    library backend installed (`best_backend`; torch: BN folded, channels_last), "bf16"/"fp16" a BN-folded
    low-precision copy (`optimize_for_inference`; with OpenVINO its bf16/f16 inference-precision hint);
    `exact_letterbox` uses Darknet's bit-exact resize (slow, per image) instead of the batched one;
    `size` overrides the cfg's network input size (a multiple of 32).
    """

    def __init__(
        self,
        model: DetectionModel,
        names: Sequence[str] | None = None,
        options: DecodeOptions | None = None,
        *,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        exact_letterbox: bool = False,
        size: int | None = None,
        backend: str | None = None,
        **changes: Any,
    ) -> None:
        self.options = (options or DecodeOptions()).with_(**changes)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if size is not None:
            size = size32(size, "size")
        self.device = torch.device(device)
        placed = self._place(model, backend, precision, names, size, self.device)
        self.backend = placed.backend.name if isinstance(placed, RuntimeModel) else "torch"
        self.precision = placed.backend.precision if isinstance(placed, RuntimeModel) else precision
        self.model: DetectionModel = placed.to(self.device).eval()
        if names is None and isinstance(placed, RuntimeModel):
            names = placed.names  # an exported model carries its label names
        self.names = list(names) if names is not None else None
        self.region, head = region_parts(self.model)
        self.net_size = input_size(self.model, size)
        if self.options.tree_nms and self.region.tree is None:
            raise ValueError("--tree-nms needs a model with a tree [region] (and excludes --agnostic-nms)")
        self.exact_letterbox = exact_letterbox
        self.tree_softmax = head.tree_softmax

    @staticmethod
    def _place(
        model: DetectionModel,
        backend: str | None,
        precision: str,
        names: Sequence[str] | None,
        size: int | None,
        device: torch.device,
    ) -> DetectionModel:
        """The model the detector runs: a `RuntimeModel` as it is, else the `DarknetModel` on `backend`."""
        if isinstance(model, RuntimeModel):
            if backend not in (None, model.backend.name):
                raise ValueError(f"{model.source} is loaded in {model.backend.name}, not {backend}")
            if size is not None and (size, size) != (model.info.width, model.info.height):
                raise ValueError(
                    f"--size {size}: {model.source} was exported for {model.info.width}x{model.info.height} "
                    "(export it again with --size)"
                )
            return model
        if backend is None:  # "fast" on a GPU stays in torch: the CPU runtimes would leave the GPU idle
            backend = best_backend() if precision == "fast" and device.type == "cpu" else "torch"
        if backend == "torch" and precision == "fp32":
            return model
        if not isinstance(model, DarknetModel):
            raise TypeError(f"{model.source}: --backend {backend} / --precision {precision} need a DarknetModel")
        if backend != "torch":
            return runtime_model(model, backend, precision=precision, names=names, size=size)
        from yolo9000.inference.optimize import optimize_for_inference

        return optimize_for_inference(model, dtype=PRECISIONS[precision])

    def describe(self) -> str:
        """Which backend and precision run the network, e.g. for a run's first line."""
        if isinstance(self.model, RuntimeModel):
            return f"backend {self.model.describe()}"
        kind = "fp32 (fast: BN folded, channels_last)" if self.precision == "fast" else self.precision
        return f"backend torch on {self.device}, {kind}"

    def preprocess(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """(B, 3, H, W) float network input from (3,h,w) uint8 images."""
        from yolo9000.detection.letterbox import letterbox, letterbox_batch

        if self.exact_letterbox:
            return torch.stack([letterbox(im, self.net_size) for im in images]).to(self.device)
        return letterbox_batch([im.to(self.device) for im in images], self.net_size, device=self.device)

    @torch.inference_mode()
    def __call__(self, images: Sequence[torch.Tensor]) -> list[Detections]:
        """Detections for a batch of (3,h,w) uint8 RGB images, boxes in each image's pixels."""
        return self.decodings(images, [self.options])[0]

    def decodings(self, images: Sequence[torch.Tensor], options: Sequence[DecodeOptions]) -> list[list[Detections]]:
        """The detections of a batch under each of `options` (one list per entry), from one network pass: what
        `yolo9000 eval` scores several ways (walk and map, fine and coarse labels)."""
        if not images:
            return [[] for _ in options]
        x = self.preprocess(images)
        head = None
        if isinstance(self.model, RuntimeModel) and self.model.backend.output == "region":
            out = self.model.region_output(x)  # activated by the runtime's graph
        else:
            # raw logits: decode activates only what it reads (YOLO9000's tree softmax over 9418 nodes
            # for the kept boxes, not for all A*H*W predictions)
            _, head = region_parts(self.model)
            out = head.view(self.model(x))
        sizes = [(int(im.shape[-1]), int(im.shape[-2])) for im in images]
        return [
            decode(
                out,
                self.region,
                o,
                net_size=self.net_size,
                image_sizes=sizes,
                tree_softmax=self.tree_softmax,
                names=self.names,
                head=head,
            )
            for o in options
        ]


__all__ = ["Detector", "PRECISIONS", "load_detector_model"]
