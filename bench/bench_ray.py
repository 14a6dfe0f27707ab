"""Benchmark: a backlog of proofs on Ray with 1 and 2 workers, against the local prover.

Run: ``.venv/bin/python bench/bench_ray.py [--circuit report|epoch] [--jobs 8]
[--workers 1,2]``.

``--circuit report`` (default): ``--jobs`` distinct jobs of the 516-constraint report
commitment (fresh salts every run, so no proof store answers them). ``--circuit epoch``:
the epochs of ``--stories`` demo stories (seeds 1..S, 2 epochs each) at N=4, M=2, K=4
(``zkclear epoch prove``'s backlog; the development keys are set up on first use, ~3
min), the same inputs on every worker count (each count's workers have an empty proof
store: they prove them again).

For each worker count, a local Ray (``RayProver(workers=w)``) whose workers use a fresh
build folder of their own, so that their proof store is empty and the keys reach them
through Ray's object store, as on a cluster. ``startup_seconds``: ``ray.init`` plus
``w`` warm-up jobs of other inputs (other salts, other story seeds): the keys shipped
and written, the workers and their snarkjs processes started. Then the backlog is timed:
``seconds``, ``proofs_per_minute`` (for the epoch circuit: epochs per minute).
``local``: the same backlog through ``LocalProver`` in this process, one proof after the
other (the stored results of the backlog's jobs are deleted first). Every
proof is verified by the driver (Python verifier on the Ray path, snarkjs inside
``prove()`` on both) before it counts. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from typing import Any

from _timing import machine

from zkclear import paths
from zkclear.clearing.report import Report
from zkclear.prover import distributed, registry
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.keys import Keys, dev_setup
from zkclear.prover.prove import job_key


def report_jobs(n: int) -> list[dict[str, Any]]:
    return [Report(delta=(25 + i, -10), trade_cash=-2_500_000 + i,
                   salt=secrets.randbelow(2**200)).circuit_inputs() for i in range(n)]


def epoch_jobs(seeds: range) -> tuple[Keys, list[dict[str, Any]]]:
    from zkclear.clearing.params import PoolConfig
    from zkclear.clearing.scenario import run_story
    from zkclear.clearing.witness import epoch_circuit_inputs

    cfg = PoolConfig(4, 2, 4)
    keys = dev_setup(compile_circuit(registry.get("epoch", slots=4, instruments=2,
                                                  scenarios=4)))
    return keys, [epoch_circuit_inputs(r) for seed in seeds for r in run_story(cfg, seed)]


def local(keys: Keys, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """The backlog in this process, after dropping any stored result of its jobs."""
    for job in jobs:
        shutil.rmtree(paths.proofs_dir() / job_key(keys, job), ignore_errors=True)
    return backlog(distributed.LocalProver(), keys, jobs)


def backlog(prover: Any, keys: Keys, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    t0 = time.perf_counter()
    results = list(prover.prove_many(keys, jobs))
    secs = time.perf_counter() - t0
    assert len(results) == len(jobs)
    return {"seconds": round(secs, 2), "proofs": len(jobs),
            "proofs_per_minute": round(60 * len(jobs) / secs, 1)}


def on_ray(workers: int, keys: Keys, jobs: list[dict[str, Any]],
           fresh: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zkclear-bench-ray-") as build:
        t0 = time.perf_counter()
        prover = distributed.RayProver(
            workers=workers, runtime_env={"env_vars": {paths.BUILD_DIR_ENV: build}})
        try:
            list(prover.prove_many(keys, fresh(workers)))  # warm-up: keys shipped
            startup = time.perf_counter() - t0
            out = backlog(prover, keys, jobs)
        finally:
            prover.close()
    return {"workers": workers, "startup_seconds": round(startup, 2), **out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--circuit", choices=("report", "epoch"), default="report")
    ap.add_argument("--jobs", type=int, default=8, help="backlog size (report circuit)")
    ap.add_argument("--stories", type=int, default=2,
                    help="demo stories (2 epochs each, seeds 1..S) of the epoch backlog")
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    args = ap.parse_args(argv)
    load = os.getloadavg()
    counts = [int(w) for w in args.workers.split(",")]
    if args.circuit == "report":
        keys = dev_setup(compile_circuit(registry.report_commitment(instruments=2)))
        print(f"report circuit, {args.jobs} jobs", file=sys.stderr)
        base = local(keys, report_jobs(args.jobs))
        runs = [on_ray(w, keys, report_jobs(args.jobs), report_jobs) for w in counts]
    else:
        keys, jobs = epoch_jobs(range(1, 1 + args.stories))
        print(f"epoch circuit N=4 M=2 K=4, {len(jobs)} epochs", file=sys.stderr)
        base = local(keys, jobs)
        # warm-up: epochs of another story (seed), so the timed ones are not yet stored
        warm = epoch_jobs(range(100, 100 + max(counts)))[1]
        runs = [on_ray(w, keys, jobs, lambda n: warm[:n]) for w in counts]
    out = {"circuit": args.circuit, "constraints": keys.compiled.info.n_constraints,
           "local": base, "ray": runs,
           "speedup_2_vs_1": _speedup(runs), **machine(load)}
    print(json.dumps(out, indent=2))
    return 0


def _speedup(runs: list[dict[str, Any]]) -> float | None:
    by = {r["workers"]: r["seconds"] for r in runs}
    if 1 in by and 2 in by:
        return round(by[1] / by[2], 2)
    return None


if __name__ == "__main__":
    sys.exit(main())
