"""The stress run: price paths through the engine's margin, default-fund and waterfall
rules, every path at once.

For each epoch ``e`` of every path (docs/protocol.md, "The epoch", steps 3-8, and
"Default fund, the loss waterfall and Cover-2"; no trades, deposits or withdrawals:
members keep their positions, every member stays a member)::

    vm_i   = sum_m q_i[m] * (P_e[m] - P_{e-1}[m])             (every account, house too)
    cpre_i = c_i + vm_i
    MM_i, IM_i = clearing.margin.portfolio_margins(q_i at P_e)  (exact)
    ST_i   = ceil(MM_i * stressBp / 10000)
    req_i  = MM_i > 0 ? max(dfFloor, ceil(ST_i * max(dfShareBp, dfScale) / 10000)) : 0
    k_i    = req_i - df_i <= 0 ? req_i - df_i : min(req_i - df_i, max(0, cpre_i - MM_i))
    e_i    = cpre_i - k_i;  h_i = df_i + k_i          (the call k; met iff h_i = req_i)
    liq_i  = e_i < MM_i;  pen_i = liq_i ? min(ceil(MM_i * penaltyBp / 10000), max(e_i, 0)) : 0
    s_i    = liq_i ? max(-e_i, 0) : 0;  o_i = min(s_i, h_i)
    g_i    = survivor ? min(max(vm_i, 0), e_i) : 0

(a member without positions holds no contribution: its df returns to collateral; a
deficit is called from the equity above MM only, so the call never liquidates: a member
is liquidated iff ``cpre < MM`` when called, and an unmet call stays unmet, refusing
withdrawals, until the equity covers it), then the pool's waterfall
(:func:`zkclear.clearing.waterfall.layers`): ``H = cpre_0 + sum pen``, ``R1 = sum s -
sum o``, the house's skin ``min(R1, skinCap, max(H, 0))``, the survivors' contributions
``min(R2, F)`` (``F = sum h`` of the survivors), the haircut ``min(R3, G)`` (``G = sum
g``), each survivor's ``u_i = ceil(fUse * h_i / F)`` and ``y_i = ceil(hcUse * g_i /
G)``, the rest on the house; the new values (liquidated: ``c' = max(e, 0) - pen``, ``df'
= h - o``, positions to the house; survivor: ``c' = e - y``, ``df' = h - u``; house
``c'_0 = H - R1 + sum u + sum y``) and Cover-2 (:func:`zkclear.clearing.waterfall.cover2`:
the two largest ``max(0, ST - c' - df')`` of the survivors against the survivors' ``sum
df' + min(skinCap, max(c'_0, 0))``; its ``dfScale`` is the next epoch's). An *early
margin call* is an epoch in which a survivor ends below its initial margin, ``c' < IM``;
an *unmet fund call* one in which a survivor holds less than its ``req`` (``h < req``).

Exactness. Margins come from :func:`zkclear.clearing.margin.portfolio_margins`, the
engine's exact vectorised margin, called once per member and epoch with every path that
still holds the member's positions as a row: the loss ``-sum_m q[m] * P[m] * S[k][m]``
is symmetric in positions and prices, so the call gets the rows ``sign(q[m]) * P_p[m]``
as "positions" (``|P| < 2^48``, inside ``bounds.DELTA``) and ``|q[m]|`` as "prices"
(``1 <= |q| < 2^48``; 1 where ``q[m] = 0``, whose column is then 0): the same products,
the same sums, so the same margins bit for bit. Cash is int64 when the bound of
:func:`fits_int64` holds: with ``V = sum_m (sum_i |q_i[m]|) * max |dP[m]|`` (the most
variation margin one epoch can move), ``B = sum_i (|c_i| + df_i) + 2 * E * V`` bounds
every account's ``|c| + df`` (variation margin adds at most ``2V`` a epoch; the call
moves money between ``c`` and ``df``; the waterfall only moves it, and every member ends
an epoch with ``c', df' >= 0``); ``ST_max`` (from ``|q| * max P * max |S|``) and
``req_max`` (at the largest dfScale) bound the call, and ``B + N * (req_max + ST_max) <
2^62``, ``ST_max < 2^46`` keep every sum, ``e`` and product in int64. The pro-rata shares
``ceil(use * part / whole)`` are computed in Python ints on the paths where a layer is
used. Otherwise every cash array holds Python ints (numpy object arrays): exact, slower.
:func:`replay_path` replays one path slot by slot through the engine's
:func:`~zkclear.clearing.epoch.clear_slot` and its pool-wide step
(:func:`~zkclear.clearing.waterfall.pool_waterfall`,
:func:`~zkclear.clearing.waterfall.pool_cover2`), as
:func:`~zkclear.clearing.epoch.run_epoch` does; the tests check the two agree.

Why one long module: the vectorised epoch and its slot-by-slot replay through the engine
are the two halves of one check (they must agree bit for bit), and they read best side by
side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zkclear import bounds
from zkclear.clearing.epoch import (
    SlotFigures,
    ceil_div,
    clear_slot,
    pool_cover2,
    pool_waterfall,
)
from zkclear.clearing.margin import portfolio_margins

from .inputs import StressError, StressInputError, StressPool

BP = bounds.BP
#: Cash bound of the int64 representation (see the module docstring).
CAP = 1 << 62
#: Bound of the stress loss ST in the int64 representation (ST * dfScale < 2^63).
ST_CAP = 1 << 46
#: The largest dfScale (bp) Cover-2 can set.
SCALE_MAX = (1 << bounds.SCALE_BITS) - 1
#: Quantiles (percent) of the fan charts.
FAN_QUANTILES = (5.0, 25.0, 50.0, 75.0, 95.0)
#: The waterfall's layers as the report names them (docs/protocol.md): the defaulters'
#: own contributions (O), the house's skin in the game (hUse), the survivors'
#: contributions (fUse), the haircut of their VM gains (hcUse), and what is left on the
#: house (R1 - hUse - fUse - hcUse).
LAYERS = ("own", "skin", "fund", "haircut", "uncovered")

Arr = npt.NDArray[Any]  # int64, or object (Python ints)
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass
class StressResult:
    """Everything the report needs, per path (``P``), member (``N``, member ``i`` is column
    ``i - 1``), epoch (``E``). Epoch numbers are 1-based; 0 means never."""

    pool: StressPool
    paths: I64  # P x E x M, the prices run
    exact_int64: bool  # cash held as int64 (else Python ints)
    liquidation_epoch: npt.NDArray[np.int32]  # P x N: the first liquidation
    first_call_epoch: npt.NDArray[np.int32]  # P x N: the first early margin call
    calls: npt.NDArray[np.int32]  # P x N: epochs with an early margin call
    unmet_calls: npt.NDArray[np.int32]  # P x N: epochs a survivor ends with an unmet fund call
    penalty: Arr  # P x N, what each member paid
    shortfall: Arr  # P x N, its shortfalls s (before its own contribution)
    own_used: Arr  # P x N, its own contribution used (o)
    fund_share: Arr  # P x N, its contribution used for others' defaults (u)
    haircut: Arr  # P x N, its VM gains haircut (y)
    collateral: Arr  # P x (N + 1): final collateral, column 0 the house
    df: Arr  # P x N: final contributions
    house_positions: I64  # P x M, final
    house: Arr  # P x (E + 1): the house's collateral after each epoch (0: before the run)
    house_pre: Arr  # P x E: the house's equity after its variation margin, before defaults
    inherited_vm: Arr  # P x E: the house's variation margin on positions it took over
    layers: dict[str, Arr]  # LAYERS -> P x E: each layer's use in each epoch
    fund_base: Arr  # P x E: F, the survivors' contributions before layer 3
    fund: Arr  # P x (E + 1): sum of the members' df after each epoch (0: before)
    exhausted: Bools  # P x E: a residual reached layer 3 and used all of it (R2 >= F)
    cover2_met: Bools  # P x E
    cover2_requirement: Arr  # P x E: C2, the two largest uncovered stress losses
    df_scale: npt.NDArray[np.int32]  # P x (E + 1): dfScale before each epoch, then after
    fan_equity: npt.NDArray[np.float64]  # E x Q x N: quantiles of each member's e
    fan_mm: npt.NDArray[np.float64]  # E x Q x N: quantiles of each member's MM
    fan_pool_equity: npt.NDArray[np.float64]  # E x Q: of the members' summed e
    fan_pool_mm: npt.NDArray[np.float64]  # E x Q: of the members' summed MM

    @property
    def n_paths(self) -> int:
        return int(self.paths.shape[0])

    @property
    def n_epochs(self) -> int:
        return int(self.paths.shape[1])


def _check_paths(pool: StressPool, paths: Any) -> I64:
    arr = np.asarray(paths)
    m = pool.n_instruments
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise StressInputError(f"price paths must be paths x epochs x instruments, got shape "
                               f"{arr.shape}")
    if arr.shape[2] != m:
        raise StressInputError(f"price paths have {arr.shape[2]} instruments, the pool has {m}")
    if arr.dtype.kind not in "iu":
        raise StressInputError(f"prices are integer ticks, got dtype {arr.dtype}")
    if arr.min() < 1 or arr.max() > (1 << bounds.PRICE_BITS) - 1:
        bad = np.argwhere((arr < 1) | (arr > (1 << bounds.PRICE_BITS) - 1))[0]
        raise StressInputError(f"path {bad[0]}, epoch {bad[1] + 1}, {pool.instruments[bad[2]]}: "
                               f"price {int(arr[tuple(bad)])} outside [1, 2^48 - 1]")
    return arr.astype(np.int64, copy=False)


def fits_int64(pool: StressPool, paths: I64) -> bool:
    """The int64 bound of the module docstring."""
    params = pool.params
    p0 = np.array(pool.prices, dtype=np.int64)
    full = np.concatenate([np.broadcast_to(p0, (paths.shape[0], 1, len(p0))), paths], axis=1)
    max_move = np.abs(np.diff(full, axis=1)).max(axis=(0, 1)).tolist()
    max_price = full.max(axis=(0, 1)).tolist()
    gross = [sum(abs(row[m]) for row in pool.positions) for m in range(pool.n_instruments)]
    v = sum(g * d for g, d in zip(gross, max_move, strict=True))
    cash = (sum(abs(c) for c in pool.collateral) + sum(pool.df)
            + 2 * paths.shape[1] * v)
    shock = [max(abs(row[m]) for row in params.shocks) for m in range(pool.n_instruments)]
    mm = max(ceil_div(sum(abs(q) * p * s for q, p, s in zip(row, max_price, shock, strict=True)),
                   BP) for row in pool.positions[1:])
    st = ceil_div(mm * params.stress_bp, BP)
    req = max(params.df_floor, ceil_div(st * SCALE_MAX, BP))
    return st < ST_CAP and cash + pool.n_members * (req + st) < CAP


class _Margins:
    """Each member's margins on every path still holding its positions (module docstring:
    the engine's portfolio_margins with positions and prices swapped)."""

    def __init__(self, pool: StressPool, exact_int64: bool) -> None:
        q = pool.positions_array()[1:]
        self.params = pool.params
        self.signs = np.sign(q)
        self.abs_q = [[abs(int(x)) or 1 for x in row] for row in q]
        self.active = [bool(row.any()) for row in q]
        self.dtype: Any = np.int64 if exact_int64 else object

    def at(self, prices: I64, held: Bools) -> tuple[Arr, Arr]:
        """MM and IM, ``paths x members``, zero where a member holds no positions."""
        mm, im = (np.zeros(held.shape, dtype=self.dtype) for _ in range(2))
        for i, active in enumerate(self.active):
            if not active:
                continue
            rows = np.flatnonzero(held[:, i])
            if rows.size == 0:
                continue
            got = portfolio_margins(prices[rows] * self.signs[i], self.abs_q[i], self.params)
            # int64: below 2^46 by fits_int64's bound
            mm[rows, i] = np.array(got.maintenance, dtype=self.dtype)
            im[rows, i] = np.array(got.initial, dtype=self.dtype)
        return mm, im


def _cdiv(a: Arr, b: Any) -> Arr:
    """``ceil(a / b)`` elementwise, ``a >= 0``."""
    return -((-a) // b)


def _pro_rata(use: Arr, part: Arr, whole: Arr) -> Arr:
    """``ceil(use * part / whole)`` per path (``use``, ``whole``: P; ``part``: P x N), 0
    where ``use`` is 0 (so ``whole`` is 0 only there): the rows with a use are few, their
    products are taken in Python ints."""
    out = np.zeros_like(part)
    rows = np.flatnonzero(use > 0)
    if rows.size:
        u = use[rows].astype(object)[:, None]
        w = whole[rows].astype(object)[:, None]
        out[rows] = (-((-(u * part[rows].astype(object))) // w)).astype(part.dtype)
    return out


def _top2(x: Arr) -> Arr:
    """Per row, the sum of the two largest entries (the only entry with one column)."""
    if x.shape[1] <= 2:
        return x.sum(axis=1)
    if x.dtype == object:
        return np.sort(x, axis=1)[:, -2:].sum(axis=1)
    return np.partition(x, x.shape[1] - 2, axis=1)[:, -2:].sum(axis=1)


def _quantiles(x: Arr) -> npt.NDArray[np.float64]:
    return np.percentile(x.astype(np.float64), FAN_QUANTILES, axis=0)


def run(pool: StressPool, paths: Any, *, progress: Callable[[int, int], None] | None = None,
        force_objects: bool = False) -> StressResult:
    """Run every path (``paths x epochs x M`` integer prices; epoch 0 is the pool's marks)
    through the engine's rules (module docstring). ``progress(done, total)`` is called
    after each epoch; ``force_objects`` holds cash as Python ints even when int64 would
    do (the tests compare both)."""
    px = _check_paths(pool, paths)
    n_paths, n_epochs, m = px.shape
    n = pool.n_members
    params = pool.params
    exact_int64 = not force_objects and fits_int64(pool, px)
    dtype: Any = np.int64 if exact_int64 else object
    # int64: the unlimited skinCap (2^112 - 1) as CAP changes no min with a cash < 2^62
    skin_cap = min(params.skin_cap, CAP) if exact_int64 else params.skin_cap
    q_all = pool.positions_array()
    q_members = q_all[1:]
    q_cash = q_members.astype(dtype)
    q0 = q_all[0]
    margins = _Margins(pool, exact_int64)

    def cash(shape: tuple[int, ...]) -> Arr:
        return np.zeros(shape, dtype=dtype)

    coll = cash((n_paths, n + 1))
    coll[:] = np.array(pool.collateral, dtype=object)
    df = cash((n_paths, n))
    df[:] = np.array(pool.df[1:], dtype=object)
    scale = np.full(n_paths, pool.df_scale, dtype=np.int64)
    held = np.ones((n_paths, n), dtype=bool)
    house_q = np.broadcast_to(q0, (n_paths, m)).copy()
    liq_epoch = np.zeros((n_paths, n), dtype=np.int32)
    first_call = np.zeros((n_paths, n), dtype=np.int32)
    calls = np.zeros((n_paths, n), dtype=np.int32)
    unmet = np.zeros((n_paths, n), dtype=np.int32)
    paid_pen, paid_short, own_used, fund_share, haircut = (cash((n_paths, n))
                                                           for _ in range(5))
    house, fund = cash((n_paths, n_epochs + 1)), cash((n_paths, n_epochs + 1))
    house[:, 0] = coll[:, 0]
    fund[:, 0] = df.sum(axis=1)
    house_pre, inherited_vm, fund_base, c2_req = (cash((n_paths, n_epochs)) for _ in range(4))
    layers = {name: cash((n_paths, n_epochs)) for name in LAYERS}
    exhausted = np.zeros((n_paths, n_epochs), dtype=bool)
    c2_met = np.zeros((n_paths, n_epochs), dtype=bool)
    scales = np.zeros((n_paths, n_epochs + 1), dtype=np.int32)
    scales[:, 0] = scale
    nq = len(FAN_QUANTILES)
    fan_eq, fan_mm = np.zeros((n_epochs, nq, n)), np.zeros((n_epochs, nq, n))
    fan_pool_eq, fan_pool_mm = np.zeros((n_epochs, nq)), np.zeros((n_epochs, nq))
    prev = np.broadcast_to(np.array(pool.prices, dtype=np.int64), (n_paths, m))
    zero = cash((n_paths, n))

    for e in range(1, n_epochs + 1):
        now = px[:, e - 1, :]
        move = (now - prev).astype(dtype)  # |dP| < 2^48
        vm = np.where(held, move @ q_cash.T, zero)
        inherited = (house_q - q0).astype(dtype)
        inherited_vm[:, e - 1] = (inherited * move).sum(axis=1)
        cpre = coll[:, 1:] + vm
        cpre0 = coll[:, 0] + (house_q.astype(dtype) * move).sum(axis=1)
        house_pre[:, e - 1] = cpre0

        # Each member's own figures (clear_slot): the call, liquidation, penalty, shortfall.
        mm, im = margins.at(now, held)
        st = _cdiv(mm * params.stress_bp, BP)
        s_bp = np.maximum(scale, params.df_share_bp).astype(dtype)[:, None]
        req = np.where(mm > 0, np.maximum(_cdiv(st * s_bp, BP), params.df_floor), zero)
        deficit = req - df
        k = np.where(deficit <= 0, deficit,
                     np.minimum(deficit, np.maximum(cpre - mm, zero)))  # never liquidates
        eq = cpre - k
        df_held = df + k
        liq = eq < mm
        surv = ~liq
        pen = np.where(liq, np.minimum(_cdiv(mm * params.penalty_bp, BP),
                                       np.maximum(eq, zero)), zero)
        short = np.where(liq, np.maximum(-eq, zero), zero)
        own = np.minimum(short, df_held)
        gain = np.where(surv, np.minimum(np.maximum(vm, zero), eq), zero)
        held_s = np.where(surv, df_held, zero)

        # The pool's waterfall (waterfall.layers and Layers.shares).
        h = cpre0 + pen.sum(axis=1)
        r1 = short.sum(axis=1) - own.sum(axis=1)
        h_use = np.minimum(np.minimum(r1, skin_cap), np.maximum(h, 0))
        r2 = r1 - h_use
        f_base = held_s.sum(axis=1)
        f_use = np.minimum(r2, f_base)
        r3 = r2 - f_use
        g_use = np.minimum(r3, gain.sum(axis=1))
        u = _pro_rata(f_use, held_s, f_base)
        y = _pro_rata(g_use, gain, gain.sum(axis=1))
        house_c = h - r1 + u.sum(axis=1) + y.sum(axis=1)

        c_new = np.where(liq, np.maximum(eq, zero) - pen, eq - y)
        df = np.where(liq, df_held - own, df_held - u)
        coll[:, 1:] = c_new
        coll[:, 0] = house_c
        house[:, e] = house_c
        fund[:, e] = df.sum(axis=1)

        # Cover-2 on the new values (waterfall.cover2): the next epoch's dfScale.
        unc = np.where(surv, np.maximum(st - c_new - df, zero), zero)
        c2 = _top2(unc)
        skin = np.minimum(np.maximum(house_c, 0), skin_cap)
        d = np.where(surv, st, zero).sum(axis=1)
        need = np.maximum(c2 - skin, 0)
        nxt = np.where(d > 0, np.minimum(_cdiv(need * BP, np.where(d > 0, d, 1)), SCALE_MAX),
                       0)
        scale = nxt.astype(np.int64)
        scales[:, e] = scale
        c2_met[:, e - 1] = np.where(surv, df, zero).sum(axis=1) + skin >= c2
        c2_req[:, e - 1] = c2

        for name, v in zip(LAYERS, (own.sum(axis=1), h_use, f_use, g_use, r3 - g_use),
                           strict=True):
            layers[name][:, e - 1] = v
        fund_base[:, e - 1] = f_base
        exhausted[:, e - 1] = (r2 > 0) & (f_use == f_base)

        call = surv & (c_new < im)
        unmet += surv & (df_held < req)
        house_q += (liq & held).astype(np.int64) @ q_members  # |.| < 2^48: checked at load
        held &= surv
        liq_epoch[liq & (liq_epoch == 0)] = e
        first_call[call & (first_call == 0)] = e
        calls += call
        paid_pen += pen
        paid_short += short
        own_used += own
        fund_share += u
        haircut += y
        fan_eq[e - 1], fan_mm[e - 1] = _quantiles(eq), _quantiles(mm)
        fan_pool_eq[e - 1] = np.percentile(eq.astype(np.float64).sum(axis=1), FAN_QUANTILES)
        fan_pool_mm[e - 1] = np.percentile(mm.astype(np.float64).sum(axis=1), FAN_QUANTILES)
        prev = now
        if progress is not None:
            progress(e, n_epochs)

    return StressResult(pool, px, exact_int64, liq_epoch, first_call, calls, unmet, paid_pen,
                        paid_short, own_used, fund_share, haircut, coll, df, house_q, house,
                        house_pre, inherited_vm, layers, fund_base, fund, exhausted, c2_met,
                        c2_req, scales, fan_eq, fan_mm, fan_pool_eq, fan_pool_mm)


# --- the reference: one path, slot by slot, through the engine ----------------------------


@dataclass(frozen=True)
class Replay:
    """One path cleared by the engine's per-slot function and pool-wide step (members
    1..N); per-epoch figures are tuples over the epochs."""

    liquidation_epoch: tuple[int, ...]  # per member, 0 = never
    calls: tuple[int, ...]  # per member: epochs ending with c' < IM, not liquidated
    unmet_calls: tuple[int, ...]  # per member: epochs a survivor's fund call is unmet
    collateral: tuple[int, ...]  # final, index 0 the house
    df: tuple[int, ...]  # final, per member
    own_used: tuple[int, ...]  # per member, summed over the epochs: o, u, y
    fund_share: tuple[int, ...]
    haircut: tuple[int, ...]
    house_positions: tuple[int, ...]
    house: tuple[int, ...]  # the house's collateral after each epoch (0: before)
    layers: tuple[tuple[int, ...], ...]  # per epoch: O, hUse, fUse, hcUse, uncovered
    fund_base: tuple[int, ...]  # per epoch: F
    cover2_met: tuple[bool, ...]
    cover2_requirement: tuple[int, ...]
    df_scale: tuple[int, ...]  # before the run, then after each epoch


def replay_path(pool: StressPool, path: Sequence[Sequence[int]]) -> Replay:
    """Clear one path (``epochs x M``) epoch by epoch as
    :func:`zkclear.clearing.epoch.run_epoch` does: a first pass of
    :func:`~zkclear.clearing.epoch.clear_slot` for every slot decides liquidations,
    :func:`~zkclear.clearing.waterfall.pool_waterfall` the layers and each survivor's shares,
    a second pass the new values, the house takes the liquidated positions,
    :func:`~zkclear.clearing.waterfall.pool_cover2` the next dfScale. Slow, plain Python: the
    reference the vectorised :func:`run` must equal."""
    n, m = pool.n_members, pool.n_instruments
    coll, df = list(pool.collateral), list(pool.df)
    pos = [tuple(row) for row in pool.positions]
    prev = tuple(pool.prices)
    members = [False] + [True] * n
    liq_epoch, calls, unmet = [0] * n, [0] * n, [0] * n
    own, share, cut = [0] * n, [0] * n, [0] * n
    house, layers, f_base, met, c2_req = [coll[0]], [], [], [], []
    scale = [pool.df_scale]
    zero = (0,) * m

    for e, row in enumerate(path, start=1):
        prices = tuple(int(p) for p in row)

        def clear(shares: Sequence[tuple[int, int]], house_ok: bool,
                  prices: tuple[int, ...] = prices, prev: tuple[int, ...] = prev,
                  scale: int = scale[-1]) -> list[SlotFigures]:
            return [clear_slot(coll[i], pos[i], zero, 0, 0, 0, prices, prev, pool.params,
                               house=i == 0, house_ok=house_ok, df=df[i], df_scale=scale,
                               member=members[i], fund_share=shares[i][0],
                               haircut=shares[i][1]) for i in range(n + 1)]

        step = pool_waterfall(clear([(0, 0)] * (n + 1), True), members, pool.params)
        figs = clear(step.shares, step.house >= 0)
        house_q = list(figs[0].positions)
        for i in range(1, n + 1):
            f = figs[i]
            if f.liquidated:
                house_q = [h + q for h, q in zip(house_q, f.positions, strict=True)]
                liq_epoch[i - 1] = liq_epoch[i - 1] or e
            else:
                calls[i - 1] += f.collateral_after < f.initial_margin
                unmet[i - 1] += not f.call_met
            own[i - 1] += f.own_fund_used
            share[i - 1] += f.fund_share
            cut[i - 1] += f.haircut
            coll[i], pos[i], df[i] = f.collateral_after, f.positions_after, f.df_after
        c2 = pool_cover2(figs, step.survivors, step.house, pool.params)
        coll[0], pos[0] = step.house, tuple(house_q)
        wf = step.layers
        house.append(step.house)
        layers.append((wf.own, wf.house, wf.fund, wf.haircut, wf.uncovered))
        f_base.append(wf.fund_base)
        met.append(c2.met)
        c2_req.append(c2.requirement)
        scale.append(c2.scale_next)
        prev = prices
    return Replay(tuple(liq_epoch), tuple(calls), tuple(unmet), tuple(coll), tuple(df[1:]),
                  tuple(own), tuple(share), tuple(cut), pos[0], tuple(house), tuple(layers),
                  tuple(f_base), tuple(met), tuple(c2_req), tuple(scale))


def _ints(a: Arr) -> tuple[int, ...]:
    return tuple(int(x) for x in a)


def run_replay(result: StressResult, p: int) -> Replay:
    """Path ``p`` of a run in :class:`Replay`'s form."""
    r = result
    return Replay(_ints(r.liquidation_epoch[p]), _ints(r.calls[p]), _ints(r.unmet_calls[p]),
                  _ints(r.collateral[p]), _ints(r.df[p]), _ints(r.own_used[p]),
                  _ints(r.fund_share[p]), _ints(r.haircut[p]), _ints(r.house_positions[p]),
                  _ints(r.house[p]),
                  tuple(zip(*(_ints(r.layers[name][p]) for name in LAYERS), strict=True)),
                  _ints(r.fund_base[p]), tuple(bool(x) for x in r.cover2_met[p]),
                  _ints(r.cover2_requirement[p]), _ints(r.df_scale[p]))


def check_replay(result: StressResult, k: int) -> int:
    """Replay the first ``k`` paths of a run with :func:`replay_path` and check that every
    figure of :class:`Replay` agrees (liquidation epochs, margin calls, unmet fund calls,
    final balances and contributions, each member's o, u, y, house positions and
    collateral, each epoch's layers, Cover-2 and dfScale); a :class:`StressError` names
    the first difference.
    Returns ``k``."""
    for p in range(k):
        ref = replay_path(result.pool, result.paths[p].tolist())
        got = run_replay(result, p)
        for name in Replay.__dataclass_fields__:
            if getattr(got, name) != getattr(ref, name):
                raise StressError(f"path {p}: the run's {name} differs from the engine's "
                                  "replay (a bug: please report it with the inputs)")
    return k
