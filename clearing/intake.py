"""Trade intake and bilateral matching (:func:`match_trades_reference`): what members
report, and which of their reports the operator can pair with the counterparty's.

Trade reports
    ``TradeReport(trade_id, instrument, side, size, price, counterparty)`` from the member
    in slot ``i``: ``trade_id`` a ``str`` or ``int`` (``"7"`` and ``7`` are different
    ids), ``instrument`` an index ``0 <= m < M``, ``side`` ``+1`` (buy) or ``-1`` (sell),
    ``size`` in lots ``1 <= size < 2^DELTA_BITS``, ``price`` in ticks
    ``1 <= price < 2^PRICE_BITS``, ``counterparty`` the other member's slot.

Matching (:func:`match_trades_reference`, the specification; the operator uses the
vectorised :func:`zkclear.clearing.matching.match_trades`, equal to it on every input)
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

Netting the matched trades is :mod:`zkclear.clearing.netting`; the rules that refuse some
of them before the reports are made, :mod:`zkclear.clearing.rules`
(:mod:`zkclear.clearing.trades` re-exports all three).
"""

from __future__ import annotations

import enum
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zkclear import bounds
from zkclear.errors import ZkclearError

from .state import HOUSE

BUY = 1
SELL = -1

#: Exclusive upper bound of a trade's size (lots) and price (ticks).
MAX_SIZE = 1 << bounds.DELTA_BITS
MAX_PRICE = 1 << bounds.PRICE_BITS

_EMPTY: dict = {}
_FIELDS = ("trade_id", "instrument", "side", "size", "price", "counterparty")


class TradeError(ZkclearError, ValueError):
    """Trades or netting inputs that cannot be processed (refused before proving)."""


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


def _as_report(t: MatchedTrade, slot: int) -> TradeReport:
    """``t`` as ``slot`` (its buyer or seller) reported it."""
    if slot == t.buyer:
        return TradeReport(t.trade_id, t.instrument, BUY, t.size, t.price, t.seller)
    return TradeReport(t.trade_id, t.instrument, SELL, t.size, t.price, t.buyer)


# The rejection messages, shared by match_trades_reference and the vectorised matcher
# (zkclear.clearing.matching), so that both say exactly the same thing.

def _order(key: Any) -> tuple[int, Any]:
    """Submissions are taken in this order: int slots ascending, then other keys by repr."""
    return (0, key) if type(key) is int else (1, repr(key))


def _submissions(submissions: Mapping[Any, Sequence[Any]], n_slots: int, n_instruments: int,
                 members: Iterable[int]) -> tuple[frozenset[int], dict[Any, Any], list[Any]]:
    """(member set, submissions under normalised keys, the keys in processing order)."""
    _check_config(n_slots, n_instruments)
    member_set = _member_set(members, n_slots)
    subs: dict[Any, Any] = {}
    for key, sub in submissions.items():
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            key = int(key)
        subs[key] = sub
    return member_set, subs, sorted(subs, key=_order)


def _not_a_member(member: Any, member_set: frozenset[int]) -> Rejection | None:
    """The whole-submission rejection of a key that is not a member slot, else None."""
    if isinstance(member, bool) or not isinstance(member, int) or member not in member_set:
        what = ("the house, which never trades" if member == HOUSE and type(member) is int
                else "not a member slot")
        return Rejection(Reason.NOT_A_MEMBER, member, None,
                         f"submission from {member!r} rejected: {what}")
    return None


def _check_sequence(sub: Any) -> None:
    if isinstance(sub, str | bytes | Mapping) or not isinstance(sub, Sequence):
        raise _Malformed(f"expected a sequence of trade reports, got {type(sub).__name__}")


def _malformed(member: int, e: _Malformed) -> Rejection:
    return Rejection(Reason.MALFORMED, member, None,
                     f"member {member}: whole submission rejected as malformed: {e}")


def _duplicate(member: int, r: TradeReport, count: int) -> Rejection:
    return Rejection(Reason.DUPLICATE_ID, member, r.trade_id,
                     f"member {member}, trade {r.trade_id!r}: trade id appears {count} "
                     "times in the submission", r)


def _names_another(a: int, ra: TradeReport, b: int, their_cp: int) -> Rejection:
    return Rejection(Reason.UNMATCHED, a, ra.trade_id,
                     f"member {a}, trade {ra.trade_id!r}: member {b}'s trade "
                     f"{ra.trade_id!r} names counterparty {their_cp}, not {a}", ra)


def _counterparty_rejected(a: int, ra: TradeReport, b: int, theirs: Rejection | None,
                           whole: Rejection | None) -> Rejection:
    """``a``'s report ``ra`` when ``b`` has no valid report of it: ``theirs`` (the first
    of ``b``'s rejected reports of the trade naming ``a``), ``whole`` (``b``'s submission
    was rejected), or neither (``b`` did not report it)."""
    who = f"member {a}, trade {ra.trade_id!r}"
    if theirs is not None:
        return Rejection(Reason.COUNTERPARTY_REJECTED, a, ra.trade_id,
                         f"{who}: member {b}'s report of this trade was rejected "
                         f"({theirs.reason.value})", ra)
    if whole is not None:
        return Rejection(Reason.COUNTERPARTY_REJECTED, a, ra.trade_id,
                         f"{who}: member {b}'s whole submission was rejected "
                         f"({whole.reason.value})", ra)
    return Rejection(Reason.UNMATCHED, a, ra.trade_id,
                     f"{who}: member {b} did not report this trade", ra)


def _contradictory(a: int, ra: TradeReport, b: int, rb: TradeReport) -> tuple[Rejection,
                                                                              Rejection]:
    msg = (f"trade {ra.trade_id!r} between members {a} and {b}: "
           + "; ".join(_differences(a, ra, b, rb)))
    return (Rejection(Reason.CONTRADICTORY, a, ra.trade_id, msg, ra),
            Rejection(Reason.CONTRADICTORY, b, ra.trade_id, msg, rb))


def _disagree(ra: TradeReport, rb: TradeReport) -> bool:
    return (ra.instrument != rb.instrument or ra.size != rb.size or ra.price != rb.price
            or ra.side == rb.side)


def match_trades_reference(submissions: Mapping[Any, Sequence[Any]], *, n_slots: int,
                           n_instruments: int, members: Iterable[int]) -> MatchResult:
    """Match both sides of every reported trade; reject (with a reason) what cannot be.

    The plain-Python specification the vectorised
    :func:`zkclear.clearing.matching.match_trades` is tested against (equal results on
    every input). ``submissions`` maps a member's slot to its trade reports
    (:class:`TradeReport`, 6-tuples in field order, or mappings with the field names).
    ``members`` is the set of slots allowed to trade (slot 0, the house, is dropped from
    it). Accepted trades come in order of the lower slot of the pair, then that member's
    report order; rejections in order of member, then report.
    """
    member_set, subs, keys = _submissions(submissions, n_slots, n_instruments, members)
    rejections: list[tuple[int, int, Rejection]] = []  # (key position, report, rejection)
    position = {k: p for p, k in enumerate(keys)}
    # per member: trade id -> (report index, report) for reports that passed every check
    valid: dict[int, dict[str | int, tuple[int, TradeReport]]] = {}
    # per member: trade id -> rejections of that member's reports with this id
    rejected_ids: dict[int, dict[str | int, list[Rejection]]] = {}
    whole_rejected: dict[int, Rejection] = {}

    def reject(idx: int, rj: Rejection) -> None:
        rejections.append((position[rj.member], idx, rj))
        if rj.trade_id is not None and type(rj.member) is int:
            rejected_ids.setdefault(rj.member, {}).setdefault(rj.trade_id, []).append(rj)

    for member in keys:
        sub = subs[member]
        rj = _not_a_member(member, member_set)
        if rj is not None:
            reject(-1, rj)
            if type(member) is int:
                whole_rejected[member] = rj
            continue
        try:
            _check_sequence(sub)
            reports = [_coerce(r, i) for i, r in enumerate(sub)]
        except _Malformed as e:
            whole_rejected[member] = _malformed(member, e)
            reject(-1, whole_rejected[member])
            continue
        counts: dict[str | int, int] = {}
        for r in reports:
            counts[r.trade_id] = counts.get(r.trade_id, 0) + 1
        mine: dict[str | int, tuple[int, TradeReport]] = {}
        for i, r in enumerate(reports):
            if counts[r.trade_id] > 1:
                reject(i, _duplicate(member, r, counts[r.trade_id]))
                continue
            problem = _value_problem(r, member, n_instruments, member_set, n_slots)
            if problem is not None:
                reject(i, Rejection(problem[0], member, r.trade_id, problem[1], r))
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
            if partner is not None and partner[1].counterparty != a:
                reject(i, _names_another(a, ra, b, partner[1].counterparty))
                continue
            if partner is None:
                theirs = [rj for rj in rejected_ids.get(b, {}).get(tid, [])
                          if rj.report is not None and rj.report.counterparty == a]
                reject(i, _counterparty_rejected(a, ra, b, theirs[0] if theirs else None,
                                                 whole_rejected.get(b)))
                continue
            if b < a:
                continue  # decided when b was processed
            j, rb = partner
            if _disagree(ra, rb):
                rj_a, rj_b = _contradictory(a, ra, b, rb)
                reject(i, rj_a)
                reject(j, rj_b)
                continue
            buyer, seller = (a, b) if ra.side == BUY else (b, a)
            accepted.append(MatchedTrade(tid, ra.instrument, buyer, seller, ra.size, ra.price))

    rejections.sort(key=lambda t: (t[0], t[1]))
    return MatchResult(accepted, [rj for _, _, rj in rejections])
