"""`DetectionModel`: what every layer may rely on in a detection network, whichever runs it.

`yolo9000.darknet.DarknetModel` (our checkpoints, Darknet cfg + weights) and
`yolo9000.inference.backends.RuntimeModel` (an exported model in ONNX Runtime or OpenVINO) both satisfy it,
so `Detector`, evaluation and export take either without probing attributes. `region_parts` is the one check
that a model can detect at all (a Darknet classifier cfg has no `[region]`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    from wordtree.tree import WordTree
    from yolo9000.detection.head import RegionConfig, RegionHead


@runtime_checkable
class DetectionModel(Protocol):
    """A network with a Darknet `[region]` head.

    `region`/`head`: the region settings and their activation (None for a classifier); `net`: the typed
    `[net]` options (width, height, channels, ...); `names`: label names or None; `tree`: the WordTree of a
    tree head or None; `source`: where it came from, for messages. Calling it gives the raw head output
    (B, A*(5+C), H, W); `region_output` gives Darknet's activated (B, A, 5+C, H, W).
    """

    net: dict[str, Any]
    names: list[str] | None
    source: str

    @property
    def region(self) -> RegionConfig | None: ...

    @property
    def head(self) -> RegionHead | None: ...

    @property
    def tree(self) -> WordTree | None: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def region_output(self, x: torch.Tensor) -> torch.Tensor: ...

    def eval(self) -> Any: ...

    def to(self, *args: Any, **kwargs: Any) -> Any: ...


def region_parts(model: DetectionModel) -> tuple[RegionConfig, RegionHead]:
    """The model's `[region]` settings and head; a model without one cannot detect (one line naming it)."""
    if model.region is None or model.head is None:
        raise ValueError(f"{model.source}: the model has no [region] layer, so it cannot detect")
    return model.region, model.head
