#!/usr/bin/env python3
"""CPU (or CUDA) forward speed of yolov2.cfg (and yolo9000.cfg) at 416: lightnet vs our exact fp32 path vs
our fast paths and the library runtimes (ONNX Runtime fp32, OpenVINO with the f32 hint, torch.compile).

Each path runs the same weights; timings are medians over `--repeats` (with the spread, max/min), the paths
interleaved round-robin so that load from other processes hits them alike; "x ref" is each path's median
over the reference path's median in the same run (lightnet where installed, else our eager fp32). For
yolov2 with the Darknet reference outputs (../shared/reference/darknet_outputs) present, it also reports each
path's max drift from Darknet's region output and whether its detections at thresh .25 equal Darknet's; for
yolo9000 (random weights; needs ../shared's 9k.tree) the drift from our eager fp32 path and whether the
hierarchical detections (prediction, node) equal its.

    python3 benchmarks/bench_forward.py                       # yolov2, batch 1 and 8, 416, CPU
    python3 benchmarks/bench_forward.py --models yolov2 yolo9000 --batch 1 8 --repeats 5
    python3 benchmarks/bench_forward.py --batch 1 --repeats 9 --json bench.json
    python3 benchmarks/bench_forward.py --compile --batch 1          # + torch.compile'd paths
    python3 benchmarks/bench_forward.py --device cuda --batch 1 16 64 --size 416 544

lightnet is optional (`pip install lightnet brambox`, the `bench` extra); without it that row is skipped, as
are the ONNX Runtime / OpenVINO rows without those packages (the `onnx` / `openvino` extras).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
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
TREE_9K = SHARED / "reference" / "darknet" / "9k.tree"
NAMES_9K = SHARED / "reference" / "darknet" / "9k.names"
ALL_PATHS = (
    "lightnet eager_fp32 fused_fp32 fused_fp32_cl onnxruntime_fp32 openvino_f32 openvino_default "
    "bf16_cl bf16_autocast compiled_fp32_cl compiled_bf16_cl fp16_cl tf32"
).split()


def get_weights(cache: Path) -> tuple[Path, Path, bool]:
    """(cfg, weights, is_reference_seed0): the reference seed-0 weights when the tools exist, else random ones."""
    if REF_CFG.is_file() and TOOL.is_file():
        w = cache / "yolov2_seed0.weights"
        if not w.is_file():
            subprocess.run([sys.executable, str(TOOL), str(REF_CFG), str(w), "--seed", "0", "--quiet"], check=True)
        return REF_CFG, w, True
    from yolo9000.darknet import templates

    model = templates.yolov2(size=416)
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


def yolo9000_model() -> torch.nn.Module | None:
    """yolo9000.cfg at 416 over Darknet's 9k tree, seed-0 random weights (None without ../shared's tree)."""
    if not TREE_9K.is_file():
        print(f"yolo9000 skipped: {TREE_9K} not found (needs ../shared)", file=sys.stderr)
        return None
    from wordtree.formats import load_tree
    from yolo9000.darknet import templates

    torch.manual_seed(0)
    model = templates.yolo9000(load_tree(TREE_9K, NAMES_9K), size=416)
    with torch.no_grad():
        for b in model.conv_blocks():
            if b.bn is not None:
                b.bn.running_var.uniform_(0.5, 1.5)
    return model.eval()


def runtime_paths(model, wanted: set[str], size: int) -> dict[str, tuple]:
    """ONNX Runtime fp32, OpenVINO with the f32 hint and with its default hint, on the same weights."""
    from yolo9000.inference.backends import backend_available, compile_openvino, runtime_model

    paths: dict[str, tuple] = {}
    if "onnxruntime_fp32" in wanted and backend_available("onnxruntime"):
        paths["onnxruntime_fp32"] = (
            runtime_model(model, "onnxruntime", size=size),
            "ONNX Runtime fp32 (legacy exporter, opset 17, BN folded, ORT_ENABLE_ALL)",
        )
    if "openvino_f32" in wanted and backend_available("openvino"):
        paths["openvino_f32"] = (
            runtime_model(model, "openvino", size=size),
            "OpenVINO CPU, f32 inference-precision hint",
        )
    if "openvino_default" in wanted and backend_available("openvino"):
        import io

        import openvino as ov

        from yolo9000.inference.export import model_info, onnx_bytes

        compiled = compile_openvino(
            ov.convert_model(io.BytesIO(onnx_bytes(model, model_info(model, size=size)))),
            "CPU",
            {ov.properties.inference_num_threads: torch.get_num_threads()},
        )
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")

        def ov_default(x, _c=compiled):
            return torch.from_numpy(np.array(_c({0: x.numpy()})[_c.output(0)]))

        paths["openvino_default"] = (ov_default, f"OpenVINO CPU, its default hint ({hint})")
    return paths


def build_paths(name: str, base, args, dev: torch.device, weights: Path | None, size: int) -> dict[str, tuple]:
    """name -> (callable(x) -> raw head output, description) for one model at one input size."""
    wanted = set(args.paths or [p for p in ALL_PATHS if not p.startswith("compiled") or args.compile])
    paths: dict[str, tuple] = {}
    if name == "yolov2" and not args.no_lightnet and "lightnet" in wanted and weights is not None:
        ln_model = lightnet_model(weights, args.device)
        if ln_model is not None:
            paths["lightnet"] = (ln_model, "lightnet YoloV2, eager fp32")
    cpu_bn = copy.deepcopy(base).set_bn_mode("cpu")  # Darknet's CPU batch norm, as its reference outputs
    paths["eager_fp32"] = (base, "ours, eager fp32, unfused BN (PyTorch formula)")
    if "fused_fp32" in wanted:
        paths["fused_fp32"] = (
            optimize_for_inference(cpu_bn, dtype=None, channels_last=False),
            "ours, BN folded (Darknet CPU formula), fp32 NCHW",
        )
    cl = optimize_for_inference(cpu_bn, dtype=None, channels_last=True)
    paths["fused_fp32_cl"] = (cl, "ours, BN folded, fp32 channels_last")
    if dev.type == "cpu":
        paths.update(runtime_paths(cpu_bn, wanted, size))
    if wanted & {"bf16_cl", "bf16_autocast"}:
        paths["bf16_cl"] = (
            optimize_for_inference(base, dtype=torch.bfloat16, channels_last=True),
            "ours, BN folded, bf16 weights + channels_last",
        )
    autocast_dev = "cuda" if dev.type == "cuda" else "cpu"

    def autocast_run(x, _m=cl):
        with torch.autocast(autocast_dev, dtype=torch.bfloat16):
            return _m(x)

    paths["bf16_autocast"] = (autocast_run, "ours, BN folded, channels_last, bf16 autocast")
    if args.compile:
        paths["compiled_fp32_cl"] = (
            optimize_for_inference(cpu_bn, dtype=None, compile=True),
            "ours, BN folded, fp32 channels_last, torch.compile (inductor, freezing)",
        )
        paths["compiled_bf16_cl"] = (
            optimize_for_inference(base, dtype=torch.bfloat16, compile=True),
            "ours, BN folded, bf16 channels_last, torch.compile (inductor, freezing)",
        )
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
    return {k: v for k, v in paths.items() if k in wanted}


def tree_quality(paths: dict[str, tuple], base, dev: torch.device) -> dict[str, tuple]:
    """yolo9000: each path's max drift from our eager fp32 region output on one random picture-like input,
    and whether its hierarchical detections (prediction, node, path) equal eager fp32's."""
    from yolo9000.detection.decode import decode

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 416, 416, generator=gen).to(dev)

    def detections(region):
        # Darknet's mode scores by the objectness, so random weights still give a few hundred tree detections
        (det,) = decode(region, base.region, thresh=0.25, mode="darknet", tree_softmax=base.head.tree_softmax)
        return sorted(zip(det.index.tolist(), det.labels.tolist(), map(tuple, det.path.tolist())))

    ref = base.head.activate(base(x).float().cpu())
    want = detections(ref)
    out = {}
    for name, (fn, _) in paths.items():
        region = base.head.activate(fn(x).float().cpu())
        out[name] = (float((region - ref).abs().max()), detections(region) == want)
    print(f"  yolo9000: eager fp32 keeps {len(want)} detections on the quality input", file=sys.stderr)
    return out


def end_to_end(model_name: str, base, args) -> list[dict]:
    """Batch 1 at 416 on a 640x480 picture, per backend: the whole `Detector` call (letterbox + network +
    region activation / tree softmax + decode + NMS) against the network alone, interleaved.

    Random weights make every prediction's objectness about 0.5, so all of them pass the threshold and are
    decoded (box, tree walk): the worst case. A trained model leaves most cells as background; "few" shifts
    the objectness bias so that 30 predictions pass .25 on this picture, as a trained model's would."""
    from yolo9000.detection.letterbox import letterbox_batch
    from yolo9000.inference.backends import backend_available
    from yolo9000.inference.detector import Detector

    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 480, 640), dtype=torch.uint8, generator=gen)
    few = copy.deepcopy(base).cpu()
    with torch.inference_mode():
        obj = few.head.view(few(letterbox_batch([image], 416)))[:, :, 4].flatten().sort(descending=True).values
    with torch.no_grad():
        bias = few.conv_blocks()[-1].conv.bias
        # the 30th largest objectness logit lands just above logit(.25); the 31st just below
        bias.view(few.region.num, few.region.entries)[:, 4] += math.log(0.25 / 0.75) - float(obj[29:31].mean())
    detectors = {
        f"{b} {kind}": Detector(copy.deepcopy(m).cpu(), backend=b, size=416)
        for kind, m in (("all", base), ("few", few))
        for b in ("torch", "onnxruntime", "openvino")
        if backend_available(b)
    }
    x = next(iter(detectors.values())).preprocess([image])
    times: dict[str, list[float]] = {f"{b} {k}": [] for b in detectors for k in ("network", "end_to_end")}
    with torch.inference_mode():
        for rep in range(args.warmup + args.repeats):
            for b, det in detectors.items():
                for kind, fn in (("network", lambda: det.model(x)), ("end_to_end", lambda: det([image]))):
                    t0 = time.perf_counter()
                    fn()
                    if rep >= args.warmup:
                        times[f"{b} {kind}"].append(time.perf_counter() - t0)
    rows = []
    for b, det in detectors.items():
        net, e2e = statistics.median(times[f"{b} network"]), statistics.median(times[f"{b} end_to_end"])
        with torch.inference_mode():
            passing = int((torch.sigmoid(det.model.head.view(det.model(x))[:, :, 4]) > det.options.thresh).sum())
        rows.append(
            {
                "model": model_name,
                "backend": f"{b} ({passing})",
                "network_s": net,
                "end_to_end_s": e2e,
                "ratio": e2e / net,
            }
        )
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["yolov2"], choices=("yolov2", "yolo9000"))
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
        help="what 'x ref' compares: wall time, or process CPU time (steadier on a busy machine; "
        "use with --threads 1; runtimes' own threads are counted too)",
    )
    ap.add_argument("--paths", nargs="+", default=None, help="subset of: " + " ".join(ALL_PATHS))
    ap.add_argument("--no-lightnet", action="store_true")
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also time torch.compile'd paths (each input shape compiles first: minutes on a small CPU)",
    )
    ap.add_argument(
        "--end-to-end",
        action="store_true",
        help="also time each backend's whole Detector call (letterbox + network + region + decode) against its "
        "network alone, batch 1 at 416",
    )
    ap.add_argument("--cache", default=None, help="folder for the generated weights (default: a temp dir)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="bench_forward_"))
    cache.mkdir(parents=True, exist_ok=True)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    results, e2e_rows = [], []
    for model_name in args.models:
        weights, is_ref = None, False
        if model_name == "yolov2":
            cfg, weights, is_ref = get_weights(cache)
            base = load_darknet(cfg, weights).to(dev)  # PyTorch BN formula (Darknet's GPU path)
        else:
            loaded = yolo9000_model()
            if loaded is None:
                continue
            base = loaded.to(dev)
        ref_in = reference_input() if is_ref else None
        for size in args.size:
            paths = build_paths(model_name, base, args, dev, weights, size)
            quality = {}
            with torch.inference_mode():
                if size != 416:
                    pass  # the quality inputs are 416 x 416
                elif ref_in is not None:
                    ref_out = np.load(REF_OUT / "yolov2_416_region_output.npy")
                    x = ref_in.to(dev)
                    for name, (fn, _) in paths.items():
                        raw = fn(x).float()
                        drift = float(np.abs(base.head.activate(raw.cpu())[0].numpy() - ref_out).max())
                        quality[name] = (drift, detections_match(raw, base.head, base.region))
                elif model_name == "yolo9000":
                    quality = tree_quality(paths, base, dev)
                for bsz in args.batch:
                    results += time_paths(paths, model_name, size, bsz, args, dev, sync, quality)
            del paths
        if args.end_to_end:
            e2e_rows += end_to_end(model_name, base, args)
        del base

    load = " load average %.1f %.1f %.1f" % os.getloadavg() if hasattr(os, "getloadavg") else ""
    print(
        f"device={dev} threads={torch.get_num_threads()} repeats={args.repeats} metric={args.metric} "
        f"torch={torch.__version__}{load}"
    )
    print(
        f"{'model':8s} {'path':16s} {'size':>4s} {'batch':>5s} {'median s':>9s} {'spread':>7s} {'img/s':>7s} "
        f"{'x ref':>6s} {'drift':>9s} {'dets=':>5s}"
    )
    for r in results:
        vs = f"{r['vs_ref']:.2f}" if r["vs_ref"] else "-"
        drift = f"{r['max_drift']:.1e}" if r["max_drift"] is not None else "-"
        same = {True: "yes", False: "NO", None: "-"}[r["same_detections"]]
        print(
            f"{r['model']:8s} {r['path']:16s} {r['size']:4d} {r['batch']:5d} {r['median_s']:9.4f} "
            f"{r['max_s'] / r['min_s']:7.2f} {r['images_per_s']:7.1f} {vs:>6s} {drift:>9s} {same:>5s}"
        )
    print("spread: slowest / fastest timed run; x ref: median / the reference path's (lightnet, else eager_fp32)")
    if e2e_rows:
        head = f"{'model':8s} {'backend, passing':18s} {'network s':>9s} {'end-to-end s':>12s} {'ratio':>6s}"
        print(f"\n{head}  (batch 1; passing: predictions over the objectness threshold)")
        for r in e2e_rows:
            print(
                f"{r['model']:8s} {r['backend']:18s} {r['network_s']:9.4f} {r['end_to_end_s']:12.4f} {r['ratio']:6.2f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"paths": results, "end_to_end": e2e_rows}, indent=2))
    return 0


def time_paths(paths, model_name, size, bsz, args, dev, sync, quality) -> list[dict]:
    """Interleaved timings of every path at one (size, batch): one result row per path."""
    x = torch.rand(bsz, 3, size, size, device=dev)
    times: dict[str, list[float]] = {k: [] for k in paths}
    cpu_times: dict[str, list[float]] = {k: [] for k in paths}
    for w in range(max(args.warmup, 1 if args.compile else 0)):
        for name, (fn, _desc) in paths.items():
            t0 = time.perf_counter()
            fn(x)
            sync()
            if name.startswith("compiled") and w == 0:
                print(f"  {name} {size} x{bsz}: first call (compile) {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    for _ in range(args.repeats):
        for name, (fn, _) in paths.items():
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            fn(x)
            sync()
            times[name].append(time.perf_counter() - t0)
            cpu_times[name].append(time.process_time() - c0)
    metric = cpu_times if args.metric == "cpu" else times
    ref_name = "lightnet" if "lightnet" in metric else "eager_fp32"
    ref_med = statistics.median(metric[ref_name]) if ref_name in metric else None
    rows = []
    for name, (_fn, desc) in paths.items():
        med = statistics.median(times[name])
        drift, same = quality.get(name, (None, None)) if size == 416 else (None, None)
        rows.append(
            {
                "model": model_name,
                "path": name,
                "description": desc,
                "device": str(dev),
                "size": size,
                "batch": bsz,
                "median_s": med,
                "min_s": min(times[name]),
                "max_s": max(times[name]),
                "images_per_s": bsz / med,
                "median_cpu_s": statistics.median(cpu_times[name]),
                "reference_path": ref_name,
                "vs_ref": statistics.median(metric[name]) / ref_med if ref_med else None,
                "max_drift": drift,
                "same_detections": same,
            }
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
