"""Shared by the tests of yolo9000.evaluation and `yolo9000 eval`: a toy tree, COCO files and prediction tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wordtree import LabelMap, WordTree

# entity ─┬─ animal ─┬─ dog ─┬─ terrier
#         │          │       └─ poodle
#         │          └─ cat
#         └─ vehicle ── car
EDGES = {
    "n00000001": None,
    "n00000002": "n00000001",
    "n00000003": "n00000001",
    "n00000004": "n00000002",
    "n00000005": "n00000002",
    "n00000006": "n00000003",
    "n00000007": "n00000004",
    "n00000008": "n00000004",
}
NAMES = {
    "n00000001": "entity",
    "n00000002": "animal",
    "n00000003": "vehicle",
    "n00000004": "dog",
    "n00000005": "cat",
    "n00000006": "car",
    "n00000007": "terrier",
    "n00000008": "poodle",
}
WNID = {v: k for k, v in NAMES.items()}

# 101-point interpolated AP of the ranking TP, FP, TP with 2 ground-truth boxes:
# precision 1 up to recall .5 (51 thresholds), 2/3 above it (50 thresholds)
AP_TP_FP_TP = (51 * 1.0 + 50 * 2 / 3) / 101


def toy_tree() -> WordTree:
    """The 8-node tree drawn above."""
    return WordTree.from_edges(EDGES, NAMES)


def node(tree, name: str) -> int:
    return tree.index(WNID[name])


def write_coco(path, images, anns, cats):
    data = {
        "images": [{"id": i, "file_name": f"img{i}.png", "width": w, "height": h} for i, (w, h) in images.items()],
        "annotations": [
            {"id": k + 1, "image_id": img, "category_id": cat, "bbox": list(b), "area": b[2] * b[3], "iscrowd": 0}
            for k, (img, cat, b) in enumerate(anns)
        ],
        "categories": cats,
    }
    path.write_text(json.dumps(data))
    return path


def preds_frame(rows):
    """rows: (image_id, (x, y, w, h), score, label)."""
    return pd.DataFrame(
        [(i, b[0], b[1], b[0] + b[2], b[1] + b[3], s, lab) for i, b, s, lab in rows],
        columns=["image_id", "x1", "y1", "x2", "y2", "score", "label"],
    )


def toy_world(tmp_path, tree):
    """A random-weights tiny tree model in a checkpoint, 3 images with COCO boxes, 2 class folders."""
    from PIL import Image

    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.templates import tiny_yolo9000

    tree = tree.with_label_maps([LabelMap("detection", ("dog", "car"), (WNID["dog"], WNID["car"]))])
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = tiny_yolo9000(tree, size=64, width=0.125)
    ckpt = save_checkpoint(tmp_path / "m.pt", model)
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(tmp_path / "images" / f"{i}.png")
    cats = [
        {"id": 1, "name": "dog", "wnid": WNID["dog"]},
        {"id": 2, "name": "poodle", "wnid": WNID["poodle"]},
        {"id": 3, "name": "cat", "wnid": WNID["cat"]},
    ]
    gt = write_coco(
        tmp_path / "gt.json",
        {1: (80, 60), 2: (80, 60), 3: (80, 60)},
        [(1, 1, (10, 10, 30, 20)), (2, 2, (5, 5, 40, 30)), (3, 3, (20, 20, 30, 30))],
        cats,
    )
    data = json.loads(gt.read_text())
    for im in data["images"]:
        im["file_name"] = f"{im['id'] - 1}.png"
    gt.write_text(json.dumps(data))
    for name in ("terrier", "cat"):
        d = tmp_path / "cls" / WNID[name]
        d.mkdir(parents=True)
        for j in range(2):
            Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(d / f"{j}.png")
    return ckpt, gt, tmp_path / "images", tmp_path / "cls"


def toy_emoji_world(tmp_path, tree):
    """`toy_world`'s model and pictures laid out as an emoji world's test split: fine labels (terrier and poodle
    under the boxed dog, cat never boxed) in test/annotations.json, the same boxes at coarse labels (dog, cat) in
    test/annotations_coarse.json, and the world's tree whose detection map names the boxed labels (dog, car).
    Returns (checkpoint, world folder)."""
    import shutil

    ckpt, gt, images, _ = toy_world(tmp_path, tree)
    world = tmp_path / "world"
    (world / "test").mkdir(parents=True)
    shutil.copytree(images, world / "test" / "images")
    tree.with_label_maps([LabelMap("detection", ("dog", "car"), (WNID["dog"], WNID["car"]))]).save(
        world / "wordtree.json"
    )
    data = json.loads(gt.read_text())
    boxes = {1: (10, 10, 30, 20), 2: (5, 5, 40, 30), 3: (20, 20, 30, 30)}
    fine = [(1, "terrier", "dog"), (2, "poodle", "dog"), (3, "cat", "cat")]  # image, fine label, coarse label
    for name, labels in (("annotations.json", [f for _, f, _ in fine]), ("annotations_coarse.json", ["dog", "cat"])):
        ids = {label: k + 1 for k, label in enumerate(dict.fromkeys(labels))}
        data["categories"] = [{"id": i, "name": n, "wnid": WNID[n]} for n, i in ids.items()]
        coarse = name == "annotations_coarse.json"
        data["annotations"] = [
            {
                "id": k + 1,
                "image_id": img,
                "category_id": ids[c if coarse else f],
                "bbox": list(boxes[img]),
                "area": boxes[img][2] * boxes[img][3],
                "iscrowd": 0,
            }
            for k, (img, f, c) in enumerate(fine)
        ]
        (world / "test" / name).write_text(json.dumps(data))
    return ckpt, world
