"""Micro benchmark: Poseidon hashes per second for each backend, at arity 2 and 6.

Run: ``.venv/bin/python bench/bench_poseidon.py [--runs 5] [--seconds 0.3]``.
Prints one JSON object: for each backend and arity, the median rate over ``runs`` timed
runs (each hashes distinct inputs for about ``seconds``), and the individual rates.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata

from zkclear import poseidon as ps
from zkclear.field import P

ARITIES = (2, 6)


def _inputs(arity: int, count: int) -> list[list[int]]:
    """Distinct, full-size field elements (no small-number shortcuts)."""
    return [[(P - 1 - 7919 * (i * arity + j)) % P for j in range(arity)] for i in range(count)]


def rate(fn: Callable[[Sequence[int]], int], arity: int, seconds: float) -> float:
    """Hashes per second, timing batches until ``seconds`` have passed."""
    batch = _inputs(arity, 200)
    done, start = 0, time.perf_counter()
    while True:
        for x in batch:
            fn(x)
        done += len(batch)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3)
    args = parser.parse_args(argv)

    backends: dict[str, Callable[[Sequence[int]], int]] = {ps.PYTHON: ps.poseidon_python}
    if ps.light_available():
        backends[ps.LIGHT] = ps.poseidon_light

    results: dict[str, dict[str, object]] = {}
    for name, fn in backends.items():
        for arity in ARITIES:
            runs = [rate(fn, arity, args.seconds) for _ in range(args.runs)]
            results[f"{name}/arity{arity}"] = {
                "hashes_per_s": round(statistics.median(runs)),
                "runs": [round(r) for r in runs],
            }
    try:
        light_version: str | None = metadata.version("light-poseidon")
    except metadata.PackageNotFoundError:
        light_version = None
    report = {
        "benchmark": "poseidon",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "light_poseidon": light_version,
        "default_backend": ps.backend(),
        "runs": args.runs,
        "seconds_per_run": args.seconds,
        "results": results,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
