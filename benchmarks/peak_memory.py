"""Resident memory of the current process, for the benchmarks that index a large file in a fresh process
(`bench_loader.py`, `scale_open_images.py`, `scale_yolo.py`): `reset_peak` then `rss("VmHWM:") - before`."""

from __future__ import annotations

import resource


def rss(field: str = "VmRSS:") -> int:
    """Bytes of `field` of /proc/self/status (VmRSS: now, VmHWM: the peak), else the peak from getrusage."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> None:
    """Set the peak (VmHWM) back to the current resident size, where the kernel allows it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
