"""Classification data in class folders (ImageFolder layout), each folder named by its node id -> tree node."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from wordtree.files import IMAGE_EXTENSIONS
from wordtree.tree import WordTree
from yolo9000.data.image_io import EncodedImage, read_encoded, read_image

log = logging.getLogger(__name__)

#: optional file in a class-folder root: ``folder,id`` rows naming the node of folders whose name is not a
#: node id (an id such as ``/m/0bl9f`` cannot be a folder name)
FOLDER_IDS = "class_ids.csv"


def read_folder_ids(root: Path) -> dict[str, str]:
    """``folder -> node id`` from `FOLDER_IDS` in `root` ({} when there is none); errors name file and line."""
    import csv

    path = root / FOLDER_IDS
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or [c.strip() for c in rows[0]] != ["folder", "id"]:
        raise ValueError(f"{path}:1: expected the header folder,id")
    for line, row in enumerate(rows[1:], 2):
        if not row:
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ValueError(f"{path}:{line}: expected 'folder,id', got {','.join(row)[:60]!r}")
        if row[0].strip() in out:
            raise ValueError(f"{path}:{line}: folder {row[0].strip()!r} is listed twice")
        out[row[0].strip()] = row[1].strip()
    return out


@dataclass(frozen=True)
class ClassificationSample:
    """One decoded classification image: uint8 (3,H,W) (an `EncodedImage` from `load(encoded=True)`) and its
    class node."""

    image: torch.Tensor | EncodedImage
    label: int
    path: str


class ClassFolders(torch.utils.data.Dataset):
    """`root/<id>/*.png|jpg...`: every folder is a class; with a tree, the folder name is a node's id (a wnid
    or a user id), or `root/class_ids.csv` (``folder,id`` rows) gives the id of a folder.

    Without a tree, classes are the sorted folder names (indices 0..C-1). An unknown wnid or a folder without
    images is an error naming the folder; `skip_empty=True` turns empty folders into a logged skip.
    """

    kind = "classification"

    def __init__(
        self,
        root: str | Path,
        tree: WordTree | None = None,
        *,
        skip_empty: bool = False,
        extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
        exif: bool = True,
    ) -> None:
        self.root = Path(root)
        self.exif = exif  # read_image: honour the EXIF orientation (False: the stored pixels, as Darknet)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: class folder root not found")
        folders = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise ValueError(f"{self.root}: no class folders inside (expected {self.root}/<wnid>/<images>)")
        exts = tuple(e.lower() for e in extensions)
        self.classes: list[str] = []
        self.class_nodes: list[int] = []
        files: list[str] = []
        labels: list[int] = []
        folder_ids = read_folder_ids(self.root) if tree is not None else {}
        for folder in folders:
            if tree is not None:
                node_id = folder_ids.get(folder.name, folder.name)
                if node_id not in tree and folder.name in folder_ids:
                    raise ValueError(
                        f"{self.root / FOLDER_IDS}: folder {folder.name!r} maps to {node_id!r}, not a node of the tree"
                    )
                if node_id not in tree:
                    raise ValueError(
                        f"{folder}: folder name {folder.name!r} is not a node id of the tree "
                        f"(name class folders by node id, e.g. n02084071, or map them in {FOLDER_IDS})"
                    )
                node = tree.index(node_id)
            else:
                node = len(self.classes)  # flat: dense indices over the folders kept
            imgs = sorted(p for p in folder.rglob("*") if p.suffix.lower() in exts and p.is_file())
            if not imgs:
                if skip_empty:
                    log.warning("%s: no images, skipped", folder)
                    continue
                raise ValueError(f"{folder}: class folder has no images ({', '.join(exts[:4])}, ...)")
            self.classes.append(folder.name)
            self.class_nodes.append(node)
            files += [str(p.relative_to(self.root)) for p in imgs]
            labels += [node] * len(imgs)
        if not files:
            raise ValueError(f"{self.root}: no images in any class folder")
        self.files = files
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.names = list(tree.names) if tree is not None else list(self.classes)

    def __len__(self) -> int:
        return len(self.files)

    def path(self, i: int) -> Path:
        """File of image i."""
        return self.root / self.files[i]

    def load(self, i: int, *, encoded: bool = False) -> ClassificationSample:
        """Decode image i (`encoded`: `read_encoded`, for decoding on the device)."""
        read = read_encoded if encoded else read_image
        return ClassificationSample(read(self.path(i), exif=self.exif), int(self.labels[i]), str(self.path(i)))

    def __getitem__(self, i: int) -> ClassificationSample:
        return self.load(i)
