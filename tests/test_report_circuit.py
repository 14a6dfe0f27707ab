"""The first real circuit end to end: a report opens to its commitment.

Known answer from the Python side (the engine's Report), a proof verified in Python,
by snarkjs and (in test_demo/test_verifier_onchain) on the EVM; and soundness: a report
out of range, a tampered witness or a changed public input yields no accepted proof.
"""

from __future__ import annotations

import pytest

from zkclear import bounds
from zkclear.clearing.report import Report
from zkclear.errors import ProofError, WitnessError
from zkclear.field import BoundError, P
from zkclear.prover import registry
from zkclear.prover.binfile import read_sections, read_witness
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.keys import dev_setup
from zkclear.prover.prove import calculate_witness, prove, prove_witness
from zkclear.prover.prove import verify as snarkjs_verify
from zkclear.verifier import Proof, VerifyingKey
from zkclear.verifier import verify as py_verify


@pytest.fixture(scope="module")
def keys():
    compiled = compile_circuit(registry.report_commitment(instruments=2))
    return dev_setup(compiled)


def test_constraint_count_is_pinned(keys):
    # Growth shows up in review: 2 x Num2Bits(49) + Num2Bits(121) + Poseidon(4).
    assert keys.compiled.info.n_constraints == 516
    assert keys.compiled.info.n_public == 1


def test_proof_of_a_report_verifies_everywhere_and_equals_python(keys):
    report = Report(delta=(25, -10), trade_cash=-2_500_000, salt=123456789)
    res = prove(keys, report.circuit_inputs())
    assert res.public == [report.commitment()]
    assert snarkjs_verify(keys.vkey, res.public, res.proof)
    assert py_verify(VerifyingKey.from_json(keys.vkey), Proof.from_json(res.proof), res.public)
    # The same job again is served from the content-addressed store.
    again = prove(keys, report.circuit_inputs())
    assert again.cached and again.job_key == res.job_key and again.proof == res.proof
    assert not (res.job_dir / "witness.wtns").exists()  # private values are not kept


def test_bounds_are_exact_at_both_edges(keys, tmp_path):
    lo, hi = bounds.DELTA.lo, bounds.DELTA.hi
    edge = Report(delta=(lo, hi), trade_cash=bounds.CASH.lo, salt=P - 1)
    calculate_witness(keys, edge.circuit_inputs(), tmp_path / "edge.wtns")
    assert read_witness(tmp_path / "edge.wtns")[1] == edge.commitment()
    # One past the bound: Python refuses before proving ...
    with pytest.raises(BoundError, match=r"delta\[1\]"):
        Report(delta=(0, hi + 1), trade_cash=0, salt=1)
    with pytest.raises(BoundError, match="tradeCash"):
        Report(delta=(0, 0), trade_cash=bounds.CASH.lo - 1, salt=1)
    # ... and the circuit refuses the same values fed to it directly.
    for delta, cash in (((hi + 1) % P, 0), ((lo - 1) % P, 0), (0, (bounds.CASH.hi + 1) % P)):
        with pytest.raises(WitnessError, match="Num2Bits"):
            calculate_witness(keys, {"delta": [delta, 0], "tradeCash": cash, "salt": 1},
                              tmp_path / "bad.wtns")


def test_tampered_witness_cannot_produce_a_proof(keys, tmp_path):
    """A witness claiming another commitment: snarkjs proves it, the proof never leaves."""
    report = Report(delta=(1, 2), trade_cash=3, salt=4)
    wtns = tmp_path / "w.wtns"
    calculate_witness(keys, report.circuit_inputs(), wtns)
    sec = read_sections(wtns, b"wtns")[2][0]
    data = bytearray(wtns.read_bytes())
    n8 = 32
    forged = (report.commitment() + 1) % P
    data[sec.offset + n8 : sec.offset + 2 * n8] = forged.to_bytes(n8, "little")
    wtns.write_bytes(bytes(data))
    values = read_witness(wtns)
    assert values[1] == forged
    with pytest.raises(ProofError, match="does not verify"):
        prove_witness(keys, wtns)


def test_changed_public_input_or_proof_is_rejected(keys):
    report = Report(delta=(7, -7), trade_cash=0, salt=99)
    res = prove(keys, report.circuit_inputs())
    vk, proof = VerifyingKey.from_json(keys.vkey), Proof.from_json(res.proof)
    other = [(res.public[0] + 1) % P]
    assert not snarkjs_verify(keys.vkey, other, res.proof)
    assert not py_verify(vk, proof, other)
    swapped = dict(res.proof, pi_a=res.proof["pi_c"], pi_c=res.proof["pi_a"])
    assert not snarkjs_verify(keys.vkey, res.public, swapped)
    assert not py_verify(vk, Proof.from_json(swapped), res.public)
    # A public input outside the field is refused outright.
    assert not snarkjs_verify(keys.vkey, [res.public[0] + P], res.proof)
