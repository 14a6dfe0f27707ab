"""The epoch circuit at pool sizes: constraints (total, per slot, growth per parameter) and,
with ``--prove``, wall time and peak memory of compile, development setup, witness,
proof and verification on the demo story's epochs.

    .venv/bin/python bench/bench_epoch.py                          # constraints only
    .venv/bin/python bench/bench_epoch.py --prove 4,2,4            # + setup and proofs
    .venv/bin/python bench/bench_epoch.py --sizes 4,2,4 16,4,8 32,8,16 --prove 32,8,16

Sizes are N,M,K (slots, instruments, scenarios; E = 4N event slots). Constraint figures
come from the artefact cache when it holds the circuit, else from a count-only compile
(``bench_constraints.py``'s: r1cs only, counts from its header; 10 s at 4,2,4, 2.5-4 min
at 32,8,16); sizes also in ``--prove`` are built in full (r1cs, witness generator) in the
cache. ``--prove`` runs the INSECURE development setup (cached in build/ like every
zkclear key; ``setup.cached`` says when the cache answered; groth16py's unless
``ZKCLEAR_DEV_SETUP=snarkjs``) and proves each epoch of the demo story with the keys' own
prover (``prover``: groth16py, or snarkjs for a snarkjs zkey): witness time, proof time
(groth16py's key loaded first, ``load_key_s``; the snarkjs worker's peak RSS during a
snarkjs proof), Python (py-ecc) and snarkjs
verification. ``bench_prove.py`` compares the two provers on the same zkey.
One JSON object on stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench_constraints import COUNT_FLAGS, count_size
from bench_prove import Stage, machine, prove_raw

from zkclear import paths
from zkclear.clearing.params import PoolConfig
from zkclear.clearing.scenario import run_story
from zkclear.clearing.witness import epoch_circuit_inputs
from zkclear.prover import native, registry
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.keys import NATIVE, dev_setup, dev_setup_tool, load_keys
from zkclear.prover.prove import calculate_witness
from zkclear.prover.prove import verify as snarkjs_verify
from zkclear.verifier import Proof, VerifyingKey, verify

Size = tuple[int, int, int]
BASE: Size = (4, 2, 4)
#: Seconds a count-only compile may take (N=64, M=8, K=16: ~6 min under load).
COUNT_TIMEOUT = 1800.0


def _log(msg: str) -> None:
    print(f"[bench_epoch] {msg}", file=sys.stderr, flush=True)


def parse_size(text: str) -> Size:
    try:
        n, m, k = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size is N,M,K, got {text!r}") from None
    return n, m, k


def constraints(size: Size, full: bool = False) -> dict[str, Any]:
    """Count the epoch circuit at ``size``: from the artefact cache if it holds the circuit
    (or ``full``: a size about to be proven is built there anyway), else by a count-only
    compile (``bench_constraints.count_size``: r1cs only, no witness generator, cut after
    ``COUNT_TIMEOUT``). ``compile_s`` is the compile's, ``cached`` says the cache answered."""
    circuit = registry.epoch(*size)
    cached = circuit.paths.manifest.exists()
    if not (cached or full):
        scratch = paths.build_dir() / "bench" / "epoch"
        scratch.mkdir(parents=True, exist_ok=True)
        row = count_size(*size, COUNT_FLAGS, COUNT_TIMEOUT, scratch)
        if not row["built"]:
            raise SystemExit(f"{size}: {row['reason']}")
        return {k: row[k] for k in ("n", "m", "k", "events", "constraints", "wires",
                                    "per_slot", "compile_s", "peak_rss_mb")} | {"cached": False}
    t0 = time.perf_counter()
    compiled = compile_circuit(circuit)
    info = compiled.info
    return {"n": size[0], "m": size[1], "k": size[2], "events": 4 * size[0],
            "constraints": info.n_constraints, "wires": info.n_wires,
            "per_slot": round(info.n_constraints / size[0]),
            "compile_s": round(time.perf_counter() - t0, 2) if not cached
            else compiled.manifest.get("compile_seconds"), "cached": cached}


def growth(base: Size) -> dict[str, Any]:
    """Marginal constraints of one more slot, instrument and scenario around ``base``."""
    n, m, k = base
    c0 = constraints(base)["constraints"]
    return {
        "base": list(base), "base_constraints": c0,
        "per_slot": (constraints((2 * n, m, k))["constraints"] - c0) / n,
        "per_instrument": (constraints((n, m + 1, k))["constraints"] - c0),
        "per_scenario": (constraints((n, m, k + 1))["constraints"] - c0),
    }


def prove_size(size: Size, work: Any) -> dict[str, Any]:
    cfg = PoolConfig(*size)
    out: dict[str, Any] = {"n": size[0], "m": size[1], "k": size[2]}
    with Stage(out, "compile", worker=False):
        compiled = compile_circuit(registry.epoch(*size))
    active = load_keys(compiled)
    tool = dev_setup_tool()
    cached = active is not None and active.record.get("setup_tool", "snarkjs") == tool
    # Say which setup runs: snarkjs's (groth16py not installed, or ZKCLEAR_DEV_SETUP=snarkjs)
    # takes over an hour in the node worker at N=32, M=8, K=16 on 2 cores.
    _log(f"{size}: {compiled.info.n_constraints} constraints; development setup by {tool}"
         f"{' (cached)' if cached else ''}")
    with Stage(out, "setup") as entry:
        keys = dev_setup(compiled)
        entry["cached"] = cached
    vk = VerifyingKey.from_json(keys.vkey)
    out["prover"] = prover = "groth16py" if keys.pkey_format == NATIVE else "snarkjs"
    if prover == "groth16py":  # loaded once per process: not part of the first proof's time
        t0 = time.perf_counter()
        native.proving_key(keys.zkey, str(keys.record["zkey_sha256"]), zkey=False)
        out["load_key_s"] = round(time.perf_counter() - t0, 3)
    epochs = []
    for r in run_story(cfg):
        e: dict[str, Any] = {"epoch": r.epoch}
        wtns = work / f"epoch_{size[0]}_{size[1]}_{size[2]}_{r.epoch}.wtns"
        with Stage(e, "witness", worker=False):
            calculate_witness(compiled, epoch_circuit_inputs(r), wtns)
        with Stage(e, "prove", worker=prover == "snarkjs"):  # the proof alone
            proof, public = prove_raw(keys, wtns, prover)
        t0 = time.perf_counter()
        ok = verify(vk, Proof.from_json(proof), public)
        e["verify_python_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        ok = ok and snarkjs_verify(keys.vkey, public, proof)
        e["verify_snarkjs_s"] = round(time.perf_counter() - t0, 3)
        if not ok or public != r.public_signals():
            raise SystemExit(f"epoch {r.epoch} at {size}: the proof did not verify")
        epochs.append(e)
        _log(f"{size} epoch {r.epoch}: prove {e['prove']['seconds']} s")
    out["epochs"] = epochs
    out["prove_median_s"] = round(statistics.median(x["prove"]["seconds"] for x in epochs), 3)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_size, nargs="+",
                        default=[(4, 2, 4), (16, 4, 8), (32, 8, 16)])
    parser.add_argument("--growth", action=argparse.BooleanOptionalAction, default=True,
                        help="marginal constraints per slot/instrument/scenario at 4,2,4")
    parser.add_argument("--prove", type=parse_size, nargs="*", default=[],
                        help="sizes to set up and prove (development keys)")
    args = parser.parse_args(argv)

    result: dict[str, Any] = {"benchmark": "epoch_circuit", "date": time.strftime("%Y-%m-%d"),
                              "machine": machine()}
    result["sizes"] = []
    for size in args.sizes:
        _log(f"compile {size}")
        result["sizes"].append(constraints(size, full=size in args.prove))
    if args.growth:
        result["growth"] = growth(BASE)
    work = paths.build_dir() / "bench" / "epoch"
    work.mkdir(parents=True, exist_ok=True)
    result["prove"] = [prove_size(size, work) for size in args.prove]
    print(__import__("json").dumps(result, indent=2))


if __name__ == "__main__":
    main()
