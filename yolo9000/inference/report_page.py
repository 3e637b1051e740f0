"""The detection report: a static `index.html` that shows each box's walk down the tree, opened from the file system.

Layout of the output folder (all names relative, so the folder can be moved or shared):

- `index.html`: the page, with the run's settings as JSON in a `<script type="application/json">` tag;
- `report/report.js`, `report/report.css`: the page's own script and style (shipped in `report_assets/`);
- `report/data-000.js`, ...: the images' data in chunks of `CHUNK` images, each a script that hands its JSON to
  `yolo9000Report.chunk(k, [...])` (browsers block `fetch()` of `file://` JSON, not script tags), loaded when the
  grid's page or an image needs it, so a report of 10,000 images opens as fast as one of 100;
- `report/img/000000.jpg`, ...: each input picture (at most `PICTURE_SIDE` pixels a side) under the boxes the
  page draws as SVG.

An image's data is its JSON line's detections (the same records as `detections.jsonl`, with the greedy walk and
siblings when `--report-depth` > 0) under the input's file name, never its folder.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from wordtree.files import OutputDir, atomic_open, write_text_atomic

#: images per data chunk and per page of the grid
CHUNK = 100
#: longest side of the pictures the page shows under its boxes
PICTURE_SIDE = 800
ASSETS = ("report.js", "report.css")


def chunk_name(k: int) -> str:
    """The relative name of data chunk k."""
    return f"report/data-{k:03d}.js"


def picture_name(k: int) -> str:
    """The relative name of the picture of item k."""
    return f"report/img/{k:06d}.jpg"


def report_files(items: int, pictures: int) -> list[str]:
    """Every name the report writes for `items` grid entries of which `pictures` come with a picture."""
    names = ["index.html"] + [f"report/{a}" for a in ASSETS]
    names += [chunk_name(k) for k in range(max(1, math.ceil(items / CHUNK)))]
    return names + [picture_name(k) for k in range(pictures)]


def _asset(name: str) -> str:
    return (resources.files("yolo9000.inference") / "report_assets" / name).read_text(encoding="utf-8")


def _script_json(obj: Any) -> str:
    """JSON safe inside a `<script>` element ("</script>" cannot end it early)."""
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


def _private(text: str, path: str) -> str:
    """`text` with the input's folder removed (error messages may quote the full path)."""
    name = Path(path).name
    for full in {path, str(Path(path).resolve())}:
        if full and full != name:
            text = text.replace(full, name)
    return text


class ReportPage:
    """Collects the report's entries, writes the data chunks as they fill and the page at `finish`."""

    def __init__(self, out: OutputDir, settings: dict[str, Any], *, pictures: bool = True) -> None:
        self.dir = out
        self.settings = settings
        self.pictures = pictures
        self.pending: list[dict[str, Any]] = []
        self.count = 0  # entries added
        self.picture_count = 0
        self.detections = 0

    def add_image(
        self,
        path: Path,
        image: torch.Tensor | None,
        records: list[dict],
        labels: Sequence[str],
        annotated: str | None,
        size: tuple[int, int],
    ) -> None:
        """An image's entry: its file name, annotated picture, own picture copy (when kept) and detections."""
        picture = None
        if self.pictures and image is not None:
            picture = picture_name(self.picture_count)
            self._write_picture(image, picture)
            self.picture_count += 1
        self._add(
            {
                "kind": "image",
                "name": path.name,
                "annotated": annotated,
                "picture": picture,
                "width": size[0],
                "height": size[1],
                "labels": list(labels),
                "detections": records,
            }
        )
        self.detections += len(records)

    def add_video(self, path: Path, annotated: str | None, labels: Sequence[str], frames: int) -> None:
        """A video's entry (its frames' detections stay in detections.jsonl)."""
        self._add(
            {"kind": "video", "name": path.name, "annotated": annotated, "labels": list(labels), "frames": frames}
        )

    def _add(self, entry: dict[str, Any]) -> None:
        entry["index"] = self.count
        self.count += 1
        self.pending.append(entry)
        if len(self.pending) == CHUNK:
            self._flush()

    def _flush(self) -> None:
        k = max(0, self.count - 1) // CHUNK
        target = self.dir.claim(chunk_name(k), flush=False)
        write_text_atomic(target, f"yolo9000Report.chunk({k},{_script_json(self.pending)});\n")
        self.pending = []

    def _write_picture(self, image: torch.Tensor, name: str) -> None:
        from yolo9000.inference.draw import to_pil, to_uint8_chw

        pil = to_pil(to_uint8_chw(image))
        pil.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
        with atomic_open(self.dir.claim(name, flush=False), "wb") as fh:
            pil.save(fh, format="JPEG", quality=88)

    def finish(self, skipped: Sequence[tuple[str, str]], title: str = "yolo9000 detect") -> Path:
        """Write the last chunk, the script and style, then `index.html` (last: it names the chunks)."""
        if self.pending or self.count == 0:  # an empty report still has its (empty) chunk 0
            self._flush()
        for name in ASSETS:
            write_text_atomic(self.dir.claim(f"report/{name}", flush=False), _asset(name))
        meta = {
            **self.settings,
            "title": title,
            "items": self.count,
            "detections": self.detections,
            "chunk": CHUNK,
            "chunks": max(1, math.ceil(self.count / CHUNK)),
            "skipped": [[Path(p).name, _private(why, p)] for p, why in skipped],
        }
        page = _asset("index.html").replace("{{TITLE}}", html.escape(title)).replace("{{META}}", _script_json(meta))
        return write_text_atomic(self.dir.claim("index.html", flush=False), page)


__all__ = ["CHUNK", "PICTURE_SIDE", "ReportPage", "chunk_name", "picture_name", "report_files"]
