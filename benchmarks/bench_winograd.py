#!/usr/bin/env python3
"""Per-layer CPU time of YOLOv2's 3x3 convolutions: oneDNN direct (weights reordered once) against Winograd
F(2x2, 3x3) and F(4x4, 3x3), and the tile `winograd.choose_tile` picks. The figures behind that rule.

Variants are timed round-robin (medians over `--repeats`), so load from other processes hits them alike;
weights stay warm in the cache here, unlike in a whole-network forward, so read small differences with care.

    python benchmarks/bench_winograd.py                    # batch 1 and 8
    python benchmarks/bench_winograd.py --batch 1 2 4 8 --repeats 15
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo9000.inference import winograd  # noqa: E402
from yolo9000.inference.fused_conv import FusedConv2d  # noqa: E402

# (C_in, C_out, H=W) of yolov2.cfg's 3x3 stride-1 convolutions at 416
YOLOV2_SHAPES = [
    (32, 64, 208),
    (64, 128, 104),
    (128, 256, 52),
    (256, 512, 26),
    (512, 1024, 13),
    (1024, 1024, 13),
    (1280, 1024, 13),
]


def time_layer(c_in: int, c_out: int, hw: int, batch: int, repeats: int) -> dict[str, float]:
    """Median milliseconds per variant for one layer shape."""
    conv = torch.nn.Conv2d(c_in, c_out, 3, padding=1).eval()
    x = torch.randn(batch, c_in, hw, hw).contiguous(memory_format=torch.channels_last)
    direct = FusedConv2d(conv, "leaky", False)
    fns = {"direct": lambda: direct(x)}
    for tile in winograd.TILES:
        u = winograd.winograd_weights(conv.weight, tile)
        fns[f"F{tile}"] = lambda u=u, tile=tile: winograd.winograd_conv3x3(x, u, tile, conv.bias, "leaky")
    times: dict[str, list[float]] = {k: [] for k in fns}
    with torch.no_grad():
        for fn in fns.values():
            fn()
        for _ in range(repeats):
            for name, fn in fns.items():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"threads={torch.get_num_threads()} torch={torch.__version__}")
    print(f"{'batch':>5} {'C_in':>5} {'C_out':>5} {'HxW':>5} {'direct ms':>10} {'F2 ms':>8} {'F4 ms':>8}  best  chosen")
    for batch in args.batch:
        for c_in, c_out, hw in YOLOV2_SHAPES:
            r = time_layer(c_in, c_out, hw, batch, args.repeats)
            best = min(r, key=r.get)
            tile = winograd.choose_tile(c_in, hw, hw, batch)
            chosen = "direct" if tile is None else f"F{tile}"
            print(
                f"{batch:>5} {c_in:>5} {c_out:>5} {hw:>5} {r['direct']:>10.2f} {r['F2']:>8.2f} {r['F4']:>8.2f}"
                f"  {best:<7}{chosen}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
