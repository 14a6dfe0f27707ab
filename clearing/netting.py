"""Multilateral netting of matched trades into per-slot reports (exact, vectorised).

Cash convention
    One lot at one tick is one minor unit of cash. For a trade of ``size`` lots at
    ``price`` ticks in instrument ``m``, the buyer's ``delta[m]`` is ``+size`` and its
    *notional cash* ``-size*price``; the seller's ``delta[m]`` is ``-size`` and its
    notional cash ``+size*price``. Netting sums both per slot
    (:attr:`NettingResult.delta`, :attr:`NettingResult.notional_cash`).

    The report's ``tradeCash`` is *settlement-relative* (docs/protocol.md, "The epoch",
    step 3: futures move no notional, and positions opened this epoch are marked to the
    settlement price ``P_e`` through ``tradeCash``): the buyer gets ``size*(P_e[m] -
    price)``, the seller the opposite. Per slot this is
    ``tradeCash_i = notional_i + sum_m delta_i[m]*P_e[m]``
    (:meth:`NettingResult.trade_cash`, used by :func:`reports_from_netting`).

    Every trade adds zero to ``sum_i delta_i[m]`` and to both cash sums: netting conserves
    by construction (PROTOCOL step 2), and :func:`net_columnar` checks it on every result.

Netting (exact, vectorised)
    ``size * price`` reaches ``2^96`` and per-slot sums more, so int64 cannot hold them.
    :func:`net_columnar` splits sizes and prices into three 16-bit limbs
    (``x = x0 + x1*2^16 + x2*2^32``) and forms the five limb-position products
    ``c_k = sum_{i+j=k} s_i*p_j < 3*2^32 < 2^34``. Within a chunk of at most
    ``2^20`` trades, ``np.add.at`` accumulates them per slot in int64 with
    ``|sum| <= 2^20 * 2^34 = 2^54 < 2^63``: no overflow, so every limb sum is exact; the
    chunk's cash is then recombined in Python ints (``sum_k c_k << 16k``). Position
    changes accumulate two 24-bit limbs of ``size`` per (slot, instrument) in int64
    (``|sum| <= T*2^24``, exact for ``T < 2^39`` trades per call, which is enforced).
    The tests check the result against a plain-Python reference with sizes and prices
    up to ``2^48 - 1``.

    Netted values are checked against the circuit's signed ranges, ``bounds.DELTA``
    (``-2^48 <= delta < 2^48``, the range :class:`Report` accepts) and ``bounds.CASH``;
    a :class:`NettingBoundError` names the slot (and instrument). Pool sizes are not
    limited here (``bounds.MAX_SLOTS`` is the epoch circuit's limit, checked there).
"""

from __future__ import annotations

import numbers
import operator
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zkclear import bounds
from zkclear.field import BoundError, P

from .intake import MAX_PRICE, MAX_SIZE, MatchedTrade, TradeError, _check_config
from .report import Report

#: Trades netted per numpy chunk (bounds the int64 limb sums; see the module docstring).
CHUNK = 1 << 20
#: Most trades one netting call accepts (int64 position-limb sums stay exact below it).
MAX_TRADES = 1 << 39

_M16 = (1 << 16) - 1
_M24 = (1 << 24) - 1
assert bounds.DELTA_BITS <= 48 and bounds.PRICE_BITS <= 48  # three 16-bit limbs each
assert CHUNK * 3 * (1 << 32) < 1 << 63  # cash limb sums per chunk fit int64
assert MAX_TRADES * (1 << 24) <= 1 << 63  # position limb sums fit int64


class NettingBoundError(TradeError, BoundError):
    """A slot's netted position change or trade cash is outside the circuit's bounds."""

    def __init__(self, slot: int, quantity: str, value: int, bits: int,
                 instrument: int | None = None) -> None:
        self.slot, self.instrument, self.quantity = slot, instrument, quantity
        where = f"instrument {instrument}" if instrument is not None else "all instruments"
        BoundError.__init__(self, f"netted {quantity} of slot {slot} ({where})", value, bits)


@dataclass(frozen=True)
class NettingResult:
    """Netted per-slot ``delta[N][M]`` (lots) and ``notional_cash[N]`` (Python ints).

    ``notional_cash[i] = sum(+size*price as seller) - sum(size*price as buyer)``; the
    report's ``tradeCash`` is :meth:`trade_cash` at the epoch's settlement prices.
    """

    delta: list[list[int]]
    notional_cash: list[int]
    traded: frozenset[int]  # slots that appear in at least one trade
    n_trades: int

    def trade_cash(self, prices: Sequence[int]) -> list[int]:
        """Per-slot ``tradeCash`` at settlement prices ``P_e``: ``notional + delta . P_e``.

        Equals the sum over the slot's trades of ``size*(P_e[m] - price)`` as buyer and
        ``-size*(P_e[m] - price)`` as seller. Raises :class:`NettingBoundError` naming the
        slot if a value leaves the CASH range, ``TradeError`` for bad prices.
        """
        m = len(self.delta[0]) if self.delta else 0
        px = _check_prices(prices, m, range(m))  # an option's premium may be 0
        out = [c + sum(map(operator.mul, row, px))
               for c, row in zip(self.notional_cash, self.delta, strict=True)]
        _check_cash(out, "tradeCash")
        if sum(out) != 0:
            raise AssertionError("settlement-relative trade cash does not conserve")
        return out


def _check_prices(prices: Sequence[int], m: int, zero_ok: Iterable[int] = ()) -> list[int]:
    """Settlement prices, ``1 <= P < 2^48``; 0 allowed for the instruments ``zero_ok``
    (options: a premium may be 0)."""
    px = list(prices)
    if len(px) != m:
        raise TradeError(f"expected {m} settlement prices, got {len(px)}")
    zero_ok = frozenset(zero_ok)
    for j, p in enumerate(px):
        lo = 0 if j in zero_ok else 1
        if isinstance(p, bool) or not isinstance(p, numbers.Integral) or not lo <= p < MAX_PRICE:
            raise TradeError(f"settlement price of instrument {j} must be an int in "
                             f"{lo} <= P < 2^{bounds.PRICE_BITS}, got {p!r}")
    return [int(p) for p in px]


def _check_cash(values: Sequence[int], quantity: str) -> None:
    lo_c, hi_c = bounds.CASH.lo, bounds.CASH.hi
    for i, c in enumerate(values):
        if not lo_c <= c <= hi_c:
            raise NettingBoundError(i, quantity, c, bounds.CASH.bits)


def _column(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise TradeError(f"{name} must be a 1-D array, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        if a.size == 0:
            return a.astype(np.int64)
        raise TradeError(f"{name} must be an integer array, got dtype {a.dtype}")
    return a


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def net_columnar(buyer: Any, seller: Any, instrument: Any, size: Any, price: Any, *,
                 n_slots: int, n_instruments: int, chunk: int = CHUNK) -> NettingResult:
    """Net already-matched trades given as integer arrays (one entry per trade).

    Refuses (``TradeError`` naming the first bad row) slots outside ``1..n_slots-1``
    (slot 0, the house, never trades), ``buyer == seller``, unknown instruments, and sizes
    or prices outside ``[1, 2^48)``. Raises :class:`NettingBoundError` naming the slot
    if a netted ``delta`` or notional cash leaves its signed range.
    """
    _check_config(n_slots, n_instruments)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= CHUNK:
        raise TradeError(f"chunk must be an int in [1, {CHUNK}], got {chunk!r}")
    cols = {n: _column(x, n) for n, x in (("buyer", buyer), ("seller", seller),
                                          ("instrument", instrument), ("size", size),
                                          ("price", price))}
    n = len(cols["buyer"])
    if any(len(c) != n for c in cols.values()):
        raise TradeError("trade columns differ in length: "
                         + ", ".join(f"{k}={len(c)}" for k, c in cols.items()))
    if n > MAX_TRADES:
        raise TradeError(f"at most 2^39 trades per netting call, got {n}")
    checks = (
        ("buyer", (cols["buyer"] < 1) | (cols["buyer"] >= n_slots),
         f"is not a trading slot 1..{n_slots - 1} (slot 0, the house, never trades)"),
        ("seller", (cols["seller"] < 1) | (cols["seller"] >= n_slots),
         f"is not a trading slot 1..{n_slots - 1} (slot 0, the house, never trades)"),
        ("instrument", (cols["instrument"] < 0) | (cols["instrument"] >= n_instruments),
         f"is not an instrument 0..{n_instruments - 1}"),
        ("size", (cols["size"] < 1) | (cols["size"] >= MAX_SIZE),
         f"is outside 1 <= size < 2^{bounds.DELTA_BITS}"),
        ("price", (cols["price"] < 1) | (cols["price"] >= MAX_PRICE),
         f"is outside 1 <= price < 2^{bounds.PRICE_BITS}"),
    )
    for name, bad, what in checks:
        if bad.any():
            k = _first_bad(bad)
            raise TradeError(f"trade row {k}: {name} {int(cols[name][k])} {what}")
    b64, s64 = cols["buyer"].astype(np.int64), cols["seller"].astype(np.int64)
    same = b64 == s64
    if same.any():
        k = _first_bad(same)
        raise TradeError(f"trade row {k}: buyer and seller are both slot {int(b64[k])} "
                         "(self-trade)")
    inst = cols["instrument"].astype(np.int64)
    sz = cols["size"].astype(np.int64)
    px = cols["price"].astype(np.int64)

    nm = n_slots * n_instruments
    d_lo = np.zeros(nm, np.int64)  # sum of +-(size & 2^24-1) per (slot, instrument)
    d_hi = np.zeros(nm, np.int64)  # sum of +-(size >> 24)
    cash = np.zeros(n_slots, dtype=object)  # Python ints
    weights = np.array([1 << (16 * k) for k in range(5)], dtype=object)
    buy_c = np.zeros((5, n_slots), np.int64)
    sell_c = np.zeros((5, n_slots), np.int64)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        b, s, m, q, p = b64[lo:hi], s64[lo:hi], inst[lo:hi], sz[lo:hi], px[lo:hi]
        # positions: two 24-bit limbs of size, |sum| <= n * 2^24 < 2^63
        q_lo, q_hi = q & _M24, q >> 24
        fb, fs = b * n_instruments + m, s * n_instruments + m
        np.add.at(d_lo, fb, q_lo)
        np.add.at(d_lo, fs, -q_lo)
        np.add.at(d_hi, fb, q_hi)
        np.add.at(d_hi, fs, -q_hi)
        # cash: 16-bit limbs, c_k = sum_{i+j=k} q_i p_j < 3 * 2^32; chunk sums < 2^54
        q0, q1, q2 = q & _M16, (q >> 16) & _M16, q >> 32
        p0, p1, p2 = p & _M16, (p >> 16) & _M16, p >> 32
        limbs = (q0 * p0, q0 * p1 + q1 * p0, q0 * p2 + q1 * p1 + q2 * p0,
                 q1 * p2 + q2 * p1, q2 * p2)
        buy_c.fill(0)
        sell_c.fill(0)
        for k, c in enumerate(limbs):
            np.add.at(buy_c[k], b, c)
            np.add.at(sell_c[k], s, c)
        # seller receives size*price, buyer pays it; recombine exactly in Python ints
        cash += (sell_c - buy_c).astype(object).T @ weights

    # conservation, on the exact limb sums: every trade adds +x and -x
    d_lo2, d_hi2 = d_lo.reshape(n_slots, n_instruments), d_hi.reshape(n_slots, n_instruments)
    if d_lo2.sum(axis=0).any() or d_hi2.sum(axis=0).any() or sum(cash) != 0:
        raise AssertionError("netting does not conserve (internal error)")

    # exact delta = hi * 2^24 + lo; normalise lo into [0, 2^24) first (no overflow)
    carry = d_lo2 >> 24
    hi_n = d_hi2 + carry
    lo_n = d_lo2 & _M24
    # delta in [-2^48, 2^48)  <=>  hi_n in [-2^24, 2^24), since 0 <= lo_n < 2^24
    assert bounds.DELTA_BITS == 48
    out = (hi_n < -(1 << 24)) | (hi_n >= 1 << 24)
    if out.any():
        i, m = np.argwhere(out)[0]
        value = int(hi_n[i, m]) * (1 << 24) + int(lo_n[i, m])
        raise NettingBoundError(int(i), "delta", value, bounds.DELTA_BITS, int(m))
    delta_arr = (hi_n << 24) + lo_n
    notional = [int(c) for c in cash]
    _check_cash(notional, "notional cash")

    traded = np.zeros(n_slots, bool)
    traded[b64] = True
    traded[s64] = True
    return NettingResult(delta_arr.tolist(), notional,
                         frozenset(np.flatnonzero(traded).tolist()), n)


def net(matched: Sequence[MatchedTrade], n_slots: int, n_instruments: int) -> NettingResult:
    """Net matched trades (e.g. ``match_trades(...).accepted``); see :func:`net_columnar`."""
    n = len(matched)
    cols = [np.fromiter((getattr(t, f) for t in matched), np.int64, count=n)
            for f in ("buyer", "seller", "instrument", "size", "price")]
    return net_columnar(*cols, n_slots=n_slots, n_instruments=n_instruments)


def net_reference(matched: Iterable[MatchedTrade], n_slots: int, n_instruments: int,
                  prices: Sequence[int] | None = None) -> tuple[list[list[int]], list[int]]:
    """Plain-Python netting, the specification :func:`net_columnar` is tested against.

    Returns ``(delta, notional_cash)``, or ``(delta, tradeCash)`` at settlement ``prices``
    computed trade by trade as ``+-size*(P_e[m] - price)``.
    """
    delta = [[0] * n_instruments for _ in range(n_slots)]
    cash = [0] * n_slots
    for t in matched:
        delta[t.buyer][t.instrument] += t.size
        delta[t.seller][t.instrument] -= t.size
        # the buyer pays the trade price; against settlement it gains P_e - price per lot
        per_lot = -t.price if prices is None else prices[t.instrument] - t.price
        cash[t.buyer] += t.size * per_lot
        cash[t.seller] -= t.size * per_lot
    return delta, cash


def reports_from_netting(result: NettingResult, prices: Sequence[int],
                         salts: Mapping[int, int] | None = None, *,
                         include_flat: bool = False) -> dict[int, Report]:
    """One :class:`Report` per slot whose ``delta`` or ``tradeCash`` is nonzero.

    ``prices`` are the epoch's settlement prices ``P_e`` (``tradeCash`` is
    settlement-relative, see :meth:`NettingResult.trade_cash`). ``include_flat`` also
    gives a (zero) report to slots that traded but netted to nothing. Salts come from
    ``salts[slot]`` when given, else fresh random field elements.
    """
    salts = salts or {}
    cash = result.trade_cash(prices)
    out: dict[int, Report] = {}
    for i, (d, c) in enumerate(zip(result.delta, cash, strict=True)):
        if c == 0 and not any(d) and not (include_flat and i in result.traded):
            continue
        salt = salts.get(i)
        if salt is None:
            salt = secrets.randbelow(P)
        out[i] = Report(tuple(d), c, salt)
    return out
