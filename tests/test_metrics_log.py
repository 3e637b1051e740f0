"""The training log's TensorBoard switch: on when installed by default (silently off otherwise), a warning line
only when it was asked for and cannot be had."""

from __future__ import annotations

import logging
import sys

import pytest

from yolo9000.training import metrics_log
from yolo9000.training.config import TrainConfig
from yolo9000.training.metrics_log import MetricsLog


@pytest.fixture
def no_tensorboard(monkeypatch):
    """As if the tensorboard package were not installed."""
    monkeypatch.setattr(metrics_log, "tensorboard_installed", lambda: False)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # its import fails, as without the package


def test_the_default_is_on_when_installed_and_silent_without_it(tmp_path, caplog, no_tensorboard):
    assert TrainConfig().tensorboard is None  # not "on" in the config when it may not be there
    with caplog.at_level(logging.INFO):
        log = MetricsLog(tmp_path, None, tensorboard=None)
    assert log.tb is None and caplog.records == []
    log.write({"step": 1, "loss": 2.0})
    log.close()
    assert (tmp_path / "log.csv").read_text().splitlines() == ["step,loss", "1,2.0"]


def test_asked_for_without_the_package_is_one_warning(tmp_path, caplog, no_tensorboard):
    with caplog.at_level(logging.INFO):
        log = MetricsLog(tmp_path, None, tensorboard=True)
    assert log.tb is None
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "--tensorboard: the tensorboard package is not installed (pip install tensorboard); log.csv only")
    ]


def test_off_never_imports_it(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics_log, "tensorboard_installed", lambda: pytest.fail("looked for tensorboard"))
    assert MetricsLog(tmp_path, None, tensorboard=False).tb is None


def test_installed_writes_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    log = MetricsLog(tmp_path, None, tensorboard=None)
    assert log.tb is not None
    log.write({"step": 1, "loss": 2.0})
    log.close()
    assert list((tmp_path / "tensorboard").iterdir())
