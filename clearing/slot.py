"""One slot's clearing of one epoch (docs/protocol.md, "Transition, per slot i", and
"Default fund, the loss waterfall and Cover-2"): the formulas that depend on the slot's
own data only, plus its shares of the waterfall's pooled layers. The engine
(:mod:`.epoch`), the audit (:mod:`zkclear.audit.checks`) and the stress run's replay all
call :func:`clear_slot`, so the formulas live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zkclear import bounds
from zkclear.errors import ZkclearError

from .params import ParamsError, RiskParams

BP = bounds.BP


class TradeLossError(ZkclearError, ValueError):
    """A slot's trade losses exceed its equity before trades (the trade-cash rule)."""


def ceil_div(a: int, b: int) -> int:
    assert a >= 0 and b > 0
    return -(-a // b)


def scenario_losses(positions: Sequence[int], prices: Sequence[int], params: RiskParams,
                    arrays: Mapping[int, Sequence[int]] | None = None, *,
                    risk: Sequence[Sequence[int]] | None = None) -> list[int]:
    """loss_k = sum_m q[m] * r[k][m] (in bp-scaled minor units), r the risk matrix
    (:meth:`RiskParams.risk_matrix`: ``-P*S`` for futures, the risk array for options)."""
    if risk is None:
        risk = params.risk_matrix(prices, arrays)
    return [sum(q * r for q, r in zip(positions, row, strict=True)) for row in risk]


def maintenance_margin(positions: Sequence[int], prices: Sequence[int], params: RiskParams,
                       arrays: Mapping[int, Sequence[int]] | None = None) -> int:
    """MM = ceil(max(0, max_k loss_k) / 10000): the worst scenario loss."""
    return ceil_div(max(0, *scenario_losses(positions, prices, params, arrays)), BP)


def initial_margin(mm: int, params: RiskParams) -> int:
    return ceil_div(mm * params.im_factor_bp, BP)


@dataclass(frozen=True)
class SlotFigures:
    """One slot's clearing of one epoch (transition steps 3-8), from its own data only
    (and, for steps 6 and 8, its shares of the waterfall's pooled layers)."""

    variation_margin: int
    positions: tuple[int, ...]  # qa = q + delta (+ the lot for an auction winner): margined
    equity_before_trades: int  # e0 = c + vm + deposits
    equity: int  # e = cpre - (req - df): the margin equity after the default-fund call
    losses: tuple[int, ...]
    maintenance_margin: int
    initial_margin: int
    liquidated: bool
    withdrawal_granted: bool
    penalty: int
    shortfall: int  # s = max(-e, 0) if liquidated: what the waterfall covers (>= 0)
    collateral_after: int
    positions_after: tuple[int, ...]
    funding: int = 0  # the funding part of variation_margin: -sum_m q[m] * (F - Fprev)
    cash_pre: int = 0  # cpre = e0 + tradeCash, before the default-fund call
    stress: int = 0  # ST = ceil(MM * stressBp / BP)
    required: int = 0  # req: the contribution this epoch (0 for the house, non-members)
    df_held: int = 0  # df + call: the contribution after the call (< req if not met)
    call_met: bool = True  # df_held == req
    own_fund_used: int = 0  # o = min(s, df_held): the defaulter's contribution used
    gain: int = 0  # g = min(max(vm, 0), e) for a survivor: the haircut's base
    fund_share: int = 0  # u: the survivor's contribution used (waterfall layer 3)
    haircut: int = 0  # y: the survivor's VM-gain haircut (layer 4)
    df_after: int = 0
    bid: int = 0  # the auction winner's bid for the house's lot (0 for every other slot)


def clear_slot(collateral: int, positions: Sequence[int], delta: Sequence[int],
               trade_cash: int, deposit: int, withdrawal: int, prices: Sequence[int],
               prices_prev: Sequence[int], params: RiskParams, *,
               house: bool = False, house_ok: bool = True,
               funding: Sequence[int] = (), funding_prev: Sequence[int] = (),
               live: Sequence[bool] = (), risk: Sequence[Sequence[int]] | None = None,
               df: int = 0, df_scale: int = 0, member: bool = True,
               fund_share: int = 0, haircut: int = 0, lot: Sequence[int] = (),
               bid: int = 0) -> SlotFigures:
    """Steps 3-8 for one slot: the one place these formulas live (the engine and the audit
    both call it). The house is never liquidated, never withdraws, has no position
    limit and no default-fund contribution; its intake of liquidated positions and the
    waterfall are the engine's (they need every slot). ``house_ok`` is false when the
    house's collateral after the waterfall is negative: then no withdrawal is granted
    (step 6, pool rule).

    The market (docs/protocol.md, "Instruments"): ``funding``/``funding_prev`` are the
    funding indices F (() = zeros); ``live[m]`` is false once instrument m is settled (no
    trades; the position closes after this variation margin); ``risk`` is the epoch's
    risk matrix r[k][m] (None: ``-P*S``, a pool of futures).

    The default fund (docs/protocol.md, "Default fund, the loss waterfall and Cover-2"):
    ``df`` is the slot's contribution before the epoch, ``df_scale`` the contract's
    dfScale, ``member`` whether the slot is a member after this epoch's registrations;
    ``fund_share`` (u) and ``haircut`` (y) are the slot's shares of waterfall layers 3
    and 4 (:mod:`.waterfall`; 0 on a first pass, which decides liquidations).

    The auction (docs/protocol.md, "The auction of the house's lot"): the winner of the
    epoch's award gets the house's ``lot`` on top of its own positions (after their
    limit check) and pays ``bid`` after the trade-cash rule, or is paid ``-bid`` only once
    it passes the margin test without it; liquidated in the same epoch, it unwinds the
    bid (penalty, shortfall and collateral on its equity without the bid).

    Raises :class:`BoundError` (a position or the equity outside its bounds),
    :class:`ParamsError` (over a position limit) or :class:`TradeLossError` (trade losses
    beyond the equity before trades): values no epoch proof can accept.
    """
    m_count = len(positions)
    fund = tuple(funding) or (0,) * m_count
    fund_prev = tuple(funding_prev) or (0,) * m_count
    alive = tuple(live) or (True,) * m_count
    paid = -sum(q * (f - fp) for q, f, fp in zip(positions, fund, fund_prev, strict=True))
    vm = sum(q * (p - pp) for q, p, pp in zip(positions, prices, prices_prev, strict=True)) + paid
    for m, d in enumerate(delta):
        if d and not alive[m]:
            raise ParamsError(f"instrument {m} has expired: no trades in it")
    qn = tuple(q + d if a else 0 for q, d, a in zip(positions, delta, alive, strict=True))
    for m, q in enumerate(qn):
        # Limits bind increases only: a lowered limit lets a member trade down.
        limit = max(params.position_limits[m], abs(positions[m]))
        if not house and abs(q) > limit:
            raise ParamsError(f"position {q} in instrument {m} exceeds the limit "
                              f"{params.position_limits[m]} (and the position held before, "
                              f"{positions[m]})")
    # A settled instrument's part of the lot is 0, like any position in it.
    qa = tuple(q + (x if a else 0)
               for q, x, a in zip(qn, tuple(lot) or (0,) * m_count, alive, strict=True))
    for m, q in enumerate(qa):
        bounds.DELTA.check(q, f"position[{m}]")
    e0 = collateral + vm + deposit
    cpre = e0 + trade_cash
    bounds.CASH.check(cpre, "collateral (equity cpre)")
    if cpre < min(e0, 0):
        raise TradeLossError(f"trade cash {trade_cash} exceeds the equity before trades {e0}: "
                             "trades may not create a shortfall (cpre >= min(e0, 0))")
    losses = tuple(scenario_losses(qa, prices, params, risk=risk))
    mm = ceil_div(max(0, *losses), BP)
    im = initial_margin(mm, params)
    stress = ceil_div(mm * params.stress_bp, BP)
    # The default-fund call: a member with a margin requirement holds
    # req = max(dfFloor, ceil(ST * scale / BP)); the excess returns to collateral, a
    # deficit is called from the equity above MM only (the call never liquidates: an
    # unmet call refuses withdrawals until it is met).
    req = 0
    if member and not house and mm > 0:
        scale = max(params.df_share_bp, df_scale)
        req = max(params.df_floor, ceil_div(stress * scale, BP))
    short = req - df
    # The auction's winner pays a positive bid after the trade-cash rule; a negative bid
    # (the house pays it) is credited only after the award epoch's margin test, so the
    # winner margins the lot from its own equity.
    pay, recv = max(bid, 0), max(-bid, 0)
    cash = cpre - pay
    call = min(short, max(0, cash - mm))  # short <= 0: a return (the min is short)
    e = cash - call
    held = df + call
    liq = not house and e < mm
    el = e + pay if liq else e  # a winner liquidated in the award epoch unwinds its bid
    pen = min(ceil_div(mm * params.penalty_bp, BP), max(el, 0)) if liq else 0
    shortfall = max(-el, 0) if liq else 0
    own = min(shortfall, held)
    gain = 0 if (liq or house or not member) else min(max(vm, 0), e)
    if liq:
        fund_share, haircut = 0, 0
    elif fund_share > held or haircut > gain:
        raise ParamsError(f"waterfall shares ({fund_share}, {haircut}) exceed the slot's "
                          f"contribution {held} or gain {gain}")
    granted = (not house and house_ok and withdrawal > 0 and held == req
               and e - haircut - withdrawal >= im)
    if liq:
        c_new, q_new, df_new = max(el, 0) - pen, (0,) * len(qa), held - own
    else:
        c_new, q_new = e + recv - haircut - (withdrawal if granted else 0), qa
        df_new = held - fund_share
    return SlotFigures(vm, qa, e0, e, losses, mm, im, liq, granted, pen, shortfall, c_new,
                       q_new, paid, cpre, stress, req, held, held == req, own, gain,
                       fund_share, haircut, df_new, bid)
