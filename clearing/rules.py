"""The rules that refuse matched trades before the epoch's reports are made
(:func:`apply_rules`, :func:`exclude_slots`), and the equity before trades they need.

Rules (:func:`apply_rules`, at the settlement prices, before the reports are made)
    A price band (operator policy): a trade priced more than ``band_bp`` basis points
    away from ``P_e[m]`` is rejected for both sides (``OFF_MARKET``). Rule R (the epoch
    circuit enforces it): per slot, with ``e0`` the equity before trade cash
    (:func:`equity_before_trades`), ``e0 + tradeCash >= min(e0, 0)``; every trade of a
    slot that violates it is rejected (``INSUFFICIENT_EQUITY``), the rest netted again,
    until no slot violates it. See docs/protocol.md, "Trades and netting".

:func:`equity_before_trades` is the engine's own ``cpre`` with no trades
(:func:`~zkclear.clearing.epoch.clear_slot`), so the formula lives in one place.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zkclear import bounds

from .epoch import clear_slot
from .events import Kind
from .intake import (
    MAX_PRICE,
    MatchedTrade,
    MatchResult,
    Reason,
    Rejection,
    TradeError,
    _as_report,
    _check_config,
    _member_set,
)
from .netting import NettingResult, _check_prices, _first_bad, net_columnar
from .params import RiskParams
from .report import Report

#: Default price band (basis points of the settlement price): the oracle's default largest
#: move per epoch (``PoolSetup.max_move_bp``), since a trade done during the epoch may be
#: that far from the price the epoch settles at.
DEFAULT_BAND_BP = 2_000


def deposits_from_events(events: Iterable[Any]) -> dict[int, int]:
    """Per-slot sum of the DEPOSIT events (``kind == 2``) of an epoch, recorded so far."""
    out: dict[int, int] = {}
    for ev in events:
        if ev.kind == Kind.DEPOSIT:
            out[ev.slot] = out.get(ev.slot, 0) + ev.value
    return out


def equity_before_trades(state: Any, prices: Sequence[int],
                         deposits: Mapping[int, int] | None = None,
                         funding: Sequence[int] = ()) -> dict[int, int]:
    """``e0_i = c_i + vm_i + d_i`` per slot: the equity of each slot of ``state`` (the
    :class:`~zkclear.clearing.state.PoolState` after the previous epoch) at the epoch's
    settlement ``prices`` and funding indices ``funding`` (() = unchanged), before trade
    cash. It is the engine's ``cpre`` with no trades and no withdrawal
    (:func:`~zkclear.clearing.epoch.clear_slot`, so the formula lives in one place)."""
    cfg = state.config
    px = _check_prices(prices, cfg.n_instruments, range(cfg.n_instruments))
    deposits = deposits or {}
    zero = (0,) * cfg.n_instruments
    # margin figures are not used: neutral parameters, house=True (no limit, no liquidation)
    neutral = RiskParams(bounds.BP, 0, (1,) * cfg.n_instruments, (zero,))
    return {i: clear_slot(leaf.collateral, leaf.positions, zero, 0, deposits.get(i, 0), 0,
                          px, state.prices, neutral, house=True,
                          funding=tuple(funding) or state.funding,
                          funding_prev=state.funding).equity
            for i, leaf in enumerate(state.leaves)}


def _check_band(band_bp: Any) -> int | None:
    if band_bp is None:
        return None
    if isinstance(band_bp, bool) or not isinstance(band_bp, numbers.Integral) \
            or not 0 <= int(band_bp) < 1 << 16:
        raise TradeError(f"band_bp must be None or an int in [0, 2^16), got {band_bp!r}")
    return int(band_bp)


@dataclass(frozen=True)
class RuleResult:
    """The trades kept by :func:`apply_rules`, the new rejections and the final netting."""

    match: MatchResult  # accepted = the kept trades; rejected = earlier + new rejections
    netting: NettingResult  # of the kept trades
    band_rejected: int  # trades refused as off-market
    equity_rejected: frozenset[int]  # slots whose trades were refused under rule R
    rounds: int  # netting rounds of rule R (1 when no slot violates it)


def apply_rules(match: MatchResult | Sequence[MatchedTrade], prices: Sequence[int], *,
                n_slots: int, n_instruments: int, band_bp: int | None = None,
                equity: Mapping[int, int] | None = None, settled: Iterable[int] = (),
                options: Iterable[int] = ()) -> RuleResult:
    """Refuse the matched trades the epoch must not contain, then net what is kept.

    1. Band (operator policy; ``band_bp`` None = no band): a trade whose price differs
       from the settlement price ``P[m]`` by more than ``band_bp`` basis points of
       ``P[m]`` is rejected for both sides (:attr:`Reason.OFF_MARKET`); nothing else is
       affected.
    2. Rule R (the epoch circuit enforces it; ``equity`` None = not checked): with
       ``e0_i = equity[i]`` (:func:`equity_before_trades`) and ``tc_i`` the slot's
       settlement-relative trade cash of the kept trades, every slot must have
       ``e0_i + tc_i >= min(e0_i, 0)``. All trades of every slot that violates it are
       rejected (:attr:`Reason.INSUFFICIENT_EQUITY`; the counterparties' sides get
       :attr:`Reason.COUNTERPARTY_REJECTED`), the rest is netted again, and so on until
       no slot violates it: each round removes at least one slot, so at most
       ``n_slots`` rounds. A slot that satisfies R is rejected only after one of its
       counterparties was.

    0. Instruments ``settled`` (at or past their expiry, docs/protocol.md "Instruments")
       take no trades: such a trade is rejected for both sides (:attr:`Reason.SETTLED`).
       ``options``: instruments whose settlement price (a premium) may be 0.

    Kept trades stay in their order; new rejections follow ``match.rejected`` in the
    order they were decided (settled, band, then each round by trade).
    """
    _check_config(n_slots, n_instruments)
    band = _check_band(band_bp)
    px = _check_prices(prices, n_instruments, options)
    settled = frozenset(settled)
    if isinstance(match, MatchResult):
        trades, rejected = list(match.accepted), list(match.rejected)
    else:
        trades, rejected = list(match), []
    n = len(trades)
    cols = [np.fromiter((getattr(t, f) for t in trades), np.int64, count=n)
            for f in ("buyer", "seller", "instrument", "size", "price")]
    buyer, seller, inst, _size, price = cols
    if n and ((inst < 0) | (inst >= n_instruments)).any():
        k = _first_bad((inst < 0) | (inst >= n_instruments))
        raise TradeError(f"trade row {k}: instrument {int(inst[k])} is not an instrument "
                         f"0..{n_instruments - 1}")
    keep = np.ones(n, bool)
    for k, t in enumerate(trades):
        if t.instrument in settled:
            keep[k] = False
            for slot in (t.buyer, t.seller):
                rejected.append(Rejection(
                    Reason.SETTLED, slot, t.trade_id,
                    f"member {slot}, trade {t.trade_id!r}: instrument {t.instrument} has "
                    "expired and takes no trades", _as_report(t, slot)))

    n_band = 0
    if band is not None and n:
        # |price - P| * 10^4 > band * P  <=>  |price - P| > floor(band * P / 10^4)
        allowed = np.array([min(band * p // bounds.BP, MAX_PRICE) for p in px], np.int64)
        settle = np.array(px, np.int64)
        off = (np.abs(price - settle[inst]) > allowed[inst]) & keep
        for k in np.flatnonzero(off).tolist():
            t = trades[k]
            p_m = px[t.instrument]
            for slot in (t.buyer, t.seller):
                rejected.append(Rejection(
                    Reason.OFF_MARKET, slot, t.trade_id,
                    f"member {slot}, trade {t.trade_id!r}: price {t.price} is outside the "
                    f"band of ±{band} bp around the settlement price {p_m} of instrument "
                    f"{t.instrument}", _as_report(t, slot)))
        keep &= ~off
        n_band = int(off.sum())

    violators: set[int] = set()
    rounds = 0
    while True:
        rounds += 1
        idx = np.flatnonzero(keep)
        result = net_columnar(*(c[idx] for c in cols), n_slots=n_slots,
                              n_instruments=n_instruments)
        if equity is None:
            break
        bad = _violators(result, px, equity)
        if not bad:
            break
        violators |= bad
        bad_arr = np.fromiter(sorted(bad), np.int64, count=len(bad))
        hit = keep & (np.isin(buyer, bad_arr) | np.isin(seller, bad_arr))
        figures = {i: (int(equity[i]), _slot_trade_cash(result, px, i)) for i in bad}
        for k in np.flatnonzero(hit).tolist():
            t = trades[k]
            for slot, other in ((t.buyer, t.seller), (t.seller, t.buyer)):
                who = f"member {slot}, trade {t.trade_id!r}"
                if slot in bad:
                    e0, tc = figures[slot]
                    msg = (f"{who}: all of member {slot}'s trades are rejected: their trade "
                           f"cash {tc} would take its equity before trades {e0} to "
                           f"{e0 + tc}, below {min(e0, 0)} (a member's trade losses may not "
                           "exceed its own equity)")
                    rejected.append(Rejection(Reason.INSUFFICIENT_EQUITY, slot, t.trade_id,
                                              msg, _as_report(t, slot)))
                else:
                    msg = (f"{who}: member {other}'s trades were rejected "
                           f"({Reason.INSUFFICIENT_EQUITY.value})")
                    rejected.append(Rejection(Reason.COUNTERPARTY_REJECTED, slot, t.trade_id,
                                              msg, _as_report(t, slot)))
        keep &= ~hit
        assert rounds <= n_slots, "rule R did not converge (internal error)"
    kept = [trades[k] for k in np.flatnonzero(keep).tolist()]
    return RuleResult(MatchResult(kept, rejected), result, n_band, frozenset(violators),
                      rounds)


def _slot_trade_cash(result: NettingResult, px: Sequence[int], slot: int) -> int:
    return result.notional_cash[slot] + sum(map(operator.mul, result.delta[slot], px))


def _violators(result: NettingResult, px: Sequence[int],
               equity: Mapping[int, int]) -> set[int]:
    """Slots that trade and have ``e0 + tradeCash < min(e0, 0)`` (no CASH-range check:
    a slot far out of range is refused here rather than failing the netting)."""
    out: set[int] = set()
    for i in sorted(result.traded):
        try:
            e0 = equity[i]
        except KeyError:
            raise TradeError(f"no equity before trades given for slot {i}, which trades"
                             ) from None
        if isinstance(e0, bool) or not isinstance(e0, numbers.Integral):
            raise TradeError(f"equity of slot {i} must be an int, got {e0!r}")
        if e0 + _slot_trade_cash(result, px, i) < min(e0, 0):
            out.add(i)
    return out


def exclude_slots(match: MatchResult | Sequence[MatchedTrade], excluded: Iterable[int],
                  prices: Sequence[int], *, n_slots: int, n_instruments: int,
                  band_bp: int | None = None, equity: Mapping[int, int] | None = None,
                  reason: Reason = Reason.REPORT_WITHHELD, settled: Iterable[int] = (),
                  options: Iterable[int] = ()) -> RuleResult:
    """Drop every trade of the ``excluded`` slots, then :func:`apply_rules` and net the rest
    (``settled``, ``options``: :func:`apply_rules`' instrument rules).

    The excluded slot's side of each dropped trade is rejected with ``reason``
    (:attr:`Reason.REPORT_WITHHELD`: the member did not sign its report before the
    deadline; :attr:`Reason.SLOT_SUSPENDED`: the slot was excluded the epoch before and
    may not trade), the counterparty's side with :attr:`Reason.COUNTERPARTY_EXCLUDED`.
    What is left goes through :func:`apply_rules` again (dropping a trade can make a
    counterparty break rule R), so the result only ever loses trades: applied to
    ``apply_rules``' own result, the counterparties' reports change or vanish and no
    trade comes back. With no excluded slot this is :func:`apply_rules`.
    """
    _check_config(n_slots, n_instruments)
    out = _member_set(excluded, n_slots)
    if isinstance(match, MatchResult):
        trades, rejected = list(match.accepted), list(match.rejected)
    else:
        trades, rejected = list(match), []
    kept = []
    for t in trades:
        if t.buyer not in out and t.seller not in out:
            kept.append(t)
            continue
        for slot, other in ((t.buyer, t.seller), (t.seller, t.buyer)):
            who = f"member {slot}, trade {t.trade_id!r}"
            if slot in out:
                rejected.append(Rejection(reason, slot, t.trade_id,
                                          f"{who}: {reason.value}", _as_report(t, slot)))
            else:
                rejected.append(Rejection(
                    Reason.COUNTERPARTY_EXCLUDED, slot, t.trade_id,
                    f"{who}: counterparty {other} was excluded ({reason.value})",
                    _as_report(t, slot)))
    return apply_rules(MatchResult(kept, rejected), prices, n_slots=n_slots,
                       n_instruments=n_instruments, band_bp=band_bp, equity=equity,
                       settled=settled, options=options)


def changed_reports(old: Mapping[int, Report], new: Mapping[int, Report]
                    ) -> tuple[dict[int, Report], frozenset[int]]:
    """``new`` with ``old``'s Report (and so its salt, ciphertext and signature) kept for
    every slot whose ``delta`` and ``tradeCash`` did not change; and the slots whose
    report changed, appeared or vanished (they must sign again, or have nothing to sign)."""
    merged: dict[int, Report] = {}
    changed = set()
    for slot in set(old) | set(new):
        o, n = old.get(slot), new.get(slot)
        if n is None:
            changed.add(slot)
        elif o is not None and (o.delta, o.trade_cash) == (n.delta, n.trade_cash):
            merged[slot] = o
        else:
            merged[slot] = n
            changed.add(slot)
    return dict(sorted(merged.items())), frozenset(changed)
