"""The audit report as a self-contained HTML page (inline CSS and SVG, no scripts).

The page is a view of the report's machine form (:meth:`AuditReport.to_json`): this
module turns that document into what the page shows -- the cells of the history table,
the findings, and the coordinates of the equity / maintenance-margin plot -- and the
jinja2 template ``templates/report.html.j2`` holds all the markup, the SVG plot's
included. The environment autoescapes: every value from the report (pool id, finding
texts, anything a member or the chain supplied) is text on the page, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2

__all__ = ["COLUMNS", "STATUSES", "Plot", "Series", "Tick", "environment", "plot", "render"]

#: Row statuses, in the order of the page's legend.
STATUSES = {
    "verified": "figures derived from the decrypted report and checked against the chain",
    "excluded": "closed without the member's report (ReportExcluded: it did not sign its "
                "netted report in time); figures derived with no trades and checked",
    "failed": "a check failed (see the findings)",
    "pending": "closed but not accepted yet: figures derived, no on-chain outcome to check",
    "not disclosed": "the member committed a report that the given key does not open "
                     "(an epoch key of another epoch): public checks only",
    "not derivable": "an earlier epoch's figures are unknown, so this epoch's are too: "
                     "public checks only",
}

#: The history table's columns: (field of the JSON row, or a derived one; title).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("epoch", "Epoch"), ("status", "Status"), ("accepted", "Accepted"),
    ("positions_before", "Positions before"), ("collateral_before", "Collateral before"),
    ("delta", "Trades (delta)"), ("trade_cash", "Trade cash"), ("deposit", "Deposits"),
    ("prices", "Marks"), ("funding_index", "Funding index"), ("funding", "Funding"),
    ("settled", "Settled (expiry)"),
    ("variation_margin", "Variation margin"), ("positions", "Positions"),
    ("equity", "Equity"), ("scenario_losses", "Scanning risk per scenario"),
    ("maintenance_margin", "MM"), ("initial_margin", "IM"),
    ("liquidated", "Liquidated"), ("penalty", "Penalty"), ("shortfall", "Shortfall"),
    ("default_fund", "Default fund (own)"), ("waterfall", "Pool's waterfall"),
    ("withdrawal_requested", "Withdrawal requested"), ("withdrawal", "Withdrawal"),
    ("collateral_after", "Collateral after"), ("positions_after", "Positions after"),
)
_TEXT_COLUMNS = {"status": "text status", "withdrawal": "text", "accepted": "text",
                 "default_fund": "text", "waterfall": "text"}


@cache
def environment() -> jinja2.Environment:
    """The template environment (made once): the package's templates, autoescaped, strict
    about undefined names (a typo in the template is an error, not an empty cell)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("zkclear.audit", "templates"),
        autoescape=jinja2.select_autoescape(("html", "html.j2"), default=True,
                                            default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _withdrawal_text(r: Mapping[str, Any]) -> str:
    if not r["withdrawal_requested"]:
        return "none"
    on = r["onchain"]
    if on["withdrawal_paid"] is not None:
        return f"granted, paid {on['withdrawal_paid']}"
    if on["withdrawal_refused"] is not None:
        return "refused"
    if r["withdrawal_granted"] is not None:
        return "granted (derived)" if r["withdrawal_granted"] else "refused (derived)"
    return "—"


def _fund_text(f: Mapping[str, Any] | None) -> str:
    """The member's contribution: held of required, what the waterfall used, after."""
    if f is None:
        return "—"
    parts = [f"held {f['held']} of {f['required']}" + ("" if f["call_met"] else " (call unmet)")]
    used = [(f["own_used"], "for its own default"), (f["fund_share"], "to others' defaults"),
            (f["haircut"], "haircut of its gains")]
    parts += [f"{v} {what}" for v, what in used if v]
    return "; ".join(parts) + f"; after {f['after']}"


def _waterfall_text(w: Mapping[str, Any] | None) -> str:
    if w is None:
        return "—"
    if not any(w[k] for k in ("own", "house", "fund", "haircut")):
        return "no default"
    return (f"own {w['own']}, house {w['house']}, fund {w['fund']} of {w['fund_base']}, "
            f"haircut {w['haircut']} of gains {w['gains']}")


def _row_cells(r: Mapping[str, Any]) -> list[dict[str, str]]:
    cells = []
    for name, _title in COLUMNS:
        if name == "withdrawal":
            text = _withdrawal_text(r)
        elif name == "default_fund":
            text = _fund_text(r["default_fund"])
        elif name == "waterfall":
            text = _waterfall_text(r["waterfall"])
        elif name == "liquidated" and r["liquidated"] is None:
            text = _cell(r["onchain"]["liquidated"])
        else:
            text = _cell(r[name])
        cells.append({"field": name, "css": _TEXT_COLUMNS.get(name, ""), "text": text})
    return cells


# --- the plot ----------------------------------------------------------------------------


@dataclass
class Series:
    """One line of the plot: its points (x, y, tooltip) and the runs joined by a line."""

    name: str
    label: str
    colour: str
    dash: str
    points: list[tuple[float, float, str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # SVG ``points`` of polylines (>= 2)


@dataclass(frozen=True)
class Tick:
    """One epoch on the x axis: its label, and its marks (liquidated, no figures)."""

    x: float
    epoch: int
    liquidated: bool
    last: bool  # the rightmost of several epochs (its label goes left of the line)
    unknown: bool  # no derivable figures


@dataclass
class Plot:
    """Equity (cpre) and maintenance margin per epoch, in SVG coordinates."""

    width: int
    height: int
    left: int
    right: int
    top: int
    base: int  # the y of the x axis labels' baseline area (height - bottom)
    grid: list[tuple[float, int]]  # (y, value) of the horizontal grid lines
    zero: float  # y of the value 0
    ticks: list[Tick]
    series: list[Series]


def plot(doc: Mapping[str, Any]) -> Plot | None:
    """The plot of a report document (None: no epoch has derivable figures)."""
    width, height, left, right, top, bottom = 660, 300, 90, 45, 20, 45
    rows: Sequence[Mapping[str, Any]] = doc["epochs"]
    pts = [(r["epoch"], r["equity"], r["maintenance_margin"],
            r["liquidated"] if r["liquidated"] is not None
            else bool(r["onchain"]["liquidated"])) for r in rows]
    values = [v for _, eq, mm, _ in pts for v in (eq, mm) if v is not None]
    if not pts or not values:
        return None
    lo, hi = min(0, *values), max(0, *values)
    if hi == lo:
        hi = lo + 1
    span_x = max(1, len(pts) - 1)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / span_x if len(pts) > 1 else 0.5)

    def y(v: int) -> float:
        return top + (height - top - bottom) * (hi - v) / (hi - lo)

    grid = []
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        v = round(lo + (hi - lo) * frac)
        grid.append((y(v), v))
    series = [Series("equity", "equity", "#1f5fbf", ""),
              Series("mm", "maintenance margin", "#c0392b", "6 4")]
    for idx, s in enumerate(series, start=1):
        run: list[str] = []
        for i, p in enumerate(pts):
            v = p[idx]
            if v is None:
                if len(run) > 1:
                    s.runs.append(" ".join(run))
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            s.points.append((x(i), y(v), f"{s.label}, epoch {p[0]}: {v}"))
        if len(run) > 1:
            s.runs.append(" ".join(run))
    ticks = [Tick(x(i), p[0], p[3], i == len(pts) - 1 and len(pts) > 1, p[1] is None)
             for i, p in enumerate(pts)]
    return Plot(width, height, left, right, top, height - bottom, grid, y(0), ticks, series)


def render(doc: Mapping[str, Any]) -> str:
    """The page of a report document (:meth:`AuditReport.to_json`)."""
    key = doc["key"]["kind"] + (f" (epoch {doc['key']['epoch']})"
                                if doc["key"]["epoch"] is not None else "")
    findings = [[_cell("pool" if f["epoch"] is None else f["epoch"]), *(
        _cell(f[k]) for k in ("field", "reason", "expected", "found", "message"))]
        for f in doc["findings"]]
    rows = [{"epoch": int(r["epoch"]), "css": r["status"].replace(" ", "-"),
             "cells": _row_cells(r)} for r in doc["epochs"]]
    return environment().get_template("report.html.j2").render(
        doc=doc, key=key, columns=COLUMNS, rows=rows, statuses=STATUSES,
        findings=findings, plot=plot(doc))
