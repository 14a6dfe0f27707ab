"""Groth16 verification on the EVM through snarkjs's generated Solidity verifier.

* :func:`export_verifier` asks snarkjs (through the long-lived worker) for the verifier
  of a zkey (or renders snarkjs's template from a verification key, for groth16py's
  development keys, which have no zkey), renames ``contract Groth16Verifier`` to the
  circuit's own name (:func:`zkclear.paths.contract_name`; several verifiers must
  coexist in one project) and prepends a provenance header.
* :func:`deploy_verifier` compiles it with the pinned solc (:mod:`zkclear.chain.solidity`)
  and deploys it; :class:`OnchainVerifier` then checks snarkjs proofs on-chain.

Two traps of the generated verifier are handled here rather than left to callers:

* **G2 coordinate order.** snarkjs's JSON writes each Fp2 coordinate of ``pi_b`` as
  ``[c0, c1]``; the bn128 pairing precompile (EIP-197) reads ``[c1, c0]``. Passing
  the JSON order gives a point off the curve and *every* proof is silently rejected.
* **Out of gas reads as "invalid".** The verifier forwards ``gas() - 2000`` to the
  precompiles and returns ``false`` -- it does not revert -- when one fails, which is
  also what happens when it runs out of gas. Gas estimation is no help: it searches for
  the least limit that does not revert, which is one where the proof is *rejected*
  (py-evm says 40,204 for a 227,784-gas call with 3 public inputs), and by the 63/64 rule
  the least limit that accepts (230,615 there) is above the gas used anyway. So every
  call sends :func:`verify_gas_limit`.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from zkclear import paths
from zkclear.chain.solidity import compile_sources
from zkclear.errors import ArtefactError, ProofError, ToolError, ZkclearError
from zkclear.fsutil import write_atomic
from zkclear.prover import _node
from zkclear.prover.keys import ZKEY, Keys, file_sha256
from zkclear.verifier.groth16 import Q, parse_public

#: The name snarkjs gives every verifier it generates.
SNARKJS_CONTRACT = "Groth16Verifier"
_SNARKJS_DECL = re.compile(r"\bcontract\s+" + SNARKJS_CONTRACT + r"\b")
_HEADER_END = "// --- end of zkclear header ---\n"

Calldata = tuple[
    tuple[int, int], tuple[tuple[int, int], tuple[int, int]], tuple[int, int], tuple[int, ...]
]


def verify_gas_limit(n_public: int) -> int:
    """The gas every verifyProof call or transaction is given.

    Measured need: the pairing check ~181k plus ~6.3k per public input (ecMul + ecAdd),
    ~241k in all for 5 inputs. The limit is about twice that, because too little gas
    does not fail loudly (see the module docstring) and unused gas of a call is free.
    """
    return 500_000 + 15_000 * n_public


# --- export -----------------------------------------------------------------------------


def export_verifier(zkey: Path, circuit_name: str, out: Path, *,
                    vkey: Mapping[str, Any] | None = None) -> Path:
    """Write the Solidity verifier for ``zkey`` to ``out`` as ``contract <Name>Verifier``.

    With ``vkey`` (keys without a snarkjs zkey: groth16py's development setup) the
    verifier is rendered from that verification key by the same snarkjs template, which
    is all snarkjs itself does with a zkey; ``zkey`` is then the proving key file the
    header names. The file starts with a provenance header (key name and sha256, snarkjs
    version, date). If ``out`` already holds exactly what would be written apart from the
    date, it is left untouched, so its date and the solc cache entry for it stay valid.
    """
    zkey = Path(zkey)
    if not zkey.is_file():
        raise ArtefactError(f"export verifier: proving key {zkey} does not exist")
    name = paths.contract_name(circuit_name)
    if vkey is None:
        source = _node.snarkjs().call(
            "zkey.exportSolidityVerifier", str(zkey.resolve()),
            step="export solidity verifier", subject=circuit_name,
        )
        key_line = f"// zkey: {zkey.name}   sha256: {file_sha256(zkey)}\n"
    else:
        if vkey.get("protocol") != "groth16" or vkey.get("curve") != "bn128":
            raise ArtefactError(f"export verifier: {circuit_name}'s verification key is not "
                                "a Groth16 bn128 key")
        source = _node.snarkjs().call(
            "vkey.exportSolidityVerifier", dict(vkey),
            step="export solidity verifier", subject=circuit_name,
        )
        key_line = (f"// proving key: {zkey.name}   sha256: {file_sha256(zkey)}"
                    f"   (verifier rendered from its verification key)\n")
    body, n = _SNARKJS_DECL.subn(f"contract {name}", str(source))
    if n != 1:
        # A snarkjs upgrade changed its template: renaming blindly could break the file.
        raise ToolError(
            "export solidity verifier", circuit_name,
            f"expected one `contract {SNARKJS_CONTRACT}` in snarkjs's output, found {n}",
        )
    fixed = (
        f"// Generated by zkclear (zkclear.verifier.onchain.export_verifier). DO NOT EDIT:\n"
        f"// regenerate from the keys instead; hand edits are lost and break provenance.\n"
        f"// circuit: {circuit_name}   contract: {name}\n"
        f"{key_line}"
        f"// snarkjs: {_node.installed_version('snarkjs')}"
        f"   template: snarkjs/templates/verifier_groth16.sol.ejs\n"
    )
    if out.is_file():
        old = out.read_text(encoding="utf-8")
        old_fixed, sep, old_rest = old.partition("// generated: ")
        if sep and old_fixed == fixed and old_rest.partition("\n")[2] == _HEADER_END + body:
            return out
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_atomic(out, f"{fixed}// generated: {date}\n{_HEADER_END}{body}")
    return out


# --- calldata ---------------------------------------------------------------------------


def _to_int(v: Any, what: str) -> int:
    # snarkjs writes decimal strings; ints are accepted too. Nothing else (no hex, no
    # bools, no floats): a silently mis-parsed value would just read as a bad proof.
    if isinstance(v, bool):
        raise ProofError(f"{what} must be a decimal string or int, got {v!r}")
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"[0-9]+", v.strip()):
        return int(v.strip())
    raise ProofError(f"{what} must be a decimal string or int, got {v!r}")


def _coord(v: Any, what: str) -> int:
    x = _to_int(v, what)
    if not 0 <= x < Q:
        raise ProofError(f"{what} = {x} is not a base-field element (0 <= x < q)")
    return x


def _g1(point: Any, what: str) -> tuple[int, int]:
    if not isinstance(point, Sequence) or len(point) not in (2, 3):
        raise ProofError(f"{what} must be [x, y] or [x, y, 1], got {point!r}")
    if len(point) == 3 and _to_int(point[2], what + "[2]") != 1:
        raise ProofError(f"{what} is not in affine form (z = {point[2]}, expected 1)")
    return _coord(point[0], what + "[0]"), _coord(point[1], what + "[1]")


def _g2(point: Any, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    if not isinstance(point, Sequence) or len(point) not in (2, 3):
        raise ProofError(f"{what} must be [[x0, x1], [y0, y1], [1, 0]], got {point!r}")
    if len(point) == 3 and [_to_int(c, what + "[2]") for c in point[2]] != [1, 0]:
        raise ProofError(f"{what} is not in affine form (z = {point[2]}, expected [1, 0])")
    out = []
    for i, fp2 in enumerate(point[:2]):
        if not isinstance(fp2, Sequence) or len(fp2) != 2:
            raise ProofError(f"{what}[{i}] must be an Fp2 pair [c0, c1], got {fp2!r}")
        c0, c1 = (_coord(fp2[j], f"{what}[{i}][{j}]") for j in (0, 1))
        # snarkjs JSON: [c0, c1]; EIP-197 precompile: [c1, c0] (imaginary part first).
        out.append((c1, c0))
    return out[0], out[1]


def proof_calldata(proof: Mapping[str, Any], public: Sequence[Any]) -> Calldata:
    """``(a, b, c, pub)`` for ``verifyProof`` from snarkjs's proof.json / public.json.

    Checks the layout and that every number is in range (ProofError otherwise), but on
    purpose not that the points lie on their curves: that is the contract's verdict to
    give (false), and what is tested on-chain. For a full off-chain check first, parse
    with :meth:`zkclear.verifier.groth16.Proof.from_json`.
    """
    if not isinstance(proof, Mapping):
        raise ProofError(f"proof must be a snarkjs proof object, got {type(proof).__name__}")
    if proof.get("protocol", "groth16") != "groth16" or proof.get("curve", "bn128") != "bn128":
        raise ProofError(
            f"not a Groth16/bn128 proof: protocol={proof.get('protocol')!r}, "
            f"curve={proof.get('curve')!r}"
        )
    try:
        pa, pb, pc = proof["pi_a"], proof["pi_b"], proof["pi_c"]
    except KeyError as exc:
        raise ProofError(f"proof lacks {exc.args[0]}") from exc
    # Public inputs are checked canonical (< r) here, as the Python verifier does: the
    # contract would merely answer false, and a caller reducing mod r itself would
    # accept an alias of the real input.
    return _g1(pa, "pi_a"), _g2(pb, "pi_b"), _g1(pc, "pi_c"), parse_public(public)


# --- deployment and calls ---------------------------------------------------------------


@dataclass(frozen=True)
class VerifyGas:
    """Gas of one verifyProof transaction, split into its parts.

    ``gas_used`` is the receipt's figure (what a transaction pays). ``intrinsic`` is the
    21,000 base plus calldata (4 gas per zero byte, 16 per non-zero byte), so
    ``execution = gas_used - intrinsic`` is what the verifier code and precompiles use --
    the figure a contract calling the verifier pays on top of its own work. (Prague's
    calldata floor, EIP-7623, is ~35k here, far below ``gas_used``, so it does not apply.)
    """

    gas_used: int
    intrinsic: int
    execution: int
    calldata_bytes: int
    gas_limit: int


class OnchainVerifier:
    """A deployed per-circuit Groth16 verifier."""

    def __init__(
        self, w3: Web3, contract: Contract, circuit_name: str, *, deploy_gas: int | None = None
    ) -> None:
        self.w3, self.contract, self.circuit_name = w3, contract, circuit_name
        self.deploy_gas = deploy_gas
        self.n_public = _n_public(contract.abi)
        self.gas_limit = verify_gas_limit(self.n_public)

    @property
    def address(self) -> ChecksumAddress:
        return self.contract.address

    def calldata(self, proof: Mapping[str, Any], public: Sequence[Any]) -> Calldata:
        args = proof_calldata(proof, public)
        if len(args[3]) != self.n_public:
            raise ProofError(
                f"{self.circuit_name}: {len(args[3])} public inputs given, "
                f"the verifier takes {self.n_public}"
            )
        return args

    def verify(self, proof: Mapping[str, Any], public: Sequence[Any]) -> bool:
        """True iff the on-chain verifier accepts; malformed input raises ProofError first."""
        args = self.calldata(proof, public)
        # An explicit gas limit: with too little the verifier answers false, not revert.
        return bool(self.contract.functions.verifyProof(*args).call({"gas": self.gas_limit}))

    def gas_of_verify(
        self, proof: Mapping[str, Any], public: Sequence[Any], *,
        sender: ChecksumAddress | None = None,
    ) -> VerifyGas:
        """Send verifyProof as a real transaction and read the gas from its receipt.

        A receipt does not carry a view function's return value: this measures gas only.
        Check the same proof with :meth:`verify` -- a rejected proof can stop early and
        cost less.
        """
        fn = self.contract.functions.verifyProof(*self.calldata(proof, public))
        sender = sender or self.w3.eth.default_account or self.w3.eth.accounts[0]
        tx_hash = fn.transact({"from": sender, "gas": self.gas_limit})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise ToolError(
                "measure verify gas", self.circuit_name, f"transaction reverted: {receipt}"
            )
        data = bytes(self.w3.eth.get_transaction(tx_hash)["input"])
        zeros = data.count(0)
        intrinsic = 21_000 + 4 * zeros + 16 * (len(data) - zeros)
        used = int(receipt["gasUsed"])
        return VerifyGas(used, intrinsic, used - intrinsic, len(data), self.gas_limit)


def _n_public(abi: Sequence[Mapping[str, Any]]) -> int:
    for item in abi:
        if item.get("type") == "function" and item.get("name") == "verifyProof":
            m = re.fullmatch(r"uint256\[(\d+)\]", item["inputs"][3]["type"])
            if m and len(item["inputs"]) == 4:
                return int(m.group(1))
    raise ArtefactError("contract has no snarkjs-style verifyProof(a, b, c, uint256[n])")


def deploy_verifier(
    w3: Web3, sol_path: Path, circuit_name: str, *, sender: ChecksumAddress | None = None
) -> OnchainVerifier:
    """Compile ``sol_path`` (cached) and deploy its ``<Name>Verifier`` from ``sender``."""
    name = paths.contract_name(circuit_name)
    compiled = compile_sources({sol_path.name: sol_path})
    if name not in compiled:
        raise ArtefactError(
            f"{sol_path} defines {', '.join(compiled) or 'no contract'}, not {name}: "
            f"was it exported for another circuit?"
        )
    c = compiled[name]
    sender = sender or w3.eth.default_account or w3.eth.accounts[0]
    factory = w3.eth.contract(abi=c.abi, bytecode=c.bytecode)
    tx_hash = factory.constructor().transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None or not w3.eth.get_code(address):
        raise ToolError("deploy verifier", name, f"deployment failed: {receipt}")
    contract = w3.eth.contract(address=address, abi=c.abi)
    return OnchainVerifier(w3, contract, circuit_name, deploy_gas=int(receipt["gasUsed"]))


#: Chains where insecure development keys may be deployed: eth-tester's embedded chain
#: and the ids hardhat/anvil/ganache use for local nodes.
LOCAL_CHAIN_IDS = frozenset({131277322940537, 1337, 31337})


class InsecureSetupError(ZkclearError):
    """Insecure (development) keys were about to be deployed to a non-local chain."""


def deploy_for_keys(w3: Web3, keys: Keys, *, allow_insecure: bool = False,
                    sender: ChecksumAddress | None = None) -> OnchainVerifier:
    """Export, compile and deploy the verifier of ``keys``' circuit.

    Keys without a real ceremony over a ceremony-grade phase 1 let anyone forge proofs;
    they go only to a local chain unless ``allow_insecure`` (``--insecure-dev-setup``).
    """
    chain_id = int(w3.eth.chain_id)
    if keys.insecure and chain_id not in LOCAL_CHAIN_IDS and not allow_insecure:
        raise InsecureSetupError(
            f"refusing to deploy INSECURE development keys of {keys.compiled.circuit.name} "
            f"to chain {chain_id}: anyone could forge proofs. Run a ceremony over a "
            "ceremony-grade ptau, or pass --insecure-dev-setup for a throwaway test chain"
        )
    name = keys.compiled.circuit.name
    # Beside the zkey it comes from (the circuit's folder for its active keys).
    sol = export_verifier(keys.zkey, name,
                          keys.zkey.parent / keys.compiled.paths.solidity_verifier.name,
                          vkey=None if keys.pkey_format == ZKEY else keys.vkey)
    return deploy_verifier(w3, sol, name, sender=sender)
