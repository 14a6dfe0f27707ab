"""The epoch proof's public signals: what each carries and how values are packed.

Thirteen values are public (docs/protocol.md, "Public signals"); the circuit exposes them
as nine field elements, packing the small ones so that the on-chain verifier pays for
fewer public inputs (each costs an elliptic-curve multiplication, ~6.6k gas):

    epochInfo = epoch + nEvents * 2^64 + totalCollateral * 2^80
    outcome   = liquidatedMask + grantedMask * 2^N + rho * 2^128

with ``epoch < 2^64``, ``nEvents < 2^16``, ``0 <= totalCollateral < 2^128``, each mask
below ``2^N`` and ``rho < 2^100`` (the circuit range-checks all of them, so each word has
one decomposition). The contract reconstructs both words from its own state, the masks
and the challenge it derives itself.

The exit data (docs/protocol.md, "Freeze and escape") is the vector
``D = (leaf'_0, ..., leaf'_{N-1}, c'_0 mod r)`` published in ``submitEpoch`` calldata;
``rho = keccak256(abi.encode(epoch, newRoot, D)) >> 156`` (:func:`exit_challenge`) and the
ninth signal is ``exitSum = sum_j D_j * rho^j mod r`` (:func:`exit_sum`): the circuit
computes it from its own new leaves, so a published ``D`` that differs is caught.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eth_abi import encode as abi_encode
from eth_utils import keccak

from zkclear import bounds
from zkclear.field import P

#: The circuit's public signals, in order.
PUBLIC_NAMES = ("oldRoot", "newRoot", "epochInfo", "paramsHash", "pricesPrevHash",
                "pricesHash", "eventsAcc", "outcome", "exitSum")
#: The values they carry.
PUBLIC_VALUES = ("oldRoot", "newRoot", "epoch", "paramsHash", "pricesPrevHash", "pricesHash",
                 "eventsAcc", "nEvents", "liquidatedMask", "grantedMask", "totalCollateral",
                 "rho", "exitSum")

_EVENTS_SHIFT = bounds.EPOCH_BITS
_TOTAL_SHIFT = bounds.EPOCH_BITS + bounds.N_EVENTS_BITS


class PackingError(ValueError):
    """A value does not fit its field of a packed public signal."""


def _fits(name: str, value: int, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise PackingError(f"{name} = {value!r} does not fit in {bits} bits")
    return value


def epoch_info(epoch: int, n_events: int, total_collateral: int) -> int:
    return (_fits("epoch", epoch, bounds.EPOCH_BITS)
            + (_fits("nEvents", n_events, bounds.N_EVENTS_BITS) << _EVENTS_SHIFT)
            + (_fits("totalCollateral", total_collateral, bounds.TOTAL_BITS) << _TOTAL_SHIFT))


def outcome(liquidated_mask: int, granted_mask: int, n_slots: int, rho: int = 0) -> int:
    if not 2 * n_slots <= bounds.RHO_SHIFT:
        raise PackingError(f"{n_slots} slots: both masks must fit below bit {bounds.RHO_SHIFT}")
    return (_fits("liquidatedMask", liquidated_mask, n_slots)
            + (_fits("grantedMask", granted_mask, n_slots) << n_slots)
            + (_fits("rho", rho, bounds.RHO_BITS) << bounds.RHO_SHIFT))


def exit_data_hash(data: Sequence[int]) -> bytes:
    """``keccak256(abi.encode(D))``: what the contract keeps of the last accepted epoch's
    exit data."""
    return keccak(abi_encode(["uint256[]"], [[int(x) for x in data]]))


def exit_challenge(epoch: int, new_root: int, data: Sequence[int]) -> int:
    """``rho = keccak256(abi.encode(epoch, newRoot, D)) >> 156`` (100 bits), as the contract
    derives it: fixed only after both the real leaves (through ``newRoot``) and the
    published ``D``."""
    if any(not 0 <= int(x) < P for x in data):
        raise PackingError("exit data must be canonical field elements")
    digest = keccak(abi_encode(["uint256", "uint256", "uint256[]"],
                               [epoch, new_root, [int(x) for x in data]]))
    return int.from_bytes(digest, "big") >> (256 - bounds.RHO_BITS)


def exit_sum(data: Sequence[int], rho: int) -> int:
    """``sum_j D_j * rho^j mod r`` (Horner, from the last element)."""
    acc = 0
    for x in reversed(data):
        acc = (acc * rho + int(x)) % P
    return acc


def pack(values: Mapping[str, int], n_slots: int) -> list[int]:
    """The public signals (circuit order) of the named values (:data:`PUBLIC_VALUES`)."""
    missing = set(PUBLIC_VALUES) - set(values)
    if missing:
        raise PackingError(f"missing public values: {sorted(missing)}")
    words = {
        **{k: values[k] % P for k in ("oldRoot", "newRoot", "paramsHash", "pricesPrevHash",
                                       "pricesHash", "eventsAcc")},
        "epochInfo": epoch_info(values["epoch"], values["nEvents"], values["totalCollateral"]),
        "outcome": outcome(values["liquidatedMask"], values["grantedMask"], n_slots,
                           values["rho"]),
        "exitSum": values["exitSum"] % P,
    }
    return [words[k] for k in PUBLIC_NAMES]


def unpack(public: Sequence[int], n_slots: int) -> dict[str, int]:
    """The named values of public signals (inverse of :func:`pack` on its range)."""
    if len(public) != len(PUBLIC_NAMES):
        raise PackingError(f"{len(public)} public signals, expected {len(PUBLIC_NAMES)}")
    w = dict(zip(PUBLIC_NAMES, (int(x) for x in public), strict=True))
    info, out = w.pop("epochInfo"), w.pop("outcome")
    w["epoch"] = info & ((1 << bounds.EPOCH_BITS) - 1)
    w["nEvents"] = (info >> _EVENTS_SHIFT) & ((1 << bounds.N_EVENTS_BITS) - 1)
    w["totalCollateral"] = info >> _TOTAL_SHIFT
    w["liquidatedMask"] = out & ((1 << n_slots) - 1)
    w["grantedMask"] = (out >> n_slots) & ((1 << n_slots) - 1)
    w["rho"] = out >> bounds.RHO_SHIFT
    return {k: w[k] for k in PUBLIC_VALUES}
