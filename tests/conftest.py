"""Shared fixtures: the reference folder beside the checkout (skipped cleanly when absent)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"


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
