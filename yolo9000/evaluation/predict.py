"""Running a model over an evaluation set: detections on COCO images, class probabilities on class folders.

Images are read one by one (unreadable ones are logged and skipped), letterboxed in batches on the
device, and decoded with `yolo9000.detection.decode.decode`; the result is the plain table / arrays that the metric
modules take, so the same metrics score saved predictions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import torch

from yolo9000.data.prefetch import batched as batches_of
from yolo9000.data.prefetch import prefetched
from yolo9000.evaluation.coco import PRED_COLUMNS

log = logging.getLogger(__name__)


def _net_size(model, size: int | None) -> tuple[int, int]:
    if size:
        return int(size), int(size)
    net = getattr(model, "net", {}) or {}
    return int(net.get("width", 416)), int(net.get("height", 416))


def _load_images(paths: Sequence[Path], exif: bool = True) -> tuple[list[torch.Tensor], list[int]]:
    from yolo9000.data.image_io import read_image

    images, ok = [], []
    for i, p in enumerate(paths):
        try:
            images.append(read_image(p, exif=exif))
            ok.append(i)
        except (FileNotFoundError, RuntimeError) as exc:  # a bad file is skipped, the rest goes on
            log.warning("skipped: %s", exc)
    return images, ok


def _prefetched(chunks: Iterable[Sequence[int]], path_of, workers: int, exif: bool = True):
    """(chunk, (images, ok)) with the next batches already being decoded on `workers` threads."""
    return prefetched(
        chunks, lambda chunk: _load_images([path_of(i) for i in chunk], exif), workers=workers, depth=workers + 1
    )


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="batch", leave=False)


@torch.no_grad()
def predict_detections(
    model,
    coco_gt,
    image_dir: str | Path,
    *,
    size: int | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    thresh: float = 0.005,
    hier_thresh: float = 0.5,
    nms: float = 0.45,
    mode: str = "paper",
    class_map: Sequence[int] | None = None,
    workers: int = 2,
    progress: bool = False,
    exif: bool = True,
) -> pd.DataFrame:
    """Run a detector over every image of `coco_gt` (file names relative to `image_dir`).

    Returns a table with `PRED_COLUMNS`: label = tree node (tree heads), class index (flat heads), or
    position in `class_map` (Darknet's per-class `.map` scoring). Unreadable images are logged and left
    without detections (their boxes count as misses). `exif=False` reads the stored pixels, ignoring the EXIF
    orientation (as Darknet does).
    """
    from yolo9000.detection.decode import decode
    from yolo9000.detection.letterbox import letterbox_batch

    if getattr(model, "head", None) is None:
        raise ValueError("detection evaluation needs a model with a [region] head (this is a classifier cfg)")
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
    net_w, net_h = _net_size(model, size)
    model = model.to(device).eval()
    tree_softmax = getattr(model.head, "tree_softmax", None)
    rows: list[pd.DataFrame] = []
    idx = list(range(len(imgs)))
    batches = _prefetched(batches_of(idx, batch_size), lambda i: paths[i], workers, exif)
    n_read = 0
    for chunk, (images, ok) in _progress(batches, (len(idx) + batch_size - 1) // batch_size, "detect", progress):
        n_read += len(images)
        if not images:
            continue
        sizes = [(int(im.shape[2]), int(im.shape[1])) for im in images]
        x = letterbox_batch(images, (net_w, net_h), device=device)
        out = model.region_output(x)
        dets = decode(
            out,
            model.region,
            thresh=thresh,
            hier_thresh=hier_thresh,
            nms=nms,
            mode=mode,
            net_size=(net_w, net_h),
            image_sizes=sizes,
            tree_softmax=tree_softmax,
            class_map=class_map,
        )
        found = [(k, d) for k, d in zip(ok, dets) if len(d)]
        if found:  # one table (and one device-to-host copy) per batch
            use_nodes = found[0][1].nodes is not None and class_map is None  # decode sets nodes on all or none
            b = torch.cat([d.boxes for _, d in found]).detach().double().cpu().numpy()
            rows.append(
                pd.DataFrame(
                    {
                        "image_id": np.repeat([imgs[chunk[k]]["id"] for k, _ in found], [len(d) for _, d in found]),
                        "x1": b[:, 0],
                        "y1": b[:, 1],
                        "x2": b[:, 2],
                        "y2": b[:, 3],
                        "score": torch.cat([d.scores for _, d in found]).detach().double().cpu().numpy(),
                        "label": torch.cat([cast(torch.Tensor, d.nodes) if use_nodes else d.labels for _, d in found])
                        .detach()
                        .cpu()
                        .numpy()
                        .astype(np.int64),
                    }
                )
            )
    if imgs and n_read == 0:
        raise ValueError(f"{image_dir}: none of the {len(imgs)} images of the COCO file could be read")
    if len(imgs) - n_read:
        log.warning("%d of %d images could not be read; their boxes count as misses", len(imgs) - n_read, len(imgs))
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in PRED_COLUMNS}).astype(
            {"image_id": np.int64, "label": np.int64}
        )
    return pd.concat(rows, ignore_index=True)


@dataclass
class ClassPredictions:
    """Per image: absolute probabilities over the tree nodes (or flat classes), predicted node, truth."""

    probs: np.ndarray  # (S, C)
    pred: np.ndarray  # (S,) node where the top-down walk stopped (flat: argmax)
    truth: np.ndarray  # (S,)
    files: list[str] = field(default_factory=list)


def _class_logits(model, x: torch.Tensor) -> torch.Tensor:
    """(B, C) class logits: a classifier's output, or for a detector the anchor/cell with the highest
    objectness (the location the joint training hands a classification image's label to)."""
    raw = model(x)
    head = getattr(model, "head", None)
    if head is None:
        return raw.flatten(1).float()
    r = head.view(raw).float()  # (B, A, 5+C, H, W)
    b, a, e, h, w = r.shape
    obj = r[:, :, 4].reshape(b, -1)
    best = obj.argmax(dim=1)  # sigmoid is monotone: argmax of the raw score
    cls = r[:, :, 5:].permute(0, 1, 3, 4, 2).reshape(b, a * h * w, e - 5)
    return cls[torch.arange(b, device=r.device), best]


def _folder_truth(root: Path, tree, names: Sequence[str] | None):
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
    model,
    folders: str | Path,
    *,
    size: int | None = None,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    hier_thresh: float = 0.5,
    names: Sequence[str] | None = None,
    workers: int = 2,
    progress: bool = False,
    exif: bool = True,
) -> ClassPredictions:
    """Run a model over class folders (named by wnid with a tree) and collect class probabilities.

    `exif=False` reads the stored pixels, ignoring the EXIF orientation (as Darknet does)."""
    from yolo9000.detection.letterbox import letterbox_batch

    tree = getattr(model, "tree", None)
    if tree is None and getattr(model, "head", None) is not None:
        tree = getattr(model.region, "tree", None)
    ds, truth = _folder_truth(Path(folders), tree, names)
    net_w, net_h = _net_size(model, size)
    model = model.to(device).eval()
    ts = None
    if tree is not None:
        head = getattr(model, "head", None)
        ts = getattr(head, "tree_softmax", None) if head is not None else getattr(model, "classifier_softmax", None)
        if ts is None:
            from wordtree.softmax import TreeSoftmax

            ts = TreeSoftmax(tree)
        ts = ts.to(device)
    probs, preds, truths, files = [], [], [], []
    idx = list(range(len(ds)))
    batches = _prefetched(batches_of(idx, batch_size), ds.path, workers, exif)
    for chunk, (images, ok) in _progress(batches, (len(idx) + batch_size - 1) // batch_size, "classify", progress):
        if not images:
            continue
        x = letterbox_batch(images, (net_w, net_h), device=device)
        logits = _class_logits(model, x)
        if ts is not None:
            p = ts.log_absolute(logits).exp()
            pred = ts.predict(logits, threshold=hier_thresh, mode="paper").node
        else:
            flat_softmax = getattr(getattr(model, "region", None), "softmax", True)
            p = torch.softmax(logits, 1) if flat_softmax else torch.sigmoid(logits)
            pred = p.argmax(1)
        probs.append(p.double().cpu().numpy())
        preds.append(pred.cpu().numpy().astype(np.int64))
        truths.append(truth[[chunk[k] for k in ok]])
        files += [str(ds.path(chunk[k])) for k in ok]
    if not probs:
        raise ValueError(f"{folders}: no readable image in the class folders")
    return ClassPredictions(np.concatenate(probs), np.concatenate(preds), np.concatenate(truths), files)
