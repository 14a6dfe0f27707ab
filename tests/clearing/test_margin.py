"""Vectorised portfolio margin (clearing/margin.py) against the engine's per-account one.

Hand case: two instruments at prices (100, 200), scenarios "both up 10 %" and "both down
10 %" (shocks +-1000 bp). W = P * S = (+-100000, +-200000) per scenario.
  long 10 A:                 losses (-1 000 000, +1 000 000) -> MM = 100
  short 5 B:                 losses (+1 000 000, -1 000 000) -> MM = 100
  long 10 A + short 5 B:     losses (0, 0)                    -> MM = 0 (hedged < legs)
  long 10 A + short 4 B:     losses (-200 000, +200 000)      -> MM = 20
  long 1 A:                  losses (-100 000, +100 000)      -> MM = 10
  long 1 A at price 1, shock 1 bp: loss 1 -> MM = ceil(1/10000) = 1 (the ceiling)
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkclear import bounds
from zkclear.clearing.epoch import initial_margin, maintenance_margin
from zkclear.clearing.margin import (
    MAX_CHUNK,
    MarginError,
    initial_margins,
    maintenance_margins,
    portfolio_margins,
)
from zkclear.clearing.params import ParamsError, RiskParams

Q_LO, Q_HI = bounds.DELTA.lo, bounds.DELTA.hi  # -2^48, 2^48 - 1
P_HI = (1 << bounds.PRICE_BITS) - 1
S_LO, S_HI = bounds.SHOCK.lo, bounds.SHOCK.hi  # -2^16, 2^16 - 1


def params_for(shocks: list[list[int]], im_factor_bp: int = 15_000) -> RiskParams:
    return RiskParams(im_factor_bp, 1_000, tuple([Q_HI] * len(shocks[0])), shocks)


def engine(positions: list[list[int]], prices: list[int],
           params: RiskParams) -> tuple[list[int], list[int]]:
    mm = [maintenance_margin(row, prices, params) for row in positions]
    return mm, [initial_margin(x, params) for x in mm]


# -------------------------------------------------------------------------- hand cases


def test_hedged_portfolio_needs_less_than_its_legs() -> None:
    params = params_for([[1000, 1000], [-1000, -1000]])
    prices = [100, 200]
    rows = [[10, 0], [0, -5], [10, -5], [10, -4], [1, 0], [0, 0]]
    got = maintenance_margins(rows, prices, params)
    assert got == [100, 100, 0, 20, 10, 0]
    assert got[2] < got[0] + got[1]
    assert got == engine(rows, prices, params)[0]
    # IM = ceil(MM * 1.5)
    assert initial_margins(rows, prices, params) == [150, 150, 0, 30, 15, 0]


def test_ceiling_and_floor_at_zero() -> None:
    params = params_for([[1]], im_factor_bp=10_001)
    assert maintenance_margins([[-1], [1], [-10_000], [-10_001]], [1], params) == [1, 0, 1, 2]
    # IM = ceil(MM * 10001 / 10000): 1 -> 2, 2 -> 3
    assert initial_margins([[-1], [-10_001]], [1], params) == [2, 3]


def test_extreme_corners_equal_the_engine() -> None:
    """Every position, price and shock at its bound at once, M = 256 (MAX_INSTRUMENTS of
    the pool): the largest losses the bounds allow (~2^120), both signs."""
    m = bounds.MAX_INSTRUMENTS
    params = params_for([[S_LO] * m, [S_HI] * m, [S_LO, S_HI] * (m // 2), [0] * m])
    prices = [P_HI] * m
    rows = [[Q_LO] * m, [Q_HI] * m, [Q_LO, Q_HI] * (m // 2), [Q_HI, Q_LO] * (m // 2),
            [0] * m, [Q_LO] * (m - 1) + [Q_HI]]
    got = portfolio_margins(rows, prices, params)
    assert (got.maintenance, got.initial) == engine(rows, prices, params)
    assert got.maintenance[0] > 1 << 100  # genuinely beyond int64 and float64 precision
    for chunk in (1, 3, 100):
        assert maintenance_margins(rows, prices, params, chunk=chunk) == got.maintenance


def test_numpy_input_and_empty() -> None:
    params = params_for([[1000, 1000], [-1000, -1000]])
    arr = np.array([[10, -5], [10, 0]], dtype=np.int64)
    assert maintenance_margins(arr, np.array([100, 200]), params) == [0, 100]
    assert maintenance_margins(arr.astype(np.int32), [100, 200], params) == [0, 100]
    assert maintenance_margins([], [100, 200], params) == []
    assert maintenance_margins(np.zeros((0, 2), np.int64), [100, 200], params) == []
    assert portfolio_margins([], [100, 200], params).initial == []


# ----------------------------------------------------------------- random, at the edges


def edgy(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers in [lo, hi], often at or next to the ends, zero or +-1."""
    near = [v for v in (lo, lo + 1, hi - 1, hi, 0, 1, -1) if lo <= v <= hi]
    return st.one_of(st.sampled_from(near), st.integers(lo, hi))


@st.composite
def margin_inputs(draw: st.DrawFn) -> tuple[list[list[int]], list[int], RiskParams, int]:
    m = draw(st.integers(1, 12))
    k = draw(st.integers(1, 6))
    n = draw(st.integers(1, 12))
    shocks = draw(st.lists(st.lists(edgy(S_LO, S_HI), min_size=m, max_size=m),
                           min_size=k, max_size=k))
    prices = draw(st.lists(edgy(1, P_HI), min_size=m, max_size=m))
    rows = draw(st.lists(st.lists(edgy(Q_LO, Q_HI), min_size=m, max_size=m),
                         min_size=n, max_size=n))
    im = draw(edgy(bounds.BP, (1 << bounds.IM_FACTOR_BITS) - 1))
    chunk = draw(st.sampled_from([1, 2, 5, MAX_CHUNK]))
    return rows, prices, params_for(shocks, im), chunk


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(margin_inputs())
def test_equal_to_engine_on_random_inputs(
        case: tuple[list[list[int]], list[int], RiskParams, int]) -> None:
    rows, prices, params, chunk = case
    got = portfolio_margins(rows, prices, params, chunk=chunk)
    assert (got.maintenance, got.initial) == engine(rows, prices, params)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 64), st.integers(0, 2**32 - 1))
def test_portfolio_margin_is_subadditive(m: int, seed: int) -> None:
    """Netting two books never costs more than margining them apart (max of a sum <= sum
    of maxes; +1 for the two ceilings), on numpy int64 input, equal to the engine."""
    rng = np.random.default_rng(seed)
    half = 1 << (bounds.DELTA_BITS - 1)
    q1, q2 = rng.integers(-half, half, size=(2, 8, m), endpoint=True, dtype=np.int64)
    prices = rng.integers(1, P_HI, size=m, endpoint=True).tolist()
    shocks = rng.integers(S_LO, S_HI, size=(3, m), endpoint=True).tolist()
    params = params_for(shocks)
    both = maintenance_margins(q1 + q2, prices, params)
    apart = [a + b for a, b in zip(maintenance_margins(q1, prices, params),
                                   maintenance_margins(q2, prices, params), strict=True)]
    assert all(x <= y + 1 for x, y in zip(both, apart, strict=True))
    assert maintenance_margins(q1 - q1, prices, params) == [0] * 8
    assert both == engine((q1 + q2).tolist(), prices, params)[0]


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(("rows", "message"), [
    ([[Q_HI + 1, 0]], r"positions\[0\]\[0\] = 281474976710656 is outside the signed range"),
    ([[0, 0], [0, Q_LO - 1]], r"positions\[1\]\[1\] = -281474976710657 is outside"),
    ([[0, 1 << 70]], r"positions\[0\]\[1\] = 1180591620717411303424 is outside"),
    ([[0, 1.5]], r"positions must be integers, got dtype float64"),
    ([[0, "1"]], r"positions must be integers"),
    ([[0, 1 << 70, None]], r"positions"),
    ([[True, False]], r"positions must be integers, got dtype bool"),
    ([[0, 0, 0]], r"positions have 3 columns, the risk parameters have M = 2"),
    ([0, 0], r"positions must be an N x M array"),
    ([[0, 0], [0]], r"positions"),
])
def test_out_of_bound_positions_refused(rows: object, message: str) -> None:
    params = params_for([[1, 1]])
    with pytest.raises(MarginError, match=message):
        maintenance_margins(rows, [1, 1], params)


def test_object_array_with_non_int_refused() -> None:
    params = params_for([[1, 1]])
    rows = np.array([[0, 1 << 70], [0, 0]], dtype=object)
    rows[1, 0] = 2.0
    with pytest.raises(MarginError, match=r"positions\[0\]\[1\] = \d+ is outside"):
        maintenance_margins(rows, [1, 1], params)
    rows[0, 1] = 0
    with pytest.raises(MarginError, match=r"positions\[1\]\[0\] must be an int, got float"):
        maintenance_margins(rows, [1, 1], params)


@pytest.mark.parametrize(("prices", "message"), [
    ([0, 1], r"prices\[0\] = 0 is outside \[1, 281474976710655\]"),
    ([1, 1 << 48], r"prices\[1\] = 281474976710656 is outside"),
    ([1], r"prices: 1 given, the pool has 2 instruments"),
    ([1, 1.0], r"prices\[1\] must be an int, got float"),
    ("12", r"prices must be a sequence of M ints"),
])
def test_out_of_bound_prices_refused(prices: object, message: str) -> None:
    with pytest.raises(MarginError, match=message):
        maintenance_margins([[1, 1]], prices, params_for([[1, 1]]))  # type: ignore[arg-type]
    assert issubclass(MarginError, ParamsError) and issubclass(MarginError, ValueError)


def test_bad_chunk_and_params_refused() -> None:
    params = params_for([[1]])
    for chunk in (0, MAX_CHUNK + 1, True):
        with pytest.raises(MarginError, match=r"chunk must be an int in \[1, 8192\]"):
            maintenance_margins([[1]], [1], params, chunk=chunk)
    with pytest.raises(TypeError, match="params must be RiskParams"):
        maintenance_margins([[1]], [1], object())  # type: ignore[arg-type]
