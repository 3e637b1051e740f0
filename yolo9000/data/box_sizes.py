"""Box and image sizes of a COCO file, the input of anchor k-means (`yolo9000.detection.anchors`)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from yolo9000.data.coco import load_coco_json

log = logging.getLogger(__name__)


def _image_size(path: Path, img: dict, images_dir: Path | None) -> tuple[float, float]:
    w, h = img.get("width"), img.get("height")
    if isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0:
        return float(w), float(h)
    if images_dir is None:
        raise ValueError(
            f"{path}: image id {img.get('id')} has no width/height; pass --images to read them from the files"
        )
    name = img.get("file_name")
    if not name:
        raise ValueError(f"{path}: image id {img.get('id')} has neither width/height nor file_name")
    from PIL import Image, UnidentifiedImageError

    fp = images_dir / name
    if not fp.is_file():
        raise FileNotFoundError(f"{fp}: image of id {img.get('id')} in {path} not found")
    try:
        with Image.open(fp) as im:  # reads the header only
            return float(im.width), float(im.height)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{fp}: cannot read the image size ({exc})") from None


def coco_box_sizes(json_path: str | Path, images_dir: str | Path | None = None) -> np.ndarray:
    """(N, 4) float64 rows (box w, box h, image w, image h) in pixels for every usable COCO box.

    Boxes with zero size and crowd annotations are skipped (and counted in the log); a malformed file (duplicate
    ids, a bbox that is not 4 finite numbers with non-negative size) is an error (`validate_coco`).
    """
    path = Path(json_path)
    data = load_coco_json(path, keys=("images", "annotations"))  # ids, image_id and bbox checked (validate_coco)
    imgs_dir = Path(images_dir) if images_dir is not None else None
    ids = {img["id"]: k for k, img in enumerate(data["images"])}
    needed = {}
    rows = []
    skipped = 0
    for ann in data["annotations"]:
        if ann.get("iscrowd", 0):
            skipped += 1
            continue
        w, h = float(ann["bbox"][2]), float(ann["bbox"][3])
        if not (w > 0 and h > 0):
            skipped += 1
            continue
        i = ids[ann["image_id"]]
        needed[i] = True
        rows.append((w, h, i))
    if skipped:
        log.info("%s: skipped %d crowd or empty boxes", path, skipped)
    if not rows:
        raise ValueError(f"{path}: no usable boxes (every annotation is missing, empty or crowd)")
    sizes = {i: _image_size(path, data["images"][i], imgs_dir) for i in needed}  # only images with a usable box
    out = np.array([(w, h) + sizes[i] for w, h, i in rows], dtype=np.float64)
    return out
