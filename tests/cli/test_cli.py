"""The command line: doctor, JSON output, clear errors (the demo: tests/cli/test_demo.py)."""

from __future__ import annotations

import json

import pytest

from zkclear.chain.node import embedded_web3
from zkclear.cli import main as cli
from zkclear.prover import registry
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.keys import dev_setup
from zkclear.verifier import onchain


def run(capsys, *argv: str) -> tuple[int, dict, str]:
    code = cli.main([*argv, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else {}, out.err


def test_doctor_passes_here_and_reports_every_check(capsys, monkeypatch):
    monkeypatch.delenv("ZKCLEAR_PROVER", raising=False)
    monkeypatch.delenv("ZKCLEAR_DEV_SETUP", raising=False)
    code, data, _ = run(capsys, "doctor")
    assert code == 0 and data["ok"]
    names = {c["name"] for c in data["checks"]}
    assert {"python", "node", "npm snarkjs", "npm circom2", "circom compiler",
            "snarkjs worker", "poseidon", "prover", "artefact cache"} <= names
    (prover,) = [c for c in data["checks"] if c["name"] == "prover"]
    assert prover["detail"] == "groth16py, development setup groth16py"


def test_doctor_refuses_an_unknown_prover(capsys, monkeypatch):
    monkeypatch.setenv("ZKCLEAR_PROVER", "gpu")
    code, data, _ = run(capsys, "doctor")
    assert code == 1
    (bad,) = [c for c in data["checks"] if not c["ok"]]
    assert bad["name"] == "prover" and "ZKCLEAR_PROVER='gpu'" in bad["detail"]


def test_doctor_says_what_to_fix(capsys, monkeypatch):
    from zkclear.prover import _node

    monkeypatch.setattr(_node, "installed_version",
                        lambda p: "0.0.1" if p == "snarkjs" else _node.pinned_versions()[p])
    code, data, _ = run(capsys, "doctor")
    assert code == 1 and not data["ok"]
    bad = [c for c in data["checks"] if not c["ok"]]
    assert [c["name"] for c in bad] == ["npm snarkjs"]
    assert "pinned 0.7.6" in bad[0]["detail"] and "make install" in bad[0]["fix"]


def test_user_errors_are_one_line_without_traceback(capsys):
    code, data, err = run(capsys, "circuit", "compile", "no_such_circuit")
    assert code == 2 and data["ok"] is False
    assert "unknown circuit 'no_such_circuit'" in data["error"]
    assert "Traceback" not in err
    code, data, _ = run(capsys, "circuit", "compile", "report_commitment", "--param", "x")
    assert code == 2 and "NAME=INT" in data["error"]


def test_circuit_list_and_compile(capsys):
    code, data, _ = run(capsys, "circuit", "list")
    assert code == 0 and "report_commitment" in [c["name"] for c in data["circuits"]]
    code, data, _ = run(capsys, "circuit", "compile", "report_commitment",
                        "--param", "instruments=2")
    assert code == 0 and data["constraints"] == 516


def test_insecure_keys_are_only_deployed_to_local_chains(monkeypatch):
    keys = dev_setup(compile_circuit(registry.report_commitment()))
    assert keys.insecure
    w3 = embedded_web3()
    monkeypatch.setattr(onchain, "LOCAL_CHAIN_IDS", frozenset())  # pretend: a real network
    with pytest.raises(onchain.InsecureSetupError, match="--insecure-dev-setup"):
        onchain.deploy_for_keys(w3, keys)
    deployed = onchain.deploy_for_keys(w3, keys, allow_insecure=True)
    assert w3.eth.get_code(deployed.address)
