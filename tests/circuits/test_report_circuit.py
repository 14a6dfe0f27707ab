"""The first real circuit end to end: a report opens to its commitment.

Known answer from the Python side (the engine's Report), a proof verified in Python,
by snarkjs and (in test_demo/test_verifier_onchain) on the EVM; and soundness: a report
out of range, a tampered witness or a changed public input yields no accepted proof.
Each of these runs twice: with groth16py's development keys and prover (the default),
and with snarkjs's (the reference), kept apart in their own folder.
"""

from __future__ import annotations

import pytest

from zkclear import bounds
from zkclear.clearing.report import Report
from zkclear.errors import ProofError, WitnessError
from zkclear.field import BoundError, P
from zkclear.prover.binfile import read_sections, read_witness
from zkclear.prover.prove import BACKEND_ENV, calculate_witness, prove, prove_witness
from zkclear.prover.prove import verify as snarkjs_verify
from zkclear.verifier import Proof, VerifyingKey
from zkclear.verifier import verify as py_verify

from ..prover.helpers import report_keys


@pytest.fixture(scope="module", params=["groth16py", "snarkjs"])
def keys(request):
    """Each tool's keys, proven by the same tool (``ZKCLEAR_PROVER``)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(BACKEND_ENV, request.param)
        yield report_keys(request.param)


@pytest.fixture(scope="module")
def snarkjs_keys():
    return report_keys("snarkjs")


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
    """A witness claiming another commitment: the prover (groth16py or snarkjs) proves
    it, the proof never leaves."""
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
    prover = keys.record["setup_tool"]  # the keys' own tool proves (the fixture's choice)
    with pytest.raises(ProofError, match=f"the proof {prover} made does not verify"):
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


# -- prover backends ------------------------------------------------------------------------

def _fake_rapidsnark(bin_dir, body: str):
    """An executable named ``rapidsnark`` on PATH with rapidsnark's command line
    (``rapidsnark <zkey> <wtns> <proof.json> <public.json>``)."""
    import os
    import stat

    exe = bin_dir / "rapidsnark"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_backend_choice(monkeypatch, tmp_path):
    from zkclear.prover import native
    from zkclear.prover.prove import BACKEND_ENV, backend

    monkeypatch.setenv("PATH", str(tmp_path))  # no rapidsnark here
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert native.available()  # the fast extra is part of the test install
    assert backend() == ("groth16py", None)  # auto: groth16py first
    monkeypatch.setenv(BACKEND_ENV, "snarkjs")
    assert backend() == ("snarkjs", None)
    monkeypatch.setenv(BACKEND_ENV, "rapidsnark")
    with pytest.raises(ProofError, match="no 'rapidsnark' binary is on PATH"):
        backend()
    monkeypatch.setenv(BACKEND_ENV, "gpu")
    with pytest.raises(ProofError, match="use auto, groth16py, rapidsnark or snarkjs"):
        backend()
    # Without groth16py: auto falls back to rapidsnark on PATH, else snarkjs; asking for
    # groth16py by name says how to install it.
    monkeypatch.setattr(native, "available", lambda: False)
    monkeypatch.delenv(BACKEND_ENV)
    assert backend() == ("snarkjs", None)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", _fake_rapidsnark(bin_dir, "exit 1"))
    assert backend() == ("rapidsnark", str(bin_dir / "rapidsnark"))
    monkeypatch.setenv(BACKEND_ENV, "groth16py")
    with pytest.raises(ProofError, match=r"groth16py is not installed .*zkclear\[fast\]"):
        backend()


def test_rapidsnark_on_path_is_used_and_its_proofs_are_checked(snarkjs_keys, monkeypatch,
                                                               tmp_path):
    """A binary with rapidsnark's interface is picked up automatically when groth16py is
    not installed. Here it is snarkjs's own CLI behind that interface (no rapidsnark build
    is available from the registries this project may use); a binary that answers with a
    wrong proof is refused."""
    from zkclear import paths
    from zkclear.prover import native
    from zkclear.prover.prove import backend

    keys, groth16py_keys = snarkjs_keys, report_keys("groth16py")
    monkeypatch.setattr(native, "available", lambda: False)
    report = Report(delta=(3, -4), trade_cash=77, salt=99)
    wtns = tmp_path / "r.wtns"
    calculate_witness(keys, report.circuit_inputs(), wtns)
    cli = paths.ROOT / "node_modules" / "snarkjs" / "build" / "cli.cjs"
    assert cli.exists(), cli
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setenv("PATH", _fake_rapidsnark(
        bin_dir, f'exec node "{cli}" groth16 prove "$1" "$2" "$3" "$4" >/dev/null'))
    assert backend() == ("rapidsnark", str(bin_dir / "rapidsnark"))
    proof, public = prove_witness(keys, wtns)
    assert public == [report.commitment()]
    assert py_verify(VerifyingKey.from_json(keys.vkey), Proof.from_json(proof), public)

    # A prover that answers with another statement's proof: never returned.
    other = tmp_path / "other"
    other.mkdir()
    good = prove(keys, Report(delta=(1, 1), trade_cash=1, salt=1).circuit_inputs())
    (other / "proof.json").write_text(__import__("json").dumps(good.proof))
    (other / "public.json").write_text(__import__("json").dumps([str(report.commitment())]))
    _fake_rapidsnark(bin_dir, f'cp "{other}/proof.json" "$3"; cp "{other}/public.json" "$4"')
    with pytest.raises(ProofError, match="does not verify"):
        prove_witness(keys, wtns)
    _fake_rapidsnark(bin_dir, 'echo "out of memory" >&2; exit 3')
    with pytest.raises(ProofError, match=r"rapidsnark .* failed with status 3: out of memory"):
        prove_witness(keys, wtns)
    # groth16py's development keys: no other prover reads them, and says so.
    with pytest.raises(ProofError, match=r"rapidsnark cannot prove with these keys: "
                       r"groth16py_pkey\.bin .*ZKCLEAR_DEV_SETUP=snarkjs"):
        prove_witness(groth16py_keys, wtns)
    monkeypatch.setenv(BACKEND_ENV, "snarkjs")  # the override wins over PATH
    assert prove_witness(keys, wtns)[1] == [report.commitment()]
