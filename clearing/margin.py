"""Portfolio margin for many accounts at once, exact, with numpy.

The engine margins one account at a time in plain Python (:mod:`.epoch`, docs/protocol.md,
"The epoch")::

    loss_k = -sum_m q[m] * P[m] * S[k][m]            (k = 0..K-1 scenarios)
    MM     = ceil(max(0, max_k loss_k) / 10000)     (maintenance margin)
    IM     = ceil(MM * imFactorBp / 10000)          (initial margin)

:func:`maintenance_margins` / :func:`initial_margins` / :func:`portfolio_margins` compute
the same for an ``N x M`` matrix of positions, bit for bit (the tests compare them with
:func:`.epoch.maintenance_margin` and :func:`.epoch.initial_margin` at the bounds' edges).

Bounds (checked, a :class:`MarginError` names the first offending entry)
    positions ``-2^48 <= q < 2^48`` (``bounds.DELTA``, what the engine accepts), prices
    ``1 <= P < 2^48``, shocks ``-2^16 <= S < 2^16`` (``bounds.SHOCK``). So
    ``|W[k][m]| = |P[m] * S[k][m]| < 2^64`` and ``|q * W| < 2^112``: int64 overflows, and
    float64 would round.

Exact arithmetic (signed 24-bit limbs, int64 matrix products)
    ``W[k][m] = P[m] * S[k][m]`` (minus the risk array ``A[m][k]`` for an option, docs/
    protocol.md "Instruments"; ``|A| <= 2^64`` too) is formed in Python ints (``K x M``)
    and split as
    ``W = w0 + w1*2^24 + w2*2^48`` with ``w0, w1 in [0, 2^24)`` and ``w2 = W >> 48 in
    [-2^16, 2^16)``. The loss is ``sum_m x[m] * W[k][m]`` with ``x = -q`` in
    ``[-2^48 + 1, 2^48]``, split as ``x = x0 + x1*2^24`` with ``x0 in [0, 2^24)`` and
    ``x1 = x >> 24 in [-2^24, 2^24]``. So ``|x_i| <= 2^24`` and ``|w_j| < 2^24``: every
    limb product has ``|x_i * w_j| < 2^48``. The products of equal weight are summed by
    int64 matrix products over a chunk of at most ``MAX_CHUNK = 2^13`` instruments::

        c_p = sum_{i+j=p} X_i @ W_j^T          (p = 0..3; at most 2 pairs per p)
        |c_p| < 2 * 2^13 * 2^48 = 2^62 < 2^63   (no overflow: every sum is exact)

    and ``loss = sum_p c_p * 2^(24p)``. The four limb sums are then normalised with
    carries (still int64: ``c_p mod 2^24`` stays, ``c_p >> 24``, below 2^39 in size,
    moves up), giving ``loss = a*2^72 + b*2^24 + c`` with ``0 <= b < 2^48``,
    ``0 <= c < 2^24`` and ``|a| <= M * 2^40 + 1`` (``|loss| < M * 2^112``), which fits
    int64 with room for one more chunk's ``c_3`` for any ``M <= MAX_INSTRUMENTS = 2^20``
    (chunks are accumulated in this normal form). The worst scenario of an account is
    the lexicographic maximum of ``(a, b, c)`` over k; only that one value per account
    becomes a Python int, for the ceil divisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zkclear import bounds

from .params import ParamsError, RiskParams, check_prices

BP = bounds.BP
#: Instruments per int64 matrix product (bounds the limb sums, see the module docstring).
MAX_CHUNK = 1 << 13
#: Most instruments one call accepts (the normalised top limb stays far below 2^63).
MAX_INSTRUMENTS = 1 << 20

_L = 24  # limb width
_M24 = (1 << _L) - 1
I64 = npt.NDArray[np.int64]

assert bounds.DELTA_BITS == 2 * _L  # q = q0 + q1 * 2^24, |q1| <= 2^24
assert bounds.PRICE_BITS + bounds.SHOCK_BITS <= 3 * _L - 8  # |W| < 2^64: w2 fits 16 bits
assert 2 * MAX_CHUNK * (1 << (2 * _L)) <= 1 << 62  # limb-position sums fit int64
assert MAX_INSTRUMENTS * (1 << 40) + (1 << 40) < 1 << 62  # normalised top limb fits int64


class MarginError(ParamsError):
    """Positions, prices or shocks outside the bounds the exact computation relies on."""


@dataclass(frozen=True)
class Margins:
    """Per-account margins (Python ints), in the order of the position rows."""

    maintenance: list[int]
    initial: list[int]


def _positions(positions: Any, n_instruments: int) -> I64:
    """An ``N x M`` int64 array of positions within ``bounds.DELTA``, or a MarginError."""
    if isinstance(positions, np.ndarray):
        arr = positions
    else:
        try:
            arr = np.asarray(positions)
        except (ValueError, OverflowError, TypeError) as exc:
            raise MarginError(f"positions must be an N x M array of ints: {exc}") from exc
    if arr.ndim == 1 and arr.size == 0:  # no accounts: []
        return np.zeros((0, n_instruments), np.int64)
    if arr.ndim != 2:
        raise MarginError(f"positions must be an N x M array (one row per account), got "
                          f"shape {arr.shape}")
    if arr.shape[1] != n_instruments:
        raise MarginError(f"positions have {arr.shape[1]} columns, the risk parameters have "
                          f"M = {n_instruments} instruments")
    if arr.shape[0] == 0:
        return np.zeros((0, n_instruments), np.int64)
    lo, hi = bounds.DELTA.lo, bounds.DELTA.hi
    where = "positions[{}][{}] = {!r} is outside the signed range [-2^{b}, 2^{b})".format
    if arr.dtype.kind == "O":  # Python ints too large for int64, or not ints at all
        for (i, m), v in np.ndenumerate(arr):
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise MarginError(f"positions[{i}][{m}] must be an int, got "
                                  f"{type(v).__name__}")
            if not lo <= v <= hi:
                raise MarginError(where(i, m, int(v), b=bounds.DELTA_BITS))
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise MarginError(f"positions must be integers, got dtype {arr.dtype}")
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        i, m = np.argwhere(bad)[0]
        raise MarginError(where(i, m, int(arr[i, m]), b=bounds.DELTA_BITS))
    return arr.astype(np.int64, copy=False)


def _shock_weights(prices: Sequence[int], params: RiskParams,
                   arrays: Mapping[int, Sequence[int]] | None = None) -> list[list[int]]:
    """``W[k][m] = -r[k][m]`` as Python ints (``P[m] * S[k][m]`` for futures, minus the
    risk array for options: :meth:`RiskParams.risk_matrix`), inputs checked against their
    bounds (``|W| <= 2^64``)."""
    if not isinstance(params, RiskParams):
        raise TypeError(f"params must be RiskParams, got {type(params).__name__}")
    m = params.n_instruments
    if m > MAX_INSTRUMENTS:
        raise MarginError(f"at most {MAX_INSTRUMENTS} instruments, got {m}")
    if isinstance(prices, str | bytes) or not isinstance(prices, Sequence | np.ndarray):
        raise MarginError(f"prices must be a sequence of M ints, got {type(prices).__name__}")
    try:  # numpy integers are ints too; check_prices refuses anything else (and bools)
        px = check_prices([int(p) if isinstance(p, np.integer) else p for p in prices], m,
                          table=params.instruments)
    except ParamsError as exc:
        raise MarginError(str(exc)) from exc
    for k, row in enumerate(params.shocks):  # RiskParams checks these too; the limb
        for j, s in enumerate(row):          # bounds below depend on them, so re-check
            if not bounds.SHOCK.contains(s):
                raise MarginError(f"shocks[{k}][{j}] = {s} is outside the signed range "
                                  f"[-2^{bounds.SHOCK_BITS}, 2^{bounds.SHOCK_BITS})")
    try:
        risk = params.risk_matrix(px, arrays)
    except ParamsError as exc:
        raise MarginError(str(exc)) from exc
    for k, risk_row in enumerate(risk):
        for j, r in enumerate(risk_row):
            if not -(1 << 64) <= r <= 1 << 64:
                raise MarginError(f"risk array [{j}][{k}] = {r} is outside [-2^64, 2^64]")
    return [[-r for r in row] for row in risk]


def _dot_limbs(q: I64, weights: list[list[int]], chunk: int) -> tuple[I64, I64, I64]:
    """``sum_m q[n][m] * W[k][m]`` for every (n, k), exactly, as ``(a, b, c)`` with the
    value ``a*2^72 + b*2^24 + c``, ``0 <= b < 2^48``, ``0 <= c < 2^24``.

    ``q`` must satisfy ``-2^48 <= q <= 2^48`` and ``|W| < 2^64`` (so ``-q`` of any
    position in ``bounds.DELTA`` qualifies)."""
    n, m = q.shape
    k = len(weights)
    w = np.array(weights, dtype=object).reshape(k, m)  # Python ints, |W| < 2^64
    w_limbs = [(w & _M24).astype(np.int64), ((w >> _L) & _M24).astype(np.int64),
               (w >> (2 * _L)).astype(np.int64)]
    q_limbs = [q & _M24, q >> _L]
    acc = [np.zeros((n, k), np.int64) for _ in range(4)]  # normalised: acc[0..2] in [0, 2^24)
    for lo in range(0, m, chunk):
        hi = min(m, lo + chunk)
        qs = [x[:, lo:hi] for x in q_limbs]
        ws = [x[:, lo:hi].T for x in w_limbs]
        # c_p = sum_{i+j=p} q_i @ w_j: each term |.| < (hi - lo) * 2^48, at most two terms
        c = [qs[0] @ ws[0], qs[0] @ ws[1] + qs[1] @ ws[0],
             qs[0] @ ws[2] + qs[1] @ ws[1], qs[1] @ ws[2]]
        for p in range(4):
            acc[p] += c[p]  # acc[0..2] < 2^24 and |c_p| < 2^62: no overflow
        for p in range(3):  # carries up: |acc[p] >> 24| < 2^39
            acc[p + 1] += acc[p] >> _L
            acc[p] &= _M24
    return acc[3], (acc[2] << _L) | acc[1], acc[0]


def _worst_losses(positions: Any, prices: Sequence[int], params: RiskParams,
                  chunk: int, arrays: Mapping[int, Sequence[int]] | None = None) -> list[int]:
    """``max(0, max_k loss_k)`` per account, as Python ints."""
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= MAX_CHUNK:
        raise MarginError(f"chunk must be an int in [1, {MAX_CHUNK}], got {chunk!r}")
    weights = _shock_weights(prices, params, arrays)
    q = _positions(positions, params.n_instruments)
    if q.shape[0] == 0:
        return []
    # loss_k = sum_m (-q[m]) * W[k][m]; -q is in [-2^48 + 1, 2^48], so its high limb
    # (-q) >> 24 is in [-2^24, 2^24]: the bound |q_i * w_j| < 2^48 still holds.
    a, b, c = _dot_limbs(-q, weights, chunk)
    # lexicographic max over scenarios of (a, b, c): the lower parts are non-negative
    top = a.max(axis=1)
    tie = a == top[:, None]
    mid = np.where(tie, b, -1).max(axis=1)
    tie &= b == mid[:, None]
    low = np.where(tie, c, -1).max(axis=1)
    return [0 if t < 0 else (t << 72) + (u << _L) + v
            for t, u, v in zip(top.tolist(), mid.tolist(), low.tolist(), strict=True)]


def _ceil_bp(x: int) -> int:
    return -(-x // BP)


def maintenance_margins(positions: Any, prices: Sequence[int], params: RiskParams, *,
                        chunk: int = MAX_CHUNK,
                        arrays: Mapping[int, Sequence[int]] | None = None) -> list[int]:
    """``MM = ceil(max(0, max_k loss_k) / 10000)`` for each row of ``positions``.

    ``positions``: ``N x M`` ints (a list of rows or an integer numpy array), one row per
    account; ``prices``: ``M`` ticks; ``params``: the shocks ``S[K][M]``. Equals
    :func:`zkclear.clearing.epoch.maintenance_margin` row by row. Raises
    :class:`MarginError` for inputs outside the bounds (the module docstring).
    """
    return [_ceil_bp(x) for x in _worst_losses(positions, prices, params, chunk, arrays)]


def initial_margins(positions: Any, prices: Sequence[int], params: RiskParams, *,
                    chunk: int = MAX_CHUNK,
                    arrays: Mapping[int, Sequence[int]] | None = None) -> list[int]:
    """``IM = ceil(MM * imFactorBp / 10000)`` for each row (the engine's
    :func:`~zkclear.clearing.epoch.initial_margin` of :func:`maintenance_margins`)."""
    return portfolio_margins(positions, prices, params, chunk=chunk, arrays=arrays).initial


def portfolio_margins(positions: Any, prices: Sequence[int], params: RiskParams, *,
                      chunk: int = MAX_CHUNK,
                      arrays: Mapping[int, Sequence[int]] | None = None) -> Margins:
    """Maintenance and initial margins of every row, from one pass over the scenarios;
    ``arrays``: the options' risk arrays (docs/protocol.md, "Instruments")."""
    mm = maintenance_margins(positions, prices, params, chunk=chunk, arrays=arrays)
    f = params.im_factor_bp
    return Margins(mm, [_ceil_bp(x * f) for x in mm])
