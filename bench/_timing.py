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
