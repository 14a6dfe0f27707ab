"""The auction of the house's lot (docs/protocol.md, "The auction of the house's lot"):
what a sealed bid commits to, the award an epoch clears with, and the ``auction`` public
word that carries both the award and what the next auction needs (``houseFlat``,
``lotMM``). The engine (:mod:`.epoch`), the witness, the contracts' client and the
members' bidding all use these, so the encodings live in one place.

The members' side: :func:`verify_lot` checks the operator's opening of the house's lot
(:class:`Lot`) against the house leaf its epoch's proof published, without trusting the
operator (:class:`LotMismatch`); :func:`margin_bid` clears a bidder's own leaf with the
lot and its bid by the engine's own :func:`~.slot.clear_slot` and refuses a bid it could
not margin (:class:`BidNotMargined`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from zkclear import bounds
from zkclear.errors import ZkclearError
from zkclear.field import P

from .params import RiskParams
from .slot import SlotFigures, clear_slot
from .state import Leaf

#: |b| < 2^BID_BITS: a bid is a cash amount of the default fund's size.
BID_BITS = bounds.FUND_BITS
#: The winner's slot field of the auction word (N <= 2^WINNER_BITS).
WINNER_BITS = 8
_BID_SHIFT = 2 + WINNER_BITS
FLAT_SHIFT = _BID_SHIFT + BID_BITS
LOT_MM_SHIFT = FLAT_SHIFT + 1
#: The part of the word the contract sets (the award); the rest is the proof's.
AWARD_BITS = FLAT_SHIFT


class AuctionError(ZkclearError, ValueError):
    """A bid or an award outside the auction's rules."""


def check_bid(bid: int) -> int:
    limit = 1 << BID_BITS
    if isinstance(bid, bool) or not isinstance(bid, int) or not -limit < bid < limit:
        raise AuctionError(f"bid {bid!r}: a bid is an integer amount with |bid| < 2^{BID_BITS}")
    return bid


@dataclass(frozen=True)
class Award:
    """The epoch's award: slot ``winner`` takes the house's lot, paying ``bid`` (the house
    pays ``-bid`` when it is negative) on top of taking the positions at the mark."""

    winner: int
    bid: int

    def __post_init__(self) -> None:
        if isinstance(self.winner, bool) or not isinstance(self.winner, int) or \
                not 1 <= self.winner < 1 << WINNER_BITS:
            raise AuctionError(f"award to slot {self.winner!r}: the winner is a member slot "
                               f"(1 <= slot < {1 << WINNER_BITS})")
        check_bid(self.bid)


def award_values(award: Award | None) -> dict[str, int]:
    """The award's fields of the public values (the circuit's private inputs):
    ``awarded``, ``bidNeg``, ``winner``, ``bidAbs``."""
    if award is None:
        return {"awarded": 0, "bidNeg": 0, "winner": 0, "bidAbs": 0}
    return {"awarded": 1, "bidNeg": int(award.bid < 0), "winner": award.winner,
            "bidAbs": abs(award.bid)}


def award_word(award: Award | None) -> int:
    """The low :data:`AWARD_BITS` bits of the ``auction`` word: ``a + neg*2 + w*4 +
    |b|*2^9`` (0 without an award): what the contract records at close."""
    if award is None:
        return 0
    return 1 + 2 * (award.bid < 0) + 4 * award.winner + (abs(award.bid) << _BID_SHIFT)


def auction_word(award: Award | None, house_flat: bool, lot_mm: int) -> int:
    """``auction = award_word + houseFlat*2^121 + lotMM*2^122``."""
    if not 0 <= lot_mm < 1 << (252 - LOT_MM_SHIFT):
        raise AuctionError(f"lotMM {lot_mm} out of range")
    return award_word(award) + (int(house_flat) << FLAT_SHIFT) + (lot_mm << LOT_MM_SHIFT)


def unpack_auction(word: int) -> tuple[Award | None, bool, int]:
    """``(award, houseFlat, lotMM)`` of an ``auction`` word (inverse of
    :func:`auction_word`)."""
    low = word & ((1 << AWARD_BITS) - 1)
    award = None
    if low & 1:
        mag = low >> _BID_SHIFT
        award = Award((low >> 2) & ((1 << WINNER_BITS) - 1), -mag if low & 2 else mag)
    elif low:
        raise AuctionError(f"auction word {word:#x}: award fields set without an award")
    return award, bool((word >> FLAT_SHIFT) & 1), word >> LOT_MM_SHIFT


def bid_commitment(clearing_house: str, epoch: int, slot: int, bid: int, salt: bytes) -> bytes:
    """``keccak256(abi.encode(clearingHouse, epoch, slot, bid, salt))``: what
    ``commitBid`` takes (``salt`` 32 bytes), as ``revealBid`` recomputes it."""
    if len(salt) != 32:
        raise AuctionError("a bid's salt is 32 bytes")
    return keccak(encode(["address", "uint256", "uint256", "int256", "bytes32"],
                         [to_checksum_address(clearing_house), epoch, slot, check_bid(bid),
                          salt]))


def reserve(lot_base: int, reserve_bp: int) -> int:
    """The lowest acceptable bid is ``-reserve``: ``ceil(lotBase * auctionReserveBp / BP)``."""
    return -(-lot_base * reserve_bp // bounds.BP)


# -- the members' side: the lot's opening and a bid's margin ----------------------------------


class LotMismatch(AuctionError):
    """The operator's opening of the house's lot is not the house leaf the epoch's proof
    published (the exit data ``D``)."""


class BidNotMargined(AuctionError):
    """A bid the member could not margin: its equity after the bid would be below the
    initial margin of its own positions with the lot."""


@dataclass(frozen=True)
class Lot:
    """The house's leaf after accepted ``epoch`` as the operator opens it to members: its
    collateral ``c_0``, its positions ``q_0`` (the lot auctioned in ``epoch + 1``) and its
    ``vkh``; the house's status is 1, its ``df`` and nonce 0 (docs/protocol.md)."""

    epoch: int
    collateral: int
    positions: tuple[int, ...]
    vkh: int

    def leaf(self) -> Leaf:
        return Leaf(self.collateral, tuple(self.positions), self.vkh, 1, 0, 0)

    @property
    def flat(self) -> bool:
        return not any(self.positions)


def verify_lot(lot: Lot, exit_data: Sequence[int], house_vkh: int | None = None) -> Lot:
    """``lot`` if it opens the house leaf of its epoch's exit data ``D = (leaf'_0, ...,
    leaf'_{N-1}, c'_0 mod r)``: ``PoseidonChain(c_0, q_0, 0, vkh, 1, 0) == D[0]`` and
    ``c_0 mod r == D[N]`` (and ``vkh`` the house's registered one, if given); else
    :class:`LotMismatch`. Nothing of the operator's is trusted: ``D`` is the proof's."""
    if len(exit_data) < 2:
        raise LotMismatch(f"epoch {lot.epoch}: no exit data to check the lot against")
    if house_vkh is not None and lot.vkh != house_vkh:
        raise LotMismatch(f"epoch {lot.epoch}: the lot's vkh is not the house's registered "
                          "one")
    try:
        leaf = lot.leaf()
    except ValueError as exc:
        raise LotMismatch(f"epoch {lot.epoch}: the lot is not a leaf: {exc}") from None
    if leaf.hash() != exit_data[0]:
        raise LotMismatch(f"epoch {lot.epoch}: the lot (collateral {lot.collateral}, "
                          f"positions {list(lot.positions)}) does not hash to the house leaf "
                          "of the published exit data")
    try:
        house = exit_data[bounds.exit_data_slots(len(exit_data))]
    except ValueError as exc:
        raise LotMismatch(f"epoch {lot.epoch}: {exc}") from None
    if lot.collateral % P != house:
        raise LotMismatch(f"epoch {lot.epoch}: the lot's collateral {lot.collateral} is not "
                          "the house's collateral in the published exit data")
    return lot


def margin_bid(collateral: int, positions: Sequence[int], lot: Sequence[int], bid: int,
               prices: Sequence[int], prices_prev: Sequence[int], params: RiskParams, *,
               deposit: int = 0, df: int = 0, df_scale: int = 0,
               funding: Sequence[int] = (), funding_prev: Sequence[int] = (),
               live: Sequence[bool] = (),
               risk: Sequence[Sequence[int]] | None = None) -> SlotFigures:
    """The slot's clearing (the engine's own :func:`~.slot.clear_slot`, no trades) if it
    won the lot with ``bid`` at ``prices``: refused (:class:`BidNotMargined`) when its
    equity after the bid (and the default-fund call) is below the initial margin of its
    positions with the lot, or the lot takes a position out of bounds. A settled
    instrument's part of the lot is 0 (docs/protocol.md)."""
    check_bid(bid)
    zero = (0,) * len(positions)
    try:
        fig = clear_slot(collateral, positions, zero, 0, deposit, 0, prices, prices_prev,
                         params, funding=funding, funding_prev=funding_prev, live=live,
                         risk=risk, df=df, df_scale=df_scale, lot=tuple(lot), bid=bid)
    except ValueError as exc:
        raise BidNotMargined(f"bid {bid}: the lot cannot be cleared with this slot's "
                             f"positions: {exc}") from None
    if fig.equity < fig.initial_margin:
        room = ("a payment from the house does not count: the winner margins the lot from "
                "its own equity" if bid <= 0 else
                f"this slot can bid at most about {bid + fig.equity - fig.initial_margin} now")
        raise BidNotMargined(
            f"bid {bid}: the equity after the bid, {fig.equity}, is below the initial "
            f"margin {fig.initial_margin} of the positions with the lot "
            f"{list(fig.positions)} ({room})")
    return fig
