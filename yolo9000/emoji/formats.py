"""The emoji world in other dataset formats (`yolo9000 emoji-world OUT --formats coco,yolo,darknet,voc,oi`).

The world itself is COCO + class folders (format ``coco``: `yolo9000.emoji.world`). Every other format is written
from the world's own files, through `yolo9000.data.writers`, into a folder of the world:

    yolo/      Ultralytics YOLO: data.yaml, images/{train,val}/, labels/{train,val}/ (detection pictures, coarse
               boxes; val = the test split at fine labels). No classification-only pictures: train with
               --folders classification beside it.
    darknet/   YOLO9000's combine9k: emoji.data, train.list, valid.list, emoji.{names,labels,tree,map},
               images/, labels/ (boxes, and x = y = 0 lines for the class folders' pictures).
    voc/       Pascal VOC year folder: Annotations/, JPEGImages/, ImageSets/Main/{trainval,test}.txt,
               labelmap.txt (detection pictures only, as yolo/).
    oi/        Open Images: openimages.yaml, images/, boxes.csv, labels.csv, classes.csv, hierarchy.json,
               validation/, and wordtree.json. Always in the habitat taxonomy (a hierarchy of user ids, as Open
               Images' own is of MIDs): boxes at the habitat label of their fine class (from
               detection_fine/annotations.json), the class folders' pictures at their fine class's habitat id,
               the test split at fine habitat ids: the labels of `emoji-world --taxonomy habitat` with the
               same seed, whose wordtree.json is oi/wordtree.json.

Pictures are symlinks to the world's own files. A format folder that is there is kept as it is (each is written
whole into a hidden sibling and renamed when complete), so running the command again writes only the formats
missing; replacing the world (--force) removes them with it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from wordtree.tree import WordTree
from yolo9000.data.labelled import LabelledSource, class_nodes
from yolo9000.data.writers import (
    ClassList,
    Picture,
    pictures_of,
    write_darknet,
    write_open_images,
    write_voc,
    write_yolo,
)
from yolo9000.emoji.classes import EmojiClass, coarse_id, coarse_of, fine_id, select_classes

log = logging.getLogger(__name__)

#: the formats `--formats` takes; "coco" is the world itself
FORMATS = ("coco", "yolo", "darknet", "voc", "oi")
_ALIASES = {"openimages": "oi", "open-images": "oi", "ultralytics": "yolo", "pascal-voc": "voc"}
#: the folder of each extra format in the world, and the file that makes it complete
FOLDERS: dict[str, tuple[str, str]] = {
    "yolo": ("yolo", "data.yaml"),
    "darknet": ("darknet", "emoji.data"),
    "voc": ("voc", "labelmap.txt"),
    "oi": ("oi", "openimages.yaml"),
}
#: the stem of the Darknet files (emoji.data, emoji.names, ...)
DARKNET_NAME = "emoji"


def parse_formats(text: str) -> list[str]:
    """The formats of a comma-separated list (in `FORMATS` order, each once); a ValueError naming an unknown one."""
    asked = [_ALIASES.get(f.strip().lower(), f.strip().lower()) for f in text.split(",") if f.strip()]
    unknown = [f for f in asked if f not in FORMATS]
    if unknown:
        raise ValueError(f"--formats: unknown format {unknown[0]!r} (choose from {', '.join(FORMATS)})")
    if not asked:
        raise ValueError(f"--formats: name at least one format ({', '.join(FORMATS)})")
    return [f for f in FORMATS if f in asked]


def format_folder(world: Path, fmt: str) -> Path:
    """The folder of an extra format in `world`."""
    return Path(world) / FOLDERS[fmt][0]


def train_command(world: Path, fmt: str) -> str:
    """The `yolo9000 train` command line that trains on the world in format `fmt`."""
    w = Path(world)
    tail = f"--cfg emoji-tiny --out runs/{w.name}-{fmt}"
    if fmt == "coco":
        return (
            f"yolo9000 train --coco {w / 'detection/annotations.json'} --folders {w / 'classification'} "
            f"--tree {w / 'wordtree.json'} {tail}"
        )
    if fmt == "darknet":
        return f"yolo9000 train --data {w / 'darknet' / (DARKNET_NAME + '.data')} --tree {w / 'wordtree.json'} {tail}"
    if fmt == "oi":
        return f"yolo9000 train --data {w / 'oi/openimages.yaml'} --tree {w / 'oi/wordtree.json'} {tail}"
    data = w / "yolo/data.yaml" if fmt == "yolo" else w / "voc"
    return f"yolo9000 train --data {data} --folders {w / 'classification'} --tree {w / 'wordtree.json'} {tail}"


def write_formats(world: str | Path, formats: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    """Write each extra format of `formats` into its folder of the finished world `world` (`FOLDERS`); returns
    each format's counts (`yolo9000.data.writers`), None for a format already there (kept as it is). A folder of
    that name that does not hold the format is a one-line ValueError."""
    world = Path(world)
    done: dict[str, dict[str, Any] | None] = {}
    for fmt in formats:
        if fmt == "coco":
            continue
        if fmt not in FOLDERS:
            raise ValueError(f"unknown emoji world format {fmt!r} (choose from {', '.join(FORMATS)})")
        folder, marker = FOLDERS[fmt]
        out = world / folder
        if (out / marker).is_file():
            done[fmt] = None
            continue
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"{out}: is there but holds no {marker}; move it away to write the {fmt} format")
        log.info("writing the emoji world as %s into %s", fmt, out)
        done[fmt] = _WRITE[fmt](world, out)
    return done


# ---- reading the world --------------------------------------------------------------------------------------
def _sources(world: Path) -> tuple[LabelledSource, LabelledSource, LabelledSource]:
    """The world's detection boxes, class folders and test boxes as sources."""
    from yolo9000.data.sources import CocoSource, FolderSource

    det = CocoSource(world / "detection" / "annotations.json")
    cls = FolderSource(world / "classification")
    test = CocoSource(world / "test" / "annotations.json")
    return det, cls, test


def _pictures(source: LabelledSource, node_of: np.ndarray) -> list[Picture]:
    return list(pictures_of(source, node_of))


def _in_world_tree(world: Path) -> tuple[list[Picture], list[Picture], ClassList]:
    """(training pictures: detection boxes + class folders, test pictures, classes) in the world's own tree."""
    tree = WordTree.load(world / "wordtree.json")
    det, cls, test = _sources(world)

    def nodes(s: LabelledSource) -> np.ndarray:
        return class_nodes(s.classes, tree, source=str(s.origin))

    train = _pictures(det, nodes(det)) + _pictures(cls, nodes(cls))
    return train, _pictures(test, nodes(test)), ClassList.of_tree(tree)


def _readme(world: Path, fmt: str, what: str) -> str:
    return (
        f"# The emoji world as {what}\n\n"
        f"Written by `yolo9000 emoji-world --formats {fmt}` from the world's COCO files and class folders (the\n"
        "pictures are links to the world's own files). Train on it:\n\n"
        f"    {train_command(world.absolute(), fmt)}\n"
    )


def _write_yolo(world: Path, out: Path) -> dict[str, Any]:
    train, test, classes = _in_world_tree(world)
    extra = {"README.md": _readme(world, "yolo", "an Ultralytics YOLO dataset")}
    return write_yolo(train, classes, out, val=test, extra=extra)


def _write_darknet(world: Path, out: Path) -> dict[str, Any]:
    train, test, classes = _in_world_tree(world)
    extra = {"README.md": _readme(world, "darknet", "Darknet's combine9k files")}
    return write_darknet(train, classes, out, val=test, name=DARKNET_NAME, extra=extra)


def _write_voc(world: Path, out: Path) -> dict[str, Any]:
    train, test, classes = _in_world_tree(world)
    extra = {"README.md": _readme(world, "voc", "a Pascal VOC year folder")}
    return write_voc(train, classes, out, val=test, extra=extra)


# ---- Open Images: the habitat taxonomy ------------------------------------------------------------------------
def habitat_tree(class_set: str) -> tuple[WordTree, str]:
    """The habitat world's tree for `class_set`, and its wordtree.json text (the bytes `emoji-world --taxonomy
    habitat` writes)."""
    from yolo9000.emoji.world import _build_tree

    with tempfile.TemporaryDirectory() as tmp:
        _build_tree(select_classes(class_set), Path(tmp), "habitat")
        text = (Path(tmp) / "wordtree.json").read_text(encoding="utf-8")
        return WordTree.load(Path(tmp) / "wordtree.json"), text


def _habitat_nodes(
    source: LabelledSource, by_id: dict[str, EmojiClass], tree: WordTree, node: Callable[[EmojiClass], str]
) -> np.ndarray:
    """The habitat tree node of each class of `source` (fine classes named by their id in the world's taxonomy),
    by `node(fine class)`."""
    out = np.empty(len(source.classes), dtype=np.int64)
    for k, c in enumerate(source.classes):
        fine = by_id.get(c.node or c.name)
        if fine is None:
            raise ValueError(f"{source.origin}: class {c.name!r} ({c.node}) is not a fine class of the emoji world")
        out[k] = tree.index(node(fine))
    return out


def _write_oi(world: Path, out: Path) -> dict[str, Any]:
    from yolo9000.data.sources import CocoSource
    from yolo9000.emoji.world import read_manifest

    config = (read_manifest(world) or {}).get("config", {})
    class_set, taxonomy = config.get("class_set", "core"), config.get("taxonomy", "wordnet")
    fine = select_classes(class_set)
    by_id = {fine_id(c, taxonomy): c for c in fine}
    tree, text = habitat_tree(class_set)

    def coarse(c: EmojiClass) -> str:
        return coarse_id(coarse_of(c, "habitat"), "habitat")

    def fine_node(c: EmojiClass) -> str:
        return fine_id(c, "habitat")

    # the boxes of the detection split, at fine labels: each box's habitat label follows from its fine class
    det = CocoSource(world / "detection_fine" / "annotations.json", images=world / "detection" / "images")
    _, cls, test = _sources(world)
    train = _pictures(det, _habitat_nodes(det, by_id, tree, coarse))
    train += _pictures(cls, _habitat_nodes(cls, by_id, tree, fine_node))
    held = _pictures(test, _habitat_nodes(test, by_id, tree, fine_node))
    extra = {"wordtree.json": text, "README.md": _readme(world, "oi", "an Open Images dataset (habitat taxonomy)")}
    return write_open_images(train, ClassList.of_tree(tree), out, val=held, extra=extra)


_WRITE: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "yolo": _write_yolo,
    "darknet": _write_darknet,
    "voc": _write_voc,
    "oi": _write_oi,
}


def describe(fmt: str, counts: dict[str, Any] | None) -> str:
    """One line about a format folder: kept, or what was written and left out."""
    from wordtree.files import plural

    if counts is None:
        return "kept (already there)"
    parts = [plural(counts["images"], "picture"), plural(counts["boxes"], "box", "boxes")]
    if counts["classification_images"]:
        parts.append(f"{counts['classification_images']} classification-only")
    if counts["left_out_classification"]:
        parts.append(f"{counts['left_out_classification']} classification-only left out (in classification/)")
    val = counts.get("val")
    if val:
        parts.append(f"test split: {plural(val['images'], 'picture')}")
    return "written: " + ", ".join(parts)
