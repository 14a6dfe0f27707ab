"""Phase-2 ceremony: contributions plus a beacon verify; any altered file does not."""

from __future__ import annotations

import json
import shutil

import pytest

from zkclear import paths
from zkclear.clearing.report import Report
from zkclear.errors import ArtefactError
from zkclear.prover import ceremony, ptau
from zkclear.prover.ceremony import CeremonyError
from zkclear.prover.circuit import Circuit, compile_circuit
from zkclear.prover.prove import prove
from zkclear.verifier import Proof, VerifyingKey, verify

BEACON = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def compiled():
    # Its own circuit instance (M=1), so installing ceremony keys touches no other test.
    return compile_circuit(Circuit("ceremony_report", paths.CIRCUITS_DIR / "report.circom",
                                   "ReportCommitment", (1, 48, 96)))


@pytest.fixture(scope="module")
def finished(compiled, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ceremony") / "c"
    info = compiled.info
    p = ptau.dev_ptau(ptau.required_power(info.n_constraints, info.n_public))
    ceremony.init(compiled, p, folder)
    a = ceremony.contribute(folder, "Bank A")
    b = ceremony.contribute(folder, "Fund B", entropy="fund b's dice rolls")
    ceremony.finalize(folder, BEACON, iterations_exp=10)
    return folder, [a, b]


def test_two_contributions_and_a_beacon_verify_and_the_key_proves(compiled, finished):
    folder, contribs = finished
    rep = ceremony.verify(folder, compiled)
    assert rep.ok, rep.problems
    assert rep.contributions == ["Bank A", "Fund B"]
    data = json.loads((folder / "transcript.json").read_text())
    assert [c["contribution_hash"] for c in data["contributions"]] == [
        c.contribution_hash for c in contribs]
    assert contribs[0].contribution_hash != contribs[1].contribution_hash
    keys = ceremony.install(folder, compiled)
    assert keys.provenance == "ceremony" and keys.insecure  # dev phase 1 underneath
    assert keys.record["contributors"] == ["Bank A", "Fund B"]
    report = Report(delta=(5,), trade_cash=-5, salt=11)
    res = prove(keys, report.circuit_inputs())
    assert res.public == [report.commitment()]
    assert verify(VerifyingKey.from_json(keys.vkey), Proof.from_json(res.proof), res.public)


def _copy(folder, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(folder, dst)
    return dst


def test_altered_contribution_file_is_detected(compiled, finished, tmp_path):
    folder = _copy(finished[0], tmp_path)
    f = folder / "0001_Bank_A.zkey"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 1
    f.write_bytes(bytes(data))
    rep = ceremony.verify(folder, compiled)
    assert not rep.ok and any("0001_Bank_A.zkey" in p and "altered" in p for p in rep.problems)


def test_corrupted_final_key_fails_even_with_a_rewritten_transcript(compiled, finished,
                                                                     tmp_path):
    """An attacker who edits the key *and* the transcript's hashes is caught by snarkjs."""
    folder = _copy(finished[0], tmp_path)
    final = folder / "final.zkey"
    data = bytearray(final.read_bytes())
    data[-100] ^= 1  # inside the last points section
    final.write_bytes(bytes(data))
    t = json.loads((folder / "transcript.json").read_text())
    from zkclear.prover.keys import file_sha256

    t["beacon"]["sha256"] = file_sha256(final)
    (folder / "transcript.json").write_text(json.dumps(t))
    rep = ceremony.verify(folder, compiled)
    assert not rep.ok
    assert any("zkey verify failed" in p or "snarkjs" in p for p in rep.problems)
    with pytest.raises(ArtefactError, match="does not verify"):
        ceremony.install(folder, compiled)
    # Verifying from the transcript's own initial key (what the demo does) catches it too.
    rep = ceremony.verify(folder, compiled, trust_initial=True)
    assert not rep.ok


def test_verifying_from_the_initial_key_agrees(compiled, finished):
    """The demo's shortcut (start from the initial key the caller made) accepts the same
    honest transcript and lists the same contributions."""
    folder, _ = finished
    rep = ceremony.verify(folder, compiled, trust_initial=True)
    assert rep.ok and rep.contributions == ["Bank A", "Fund B"], rep.problems


def test_transcript_hash_mismatch_is_detected(compiled, finished, tmp_path):
    folder = _copy(finished[0], tmp_path)
    t = json.loads((folder / "transcript.json").read_text())
    t["contributions"][0]["contribution_hash"] = "00" * 64
    (folder / "transcript.json").write_text(json.dumps(t))
    rep = ceremony.verify(folder, compiled)
    assert not rep.ok and any("contribution hashes" in p for p in rep.problems)


def test_refusals(compiled, finished, tmp_path):
    folder, _ = finished
    with pytest.raises(CeremonyError, match="finalized"):
        ceremony.contribute(folder, "Late C")
    with pytest.raises(CeremonyError, match="already exists"):
        ceremony.init(compiled, ptau.dev_ptau(9), folder)
    with pytest.raises(CeremonyError, match=r"no transcript\.json"):
        ceremony.contribute(tmp_path, "Nobody")
    fresh = tmp_path / "fresh"
    info = compiled.info
    ceremony.init(compiled, ptau.dev_ptau(ptau.required_power(info.n_constraints,
                                                              info.n_public)), fresh)
    with pytest.raises(CeremonyError, match="no contributions"):
        ceremony.finalize(fresh, BEACON)
    ceremony.contribute(fresh, "A")
    with pytest.raises(CeremonyError, match="hex"):
        ceremony.finalize(fresh, "not-hex")
    with pytest.raises(CeremonyError, match="iterations"):
        ceremony.finalize(fresh, BEACON, iterations_exp=9)
