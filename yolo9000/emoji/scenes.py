"""Composing one emoji-world picture: a background, clutter, emoji instances placed without hiding each other
too much, occluders, and the tight boxes of what stays visible.

`WorldConfig` holds every setting that changes a world's bytes; each picture is drawn from its own numpy
Generator seeded by (seed, split, index), so pictures can be drawn in any order or process.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from yolo9000.emoji.classes import CLUTTER, TAXONOMIES, EmojiClass, select_classes
from yolo9000.emoji.render import (
    Placed,
    Scene,
    SpriteBank,
    background,
    default_font_path,
    fragment,
    make_instance,
    occluder,
)

GENERATOR_VERSION = 1  # bump whenever the drawing changes, so cached worlds are redrawn
_SPLIT_CODE = {"detection": 1, "classification": 2, "test": 3}


@dataclass(frozen=True)
class WorldConfig:
    """Every setting that changes a world's bytes (the cache key of `ensure_world`)."""

    seed: int = 0
    n_detection: int = 2000
    n_classification_per_class: int = 80
    n_test: int = 300
    image_size: int = 224
    cls_image_size: int = 160
    class_set: str = "core"
    max_objects: int = 5
    min_object: float = 0.15  # object's longer side, as a fraction of the image side
    max_object: float = 0.5
    occlusion: float = 0.25  # chance per object of an occluder over part of it
    clutter: float = 1.5  # mean number of clutter fragments per picture
    min_visible: float = 0.6  # no object loses more than 40% of its pixels to later drawings
    taxonomy: str = "wordnet"  # the labels and tree: WordNet's, or the "habitat" hierarchy (same pictures)

    def validate(self) -> "WorldConfig":
        """Raise ValueError naming the first bad setting."""
        ints = {
            "n_detection": 1,
            "n_classification_per_class": 1,
            "n_test": 1,
            "image_size": 32,
            "cls_image_size": 32,
            "max_objects": 1,
        }
        for name, low in ints.items():
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
                raise ValueError(f"emoji world: {name} must be an integer >= {low}, got {v!r}")
        if not 0 < self.min_object <= self.max_object <= 1:
            raise ValueError(
                f"emoji world: need 0 < min_object <= max_object <= 1, got {self.min_object}, {self.max_object}"
            )
        for name in ("occlusion", "min_visible"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"emoji world: {name} must lie in [0, 1], got {getattr(self, name)}")
        if self.clutter < 0:
            raise ValueError(f"emoji world: clutter must be >= 0, got {self.clutter}")
        select_classes(self.class_set)
        if self.taxonomy not in TAXONOMIES:
            raise ValueError(f"emoji world: taxonomy must be one of {', '.join(TAXONOMIES)}, got {self.taxonomy!r}")
        return self

    def key(self, font: Path | None = None) -> str:
        """A short stable id of these settings (and of the font file's name and size)."""
        fields = asdict(self)
        if fields["taxonomy"] == "wordnet":  # the keys of worlds made before taxonomies existed stay the same
            del fields["taxonomy"]
        blob = json.dumps({"v": GENERATOR_VERSION, **fields, "font": font_id(font)}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:10]


def font_id(font: Path | None) -> str:
    path = Path(font) if font is not None else default_font_path()
    try:
        return f"{path.name}:{path.stat().st_size}"
    except OSError:
        return path.name


# ---- one picture --------------------------------------------------------------------------------------
def _rng(cfg: WorldConfig, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, _SPLIT_CODE[split], index])


def _object_size(cfg: WorldConfig, side: int, rng: np.random.Generator) -> float:
    lo, hi = np.log(cfg.min_object), np.log(cfg.max_object)
    return side * float(np.exp(rng.uniform(lo, hi)))


def _add_clutter(scene: Scene, bank: SpriteBank, rng: np.random.Generator, mean: float) -> None:
    side = scene.size[0]
    for _ in range(int(rng.poisson(mean))):
        p = fragment(bank[CLUTTER[int(rng.integers(len(CLUTTER)))]], side * rng.uniform(0.1, 0.45), rng)
        h, w = p.alpha.shape
        p.x = int(rng.integers(-w // 2, side - w // 2 + 1))
        p.y = int(rng.integers(-h // 2, side - h // 2 + 1))
        scene.draw(p)


def _fits(scene: Scene, p: Placed, min_visible: float) -> bool:
    """Drawing `p` leaves every earlier object at least `min_visible` of its drawn area."""
    if not scene.area:
        return True
    left = scene.visible() - scene.coverage(p)
    return bool(np.all(left >= min_visible * np.asarray(scene.area)))


def _place_objects(
    scene: Scene,
    bank: SpriteBank,
    classes: tuple[EmojiClass, ...],
    picks: list[int],
    sizes: list[float],
    rng: np.random.Generator,
    cfg: WorldConfig,
    truncate: float = 0.2,
) -> list[int]:
    """Draw one instance per pick at a spot that hides no earlier object too much; returns the drawn picks."""
    side = scene.size[0]
    drawn: list[int] = []
    for ci, size in zip(picks, sizes):
        inst = make_instance(bank[classes[ci].emoji], size, rng)
        h, w = inst.alpha.shape
        for _ in range(12):
            mx, my = int(w * truncate), int(h * truncate)
            inst.x = int(rng.integers(-mx, max(-mx, side - w + mx) + 1))
            inst.y = int(rng.integers(-my, max(-my, side - h + my) + 1))
            if _fits(scene, inst, cfg.min_visible):
                if scene.draw(inst, is_object=True) > 0:
                    drawn.append(ci)
                else:  # fully outside: forget it
                    scene.area.pop()
                break
    # occluders over some objects, keeping every object mostly visible
    boxes = scene.boxes()
    for i in range(len(drawn)):
        if rng.random() >= cfg.occlusion:
            continue
        x0, y0, x1, y1 = boxes[i]
        size = max(x1 - x0, y1 - y0) * rng.uniform(0.3, 0.6)
        if rng.random() < 0.5:
            occ = occluder(size, rng)
        else:
            occ = fragment(bank[CLUTTER[int(rng.integers(len(CLUTTER)))]], size, rng)
            occ.alpha = np.minimum(occ.alpha * 2, 1.0)  # solid enough to hide
        h, w = occ.alpha.shape
        for _ in range(6):
            occ.x = int(rng.uniform(x0, x1)) - w // 2
            occ.y = int(rng.uniform(y0, y1)) - h // 2
            if _fits(scene, occ, cfg.min_visible):
                scene.draw(occ)
                break
    return drawn


def _finish(scene: Scene, rng: np.random.Generator) -> Image.Image:
    noise = rng.uniform(2, 8) if rng.random() < 0.2 else 0.0
    return Image.fromarray(scene.to_uint8(rng, noise), "RGB")


def draw_scene(
    bank: SpriteBank,
    classes: tuple[EmojiClass, ...],
    cfg: WorldConfig,
    split: str,
    index: int,
) -> tuple[Image.Image, list[int], np.ndarray]:
    """One detection/test picture: (image, class index per box, (n, 4) xyxy pixel boxes)."""
    rng = _rng(cfg, split, index)
    side = cfg.image_size
    scene = Scene(background(side, side, rng))
    _add_clutter(scene, bank, rng, cfg.clutter)
    n = int(rng.integers(1, cfg.max_objects + 1))
    picks = [int(c) for c in rng.integers(0, len(classes), size=n)]
    sizes = [_object_size(cfg, side, rng) for _ in range(n)]
    drawn = _place_objects(scene, bank, classes, picks, sizes, rng, cfg)
    boxes = scene.boxes()
    image = _finish(scene, rng)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= 2) & ((boxes[:, 3] - boxes[:, 1]) >= 2)
    return image, [c for c, k in zip(drawn, keep) if k], boxes[keep]


def draw_classification(
    bank: SpriteBank,
    cls: EmojiClass,
    cfg: WorldConfig,
    index: int,
    class_index: int,
) -> Image.Image:
    """One classification picture: a single large instance of `cls`, no box recorded."""
    rng = _rng(cfg, "classification", class_index * 1_000_000 + index)
    side = cfg.cls_image_size
    scene = Scene(background(side, side, rng))
    _add_clutter(scene, bank, rng, cfg.clutter * 0.7)
    size = side * rng.uniform(0.35, 0.9)
    _place_objects(scene, bank, (cls,), [0], [size], rng, cfg, truncate=0.1)
    return _finish(scene, rng)
