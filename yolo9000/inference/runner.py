"""Run a `Detector` over images, folders or videos: JSON lines, annotated pictures and the report page out.

Images are read by a small thread pool while the model runs (`yolo9000.data.prefetch`); files that are missing
or unreadable are skipped and reported.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from wordtree.files import atomic_open, plural, prepare_output_dir
from yolo9000.detection.detections import Detections
from yolo9000.inference.detector import Detector
from yolo9000.inference.inputs import VIDEO_EXTS, expand_inputs, frames_av, frames_pil, readable_batches
from yolo9000.inference.report_page import ReportPage, report_files

log = logging.getLogger(__name__)


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

    def __init__(
        self,
        out: Path,
        detector: Detector,
        *,
        save_images: bool,
        show_path: bool,
        max_path: int,
        summary: bool = True,
        force: bool = False,
        inputs: Sequence[str | Path] = (),
        pictures: Sequence[str] = (),
        items: int = 0,
        images: int = 0,
    ) -> None:
        self.out = out
        self.det = detector
        self.save_images, self.show_path, self.max_path = save_images, show_path, max_path
        # everything it will write, annotated pictures included: a user's file of one of these names is refused
        owned = ["detections.jsonl"] + (
            ["summary.jpg"] + report_files(items, images if save_images else 0) if summary else []
        )
        settings = {"inputs": [str(p) for p in inputs], "save_images": save_images, "summary": summary}
        for save in (False, True):  # checked (the pictures too) before the folder is made and marked
            self.dir = prepare_output_dir(
                out, command="yolo9000 detect", settings=settings, force=force, inputs=inputs, owned=owned, save=save
            )
            for name in pictures if not save else ():
                self.dir.check(name)
        self.jsonl_path = out / "detections.jsonl"
        self._files = contextlib.ExitStack()  # the JSON lines go to a temporary file renamed into place at close
        self.jsonl = self._files.enter_context(atomic_open(self.jsonl_path, "w"))
        self.used: set[str] = set()
        self.page = ReportPage(self.dir, self._page_settings(), pictures=save_images) if summary else None

    def _page_settings(self) -> dict[str, Any]:
        """The run's settings the report page shows and replays its walk with."""
        o = self.det.options
        return {
            "mode": o.mode,
            "thresh": o.thresh,
            "hier_thresh": o.hier_thresh,
            "nms": o.nms,
            "tree": self.det.region.tree is not None,
            "report_depth": o.siblings,
        }

    def unique(self, stem: str, ext: str) -> Path:
        name, k = f"{stem}{ext}", 1
        while name in self.used or not self.dir.is_ours(name):  # never a file of the user's
            k += 1
            name = f"{stem}_{k}{ext}"
        self.used.add(name)
        return self.dir.claim(name, flush=False)

    def labels(self, det: Detections) -> list[str]:
        return [det.label_text(i, show_path=self.show_path, max_path=self.max_path) for i in range(len(det))]

    def record(self, row: dict[str, Any], det: Detections) -> list[dict[str, Any]]:
        """Write the JSON line of one image or frame; returns its detection records."""
        row["detections"] = det.to_records()
        tree = self.det.region.tree
        if tree is not None:  # `yolo9000 eval` refuses predictions made with another tree
            row["tree_fingerprint"] = tree.fingerprint
        self.jsonl.write(json.dumps(row) + "\n")
        return row["detections"]

    def close(self) -> None:
        """The run's files are complete; with --force, an earlier run's files not written again are removed
        (the annotated pictures of inputs this run did not have), so the folder holds one run's output."""
        self._files.close()
        self.dir.finish()

    def abort(self, exc: BaseException) -> None:
        """Stop after an error or an interrupt: the earlier detections.jsonl (if any) stays as it was."""
        self._files.__exit__(type(exc), exc, exc.__traceback__)
        self.dir.flush()


def _picture_names(images: Sequence[Path], videos: Sequence[Path]) -> list[str]:
    """The names `_Writer.unique` gives the annotated pictures when every input can be read."""
    used: set[str] = set()
    names = []
    for stem, ext in [(p.stem, ".jpg") for p in images] + [(f"{v.stem}_det", ".gif") for v in videos]:
        name, k = f"{stem}{ext}", 1
        while name in used:
            k += 1
            name = f"{stem}_{k}{ext}"
        used.add(name)
        names.append(name)
    return names


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
    exif: bool = True,
    force: bool = False,
) -> Report:
    """Run the detector over images, folders and videos; write `out/detections.jsonl`, annotated files and
    the report `out/index.html` (`report_page`: the page, `out/report/` with its script, data chunks and pictures)
    + `out/summary.jpg`, a grid of the first annotated images. Unreadable inputs are
    skipped and listed in the report; an error only when nothing at all could be read. `exif=False` reads
    still images' stored pixels, ignoring their EXIF orientation (as Darknet does). `out` follows the rule of
    `wordtree.files.prepare_output_dir` (`force` lets it write into a folder it did not make, never over a
    user's file, annotated pictures included: such a name is refused before anything runs); an interrupted run
    leaves the earlier detections.jsonl as it was."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    found = expand_inputs(inputs)
    report = Report(skipped=list(found.skipped))
    if not found.images and not found.videos:
        reasons = "; ".join(f"{p}: {why}" for p, why in found.skipped) or "no inputs given"
        raise FileNotFoundError(f"nothing to detect on ({reasons})")
    out = Path(out)
    writer = _Writer(
        out,
        detector,
        save_images=save_images,
        show_path=show_path,
        max_path=max_path,
        summary=summary,
        force=force,
        inputs=list(inputs),
        pictures=_picture_names(found.images, found.videos) if save_images else (),
        items=len(found.images) + len(found.videos),
        images=len(found.images),
    )
    report.jsonl = writer.jsonl_path
    grid: list[torch.Tensor] = []
    t_start = time.perf_counter()
    try:
        _detect_images(
            detector,
            found.images,
            writer,
            report,
            grid,
            batch_size=batch_size,
            workers=workers,
            progress=progress,
            exif=exif,
        )
        for video in found.videos:
            try:
                _detect_video(
                    detector, video, writer, report, batch_size=batch_size, save=save_images, progress=progress
                )
            except (OSError, ValueError) as exc:
                report.skipped.append((str(video), str(exc)))
                log.warning("%s: %s, skipped", video, exc)
    except BaseException as exc:
        writer.abort(exc)
        raise
    writer.close()
    report.seconds = time.perf_counter() - t_start
    if report.processed == 0:
        reasons = "; ".join(f"{p}: {why}" for p, why in report.skipped)
        raise ValueError(f"no input could be read ({reasons})")
    if writer.page is not None:
        report.summary = _write_summary(out, writer.page, report.skipped, grid)
    return report


def _detect_images(
    detector: Detector,
    images: Sequence[Path],
    writer: _Writer,
    report: Report,
    grid: list[torch.Tensor],
    *,
    batch_size: int,
    workers: int,
    progress: bool,
    exif: bool = True,
) -> None:
    """Detect on still images in batches, reading ahead while the model runs; unreadable files are skipped.
    `progress`: a bar on a terminal, a line per 10% of the images otherwise (`yolo9000.progress`)."""
    from yolo9000.progress import progress_bar

    t_start = time.perf_counter()
    bar = progress_bar(len(images), unit="image", desc="detect", enabled=progress and bool(images))
    batches = readable_batches(images, batch_size, workers=max(1, workers), exif=exif, skipped=report.skipped)
    for n, good in batches:
        t0 = time.perf_counter()
        dets = detector([im for _, im in good])
        report.model_seconds += time.perf_counter() - t0
        for (p, im), det in zip(good, dets):
            _record_image(detector, writer, report, grid, p, im, det.to("cpu"))
        bar.update(n)
        bar.set_postfix(img_s=f"{report.images / max(time.perf_counter() - t_start, 1e-9):.1f}")
    bar.close()


def _record_image(
    detector: Detector,
    writer: _Writer,
    report: Report,
    grid: list[torch.Tensor],
    path: Path,
    image: torch.Tensor,
    det: Detections,
) -> None:
    """One image's JSON line, annotated picture (when saving) and report entry."""
    from yolo9000.inference.draw import draw_detections, to_pil

    annotated = None
    if writer.save_images:
        drawn = draw_detections(image, det, names=detector.names, show_path=writer.show_path, max_path=writer.max_path)
        target = writer.unique(path.stem, ".jpg")
        with atomic_open(target, "wb") as fh:
            to_pil(drawn).save(fh, format="JPEG", quality=90)
        annotated = target.name
        report.outputs.append(target)
        if len(grid) < 16:
            grid.append(drawn)
    size = (int(image.shape[-1]), int(image.shape[-2]))
    records = writer.record({"image": str(path), "width": size[0], "height": size[1]}, det)
    if writer.page is not None:  # the page names the file, never its folder
        writer.page.add_image(path, image, records, writer.labels(det), annotated, size)
    report.images += 1
    report.detections += len(det)


def _write_summary(out: Path, page: ReportPage, skipped: list[tuple[str, str]], grid: list[torch.Tensor]) -> Path:
    """The report `out/index.html` (`report_page`) and `out/summary.jpg`, a grid of the first annotated pictures;
    returns the page."""
    from yolo9000.inference.draw import thumbnail_grid

    index = page.finish(skipped)
    if grid:
        with atomic_open(out / "summary.jpg", "wb") as fh:
            thumbnail_grid(grid).save(fh, format="JPEG", quality=90)
    return index


def _detect_video(
    detector: Detector, path: Path, writer: _Writer, report: Report, *, batch_size: int, save: bool, progress: bool
) -> None:
    from PIL import Image

    from yolo9000.inference.draw import draw_detections, to_pil
    from yolo9000.progress import progress_bar

    try:
        frames, total = frames_av(path) if path.suffix.lower() in VIDEO_EXTS else frames_pil(path)
    except (OSError, Image.UnidentifiedImageError) as exc:
        raise ValueError(f"cannot read video ({exc})") from None
    drawn_frames: list[Image.Image] = []
    durations: list[float] = []
    index = 0
    t0 = time.perf_counter()
    bar = progress_bar(total or None, unit="frame", desc=path.name, enabled=progress)
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
    log.info("%s: %s in %.1fs (%.1f frames/s)", path, plural(index, "frame"), elapsed, index / max(elapsed, 1e-9))
    if index == 0:
        raise ValueError("video has no frames")
    annotated = None
    if save and drawn_frames:
        target = writer.unique(f"{path.stem}_det", ".gif")
        with atomic_open(target, "wb") as fh:
            drawn_frames[0].save(
                fh,
                format="GIF",
                save_all=True,
                append_images=drawn_frames[1:],
                duration=[int(d) for d in durations],
                loop=0,
            )
        annotated = target.name
        report.outputs.append(target)
    if writer.page is not None:
        writer.page.add_video(path, annotated, [f"{plural(index, 'frame')}, {index / elapsed:.1f} frames/s"], index)


__all__ = ["Report", "detect_files"]
