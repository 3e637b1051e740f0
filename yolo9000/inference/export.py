"""Export a detector or a classifier to ONNX or OpenVINO IR, with what decoding needs stored in the file itself.

`export_onnx(model, path, output="raw")` writes the network up to the conv feeding `[region]`, as field
deployments run it: the runtime executes the convolutions and the project's own vectorised code applies the
region activation, the tree softmax, `decode` and NMS on its output (`yolo9000.inference.backends`).
`output="region"` also puts Darknet's region activation into the graph, the tree softmax included, as one
gather into a padded group layout, a masked softmax per group-size class and one gather back (no loop over
groups, nothing that depends on the data), so a runtime alone yields Darknet's activated region output.

A classifier (a model without `[region]`, from `train --task classify`) exports its (B, C) class logits; the
flat softmax or the tree softmax, the top-k and the walk down the tree stay the project's
(`yolo9000.inference.classify.Classifier` on a `backends.RuntimeClassifier`).

The batch axis is dynamic; the input size is fixed at export (`size`, default the cfg's). Batch norms are
folded into the convolutions first (with the model's own `bn_mode` formula).

Metadata (`ModelInfo`): ONNX `metadata_props` and OpenVINO `rt_info` (under "yolo9000") hold JSON strings:
input size and preprocessing (RGB in 0..1, NCHW, Darknet's letterbox on a 0.5 canvas), anchors, classes,
coords, the class activation, label names, the WordTree (`wordtree.formats.tree_to_dict`) with its
fingerprint, the output kind and the yolo9000 version. A classifier's metadata says `task` "classify" and
holds `classifier` (classes, activation) instead of `region`; a file without `task` is a detector (files of
earlier versions included). `read_info(path)` reads them back.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from wordtree.files import write_bytes_atomic, writing
from wordtree.formats import tree_from_dict, tree_to_dict
from yolo9000.darknet.templates import TASKS, check_task
from yolo9000.detection.detection_model import DetectionModel, region_parts
from yolo9000.detection.head import RegionConfig

if TYPE_CHECKING:
    import onnx

    from wordtree.softmax import TreeSoftmax
    from wordtree.tree import WordTree
    from yolo9000.darknet.model import DarknetModel

log = logging.getLogger(__name__)

OUTPUTS = ("raw", "region")
FORMATS = ("onnx", "openvino")
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "images", "output"
BATCH_AXIS = "batch"  # the one dynamic axis (0) of the exported input and output
RT_INFO_ROOT = "yolo9000"  # OpenVINO rt_info section holding the metadata
# the metadata keys; every value is a JSON string ("task" and "classifier": classifiers only)
_KEYS = ("yolo9000_version", "task", "input", "output", "region", "classifier", "names", "tree", "tree_fingerprint")
# the keys without which a file of each task is not ours
_REQUIRED = {"detect": ("input", "output", "region"), "classify": ("input", "output", "classifier")}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("yolo9000")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"


@dataclass
class ModelInfo:
    """What an exported model needs besides its weights: the input, the labels, and for a detector
    (`task="detect"`) the region. A classifier (`task="classify"`) has no region: no anchors, `classes` logits
    out, `tree` for a tree softmax (else a flat one)."""

    width: int
    height: int
    anchors: list[list[float]]
    classes: int
    output: str = "raw"
    channels: int = 3
    coords: int = 4
    softmax: bool = False
    names: list[str] | None = None
    tree: dict[str, Any] | None = None
    tree_fingerprint: str | None = None
    version: str = field(default_factory=_version)
    task: str = "detect"

    def __post_init__(self) -> None:
        check_task(self.task)

    @property
    def num(self) -> int:
        return len(self.anchors)

    @property
    def net(self) -> dict[str, int]:
        """The `[net]` options a `Detector` reads."""
        return {"width": self.width, "height": self.height, "channels": self.channels}

    def word_tree(self) -> WordTree | None:
        """The stored tree rebuilt from its dict (fingerprint checked), or None."""
        if self.tree is None:
            return None
        tree = tree_from_dict(self.tree, "the exported model's tree")
        if self.tree_fingerprint and tree.fingerprint != self.tree_fingerprint:
            raise ValueError(
                f"the stored tree has fingerprint {tree.fingerprint}, but the metadata says {self.tree_fingerprint}"
            )
        return tree

    def region_config(self) -> RegionConfig:
        """The `[region]` settings (the tree rebuilt from its dict, fingerprint checked)."""
        if self.task != "detect":
            raise ValueError("the exported model is a classifier: it has no [region]")
        tree = self.word_tree()
        return RegionConfig(
            anchors=torch.tensor(self.anchors, dtype=torch.float32),
            num=self.num,
            classes=self.classes,
            coords=self.coords,
            softmax=self.softmax,
            tree=tree,
        )

    def to_props(self) -> dict[str, str]:
        """The metadata as {key: JSON string}."""
        if self.task == "classify":
            return self._classifier_props()
        values = {
            "yolo9000_version": self.version,
            "input": self._input_props(),
            "output": {
                "kind": self.output,
                "shape": ["batch", self.num * (5 + self.classes), "grid_h", "grid_w"]
                if self.output == "raw"
                else ["batch", self.num, 5 + self.classes, "grid_h", "grid_w"],
            },
            "region": {
                "anchors": self.anchors,
                "num": self.num,
                "classes": self.classes,
                "coords": self.coords,
                "softmax": self.softmax,
                "activation": "tree" if self.tree is not None else ("softmax" if self.softmax else "logistic"),
            },
            "names": self.names,
            "tree": self.tree,
            "tree_fingerprint": self.tree_fingerprint,
        }
        return _json_props(values)

    def _input_props(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "channels": self.channels,
            "layout": "NCHW",
            "color": "RGB",
            "range": [0.0, 1.0],
            # Darknet's letterbox_image: aspect kept, centred at the floored offset on a 0.5 canvas
            "letterbox": "darknet",
            "pad_value": 0.5,
        }

    def _classifier_props(self) -> dict[str, str]:
        """A classifier's metadata: "task" first, "classifier" where a detector has "region"."""
        values = {
            "yolo9000_version": self.version,
            "task": self.task,
            "input": self._input_props(),
            "output": {"kind": self.output, "shape": ["batch", self.classes]},
            "classifier": {"classes": self.classes, "activation": "tree" if self.tree is not None else "softmax"},
            "names": self.names,
            "tree": self.tree,
            "tree_fingerprint": self.tree_fingerprint,
        }
        return _json_props(values)

    @classmethod
    def from_props(cls, props: dict[str, str], source: str | Path) -> "ModelInfo":
        """Read `to_props` back; a one-line ValueError naming `source` when the metadata is missing or bad."""
        task = _task(props, source)
        missing = [k for k in _REQUIRED[task] if k not in props]
        if missing:
            raise ValueError(
                f"{source}: no yolo9000 metadata ({', '.join(missing)} missing); "
                "export the model with `yolo9000 export`"
            )
        if task == "classify":
            info = cls._classifier_from_props(props, source)
        else:
            info = cls._detector_from_props(props, source)
        if info.output not in OUTPUTS or (task == "classify" and info.output != "raw"):
            raise ValueError(f"{source}: unknown output kind {info.output!r} in its metadata")
        letterbox = json.loads(props["input"]).get("letterbox", "darknet")  # a dict: parsed above
        if letterbox != "darknet":
            raise ValueError(f"{source}: letterbox convention {letterbox!r} is not Darknet's")
        return info

    @classmethod
    def _detector_from_props(cls, props: dict[str, str], source: str | Path) -> "ModelInfo":
        try:
            d = {k: json.loads(props[k]) for k in _KEYS if k in props}
            inp, region, out = d["input"], d["region"], d["output"]
            return cls(
                width=int(inp["width"]),
                height=int(inp["height"]),
                channels=int(inp.get("channels", 3)),
                anchors=[[float(a), float(b)] for a, b in region["anchors"]],
                classes=int(region["classes"]),
                coords=int(region.get("coords", 4)),
                softmax=bool(region.get("softmax", False)),
                output=str(out["kind"]),
                names=[str(n) for n in d["names"]] if d.get("names") is not None else None,
                tree=d.get("tree"),
                tree_fingerprint=d.get("tree_fingerprint"),
                version=str(d.get("yolo9000_version", "unknown")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: malformed yolo9000 metadata ({type(exc).__name__}: {exc})") from None

    @classmethod
    def _classifier_from_props(cls, props: dict[str, str], source: str | Path) -> "ModelInfo":
        try:
            d = {k: json.loads(props[k]) for k in _KEYS if k in props}
            inp, head = d["input"], d["classifier"]
            return cls(
                width=int(inp["width"]),
                height=int(inp["height"]),
                channels=int(inp.get("channels", 3)),
                anchors=[],
                classes=int(head["classes"]),
                softmax=True,
                output=str(d["output"]["kind"]),
                names=[str(n) for n in d["names"]] if d.get("names") is not None else None,
                tree=d.get("tree"),
                tree_fingerprint=d.get("tree_fingerprint"),
                version=str(d.get("yolo9000_version", "unknown")),
                task="classify",
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: malformed yolo9000 metadata ({type(exc).__name__}: {exc})") from None


def _json_props(values: dict[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v, ensure_ascii=False, separators=(",", ":")) for k, v in values.items()}


def _task(props: dict[str, str], source: str | Path) -> str:
    """The metadata's task: "detect" when absent (detectors write none, as every file before classifiers)."""
    if "task" not in props:
        return "detect"
    try:
        task = json.loads(props["task"])
    except ValueError:
        task = props["task"]
    if task not in TASKS:
        raise ValueError(f"{source}: unknown task {task!r} in its metadata (expected one of {', '.join(TASKS)})")
    return str(task)


def input_size(model: DetectionModel, size: int | None = None) -> tuple[int, int]:
    """The network input (width, height): `size` x `size` when given, else the model's `[net]` width/height."""
    return (size, size) if size else (int(model.net["width"]), int(model.net["height"]))


def model_info(
    model: DetectionModel, output: str = "raw", names: Sequence[str] | None = None, size: int | None = None
) -> ModelInfo:
    """The `ModelInfo` of a model with a `[region]` (names: given, else the model's, else the tree's)."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    region, _ = region_parts(model)
    w, h = input_size(model, size)
    names = list(names) if names is not None else model.names
    if names is None and region.tree is not None:
        names = list(region.tree.names)
    if names is not None and len(names) != region.classes:
        raise ValueError(f"{len(names)} label names for a region with classes={region.classes}")
    return ModelInfo(
        width=w,
        height=h,
        channels=int(model.net["channels"]),
        anchors=[[float(a), float(b)] for a, b in torch.as_tensor(region.anchors).reshape(-1, 2).tolist()],
        classes=int(region.classes),
        coords=int(region.coords),
        softmax=bool(region.softmax),
        output=output,
        names=list(names) if names is not None else None,
        tree=tree_to_dict(region.tree) if region.tree is not None else None,
        tree_fingerprint=region.tree.fingerprint if region.tree is not None else None,
    )


def classifier_classes(model: DarknetModel) -> int:
    """The number of class logits of a classifier (a model without `[region]`): its tree's nodes, else the size
    of its last layer's output."""
    return len(model.tree) if model.tree is not None else math.prod(model.shapes[-1])


def classifier_info(
    model: DarknetModel, names: Sequence[str] | None = None, size: int | None = None, output: str = "raw"
) -> ModelInfo:
    """The `ModelInfo` of a classifier (names: given, else the model's, else the tree's). Its export is its class
    logits: `output="region"` is a one-line error."""
    if model.region is not None:
        raise ValueError(f"{model.source}: has a [region] layer; it exports as a detector (`model_info`)")
    if output != "raw":
        raise ValueError(
            f"--output {output}: {model.source} is a classifier; its export is its class logits "
            "(--output region applies to detectors)"
        )
    classes = classifier_classes(model)
    w, h = input_size(model, size)
    names = list(names) if names is not None else model.names
    if names is None and model.tree is not None:
        names = list(model.tree.names)
    if names is not None and len(names) != classes:
        raise ValueError(f"{len(names)} label names for a classifier of {classes} classes")
    tree = model.tree
    return ModelInfo(
        width=w,
        height=h,
        channels=int(model.net["channels"]),
        anchors=[],
        classes=classes,
        softmax=True,
        output=output,
        names=list(names) if names is not None else None,
        tree=tree_to_dict(tree) if tree is not None else None,
        tree_fingerprint=tree.fingerprint if tree is not None else None,
        task="classify",
    )


def export_info(
    model: DarknetModel, output: str = "raw", names: Sequence[str] | None = None, size: int | None = None
) -> ModelInfo:
    """`model_info` of a detector, `classifier_info` of a classifier (a model without `[region]`)."""
    if model.region is None:
        return classifier_info(model, names, size, output)
    return model_info(model, output, names, size)


# ---------------------------------------------------------------- the exported graphs
class PaddedTreeSoftmax(nn.Module):
    """P(node | parent) over the class axis (dim 2 of (B, A, C, H, W)) in an exporter-friendly form.

    The groups are gathered into the padded size classes of `TreeSoftmax`'s no-grad layout (one
    `index_select`), the padding masked to -inf, one softmax per size class (about 20 on the 9k tree, fixed
    by the tree, not by the data), and one `index_select` back to node order. Same values as
    `TreeSoftmax.darknet_probs`."""

    src: torch.Tensor  # buffers (nn.Module's __getattr__ types them loosely)
    pos: torch.Tensor
    pad: torch.Tensor

    def __init__(self, tree_softmax: TreeSoftmax) -> None:
        super().__init__()
        ts = tree_softmax
        self.register_buffer("src", ts.fast_src.clone(), persistent=False)
        self.register_buffer("pos", ts.fast_pos.clone(), persistent=False)
        mask = torch.zeros(ts.fast_src.numel(), dtype=torch.bool)
        mask[ts.fast_pad] = True
        self.register_buffer("pad", mask[None, None, :, None, None], persistent=False)
        # (size, member_major, start, end) per size class: the layout TreeSoftmax builds for its no-grad path
        self.buckets: list[tuple[int, bool, int, int]] = list(ts._fast_buckets)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        a, h, w = logits.shape[1], logits.shape[3], logits.shape[4]
        x = logits.index_select(2, self.src).masked_fill(self.pad, float("-inf"))
        parts = []
        for s, member_major, start, end in self.buckets:
            g = (end - start) // s
            xb = x[:, :, start:end]
            if member_major:  # (size, groups): the softmax runs over the outer axis
                parts.append(torch.softmax(xb.reshape(-1, a, s, g, h, w), 2).reshape(-1, a, end - start, h, w))
            else:
                parts.append(torch.softmax(xb.reshape(-1, a, g, s, h, w), 3).reshape(-1, a, end - start, h, w))
        return torch.cat(parts, 2).index_select(2, self.pos)


class ExportGraph(nn.Module):
    """The network (BN folded, no per-image CPU path) with the raw head output or Darknet's region output; for a
    classifier (no `[region]`), its (B, C) class logits."""

    def __init__(self, model: DarknetModel, output: str = "raw") -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        net = copy.deepcopy(model).float().eval()
        net.fuse()
        net.set_inference_format(None, False)
        net.per_image_bytes = 0  # the batch loop would be traced at the example's batch size
        self.net, self.output = net, output
        self.classifier = net.region is None
        self.tree: PaddedTreeSoftmax | None = None
        if self.classifier:
            if output != "raw":
                raise ValueError(f"{model.source}: a classifier exports its class logits; output must be 'raw'")
            return
        region, head = region_parts(net)
        self.num, self.entries, self.softmax = region.num, region.entries, region.softmax
        self.tree = PaddedTreeSoftmax(head.tree_softmax) if head.tree_softmax is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.net(x)
        if self.classifier:
            return raw.flatten(1)  # (B, C, 1, 1) after [avgpool]
        if self.output == "raw":
            return raw
        h, w = raw.shape[2], raw.shape[3]
        r = raw.reshape(-1, self.num, self.entries, h, w)
        logits = r[:, :, 5:]
        if self.tree is not None:
            cls = self.tree(logits)
        elif self.softmax:
            cls = torch.softmax(logits, 2)
        else:
            cls = torch.sigmoid(logits)
        return torch.cat([torch.sigmoid(r[:, :, 0:2]), r[:, :, 2:4], torch.sigmoid(r[:, :, 4:5]), cls], 2)


# ---------------------------------------------------------------- ONNX
def onnx_bytes(model: DarknetModel, info: ModelInfo, opset: int = OPSET, batch: int = 2) -> bytes:
    """The serialised, checked ONNX model (metadata included) of `model` for `info`."""
    import onnx

    graph = ExportGraph(model, info.output)
    # an example batch of 2 keeps the exporter from specialising anything on a batch of 1
    x = torch.rand(batch, info.channels, info.height, info.width)
    shapes: list[tuple[int, ...]] = []  # the traced output's shape, for `_declare_shapes`
    hook = graph.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(int(n) for n in out.shape)))
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer notes that Python-level shape checks become constants: true, the input size is fixed
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # the TorchScript exporter is deprecated in favour of dynamo's; it is used on purpose (plain
        # Conv/Gather/Softmax graphs that onnx.checker, ONNX Runtime and OpenVINO accept; the timings of
        # benchmarks/bench_forward.py), so its notice is not repeated on every export
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*legacy TorchScript-based ONNX")
        torch.onnx.export(
            graph,
            (x,),
            buf,  # type: ignore[arg-type]  # the TorchScript exporter writes to file objects too
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    hook.remove()
    proto = onnx.load_from_string(buf.getvalue())
    _declare_shapes(proto, tuple(x.shape), shapes[-1])
    del proto.metadata_props[:]
    for key, value in info.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "yolo9000", info.version
    if info.task == "classify":
        proto.doc_string = "yolo9000 classifier: (batch, classes) logits; metadata_props hold the settings"
    else:
        proto.doc_string = f"yolo9000 {info.output} output; decode with yolo9000 (metadata_props hold the settings)"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _declare_shapes(proto: onnx.ModelProto, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> None:
    """Declare the graph's input and output shapes: axis 0 `BATCH_AXIS`, every other axis its fixed size.

    The exporter infers them from the traced graph, where the layers' reads of `x.shape` (the `[maxpool]`
    padding and crop, `[reorg]`) became Shape/Gather/Slice ops it cannot follow: it left the grid axes
    symbolic, and behind tiny-yolo's size-2 stride-1 maxpool (a pad and a crop computed from the input's
    shape) it gave the grid height the batch axis' name. The input size is fixed at export, so only the batch
    axis varies; `output_shape` is the traced output's."""
    for value, shape in ((proto.graph.input[0], input_shape), (proto.graph.output[0], output_shape)):
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for axis, n in enumerate(shape):
            dim = dims.add()
            if axis == 0:
                dim.dim_param = BATCH_AXIS
            else:
                dim.dim_value = n
    del proto.graph.value_info[:]  # intermediate shapes the exporter may have named the same way


def export_onnx(
    model: DarknetModel,
    path: str | Path,
    *,
    output: str = "raw",
    names: Sequence[str] | None = None,
    size: int | None = None,
    opset: int = OPSET,
) -> Path:
    """Write `model` (a `DarknetModel`) as ONNX to `path` (atomically): dynamic batch axis, input "images"
    (B, 3, H, W) RGB 0..1 letterboxed, output "output": a detector's head logits (`output="raw"`) or Darknet's
    activated region output (`"region"`), a classifier's (B, C) class logits, with the metadata in
    `metadata_props`."""
    info = export_info(model, output, names, size)
    return write_bytes_atomic(path, onnx_bytes(model, info, opset))


# ---------------------------------------------------------------- OpenVINO
def export_openvino(
    model: DarknetModel,
    path: str | Path,
    *,
    output: str = "raw",
    names: Sequence[str] | None = None,
    size: int | None = None,
    opset: int = OPSET,
) -> Path:
    """Write `model` as OpenVINO IR (`path` .xml and its .bin) through OpenVINO's converter (from the ONNX
    export), fp32 weights, the metadata in the IR's rt_info under "yolo9000". Both files are written beside
    the target under temporary names and renamed into place (.bin first)."""
    try:
        import openvino as ov
    except ImportError:
        raise RuntimeError("--format openvino needs OpenVINO (pip install 'yolo9000[openvino]')") from None
    path = Path(path)
    if path.suffix.lower() != ".xml":
        raise ValueError(f"{path}: an OpenVINO IR path must end in .xml (its weights go to the .bin beside it)")
    info = export_info(model, output, names, size)
    data = onnx_bytes(model, info, opset)
    # a full disk or read-only folder is one line (WriteFailed): the ONNX copy it converts, then the IR
    with writing(path, needed=2 * len(data)):
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
            src = Path(tmp) / "model.onnx"
            src.write_bytes(data)
            ov_model = ov.convert_model(str(src))
            for key, value in info.to_props().items():
                ov_model.set_rt_info(value, [RT_INFO_ROOT, key])
            xml = Path(tmp) / "model.xml"
            ov.save_model(ov_model, str(xml), compress_to_fp16=False)  # fp32 weights, as exported
            os.replace(xml.with_suffix(".bin"), path.with_suffix(".bin"))
            os.replace(xml, path)
    return path


def export(model: DarknetModel, path: str | Path, *, format: str = "onnx", **kwargs: Any) -> Path:
    """`export_onnx` or `export_openvino` by `format`."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    return (export_onnx if format == "onnx" else export_openvino)(model, path, **kwargs)


# ---------------------------------------------------------------- reading the metadata back
def onnx_props(path: str | Path) -> dict[str, str]:
    """The `metadata_props` of an ONNX file (the weights are not loaded)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError types
        raise ValueError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    return {p.key: p.value for p in proto.metadata_props}


def openvino_props(ov_model: Any) -> dict[str, str]:
    """The yolo9000 metadata of an OpenVINO model (an `openvino.Model`, read with `Core.read_model`)."""
    props: dict[str, str] = {}
    for key in _KEYS:
        if ov_model.has_rt_info([RT_INFO_ROOT, key]):
            props[key] = ov_model.get_rt_info([RT_INFO_ROOT, key]).astype(str)
    return props


def read_info(path: str | Path) -> ModelInfo:
    """The `ModelInfo` stored in an exported .onnx or OpenVINO .xml file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".xml":
        import openvino as ov

        return ModelInfo.from_props(openvino_props(ov.Core().read_model(str(path))), path)
    return ModelInfo.from_props(onnx_props(path), path)


__all__ = [
    "FORMATS",
    "OUTPUTS",
    "ExportGraph",
    "ModelInfo",
    "PaddedTreeSoftmax",
    "TASKS",
    "classifier_classes",
    "classifier_info",
    "export",
    "export_info",
    "export_onnx",
    "export_openvino",
    "model_info",
    "onnx_bytes",
    "read_info",
]
