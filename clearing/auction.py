"""The auction of the house's lot (docs/protocol.md, "The auction of the house's lot"):
what a sealed bid commits to, the award an epoch clears with, and the ``auction`` public
word that carries both the award and what the next auction needs (``houseFlat``,
``lotMM``). The engine (:mod:`.epoch`), the witness, the contracts' client and the
members' bidding all use these, so the encodings live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from zkclear import bounds
from zkclear.errors import ZkclearError

#: |b| < 2^BID_BITS: a bid is a cash amount of the default fund's size.
BID_BITS = bounds.FUND_BITS
#: The winner's slot field of the auction word (N <= 2^WINNER_BITS).
WINNER_BITS = 7
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
