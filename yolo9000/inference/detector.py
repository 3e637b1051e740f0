"""The detection demo: images, folders or videos in; JSON lines, annotated pictures and a summary out.

`Detector` wraps a `DarknetModel` (from our checkpoint or Darknet cfg + weights) with the letterbox, the
forward pass and `decode`. `detect_files` runs it over many inputs in batches (images are read by a small
thread pool while the model runs, `yolo9000.inference.inputs`), skipping and reporting files that are missing or
unreadable.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from wordtree.formats import load_tree, read_names
from yolo9000.detection.decode import MODES, Detections, decode
from yolo9000.inference.inputs import (  # Inputs, expand_inputs, IMAGE_EXTS, VIDEO_EXTS: re-exported here
    IMAGE_EXTS,
    VIDEO_EXTS,
    Inputs,
    batches,
    expand_inputs,
    frames_av,
    frames_pil,
    prefetch,
)

log = logging.getLogger(__name__)

# "fast": fp32 with batch norm folded, oneDNN convs and Winograd (yolo9000.inference.fused_conv): drift ~3e-5
PRECISIONS = {"fp32": None, "fast": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# ---------------------------------------------------------------- model loading
def resolve_device(name: str) -> torch.device:
    """'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N'; a CUDA request without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r} (use cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return dev


def load_detector_model(
    *,
    checkpoint: str | Path | None = None,
    cfg: str | Path | None = None,
    weights: str | Path | None = None,
    tree: str | Path | None = None,
    names: str | Path | None = None,
) -> tuple[Any, list[str] | None]:
    """(DarknetModel in eval mode on CPU, label names or None) from a checkpoint or Darknet files.

    Names come from `names` (a file), else the checkpoint's names, else the tree's node names. A names
    file whose length differs from the region's classes is an error naming both numbers.
    """
    if checkpoint is not None and cfg is not None:
        raise ValueError("give either --checkpoint or --cfg [--weights], not both")
    if checkpoint is not None:
        from yolo9000.darknet.checkpoint import load_model

        model = load_model(checkpoint, "cpu")
        label_names = getattr(model, "names", None)
        source = str(checkpoint)
        if tree is not None:
            raise ValueError("--tree applies to Darknet cfgs; a checkpoint carries its own tree")
    elif cfg is not None:
        from yolo9000.darknet.model import load_darknet

        tree_arg: Any = None
        if tree is not None:
            tree_arg = load_tree(tree, names)
        model = load_darknet(cfg, weights, tree=tree_arg)
        if weights is None:
            log.warning("%s: no --weights given, the model has random weights", cfg)
        label_names = None
        source = str(cfg)
    else:
        raise ValueError("no model: give --checkpoint, or --cfg with --weights")
    region = getattr(model, "region", None)
    if region is None:
        raise ValueError(f"{source}: the model has no [region] layer, so it cannot detect")
    if names is not None:
        label_names = read_names(names)
        if len(label_names) != region.classes:
            raise ValueError(f"{names}: {len(label_names)} names but the model's [region] has classes={region.classes}")
    if label_names is None and region.tree is not None:
        label_names = list(region.tree.names)
    if label_names is not None and len(label_names) != region.classes:
        raise ValueError(f"{source}: {len(label_names)} names stored but the model has {region.classes} classes")
    return model.eval(), (list(label_names) if label_names is not None else None)


# ---------------------------------------------------------------- the detector
class Detector:
    """Letterbox -> model -> `decode`, batched on one device.

    `thresh`, `hier_thresh`, `nms`, `mode`, `class_agnostic`, `tree_nms` and `clip` go to `decode`;
    `precision` "fast" runs a BN-folded fp32 copy with fused oneDNN/Winograd convs (same decisions as fp32,
    drift ~3e-5), "bf16"/"fp16" a BN-folded low-precision copy (`optimize_for_inference`);
    `exact_letterbox` uses Darknet's bit-exact resize (slow, per image) instead of the batched one;
    `size` overrides the cfg's network input size (a multiple of 32).
    """

    def __init__(
        self,
        model,
        names: Sequence[str] | None = None,
        *,
        device: str | torch.device = "cpu",
        thresh: float = 0.25,
        hier_thresh: float = 0.5,
        nms: float = 0.45,
        mode: str = "paper",
        class_agnostic: bool = False,
        tree_nms: bool = False,
        precision: str = "fp32",
        exact_letterbox: bool = False,
        size: int | None = None,
        clip: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if size is not None and (size <= 0 or size % 32):
            raise ValueError(f"size must be a positive multiple of 32, got {size}")
        self.device = torch.device(device)
        if precision != "fp32":
            from yolo9000.inference.optimize import optimize_for_inference

            model = optimize_for_inference(model, dtype=PRECISIONS[precision], winograd=precision == "fast")
        self.model = model.to(self.device).eval()
        self.names = list(names) if names is not None else None
        self.region = model.region
        net = getattr(model, "net", {}) or {}
        w, h = (size, size) if size else (int(net.get("width", 416)), int(net.get("height", 416)))
        self.net_size = (w, h)
        self.thresh, self.hier_thresh, self.nms = thresh, hier_thresh, nms
        self.mode, self.class_agnostic, self.tree_nms = mode, class_agnostic, tree_nms
        if tree_nms and (model.region.tree is None or class_agnostic):
            raise ValueError("--tree-nms needs a model with a tree [region] (and excludes --agnostic-nms)")
        self.exact_letterbox, self.clip = exact_letterbox, clip
        head = getattr(model, "head", None)
        self.tree_softmax = getattr(head, "tree_softmax", None)

    def preprocess(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """(B, 3, H, W) float network input from (3,h,w) uint8 images."""
        from yolo9000.detection.letterbox import letterbox, letterbox_batch

        if self.exact_letterbox:
            return torch.stack([letterbox(im, self.net_size) for im in images]).to(self.device)
        return letterbox_batch([im.to(self.device) for im in images], self.net_size, device=self.device)

    @torch.inference_mode()
    def __call__(self, images: Sequence[torch.Tensor]) -> list[Detections]:
        """Detections for a batch of (3,h,w) uint8 RGB images, boxes in each image's pixels."""
        if not images:
            return []
        x = self.preprocess(images)
        out = self.model.region_output(x)
        sizes = [(int(im.shape[-1]), int(im.shape[-2])) for im in images]
        return decode(
            out,
            self.region,
            thresh=self.thresh,
            hier_thresh=self.hier_thresh,
            nms=self.nms,
            mode=self.mode,
            net_size=self.net_size,
            image_sizes=sizes,
            tree_softmax=self.tree_softmax,
            class_agnostic=self.class_agnostic,
            tree_nms=self.tree_nms,
            clip=self.clip,
            names=self.names,
        )


# ---------------------------------------------------------------- running
@dataclass
class Report:
    """What a run did: counts, skipped inputs, speed, and the files written."""

    images: int = 0
    frames: int = 0
    detections: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    model_seconds: float = 0.0
    jsonl: Path | None = None
    summary: Path | None = None
    outputs: list[Path] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.images + self.frames


class _Writer:
    """Output folder: JSON lines, annotated pictures with unique names, summary entries."""

    def __init__(self, out: Path, detector: Detector, *, save_images: bool, show_path: bool, max_path: int):
        self.out = out
        self.det = detector
        self.save_images, self.show_path, self.max_path = save_images, show_path, max_path
        out.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = out / "detections.jsonl"
        self.jsonl = self.jsonl_path.open("w", encoding="utf-8")
        self.used: set[str] = set()
        self.entries: list[dict] = []

    def unique(self, stem: str, ext: str) -> Path:
        name, k = f"{stem}{ext}", 1
        while name in self.used:
            k += 1
            name = f"{stem}_{k}{ext}"
        self.used.add(name)
        return self.out / name

    def labels(self, det: Detections) -> list[str]:
        return [det.label_text(i, show_path=self.show_path, max_path=self.max_path) for i in range(len(det))]

    def record(self, row: dict, det: Detections) -> None:
        row["detections"] = det.to_records()
        self.jsonl.write(json.dumps(row) + "\n")

    def close(self) -> None:
        self.jsonl.close()


def detect_files(
    detector: Detector,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    batch_size: int = 8,
    save_images: bool = True,
    show_path: bool = False,
    max_path: int = 3,
    summary: bool = True,
    workers: int = 2,
    progress: bool = True,
) -> Report:
    """Run the detector over images, folders and videos; write `out/detections.jsonl`, annotated files and
    `out/index.html` (+ `out/summary.jpg`, a grid of the first annotated images). Unreadable inputs are
    skipped and listed in the report; an error only when nothing at all could be read."""
    from tqdm import tqdm

    from yolo9000.inference.draw import draw_detections, html_summary, thumbnail_grid, to_pil

    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    found = expand_inputs(inputs)
    report = Report(skipped=list(found.skipped))
    if not found.images and not found.videos:
        reasons = "; ".join(f"{p}: {why}" for p, why in found.skipped) or "no inputs given"
        raise FileNotFoundError(f"nothing to detect on ({reasons})")
    out = Path(out)
    writer = _Writer(out, detector, save_images=save_images, show_path=show_path, max_path=max_path)
    report.jsonl = writer.jsonl_path
    grid: list[torch.Tensor] = []
    t_start = time.perf_counter()
    try:
        bar = tqdm(total=len(found.images), unit="img", desc="detect", disable=not progress or not found.images)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            loaded = prefetch(pool, found.images, depth=2 * batch_size)  # reads ahead while the model runs
            for chunk in batches(found.images, batch_size):
                pairs = [next(loaded) for _ in chunk]
                good = [(p, im) for p, im in pairs if isinstance(im, torch.Tensor)]
                for p, why in pairs:
                    if isinstance(why, str):
                        report.skipped.append((str(p), why))
                        log.warning("%s: %s, skipped", p, why)
                t0 = time.perf_counter()
                dets = detector([im for _, im in good])
                report.model_seconds += time.perf_counter() - t0
                for (p, im), det in zip(good, dets):
                    det = det.to("cpu")
                    entry = {"image": str(p), "annotated": None, "labels": writer.labels(det)}
                    if save_images:
                        drawn = draw_detections(im, det, names=detector.names, show_path=show_path, max_path=max_path)
                        target = writer.unique(p.stem, ".jpg")
                        to_pil(drawn).save(target, quality=90)
                        entry["annotated"] = target.name
                        report.outputs.append(target)
                        if len(grid) < 16:
                            grid.append(drawn)
                    writer.record({"image": str(p), "width": int(im.shape[-1]), "height": int(im.shape[-2])}, det)
                    writer.entries.append(entry)
                    report.images += 1
                    report.detections += len(det)
                bar.update(len(chunk))
                bar.set_postfix(img_s=f"{report.images / max(time.perf_counter() - t_start, 1e-9):.1f}")
        bar.close()
        for video in found.videos:
            try:
                _detect_video(
                    detector, video, writer, report, batch_size=batch_size, save=save_images, progress=progress
                )
            except (OSError, ValueError) as exc:
                report.skipped.append((str(video), str(exc)))
                log.warning("%s: %s, skipped", video, exc)
    finally:
        writer.close()
    report.seconds = time.perf_counter() - t_start
    if report.processed == 0:
        reasons = "; ".join(f"{p}: {why}" for p, why in report.skipped)
        raise ValueError(f"no input could be read ({reasons})")
    if summary:
        page = out / "index.html"
        page.write_text(html_summary(writer.entries, report.skipped), encoding="utf-8")
        report.summary = page
        if grid:
            thumbnail_grid(grid).save(out / "summary.jpg", quality=90)
    return report


def _detect_video(
    detector: Detector, path: Path, writer: _Writer, report: Report, *, batch_size: int, save: bool, progress: bool
) -> None:
    from PIL import Image
    from tqdm import tqdm

    from yolo9000.inference.draw import draw_detections, to_pil

    try:
        frames, total = frames_av(path) if path.suffix.lower() in VIDEO_EXTS else frames_pil(path)
    except (OSError, Image.UnidentifiedImageError) as exc:
        raise ValueError(f"cannot read video ({exc})") from None
    drawn_frames: list[Image.Image] = []
    durations: list[float] = []
    index = 0
    t0 = time.perf_counter()
    bar = tqdm(total=total or None, unit="frame", desc=path.name, disable=not progress)
    batch: list[tuple[torch.Tensor, float]] = []

    def flush() -> None:
        nonlocal index
        t = time.perf_counter()
        dets = detector([f for f, _ in batch])
        report.model_seconds += time.perf_counter() - t
        for (frame, dur), det in zip(batch, dets):
            det = det.to("cpu")
            writer.record(
                {"video": str(path), "frame": index, "width": int(frame.shape[-1]), "height": int(frame.shape[-2])}, det
            )
            if save:
                drawn_frames.append(
                    to_pil(
                        draw_detections(
                            frame, det, names=detector.names, show_path=writer.show_path, max_path=writer.max_path
                        )
                    )
                )
                durations.append(dur)
            report.frames += 1
            report.detections += len(det)
            index += 1
        bar.update(len(batch))
        bar.set_postfix(fps=f"{index / max(time.perf_counter() - t0, 1e-9):.1f}")
        batch.clear()

    try:
        for item in frames:
            batch.append(item)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    log.info("%s: %d frames in %.1fs (%.1f frames/s)", path, index, elapsed, index / max(elapsed, 1e-9))
    if index == 0:
        raise ValueError("video has no frames")
    entry = {"image": str(path), "annotated": None, "labels": [f"{index} frames, {index / elapsed:.1f} frames/s"]}
    if save and drawn_frames:
        target = writer.unique(f"{path.stem}_det", ".gif")
        drawn_frames[0].save(
            target, save_all=True, append_images=drawn_frames[1:], duration=[int(d) for d in durations], loop=0
        )
        entry["annotated"] = target.name
        report.outputs.append(target)
    writer.entries.append(entry)


__all__ = [
    "Detector",
    "Report",
    "detect_files",
    "expand_inputs",
    "load_detector_model",
    "resolve_device",
    "Inputs",
    "IMAGE_EXTS",
    "VIDEO_EXTS",
]
