"""`open_source`: the dataset a path names, in whichever format it is (COCO JSON, class folders, an Ultralytics
data.yaml, a Darknet .data, a Pascal VOC year folder, an Open Images YAML), as a `LabelledSource`. Also the COCO and
class-folder readers in that shape (`CocoSource`, `FolderSource`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wordtree.tree import WordTree
from yolo9000.data.coco import category_node_id
from yolo9000.data.coco_index import NO_CATEGORY, read_coco_index
from yolo9000.data.folders import FOLDER_IDS, ClassFolders, read_folder_ids
from yolo9000.data.labelled import (
    BACKGROUND,
    CLASSIFICATION,
    DETECTION,
    ImageLabels,
    LabelledDataset,
    LabelledSource,
    SourceClass,
    class_nodes,
    image_labels,
    split_by_kind,
)

#: the forms `open_source` accepts, for messages
FORMS = (
    "a COCO .json, a class-folder root, an Ultralytics data.yaml, a Darknet .data, a Pascal VOC year folder "
    "(VOCdevkit/VOC2007) or an Open Images .yaml"
)
#: the keys that make a YAML an Open Images description rather than an Ultralytics data.yaml
OPEN_IMAGES_KEYS = ("boxes", "labels", "classes", "hierarchy")


class CocoSource(LabelledSource):
    """A COCO detection file (`read_coco_index`: streamed, checked) with its image folder (default: JSON_DIR/images).
    Crowd boxes and boxes without area are left out (as `CocoDetection`); an image without boxes is a background
    picture."""

    format = "coco"

    def __init__(self, path: str | Path, split: str | None = None, *, images: str | Path | None = None) -> None:
        super().__init__()
        self.origin = Path(path)
        index = read_coco_index(self.origin)
        self.image_dir = Path(images) if images is not None else self.origin.parent / "images"
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"{self.image_dir}: image folder of {self.origin} not found")
        if None in index.files:
            raise ValueError(f"{self.origin}: images[{index.files.index(None)}] needs 'file_name'")
        if (index.ann_category == NO_CATEGORY).any():
            k = int(np.argmax(index.ann_category == NO_CATEGORY))
            raise ValueError(f"{self.origin}: annotations[{k}] needs 'category_id'")
        cat_ids = np.array([int(c["id"]) for c in index.categories], dtype=np.int64)
        self.classes = [SourceClass(str(c.get("name", c["id"])), category_node_id(c)) for c in index.categories]
        order = np.argsort(cat_ids)
        slot = np.searchsorted(cat_ids, index.ann_category, sorter=order).clip(0, max(0, len(cat_ids) - 1))
        if len(cat_ids) == 0 or not (cat_ids[order][slot] == index.ann_category).all():
            known = cat_ids[order][slot] == index.ann_category if len(cat_ids) else np.zeros(len(slot), bool)
            k = int(np.argmin(known))
            raise ValueError(f"{self.origin}: annotations[{k}] refers to unknown category id {index.ann_category[k]}")
        x, y, w, h = index.bbox.T
        use = ~index.ann_crowd & (w > 0) & (h > 0)
        pos = np.searchsorted(np.sort(index.image_ids), index.ann_image)
        by_id = np.argsort(index.image_ids, kind="stable")
        image_of = by_id[pos]  # each annotation's image position in file order
        chosen = np.flatnonzero(use)
        chosen = chosen[np.argsort(image_of[chosen], kind="stable")]
        counts = np.bincount(image_of[chosen], minlength=len(index.image_ids))
        self._offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._boxes = np.stack((x, y, x + w, y + h), axis=1)[chosen]
        self._classes = order[slot[chosen]]
        hard = index.ann_difficult if index.ann_difficult is not None else np.zeros(len(index.ann_image), bool)
        self._difficult = hard[chosen]
        self._sizes = index.sizes.astype(np.int64)
        self.files = [str(f) for f in index.files]
        self._kinds = np.where(counts > 0, DETECTION, BACKGROUND).astype(np.int8)

    def __len__(self) -> int:
        return len(self.files)

    def path(self, i: int) -> Path:
        """File of picture i."""
        return self.image_dir / self.files[i]

    def labels(self, i: int) -> ImageLabels:
        """Boxes in pixels, as the file gives them."""
        a, b = self._offsets[i], self._offsets[i + 1]
        w, h = (int(v) for v in self._sizes[i])
        size = (w, h) if w and h else None
        return image_labels(self._boxes[a:b], self._classes[a:b], self._difficult[a:b], size=size)

    def kinds(self) -> np.ndarray:
        """Detection where the image has a box, else background."""
        return self._kinds


class FolderSource(LabelledSource):
    """Class folders (`root/<id>/<pictures>`, `class_ids.csv` for folders not named by id): every picture is a
    classification-only one; a class is its folder, naming the node by the folder name (or class_ids.csv)."""

    format = "folders"

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        super().__init__()
        self.origin = Path(root)
        folders = ClassFolders(self.origin, None, skip_empty=True)
        ids = read_folder_ids(self.origin) if (self.origin / FOLDER_IDS).is_file() else {}
        self.classes = [SourceClass(name, ids.get(name, name)) for name in folders.classes]
        self.files = folders.files
        self._labels = folders.labels.numpy()

    def __len__(self) -> int:
        return len(self.files)

    def path(self, i: int) -> Path:
        """File of picture i."""
        return self.origin / self.files[i]

    def labels(self, i: int) -> ImageLabels:
        """The picture's folder class."""
        return image_labels(label=int(self._labels[i]))

    def kinds(self) -> np.ndarray:
        """All classification-only."""
        return np.full(len(self.files), CLASSIFICATION, dtype=np.int8)


def _yaml_keys(path: Path) -> set[str]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}{where}: not valid YAML") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping (an Ultralytics data.yaml or an Open Images description)")
    keys = {str(k) for k in data}
    for value in data.values():  # an Open Images description with splits: train: {boxes: ...}
        if isinstance(value, dict):
            keys |= {str(k) for k in value}
    return keys


def source_format(path: str | Path) -> str:
    """The format of the dataset at `path`: coco, folders, yolo, darknet, voc or openimages (a one-line error
    naming the path otherwise)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: dataset not found (expected {FORMS})")
    if p.is_dir():
        if (p / "Annotations").is_dir() and (p / "ImageSets").is_dir():
            return "voc"
        for name, fmt in (("data.yaml", "yolo"), ("openimages.yaml", "openimages")):
            if (p / name).is_file():
                return fmt
        return "folders"
    suffix = p.suffix.lower()
    if suffix == ".json":
        return "coco"
    if suffix == ".data":
        return "darknet"
    if suffix in (".yaml", ".yml"):
        keys = _yaml_keys(p)
        return "openimages" if keys & set(OPEN_IMAGES_KEYS) and "names" not in keys else "yolo"
    raise ValueError(f"{p}: not a dataset this reads (expected {FORMS})")


def open_source(path: str | Path, split: str | None = None, *, images: str | Path | None = None) -> LabelledSource:
    """The dataset at `path` as a `LabelledSource`: `split` picks a split of a file that has several (default: its
    training split), `images` the image folder of a COCO file."""
    p = Path(path)
    fmt = source_format(p)
    if fmt == "coco":
        return CocoSource(p, split, images=images)
    if images is not None:
        raise ValueError(f"{p}: --images is for a COCO file; a {fmt} dataset names its own pictures")
    if fmt == "folders":
        return FolderSource(p, split)
    if fmt == "voc":
        from yolo9000.data.voc import VocSource

        return VocSource(p, split, classes=voc_label_map(p))
    if fmt == "darknet":
        from yolo9000.data.darknet_lists import DarknetListSource

        return DarknetListSource(p, split)
    if fmt == "yolo":
        from yolo9000.data.ultralytics import UltralyticsSource

        return UltralyticsSource(p / "data.yaml" if p.is_dir() else p, split)
    from yolo9000.data.open_images import OpenImagesSource

    return OpenImagesSource(p / "openimages.yaml" if p.is_dir() else p, split)


#: CVAT's class list beside a VOC export (``name:r,g,b:parts:actions`` lines): the classes of a VOC folder whose
#: names are not VOC's 20
VOC_LABEL_MAP = "labelmap.txt"


def voc_label_map(year_dir: Path) -> list[str] | None:
    """The class names of `year_dir/labelmap.txt` (CVAT's VOC export form), or None when there is none (VOC's 20)."""
    path = year_dir / VOC_LABEL_MAP
    if not path.is_file():
        return None
    names = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        name = text.split(":", 1)[0].strip()
        if name == "background":  # CVAT lists its background label first; it is no class of the boxes
            continue
        if not name:
            raise ValueError(f"{path}:{line}: expected 'name:r,g,b::', got {text[:60]!r}")
        names.append(name)
    if not names:
        raise ValueError(f"{path}: names no class")
    return names


def default_val_split(path: str | Path) -> str | None:
    """The held-out split of the dataset at `path` (`--val-data` without `--val-split`): Ultralytics' `val`,
    Darknet's `valid`, VOC's `test` (`val` where the year has no test list), Open Images' `validation`; None for
    a format without splits (COCO file, class folders)."""
    fmt = source_format(path)
    p = Path(path)
    if fmt == "voc":
        return "test" if (p / "ImageSets" / "Main" / "test.txt").is_file() else "val"
    return {"yolo": "val", "darknet": "valid", "openimages": "validation"}.get(fmt)


def flat_names(sources: Sequence[LabelledSource]) -> list[str]:
    """The class names of datasets trained without a tree: every source must name the same classes in the same
    order (a tree is what puts different label sets in one space)."""
    first = [c.name for c in sources[0].classes]
    for s in sources[1:]:
        if [c.name for c in s.classes] != first:
            raise ValueError(
                f"{s.origin}: its classes differ from those of {sources[0].origin}; datasets with different "
                "classes need a --tree to put both label sets in one space"
            )
    return first


def labelled_datasets(
    sources: Sequence[LabelledSource],
    tree: WordTree | None,
    *,
    names: dict[str, str] | None = None,
    label_map: str | None = None,
    exif: bool = True,
) -> tuple[list[LabelledDataset], list[LabelledDataset], list[str]]:
    """The detection and classification datasets of `sources` (`split_by_kind`), their classes placed in `tree`
    (`class_nodes`: every class that places nowhere in one error) or, without a tree, the shared flat classes;
    returns (detection parts, classification parts, class names of the model)."""
    det: list[LabelledDataset] = []
    cls: list[LabelledDataset] = []
    model_names = list(tree.names) if tree is not None else flat_names(sources)
    for s in sources:
        if tree is not None:
            node_of = class_nodes(s.classes, tree, names=names, label_map=label_map, source=str(s.origin))
        else:
            node_of = np.arange(len(s.classes), dtype=np.int64)
        d, c = split_by_kind(LabelledDataset(s, node_of, model_names, exif=exif))
        det += [d] if d is not None else []
        cls += [c] if c is not None else []
    return det, cls, model_names
