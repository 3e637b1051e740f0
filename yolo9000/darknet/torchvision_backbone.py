"""torchvision backbones as a cfg section: `[torchvision] model=NAME from=I to=J` runs modules [I, J) of the
feature sequence of torchvision's classification model NAME, so a `torchvision:NAME` model is an ordinary
`DarknetModel` built from cfg text (checkpoints, `load_model`, training, detect, eval and ONNX export as usual).

The feature sequence: the children of `model.features` (AlexNet, ConvNeXt, DenseNet, EfficientNet, MobileNet,
SqueezeNet, VGG), or the named stages of ResNet-like models (`conv1, bn1, relu, maxpool, layer1..4`), RegNet,
MNASNet and ShuffleNetV2. The layer is built with `weights=None` (never a download); `load_pretrained` copies
torchvision's ImageNet weights into every such layer of a model. The first slice (`from=0`) normalises its [0, 1]
RGB input with ImageNet's mean and std, as torchvision's weights expect, so an export includes it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlparse

import torch
from torch import nn

from yolo9000.darknet.cfg import Section

if TYPE_CHECKING:
    from yolo9000.darknet.builders import BuildState, Shape
    from yolo9000.darknet.model import DarknetModel

__all__ = [
    "PREFIX",
    "TorchvisionBackbone",
    "DetectorSplit",
    "detector_split",
    "feature_sequence",
    "load_pretrained",
    "model_names",
    "torchvision_layer",
]

log = logging.getLogger(__name__)

#: The model-name prefix: `torchvision:resnet50`
PREFIX = "torchvision:"
#: ImageNet's mean and std of RGB in [0, 1], which every torchvision classification weight expects
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Stages (attribute names, in forward order) of the models without a `.features` sequence; "NAME.*" expands
#: a Sequential into its children
STAGES: dict[str, tuple[str, ...]] = {
    "ResNet": ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"),
    "RegNet": ("stem", "trunk_output.*"),
    "MNASNet": ("layers.*",),
    "ShuffleNetV2": ("conv1", "maxpool", "stage2", "stage3", "stage4", "conv5"),
}
#: `.features` models whose features are not NCHW maps (Swin's are channels-last)
NOT_NCHW = frozenset({"SwinTransformer"})
FAMILIES = (
    "models with a .features sequence (AlexNet, ConvNeXt, DenseNet, EfficientNet, MobileNetV2/V3, SqueezeNet, "
    "VGG), ResNet/ResNeXt/Wide ResNet, RegNet, MNASNet and ShuffleNetV2"
)
#: The input size at which `detector_split` measures strides (a multiple of 32)
PROBE_SIZE = 256


def model_names() -> list[str]:
    """torchvision's classification model names (`torchvision.models.list_models`)."""
    import torchvision.models

    return sorted(torchvision.models.list_models(module=torchvision.models))


def check_name(name: str, where: str) -> None:
    """Refuse a name torchvision has no classification model of (one line naming `where`)."""
    if name not in model_names():
        raise ValueError(
            f"{where}: torchvision has no classification model {name!r} (for example resnet50, convnext_tiny, "
            "efficientnet_b0, mobilenet_v3_large; torchvision.models.list_models() lists them)"
        )


def construct(name: str) -> nn.Module:
    """torchvision's model `name` with random weights (`weights=None`: nothing is downloaded)."""
    import torchvision.models

    return torchvision.models.get_model(name, weights=None)


def feature_sequence(model: nn.Module, name: str) -> list[tuple[str, nn.Module]]:
    """The modules a `[torchvision]` layer slices, as (torchvision's state-dict prefix, module), in forward order."""
    family = type(model).__name__
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential) and family not in NOT_NCHW:
        return [(f"features.{k}", m) for k, m in features.named_children()]
    stages = STAGES.get(family)
    if stages is None and all(hasattr(model, a) for a in STAGES["ResNet"]):
        stages = STAGES["ResNet"]  # a ResNet-like model of another class name
    if stages is None:
        raise ValueError(f"{PREFIX}{name}: {family} has no feature sequence to slice (supported: {FAMILIES})")
    seq: list[tuple[str, nn.Module]] = []
    for attr in stages:
        module = model.get_submodule(attr.removesuffix(".*"))
        if attr.endswith(".*"):
            seq += [(f"{attr[:-2]}.{k}", m) for k, m in module.named_children()]
        else:
            seq.append((attr, module))
    return seq


class TorchvisionBackbone(nn.Module):
    """`[torchvision]`: modules [start, stop) of torchvision's model `name` (its state-dict prefixes in `prefixes`;
    in `body` under the same names with "_" for ".") on an NCHW map; the first slice normalises its input."""

    mean: torch.Tensor | None  # buffers (nn.Module's __getattr__ types them loosely)
    std: torch.Tensor | None

    def __init__(self, name: str, start: int, stop: int, modules: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.name, self.start, self.stop = name, start, stop
        self.prefixes = [prefix for prefix, _ in modules]
        self.body = nn.Sequential(OrderedDict((prefix.replace(".", "_"), m) for prefix, m in modules))
        # not persistent: constants of the layer, outside its state dict, that still follow .to(device, dtype)
        normalise = start == 0
        mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1) if normalise else None
        std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1) if normalise else None
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        return self.body(x)

    def extra_repr(self) -> str:
        return f"model={self.name}, from={self.start}, to={self.stop}"

    def torchvision_keys(self) -> dict[str, str]:
        """{key in `body`'s state dict: the key in torchvision's state dict of the whole model}."""
        local = {prefix.replace(".", "_"): prefix for prefix in self.prefixes}
        out = {}
        for key in self.body.state_dict():
            head, _, rest = key.partition(".")
            out[key] = f"{local[head]}.{rest}"
        return out


def _probe(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of `module` for an input of `shape`, computed on the meta device (no arithmetic);
    modules that cannot run there run once on zeros."""
    was_training = module.training
    module.eval()
    try:
        try:
            tensors = {k: torch.empty_like(v, device="meta") for k, v in module.named_parameters()}
            tensors.update({k: torch.empty_like(v, device="meta") for k, v in module.named_buffers()})
            out = torch.func.functional_call(module, tensors, (torch.zeros(shape, device="meta"),))
        except Exception:  # noqa: BLE001 - an op without a meta kernel: run it for real
            with torch.no_grad():
                out = module(torch.zeros(shape))
    finally:
        module.train(was_training)
    return tuple(out.shape)


def torchvision_layer(s: Section, idx: int, shape: Shape, state: BuildState) -> tuple[nn.Module, Shape]:
    """The builder of `[torchvision] model=NAME from=I to=J` (`yolo9000.darknet.builders.BUILDERS`)."""
    name = s.get_str("model")
    if not name:
        raise ValueError(f"{s.where()}: [torchvision] needs model=NAME (a torchvision classification model)")
    check_name(name, s.where())
    try:
        seq = feature_sequence(construct(name), name)
    except ValueError as exc:
        raise ValueError(f"{s.where()}: {exc}") from None
    start, stop = s.get_int("from", 0), s.get_int("to", len(seq))
    if not 0 <= start < stop <= len(seq):
        raise ValueError(
            f"{s.where()}: from={start} to={stop} is no slice of {name}'s {len(seq)} feature modules "
            f"(0 <= from < to <= {len(seq)})"
        )
    c, h, w = shape
    if start == 0 and c != 3:
        raise ValueError(f"{s.where()}: from=0 takes RGB (3 channels) but the input has {c}")
    layer = TorchvisionBackbone(name, start, stop, seq[start:stop])
    try:
        out = _probe(layer, (1, c, h, w))
    except Exception as exc:  # noqa: BLE001 - torch's shape errors are RuntimeErrors of many lines
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{s.where()}: modules {start}..{stop - 1} of {name} do not take a {c}x{h}x{w} input ({first})"
        ) from None
    if len(out) != 4:
        raise ValueError(f"{s.where()}: modules {start}..{stop - 1} of {name} give a {len(out)}-d output, not a map")
    return layer, (out[1], out[2], out[3])


# ----------------------------------------------------------------------------------------------- detector split
class DetectorSplit(NamedTuple):
    """Where a detector cuts a backbone: modules [0, split) end at stride 16 with `channels16` channels,
    [split, end) at stride 32 with `channels32`."""

    split: int
    end: int
    channels16: int
    channels32: int


@lru_cache(maxsize=None)
def detector_split(name: str) -> DetectorSplit:
    """The split of backbone `name` into its stride-16 and stride-32 parts, found by running a `PROBE_SIZE`
    input through its feature sequence on the meta device. A backbone without that split is one line."""
    check_name(name, f"{PREFIX}{name}")
    # fork_rng: a model built for its shapes leaves the global RNG (the seed of a training run's weights) as it was
    with torch.random.fork_rng(devices=[]):
        try:
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                model = construct(name)
        except Exception:  # noqa: BLE001 - builders that read their tensors back (RegNet's widths)
            model = construct(name)
    seq = feature_sequence(model, name)
    shape: tuple[int, ...] = (1, 3, PROBE_SIZE, PROBE_SIZE)
    strides, channels = [], []
    for _, module in seq:
        shape = _probe(module, shape)
        if len(shape) != 4:
            break
        strides.append(PROBE_SIZE / shape[2])
        channels.append(shape[1])
    if len(strides) == len(seq) and strides[-1] == 32:
        for k in range(1, len(seq)):
            if strides[k - 1] == 16 and strides[k] == 32:
                return DetectorSplit(k, len(seq), channels[k - 1], channels[-1])
    found = ", ".join(f"{s:g}" for s in strides)
    raise ValueError(
        f"{PREFIX}{name}: a detector needs features at stride 16 then 32; its feature modules give strides "
        f"{found} at input {PROBE_SIZE}"
    )


# ----------------------------------------------------------------------------------------------- pretrained
def _weights_file(url: str) -> Path:
    """Where torchvision's download keeps the file of `url` (`$TORCH_HOME/hub/checkpoints/NAME`)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def imagenet_state(name: str) -> dict[str, torch.Tensor]:
    """torchvision's default ImageNet weights of `name` (its weights API: a download into `$TORCH_HOME`, or the
    file already there). No network and no file is one line naming the model and the file."""
    import torchvision.models

    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        # weights_only: tensors, never code, from a file anyone may have put in TORCH_HOME
        return weights.get_state_dict(progress=False, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - URLError, OSError, unpickling errors of a bad file ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{PREFIX}{name}: --pretrained needs torchvision's ImageNet weights download ({reason}); without "
            f"network put {weights.url} at {_weights_file(weights.url)} (TORCH_HOME)"
        ) from None


@torch.no_grad()
def load_pretrained(model: DarknetModel) -> int:
    """Copy torchvision's ImageNet weights into every `[torchvision]` layer of `model` (the keys of each layer's
    slice); returns the number of tensors loaded. Weights that do not fit the slice are one line."""
    loaded = 0
    states: dict[str, dict[str, torch.Tensor]] = {}
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, TorchvisionBackbone):
            continue
        if layer.name not in states:
            states[layer.name] = imagenet_state(layer.name)
        state = states[layer.name]
        # weights older than BatchNorm's counter have no num_batches_tracked; the layer keeps its own then
        keys = {
            ours: theirs
            for ours, theirs in layer.torchvision_keys().items()
            if theirs in state or not ours.endswith("num_batches_tracked")
        }
        missing = [theirs for theirs in keys.values() if theirs not in state]
        if missing:
            raise ValueError(
                f"{PREFIX}{layer.name}: torchvision's weights lack {len(missing)} tensor(s) of layer {i} "
                f"(first: {missing[0]}); the file in TORCH_HOME is not {layer.name}'s"
            )
        try:
            layer.body.load_state_dict({ours: state[theirs] for ours, theirs in keys.items()}, strict=False)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1].strip()
            raise ValueError(f"{PREFIX}{layer.name}: torchvision's weights do not fit layer {i} ({first})") from None
        loaded += len(keys)
    if loaded:
        log.info("loaded %d tensor(s) of torchvision's ImageNet weights", loaded)
    return loaded
