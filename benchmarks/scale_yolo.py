"""The cost of indexing a large Ultralytics YOLO folder: `UltralyticsSource` over n pictures (empty picture files,
one label file each), in its folder form and its list-file form, each in a fresh process.

    python3 benchmarks/scale_yolo.py --n 1000000 --workdir /tmp/yolo1m     # the issue's size
    python3 benchmarks/scale_yolo.py --n 100000 --workdir /tmp/yolo100k --keep

Prints, per form, the construction time, the peak resident memory growth over the process after its imports
(VmHWM), and the time of `labels(i)` on 1000 random pictures. The files are generated once (reused when the
folder already holds them) and removed at the end unless `--keep`. Timings are medians over `--repeats` fresh
processes, with min and max; the file system cache is warm (the files were just written or read).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: pictures per folder: the images/ tree is sharded like large datasets are (and folders of 10k list fast)
SHARD = 10_000
LABEL = b"0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.3\n"

_CHILD = r"""
import json, os, random, resource, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from peak_memory import rss
from yolo9000.data.ultralytics import UltralyticsSource

def hwm_kib():
    return rss("VmHWM:") / 1024

before = hwm_kib()
t0 = time.perf_counter()
src = UltralyticsSource(sys.argv[2], sys.argv[3])
build = time.perf_counter() - t0
after = hwm_kib()
picks = random.Random(0).sample(range(len(src)), min(1000, len(src)))
t0 = time.perf_counter()
boxes = sum(len(src.labels(i).boxes) for i in picks)
read = time.perf_counter() - t0
t = src.table
table_mb = (len(t.blob) + t.ends.nbytes + t.folder_ids.nbytes) / 2**20
print(json.dumps({"pictures": len(src), "build_s": build, "rss_growth_mb": (after - before) / 1024,
                  "labels_1000_s": read, "boxes": boxes, "table_mb": table_mb}))
"""


def _generate(n: int, workdir: Path) -> float:
    """n empty pictures in images/train/<shard>/ and a label file each in labels/train/<shard>/, plus list.txt of
    "./images/..." entries; the seconds it took (0 when `workdir` already holds them)."""
    marker = workdir / "generated.json"
    if marker.is_file() and json.loads(marker.read_text()).get("n") == n:
        return 0.0
    if workdir.exists():
        shutil.rmtree(workdir)
    t0 = time.perf_counter()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    lines = []
    for start in range(0, n, SHARD):
        shard = f"{start // SHARD:04d}"
        img_dir = workdir / "images" / "train" / shard
        lab_dir = workdir / "labels" / "train" / shard
        img_dir.mkdir(parents=True)
        lab_dir.mkdir(parents=True)
        img_s, lab_s = str(img_dir), str(lab_dir)
        for k in range(start, min(n, start + SHARD)):
            name = f"{k:07d}"
            os.close(os.open(f"{img_s}/{name}.jpg", flags, 0o644))
            fd = os.open(f"{lab_s}/{name}.txt", flags, 0o644)
            os.write(fd, LABEL)
            os.close(fd)
            lines.append(f"./images/train/{shard}/{name}.jpg\n")
    (workdir / "list.txt").write_text("".join(lines))
    (workdir / "folders.yaml").write_text("path: .\ntrain: images/train\nnames: [a, b]\n")
    (workdir / "list.yaml").write_text("path: .\ntrain: list.txt\nnames: [a, b]\n")
    marker.write_text(json.dumps({"n": n}))
    return time.perf_counter() - t0


def _child(yaml_path: Path) -> dict:
    """One fresh interpreter's figures for `yaml_path`."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), str(yaml_path), "train"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_yolo_index(n: int, workdir: Path, repeats: int = 3) -> dict:
    """Generate (or reuse) n pictures with labels under `workdir` and measure `UltralyticsSource` over them in
    fresh processes, folder form and list form alternated: per form the median, min and max of the
    construction seconds, the peak RSS growth (MB) and the seconds of 1000 random `labels(i)` reads."""
    gen = _generate(n, Path(workdir))
    runs: dict[str, list[dict]] = {"folders": [], "list": []}
    for _ in range(repeats):
        for form in runs:  # interleaved, so load from other processes hits both forms alike
            runs[form].append(_child(Path(workdir) / f"{form}.yaml"))
    result: dict = {"n": n, "generate_s": gen, "repeats": repeats}
    for form, rs in runs.items():
        if any(r["pictures"] != n for r in rs):
            raise RuntimeError(f"{form}: indexed {rs[0]['pictures']} pictures, expected {n}")
        result[form] = {
            key: {
                "median": statistics.median(r[key] for r in rs),
                "min": min(r[key] for r in rs),
                "max": max(r[key] for r in rs),
            }
            for key in ("build_s", "rss_growth_mb", "labels_1000_s", "table_mb")
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="pictures (default 1000000)")
    ap.add_argument("--workdir", type=Path, required=True, help="folder for the generated files (reused)")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per form (default 3)")
    ap.add_argument("--keep", action="store_true", help="leave the generated files for another run")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    try:
        res = measure_yolo_index(args.n, args.workdir, args.repeats)
    finally:
        if not args.keep and args.workdir.exists():
            shutil.rmtree(args.workdir)
    made = f"generated in {res['generate_s']:.1f} s" if res["generate_s"] else "reused"
    print(f"n = {res['n']:,} pictures, each with a label file ({made})")
    for form in ("folders", "list"):
        f = res[form]

        def fmt(key: str, unit: str, digits: int = 2) -> str:
            m = f[key]
            return f"{m['median']:.{digits}f} {unit} (min {m['min']:.{digits}f}, max {m['max']:.{digits}f})"

        print(
            f"{form:>8}: build {fmt('build_s', 's')}, peak RSS growth {fmt('rss_growth_mb', 'MB', 1)} "
            f"(path table {f['table_mb']['median']:.1f} MB), 1000 random labels(i) {fmt('labels_1000_s', 's', 3)}"
        )
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
