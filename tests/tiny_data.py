"""Tiny generated training data in the real formats (COCO JSON + images, wnid class folders, a WordTree, a cfg).

Images are flat backgrounds with solid coloured rectangles: boxes are the rectangles, so a detector can learn
them in a few steps. Shared by the data and training tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

# a small hierarchy with fake but well-formed wnids: entity > {animal > {dog, cat}, vehicle > {car, bus}}
TREE_EDGES = {
    "n90000001": None,  # entity
    "n90000002": "n90000001",  # animal
    "n90000003": "n90000001",  # vehicle
    "n90000004": "n90000002",  # dog
    "n90000005": "n90000002",  # cat
    "n90000006": "n90000003",  # car
    "n90000007": "n90000003",  # bus
}
TREE_NAMES = {
    "n90000001": "entity",
    "n90000002": "animal",
    "n90000003": "vehicle",
    "n90000004": "dog",
    "n90000005": "cat",
    "n90000006": "car",
    "n90000007": "bus",
}
COLOURS = {
    "animal": (230, 40, 40),
    "vehicle": (40, 60, 230),
    "dog": (230, 120, 40),
    "cat": (200, 40, 160),
    "car": (40, 180, 230),
    "bus": (40, 220, 90),
}
DET_CATEGORIES = [  # coarse boxed labels; "vehicle" has no wnid field: it is found through the tree's label map
    {"id": 3, "name": "animal", "wnid": "n90000002"},
    {"id": 7, "name": "vehicle"},
]


def make_tree():
    """The test WordTree with a 'detection' label map naming 'vehicle'."""
    from wordtree.tree import LabelMap, WordTree

    tree = WordTree.from_edges(TREE_EDGES, TREE_NAMES)
    return tree.with_label_maps([LabelMap("detection", ("animal", "vehicle"), ("n90000002", "n90000003"))])


def _image(rng: np.random.Generator, w: int, h: int, boxes, colours) -> Image.Image:
    arr = np.empty((h, w, 3), np.uint8)
    arr[:] = rng.integers(90, 160, size=3)
    for (x0, y0, x1, y1), col in zip(boxes, colours):
        arr[int(y0) : int(y1), int(x0) : int(x1)] = col
    return Image.fromarray(arr)


def make_coco(
    root: Path, n_images: int = 8, size: tuple[int, int] = (96, 72), seed: int = 0, categories=DET_CATEGORIES
) -> Path:
    """root/annotations.json + root/images/*.png; returns the JSON path."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    w, h = size
    for i in range(n_images):
        boxes, cats = [], []
        for _ in range(int(rng.integers(1, 3))):
            bw, bh = rng.integers(w // 4, w // 2), rng.integers(h // 4, h // 2)
            x0, y0 = rng.integers(0, w - bw), rng.integers(0, h - bh)
            boxes.append((x0, y0, x0 + bw, y0 + bh))
            cats.append(categories[int(rng.integers(len(categories)))])
        name = f"img{i:03d}.png"
        _image(rng, w, h, boxes, [COLOURS[c["name"]] for c in cats]).save(root / "images" / name)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for (x0, y0, x1, y1), c in zip(boxes, cats):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": c["id"],
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    "area": float((x1 - x0) * (y1 - y0)),
                    "iscrowd": 0,
                }
            )
    path = root / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": list(categories)}))
    return path


def make_folders(
    root: Path,
    per_class: int = 3,
    size: tuple[int, int] = (64, 64),
    seed: int = 1,
    classes=("n90000004", "n90000005", "n90000006"),
) -> Path:
    """root/<wnid>/*.png with one centred object of the class colour each."""
    rng = np.random.default_rng(seed)
    w, h = size
    for wnid in classes:
        d = root / wnid
        d.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            m = int(rng.integers(4, 12))
            _image(rng, w, h, [(m, m, w - m, h - m)], [COLOURS[TREE_NAMES[wnid]]]).save(d / f"{k}.png")
    return root


def make_cfg(tree, path: Path, size: int = 64, width: float = 0.125) -> Path:
    """A very small tiny-yolo cfg with a tree head, written to `path`."""
    from yolo9000.darknet import templates

    model = templates.tiny_yolo9000(tree, size=size, width=width)
    path.write_text(model.cfg_text)
    return path


def make_all(root: Path) -> dict[str, Path]:
    """COCO data, class folders, tree JSON and cfg under root."""
    root.mkdir(parents=True, exist_ok=True)
    tree = make_tree()
    tree.save(root / "tree.json")
    return {
        "coco": make_coco(root / "det"),
        "images": root / "det" / "images",
        "folders": make_folders(root / "cls"),
        "tree": root / "tree.json",
        "cfg": make_cfg(tree, root / "model.cfg"),
    }


def train_args(data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    """`yolo9000 train` arguments for the `make_all` data into `out`, quiet and in-process (no workers, no
    TensorBoard, no progress bar); `extra` options come last, so they override."""
    return [
        "train",
        "--coco",
        str(data["coco"]),
        "--folders",
        str(data["folders"]),
        "--tree",
        str(data["tree"]),
        "--cfg",
        str(data["cfg"]),
        "--out",
        str(out),
        "--workers",
        "0",
        "--no-tensorboard",
        "--no-progress",
        *extra,
    ]
