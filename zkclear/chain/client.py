"""The chain client: every call to the deployed system, with clear Python errors.

:class:`Client` wraps a :class:`~zkclear.chain.contracts.Deployment` on any web3 connection
(the embedded EVM or a JSON-RPC node) and offers one method per action -- governance
proposals, member registration, reports, deposits, withdrawal requests, oracle posts,
closing and submitting epochs -- plus the views and event logs the operator and auditors
need (:meth:`Client.epoch_events` rebuilds an epoch's events for the clearing engine).

A revert becomes a :class:`ContractError` carrying the custom error's name and decoded
arguments (``err.name == "RootMismatch"``, ``err.args_dict["expected"]``); an error that
wraps another one's revert data (Governance's ``CallFailed``) is decoded recursively into
``err.inner``. Revert data is found wherever the backend puts it: eth-tester's
``TransactionFailed`` message, web3's ``ContractCustomError``, a JSON-RPC error's ``data``,
or -- for a transaction mined with status 0 -- by replaying it as a call on the state
before its block.

Gas: ordinary transactions are estimated (+25 %); ``submitEpoch`` always gets an explicit
limit (:func:`submit_gas_limit`) because the verifier answers false, not revert, when
starved, and estimating re-runs the pairing check several times on py-evm.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_typing import ChecksumAddress
from eth_utils import function_signature_to_4byte_selector, keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.logs import DISCARD

from zkclear import bounds
from zkclear.chain import contracts
from zkclear.chain import node as chain
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.instruments import (
    Instrument,
    Market,
    decode_arrays,
    encode_arrays,
    live_options,
    risk_hash,
)
from zkclear.clearing.params import RiskParams
from zkclear.clearing.public import PUBLIC_NAMES
from zkclear.errors import ZkclearError
from zkclear.verifier.onchain import proof_calldata, verify_gas_limit

# --- errors -----------------------------------------------------------------------------


class ContractError(ZkclearError):
    """A contract call or transaction reverted.

    ``name`` is the custom error (``"Error"`` for a ``require`` string, ``"Panic"`` for a
    Solidity panic, ``""`` if the node returned no revert data); ``args_dict`` its
    decoded arguments by name; ``inner`` the error decoded from a ``bytes`` argument that
    holds another revert (Governance's ``CallFailed``).
    """

    def __init__(self, action: str, name: str, args: Mapping[str, Any], data: bytes,
                 inner: ContractError | None = None) -> None:
        self.action, self.name, self.args_dict, self.data, self.inner = (
            action, name, dict(args), data, inner)
        super().__init__(f"{action} reverted: {self.describe()}")

    def describe(self) -> str:
        if not self.name:
            return "(no revert data)"
        parts = []
        for k, v in self.args_dict.items():
            if isinstance(v, bytes) and self.inner is not None:
                parts.append(f"{k}={self.inner.describe()}")
            else:
                parts.append(f"{k}={_fmt(v)}")
        return f"{self.name}({', '.join(parts)})"

    @property
    def root(self) -> ContractError:
        """The innermost error (what a governed call really failed with)."""
        return self.inner.root if self.inner is not None else self


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return hex(v) if abs(v) >= 1 << 64 else str(v)
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, str) and Web3.is_address(v):
        return Web3.to_checksum_address(v)
    return str(v)


@dataclass(frozen=True)
class _ErrorAbi:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...]


def _abi_type(inp: Mapping[str, Any]) -> str:
    t = str(inp["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in inp["components"]) + ")" + t[5:]
    return t


@functools.cache
def error_table() -> dict[bytes, _ErrorAbi]:
    """Selector -> error, for every error of every zkclear contract (+ Error, Panic)."""
    table = {
        function_signature_to_4byte_selector("Error(string)"):
            _ErrorAbi("Error", ("string",), ("message",)),
        function_signature_to_4byte_selector("Panic(uint256)"):
            _ErrorAbi("Panic", ("uint256",), ("code",)),
    }
    for abi in contracts.abis().values():
        for item in abi:
            if item.get("type") != "error":
                continue
            types = tuple(_abi_type(i) for i in item["inputs"])
            sel = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            table[sel] = _ErrorAbi(item["name"], types, tuple(i["name"] for i in item["inputs"]))
    return table


def decode_error(data: bytes, action: str) -> ContractError:
    """The :class:`ContractError` for raw revert ``data``."""
    if len(data) < 4:
        return ContractError(action, "", {}, data)
    spec = error_table().get(data[:4])
    if spec is None:
        return ContractError(action, f"unknown error 0x{data[:4].hex()}", {}, data)
    try:
        values = abi_decode(list(spec.types), data[4:])
    except (DecodingError, ValueError):
        return ContractError(action, spec.name + " (undecodable arguments)", {}, data)
    values = tuple(Web3.to_checksum_address(v) if t == "address" else v
                   for t, v in zip(spec.types, values, strict=True))
    args = dict(zip(spec.names, values, strict=True))
    inner = None
    for v in values:
        if isinstance(v, bytes) and len(v) >= 4 and v[:4] in error_table():
            inner = decode_error(v, action)
    return ContractError(action, spec.name, args, data, inner)


_TESTER_BYTES = re.compile(r"execution reverted: (b(['\"]).*\2)$", re.S)


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data an exception from any backend carries, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, Mapping):  # hardhat: {"message": ..., "data": "0x..."}
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, Mapping):
        err = exc.rpc_response.get("error") or {}
        d = err.get("data") if isinstance(err, Mapping) else None
        if isinstance(d, Mapping):
            d = d.get("data")
        if isinstance(d, str) and d.startswith("0x"):
            return bytes.fromhex(d[2:])
    msg = str(exc.args[0]) if exc.args else ""
    m = _TESTER_BYTES.search(msg)
    if m:  # eth-tester: "execution reverted: b'...'" (web3 itself parses it this way)
        try:
            value = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError):
            return None
        return bytes(value) if isinstance(value, bytes) else None
    if msg.startswith("execution reverted: "):  # eth-tester decoded a require string
        reason = msg[len("execution reverted: "):]
        return function_signature_to_4byte_selector("Error(string)") + abi_encode(
            ["string"], [reason])
    return None


def _looks_like_revert(exc: BaseException) -> bool:
    if isinstance(exc, ContractLogicError):
        return True
    text = str(exc).lower()
    return "revert" in text or "transactionfailed" in type(exc).__name__.lower()


def raise_decoded(exc: BaseException, action: str) -> None:
    """Raise the :class:`ContractError` for ``exc`` if it is a revert; else return."""
    data = revert_data(exc)
    if data is not None:
        raise decode_error(data, action) from exc
    if _looks_like_revert(exc):
        raise ContractError(action, "", {}, b"") from exc


# --- gas --------------------------------------------------------------------------------

#: Gas for submitEpoch besides the verifier: checks, oracle reads, storage, events, the
#: reserves check (measured ~90k; twice that), plus per granted withdrawal (a token
#: transfer to a possibly new holder) and per liquidated or refused slot (an event).
SUBMIT_BASE_GAS = 200_000
SUBMIT_GAS_PER_PAYOUT = 60_000
SUBMIT_GAS_PER_SLOT_EVENT = 5_000
#: Per word of exit data: calldata, a check and a mulmod/addmod step.
SUBMIT_GAS_PER_EXIT_WORD = 1_500


def submit_gas_limit(public: Sequence[int]) -> int:
    """The explicit gas limit of a submitEpoch transaction for these public inputs
    (generous: the outcome word holds both masks; a granted withdrawal is one transfer,
    a liquidated or refused slot one event, refusals are not in the inputs: allow N)."""
    marked = int(public[PUBLIC_NAMES.index("outcome")]).bit_count()  # liquidated + granted
    return (verify_gas_limit(len(public)) + SUBMIT_BASE_GAS + SUBMIT_GAS_PER_PAYOUT * marked
            + SUBMIT_GAS_PER_SLOT_EVENT * (marked + bounds.MAX_SLOTS)
            + SUBMIT_GAS_PER_EXIT_WORD * (bounds.MAX_SLOTS + 1))


# --- oracle venues ----------------------------------------------------------------------


def median(values: Sequence[int]) -> int:
    """The venues' median (PriceOracle._checkVenues): the middle value, or for an even
    count the floor of the mean of the two middle values."""
    if not values:
        raise ZkclearError("the median of no values")
    v = sorted(int(x) for x in values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) // 2


def venue_medians(venues: Mapping[str, Sequence[int]]) -> tuple[int, ...]:
    """Per instrument, the median over venues (name -> one price per instrument)."""
    if not venues:
        raise ZkclearError("no venues")
    widths = {len(p) for p in venues.values()}
    if len(widths) != 1:
        raise ZkclearError(f"the venues quote different numbers of instruments: "
                           f"{ {n: len(p) for n, p in venues.items()} }")
    (m,) = widths
    return tuple(median([p[i] for p in venues.values()]) for i in range(m))


def encode_venues(venues: Mapping[str, Sequence[int]]) -> bytes:
    """abi.encode(string[] names, uint256[][] prices), the PricesPosted ``venues`` blob."""
    names = list(venues)
    return abi_encode(["string[]", "uint256[][]"],
                      [names, [[int(p) for p in venues[n]] for n in names]])


def decode_venues(blob: bytes) -> dict[str, tuple[int, ...]]:
    """The venues of a PricesPosted event ({} when the reporter posted none)."""
    if not blob:
        return {}
    names, prices = abi_decode(["string[]", "uint256[][]"], blob)
    return {str(n): tuple(int(x) for x in p) for n, p in zip(names, prices, strict=True)}


# --- option risk arrays ------------------------------------------------------------------


# --- signed commits and exit data --------------------------------------------------------

#: Domain tag of the commit digest (docs/protocol.md, "Reports are posted by the operator").
COMMIT_DOMAIN = "zkclear-commit-v1"
#: Largest s of a canonical (low-s) secp256k1 signature, as the contract requires.
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def commit_inner(chain_id: int, house: str, epoch: int, slot: int, commitment: int,
                 ciphertext: bytes) -> bytes:
    """keccak256(abi.encode("zkclear-commit-v1", chainid, clearingHouse, epoch, slot, C,
    keccak256(ciphertext))): what a member signs (EIP-191) for its commitment."""
    return keccak(abi_encode(
        ["string", "uint256", "address", "uint256", "uint256", "uint256", "bytes32"],
        [COMMIT_DOMAIN, chain_id, Web3.to_checksum_address(house), epoch, slot, commitment,
         keccak(bytes(ciphertext))]))


def eip191_digest(inner: bytes) -> bytes:
    """keccak256("\\x19Ethereum Signed Message:\\n32" || inner) (eth_sign of 32 bytes)."""
    return keccak(b"\x19Ethereum Signed Message:\n32" + inner)


@dataclass(frozen=True)
class SignedCommit:
    """One entry of closeEpoch's ``commits``: a slot's commitment, its ciphertext and the
    slot account's signature of the commit digest."""

    slot: int
    commitment: int
    ciphertext: bytes
    v: int
    r: bytes
    s: bytes

    def as_tuple(self) -> tuple[int, int, bytes, int, bytes, bytes]:
        return (self.slot, self.commitment, self.ciphertext, self.v, self.r, self.s)

    @classmethod
    def from_signature(cls, slot: int, commitment: int, ciphertext: bytes,
                       signature: bytes) -> SignedCommit:
        """From a 65-byte r || s || v signature (v 0/1 or 27/28)."""
        if len(signature) != 65:
            raise ZkclearError(f"a commit signature has 65 bytes, got {len(signature)}")
        v = signature[64]
        return cls(slot, commitment, bytes(ciphertext), v + 27 if v < 27 else v,
                   bytes(signature[:32]), bytes(signature[32:64]))

    @property
    def signature(self) -> bytes:
        return self.r + self.s + bytes([self.v])


def exit_data_hash(exit_data: Sequence[int]) -> bytes:
    """keccak256(abi.encode(uint256[] exitData)), as the contract stores it."""
    return keccak(abi_encode(["uint256[]"], [list(exit_data)]))


# --- the client -------------------------------------------------------------------------

Call = tuple[str, bytes]


@dataclass(frozen=True)
class EpochAccepted:
    epoch: int
    new_root: int
    liquidated: tuple[int, ...]
    paid: tuple[tuple[int, str, int], ...]  # (slot, to, amount)
    refused: tuple[tuple[int, int], ...]  # (slot, amount)
    total_collateral: int
    gas_used: int


class Client:
    """One connection to one deployed system."""

    def __init__(self, w3: Web3, deployment: contracts.Deployment) -> None:
        if int(w3.eth.chain_id) != deployment.chain_id:
            raise ZkclearError(f"the deployment is on chain {deployment.chain_id}, "
                               f"this connection is to chain {w3.eth.chain_id}")
        self.w3, self.deployment = w3, deployment
        abis = contracts.abis()
        self.c: dict[str, Contract] = {
            name: w3.eth.contract(address=deployment.address(name), abi=abis[name])
            for name in deployment.addresses
        }
        self.house = self.c["ClearingHouse"]
        self.oracle = self.c["PriceOracle"]
        self.governance = self.c["Governance"]
        self.token = self.c["Collateral"]
        #: (action, gas used) of every transaction this client sent, in order.
        self.gas_log: list[tuple[str, int]] = []

    # -- plumbing ---------------------------------------------------------------------

    def _name(self, fn: Any) -> str:
        for name, c in self.c.items():
            if c.address == fn.address:
                return f"{name}.{fn.fn_name}"
        return str(fn.fn_name)

    def call(self, fn: Any, *, sender: str | None = None) -> Any:
        try:
            return fn.call({"from": sender} if sender else {})
        except Exception as exc:
            raise_decoded(exc, self._name(fn))
            raise

    def transact(self, fn: Any, *, sender: str, gas: int | None = None) -> Any:
        """Send ``fn`` from ``sender``; the receipt, or the decoded revert as ContractError."""
        action = self._name(fn)
        params: dict[str, Any] = {"from": sender}
        try:
            if gas is None:
                est = int(fn.estimate_gas(params))
                gas = est + est // 4 + 10_000
            tx_hash = fn.transact({**params, "gas": gas})
        except Exception as exc:
            raise_decoded(exc, action)
            raise
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            # Mined but reverted (the embedded chain with an explicit gas limit, or a
            # real network): replay it on the state before its block to learn why.
            try:
                fn.call({**params, "gas": gas}, block_identifier=receipt["blockNumber"] - 1)
            except Exception as exc:
                raise_decoded(exc, action)
                raise
            raise ContractError(action, "", {}, b"")  # out of gas, or state moved on
        self.gas_log.append((action, int(receipt["gasUsed"])))
        return receipt

    def logs(self, receipt: Any, contract: str, event: str) -> list[dict[str, Any]]:
        """The arguments of each ``contract.event`` log in a receipt (others ignored)."""
        ev = getattr(self.c[contract].events, event)()
        return [dict(e["args"]) for e in ev.process_receipt(receipt, errors=DISCARD)]

    def _encode(self, contract: str, fn: str, *args: Any) -> Call:
        c = self.c[contract]
        return c.address, bytes.fromhex(c.encode_abi(fn, args=list(args))[2:])

    # -- governance -------------------------------------------------------------------

    def register_member_call(self, slot: int, account: str, vkh: int, escrow: bytes) -> Call:
        return self._encode("ClearingHouse", "registerMember", slot,
                            Web3.to_checksum_address(account), vkh, escrow)

    def remove_member_call(self, slot: int) -> Call:
        return self._encode("ClearingHouse", "removeMember", slot)

    def risk_params_call(self, params: RiskParams) -> Call:
        """setRiskParams; the instrument table is the deployment's (fixed), so
        ``params.instruments`` must be it for ``params.hash()`` to be the new paramsHash."""
        rows = [contracts.instrument_tuple(i) for i in params.instruments]
        if rows != [contracts.instrument_tuple(i) for i in self.instruments()]:
            raise ZkclearError("the risk parameters carry another instrument table than the "
                               "deployment's (RiskParams.with_instruments(client."
                               "instruments()))")
        return self._encode("ClearingHouse", "setRiskParams", params.im_factor_bp,
                            params.penalty_bp, list(params.position_limits),
                            [s for row in params.shocks for s in row])

    def risk_params_hash(self, params: RiskParams) -> int:
        """The paramsHash the contract computes for ``params`` (e.g. a pending proposal's)."""
        return int(self.call(self.house.functions.hashRiskParams(
            params.im_factor_bp, params.penalty_bp, list(params.position_limits),
            [s for row in params.shocks for s in row])))

    def set_operator_call(self, operator: str) -> Call:
        return self._encode("ClearingHouse", "setOperator", Web3.to_checksum_address(operator))

    def add_reporter_call(self, reporter: str) -> Call:
        return self._encode("PriceOracle", "addReporter", Web3.to_checksum_address(reporter))

    def remove_reporter_call(self, reporter: str) -> Call:
        return self._encode("PriceOracle", "removeReporter",
                            Web3.to_checksum_address(reporter))

    def set_max_funding_call(self, max_funding_bp: int) -> Call:
        return self._encode("PriceOracle", "setMaxFunding", max_funding_bp)

    def set_quorum_call(self, quorum: int) -> Call:
        return self._encode("PriceOracle", "setQuorum", quorum)

    def set_oracle_limits_call(self, max_move_bp: int, max_age: int,
                               breaker_delay: int | None = None) -> Call:
        """setLimits; ``breaker_delay`` None keeps the current one."""
        if breaker_delay is None:
            breaker_delay = int(self.call(self.oracle.functions.breakerDelay()))
        return self._encode("PriceOracle", "setLimits", max_move_bp, max_age, breaker_delay)

    def add_owner_call(self, owner: str) -> Call:
        return self._encode("Governance", "addOwner", Web3.to_checksum_address(owner))

    def remove_owner_call(self, owner: str) -> Call:
        return self._encode("Governance", "removeOwner", Web3.to_checksum_address(owner))

    def set_expiry_call(self, expiry: int) -> Call:
        return self._encode("Governance", "setExpiry", expiry)

    def propose(self, calls: Sequence[Call], *, sender: str) -> int:
        receipt = self.transact(self.governance.functions.propose(
            [(Web3.to_checksum_address(t), d) for t, d in calls]), sender=sender)
        (ev,) = self.governance.events.Proposed().process_receipt(receipt, errors=DISCARD)
        return int(ev["args"]["id"])

    def confirm(self, proposal: int, *, sender: str) -> Any:
        return self.transact(self.governance.functions.confirm(proposal), sender=sender)

    def execute(self, proposal: int, *, sender: str) -> Any:
        return self.transact(self.governance.functions.execute(proposal), sender=sender)

    def cancel(self, proposal: int, *, sender: str) -> Any:
        """Vote to cancel a proposal (the owners' threshold cancels it)."""
        return self.transact(self.governance.functions.cancel(proposal), sender=sender)

    def proposal_eta(self, proposal: int) -> int:
        return int(self.call(self.governance.functions.proposals(proposal))[1])

    def confirmations(self, proposal: int) -> int:
        """Confirmations that count now (by current owners)."""
        return int(self.call(self.governance.functions.confirmationsOf(proposal)))

    def govern(self, calls: Sequence[Call], signers: Sequence[str]) -> Any:
        """Propose, confirm by ``signers`` (the first proposes), wait out the time-lock
        (moving a local chain's clock) and execute; returns the execution receipt."""
        pid = self.propose(calls, sender=signers[0])
        for s in signers[1:]:
            self.confirm(pid, sender=s)
        eta = self.proposal_eta(pid)
        if eta == 0:
            raise ZkclearError(f"proposal {pid} has {len(signers)} confirmations, "
                               f"fewer than the threshold")
        wait = eta - chain.latest_timestamp(self.w3)
        if wait > 0:
            chain.advance_time(self.w3, wait)
        return self.execute(pid, sender=signers[0])

    # -- members ----------------------------------------------------------------------

    def commit_digest(self, epoch: int, slot: int, commitment: int,
                      ciphertext: bytes) -> bytes:
        """The EIP-191 digest the slot's account signs for ``commitment`` in ``epoch`` on
        this pool (the contract's commitDigest)."""
        return eip191_digest(self.commit_inner(epoch, slot, commitment, ciphertext))

    def commit_inner(self, epoch: int, slot: int, commitment: int, ciphertext: bytes) -> bytes:
        return commit_inner(self.deployment.chain_id, self.house.address, epoch, slot,
                            commitment, ciphertext)

    def sign_commit(self, private_key: Any, epoch: int, slot: int, commitment: int,
                    ciphertext: bytes) -> SignedCommit:
        """Sign a commitment with a private key (eth_account, EIP-191, low s)."""
        inner = self.commit_inner(epoch, slot, commitment, ciphertext)
        sig = Account.sign_message(encode_defunct(primitive=inner), private_key)
        return SignedCommit(slot, commitment, bytes(ciphertext), int(sig.v),
                            int(sig.r).to_bytes(32, "big"), int(sig.s).to_bytes(32, "big"))

    def sign_commit_as(self, account: str, epoch: int, slot: int, commitment: int,
                       ciphertext: bytes) -> SignedCommit:
        """Sign as one of the node's accounts: with the embedded chain's key, else by
        ``eth_sign`` (a local node's unlocked account)."""
        key = chain.embedded_private_key(self.w3, account)
        if key is not None:
            return self.sign_commit(key, epoch, slot, commitment, ciphertext)
        inner = self.commit_inner(epoch, slot, commitment, ciphertext)
        sig = bytes(self.w3.eth.sign(Web3.to_checksum_address(account), data=inner))
        return SignedCommit.from_signature(slot, commitment, ciphertext, sig)

    def claim(self, *, sender: str) -> Any:
        return self.transact(self.house.functions.claim(), sender=sender)

    def claimable(self, account: str) -> int:
        return int(self.call(self.house.functions.claimable(
            Web3.to_checksum_address(account))))

    def total_claimable(self) -> int:
        return int(self.call(self.house.functions.totalClaimable()))

    def account_of_slot(self, slot: int) -> str:
        return str(self.call(self.house.functions.accountOfSlot(slot)))

    def deposit(self, amount: int, *, sender: str, approve: bool = True) -> Any:
        """Deposit ``amount``; with ``approve``, the allowance is granted only after the
        amount and the sender's membership are checked, and taken back if the deposit
        is refused anyway (no allowance is left behind)."""
        if not approve:
            return self.transact(self.house.functions.deposit(amount), sender=sender)
        self.check_deposit(amount, sender)
        self.transact(self.token.functions.approve(self.house.address, amount), sender=sender)
        try:
            return self.transact(self.house.functions.deposit(amount), sender=sender)
        except ContractError:
            self.transact(self.token.functions.approve(self.house.address, 0), sender=sender)
            raise

    def check_deposit(self, amount: int, sender: str) -> None:
        """The contract's own checks of a deposit that need no allowance: the amount
        (AmountOutOfRange) and membership (NotMember), as the same named errors."""
        if not 0 < amount < 1 << bounds.CASH_BITS:
            sel = function_signature_to_4byte_selector("AmountOutOfRange(uint256)")
            data = sel + abi_encode(["uint256"], [amount % (1 << 256)])
            raise decode_error(data, "ClearingHouse.deposit")
        self.call(self.house.functions.slotOf(Web3.to_checksum_address(sender)))

    def allowance(self, owner: str) -> int:
        """What ``owner`` has approved the clearing house to pull."""
        return int(self.call(self.token.functions.allowance(
            Web3.to_checksum_address(owner), self.house.address)))

    def request_withdrawal(self, amount: int, *, sender: str) -> Any:
        return self.transact(self.house.functions.requestWithdrawal(amount), sender=sender)

    def mint(self, to: str, amount: int, *, sender: str) -> Any:
        """Mint test collateral (the deployer of TestCollateral is its minter)."""
        return self.transact(self.token.functions.mint(Web3.to_checksum_address(to), amount),
                             sender=sender)

    def balance(self, account: str) -> int:
        return int(self.call(self.token.functions.balanceOf(Web3.to_checksum_address(account))))

    def slot_of(self, account: str) -> int:
        return int(self.call(self.house.functions.slotOf(Web3.to_checksum_address(account))))

    # -- oracle -----------------------------------------------------------------------

    def post_prices(self, epoch: int, prices: Sequence[int] | None = None, *, sender: str,
                    observed_at: int | None = None,
                    venues: Mapping[str, Sequence[int]] | None = None,
                    funding: Sequence[int] | None = None) -> Any:
        """Post ``epoch``'s prices (marks); with ``venues`` (name -> one price per
        instrument) the posted prices are their per-instrument median
        (:func:`venue_medians`) and the venues go into the PricesPosted event (the
        contract checks the median). ``funding``: one signed amount per lot and
        instrument (nonzero only for perpetuals; ``postMarks``), None posts zeros
        (``postPrices``)."""
        blob = b""
        if venues is not None:
            med = venue_medians(venues)
            if prices is not None and tuple(prices) != med:
                raise ZkclearError(f"prices {tuple(prices)} are not the venues' median {med}")
            prices, blob = med, encode_venues(venues)
        if prices is None:
            raise ZkclearError("post_prices needs prices or venues")
        ts = chain.latest_timestamp(self.w3) if observed_at is None else observed_at
        fns = self.oracle.functions
        if funding is None:
            return self.transact(fns.postPrices(epoch, ts, list(prices), blob), sender=sender)
        return self.transact(fns.postMarks(epoch, ts, list(prices), [int(f) for f in funding],
                                           blob), sender=sender)

    def post_risk_arrays(self, epoch: int, arrays: Mapping[int, Sequence[int]], *,
                         sender: str, posted_hash: int | None = None) -> Any:
        """Post the hash of ``epoch``'s option risk arrays (option m -> K entries) with
        the arrays (:func:`~zkclear.clearing.instruments.encode_arrays`); the hash is
        computed from the deployed instrument table and K unless ``posted_hash`` is given
        (tests post others)."""
        if posted_hash is None:
            posted_hash = risk_hash(self.instruments(), arrays,
                                    self.deployment.config.n_scenarios, epoch)
        return self.transact(self.oracle.functions.postRiskArrays(
            epoch, posted_hash, encode_arrays(arrays)), sender=sender)

    def posted_risk_arrays(self, epoch: int) -> list[dict[str, Any]]:
        """Every RiskArraysPosted of ``epoch``: reporter, riskHash, the arrays decoded
        (None where the blob does not decode)."""
        logs = self.oracle.events.RiskArraysPosted().get_logs(
            argument_filters={"epoch": epoch}, from_block=self.deployment.first_block)
        out = []
        for e in logs:
            try:
                arrays: dict[int, tuple[int, ...]] | None = decode_arrays(
                    bytes(e["args"]["arrays"]))
            except ZkclearError:
                arrays = None
            out.append({"reporter": str(e["args"]["reporter"]),
                        "risk_hash": int(e["args"]["riskHash"]), "arrays": arrays})
        return out

    def market(self, epoch: int) -> Market:
        """``epoch``'s final market from the chain: marks, funding indices and -- in a
        pool with options, once the risk round is final -- the risk arrays of a post
        whose arrays hash to the final riskHash (ZkclearError if none does)."""
        prices, funding = self.final_prices(epoch), self.funding_index(epoch)
        table = self.instruments()
        if not live_options(table, epoch):  # no risk round: riskHash = 0
            return Market(prices, funding)
        final = self.risk_hash(epoch)
        if final == 0:
            raise ZkclearError(f"epoch {epoch}: the risk arrays are not final yet")
        k = self.deployment.config.n_scenarios
        for post in self.posted_risk_arrays(epoch):
            arrays = post["arrays"]
            if post["risk_hash"] != final or arrays is None:
                continue
            try:
                if risk_hash(table, arrays, k, epoch) == final:
                    return Market(prices, funding, arrays)
            except ZkclearError:
                continue
        raise ZkclearError(f"epoch {epoch}: no posted risk arrays hash to the final "
                           f"riskHash {final:#x}")

    def release_prices(self, epoch: int, *, sender: str) -> Any:
        """Make a candidate held by the circuit breaker final (after breakerDelay)."""
        return self.transact(self.oracle.functions.releasePrices(epoch), sender=sender)

    def pending_prices(self, epoch: int) -> tuple[tuple[int, ...], int]:
        """The candidate the breaker holds for ``epoch`` and its release time (() and 0)."""
        prices, release_at = self.call(self.oracle.functions.pendingPrices(epoch))
        return tuple(int(p) for p in prices), int(release_at)

    def finalised_at(self, epoch: int) -> int:
        return int(self.call(self.oracle.functions.finalisedAt(epoch)))

    def posted_venues(self, epoch: int) -> list[dict[str, Any]]:
        """Every PricesPosted of ``epoch``: reporter, observedAt, prices, decoded venues."""
        logs = self.oracle.events.PricesPosted().get_logs(
            argument_filters={"epoch": epoch}, from_block=self.deployment.first_block)
        return [{"reporter": str(e["args"]["reporter"]),
                 "observed_at": int(e["args"]["observedAt"]),
                 "prices": tuple(int(p) for p in e["args"]["prices"]),
                 "funding": tuple(int(f) for f in e["args"]["funding"]),
                 "venues": decode_venues(bytes(e["args"]["venues"]))} for e in logs]

    def final_prices(self, epoch: int) -> tuple[int, ...]:
        return tuple(int(p) for p in self.call(self.oracle.functions.finalPrices(epoch)))

    def prices_hash(self, epoch: int) -> int:
        """``pricesHash`` of ``epoch`` (0 until its marks -- and, with options, its risk
        arrays -- are final)."""
        return int(self.call(self.oracle.functions.pricesHashOf(epoch)))

    def mark_hash(self, epoch: int) -> int:
        """``markHash`` of ``epoch`` (0 until its marks are final)."""
        return int(self.call(self.oracle.functions.markHashOf(epoch)))

    def risk_hash(self, epoch: int) -> int:
        """The final ``riskHash`` of ``epoch`` (0 without options or until final)."""
        return int(self.call(self.oracle.functions.riskHashOf(epoch)))

    def funding_index(self, epoch: int) -> tuple[int, ...]:
        """The funding indices ``F`` of ``epoch`` (signed; PricesNotFinal before)."""
        return tuple(int(f) for f in self.call(self.oracle.functions.fundingIndex(epoch)))

    def max_funding_bp(self) -> int:
        return int(self.call(self.oracle.functions.maxFundingBp()))

    @functools.cached_property
    def _instruments(self) -> tuple[Instrument, ...]:
        rows = self.call(self.oracle.functions.instruments())
        return tuple(contracts.instrument_from_tuple(r) for r in rows)

    def instruments(self) -> tuple[Instrument, ...]:
        """The deployment's instrument table, from the oracle (fixed: read once)."""
        return self._instruments

    # -- epochs -----------------------------------------------------------------------

    def close_epoch(self, commits: Sequence[SignedCommit] = (), excluded_mask: int = 0, *,
                    sender: str) -> Any:
        """Post the signed commits and close the open epoch (operator)."""
        return self.transact(self.house.functions.closeEpoch(
            [c.as_tuple() for c in commits], excluded_mask), sender=sender)

    # -- liveness: freeze and exit ------------------------------------------------------

    def set_withdrawal_timeout_call(self, timeout: int) -> Call:
        return self._encode("ClearingHouse", "setWithdrawalTimeout", timeout)

    def withdrawal_timeout(self) -> int:
        return int(self.call(self.house.functions.withdrawalTimeout()))

    def freeze(self, *, sender: str) -> Any:
        return self.transact(self.house.functions.freeze(), sender=sender)

    def frozen(self) -> bool:
        return bool(self.call(self.house.functions.frozen()))

    def exited(self, slot: int) -> bool:
        return bool(self.call(self.house.functions.exited(slot)))

    def last_exit_data_hash(self) -> bytes:
        return bytes(self.call(self.house.functions.lastExitDataHash()))

    def exit(self, slot: int, collateral: int, positions: Sequence[int], vkh: int, nonce: int,
             exit_data: Sequence[int], *, sender: str) -> Any:
        """Exit ``slot`` after a freeze with its leaf (c, q, vkh, nonce) and the last
        accepted epoch's exit data; the proceeds go to the slot's claimable balance."""
        return self.transact(self.house.functions.exit(
            slot, collateral, list(positions), vkh, nonce, list(exit_data)), sender=sender)

    def exit_house_call(self, exit_data: Sequence[int]) -> Call:
        return self._encode("ClearingHouse", "exitHouse", list(exit_data))

    def submit_epoch(self, proof: Mapping[str, Any], public: Sequence[int],
                     exit_data: Sequence[int], *, sender: str,
                     gas: int | None = None) -> EpochAccepted:
        """Submit an epoch proof (snarkjs JSON) with its public signals and the epoch's
        exit data (``PoolState.exit_data`` of the new state)."""
        a, b, c, pub = proof_calldata(proof, public)
        fn = self.house.functions.submitEpoch((a, b, c), list(pub), [int(x) for x in exit_data])
        receipt = self.transact(fn, sender=sender, gas=gas or submit_gas_limit(pub))
        ev = self.house.events

        def logs(event: Any) -> list[Any]:
            return list(event().process_receipt(receipt, errors=DISCARD))

        (acc,) = logs(ev.EpochAccepted)
        return EpochAccepted(
            epoch=int(acc["args"]["epoch"]),
            new_root=int(acc["args"]["newRoot"]),
            liquidated=tuple(int(e["args"]["slot"]) for e in logs(ev.Liquidated)),
            paid=tuple((int(e["args"]["slot"]), str(e["args"]["to"]), int(e["args"]["amount"]))
                       for e in logs(ev.WithdrawalPaid)),
            refused=tuple((int(e["args"]["slot"]), int(e["args"]["amount"]))
                          for e in logs(ev.WithdrawalRefused)),
            total_collateral=int(acc["args"]["totalCollateral"]),
            gas_used=int(receipt["gasUsed"]),
        )

    def epoch_events(self, epoch: int) -> list[Event]:
        """The epoch's events in accumulator order, from the EpochEvent logs (checked
        against the on-chain accumulator and count)."""
        logs = self.house.events.EpochEvent().get_logs(
            argument_filters={"epoch": epoch}, from_block=self.deployment.first_block)
        logs = sorted(logs, key=lambda e: int(e["args"]["index"]))
        events = [Event(Kind(int(e["args"]["kind"])), int(e["args"]["slot"]),
                        int(e["args"]["value"])) for e in logs]
        info = self.epoch_info(epoch)
        from zkclear.clearing.events import accumulate

        if [int(e["args"]["index"]) for e in logs] != list(range(len(logs))) \
                or len(events) != info["nEvents"] or accumulate(events) != info["eventsAcc"]:
            raise ZkclearError(f"epoch {epoch}: the event logs do not rebuild the on-chain "
                               "accumulator (incomplete logs from the node?)")
        return events

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        keys = ("eventsAcc", "paramsHash", "withdrawMask", "deposits", "nEvents", "closed",
                "firstRequestAt", "excludedMask")
        return dict(zip(keys, self.call(self.house.functions.epochInfo(epoch)), strict=True))

    def state_root(self) -> int:
        return int(self.call(self.house.functions.stateRoot()))

    def last_accepted_epoch(self) -> int:
        return int(self.call(self.house.functions.lastAcceptedEpoch()))

    def open_epoch(self) -> int:
        return int(self.call(self.house.functions.openEpoch()))

    def total_collateral(self) -> int:
        return int(self.call(self.house.functions.totalCollateral()))

    def params_hash(self) -> int:
        return int(self.call(self.house.functions.paramsHash()))

    @property
    def accounts(self) -> list[ChecksumAddress]:
        return list(self.w3.eth.accounts)

