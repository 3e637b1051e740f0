"""Classification data in class folders (ImageFolder layout), each folder named by WordNet id -> tree node."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from wordtree.files import IMAGE_EXTENSIONS
from yolo9000.data.image_io import read_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassificationSample:
    """One decoded classification image: uint8 (3,H,W) and its class node."""

    image: torch.Tensor
    label: int
    path: str


class ClassFolders(torch.utils.data.Dataset):
    """`root/<wnid>/*.png|jpg...`: every folder is a class; with a tree, the folder name must be a node's wnid.

    Without a tree, classes are the sorted folder names (indices 0..C-1). An unknown wnid or a folder without
    images is an error naming the folder; `skip_empty=True` turns empty folders into a logged skip.
    """

    kind = "classification"

    def __init__(
        self,
        root: str | Path,
        tree=None,
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
        for folder in folders:
            if tree is not None:
                if folder.name not in tree:
                    raise ValueError(
                        f"{folder}: folder name {folder.name!r} is not a wnid of the tree "
                        f"(class folders must be named by WordNet id, e.g. n02084071)"
                    )
                node = tree.index(folder.name)
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

    def load(self, i: int) -> ClassificationSample:
        """Decode image i."""
        return ClassificationSample(read_image(self.path(i), exif=self.exif), int(self.labels[i]), str(self.path(i)))

    def __getitem__(self, i: int) -> ClassificationSample:
        return self.load(i)
