"""What a member signs for its report commitment and for a deposit the operator posts,
what a reporter signs for a post someone else submits, and the exit data's hash: the
digests the ClearingHouse and the PriceOracle recompute (docs/protocol.md, "Reports are
posted by the operator", "Deposits", "Oracle").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak
from web3 import Web3

from zkclear.errors import ZkclearError

#: Domain tag of the commit digest (docs/protocol.md, "Reports are posted by the operator").
COMMIT_DOMAIN = "zkclear-commit-v1"
#: Domain tag of the deposit digest (docs/protocol.md, "Deposits"): a deposit signature
#: is never a commit signature (another tag, another number of fields).
DEPOSIT_DOMAIN = "zkclear-deposit-v1"
#: Domain tag of a reporter's signed post (docs/protocol.md, "Oracle", postSignedMarks).
PRICES_DOMAIN = "zkclear-prices-v1"
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


def deposit_inner(chain_id: int, house: str, epoch: int, slot: int, amount: int) -> bytes:
    """keccak256(abi.encode("zkclear-deposit-v1", chainid, clearingHouse, epoch, slot,
    amount)): what a member signs (EIP-191) for a deposit the operator posts."""
    return keccak(abi_encode(
        ["string", "uint256", "address", "uint256", "uint256", "uint256"],
        [DEPOSIT_DOMAIN, chain_id, Web3.to_checksum_address(house), epoch, slot, amount]))


def prices_inner(chain_id: int, oracle: str, epoch: int, observed_at: int,
                 prices: Sequence[int], funding: Sequence[int], venues: bytes) -> bytes:
    """keccak256(abi.encode("zkclear-prices-v1", chainid, oracle, epoch, observedAt, prices,
    funding, keccak256(venues))): what a reporter signs (EIP-191) for a post submitted in
    a batch (PriceOracle.postSignedMarks; its ``pricesDigest`` view)."""
    return keccak(abi_encode(
        ["string", "uint256", "address", "uint256", "uint256", "uint256[]", "int256[]",
         "bytes32"],
        [PRICES_DOMAIN, chain_id, Web3.to_checksum_address(oracle), epoch, observed_at,
         [int(p) for p in prices], [int(f) for f in funding], keccak(bytes(venues))]))


def eip191_digest(inner: bytes) -> bytes:
    """keccak256("\\x19Ethereum Signed Message:\\n32" || inner) (eth_sign of 32 bytes)."""
    return keccak(b"\x19Ethereum Signed Message:\n32" + inner)


def sign_inner(inner: bytes, private_key: Any) -> bytes:
    """The EIP-191 signature (r || s || v, low s) of ``inner`` with a private key
    (eth_account): what the contracts recover from :func:`eip191_digest`."""
    return bytes(Account.sign_message(encode_defunct(primitive=inner), private_key).signature)


def recover_inner(inner: bytes, signature: bytes) -> str:
    """The account whose EIP-191 ``signature`` of ``inner`` this is (raises on one that
    does not parse)."""
    return str(Account.recover_message(encode_defunct(primitive=inner), signature=signature))


class _Signature:
    """The 65-byte r || s || v of a signed record's ``v``, ``r``, ``s`` fields."""

    v: int
    r: bytes
    s: bytes

    @property
    def signature(self) -> bytes:
        return self.r + self.s + bytes([self.v])


@dataclass(frozen=True)
class SignedCommit(_Signature):
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
        return cls(slot, commitment, bytes(ciphertext), *split_signature(signature))


def split_signature(signature: bytes) -> tuple[int, bytes, bytes]:
    """(v 27/28, r, s) of a 65-byte r || s || v signature (v 0/1 or 27/28)."""
    if len(signature) != 65:
        raise ZkclearError(f"a signature has 65 bytes, got {len(signature)}")
    v = signature[64]
    return (v + 27 if v < 27 else v), bytes(signature[:32]), bytes(signature[32:64])


@dataclass(frozen=True)
class SignedDeposit(_Signature):
    """One entry of closeEpoch's ``deposits``: a slot's deposit of ``amount`` in ``epoch``
    and the slot account's signature of the deposit digest (the epoch is in the digest,
    not in the contract's tuple: closeEpoch checks it against the epoch it closes)."""

    epoch: int
    slot: int
    amount: int
    v: int
    r: bytes
    s: bytes

    def as_tuple(self) -> tuple[int, int, int, bytes, bytes]:
        return (self.slot, self.amount, self.v, self.r, self.s)

    @classmethod
    def from_signature(cls, epoch: int, slot: int, amount: int,
                       signature: bytes) -> SignedDeposit:
        """From a 65-byte r || s || v signature (v 0/1 or 27/28)."""
        return cls(epoch, slot, amount, *split_signature(signature))


@dataclass(frozen=True)
class SignedPost(_Signature):
    """One entry of postSignedMarks' ``posts``: a reporter's marks and funding for
    ``epoch`` observed at ``observed_at``, the venues blob (b"" for none) and the
    reporter's signature of the prices digest (the epoch is in the digest, not in the
    contract's tuple: the batch names it once)."""

    epoch: int
    observed_at: int
    prices: tuple[int, ...]
    funding: tuple[int, ...]
    venues: bytes
    v: int
    r: bytes
    s: bytes

    def as_tuple(self) -> tuple[int, list[int], list[int], bytes, int, bytes, bytes]:
        return (self.observed_at, list(self.prices), list(self.funding), self.venues,
                self.v, self.r, self.s)


def exit_data_hash(exit_data: Sequence[int]) -> bytes:
    """keccak256(abi.encode(uint256[] exitData)), as the contract stores it."""
    return keccak(abi_encode(["uint256[]"], [list(exit_data)]))
