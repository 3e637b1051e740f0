#!/usr/bin/env python3
"""CPU (or CUDA) forward speed of yolov2.cfg at 416: lightnet vs our exact fp32 path vs our fast paths.

Each path runs the same Darknet weights; timings are medians over `--repeats`, with the paths interleaved
round-robin so that load from other processes hits them alike. With the Darknet reference outputs
(../shared/reference/darknet_outputs) present, it also reports each path's max drift from Darknet's region
output and whether its detections at thresh .25 equal Darknet's.

    python benchmarks/bench_forward.py                       # batch 1 and 8, 416, CPU
    python benchmarks/bench_forward.py --batch 1 --repeats 9 --json bench.json
    python benchmarks/bench_forward.py --compile --batch 1          # + torch.compile'd paths
    python benchmarks/bench_forward.py --device cuda --batch 1 16 64 --size 416 544

lightnet is optional (`pip install lightnet brambox`, the `bench` extra); without it that row is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from yolo9000.darknet.model import load_darknet  # noqa: E402
from yolo9000.darknet.weights import save_weights  # noqa: E402
from yolo9000.inference.optimize import optimize_for_inference  # noqa: E402

SHARED = REPO.parent / "shared"
REF_CFG = SHARED / "reference" / "darknet" / "yolov2.cfg"
REF_OUT = SHARED / "reference" / "darknet_outputs"
TOOL = SHARED / "tools" / "make_darknet_weights.py"


def get_weights(cache: Path) -> tuple[Path, Path, bool]:
    """(cfg, weights, is_reference_seed0): the reference seed-0 weights when the tools exist, else random ones."""
    if REF_CFG.is_file() and TOOL.is_file():
        w = cache / "yolov2_seed0.weights"
        if not w.is_file():
            subprocess.run([sys.executable, str(TOOL), str(REF_CFG), str(w), "--seed", "0", "--quiet"], check=True)
        return REF_CFG, w, True
    from yolo9000.darknet import models

    model = models.yolov2(size=416)
    cfg = cache / "yolov2.cfg"
    cfg.write_text(model.cfg_text)
    w = cache / "yolov2_random.weights"
    with torch.no_grad():
        for b in model.conv_blocks():
            if b.bn is not None:
                b.bn.running_var.uniform_(0.5, 1.5)
    save_weights(model, w)
    return cfg, w, False


def lightnet_model(weights: Path, device: str):
    try:
        import lightnet as ln
    except ImportError as exc:
        print(f"lightnet not available ({exc}); pip install lightnet brambox to compare", file=sys.stderr)
        return None
    m = ln.models.YoloV2(num_classes=80)
    with contextlib.redirect_stdout(sys.stderr):
        m.load(str(weights))
    return m.to(device).eval()


def reference_input() -> torch.Tensor | None:
    p = REF_OUT / "input_letterbox_416.npy"
    return torch.from_numpy(np.load(p))[None] if p.is_file() else None


def detections_match(raw: torch.Tensor, head, region_cfg) -> bool | None:
    """Same (prediction, class) set as Darknet at thresh .25 (None without reference or decode)."""
    try:
        from yolo9000.detection.decode import decode
    except ImportError:
        return None
    p = REF_OUT / "yolov2_416_detections.json"
    if not p.is_file():
        return None
    run = next(r for r in json.loads(p.read_text())["runs"] if abs(r["thresh"] - 0.25) < 1e-9)
    want = sorted((d["index"], c) for d in run["detections"] for c, _ in d["probs"])
    det = decode(
        head.activate(raw.float().cpu()),
        region_cfg,
        thresh=0.25,
        hier_thresh=0.5,
        nms=0.45,
        mode="darknet",
        net_size=(416, 416),
        image_sizes=[(640, 480)],
    )[0]
    got = sorted(zip(det.index.tolist(), det.labels.tolist()))
    if got == want:
        return True
    common = len(set(got) & set(want))
    print(
        f"  detections differ: {common} shared, {len(got) - common} extra, {len(want) - common} missing "
        f"of Darknet's {len(want)}",
        file=sys.stderr,
    )
    return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--size", type=int, nargs="+", default=[416])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per path (median reported)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--metric",
        choices=("wall", "cpu"),
        default="wall",
        help="what 'x lightnet' compares: wall time, or process CPU time (steadier on a busy machine; "
        "use with --threads 1)",
    )
    ap.add_argument(
        "--paths",
        nargs="+",
        default=None,
        help="subset of: lightnet eager_fp32 fused_fp32 fused_fp32_cl winograd_fp32_cl bf16_cl bf16_autocast "
        "compiled_fp32_cl compiled_bf16_cl (--compile) fp16_cl tf32 (CUDA)",
    )
    ap.add_argument("--no-lightnet", action="store_true")
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also time torch.compile'd paths (each input shape compiles first: minutes on a small CPU)",
    )
    ap.add_argument("--cache", default=None, help="folder for the generated weights (default: a temp dir)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="bench_forward_"))
    cache.mkdir(parents=True, exist_ok=True)
    cfg, weights, is_ref = get_weights(cache)

    base = load_darknet(cfg, weights).to(dev)  # PyTorch BN formula (Darknet's GPU path)
    exact = optimize_for_inference(copy.deepcopy(base).set_bn_mode("cpu"), dtype=None, channels_last=False)
    paths: dict[str, tuple] = {}  # name -> (callable(x) -> raw, description)
    if not args.no_lightnet:
        ln_model = lightnet_model(weights, args.device)
        if ln_model is not None:
            paths["lightnet"] = (ln_model, "lightnet YoloV2, eager fp32")
    paths["eager_fp32"] = (base, "ours, eager fp32, unfused BN (PyTorch formula)")
    paths["fused_fp32"] = (exact, "ours, BN folded (Darknet CPU formula), fp32 NCHW")
    cl = optimize_for_inference(copy.deepcopy(base).set_bn_mode("cpu"), dtype=None, channels_last=True)
    paths["fused_fp32_cl"] = (cl, "ours, BN folded, fp32 channels_last")
    paths["winograd_fp32_cl"] = (
        optimize_for_inference(copy.deepcopy(base).set_bn_mode("cpu"), dtype=None, channels_last=True, winograd=True),
        "ours, BN folded, fp32 channels_last, Winograd F(2x2|4x4, 3x3) where winograd.choose_tile picks it",
    )
    bf = optimize_for_inference(base, dtype=torch.bfloat16, channels_last=True)
    paths["bf16_cl"] = (bf, "ours, BN folded, bf16 weights + channels_last")
    autocast_dev = "cuda" if dev.type == "cuda" else "cpu"

    def autocast_run(x, _m=cl):
        with torch.autocast(autocast_dev, dtype=torch.bfloat16):
            return _m(x)

    paths["bf16_autocast"] = (autocast_run, "ours, BN folded, channels_last, bf16 autocast")
    if args.compile:
        paths["compiled_fp32_cl"] = (
            optimize_for_inference(base.set_bn_mode("cpu"), dtype=None, compile=True),
            "ours, BN folded, fp32 channels_last, torch.compile (inductor, freezing)",
        )
        paths["compiled_bf16_cl"] = (
            optimize_for_inference(base, dtype=torch.bfloat16, compile=True),
            "ours, BN folded, bf16 channels_last, torch.compile (inductor, freezing)",
        )
        base.set_bn_mode("gpu")
    if dev.type == "cuda":
        paths["fp16_cl"] = (
            optimize_for_inference(base, dtype=torch.float16, channels_last=True),
            "ours, BN folded, fp16 + channels_last",
        )

        def tf32_run(x, _m=cl):
            old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            try:
                return _m(x)
            finally:
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old

        paths["tf32"] = (tf32_run, "ours, BN folded, channels_last, TF32 convs")
    if args.paths:
        paths = {k: v for k, v in paths.items() if k in args.paths}

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    results = []
    ref_in = reference_input() if is_ref else None
    ref_out = np.load(REF_OUT / "yolov2_416_region_output.npy") if ref_in is not None else None
    with torch.inference_mode():
        quality = {}
        if ref_in is not None:
            x = ref_in.to(dev)
            for name, (fn, _) in paths.items():
                raw = fn(x).float()
                drift = float(np.abs(base.head.activate(raw.cpu())[0].numpy() - ref_out).max())
                quality[name] = (drift, detections_match(raw, base.head, base.region))
        for size in args.size:
            for bsz in args.batch:
                x = torch.rand(bsz, 3, size, size, device=dev)
                times: dict[str, list[float]] = {k: [] for k in paths}
                cpu_times: dict[str, list[float]] = {k: [] for k in paths}
                for w in range(max(args.warmup, 1 if args.compile else 0)):
                    for name, (fn, _desc) in paths.items():
                        t0 = time.perf_counter()
                        fn(x)
                        sync()
                        if name.startswith("compiled") and w == 0:
                            print(
                                f"  {name} {size} x{bsz}: first call (compile) {time.perf_counter() - t0:.1f} s",
                                file=sys.stderr,
                            )
                for _ in range(args.repeats):
                    for name, (fn, _) in paths.items():
                        sync()
                        t0, c0 = time.perf_counter(), time.process_time()
                        fn(x)
                        sync()
                        times[name].append(time.perf_counter() - t0)
                        cpu_times[name].append(time.process_time() - c0)
                metric = cpu_times if args.metric == "cpu" else times
                ln_med = statistics.median(metric["lightnet"]) if "lightnet" in metric else None
                for name, (fn, desc) in paths.items():
                    med = statistics.median(times[name])
                    cpu_med = statistics.median(cpu_times[name])
                    drift, same = quality.get(name, (None, None)) if size == 416 else (None, None)
                    results.append(
                        {
                            "path": name,
                            "description": desc,
                            "device": str(dev),
                            "size": size,
                            "batch": bsz,
                            "median_s": med,
                            "min_s": min(times[name]),
                            "images_per_s": bsz / med,
                            "median_cpu_s": cpu_med,
                            "vs_lightnet": statistics.median(metric[name]) / ln_med if ln_med else None,
                            "max_drift_vs_darknet": drift,
                            "same_detections_025": same,
                        }
                    )

    load = (
        " load average %.1f %.1f %.1f" % __import__("os").getloadavg()
        if hasattr(__import__("os"), "getloadavg")
        else ""
    )
    print(
        f"device={dev} threads={torch.get_num_threads()} repeats={args.repeats} metric={args.metric} "
        f"torch={torch.__version__}{load}"
    )
    print(
        f"{'path':16s} {'size':>4s} {'batch':>5s} {'median s':>9s} {'cpu s':>8s} {'img/s':>8s} {'x lightnet':>10s} "
        f"{'drift':>9s} {'dets=':>5s}"
    )
    for r in results:
        vs = f"{r['vs_lightnet']:.2f}" if r["vs_lightnet"] else "-"
        drift = f"{r['max_drift_vs_darknet']:.1e}" if r["max_drift_vs_darknet"] is not None else "-"
        same = {True: "yes", False: "NO", None: "-"}[r["same_detections_025"]]
        print(
            f"{r['path']:16s} {r['size']:4d} {r['batch']:5d} {r['median_s']:9.4f} {r['median_cpu_s']:8.3f} "
            f"{r['images_per_s']:8.1f} {vs:>10s} {drift:>9s} {same:>5s}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
