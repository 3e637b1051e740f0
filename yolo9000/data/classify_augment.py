"""Classification augmentation (torchvision.transforms.v2): the usual ImageNet recipe for training classifiers.

Training: a random crop of the picture (`RandomResizedCrop`: 8%..100% of its area, aspect 3/4..4/3) resized to
the input size, a horizontal flip, a mild colour jitter, then float [0, 1]. Evaluation: the shorter side resized
to size / .875 and the centre size x size crop, as float [0, 1].

`AugmentedFolders` applies a transform to class-folder pictures with a seed given per picture (the v2 transforms
draw from torch's global generator, re-seeded around each picture), so the augmentation of every picture is a
function of the run's seed and its position in the run: the same in a DataLoader worker or in the main process,
and again after resuming. `collate_classification` gives the trainer's batch: images, `Targets` of
classification-only pictures (their class in `label`), and an empty tensor where detection batches carry their
HSV draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torchvision.transforms import v2

from yolo9000.data.folders import ClassFolders
from yolo9000.detection.targets import Targets

#: the crop's share of the picture's area, and its aspect ratio (torchvision's and the ImageNet recipe's)
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
#: mild colour jitter: brightness, contrast and saturation factors in 1 +- .2, no hue shift
JITTER = (0.8, 1.2)
#: evaluation: the centre crop's share of the resized shorter side (224 of 256)
EVAL_CROP = 0.875

Range = tuple[float, float]


@dataclass(frozen=True)
class ClassifyAugment:
    """The training augmentation of a classifier: crop `size`, crop area `scale` and aspect `ratio`, `flip`,
    and the colour jitter's factor ranges (a range (1, 1), or (0, 0) for `hue`, leaves that property alone)."""

    size: int
    scale: Range = CROP_SCALE
    ratio: Range = CROP_RATIO
    flip: bool = True
    brightness: Range = JITTER
    contrast: Range = JITTER
    saturation: Range = JITTER
    hue: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"augmentation size must be positive, got {self.size}")
        low, high = self.scale
        if not 0 < low <= high <= 1:
            raise ValueError(f"crop scale {low} {high}: expected 0 < MIN <= MAX <= 1 (shares of the area)")
        for name in ("brightness", "contrast", "saturation"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} jitter takes factors 0 <= MIN <= MAX, got {low} {high}")
        if not -0.5 <= self.hue[0] <= self.hue[1] <= 0.5:
            raise ValueError(f"hue jitter takes shifts -.5 <= MIN <= MAX <= .5, got {self.hue[0]} {self.hue[1]}")


def factor_range(value: float | None, default: Range = JITTER) -> Range:
    """A Darknet-style factor (`--saturation S`, `--exposure E`: scaled by 1/S..S) as a jitter range; None:
    `default`."""
    if value is None:
        return default
    return (min(value, 1 / value), max(value, 1 / value))


def train_transform(aug: ClassifyAugment) -> v2.Compose:
    """uint8 (3, H, W) -> float (3, size, size) in [0, 1]: random crop, flip, colour jitter."""
    steps: list[v2.Transform] = [v2.RandomResizedCrop(aug.size, scale=aug.scale, ratio=aug.ratio, antialias=True)]
    if aug.flip:
        steps.append(v2.RandomHorizontalFlip())
    steps.append(
        v2.ColorJitter(brightness=aug.brightness, contrast=aug.contrast, saturation=aug.saturation, hue=aug.hue)
    )
    steps.append(v2.ToDtype(torch.float32, scale=True))
    return v2.Compose(steps)


def eval_transform(size: int, crop: float = EVAL_CROP) -> v2.Compose:
    """uint8 (3, H, W) -> float (3, size, size) in [0, 1]: the shorter side resized to size / crop, the centre
    size x size."""
    if not 0 < crop <= 1:
        raise ValueError(f"centre crop share must lie in (0, 1], got {crop}")
    return v2.Compose(
        [
            v2.Resize(round(size / crop), antialias=True),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )


class AugmentedFolders(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """Class-folder pictures through `transform`, indexed by (picture, seed): the transform's random draws
    come from `seed` alone (the caller's torch generator state is put back after each picture)."""

    def __init__(self, folders: ClassFolders, transform: v2.Transform) -> None:
        self.folders = folders
        self.transform = transform

    def __len__(self) -> int:
        return len(self.folders)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, seed = key
        sample = self.folders.load(index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            image = self.transform(sample.image)
        return image, sample.label


def collate_classification(batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, Targets, torch.Tensor]:
    """(images (B, 3, S, S), `Targets` of classification-only pictures, an empty tensor for the HSV draws)."""
    images = torch.stack([image for image, _ in batch])
    labels = torch.tensor([label for _, label in batch], dtype=torch.long)
    b = len(batch)
    targets = Targets(
        boxes=torch.zeros(b, 1, 4),
        nodes=torch.zeros(b, 1, dtype=torch.long),
        valid=torch.zeros(b, 1, dtype=torch.bool),
        is_cls=torch.ones(b, dtype=torch.bool),
        label=labels,
    )
    return images, targets, torch.empty(0)
