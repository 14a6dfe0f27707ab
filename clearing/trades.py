"""Trade intake, bilateral matching and multilateral netting into per-slot reports.

Members report the trades they did during an epoch; the operator matches the two sides
of every trade, rejects what it cannot match, and nets the accepted trades into one
:class:`~zkclear.clearing.report.Report` per slot (``delta[M]``, ``tradeCash``).

Trade reports
    ``TradeReport(trade_id, instrument, side, size, price, counterparty)`` from the member
    in slot ``i``: ``trade_id`` a ``str`` or ``int`` (``"7"`` and ``7`` are different
    ids), ``instrument`` an index ``0 <= m < M``, ``side`` ``+1`` (buy) or ``-1`` (sell),
    ``size`` in lots ``1 <= size < 2^DELTA_BITS``, ``price`` in ticks
    ``1 <= price < 2^PRICE_BITS``, ``counterparty`` the other member's slot.

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

Matching
    A trade is accepted iff both counterparties reported it: the same ``trade_id``,
    instrument, size and price, opposite sides, each naming the other as counterparty.
    Trade ids need only be unique within one member's submission: member ``a``'s report
    ``t`` naming ``b`` is paired with member ``b``'s report ``t`` if that one names ``a``.
    Each report that cannot be accepted gets a :class:`Rejection` (a :class:`Reason`
    and a message naming the member, the trade id and the violated bound); nothing else
    is affected. A submission that is malformed (not a sequence of reports, a field of
    the wrong type, a side other than +1/-1) or that comes from a slot that is not a
    member is rejected as a whole, again without affecting the others. Slot 0, the
    house, never trades.

Rules (:func:`apply_rules`, at the settlement prices, before the reports are made)
    A price band (operator policy): a trade priced more than ``band_bp`` basis points
    away from ``P_e[m]`` is rejected for both sides (``OFF_MARKET``). Rule R (the epoch
    circuit enforces it): per slot, with ``e0`` the equity before trade cash
    (:func:`equity_before_trades`), ``e0 + tradeCash >= min(e0, 0)``; every trade of a
    slot that violates it is rejected (``INSUFFICIENT_EQUITY``), the rest netted again,
    until no slot violates it. See docs/protocol.md, "Trades and netting".

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

import enum
import numbers
import operator
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zkclear import bounds
from zkclear.errors import ZkclearError
from zkclear.field import BoundError, P

from .report import Report
from .state import HOUSE

BUY = 1
SELL = -1

#: Exclusive upper bound of a trade's size (lots) and price (ticks).
MAX_SIZE = 1 << bounds.DELTA_BITS
MAX_PRICE = 1 << bounds.PRICE_BITS

#: Trades netted per numpy chunk (bounds the int64 limb sums; see the module docstring).
CHUNK = 1 << 20
#: Most trades one netting call accepts (int64 position-limb sums stay exact below it).
MAX_TRADES = 1 << 39

_M16 = (1 << 16) - 1
_M24 = (1 << 24) - 1
_EMPTY: dict = {}
_FIELDS = ("trade_id", "instrument", "side", "size", "price", "counterparty")

assert bounds.DELTA_BITS <= 48 and bounds.PRICE_BITS <= 48  # three 16-bit limbs each
assert CHUNK * 3 * (1 << 32) < 1 << 63  # cash limb sums per chunk fit int64
assert MAX_TRADES * (1 << 24) <= 1 << 63  # position limb sums fit int64


class TradeError(ZkclearError, ValueError):
    """Trades or netting inputs that cannot be processed (refused before proving)."""


class NettingBoundError(TradeError, BoundError):
    """A slot's netted position change or trade cash is outside the circuit's bounds."""

    def __init__(self, slot: int, quantity: str, value: int, bits: int,
                 instrument: int | None = None) -> None:
        self.slot, self.instrument, self.quantity = slot, instrument, quantity
        where = f"instrument {instrument}" if instrument is not None else "all instruments"
        BoundError.__init__(self, f"netted {quantity} of slot {slot} ({where})", value, bits)


@dataclass(frozen=True, slots=True)
class TradeReport:
    """One side of a trade as a member reports it (types are checked by the matcher)."""

    trade_id: str | int
    instrument: int
    side: int
    size: int
    price: int
    counterparty: int


@dataclass(frozen=True, slots=True)
class MatchedTrade:
    """A trade both counterparties reported identically."""

    trade_id: str | int
    instrument: int
    buyer: int
    seller: int
    size: int
    price: int


class Reason(enum.Enum):
    """Why a report (or a whole submission) was rejected."""

    MALFORMED = "malformed submission"
    NOT_A_MEMBER = "submitter is not a member"
    DUPLICATE_ID = "duplicate trade id"
    UNKNOWN_INSTRUMENT = "unknown instrument"
    SIZE_OUT_OF_BOUNDS = "size out of bounds"
    PRICE_OUT_OF_BOUNDS = "price out of bounds"
    SELF_TRADE = "self-trade"
    HOUSE_COUNTERPARTY = "house named as counterparty"
    UNKNOWN_COUNTERPARTY = "unknown counterparty"
    UNMATCHED = "unmatched"
    CONTRADICTORY = "contradictory"
    COUNTERPARTY_REJECTED = "counterparty's report rejected"
    OFF_MARKET = "price outside the band around the settlement price"
    INSUFFICIENT_EQUITY = "trade losses exceed the member's equity before trades"
    REPORT_WITHHELD = "the member did not sign its netted report in time"
    SLOT_SUSPENDED = "the member is suspended this epoch (its report was excluded last epoch)"
    COUNTERPARTY_EXCLUDED = "the counterparty was excluded from the epoch"
    SETTLED = "the instrument has expired (settled): it takes no trades"


@dataclass(frozen=True)
class Rejection:
    """A rejected report (``trade_id`` set) or a rejected submission (``trade_id`` None)."""

    reason: Reason
    member: Any  # the submitting slot (whatever key the submission came under)
    trade_id: str | int | None
    message: str
    report: TradeReport | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class MatchResult:
    accepted: list[MatchedTrade]
    rejected: list[Rejection]


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


# --------------------------------------------------------------------------- intake


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


class _Malformed(TradeError):
    """A submission :func:`match_trades` rejects as a whole (caught there)."""


def _int_field(x: Any, name: str, index: int) -> int:
    if type(x) is int:
        return x
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        return int(x)
    raise _Malformed(f"report #{index}: {name} must be an int, got {type(x).__name__} {x!r}")


def _coerce(obj: Any, index: int) -> TradeReport:
    """A well-typed TradeReport from a TradeReport, a 6-tuple/list or a mapping."""
    if type(obj) is TradeReport:  # fast path: exact types, as a typed caller builds them
        tid, inst, side, size, price, cp = (obj.trade_id, obj.instrument, obj.side,
                                            obj.size, obj.price, obj.counterparty)
        if ((type(tid) is int or type(tid) is str) and type(inst) is int
                and (side == 1 or side == -1) and type(side) is int and type(size) is int
                and type(price) is int and type(cp) is int):
            return obj
    if isinstance(obj, TradeReport):
        values = [getattr(obj, f) for f in _FIELDS]
    elif isinstance(obj, Mapping):
        if set(obj) != set(_FIELDS):
            raise _Malformed(f"report #{index}: keys must be {', '.join(_FIELDS)}; "
                             f"got {', '.join(sorted(map(str, obj)))}")
        values = [obj[f] for f in _FIELDS]
    elif isinstance(obj, tuple | list):
        if len(obj) != len(_FIELDS):
            raise _Malformed(f"report #{index}: expected {len(_FIELDS)} fields "
                             f"({', '.join(_FIELDS)}), got {len(obj)}")
        values = list(obj)
    else:
        raise _Malformed(f"report #{index} is a {type(obj).__name__}, not a trade report")
    tid = values[0]
    if isinstance(tid, str):
        pass
    elif isinstance(tid, numbers.Integral) and not isinstance(tid, bool):
        tid = int(tid)
    else:
        raise _Malformed(f"report #{index}: trade_id must be a str or an int, "
                         f"got {type(tid).__name__} {tid!r}")
    inst, side, size, price, cp = (_int_field(v, f, index)
                                   for v, f in zip(values[1:], _FIELDS[1:], strict=True))
    if side not in (BUY, SELL):
        raise _Malformed(f"report #{index}: side must be +1 (buy) or -1 (sell), got {side}")
    return TradeReport(tid, inst, side, size, price, cp)


def _check_config(n_slots: int, n_instruments: int) -> None:
    for name, v in (("n_slots", n_slots), ("n_instruments", n_instruments)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise TradeError(f"{name} must be a positive int, got {v!r}")
    if n_slots < 2:
        raise TradeError(f"n_slots must be at least 2 (slot 0 is the house), got {n_slots}")


def _member_set(members: Iterable[int], n_slots: int) -> frozenset[int]:
    out = set()
    for s in members:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s < n_slots:
            raise TradeError(f"member slots must be ints in [0, {n_slots}), got {s!r}")
        out.add(int(s))
    out.discard(HOUSE)  # the house never trades, even if its leaf is registered
    return frozenset(out)


def _side_name(side: int) -> str:
    return "buy" if side == BUY else "sell"


def _value_problem(r: TradeReport, member: int, n_instruments: int,
                   members: frozenset[int], n_slots: int) -> tuple[Reason, str] | None:
    """The first per-report check ``r`` fails (instrument, size, price, counterparty)."""
    who = f"member {member}, trade {r.trade_id!r}"
    if not 0 <= r.instrument < n_instruments:
        return (Reason.UNKNOWN_INSTRUMENT,
                f"{who}: instrument {r.instrument} is unknown (instruments are "
                f"0..{n_instruments - 1})")
    if not 1 <= r.size < MAX_SIZE:
        return (Reason.SIZE_OUT_OF_BOUNDS,
                f"{who}: size {r.size} is outside 1 <= size < 2^{bounds.DELTA_BITS} lots")
    if not 1 <= r.price < MAX_PRICE:
        return (Reason.PRICE_OUT_OF_BOUNDS,
                f"{who}: price {r.price} is outside 1 <= price < 2^{bounds.PRICE_BITS} ticks")
    cp = r.counterparty
    if cp == member:
        return Reason.SELF_TRADE, f"{who}: names itself as counterparty (self-trade)"
    if cp == HOUSE:
        return (Reason.HOUSE_COUNTERPARTY,
                f"{who}: names slot {HOUSE}, the house, which never trades")
    if cp not in members:
        what = "not a member slot" if 0 <= cp < n_slots else f"outside slots 0..{n_slots - 1}"
        return Reason.UNKNOWN_COUNTERPARTY, f"{who}: counterparty {cp} is {what}"
    return None


def _differences(a: int, ra: TradeReport, b: int, rb: TradeReport) -> list[str]:
    diffs = [f"{f} {getattr(ra, f)} (member {a}) vs {getattr(rb, f)} (member {b})"
             for f in ("instrument", "size", "price") if getattr(ra, f) != getattr(rb, f)]
    if ra.side == rb.side:
        diffs.append(f"both report side {_side_name(ra.side)}")
    return diffs


def match_trades(submissions: Mapping[Any, Sequence[Any]], *, n_slots: int,
                 n_instruments: int, members: Iterable[int]) -> MatchResult:
    """Match both sides of every reported trade; reject (with a reason) what cannot be.

    ``submissions`` maps a member's slot to its trade reports (:class:`TradeReport`,
    6-tuples in field order, or mappings with the field names). ``members`` is the set
    of slots allowed to trade (slot 0, the house, is dropped from it). Accepted trades
    come in order of the lower slot of the pair, then that member's report order;
    rejections in order of member, then report.
    """
    _check_config(n_slots, n_instruments)
    member_set = _member_set(members, n_slots)

    def order(key: Any) -> tuple[int, Any]:
        return (0, key) if type(key) is int else (1, repr(key))

    rejections: list[tuple[tuple[int, Any], int, Rejection]] = []
    # per member: trade id -> (report index, report) for reports that passed every check
    valid: dict[int, dict[str | int, tuple[int, TradeReport]]] = {}
    # per member: trade id -> rejections of that member's reports with this id
    rejected_ids: dict[int, dict[str | int, list[Rejection]]] = {}
    whole_rejected: dict[int, Rejection] = {}

    def reject(member: Any, idx: int, reason: Reason, tid: Any, msg: str,
               report: TradeReport | None) -> Rejection:
        rj = Rejection(reason, member, tid, msg, report)
        rejections.append((order(member), idx, rj))
        if tid is not None and type(member) is int:
            rejected_ids.setdefault(member, {}).setdefault(tid, []).append(rj)
        return rj

    subs: dict[Any, Any] = {}
    for key, sub in submissions.items():
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            key = int(key)
        subs[key] = sub
    keys = sorted(subs, key=order)
    for member in keys:
        sub = subs[member]
        if (isinstance(member, bool) or not isinstance(member, int)
                or member not in member_set):
            what = ("the house, which never trades" if member == HOUSE and type(member) is int
                    else "not a member slot")
            rj = reject(member, -1, Reason.NOT_A_MEMBER, None,
                        f"submission from {member!r} rejected: {what}", None)
            if type(member) is int:
                whole_rejected[member] = rj
            continue
        try:
            if isinstance(sub, str | bytes | Mapping) or not isinstance(sub, Sequence):
                raise _Malformed(f"expected a sequence of trade reports, "
                                 f"got {type(sub).__name__}")
            reports = [_coerce(r, i) for i, r in enumerate(sub)]
        except _Malformed as e:
            whole_rejected[member] = reject(
                member, -1, Reason.MALFORMED, None,
                f"member {member}: whole submission rejected as malformed: {e}", None)
            continue
        counts: dict[str | int, int] = {}
        for r in reports:
            counts[r.trade_id] = counts.get(r.trade_id, 0) + 1
        mine: dict[str | int, tuple[int, TradeReport]] = {}
        for i, r in enumerate(reports):
            if counts[r.trade_id] > 1:
                reject(member, i, Reason.DUPLICATE_ID, r.trade_id,
                       f"member {member}, trade {r.trade_id!r}: trade id appears "
                       f"{counts[r.trade_id]} times in the submission", r)
                continue
            problem = _value_problem(r, member, n_instruments, member_set, n_slots)
            if problem is not None:
                reject(member, i, problem[0], r.trade_id, problem[1], r)
                continue
            mine[r.trade_id] = (i, r)
        valid[member] = mine

    accepted: list[MatchedTrade] = []
    for a in keys:
        if a not in valid:
            continue
        for tid, (i, ra) in valid[a].items():
            b = ra.counterparty
            partner = valid.get(b, _EMPTY).get(tid)
            if partner is None or partner[1].counterparty != a:
                who = f"member {a}, trade {tid!r}"
                if partner is not None:
                    msg = (f"{who}: member {b}'s trade {tid!r} names counterparty "
                           f"{partner[1].counterparty}, not {a}")
                    reject(a, i, Reason.UNMATCHED, tid, msg, ra)
                    continue
                theirs = [rj for rj in rejected_ids.get(b, {}).get(tid, [])
                          if rj.report is not None and rj.report.counterparty == a]
                if theirs:
                    reject(a, i, Reason.COUNTERPARTY_REJECTED, tid,
                           f"{who}: member {b}'s report of this trade was rejected "
                           f"({theirs[0].reason.value})", ra)
                elif b in whole_rejected:
                    reject(a, i, Reason.COUNTERPARTY_REJECTED, tid,
                           f"{who}: member {b}'s whole submission was rejected "
                           f"({whole_rejected[b].reason.value})", ra)
                else:
                    reject(a, i, Reason.UNMATCHED, tid,
                           f"{who}: member {b} did not report this trade", ra)
                continue
            if b < a:
                continue  # decided when b was processed
            j, rb = partner
            if (ra.instrument != rb.instrument or ra.size != rb.size or ra.price != rb.price
                    or ra.side == rb.side):
                diffs = _differences(a, ra, b, rb)
                msg = f"trade {tid!r} between members {a} and {b}: " + "; ".join(diffs)
                reject(a, i, Reason.CONTRADICTORY, tid, msg, ra)
                reject(b, j, Reason.CONTRADICTORY, tid, msg, rb)
                continue
            buyer, seller = (a, b) if ra.side == BUY else (b, a)
            accepted.append(MatchedTrade(tid, ra.instrument, buyer, seller, ra.size, ra.price))

    rejections.sort(key=lambda t: (t[0], t[1]))
    return MatchResult(accepted, [rj for _, _, rj in rejections])


# --------------------------------------------------------------------------- netting


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


# --------------------------------------------------------------------------- rules


#: Default price band (basis points of the settlement price): the oracle's default largest
#: move per epoch (``PoolSetup.max_move_bp``), since a trade done during the epoch may be
#: that far from the price the epoch settles at.
DEFAULT_BAND_BP = 2_000


def deposits_from_events(events: Iterable[Any]) -> dict[int, int]:
    """Per-slot sum of the DEPOSIT events (``kind == 2``) of an epoch, recorded so far."""
    from .events import Kind

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
    from .epoch import clear_slot
    from .params import RiskParams

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


def _as_report(t: MatchedTrade, slot: int) -> TradeReport:
    """``t`` as ``slot`` (its buyer or seller) reported it."""
    if slot == t.buyer:
        return TradeReport(t.trade_id, t.instrument, BUY, t.size, t.price, t.seller)
    return TradeReport(t.trade_id, t.instrument, SELL, t.size, t.price, t.buyer)


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
