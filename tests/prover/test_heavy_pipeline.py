"""The whole pipeline at ~2^14 constraints: compile, a two-party phase-2 ceremony with a
beacon, install, prove (groth16py, the default prover, from the ceremony's zkey; and
snarkjs, the reference), and verify in Python, by snarkjs and on the embedded EVM.

The circuit is the proving benchmark's (``bench/circuits/prove_bench.circom``: K steps of
two SignedRange checks and a Poseidon hash, padded to fill the 2^14 domain exactly).
About 2-3 minutes on 2 cores; ``make test-heavy`` runs it.
"""

from __future__ import annotations

import copy
import json
import random
import time

import pytest

from zkclear import bounds, paths
from zkclear.chain import node as chain
from zkclear.field import P, encode_signed
from zkclear.poseidon import poseidon_chain
from zkclear.prover import ceremony, ptau
from zkclear.prover.circuit import Circuit, compile_circuit
from zkclear.prover.prove import BACKEND_ENV, prove
from zkclear.prover.prove import verify as snarkjs_verify
from zkclear.verifier import Proof, VerifyingKey, deploy_for_keys
from zkclear.verifier import verify as python_verify

pytestmark = pytest.mark.heavy

POWER = 14
#: ProveBench costs 431 constraints per step: 38 * 431 + 3 = 16381 = 2^14 - 2 public - 1.
K, PAD = 38, 3
BEACON = "9f" * 32


def expected_out(seed: int, delta: list[int], cash: list[int]) -> int:
    acc = seed
    for d, c in zip(delta, cash, strict=True):
        acc = poseidon_chain([acc, d, c])
    return (acc + pow(seed, PAD + 1, P)) % P


def test_ceremony_prove_and_verify_everywhere_at_2_14(tmp_path):
    t0 = time.perf_counter()
    times: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal t0
        times[name] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()

    circuit = Circuit("heavy_pipeline", paths.ROOT / "bench" / "circuits" / "prove_bench.circom",
                      "ProveBench", (K, bounds.DELTA_BITS, bounds.CASH_BITS, PAD),
                      public=("seed",))
    compiled = compile_circuit(circuit)
    info = compiled.info
    assert info.n_public == 2
    assert info.n_constraints + info.n_public + 1 == 1 << POWER  # the domain is full
    assert ptau.required_power(info.n_constraints, info.n_public) == POWER
    phase1 = ptau.dev_ptau(POWER)
    lap("compile+ptau")

    folder = tmp_path / "ceremony"
    ceremony.init(compiled, phase1, folder)
    lap("init")
    a = ceremony.contribute(folder, "Bank A")
    b = ceremony.contribute(folder, "Fund B", entropy="fund b's own randomness")
    assert a.contribution_hash != b.contribution_hash
    ceremony.finalize(folder, BEACON, iterations_exp=10)
    lap("contribute x2 + beacon")
    keys = ceremony.install(folder, compiled)  # verifies the transcript first
    lap("verify transcript + install")
    assert keys.provenance == "ceremony"
    assert keys.record["contributors"] == ["Bank A", "Fund B"]
    assert keys.insecure  # the development phase 1 underneath

    rng = random.Random(20261129)
    db, cb = bounds.DELTA_BITS, bounds.CASH_BITS
    # Extremes of both ranges plus random values at full width.
    delta = [-(1 << db), (1 << db) - 1] + [rng.randrange(-(1 << db), 1 << db)
                                           for _ in range(K - 2)]
    cash = [(1 << cb) - 1, -(1 << cb)] + [rng.randrange(-(1 << cb), 1 << cb)
                                          for _ in range(K - 2)]
    seed = rng.randrange(P)
    enc_d = [encode_signed(x, db) for x in delta]
    enc_c = [encode_signed(x, cb) for x in cash]
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(BACKEND_ENV, raising=False)
        res = prove(keys, {"seed": seed, "delta": enc_d, "cash": enc_c})
        lap("prove")
        mp.setenv(BACKEND_ENV, "snarkjs")  # the reference, on the same zkey (another job)
        ref = prove(keys, {"seed": (seed + 1) % P, "delta": enc_d, "cash": enc_c})
        lap("prove (snarkjs)")
    assert res.public == [expected_out(seed, enc_d, enc_c), seed]  # outputs first
    assert ref.public == [expected_out((seed + 1) % P, enc_d, enc_c), (seed + 1) % P]
    assert [json.loads((r.job_dir / "job.json").read_text())["backend"] for r in (res, ref)] \
        == ["groth16py", "snarkjs"]
    assert snarkjs_verify(keys.vkey, ref.public, ref.proof)
    tampered = [res.public[0], (seed + 1) % P]

    assert snarkjs_verify(keys.vkey, res.public, res.proof)
    assert not snarkjs_verify(keys.vkey, tampered, res.proof)
    vk, proof = VerifyingKey.from_json(keys.vkey_path), Proof.from_json(res.proof)
    assert python_verify(vk, proof, res.public)
    assert not python_verify(vk, proof, tampered)
    lap("verify snarkjs + python")

    onchain = deploy_for_keys(chain.embedded_web3(), keys)
    assert onchain.n_public == 2
    assert onchain.verify(res.proof, res.public)
    assert not onchain.verify(res.proof, tampered)
    bad_proof = copy.deepcopy(res.proof)
    bad_proof["pi_a"] = res.proof["pi_c"]
    assert not onchain.verify(bad_proof, res.public)
    lap("deploy + verify on the EVM")
    print("heavy pipeline times (s):", times)
