"""Shared by the bench scripts (run as scripts: this folder is on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall time of ``runs`` calls of ``fn``, in seconds."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def machine(load_before: tuple[float, float, float]) -> dict[str, object]:
    """The fields a benchmark's JSON ends with: the load average before it ran, Python and
    numpy versions, the machine and its CPU count."""
    import os
    import platform
    from importlib import metadata

    return {"load_avg": [round(x, 2) for x in load_before],
            "python": platform.python_version(), "numpy": metadata.version("numpy"),
            "machine": platform.machine(), "cpus": os.cpu_count()}
