"""The client's calls to the auction of the house's lot (``contracts/LotAuction.sol``;
docs/protocol.md, "The auction of the house's lot").

A member seals a bid with :meth:`AuctionCalls.commit_bid` (the commitment is
:func:`zkclear.clearing.auction.bid_commitment` of the clearing house, the open epoch, its
slot, the bid and a fresh salt) and opens it with :meth:`AuctionCalls.reveal_bid` once the
commit deadline has passed; :meth:`AuctionCalls.auction` shows an epoch's auction and
:meth:`AuctionCalls.award_of` the award its close recorded (what the epoch's proof must
carry). A refusal is the contract's named error as a
:class:`~zkclear.chain.reverts.ContractError` (``NoAuction``, ``CommitClosed``,
``RevealNotOpen``, ``RevealClosed``, ``BidAlreadyCommitted``, ``NoBidCommitment``,
``BidMismatch``, ``BidBelowReserve``, ``BidOutOfRange``, ``HouseCannotBid``,
``NotMember``, ``PoolFrozen``; ``AuctionRunning`` from closeEpoch); a bid outside
``|bid| < 2^BID_BITS`` or a salt that is not 32 bytes is refused before anything is sent
(:class:`~zkclear.clearing.auction.AuctionError`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from zkclear.chain.base import Call, ClientBase
from zkclear.clearing.auction import Award, bid_commitment, check_bid, unpack_auction


@dataclass(frozen=True)
class SealedBid:
    """A committed bid and what its reveal needs (keep the salt secret until then)."""

    epoch: int
    slot: int
    bid: int
    salt: bytes
    commitment: bytes


@dataclass(frozen=True)
class AuctionState:
    """One epoch's auction: commits while ``now < commit_end``, reveals while
    ``commit_end <= now < reveal_end``; the lowest acceptable bid is ``-reserve``;
    ``best`` is the best bid revealed so far (the award at close), ``revealed`` the
    slots whose bid was revealed."""

    epoch: int
    commit_end: int
    reveal_end: int
    reserve: int
    best: Award | None
    revealed: tuple[int, ...]


class AuctionCalls(ClientBase):
    """:class:`~zkclear.chain.client.Client`'s LotAuction methods."""

    # -- governance -------------------------------------------------------------------

    def set_auction_params_call(self, reserve_bp: int, window: int) -> Call:
        """setAuctionParams (governed): the reserve in bp of the lot's margin bound
        (0..10000) and the commit (then reveal) window in seconds (1..86400, at most a
        quarter of the withdrawal timeout)."""
        return self._encode("LotAuction", "setAuctionParams", reserve_bp, window)

    def auction_params(self) -> tuple[int, int]:
        """(auctionReserveBp, auctionWindow)."""
        fns = self.auction.functions
        return int(self.call(fns.auctionReserveBp())), int(self.call(fns.auctionWindow()))

    # -- members ----------------------------------------------------------------------

    def commit_bid(self, bid: int, salt: bytes | None = None, *, sender: str) -> SealedBid:
        """Seal ``bid`` for the open epoch's auction as ``sender``'s slot (a fresh random
        salt unless given); returns what :meth:`reveal_bid` needs."""
        check_bid(bid)
        salt = secrets.token_bytes(32) if salt is None else bytes(salt)
        epoch = int(self.call(self.house.functions.openEpoch()))
        slot = int(self.call(self.house.functions.slotOf(Web3.to_checksum_address(sender))))
        h = bid_commitment(self.house.address, epoch, slot, bid, salt)
        self.commit_bid_hash(h, sender=sender)
        return SealedBid(epoch, slot, bid, salt, h)

    def commit_bid_hash(self, commitment: bytes, *, sender: str) -> Any:
        """commitBid with a commitment computed elsewhere."""
        return self.transact(self.auction.functions.commitBid(bytes(commitment)),
                             sender=sender)

    def reveal_bid(self, bid: int | SealedBid, salt: bytes | None = None, *,
                   sender: str) -> Any:
        """Open a sealed bid (a :class:`SealedBid`, or the bid and its salt)."""
        if isinstance(bid, SealedBid):
            amount, salt = bid.bid, bid.salt
        else:
            amount = bid
        if salt is None:
            raise ValueError("reveal_bid needs the bid's salt")
        check_bid(amount)
        return self.transact(self.auction.functions.revealBid(amount, bytes(salt)),
                             sender=sender)

    # -- views --------------------------------------------------------------------------

    def auction_of(self, epoch: int | None = None) -> AuctionState | None:
        """The auction running in ``epoch`` (default: the open epoch); None if none."""
        if epoch is None:
            epoch = int(self.call(self.house.functions.openEpoch()))
        (commit_end, reveal_end, best_bid, reserve, best_slot, has_best,
         revealed) = self.call(self.auction.functions.auctionOf(epoch))
        if commit_end == 0:
            return None
        return AuctionState(
            epoch, int(commit_end), int(reveal_end), int(reserve),
            Award(int(best_slot), int(best_bid)) if has_best else None,
            tuple(s for s in range(int(revealed).bit_length()) if revealed >> s & 1))

    def bid_commitment_of(self, epoch: int, slot: int) -> bytes:
        """The slot's sealed bid in ``epoch``'s auction (32 zero bytes: none)."""
        return bytes(self.call(self.auction.functions.bidCommitmentOf(epoch, slot)))

    def award_word(self, epoch: int) -> int:
        """The award word closeEpoch recorded for ``epoch`` (0: no award): the low bits
        its proof's ``auction`` signal must carry."""
        return int(self.call(self.auction.functions.awardOf(epoch)))

    def award_of(self, epoch: int) -> Award | None:
        """The award ``epoch`` is cleared with (None: no award, or not closed yet)."""
        award, _, _ = unpack_auction(self.award_word(epoch))
        return award

    def lot_base(self) -> int:
        """The margin bound of the house's lot after the last accepted epoch."""
        return int(self.call(self.auction.functions.lotBase()))
