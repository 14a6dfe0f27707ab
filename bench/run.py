"""Run every benchmark and print ONE JSON object combining their outputs.

Run: ``.venv/bin/python bench/run.py --quick`` (``make bench``; 3-6 minutes on 2 cores,
depending on the load and on cached N=4 epoch keys) or without ``--quick`` for the full
variants (about 15 minutes, plus the constraints sweep's compiles at N=4..128, ~20
minutes: proving at 2^16, snarkjs's own phase 1 at 2^12 and the N=64 compiles dominate).
``--only poseidon,prove`` picks benchmarks.

Each benchmark runs as its own subprocess, one after the other (they would disturb each
other's timings in parallel on 2 cores), and prints one JSON object; the combined object
holds them under ``results`` by name, the issue #17 headline figures taken from them
under ``summary`` (``_summary.py``; a missing figure is null, ``summary.null_reasons``
says why), the wall-clock seconds of each under ``seconds``,
and the stderr tail of any that failed under ``failures`` (exit status 1 then).
Benchmark scripts not present in the checkout are listed under ``skipped``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _summary import summarize

BENCH = Path(__file__).resolve().parent

#: name -> (script, quick arguments, full arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "poseidon": ("bench_poseidon.py", ["--runs", "3", "--seconds", "0.2"], []),
    "verify": ("bench_verify.py", ["--runs", "3"], []),
    "gas": ("bench_gas.py", [], ["--bisect"]),
    "ptau": ("bench_ptau.py", ["--powers", "10", "12", "--snarkjs-power", "8"], []),
    "netting": ("bench_netting.py", ["--runs", "1"], []),
    "matching": ("bench_matching.py", ["--runs", "1", "--sizes", "100000"], []),
    "margin": ("bench_margin.py", ["--runs", "3", "--engine-runs", "1"], []),
    "prove": ("bench_prove.py", ["--sizes", "12", "--fresh"], ["--fresh"]),
    "contract_gas": ("bench_contract_gas.py", ["--sizes", "4x2x4", "--chain", "embedded"],
                     ["--sizes", "4x2x4,16x4x8", "--chain", "both"]),
    # after contract_gas: the same N=4 development keys
    "submit_gas": ("bench_submit_gas.py", [], []),
    # quick: N=4 only (two compiles, ~30 s); full: N=4..128 at two shapes (~20 min while
    # N=128 is refused by the parameters; a compile is cut after 15 min so the whole sweep
    # stays within run.py's --timeout)
    "constraints": ("bench_constraints.py", ["--slots", "4"], ["--timeout", "900"]),
    "epoch": ("bench_epoch.py", ["--sizes", "4,2,4", "--prove", "4,2,4"],
              ["--prove", "4,2,4", "16,4,8"]),
    # after "epoch": the same N=4 development keys (set up there if missing)
    "ray": ("bench_ray.py", ["--circuit", "epoch", "--stories", "1"],
            ["--circuit", "epoch", "--stories", "3"]),
    "audit": ("bench_audit.py", ["--epochs", "1000"],
              ["--epochs", "1000", "--instruments", "8", "--scenarios", "16"]),
    "stress": ("bench_stress.py", ["--paths", "1000", "--check", "5"], []),
}


def run_one(name: str, script: Path, args: list[str], timeout: float) -> tuple[Any, str | None]:
    """(parsed JSON output, None) or (None, what went wrong)."""
    cmd = [sys.executable, str(script), *args]
    print(f"[run] {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=BENCH.parent)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if proc.returncode != 0:
        return None, f"exit status {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    try:
        return json.loads(proc.stdout), None
    except ValueError as exc:
        return None, f"output is not one JSON object ({exc}): {proc.stdout[-500:]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small variants (3-6 min)")
    parser.add_argument("--only", default="", help=f"comma-separated: {','.join(BENCHMARKS)}")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    out: dict[str, Any] = {
        "benchmark": "all", "quick": args.quick, "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "machine": platform.machine(),
                    "python": platform.python_version(),
                    "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
        "summary": None, "results": {}, "seconds": {}, "failures": {}, "skipped": [],
    }
    start = time.perf_counter()
    for name in names:
        script, quick, full = BENCHMARKS[name]
        path = BENCH / script
        if not path.exists():
            out["skipped"].append(name)
            continue
        t0 = time.perf_counter()
        result, error = run_one(name, path, quick if args.quick else full, args.timeout)
        out["seconds"][name] = round(time.perf_counter() - t0, 1)
        if error is None:
            out["results"][name] = result
        else:
            print(f"[run] {name} FAILED: {error.splitlines()[0]}", file=sys.stderr, flush=True)
            out["failures"][name] = error
    out["total_s"] = round(time.perf_counter() - start, 1)
    out["summary"] = summarize(out["results"])
    print(json.dumps(out, indent=1))
    return 1 if out["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
