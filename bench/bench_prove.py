"""Benchmark: the whole proving pipeline through the zkclear wrapper at 2^12, 2^14, 2^16.

Run: ``.venv/bin/python bench/bench_prove.py [--sizes 12,14,16] [--runs 3] [--fresh]
[--no-ceremony]``.

The circuit is ``bench/circuits/prove_bench.circom``: K report-like steps (two
``SignedRange`` checks and one ``PoseidonChain(3)`` each, 431 constraints), plus PAD
single multiplications so that constraints + public signals + 1 = 2^k exactly: the
largest circuit the 2^k domain holds (``zkclear.prover.ptau.required_power``). K and PAD
come from two small calibration compiles.

For each size, one run of each step (as users run them, through ``zkclear.prover``):

* ``compile``: ``compile_circuit`` (circom2 --O2, in the wrapper's artefact cache);
* ``dev_ptau``: ``dev_ptau(k)``, the INSECURE development phase 1;
* ``setup``: ``dev_setup(tool="snarkjs")`` (``zkey new`` + one phase-2 contribution +
  vkey export): the zkey both provers prove with below;
* ``setup_groth16py``: ``dev_setup(tool="groth16py")``, groth16py's single-party setup
  from the r1cs (the default development setup; kept in the circuit's
  ``groth16py-dev/`` folder);
* ``ceremony``: ``ceremony.init`` (``zkey new`` again) and one ``ceremony.contribute``
  (``--no-ceremony`` skips them);
* ``witness`` and ``prove``: on ``--runs`` distinct inputs, ``calculate_witness`` (the
  wasm witness generator, the same for every prover) once per input, then each prover
  on the *same* zkey and witness, the proof alone (no verification), in alternating
  order: snarkjs ``groth16.prove`` through the warm worker, and groth16py
  (``zkclear.prover.native.prove_wtns``, its key imported from the zkey once:
  ``load_key_s``). Medians, the ratio of the medians, and each prover's peak RSS (the
  snarkjs worker's; this Python process's for groth16py, which runs in it). Every proof
  is checked with snarkjs verify afterwards. ``prove_job``: one whole ``prove()`` job
  with the default prover (fresh inputs, so the job cache cannot answer it): input
  files, witness, proof, verify, storage;
* ``verify_snarkjs``: ``zkclear.prover.prove.verify`` (warm snarkjs worker), median;
* ``verify_python``: ``zkclear.verifier.verify`` cold (JSON parsing and point checks of
  key and proof, e(alpha, beta) computed) once, and warm (loaded key) median.

Every step reports ``cached: true`` when the artefact cache answered it (then its time
is the cache lookup); ``--fresh`` empties the benchmark's own cache folder first
(``build/bench/prove``, never the main cache) so that every step is measured.
``worker_peak_rss_mb`` is the snarkjs worker's VmHWM during the step (reset before it
through ``/proc/<pid>/clear_refs``; null if that is not possible); compile and dev_ptau
run in processes of their own and have none (``bench_ptau.py`` measures devptau's).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from zkclear import bounds, paths
from zkclear.field import encode_signed
from zkclear.prover import _node, ceremony, native, ptau
from zkclear.prover.circuit import Circuit, Compiled, compile_circuit
from zkclear.prover.keys import ZKEY, Keys, dev_setup, load_keys
from zkclear.prover.prove import backend, calculate_witness, prove
from zkclear.prover.prove import verify as snarkjs_verify
from zkclear.verifier import Proof, VerifyingKey
from zkclear.verifier import verify as python_verify

SOURCE = paths.ROOT / "bench" / "circuits" / "prove_bench.circom"
NAME = "prove_bench"
PUBLIC = ("seed",)
DEFAULT_SIZES = (12, 14, 16)


def bench_circuit(k: int, pad: int, name: str = NAME) -> Circuit:
    """``ProveBench(K, DELTA_BITS, CASH_BITS, PAD)`` with ``seed`` public."""
    return Circuit(name, SOURCE, "ProveBench", (k, bounds.DELTA_BITS, bounds.CASH_BITS, pad),
                   public=PUBLIC, description="benchmark: K range checks + Poseidon steps")


def fill(power: int, per_step: int, fixed: int, n_public: int) -> tuple[int, int]:
    """(K, PAD) with fixed + K * per_step + PAD = 2^power - n_public - 1."""
    target = (1 << power) - n_public - 1 - fixed
    k = target // per_step
    return k, target - k * per_step


def calibrate() -> tuple[int, int, int]:
    """(constraints per step, fixed constraints, public signals) from K = 1 and K = 2."""
    c1 = compile_circuit(bench_circuit(1, 0)).info
    c2 = compile_circuit(bench_circuit(2, 0)).info
    per = c2.n_constraints - c1.n_constraints
    return per, c1.n_constraints - per, c1.n_public


def bench_inputs(k: int, rng: random.Random) -> dict[str, Any]:
    """Random in-range inputs (signed values at full width, encoded into the field)."""
    db, cb = bounds.DELTA_BITS, bounds.CASH_BITS
    return {
        "seed": rng.randrange(1, 1 << 250),
        "delta": [encode_signed(rng.randrange(-(1 << db), 1 << db), db) for _ in range(k)],
        "cash": [encode_signed(rng.randrange(-(1 << cb), 1 << cb), cb) for _ in range(k)],
    }


# --------------------------------------------------------------------- peak memory


def _worker_pid() -> int | None:
    w = _node.snarkjs()
    w.call("ping", step="bench", subject="worker")  # make sure it runs
    proc = w._proc
    return proc.pid if proc is not None else None


def reset_peak(pid: int | None = None) -> bool:
    """Reset a process's VmHWM (Linux ``clear_refs`` 5; default: the snarkjs worker);
    False if not possible."""
    pid = _worker_pid() if pid is None else pid
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_mb(pid: int | None = None) -> float | None:
    mb = _node.resident_mb(_worker_pid() if pid is None else pid, "VmHWM")
    return None if mb is None else round(mb, 1)


#: The provers compared on the same zkey and witness.
PROVERS = ("snarkjs", "groth16py")


def prove_raw(keys: Keys, wtns: Path, prover: str) -> tuple[dict[str, Any], list[int]]:
    """One proof by ``prover`` alone, not verified: snarkjs's ``groth16.prove`` through the
    warm worker, or groth16py (its key loaded once per process, snarkjs zkey or not)."""
    name = keys.compiled.circuit.name
    if prover == "snarkjs":
        res = _node.snarkjs().call("groth16.prove", str(keys.zkey), str(wtns),
                                   step="prove", subject=name)
        return res["proof"], [int(x) for x in res["publicSignals"]]
    pk = native.proving_key(keys.zkey, str(keys.record["zkey_sha256"]),
                            zkey=keys.pkey_format == ZKEY)
    return native.prove_wtns(pk, wtns, n_wires=None, n_public=int(keys.vkey["nPublic"]),
                             subject=name)


class Stage:
    """Times one step and records the worker's peak RSS during it."""

    def __init__(self, out: dict[str, Any], name: str, *, worker: bool = True) -> None:
        self.out, self.name, self.worker = out, name, worker

    def __enter__(self) -> dict[str, Any]:
        self.rss_ok = self.worker and reset_peak()
        self.entry: dict[str, Any] = {}
        self.t0 = time.perf_counter()
        return self.entry

    def __exit__(self, *exc: object) -> None:
        secs = time.perf_counter() - self.t0
        self.out[self.name] = {"seconds": round(secs, 3), **self.entry}
        if self.worker:
            self.out[self.name]["worker_peak_rss_mb"] = peak_mb() if self.rss_ok else None


def _log(msg: str) -> None:
    print(f"[bench_prove] {msg}", file=sys.stderr, flush=True)


def median_times(fn: Callable[[int], object], runs: int) -> list[float]:
    out = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def _summary(times: list[float]) -> dict[str, Any]:
    return {"median_s": round(statistics.median(times), 3),
            "runs_s": [round(t, 3) for t in times]}


# ----------------------------------------------------------------------- one size


def compare_provers(keys: Keys, k: int, runs: int, rng: random.Random, work: Path
                    ) -> tuple[dict[str, Any], dict[str, Any], list[tuple[Any, list[int]]]]:
    """(witness, prove, proofs): ``runs`` witnesses, each proven by every prover on the
    same zkey (alternating which goes first); the proofs are verified afterwards."""
    t0 = time.perf_counter()
    native.proving_key(keys.zkey, str(keys.record["zkey_sha256"]), zkey=True)
    load_key = time.perf_counter() - t0
    wtns_times: list[float] = []
    times: dict[str, list[float]] = {p: [] for p in PROVERS}
    peaks: dict[str, float | None] = {p: None for p in PROVERS}
    pids = {"snarkjs": _worker_pid(), "groth16py": os.getpid()}
    proofs: list[tuple[Any, list[int]]] = []
    for i in range(runs):
        wtns = work / f"w{i}.wtns"
        t0 = time.perf_counter()
        calculate_witness(keys, bench_inputs(k, rng), wtns)
        wtns_times.append(time.perf_counter() - t0)
        order = PROVERS if i % 2 == 0 else PROVERS[::-1]
        for prover in order:
            ok = reset_peak(pids[prover])
            t0 = time.perf_counter()
            proof, public = prove_raw(keys, wtns, prover)
            times[prover].append(time.perf_counter() - t0)
            peak = peak_mb(pids[prover]) if ok else None
            if peak is not None:
                peaks[prover] = max(peaks[prover] or 0.0, peak)
            proofs.append((proof, public))
        wtns.unlink()
    for proof, public in proofs:  # every prover's proof, by the reference verifier
        _check(snarkjs_verify(keys.vkey, public, proof))
    prove_out: dict[str, Any] = {
        "includes": "the proof alone (no verification), same zkey and witness",
        "zkey_sha256": keys.record["zkey_sha256"]}
    for prover in PROVERS:
        prove_out[prover] = _summary(times[prover]) | {"peak_rss_mb": peaks[prover]}
    prove_out["groth16py"]["load_key_s"] = round(load_key, 3)
    prove_out["ratio_snarkjs_over_groth16py"] = round(
        statistics.median(times["snarkjs"]) / statistics.median(times["groth16py"]), 2)
    return _summary(wtns_times), prove_out, proofs


def bench_size(power: int, cal: tuple[int, int, int], runs: int, rng: random.Random,
               work: Path, ceremony_steps: bool = True) -> dict[str, Any]:
    per, fixed, n_public = cal
    k, pad = fill(power, per, fixed, n_public)
    circuit = bench_circuit(k, pad)
    res: dict[str, Any] = {"power": power, "K": k, "PAD": pad}
    steps: dict[str, Any] = {}

    _log(f"2^{power}: compile ProveBench(K={k}, PAD={pad})")
    cached = circuit.paths.manifest.exists()
    with Stage(steps, "compile", worker=False) as e:  # circom2 runs in its own process
        compiled: Compiled = compile_circuit(circuit)
        e["cached"] = cached
    info = compiled.info
    need = ptau.required_power(info.n_constraints, info.n_public)
    res |= {"constraints": info.n_constraints, "public": info.n_public,
            "wires": info.n_wires, "required_power": need}
    if need != power:
        raise SystemExit(f"2^{power}: ProveBench(K={k}, PAD={pad}) has {info.n_constraints} "
                         f"constraints and needs 2^{need}: calibration is off")

    _log(f"2^{power}: development ptau")
    cached = ptau.dev_ptau_path(power).exists()
    with Stage(steps, "dev_ptau", worker=False) as e:  # so does devptau.mjs
        ptau_file = ptau.dev_ptau(power)
        e |= {"cached": cached, "bytes": ptau_file.stat().st_size}

    _log(f"2^{power}: groth16 setup (dev_setup, snarkjs)")
    active = load_keys(compiled)
    cached = active is not None and active.pkey_format == ZKEY
    with Stage(steps, "setup") as e:
        keys: Keys = dev_setup(compiled, tool="snarkjs")
        e |= {"cached": cached, "zkey_new_and_contribute_s": keys.record.get("setup_seconds"),
              "zkey_bytes": keys.zkey.stat().st_size}

    _log(f"2^{power}: groth16py setup (dev_setup, groth16py)")
    native_dir = compiled.paths.dir / "groth16py-dev"
    cached = load_keys(compiled, native_dir) is not None
    with Stage(steps, "setup_groth16py", worker=False) as e:
        native_keys = dev_setup(compiled, tool="groth16py", dest_dir=native_dir)
        e |= {"cached": cached, "pkey_bytes": native_keys.zkey.stat().st_size}

    if ceremony_steps:
        _log(f"2^{power}: ceremony init + one contribution")
        folder = work / f"ceremony-{power}"
        shutil.rmtree(folder, ignore_errors=True)
        with Stage(steps, "ceremony_init"):
            ceremony.init(compiled, ptau_file, folder)
        with Stage(steps, "ceremony_contribute"):
            ceremony.contribute(folder, "bench contributor")
        shutil.rmtree(folder, ignore_errors=True)

    _log(f"2^{power}: witness, then each prover on the same zkey and witness, x{runs}")
    steps["witness"], steps["prove"], proofs = compare_provers(keys, k, runs, rng, work)

    with Stage(steps, "prove_job") as e:
        job = prove(keys, bench_inputs(k, rng))
        e |= {"cached": job.cached, "prover": backend()[0]}
    shutil.rmtree(job.job_dir, ignore_errors=True)

    _log(f"2^{power}: verify (snarkjs, Python)")
    proof, public = proofs[0]
    vkey = keys.vkey
    steps["verify_snarkjs"] = _summary(
        median_times(lambda i: _check(snarkjs_verify(vkey, proofs[i][1], proofs[i][0])), runs))
    t0 = time.perf_counter()
    vk = VerifyingKey.from_json(keys.vkey_path)
    _check(python_verify(vk, Proof.from_json(proof), public))
    cold = time.perf_counter() - t0
    steps["verify_python"] = _summary(median_times(
        lambda i: _check(python_verify(vk, Proof.from_json(proofs[i][0]), proofs[i][1])), runs)
    ) | {"cold_s": round(cold, 3)}
    res["steps"] = steps
    return res


def _check(ok: bool) -> None:
    if ok is not True:
        raise SystemExit("a proof did not verify")


def machine() -> dict[str, Any]:
    node = subprocess.run([_node.node_binary(), "--version"], capture_output=True,
                          text=True).stdout.strip()
    return {"cpus": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "node": node,
            "snarkjs": _node.installed_version("snarkjs"),
            "circom2": _node.installed_version("circom2"),
            "circomlib": _node.installed_version("circomlib"),
            "py_ecc": metadata.version("py-ecc"),
            "groth16py": metadata.version("groth16py") if native.available() else None,
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


def parse_sizes(text: str) -> list[int]:
    sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    if not sizes or any(not 9 <= s <= ptau.MAX_DEV_POWER for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes are powers in 9..{ptau.MAX_DEV_POWER}: {text}")
    return sizes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES),
                        help="comma-separated powers of two (default 12,14,16)")
    parser.add_argument("--runs", type=int, default=3, help="proofs per size (median)")
    parser.add_argument("--fresh", action="store_true",
                        help="empty the benchmark's cache first: measure every step")
    parser.add_argument("--seed", type=int, default=None, help="input RNG seed")
    parser.add_argument("--no-ceremony", action="store_true",
                        help="skip the ceremony steps (init + one contribution)")
    args = parser.parse_args(argv)

    # The benchmark's own artefact cache (inside the repository: circom2 sees only it).
    cache = paths.ROOT / "build" / "bench" / "prove"
    if args.fresh:
        shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["ZKCLEAR_BUILD_DIR"] = str(cache)
    work = cache / "work"
    work.mkdir(exist_ok=True)
    rng = random.Random(args.seed if args.seed is not None else time.time_ns())

    result: dict[str, Any] = {"benchmark": "prove_pipeline",
                              "circuit": str(SOURCE.relative_to(paths.ROOT)),
                              "date": time.strftime("%Y-%m-%d"), "machine": machine(),
                              "runs": args.runs, "fresh": args.fresh}
    t0 = time.perf_counter()
    _log("calibrating (ProveBench K=1, K=2)")
    per, fixed, n_public = calibrate()
    result["calibration"] = {"constraints_per_step": per, "fixed": fixed, "public": n_public,
                             "seconds": round(time.perf_counter() - t0, 3)}
    result["sizes"] = [bench_size(p, (per, fixed, n_public), args.runs, rng, work,
                                  ceremony_steps=not args.no_ceremony) for p in args.sizes]
    shutil.rmtree(work, ignore_errors=True)
    result["total_s"] = round(time.perf_counter() - t0, 1)
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
