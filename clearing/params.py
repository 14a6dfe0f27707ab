"""Pool configuration and governed risk parameters (docs/protocol.md, "The epoch")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from zkclear import bounds
from zkclear.errors import ZkclearError
from zkclear.field import P
from zkclear.poseidon import poseidon_chain

from . import instruments as _ins
from .instruments import Instrument, InstrumentError, table_columns


class ParamsError(ZkclearError, ValueError):
    """A pool configuration, risk parameter or price is outside what the circuits check."""


@dataclass(frozen=True)
class PoolConfig:
    """Sizes fixed per deployment: N slots (slot 0 = house), M instruments, K scenarios."""

    n_slots: int
    n_instruments: int
    n_scenarios: int
    max_events: int = 0  # 0: the default 4 * n_slots

    def __post_init__(self) -> None:
        n = self.n_slots
        if n < 2 or n & (n - 1) or n > bounds.MAX_SLOTS:
            raise ParamsError(
                f"n_slots must be a power of two in [2, {bounds.MAX_SLOTS}], got {n}")
        if not 1 <= self.n_instruments <= bounds.MAX_INSTRUMENTS:
            raise ParamsError(f"n_instruments must be in [1, {bounds.MAX_INSTRUMENTS}]")
        if self.n_scenarios < 1:
            raise ParamsError("n_scenarios must be >= 1")
        if self.max_events == 0:
            object.__setattr__(self, "max_events", 4 * n)
        if self.max_events < 1:
            raise ParamsError("max_events must be >= 1")


def _unsigned(name: str, x: int, lo: int, hi: int) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise ParamsError(f"{name} must be an int, got {type(x).__name__}")
    if not lo <= x <= hi:
        raise ParamsError(f"{name} = {x} is outside [{lo}, {hi}]")
    return x


#: The default-fund parameters as the contracts name them (``RiskParamsSet``), in order.
FUND_FIELDS = ("dfFloor", "dfShareBp", "stressBp", "skinCap")


@dataclass(frozen=True)
class RiskParams:
    """SPAN-like risk parameters.

    ``shocks[k][m]``: signed price move of instrument m in scenario k, in basis points;
    the loss per lot held is ``-price * shock / 10000`` (a risk array per instrument).
    ``im_factor_bp``: initial margin = maintenance margin x factor / 10000 (>= 10000).
    ``penalty_bp``: liquidation penalty in basis points of maintenance margin.
    ``position_limits[m]``: largest |position| a member may hold in instrument m.
    ``instruments``: the deployment's fixed instrument table (docs/protocol.md,
    "Instruments"); () means M plain futures. Its columns ``isPerp, isOption, expiry``
    are hashed with the parameters; governance never changes them.
    The default fund (docs/protocol.md, "Default fund, the loss waterfall and Cover-2"):
    ``df_floor`` (least contribution of a member), ``df_share_bp`` (least share of its own
    stress loss), ``stress_bp`` (the Cover-2 stress: margin scenarios x stress_bp / 10000)
    and ``skin_cap`` (the house's skin in the game; default unlimited).
    """

    im_factor_bp: int
    penalty_bp: int
    position_limits: tuple[int, ...]
    shocks: tuple[tuple[int, ...], ...]
    instruments: tuple[Instrument, ...] = ()
    df_floor: int = 0
    df_share_bp: int = 0
    stress_bp: int = bounds.BP
    skin_cap: int = bounds.SKIN_UNLIMITED

    def __post_init__(self) -> None:
        object.__setattr__(self, "position_limits", tuple(self.position_limits))
        object.__setattr__(self, "shocks", tuple(tuple(row) for row in self.shocks))
        table = tuple(self.instruments) or _ins.futures(len(self.position_limits))
        if len(table) != len(self.position_limits):
            raise ParamsError(f"{len(table)} instruments in the table, "
                              f"{len(self.position_limits)} position limits")
        try:
            object.__setattr__(self, "instruments", _ins.check_table(table))
        except InstrumentError as exc:
            raise ParamsError(str(exc)) from exc
        _unsigned("im_factor_bp", self.im_factor_bp, bounds.BP,
                  (1 << bounds.IM_FACTOR_BITS) - 1)
        _unsigned("penalty_bp", self.penalty_bp, 0, bounds.BP)
        _unsigned("df_floor", self.df_floor, 0, (1 << bounds.FUND_BITS) - 1)
        _unsigned("df_share_bp", self.df_share_bp, 0, (1 << bounds.SCALE_BITS) - 1)
        _unsigned("stress_bp", self.stress_bp, bounds.BP, (1 << bounds.SCALE_BITS) - 1)
        _unsigned("skin_cap", self.skin_cap, 0, (1 << bounds.FUND_BITS) - 1)
        for m, lim in enumerate(self.position_limits):
            _unsigned(f"position_limits[{m}]", lim, 1, bounds.DELTA.hi)
        if not self.shocks:
            raise ParamsError("at least one scenario is needed")
        for k, row in enumerate(self.shocks):
            if len(row) != len(self.position_limits):
                raise ParamsError(f"shocks[{k}] has {len(row)} entries, "
                                  f"expected one per instrument ({len(self.position_limits)})")
            for m, s in enumerate(row):
                try:
                    bounds.SHOCK.check(s, f"shocks[{k}][{m}]")
                except (ValueError, TypeError) as exc:
                    raise ParamsError(str(exc)) from exc

    @property
    def n_instruments(self) -> int:
        return len(self.position_limits)

    @property
    def n_scenarios(self) -> int:
        return len(self.shocks)

    def check_config(self, config: PoolConfig) -> None:
        if (self.n_instruments, self.n_scenarios) != (config.n_instruments, config.n_scenarios):
            raise ParamsError(
                f"risk parameters are for M={self.n_instruments}, K={self.n_scenarios}; "
                f"the pool has M={config.n_instruments}, K={config.n_scenarios}")

    def field_elements(self) -> list[int]:
        """The hashed vector: imFactorBp, penaltyBp, dfFloor, dfShareBp, stressBp,
        skinCap, posLimit[..], shock rows (mod r), then the table's columns isPerp[..],
        isOption[..], expiry[..]."""
        return [self.im_factor_bp, self.penalty_bp, *self.fund_elements(),
                *self.position_limits,
                *(s % P for row in self.shocks for s in row),
                *table_columns(self.instruments)]

    def fund_elements(self) -> list[int]:
        """``dfFloor, dfShareBp, stressBp, skinCap`` (hashed after penaltyBp)."""
        return [self.df_floor, self.df_share_bp, self.stress_bp, self.skin_cap]

    @classmethod
    def from_log(cls, args: Any, n_instruments: int,
                 instruments: Sequence[Instrument] = ()) -> RiskParams:
        """The parameters a ``RiskParamsSet`` event announces (shocks flattened row-major)
        with the deployment's instrument table (() = plain futures); the event's table
        columns must be the table's. The caller checks the paramsHash it trusts."""
        shocks = [int(x) for x in args["shocks"]]
        m = n_instruments
        params = cls(int(args["imFactorBp"]), int(args["penaltyBp"]),
                     tuple(int(x) for x in args["positionLimits"]),
                     tuple(tuple(shocks[k * m:(k + 1) * m]) for k in range(len(shocks) // m)),
                     tuple(instruments),
                     *(int(args[k]) for k in FUND_FIELDS if k in args))
        if "expiry" in args:
            cols = ([int(x) for x in args["isPerp"]] + [int(x) for x in args["isOption"]]
                    + [int(x) for x in args["expiry"]])
            if cols != table_columns(params.instruments):
                raise ParamsError("the RiskParamsSet event's instrument columns are not "
                                  "those of the deployment's instrument table")
        return params

    def hash(self) -> int:
        """``paramsHash``."""
        return poseidon_chain(self.field_elements())

    @classmethod
    def symmetric(cls, n_instruments: int, shock_bp: Sequence[int], *,
                  im_factor_bp: int = 15_000, penalty_bp: int = 1_000,
                  position_limit: int = 1_000_000) -> RiskParams:
        """Scenarios: every instrument moved together, up then down, by each shock.

        Joint moves are what make a hedged basket (long one instrument, short a
        correlated one) cheaper than its legs: the legs' losses offset in each scenario.
        """
        rows: list[tuple[int, ...]] = []
        for s in shock_bp:
            rows.append(tuple([s] * n_instruments))
            rows.append(tuple([-s] * n_instruments))
        return cls(im_factor_bp, penalty_bp, tuple([position_limit] * n_instruments),
                   tuple(rows))

    def risk_matrix(self, prices: Sequence[int],
                    arrays: Mapping[int, Sequence[int]] | None = None,
                    epoch: int | None = None) -> list[list[int]]:
        """``r[k][m]``: the loss of one long lot of instrument m in scenario k, in 1/BP
        tick: ``A[m][k]`` for an option (its published risk array), ``-P[m] * S[k][m]``
        for every other instrument (docs/protocol.md, "Instruments"). With ``epoch``, an
        option settled by then (its positions closed) may have no array: its row is 0."""
        arrays = dict(arrays or {})
        if epoch is not None:
            for m, ins in enumerate(self.instruments):
                if ins.is_option and m not in arrays and ins.done(epoch):
                    arrays[m] = (0,) * len(self.shocks)
        rows: list[list[int]] = []
        for k, row in enumerate(self.shocks):
            r = []
            for m, (p, s) in enumerate(zip(prices, row, strict=True)):
                if self.instruments[m].is_option:
                    if m not in arrays:
                        raise ParamsError(f"no risk array for option {m}")
                    r.append(int(arrays[m][k]))
                else:
                    r.append(-p * s)
            rows.append(r)
        return rows

    def with_instruments(self, table: Sequence[Instrument]) -> RiskParams:
        return replace(self, instruments=tuple(table))


def check_prices(prices: Sequence[int], n_instruments: int, what: str = "prices",
                 table: Sequence[Instrument] = ()) -> tuple[int, ...]:
    """Prices are ticks below 2^PRICE_BITS, one per instrument: positive, except an
    option's premium, which may be 0."""
    if len(prices) != n_instruments:
        raise ParamsError(f"{what}: {len(prices)} given, the pool has {n_instruments} instruments")
    for m, p in enumerate(prices):
        lo = 0 if table and table[m].is_option else 1
        _unsigned(f"{what}[{m}]", p, lo, (1 << bounds.PRICE_BITS) - 1)
    return tuple(prices)


def prices_hash(prices: Sequence[int], funding: Sequence[int] | None = None,
                risk_hash: int = 0) -> int:
    """``pricesHash = Poseidon(PoseidonChain(P[..], F[..]), riskHash)`` (docs/protocol.md,
    "State"; :func:`.instruments.prices_hash`)."""
    return _ins.prices_hash(prices, funding, risk_hash)
