"""What a stress run reads: the pool (or one member's portfolio) and the price paths.

The pool file (``zkclear-stress-pool-v1``) holds the risk parameters (the pool file's
``risk`` object, with the default fund's governed parameters ``df_floor``,
``df_share_bp``, ``stress_bp`` and ``skin_cap``), the current marks, optionally the
instruments' names and kinds, the contract's ``df_scale``, the house's account and every
member's collateral, default-fund contribution ``df`` and positions. A member file
(``zkclear-stress-member-v1``) holds the same public parts and one portfolio. Integers may
be JSON numbers or decimal strings (exact beyond 2^53). Both are checked against what the
engine accepts, and more: see :class:`StressPool`.

Price paths are integer ticks, ``epochs x instruments`` per path (docs/stress.md):

- CSV: one path; a header row of instrument names is optional (if the pool names its
  instruments, the header must name them in the same order); one row per epoch.
- JSON: ``[[p, ...], ...]`` (one path), ``[[[p, ...], ...], ...]`` (several), or
  ``{"paths": [...]}`` with either.
- Historical windows (:func:`windows`): one long series; every window of ``E + 1``
  consecutive rows becomes a path of the series' relative moves applied to the pool's
  marks.

Every refusal is a :class:`StressInputError` with a one-line message naming the file,
row and column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from zkclear import bounds
from zkclear.clearing.params import ParamsError, RiskParams, check_prices
from zkclear.errors import ZkclearError
from zkclear.schemas.base import DecimalStr, EngineRecord, Record, load, read_file
from zkclear.schemas.pool import Risk

#: ``1 <= P <= PRICE_MAX`` (``bounds.PRICE_BITS``).
PRICE_MAX = (1 << bounds.PRICE_BITS) - 1
#: The largest |position| a stress run accepts (one below the engine's 2^48: the run
#: margins a member's positions as prices, which are below 2^48; see ``run.py``).
POSITION_MAX = bounds.DELTA.hi
#: The only instrument kind the engine on this branch clears (docs/stress.md, "Instruments").
KINDS = ("future",)

I64 = npt.NDArray[np.int64]


class StressError(ZkclearError):
    """The stress run failed: a replay through the engine disagreed with the run (a bug)."""


class StressInputError(StressError, ValueError):
    """A stress input (pool, member file, price paths, generator settings) the run cannot
    use; the message names the file and the field, row or column."""


Integer = Annotated[int | DecimalStr, Field(description="an integer (number or decimal string)")]


class Account(Record):
    """One account: its collateral (minor units), its default-fund contribution (minor
    units, a member's only) and its position per instrument (lots)."""

    name: str | None = Field(None, description="a label for the report (default: member i)")
    collateral: Integer
    df: Integer = Field(0, description="the default-fund contribution held (default 0)")
    positions: list[Integer]


class StressRisk(Risk):
    """The pool file's ``risk`` object with the default fund's governed parameters
    (docs/protocol.md, "Default fund, the loss waterfall and Cover-2"); each defaults to
    the engine's default (no floor, no share, stress = the margin scenarios, unlimited
    skin in the game)."""

    df_floor: int = Field(0, description="a member's least contribution (minor units)")
    df_share_bp: int = Field(0, description="least share of a member's stress loss, bp")
    stress_bp: int = Field(bounds.BP, description="the Cover-2 stress: the margin "
                           "scenarios x stress_bp / 10000")
    skin_cap: int = Field(bounds.SKIN_UNLIMITED, description="the house's skin in the game")

    def to_engine(self) -> RiskParams:
        return RiskParams(self.im_factor_bp, self.penalty_bp, tuple(self.position_limits),
                          tuple(tuple(row) for row in self.shocks), df_floor=self.df_floor,
                          df_share_bp=self.df_share_bp, stress_bp=self.stress_bp,
                          skin_cap=self.skin_cap)


class Instrument(Record):
    name: str = Field(description="shown in reports; a CSV header must name it")
    kind: str = Field("future", description="future (the only kind this engine clears)")


class _Public(EngineRecord):
    """What every stress input shares: risk parameters, marks and instruments."""

    risk: StressRisk
    prices: list[Integer] = Field(description="the current marks (ticks), one per instrument")
    instruments: list[Instrument] | None = Field(None, description="names and kinds")
    df_scale: int = Field(0, description="the contract's dfScale (bp): the scale of the "
                          "first epoch's contribution call")


class StressPoolFile(_Public):
    """The whole pool: the operator's view (``zkclear stress run --pool``)."""

    format: Literal["zkclear-stress-pool-v1"]
    house: Account | None = Field(None, description="slot 0 (default: no collateral, no "
                                  "positions)")
    members: list[Account]

    def to_engine(self) -> StressPool:
        m = len(self.prices)
        house = self.house or Account(collateral=0, positions=[0] * m)
        accounts = [house, *self.members]
        names = ["house"] + [a.name or f"member {i}" for i, a in enumerate(self.members, 1)]
        return StressPool.build(self.risk.to_engine(), self.prices, accounts, names,
                                self.instruments, df_scale=self.df_scale)


class StressMemberFile(_Public):
    """One member's portfolio (``zkclear stress run --member-file``): the member's
    counterparty is the house, which holds the opposite positions and no collateral."""

    format: Literal["zkclear-stress-member-v1"]
    name: str | None = None
    collateral: Integer
    df: Integer = Field(0, description="the member's default-fund contribution held")
    positions: list[Integer]

    def to_engine(self) -> StressPool:
        try:
            opposite: list[Integer] = [-int(q) for q in self.positions]
        except ValueError as exc:
            raise ParamsError(str(exc)) from exc
        accounts = [Account(collateral=0, positions=opposite),
                    Account(collateral=self.collateral, df=self.df, positions=self.positions)]
        return StressPool.build(self.risk.to_engine(), self.prices, accounts,
                                ["house (counterparty)", self.name or "member"],
                                self.instruments, member_mode=True, df_scale=self.df_scale)


@dataclass(frozen=True)
class StressPool:
    """A pool as the stress run sees it: account 0 is the house, 1.. the members.

    Checked: prices as the engine checks them; positions within ``bounds.DELTA`` and
    ``|q| <= 2^48 - 1``; collateral within ``bounds.CASH``; contributions ``df`` as a
    leaf's (``0 <= df < 2^120``, the house's 0); ``0 <= df_scale < 2^16``; positions net to zero per
    instrument (an engine state always does; a member file's house holds the other side);
    and the house could take over every member's positions within ``bounds.DELTA``
    (``|q_0[m]| + sum_i |q_i[m]| < 2^48``), so no liquidation can leave the bounds.
    """

    params: RiskParams
    prices: tuple[int, ...]
    collateral: tuple[int, ...]
    positions: tuple[tuple[int, ...], ...]
    names: tuple[str, ...]
    instruments: tuple[str, ...]
    member_mode: bool = False
    df: tuple[int, ...] = ()  # per account, the house's 0 (() = none held)
    df_scale: int = 0  # the contract's dfScale before the first epoch

    @property
    def n_members(self) -> int:
        return len(self.collateral) - 1

    @property
    def n_instruments(self) -> int:
        return len(self.prices)

    @classmethod
    def build(cls, params: RiskParams, prices: Sequence[int | str],
              accounts: Sequence[Account], names: Sequence[str],
              instruments: Sequence[Instrument] | None = None, *,
              member_mode: bool = False, df_scale: int = 0) -> StressPool:
        m = params.n_instruments
        if instruments is not None:
            if len(instruments) != m:
                raise ParamsError(f"instruments: {len(instruments)} given, the risk "
                                  f"parameters have {m}")
            for j, ins in enumerate(instruments):
                if ins.kind not in KINDS:
                    raise ParamsError(
                        f"instruments[{j}] ({ins.name}) is a {ins.kind!r}: this engine "
                        f"clears {', '.join(KINDS)} only (docs/stress.md, 'Instruments')")
        labels = (tuple(ins.name for ins in instruments) if instruments is not None
                  else tuple(f"instrument {j}" for j in range(m)))
        return cls(params, tuple(int(p) for p in prices),
                   tuple(int(a.collateral) for a in accounts),
                   tuple(tuple(int(q) for q in a.positions) for a in accounts),
                   tuple(names), labels, member_mode,
                   tuple(int(a.df) for a in accounts), df_scale)

    def __post_init__(self) -> None:
        m = self.params.n_instruments
        check_prices(self.prices, m, "prices")
        if len(self.collateral) < 2:
            raise ParamsError("members: at least one member is needed")
        if not self.df:
            object.__setattr__(self, "df", (0,) * len(self.collateral))
        if len(self.df) != len(self.collateral):
            raise ParamsError("accounts: collateral and default-fund contributions differ "
                              "in length")
        if self.df[0]:
            raise ParamsError("house.df: the house holds no default-fund contribution "
                              "(its layer is its collateral, up to risk.skin_cap)")
        for i, d in enumerate(self.df[1:]):
            if isinstance(d, bool) or not 0 <= d < 1 << bounds.CASH_BITS:
                raise ParamsError(f"members[{i}].df = {d} is not a contribution in "
                                  f"[0, 2^{bounds.CASH_BITS})")
        if isinstance(self.df_scale, bool) or not 0 <= self.df_scale < 1 << bounds.SCALE_BITS:
            raise ParamsError(f"df_scale = {self.df_scale} is outside [0, "
                              f"2^{bounds.SCALE_BITS})")
        if not len(self.collateral) == len(self.positions) == len(self.names):
            raise ParamsError("accounts: collateral, positions and names differ in length")
        for i, (c, row) in enumerate(zip(self.collateral, self.positions, strict=True)):
            who = "house" if i == 0 else f"members[{i - 1}]"
            if len(row) != m:
                raise ParamsError(f"{who}.positions: {len(row)} given, the pool has {m} "
                                  "instruments")
            if not bounds.CASH.contains(c):
                raise ParamsError(f"{who}.collateral is outside the signed range "
                                  f"[-2^{bounds.CASH_BITS}, 2^{bounds.CASH_BITS})")
            for j, q in enumerate(row):
                if not -POSITION_MAX <= q <= POSITION_MAX:
                    raise ParamsError(f"{who}.positions[{j}] is outside "
                                      f"[-(2^{bounds.DELTA_BITS} - 1), 2^{bounds.DELTA_BITS} - 1]")
        for j in range(m):
            net = sum(row[j] for row in self.positions)
            if net:
                raise ParamsError(
                    f"positions in {self.instruments[j]} sum to {net}, not 0 (house included): "
                    f"every position has a counterparty in the pool")
            gross = sum(abs(row[j]) for row in self.positions)
            if gross > POSITION_MAX:
                raise ParamsError(
                    f"{self.instruments[j]}: the house could not take over every member's "
                    f"position within the engine's bounds (|positions| sum to {gross} "
                    f">= 2^{bounds.DELTA_BITS})")

    def positions_array(self) -> I64:
        """``(N + 1) x M`` int64, row 0 the house."""
        return np.array(self.positions, dtype=np.int64).reshape(len(self.positions), -1)


def _parsed(record: type[StressPoolFile] | type[StressMemberFile], path: str | Path,
            what: str) -> StressPool:
    doc = load(record, path, what=what, error=StressInputError)
    return doc.to_engine()


def load_pool(path: str | Path) -> StressPool:
    """A ``zkclear-stress-pool-v1`` file."""
    return _parsed(StressPoolFile, path, "stress pool file")


def load_member(path: str | Path) -> StressPool:
    """A ``zkclear-stress-member-v1`` file, as a pool of that member and its counterparty."""
    return _parsed(StressMemberFile, path, "member file")


# --- price paths -----------------------------------------------------------------------------


def _cell(value: Any, where: str) -> int:
    """One price: a positive integer tick below 2^48."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise StressInputError(f"{where}: missing price")
    if isinstance(value, bool):
        raise StressInputError(f"{where}: a price is an integer number of ticks, got "
                               f"{json.dumps(value)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            shown = text if len(text) <= 20 else text[:17] + "..."
            raise StressInputError(f"{where}: a price is an integer number of ticks, got "
                                   f"{shown!r}") from None
    elif isinstance(value, float):
        if not value.is_integer():
            raise StressInputError(f"{where}: a price is an integer number of ticks, got "
                                   f"{value!r}")
        value = int(value)
    elif not isinstance(value, int):
        raise StressInputError(f"{where}: a price is an integer number of ticks, got "
                               f"{type(value).__name__}")
    if value <= 0:
        raise StressInputError(f"{where}: price {value} is not positive")
    if value > PRICE_MAX:
        raise StressInputError(f"{where}: price {value} is not below 2^{bounds.PRICE_BITS}")
    return value


def check_paths(rows: Sequence[Sequence[Sequence[Any]]], pool: StressPool, where: str,
                labels: Sequence[str] | None = None) -> I64:
    """``paths x epochs x instruments`` prices checked one by one (a StressInputError
    names the first bad one), as int64."""
    m = pool.n_instruments
    names = pool.instruments
    if not rows:
        raise StressInputError(f"{where}: no price path")
    n_epochs = len(rows[0])
    out = np.empty((len(rows), n_epochs, m), dtype=np.int64)
    for p, path in enumerate(rows):
        lead = f"{where}: " + (f"path {p}, " if len(rows) > 1 else "")
        if not isinstance(path, list | tuple) or not path:
            raise StressInputError(f"{lead}no epochs (a path is a list of rows, one per "
                                   "epoch)")
        if len(path) != n_epochs:
            raise StressInputError(f"{lead}{len(path)} epochs, path 0 has {n_epochs}")
        for e, row in enumerate(path):
            row_name = labels[e] if labels is not None else f"epoch {e + 1}"
            if not isinstance(row, list | tuple):
                raise StressInputError(f"{lead}{row_name}: a row of {m} prices expected")
            if len(row) != m:
                raise StressInputError(f"{lead}{row_name}: {len(row)} prices, the pool has "
                                       f"{m} instruments ({', '.join(names)})")
            for j, v in enumerate(row):
                out[p, e, j] = _cell(v, f"{lead}{row_name}, {names[j]}")
    return out


def _csv_rows(text: str, pool: StressPool, where: str) -> tuple[list[list[str]], list[str]]:
    rows = [r for r in csv.reader(io.StringIO(text))]
    numbered = [(n, r) for n, r in enumerate(rows, 1) if any(c.strip() for c in r)]
    if not numbered:
        raise StressInputError(f"{where}: no rows")
    first = [c.strip() for c in numbered[0][1]]

    def numeric(c: str) -> bool:
        try:
            float(c)
        except ValueError:
            return False
        return True

    if any(c and not numeric(c) for c in first):  # a header
        if pool.instruments != tuple(f"instrument {j}" for j in range(pool.n_instruments)) \
                and first != list(pool.instruments):
            raise StressInputError(f"{where}: the header names {', '.join(first)}; the pool's "
                                   f"instruments are {', '.join(pool.instruments)} (in order)")
        if len(first) != pool.n_instruments:
            raise StressInputError(f"{where}: the header has {len(first)} columns, the pool "
                                   f"has {pool.n_instruments} instruments")
        numbered = numbered[1:]
    if not numbered:
        raise StressInputError(f"{where}: a header but no prices")
    return [r for _, r in numbered], [f"line {n}" for n, _ in numbered]


def load_paths(path: str | Path, pool: StressPool) -> I64:
    """Price paths from a CSV or JSON file (module docstring), ``paths x epochs x M``."""
    where = str(path)
    text = read_file(path, "price paths", StressInputError).decode("utf-8", "replace")
    if Path(path).suffix.lower() == ".csv":
        rows, labels = _csv_rows(text, pool, where)
        return check_paths([rows], pool, where, labels)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise StressInputError(f"{where}: not valid JSON ({exc}); price paths are a .csv or "
                               "a .json file") from None
    if isinstance(doc, dict):
        if set(doc) != {"paths"}:
            raise StressInputError(f"{where}: a JSON object of price paths has one field, "
                                   "'paths'")
        doc = doc["paths"]
    if not isinstance(doc, list) or not doc:
        raise StressInputError(f"{where}: a list of rows (one path) or of paths expected")
    first = doc[0]
    several = isinstance(first, list) and bool(first) and isinstance(first[0], list)
    return check_paths(doc if several else [doc], pool, where)


def windows(series: I64, prices: Sequence[int], n_epochs: int, where: str = "series") -> I64:
    """Historical simulation: every window ``series[s .. s + E]`` of one long series
    (``T x M``) becomes a path whose epoch e price is ``P0 * series[s + e] / series[s]``,
    rounded half up to a tick (at least 1), so each path replays history's relative moves
    from the pool's marks ``P0``. Gives ``T - E`` paths."""
    t, m = series.shape
    if n_epochs < 1:
        raise StressInputError("epochs must be at least 1")
    if t < n_epochs + 1:
        raise StressInputError(f"{where}: {t} rows, a window of {n_epochs} epochs needs "
                               f"{n_epochs + 1} (its first row is the base)")
    base = series[: t - n_epochs].astype(object)  # exact integers: P0 * H stays below 2^96
    p0 = np.array([int(p) for p in prices], dtype=object)
    out = np.empty((t - n_epochs, n_epochs, m), dtype=np.int64)
    for e in range(1, n_epochs + 1):
        h = series[e: t - n_epochs + e].astype(object)
        q = (2 * p0 * h + base) // (2 * base)
        out[:, e - 1, :] = np.clip(q, 1, PRICE_MAX).astype(np.int64)
    return out
