"""A run killed with SIGKILL and resumed from its last checkpoint ends with exactly the weights of an
uninterrupted run (CPU, deterministic: data, augmentation and sizes are functions of seed and step)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tiny_data as td
import torch

from yolo9000.cli import main

REPO = Path(__file__).resolve().parents[1]


# `yolo9000 ...` in a child process whose trainer kills itself with SIGKILL right after step KILL_AT
# (its checkpoint of that step, if any, written): a hard crash at a known point, patched in by the test only
_KILLED_CLI = """
import os, signal, sys
from yolo9000.cli import main
from yolo9000.training.trainer import Trainer

kill_at = int(os.environ["KILL_AT"])
after_step = Trainer._after_step


def _after_step_then_die(self):
    after_step(self)
    if self.step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


Trainer._after_step = _after_step_then_die
sys.exit(main(sys.argv[1:]))
"""


def _run_killed(args, cwd, kill_at: int):
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "KILL_AT": str(kill_at),
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return subprocess.run(
        [sys.executable, "-c", _KILLED_CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    d = td.make_all(tmp_path / "data")
    common = [
        "train",
        "--coco",
        str(d["coco"]),
        "--folders",
        str(d["folders"]),
        "--tree",
        str(d["tree"]),
        "--cfg",
        str(d["cfg"]),
        "--steps",
        "6",
        "--batch",
        "4",
        "--subdivisions",
        "2",
        "--lr",
        "0.01",
        "--burn-in",
        "2",
        "--multiscale",
        "--sizes",
        "64",
        "96",
        "--scale-every",
        "1",
        "--cls-fraction",
        "0.5",
        "--save-every",
        "2",
        "--workers",
        "0",
        "--no-tensorboard",
        "--no-progress",
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocess (OMP_NUM_THREADS=1): same kernels, same float results
    try:
        assert main(common + ["--out", str(tmp_path / "full")]) == 0

        killed = _run_killed(common + ["--out", str(tmp_path / "cut")], tmp_path, kill_at=5)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        mid = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)
        assert mid["step"] == 4  # step 5 was done but never saved: the resume must redo it identically

        assert main(["train", "--out", str(tmp_path / "cut"), "--resume"]) == 0
    finally:
        torch.set_num_threads(threads)

    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)
    assert (a["step"], a["seen"]) == (b["step"], b["seen"]) == (6, 24)
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    # the log of the resumed run has each step once, as if it had never stopped
    steps = [line.split(",")[0] for line in (tmp_path / "cut" / "log.csv").read_text().splitlines()[1:]]
    assert steps == [str(i) for i in range(1, 7)]


def test_atomic_save_never_leaves_a_half_written_checkpoint(tmp_path):
    from yolo9000.darknet.checkpoint import atomic_save, load_checkpoint

    path = tmp_path / "last.pt"
    atomic_save({"model": {"w": torch.ones(2)}, "step": 1}, path)
    with pytest.raises((AttributeError, pickle.PicklingError), match="Can't pickle local object"):
        atomic_save({"model": {}, "bad": lambda: 0}, path)  # a lambda cannot be pickled: the save fails midway
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"last\.pt: not a readable checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")


def test_trainer_keeps_its_randomness_to_itself(tmp_path):
    """A Trainer's model initialisation and loop draw from its own streams seeded by `seed`: the caller's
    global RNGs are the same after constructing and running it, and the run does not depend on them."""
    import random

    import numpy as np

    from yolo9000.training.config import TrainConfig
    from yolo9000.training.trainer import Trainer

    d = td.make_all(tmp_path / "data")
    common = dict(coco=str(d["coco"]), folders=str(d["folders"]), tree=str(d["tree"]), cfg=str(d["cfg"]))
    opts = dict(steps=1, batch=2, size=64, multiscale=False, workers=0, tensorboard=False, progress=False)

    def trainer(name: str) -> Trainer:
        return Trainer(TrainConfig(out=str(tmp_path / name), seed=5, **common, **opts))

    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    a = trainer("a")
    a.run()
    after = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1]) and before[2] == after[2]
    torch.manual_seed(999)  # another global state: the same run
    b = trainer("b")
    torch.manual_seed(5)
    for (k, vb), vc in zip(b.model.state_dict().items(), trainer("c").model.state_dict().values()):
        assert torch.equal(vb, vc), k  # the initial weights: a function of `seed` alone
    b.run()
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k


def test_training_rng_scopes_the_global_streams():
    from yolo9000.training.resume import TrainingRng

    torch.manual_seed(1)
    outer = torch.get_rng_state()
    rng = TrainingRng(7)
    assert torch.equal(torch.get_rng_state(), outer)
    with rng.active():
        first = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), outer)
    with rng.active():
        second = torch.rand(3)  # the run's stream goes on where it stopped
    torch.manual_seed(7)
    assert torch.equal(torch.cat([first, second]), torch.rand(6))
    saved = rng.snapshot()
    with rng.active():
        third = torch.rand(3)
    rng.restore(saved)
    with rng.active():
        assert torch.equal(torch.rand(3), third)
