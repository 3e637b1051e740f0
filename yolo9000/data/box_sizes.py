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

    Boxes with non-positive or non-finite size and crowd annotations are skipped (and counted in the log).
    """
    path = Path(json_path)
    data = load_coco_json(path, keys=("images", "annotations"))
    imgs_dir = Path(images_dir) if images_dir is not None else None
    ids: dict[int, int] = {}
    for k, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img:
            raise ValueError(f"{path}: images[{k}] has no 'id'")
        ids[img["id"]] = k
    needed = {}
    rows = []
    skipped = 0
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "bbox" not in ann or "image_id" not in ann:
            raise ValueError(f"{path}: annotations[{k}] needs 'image_id' and 'bbox'")
        if ann.get("iscrowd", 0):
            skipped += 1
            continue
        bbox = ann["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise ValueError(f"{path}: annotations[{k}] bbox must be [x, y, w, h], got {bbox!r}")
        if ann["image_id"] not in ids:
            raise ValueError(f"{path}: annotations[{k}] refers to unknown image id {ann['image_id']}")
        w, h = float(bbox[2]), float(bbox[3])
        if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
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
