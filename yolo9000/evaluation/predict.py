"""Running a model over an evaluation set: detections on COCO images, class probabilities on class folders.

Images are read one by one (unreadable ones are logged and skipped) and detected in batches by the
`yolo9000.inference.detector.Detector` that `yolo9000 detect` runs (any backend); the result is the plain table /
arrays that the metric modules take, so the same metrics score saved predictions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import torch

from wordtree.files import plural
from yolo9000.data.prefetch import batched as batches_of
from yolo9000.data.prefetch import prefetched
from yolo9000.detection.decode import DecodeOptions
from yolo9000.evaluation.coco import PRED_COLUMNS
from yolo9000.inference.classify import class_logits, tree_softmax_of

if TYPE_CHECKING:
    from pycocotools.coco import COCO

    from wordtree.tree import WordTree
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.data.folders import ClassFolders
    from yolo9000.detection.detection_model import DetectionModel
    from yolo9000.detection.detections import Detections
    from yolo9000.inference.detector import Detector

log = logging.getLogger(__name__)


#: `yolo9000 eval`'s decoding: every box above a low score threshold, as mAP wants the whole ranking
EVAL_OPTIONS = DecodeOptions(thresh=0.005)

Loaded = tuple[list[torch.Tensor], list[int]]  # the images read, and their positions in the batch


def _net_size(model: DetectionModel | DarknetModel, size: int | None) -> tuple[int, int]:
    if size:
        return int(size), int(size)
    return int(model.net["width"]), int(model.net["height"])


def _load_images(paths: Sequence[Path], exif: bool = True) -> Loaded:
    from yolo9000.data.image_io import read_image

    images, ok = [], []
    for i, p in enumerate(paths):
        try:
            images.append(read_image(p, exif=exif))
            ok.append(i)
        except (FileNotFoundError, RuntimeError) as exc:  # a bad file is skipped, the rest goes on
            log.warning("skipped: %s", exc)
    return images, ok


def _prefetched(
    chunks: Iterable[Sequence[int]], path_of: Callable[[int], Path], workers: int, exif: bool = True
) -> Iterator[tuple[Sequence[int], Loaded]]:
    """(chunk, (images, ok)) with the next batches already being decoded on `workers` threads."""
    return prefetched(
        chunks, lambda chunk: _load_images([path_of(i) for i in chunk], exif), workers=workers, depth=workers + 1
    )


def _progress(
    batches: Iterable[tuple[Sequence[int], Loaded]], total: int, desc: str, enabled: bool
) -> Iterator[tuple[Sequence[int], Loaded]]:
    """The prefetched batches, with progress counted in images: a bar on a terminal, a line per 10% otherwise
    (`yolo9000.progress`); log records go above the bar (tqdm's logging redirect), never glued onto it."""
    from yolo9000.progress import redirect_logging, track

    with redirect_logging():
        yield from track(
            batches, total=total, desc=f"eval: {desc}", unit="image", enabled=enabled, leave=False, count=_batch_size
        )


def _batch_size(batch: tuple[Sequence[int], Loaded]) -> int:
    return len(batch[0])


def predict_detections(
    model: DetectionModel,
    coco_gt: COCO,
    image_dir: str | Path,
    options: DecodeOptions | None = None,
    *,
    size: int | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    workers: int = 2,
    progress: bool = False,
    exif: bool = True,
    backend: str | None = None,
    precision: str = "fp32",
    exact_letterbox: bool = False,
    **changes: Any,
) -> pd.DataFrame:
    """Run a detector over every image of `coco_gt` (file names relative to `image_dir`).

    The model runs in the `Detector` that `yolo9000 detect` runs (letterbox, forward pass, `decode` of the raw
    logits), with its `backend`, `precision`, `exact_letterbox` and `size` (a `DarknetModel`, or an exported
    model in its runtime: `yolo9000.inference.backends.RuntimeModel`). `options` says how the output is decoded
    (default `EVAL_OPTIONS`: `DecodeOptions` with a .005 score threshold); single fields may be changed by
    keyword, as in `decode`: `predict_detections(..., thresh=0)`.
    Returns a table with `PRED_COLUMNS`: label = tree node (tree heads), class index (flat heads), or
    position in `options.class_map` (Darknet's per-class `.map` scoring). Unreadable images are logged and left
    without detections (their boxes count as misses). `exif=False` reads the stored pixels, ignoring the EXIF
    orientation (as Darknet does).
    """
    from yolo9000.inference.detector import Detector

    opts = (options or EVAL_OPTIONS).with_(**changes)
    detector = Detector(
        model,
        None,
        opts,
        device=device,
        precision=precision,
        exact_letterbox=exact_letterbox,
        size=size,
        backend=backend,
    )
    return run_detector(
        detector, coco_gt, image_dir, batch_size=batch_size, workers=workers, progress=progress, exif=exif
    )


def run_detector(
    detector: Detector,
    coco_gt: COCO,
    image_dir: str | Path,
    *,
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = False,
    exif: bool = True,
) -> pd.DataFrame:
    """`predict_detections` with a `Detector` built by the caller (as `yolo9000 eval` does, to name its backend):
    the table of its detections on every image of `coco_gt`, labelled as `predict_detections` says."""
    (table,) = run_detector_decodings(
        detector,
        coco_gt,
        image_dir,
        [detector.options],
        batch_size=batch_size,
        workers=workers,
        progress=progress,
        exif=exif,
    )
    return table


@torch.no_grad()
def run_detector_decodings(
    detector: Detector,
    coco_gt: COCO,
    image_dir: str | Path,
    decodings: Sequence[DecodeOptions],
    *,
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = False,
    exif: bool = True,
) -> list[pd.DataFrame]:
    """`run_detector` decoding one network pass several ways: a table per `DecodeOptions` of `decodings` (e.g.
    the tree walk and Darknet's per-category scoring), the images read and the network run once."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"{image_dir}: image folder not found")
    imgs = sorted(coco_gt.dataset["images"], key=lambda r: r["id"])
    paths = [image_dir / str(r["file_name"]) for r in imgs]
    missing = [p for p in paths if not p.is_file()]
    if missing and len(missing) == len(paths):
        raise FileNotFoundError(
            f"{missing[0]}: no image of the COCO file exists under {image_dir} (wrong --images folder?)"
        )
    rows: list[list[pd.DataFrame]] = [[] for _ in decodings]
    idx = list(range(len(imgs)))
    batches = _prefetched(batches_of(idx, batch_size), lambda i: paths[i], workers, exif)
    n_read = 0
    for chunk, (images, ok) in _progress(batches, len(idx), "detect", progress):
        n_read += len(images)
        for table, options, dets in zip(rows, decodings, detector.decodings(images, decodings)):
            found = [(imgs[chunk[k]]["id"], d) for k, d in zip(ok, dets) if len(d)]
            if found:  # one table (and one device-to-host copy) per batch
                table.append(_detection_rows(found, use_nodes=options.class_map is None))
    if imgs and n_read == 0:
        raise ValueError(f"{image_dir}: none of the {plural(len(imgs), 'image')} of the COCO file could be read")
    if len(imgs) - n_read:
        log.warning(
            "%d of %s could not be read; their boxes count as misses", len(imgs) - n_read, plural(len(imgs), "image")
        )
    return [pd.concat(table, ignore_index=True) if table else _no_detections() for table in rows]


def _no_detections() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in PRED_COLUMNS}).astype(
        {"image_id": np.int64, "label": np.int64}
    )


@torch.inference_mode()
def _detection_rows(found: Sequence[tuple[int, Detections]], *, use_nodes: bool) -> pd.DataFrame:
    """The `PRED_COLUMNS` table of (image id, its detections); labels are the tree nodes when `use_nodes` and
    the detections carry them (decode sets nodes on all or none), else `Detections.labels`."""
    dets = [d for _, d in found]
    use_nodes = use_nodes and dets[0].nodes is not None
    b = torch.cat([d.boxes for d in dets]).detach().double().cpu().numpy()
    labels = torch.cat([cast(torch.Tensor, d.nodes) if use_nodes else d.labels for d in dets])
    return pd.DataFrame(
        {
            "image_id": np.repeat([image_id for image_id, _ in found], [len(d) for d in dets]),
            "x1": b[:, 0],
            "y1": b[:, 1],
            "x2": b[:, 2],
            "y2": b[:, 3],
            "score": torch.cat([d.scores for d in dets]).detach().double().cpu().numpy(),
            "label": labels.detach().cpu().numpy().astype(np.int64),
        }
    )


@dataclass
class ClassPredictions:
    """Per image: absolute probabilities over the tree nodes (or flat classes), predicted node, truth."""

    probs: np.ndarray  # (S, C)
    pred: np.ndarray  # (S,) node where the top-down walk stopped (flat: argmax)
    truth: np.ndarray  # (S,)
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LabelledPictures:
    """Pictures of one class each, scored as class folders are (a dataset's classification-only pictures):
    their files, their class (a tree node, or the model's flat class index) and where they come from."""

    files: list[Path]
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.files)

    def path(self, i: int) -> Path:
        """File of picture i."""
        return self.files[i]


def folder_truth(root: Path, tree: WordTree | None, names: Sequence[str] | None) -> tuple[ClassFolders, np.ndarray]:
    """The pictures of class folders and the class of each: its folder's tree node (folders named by node id), or
    for a flat model the index of its folder's name in `names` (without `names`, the sorted folders' index)."""
    from yolo9000.data.folders import ClassFolders

    if tree is not None:
        ds = ClassFolders(root, tree, skip_empty=True)
        return ds, ds.labels.numpy()
    ds = ClassFolders(root, None, skip_empty=True)
    if names is None:
        return ds, ds.labels.numpy()
    where = {n: i for i, n in enumerate(names)}
    missing = [c for c in ds.classes if c not in where]
    if missing:
        raise ValueError(f"{root / missing[0]}: class folder {missing[0]!r} is not one of the model's class names")
    remap = np.array([where[c] for c in ds.classes])
    return ds, remap[ds.labels.numpy()]


@torch.no_grad()
def predict_classification(
    model: DarknetModel,
    folders: str | Path | LabelledPictures,
    options: DecodeOptions | None = None,
    *,
    size: int | None = None,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    names: Sequence[str] | None = None,
    workers: int = 2,
    progress: bool = False,
    exif: bool = True,
    **changes: Any,
) -> ClassPredictions:
    """Run a model (a detector or a classifier) over class folders (named by wnid with a tree), or over
    `LabelledPictures`, and collect class probabilities.

    Of `options` (default `EVAL_OPTIONS`; fields may be changed by keyword: `hier_thresh=.6`) the tree walk uses
    `hier_thresh`, always in the paper's mode. `exif=False` reads the stored pixels, ignoring the EXIF
    orientation (as Darknet does)."""
    from yolo9000.detection.letterbox import letterbox_batch

    hier_thresh = (options or EVAL_OPTIONS).with_(**changes).hier_thresh
    tree = model.tree
    if isinstance(folders, LabelledPictures):
        ds: ClassFolders | LabelledPictures = folders
        truth = folders.labels
    else:
        ds, truth = folder_truth(Path(folders), tree, names)
    net_w, net_h = _net_size(model, size)
    model = model.to(device).eval()
    ts = tree_softmax_of(model, tree).to(device) if tree is not None else None
    # a flat region's classes are a softmax unless its cfg says otherwise; a classifier's output is one too
    flat_softmax = model.region.softmax if model.region is not None else True
    probs, preds, truths, files = [], [], [], []
    idx = list(range(len(ds)))
    batches = _prefetched(batches_of(idx, batch_size), ds.path, workers, exif)
    for chunk, (images, ok) in _progress(batches, len(idx), "classify", progress):
        if not images:
            continue
        x = letterbox_batch(images, (net_w, net_h), device=device)
        logits = class_logits(model, x)
        if ts is not None:
            p = ts.log_absolute(logits).exp()
            pred = ts.predict(logits, threshold=hier_thresh, mode="paper").node
        else:
            p = torch.softmax(logits, 1) if flat_softmax else torch.sigmoid(logits)
            pred = p.argmax(1)
        probs.append(p.double().cpu().numpy())
        preds.append(pred.cpu().numpy().astype(np.int64))
        truths.append(truth[[chunk[k] for k in ok]])
        files += [str(ds.path(chunk[k])) for k in ok]
    if not probs:
        raise ValueError(f"{getattr(folders, 'source', folders)}: no readable image in the class folders")
    return ClassPredictions(np.concatenate(probs), np.concatenate(preds), np.concatenate(truths), files)
