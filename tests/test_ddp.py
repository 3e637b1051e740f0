"""DDP: two CPU processes (gloo, started with torchrun's environment) train a few steps; the replicas stay
identical."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tiny_data as td
import torch

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)
def test_two_cpu_ranks_stay_identical(tmp_path):
    d = td.make_all(tmp_path / "data")
    val = td.make_coco(tmp_path / "data" / "val", n_images=4, seed=5)
    out = tmp_path / "ddp"
    port = str(_free_port())
    args = [
        sys.executable,
        "-m",
        "yolo9000",
        "train",
        "--coco",
        str(d["coco"]),
        "--folders",
        str(d["folders"]),
        "--tree",
        str(d["tree"]),
        "--cfg",
        str(d["cfg"]),
        "--out",
        str(out),
        "--steps",
        "3",
        "--batch",
        "4",
        "--subdivisions",
        "2",
        "--lr",
        "0.01",
        "--burn-in",
        "1",
        "--multiscale",
        "--sizes",
        "64",
        "96",
        "--scale-every",
        "1",
        "--cls-fraction",
        "0.5",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--no-tensorboard",
        "--no-progress",
        # validated by rank 0, its figures shared: every rank takes the same best.pt decision (and its save)
        "--val-coco",
        str(val),
        "--val-every",
        "2",
        "--ema",
        "0.9",
    ]
    # the environment torchrun gives each worker (env:// rendezvous), without the launcher process
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        }
        procs.append(
            subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    results = []
    for p in procs:
        try:
            err = p.communicate(timeout=300)[1]
            results.append((p.returncode, err))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    for rc, err in results:
        assert rc == 0, err[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    digests = summary["replica_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["step"] == 3 and ckpt["seen"] == 3 * 4 * 2  # both ranks' images count
    assert torch.load(out / "best.pt", weights_only=False)["best"]["step"] in (2, 3)
    assert [line.split(",")[0] for line in (out / "log.csv").read_text().splitlines()[1:]] == ["1", "2", "3"]
    # the weights moved: training really happened on the shared gradients
    torch.manual_seed(0)
    from yolo9000.darknet.model import DarknetModel

    fresh = DarknetModel.from_cfg_text(d["cfg"].read_text(), tree=td.make_tree())
    w0 = fresh.conv_blocks()[0].conv.weight
    assert not torch.equal(ckpt["model"]["layers.0.conv.weight"], w0)
