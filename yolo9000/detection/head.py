"""The `[region]` head: its settings (`RegionConfig`) and the activation Darknet applies (`RegionHead`).

Raw layout is `[anchor][entry][row][col]`: channel a*(5+C)+e. Activated: x, y, objectness through a sigmoid,
w, h left raw (boxes use anchor*exp(t) at decode time), classes through a flat softmax or the per-group
tree softmax (Darknet's GPU semantics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # imported lazily at run time: wordtree.softmax pulls in torch-heavy code
    from wordtree.softmax import TreeSoftmax
    from wordtree.tree import WordTree

# yolov2.cfg's COCO anchors (grid units) and yolo9000.cfg's
YOLOV2_ANCHORS = ((0.57273, 0.677385), (1.87446, 2.06253), (3.33843, 5.47434), (7.88282, 3.52778), (9.77052, 9.16828))
YOLO9000_ANCHORS = ((0.77871, 1.14074), (3.00525, 4.31277), (9.22725, 9.61974))


@dataclass
class RegionConfig:
    """Everything the `[region]` section says (Darknet defaults), plus the augmentation knobs of `[net]`."""

    anchors: torch.Tensor = field(default_factory=lambda: torch.full((1, 2), 0.5))
    num: int = 1
    classes: int = 20
    coords: int = 4
    softmax: bool = False
    tree: "WordTree | None" = None
    map: list[int] | None = None
    thresh: float = 0.5
    object_scale: float = 1.0
    noobject_scale: float = 1.0
    class_scale: float = 1.0
    coord_scale: float = 1.0
    rescore: bool = False
    bias_match: bool = False
    absolute: bool = False
    jitter: float = 0.2
    random: bool = False
    hue: float = 0.0
    saturation: float = 1.0
    exposure: float = 1.0
    tree_file: str | None = None
    map_file: str | None = None

    def __post_init__(self) -> None:
        self.anchors = torch.as_tensor(self.anchors, dtype=torch.float32, device="cpu").reshape(-1, 2)
        if self.anchors.shape[0] != self.num:
            raise ValueError(f"region: {self.anchors.shape[0]} anchors given but num={self.num}")
        if self.coords != 4:
            raise ValueError(f"region: coords={self.coords} is not supported (only 4)")
        if self.tree is not None and len(self.tree) != self.classes:
            raise ValueError(f"region: tree has {len(self.tree)} nodes but classes={self.classes}")
        if self.map is not None:
            bad = [m for m in self.map if not 0 <= m < self.classes]
            if bad:
                raise ValueError(f"region: map entries out of range [0, {self.classes}): {bad[:5]}")

    @property
    def entries(self) -> int:
        """Values per anchor: 4 box coordinates, objectness, then the classes."""
        return self.coords + 1 + self.classes

    @property
    def filters(self) -> int:
        """Channels the conv feeding the region must have."""
        return self.num * self.entries


def make_tree_softmax(tree: "WordTree") -> "TreeSoftmax":
    """`wordtree.softmax.TreeSoftmax(tree)`, imported on first use (flat heads never load it)."""
    from wordtree.softmax import TreeSoftmax

    return TreeSoftmax(tree)


class RegionHead(nn.Module):
    """Activates a raw region tensor the way Darknet's GPU forward does; holds the anchors and tree softmax."""

    def __init__(self, config: RegionConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("anchors", config.anchors.clone(), persistent=False)
        self.tree_softmax = make_tree_softmax(config.tree) if config.tree is not None else None

    @property
    def num(self) -> int:
        return self.config.num

    @property
    def entries(self) -> int:
        return self.config.entries

    def view(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, A*(5+C), H, W) -> (B, A, 5+C, H, W) without copying."""
        if raw.dim() != 4 or raw.shape[1] != self.config.filters:
            raise ValueError(
                f"region head expects (B, {self.config.filters}, H, W) = num {self.num} x (5 + classes "
                f"{self.config.classes}), got {tuple(raw.shape)}"
            )
        b, _, h, w = raw.shape
        return raw.reshape(b, self.num, self.entries, h, w)

    def class_probs(self, logits: torch.Tensor, dim: int = 2) -> torch.Tensor:
        """Class probabilities (trees: P(node | parent)) from class logits with the class axis at `dim` (2 for
        (B, A, C, H, W); -1 for rows of classes)."""
        if self.tree_softmax is not None:
            return self.tree_softmax.darknet_probs(logits.movedim(dim, -1)).movedim(-1, dim)
        if self.config.softmax:
            return torch.softmax(logits, dim=dim)
        return torch.sigmoid(logits)

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        """Darknet's activated region output (B, A, 5+C, H, W): entries 0, 1, 4 sigmoid, 2, 3 raw, classes probs."""
        r = self.view(raw).float()
        xy = torch.sigmoid(r[:, :, 0:2])
        obj = torch.sigmoid(r[:, :, 4:5])
        cls = self.class_probs(r[:, :, 5:])
        return torch.cat([xy, r[:, :, 2:4], obj, cls], dim=2)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return self.activate(raw)

    def extra_repr(self) -> str:
        c = self.config
        kind = "tree" if c.tree is not None else ("softmax" if c.softmax else "logistic")
        return f"num={c.num}, classes={c.classes}, classes_activation={kind}"
