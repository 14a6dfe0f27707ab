"""A member's side of the auction of the house's lot (``zkclear member lot | bid |
reveal``; docs/protocol.md, "The auction of the house's lot").

- :func:`verified_lot`: the operator opens the house's leaf after the last accepted epoch
  to members (``GET /v1/lot``); the member checks it against that epoch's published exit
  data ``D`` and the house's registered vkh
  (:func:`zkclear.clearing.auction.verify_lot`), trusting nothing of the operator's, and
  keeps it (``lots/<epoch>.json``) for its own audit.
- :func:`plan_bid`: before a bid is sent, the member clears its own leaf with the lot and
  the bid at the latest final prices by the engine's own rules
  (:func:`zkclear.clearing.auction.margin_bid`): a bid it could not margin is refused
  (:class:`~zkclear.clearing.auction.BidNotMargined`), as is a bid below ``-reserve``.
  Its own leaf is the one its audit re-derives from its view key and public chain data
  (:func:`zkclear.roles.exit.derive_leaf`), checked against the exit data.
- :func:`commit_bid`: the sealed bid and its salt are written to ``bids/<epoch>.json``
  (owner-only, atomically) *before* the commitment is sent, so that a crash never loses
  what the reveal needs; :func:`reveal_bid` opens it between the two deadlines.

Every refusal is a :class:`BidError` (a :class:`~zkclear.roles.member.MemberError` with a
``code``), a :class:`~zkclear.clearing.auction.LotMismatch` or a ``BidNotMargined``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from web3 import Web3

from zkclear.chain.auction import AuctionState, SealedBid
from zkclear.chain.client import Client
from zkclear.chain.node import chain_now
from zkclear.clearing.auction import (
    Lot,
    LotMismatch,
    bid_commitment,
    check_bid,
    margin_bid,
    verify_lot,
)
from zkclear.clearing.instruments import Market
from zkclear.clearing.rules import deposits_from_events
from zkclear.clearing.slot import SlotFigures
from zkclear.clearing.state import Leaf
from zkclear.errors import ZkclearError
from zkclear.fsutil import write_json_atomic
from zkclear.privacy.viewkeys import MemberKey
from zkclear.schemas import LotFile, SealedBidFile, dump, load, parse

from .exit import ExitError, derive_leaf, open_leaf, published_exit_data
from .member import MemberClient, MemberError

__all__ = ["BidError", "commit_bid", "member_lot", "own_leaf", "plan_bid", "reveal_bid",
           "verified_lot"]

LOTS, BIDS = "lots", "bids"
NO_COMMITMENT = bytes(32)


class BidError(MemberError):
    """The auction refuses this step now (no auction, too early, too late, no saved bid,
    below the reserve, already committed ...): ``code`` says which."""


def _open_auction(cl: Client) -> AuctionState:
    auction = cl.auction_of()
    if auction is None:
        raise BidError(f"epoch {cl.open_epoch()} has no auction of the house's lot (the house "
                       "is flat, or the last epoch is not accepted yet)", "no_auction")
    return auction


# -- the lot --------------------------------------------------------------------------------


def verified_lot(m: MemberClient) -> Lot:
    """The operator's opening of the house's leaf, checked against the published exit
    data of its epoch and the house's registered vkh (LotMismatch otherwise)."""
    cl = m._chain()
    lot = parse(LotFile, m.lot(), where="the operator's lot", error=LotMismatch).to_engine()
    if not 1 <= lot.epoch <= cl.last_accepted_epoch():
        raise LotMismatch(f"the operator's lot is of epoch {lot.epoch}, which the chain has "
                          f"not accepted (last accepted: {cl.last_accepted_epoch()})")
    try:
        data = published_exit_data(cl, lot.epoch)
    except ExitError as exc:
        raise LotMismatch(f"cannot check the lot of epoch {lot.epoch}: {exc}") from None
    return verify_lot(lot, data, int(cl.call(cl.house.functions.vkhOf(0))))


def save_lot(folder: Path, lot: Lot) -> Path:
    return write_json_atomic(folder / LOTS / f"{lot.epoch}.json", dump(LotFile.of(lot)))


def member_lot(m: MemberClient, folder: Path) -> dict[str, Any]:
    """``zkclear member lot``: fetch, check and keep the lot; with the open auction."""
    lot = verified_lot(m)
    path = save_lot(folder, lot)
    cl = m._chain()
    auction = cl.auction_of()
    return {**dump(LotFile.of(lot)), "verified": True, "file": str(path),
            "lot_base": cl.lot_base(),
            "auction": None if auction is None else {
                "epoch": auction.epoch, "commit_end": auction.commit_end,
                "reveal_end": auction.reveal_end, "reserve": auction.reserve}}


# -- the bid --------------------------------------------------------------------------------


def own_leaf(cl: Client, key: MemberKey, epoch: int, exit_data: Any = None) -> Leaf:
    """The member's own leaf after accepted ``epoch``, re-derived by its audit and checked
    against the published exit data (BidError if it cannot be)."""
    data = published_exit_data(cl, epoch) if exit_data is None else exit_data
    try:
        c, q, df = derive_leaf(cl, key, epoch)
    except ExitError as exc:
        raise BidError(f"cannot margin a bid: this member's own collateral and positions "
                       f"are not derivable: {exc}", "leaf_unknown") from None
    leaf = open_leaf(key, epoch, c, q, df, data[key.slot])
    if leaf is None:
        raise BidError(f"cannot margin a bid: the re-derived leaf of slot {key.slot} after "
                       f"epoch {epoch} does not match the published exit data",
                       "leaf_unknown")
    return leaf


def _latest_market(cl: Client, accepted: int) -> tuple[int, Market]:
    """The latest final market: the open epoch's if final, else ``accepted``'s."""
    opened = cl.open_epoch()
    if opened > accepted and cl.prices_hash(opened) != 0:
        try:
            return opened, cl.market(opened)
        except ZkclearError:
            pass
    return accepted, _market(cl, accepted)


def _market(cl: Client, epoch: int) -> Market:
    from zkclear.audit.checks import market_of

    return market_of(cl, epoch)


def plan_bid(m: MemberClient, amount: int, lot: Lot | None = None) -> dict[str, Any]:
    """Check a bid of ``amount`` before it is sent: an auction is open and takes commits,
    ``amount >= -reserve``, the lot is verified and the member can margin it with its own
    leaf at the latest final prices after paying ``amount``. The figures, as JSON."""
    from zkclear.audit.chainview import ChainView

    check_bid(amount)
    cl = m._chain()
    auction = _open_auction(cl)
    now = chain_now(cl.w3)
    if now >= auction.commit_end:
        raise BidError(f"the auction of epoch {auction.epoch} took commits until "
                       f"{auction.commit_end} (now {now}): too late to bid", "commit_closed")
    if amount < -auction.reserve:
        raise BidError(f"bid {amount} is below the reserve: the house pays at most "
                       f"{auction.reserve} to offload this lot", "below_reserve")
    epoch = auction.epoch - 1
    lot = verified_lot(m) if lot is None else lot
    if lot.epoch != epoch:
        raise LotMismatch(f"the lot is the house's leaf after epoch {lot.epoch}; the auction "
                          f"of epoch {auction.epoch} sells the one after epoch {epoch}")
    leaf = own_leaf(cl, m.view_key, epoch)
    view = ChainView(cl)
    params = view.params_for(cl.params_hash())
    at, market = _latest_market(cl, epoch)
    prev = _market(cl, epoch)
    deposit = deposits_from_events(cl.epoch_events(auction.epoch)).get(m.slot, 0)
    fig: SlotFigures = margin_bid(
        leaf.collateral, leaf.positions, lot.positions, amount, market.prices, prev.prices,
        params, deposit=deposit, df=leaf.df, df_scale=view.df_scale(auction.epoch) or 0,
        funding=market.funding, funding_prev=prev.funding,
        live=tuple(not ins.done(at) for ins in params.instruments),
        risk=params.risk_matrix(market.prices, market.arrays, at))
    return {"epoch": auction.epoch, "slot": m.slot, "bid": amount,
            "reserve": auction.reserve, "commit_end": auction.commit_end,
            "reveal_end": auction.reveal_end, "prices_of": at,
            "positions_with_lot": list(fig.positions), "equity": fig.equity,
            "maintenance_margin": fig.maintenance_margin,
            "initial_margin": fig.initial_margin}


def _bid_file(folder: Path, epoch: int) -> Path:
    return folder / BIDS / f"{epoch}.json"


def load_bid(folder: Path, epoch: int) -> SealedBid | None:
    """The sealed bid saved for ``epoch``'s auction (None: none)."""
    path = _bid_file(folder, epoch)
    if not path.is_file():
        return None
    doc = load(SealedBidFile, path, what="the sealed bid", error=BidError)
    return SealedBid(doc.epoch, doc.slot, int(doc.bid), bytes.fromhex(doc.salt[2:]),
                     bytes.fromhex(doc.commitment[2:]))


def save_bid(folder: Path, sealed: SealedBid, clearing_house: str) -> Path:
    doc = SealedBidFile.tagged(clearing_house=clearing_house, epoch=sealed.epoch,
                               slot=sealed.slot, bid=str(sealed.bid),
                               salt="0x" + sealed.salt.hex(),
                               commitment="0x" + sealed.commitment.hex())
    return write_json_atomic(_bid_file(folder, sealed.epoch), dump(doc), mode=0o600)


def commit_bid(m: MemberClient, amount: int, folder: Path) -> dict[str, Any]:
    """``zkclear member bid``: :func:`plan_bid`, then seal the bid with a fresh salt,
    save it (``bids/<epoch>.json``) and send the commitment from the member's account."""
    cl = m._chain()
    epoch, house = _open_auction(cl).epoch, cl.house.address
    if cl.bid_commitment_of(epoch, m.slot) != NO_COMMITMENT:
        saved = (f"saved in {_bid_file(folder, epoch)}" if load_bid(folder, epoch)
                 else f"not saved in {folder / BIDS}")
        raise BidError(f"slot {m.slot} already committed a bid for the auction of epoch "
                       f"{epoch} ({saved}): reveal it", "already_committed")
    plan = plan_bid(m, amount)
    salt = secrets.token_bytes(32)
    sealed = SealedBid(epoch, m.slot, amount, salt,
                       bid_commitment(house, epoch, m.slot, amount, salt))
    path = save_bid(folder, sealed, house)  # before sending: the reveal needs the salt
    sent = cl.commit_bid(amount, salt, sender=Web3.to_checksum_address(m.address))
    if sent != sealed:  # the open epoch moved on in between: keep what was sent
        save_bid(folder, sent, house)
    return {**plan, "commitment": "0x" + sent.commitment.hex(), "file": str(path)}


def reveal_bid(m: MemberClient, folder: Path) -> dict[str, Any]:
    """``zkclear member reveal``: open the saved sealed bid of the open auction once the
    commit deadline has passed (before the reveal deadline). Idempotent."""
    cl = m._chain()
    auction = _open_auction(cl)
    sealed = load_bid(folder, auction.epoch)
    if sealed is None:
        raise BidError(f"no saved bid for the auction of epoch {auction.epoch} in "
                       f"{folder / BIDS}", "no_saved_bid")
    out = {"epoch": auction.epoch, "slot": sealed.slot, "bid": sealed.bid}
    if sealed.slot in auction.revealed:
        return {**out, "revealed": True, "best": _best(cl.auction_of(auction.epoch))}
    now = chain_now(cl.w3)
    if now < auction.commit_end:
        raise BidError(f"too early: the auction of epoch {auction.epoch} takes reveals from "
                       f"{auction.commit_end} ({auction.commit_end - now} s from now)",
                       "reveal_not_open")
    if now >= auction.reveal_end:
        raise BidError(f"too late: the auction of epoch {auction.epoch} took reveals until "
                       f"{auction.reveal_end}", "reveal_closed")
    if cl.bid_commitment_of(auction.epoch, sealed.slot) != sealed.commitment:
        raise BidError(f"the saved bid ({_bid_file(folder, auction.epoch)}) is not the one "
                       f"slot {sealed.slot} committed for epoch {auction.epoch}",
                       "bid_mismatch")
    cl.reveal_bid(sealed, sender=Web3.to_checksum_address(m.address))
    return {**out, "revealed": True, "best": _best(cl.auction_of(auction.epoch))}


def _best(state: AuctionState | None) -> dict[str, int] | None:
    if state is None or state.best is None:
        return None
    return {"slot": state.best.winner, "bid": state.best.bid}
