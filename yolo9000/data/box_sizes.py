"""Box and image sizes of a COCO file, the input of anchor k-means (`yolo9000.detection.anchors`)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from yolo9000.data.coco_index import read_coco_index

log = logging.getLogger(__name__)


def _image_size(path: Path, iid: int, name: str | None, images_dir: Path | None) -> tuple[float, float]:
    """The size of an image whose JSON entry gives none, read from its file's header."""
    if images_dir is None:
        raise ValueError(f"{path}: image id {iid} has no width/height; pass --images to read them from the files")
    if not name:
        raise ValueError(f"{path}: image id {iid} has neither width/height nor file_name")
    from PIL import Image, UnidentifiedImageError

    fp = images_dir / name
    if not fp.is_file():
        raise FileNotFoundError(f"{fp}: image of id {iid} in {path} not found")
    try:
        with Image.open(fp) as im:  # reads the header only
            return float(im.width), float(im.height)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{fp}: cannot read the image size ({exc})") from None


def coco_box_sizes(json_path: str | Path, images_dir: str | Path | None = None) -> np.ndarray:
    """(N, 4) float64 rows (box w, box h, image w, image h) in pixels for every usable COCO box.

    Boxes with zero size and crowd annotations are skipped (and counted in the log); a malformed file (duplicate
    ids, a bbox that is not 4 finite numbers with non-negative size) is an error (`validate_coco`'s checks). The
    file is streamed (`read_coco_index`).
    """
    path = Path(json_path)
    index = read_coco_index(path, keys=("images", "annotations"))  # ids, image_id and bbox checked
    imgs_dir = Path(images_dir) if images_dir is not None else None
    wh = index.bbox[:, 2:]
    usable = ~index.ann_crowd & (wh[:, 0] > 0) & (wh[:, 1] > 0)
    skipped = int((~usable).sum())
    if skipped:
        log.info("%s: skipped %d crowd or empty boxes", path, skipped)
    if not usable.any():
        raise ValueError(f"{path}: no usable boxes (every annotation is missing, empty or crowd)")
    order = np.argsort(index.image_ids, kind="stable")
    pos = order[np.searchsorted(index.image_ids, index.ann_image[usable], sorter=order)]
    sizes = index.sizes.copy()
    for k in np.unique(pos[(sizes[pos] <= 0).any(axis=1)]):  # only images with a usable box and no size given
        sizes[k] = _image_size(path, int(index.image_ids[k]), index.files[k], imgs_dir)
    return np.concatenate((wh[usable], sizes[pos]), axis=1).astype(np.float64)
