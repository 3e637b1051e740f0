"""COCO-format detection data (JSON + image folder) with categories mapped to WordTree nodes or flat classes."""

from __future__ import annotations

import csv
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from wordtree.builder import data_dir
from wordtree.tree import WordTree
from yolo9000.data.coco_index import NO_CATEGORY, read_coco_index
from yolo9000.data.image_io import EncodedImage, read_encoded, read_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionSample:
    """One decoded detection image: uint8 (3,H,W) (an `EncodedImage` from `load(encoded=True)`), boxes (n,4)
    xyxy pixels, nodes (n,) long."""

    image: torch.Tensor | EncodedImage
    boxes: torch.Tensor
    nodes: torch.Tensor
    path: str


def category_node_id(cat: Mapping[str, object]) -> str | None:
    """The node a COCO category names itself: its "node" field (a node id: wnid or user id), else the older
    "wnid" field, else None."""
    node = cat.get("node", cat.get("wnid"))
    return None if node is None else str(node)


@functools.cache
def coco_table() -> dict[str, str]:
    """COCO's 80 category names -> wnid, from the table shipped in `wordtree/data/coco_wordnet.csv`."""
    with open(data_dir() / "coco_wordnet.csv", newline="", encoding="utf-8") as fh:
        return {r["name"].strip(): r["wnid"].strip() for r in csv.DictReader(fh)}


#: the share of category names that must be COCO's for `coco_names=True` to use the shipped table
COCO_STYLE_SHARE = 0.8


def category_nodes_of(
    categories: Sequence[Mapping[str, object]],
    tree: WordTree,
    *,
    label_map: str | None = None,
    coco_names: bool = False,
    display_names: bool = False,
    source: str = "<json>",
) -> list[int]:
    """The tree node of each COCO category (in the order given): the one rule of training and evaluation.

    First match wins:

    1. the category's own "node" (a node id: wnid or your hierarchy's id), or the older "wnid";
    2. a tree label map whose label is the category's "name" (`label_map` picks one map, else every map the
       tree carries; a name two maps send to different nodes is an error asking for one);
    3. with `coco_names`, when (nearly: `COCO_STYLE_SHARE`) every name is one of COCO's 80: the shipped COCO ->
       WordNet table (`coco_table`), where its node is in the tree;
    4. with `display_names`: the name is itself a node id of the tree, or the display name of exactly one node.

    Rules 3 and 4 are leniencies: they only ever place a category that 1 and 2 leave unplaced, so a file that
    maps under the strict rules maps the same under the lenient ones. Anything else is a one-line error naming
    the category.
    """
    if label_map is not None and label_map not in tree.label_maps:
        raise ValueError(
            f"{source}: the tree has no label map {label_map!r} (it has: "
            f"{', '.join(sorted(tree.label_maps)) or 'none'})"
        )
    maps = [tree.label_maps[label_map]] if label_map else list(tree.label_maps.values())
    by_label: dict[str, set[str]] = {}
    for m in maps:
        for lab, node in zip(m.labels, m.ids):
            by_label.setdefault(lab, set()).add(node)
    names = [str(cat.get("name", "")) for cat in categories]
    table = coco_table() if coco_names else {}
    coco_style = bool(names) and float(np.mean([n in table for n in names])) >= COCO_STYLE_SHARE
    by_display = _display_index(tree) if display_names else None
    nodes = []
    for cat, name in zip(categories, names):
        cid = cat.get("id")
        node_id = category_node_id(cat)
        if node_id is None:
            found = by_label.get(name, set())
            if len(found) > 1:
                raise ValueError(
                    f"{source}: category {name!r} (id {cid}) maps to several nodes in the tree's label maps "
                    f"({', '.join(sorted(found))}); pass a label map name"
                )
            node_id = next(iter(found)) if found else _lenient_node(name, tree, table if coco_style else {}, by_display)
        if node_id is None:
            raise ValueError(f"{source}: category {name!r} (id {cid}) {_why_unplaced(name, by_display)}")
        if node_id not in tree:
            raise ValueError(
                f"{source}: category {name!r} (id {cid}) names node {node_id} which is not a node of the tree"
            )
        nodes.append(tree.index(node_id))
    return nodes


def _display_index(tree: WordTree) -> dict[str, list[int]]:
    """Display name -> the nodes of that name (names repeat)."""
    out: dict[str, list[int]] = {}
    for i, name in enumerate(tree.names):
        out.setdefault(name, []).append(i)
    return out


def _lenient_node(
    name: str, tree: WordTree, table: Mapping[str, str], by_display: Mapping[str, list[int]] | None
) -> str | None:
    """Rules 3 and 4 of `category_nodes_of` (an empty `table`, a `by_display` of None: that rule is off)."""
    if table.get(name) in tree:
        return table[name]
    if by_display is None:
        return None
    if name in tree:  # the name is itself a node id
        return name
    found = by_display.get(name, [])
    return tree.ids[found[0]] if len(found) == 1 else None


def _why_unplaced(name: str, by_display: Mapping[str, list[int]] | None) -> str:
    if by_display is None:
        return (
            "has no 'node' or 'wnid' field and no tree label map names it; add its node id or build the tree "
            "with a map for this dataset"
        )
    n = len(by_display.get(name, []))
    return ("matches no tree node" if not n else f"matches {n} tree nodes") + (
        " (give it a 'node' id, or pass a category map)"
    )


def map_categories(
    categories: Sequence[dict],
    tree: WordTree | None = None,
    *,
    label_map: str | None = None,
    coco_names: bool = False,
    display_names: bool = False,
    source: str = "<json>",
) -> tuple[dict[int, int], list[str]]:
    """Map COCO category ids to class indices: tree nodes (`category_nodes_of`, the rule evaluation uses too,
    with the same leniencies `coco_names` / `display_names`, off by default), or 0..C-1 in id order without a
    tree. Returns ({category_id: index}, names by index).
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
    nodes = category_nodes_of(
        categories, tree, label_map=label_map, coco_names=coco_names, display_names=display_names, source=source
    )
    return dict(zip(ids, nodes)), list(tree.names)


class CocoDetection(torch.utils.data.Dataset):
    """A COCO detection file: `ds.load(i)` decodes image i with its boxes (xyxy pixels) and class nodes.

    Categories are placed in `tree` by `category_nodes_of`, the rule evaluation uses too (`label_map`,
    `coco_names` and `display_names` are its arguments; the two leniencies are off by default).

    The file is streamed into arrays (`read_coco_index`): per-image offsets into flat box and node arrays.
    Crowd boxes are skipped; boxes reaching past the image are clipped, boxes with no area inside it are
    dropped with one logged warning per file. Image files are not all checked at start: a random sample of
    `CHECK_SAMPLE` is (all of them in a smaller set, whose missing files are left out with one warning); a
    sample mostly missing is an error (probably a wrong `image_dir`), and a file found missing later is a
    logged skip of the training loader (`JointDataset`). A file without any usable box is an error (nothing to
    train on); so are duplicate ids and malformed boxes (`validate_coco`'s checks).
    """

    kind = "detection"
    #: image files checked at start (a random sample of a larger set)
    CHECK_SAMPLE = 64

    def __init__(
        self,
        ann_file: str | Path,
        image_dir: str | Path | None = None,
        tree: WordTree | None = None,
        *,
        label_map: str | None = None,
        coco_names: bool = False,
        display_names: bool = False,
        skip_empty: bool = False,
        exif: bool = True,
    ) -> None:
        self.ann_file = Path(ann_file)
        self.exif = exif  # read_image: honour the EXIF orientation (False: the stored pixels, as Darknet)
        index = read_coco_index(self.ann_file)
        src = str(self.ann_file)
        if image_dir is None:
            image_dir = self.ann_file.parent / "images"
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"{self.image_dir}: image folder for {src} not found (pass --images)")
        self.cat_to_node, self.names = map_categories(
            index.categories, tree, label_map=label_map, coco_names=coco_names, display_names=display_names, source=src
        )
        if None in index.files:
            raise ValueError(f"{src}: images[{index.files.index(None)}] needs 'id' and 'file_name'")
        no_category = index.ann_category == NO_CATEGORY
        if no_category.any():
            raise ValueError(
                f"{src}: annotations[{int(np.argmax(no_category))}] needs 'image_id', 'category_id' and 'bbox'"
            )
        cat_ids = np.fromiter(self.cat_to_node, dtype=np.int64, count=len(self.cat_to_node))
        cat_nodes = np.fromiter(self.cat_to_node.values(), dtype=np.int64, count=len(self.cat_to_node))
        by_id = np.argsort(cat_ids)
        slot = np.searchsorted(cat_ids, index.ann_category, sorter=by_id).clip(0, max(0, len(cat_ids) - 1))
        known = cat_ids[by_id][slot] == index.ann_category if len(cat_ids) else np.zeros(len(slot), bool)
        if not known.all():
            k = int(np.argmin(known))
            raise ValueError(f"{src}: annotations[{k}] refers to unknown category id {int(index.ann_category[k])}")

        # images by id; every annotation's image position, its box clipped to the size the JSON gives
        order = np.argsort(index.image_ids, kind="stable")
        ids = index.image_ids[order]
        pos = np.searchsorted(ids, index.ann_image)
        x, y, w, h = index.bbox.T
        xyxy = np.stack((x, y, x + w, y + h), axis=1)
        size = index.sizes[order][pos]  # (M,2) width, height
        sized = (size[:, 0] > 0) & (size[:, 1] > 0)
        limit = np.where(sized[:, None], np.concatenate((size, size), axis=1), np.inf)
        clipped = np.where(sized[:, None], xyxy.clip(0.0, None), xyxy)
        xyxy = np.minimum(clipped, limit)
        area = (xyxy[:, 2] - xyxy[:, 0] > 0) & (xyxy[:, 3] - xyxy[:, 1] > 0)
        use = ~index.ann_crowd & area
        dropped = int((~index.ann_crowd & ~area).sum())
        if dropped:
            log.warning("%s: skipped %d box(es) with no area inside their image", src, dropped)
        per_image = np.bincount(pos[use], minlength=len(ids))
        keep_images = np.flatnonzero(per_image > 0) if skip_empty else np.arange(len(ids))
        files = [index.files[int(k)] for k in order[keep_images]]
        keep_images = self._check_files(keep_images, files, src)
        if not len(keep_images):
            raise ValueError(f"{src}: no usable images")
        if not per_image[keep_images].any():
            crowd = int(index.ann_crowd.sum())
            raise ValueError(
                f"{src}: no usable boxes to train on ({len(index.ann_image)} annotation(s): {crowd} crowd, "
                f"{dropped} with no area inside their image)"
            )
        # flat box/node arrays grouped by image (file order kept within an image), offsets per kept image
        chosen = np.flatnonzero(use & np.isin(pos, keep_images))
        chosen = chosen[np.argsort(pos[chosen], kind="stable")]
        rank = np.full(len(ids), -1, dtype=np.int64)
        rank[keep_images] = np.arange(len(keep_images))
        counts = np.bincount(rank[pos[chosen]], minlength=len(keep_images))
        self._offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._box_rows = xyxy[chosen].astype(np.float32)
        self._node_rows = cat_nodes[by_id][slot[chosen]]
        self.image_ids = [int(i) for i in ids[keep_images]]
        self.files = [index.files[int(k)] or "" for k in order[keep_images]]

    def _check_files(self, keep: np.ndarray, files: list[str | None], src: str) -> np.ndarray:
        """`keep` (image positions, `files` their names) after checking a sample of the files: all of them up to
        `CHECK_SAMPLE` (the missing ones are left out, with one warning), else a random sample of that many, of
        which more than half missing is an error, fewer a warning (the loader skips them when reached)."""
        n = len(files)
        if n == 0:
            return keep
        sample = (
            np.arange(n) if n <= self.CHECK_SAMPLE else np.random.default_rng(0).choice(n, self.CHECK_SAMPLE, False)
        )
        missing = [int(k) for k in sample if not (self.image_dir / str(files[k])).is_file()]
        if missing and len(missing) == len(sample) and n <= self.CHECK_SAMPLE:
            raise FileNotFoundError(
                f"{self.image_dir}: none of the {n} images of {src} are there (first: {files[0]}); wrong image folder?"
            )
        if n > self.CHECK_SAMPLE and len(missing) * 2 > len(sample):
            raise FileNotFoundError(
                f"{self.image_dir}: {len(missing)} of {len(sample)} sampled images of {src} are not there "
                f"(first: {files[missing[0]]}); wrong image folder?"
            )
        if missing and n <= self.CHECK_SAMPLE:
            log.warning(
                "%s: %d image file(s) missing under %s, skipped (first: %s)",
                src,
                len(missing),
                self.image_dir,
                files[missing[0]],
            )
            return np.delete(keep, missing)
        if missing:
            log.warning(
                "%s: %d of %d sampled image files missing under %s (first: %s); missing files are skipped when "
                "the loader reaches them",
                src,
                len(missing),
                len(sample),
                self.image_dir,
                files[missing[0]],
            )
        return keep

    def __len__(self) -> int:
        return len(self.image_ids)

    def path(self, i: int) -> Path:
        """File of image i."""
        return self.image_dir / self.files[i]

    def boxes(self, i: int) -> np.ndarray:
        """Boxes of image i, (n,4) xyxy pixels (no decoding)."""
        return self._box_rows[self._offsets[i] : self._offsets[i + 1]]

    def nodes(self, i: int) -> np.ndarray:
        """Class nodes of the boxes of image i, (n,)."""
        return self._node_rows[self._offsets[i] : self._offsets[i + 1]]

    def load(self, i: int, *, encoded: bool = False) -> DetectionSample:
        """Decode image i (`encoded`: `read_encoded`, for decoding on the device); boxes are clipped to the
        decoded image size. A missing file is a FileNotFoundError (the loader logs and skips it)."""
        path = self.path(i)
        img = (read_encoded if encoded else read_image)(path, exif=self.exif)
        h, w = img.shape[1:]
        boxes = np.minimum(np.maximum(self.boxes(i), np.float32(0)), np.array([w, h, w, h], dtype=np.float32))
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return DetectionSample(img, torch.from_numpy(boxes[keep]), torch.from_numpy(self.nodes(i)[keep]), str(path))

    def __getitem__(self, i: int) -> DetectionSample:
        return self.load(i)
