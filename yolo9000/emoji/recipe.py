"""The emoji world's training recipe: the `emoji-tiny` detector, the rules for its class-only pictures, and
the training config `yolo9000 train` uses when it is given no data.

The trainer knows nothing of this world: the command applies `training_config` and passes `build_model`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wordtree.options import size32
from wordtree.tree import WordTree
from yolo9000.darknet.model import DarknetModel
from yolo9000.darknet.templates import AnchorsLike, anchor_pairs, render_cfg
from yolo9000.darknet.templates import build_model as build_named_model
from yolo9000.emoji.world import ensure_world, world_at
from yolo9000.training.config import TrainConfig

#: Rules for the class-only pictures of the emoji world, measured best there (benchmarks/bench_emoji_world.py):
#: names trained where the detector sees an object, the pictures' one emoji shrunk to detection scale
EMOJI_CLS_RULES = {"cls_objectness": "none", "cls_anchor": "objectness", "cls_scale": [0.4, 1.0]}
MODEL_NAMES = ("emoji-tiny", "emoji_tiny")


#: (w, h) anchors in grid cells (32 px) for 224-px pictures, k-means (1 - IoU) over a default world's boxes
EMOJI_ANCHORS: tuple[tuple[float, float], ...] = ((1.06, 1.12), (1.59, 1.19), (1.38, 1.63), (2.0, 1.97), (2.63, 2.75))
EMOJI_CFG = Path(__file__).resolve().parent / "emoji-tiny.cfg"


EMOJI_WIDTHS = (16, 32, 64, 128, 256, 512, 256)
#: where the emoji-tiny learning rate drops x.1, as shares of the run's steps
LR_DROPS = (0.8, 0.9)


def emoji_model_cfg(
    tree: WordTree,
    *,
    size: int = 160,
    width: float = 0.5,
    anchors: AnchorsLike | None = None,
    batch: int = 16,
    max_batches: int = 2000,
    learning_rate: float = 0.008,
    burn_in: int = 50,
    jitter: float = 0.2,
) -> str:
    """The text of our `emoji-tiny.cfg` for `tree` (a WordTree): a small tree-softmax detector.

    `width` scales every channel count (min 8; 1.0 = 16..512 channels). Anchors default to `EMOJI_ANCHORS`
    scaled to `size` (they were fitted at 224 px; the 224-px pictures are letterboxed to `size`). The [net]
    values are the CPU training recipe that `yolo9000 train` uses when given no options (learning-rate steps
    x.1 at 80% and 90% of max_batches): 2000 x 16 pictures at 160 px, about 1.1 CPU-s per 32 pictures.
    """
    size = size32(size, "size")
    if width <= 0:
        raise ValueError(f"emoji-tiny: width must be positive, got {width}")
    if anchors is None:
        pairs = [(w * size / 224, h * size / 224) for w, h in EMOJI_ANCHORS]
    else:
        pairs = anchor_pairs(anchors, "emoji-tiny: anchors")
    classes = len(tree)
    values = {
        "size": size,
        "classes": classes,
        "num": len(pairs),
        "filters": len(pairs) * (5 + classes),
        "anchors": ", ".join(f"{w:.3g},{h:.3g}" for w, h in pairs),
        "tree_line": "tree=wordtree.tree",
        "jitter": jitter,
        "batch": batch,
        "max_batches": max_batches,
        "learning_rate": learning_rate,
        "burn_in": burn_in,
        "steps": ",".join(str(int(max_batches * share)) for share in LR_DROPS),
        **{f"c{i + 1}": max(8, int(round(c * width))) for i, c in enumerate(EMOJI_WIDTHS)},
    }
    return render_cfg(EMOJI_CFG, **values)


def build_model(
    spec: str, tree: WordTree | None, classes: int | None, anchors: AnchorsLike | None = None
) -> DarknetModel:
    """`yolo9000.darknet.templates.build_model` that also knows the name `emoji-tiny` (a tree is required)."""
    if spec not in MODEL_NAMES:
        return build_named_model(spec, tree, classes, anchors)
    if tree is None:
        raise ValueError("the emoji-tiny model needs a tree (--tree)")
    return DarknetModel.from_cfg_text(emoji_model_cfg(tree, anchors=anchors), tree=tree, source="emoji-tiny.cfg")


def uses_world(cfg: TrainConfig) -> bool:
    """True when the config names no data, so training runs on the emoji world."""
    return cfg.coco is None and cfg.folders is None and not cfg.data


def training_config(cfg: TrainConfig, world: str | os.PathLike | None = None) -> TrainConfig:
    """`cfg` filled in for an emoji world: its detection and class-folder splits and its tree (so its taxonomy),
    the `emoji-tiny` model unless `cfg.cfg` names another, `EMOJI_CLS_RULES` for every class-picture rule the
    config leaves unset, and validation on the world's test split (fine labels, never trained on) unless the
    config names other validation data.

    `world` is a world folder (`yolo9000 emoji-world OUT`, any settings or taxonomy), or a missing or empty
    folder to generate the default world in (`world.world_at`); None: the default world in the user cache,
    generated on first use. Safe to call from every rank of a DDP run at once: one process generates the
    world, the others wait."""
    workers = max(1, (os.cpu_count() or 1) - 1)
    if world is None:
        root = Path(ensure_world(None, workers=workers, progress=cfg.progress))
    else:
        root = world_at(world, workers=workers, progress=cfg.progress)
    values: dict[str, Any] = {
        "coco": str(root / "detection" / "annotations.json"),
        "images": str(root / "detection" / "images"),
        "folders": str(root / "classification"),
        "tree": cfg.tree or str(root / "wordtree.json"),
        "cfg": cfg.cfg or "emoji-tiny",
    }
    if cfg.val_coco is None and cfg.val_folders is None and not cfg.val_data:
        values.update(val_coco=str(root / "test" / "annotations.json"), val_images=str(root / "test" / "images"))
    values.update({k: v for k, v in EMOJI_CLS_RULES.items() if getattr(cfg, k) is None})
    if cfg.steps is not None and cfg.lr_steps is None and values["cfg"] in MODEL_NAMES:
        # the emoji-tiny schedule follows --steps (x.1 at 80% and 90%): its cfg holds the 2000-step one, which a
        # shorter run would never reach
        values["lr_steps"] = [max(1, int(cfg.steps * share)) for share in LR_DROPS]
    return cfg.updated(values, source="the emoji world recipe")
