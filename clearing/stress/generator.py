"""Monte Carlo price paths with fat tails and volatility clustering.

Each instrument's log return follows a GARCH(1,1)::

    r[t]       = sigma[t] * z[t] - sigma[t]^2 / 2        (so E[P[t] / P[t-1]] ~ 1)
    sigma[t]^2 = omega + alpha * (sigma[t-1] * z[t-1])^2 + beta * sigma[t-1]^2
    omega      = vol^2 * (1 - alpha - beta)              (unconditional variance vol^2)

started at the unconditional variance, with innovations ``z[t]`` from a multivariate
Student-t with ``df`` degrees of freedom, scaled to unit variance and correlated across
instruments by the given correlation matrix ``R``: ``z = sqrt((df - 2) / w) * L g`` with
``L L^T = R``, ``g`` standard normal and ``w ~ chi^2(df)`` shared by the instruments of
one epoch (a common shock: the tails of the instruments move together). Prices are the
pool's marks times ``exp(sum of returns)``, rounded to ticks and kept in
``[1, 2^48 - 1]`` (the engine's price range).

Everything is drawn from one ``numpy.random.Generator(PCG64(seed))`` in a fixed order, so
a seed gives the same paths on every machine numpy supports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .inputs import PRICE_MAX, StressInputError, StressPool, load_paths, windows

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Garch:
    """The generator's model (module docstring). ``vol``: one number or one per
    instrument (per-epoch standard deviation of log returns); ``corr``: one number (every
    pair) or an ``M x M`` correlation matrix."""

    vol: float | tuple[float, ...] = 0.02
    alpha: float = 0.08
    beta: float = 0.90
    df: float = 4.0
    corr: float | tuple[tuple[float, ...], ...] = 0.5

    def __post_init__(self) -> None:
        vols = self.vol if isinstance(self.vol, tuple) else (self.vol,)
        for v in vols:
            if not (0 < v <= 1 and np.isfinite(v)):
                raise StressInputError(f"vol {v!r}: a per-epoch volatility in (0, 1]")
        if not (self.alpha >= 0 and self.beta >= 0 and self.alpha + self.beta < 1):
            raise StressInputError(f"GARCH alpha={self.alpha!r}, beta={self.beta!r}: both >= 0 "
                                   "with alpha + beta < 1 (a stationary variance)")
        if not (self.df > 2 and np.isfinite(self.df)):
            raise StressInputError(f"df {self.df!r}: Student-t degrees of freedom > 2 (a "
                                   "finite variance)")
        if not isinstance(self.corr, tuple) and not -1 < self.corr < 1:
            raise StressInputError(f"corr {self.corr!r}: a correlation in (-1, 1)")

    def vols(self, m: int) -> F64:
        if isinstance(self.vol, tuple):
            if len(self.vol) != m:
                raise StressInputError(f"vol: {len(self.vol)} given, the pool has {m} "
                                       "instruments")
            return np.array(self.vol, dtype=np.float64)
        return np.full(m, float(self.vol))

    def cholesky(self, m: int) -> F64:
        """``L`` with ``L L^T = R``, or a StressInputError saying what is wrong with R."""
        if isinstance(self.corr, tuple):
            r = np.array(self.corr, dtype=np.float64)
            if r.shape != (m, m):
                raise StressInputError(f"corr: a {m} x {m} matrix expected, got "
                                       f"{'x'.join(map(str, r.shape))}")
            if not np.all(np.isfinite(r)):
                raise StressInputError("corr: entries must be finite numbers")
            if not np.allclose(np.diag(r), 1.0) or not np.allclose(r, r.T):
                raise StressInputError("corr: a correlation matrix is symmetric with a unit "
                                       "diagonal")
        else:
            r = np.full((m, m), float(self.corr))
            np.fill_diagonal(r, 1.0)
        try:
            return np.linalg.cholesky(r).astype(np.float64, copy=False)
        except np.linalg.LinAlgError:
            raise StressInputError("corr: the correlation matrix is not positive definite"
                                   ) from None


def log_returns(model: Garch, n_paths: int, n_epochs: int, m: int,
                rng: np.random.Generator) -> F64:
    """``paths x epochs x M`` log returns (module docstring)."""
    vol = model.vols(m)
    chol = model.cholesky(m)
    g = rng.standard_normal((n_paths, n_epochs, m))
    w = rng.chisquare(model.df, (n_paths, n_epochs, 1))
    z = (g @ chol.T) * np.sqrt((model.df - 2) / w)
    var_u = vol**2
    omega = var_u * (1 - model.alpha - model.beta)
    var = np.broadcast_to(var_u, (n_paths, m)).copy()
    out = np.empty((n_paths, n_epochs, m))
    for t in range(n_epochs):
        sigma = np.sqrt(var)
        shock = sigma * z[:, t, :]
        out[:, t, :] = shock - var / 2
        var = omega + model.alpha * shock**2 + model.beta * var
    return out


def generate_paths(prices: Sequence[int], n_paths: int, n_epochs: int, seed: int,
                   model: Garch | None = None) -> I64:
    """``paths x epochs x M`` integer prices starting from the marks ``prices`` (epoch 0,
    not included), seeded (module docstring)."""
    model = model or Garch()
    if n_paths < 1 or n_epochs < 1:
        raise StressInputError(f"paths and epochs must be at least 1, got {n_paths} and "
                               f"{n_epochs}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise StressInputError(f"seed {seed!r}: a non-negative integer")
    m = len(prices)
    rng = np.random.Generator(np.random.PCG64(seed))
    cum = np.cumsum(log_returns(model, n_paths, n_epochs, m, rng), axis=1)
    p0 = np.array([float(p) for p in prices])
    with np.errstate(over="ignore"):
        raw = np.rint(p0 * np.exp(cum))
    return np.clip(np.nan_to_num(raw, nan=PRICE_MAX, posinf=PRICE_MAX), 1,
                   PRICE_MAX).astype(np.int64)


def price_paths(pool: StressPool, *, paths_file: str | Path | None = None,
                generate: int | None = None, epochs: int | None = None,
                windows_of: bool = False, seed: int = 0, model: Garch | None = None
                ) -> tuple[I64, dict[str, Any]]:
    """The run's price paths and a description of where they came from (the report's
    ``inputs.source``): ``generate`` paths of ``epochs`` epochs from the model (seeded),
    or the paths in ``paths_file`` (its first ``epochs`` rows if given), or with
    ``windows_of`` every window of ``epochs + 1`` rows of the file's one series
    (:func:`.inputs.windows`)."""
    if (paths_file is None) == (generate is None):
        raise StressInputError("give a paths file or a number of paths to generate")
    if generate is not None:
        if epochs is None:
            raise StressInputError("generated paths need a number of epochs")
        model = model or Garch()
        paths = generate_paths(pool.prices, generate, epochs, seed, model)
        return paths, {"generator": "GARCH(1,1), correlated Student-t", "seed": seed,
                       "vol": model.vol, "alpha": model.alpha, "beta": model.beta,
                       "df": model.df, "corr": model.corr}
    assert paths_file is not None
    given = load_paths(paths_file, pool)
    if windows_of:
        if epochs is None:
            raise StressInputError("historical windows need a number of epochs")
        if given.shape[0] != 1:
            raise StressInputError(f"{paths_file}: historical windows read one series, the "
                                   f"file holds {given.shape[0]} paths")
        return windows(given[0], pool.prices, epochs, str(paths_file)), {
            "file": str(paths_file), "historical_windows": epochs + 1}
    if epochs is not None:
        if epochs > given.shape[1]:
            raise StressInputError(f"{paths_file}: {given.shape[1]} epochs per path, "
                                   f"{epochs} asked for")
        given = given[:, :epochs]
    return given, {"file": str(paths_file)}
