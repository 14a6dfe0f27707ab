"""groth16py behind zkclear's interface (zkclear.prover.native): the default prover and
development setup, checked against snarkjs, the reference.

groth16py fails open (a bad witness yields a proof that does not verify, a witness of
another size a Rust panic deriving from BaseException), so these tests are mostly about
what never gets out: every such case ends in a ProofError, and nothing else (Ctrl-C) is
swallowed on the way. (A tampered witness's proof is refused for both provers in
tests/circuits/test_report_circuit.py.)
"""

from __future__ import annotations

import json

import groth16py
import pytest

from zkclear.chain import node as chain
from zkclear.clearing.report import Report
from zkclear.errors import ArtefactError, ProofError, ToolMissingError
from zkclear.prover import native, registry
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.keys import DEV_SETUP_ENV, NATIVE, ZKEY, dev_setup, dev_setup_tool
from zkclear.prover.prove import BACKEND_ENV, calculate_witness, prove, prove_witness
from zkclear.prover.prove import verify as snarkjs_verify
from zkclear.verifier import Proof, VerifyingKey, onchain
from zkclear.verifier import verify as py_verify

from .helpers import report_keys, write_wtns

REPORT = Report(delta=(12, -5), trade_cash=-31_337, salt=2024)


@pytest.fixture(scope="module")
def native_keys():
    return report_keys("groth16py")


@pytest.fixture(scope="module")
def snarkjs_keys():
    return report_keys("snarkjs")


@pytest.fixture
def wtns(native_keys, tmp_path):
    path = tmp_path / "report.wtns"
    calculate_witness(native_keys, REPORT.circuit_inputs(), path)
    return path


def _verifies_everywhere(vkey, proof, public) -> bool:
    return snarkjs_verify(vkey, public, proof) and py_verify(
        VerifyingKey.from_json(vkey), Proof.from_json(proof), public)


def test_the_blob_becomes_snarkjs_json_with_pi_b_in_json_order():
    blob = b"".join(i.to_bytes(32, "big") for i in range(1, 9))
    assert native.proof_json(blob) == {
        "pi_a": ["1", "2", "1"], "pi_b": [["4", "3"], ["6", "5"], ["1", "0"]],
        "pi_c": ["7", "8", "1"], "protocol": "groth16", "curve": "bn128"}
    with pytest.raises(ProofError, match="255 bytes, expected 256"):
        native.proof_json(blob[:-1])


def test_groth16py_dev_keys_prove_by_default_and_verify_everywhere(native_keys, monkeypatch):
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert native_keys.record["setup_tool"] == NATIVE == native_keys.pkey_format
    assert native_keys.insecure and native_keys.zkey.name == "groth16py_pkey.bin"
    assert not native_keys.compiled.paths.zkey.exists()  # no stale snarkjs key beside it
    assert native_keys.vkey["nPublic"] == 1
    res = prove(native_keys, REPORT.circuit_inputs())
    assert res.public == [REPORT.commitment()]
    assert _verifies_everywhere(native_keys.vkey, res.proof, res.public)
    assert json.loads((res.job_dir / "job.json").read_text())["backend"] == "groth16py"


def test_groth16py_proves_snarkjs_zkeys_like_snarkjs(snarkjs_keys, tmp_path, monkeypatch):
    """A ceremony's (snarkjs) zkey: groth16py imports it; both provers' proofs of the same
    witness verify under the zkey's own verification key."""
    wtns = tmp_path / "w.wtns"
    calculate_witness(snarkjs_keys, REPORT.circuit_inputs(), wtns)
    monkeypatch.setenv(BACKEND_ENV, "groth16py")
    g_proof, g_public = prove_witness(snarkjs_keys, wtns)
    monkeypatch.setenv(BACKEND_ENV, "snarkjs")
    s_proof, s_public = prove_witness(snarkjs_keys, wtns)
    assert g_public == s_public == [REPORT.commitment()]
    assert g_proof != s_proof  # two proofs (fresh randomness), one statement
    assert _verifies_everywhere(snarkjs_keys.vkey, g_proof, g_public)


def test_snarkjs_cannot_prove_with_groth16py_keys_and_says_what_to_do(native_keys, wtns,
                                                                       monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "snarkjs")
    with pytest.raises(ProofError, match=r"snarkjs cannot prove with these keys: "
                       r"groth16py_pkey\.bin is a groth16py proving key .*"
                       r"ZKCLEAR_PROVER=groth16py .*ZKCLEAR_DEV_SETUP=snarkjs"):
        prove_witness(native_keys, wtns)


def test_a_witness_of_another_circuit_never_reaches_groth16py(native_keys, tmp_path,
                                                              monkeypatch):
    three = report_keys("groth16py", instruments=3)
    other = tmp_path / "three.wtns"
    calculate_witness(three, Report(delta=(1, 2, 3), trade_cash=4, salt=5).circuit_inputs(),
                      other)

    def must_not_run(*args):
        raise AssertionError("groth16py was given another circuit's witness")

    monkeypatch.setattr(groth16py, "prove_wtns", must_not_run)
    monkeypatch.setenv(BACKEND_ENV, "groth16py")
    with pytest.raises(ProofError, match=r"the witness has 591 values, the circuit 518 "
                       "wires: it is another circuit's witness"):
        prove_witness(native_keys, other)


def test_a_rust_panic_is_a_proof_error_and_nothing_else_is_swallowed(snarkjs_keys, tmp_path,
                                                                     monkeypatch):
    """Without the length check (a Ray worker does not know the circuit's wires), a
    witness shorter than the key's wires makes groth16py panic: a BaseException that is
    not an Exception. That one becomes a ProofError; an interrupt stays an interrupt."""
    pk = native.proving_key(snarkjs_keys.zkey, snarkjs_keys.record["zkey_sha256"], zkey=True)
    short = write_wtns(tmp_path / "short.wtns", [1, 5, 7])
    with pytest.raises(BaseException) as raw:
        groth16py.prove_wtns(pk, str(short))
    assert native.is_rust_panic(raw.value) and not isinstance(raw.value, Exception)
    with pytest.raises(ProofError, match=r"groth16py panicked proving .*index out of bounds"):
        native.prove_wtns(pk, short, n_wires=None, n_public=1, subject="report")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(groth16py, "prove_wtns", interrupted)
    with pytest.raises(KeyboardInterrupt):
        native.prove_wtns(pk, short, n_wires=None, n_public=1, subject="report")
    assert not native.is_rust_panic(KeyboardInterrupt())


def test_dev_setup_tool_choice(monkeypatch, tmp_path):
    monkeypatch.delenv(DEV_SETUP_ENV, raising=False)
    assert dev_setup_tool() == "groth16py"  # auto, with the fast extra installed
    monkeypatch.setenv(DEV_SETUP_ENV, "snarkjs")
    assert dev_setup_tool() == "snarkjs"
    assert dev_setup_tool("groth16py") == "groth16py"  # the argument wins over the variable
    monkeypatch.setenv(DEV_SETUP_ENV, "groth16py")
    assert dev_setup_tool(ptau=tmp_path / "x.ptau") == "snarkjs"  # a ptau is snarkjs's
    with pytest.raises(ArtefactError, match="groth16py's development setup takes no ptau"):
        dev_setup_tool("groth16py", ptau=tmp_path / "x.ptau")
    monkeypatch.setenv(DEV_SETUP_ENV, "trusted")
    with pytest.raises(ArtefactError, match=r"'trusted' \(ZKCLEAR_DEV_SETUP\): use auto, "
                       r"groth16py or snarkjs"):
        dev_setup_tool()
    monkeypatch.setattr(native, "available", lambda: False)
    monkeypatch.setenv(DEV_SETUP_ENV, "auto")
    assert dev_setup_tool() == "snarkjs"
    with pytest.raises(ToolMissingError, match=r"zkclear\[fast\]"):
        dev_setup_tool("groth16py")


def test_dev_setup_env_forces_snarkjs_keys_then_switches_back(monkeypatch, tmp_path):
    compiled = compile_circuit(registry.report_commitment(instruments=2))
    monkeypatch.setenv(DEV_SETUP_ENV, "snarkjs")
    first = dev_setup(compiled, dest_dir=tmp_path)
    assert first.pkey_format == ZKEY and first.record["setup_tool"] == "snarkjs"
    assert first.zkey == tmp_path / "groth16_pkey.zkey" and first.record["ptau_insecure_dev"]
    assert dev_setup(compiled, dest_dir=tmp_path).record == first.record  # reused
    monkeypatch.delenv(DEV_SETUP_ENV)  # auto: groth16py replaces them
    second = dev_setup(compiled, dest_dir=tmp_path)
    assert second.pkey_format == NATIVE and second.zkey == tmp_path / "groth16py_pkey.bin"
    assert not first.zkey.exists()
    assert dev_setup(compiled, dest_dir=tmp_path).record == second.record  # reused


def test_groth16py_dev_keys_verify_on_chain(native_keys, monkeypatch):
    """No zkey: the Solidity verifier is snarkjs's template rendered from the vkey; it
    accepts a groth16py proof and refuses it for another commitment."""
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    res = prove(native_keys, REPORT.circuit_inputs())
    verifier = onchain.deploy_for_keys(chain.embedded_web3(), native_keys)
    header = native_keys.compiled.paths.solidity_verifier.read_text().split("// ---")[0]
    assert f"proving key: groth16py_pkey.bin   sha256: {native_keys.record['zkey_sha256']}" \
        in header
    assert verifier.verify(res.proof, res.public)
    assert not verifier.verify(res.proof, [REPORT.commitment() + 1])
