"""Micro benchmark: Groth16 verification in Python (py_ecc) vs snarkjs (long-lived worker).

Run: ``.venv/bin/python bench/bench_verify.py [--runs 5]``.
Builds the multiplier fixture of :mod:`zkclear.verifier.fixture` (3 public signals) in
``build/bench/multiplier`` (~2 s), then prints one JSON object: the median and individual times of

* ``python_verify``: :func:`zkclear.verifier.verify` with a loaded key (3 Miller loops +
  one final exponentiation; e(alpha, beta) is cached on the key);
* ``python_verify_4_pairings``: the textbook form for comparison, e(-A, B) · e(alpha, beta)
  · e(vk_x, gamma) · e(C, delta) == 1 with e(alpha, beta) computed every time (4 Miller
  loops + one final exponentiation), same key checks and inputs; ``three_over_four`` is
  the ratio of the medians (``--no-baseline`` skips it);
* ``python_load``: ``VerifyingKey.from_json`` + ``Proof.from_json`` + the first, uncached
  e(alpha, beta) (validation includes 4 G2 subgroup checks);
* ``snarkjs_verify``: :func:`zkclear.prover.prove.verify` through the warm worker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from importlib import metadata

from _timing import timed
from py_ecc.optimized_bn128 import FQ12, add, final_exponentiate, multiply, neg, pairing

from zkclear import paths
from zkclear.prover.prove import verify as snarkjs_verify
from zkclear.verifier import Proof, VerifyingKey, parse_public, verify
from zkclear.verifier import fixture as groth16_fixture
from zkclear.verifier.groth16 import _g1, _g2


def verify_4_pairings(vk: VerifyingKey, proof: Proof, public: Sequence[int | str]) -> bool:
    """The textbook 4-pairing check (e(alpha, beta) not cached), as a baseline."""
    inputs = parse_public(public, vk.n_public)
    vk_x = _g1(vk.ic[0])
    for x, base in zip(inputs, vk.ic[1:], strict=True):
        vk_x = add(vk_x, multiply(_g1(base), x))
    f = (pairing(_g2(proof.b), neg(_g1(proof.a)), final_exponentiate=False)
         * pairing(_g2(vk.beta2), _g1(vk.alpha1), final_exponentiate=False)
         * pairing(_g2(vk.gamma2), vk_x, final_exponentiate=False)
         * pairing(_g2(vk.delta2), _g1(proof.c), final_exponentiate=False))
    return bool(final_exponentiate(f) == FQ12.one())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the 4-pairing baseline")
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
    benches: dict[str, Callable[[], object]] = {
        "python_verify": lambda: verify(vk, proof, fx.public),
        "python_verify_4_pairings": lambda: verify_4_pairings(vk, proof, fx.public),
        "python_load": load,
        "snarkjs_verify": lambda: snarkjs_verify(fx.vkey, fx.public, fx.proof),
    }
    if args.no_baseline:
        del benches["python_verify_4_pairings"]
    elif not verify_4_pairings(vk, proof, fx.public):
        raise SystemExit("the 4-pairing baseline rejects the fixture proof")
    for name, fn in benches.items():
        runs = timed(fn, args.runs)
        medians[name] = statistics.median(runs)
        results[name] = {"median_s": round(medians[name], 4),
                         "runs_s": [round(r, 4) for r in runs]}
    ratio = medians["python_verify"] / medians["snarkjs_verify"]

    print(json.dumps({
        "benchmark": "groth16_verify",
        "circuit": "multiplier (zkclear.verifier.fixture)",
        "n_public": vk.n_public,
        "runs": args.runs,
        "python_over_snarkjs": round(ratio, 1),
        "three_over_four": (None if args.no_baseline else round(
            medians["python_verify"] / medians["python_verify_4_pairings"], 3)),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "python": platform.python_version(),
        "py_ecc": metadata.version("py-ecc"),
        "machine": platform.machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
