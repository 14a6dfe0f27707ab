"""Micro benchmark: Groth16 verification in Python (py_ecc) vs snarkjs (long-lived worker).

Run: ``.venv/bin/python bench/bench_verify.py [--runs 5]``.
Builds the test multiplier fixture (3 public signals) in ``build/bench/multiplier``
(~2 s), then prints one JSON object: the median and individual times of

* ``python_verify``: :func:`zkclear.verifier.verify` with a loaded key (3 Miller loops +
  one final exponentiation; e(alpha, beta) is cached on the key);
* ``python_load``: ``VerifyingKey.from_json`` + ``Proof.from_json`` + the first, uncached
  e(alpha, beta) (validation includes 4 G2 subgroup checks);
* ``snarkjs_verify``: :func:`zkclear.prover.prove.verify` through the warm worker.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from collections.abc import Sequence
from importlib import metadata

from zkclear import paths
from zkclear.prover.prove import verify as snarkjs_verify
from zkclear.verifier import Proof, VerifyingKey, verify

# The fixture builder lives with the tests; the script runs from bench/, so the
# repository root must be importable for `tests.groth16_fixture`.
sys.path.insert(0, str(paths.ROOT))
from _timing import timed

from tests import groth16_fixture


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    fx = groth16_fixture.build(paths.build_dir() / "bench" / "multiplier")

    def load() -> None:
        vk = VerifyingKey.from_json(fx.vkey)
        Proof.from_json(fx.proof)
        _ = vk._alpha_beta_inverse  # the per-key precomputation

    vk, proof = VerifyingKey.from_json(fx.vkey), Proof.from_json(fx.proof)
    # Warm both sides: the key's cached e(alpha, beta), snarkjs's curve and threads.
    if not (verify(vk, proof, fx.public) and snarkjs_verify(fx.vkey, fx.public, fx.proof)):
        raise SystemExit("the fixture proof does not verify")

    results: dict[str, dict[str, object]] = {}
    medians: dict[str, float] = {}
    for name, fn in {
        "python_verify": lambda: verify(vk, proof, fx.public),
        "python_load": load,
        "snarkjs_verify": lambda: snarkjs_verify(fx.vkey, fx.public, fx.proof),
    }.items():
        runs = timed(fn, args.runs)
        medians[name] = statistics.median(runs)
        results[name] = {"median_s": round(medians[name], 4),
                         "runs_s": [round(r, 4) for r in runs]}
    ratio = medians["python_verify"] / medians["snarkjs_verify"]

    print(json.dumps({
        "benchmark": "groth16_verify",
        "circuit": "tests/circuits/multiplier_main.circom",
        "n_public": vk.n_public,
        "runs": args.runs,
        "python_over_snarkjs": round(ratio, 1),
        "results": results,
        "python": platform.python_version(),
        "py_ecc": metadata.version("py-ecc"),
        "machine": platform.machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
