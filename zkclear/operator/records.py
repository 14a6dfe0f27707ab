"""The JSON forms the operator stores and serves: trades, reports, trade lists.

Each is the record of :mod:`zkclear.schemas` (one schema per record): a member's trade
list arrives as the payload of a transport message, a :class:`~zkclear.schemas.TradeList`
(``{"trades": [{trade_id, instrument, side, size, price, counterparty}, ...]}``:
:func:`parse_trade_list` checks its shape and types; matching checks the values); the
netted :class:`~zkclear.clearing.report.Report` is stored as a
:class:`~zkclear.schemas.NettedReport` (integers as decimal strings).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from zkclear.clearing.report import Report
from zkclear.clearing.trades import TradeReport
from zkclear.schemas import NettedReport, Trade, TradeList

from .errors import ServiceError

__all__ = ["MAX_TRADES_PER_LIST", "parse_trade_list", "report_from_json", "report_to_json",
           "trade_to_json"]

#: Largest trade list (entries) one submission may hold.
MAX_TRADES_PER_LIST = 1000


class _MalformedTrades(ServiceError):
    """A trade list that is not a :class:`zkclear.schemas.TradeList` (422)."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed_trades", message, 422)


def trade_to_json(t: TradeReport) -> dict[str, Any]:
    return Trade.of(t).model_dump()


def report_to_json(r: Report) -> dict[str, Any]:
    return NettedReport.of(r).model_dump()


def report_from_json(d: Mapping[str, Any] | str) -> Report:
    text = d if isinstance(d, str) else json.dumps(dict(d))
    return NettedReport.model_validate_json(text).to_engine()


def parse_trade_list(payload: bytes) -> list[dict[str, Any]]:
    """The trades of a submission payload (:class:`zkclear.schemas.TradeList`), at most
    :data:`MAX_TRADES_PER_LIST` of them (field types checked; matching checks values)."""
    trades = TradeList.read(payload, where="the trade list", error=_MalformedTrades).trades
    if len(trades) > MAX_TRADES_PER_LIST:
        raise ServiceError("too_many_trades",
                           f"{len(trades)} trades, at most {MAX_TRADES_PER_LIST} per list", 422)
    return [t.model_dump() for t in trades]
