"""Time and peak memory of indexing an Open-Images-train-sized boxes CSV with `OpenImagesSource`.

    python3 benchmarks/scale_open_images.py                              # 14.6M rows (~2.2 GB) in a temp folder
    python3 benchmarks/scale_open_images.py --rows 3000000 --workdir /tmp/oi   # smaller; the files are kept there
    python3 benchmarks/scale_open_images.py --shuffled                   # rows in random order (the worst case)

Generates (or reuses, when the same rows were generated there before) a boxes CSV with the real
``oidv6-train-annotations-bbox.csv`` header and its extra XClick columns: 16-hex-character ImageIDs (8.4 boxes per
picture, as the real 14.6M boxes of 1.74M pictures), 600 MIDs, sources ``xclick``/``activemil``, coordinates with 6
decimals, rows grouped by ImageID as the real file is (``--shuffled``: in random order, which costs the index a sort
and more ImageIDs per chunk). Beside it a class descriptions CSV and a small image-level
labels CSV. Then, in a fresh process, the seconds to construct the source and the peak resident memory growth
(``VmHWM`` of ``/proc/self/status`` over the resident size after the imports).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BOX_HEADER = (
    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside,"
    "XClick1X,XClick2X,XClick3X,XClick4X,XClick1Y,XClick2Y,XClick3Y,XClick4Y"
)
BOXES_PER_IMAGE = 14_610_229 / 1_743_042  # the real train split
N_CLASSES = 600
BLOCK = 500_000  # rows generated and written at a time
_MID_ALPHABET = np.frombuffer(b"0123456789bcdfghjklmnpqrstvwxyz_", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# ---------------------------------------------------------------------------------------------- text in blocks
# A block of rows is a (rows, width) uint8 matrix of fixed-width fields padded with zero bytes, which are dropped
# when the block is written: variable-width text without a Python loop over rows.
def _table(words: list[bytes]) -> np.ndarray:
    """(len(words), longest) uint8, each word left-aligned and zero-padded."""
    out = np.zeros((len(words), max(len(w) for w in words)), dtype=np.uint8)
    for k, w in enumerate(words):
        out[k, : len(w)] = np.frombuffer(w, dtype=np.uint8)
    return out


def _decimals(micro: np.ndarray) -> np.ndarray:
    """``d.dddddd`` of integers in millionths (0..1_000_000): (n, 8) uint8."""
    out = np.empty((len(micro), 8), dtype=np.uint8)
    out[:, 0] = ord("0") + micro // 1_000_000
    out[:, 1] = ord(".")
    for k in range(6):
        out[:, 2 + k] = ord("0") + (micro // 10 ** (5 - k)) % 10
    return out


def _hex16(values: np.ndarray) -> np.ndarray:
    """16 lowercase hex digits of uint64 values: (n, 16) uint8."""
    shifts = np.arange(60, -1, -4, dtype=np.uint64)
    return _HEX[((values[:, None] >> shifts) & np.uint64(15)).astype(np.intp)]


def _write_rows(fh, fields: list[np.ndarray]) -> None:
    """Write a block: the fields (each (n, w) uint8) joined by commas, one row a line, padding dropped."""
    n = len(fields[0])
    comma, newline = np.full((n, 1), ord(","), np.uint8), np.full((n, 1), ord("\n"), np.uint8)
    parts: list[np.ndarray] = []
    for f in fields:
        parts += [f, comma]
    parts[-1] = newline
    flat = np.concatenate(parts, axis=1).ravel()
    fh.write(flat[flat != 0].tobytes())


def _mids(rng: np.random.Generator, n: int) -> list[bytes]:
    """n distinct Freebase-like MIDs (``/m/0`` and five characters)."""
    codes = rng.choice(32**5, size=n, replace=False)
    digits = (codes[:, None] // 32 ** np.arange(4, -1, -1)) % 32
    return [b"/m/0" + _MID_ALPHABET[d].tobytes() for d in digits]


# ---------------------------------------------------------------------------------------------- data
def write_open_images(rows: int, workdir: Path, seed: int = 0, *, shuffled: bool = False) -> Path:
    """The boxes CSV of `rows` rows (grouped by ImageID, or in random order when `shuffled`), the class
    descriptions, a small image-level labels CSV and the YAML naming them (with an empty images folder) in
    `workdir`; files of an earlier call with the same arguments are reused. Returns the YAML."""
    workdir.mkdir(parents=True, exist_ok=True)
    yaml_path, boxes = workdir / "openimages.yaml", workdir / "boxes.csv"
    stamp = workdir / "generated.json"
    want = {"rows": rows, "seed": seed, "shuffled": shuffled, "version": 1}
    if stamp.is_file() and boxes.is_file():
        have = json.loads(stamp.read_text())
        if {k: have.get(k) for k in want} == want and have.get("bytes") == boxes.stat().st_size:
            return yaml_path
    rng = np.random.default_rng(seed)
    mids = _mids(rng, N_CLASSES)
    mid_table = _table(mids)
    n_images = max(1, round(rows / BOXES_PER_IMAGE))
    ids = np.unique(rng.integers(0, 2**63, n_images, dtype=np.int64).astype(np.uint64))
    image_of_row = rng.integers(0, len(ids), rows)
    if not shuffled:
        image_of_row.sort()  # grouped by ImageID, as the real file
    weight = 1.0 / np.arange(1, N_CLASSES + 1)  # a few frequent classes, many rare ones (Zipf-like)
    weight /= weight.sum()
    source_table = _table([b"xclick", b"activemil"])
    flag_table = _table([b"0", b"1", b"-1"])
    with open(boxes, "wb") as fh:
        fh.write(BOX_HEADER.encode() + b"\n")
        for start in range(0, rows, BLOCK):
            m = min(BLOCK, rows - start)
            source = (rng.random(m) < 0.25).astype(np.intp)  # a quarter activemil
            x1, y1 = rng.integers(0, 900_000, m), rng.integers(0, 900_000, m)
            x2, y2 = x1 + rng.integers(1, 1_000_001 - x1), y1 + rng.integers(1, 1_000_001 - y1)
            flags = [flag_table[(rng.random(m) < p).astype(np.intp)] for p in (0.6, 0.3, 0.05, 0.05, 0.02)]
            clicks = []  # activemil boxes have no click points: -1 there
            for lo, hi in ((x1, x2), (y1, y2)):
                for _ in range(4):
                    pt = _decimals(rng.integers(lo, hi + 1))
                    pt[source == 1] = 0
                    pt[source == 1, :2] = np.frombuffer(b"-1", dtype=np.uint8)
                    clicks.append(pt)
            labels = rng.choice(N_CLASSES, size=m, p=weight)
            fields = [_hex16(ids[image_of_row[start : start + m]]), source_table[source], mid_table[labels]]
            fields += [np.full((m, 1), ord("1"), np.uint8)]
            fields += [_decimals(x1), _decimals(x2), _decimals(y1), _decimals(y2), *flags, *clicks]
            _write_rows(fh, fields)
    del image_of_row
    write_side_files(workdir, rng, mids, ids)
    stamp.write_text(json.dumps({**want, "bytes": boxes.stat().st_size}) + "\n")
    return yaml_path


def write_side_files(workdir: Path, rng: np.random.Generator, mids: list[bytes], ids: np.ndarray) -> None:
    """The class descriptions (the used MIDs and as many unused ones), image-level labels (positive and negative,
    on pictures with boxes and on others) and the YAML."""
    extra = [m for m in _mids(rng, 2 * N_CLASSES) if m not in set(mids)][:N_CLASSES]
    with open(workdir / "classes.csv", "wb") as fh:
        fh.write(b"LabelName,DisplayName\n")
        fh.write(b"".join(m + b",Thing " + str(k).encode() + b"\n" for k, m in enumerate(mids + extra)))
    n = min(200_000, max(10, len(ids) // 10))
    other = np.unique(rng.integers(0, 2**63, n // 2, dtype=np.int64).astype(np.uint64))  # pictures without boxes
    images = np.concatenate([ids[rng.integers(0, len(ids), n - len(other))], other])
    source = _table([b"verification", b"crowdsource-verification"])[(rng.random(len(images)) < 0.2).astype(np.intp)]
    confidence = _table([b"0", b"1"])[(rng.random(len(images)) < 0.7).astype(np.intp)]
    with open(workdir / "labels.csv", "wb") as fh:
        fh.write(b"ImageID,Source,LabelName,Confidence\n")
        _write_rows(fh, [_hex16(images), source, _table(mids)[rng.integers(0, len(mids), len(images))], confidence])
    (workdir / "images").mkdir(exist_ok=True)
    (workdir / "openimages.yaml").write_text(
        "images: images/\nboxes: boxes.csv\nlabels: labels.csv\nclasses: classes.csv\ngroup_of: keep\n"
    )


# ---------------------------------------------------------------------------------------------- measure
_MEASURE = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[2] + '/benchmarks')
from peak_memory import reset_peak, rss
from yolo9000.data.open_images import OpenImagesSource
reset_peak()
before = rss("VmRSS:")
t, cpu = time.perf_counter(), time.process_time()
src = OpenImagesSource(sys.argv[1])
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
kinds = src.kinds()
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_growth": rss("VmHWM:") - before,
                  "kept": rss("VmRSS:") - before, "pictures": len(src), "boxes": src.box_count,
                  "detection_pictures": int((kinds == 0).sum()), "classification_pictures": int((kinds == 1).sum()),
                  "classes": len(src.classes)}))
"""


def measure_open_images(rows: int, workdir: Path, *, shuffled: bool = False) -> dict:
    """Generate (or reuse) a boxes CSV of `rows` rows in `workdir` and index it in a fresh process: seconds, CPU
    seconds, peak resident growth and what is kept (bytes), the pictures, boxes and classes found, the file's
    bytes and the generation seconds (0 when reused)."""
    t = time.perf_counter()
    yaml_path = write_open_images(rows, workdir, shuffled=shuffled)
    generated = time.perf_counter() - t
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(yaml_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if out.returncode:
        raise SystemExit(f"indexing {yaml_path} failed: {out.stderr.strip()[-2000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        **figures,
        "rows": rows,
        "shuffled": shuffled,
        "file_bytes": (workdir / "boxes.csv").stat().st_size,
        "generate_s": generated,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=14_600_000, help="rows of the boxes CSV (the real train: 14.6M)")
    p.add_argument("--workdir", type=Path, help="where the files are generated and kept (default: a temp folder)")
    p.add_argument("--shuffled", action="store_true", help="rows in random order (the real file is grouped)")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        r = measure_open_images(args.rows, args.workdir or Path(tmp), shuffled=args.shuffled)
    print(
        f"Open Images boxes CSV, {r['rows']} rows{' in random order' if r['shuffled'] else ''} "
        f"({r['file_bytes'] / 1e9:.2f} GB"
        + (f", generated in {r['generate_s']:.0f} s" if r["generate_s"] > 1 else ", reused")
        + f"): OpenImagesSource in {r['seconds']:.1f} s ({r['cpu']:.1f} s CPU), "
        f"peak RSS growth {r['peak_growth'] / 1e9:.2f} GB, kept {r['kept'] / 1e6:.0f} MB; "
        f"{r['detection_pictures']} detection pictures, {r['boxes']} boxes, "
        f"{r['classification_pictures']} classification-only pictures, {r['classes']} classes"
    )
    if args.json:
        args.json.write_text(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
