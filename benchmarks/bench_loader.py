"""The training input pipeline per CPU core, against a plain torchvision baseline, and the cost of a COCO-sized
annotation file.

    python3 benchmarks/bench_loader.py                          # generated pictures, full-size COCO JSON
    python3 benchmarks/bench_loader.py --coco-images 20000      # a smaller JSON (the same 7.3 boxes per image)
    python3 benchmarks/bench_loader.py --folder DIR --workers 2 --json out.json

One thread, no workers, half detection and half class pictures (COCO-like 640x480 JPEGs with boxes and 500x375
class pictures, generated in a temp folder, or the JPEGs of `--folder`): images/s of the project's training loader
(the DataLoader `Trainer` builds, at 416, multi-scale off) and of the baseline `decode_jpeg(read_file(...))` +
`transforms.v2.Resize(antialias=True)` + pad, in the same run, with their ratio, where the project's time goes,
and images/s with `--workers` worker processes. Then the peak resident memory growth and the time of reading a
generated COCO JSON of `instances_train2017.json`'s size (118k images, 860k annotations with polygons) into
`CocoDetection`, in a fresh process. Last, the other formats at scale: an Open Images boxes CSV of the train
split's size (14.6M rows, about 2.1 GB) indexed by `OpenImagesSource` (time and peak memory growth, which must
stay under 2 GB), and a YOLO folder of 1M label files indexed lazily by `UltralyticsSource` (`--oi-rows 0
--yolo-files 0` skip them; `--scale-dir DIR` keeps the generated files for the next run). Figures are medians over
`--repeat` runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wordtree.tree import WordTree  # noqa: E402
from yolo9000.data import AugmentConfig, ClassFolders, CocoDetection, JointBatchSampler, JointDataset  # noqa: E402
from yolo9000.data import joint as joint_module  # noqa: E402

SIZE = 416


# ---------------------------------------------------------------------------------------------- data
def _picture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A photo-like picture: smooth colour fields, a few blocks and mild noise (pure noise decodes unlike photos)."""
    small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    arr = np.repeat(np.repeat(small, 16, axis=0), 16, axis=1)[:h, :w].astype(np.int16)
    for _ in range(6):
        x, y = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        arr[y : y + int(rng.integers(20, 200)), x : x + int(rng.integers(20, 200))] = rng.integers(0, 255, 3)
    arr += rng.integers(-12, 13, arr.shape, dtype=np.int16)
    return np.clip(arr, 0, 255).astype(np.uint8)


def make_data(root: Path, n_det: int, n_cls: int, seed: int = 0) -> tuple[Path, Path, WordTree]:
    """COCO JSON + 640x480 JPEGs (boxes at 4 inner nodes of a small tree), class folders of 500x375 JPEGs."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    parents: dict[str, str | None] = {"n80000000": None}
    for i in range(4):
        parents[f"n8000010{i}"] = "n80000000"
        for j in range(5):
            parents[f"n800002{i}{j}"] = f"n8000010{i}"
    tree = WordTree.from_edges(parents)
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for k in range(n_det):
        Image.fromarray(_picture(rng, 640, 480)).save(root / "images" / f"{k}.jpg", quality=90)
        images.append({"id": k, "file_name": f"{k}.jpg", "width": 640, "height": 480})
        for _ in range(int(rng.integers(1, 14))):
            w, h = rng.uniform(10, 300, 2)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            bbox = [float(x), float(y), float(w), float(h)]
            anns.append({"id": len(anns), "image_id": k, "category_id": int(rng.integers(4)), "bbox": bbox})
    cats = [{"id": i, "name": f"c{i}", "wnid": f"n8000010{i}"} for i in range(4)]
    (root / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    for k in range(n_cls):
        d = root / "cls" / f"n800002{k % 4}0"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_picture(rng, 500, 375)).save(d / f"{k}.jpg", quality=90)
    return root / "ann.json", root / "cls", tree


def folder_data(folder: Path, root: Path, n: int) -> tuple[Path, Path, WordTree]:
    """The first `n` JPEGs of `folder`: half as detection images (one centred box each), half as class pictures."""
    from PIL import Image

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:n]
    if len(files) < 2:
        raise SystemExit(f"{folder}: needs at least 2 JPEG files, found {len(files)}")
    tree = WordTree.from_edges({"n80000000": None, "n80000001": "n80000000", "n80000002": "n80000000"})
    half = len(files) // 2
    images, anns = [], []
    for k, p in enumerate(files[:half]):
        with Image.open(p) as im:
            w, h = im.size
        images.append({"id": k, "file_name": str(p.resolve()), "width": w, "height": h})
        anns.append({"id": k, "image_id": k, "category_id": 1, "bbox": [w / 4, h / 4, w / 2, h / 2]})
    cats = [{"id": 1, "name": "thing", "wnid": "n80000001"}]
    (root / "images").mkdir(parents=True)
    (root / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    cls = root / "cls" / "n80000002"
    cls.mkdir(parents=True)
    for k, p in enumerate(files[half:]):
        (cls / f"{k}{p.suffix.lower()}").symlink_to(p.resolve())
    return root / "ann.json", root / "cls", tree


# ---------------------------------------------------------------------------------------------- loaders
def project_loader(det, cls, tree, batch: int, n_batches: int, workers: int, decode: str = "cpu"):
    """The DataLoader as `Trainer._loader` builds it (multi-scale off, HSV left to the device)."""
    import inspect

    extra = {}
    if "decode" in inspect.signature(JointDataset).parameters:
        extra["decode"] = decode
    dataset = JointDataset(det, cls, AugmentConfig(), dtype=torch.uint8, defer_hsv=True, **extra)
    sampler = JointBatchSampler(len(det), len(cls), batch, cls_fraction=0.5, sizes=[SIZE], length=n_batches)
    collate = getattr(joint_module, "collate_for", None)
    collate_fn = collate(decode) if collate is not None else joint_module.collate
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )


def _clock(workers: int = 0):
    """CPU seconds of this process for the one-thread figures (images/s per core, whatever else the shared machine
    runs meanwhile), wall seconds with worker processes."""
    return time.perf_counter if workers else time.process_time


def run_project(det, cls, tree, batch: int, n_batches: int, workers: int = 0, decode: str = "cpu") -> float:
    """Images/s of the project's loader over `n_batches` batches (per CPU second without workers)."""
    loader = project_loader(det, cls, tree, batch, n_batches, workers, decode)
    clock = _clock(workers)
    t = clock()
    n = 0
    for b in loader:
        n += len(b[0])
    return n / (clock() - t)


def baseline_paths(det, cls, n: int) -> list[Path]:
    half = n // 2
    return [det.path(i % len(det)) for i in range(half)] + [cls.path(i % len(cls)) for i in range(n - half)]


def run_baseline(paths: list[Path]) -> float:
    """Images/s of decode_jpeg(read_file) + transforms.v2.Resize(antialias) + pad to a 416 letterbox."""
    from torchvision.io import decode_jpeg, read_file
    from torchvision.transforms import v2

    t = time.process_time()
    for p in paths:
        img = decode_jpeg(read_file(str(p)))
        h, w = img.shape[-2:]
        s = SIZE / max(h, w)
        nh, nw = int(h * s), int(w * s)
        img = v2.Resize((nh, nw), antialias=True)(img)
        left, top = (SIZE - nw) // 2, (SIZE - nh) // 2
        img = v2.functional.pad(img, [left, top, SIZE - nw - left, SIZE - nh - top], fill=128)
    return len(paths) / (time.process_time() - t)


def run_device_decode(det, cls, tree, batch: int, n_batches: int, device: str) -> float:
    """Images/s of the `--decode gpu` step on `device`: the batches' JPEGs decoded (nvjpeg on CUDA), resized and
    placed there (the workers' share is `run_project` with decode="gpu")."""
    batches = list(project_loader(det, cls, tree, batch, n_batches, 0, "gpu"))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    batches[0][0].render(device, batches[0][1])  # warm-up (nvjpeg handles, kernels)
    sync()
    t = time.perf_counter()
    for enc, targets, _ in batches:
        enc.render(device, targets)
    sync()
    return sum(len(b[0]) for b in batches) / (time.perf_counter() - t)


def breakdown(det, cls, tree, batch: int, n_batches: int) -> dict[str, float]:
    """CPU milliseconds per image in each stage of the project's loader (timers around its functions)."""
    from torchvision.transforms.v2.functional import _geometry as v2_geometry

    spent: dict[str, float] = defaultdict(float)

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.process_time() - t

        return wrapper

    patches = [(v2_geometry, "interpolate", "resize"), (joint_module, "augment", "augment (resize included)")]
    for name in ("collate", "collate_bytes"):
        if hasattr(joint_module, name):
            patches.append((joint_module, name, "collate"))
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
    loads = [(ds, ds.load) for ds in (det, cls)]
    try:
        for obj, attr, label in patches:
            setattr(obj, attr, timed(label, getattr(obj, attr)))
        for ds, fn in loads:
            ds.load = timed("read + decode", fn)  # type: ignore[method-assign]
        loader = project_loader(det, cls, tree, batch, n_batches, 0)
        if hasattr(loader, "collate_fn") and loader.collate_fn.__name__ != "wrapper":
            loader.collate_fn = timed("collate", loader.collate_fn)
        t = time.process_time()
        n = sum(len(b[0]) for b in loader)
        total = time.process_time() - t
    finally:
        for obj, attr, fn in saved:
            setattr(obj, attr, fn)
        for ds, _ in loads:
            del ds.load
    out = {k: v / n * 1e3 for k, v in spent.items()}
    out["augment without resize"] = out.pop("augment (resize included)") - out.get("resize", 0.0)
    out["rest (dataset, sampler, boxes, loader)"] = total / n * 1e3 - sum(out.values())
    out["total"] = total / n * 1e3
    return out


# ---------------------------------------------------------------------------------------------- COCO JSON
def write_big_coco(path: Path, n_images: int, n_anns: int, seed: int = 0) -> None:
    """A COCO JSON with the shape of instances_train2017 (polygon segmentations, COCO's image fields)."""
    rng = np.random.default_rng(seed)
    cats = [{"supercategory": "thing", "id": i + 1, "name": f"class{i}", "wnid": f"n8000010{i % 4}"} for i in range(80)]
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"info": {"description": "generated"}, "licenses": [{"id": 1, "name": "x", "url": "y"}], "images": [')
        for i in range(n_images):
            f.write(
                ("," if i else "")
                + json.dumps(
                    {
                        "license": 1,
                        "file_name": f"{i:012d}.jpg",
                        "coco_url": f"http://images.cocodataset.org/train2017/{i:012d}.jpg",
                        "height": 480,
                        "width": 640,
                        "date_captured": "2013-11-14 16:28:13",
                        "flickr_url": f"http://farm4.staticflickr.com/3153/{i}_ab.jpg",
                        "id": i,
                    }
                )
            )
        f.write('], "annotations": [')
        image_of = np.sort(rng.integers(0, n_images, n_anns))
        chunk = 10_000
        for start in range(0, n_anns, chunk):
            m = min(chunk, n_anns - start)
            xy = rng.uniform(0, 300, (m, 2))
            wh = rng.uniform(1, 300, (m, 2))
            npts = rng.integers(14, 35, m)  # ~450 MB at full size, as instances_train2017
            parts = []
            for k in range(m):
                pts = rng.uniform(0, 640, 2 * int(npts[k]))
                seg = "[[" + ",".join(f"{v:.2f}" for v in pts) + "]]"
                parts.append(
                    f'{{"segmentation": {seg}, "area": {wh[k, 0] * wh[k, 1]:.4f}, "iscrowd": 0, '
                    f'"image_id": {int(image_of[start + k])}, "bbox": [{xy[k, 0]:.2f}, {xy[k, 1]:.2f}, '
                    f'{wh[k, 0]:.2f}, {wh[k, 1]:.2f}], "category_id": {int(rng.integers(1, 81))}, '
                    f'"id": {start + k + 1}}}'
                )
            f.write(("," if start else "") + ",".join(parts))
        f.write('], "categories": ' + json.dumps(cats) + "}")


_MEASURE = r"""
import json, os, sys, time, resource
sys.path.insert(0, sys.argv[4])
sys.path.insert(0, sys.argv[4] + '/benchmarks')
from peak_memory import reset_peak, rss
from wordtree.tree import WordTree
from yolo9000.data import CocoDetection
parents = {"n80000000": None}
parents.update({f"n8000010{i}": "n80000000" for i in range(4)})
tree = WordTree.from_edges(parents)
reset_peak()
before = rss("VmRSS:")
t, cpu = time.perf_counter(), time.process_time()
ds = CocoDetection(sys.argv[1], sys.argv[2], tree)
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
print(json.dumps({"images": len(ds), "seconds": seconds, "cpu": cpu, "peak_growth": rss("VmHWM:") - before,
                  "kept": rss("VmRSS:") - before}))
"""


def coco_cost(json_path: Path, images_dir: Path) -> dict:
    """Seconds and peak resident growth of `CocoDetection(json_path)` in a fresh process."""
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(json_path), str(images_dir), "", root],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if out.returncode:
        raise SystemExit(f"measuring {json_path} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", type=Path, help="read JPEGs from this folder instead of generating them")
    p.add_argument("--images", type=int, default=160, help="pictures per run (half detection, half class; 0: skip)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeat", type=int, default=5, help="runs per figure (the median is reported)")
    p.add_argument("--workers", type=int, default=2, help="worker processes for the last figure (0: skip it)")
    p.add_argument("--decode", choices=("cpu", "gpu"), default="cpu", help="the loader's --decode (gpu: bytes)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="--decode gpu: where")
    p.add_argument("--coco-images", type=int, default=118_287, help="images of the generated COCO JSON (0: skip)")
    p.add_argument("--coco-annotations", type=int, default=None, help="annotations (default 7.3 per image)")
    p.add_argument("--coco-file", type=Path, help="generated COCO JSON to reuse (written there when absent)")
    p.add_argument("--json", type=Path, help="write {project_img_s, baseline_img_s, ratio} here")
    p.add_argument(
        "--oi-rows", type=int, default=14_600_000, help="rows of the generated Open Images boxes CSV (0: skip)"
    )
    p.add_argument("--yolo-files", type=int, default=1_000_000, help="pictures of the generated YOLO folder (0: skip)")
    p.add_argument("--scale-dir", type=Path, help="where the Open Images / YOLO files are generated and kept for reuse")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.images:
        loader_figures(args)
    if args.coco_images:
        coco_figures(args)
    if args.oi_rows or args.yolo_files:
        scale_figures(args)
    return 0


def loader_figures(args) -> None:
    """The loader against the baseline, the breakdown and the workers' figure (printed; `--json` written)."""
    n_batches = max(1, args.images // args.batch)
    n = n_batches * args.batch
    with tempfile.TemporaryDirectory() as tmp:
        if args.folder:
            ann, cls_dir, tree = folder_data(args.folder, Path(tmp), n)
        else:
            ann, cls_dir, tree = make_data(Path(tmp), n // 2, n // 2)
        det, cls = CocoDetection(ann, None, tree), ClassFolders(cls_dir, tree)
        paths = baseline_paths(det, cls, n)
        run_project(det, cls, tree, args.batch, 1)  # warm-up (imports, page cache)
        run_baseline(paths[:8])
        proj, base = [], []
        for _ in range(args.repeat):  # interleaved: both see the same machine load
            proj.append(run_project(det, cls, tree, args.batch, n_batches, decode=args.decode))
            base.append(run_baseline(paths))
        stages = [breakdown(det, cls, tree, args.batch, n_batches) for _ in range(max(1, args.repeat // 2))]
        device_rate = (
            [run_device_decode(det, cls, tree, args.batch, n_batches, args.device) for _ in range(3)]
            if args.decode == "gpu"
            else []
        )
        with_workers = (
            [run_project(det, cls, tree, args.batch, n_batches, args.workers, args.decode) for _ in range(2)]
            if args.workers
            else []
        )
    pm, bm = statistics.median(proj), statistics.median(base)
    print(f"{n} pictures per run (half detection 640x480, half class 500x375 JPEGs) at {SIZE}, batch {args.batch}")
    print(f"one thread, no workers, median of {args.repeat} runs (images per CPU second of this process)")
    print(f"  project loader (--decode {args.decode}):  {pm:7.1f}   runs: {', '.join(f'{v:.0f}' for v in proj)}")
    print(f"  baseline decode_jpeg + v2 resize + pad: {bm:7.1f}   runs: {', '.join(f'{v:.0f}' for v in base)}")
    print(f"  ratio project / baseline:               {pm / bm:7.2f}")
    print("where the project's time goes with --decode cpu (CPU ms per image, median):")
    keys = list(stages[0])
    for k in keys:
        v = statistics.median(s.get(k, 0.0) for s in stages)
        total = statistics.median(s["total"] for s in stages)
        print(f"  {k:40s} {v:6.2f}" + ("" if k == "total" else f"  {100 * v / total:4.0f}%"))
    if device_rate:
        print(
            f"--decode gpu on {args.device}: decode + resize + place of the batch {statistics.median(device_rate):.1f} "
            f"images/s (median of 3); the workers' share (reading bytes, headers, boxes) is the project figure above"
        )
    if with_workers:
        print(f"project loader with {args.workers} workers: {max(with_workers):.1f} images/s wall clock (best of 2)")
    if args.json:
        args.json.write_text(json.dumps({"project_img_s": pm, "baseline_img_s": bm, "ratio": pm / bm}) + "\n")


def coco_figures(args) -> None:
    """Time and peak memory of reading a generated COCO JSON (printed)."""
    n_img = args.coco_images
    n_ann = args.coco_annotations or int(round(n_img * 860_001 / 118_287))
    with tempfile.TemporaryDirectory() as tmp:
        path = args.coco_file or Path(tmp) / "instances.json"
        if not path.is_file():
            t = time.perf_counter()
            write_big_coco(path, n_img, n_ann)
            print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s")
        images_dir = path.parent / f"{path.stem}_images"
        if not images_dir.is_dir():  # empty files: the loader of some versions stats every listed file
            images_dir.mkdir()
            for i in range(n_img):
                (images_dir / f"{i:012d}.jpg").touch()
        costs = [coco_cost(path, images_dir) for _ in range(max(1, min(3, args.repeat)))]
        megabytes = path.stat().st_size / 1e6
    sec = statistics.median(c["seconds"] for c in costs)
    cpu = statistics.median(c["cpu"] for c in costs)
    peak = statistics.median(c["peak_growth"] for c in costs)
    kept = statistics.median(c["kept"] for c in costs)
    print(
        f"COCO JSON {n_img} images, {n_ann} annotations ({megabytes:.0f} MB): CocoDetection in {sec:.1f} s "
        f"({cpu:.1f} s CPU), "
        f"peak RSS growth {peak / 1e9:.2f} GB, kept {kept / 1e6:.0f} MB "
        f"(median of {len(costs)})"
    )


def scale_figures(args) -> None:
    """The other formats at scale (printed): an Open-Images-train-sized boxes CSV (`OpenImagesSource`, bounded
    memory) and a YOLO folder of `--yolo-files` label files (`UltralyticsSource`, indexed lazily), each in fresh
    processes (`benchmarks/scale_open_images.py`, `benchmarks/scale_yolo.py` for the details)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scale_open_images import measure_open_images
    from scale_yolo import measure_yolo_index

    with tempfile.TemporaryDirectory() as tmp:
        base = args.scale_dir or Path(tmp)
        if args.oi_rows:
            r = measure_open_images(args.oi_rows, base / "open_images")
            print(
                f"Open Images boxes CSV, {r['rows']} rows ({r['file_bytes'] / 1e9:.2f} GB): OpenImagesSource in "
                f"{r['seconds']:.1f} s ({r['cpu']:.1f} s CPU), peak RSS growth {r['peak_growth'] / 1e9:.2f} GB, kept "
                f"{r['kept'] / 1e6:.0f} MB ({r['detection_pictures']} pictures, {r['boxes']} boxes)"
            )
        if args.yolo_files:
            y = measure_yolo_index(args.yolo_files, base / "yolo", repeats=max(1, min(3, args.repeat)))
            for form in ("folders", "list"):
                f = y[form]
                print(
                    f"YOLO {args.yolo_files} label files ({form}): UltralyticsSource in {f['build_s']['median']:.2f} s "
                    f"(min {f['build_s']['min']:.2f}, max {f['build_s']['max']:.2f}), peak RSS growth "
                    f"{f['rss_growth_mb']['median']:.0f} MB; 1000 random labels(i) {f['labels_1000_s']['median']:.3f} s"
                )


if __name__ == "__main__":
    sys.exit(main())
