"""The auction of the house's lot, as it crosses the wire and the disk (docs/protocol.md,
"The auction of the house's lot").

:class:`LotFile` is the operator's opening of the house's leaf after an accepted epoch
(``GET /v1/lot``, members only) and the file ``zkclear member lot`` keeps once it has
checked it against the epoch's published exit data (``lots/<epoch>.json``);
:class:`SealedBidFile` is a member's sealed bid (``bids/<epoch>.json``, owner-only: its
salt opens the bid), written before the commitment is sent so that the reveal never
lacks it. The engine's form of a lot is :class:`zkclear.clearing.auction.Lot` (converted
here); :mod:`zkclear.roles.auction` converts a sealed bid to and from
:class:`zkclear.chain.auction.SealedBid`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from zkclear.clearing.auction import Lot

from .base import SECRET, U64, Address, DecimalStr, HexBytes, Record

Hex32 = Annotated[str, HexBytes(32)]


class LotFile(Record):
    """The house's leaf after accepted ``epoch``: ``PoseidonChain(collateral, positions,
    0, vkh, 1, 0)`` is the first word of that epoch's exit data (status 1, df and nonce 0
    are the house's)."""

    format: Literal["zkclear-lot-v1"]
    epoch: U64 = Field(description="the accepted epoch the house leaf is of (the lot is "
                       "auctioned in epoch + 1)")
    collateral: DecimalStr = Field(description="the house's collateral c_0 (may be "
                                   "negative)")
    positions: list[DecimalStr] = Field(description="the house's positions q_0, one per "
                                        "instrument: the lot")
    vkh: DecimalStr = Field(description="the house's registered vkh")

    @classmethod
    def of(cls, lot: Lot) -> LotFile:
        return cls.tagged(epoch=lot.epoch, collateral=str(lot.collateral),
                          positions=[str(q) for q in lot.positions], vkh=str(lot.vkh))

    def to_engine(self) -> Lot:
        return Lot(self.epoch, int(self.collateral), tuple(int(q) for q in self.positions),
                   int(self.vkh))


class SealedBidFile(Record):
    """A member's sealed bid for the auction of ``epoch`` (keep it until revealed)."""

    format: Literal["zkclear-sealed-bid-v1"]
    clearing_house: Address = Field(description="the pool's ClearingHouse")
    epoch: U64 = Field(description="the epoch whose auction the bid is for")
    slot: U64 = Field(description="the bidder's slot")
    bid: DecimalStr = Field(description="the amount: > 0 the winner pays the house, < 0 "
                            "the house pays the winner")
    salt: Annotated[Hex32, SECRET] = Field(description="32 random bytes (0x + 64 hex): "
                                           "secret until the reveal")
    commitment: Hex32 = Field(description="keccak256(abi.encode(clearingHouse, epoch, "
                              "slot, bid, salt))")
