"""`Detections`: the detections of one image (boxes, scores, labels, tree paths and walks) and their JSON records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch


@dataclass
class Detections:
    """Detections of one image, sorted by score (descending).

    boxes:      (n, 4) float, x1 y1 x2 y2 in original-image pixels (network pixels when the image size
                was not given).
    scores:     (n,) the detection score (see the module docstring for each mode).
    objectness: (n,) the box's objectness (sigmoid output).
    labels:     (n,) long, class index (flat), tree node (tree), or map position (tree with class_map).
    probs:      (n,) probability of the label: P(class) for flat heads, absolute P(node) for trees.
    index:      (n,) long, Darknet's prediction index anchor * H * W + row * W + col.
    nodes:      (n,) long tree node of each detection (trees only, else None).
    path:       (n, L) long, root..node for trees, padded with -1 on the right (else None).
    path_probs: (n, L) float, P(node | parent) along `path` (0 at padding; else None).
    walk:       (n, L) long, the greedy walk root..leaf (the most likely child at every level, whatever the
                threshold; `decode(..., siblings=K)` with K > 0 and a tree, else None), padded with -1.
    walk_probs: (n, L) float, P(node | parent) along `walk` (0 at padding).
    siblings:   (n, L, K) long, the K most likely members of the sibling group at each level of `walk`
                (by P(node | parent), -1 padded), and sibling_probs (n, L, K) their P(node | parent).
    image_size: (width, height) of the original image, or None.
    names:      optional label names (indexed by `labels`), used by `to_records` and drawing.
    node_names: optional tree node names (indexed by `path` entries).
    node_ids:   optional tree node ids (WordNet ids, or the ids of your own hierarchy), indexed like node_names.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    objectness: torch.Tensor
    labels: torch.Tensor
    probs: torch.Tensor
    index: torch.Tensor
    nodes: torch.Tensor | None = None
    path: torch.Tensor | None = None
    path_probs: torch.Tensor | None = None
    walk: torch.Tensor | None = None
    walk_probs: torch.Tensor | None = None
    siblings: torch.Tensor | None = None
    sibling_probs: torch.Tensor | None = None
    image_size: tuple[int, int] | None = None
    names: Sequence[str] | None = field(default=None, repr=False)
    node_names: Sequence[str] | None = field(default=None, repr=False)
    node_ids: Sequence[str] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def to(self, device: torch.device | str) -> "Detections":
        """The same detections with every tensor on `device`."""
        moved: dict[str, Any] = {
            k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()
        }
        return replace(self, **moved)

    def path_absolute(self) -> torch.Tensor | None:
        """(n, L) absolute probabilities along `path` (cumulative products; 0 at padding)."""
        if self.path is None or self.path_probs is None:
            return None
        return torch.cumprod(self.path_probs, dim=1) * (self.path >= 0)

    def label_text(
        self, i: int, *, show_path: bool = False, max_path: int = 3, names: Sequence[str] | None = None
    ) -> str:
        """Display label of detection i: `terrier (0.62)` or `animal > dog > terrier (0.62)`."""
        names = names if names is not None else self.names
        node_names = self.node_names if self.node_names is not None else names
        label = int(self.labels[i])
        text = names[label] if names is not None and 0 <= label < len(names) else str(label)
        if show_path and self.path is not None:
            nodes = [int(n) for n in self.path[i].tolist() if n >= 0]
            shown = nodes[-max_path:] if max_path > 0 else nodes
            parts = [node_names[n] if node_names is not None else str(n) for n in shown]
            text = (".. > " if len(shown) < len(nodes) else "") + " > ".join(parts)
        return f"{text} ({float(self.scores[i]):.2f})"

    def to_records(self, names: Sequence[str] | None = None, *, digits: int = 6) -> list[dict[str, Any]]:
        """JSON-able list, one dict per detection (box xyxy, COCO bbox xywh, score, label, name, path...). Tree
        nodes are written by index ("node"), name and, when known, id ("id": a wnid or your hierarchy's id)."""
        names = names if names is not None else self.names
        node_names = self.node_names if self.node_names is not None else names
        ids = self.node_ids
        boxes = self.boxes.detach().double().cpu().tolist()
        cols = {
            k: getattr(self, k).detach().cpu().tolist() for k in ("scores", "objectness", "labels", "probs", "index")
        }
        nodes = self.nodes.cpu().tolist() if self.nodes is not None else None
        path_rows = None  # per detection: (path, P(node | parent), absolute P) for trees
        if self.path is not None:
            pabs = self.path_absolute()
            if self.path_probs is None or pabs is None:
                raise ValueError("Detections.to_records: `path` is set but `path_probs` is None")
            paths = self.path.cpu().tolist()
            pprobs = self.path_probs.double().cpu().tolist()
            path_rows = list(zip(paths, pprobs, pabs.double().cpu().tolist()))
        r = lambda v: round(float(v), digits)  # noqa: E731
        walk_rows = self._walk_records(node_names, ids, r) if self.walk is not None else []
        out = []
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            label = int(cols["labels"][i])
            rec: dict[str, Any] = {
                "box": [round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)],
                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                "score": r(cols["scores"][i]),
                "objectness": r(cols["objectness"][i]),
                "label": label,
                "name": names[label] if names is not None and 0 <= label < len(names) else str(label),
                "prob": r(cols["probs"][i]),
                "index": int(cols["index"][i]),
            }
            if nodes is not None:
                rec["node"] = int(nodes[i])
                if ids is not None:
                    rec["id"] = ids[int(nodes[i])]
            if path_rows is not None:
                rec["path"] = [
                    {
                        "node": n,
                        **({"id": ids[n]} if ids is not None else {}),
                        "name": node_names[n] if node_names is not None else str(n),
                        "prob": r(p),
                        "abs": r(a),
                    }
                    for n, p, a in zip(*path_rows[i])
                    if n >= 0
                ]
            if self.walk is not None:
                rec["walk"] = walk_rows[i]
            out.append(rec)
        return out

    def _walk_records(
        self, node_names: Sequence[str] | None, ids: Sequence[str] | None, r: Callable[[float], float]
    ) -> list[list[dict]]:
        """Per detection, the greedy walk's levels: node, id (when known, as in "path"), name, P(node | parent),
        P(node) and the top siblings."""
        assert self.walk is not None and self.walk_probs is not None
        assert self.siblings is not None and self.sibling_probs is not None
        name = (lambda n: node_names[n]) if node_names is not None else str  # noqa: E731
        ident = (lambda n: {"id": ids[n]}) if ids is not None else (lambda n: {})  # noqa: E731
        walks, wprobs = self.walk.cpu().tolist(), self.walk_probs.double().cpu().tolist()
        # P(node) as the walk of `TreeSoftmax.predict` multiplies it: in the probabilities' own dtype
        wabs = (torch.cumprod(self.walk_probs, 1) * (self.walk >= 0)).double().cpu().tolist()
        sibs, sprobs = self.siblings.cpu().tolist(), self.sibling_probs.double().cpu().tolist()
        return [
            [
                {
                    "node": n,
                    **ident(n),
                    "name": name(n),
                    "prob": r(p),
                    "abs": r(a),
                    "siblings": [{"node": m, "name": name(m), "prob": r(q)} for m, q in zip(sn, sp) if m >= 0],
                }
                for n, p, a, sn, sp in zip(*rows)
                if n >= 0
            ]
            for rows in zip(walks, wprobs, wabs, sibs, sprobs)
        ]
