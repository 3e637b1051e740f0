"""Where the network runs: PyTorch, ONNX Runtime or OpenVINO, behind one small interface.

A `Backend` takes the letterboxed (B, 3, H, W) float32 batch and returns the exported graph's output as a
float32 torch tensor: the head's raw logits (the usual export), or Darknet's activated region output. A
`RuntimeModel` wraps one with the region settings read from the file's metadata, and offers what a
`Detector` uses of a `DarknetModel` (`region`, `head`, `net`, `region_output`), so the project's own
vectorised region activation, tree softmax, `decode` and NMS run on every backend's output alike. A
`RuntimeClassifier` does the same for an exported classifier: its (B, C) class logits go through the project's
own softmax or tree softmax, top-k and walk (`yolo9000.inference.classify.Classifier`).

Precision: fp32 everywhere unless asked. OpenVINO gets the f32 inference-precision hint explicitly (its CPU
default is bf16 on AMX machines, which changes detections); `precision="bf16"` asks it for bf16. ONNX Runtime
runs fp32 only here.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn

from yolo9000.detection.head import RegionConfig, RegionHead, make_tree_softmax
from yolo9000.inference.export import ModelInfo, classifier_info, model_info, onnx_bytes, onnx_props, openvino_props

if TYPE_CHECKING:
    from wordtree.softmax import TreeSoftmax
    from wordtree.tree import WordTree
    from yolo9000.darknet.model import DarknetModel

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime", "openvino")
_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
_EXTRAS = {"onnxruntime": "onnx", "openvino": "openvino"}
# precision -> OpenVINO's inference_precision hint
_OV_PRECISION = {"fp32": "f32", "fast": "f32", "bf16": "bf16", "fp16": "f16"}


def backend_available(name: str) -> bool:
    """Whether the package `name` needs is installed (torch always is)."""
    if name not in BACKENDS:
        raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    return name == "torch" or importlib.util.find_spec(_PACKAGES[name]) is not None


def best_backend() -> str:
    """The fastest fp32 library backend installed (what `--precision fast` runs): ONNX Runtime, else
    OpenVINO, else PyTorch eager (BN folded, channels_last); see benchmarks/bench_forward.py."""
    return next(b for b in ("onnxruntime", "openvino", "torch") if backend_available(b))


def _require(name: str) -> None:
    if not backend_available(name):
        raise RuntimeError(
            f"--backend {name}: the {_PACKAGES[name]} package is not installed "
            f"(pip install 'yolo9000[{_EXTRAS[name]}]')"
        )


class Backend(Protocol):
    """One network runner: `__call__` maps a (B, C, H, W) float32 batch to the graph's float32 output."""

    name: str
    precision: str
    output: str  # "raw" (head logits) or "region" (Darknet's activated region output)

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def describe(self) -> str:
        """A short description for the run's first line."""
        ...


class TorchBackend:
    """A `DarknetModel` (or a fast copy of it) run eagerly by PyTorch; raw output."""

    name, output = "torch", "raw"

    def __init__(self, model: nn.Module, precision: str = "fp32", device: str | torch.device = "cpu") -> None:
        self.model, self.precision, self.device = model, precision, torch.device(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def describe(self) -> str:
        return f"torch on {self.device}, {self.precision}"


def _numpy_input(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())


class OnnxRuntimeBackend:
    """An ONNX model in an ONNX Runtime session (all graph optimisations; CUDA first where available)."""

    name = "onnxruntime"

    def __init__(
        self, model: str | Path | bytes, output: str, precision: str = "fp32", threads: int | None = None
    ) -> None:
        _require("onnxruntime")
        import onnxruntime as ort

        if precision not in ("fp32", "fast"):
            raise ValueError(
                f"--precision {precision}: ONNX Runtime runs the exported model in fp32 only "
                "(use --backend openvino or torch for bf16/fp16)"
            )
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or torch.get_num_threads()  # as many as torch would use
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        src = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(src, opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            where = "the exported model" if isinstance(model, bytes) else str(model)
            reason = (str(exc).strip().splitlines() or [""])[0]
            raise ValueError(f"{where}: ONNX Runtime cannot load it ({type(exc).__name__}: {reason})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output, self.precision = output, "fp32"

    def metadata(self) -> dict[str, str]:
        """The model's `metadata_props`."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        (out,) = self.session.run(None, {self.input_name: _numpy_input(x)})
        return torch.from_numpy(out).to(x.device)

    def describe(self) -> str:
        return f"onnxruntime {self.session.get_providers()[0]}, {self.precision}"


class _SignalStack(ctypes.Structure):
    """Linux's `stack_t` (sigaltstack(2))."""

    _fields_ = (("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t))


_SS_ONSTACK, _SS_DISABLE = 1, 2


@contextlib.contextmanager
def keep_signal_stack() -> Iterator[None]:
    """Give the calling thread back its alternate signal stack after the block (Linux; elsewhere a no-op).

    OpenVINO's CPU plugin sets an alternate signal stack of its own on the thread that compiles a model, and its
    destructor sets back the stack it found. Two compiled models freed out of order leave the thread on a stack
    that is unmapped, and the next signal a Python handler takes (Ctrl-C, the DataLoader's SIGCHLD: Python
    installs every handler with SA_ONSTACK) kills the process with SIGSEGV. Putting the thread's stack back at
    once makes every save and restore of the plugin see the process's own stack."""
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    before = _SignalStack()
    if libc.sigaltstack(None, ctypes.byref(before)) != 0 or before.ss_flags & _SS_ONSTACK:
        yield  # unknown, or running on it (inside a handler): leave it alone
        return
    try:
        yield
    finally:
        now = _SignalStack()
        libc.sigaltstack(None, ctypes.byref(now))
        if (now.ss_sp, now.ss_size, now.ss_flags) != (before.ss_sp, before.ss_size, before.ss_flags):
            if libc.sigaltstack(ctypes.byref(before), None) != 0:
                log.warning("could not restore the thread's signal stack (errno %d)", ctypes.get_errno())


def compile_openvino(model: Any, device: str = "CPU", config: dict[Any, Any] | None = None) -> Any:
    """`openvino.Core().compile_model(model, device, config)`, leaving the thread's signal stack as it was
    (`keep_signal_stack`)."""
    import openvino as ov

    with keep_signal_stack():
        return ov.Core().compile_model(model, device, config or {})


class OpenVINOBackend:
    """An ONNX or IR model compiled by OpenVINO for the CPU with an explicit inference-precision hint."""

    name = "openvino"

    def __init__(
        self, model: Any, output: str, precision: str = "fp32", threads: int | None = None, device: str = "CPU"
    ) -> None:
        _require("openvino")
        import openvino as ov

        if precision not in _OV_PRECISION:
            raise ValueError(f"--precision must be one of {', '.join(_OV_PRECISION)}, got {precision!r}")
        hint = _OV_PRECISION[precision]
        config = {
            ov.properties.hint.inference_precision: getattr(ov.Type, hint),
            ov.properties.inference_num_threads: threads or torch.get_num_threads(),
        }
        try:
            self.compiled = compile_openvino(model, device, config)
        except RuntimeError as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RuntimeError(f"OpenVINO cannot compile the model for {device} in {hint}: {reason}") from None
        self.output, self.precision = output, {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}[hint]
        self._out = self.compiled.output(0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.compiled({0: _numpy_input(x)})[self._out]
        return torch.from_numpy(np.array(out, copy=True)).to(x.device)  # the result may share OpenVINO's buffer

    def describe(self) -> str:
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        return f"openvino CPU, {self.precision} (inference precision hint {hint})"


class RuntimeModel(nn.Module):
    """A backend plus the region settings of the exported model: a `DetectionModel` (`region`, `head`, `net`,
    `names`, `tree`, `source`, `forward` -> the backend's output, `region_output`), as a `Detector` uses it."""

    def __init__(self, backend: Backend, info: ModelInfo, source: str = "<exported model>") -> None:
        super().__init__()
        self.backend, self.info, self.source = backend, info, source
        self.region: RegionConfig = info.region_config()
        self.head: RegionHead = RegionHead(self.region)
        self.net: dict[str, Any] = dict(info.net)
        self.names: list[str] | None = info.names
        self.tree: WordTree | None = self.region.tree

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The backend's output: raw logits (B, A*(5+C), H, W) or the region output (B, A, 5+C, H, W)."""
        _check_input(self.info, self.source, x)
        return self.backend(x.float())

    def region_output(self, x: torch.Tensor) -> torch.Tensor:
        """Darknet's activated region output (B, A, 5+C, H, W): the project's head on raw outputs."""
        out = self(x)
        if self.backend.output == "raw":
            return self.head.activate(out)
        return out.reshape(out.shape[0], self.region.num, self.region.entries, *out.shape[-2:])

    def describe(self) -> str:
        return self.backend.describe()


class RuntimeClassifier(nn.Module):
    """A backend plus the metadata of an exported classifier, as `inference.classify.Classifier` uses a classifier
    `DarknetModel`: `forward` -> (B, C) class logits, `net`, `names`, `tree` with its `classifier_softmax` (the
    project's tree softmax on the runtime's logits; None for a flat classifier), `classes`, `source`; `region`
    and `head` are None."""

    def __init__(self, backend: Backend, info: ModelInfo, source: str = "<exported classifier>") -> None:
        super().__init__()
        if info.task != "classify":
            raise ValueError(f"{source}: is an exported detector; run it with `yolo9000 detect --model`")
        self.backend, self.info, self.source = backend, info, source
        self.region: RegionConfig | None = None
        self.head: RegionHead | None = None
        self.net: dict[str, Any] = dict(info.net)
        self.names: list[str] | None = info.names
        self.tree: WordTree | None = info.word_tree()
        self.classes = info.classes
        self.classifier_softmax: TreeSoftmax | None = make_tree_softmax(self.tree) if self.tree is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The backend's (B, C) class logits."""
        _check_input(self.info, self.source, x)
        return self.backend(x.float())

    def describe(self) -> str:
        return self.backend.describe()


def _check_input(info: ModelInfo, source: str, x: torch.Tensor) -> None:
    """Refuse an input of another shape than the one the model was exported for (one line)."""
    want = (info.channels, info.height, info.width)
    if x.dim() != 4 or tuple(x.shape[1:]) != want:
        raise ValueError(
            f"{source}: exported for input (B, {want[0]}, {want[1]}, {want[2]}), got {tuple(x.shape)} "
            "(export again with --size to change the input size)"
        )


def _backend_for_file(path: Path, backend: str | None) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".onnx", ".xml"):
        raise ValueError(f"--model {path}: expected an exported .onnx or OpenVINO .xml file (`yolo9000 export`)")
    default = "onnxruntime" if suffix == ".onnx" else "openvino"
    backend = backend or default
    if backend == "torch":
        raise ValueError(
            f"--model {path}: --backend torch runs checkpoints and cfgs (--checkpoint/--cfg); "
            f"run an exported model with --backend {default}"
        )
    if suffix == ".xml" and backend != "openvino":
        raise ValueError(f"--model {path}: an OpenVINO IR (.xml) runs with --backend openvino")
    return backend


def _check_task(info: ModelInfo, path: Path, task: str) -> None:
    """Refuse an exported model of the other task, pointing to the command that runs it."""
    if info.task == task:
        return
    if info.task == "classify":
        raise ValueError(f"--model {path}: is an exported classifier; run it with `yolo9000 classify --model {path}`")
    raise ValueError(f"--model {path}: is an exported detector; run it with `yolo9000 detect --model {path}`")


def _load_exported(
    path: str | Path, backend: str | None, precision: str, threads: int | None, task: str
) -> tuple[Backend, ModelInfo]:
    """The backend and metadata of an exported .onnx / .xml; a model of another `task` is refused before
    OpenVINO compiles it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--model {path}: no such file")
    backend = _backend_for_file(path, backend)
    _require(backend)
    if backend == "onnxruntime":
        ort_backend = OnnxRuntimeBackend(path, "raw", precision, threads)
        info = ModelInfo.from_props(ort_backend.metadata(), path)
        _check_task(info, path, task)
        ort_backend.output = info.output
        return ort_backend, info
    import openvino as ov

    try:
        ov_model = ov.Core().read_model(str(path))
    except RuntimeError as exc:
        raise ValueError(f"--model {path}: OpenVINO cannot read it ({str(exc).splitlines()[0]})") from None
    props = openvino_props(ov_model) if path.suffix.lower() == ".xml" else onnx_props(path)
    info = ModelInfo.from_props(props, path)
    _check_task(info, path, task)
    return OpenVINOBackend(ov_model, info.output, precision, threads), info


def load_runtime_model(
    path: str | Path, backend: str | None = None, precision: str = "fp32", threads: int | None = None
) -> RuntimeModel:
    """A `RuntimeModel` from an exported .onnx (ONNX Runtime by default, or OpenVINO) or OpenVINO .xml; the
    file alone is enough (its metadata holds the input size, anchors, names and tree). An exported classifier
    is a one-line error pointing to `yolo9000 classify --model`."""
    runner, info = _load_exported(path, backend, precision, threads, "detect")
    return RuntimeModel(runner, info, str(path))


def load_runtime_classifier(
    path: str | Path, backend: str | None = None, precision: str = "fp32", threads: int | None = None
) -> RuntimeClassifier:
    """A `RuntimeClassifier` from an exported classifier .onnx (ONNX Runtime by default, or OpenVINO) or OpenVINO
    .xml, as `load_runtime_model` loads a detector; an exported detector is a one-line error pointing to
    `yolo9000 detect --model`."""
    runner, info = _load_exported(path, backend, precision, threads, "classify")
    return RuntimeClassifier(runner, info, str(path))


def runtime_model(
    model: DarknetModel,
    backend: str,
    *,
    precision: str = "fp32",
    names: Sequence[str] | None = None,
    size: int | None = None,
    output: str = "raw",
    threads: int | None = None,
) -> RuntimeModel:
    """Export a `DarknetModel` in memory and load it into `backend` ("onnxruntime" or "openvino")."""
    _check_memory_backend(backend, "runtime_model")
    info = model_info(model, output, names, size)
    return RuntimeModel(_memory_backend(model, info, backend, precision, threads), info, _in_memory(model))


def runtime_classifier(
    model: DarknetModel,
    backend: str,
    *,
    precision: str = "fp32",
    names: Sequence[str] | None = None,
    size: int | None = None,
    threads: int | None = None,
) -> RuntimeClassifier:
    """Export a classifier `DarknetModel` in memory and load it into `backend` ("onnxruntime" or "openvino"), as
    `runtime_model` does a detector: what `yolo9000 export` then `load_runtime_classifier` would give."""
    _check_memory_backend(backend, "runtime_classifier")
    info = classifier_info(model, names, size)
    return RuntimeClassifier(_memory_backend(model, info, backend, precision, threads), info, _in_memory(model))


def _check_memory_backend(backend: str, caller: str) -> None:
    if backend not in ("onnxruntime", "openvino"):
        raise ValueError(f"{caller} needs onnxruntime or openvino, got {backend!r}")
    _require(backend)


def _in_memory(model: DarknetModel) -> str:
    return f"{model.source} (exported in memory)"


def _memory_backend(
    model: DarknetModel, info: ModelInfo, backend: str, precision: str, threads: int | None
) -> OnnxRuntimeBackend | OpenVINOBackend:
    """`model` exported for `info` in memory, loaded into `backend`."""
    data = onnx_bytes(model, info)
    if backend == "onnxruntime":
        return OnnxRuntimeBackend(data, info.output, precision, threads)
    import openvino as ov

    ov_model = ov.convert_model(io.BytesIO(data))  # OpenVINO's ONNX front end, from memory
    return OpenVINOBackend(ov_model, info.output, precision, threads)


__all__ = [
    "BACKENDS",
    "Backend",
    "OnnxRuntimeBackend",
    "OpenVINOBackend",
    "RuntimeClassifier",
    "RuntimeModel",
    "TorchBackend",
    "backend_available",
    "best_backend",
    "compile_openvino",
    "keep_signal_stack",
    "load_runtime_classifier",
    "load_runtime_model",
    "runtime_classifier",
    "runtime_model",
]
