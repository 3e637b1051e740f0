"""COCO-format detection data (JSON + image folder) with categories mapped to WordTree nodes or flat classes."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from yolo9000.data.image_io import read_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionSample:
    """One decoded detection image: uint8 (3,H,W), boxes (n,4) xyxy pixels, nodes (n,) long."""

    image: torch.Tensor
    boxes: torch.Tensor
    nodes: torch.Tensor
    path: str


COCO_KEYS = ("images", "annotations", "categories")


def load_coco_json(path: str | Path, keys: Sequence[str] = COCO_KEYS) -> dict:
    """Read a COCO annotation file into its JSON dict, checking that each of `keys` holds a list.

    Every problem (missing file, bad JSON or encoding, not a COCO object) is one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: COCO annotation file not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: expected a JSON object with {', '.join(map(repr, keys))} lists, got {type(data).__name__}"
        )
    for key in keys:
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: not a COCO detection file: missing or non-list '{key}' (no '{key}' list)")
    validate_coco(data, str(path))
    return data


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _listed(data: dict, key: str) -> list:
    """data[key] when it is a list (the keys a reader needs are checked by `load_coco_json`), else []."""
    value = data.get(key)
    return value if isinstance(value, list) else []


def _unique_ids(items: list, key: str, kind: str, source: str) -> dict[object, int]:
    """id -> position of every entry of `items` (the list `data[key]`); each entry must be a dict with a unique
    integer 'id', else one ValueError line naming `source`."""
    ids: dict[object, int] = {}
    for k, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            raise ValueError(f"{source}: {key}[{k}] has no 'id'")
        i = item["id"]
        if not _is_int(i):
            raise ValueError(f"{source}: {key}[{k}] field 'id' must be an integer, got {i!r}")
        if i in ids:
            raise ValueError(f"{source}: duplicate {kind} id {i!r} ({key}[{ids[i]}] and {key}[{k}])")
        ids[i] = k
    return ids


def validate_coco(data: dict, source: str) -> None:
    """Check what every reader of a COCO file relies on; each problem is one ValueError line naming `source`.

    Image and category ids are unique integers (image sizes, where given, numbers >= 0); annotation ids (where
    given) are unique integers (a repeated one would make pycocotools score one box twice and lose the other);
    every annotation names a known `image_id`, an integer `category_id` (where given) and has a `bbox` of 4
    finite numbers [x, y, width, height] with width, height >= 0 (a zero size is left to the readers, which
    skip such boxes). `load_coco_json` calls it for every file it reads.
    """
    image_ids = _unique_ids(_listed(data, "images"), "images", "image", source)
    for k, im in enumerate(_listed(data, "images")):
        for side in ("width", "height"):
            v = im.get(side)
            if v is not None and not (_is_number(v) and math.isfinite(v) and v >= 0):
                raise ValueError(
                    f"{source}: images[{k}] (id {im['id']}): field '{side}' must be a number >= 0, got {v!r}"
                )
    _unique_ids(_listed(data, "categories"), "categories", "category", source)
    ann_ids: dict[object, int] = {}
    for k, ann in enumerate(_listed(data, "annotations")):
        if not isinstance(ann, dict) or not {"image_id", "bbox"} <= set(ann):
            raise ValueError(f"{source}: annotations[{k}] needs 'image_id' and 'bbox'")
        aid = ann.get("id")
        where = f"{source}: annotations[{k}]" + (f" (id {aid!r})" if aid is not None else "")
        if aid is not None:
            if not _is_int(aid):
                raise ValueError(f"{where}: field 'id' must be an integer")
            if aid in ann_ids:
                raise ValueError(
                    f"{source}: duplicate annotation id {aid!r} (annotations[{ann_ids[aid]}] and annotations[{k}])"
                )
            ann_ids[aid] = k
        iid = ann["image_id"]
        if not _is_int(iid):
            raise ValueError(f"{where}: field 'image_id' must be an integer, got {iid!r}")
        if iid not in image_ids:
            raise ValueError(f"{where} refers to unknown image id {iid!r}")
        if "category_id" in ann and not _is_int(ann["category_id"]):
            raise ValueError(f"{where}: field 'category_id' must be an integer, got {ann['category_id']!r}")
        bbox = ann["bbox"]
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
            raise ValueError(f"{where}: field 'bbox' must be 4 numbers [x, y, width, height], got {bbox!r}")
        if not all(math.isfinite(v) for v in bbox):
            raise ValueError(f"{where}: field 'bbox' has a non-finite value: {bbox!r}")
        if bbox[2] < 0 or bbox[3] < 0:
            raise ValueError(f"{where}: field 'bbox' has a negative width or height: {bbox!r}")


def map_categories(
    categories: Sequence[dict], tree=None, *, label_map: str | None = None, source: str = "<json>"
) -> tuple[dict[int, int], list[str]]:
    """Map COCO category ids to class indices: tree nodes, or 0..C-1 in id order without a tree.

    With a tree, a category's own "wnid" wins, then a tree label map that names it (`label_map` picks one
    source, otherwise every map the tree carries is searched). Returns ({category_id: index}, names by index).
    """
    ids, names = [], []
    for k, cat in enumerate(categories):
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            raise ValueError(f"{source}: categories[{k}] needs 'id' and 'name'")
        ids.append(int(cat["id"]))
        names.append(str(cat["name"]))
    if len(set(ids)) != len(ids):
        raise ValueError(f"{source}: duplicate category ids")
    if tree is None:
        order = np.argsort(ids, kind="stable")
        return {ids[i]: rank for rank, i in enumerate(order)}, [names[i] for i in order]

    if label_map is not None and label_map not in tree.label_maps:
        raise ValueError(
            f"{source}: the tree has no label map {label_map!r} (it has: "
            f"{', '.join(sorted(tree.label_maps)) or 'none'})"
        )
    maps = [tree.label_maps[label_map]] if label_map else list(tree.label_maps.values())
    by_name: dict[str, set[str]] = {}
    for m in maps:
        for lab, wnid in zip(m.labels, m.wnids):
            by_name.setdefault(lab, set()).add(wnid)
    mapping: dict[int, int] = {}
    for cid, name, cat in zip(ids, names, categories):
        wnid = cat.get("wnid")
        if wnid is None:
            found = by_name.get(name, set())
            if len(found) > 1:
                raise ValueError(
                    f"{source}: category {name!r} (id {cid}) maps to several wnids in the tree's "
                    f"label maps ({', '.join(sorted(found))}); pass a label map name"
                )
            if not found:
                raise ValueError(
                    f"{source}: category {name!r} (id {cid}) has no 'wnid' field and no tree label "
                    f"map names it; add a wnid or build the tree with a map for this dataset"
                )
            wnid = next(iter(found))
        if wnid not in tree:
            raise ValueError(f"{source}: category {name!r} (id {cid}) has wnid {wnid} which is not a node of the tree")
        mapping[cid] = tree.index(wnid)
    return mapping, list(tree.names)


class CocoDetection(torch.utils.data.Dataset):
    """A COCO detection file: `ds.load(i)` decodes image i with its boxes (xyxy pixels) and class nodes.

    Crowd boxes are skipped; boxes reaching past the image are clipped, boxes with no area inside it are
    dropped with one logged warning per file. Images listed in the JSON but missing on disk are an error
    (all missing: probably a wrong `image_dir`) or a logged skip (some missing). A file without any usable box
    is an error (nothing to train on); so are duplicate ids and malformed boxes (`validate_coco`).
    """

    kind = "detection"

    def __init__(
        self,
        ann_file: str | Path,
        image_dir: str | Path | None = None,
        tree=None,
        *,
        label_map: str | None = None,
        skip_empty: bool = False,
        exif: bool = True,
    ) -> None:
        self.ann_file = Path(ann_file)
        self.exif = exif  # read_image: honour the EXIF orientation (False: the stored pixels, as Darknet)
        data = load_coco_json(self.ann_file)
        src = str(self.ann_file)
        if image_dir is None:
            image_dir = self.ann_file.parent / "images"
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"{self.image_dir}: image folder for {src} not found (pass --images)")
        self.cat_to_node, self.names = map_categories(data["categories"], tree, label_map=label_map, source=src)

        images: dict[int, tuple[str, float, float]] = {}
        for k, im in enumerate(data["images"]):
            if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
                raise ValueError(f"{src}: images[{k}] needs 'id' and 'file_name'")
            images[int(im["id"])] = (
                str(im["file_name"]),
                float(im.get("width", 0) or 0),
                float(im.get("height", 0) or 0),
            )
        per_image: dict[int, list[tuple[list[float], int]]] = {i: [] for i in images}
        dropped = 0
        for k, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict) or not {"image_id", "category_id", "bbox"} <= set(ann):
                raise ValueError(f"{src}: annotations[{k}] needs 'image_id', 'category_id' and 'bbox'")
            iid, cid = int(ann["image_id"]), int(ann["category_id"])
            if iid not in images:
                raise ValueError(f"{src}: annotations[{k}] refers to unknown image id {iid}")
            if cid not in self.cat_to_node:
                raise ValueError(f"{src}: annotations[{k}] refers to unknown category id {cid}")
            if ann.get("iscrowd", 0):
                continue
            x, y, w, h = (float(v) for v in ann["bbox"])  # checked by load_coco_json (validate_coco)
            x0, y0, x1, y1 = x, y, x + w, y + h
            _, iw, ih = images[iid]
            if iw > 0 and ih > 0:  # clip to the image the JSON describes
                x0, x1 = min(max(x0, 0.0), iw), min(max(x1, 0.0), iw)
                y0, y1 = min(max(y0, 0.0), ih), min(max(y1, 0.0), ih)
            if x1 - x0 <= 0 or y1 - y0 <= 0:
                dropped += 1
                continue
            per_image[iid].append(([x0, y0, x1, y1], self.cat_to_node[cid]))
        if dropped:
            log.warning("%s: skipped %d box(es) with no area inside their image", src, dropped)

        ids = sorted(images)
        if skip_empty:
            ids = [i for i in ids if per_image[i]]
        missing = [i for i in ids if not (self.image_dir / images[i][0]).is_file()]
        if missing and len(missing) == len(ids):
            raise FileNotFoundError(
                f"{self.image_dir}: none of the {len(ids)} images of {src} are there "
                f"(first: {images[ids[0]][0]}); wrong image folder?"
            )
        if missing:
            log.warning(
                "%s: %d image file(s) missing under %s, skipped (first: %s)",
                src,
                len(missing),
                self.image_dir,
                images[missing[0]][0],
            )
            gone = set(missing)
            ids = [i for i in ids if i not in gone]
        if not ids:
            raise ValueError(f"{src}: no usable images")
        if not any(per_image[i] for i in ids):
            crowd = sum(1 for a in data["annotations"] if a.get("iscrowd", 0))
            raise ValueError(
                f"{src}: no usable boxes to train on ({len(data['annotations'])} annotation(s): {crowd} crowd, "
                f"{dropped} with no area inside their image)"
            )
        self.image_ids = ids
        self.files = [images[i][0] for i in ids]
        self._boxes = [np.asarray([b for b, _ in per_image[i]], dtype=np.float32).reshape(-1, 4) for i in ids]
        self._nodes = [np.asarray([n for _, n in per_image[i]], dtype=np.int64) for i in ids]

    def __len__(self) -> int:
        return len(self.image_ids)

    def path(self, i: int) -> Path:
        """File of image i."""
        return self.image_dir / self.files[i]

    def boxes(self, i: int) -> np.ndarray:
        """Boxes of image i, (n,4) xyxy pixels (no decoding)."""
        return self._boxes[i]

    def load(self, i: int) -> DetectionSample:
        """Decode image i; boxes are clipped to the decoded image size."""
        img = read_image(self.path(i), exif=self.exif)
        h, w = img.shape[1:]
        boxes = torch.from_numpy(self._boxes[i].copy())
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return DetectionSample(img, boxes[keep], torch.from_numpy(self._nodes[i])[keep], str(self.path(i)))

    def __getitem__(self, i: int) -> DetectionSample:
        return self.load(i)
