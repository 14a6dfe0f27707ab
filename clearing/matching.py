"""Vectorised bilateral matching: :func:`match_trades` (members' report objects) and
:func:`match_columnar` (reports as integer columns), both equal to
:func:`~zkclear.clearing.intake.match_trades_reference`, the specification in
:mod:`~zkclear.clearing.intake`: the same accepted trades in the same order, the same
rejections (reason, member, trade id, message, report) in the same order.

Method (sort-merge on the trade key)
    Every report of a well-formed member submission becomes one row (member, trade id,
    instrument, side, size, price, counterparty) in processing order (member, then
    report). Trade ids become int64 codes (ints that fit are their own code; otherwise,
    e.g. ``str`` ids, a dictionary numbers them, so ``7`` and ``"7"`` stay distinct).
    Rows are sorted once by the key ``(trade id, member)``: equal neighbours are
    duplicate ids. The partner of row ``(a, t)`` naming ``b`` is the row with key
    ``(t, b)``, found by a binary search of the sorted keys (the queries, taken in sorted
    order, are nearly sorted themselves, so the search is cache-friendly). A trade is
    accepted when both rows are valid, name each other and agree; the per-report bounds
    are numpy masks. Only the rejected rows are looked at in Python, where the messages
    come from the same helpers as the reference's.

Values beyond int64 (a size of ``2^70`` is out of bounds, not malformed) are clipped
to int64 for the masks, which keeps them out of bounds; messages quote the report's own
value. Pools of ``2^62`` slots or more fall back to the reference.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np

from .intake import (
    _FIELDS,
    MAX_PRICE,
    MAX_SIZE,
    MatchedTrade,
    MatchResult,
    Rejection,
    TradeError,
    TradeReport,
    _check_sequence,
    _coerce,
    _contradictory,
    _counterparty_rejected,
    _duplicate,
    _Malformed,
    _malformed,
    _names_another,
    _not_a_member,
    _submissions,
    _value_problem,
    match_trades_reference,
)

#: Pools with at least this many slots are matched by the reference (slots fit int64).
_MAX_SLOTS = 1 << 62
_LO, _HI = -(1 << 63), (1 << 63) - 1
_GETTERS = [attrgetter(f) for f in _FIELDS]
#: Slot lookups use a table of this many entries at most (else a binary search).
_TABLE = 1 << 24


@dataclass(frozen=True)
class MatchColumns:
    """:func:`match_columnar`'s result: the accepted trades as int64 columns (in
    acceptance order, ready for :func:`~zkclear.clearing.netting.net_columnar` through
    :meth:`columns`) and the rejections, as :func:`match_trades` gives them."""

    trade_id: np.ndarray
    buyer: np.ndarray
    seller: np.ndarray
    instrument: np.ndarray
    size: np.ndarray
    price: np.ndarray
    rejected: list[Rejection]

    def columns(self) -> tuple[np.ndarray, ...]:
        """``(buyer, seller, instrument, size, price)``, net_columnar's arguments."""
        return self.buyer, self.seller, self.instrument, self.size, self.price

    def trades(self) -> list[MatchedTrade]:
        """The accepted trades as :class:`MatchedTrade` objects."""
        return list(map(MatchedTrade, *(c.tolist() for c in (
            self.trade_id, self.instrument, self.buyer, self.seller, self.size,
            self.price))))


@dataclass
class _Rows:
    """The reports of the well-formed submissions, one row each, member by member."""

    slots: np.ndarray  # the members' slots, ascending (int64)
    counts: np.ndarray  # their numbers of reports
    positions: list[int]  # their positions among the submission keys
    member: np.ndarray
    trade_id: np.ndarray  # int64 codes (see the module docstring)
    instrument: np.ndarray
    side: np.ndarray
    size: np.ndarray
    price: np.ndarray
    counterparty: np.ndarray


def _int64(values: Iterable[int], n: int) -> np.ndarray:
    """Python ints as int64, those beyond int64 clipped to its ends."""
    values = list(values) if not isinstance(values, list) else values
    try:
        return np.fromiter(values, np.int64, count=n)
    except OverflowError:
        return np.fromiter((min(max(v, _LO), _HI) for v in values), np.int64, count=n)


def _id_codes(ids: list[Any], all_int: bool) -> np.ndarray:
    """int64 codes of trade ids: equal codes iff equal ids (as dictionary keys)."""
    if all_int:
        try:
            return np.fromiter(ids, np.int64, count=len(ids))
        except OverflowError:
            pass
    numbering: dict[Any, int] = {}
    return np.fromiter((numbering.setdefault(t, len(numbering)) for t in ids), np.int64,
                       count=len(ids))


def _fast_fields(sub: Sequence[Any]) -> list[list[Any]] | None:
    """The six field lists of a submission of exactly-typed TradeReports (the objects
    :func:`_coerce` returns unchanged), else None."""
    if not set(map(type, sub)) <= {TradeReport}:
        return None
    fields = [list(map(g, sub)) for g in _GETTERS]
    if not set(map(type, fields[0])) <= {int, str}:
        return None
    if any(not set(map(type, f)) <= {int} for f in fields[1:]):
        return None
    if not set(fields[2]) <= {1, -1}:
        return None
    return fields


def _fields(sub: Any) -> tuple[Sequence[TradeReport], list[list[Any]]]:
    """A member's reports as :func:`_coerce` gives them, and their six field lists;
    raises ``_Malformed`` (as the reference does) for a malformed submission."""
    _check_sequence(sub)
    fields = _fast_fields(sub)
    if fields is None:
        sub = [_coerce(r, i) for i, r in enumerate(sub)]
        fields = [list(map(g, sub)) for g in _GETTERS]
    return sub, fields


def _ranks(x: np.ndarray, slots: np.ndarray, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Per entry of ``x``: whether it is one of ``slots`` (ascending, in ``[0, n_slots)``,
    at least one) and its index there (0 where it is not)."""
    if n_slots <= _TABLE:  # a lookup table: a gather instead of a binary search
        table = np.full(n_slots, -1, np.int64)
        table[slots] = np.arange(len(slots))
        inside = (x >= 0) & (x < n_slots)
        rank = table[np.where(inside, x, 0)]
        found = inside & (rank >= 0)
        return found, np.maximum(rank, 0)
    rank = np.minimum(np.searchsorted(slots, x), len(slots) - 1)
    return slots[rank] == x, rank


@dataclass
class _Outcome:
    accepted: np.ndarray  # rows (the lower slot's report) of the accepted trades
    partner: np.ndarray  # per row: the row keyed (trade id, counterparty), if found
    found: np.ndarray  # per row: such a row exists
    paired: np.ndarray  # per row: that row is valid
    first: np.ndarray  # per row: the sorted position of the first such row
    order: np.ndarray  # rows by key
    sorted_key: np.ndarray
    duplicate: np.ndarray  # rows with duplicate ids
    invalid: np.ndarray  # rows that fail a per-report bound (and are not duplicates)
    lonely: np.ndarray  # valid rows without a valid partner naming them
    contradictory: tuple[np.ndarray, np.ndarray]  # (lower, higher) rows of such pairs


def _match_rows(rows: _Rows, members: np.ndarray, n_slots: int, n_instruments: int
                ) -> _Outcome:
    """The sort-merge (see the module docstring) on rows with at least one row."""
    mem, cp = rows.member, rows.counterparty
    inst, side, size, price = rows.instrument, rows.side, rows.size, rows.price
    n, k = len(mem), len(rows.slots)
    rank = np.repeat(np.arange(k, dtype=np.int64), rows.counts)
    # x < lo or x >= hi  <=>  (x - lo) >= hi - lo as uint64 (one comparison, no overflow
    # for lo in {0, 1}: x - 1 wraps only from -2^63, to 2^63 - 1, still out of bounds)
    problem = ((inst.view(np.uint64) >= n_instruments)
               | ((size - 1).view(np.uint64) >= MAX_SIZE - 1)
               | ((price - 1).view(np.uint64) >= MAX_PRICE - 1)
               | (cp == mem) | ~_ranks(cp, members, n_slots)[0])
    tid = rows.trade_id
    lo, hi = int(tid.min()), int(tid.max())
    if (hi - lo + 1) * k >= 1 << 62:  # dense codes keep the key inside int64
        tid = np.unique(tid, return_inverse=True)[1].astype(np.int64)
        lo = 0
    key = (tid - lo) * k + rank
    order = np.argsort(key)
    sk = key[order]
    same = sk[1:] == sk[:-1]
    dup_s = np.zeros(n, bool)
    dup_s[1:] |= same
    dup_s[:-1] |= same
    duplicate = np.empty(n, bool)
    duplicate[order] = dup_s
    valid = ~(duplicate | problem)

    submitted, cp_rank = _ranks(cp, rows.slots, n_slots)
    target = (key - rank + cp_rank)[order]
    first_s = np.minimum(np.searchsorted(sk, target), n - 1)
    found, partner, first = np.empty(n, bool), np.empty(n, np.intp), np.empty(n, np.intp)
    found[order] = (sk[first_s] == target) & submitted[order]
    partner[order] = order[first_s]
    first[order] = first_s
    paired = valid & found & valid[partner]
    mutual = paired & (cp[partner] == mem)
    low = np.flatnonzero(mutual & (mem < cp))
    high = partner[low]
    contra = ((inst[low] != inst[high]) | (size[low] != size[high])
              | (price[low] != price[high]) | (side[low] == side[high]))
    return _Outcome(low[~contra], partner, found, paired, first, order, sk,
                    np.flatnonzero(duplicate), np.flatnonzero(problem & ~duplicate),
                    np.flatnonzero(valid & ~mutual), (low[contra], high[contra]))


def _rejections(rows: _Rows, out: _Outcome, report_at: Any, whole: dict[int, Rejection],
                member_set: frozenset[int], n_slots: int, n_instruments: int
                ) -> list[tuple[int, int, Rejection]]:
    """(key position, report index, rejection) of every rejected row; ``report_at(row,
    member rank, index)`` is the row's TradeReport."""
    if not (len(out.duplicate) or len(out.invalid) or len(out.lonely)
            or len(out.contradictory[0])):
        return []
    starts = np.concatenate(([0], np.cumsum(rows.counts)[:-1])).tolist()
    slots = rows.slots.tolist()
    ranks = np.searchsorted(rows.slots, rows.member)
    out_rows: list[tuple[int, int, Rejection]] = []
    own: dict[int, Rejection] = {}  # row -> its rejection before pairing

    def where(r: int) -> tuple[int, int, int, TradeReport]:
        k = int(ranks[r])
        return slots[k], rows.positions[k], r - starts[k], report_at(r, k, r - starts[k])

    dups = [where(r) for r in out.duplicate.tolist()]
    counts: dict[tuple[int, Any], int] = {}
    for a, _, _, ra in dups:
        counts[a, ra.trade_id] = counts.get((a, ra.trade_id), 0) + 1
    for r, (a, pos, i, ra) in zip(out.duplicate.tolist(), dups, strict=True):
        own[r] = _duplicate(a, ra, counts[a, ra.trade_id])
        out_rows.append((pos, i, own[r]))
    for r in out.invalid.tolist():
        a, pos, i, ra = where(r)
        problem = _value_problem(ra, a, n_instruments, member_set, n_slots)
        assert problem is not None, "a row outside the bounds passes them (internal error)"
        own[r] = Rejection(problem[0], a, ra.trade_id, problem[1], ra)
        out_rows.append((pos, i, own[r]))
    cp, sk, order = rows.counterparty, out.sorted_key, out.order
    for r in out.lonely.tolist():
        a, pos, i, ra = where(r)
        b = ra.counterparty
        if out.paired[r]:
            rj = _names_another(a, ra, b, int(cp[out.partner[r]]))
        else:
            theirs = None
            if out.found[r]:  # b's reports of this id were all rejected before pairing
                q = int(out.first[r])
                group = []
                while q < len(sk) and sk[q] == sk[out.first[r]]:
                    group.append(int(order[q]))
                    q += 1
                naming = [g for g in group if cp[g] == a]
                theirs = own[min(naming)] if naming else None
            rj = _counterparty_rejected(a, ra, b, theirs, whole.get(b))
        out_rows.append((pos, i, rj))
    for r, s in zip(*(x.tolist() for x in out.contradictory), strict=True):
        a, pos_a, i, ra = where(r)
        b, pos_b, j, rb = where(s)
        rj_a, rj_b = _contradictory(a, ra, b, rb)
        out_rows += [(pos_a, i, rj_a), (pos_b, j, rj_b)]
    return out_rows


def _accepted(rows: _Rows, acc: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(buyer, seller, instrument, size, price)`` of the accepted rows."""
    mem, cp = rows.member[acc], rows.counterparty[acc]
    buys = rows.side[acc] == 1
    return (np.where(buys, mem, cp), np.where(buys, cp, mem), rows.instrument[acc],
            rows.size[acc], rows.price[acc])


def _empty_rows(positions: list[int]) -> _Rows:
    e = np.zeros(0, np.int64)
    return _Rows(e, e, positions, e, e, e, e, e, e, e)


def _run(rows: _Rows, member_set: frozenset[int], whole: dict[int, Rejection],
         report_at: Any, whole_rows: list[tuple[int, int, Rejection]], n_slots: int,
         n_instruments: int) -> tuple[np.ndarray, tuple[np.ndarray, ...], list[Rejection]]:
    """(accepted rows, their trade columns, the rejections in order)."""
    rejected = list(whole_rows)
    if len(rows.member):
        members = np.array(sorted(member_set), np.int64)
        out = _match_rows(rows, members, n_slots, n_instruments)
        rejected += _rejections(rows, out, report_at, whole, member_set, n_slots,
                                n_instruments)
        acc = out.accepted
    else:
        acc = np.zeros(0, np.intp)
    rejected.sort(key=lambda t: (t[0], t[1]))
    return acc, _accepted(rows, acc), [rj for _, _, rj in rejected]


def match_trades(submissions: Mapping[Any, Sequence[Any]], *, n_slots: int,
                 n_instruments: int, members: Iterable[int]) -> MatchResult:
    """Match both sides of every reported trade; reject (with a reason) what cannot be.

    Vectorised; equal to :func:`~zkclear.clearing.intake.match_trades_reference` (see
    there and :mod:`~zkclear.clearing.intake` for the rules): ``submissions`` maps a
    member's slot to its trade reports (:class:`TradeReport`, 6-tuples in field order,
    or mappings with the field names); accepted trades come in order of the lower slot
    of the pair, then that member's report order; rejections in order of member, then
    report.
    """
    member_set, subs, keys = _submissions(submissions, n_slots, n_instruments, members)
    if n_slots >= _MAX_SLOTS:
        return match_trades_reference(submissions, n_slots=n_slots,
                                      n_instruments=n_instruments, members=members)
    whole: dict[int, Rejection] = {}
    whole_rows: list[tuple[int, int, Rejection]] = []
    reports: list[Sequence[TradeReport]] = []
    fields: list[list[list[Any]]] = [[] for _ in _FIELDS]
    slots, counts, positions = [], [], []
    all_int = True
    for pos, member in enumerate(keys):
        sub = subs[member]
        rj = _not_a_member(member, member_set)
        if rj is None:
            try:
                sub, mine = _fields(sub)
            except _Malformed as e:
                rj = _malformed(member, e)
        if rj is not None:
            whole_rows.append((pos, -1, rj))
            if type(member) is int:
                whole[member] = rj
            continue
        reports.append(sub)
        slots.append(member)
        counts.append(len(sub))
        positions.append(pos)
        all_int = all_int and set(map(type, mine[0])) <= {int}
        for column, values in zip(fields, mine, strict=True):
            column.append(values)
    n = sum(counts)
    flat = [list(itertools.chain.from_iterable(c)) for c in fields]
    rows = _Rows(np.array(slots, np.int64), np.array(counts, np.int64), positions,
                 np.repeat(np.array(slots, np.int64), counts), _id_codes(flat[0], all_int),
                 *(_int64(c, n) for c in flat[1:]))
    acc, cols, rejected = _run(rows, member_set, whole, lambda r, k, i: reports[k][i],
                               whole_rows, n_slots, n_instruments)
    ids = flat[0]
    buyer, seller, inst, size, price = (c.tolist() for c in cols)
    accepted = list(map(MatchedTrade, [ids[r] for r in acc.tolist()], inst, buyer, seller,
                        size, price))
    return MatchResult(accepted, rejected)


def _column(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1 or (a.dtype.kind not in "iu" and a.size):
        raise TradeError(f"{name} must be a 1-D integer array, got shape {a.shape} "
                         f"dtype {a.dtype}")
    if a.dtype == np.uint64 and a.size and int(a.max()) > _HI:
        raise TradeError(f"{name} has values beyond int64")
    return a.astype(np.int64, copy=False)


def match_columnar(member: Any, trade_id: Any, instrument: Any, side: Any, size: Any,
                   price: Any, counterparty: Any, *, n_slots: int, n_instruments: int,
                   members: Iterable[int]) -> MatchColumns:
    """:func:`match_trades` on reports given as integer columns, one row per report.

    ``member`` is the submitting slot of each row; a member's reports are its rows in
    row order (they need not be contiguous). Trade ids are integers. Equal to
    :func:`match_trades` on ``{slot: [TradeReport(...) of its rows]}`` for every slot in
    ``member``: a member with a side other than +1/-1 has its whole submission rejected
    as malformed, a slot that is not a member as not a member. Raises ``TradeError`` for
    columns that are not 1-D integer arrays of one length.
    """
    names = ("member", *_FIELDS)
    cols = [_column(x, nm) for x, nm in zip((member, trade_id, instrument, side, size, price,
                                             counterparty), names, strict=True)]
    if len({len(c) for c in cols}) > 1:
        raise TradeError("report columns differ in length: "
                         + ", ".join(f"{nm}={len(c)}" for nm, c in zip(names, cols,
                                                                       strict=True)))
    submitted, counts = np.unique(cols[0], return_counts=True)
    member_set, _, keys = _submissions(dict.fromkeys(submitted.tolist(), ()), n_slots,
                                       n_instruments, members)
    if n_slots >= _MAX_SLOTS:
        raise TradeError(f"match_columnar takes pools of fewer than 2^62 slots, got {n_slots}")
    m = cols[0]
    if len(m) > 1 and not (m[1:] >= m[:-1]).all():
        cols = [c[np.argsort(m, kind="stable")] for c in cols]
    starts = np.concatenate(([0], np.cumsum(counts)))
    keep = np.ones(len(cols[0]), bool)
    whole: dict[int, Rejection] = {}
    whole_rows: list[tuple[int, int, Rejection]] = []
    bad_side = np.abs(cols[3]) != 1
    for pos, (slot, lo, hi) in enumerate(zip(keys, starts[:-1].tolist(), starts[1:].tolist(),
                                             strict=True)):
        rj = _not_a_member(slot, member_set)
        if rj is None and bad_side[lo:hi].any():
            r = lo + int(np.flatnonzero(bad_side[lo:hi])[0])
            try:
                _coerce(tuple(int(c[r]) for c in cols[1:]), r - lo)
            except _Malformed as e:
                rj = _malformed(slot, e)
        if rj is not None:
            whole_rows.append((pos, -1, rj))
            whole[slot] = rj
            keep[lo:hi] = False
    ok = [p for p, s in enumerate(keys) if s not in whole]
    if not keep.all():
        cols = [c[keep] for c in cols]
    rows = _Rows(submitted[ok], counts[ok], ok, *cols)

    def report_at(r: int, k: int, i: int) -> TradeReport:
        return TradeReport(*(int(c[r]) for c in cols[1:]))

    acc, accepted, rejected = _run(rows, member_set, whole, report_at, whole_rows, n_slots,
                                   n_instruments)
    buyer, seller, inst, size, price = accepted
    return MatchColumns(rows.trade_id[acc], buyer, seller, inst, size, price, rejected)
