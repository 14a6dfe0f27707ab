"""The auction drills' runners (:mod:`.auction`): the story on the engine, with
:class:`Book` mirroring ``contracts/LotAuction.sol``'s rules, or on the embedded EVM with
the contract itself; both play the award epoch step by step (:meth:`auction_epoch`: bids
sealed, an optional premature close, reveals, the close) and name each refusal as the
contract does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from zkclear.chain.auction import AuctionState
from zkclear.chain.pool import EpochOrders
from zkclear.chain.reverts import ContractError
from zkclear.clearing.auction import Award, check_bid, reserve
from zkclear.clearing.epoch import EpochResult
from zkclear.clearing.params import RiskParams
from zkclear.clearing.state import PoolState
from zkclear.privacy.viewkeys import MemberKey

from .fund import BP, ChainTwin, EngineTwin, Played

WINDOW = 600  # the default auctionWindow (s)


# -- the auction, as the engine twin runs it (the contract's rules) ------------------------

@dataclass
class _Run:
    commit_end: int
    reveal_end: int
    reserve: int
    bids: dict[int, int] = field(default_factory=dict)
    revealed: list[int] = field(default_factory=list)
    best: Award | None = None


class Book:
    """``LotAuction`` in Python, for the engine form: ``lotBase`` after each accepted epoch,
    the auction of the next one (commit, then reveal window), the refusals by name."""

    def __init__(self, reserve_bp: int = BP, window: int = WINDOW) -> None:
        self.reserve_bp, self.window = reserve_bp, window
        self.lot_base = self.clock = 0
        self.runs: dict[int, _Run] = {}

    @staticmethod
    def _refuse(action: str, name: str) -> ContractError:
        return ContractError(action, name, {}, b"")

    def accept(self, r: EpochResult) -> None:
        if r.house_flat:
            self.lot_base = 0
        elif r.award is not None:  # sold, or returned by a liquidated winner (LotAuction)
            self.lot_base = r.lot_mm
        else:
            self.lot_base += r.lot_mm
        if self.lot_base:
            self.runs[r.epoch + 1] = _Run(self.clock + self.window, self.clock + 2 * self.window,
                                          reserve(self.lot_base, self.reserve_bp))

    def _run(self, epoch: int, action: str) -> _Run:
        if epoch not in self.runs:
            raise self._refuse(action, "NoAuction")
        return self.runs[epoch]

    def commit(self, epoch: int, slot: int, bid: int) -> None:
        a = self._run(epoch, "commitBid")
        if self.clock >= a.commit_end or slot in a.bids:
            raise self._refuse("commitBid", "CommitClosed" if slot not in a.bids
                               else "BidAlreadyCommitted")
        a.bids[slot] = check_bid(bid)

    def reveal(self, epoch: int, slot: int) -> None:
        a = self._run(epoch, "revealBid")
        if not a.commit_end <= self.clock < a.reveal_end:
            raise self._refuse("revealBid", "RevealNotOpen" if self.clock < a.commit_end
                               else "RevealClosed")
        bid = a.bids[slot]
        if bid < -a.reserve:
            raise self._refuse("revealBid", "BidBelowReserve")
        a.revealed.append(slot)
        if a.best is None or bid > a.best.bid:
            a.best = Award(slot, bid)

    def close(self, epoch: int) -> Award | None:
        a = self.runs.get(epoch)
        if a is None:
            return None
        if self.clock < a.reveal_end:
            raise self._refuse("closeEpoch", "AuctionRunning")
        return a.best

    def state(self, epoch: int) -> AuctionState | None:
        a = self.runs.get(epoch)
        return None if a is None else AuctionState(epoch, a.commit_end, a.reveal_end, a.reserve,
                                                   a.best, tuple(sorted(a.revealed)))


def _close_refusal(close: Any) -> str:
    """The name of the error a premature close is refused with ('' if it went through)."""
    try:
        close()
    except ContractError as exc:
        return exc.name
    return ""


class AuctionTwin(Protocol):
    where: str
    params: RiskParams

    @property
    def state(self) -> PoolState: ...

    def play(self, orders: EpochOrders) -> Played: ...

    def auction(self, epoch: int | None = None) -> AuctionState | None: ...

    def lot_base(self) -> int: ...

    def member_keys(self) -> dict[int, MemberKey]: ...

    def auction_epoch(self, orders: EpochOrders, early_close: bool = False
                      ) -> tuple[Played, dict[str, str]]: ...


class AuctionEngine(EngineTwin):
    where = "the engine (public signals unpacked; LotAuction's rules mirrored)"

    def __init__(self, params: RiskParams, slots: Any) -> None:
        super().__init__(params, slots)
        self.book = Book()

    def award_for(self, orders: EpochOrders) -> Award | None:
        run = self.book.runs.get(self.state.epoch + 1)
        if run is not None:  # the operator's close waits for the reveals
            self.book.clock = max(self.book.clock, run.reveal_end)
        return self.book.close(self.state.epoch + 1)

    def accepted(self, result: EpochResult) -> None:
        self.book.accept(result)

    def auction(self, epoch: int | None = None) -> AuctionState | None:
        return self.book.state(self.state.epoch + 1 if epoch is None else epoch)

    def lot_base(self) -> int:
        return self.book.lot_base

    def member_keys(self) -> dict[int, MemberKey]:
        return dict(self.keys)

    def auction_epoch(self, orders: EpochOrders, early_close: bool = False
                      ) -> tuple[Played, dict[str, str]]:
        book, epoch = self.book, self.state.epoch + 1
        for slot, bid in sorted(orders.bids.items()):
            book.commit(epoch, slot, bid)
        refused: dict[str, str] = {}
        if early_close:
            refused["close in the commit window"] = _close_refusal(lambda: book.close(epoch))
        book.clock = max(book.clock, book.runs[epoch].commit_end)
        for slot in sorted(orders.bids):
            try:
                book.reveal(epoch, slot)
            except ContractError as exc:
                refused[f"slot {slot}'s reveal"] = exc.name
        if early_close:
            refused["close in the reveal window"] = _close_refusal(lambda: book.close(epoch))
        return self.play(replace(orders, bids={})), refused


class AuctionChain(ChainTwin):
    where = "the embedded EVM (LotAuction; DefaultWaterfall and Cover2 events)"

    def __init__(self, params: RiskParams, names: Any) -> None:
        super().__init__(params, names)
        self.params = params

    def auction(self, epoch: int | None = None) -> AuctionState | None:
        return self.pool.client.auction_of(epoch)

    def lot_base(self) -> int:
        return self.pool.client.lot_base()

    def member_keys(self) -> dict[int, MemberKey]:
        return {slot: m.key for slot, m in self.pool.members.items()}

    def auction_epoch(self, orders: EpochOrders, early_close: bool = False
                      ) -> tuple[Played, dict[str, str]]:
        """The award epoch step by step: the bids sealed, prices posted, reports netted
        and signed (the operator is ready to close), then the reveals; with
        ``early_close`` the operator tries closeEpoch in each window."""
        from zkclear.chain import node

        pool, cl = self.pool, self.pool.client
        epoch = cl.open_epoch()
        pool.act(replace(orders, bids={}))
        sealed = {s: cl.commit_bid(b, sender=pool.account(s))
                  for s, b in sorted(orders.bids.items())}
        netted = pool.net(epoch, orders.trades, pool.post_prices(epoch, orders.prices))
        pool.commit(epoch, netted.reports, frozenset())

        def close() -> None:
            cl.close_epoch([pool.signed[s] for s in sorted(pool.signed)], 0,
                           sender=pool.actors.operator)

        refused: dict[str, str] = {}
        if early_close:
            refused["close in the commit window"] = _close_refusal(close)
        state = cl.auction_of(epoch)
        assert state is not None
        wait = state.commit_end - node.latest_timestamp(pool.w3)
        if wait > 0:
            node.advance_time(pool.w3, wait)
        for slot, sb in sealed.items():
            try:
                cl.reveal_bid(sb, sender=pool.account(slot))
            except ContractError as exc:
                refused[f"slot {slot}'s reveal"] = exc.name
        if early_close:
            refused["close in the reveal window"] = _close_refusal(close)
        return self.outcome(pool.finish_epoch(netted)), refused
