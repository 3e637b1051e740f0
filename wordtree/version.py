"""The toolkit's version, for every command's `--version` (build-wordtree, wordtree, yolo9000)."""

from __future__ import annotations

import re
from pathlib import Path


def package_version() -> str:
    """The toolkit's version: the installed distribution's (``yolo9000``), else the checkout's
    ``yolo9000/__init__.py`` literal (read, not imported: `wordtree` imports nothing of `yolo9000`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("yolo9000")
    except PackageNotFoundError:
        pass
    init = Path(__file__).resolve().parents[1] / "yolo9000" / "__init__.py"
    try:
        found = re.search(r'^__version__ = "([^"]+)"', init.read_text(encoding="utf-8"), re.M)
    except OSError:
        found = None
    return f"{found.group(1)} (not installed)" if found else "unknown (not installed)"
