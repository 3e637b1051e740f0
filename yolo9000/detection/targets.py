"""Padded per-batch training targets shared by the data pipeline (producer) and the loss (consumer)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Targets:
    """Targets for one batch of B images with at most T boxes each.

    boxes:  (B, T, 4) float, (cx, cy, w, h) relative to the network input (0..1), after letterbox/augment.
    nodes:  (B, T) long, tree node (or flat class) index of each box.
    valid:  (B, T) bool, which box slots are real.
    is_cls: (B,) bool, True for classification-only images (no boxes; `label` is their class).
    label:  (B,) long, tree node of a classification image's label (-1 for detection images).
    """

    boxes: torch.Tensor
    nodes: torch.Tensor
    valid: torch.Tensor
    is_cls: torch.Tensor
    label: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.is_cls.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Targets":
        """The same targets on `device`."""
        return Targets(
            *(
                getattr(self, f).to(device, non_blocking=non_blocking)
                for f in ("boxes", "nodes", "valid", "is_cls", "label")
            )
        )

    @staticmethod
    def collate(per_image: list[dict]) -> "Targets":
        """Pad a list of per-image dicts {'boxes': (n,4), 'nodes': (n,), 'is_cls': bool, 'label': int}."""
        counts = torch.tensor([len(d["nodes"]) for d in per_image], dtype=torch.long)
        t = max(1, int(counts.max())) if len(per_image) else 1
        valid = torch.arange(t)[None, :] < counts[:, None]  # row-major True slots: the boxes in input order
        boxes = torch.zeros(len(per_image), t, 4)
        nodes = torch.zeros(len(per_image), t, dtype=torch.long)
        filled = [d for d in per_image if len(d["nodes"])]
        if filled:
            boxes[valid] = torch.cat([torch.as_tensor(d["boxes"], dtype=torch.float32).reshape(-1, 4) for d in filled])
            nodes[valid] = torch.cat([torch.as_tensor(d["nodes"], dtype=torch.long).reshape(-1) for d in filled])
        is_cls = torch.tensor([bool(d.get("is_cls", False)) for d in per_image])
        label = torch.tensor([int(d.get("label", -1)) for d in per_image], dtype=torch.long)
        return Targets(boxes, nodes, valid, is_cls, label)
