"""SPAN-style risk arrays for futures and options on futures, in exact integers.

A risk array of an instrument has ``K = 16`` signed integers: entry ``k`` is the loss of
one long lot in scenario ``k``, in units of 1/10000 tick (positive = loss). The epoch
circuit margins a portfolio ``q`` with::

    loss_k = sum_m q[m] * r[k][m]
    MM     = ceil(max(0, max_k loss_k) / 10000)

The 16 scenarios are CME SPAN's (docs/risk_arrays.md has the table): the underlying moves
by ``0, +-1/3, +-2/3, +-1`` of its price scan range with the volatility up or down by the
volatility scan range, and by ``+-X`` scan ranges (``X = extreme_multiple``) with the
volatility unchanged, counted at the weight ``W = extreme_weight_bp / 10000``.

Futures (linear)::

    S[k] = round_half_even(f_k * scan_bp * w_k)      (basis points, w_k = 1 or W)
    r[k] = -P * S[k]

Options on a future (Black-76, sticky strike)::

    F_k     = F * (1 + f_k * scan_bp / 10000)
    sigma_k = max(smile(K) + v_k * vol_scan, VOL_FLOOR)      (v_k = +1, -1 or 0)
    r[k]    = round_half_even(10000 * w_k * (V(F, sigma_0) - V(F_k, sigma_k)))

Every party must get the same integers from the same inputs, so nothing here is a float:
inputs are ints or decimal strings, the arithmetic is :mod:`decimal` in a local context of
``PRECISION`` digits with half-even rounding (``+ - * /``, ``ln``, ``exp`` and ``sqrt``
are correctly rounded there, so they give the same digits on every machine), the normal
CDF is a fixed series (:func:`norm_cdf`), and each output is rounded half-even once, at
the end.

Why one long module: this is one algorithm whose outputs every party must reproduce digit
for digit. The decimal context (``_CONTEXT``), the normal CDF and pi at that precision,
Black-76, the scenario table and the generator share one precision and rounding; the
instrument and smile records and the two file formats (``zkclear-risk-inputs-v1``,
``zkclear-risk-arrays-v1``) read their values with the same exact converters
(:func:`to_int`, :func:`to_decimal`, :func:`loads`, which refuses JSON floats). The tests
raise ``span._CONTEXT`` to 100 digits to bound the CDF's error: split into modules, each
would hold its own binding of the context, and the file readers could not be re-exported
from here without an import cycle.
docs/risk_arrays.md is its specification (scenarios, futures, options, the smile, exactness,
the hash, the formats).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from fractions import Fraction
from itertools import pairwise
from typing import Any

from zkclear import bounds

from . import instruments
from .params import ParamsError

FORMAT_INPUTS = "zkclear-risk-inputs-v1"
FORMAT_ARRAYS = "zkclear-risk-arrays-v1"

#: Scenarios per risk array (the CME SPAN set).
N_SCENARIOS = 16
#: Significant digits of every Decimal operation.
PRECISION = 50
#: Smallest volatility used in a valuation (a scenario's vol is floored here).
VOL_FLOOR = Decimal("0.0001")
#: ``N(x)`` is taken as exactly 0 below ``-CDF_CUTOFF`` and 1 above it (error < 4e-51).
CDF_CUTOFF = 15
#: Time to expiry in years = calendar days / DAYS_PER_YEAR (ACT/365).
DAYS_PER_YEAR = 365
DEFAULT_EXTREME_MULTIPLE = 2
DEFAULT_EXTREME_WEIGHT_BP = 3500
#: Largest absolute interest rate accepted (continuously compounded, per year).
MAX_RATE = 1
#: Every array entry has ``|r| < 2^ENTRY_BITS``, like a future's ``P * S``
#: (prices < 2^48, shocks < 2^16), so the circuit's loss bound holds for options too.
ENTRY_BITS = bounds.PRICE_BITS + bounds.SHOCK_BITS

BP = bounds.BP
_CONTEXT = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999,
                   traps=[InvalidOperation, DivisionByZero, Overflow])
_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZERO, _HALF, _ONE = Decimal(0), Decimal("0.5"), Decimal(1)


class SpanError(ParamsError):
    """Risk-array inputs that are malformed or outside what the generator accepts."""


# -- exact values ----------------------------------------------------------------------------

class _JsonFloat(str):
    """A JSON number with a fraction or exponent, kept as its text so it can be refused."""


def _reject_constant(name: str) -> Any:
    raise SpanError(f"JSON constant {name} is not a number the risk arrays accept")


def loads(text: str) -> Any:
    """``json.loads`` that keeps JSON floats recognisable, so a field can refuse them."""
    try:
        return json.loads(text, parse_float=_JsonFloat, parse_constant=_reject_constant)
    except ValueError as exc:
        if isinstance(exc, SpanError):
            raise
        raise SpanError(f"not valid JSON ({exc})") from exc


def _float_error(name: str, value: Any) -> SpanError:
    return SpanError(f"{name} = {value} is a float: give it as a decimal string (\"{value}\") "
                     f"or an integer, so that every party computes with the same number")


def to_int(value: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]``; floats, bools and strings are refused."""
    if isinstance(value, float | _JsonFloat):
        raise _float_error(name, value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpanError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if lo is not None and value < lo:
        raise SpanError(f"{name} must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise SpanError(f"{name} must be <= {hi}, got {value}")
    return value


def to_decimal(value: Any, name: str) -> Decimal:
    """An int, a finite Decimal or a decimal string (``-12.5``, no exponent) as a Decimal."""
    if isinstance(value, float | _JsonFloat):
        raise _float_error(name, value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise SpanError(f"{name} must be a finite number, got {value}")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        return Decimal(value)
    raise SpanError(f"{name} must be an integer or a decimal string such as \"0.25\", "
                    f"got {value!r}")


def to_date(value: Any, name: str) -> date:
    """A :class:`datetime.date` or an ISO date string ``YYYY-MM-DD``."""
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise SpanError(f"{name} must be a date YYYY-MM-DD, got {value!r}")


def round_half_even(x: Decimal) -> int:
    """The integer nearest ``x``, ties to even."""
    with localcontext(_CONTEXT):
        return int(x.to_integral_value(rounding=ROUND_HALF_EVEN))


# -- the normal distribution and Black-76 ------------------------------------------------------

def norm_pdf(x: Decimal) -> Decimal:
    """phi(x) = exp(-x^2 / 2) / sqrt(2 pi)."""
    with localcontext(_CONTEXT):
        return (-(x * x) / 2).exp() / _SQRT_2PI


def norm_cdf(x: Decimal) -> Decimal:
    """N(x), the standard normal CDF, by the series (Abramowitz & Stegun 26.2.11)::

        N(x) = 1/2 + phi(x) * (x + x^3/3 + x^5/(3*5) + x^7/(3*5*7) + ...)

    summed until a term no longer changes the sum at ``PRECISION`` digits. Every term has
    the sign of x, so nothing cancels inside the sum; N(x) is taken as 0 for
    ``x < -CDF_CUTOFF`` and 1 for ``x > CDF_CUTOFF`` (true tail < 4e-51). Absolute error
    below 1e-45 for every x (docs/risk_arrays.md).
    """
    with localcontext(_CONTEXT):
        if x > CDF_CUTOFF:
            return _ONE
        if x < -CDF_CUTOFF:
            return _ZERO
        x2, term, total, n = x * x, x, x, 1
        while True:
            n += 2
            term = term * x2 / n
            grown = total + term
            if grown == total:
                break
            total = grown
        return _HALF + norm_pdf(x) * total


def _pi() -> Decimal:
    """pi to PRECISION digits: 4 * (4 atan(1/5) - atan(1/239)) (Machin)."""
    with localcontext(_CONTEXT) as ctx:
        ctx.prec += 5
        total = 4 * (4 * _atan_inv(5) - _atan_inv(239))
    with localcontext(_CONTEXT):
        return +total


def _atan_inv(n: int) -> Decimal:
    """atan(1/n) = sum_j (-1)^j / ((2j + 1) n^(2j + 1)) in the caller's context."""
    power, total, j = Decimal(1) / n, Decimal(1) / n, 0
    while True:
        j += 1
        power /= n * n
        term = power / (2 * j + 1)
        grown = total - term if j % 2 else total + term
        if grown == total:
            return total
        total = grown


with localcontext(_CONTEXT):
    _SQRT_2PI = (2 * _pi()).sqrt()


def _d1_d2(forward: Decimal, strike: Decimal, vol: Decimal,
           t: Decimal) -> tuple[Decimal, Decimal]:
    """d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt T), d2 = d1 - sigma sqrt T."""
    with localcontext(_CONTEXT):
        sd = vol * t.sqrt()
        d1 = ((forward / strike).ln() + sd * sd / 2) / sd
        return d1, d1 - sd


def _right(right: str) -> str:
    if right not in ("call", "put"):
        raise SpanError(f"right must be \"call\" or \"put\", got {right!r}")
    return right


def _valuation_args(forward: Any, strike: Any, vol: Any, t: Any,
                    rate: Any) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    f, k = to_decimal(forward, "forward"), to_decimal(strike, "strike")
    v, tt, r = to_decimal(vol, "vol"), to_decimal(t, "t"), to_decimal(rate, "rate")
    for name, x in (("forward", f), ("strike", k)):
        if x <= 0:
            raise SpanError(f"{name} must be > 0, got {x}")
    for name, x in (("vol", v), ("t", tt)):
        if x < 0:
            raise SpanError(f"{name} must be >= 0, got {x}")
    return f, k, v, tt, r


def black76(right: str, forward: Any, strike: Any, vol: Any, t: Any,
            rate: Any = 0) -> Decimal:
    """Black-76 value of a European option on a future (same units as F and K)::

        C = e^{-rT} [F N(d1) - K N(d2)]
        P = e^{-rT} [K N(-d2) - F N(-d1)]

    With ``T = 0`` or ``sigma = 0`` the value is the discounted intrinsic value,
    ``e^{-rT} max(F - K, 0)`` (call) or ``e^{-rT} max(K - F, 0)`` (put).
    """
    f, k, v, tt, r = _valuation_args(forward, strike, vol, t, rate)
    with localcontext(_CONTEXT):
        disc = (-r * tt).exp()
        if tt == 0 or v == 0:
            return disc * max(f - k if _right(right) == "call" else k - f, _ZERO)
        d1, d2 = _d1_d2(f, k, v, tt)
        if _right(right) == "call":
            return disc * (f * norm_cdf(d1) - k * norm_cdf(d2))
        return disc * (k * norm_cdf(-d2) - f * norm_cdf(-d1))


def black76_delta(right: str, forward: Any, strike: Any, vol: Any, t: Any,
                  rate: Any = 0) -> Decimal:
    """dV/dF: ``e^{-rT} N(d1)`` (call), ``e^{-rT} (N(d1) - 1)`` (put); with ``T = 0`` or
    ``sigma = 0``, N(d1) is 1, 1/2 or 0 as F is above, at or below K."""
    f, k, v, tt, r = _valuation_args(forward, strike, vol, t, rate)
    with localcontext(_CONTEXT):
        if tt == 0 or v == 0:
            n1 = _ONE if f > k else _HALF if f == k else _ZERO
        else:
            n1 = norm_cdf(_d1_d2(f, k, v, tt)[0])
        return (-r * tt).exp() * (n1 if _right(right) == "call" else n1 - 1)


def smile_vol(points: Sequence[tuple[int, Any]], strike: int) -> Decimal:
    """The smile's volatility at ``strike``: linear in strike between the two points around
    it, flat (the nearest point's vol) below the lowest and above the highest strike::

        vol(K) = v_i + (v_{i+1} - v_i) * (K - K_i) / (K_{i+1} - K_i)   for K_i <= K <= K_{i+1}

    ``points`` are ``(strike, vol)`` in increasing strike order (as :class:`Smile` keeps
    them).
    """
    if not points:
        raise SpanError("a smile needs at least one (strike, vol) point")
    pts = [(s, to_decimal(v, "smile vol")) for s, v in points]
    if strike <= pts[0][0]:
        return pts[0][1]
    for (k0, v0), (k1, v1) in pairwise(pts):
        if strike <= k1:
            with localcontext(_CONTEXT):
                return v0 + (v1 - v0) * (strike - k0) / (k1 - k0)
    return pts[-1][1]


# -- scenarios ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """One SPAN scenario: the underlying moves by ``price_move`` price scan ranges, the
    volatility by ``vol_move`` (+1 up, -1 down, 0 unchanged) volatility scan ranges, and the
    loss counts at ``weight_bp / 10000``."""

    number: int
    price_move: Fraction
    vol_move: int
    weight_bp: int

    def to_json(self) -> dict[str, Any]:
        return {"k": self.number, "price_move": str(self.price_move),
                "vol_move": {1: "up", -1: "down", 0: "unchanged"}[self.vol_move],
                "weight_bp": self.weight_bp}


def _extreme(extreme_multiple: Any, extreme_weight_bp: Any) -> tuple[Fraction, int]:
    x = (extreme_multiple if isinstance(extreme_multiple, Fraction)
         else to_decimal(extreme_multiple, "extreme_multiple"))
    if x <= 0:
        raise SpanError(f"extreme_multiple must be > 0, got {x}")
    w = to_int(extreme_weight_bp, "extreme_weight_bp", 0, BP)
    return Fraction(x), w


def scenarios(extreme_multiple: Any = DEFAULT_EXTREME_MULTIPLE,
              extreme_weight_bp: Any = DEFAULT_EXTREME_WEIGHT_BP) -> tuple[Scenario, ...]:
    """The 16 scenarios in CME SPAN order (numbers 1..16)."""
    x, w = _extreme(extreme_multiple, extreme_weight_bp)
    moves = [Fraction(0), Fraction(1, 3), Fraction(-1, 3), Fraction(2, 3), Fraction(-2, 3),
             Fraction(1), Fraction(-1)]
    out = [Scenario(2 * i + j + 1, f, vol, BP)
           for i, f in enumerate(moves) for j, vol in enumerate((1, -1))]
    out += [Scenario(15, x, 0, w), Scenario(16, -x, 0, w)]
    return tuple(out)


def futures_shocks(scan_bp: int, extreme_multiple: Any = DEFAULT_EXTREME_MULTIPLE,
                   extreme_weight_bp: Any = DEFAULT_EXTREME_WEIGHT_BP) -> list[int]:
    """A future's shock row for the 16 scenarios, in basis points of its price::

        S[k] = round_half_even(f_k * scan_bp * weight_k / 10000)

    i.e. ``f_k * scan_bp`` for scenarios 1-14 and ``+-X * scan_bp * W / 10000`` for 15/16
    (exact rationals, rounded once). Its risk array is ``r[k] = -P * S[k]``.
    """
    scan = to_int(scan_bp, "scan_bp", 0, BP - 1)
    return [round(s.price_move * scan * s.weight_bp / BP)
            for s in scenarios(extreme_multiple, extreme_weight_bp)]


def futures_risk_array(price_ticks: int, shocks: Sequence[int]) -> list[int]:
    """r[k] = -P * S[k] (today's circuit formula for a linear future)."""
    return [-price_ticks * s for s in shocks]


def _check_entry(value: int, name: str) -> int:
    if abs(value) >= 1 << ENTRY_BITS:
        raise SpanError(f"{name} = {value} is not below 2^{ENTRY_BITS} in size: "
                        "the circuit's loss bound would not hold")
    return value


def option_risk_array(right: str, forward: int, strike: int, vol: Any, t: Any, *,
                      scan_bp: int, vol_scan: Any, rate: Any = 0,
                      extreme_multiple: Any = DEFAULT_EXTREME_MULTIPLE,
                      extreme_weight_bp: Any = DEFAULT_EXTREME_WEIGHT_BP) -> list[int]:
    """The option's 16 entries, in 1/10000 tick per long lot::

        r[k] = round_half_even(weight_bp_k * (V0 - V_k))

    with ``V0 = black76(F, max(vol, VOL_FLOOR))`` and ``V_k = black76(F_k, sigma_k)``,
    ``F_k = F * (1 + f_k * scan_bp / 10000)``,
    ``sigma_k = max(vol + v_k * vol_scan, VOL_FLOOR)``; ``vol`` is the smile's vol at the
    strike (sticky strike), ``t`` years to expiry, the same in every scenario.
    """
    scan = to_int(scan_bp, "scan_bp", 0, BP - 1)
    f = to_decimal(forward, "forward")
    sigma, dvol = to_decimal(vol, "vol"), to_decimal(vol_scan, "vol_scan")
    if dvol < 0:
        raise SpanError(f"vol_scan must be >= 0, got {dvol}")
    v0 = black76(right, forward, strike, max(sigma, VOL_FLOOR), t, rate)
    out = []
    for s in scenarios(extreme_multiple, extreme_weight_bp):
        move = s.price_move * scan / BP
        if move <= -1:
            raise SpanError(f"scenario {s.number} moves the price by {move} of itself "
                            "(scan_bp * extreme_multiple must be below 10000)")
        with localcontext(_CONTEXT):
            f_k = f * (1 + Decimal(move.numerator) / move.denominator)
            sigma_k = max(sigma + s.vol_move * dvol, VOL_FLOOR)
            v_k = black76(right, f_k, strike, sigma_k, t, rate)
            entry = round_half_even(s.weight_bp * (v0 - v_k))
        out.append(_check_entry(entry, f"scenario {s.number} entry"))
    return out


# -- inputs ------------------------------------------------------------------------------------

def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or isinstance(value, _JsonFloat) or not value or \
            value != value.strip():
        raise SpanError(f"{what} must be a non-empty string without surrounding spaces, "
                        f"got {value!r}")
    return value


@dataclass(frozen=True)
class _Instrument:
    """What futures and options share: a name, unique in the inputs."""

    name: str

    def __post_init__(self) -> None:
        self._check(f"{type(self).__name__.lower()} {_name(self.name, 'name')!r}")

    def _check(self, where: str) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Future(_Instrument):
    """A future: price in ticks, price scan range in basis points of the price, and the
    inter-month spread charge rate in basis points of the price (an output only)."""

    price_ticks: int
    scan_bp: int
    intermonth_spread_bp: int = 0

    def _check(self, where: str) -> None:
        to_int(self.price_ticks, f"{where}: price_ticks", 1, (1 << bounds.PRICE_BITS) - 1)
        to_int(self.scan_bp, f"{where}: scan_bp", 0, BP - 1)
        to_int(self.intermonth_spread_bp, f"{where}: intermonth_spread_bp", 0, BP)


@dataclass(frozen=True)
class Option(_Instrument):
    """A European option on a future in the same inputs; ``som_ticks`` is its short option
    minimum per short lot (an output only)."""

    underlying: str
    right: str
    strike_ticks: int
    expiry: date
    som_ticks: int = 0

    def _check(self, where: str) -> None:
        _name(self.underlying, f"{where}: underlying")
        if self.right not in ("call", "put"):
            raise SpanError(f"{where}: right must be \"call\" or \"put\", got {self.right!r}")
        to_int(self.strike_ticks, f"{where}: strike_ticks", 1, (1 << bounds.PRICE_BITS) - 1)
        object.__setattr__(self, "expiry", to_date(self.expiry, f"{where}: expiry"))
        to_int(self.som_ticks, f"{where}: som_ticks", 0, (1 << bounds.PRICE_BITS) - 1)


@dataclass(frozen=True)
class Smile:
    """The volatility smile of the options on ``underlying`` expiring on ``expiry``: points
    ``(strike_ticks, vol)`` (vol annualised, e.g. ``"0.25"``), and the volatility scan
    range ``vol_scan`` (absolute, added to and subtracted from the smile vol)."""

    underlying: str
    expiry: date
    vol_scan: Decimal
    points: tuple[tuple[int, Decimal], ...]

    def __post_init__(self) -> None:
        _name(self.underlying, "smile underlying")
        where = f"smile {self.underlying} {self.expiry}"
        object.__setattr__(self, "expiry", to_date(self.expiry, f"{where}: expiry"))
        scan = to_decimal(self.vol_scan, f"{where}: vol_scan")
        if scan < 0:
            raise SpanError(f"{where}: vol_scan must be >= 0, got {scan}")
        object.__setattr__(self, "vol_scan", scan)
        object.__setattr__(self, "points", self._points(where))

    def _points(self, where: str) -> tuple[tuple[int, Decimal], ...]:
        if isinstance(self.points, str | bytes) or not isinstance(self.points, Sequence):
            raise SpanError(f"{where}: points must be a list of [strike_ticks, vol]")
        pts = []
        for i, pt in enumerate(self.points):
            if isinstance(pt, str | bytes) or not isinstance(pt, Sequence) or len(pt) != 2:
                raise SpanError(f"{where}: points[{i}] must be [strike_ticks, vol]")
            strike = to_int(pt[0], f"{where}: points[{i}] strike", 1,
                            (1 << bounds.PRICE_BITS) - 1)
            vol = to_decimal(pt[1], f"{where}: points[{i}] vol")
            if vol < 0:
                raise SpanError(f"{where}: points[{i}] vol must be >= 0, got {vol}")
            pts.append((strike, vol))
        if not pts:
            raise SpanError(f"{where}: points must hold at least one [strike_ticks, vol]")
        strikes = [s for s, _ in pts]
        if strikes != sorted(set(strikes)):
            raise SpanError(f"{where}: point strikes must be strictly increasing, "
                            f"got {strikes}")
        return tuple(pts)

    def vol(self, strike: int) -> Decimal:
        return smile_vol(self.points, strike)


@dataclass(frozen=True)
class RiskInputs:
    """Everything the arrays of one epoch depend on. Instrument ``m`` of the pool is
    ``instruments[m]``; ``rate`` is the continuously compounded interest rate per year."""

    epoch: int
    as_of: date
    instruments: tuple[Future | Option, ...]
    smiles: tuple[Smile, ...] = ()
    rate: Decimal = _ZERO
    extreme_multiple: Decimal = Decimal(DEFAULT_EXTREME_MULTIPLE)
    extreme_weight_bp: int = DEFAULT_EXTREME_WEIGHT_BP

    def __post_init__(self) -> None:
        to_int(self.epoch, "epoch", 0, (1 << bounds.EPOCH_BITS) - 1)
        object.__setattr__(self, "as_of", to_date(self.as_of, "as_of"))
        rate = to_decimal(self.rate, "rate")
        if abs(rate) > MAX_RATE:
            raise SpanError(f"rate must be within [-{MAX_RATE}, {MAX_RATE}], got {rate}")
        object.__setattr__(self, "rate", rate)
        x, _ = _extreme(self.extreme_multiple, self.extreme_weight_bp)
        object.__setattr__(self, "extreme_multiple",
                           to_decimal(self.extreme_multiple, "extreme_multiple"))
        object.__setattr__(self, "instruments", tuple(self.instruments))
        object.__setattr__(self, "smiles", tuple(self.smiles))
        self._check_instruments(x)
        self._check_smiles()

    def _check_instruments(self, x: Fraction) -> None:
        if not 1 <= len(self.instruments) <= bounds.MAX_INSTRUMENTS:
            raise SpanError(f"instruments must hold 1 to {bounds.MAX_INSTRUMENTS} instruments, "
                            f"got {len(self.instruments)}")
        names: dict[str, Future | Option] = {}
        for m, ins in enumerate(self.instruments):
            if not isinstance(ins, Future | Option):
                raise SpanError(f"instruments[{m}] must be a Future or an Option, "
                                f"got {type(ins).__name__}")
            if ins.name in names:
                raise SpanError(f"instruments[{m}]: the name {ins.name!r} is used twice")
            names[ins.name] = ins
            if isinstance(ins, Future) and x * ins.scan_bp >= BP:
                raise SpanError(f"future {ins.name!r}: scan_bp * extreme_multiple = "
                                f"{ins.scan_bp} * {self.extreme_multiple} must be below "
                                f"10000 (the extreme scenario would price it at 0 or below)")
        for ins in self.instruments:
            if isinstance(ins, Option):
                self._check_option(ins, names)

    def _check_option(self, opt: Option, names: Mapping[str, Future | Option]) -> None:
        where = f"option {opt.name!r}"
        if opt.underlying not in names:
            raise SpanError(f"{where}: unknown underlying {opt.underlying!r} (not an "
                            "instrument of these inputs)")
        if not isinstance(names[opt.underlying], Future):
            raise SpanError(f"{where}: underlying {opt.underlying!r} is not a future")
        if opt.expiry < self.as_of:
            raise SpanError(f"{where}: expiry {opt.expiry} is in the past (as_of "
                            f"{self.as_of})")
        if self.smile(opt) is None:
            raise SpanError(f"{where}: no smile for underlying {opt.underlying!r} and expiry "
                            f"{opt.expiry}")

    def _check_smiles(self) -> None:
        futures = {i.name for i in self.instruments if isinstance(i, Future)}
        seen = set()
        for i, sm in enumerate(self.smiles):
            if not isinstance(sm, Smile):
                raise SpanError(f"smiles[{i}] must be a Smile, got {type(sm).__name__}")
            if sm.underlying not in futures:
                raise SpanError(f"smiles[{i}]: unknown underlying {sm.underlying!r} (not a "
                                "future of these inputs)")
            if (sm.underlying, sm.expiry) in seen:
                raise SpanError(f"smiles[{i}]: a second smile for {sm.underlying} "
                                f"{sm.expiry}")
            seen.add((sm.underlying, sm.expiry))

    def smile(self, opt: Option) -> Smile | None:
        return next((s for s in self.smiles
                     if s.underlying == opt.underlying and s.expiry == opt.expiry), None)

    def future(self, name: str) -> Future:
        ins = next(i for i in self.instruments if i.name == name)
        assert isinstance(ins, Future)
        return ins

    def years_to(self, expiry: date) -> Decimal:
        """T = (expiry - as_of) in days / 365."""
        with localcontext(_CONTEXT):
            return Decimal((expiry - self.as_of).days) / DAYS_PER_YEAR


# -- outputs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class InstrumentRisk:
    """The generator's output for instrument ``index``. Futures carry ``shocks_bp`` and
    ``intermonth_spread_charge``; options ``premium_ticks``, ``short_option_minimum`` and
    ``delta_bp``. The add-ons are in 1/10000 tick per lot (per spread) and are *not*
    applied by the circuit (docs/risk_arrays.md)."""

    name: str
    index: int
    kind: str
    array: tuple[int, ...]
    shocks_bp: tuple[int, ...] | None = None
    intermonth_spread_charge: int | None = None
    premium_ticks: int | None = None
    short_option_minimum: int | None = None
    delta_bp: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "index": self.index, "kind": self.kind,
                               "array": list(self.array)}
        for key in ("shocks_bp", "intermonth_spread_charge", "premium_ticks",
                    "short_option_minimum", "delta_bp"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class RiskArrays:
    """The risk arrays of one epoch and their hash (:func:`risk_arrays_hash`)."""

    epoch: int
    scenarios: tuple[Scenario, ...]
    instruments: tuple[InstrumentRisk, ...]
    risk_hash: int

    def option_arrays(self) -> dict[int, list[int]]:
        """What the hash covers: the options' arrays by instrument index."""
        return {i.index: list(i.array) for i in self.instruments if i.kind == "option"}

    def expected_hash(self) -> int:
        """``riskHash`` of these arrays: :func:`risk_arrays_hash` of the options' arrays, and
        0 when no instrument is an option (docs/protocol.md, "Instruments")."""
        arrays = self.option_arrays()
        return risk_arrays_hash(arrays, len(self.instruments), N_SCENARIOS) if arrays else 0

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_ARRAYS, "epoch": self.epoch,
                "scenarios": [s.to_json() for s in self.scenarios],
                "instruments": [i.to_json() for i in self.instruments],
                "risk_hash": str(self.risk_hash)}


def risk_arrays_hash(arrays: Mapping[int, Sequence[int]], n_instruments: int,
                     n_scenarios: int) -> int:
    """``PoseidonChain`` of the ``M x K`` arrays, instrument-major::

        values = [arrays[m][k] if m in arrays else 0  for m in range(M) for k in range(K)]

    each taken mod the BN254 scalar field. Only options carry arrays here (a future's array
    is derived in the circuit from its price and shocks).
    """
    to_int(n_instruments, "n_instruments", 1)
    to_int(n_scenarios, "n_scenarios", 1)
    for m, row in arrays.items():
        to_int(m, "instrument index", 0, n_instruments - 1)
        if len(row) != n_scenarios:
            raise SpanError(f"arrays[{m}] has {len(row)} entries, expected {n_scenarios}")
        for k, v in enumerate(row):
            to_int(v, f"arrays[{m}][{k}]")
    return instruments.risk_arrays_hash(arrays, n_instruments, n_scenarios)


def _future_risk(fut: Future, index: int, inputs: RiskInputs) -> InstrumentRisk:
    shocks = futures_shocks(fut.scan_bp, inputs.extreme_multiple, inputs.extreme_weight_bp)
    return InstrumentRisk(fut.name, index, "future",
                          tuple(futures_risk_array(fut.price_ticks, shocks)),
                          shocks_bp=tuple(shocks),
                          intermonth_spread_charge=fut.price_ticks * fut.intermonth_spread_bp)


def _option_risk(opt: Option, index: int, inputs: RiskInputs) -> InstrumentRisk:
    fut, smile = inputs.future(opt.underlying), inputs.smile(opt)
    assert smile is not None  # RiskInputs checked it
    t, vol = inputs.years_to(opt.expiry), smile.vol(opt.strike_ticks)
    array = option_risk_array(opt.right, fut.price_ticks, opt.strike_ticks, vol, t,
                              scan_bp=fut.scan_bp, vol_scan=smile.vol_scan, rate=inputs.rate,
                              extreme_multiple=inputs.extreme_multiple,
                              extreme_weight_bp=inputs.extreme_weight_bp)
    sigma = max(vol, VOL_FLOOR)
    premium = black76(opt.right, fut.price_ticks, opt.strike_ticks, sigma, t, inputs.rate)
    delta = black76_delta(opt.right, fut.price_ticks, opt.strike_ticks, sigma, t, inputs.rate)
    return InstrumentRisk(opt.name, index, "option", tuple(array),
                          premium_ticks=round_half_even(premium),
                          short_option_minimum=opt.som_ticks * BP,
                          delta_bp=round_half_even(delta * BP))


def risk_arrays(inputs: RiskInputs) -> RiskArrays:
    """The risk arrays, marks and add-ons of every instrument, and the options' hash."""
    if not isinstance(inputs, RiskInputs):
        raise SpanError(f"inputs must be RiskInputs, got {type(inputs).__name__}")
    out = tuple(_future_risk(ins, m, inputs) if isinstance(ins, Future)
                else _option_risk(ins, m, inputs) for m, ins in enumerate(inputs.instruments))
    result = RiskArrays(inputs.epoch, scenarios(inputs.extreme_multiple,
                                                inputs.extreme_weight_bp), out, 0)
    return RiskArrays(result.epoch, result.scenarios, out, result.expected_hash())


# -- JSON --------------------------------------------------------------------------------------

def _fields(doc: Any, where: str, required: Sequence[str],
            optional: Sequence[str] = ()) -> dict[str, Any]:
    """``doc`` as a dict with every required key and nothing unknown."""
    if not isinstance(doc, dict):
        raise SpanError(f"{where} must be a JSON object, got {type(doc).__name__}")
    missing = [k for k in required if k not in doc]
    if missing:
        raise SpanError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(doc) - set(required) - set(optional))
    if unknown:
        raise SpanError(f"{where}: unknown field(s) {', '.join(unknown)}")
    return doc


def _list(doc: Any, where: str) -> list[Any]:
    if not isinstance(doc, list):
        raise SpanError(f"{where} must be a JSON list, got {type(doc).__name__}")
    return doc


def _format(doc: Any, tag: str) -> None:
    if not isinstance(doc, dict) or doc.get("format") != tag:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise SpanError(f"not a {tag} document (format: {got!r})")


def _instrument_from_json(doc: Any, where: str) -> Future | Option:
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind == "future":
        d = _fields(doc, where, ("kind", "name", "price_ticks", "scan_bp"),
                    ("intermonth_spread_bp",))
        return Future(d["name"], d["price_ticks"], d["scan_bp"],
                      d.get("intermonth_spread_bp", 0))
    if kind == "option":
        d = _fields(doc, where, ("kind", "name", "underlying", "right", "strike_ticks",
                                 "expiry"), ("som_ticks",))
        return Option(d["name"], d["underlying"], d["right"], d["strike_ticks"], d["expiry"],
                      d.get("som_ticks", 0))
    raise SpanError(f"{where}: kind must be \"future\" or \"option\", got {kind!r}")


def _smile_from_json(doc: Any, where: str) -> Smile:
    d = _fields(doc, where, ("underlying", "expiry", "vol_scan", "points"))
    return Smile(d["underlying"], d["expiry"], d["vol_scan"], tuple(_list(d["points"], where)))


def inputs_from_json(doc: Any) -> RiskInputs:
    """:class:`RiskInputs` from a ``zkclear-risk-inputs-v1`` document."""
    _format(doc, FORMAT_INPUTS)
    d = _fields(doc, "risk inputs", ("format", "epoch", "as_of", "instruments"),
                ("smiles", "rate", "extreme_multiple", "extreme_weight_bp"))
    instruments = [_instrument_from_json(x, f"instruments[{m}]")
                   for m, x in enumerate(_list(d["instruments"], "instruments"))]
    smiles = [_smile_from_json(x, f"smiles[{i}]")
              for i, x in enumerate(_list(d.get("smiles", []), "smiles"))]
    return RiskInputs(d["epoch"], d["as_of"], tuple(instruments), tuple(smiles),
                      d.get("rate", _ZERO),
                      d.get("extreme_multiple", Decimal(DEFAULT_EXTREME_MULTIPLE)),
                      d.get("extreme_weight_bp", DEFAULT_EXTREME_WEIGHT_BP))


def inputs_to_json(inputs: RiskInputs) -> dict[str, Any]:
    """The ``zkclear-risk-inputs-v1`` document of ``inputs`` (decimals as strings)."""
    def instrument(ins: Future | Option) -> dict[str, Any]:
        if isinstance(ins, Future):
            return {"kind": "future", "name": ins.name, "price_ticks": ins.price_ticks,
                    "scan_bp": ins.scan_bp, "intermonth_spread_bp": ins.intermonth_spread_bp}
        return {"kind": "option", "name": ins.name, "underlying": ins.underlying,
                "right": ins.right, "strike_ticks": ins.strike_ticks,
                "expiry": ins.expiry.isoformat(), "som_ticks": ins.som_ticks}

    return {"format": FORMAT_INPUTS, "epoch": inputs.epoch, "as_of": inputs.as_of.isoformat(),
            "rate": str(inputs.rate), "extreme_multiple": str(inputs.extreme_multiple),
            "extreme_weight_bp": inputs.extreme_weight_bp,
            "instruments": [instrument(i) for i in inputs.instruments],
            "smiles": [{"underlying": s.underlying, "expiry": s.expiry.isoformat(),
                        "vol_scan": str(s.vol_scan),
                        "points": [[k, str(v)] for k, v in s.points]}
                       for s in inputs.smiles]}


def _instrument_risk_from_json(doc: Any, where: str) -> InstrumentRisk:
    extra = {"future": ("shocks_bp", "intermonth_spread_charge"),
             "option": ("premium_ticks", "short_option_minimum", "delta_bp")}
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind not in extra:
        raise SpanError(f"{where}: kind must be \"future\" or \"option\", got {kind!r}")
    d = _fields(doc, where, ("name", "index", "kind", "array", *extra[kind]))
    ints = {k: to_int(d[k], f"{where}.{k}") for k in extra[kind] if k != "shocks_bp"}
    shocks = None
    if kind == "future":
        shocks = tuple(to_int(v, f"{where}.shocks_bp")
                       for v in _list(d["shocks_bp"], f"{where}.shocks_bp"))
    array = tuple(to_int(v, f"{where}.array") for v in _list(d["array"], f"{where}.array"))
    if len(array) != N_SCENARIOS:
        raise SpanError(f"{where}.array has {len(array)} entries, expected {N_SCENARIOS}")
    return InstrumentRisk(_name(d["name"], f"{where}.name"), to_int(d["index"], f"{where}.index"),
                          kind, array, shocks_bp=shocks, **ints)


def arrays_from_json(doc: Any) -> RiskArrays:
    """:class:`RiskArrays` from a ``zkclear-risk-arrays-v1`` document; its ``risk_hash``
    must be the hash of its option arrays."""
    _format(doc, FORMAT_ARRAYS)
    d = _fields(doc, "risk arrays", ("format", "epoch", "scenarios", "instruments",
                                     "risk_hash"))
    ins = tuple(_instrument_risk_from_json(x, f"instruments[{m}]")
                for m, x in enumerate(_list(d["instruments"], "instruments")))
    if [i.index for i in ins] != list(range(len(ins))):
        raise SpanError("instruments must be listed by index 0, 1, 2, ...")
    sc = _list(d["scenarios"], "scenarios")
    if len(sc) != N_SCENARIOS:
        raise SpanError(f"scenarios has {len(sc)} entries, expected {N_SCENARIOS}")
    scen = scenarios(_extreme_from_json(sc[14]),
                     sc[14].get("weight_bp") if isinstance(sc[14], dict) else None)
    if [s.to_json() for s in scen] != sc:
        raise SpanError("scenarios are not the 16 SPAN scenarios")
    got = str(d["risk_hash"])
    result = RiskArrays(to_int(d["epoch"], "epoch", 0), scen, ins, 0)
    want = result.expected_hash()
    if got != str(want):
        raise SpanError(f"risk_hash {got} is not the hash of the option arrays ({want})")
    return RiskArrays(result.epoch, scen, ins, want)


def _extreme_from_json(scenario15: Any) -> Fraction:
    """X from scenario 15's price move (written as a fraction string such as ``"2"``)."""
    move = scenario15.get("price_move") if isinstance(scenario15, dict) else None
    try:
        return Fraction(str(move))
    except (ValueError, ZeroDivisionError) as exc:
        raise SpanError(f"scenarios[14].price_move is not a fraction: {move!r}") from exc
