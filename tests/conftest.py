"""Shared fixtures and session rules.

Where the reference folder is: `../shared` beside the checkout, or the folder named by the environment variable
`YOLO9000_SHARED` (e.g. `YOLO9000_SHARED=/nonexistent` to run as a bare clone does; resolved in darknet_files.py).
Tests that need it (Darknet's 9k tree, cfgs and tools) skip without it, and the run ends with one summary line
counting them.

The Darknet parity tests (test_parity_darknet.py, test_decode_parity.py) do not need it: their inputs are generated
by `parity_inputs.py` and Darknet's outputs are vendored in tests/data/parity/. Only their `shared_check` tests,
which compare our generators and vendored files with ../shared, skip without it.

`YOLO9000_REQUIRE_PARITY=1` (set by .ci/run): any other skip in those two files is turned into a failure by the
`pytest_runtest_makereport` wrapper below (setup skips are reported as errors; a skipped module is a collection
error), so CI cannot pass with the parity tests silently skipped.

Every test runs with the global RNG states (python `random`, numpy's legacy global, torch CPU and CUDA when
available) saved before and restored after it, so one test's seeding never leaks into the next.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from darknet_files import NEEDS_SHARED, REFERENCE, SHARED, skip_without_shared

PARITY_FILES = ("test_parity_darknet.py", "test_decode_parity.py")
REQUIRE_PARITY = os.environ.get("YOLO9000_REQUIRE_PARITY", "") == "1"


# --- session rules ----------------------------------------------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "shared_check: compares tests/parity_inputs.py or tests/data/parity with ../shared; may skip even "
        "under YOLO9000_REQUIRE_PARITY=1",
    )


def _parity_skip_forbidden(path, item=None) -> bool:
    if not REQUIRE_PARITY or Path(str(path)).name not in PARITY_FILES:
        return False
    return item is None or item.get_closest_marker("shared_check") is None


def _skip_reason(report) -> str:
    lr = report.longrepr
    return lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)


@pytest.hookimpl(hookwrapper=True)  # old-style wrapper: works with every pytest >= 7
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.skipped and not hasattr(report, "wasxfail") and _parity_skip_forbidden(item.path, item):
        report.outcome = "failed"
        report.longrepr = f"YOLO9000_REQUIRE_PARITY=1 forbids skipping a parity test: {_skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    report = (yield).get_result()
    if report.skipped and isinstance(collector, pytest.Module) and _parity_skip_forbidden(collector.path):
        report.outcome = "failed"
        report.longrepr = f"YOLO9000_REQUIRE_PARITY=1 forbids skipping a parity module: {_skip_reason(report)}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    needs = {r.nodeid for r in terminalreporter.stats.get("skipped", []) if NEEDS_SHARED in _skip_reason(r)}
    if needs:
        n = f"{len(needs)} test{'s' if len(needs) > 1 else ''}"
        terminalreporter.write_line(
            f"{n} skipped: need ../shared/reference (Darknet's 9k.tree files, cfgs and tools; "
            f"looked in {SHARED}, set YOLO9000_SHARED to point elsewhere)",
            yellow=True,
            bold=True,
        )


@pytest.fixture(autouse=True)
def _restore_global_rng():
    """Save the global RNG states before each test and put them back after it (fixtures of a wider scope that
    the test starts are set up before this one, so their own draws are not undone). Where CUDA is available this
    initialises it in the pytest process at the first test."""
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    yield
    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


# --- the reference folder ----------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (the CI machine has 2 shared cores: OpenMP's second thread only adds
    contention for tiny tensors). Modules use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`../shared/reference` (Darknet's cfgs, 9k tree files, measurements), or skip."""
    return skip_without_shared(REFERENCE)


@pytest.fixture(scope="session")
def shared_tools_dir() -> Path:
    """`../shared/tools` (the original weights and test-image generators), or skip."""
    return skip_without_shared(SHARED / "tools")


@pytest.fixture(scope="session")
def graph():
    """The parsed WordNet noun graph (`wordtree.wordnet.noun_graph`), or skip when WordNet is not installed."""
    from wordtree.wordnet import WordNetNotFound, noun_graph

    try:
        return noun_graph()
    except WordNetNotFound as exc:
        pytest.skip(f"WordNet not installed: {exc}")


# --- the Darknet parity inputs and measurements (no ../shared needed) ----------------------------------------


@pytest.fixture(scope="session")
def darknet_reference():
    """Darknet's vendored yolov2-at-416 measurements (`parity_inputs.DarknetReference`)."""
    from parity_inputs import DarknetReference

    return DarknetReference.load()


@pytest.fixture(scope="session")
def parity_image(tmp_path_factory) -> Path:
    """The 640x480 test picture Darknet's reference run saw, as a PNG (generated; pixels pinned by digest)."""
    import parity_inputs as P

    if P.sha256_hex(P.draw_test_image()) != P.TEST_IMAGE_RGB_SHA256:
        pytest.skip("the generated test picture is not the one Darknet saw (pixel digest differs)")
    return P.write_test_image(tmp_path_factory.mktemp("parity") / "test_image_640x480.png")


@pytest.fixture(scope="session")
def yolov2_416_cfg(tmp_path_factory) -> Path:
    """The project's yolov2 template rendered at 416 (80 classes, Darknet's 5 anchors), as a cfg file."""
    from parity_inputs import yolov2_cfg_text

    path = tmp_path_factory.mktemp("parity_cfg") / "yolov2-416.cfg"
    path.write_text(yolov2_cfg_text(416))
    return path


@pytest.fixture(scope="session")
def yolov2_seed0_weights(yolov2_416_cfg, tmp_path_factory):
    """The 200 MB seed-0 random yolov2 weights Darknet's reference run loaded: generated once per session
    (~3 s), shared by every test module, and deleted when the session ends."""
    import parity_inputs as P

    out = tmp_path_factory.mktemp("darknet_weights") / "yolov2_seed0.weights"
    P.write_darknet_weights(yolov2_416_cfg.read_text(), out, seed=0)
    digest = P.file_sha256(out)
    if digest != P.YOLOV2_SEED0_SHA256:
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
