"""The JSON forms the operator stores and serves: trades, reports, trade lists.

A member's trade list arrives as the payload of a transport message,
``{"trades": [{trade_id, instrument, side, size, price, counterparty}, ...]}``
(:func:`parse_trade_list` checks its shape and types; matching checks the values); the
netted :class:`~zkclear.clearing.report.Report` is stored with its integers as decimal
strings (:func:`report_to_json`, :func:`report_from_json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from zkclear.clearing.report import Report
from zkclear.clearing.trades import TradeReport

from .errors import ServiceError

__all__ = ["MAX_TRADES_PER_LIST", "parse_trade_list", "report_from_json", "report_to_json",
           "trade_to_json"]

#: Largest trade list (entries) one submission may hold.
MAX_TRADES_PER_LIST = 1000


def trade_to_json(t: TradeReport) -> dict[str, Any]:
    return {"trade_id": t.trade_id, "instrument": t.instrument, "side": t.side,
            "size": t.size, "price": t.price, "counterparty": t.counterparty}


def report_to_json(r: Report) -> dict[str, Any]:
    return {"delta": [str(d) for d in r.delta], "trade_cash": str(r.trade_cash),
            "salt": str(r.salt)}


def report_from_json(d: Mapping[str, Any]) -> Report:
    return Report(tuple(int(x) for x in d["delta"]), int(d["trade_cash"]), int(d["salt"]))


def parse_trade_list(payload: bytes) -> list[dict[str, Any]]:
    """The trade list of a submission payload: ``{"trades": [{trade_id, instrument,
    side, size, price, counterparty}, ...]}`` (field types checked; matching checks
    values)."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ServiceError("malformed_trades", f"the trade list is not JSON: {exc}",
                           422) from None
    if not isinstance(doc, dict) or set(doc) != {"trades"} or not isinstance(doc["trades"],
                                                                             list):
        raise ServiceError("malformed_trades", 'the payload must be {"trades": [...]}', 422)
    trades = doc["trades"]
    if len(trades) > MAX_TRADES_PER_LIST:
        raise ServiceError("too_many_trades",
                           f"{len(trades)} trades, at most {MAX_TRADES_PER_LIST} per list", 422)
    fields = {"trade_id", "instrument", "side", "size", "price", "counterparty"}
    for i, t in enumerate(trades):
        if not isinstance(t, dict) or set(t) != fields:
            raise ServiceError("malformed_trades",
                               f"trade #{i} must have exactly the fields {sorted(fields)}", 422)
        tid = t["trade_id"]
        if not (isinstance(tid, str) and 0 < len(tid) <= 128) and not (
                type(tid) is int and 0 <= tid < 2**63):
            raise ServiceError("malformed_trades",
                               f"trade #{i}: trade_id must be a short string or an int", 422)
        for f in ("instrument", "side", "size", "price", "counterparty"):
            if type(t[f]) is not int:
                raise ServiceError("malformed_trades", f"trade #{i}: {f} must be an int", 422)
        if t["side"] not in (1, -1):
            raise ServiceError("malformed_trades", f"trade #{i}: side must be +1 or -1", 422)
    return trades
