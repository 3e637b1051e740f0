"""Classify pictures with a classifier (a `DarknetModel` without [region]): JSON lines and a static HTML page out.

`load_classifier` reads the model (our checkpoint, or a Darknet classifier cfg / template with its weights,
`[softmax] tree=` or flat, or a classifier exported by `yolo9000 export` in ONNX Runtime / OpenVINO as a
`backends.RuntimeClassifier`), `Classifier` turns a batch of pictures into their records, and `classify_files` runs
it over files and folders for `yolo9000 classify`. Pictures are preprocessed as evaluation classifies them
(`yolo9000.evaluation.predict.predict_classification`: `letterbox_batch` at the model's size, `class_logits`).

A tree model's record holds the top-k leaves by P(node), the greedy walk from the root to a leaf (the most
likely child at every level, the walk `TreeSoftmax.predict` takes, followed whatever the threshold), and the
node where the paper's walk stops at `hier_thresh`; a flat model's holds the top-k classes and an empty walk.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeAlias, overload

import torch

from wordtree.files import OutputDir, atomic_open, plural, prepare_output_dir, write_text_atomic
from wordtree.formats import load_tree, read_names
from wordtree.softmax import TreeSoftmax
from wordtree.tree import WordTree
from yolo9000.darknet.model import DarknetModel
from yolo9000.detection.decode import greedy_walk
from yolo9000.detection.letterbox import letterbox_batch
from yolo9000.inference.backends import RuntimeClassifier, load_runtime_classifier, runtime_classifier
from yolo9000.inference.export import classifier_classes
from yolo9000.inference.inputs import VIDEO_EXTS, expand_inputs, readable_batches

log = logging.getLogger(__name__)

COMMAND = "yolo9000 classify"
JSONL = "predictions.jsonl"
PAGE = "index.html"
#: longest side of the thumbnails the page shows
THUMB_SIDE = 192
#: digits kept of the probabilities in the records (as `Detections.to_records`)
DIGITS = 6

#: what a `Classifier` runs: our model in torch, or an exported one in its runtime
ClassifierModel: TypeAlias = DarknetModel | RuntimeClassifier


def thumb_name(k: int) -> str:
    """The relative name of the thumbnail of picture k."""
    return f"thumbs/{k:06d}.jpg"


@overload
def load_classifier(
    *,
    checkpoint: str | Path | None = None,
    cfg: str | Path | None = None,
    weights: str | Path | None = None,
    tree: str | Path | None = None,
    names: str | Path | None = None,
    model: None = None,
    backend: str | None = None,
) -> tuple[DarknetModel, list[str] | None]: ...


@overload
def load_classifier(
    *,
    checkpoint: str | Path | None = None,
    cfg: str | Path | None = None,
    weights: str | Path | None = None,
    tree: str | Path | None = None,
    names: str | Path | None = None,
    model: str | Path,
    backend: str | None = None,
) -> tuple[ClassifierModel, list[str] | None]: ...


def load_classifier(
    *,
    checkpoint: str | Path | None = None,
    cfg: str | Path | None = None,
    weights: str | Path | None = None,
    tree: str | Path | None = None,
    names: str | Path | None = None,
    model: str | Path | None = None,
    backend: str | None = None,
) -> tuple[ClassifierModel, list[str] | None]:
    """(model, class or node names or None): a classifier `DarknetModel` in eval mode on CPU, from our checkpoint
    or a Darknet cfg file / template name (`darknet19`, sized for `tree`, else for the `names`) with `weights`;
    or, for `model` (an exported FILE.onnx / OpenVINO FILE.xml, which excludes the others), a
    `RuntimeClassifier` in `backend` (default: ONNX Runtime for .onnx, OpenVINO for .xml).
    A detector (a model with [region], or an exported one) is a one-line error pointing to `yolo9000 detect`; so
    is a names file whose length is not the model's classes."""
    if model is not None:
        return _load_exported(model, backend, checkpoint=checkpoint, cfg=cfg, weights=weights, tree=tree, names=names)
    if backend is not None:
        raise ValueError(
            f"load_classifier: backend {backend!r} loads an exported `model`; to run a checkpoint or cfg in "
            f"{backend}, pass backend={backend!r} to `Classifier`, which exports it in memory"
        )
    if checkpoint is not None and cfg is not None:
        raise ValueError("give either --checkpoint or --cfg [--weights], not both")
    if weights is not None and cfg is None:
        raise ValueError("--weights needs --cfg (a checkpoint is given with --checkpoint)")
    net: DarknetModel
    if checkpoint is not None:
        from yolo9000.darknet.checkpoint import load_model

        if tree is not None:
            raise ValueError("--tree applies to Darknet cfgs; a checkpoint carries its own tree")
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"--checkpoint {checkpoint}: checkpoint not found")
        net = load_model(checkpoint, "cpu")
        label_names = net.names
    elif cfg is not None:
        net = _load_cfg(cfg, weights, tree, names)
        label_names = None
    else:
        raise ValueError(
            "no model given: pass --checkpoint (a classifier from `yolo9000 train --task classify`), --cfg "
            "[--weights] (a Darknet classifier cfg, or darknet19) or --model (a classifier from `yolo9000 export`)"
        )
    if net.region is not None:
        raise ValueError(
            f"{checkpoint or cfg}: is a detector (it has a [region] layer); use `yolo9000 detect` for detectors"
        )
    if names is not None:
        label_names = read_names(names)
    classes = classifier_classes(net)
    if label_names is not None and len(label_names) != classes:
        raise ValueError(f"{names or checkpoint}: {len(label_names)} names but the model has {classes} classes")
    return net.eval(), (list(label_names) if label_names is not None else None)


def _load_exported(
    model: str | Path, backend: str | None, *, names: str | Path | None, **others: str | Path | None
) -> tuple[RuntimeClassifier, list[str] | None]:
    """`load_classifier` for an exported `model`: its names from `names`, else its own; `others` (checkpoint,
    cfg, weights, tree) must be None."""
    dropped = [f"--{k}" for k, v in others.items() if v is not None]
    if dropped:
        raise ValueError(f"--model is an exported classifier with its own weights and tree; drop {', '.join(dropped)}")
    runtime = load_runtime_classifier(model, backend)
    label_names = read_names(names) if names is not None else runtime.names
    if label_names is not None and len(label_names) != runtime.classes:
        raise ValueError(f"{names or model}: {len(label_names)} names but {model} has {runtime.classes} classes")
    return runtime, (list(label_names) if label_names is not None else None)


def _load_cfg(
    cfg: str | Path, weights: str | Path | None, tree: str | Path | None, names: str | Path | None
) -> DarknetModel:
    """A Darknet classifier cfg file or template name as `load_detector_model` reads a detector's."""
    from yolo9000.darknet.model import load_darknet
    from yolo9000.darknet.templates import (
        CLASSIFIERS,
        is_template_name,
        is_torchvision_key,
        load_template,
        template_key,
        template_names,
    )

    named = is_template_name(cfg)
    if not named and not Path(cfg).is_file():
        raise FileNotFoundError(f"--cfg {cfg}: no such cfg file, and not a model name ({', '.join(template_names())})")
    key = template_key(str(cfg)) if named else None
    # a torchvision:NAME is either; here it gets the classifier head. A Darknet detector template is refused
    # before a large detector is built
    if key is not None and key not in CLASSIFIERS and not is_torchvision_key(key):
        raise ValueError(f"--cfg {cfg}: is a detector template; use `yolo9000 detect` for detectors")
    word_tree = load_tree(tree, names) if tree is not None else None
    if named:
        classes = len(read_names(names)) if names is not None and word_tree is None else None
        model = load_template(str(cfg), weights, word_tree, classes=classes, task="classify")
    else:
        model = load_darknet(cfg, weights, tree=word_tree, tree_source=str(tree) if tree is not None else None)
    if weights is None:
        log.warning("%s: no --weights given, the model has random weights", cfg)
    return model


def class_logits(model: ClassifierModel, x: torch.Tensor) -> torch.Tensor:
    """(B, C) class logits: a classifier's output, or for a detector the anchor/cell with the highest
    objectness (the location the joint training hands a classification image's label to)."""
    raw = model(x)
    if model.head is None:
        return raw.flatten(1).float()
    r = model.head.view(raw).float()  # (B, A, 5+C, H, W)
    b, a, e, h, w = r.shape
    obj = r[:, :, 4].reshape(b, -1)
    best = obj.argmax(dim=1)  # sigmoid is monotone: argmax of the raw score
    cls = r[:, :, 5:].permute(0, 1, 3, 4, 2).reshape(b, a * h * w, e - 5)
    return cls[torch.arange(b, device=r.device), best]


def tree_softmax_of(model: ClassifierModel, tree: WordTree) -> TreeSoftmax:
    """The model's own tree softmax (its region head's, or a tree classifier's), else one built for `tree`."""
    ts = model.head.tree_softmax if model.head is not None else model.classifier_softmax
    return ts if ts is not None else TreeSoftmax(tree)


class Classifier:
    """A classifier model ready to run: pictures ((3,H,W) uint8 tensors) in, one JSON-able record each out.

    `model`: a classifier `DarknetModel`, or a `backends.RuntimeClassifier` (an exported classifier in ONNX
    Runtime / OpenVINO; its logits go through the same softmax, top-k and walk).
    `size`: the network input (default the cfg's; an exported model's is fixed); `top_k`: leaves (tree) or
    classes (flat) per record; `hier_thresh`: where the paper's walk stops
    (`TreeSoftmax.predict(..., mode="paper")`); `backend` ("onnxruntime", "openvino"; None or "torch": torch)
    runs a `DarknetModel` there, exported in memory at `size` (`backends.runtime_classifier`)."""

    def __init__(
        self,
        model: ClassifierModel,
        names: Sequence[str] | None = None,
        *,
        top_k: int = 5,
        hier_thresh: float = 0.5,
        size: int | None = None,
        device: str | torch.device = "cpu",
        backend: str | None = None,
    ) -> None:
        if model.region is not None:
            raise ValueError(f"{model.source}: is a detector; use `yolo9000 detect` (or `Detector`) for detectors")
        if top_k < 1:
            raise ValueError(f"top-k must be >= 1, got {top_k}")
        if isinstance(model, RuntimeClassifier):
            if backend not in (None, model.backend.name):
                raise ValueError(f"{model.source} is loaded in {model.backend.name}, not {backend}")
        elif backend not in (None, "torch"):
            model = runtime_classifier(model, backend, names=names, size=size)
        net_size = (int(model.net["width"]), int(model.net["height"]))
        if isinstance(model, RuntimeClassifier) and size and (size, size) != net_size:
            raise ValueError(
                f"--size {size}: {model.source} was exported for {net_size[0]}x{net_size[1]} "
                "(export it again with --size)"
            )
        self.device = torch.device(device)
        self.model: ClassifierModel = model.to(self.device).eval()
        self.tree = model.tree
        self.classes = model.classes if isinstance(model, RuntimeClassifier) else classifier_classes(model)
        self.size = (int(size), int(size)) if size else net_size
        self.hier_thresh = float(hier_thresh)
        self.ts = tree_softmax_of(model, self.tree).to(self.device) if self.tree is not None else None
        if self.tree is not None:
            self.names: list[str] = list(names) if names is not None else list(self.tree.names)
            self.top_k = min(int(top_k), int(self.tree.is_leaf.sum()))
        else:
            self.names = list(names) if names is not None else []
            self.top_k = int(top_k)

    @property
    def flat(self) -> bool:
        """True for a flat classifier (no tree to walk)."""
        return self.ts is None

    def describe(self) -> str:
        """What runs, without the model's folder: its head, the network size and the device (an exported model:
        its backend)."""
        head = f"a tree of {len(self.tree)} nodes" if self.tree is not None else f"{self.classes} flat classes"
        where = f"backend {self.model.describe()}" if isinstance(self.model, RuntimeClassifier) else f"on {self.device}"
        return f"{head}, {self.size[0]}x{self.size[1]} pixels, {where}"

    @torch.inference_mode()
    def __call__(self, images: Sequence[torch.Tensor]) -> list[dict[str, Any]]:
        """The records of a batch of pictures (without "file"): "top", "walk" and, for trees, "stopped"."""
        if not images:
            return []
        x = letterbox_batch(list(images), self.size, device=self.device)
        logits = class_logits(self.model, x)
        if self.ts is None:
            return self._flat_records(logits)
        return self._tree_records(logits, self.ts)

    def _flat_records(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        probs = torch.softmax(logits, 1)  # a classifier's output is a softmax (as evaluation reads it)
        if self.names and len(self.names) != probs.shape[1]:
            raise ValueError(f"{self.model.source}: {len(self.names)} names but the model gives {probs.shape[1]}")
        top_p, top_i = probs.topk(min(self.top_k, probs.shape[1]), dim=1)
        name = self._namer()
        return [
            {"top": [{"label": i, "name": name(i), "prob": _r(p)} for i, p in zip(idx, ps)], "walk": []}
            for idx, ps in zip(top_i.cpu().tolist(), top_p.double().cpu().tolist())
        ]

    def _tree_records(self, logits: torch.Tensor, ts: TreeSoftmax) -> list[dict[str, Any]]:
        assert self.tree is not None
        tree = self.tree
        cond = ts.darknet_probs(logits)  # P(node | parent), every node
        top_p, top_n = ts.topk(logits, self.top_k, leaves_only=True)
        walked = greedy_walk(tree, cond, 1)
        walk, walk_p = walked["walk"], walked["walk_probs"]
        walk_abs = torch.cumprod(walk_p, 1) * (walk >= 0)  # P(node) as the walk of `predict` multiplies it
        stop = ts.predict(logits, threshold=self.hier_thresh, mode="paper")
        name, ids = self._namer(), tree.ids

        def node(n: int) -> dict[str, Any]:
            return {"node": n, "id": ids[n], "name": name(n)}

        cols = zip(
            top_n.cpu().tolist(),
            top_p.double().cpu().tolist(),
            walk.cpu().tolist(),
            walk_p.double().cpu().tolist(),
            walk_abs.double().cpu().tolist(),
            stop.node.cpu().tolist(),
            stop.prob.double().cpu().tolist(),
        )
        return [
            {
                "top": [{**node(n), "prob": _r(p)} for n, p in zip(tn, tp)],
                "walk": [{**node(n), "prob": _r(p), "abs": _r(a)} for n, p, a in zip(wn, wp, wa) if n >= 0],
                "stopped": {**node(sn), "abs": _r(sp)},
                "tree_fingerprint": tree.fingerprint,  # `yolo9000 eval` refuses predictions of another tree
            }
            for tn, tp, wn, wp, wa, sn, sp in cols
        ]

    def _namer(self) -> Callable[[int], str]:
        names = self.names
        return lambda i: names[i] if 0 <= i < len(names) else str(i)


def _r(value: float) -> float:
    return round(float(value), DIGITS)


@dataclass
class ClassifyReport:
    """What `classify_files` did: pictures classified, skipped inputs, speed, the files written and what the
    records name (the stopped node of tree models, the top class of flat ones) with its count."""

    pictures: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    model_seconds: float = 0.0
    jsonl: Path | None = None
    page: Path | None = None
    named: Counter[str] = field(default_factory=Counter)

    def line(self, device: str | torch.device) -> str:
        """The one-line summary `yolo9000 classify` prints."""
        rate = self.pictures / max(self.seconds, 1e-9)
        model_rate = self.pictures / max(self.model_seconds, 1e-9)
        common = ", ".join(f"{n} {c}" for n, c in self.named.most_common(3))
        return (
            f"{plural(self.pictures, 'picture')} classified in {self.seconds:.1f}s ({rate:.1f}/s overall, "
            f"{model_rate:.1f}/s model on {device})" + (f"; most named: {common}" if common else "")
        )


def find_pictures(inputs: Sequence[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files and folders (searched recursively for `wordtree.files.IMAGE_EXTENSIONS`) -> pictures in the order
    given, and the skipped inputs with their reasons (missing paths, empty folders, video files; an animated
    picture counts by its first frame)."""
    pictures: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for raw in inputs:
        found = expand_inputs([raw])  # one at a time: the order given is kept
        skipped += found.skipped
        pictures += found.images
        for v in found.videos:
            if v.suffix.lower() in VIDEO_EXTS:
                skipped.append((str(v), "a video; classify takes pictures"))
                log.warning("%s: a video, skipped (classify takes pictures)", v)
            else:
                pictures.append(v)
    return pictures, skipped


def classify_files(
    classifier: Classifier,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    batch_size: int = 16,
    workers: int = 2,
    progress: bool = True,
    exif: bool = True,
    summary: bool = True,
    force: bool = False,
    settings: dict[str, Any] | None = None,
) -> ClassifyReport:
    """Classify every picture of `inputs` (files and folders) in batches; write `out/predictions.jsonl` (one
    record per picture: "file", "width", "height" and the `Classifier`'s fields) and, with `summary`,
    `out/index.html` (each picture's thumbnail from `out/thumbs/` with its top classes and its walk). Unreadable
    pictures are skipped and listed; an error only when none could be read. `out` follows the rule of
    `wordtree.files.prepare_output_dir` (`force`: write into a folder it did not make, never over a user's
    file); an interrupted run leaves an earlier predictions.jsonl as it was."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    pictures, skipped = find_pictures(inputs)
    report = ClassifyReport(skipped=skipped)
    if not pictures:
        reasons = "; ".join(f"{p}: {why}" for p, why in skipped) or "no inputs given"
        raise FileNotFoundError(f"nothing to classify ({reasons})")
    out = Path(out)
    owned = [JSONL] + ([PAGE] + [thumb_name(k) for k in range(len(pictures))] if summary else [])
    kept = {"inputs": [str(p) for p in inputs], "summary": summary, **(settings or {})}
    # every name (thumbnails included) is checked before the folder is made and marked
    folder = prepare_output_dir(out, command=COMMAND, settings=kept, force=force, inputs=inputs, owned=owned)
    report.jsonl = out / JSONL
    entries: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    with contextlib.ExitStack() as files:  # the JSON lines go to a temporary file renamed into place at the end
        jsonl = files.enter_context(atomic_open(report.jsonl, "w"))
        try:
            _run(
                classifier,
                pictures,
                report,
                jsonl,
                entries,
                folder=folder if summary else None,
                batch_size=batch_size,
                workers=workers,
                progress=progress,
                exif=exif,
            )
            if report.pictures == 0:  # raised here: an earlier predictions.jsonl stays as it was
                reasons = "; ".join(f"{p}: {why}" for p, why in report.skipped)
                raise ValueError(f"no picture could be read ({reasons})")
        except BaseException:
            folder.flush()
            raise
    report.seconds = time.perf_counter() - t_start
    if summary:
        report.page = write_page(folder, entries, report.skipped, classifier)
    folder.finish()
    return report


def _run(
    classifier: Classifier,
    pictures: Sequence[Path],
    report: ClassifyReport,
    jsonl: IO[str],
    entries: list[dict[str, Any]],
    *,
    folder: OutputDir | None,
    batch_size: int,
    workers: int,
    progress: bool,
    exif: bool,
) -> None:
    """The batches: read ahead on `workers` threads, classify, write the records (and thumbnails)."""
    from yolo9000.progress import progress_bar

    bar = progress_bar(len(pictures), unit="picture", desc="classify", enabled=progress)
    for n, good in readable_batches(pictures, batch_size, workers=workers, exif=exif, skipped=report.skipped):
        t0 = time.perf_counter()
        records = classifier([im for _, im in good])
        report.model_seconds += time.perf_counter() - t0
        for (path, image), rec in zip(good, records):
            row = {"file": str(path), "width": int(image.shape[-1]), "height": int(image.shape[-2]), **rec}
            jsonl.write(json.dumps(row) + "\n")
            report.named[(rec["stopped"] if "stopped" in rec else rec["top"][0])["name"]] += 1
            if folder is not None:
                thumb = thumb_name(report.pictures)
                _write_thumb(folder, image, thumb)
                entries.append({**row, "thumb": thumb})
            report.pictures += 1
        bar.update(n)
    bar.close()


def _write_thumb(folder: OutputDir, image: torch.Tensor, name: str) -> None:
    from yolo9000.inference.draw import to_pil, to_uint8_chw

    pil = to_pil(to_uint8_chw(image))
    pil.thumbnail((THUMB_SIDE, THUMB_SIDE))
    with atomic_open(folder.claim(name, flush=False), "wb") as fh:
        pil.save(fh, format="JPEG", quality=85)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
.pic{display:flex;gap:1em;align-items:flex-start;border-top:1px solid #ddd;padding:.8em 0}
.pic img{max-width:192px;max-height:192px;border:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}th,td{padding:.15em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.stop{font-weight:bold;background:#e8f3e8}tr.below{color:#999}.muted{color:#666}
"""


def write_page(
    folder: OutputDir,
    entries: Sequence[dict[str, Any]],
    skipped: Sequence[tuple[str, str]],
    classifier: Classifier,
) -> Path:
    """`index.html`: one self-contained static page (no scripts, no external files but the thumbnails, all
    links relative) with each picture's thumbnail, file name, top classes and walk table, where the row of the
    node the walk stops at is marked and the levels below it are greyed. Names only, never the folders."""
    e = html.escape
    where = "" if classifier.flat else f"; the walk stops where P(node) falls to hier-thresh {classifier.hier_thresh:g}"
    head = (
        f"<h1>{e(COMMAND)}</h1><p class=muted>{e(classifier.describe())}; {plural(len(entries), 'picture')}"
        f"{e(where)}</p>"
    )
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(COMMAND)}</title>"]
    parts += [f"<style>{_STYLE}</style></head><body>", head]
    if skipped:
        items = "".join(f"<li>{e(Path(p).name)}: {e(_private(why, p))}</li>" for p, why in skipped)
        parts.append(f"<details><summary>{plural(len(skipped), 'input')} skipped</summary><ul>{items}</ul></details>")
    parts += [_picture_html(entry) for entry in entries]
    parts.append("</body></html>\n")
    return write_text_atomic(folder.claim(PAGE, flush=False), "".join(parts))


def _private(text: str, path: str) -> str:
    """`text` without the input's folder (a reason may quote the full path)."""
    for full in {path, str(Path(path).resolve())}:
        if full and full != Path(path).name:
            text = text.replace(full, Path(path).name)
    return text


def _picture_html(entry: dict[str, Any]) -> str:
    """One picture's block: thumbnail, name, top-k, and the walk table (trees)."""
    e = html.escape
    name = Path(entry["file"]).name
    top = ", ".join(f"{e(t['name'])} {t['prob']:.3f}" for t in entry["top"])
    body = [f"<h3>{e(name)}</h3><p>top {len(entry['top'])}: {top}</p>"]
    if entry["walk"]:
        stop = entry["stopped"]["node"]
        rows, below = [], False
        for level, w in enumerate(entry["walk"]):
            cls = " class=stop" if w["node"] == stop else (" class=below" if below else "")
            rows.append(
                f"<tr{cls}><td class=n>{level}</td><td>{e(w['name'])}</td><td>{e(str(w['id']))}</td>"
                f"<td class=n>{w['prob']:.3f}</td><td class=n>{w['abs']:.3f}</td></tr>"
            )
            below = below or w["node"] == stop
        body.append(
            "<table><tr><th>level</th><th>node</th><th>id</th><th>P(node|parent)</th><th>P(node)</th></tr>"
            + "".join(rows)
            + "</table>"
            + f"<p>stops at <b>{e(entry['stopped']['name'])}</b> (P {entry['stopped']['abs']:.3f})</p>"
        )
    alt = e(name, quote=True)
    return f'<div class=pic><img src="{e(entry["thumb"], quote=True)}" alt="{alt}"><div>{"".join(body)}</div></div>'


__all__ = [
    "ClassifierModel",
    "ClassifyReport",
    "Classifier",
    "class_logits",
    "classify_files",
    "find_pictures",
    "load_classifier",
    "thumb_name",
    "tree_softmax_of",
    "write_page",
]
