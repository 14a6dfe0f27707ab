"""The stress run: price paths through the engine's margin and liquidation rules, every
path at once.

For each epoch ``e`` of every path (docs/protocol.md, "The epoch", steps 3-8, with no
trades, deposits or withdrawals: members keep their positions)::

    vm_i   = sum_m q_i[m] * (P_e[m] - P_{e-1}[m])             (every account, house too)
    cpre_i = c_i + vm_i
    MM_i, IM_i = clearing.margin.portfolio_margins(q_i at P_e)  (exact)
    liq_i  = i >= 1 and cpre_i < MM_i
    pen_i  = liq_i ? min(ceil(MM_i * penaltyBp / 10000), max(cpre_i, 0)) : 0
    member: liq_i ? (c' = max(cpre_i, 0) - pen_i, q' = 0) : c' = cpre_i
    house:  q'_0 = q_0 + sum_liq q_i;  c'_0 = cpre_0 + waterfall(penalties, shortfalls)

The waterfall is one function (:data:`Waterfall`): :func:`house_absorbs` is the engine's
rule today (penalties to the house, shortfalls absorbed by it, which may go negative); a
default fund plugs in as another function of the same shape. An *early margin call* is
an epoch in which a member not liquidated has ``cpre < IM``.

Exactness. Margins come from :func:`zkclear.clearing.margin.portfolio_margins`, the
engine's exact vectorised margin, called once per member and epoch with every path that
still holds the member's positions as a row: the loss ``-sum_m q[m] * P[m] * S[k][m]``
is symmetric in positions and prices, so the call gets the rows ``sign(q[m]) * P_p[m]``
as "positions" (``|P| < 2^48``, inside ``bounds.DELTA``) and ``|q[m]|`` as "prices"
(``1 <= |q| < 2^48``; 1 where ``q[m] = 0``, whose column is then 0): the same products,
the same sums, so the same margins bit for bit. Cash is int64 when the run's bound
``sum_i |c_i| + 2 * E * V < 2^62`` holds, with ``V = sum_m (sum_i |q_i[m]|) * max |dP[m]|``
the most variation margin one epoch can move (every account's |collateral| stays below
it: variation margin adds at most ``2V`` to the sum of |collateral| per epoch, penalties
and shortfalls only move it); then margins above ``2^62`` are capped at ``2^62``, which
changes no comparison or ``min`` with an equity below ``2^62``. Otherwise every cash
array holds Python ints (numpy object arrays): exact, slower. :func:`replay_path`
replays one path slot by slot through the engine's :func:`~zkclear.clearing.epoch.clear_slot`;
the tests check the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from zkclear import bounds
from zkclear.clearing.epoch import ceil_div, clear_slot
from zkclear.clearing.margin import portfolio_margins

from .inputs import StressError, StressInputError, StressPool

BP = bounds.BP
#: Cash bound of the int64 representation (see the module docstring).
CAP = 1 << 62
#: Quantiles (percent) of the fan charts.
FAN_QUANTILES = (5.0, 25.0, 50.0, 75.0, 95.0)

Arr = npt.NDArray[Any]  # int64, or object (Python ints)
I64 = npt.NDArray[np.int64]


@dataclass
class Resources:
    """What stands behind the members on every path: today the house's collateral
    (slot 0, the insurance fund). ``used[layer]`` is what each layer has paid towards
    shortfalls on each path so far (the report's waterfall usage)."""

    house: Arr
    used: dict[str, Arr] = field(default_factory=dict)


@dataclass(frozen=True)
class Defaults:
    """One epoch's liquidations on every path (``paths x members``; zero where a member is
    not liquidated)."""

    epoch: int
    liquidated: npt.NDArray[np.bool_]
    penalty: Arr
    shortfall: Arr


#: Applies one epoch's defaults to the pool's resources, in place.
Waterfall = Callable[[Resources, Defaults], None]


def house_absorbs(res: Resources, d: Defaults) -> None:
    """The engine's rule (docs/protocol.md step 8): each liquidated member's penalty goes
    to the house, the house absorbs each shortfall and may go negative."""
    short = d.shortfall.sum(axis=1)
    res.house += d.penalty.sum(axis=1) - short
    res.used["house"] = res.used.get("house", 0) + short


@dataclass
class StressResult:
    """Everything the report needs, per path (``P``), member (``N``, member ``i`` is column
    ``i - 1``), epoch (``E``). Epoch numbers are 1-based; 0 means never."""

    pool: StressPool
    paths: I64  # P x E x M, the prices run
    exact_int64: bool  # cash held as int64 (else Python ints)
    liquidation_epoch: npt.NDArray[np.int32]  # P x N
    first_call_epoch: npt.NDArray[np.int32]  # P x N: the first early margin call
    calls: npt.NDArray[np.int32]  # P x N: epochs with an early margin call
    penalty: Arr  # P x N, what each member paid
    shortfall: Arr  # P x N, what the house absorbed from each member
    collateral: Arr  # P x (N + 1): final collateral, column 0 the house
    house_positions: I64  # P x M, final
    house: Arr  # P x (E + 1): the house's collateral after each epoch (0: before the run)
    house_pre: Arr  # P x E: the house's equity after its variation margin, before defaults
    inherited_vm: Arr  # P x E: the house's variation margin on positions it took over
    fan_equity: npt.NDArray[np.float64]  # E x Q x N: quantiles of each member's cpre
    fan_mm: npt.NDArray[np.float64]  # E x Q x N: quantiles of each member's MM
    fan_pool_equity: npt.NDArray[np.float64]  # E x Q: of the members' summed cpre
    fan_pool_mm: npt.NDArray[np.float64]  # E x Q: of the members' summed MM
    resources: Resources

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
    p0 = np.array(pool.prices, dtype=np.int64)
    full = np.concatenate([np.broadcast_to(p0, (paths.shape[0], 1, len(p0))), paths], axis=1)
    max_move = np.abs(np.diff(full, axis=1)).max(axis=(0, 1)).tolist()
    gross = [sum(abs(row[m]) for row in pool.positions) for m in range(pool.n_instruments)]
    v = sum(g * d for g, d in zip(gross, max_move, strict=True))
    return sum(abs(c) for c in pool.collateral) + 2 * paths.shape[1] * v < CAP


class _Margins:
    """Each member's margins on every path still holding its positions (module docstring:
    the engine's portfolio_margins with positions and prices swapped)."""

    def __init__(self, pool: StressPool, exact_int64: bool) -> None:
        q = pool.positions_array()[1:]
        self.params = pool.params
        self.signs = np.sign(q)
        self.abs_q = [[abs(int(x)) or 1 for x in row] for row in q]
        self.active = [bool(row.any()) for row in q]
        self.int64 = exact_int64
        self.penalty_bp = pool.params.penalty_bp

    def _array(self, values: list[int]) -> Arr:
        if not self.int64:
            return np.array(values, dtype=object)
        try:
            return np.minimum(np.array(values, dtype=np.int64), CAP)
        except OverflowError:  # some margin >= 2^63: capped (module docstring)
            return np.fromiter((min(v, CAP) for v in values), np.int64, len(values))

    def _penalty_caps(self, mm_values: list[int], mm: Arr) -> Arr:
        if self.int64 and (mm.size == 0 or int(mm.max()) < 1 << 49):  # mm * 10^4 < 2^63
            return -((-mm * self.penalty_bp) // BP)
        return self._array([ceil_div(v * self.penalty_bp, BP) for v in mm_values])

    def at(self, prices: I64, held: npt.NDArray[np.bool_], dtype: Any
           ) -> tuple[Arr, Arr, Arr]:
        """MM, IM and the penalty cap ``ceil(MM * penaltyBp / 10000)``, ``paths x
        members``, zero where a member holds no positions."""
        shape = held.shape
        mm, im, cap = (np.zeros(shape, dtype=dtype) for _ in range(3))
        for i, active in enumerate(self.active):
            if not active:
                continue
            rows = np.flatnonzero(held[:, i])
            if rows.size == 0:
                continue
            got = portfolio_margins(prices[rows] * self.signs[i], self.abs_q[i], self.params)
            col = self._array(got.maintenance)
            mm[rows, i] = col
            im[rows, i] = self._array(got.initial)
            cap[rows, i] = self._penalty_caps(got.maintenance, col)
        return mm, im, cap


def _quantiles(x: Arr) -> npt.NDArray[np.float64]:
    return np.percentile(x.astype(np.float64), FAN_QUANTILES, axis=0)


def run(pool: StressPool, paths: Any, *, waterfall: Waterfall = house_absorbs,
        progress: Callable[[int, int], None] | None = None,
        force_objects: bool = False) -> StressResult:
    """Run every path (``paths x epochs x M`` integer prices; epoch 0 is the pool's marks)
    through the engine's rules (module docstring). ``progress(done, total)`` is called
    after each epoch; ``force_objects`` holds cash as Python ints even when int64 would
    do (the tests compare both)."""
    px = _check_paths(pool, paths)
    n_paths, n_epochs, m = px.shape
    n = pool.n_members
    exact_int64 = not force_objects and fits_int64(pool, px)
    dtype: Any = np.int64 if exact_int64 else object
    q_all = pool.positions_array()
    q_members = q_all[1:]
    q_cash = q_members.astype(dtype)
    q0 = q_all[0]
    margins = _Margins(pool, exact_int64)

    coll = np.empty((n_paths, n + 1), dtype=dtype)
    coll[:] = np.array(pool.collateral, dtype=object)
    held = np.ones((n_paths, n), dtype=bool)
    house_q = np.broadcast_to(q0, (n_paths, m)).copy()
    liq_epoch = np.zeros((n_paths, n), dtype=np.int32)
    first_call = np.zeros((n_paths, n), dtype=np.int32)
    calls = np.zeros((n_paths, n), dtype=np.int32)
    paid_pen = np.zeros((n_paths, n), dtype=dtype)
    paid_short = np.zeros((n_paths, n), dtype=dtype)
    house = np.zeros((n_paths, n_epochs + 1), dtype=dtype)
    house[:, 0] = coll[:, 0]
    house_pre = np.zeros((n_paths, n_epochs), dtype=dtype)
    inherited_vm = np.zeros((n_paths, n_epochs), dtype=dtype)
    nq = len(FAN_QUANTILES)
    fan_eq, fan_mm = np.zeros((n_epochs, nq, n)), np.zeros((n_epochs, nq, n))
    fan_pool_eq, fan_pool_mm = np.zeros((n_epochs, nq)), np.zeros((n_epochs, nq))
    res = Resources(np.zeros(n_paths, dtype=dtype), {"house": np.zeros(n_paths, dtype=dtype)})
    prev = np.broadcast_to(np.array(pool.prices, dtype=np.int64), (n_paths, m))

    for e in range(1, n_epochs + 1):
        now = px[:, e - 1, :]
        move = (now - prev).astype(dtype)  # |dP| < 2^48
        vm = np.where(held, move @ q_cash.T, 0)
        inherited = (house_q - q0).astype(dtype)
        inherited_vm[:, e - 1] = (inherited * move).sum(axis=1)
        cpre = coll[:, 1:] + vm
        house_pre[:, e - 1] = coll[:, 0] + (house_q.astype(dtype) * move).sum(axis=1)

        mm, im, pen_cap = margins.at(now, held, dtype)
        liq = cpre < mm
        call = ~liq & (cpre < im)
        zero = np.zeros_like(cpre)
        pen = np.where(liq, np.minimum(pen_cap, np.maximum(cpre, zero)), zero)
        short = np.where(liq, -np.minimum(cpre, zero), zero)
        coll[:, 1:] = np.where(liq, np.maximum(cpre, zero) - pen, cpre)
        res.house = house_pre[:, e - 1].copy()
        waterfall(res, Defaults(e, liq, pen, short))
        coll[:, 0] = res.house
        house[:, e] = res.house

        intake = liq & held
        house_q += intake.astype(np.int64) @ q_members  # |.| < 2^48: checked at load
        held &= ~liq
        liq_epoch[liq & (liq_epoch == 0)] = e
        first_call[call & (first_call == 0)] = e
        calls += call
        paid_pen += pen
        paid_short += short
        fan_eq[e - 1], fan_mm[e - 1] = _quantiles(cpre), _quantiles(mm)
        fan_pool_eq[e - 1] = np.percentile(cpre.astype(np.float64).sum(axis=1), FAN_QUANTILES)
        fan_pool_mm[e - 1] = np.percentile(mm.astype(np.float64).sum(axis=1), FAN_QUANTILES)
        prev = now
        if progress is not None:
            progress(e, n_epochs)

    return StressResult(pool, px, exact_int64, liq_epoch, first_call, calls, paid_pen,
                        paid_short, coll, house_q, house, house_pre, inherited_vm, fan_eq,
                        fan_mm, fan_pool_eq, fan_pool_mm, res)


# --- the reference: one path, slot by slot, through the engine ----------------------------


@dataclass(frozen=True)
class Replay:
    """One path cleared by the engine's per-slot function (members 1..N)."""

    liquidation_epoch: tuple[int, ...]  # per member, 0 = never
    calls: tuple[int, ...]  # per member: epochs with cpre < IM, not liquidated
    collateral: tuple[int, ...]  # final, index 0 the house
    house_positions: tuple[int, ...]
    house: tuple[int, ...]  # the house's collateral after each epoch (0: before)


def replay_path(pool: StressPool, path: Sequence[Sequence[int]]) -> Replay:
    """Clear one path (``epochs x M``) epoch by epoch with
    :func:`zkclear.clearing.epoch.clear_slot` for every slot, the house's intake as
    :func:`zkclear.clearing.epoch.run_epoch` does it: slow, plain Python, the reference
    the vectorised :func:`run` must equal."""
    n, m = pool.n_members, pool.n_instruments
    coll = list(pool.collateral)
    pos = [tuple(row) for row in pool.positions]
    prev = tuple(pool.prices)
    liq_epoch, calls = [0] * n, [0] * n
    house = [coll[0]]
    zero = (0,) * m
    for e, row in enumerate(path, start=1):
        prices = tuple(int(p) for p in row)
        figs = [clear_slot(coll[i], pos[i], zero, 0, 0, 0, prices, prev, pool.params,
                           house=i == 0) for i in range(n + 1)]
        house_c, house_q = figs[0].equity, list(figs[0].positions)
        for i in range(1, n + 1):
            f = figs[i]
            if f.liquidated:
                house_q = [h + q for h, q in zip(house_q, f.positions, strict=True)]
                house_c += f.penalty - f.shortfall
                liq_epoch[i - 1] = liq_epoch[i - 1] or e
            elif f.equity < f.initial_margin:
                calls[i - 1] += 1
            coll[i], pos[i] = f.collateral_after, f.positions_after
        coll[0], pos[0] = house_c, tuple(house_q)
        house.append(house_c)
        prev = prices
    return Replay(tuple(liq_epoch), tuple(calls), tuple(coll), pos[0], tuple(house))


def check_replay(result: StressResult, k: int) -> int:
    """Replay the first ``k`` paths of a run with :func:`replay_path` and check that every
    liquidation epoch, early margin call count, final collateral, house position and house
    collateral agrees; a :class:`StressError` names the first difference. Returns ``k``."""
    for p in range(k):
        ref = replay_path(result.pool, result.paths[p].tolist())
        got = Replay(tuple(result.liquidation_epoch[p].tolist()),
                     tuple(result.calls[p].tolist()),
                     tuple(int(x) for x in result.collateral[p]),
                     tuple(result.house_positions[p].tolist()),
                     tuple(int(x) for x in result.house[p]))
        for name in Replay.__dataclass_fields__:
            if getattr(got, name) != getattr(ref, name):
                raise StressError(f"path {p}: the run's {name} differs from the engine's "
                                  "replay (a bug: please report it with the inputs)")
    return k
