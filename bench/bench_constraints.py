"""The epoch circuit's size at N = 4 ... 128 slots: compile and count only (no setup).

    .venv/bin/python bench/bench_constraints.py                         # N=4..128, two shapes
    .venv/bin/python bench/bench_constraints.py --slots 4 --shapes 2,4  # one quick compile

For each shape M,K (``--shapes``, default the issue's M=8, K=16 and the registry's default
M=2, K=4) and each N (``--slots``, E = 4N event slots) the pool is first checked against
``PoolConfig`` (``clearing/params.py``: N > ``bounds.MAX_SLOTS`` is refused there, and
recorded as not built), then ``registry.epoch(N, M, K)`` is compiled by circom2 in a
scratch folder with ``--r1cs --O2`` only (``--full-build`` adds ``--wasm --sym``, what
``compile_circuit`` builds): the constraint count does not depend on the other outputs,
and the witness generator is what a count does not need. The counts come from the r1cs
header, read in Python (``zkclear.prover.binfile.r1cs_info``: a few bytes, whatever the
file's size), cross-checked against circom's own printout; the r1cs is deleted after.

Per size: constraints, per slot, wires, the compile's wall time, its peak RSS (the node
process running circom2's WebAssembly, from ``wait4``; circom2's memory is capped at
4 GiB) and when the r1cs file appeared and was complete (``phases_s``). A compile
that fails, runs out of memory or passes ``--timeout`` is recorded as
``{"built": false, "reason": ...}``; larger N of the same shape are then not attempted.

Per shape, ``fit``: constraints(N) = a + b*N + q*N^2 by least squares over the built
sizes (the quadratic term is the per-slot aggregation of the 4N events,
``EventsPerSlot`` in circuits/lib/events.circom: 7 products per slot and event plus a
slot decoder per event, ~32 N^2), its largest relative residual, and ``extrapolated``
counts at ``--extrapolate`` sizes (default 128, 256) and at any size not built, each with
the quadratic share. One JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zkclear import paths
from zkclear.clearing.params import ParamsError, PoolConfig
from zkclear.prover import _node, registry
from zkclear.prover.binfile import r1cs_info
from zkclear.prover.circuit import circom_invocation

COUNT_FLAGS = ("--r1cs", "--O2")
FULL_FLAGS = ("--r1cs", "--wasm", "--sym", "--O2")
_COUNT = re.compile(r"^(non-linear|linear) constraints:\s*(\d+)", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _log(msg: str) -> None:
    print(f"[bench_constraints] {msg}", file=sys.stderr, flush=True)


def run_circom(cli: Path, args: list[str], cwd: Path, r1cs: Path, timeout: float
               ) -> tuple[int | None, str, dict[str, float], float, float]:
    """(exit status or None on timeout, output, phases, wall seconds, peak RSS in MB) of one
    circom2 run. circom2's output comes all at once at its end (node buffers the pipe), so
    the phases are read off the r1cs file instead: when it appeared (constraints generated
    and simplified) and when it stopped growing (written), in seconds from the start."""
    proc = subprocess.Popen(_node.node_command(cli, args), cwd=cwd, env=_node.node_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        size = -1
        while not done.wait(0.25):
            now = r1cs.stat().st_size if r1cs.exists() else -1
            if now >= 0 and size < 0:
                phases["r1cs_started"] = round(time.perf_counter() - t0, 1)
            if now != size and now >= 0:
                phases["r1cs_written"] = round(time.perf_counter() - t0, 1)
            size = now

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    assert proc.stdout is not None
    text = _ANSI.sub("", proc.stdout.read())
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    timed_out = not timer.is_alive() and proc.returncode < 0
    timer.cancel()
    return (None if timed_out else proc.returncode, text.strip(), phases, wall,
            usage.ru_maxrss / 1024)


def count_size(n: int, m: int, k: int, flags: tuple[str, ...], timeout: float,
               scratch: Path) -> dict[str, Any]:
    """Compile the epoch circuit at N, M, K and count; ``built: false`` with a reason."""
    out: dict[str, Any] = {"n": n, "m": m, "k": k, "events": 4 * n}
    try:
        PoolConfig(n, m, k)
    except ParamsError as exc:
        return out | {"built": False, "reason": f"refused by clearing/params.py: {exc}"}
    circuit = registry.epoch(n, m, k)
    folder = Path(tempfile.mkdtemp(prefix=f"epoch_{n}_{m}_{k}.", dir=scratch)).resolve()
    try:
        cli, args, cwd = circom_invocation(circuit, folder, flags)
        r1cs = folder / circuit.paths.r1cs.name
        status, text, phases, wall, rss = run_circom(cli, args, cwd, r1cs, timeout)
        out |= {"compile_s": round(wall, 1), "peak_rss_mb": round(rss), "phases_s": phases}
        if status is None:
            return out | {"built": False, "reason": f"timed out after {timeout:.0f} s"}
        if status != 0 or "Everything went okay" not in text:
            return out | {"built": False, "reason": failure_reason(status, text, rss)}
        info = r1cs_info(r1cs)
        printed = sum(int(c) for _, c in _COUNT.findall(text))
        if printed and printed != info.n_constraints:
            raise SystemExit(f"N={n} M={m} K={k}: circom printed {printed} constraints, "
                             f"the r1cs header says {info.n_constraints}")
        return out | {"built": True, "constraints": info.n_constraints,
                      "per_slot": round(info.n_constraints / n), "wires": info.n_wires}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def failure_reason(status: int | None, text: str, rss_mb: float) -> str:
    """What stopped circom2, from its output's tail (and the memory it had reached)."""
    tail = [ln for ln in text.splitlines() if ln.strip()][-6:]
    memory = any(w in text for w in ("memory", "Memory", "RangeError", "heap"))
    if memory:
        what = "ran out of memory"
    elif status is not None and status < 0:
        what = f"circom2 killed by signal {-status} (the kernel's out-of-memory killer?)"
    else:
        what = f"circom2 failed (exit status {status})"
    return f"{what} at {rss_mb:.0f} MB peak RSS: {' | '.join(tail)[-600:]}"


def fit(points: Sequence[tuple[int, int]], at: Sequence[int]) -> dict[str, Any] | None:
    """constraints(N) = a + b*N + q*N^2 by least squares over ``points`` (N, constraints),
    evaluated at ``at``; None with fewer than three points (the model has three terms)."""
    if len({n for n, _ in points}) < 3:
        return None
    import numpy as np

    ns = np.array([n for n, _ in points], dtype=float)
    cs = np.array([c for _, c in points], dtype=float)
    q, b, a = np.polyfit(ns, cs, 2)

    def model(n: float) -> float:
        return float(a + b * n + q * n * n)

    residual = max(abs(model(n) - c) / c for n, c in points)
    return {
        "model": "constraints(N) = a + b*N + q*N^2 (least squares over the built sizes)",
        "a": round(float(a)), "b": round(float(b), 1), "q": round(float(q), 2),
        "fitted_on": sorted(int(n) for n, _ in points),
        "max_residual_pct": round(100 * residual, 2),
        "quadratic_share": {str(n): round(float(q) * n * n / model(n), 3)
                            for n, _ in sorted(points)},
        "extrapolated": {str(n): {"constraints": round(model(n)), "per_slot": round(model(n) / n),
                                  "quadratic_share": round(float(q) * n * n / model(n), 3)}
                         for n in at},
    }


def sweep_shape(m: int, k: int, slots: Sequence[int], extra: Sequence[int],
                flags: tuple[str, ...], timeout: float, scratch: Path) -> dict[str, Any]:
    """Every N of one shape, smallest first; after a failed compile the larger N are not
    attempted (a refusal by the parameters does not stop the sweep)."""
    sizes: list[dict[str, Any]] = []
    stopped: str | None = None
    for n in sorted(slots):
        if stopped is not None:
            try:
                PoolConfig(n, m, k)
            except ParamsError as exc:
                sizes.append({"n": n, "m": m, "k": k, "events": 4 * n, "built": False,
                              "reason": f"refused by clearing/params.py: {exc}"})
                continue
            sizes.append({"n": n, "m": m, "k": k, "events": 4 * n, "built": False,
                          "reason": f"not attempted: {stopped}"})
            continue
        _log(f"N={n} M={m} K={k}: compiling ({' '.join(flags)})")
        row = count_size(n, m, k, flags, timeout, scratch)
        _log(f"N={n} M={m} K={k}: " + (f"{row['constraints']} constraints, "
                                       f"{row['compile_s']} s, {row['peak_rss_mb']} MB"
                                       if row["built"] else f"not built: {row['reason']}"))
        if not row["built"] and "compile_s" in row:
            stopped = f"N={n} was not built ({row['reason'][:200]})"
        sizes.append(row)
    built = [(r["n"], r["constraints"]) for r in sizes if r["built"]]
    missing = [r["n"] for r in sizes if not r["built"]]
    at = sorted(set(missing) | set(extra))
    return {"m": m, "k": k, "sizes": sizes, "fit": fit(built, at)}


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated integers, got {text!r}") from None


def _shape(text: str) -> tuple[int, int]:
    values = _ints(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"a shape is M,K, got {text!r}")
    return values[0], values[1]


def main(argv: Sequence[str] | None = None) -> None:
    from bench_prove import machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=_ints, default=[4, 8, 16, 32, 64, 128],
                        help="comma-separated N")
    parser.add_argument("--shapes", type=_shape, nargs="+", default=[(8, 16), (2, 4)],
                        help="M,K pairs")
    parser.add_argument("--extrapolate", type=_ints, default=[128, 256],
                        help="N to extrapolate the fit to (and every N not built)")
    parser.add_argument("--timeout", type=float, default=2400, help="seconds per compile")
    parser.add_argument("--full-build", action="store_true",
                        help="also --wasm --sym (what compile_circuit builds)")
    args = parser.parse_args(argv)
    flags = FULL_FLAGS if args.full_build else COUNT_FLAGS
    scratch = paths.build_dir() / "bench" / "constraints"
    scratch.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "epoch_constraints", "date": time.strftime("%Y-%m-%d"),
                              "machine": machine(), "flags": list(flags),
                              "shapes": [sweep_shape(m, k, args.slots, args.extrapolate, flags,
                                                     args.timeout, scratch)
                                         for m, k in args.shapes]}
    result["total_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
