"""A member's trades and its netted report, as they cross the wire and the disk.

The engine works on its own dataclasses (:class:`~zkclear.clearing.trades.TradeReport`,
:class:`~zkclear.clearing.report.Report`); these records are their JSON form, converted
here and nowhere else (:meth:`Trade.of` / :meth:`Trade.to_engine`,
:meth:`NettedReport.of` / :meth:`NettedReport.to_engine`).

Only the types are checked here (and ``side``): a trade with an unknown instrument or a
size out of bounds is a well-formed record that matching rejects with a reason
(:func:`zkclear.clearing.trades.match_trades`), without rejecting the rest of the list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from zkclear.clearing.intake import TradeReport
from zkclear.clearing.report import Report
from zkclear.errors import ZkclearError

from .base import DecimalStr, EngineRecord, Record, parse, read_file

#: Longest string trade id, and the bound of an integer one (SQLite's signed 64 bits).
MAX_ID_CHARS = 128
MAX_INT_ID = 2**63


def _trade_id(value: Any) -> str | int:
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS:
        return value
    if type(value) is int and 0 <= value < MAX_INT_ID:
        return value
    raise PydanticCustomError(
        "trade_id", f"must be a string of 1 to {MAX_ID_CHARS} characters or an integer in "
        "0..2^63-1 (\"7\" and 7 are different ids)")


TradeId = Annotated[str | int, PlainValidator(_trade_id), WithJsonSchema({"anyOf": [
    {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
    {"type": "integer", "minimum": 0, "exclusiveMaximum": MAX_INT_ID}]})]


def _side(value: int) -> int:
    if value not in (1, -1):
        raise PydanticCustomError("side", "must be +1 (buy) or -1 (sell)")
    return value


#: +1 buy, -1 sell (an integer: ``true`` is not 1).
Side = Annotated[int, AfterValidator(_side), WithJsonSchema({"enum": [1, -1]})]


class Trade(Record):
    """One side of a trade as a member reports it (and as the operator reports it back)."""

    trade_id: TradeId = Field(description="unique within one member's list; the "
                              "counterparty reports the same id")
    instrument: int = Field(description="instrument index, 0 <= m < M")
    side: Side = Field(description="+1 buy, -1 sell")
    size: int = Field(description="lots, 1 <= size < 2^48")
    price: int = Field(description="ticks, 1 <= price < 2^48")
    counterparty: int = Field(description="the other member's slot")

    @classmethod
    def of(cls, t: TradeReport) -> Trade:
        """The record of an engine trade report."""
        return cls.model_validate(_fields(t))

    def to_engine(self) -> TradeReport:
        return TradeReport(self.trade_id, self.instrument, self.side, self.size, self.price,
                           self.counterparty)


def _fields(t: Any) -> Any:
    """An engine trade report as a mapping (anything else as it is)."""
    if isinstance(t, TradeReport):
        return {f: getattr(t, f) for f in Trade.model_fields}
    return t


class TradeList(Record):
    """A member's trade list for one epoch: the payload it seals to the operator, and the
    file ``zkclear member submit --trades`` reads (which may also be the bare list)."""

    trades: list[Trade]

    @classmethod
    def read(cls, data: Any, *, where: str,
             error: type[ZkclearError] = ZkclearError) -> TradeList:
        """From JSON text, a ``{"trades": [...]}`` document or a bare list (of mappings or
        engine trade reports); ``error`` names the failing fields otherwise."""
        if isinstance(data, TradeList):
            return data
        if isinstance(data, str | bytes | bytearray):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise error(f"{where}: not valid JSON ({exc})") from None
        if isinstance(data, list | tuple):
            data = {"trades": [_fields(t) for t in data]}
        return parse(cls, data, where=where, error=error)

    @classmethod
    def load(cls, path: str | Path, *, error: type[ZkclearError] = ZkclearError) -> TradeList:
        """Read a trade-list file (the object or the bare list)."""
        what = "the trade list"
        return cls.read(read_file(path, what, error), where=f"{what} {path}", error=error)

    def to_engine(self) -> list[TradeReport]:
        return [t.to_engine() for t in self.trades]

    def to_json(self) -> list[dict[str, Any]]:
        """The bare list of trades (as stored and as sent in ``{"trades": ...}``)."""
        return [t.model_dump() for t in self.trades]


class NettedReport(EngineRecord):
    """A member's netted report for one epoch (what it encrypts and commits to):
    ``delta[m]`` in lots, ``trade_cash`` in minor units, ``salt`` a field element; all
    decimal strings."""

    delta: list[DecimalStr] = Field(description="position change per instrument")
    trade_cash: DecimalStr = Field(description="settlement-relative cash of the trades")
    salt: DecimalStr = Field(description="commitment salt, 0 <= salt < r")

    @classmethod
    def of(cls, report: Report) -> NettedReport:
        return cls(delta=[str(d) for d in report.delta], trade_cash=str(report.trade_cash),
                   salt=str(report.salt))

    def to_engine(self) -> Report:
        return Report(tuple(int(d) for d in self.delta), int(self.trade_cash), int(self.salt))
