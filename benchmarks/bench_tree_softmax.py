"""Tree softmax against a flat softmax over the same logits, side by side in one run.

Usage (from the repository root):
    python3 benchmarks/bench_tree_softmax.py                    # 8112 x 9418 (9k.tree), fp32, CPU
    python3 benchmarks/bench_tree_softmax.py --repeats 9 --threads 1
    python3 benchmarks/bench_tree_softmax.py --device cuda --dtype bf16 --peak-gbps 3350
    python3 benchmarks/bench_tree_softmax.py --tree my.tree --rows 2048

8112 rows = a batch of 16 images at 416 (13 x 13 cells) with 3 anchors. Compared pairs (medians of
--repeats runs, ours and the flat baseline interleaved inside every repeat so load changes hit both):
  loss fwd+bwd        TreeSoftmax.loss + backward  vs  log_softmax + nll_loss + backward
  predict             TreeSoftmax.predict (paper, darknet)  vs  softmax + max
  all-node            log_conditional / log_absolute / darknet_probs (row-major input and a node-major
                      view as the region head passes it)  vs  log_softmax (forward)
Ratios are ours / flat (lower is better). On CUDA, the effective memory bandwidth of the all-node passes
(logits read once + output written once) is printed against --peak-gbps when given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wordtree.softmax import TreeSoftmax  # noqa: E402
from wordtree.tree import WordTree  # noqa: E402

TREE_9K = REPO.parent / "shared" / "reference" / "darknet" / "9k.tree"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "fp64": torch.float64}


def load_tree(path: Path) -> WordTree:
    """Darknet's `.tree` through wordtree.formats, or a plain 2-column parse if that module is missing."""
    if not path.is_file():
        raise SystemExit(f"{path}: tree file not found (pass --tree)")
    try:
        return WordTree.from_darknet(path)
    except ImportError:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        return WordTree([r[0] for r in rows], [int(r[1]) if len(r) > 1 else -1 for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, default=TREE_9K, help="Darknet .tree file (default: 9k.tree)")
    ap.add_argument("--rows", type=int, default=8112, help="rows of logits (default 8112)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per case, median reported")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--threshold", type=float, default=0.5, help="predict threshold")
    ap.add_argument("--peak-gbps", type=float, default=0.0, help="device peak memory bandwidth, for CUDA")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    tree = load_tree(args.tree)
    ts = TreeSoftmax(tree).to(dev)
    n = len(tree)
    gen = torch.Generator().manual_seed(args.seed)
    x = (torch.randn(args.rows, n, generator=gen) * 2).to(dev, dtype)
    y = torch.randint(0, n, (args.rows,), generator=gen).to(dev)
    # the region head's class logits: (B, A, C, H, W) memory, viewed with the classes last
    hw = 13 * 13 if args.rows % (13 * 13) == 0 else 1
    x_nm = x.view(-1, hw, n).transpose(1, 2).contiguous().transpose(1, 2)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def flat_loss() -> None:
        z = x.detach().requires_grad_()
        F.nll_loss(torch.log_softmax(z.float(), -1), y).backward()

    def tree_loss() -> None:
        z = x.detach().requires_grad_()
        ts.loss(z, y).backward()

    @torch.no_grad()
    def flat_pred() -> None:
        torch.softmax(x.float(), -1).max(-1)

    @torch.no_grad()
    def flat_fwd() -> None:
        torch.log_softmax(x.float(), -1)

    def nograd(fn, *a, **k):
        def run() -> None:
            with torch.no_grad():
                fn(*a, **k)

        return run

    cases = [
        ("loss fwd+bwd", flat_loss, [("tree loss", tree_loss)]),
        (
            "softmax+max",
            flat_pred,
            [
                ("predict paper", nograd(ts.predict, x, args.threshold)),
                ("predict darknet", nograd(ts.predict, x, args.threshold, mode="darknet")),
            ],
        ),
        (
            "log_softmax fwd",
            flat_fwd,
            [
                ("log_conditional", nograd(ts.log_conditional, x)),
                ("log_absolute", nograd(ts.log_absolute, x)),
                ("darknet_probs", nograd(ts.darknet_probs, x)),
                ("log_conditional node-major", nograd(ts.log_conditional, x_nm)),
                ("log_absolute node-major", nograd(ts.log_absolute, x_nm)),
            ],
        ),
    ]
    names = ["flat " + c[0] for c in cases] + [o[0] for c in cases for o in c[2]]
    fns = dict([("flat " + c[0], c[1]) for c in cases] + [o for c in cases for o in c[2]])
    times: dict[str, list[float]] = {k: [] for k in names}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name in names:
            sync()
            t0 = time.perf_counter()
            fns[name]()
            sync()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"tree {args.tree.name}: {n} nodes, {tree.num_groups} groups, max depth {tree.max_depth}; "
        f"logits {args.rows} x {n} {args.dtype} on {dev} ({torch.get_num_threads()} threads); "
        f"median of {args.repeats}"
    )
    base_loss = med["flat loss fwd+bwd"]
    for label, _, ours in cases:
        base = med["flat " + label]
        print(f"  {'flat ' + label:30s} {base * 1e3:9.1f} ms")
        for name, _ in ours:
            extra = ""
            if label == "log_softmax fwd":
                extra = f"   ({med[name] / base_loss:5.2f}x flat loss fwd+bwd)"
                if dev.type == "cuda":
                    gbps = 2 * x.numel() * x.element_size() / med[name] / 1e9
                    extra += f"   {gbps:7.1f} GB/s" + (
                        f" ({gbps / args.peak_gbps:.0%} of peak)" if args.peak_gbps else ""
                    )
            print(f"  {name:30s} {med[name] * 1e3:9.1f} ms   {med[name] / base:5.2f}x{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
