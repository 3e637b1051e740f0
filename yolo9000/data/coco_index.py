"""COCO annotation files read into arrays: `read_coco_index` streams a file (ijson) into per-image offsets and
flat box, category and crowd arrays without holding the JSON; `load_coco_json` reads a small file whole. Both
check it as COCO (`validate_coco`): ids unique, boxes well formed, every problem one line naming the file."""

from __future__ import annotations

import io
import json
import logging
import math
import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


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


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _listed(data: dict, key: str) -> list:
    """data[key] when it is a list (the keys a reader needs are checked by `load_coco_json`), else []."""
    value = data.get(key)
    return value if isinstance(value, list) else []


def _unique_ids(items: Iterable, key: str, kind: str, source: str) -> dict[object, int]:
    """id -> position of every entry of `items` (the list `data[key]`); each entry must be a dict with a unique
    integer 'id', else one ValueError line naming `source`."""
    ids: dict[object, int] = {}
    for _ in _with_unique_ids(items, key, kind, source, ids):
        pass
    return ids


def _with_unique_ids(items: Iterable, key: str, kind: str, source: str, ids: dict[object, int]) -> Iterator:
    """(position, entry) of each entry of `items` as it streams in, after checking its 'id' as `_unique_ids`
    does; `ids` fills with id -> position."""
    for k, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            raise ValueError(f"{source}: {key}[{k}] has no 'id'")
        i = item["id"]
        if not _is_int(i):
            raise ValueError(f"{source}: {key}[{k}] field 'id' must be an integer, got {i!r}")
        if i in ids:
            raise ValueError(f"{source}: duplicate {kind} id {i!r} ({key}[{ids[i]}] and {key}[{k}])")
        ids[i] = k
        yield k, item


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
        _check_image(k, im, source)
    _unique_ids(_listed(data, "categories"), "categories", "category", source)
    ann_ids: dict[object, int] = {}
    for k, ann in enumerate(_listed(data, "annotations")):
        _check_annotation(k, ann, source)
        aid = ann.get("id")
        if aid is not None:
            if aid in ann_ids:
                raise ValueError(_duplicate_annotation(source, aid, ann_ids[aid], k))
            ann_ids[aid] = k
        if ann["image_id"] not in image_ids:
            raise ValueError(_unknown_image(source, k, aid, ann["image_id"]))


def _check_image(k: int, im: dict, source: str) -> None:
    """images[k]'s width and height, where given, are numbers >= 0 (its id is checked by `_unique_ids`)."""
    for side in ("width", "height"):
        v = im.get(side)
        if v is not None and not (_is_number(v) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{source}: images[{k}] (id {im['id']}): field '{side}' must be a number >= 0, got {v!r}")


def _where(source: str, k: int, aid: object) -> str:
    return f"{source}: annotations[{k}]" + (f" (id {aid!r})" if aid is not None else "")


def _duplicate_annotation(source: str, aid: object, first: int, k: int) -> str:
    return f"{source}: duplicate annotation id {aid!r} (annotations[{first}] and annotations[{k}])"


def _unknown_image(source: str, k: int, aid: object, iid: object) -> str:
    return f"{_where(source, k, aid)} refers to unknown image id {iid!r}"


def _check_annotation(k: int, ann: object, source: str) -> None:
    """annotations[k] on its own: 'image_id' and 'bbox' present, integer ids, a bbox of 4 finite numbers with
    width, height >= 0 (unique ids and known images are checked over the whole list)."""
    if not isinstance(ann, dict) or not {"image_id", "bbox"} <= set(ann):
        raise ValueError(f"{source}: annotations[{k}] needs 'image_id' and 'bbox'")
    aid = ann.get("id")
    where = _where(source, k, aid)
    if aid is not None and not _is_int(aid):
        raise ValueError(f"{where}: field 'id' must be an integer")
    iid = ann["image_id"]
    if not _is_int(iid):
        raise ValueError(f"{where}: field 'image_id' must be an integer, got {iid!r}")
    if "category_id" in ann and not _is_int(ann["category_id"]):
        raise ValueError(f"{where}: field 'category_id' must be an integer, got {ann['category_id']!r}")
    bbox = ann["bbox"]
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        raise ValueError(f"{where}: field 'bbox' must be 4 numbers [x, y, width, height], got {bbox!r}")
    if not all(math.isfinite(v) for v in bbox):
        raise ValueError(f"{where}: field 'bbox' has a non-finite value: {bbox!r}")
    if bbox[2] < 0 or bbox[3] < 0:
        raise ValueError(f"{where}: field 'bbox' has a negative width or height: {bbox!r}")


# A polygon segmentation: numbers and brackets only (an RLE segmentation is an object and is kept)
_POLYGONS = re.compile(rb'"segmentation"\s*:\s*\[[\[\]0-9.,eE+\-\s]*\]')
_SEGMENTATION_KEY = b'"segmentation"'
# An annotation object once its polygon is cut out (flat: no nested object; has a 'bbox')
_FLAT_ANNOTATION = re.compile(rb'\{[^{}]*"bbox"[^{}]*\}')
_NUMBER_TYPES = (int, float)
NO_CATEGORY = np.iinfo(np.int64).min  # an annotation without 'category_id' (COCO allows it; training does not)


def _without_polygons(path: Path, block: int = 1 << 24) -> bytes:
    """The file's bytes with every polygon segmentation replaced by ``[]``: most of a COCO file, and no reader here
    uses it. Read in blocks; a polygon is cut out only once the next "segmentation" key (or the end of the file)
    shows that it is complete, so at most one block and one polygon are held besides the result."""
    out = io.BytesIO()
    rest = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(block)
            buf = rest + chunk
            if not chunk:
                out.write(_POLYGONS.sub(b'"segmentation":[]', buf))
                return out.getvalue()
            cut = buf.rfind(_SEGMENTATION_KEY)
            if cut < 0:  # no key here: keep a tail that may hold the start of one
                cut = max(0, len(buf) - len(_SEGMENTATION_KEY))
            out.write(_POLYGONS.sub(b'"segmentation":[]', buf[:cut]))
            rest = buf[cut:]


class _CutTooMuch(Exception):
    """`_FLAT_ANNOTATION` removed an image or category entry (one with a 'bbox' field)."""


@dataclass
class CocoIndex:
    """What the readers here keep of a COCO file, as arrays (no Python object per box).

    Images in file order: `image_ids`, `files` (None where 'file_name' is missing), `sizes` (N,2) width,
    height (0 where not given). Annotations in file order: `ann_image` (image id), `ann_category` (category id,
    `NO_CATEGORY` where absent), `ann_crowd`, `bbox` (M,4) [x, y, width, height]. `categories`: the category
    dicts with all their fields (wnid, node, ...).
    """

    image_ids: np.ndarray
    files: list[str | None]
    sizes: np.ndarray
    ann_image: np.ndarray
    ann_category: np.ndarray
    ann_crowd: np.ndarray
    bbox: np.ndarray
    categories: list[dict]
    #: boxes an annotation marks "difficult" (VOC's flag, kept by `yolo9000 data convert --to coco`)
    ann_difficult: np.ndarray | None = None


def _image_rows(items: Iterable, source: str) -> tuple[np.ndarray, list[str | None], np.ndarray]:
    ids: dict[object, int] = {}
    files: list[str | None] = []
    sizes = array("d")
    for k, im in _with_unique_ids(items, "images", "image", source, ids):
        _check_image(k, im, source)
        name = im.get("file_name")
        files.append(None if name is None else str(name))
        sizes.extend((float(im.get("width", 0) or 0), float(im.get("height", 0) or 0)))
    return (
        np.fromiter(ids, dtype=np.int64, count=len(ids)),
        files,
        np.frombuffer(sizes, dtype=np.float64).reshape(-1, 2),
    )


def _annotation_rows(items: Iterable, image_ids: np.ndarray, source: str) -> tuple[np.ndarray, ...]:
    """(image id, category id, crowd, bbox (M,4)) arrays of the annotations, each checked as it comes
    (`_check_annotation` says what is wrong with one that fails the quick test); unique annotation ids and known
    image ids are checked over the arrays at the end."""
    iids, cids, aids, flags = array("q"), array("q"), array("q"), array("b")
    boxes = array("d")
    inf = math.inf
    for k, ann in enumerate(items):
        try:  # the quick test of a well-formed annotation; anything else goes to _check_annotation
            iid, aid, cid, bbox = ann["image_id"], ann.get("id"), ann.get("category_id", NO_CATEGORY), ann["bbox"]
            x, y, w, h = bbox
            ok = (
                type(iid) is int
                and type(aid) is int
                and type(cid) is int
                and type(bbox) is list
                and type(x) in _NUMBER_TYPES
                and type(y) in _NUMBER_TYPES
                and type(w) in _NUMBER_TYPES
                and type(h) in _NUMBER_TYPES
                and -inf < x < inf
                and -inf < y < inf
                and 0 <= w < inf
                and 0 <= h < inf
            )
        except (TypeError, KeyError, ValueError, AttributeError):
            ok = False
        if not ok:
            _check_annotation(k, ann, source)  # raises, unless only the id or category_id is absent
            iid, aid, cid, bbox = ann["image_id"], ann.get("id"), ann.get("category_id", NO_CATEGORY), ann["bbox"]
        iids.append(iid)
        cids.append(cid)
        aids.append(0 if aid is None else aid)
        flags.append((aid is not None) | (bool(ann.get("iscrowd", 0)) << 1) | (bool(ann.get("difficult", 0)) << 2))
        boxes.extend(bbox)
    image = np.frombuffer(iids, dtype=np.int64)
    ann_ids = np.frombuffer(aids, dtype=np.int64)
    flag = np.frombuffer(flags, dtype=np.int8)
    has_id = (flag & 1).astype(bool)
    # repeated annotation ids: the first repeat in file order, with the place of the id's first use
    where = np.flatnonzero(has_id)
    order = where[np.argsort(ann_ids[where], kind="stable")]
    same = np.flatnonzero(ann_ids[order][1:] == ann_ids[order][:-1])
    if len(same):
        second = order[same + 1]
        j = int(np.argmin(second))
        k = int(second[j])
        aid = int(ann_ids[k])
        first = int(order[np.searchsorted(ann_ids[order], aid)])
        raise ValueError(_duplicate_annotation(source, aid, first, k))
    known = np.isin(image, image_ids)
    if not known.all():
        k = int(np.argmin(known))
        raise ValueError(_unknown_image(source, k, int(ann_ids[k]) if has_id[k] else None, int(image[k])))
    bbox_rows = np.frombuffer(boxes, dtype=np.float64).reshape(-1, 4)
    return image, np.frombuffer(cids, dtype=np.int64), (flag & 2).astype(bool), bbox_rows, (flag & 4).astype(bool)


def _index(images: Iterable, annotations: Iterable, categories: list, source: str) -> CocoIndex:
    image_ids, files, sizes = _image_rows(images, source)
    _unique_ids(categories, "categories", "category", source)
    ann_image, ann_category, crowd, bbox, difficult = _annotation_rows(annotations, image_ids, source)
    return CocoIndex(image_ids, files, sizes, ann_image, ann_category, crowd, bbox, list(categories), difficult)


def read_coco_index(path: str | Path, keys: Sequence[str] = COCO_KEYS) -> CocoIndex:
    """Read a COCO annotation file into a `CocoIndex` in bounded memory, with the checks of `load_coco_json`.

    The file is streamed (ijson) after its polygon segmentations are cut out (regular expressions over its
    bytes, in blocks), and only what the index keeps is held: a file the size of instances_train2017.json
    needs a few hundred MB, not several GB. A file the streaming parser refuses (bad JSON or encoding, NaN),
    or with one of `keys` empty or not a list, is read by `load_coco_json` instead, for its exact one-line
    error (or, where Python's json accepts it, its index).
    """
    import ijson

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: COCO annotation file not found")
    source = str(path)
    data = _without_polygons(path)

    def items(buf: bytes, key: str) -> Iterator:
        return ijson.items(io.BytesIO(buf), f"{key}.item", use_float=True)

    def objects(key: str) -> Iterator:
        """The images or categories from `rest`, a copy without the annotation objects (each parse of the text
        costs about as much as its size, and the annotations are its bulk)."""
        for x in items(rest, key):
            if type(x) is int:  # an entry with a 'bbox' field, taken for an annotation: read the whole text
                raise _CutTooMuch
            yield x

    try:
        rest = _FLAT_ANNOTATION.sub(b"0", data)
        try:
            cats = list(objects("categories"))  # checked wherever the file has them, as validate_coco does
            index = _index(objects("images"), items(data, "annotations"), cats, source)
        except _CutTooMuch:
            cats = list(items(data, "categories"))
            index = _index(items(data, "images"), items(data, "annotations"), cats, source)
        counts = {"images": len(index.image_ids), "annotations": len(index.ann_image), "categories": len(cats)}
        if all(counts.get(key, 1) for key in keys):
            return index
    except ijson.JSONError:
        pass
    data = b""  # the fallback below reads the whole file
    full = load_coco_json(path, keys)  # the exact error, or a file only Python's json reads (NaN outside boxes)
    return _index(_listed(full, "images"), _listed(full, "annotations"), _listed(full, "categories"), source)
