"""The generated Solidity verifier: export, compile with the pinned solc, deploy on the
embedded EVM, and verify the fixture proof on-chain.

Each verifyProof on py-evm costs about a second (pure-Python pairing precompile), so
the on-chain checks are few and chosen: the valid proof, one tampering of each kind, the
out-of-gas trap and one gas measurement. Everything else runs off-chain.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zkclear.chain import node as chain
from zkclear.chain import solidity
from zkclear.errors import ArtefactError, ProofError, ToolError
from zkclear.field import P as R
from zkclear.prover.keys import file_sha256
from zkclear.verifier import onchain
from zkclear.verifier.fixture import Groth16Fixture

CIRCUIT = "multiplier"


@pytest.fixture(scope="module")
def sol(groth16_multiplier: Groth16Fixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verifier") / "MultiplierVerifier.sol"
    return onchain.export_verifier(groth16_multiplier.zkey, CIRCUIT, out)


@pytest.fixture(scope="module")
def deployed(sol: Path) -> onchain.OnchainVerifier:
    return onchain.deploy_verifier(chain.embedded_web3(), sol, CIRCUIT)


# --- export -----------------------------------------------------------------------------


def test_export_renames_and_adds_provenance(sol: Path, groth16_multiplier: Groth16Fixture) -> None:
    text = sol.read_text()
    assert "contract MultiplierVerifier {" in text
    assert "Groth16Verifier" not in text
    header = text.split("// --- end of zkclear header ---")[0]
    assert "DO NOT EDIT" in header
    assert f"zkey: {groth16_multiplier.zkey.name}" in header
    assert file_sha256(groth16_multiplier.zkey) in header
    assert "snarkjs: 0.7.6" in header
    assert "// generated: 20" in header


def test_export_is_stable_and_repairs_edits(sol: Path, groth16_multiplier: Groth16Fixture) -> None:
    before = sol.read_text()
    # Unchanged zkey and snarkjs: the file (and its date, and solc's cache key) stays.
    onchain.export_verifier(groth16_multiplier.zkey, CIRCUIT, sol)
    assert sol.read_text() == before
    # A hand edit is overwritten by the next export.
    sol.write_text(before.replace("pLastMem = 896;", "pLastMem = 1;"))
    onchain.export_verifier(groth16_multiplier.zkey, CIRCUIT, sol)
    assert "pLastMem = 896;" in sol.read_text()


def test_verifier_rendered_from_the_vkey_is_the_zkey_export(
        sol: Path, groth16_multiplier: Groth16Fixture, tmp_path: Path) -> None:
    """Keys without a zkey (groth16py's development setup) get their verifier from the
    verification key through snarkjs's template: the same contract, byte for byte."""
    out = onchain.export_verifier(groth16_multiplier.zkey, CIRCUIT, tmp_path / "V.sol",
                                  vkey=groth16_multiplier.vkey)
    end = "// --- end of zkclear header ---"
    assert out.read_text().split(end)[1] == sol.read_text().split(end)[1]
    assert "(verifier rendered from its verification key)" in out.read_text().split(end)[0]
    with pytest.raises(ArtefactError, match="not a Groth16 bn128 key"):
        onchain.export_verifier(groth16_multiplier.zkey, CIRCUIT, tmp_path / "P.sol",
                                vkey={**groth16_multiplier.vkey, "protocol": "plonk"})


# --- compile ----------------------------------------------------------------------------


def test_exported_verifier_compiles(sol: Path) -> None:
    compiled = solidity.compile_sources({sol.name: sol})
    c = compiled["MultiplierVerifier"]
    assert c.bytecode.startswith("0x60") and len(c.deployed_bytecode) > 1000
    (fn,) = [i for i in c.abi if i.get("name") == "verifyProof"]
    assert [i["type"] for i in fn["inputs"]] == [
        "uint256[2]", "uint256[2][2]", "uint256[2]", "uint256[3]"
    ]


def test_compile_error_is_a_tool_error_with_solc_message() -> None:
    bad = "// SPDX-License-Identifier: GPL-3.0\npragma solidity ^0.8.0;\n" \
          "contract Bad { function f() public { undeclared = 1; } }\n"
    with pytest.raises(ToolError) as ei:
        solidity.compile_sources({"Bad.sol": bad})
    assert ei.value.step == "solc compile"
    assert ei.value.subject == "Bad.sol"
    assert "DeclarationError: Undeclared identifier" in ei.value.detail
    assert "Bad.sol:3:" in ei.value.detail


@pytest.fixture()
def solc_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Any]]:
    """Count real solc runs, in an empty build folder."""
    monkeypatch.setenv("ZKCLEAR_BUILD_DIR", str(tmp_path))
    runs: list[Any] = []
    real = solidity._run_solc

    def counting(std_input: Any, subject: str) -> tuple[str, dict[str, Any]]:
        runs.append(subject)
        return real(std_input, subject)

    monkeypatch.setattr(solidity, "_run_solc", counting)
    yield runs


WARNS = "// SPDX-License-Identifier: GPL-3.0\npragma solidity ^0.8.0;\n" \
        "contract W { function f() public pure returns (uint) { uint unused; return 1; } }\n"


def test_compile_cache_skips_solc_and_keeps_warnings(solc_runs: list[Any], tmp_path: Path) -> None:
    first = solidity.compile_sources({"W.sol": WARNS})
    assert len(solc_runs) == 1
    (cached,) = (tmp_path / "contracts").glob("W-*.json")
    mtime = cached.stat().st_mtime_ns
    # Warnings are returned, not fatal.
    assert any("Unused local variable" in w for w in first["W"].warnings)

    again = solidity.compile_sources({"W.sol": WARNS})
    assert len(solc_runs) == 1, "second compile of the same sources ran solc again"
    assert again == first
    assert cached.stat().st_mtime_ns == mtime
    assert not list(tmp_path.glob("contracts/*.tmp"))

    # Any setting is part of the key.
    solidity.compile_sources({"W.sol": WARNS}, optimize=False)
    assert len(solc_runs) == 2


def test_damaged_cache_file_is_recompiled(solc_runs: list[Any], tmp_path: Path) -> None:
    solidity.compile_sources({"W.sol": WARNS})
    (cached,) = (tmp_path / "contracts").glob("W-*.json")
    cached.write_text("{ truncated")
    assert "W" in solidity.compile_sources({"W.sol": WARNS})
    assert len(solc_runs) == 2
    assert json.loads(cached.read_text())["format"] == solidity.CACHE_FORMAT


def test_wrong_solc_version_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZKCLEAR_BUILD_DIR", str(tmp_path))
    monkeypatch.setattr(solidity, "_run_solc", lambda *_: ("0.8.27+commit.x", {}))
    with pytest.raises(ToolError, match=r"0\.8\.27.*0\.8\.28 is pinned"):
        solidity.compile_sources({"W.sol": WARNS})


def test_duplicate_contract_names_are_refused(solc_runs: list[Any]) -> None:
    src = "// SPDX-License-Identifier: GPL-3.0\npragma solidity ^0.8.0;\ncontract Same {}\n"
    with pytest.raises(ToolError, match="Same is defined in both"):
        solidity.compile_sources({"A.sol": src, "B.sol": src})


# --- calldata (off-chain) ---------------------------------------------------------------


def test_calldata_swaps_each_fp2_coordinate(groth16_multiplier: Groth16Fixture) -> None:
    p = groth16_multiplier.proof
    a, b, c, pub = onchain.proof_calldata(p, groth16_multiplier.public)
    assert a == (int(p["pi_a"][0]), int(p["pi_a"][1]))
    assert b == ((int(p["pi_b"][0][1]), int(p["pi_b"][0][0])),
                 (int(p["pi_b"][1][1]), int(p["pi_b"][1][0])))
    assert c == (int(p["pi_c"][0]), int(p["pi_c"][1]))
    assert pub == (33, 19, 5)


class _NoCalls:
    """Stands in for the contract: touching it means a call was about to be made."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"contract.{name} used before the inputs were checked")


@pytest.mark.parametrize("bad", [R, R + 33, 2**256 - 1, -1, "0x21", "1e3", 1.0, True])
def test_non_canonical_public_input_raises_before_any_call(
    deployed: onchain.OnchainVerifier, groth16_multiplier: Groth16Fixture,
    monkeypatch: pytest.MonkeyPatch, bad: Any,
) -> None:
    monkeypatch.setattr(deployed, "contract", _NoCalls())
    with pytest.raises(ProofError, match=r"public\[1\]"):
        deployed.verify(groth16_multiplier.proof, ["33", bad, "5"])


def test_malformed_proofs_raise(
    deployed: onchain.OnchainVerifier, groth16_multiplier: Groth16Fixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deployed, "contract", _NoCalls())
    p, pub = groth16_multiplier.proof, groth16_multiplier.public
    with pytest.raises(ProofError, match="4 public inputs given, the verifier takes 3"):
        deployed.verify(p, [*pub, "1"])
    with pytest.raises(ProofError, match="lacks pi_c"):
        deployed.verify({k: v for k, v in p.items() if k != "pi_c"}, pub)
    with pytest.raises(ProofError, match="base-field"):
        deployed.verify({**p, "pi_a": [str(2**255), p["pi_a"][1], "1"]}, pub)
    with pytest.raises(ProofError, match="affine"):
        deployed.verify({**p, "pi_a": [p["pi_a"][0], p["pi_a"][1], "2"]}, pub)


# --- on-chain ---------------------------------------------------------------------------


def test_fixture_proof_verifies_on_chain(
    deployed: onchain.OnchainVerifier, groth16_multiplier: Groth16Fixture
) -> None:
    assert deployed.n_public == 3
    assert deployed.verify(groth16_multiplier.proof, groth16_multiplier.public) is True


def test_changed_public_input_is_rejected(
    deployed: onchain.OnchainVerifier, groth16_multiplier: Groth16Fixture
) -> None:
    assert deployed.verify(groth16_multiplier.proof, ["34", "19", "5"]) is False


def test_pi_b_in_json_order_is_rejected(
    deployed: onchain.OnchainVerifier, groth16_multiplier: Groth16Fixture
) -> None:
    # The classic bug: forgetting the [c0, c1] -> [c1, c0] swap. Feeding swapped pairs
    # through our conversion puts them on-chain in JSON order: off-curve, rejected.
    proof = copy.deepcopy(groth16_multiplier.proof)
    proof["pi_b"][0].reverse()
    proof["pi_b"][1].reverse()
    assert deployed.verify(proof, groth16_multiplier.public) is False


def test_other_point_as_a_is_rejected(
    deployed: onchain.OnchainVerifier, groth16_multiplier: Groth16Fixture
) -> None:
    proof = {**groth16_multiplier.proof, "pi_a": groth16_multiplier.proof["pi_c"]}
    assert deployed.verify(proof, groth16_multiplier.public) is False


def test_too_little_gas_reads_as_rejection_not_revert(
    deployed: onchain.OnchainVerifier, groth16_multiplier: Groth16Fixture
) -> None:
    # Why verify() always sends an explicit limit: starved of gas, the verifier answers
    # false for a valid proof instead of reverting.
    args = deployed.calldata(groth16_multiplier.proof, groth16_multiplier.public)
    assert deployed.contract.functions.verifyProof(*args).call({"gas": 150_000}) is False


def test_gas_of_verify(
    deployed: onchain.OnchainVerifier, groth16_multiplier: Groth16Fixture
) -> None:
    g = deployed.gas_of_verify(groth16_multiplier.proof, groth16_multiplier.public)
    assert g.intrinsic + g.execution == g.gas_used
    assert g.calldata_bytes == 4 + 32 * (2 + 4 + 2 + 3)
    # Pairing ~181k + ~6.5k per public input; 228k measured for 3 inputs with solc 0.8.28.
    assert 200_000 < g.gas_used < 260_000
    # The limit leaves room for the 63/64 rule and the verifier's 2,000-gas reserves.
    assert g.gas_limit > 1.5 * g.gas_used
    assert deployed.deploy_gas is not None and 250_000 < deployed.deploy_gas < 600_000


def test_embedded_chain_runs_prague_with_funded_accounts() -> None:
    w3 = chain.embedded_web3()
    assert w3.eth.default_account == w3.eth.accounts[0]
    assert w3.eth.get_balance(w3.eth.accounts[1]) >= 10**24
    assert w3.provider.ethereum_tester.backend.chain.get_vm().fork == "prague"  # type: ignore[attr-defined]
