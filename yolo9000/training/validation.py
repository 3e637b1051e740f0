"""Validation while training: the model scored on held-out data through `yolo9000 eval`'s own pipeline.

Detection (`--val-coco` + `--val-images`): `yolo9000.evaluation.predict_detections` with eval's default decoding
(`EVAL_OPTIONS`) at the run's final input size, scored by `evaluate_detections` (COCO AP with WordTree ancestor
crediting) and `box_hierarchy` (the per-box hierarchical measures): the figures `yolo9000 eval --checkpoint
OUT/best.pt --coco VAL --images DIR --size S` prints for the same weights. Class folders (`--val-folders`):
`predict_classification` + `classification_summary` (top-1, top-5, hierarchical measures).

Every input is checked when the trainer is built, before the first step (`prepare_validation`): the COCO file,
its image folder and images, categories that are not tree nodes, a file without a usable box, class folders.
The checks are the loaders' and the scorers' own: the scorers run once on an empty prediction table.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from yolo9000.evaluation import (
    box_hierarchy,
    category_ids,
    category_nodes,
    classification_summary,
    evaluate_detections,
    load_coco,
    predict_classification,
    predict_detections,
)
from yolo9000.evaluation.coco import PRED_COLUMNS, coco_from_dict
from yolo9000.evaluation.predict import EVAL_OPTIONS
from yolo9000.training.config import loader_workers

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pycocotools.coco import COCO

    from wordtree.tree import WordTree
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.detection.decode import DecodeOptions
    from yolo9000.training.config import TrainConfig

#: the figures of a validation, in log order: COCO AP; with a tree, the per-box hierarchical measures of
#: `box_hierarchy` ("box_*"); on class folders top-k over leaves (flat: over the classes) and, with a tree, over
#: all nodes and the hierarchical measures ("cls_*"). Every one is "larger is better".
DETECTION_FIGURES = ("val/AP50", "val/AP", "val/AP75")
BOX_FIGURES = ("val/box_found", "val/box_exact", "val/box_correct_or_coarser", "val/box_hF")
CLASS_FIGURES = ("val/top1", "val/top5")
TREE_CLASS_FIGURES = ("val/top1_node", "val/top5_node", "val/cls_exact", "val/cls_correct_or_coarser", "val/cls_hF")
#: the seconds a validation took (logged beside the figures, never a metric for best.pt)
SECONDS = "val/seconds"

#: training images per validation image between two validations at the default --val-every. Validating an
#: image costs a forward pass (no backward, no augmentation) plus reading and scoring: about half a training
#: image on CPU for a freshly initialised model, the slowest case (benchmarks/bench_train.py), so validation
#: takes about 5% of the training time. (Not measured on a GPU, where the CPU-side reading and scoring weigh
#: more; Ultralytics validates once per epoch: ~24 COCO training images per val2017 image.)
TRAIN_IMAGES_PER_VAL_IMAGE = 10
#: the batch and (at least) the decoding threads of `yolo9000 eval`'s defaults (--batch-size, --workers); the
#: batch is eval's so that its figures are reproduced exactly
EVAL_WORKERS, EVAL_BATCH = 2, 8


def default_val_every(val_images: int, batch: int, steps: int) -> int:
    """Steps between validations when --val-every is not given: every `TRAIN_IMAGES_PER_VAL_IMAGE` x the
    validation images, in steps of `batch` images, rounded up to a round number (1, 2 or 5 x 10^k), at most
    `steps` (the run is validated at its end anyway)."""
    every = max(1, math.ceil(TRAIN_IMAGES_PER_VAL_IMAGE * val_images / max(1, batch)))
    power = 10 ** (len(str(every)) - 1)
    rounded = next(m * power for m in (1, 2, 5, 10) if m * power >= every)
    return min(rounded, steps)


@contextlib.contextmanager
def _about(option: str) -> Iterator[None]:
    """Errors of the loaders and scorers, prefixed with the option they came from (one line each)."""
    try:
        yield
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{option}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None


def _image_folder(coco_path: Path, images: str | None) -> Path:
    """--val-images, else `yolo9000 eval`'s default: the JSON's images/ folder, else the JSON's own folder."""
    if images is not None:
        return Path(images)
    beside = coco_path.parent / "images"
    return beside if beside.is_dir() else coco_path.parent


def _flat_categories(coco: COCO, names: Sequence[str], source: str) -> np.ndarray:
    """For a model without a tree: the category id of each class index (by name; -1 where the validation file
    has no such category). A category whose name is not one of the training classes is an error."""
    by_name = {n: i for i, n in enumerate(names)}
    of_class = np.full(len(names), -1, dtype=np.int64)
    for cid in category_ids(coco):
        name = str(coco.cats[cid].get("name", ""))
        if name not in by_name:
            raise ValueError(f"{source}: category {name!r} (id {cid}) is not one of the {len(names)} training classes")
        of_class[by_name[name]] = cid
    return of_class


def _no_predictions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in PRED_COLUMNS}).astype(
        {"image_id": np.int64, "label": np.int64}
    )


@dataclass
class Validator:
    """Scores a model on the validation data (`__call__(model) -> {figure: value}`); built and checked by
    `prepare_validation`. `metric` is the figure that picks best.pt; `every` the steps between validations."""

    size: int
    every: int
    metric: str
    tree: WordTree | None
    names: list[str]
    device: torch.device
    coco: COCO | None = None
    images: Path | None = None
    cat_nodes: np.ndarray | None = None  # tree node of each category (a tree model)
    class_categories: np.ndarray | None = None  # category id of each class (a flat model)
    folders: Path | None = None
    options: DecodeOptions = EVAL_OPTIONS
    exif: bool = True
    n_images: int = 0
    workers: int = EVAL_WORKERS  # image-decoding threads (results do not depend on them)

    @property
    def figures(self) -> tuple[str, ...]:
        """The names of the figures a validation gives (log.csv's val/ columns, without the seconds)."""
        out: tuple[str, ...] = ()
        if self.coco is not None:
            out += DETECTION_FIGURES + (BOX_FIGURES if self.tree is not None else ())
        if self.folders is not None:
            out += CLASS_FIGURES + (TREE_CLASS_FIGURES if self.tree is not None else ())
        return out

    def describe(self) -> str:
        """One line: what is validated, how often, at which size, and which figure picks best.pt."""
        what = []
        if self.coco is not None:
            what.append(f"{len(self.coco.getImgIds())} images of {getattr(self.coco, 'source', 'the COCO file')}")
        if self.folders is not None:
            what.append(f"the class folders {self.folders}")
        return (
            f"validation: {' and '.join(what)} every {self.every} steps and at the end, at size {self.size}; "
            f"best.pt is the checkpoint with the best {self.metric}"
        )

    def __call__(self, model: DarknetModel) -> dict[str, float]:
        """The figures of `model` (put in eval mode: the caller puts a training model back in train mode),
        and `SECONDS`."""
        t0 = time.perf_counter()
        out: dict[str, float] = {}
        if self.coco is not None:
            out.update(self._detection(model))
        if self.folders is not None:
            out.update(self._classification(model))
        out[SECONDS] = time.perf_counter() - t0
        return out

    def _detection(self, model: DarknetModel) -> dict[str, float]:
        assert self.coco is not None and self.images is not None  # detection data (prepare_validation)
        preds = predict_detections(
            model,
            self.coco,
            self.images,
            self.options,
            size=self.size,
            batch_size=EVAL_BATCH,
            device=self.device,
            workers=self.workers,
            exif=self.exif,
        )
        if self.class_categories is not None:  # a flat model: class index -> the validation file's category id
            preds = preds.assign(label=self.class_categories[preds["label"].to_numpy(np.int64)])
            preds = preds[preds["label"] >= 0]
        result, _ = evaluate_detections(self.coco, preds, tree=self.tree, cat_nodes=self.cat_nodes)
        out = {name: float(result.stats[name.split("/", 1)[1]]) for name in DETECTION_FIGURES}
        if self.tree is not None:
            assert self.cat_nodes is not None  # looked up with the tree (prepare_validation)
            head, _ = box_hierarchy(self.coco, preds, self.tree, self.cat_nodes)
            for name in BOX_FIGURES:
                out[name] = float(head.get(name.split("/box_", 1)[1], math.nan))
        return out

    def _classification(self, model: DarknetModel) -> dict[str, float]:
        assert self.folders is not None
        cp = predict_classification(
            model,
            self.folders,
            self.options,
            size=self.size,
            batch_size=EVAL_BATCH,
            device=self.device,
            names=self.names,
            workers=self.workers,
            exif=self.exif,
        )
        head = classification_summary(cp, self.tree).headline
        if self.tree is None:
            return {name: float(head.get(name.split("/", 1)[1], math.nan)) for name in CLASS_FIGURES}
        keys = {
            "val/top1": "top1_leaf",
            "val/top5": "top5_leaf",
            "val/top1_node": "top1_node",
            "val/top5_node": "top5_node",
            "val/cls_exact": "exact",
            "val/cls_correct_or_coarser": "correct_or_coarser",
            "val/cls_hF": "hF",
        }
        return {name: float(head.get(key, math.nan)) for name, key in keys.items()}

    def better(self, value: float, best: float | None) -> bool:
        """True when `value` of the metric beats `best` (None: nothing yet; NaN never beats anything)."""
        return math.isfinite(value) and (best is None or math.isnan(best) or value > best)


def _check_coco(
    cfg: TrainConfig, tree: WordTree | None, names: Sequence[str], exif: bool
) -> tuple[COCO, Path, np.ndarray | None, np.ndarray | None]:
    """The detection half of the validation data, checked: the COCO file (JSON checks of `load_coco`), its
    categories against the tree (`category_nodes`) or the training classes, its boxes (the scorer run on no
    predictions refuses a file without a usable box) and its image folder and images (`CocoDetection`'s check).
    Returns (the COCO object, the image folder, the tree node of each category or None, the category id of each
    training class for a flat model or None)."""
    from yolo9000.data.coco import CocoDetection

    assert cfg.val_coco is not None
    path = Path(cfg.val_coco)
    with _about("--val-coco"):
        coco = load_coco(path)
        cat_nodes = category_nodes(coco, tree) if tree is not None else None
        flat = _flat_categories(coco, names, str(path)) if tree is None else None
        evaluate_detections(coco, _no_predictions(), tree=tree, cat_nodes=cat_nodes)
    images = _image_folder(path, cfg.val_images)
    with _about("--val-images"):
        if not images.is_dir():
            raise FileNotFoundError(f"{images}: image folder of {path} not found")
        CocoDetection(path, images, None, exif=exif)  # the image files are there (a sample of a large set)
    return coco, images, cat_nodes, flat


def _data_truth(
    cfg: TrainConfig, tree: WordTree | None, names: Sequence[str]
) -> tuple[COCO, Path, np.ndarray | None, np.ndarray | None]:
    """--val-data as `_check_coco` returns a COCO file: its held-out split (or --val-split) as COCO ground truth
    (`coco_ground_truth`, classes placed in the tree as training places them), the folder its file names are
    relative to, and the category nodes or flat categories."""
    from yolo9000.data.ground_truth import coco_ground_truth
    from yolo9000.data.labelled import read_names_csv
    from yolo9000.data.sources import default_val_split, open_source

    assert cfg.val_data
    with _about("--val-data"):
        sources = [
            open_source(p, cfg.val_split if cfg.val_split is not None else default_val_split(p)) for p in cfg.val_data
        ]
        table = read_names_csv(cfg.names_csv) if cfg.names_csv else None
        truth = coco_ground_truth(sources, tree, names=table, label_map=cfg.label_map, exif=cfg.exif)
        for problem in truth.problems[:5]:
            log.warning("%s", problem)
        where = ", ".join(cfg.val_data)
        coco = coco_from_dict(truth.coco, where)
        cat_nodes = category_nodes(coco, tree) if tree is not None else None
        flat = _flat_categories(coco, names, where) if tree is None else None
        evaluate_detections(coco, _no_predictions(), tree=tree, cat_nodes=cat_nodes)
    return coco, truth.root, cat_nodes, flat


def _check_folders(folders: str, tree: WordTree | None, names: Sequence[str]) -> tuple[Path, int]:
    """The class folders, checked as `predict_classification` reads them; returns (root, number of images)."""
    from yolo9000.data.folders import ClassFolders

    root = Path(folders)
    with _about("--val-folders"):
        ds = ClassFolders(root, tree, skip_empty=True)
        if tree is None:
            unknown = [c for c in ds.classes if c not in set(names)]
            if unknown:
                raise ValueError(f"{root / unknown[0]}: class folder {unknown[0]!r} is not one of the training classes")
    return root, len(ds)


def prepare_validation(
    cfg: TrainConfig,
    *,
    tree: WordTree | None,
    names: Sequence[str],
    size: int,
    batch: int,
    steps: int,
    device: torch.device,
) -> Validator | None:
    """The run's `Validator` with every input checked (one-line errors naming the option), or None when the
    config names no validation data. `size` is the run's final input size, `batch` its images per step."""
    if cfg.val_coco is None and cfg.val_folders is None and not cfg.val_data:
        keys = ("val_images", "val_every", "val_metric", "val_split")
        given = [f"--{k.replace('_', '-')}" for k in keys if getattr(cfg, k)]
        if given:
            raise ValueError(
                f"{given[0]} needs validation data: add --val-data, --val-coco (boxes) and/or --val-folders"
            )
        return None
    if cfg.val_coco is not None and cfg.val_data:
        raise ValueError("--val-data and --val-coco both name held-out boxes: give one of them")
    coco, images, cat_nodes, class_categories = None, None, None, None
    n_images = 0
    if cfg.val_coco is not None:
        coco, images, cat_nodes, class_categories = _check_coco(cfg, tree, names, cfg.exif)
        n_images += len(coco.getImgIds())
    elif cfg.val_data:
        coco, images, cat_nodes, class_categories = _data_truth(cfg, tree, names)
        n_images += len(coco.getImgIds())
    folders = None
    if cfg.val_folders is not None:
        folders, n = _check_folders(cfg.val_folders, tree, names)
        n_images += n
    metric = cfg.val_metric or ("val/AP50" if coco is not None else "val/top1")
    validator = Validator(
        size=size,
        every=cfg.val_every or default_val_every(n_images, batch, steps),
        metric=metric if metric.startswith("val/") else f"val/{metric}",
        tree=tree,
        names=list(names),
        device=device,
        coco=coco,
        images=images,
        cat_nodes=cat_nodes,
        class_categories=class_categories,
        folders=folders,
        exif=cfg.exif,
        n_images=n_images,
        workers=max(EVAL_WORKERS, loader_workers(cfg.workers)),
    )
    if validator.metric not in validator.figures:
        raise ValueError(
            f"--val-metric {cfg.val_metric}: not a figure of this validation (one of {', '.join(validator.figures)})"
        )
    return validator
