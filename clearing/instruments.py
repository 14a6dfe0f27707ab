"""The instrument table and the epoch's market data (docs/protocol.md, "Instruments").

An instrument is a future (no expiry), a perpetual (funding, no expiry), a dated future
(expiry epoch) or an option (call/put on an underlying of the pool, strike, expiry).
The table is fixed per deployment; the circuit sees three columns of it
(``isPerp``, ``isOption``, ``expiry``) through ``paramsHash``.

The market of an epoch is what the oracle's quorum made final for it: the marks ``P``
(settlement prices; an option's premium), the funding indices ``F`` (perpetuals) and the
options' risk arrays ``A`` (SPAN, :mod:`.span`), hashed as

    markHash   = PoseidonChain(P[0..M-1], F[0..M-1])          (F signed, mod r)
    riskHash   = PoseidonChain(A[0][0..K-1], ..., A[M-1][0..K-1])  (0 rows for non-options;
                 riskHash = 0 in a pool without options)
    pricesHash = Poseidon(markHash, riskHash)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypedDict

from zkclear import bounds
from zkclear.errors import ZkclearError
from zkclear.field import P
from zkclear.poseidon import poseidon, poseidon_chain

#: |funding index| < 2^FUNDING_BITS (signed ticks per lot, cumulative).
FUNDING_BITS = bounds.PRICE_BITS
#: |risk array entry| < 2^ARRAY_BITS (1/10000 tick per lot): the bound of -P*S.
ARRAY_BITS = bounds.PRICE_BITS + bounds.SHOCK_BITS


class InstrumentError(ZkclearError, ValueError):
    """An instrument table, mark, funding amount or risk array the protocol refuses."""


class Kind(Enum):
    FUTURE = "future"
    PERPETUAL = "perpetual"
    DATED = "dated"
    OPTION = "option"


@dataclass(frozen=True)
class Instrument:
    """One row of the table. ``underlying``/``strike``/``call`` only for options."""

    kind: Kind = Kind.FUTURE
    expiry: int = 0  # epoch of final settlement; 0 = none
    underlying: int = -1
    strike: int = 0  # ticks of the underlying
    call: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, Kind):
            object.__setattr__(self, "kind", Kind(self.kind))
        if isinstance(self.expiry, bool) or not isinstance(self.expiry, int) \
                or not 0 <= self.expiry < 1 << bounds.EPOCH_BITS:
            raise InstrumentError(f"expiry must be an epoch number >= 0, got {self.expiry!r}")
        expires = self.kind in (Kind.DATED, Kind.OPTION)
        if expires and self.expiry == 0:
            raise InstrumentError(f"a {self.kind.value} needs an expiry epoch >= 1")
        if not expires and self.expiry:
            raise InstrumentError(f"a {self.kind.value} has no expiry (got {self.expiry})")
        if self.kind is Kind.OPTION:
            if not 1 <= self.strike < 1 << bounds.PRICE_BITS:
                raise InstrumentError(f"option strike must be in [1, 2^48), got {self.strike}")
        elif self.underlying != -1 or self.strike:
            raise InstrumentError(f"a {self.kind.value} has no underlying or strike")

    @property
    def is_perp(self) -> bool:
        return self.kind is Kind.PERPETUAL

    @property
    def is_option(self) -> bool:
        return self.kind is Kind.OPTION

    def done(self, epoch: int) -> bool:
        """Settled: ``expiry != 0 and epoch >= expiry`` (no trades, positions closed)."""
        return self.expiry != 0 and epoch >= self.expiry

    def intrinsic(self, underlying_price: int) -> int:
        x = underlying_price - self.strike if self.call else self.strike - underlying_price
        return max(0, x)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind.value}
        if self.name:
            d["name"] = self.name
        if self.expiry:
            d["expiry"] = self.expiry
        if self.kind is Kind.OPTION:
            d |= {"underlying": self.underlying, "strike": self.strike,
                  "right": "call" if self.call else "put"}
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Instrument:
        extra = set(d) - {"kind", "name", "expiry", "underlying", "strike", "right"}
        if extra:
            raise InstrumentError(f"unknown instrument fields: {sorted(extra)}")
        try:
            kind = Kind(d.get("kind", "future"))
        except ValueError:
            raise InstrumentError(f"kind must be one of {[k.value for k in Kind]}, "
                                  f"got {d.get('kind')!r}") from None
        right = d.get("right", "call")
        if right not in ("call", "put"):
            raise InstrumentError(f"right must be 'call' or 'put', got {right!r}")
        return cls(kind, d.get("expiry", 0), d.get("underlying", -1), d.get("strike", 0),
                   right == "call", d.get("name", ""))


def futures(n: int) -> tuple[Instrument, ...]:
    """The table of a pool of ``n`` plain futures (what every pool had before)."""
    return (Instrument(),) * n


def check_table(table: Sequence[Instrument]) -> tuple[Instrument, ...]:
    """Options reference a non-option underlying of the pool expiring no earlier."""
    table = tuple(table)
    for m, ins in enumerate(table):
        if not isinstance(ins, Instrument):
            raise InstrumentError(f"instruments[{m}] is not an Instrument")
        if ins.is_option:
            u = ins.underlying
            if not 0 <= u < len(table) or u == m:
                raise InstrumentError(f"instruments[{m}]: option without an underlying in "
                                      f"the pool (underlying {u})")
            und = table[u]
            if und.is_option:
                raise InstrumentError(f"instruments[{m}]: underlying {u} is an option")
            if und.expiry and und.expiry < ins.expiry:
                raise InstrumentError(f"instruments[{m}]: underlying {u} expires at epoch "
                                      f"{und.expiry}, before the option ({ins.expiry})")
    return table


class TradingRules(TypedDict):
    """:func:`trading_rules`' keyword arguments of ``clearing.trades.apply_rules``."""

    settled: frozenset[int]
    options: frozenset[int]


def trading_rules(table: Sequence[Instrument], epoch: int) -> TradingRules:
    """What the matcher needs of the table in ``epoch`` (``clearing.trades.apply_rules``):
    the instruments ``settled`` (at or past their expiry: no trades) and the ``options``
    (a premium may be 0)."""
    return {"settled": frozenset(m for m, i in enumerate(table) if i.done(epoch)),
            "options": frozenset(m for m, i in enumerate(table) if i.is_option)}


def table_columns(table: Sequence[Instrument]) -> list[int]:
    """The hashed columns: ``isPerp[0..M-1], isOption[0..M-1], expiry[0..M-1]``."""
    return ([int(i.is_perp) for i in table] + [int(i.is_option) for i in table]
            + [i.expiry for i in table])


@dataclass(frozen=True)
class Market:
    """One epoch's final market data: marks, funding indices, option risk arrays."""

    prices: tuple[int, ...]
    funding: tuple[int, ...] = ()  # F_e; () = all zero
    arrays: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # option m -> A[m]

    def __post_init__(self) -> None:
        object.__setattr__(self, "prices", tuple(self.prices))
        m = len(self.prices)
        fund = tuple(self.funding) if self.funding else (0,) * m
        if len(fund) != m:
            raise InstrumentError(f"{len(fund)} funding indices for {m} instruments")
        for j, f in enumerate(fund):
            if isinstance(f, bool) or not isinstance(f, int) \
                    or not -(1 << FUNDING_BITS) < f < 1 << FUNDING_BITS:
                raise InstrumentError(f"funding[{j}] = {f!r} is outside (-2^48, 2^48)")
        object.__setattr__(self, "funding", fund)
        arrays = {int(j): tuple(a) for j, a in dict(self.arrays).items()}
        for j, a in arrays.items():
            if not 0 <= j < m:
                raise InstrumentError(f"risk array for unknown instrument {j}")
            for k, v in enumerate(a):
                if isinstance(v, bool) or not isinstance(v, int) \
                        or not -(1 << ARRAY_BITS) <= v < 1 << ARRAY_BITS:
                    raise InstrumentError(f"risk array [{j}][{k}] = {v!r} is outside "
                                          f"[-2^64, 2^64)")
        object.__setattr__(self, "arrays", arrays)

    def risk_hash(self, table: Sequence[Instrument], n_scenarios: int, epoch: int) -> int:
        return risk_hash(table, self.arrays, n_scenarios, epoch)

    def hash(self, table: Sequence[Instrument], n_scenarios: int, epoch: int) -> int:
        """``pricesHash`` of this market as epoch ``epoch``'s in a pool with this table."""
        return prices_hash(self.prices, self.funding,
                           self.risk_hash(table, n_scenarios, epoch))


def live_options(table: Sequence[Instrument], epoch: int) -> frozenset[int]:
    """The options whose risk arrays epoch ``epoch`` uses: those before their expiry epoch
    (from it on, an option's positions settle and close). Genesis (epoch 0) has none."""
    return frozenset(m for m, ins in enumerate(table)
                     if ins.is_option and 0 < epoch < ins.expiry)


def risk_hash(table: Sequence[Instrument], arrays: Mapping[int, Sequence[int]],
              n_scenarios: int, epoch: int) -> int:
    """``riskHash`` of epoch ``epoch``: 0 when no option is live, else
    :func:`risk_arrays_hash`; every live option needs its array, nothing else has one
    but a settled option may carry an all-zero row."""
    options = {m for m, ins in enumerate(table) if ins.is_option}
    live = live_options(table, epoch)
    if set(arrays) - options:
        raise InstrumentError(f"risk arrays given for instruments that are not options: "
                              f"{sorted(set(arrays) - options)}")
    settled = {m for m in set(arrays) - live if any(arrays[m])}
    if settled:
        raise InstrumentError(f"option(s) {sorted(settled)} are settled in epoch {epoch}: "
                              "their risk arrays are not used and must be zero or absent")
    if not live:
        return 0
    missing = live - set(arrays)
    if missing:
        raise InstrumentError(f"no risk array for option(s) {sorted(missing)}")
    return risk_arrays_hash({m: arrays[m] for m in live}, len(table), n_scenarios)


def mark_hash(prices: Sequence[int], funding: Sequence[int] | None = None) -> int:
    """``PoseidonChain(P[0..M-1], F[0..M-1])`` (F signed mod r; None = zeros)."""
    fund = list(funding) if funding else [0] * len(prices)
    return poseidon_chain([*prices, *(f % P for f in fund)])


def risk_arrays_hash(arrays: Mapping[int, Sequence[int]], n_instruments: int,
                     n_scenarios: int) -> int:
    """``PoseidonChain`` of every instrument's array, instrument-major, zeros for
    instruments without one (only options carry arrays)."""
    values = []
    for m in range(n_instruments):
        a = arrays.get(m)
        if a is not None and len(a) != n_scenarios:
            raise InstrumentError(f"risk array of instrument {m} has {len(a)} entries, "
                                  f"expected K = {n_scenarios}")
        values += [(a[k] if a is not None else 0) % P for k in range(n_scenarios)]
    return poseidon_chain(values)


def prices_hash(prices: Sequence[int], funding: Sequence[int] | None = None,
                risk_hash: int = 0) -> int:
    """``pricesHash = Poseidon(markHash, riskHash)``: what the oracle holds per epoch and
    the epoch proof's ``pricesHash`` / ``pricesPrevHash`` public inputs."""
    return poseidon([mark_hash(prices, funding), risk_hash])


def encode_arrays(arrays: Mapping[int, Sequence[int]]) -> bytes:
    """The arrays as reporters publish them with their hash (``postRiskArrays`` calldata,
    the ``RiskArraysPosted`` event): ``abi.encode(uint256[] instruments, int256[][] rows)``
    in instrument order. The contract does not read them; auditors and the operator do."""
    from eth_abi import encode

    idx = sorted(arrays)
    return encode(["uint256[]", "int256[][]"], [idx, [list(arrays[m]) for m in idx]])


def decode_arrays(data: bytes) -> dict[int, tuple[int, ...]]:
    """Inverse of :func:`encode_arrays` (InstrumentError if malformed)."""
    from eth_abi import decode

    try:
        idx, rows = decode(["uint256[]", "int256[][]"], bytes(data))
    except Exception as exc:  # eth_abi raises several unrelated types
        raise InstrumentError(f"malformed risk arrays: {exc}") from None
    if len(idx) != len(rows) or list(idx) != sorted(set(idx)):
        raise InstrumentError("malformed risk arrays: instruments must be increasing, one "
                              "row each")
    return {int(m): tuple(int(v) for v in row) for m, row in zip(idx, rows, strict=True)}
