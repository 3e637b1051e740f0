"""Shared fixtures: the reference folder beside the checkout (skipped cleanly when absent) and files that
several test modules generate (random pictures, the yolov2 seed-0 Darknet weights)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"

# yolov2.cfg's random weights from ../shared/tools/make_darknet_weights.py --seed 0: what the reference
# outputs in ../shared/reference/darknet_outputs were computed with
YOLOV2_SEED0_SHA256 = "042ea9bf8540db0953c3af6badd86de8934e14c17b5fc2c3a297eb1bb625dbff"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`../shared/reference`, or skip when this checkout has none beside it."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE} (only present in the development workspace)")
    return REFERENCE


@pytest.fixture(scope="session")
def shared_tools_dir() -> Path:
    """`../shared/tools` (weights and test-image generators), or skip."""
    tools = SHARED / "tools"
    if not tools.is_dir():
        pytest.skip(f"reference tools not found at {tools}")
    return tools


@pytest.fixture(scope="session")
def graph():
    """The parsed WordNet noun graph (`wordtree.wordnet.noun_graph`), or skip when WordNet is not installed."""
    from wordtree.wordnet import WordNetNotFound, noun_graph

    try:
        return noun_graph()
    except WordNetNotFound as exc:
        pytest.skip(f"WordNet not installed: {exc}")


@pytest.fixture(scope="session")
def darknet_outputs(reference_dir) -> Path:
    """`darknet_outputs/` of the reference (Darknet's yolov2 run at 416), or skip."""
    d = reference_dir / "darknet_outputs"
    for name in ("yolov2_416_region_output.npy", "yolov2_416_detections.json"):
        if not (d / name).is_file():
            pytest.skip(f"Darknet reference output {name} not found in {d}")
    return d


@pytest.fixture(scope="session")
def yolov2_seed0_weights(reference_dir, shared_tools_dir, tmp_path_factory):
    """The 200 MB seed-0 random yolov2.weights the reference was made with: generated once per session
    (~2 s), shared by every test module, and deleted when the session ends."""
    out = tmp_path_factory.mktemp("darknet_weights") / "yolov2_seed0.weights"
    subprocess.run(
        [
            sys.executable,
            str(shared_tools_dir / "make_darknet_weights.py"),
            str(reference_dir / "darknet" / "yolov2.cfg"),
            str(out),
            "--seed",
            "0",
            "--quiet",
        ],
        check=True,
        capture_output=True,
    )
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    if digest != YOLOV2_SEED0_SHA256:
        out.unlink()
        pytest.skip(f"generated weights differ from the reference's (sha256 {digest[:12]}; numpy version?)")
    yield out
    out.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def random_pictures(tmp_path_factory) -> list[Path]:
    """Three random-noise PNGs, pic0..pic2, of 80x60, 50x90 and 64x64 (read-only by convention: copy them
    to change them or to put other files beside them)."""
    from darknet_files import write_pictures

    return write_pictures(tmp_path_factory.mktemp("pictures"))
