"""The stress report's machine form: one JSON document from a :class:`StressResult`.

Probabilities are fractions of paths. Money is in the pool's minor units; a figure that
is one path's value (a quantile, a maximum) is that exact integer, a mean is a float.
Quantiles are the inverted empirical CDF (the smallest value with at least that share of
paths at or below it), so every quantile is a value some path reached.

``cover2`` is about the first epoch at which the default fund plus the house's layer no
longer covers the two largest uncovered stress losses (docs/protocol.md, "Cover-2"): the
days to Cover-2 breach; ``epochs_to_house_negative`` the first epoch at which the house's
collateral is below zero (what is left after every layer). ``waterfall`` shows each
layer's use (:data:`.run.LAYERS`) and the fund; a *cascade* starts with a default that
leaves the house negative or exhausts the survivors' contributions, and is the further
defaults after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .run import FAN_QUANTILES, LAYERS, Arr, StressResult

FORMAT = "zkclear-stress-report-v1"
#: Quantiles (percent) reported for loss distributions.
LOSS_QUANTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
#: Bins of the loss histogram.
HIST_BINS = 30
HOUSE_NEGATIVE_NOTE = ("first epoch with the house's collateral below 0: what every layer "
                       "of the waterfall left on it (days to Cover-2 breach: pool.cover2)")


def quantile(values: Arr, q: float) -> int:
    """The inverted-CDF quantile ``q`` (percent) of integer values (module docstring)."""
    s = np.sort(values)
    k = max(0, int(np.ceil(q / 100 * len(s))) - 1)
    return int(s[k])


def _quantiles(values: Arr, qs: Sequence[float] = LOSS_QUANTILES) -> dict[str, int]:
    return {f"{q:g}": quantile(values, q) for q in qs}


def _mean(values: Arr) -> float:
    return float(sum(values.tolist())) / len(values) if len(values) else 0.0


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _within(first: npt.NDArray[np.int32], n_epochs: int) -> list[float]:
    """P(first event at or before epoch e), e = 1..E, from first-event epochs (0: never),
    one per path (``first`` is 1-D) or the any-of over columns (2-D)."""
    if first.ndim == 2:
        first = np.where(first > 0, first, n_epochs + 1).min(axis=1)
        first = np.where(first > n_epochs, 0, first)
    n = len(first)
    counts = np.bincount(first, minlength=n_epochs + 1)[1:]
    return (np.cumsum(counts) / n).tolist()


def _loss(values: Arr) -> dict[str, Any]:
    """Summary of a per-path loss (>= 0)."""
    pos = values[values > 0]
    tail = np.sort(values)[int(np.floor(0.99 * len(values))):]
    return {"p_loss": len(pos) / len(values), "mean": _mean(values),
            "quantiles": _quantiles(values), "max": int(values.max()),
            "expected_shortfall_99": _mean(tail)}


def _histogram(values: Arr, bins: int = HIST_BINS) -> dict[str, Any]:
    """Counts of the losses > 0 in equal bins from 0 to the largest (floats for the edges:
    the plot's scale, not money)."""
    pos = values[values > 0].astype(np.float64)
    if not len(pos):
        return {"edges": [], "counts": [], "zero": len(values)}
    counts, edges = np.histogram(pos, bins=bins, range=(0.0, float(pos.max())))
    return {"edges": edges.tolist(), "counts": counts.tolist(),
            "zero": int(len(values) - len(pos))}


def _first(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """Per path (row), the first epoch (column + 1) where ``mask`` holds; 0 = never."""
    hit = mask.any(axis=1)
    return np.where(hit, mask.argmax(axis=1) + 1, 0).astype(np.int32)


def _first_negative(house: Arr) -> npt.NDArray[np.int32]:
    """Per path, the first epoch (>= 1) with the house below 0; 0 = never."""
    return _first(house[:, 1:] < 0)


def _share(values: Arr) -> dict[str, Any]:
    """A per-path amount (>= 0): its mean, largest and the share of paths where it is > 0."""
    return {"mean": _mean(values), "max": int(values.max()), "p": float((values > 0).mean())}


def _layer(use: Arr) -> dict[str, Any]:
    """One layer's use, ``paths x epochs``: per epoch its mean and max over the paths and
    the share of paths touching it; over the run its mean total per path, its largest use
    in one epoch and the share of paths touching it at all."""
    touched = use > 0
    return {"per_epoch_mean": [_mean(use[:, k]) for k in range(use.shape[1])],
            "per_epoch_max": [int(x) for x in use.max(axis=0)],
            "p_touched_per_epoch": touched.mean(axis=0).tolist(),
            "mean_total": _mean(use.sum(axis=1)), "max_epoch": int(use.max()),
            "p_touched": float(touched.any(axis=1).mean())}


def waterfall_summary(r: StressResult) -> dict[str, Any]:
    """Each layer's use (:func:`_layer`), the fund's size, how often a residual used
    every survivor's contribution and how often a survivor's fund call went unmet."""
    return {"layers": {name: _layer(r.layers[name]) for name in LAYERS},
            "fund": {"initial": int(sum(r.pool.df)),
                     "final_quantiles": _quantiles(r.fund[:, -1], (5.0, 50.0, 95.0)),
                     "min": int(r.fund.min())},
            "p_fund_exhausted": float(r.exhausted.any(axis=1).mean()),
            "p_unmet_fund_call": float((r.unmet_calls > 0).any(axis=1).mean()),
            "fund_exhausted_per_epoch": r.exhausted.sum(axis=0).tolist()}


def cover2_summary(r: StressResult, horizon: int) -> dict[str, Any]:
    """Cover-2 breaches: per epoch, and the first one's epoch (days to Cover-2 breach)."""
    e = r.n_epochs
    breach = ~r.cover2_met
    first = _first(breach)
    hit = first > 0
    within = _within(first, e)
    return {"p_breach_per_epoch": breach.mean(axis=0).tolist(),
            "first_breach_per_epoch": np.bincount(first, minlength=e + 1)[1:].tolist(),
            "p_within": within, "p_within_horizon": within[horizon - 1],
            "median_given_breach": quantile(first[hit], 50.0) if hit.any() else None,
            "earliest": int(first[hit].min()) if hit.any() else None,
            "requirement_max": int(r.cover2_requirement.max()),
            "df_scale_max_per_epoch": [int(x) for x in r.df_scale[:, 1:].max(axis=0)],
            "df_scale_final_quantiles": _quantiles(r.df_scale[:, -1], (50.0, 95.0, 99.0))}


def _cascades(r: StressResult) -> dict[str, Any]:
    """A trigger is an epoch with a (first) default after which the house is negative or
    the survivors' contributions are exhausted; the cascade is the members defaulting
    for the first time in later epochs of the same path."""
    liq = r.liquidation_epoch
    e = r.n_epochs
    new = np.stack([(liq == k).any(axis=1) for k in range(1, e + 1)], axis=1)
    trigger = _first(new & ((r.house[:, 1:] < 0) | r.exhausted))
    hit = trigger > 0
    after = ((liq > trigger[:, None]) & hit[:, None]).sum(axis=1)
    return {"p_trigger": float(hit.mean()),
            "p_cascade": float((after > 0).mean()),
            "further_defaults_given_trigger": (float(after[hit].mean()) if hit.any()
                                               else None),
            "further_defaults_max": int(after.max())}


def _lead(liq: npt.NDArray[np.int32], call: npt.NDArray[np.int32]
          ) -> tuple[int, int, float | None]:
    """From liquidation and first-margin-call epochs (0: never): the liquidations, those
    an early margin call preceded, and the mean lead (epochs) of the latter."""
    warned = (liq > 0) & (call > 0) & (call < liq)
    lead = (liq - call)[warned]
    return int((liq > 0).sum()), int(warned.sum()), float(lead.mean()) if len(lead) else None


def member_rows(r: StressResult, horizon: int) -> list[dict[str, Any]]:
    rows = []
    e = r.n_epochs
    for i in range(r.pool.n_members):
        liq = r.liquidation_epoch[:, i]
        call = r.first_call_epoch[:, i]
        n_liq, n_warned, lead = _lead(liq, call)
        within = _within(liq, e)
        rows.append({
            "slot": i + 1, "name": r.pool.names[i + 1],
            "collateral": r.pool.collateral[i + 1],
            "positions": list(r.pool.positions[i + 1]),
            "p_liquidated_within": within,
            "p_liquidated_within_horizon": within[horizon - 1],
            "p_margin_call_within_horizon": float(((call > 0) & (call <= horizon)).mean()),
            "mean_margin_call_epochs": float(r.calls[:, i].mean()),
            "p_unmet_fund_call": float((r.unmet_calls[:, i] > 0).mean()),
            "mean_unmet_fund_call_epochs": float(r.unmet_calls[:, i].mean()),
            "liquidations_with_prior_call": _ratio(n_warned, n_liq),
            "mean_lead_epochs": lead,
            "expected_penalty": _mean(r.penalty[:, i]),
            "expected_shortfall": _mean(r.shortfall[:, i]),
            "shortfall_max": int(r.shortfall[:, i].max()),
            "own_fund_used": _share(r.own_used[:, i]),
            "mutualised": {"fund_share": _share(r.fund_share[:, i]),
                           "haircut": _share(r.haircut[:, i]),
                           "total": _share(r.fund_share[:, i] + r.haircut[:, i])},
            "df_initial": r.pool.df[i + 1],
            "final_df_quantiles": _quantiles(r.df[:, i], (5.0, 50.0, 95.0)),
            "final_collateral_quantiles": _quantiles(r.collateral[:, i + 1],
                                                     (5.0, 50.0, 95.0)),
        })
    return rows


def pool_summary(r: StressResult, horizon: int) -> dict[str, Any]:
    e = r.n_epochs
    liq = r.liquidation_epoch
    per_epoch = [int((liq == k).sum()) for k in range(1, e + 1)]
    paths_per_epoch = [int((liq == k).any(axis=1).sum()) for k in range(1, e + 1)]
    multi = np.zeros(r.n_paths, dtype=bool)
    for k in range(1, e + 1):
        multi |= (liq == k).sum(axis=1) >= 2
    n_liq, n_warned, lead = _lead(liq, r.first_call_epoch)
    calls_per_epoch = [int(((r.first_call_epoch > 0) & (r.first_call_epoch == k)).sum())
                       for k in range(1, e + 1)]
    any_within = _within(liq, e)

    h0 = r.house[:, 0]
    loss = np.maximum(h0 - r.house[:, -1], 0)
    drawdown = np.maximum(h0 - r.house.min(axis=1), 0)
    first_neg = _first_negative(r.house)
    neg_within = _within(first_neg, e)
    hit = first_neg > 0

    # cascades: what pushed the house below 0 the first time, and what came after
    idx = np.arange(r.n_paths)
    at = np.maximum(first_neg - 1, 0)  # 0-based epoch of the first negative
    before = r.house[idx, at]  # the house before that epoch
    pre = r.house_pre[idx, at]  # after its own variation margin, before the defaults
    by_defaults = hit & (pre >= 0)
    by_positions = hit & (pre < 0) & (before >= 0)
    house_neg_before = r.house[:, :-1] < 0  # P x E: negative entering epoch e
    liq_any = np.stack([(liq == k).any(axis=1) for k in range(1, e + 1)], axis=1)
    while_negative = liq_any & house_neg_before
    inherited = -np.minimum(r.inherited_vm.sum(axis=1), 0)
    return {
        "p_any_liquidation_within": any_within,
        "p_any_liquidation_within_horizon": any_within[horizon - 1],
        "liquidations_per_epoch": per_epoch,
        "paths_with_liquidations_per_epoch": paths_per_epoch,
        "mean_liquidations_per_path": float((liq > 0).sum() / r.n_paths),
        "p_two_or_more_in_one_epoch": float(multi.mean()),
        "early_margin_calls": {
            "first_calls_per_epoch": calls_per_epoch,
            "p_any_call_within_horizon": float(
                ((r.first_call_epoch > 0) & (r.first_call_epoch <= horizon)).any(axis=1).mean()),
            "liquidations": n_liq, "liquidations_with_prior_call": n_warned,
            "share_with_prior_call": _ratio(n_warned, n_liq),
            "mean_lead_epochs": lead,
        },
        "house": {
            "initial": int(r.pool.collateral[0]),
            "loss": _loss(loss),
            "drawdown": _loss(drawdown),
            "final_quantiles": _quantiles(r.house[:, -1], (1.0, 5.0, 50.0, 95.0)),
            "epochs_to_house_negative": {
                "note": HOUSE_NEGATIVE_NOTE,
                "p_within": neg_within,
                "p_within_horizon": neg_within[horizon - 1],
                "median_given_negative": (quantile(first_neg[hit], 50.0) if hit.any()
                                          else None),
                "earliest": int(first_neg[hit].min()) if hit.any() else None,
            },
        },
        "waterfall": waterfall_summary(r),
        "cover2": cover2_summary(r, horizon),
        "cascades": {
            **_cascades(r),
            "house_pushed_negative_by_defaults": float(by_defaults.mean()),
            "house_pushed_negative_by_inherited_positions": float(by_positions.mean()),
            "p_default_while_house_negative": float(while_negative.any(axis=1).mean()),
            "defaults_while_house_negative": int(
                sum(((liq == k) & house_neg_before[:, [k - 1]]).sum()
                    for k in range(1, e + 1))),
            "inherited_positions_loss": _loss(inherited),
        },
        "fan": {"quantiles": list(FAN_QUANTILES), "equity": r.fan_pool_equity.tolist(),
                "mm": r.fan_pool_mm.tolist()},
        "house_fan": {"quantiles": list(FAN_QUANTILES),
                      "collateral": np.percentile(r.house.astype(np.float64), FAN_QUANTILES,
                                                  axis=0).T.tolist()},
        "histograms": {"house_loss": _histogram(loss)},
    }


def report(r: StressResult, *, horizon: int | None = None,
           source: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report document (module docstring); ``horizon`` (default: every epoch) is the
    ``n`` of "probability of liquidation within n epochs"."""
    e = r.n_epochs
    n = e if horizon is None else horizon
    if not 1 <= n <= e:
        raise ValueError(f"horizon must be in 1..{e}, got {n}")
    pool = r.pool
    return {
        "format": FORMAT,
        "inputs": {"paths": r.n_paths, "epochs": e, "horizon": n,
                   "members": pool.n_members, "instruments": list(pool.instruments),
                   "prices": list(pool.prices), "member_mode": pool.member_mode,
                   "cash": "int64" if r.exact_int64 else "python ints",
                   "source": source or {}},
        "members": member_rows(r, n),
        "pool": None if pool.member_mode else pool_summary(r, n),
        "member_fan": {"quantiles": list(FAN_QUANTILES),
                       "equity": r.fan_equity.transpose(2, 0, 1).tolist(),
                       "mm": r.fan_mm.transpose(2, 0, 1).tolist()},
    }
