"""Training throughput: images/s at 416, the share of the step spent in the loss (target building included),
and the data pipeline (its own images/s and how long the loop waits for it).

    python3 benchmarks/bench_train.py                       # CPU, tiny-yolo9000 tree head, batch 4
    python3 benchmarks/bench_train.py --model yolov2 --batch 2 --steps 3
    python3 benchmarks/bench_train.py --device cuda --model yolov2 --batch 64 --amp bf16 --workers 14

It writes its own small COCO-style set (640x480 JPEGs with random boxes) and class folders to a temp dir, so it
needs no dataset. The numbers are medians over the timed steps (after `--warmup` steps).

The validation row times what `yolo9000 train --val-coco` runs (`yolo9000.training.validation.Validator`: read,
letterbox, forward, decode at eval's .005 threshold, COCO AP and the per-box tree measures) over the generated
set, per image, and the share of the training time it takes at the default --val-every (validation every
`TRAIN_IMAGES_PER_VAL_IMAGE` training images per validation image). The model is the freshly initialised one:
it keeps every box above the threshold, so scoring is at its slowest (a trained model keeps fewer).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo9000.darknet import templates  # noqa: E402
from yolo9000.data import (
    AugmentConfig,
    ClassFolders,
    CocoDetection,
    JointBatchSampler,
    JointDataset,  # noqa: E402
    collate,
)
from yolo9000.data.augment import distort_hsv_batch  # noqa: E402
from yolo9000.detection.loss import RegionLoss  # noqa: E402
from yolo9000.training.config import TrainConfig  # noqa: E402
from yolo9000.training.trainer import param_groups  # noqa: E402
from yolo9000.training.validation import SECONDS, TRAIN_IMAGES_PER_VAL_IMAGE, prepare_validation  # noqa: E402

# the synthetic COCO + class-folder data (photo-like JPEGs) is bench_loader's, one generator for both benchmarks
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_loader import make_data  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny_yolo9000", choices=("tiny_yolo9000", "yolov2", "yolo9000"))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=416)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", choices=("off", "bf16", "fp16"), default="off")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--images", type=int, default=32, help="generated detection images")
    p.add_argument("--no-validation", action="store_true", help="skip the validation row")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as tmp:
        ann, cls_dir, tree = make_data(Path(tmp), args.images, args.images // 2)
        det, cls = CocoDetection(ann, None, tree), ClassFolders(cls_dir, tree)
        ds = JointDataset(
            det,
            cls,
            AugmentConfig(jitter=0.2, hue=0.1, saturation=1.5, exposure=1.5),
            dtype=torch.uint8,
            defer_hsv=True,
        )  # as the trainer: HSV runs on the device
        n = args.warmup + args.steps
        sampler = JointBatchSampler(len(det), len(cls), args.batch, cls_fraction=0.25, sizes=[args.size], length=n)

        # 1. the data pipeline alone
        loader = torch.utils.data.DataLoader(
            ds, batch_sampler=sampler, collate_fn=collate, num_workers=args.workers, pin_memory=device.type == "cuda"
        )
        t = time.perf_counter()
        batches = [b for b in loader]
        data_ips = n * args.batch / (time.perf_counter() - t)

        # 2. the training step, split into model forward, loss forward, loss backward, model backward, update
        if args.model == "yolov2":
            model = templates.yolov2(tree=tree, size=args.size)
        elif args.model == "yolo9000":
            model = templates.yolo9000(tree, size=args.size)
        else:
            model = templates.tiny_yolo9000(tree, size=args.size)
        model = model.to(device).train()
        fmt = torch.channels_last if args.channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        loss_fn = RegionLoss(model.region, model.head.tree_softmax, apply_map=False).to(device)
        opt = torch.optim.SGD(param_groups(model, 5e-4), lr=1e-4, momentum=0.9)
        amp = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]

        def sync():
            if device.type == "cuda":
                torch.cuda.synchronize()

        rows = []
        for k, (images, targets, hsv) in enumerate(batches):
            sync()
            t0 = time.perf_counter()
            images = distort_hsv_batch(images.to(device, non_blocking=True).float().div_(255), hsv)
            images = images.contiguous(memory_format=fmt)
            targets = targets.to(device)
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                raw = model(images)
            sync()
            t1 = time.perf_counter()
            leaf = raw.detach().float().requires_grad_()
            loss, _ = loss_fn(leaf, targets, seen=10**6)
            sync()
            t2 = time.perf_counter()
            (loss / images.shape[0]).backward()
            sync()
            t3 = time.perf_counter()
            raw.backward(leaf.grad.to(raw.dtype))
            opt.step()
            opt.zero_grad(set_to_none=True)
            sync()
            t4 = time.perf_counter()
            if k >= args.warmup:
                rows.append((t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3))

        # 3. validation as the trainer runs it, on the generated set (a second pass: the first warms up)
        val_s = None
        if not args.no_validation:
            cfg = TrainConfig(val_coco=str(ann), val_images=str(ann.parent / "images"))
            validator = prepare_validation(
                cfg, tree=tree, names=tree.names, size=args.size, batch=args.batch, steps=10**9, device=device
            )
            assert validator is not None
            validator(model)
            val_s = validator(model)[SECONDS] / validator.n_images
            model.train()

    med = [statistics.median(c) for c in zip(*rows)]
    step, fwd, loss_f, loss_b, rest = med
    print(
        f"device {device}, model {args.model}, batch {args.batch} at {args.size}, amp {args.amp}, "
        f"threads {torch.get_num_threads()}"
    )
    print(f"training step (no data wait): {step * 1e3:.0f} ms -> {args.batch / step:.1f} images/s")
    print(
        f"  input (to device, HSV) + model forward {fwd * 1e3:.0f} ms, loss+targets forward {loss_f * 1e3:.1f} ms, "
        f"loss backward {loss_b * 1e3:.1f} ms, model backward+update {rest * 1e3:.0f} ms"
    )
    print(f"  loss and target building share of the step: {100 * (loss_f + loss_b) / step:.1f}%")
    print(
        f"data pipeline alone ({args.workers} workers): {data_ips:.1f} images/s "
        f"({'keeps up' if data_ips >= args.batch / step else 'the loop would wait'}: "
        f"{max(0.0, args.batch / data_ips - step) * 1e3:.0f} ms wait per step)"
    )
    if val_s is not None:
        train_s = step / args.batch  # per training image
        share = val_s / (TRAIN_IMAGES_PER_VAL_IMAGE * train_s + val_s)
        print(
            f"validation: {val_s * 1e3:.1f} ms per image ({args.images} images, predict + score) vs training "
            f"{train_s * 1e3:.1f} ms per image -> at the default --val-every ({TRAIN_IMAGES_PER_VAL_IMAGE} training "
            f"images per validation image) {100 * share:.1f}% of the training time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
