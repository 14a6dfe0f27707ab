"""The stress report as a self-contained HTML page (inline CSS and SVG, no scripts).

The page is a view of the report document (:func:`.summary.report`): this module turns
it into charts (SVG coordinates computed here) and table cells; the jinja2 template
``zkclear/audit/templates/stress.html.j2`` holds the markup, rendered by the audit's
environment (:func:`zkclear.audit.html.environment`, one per process), which
autoescapes: member and instrument names come from the input files and are text on the
page, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Chart geometry (pixels): size and the margins around the plotting area.
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 660, 280, 80, 20, 20, 40
EQUITY, MARGIN, HOUSE, CALLS = "#1f5fbf", "#c0392b", "#6b4fa0", "#d68910"
#: The waterfall's layers (:data:`.run.LAYERS`): label and colour.
LAYER_STYLE = {"own": ("defaulters' own contributions", "#2e86ab"),
               "skin": ("house skin in the game", HOUSE),
               "fund": ("survivors' contributions", "#3b9c5a"),
               "haircut": ("VM-gain haircut", CALLS),
               "uncovered": ("left on the house", MARGIN)}


def short(v: float) -> str:
    """A number for an axis label: 3 significant digits with k/M/G/T."""
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.3g}"


@dataclass(frozen=True)
class Shape:
    """A polygon (area) or polyline (line): SVG points, colour, dash or opacity, label."""

    points: str
    colour: str
    label: str
    dash: str = ""
    opacity: float = 1.0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    colour: str
    title: str


@dataclass
class Chart:
    """One SVG chart: axes, grid, areas, lines, bars and a legend."""

    id: str
    title: str
    x_label: str
    y_label: str
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    zero: float | None = None
    areas: list[Shape] = field(default_factory=list)
    lines: list[Shape] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM

    @property
    def base(self) -> int:
        return self.height - self.bottom


class _Axes:
    """Maps data to SVG coordinates in a chart's plotting area."""

    def __init__(self, chart: Chart, x_lo: float, x_hi: float, values: Sequence[float]) -> None:
        self.c = chart
        self.x_lo, self.x_hi = x_lo, x_hi if x_hi > x_lo else x_lo + 1
        lo, hi = min(0.0, *values), max(0.0, *values)
        self.lo, self.hi = lo, hi if hi > lo else lo + 1
        chart.y_ticks = [(self.y(self.lo + (self.hi - self.lo) * f),
                          short(self.lo + (self.hi - self.lo) * f))
                         for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
        chart.zero = self.y(0.0)

    def x(self, v: float) -> float:
        c = self.c
        return c.left + (c.width - c.left - c.right) * (v - self.x_lo) / (self.x_hi - self.x_lo)

    def y(self, v: float) -> float:
        c = self.c
        return c.top + (c.base - c.top) * (self.hi - v) / (self.hi - self.lo)

    def points(self, xs: Sequence[float], ys: Sequence[float]) -> str:
        return " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in zip(xs, ys, strict=True))

    def band(self, xs: Sequence[float], lo: Sequence[float], hi: Sequence[float]) -> str:
        return self.points([*xs, *reversed(xs)], [*hi, *reversed(lo)])

    def epoch_ticks(self, xs: Sequence[int]) -> None:
        step = max(1, len(xs) // 10)
        self.c.x_ticks = [(self.x(v), str(v)) for v in xs[::step]]


def fan_chart(cid: str, title: str, equity: Sequence[Sequence[float]],
              mm: Sequence[Sequence[float]] | None, quantiles: Sequence[float],
              first_epoch: int = 1, what: str = "equity (cpre)") -> Chart:
    """Quantile bands of ``equity`` (epochs x quantiles, the quantiles of
    :data:`.run.FAN_QUANTILES`: outer band 5-95, inner 25-75, median line) and the
    median and 95th percentile of ``mm`` (maintenance margin)."""
    chart = Chart(cid, title, "epoch", "minor units")
    xs = list(range(first_epoch, first_epoch + len(equity)))
    cols = list(zip(*equity, strict=True))
    mcols = list(zip(*mm, strict=True)) if mm is not None else []
    values = [v for col in (*cols, *mcols) for v in col]
    ax = _Axes(chart, xs[0], xs[-1], values)
    ax.epoch_ticks(xs)
    q = [f"{v:g}" for v in quantiles]
    chart.areas = [
        Shape(ax.band(xs, cols[0], cols[-1]), EQUITY, f"{what} {q[0]}-{q[-1]}%", opacity=0.18),
        Shape(ax.band(xs, cols[1], cols[-2]), EQUITY, f"{what} {q[1]}-{q[-2]}%", opacity=0.3)]
    chart.lines = [Shape(ax.points(xs, cols[2]), EQUITY, f"{what} median")]
    if mcols:
        chart.lines += [Shape(ax.points(xs, mcols[2]), MARGIN, "maintenance margin median",
                              dash="6 4"),
                        Shape(ax.points(xs, mcols[-1]), MARGIN,
                              f"maintenance margin {q[-1]}%", dash="2 3")]
    chart.legend = [(s.colour, s.label) for s in (*chart.areas, *chart.lines)]
    return chart


def bar_chart(cid: str, title: str, x_label: str, series: Sequence[tuple[str, str,
              Sequence[float]]], labels: Sequence[str], y_label: str = "count") -> Chart:
    """Grouped bars: ``series`` of (label, colour, one value per x label)."""
    chart = Chart(cid, title, x_label, y_label)
    values = [v for _, _, vs in series for v in vs]
    ax = _Axes(chart, 0, max(1, len(labels)), values or [0.0])
    slot = ax.x(1) - ax.x(0)
    width = slot * 0.8 / max(1, len(series))
    step = max(1, len(labels) // 10)
    chart.x_ticks = [(ax.x(i + 0.5), lab) for i, lab in enumerate(labels)][::step]
    for s, (label, colour, vs) in enumerate(series):
        for i, v in enumerate(vs):
            top = ax.y(v)
            chart.bars.append(Bar(ax.x(i) + slot * 0.1 + s * width, top, width,
                                  ax.y(0) - top, colour, f"{label}, {labels[i]}: {v:g}"))
        chart.legend.append((colour, label))
    return chart


def _histogram_chart(hist: Mapping[str, Any]) -> Chart | None:
    edges, counts = hist["edges"], hist["counts"]
    if not counts:
        return None
    return bar_chart("loss-histogram", "House loss over the run (paths with a loss)",
                     "loss from", [("paths", HOUSE, counts)], [short(a) for a in edges[:-1]])


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f} %"


def _num(v: float | None) -> str:
    return "—" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}")


def member_cells(row: Mapping[str, Any]) -> list[str]:
    fq = row["final_collateral_quantiles"]
    mut = row["mutualised"]["total"]
    return [str(row["slot"]), row["name"], f"{row['collateral']:,}",
            _pct(row["p_liquidated_within_horizon"]), _pct(row["p_margin_call_within_horizon"]),
            _pct(row["liquidations_with_prior_call"]), _num(row["mean_lead_epochs"]),
            _pct(row["p_unmet_fund_call"]), _num(row["expected_penalty"]),
            _num(row["expected_shortfall"]),
            f"{row['shortfall_max']:,}", f"{fq['5']:,} / {fq['50']:,} / {fq['95']:,}",
            _num(mut["mean"]), f"{mut['max']:,}", _pct(mut["p"])]


MEMBER_COLUMNS = ("Slot", "Member", "Collateral", "P(liquidated ≤ n)", "P(margin call ≤ n)",
                  "Liquidations called early", "Mean lead (epochs)", "P(fund call unmet)",
                  "E[penalty]",
                  "E[shortfall]", "Max shortfall", "Final collateral 5 / 50 / 95 %",
                  "E[mutualised u + y]", "Max u + y", "P(u + y > 0)")


def charts(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Every chart of the page (None where there is nothing to draw)."""
    fan = doc["member_fan"]
    q = fan["quantiles"]
    out: dict[str, Any] = {"members": [
        fan_chart(f"fan-member-{row['slot']}", f"{row['name']}: equity and maintenance margin",
                  eq, mm, q) for row, eq, mm in zip(doc["members"], fan["equity"], fan["mm"],
                                                     strict=True)]}
    pool = doc["pool"]
    if pool is None:
        return {**out, "pool": None, "house": None, "histogram": None, "per_epoch": None,
                "waterfall": None, "cover2": None}
    e = doc["inputs"]["epochs"]
    epochs = [str(k) for k in range(1, e + 1)]
    out["pool"] = fan_chart("fan-pool", "Pool: members' summed equity and maintenance margin",
                            pool["fan"]["equity"], pool["fan"]["mm"], q)
    out["house"] = fan_chart("fan-house", "House collateral (insurance fund)",
                             pool["house_fan"]["collateral"], None, q, first_epoch=0,
                             what="house collateral")
    out["histogram"] = _histogram_chart(pool["histograms"]["house_loss"])
    out["per_epoch"] = bar_chart(
        "per-epoch", "Liquidations and first early margin calls per epoch (all paths)",
        "epoch", [("liquidations", MARGIN, pool["liquidations_per_epoch"]),
                  ("first margin calls", CALLS,
                   pool["early_margin_calls"]["first_calls_per_epoch"])], epochs)
    layers = pool["waterfall"]["layers"]
    out["waterfall"] = bar_chart(
        "waterfall", "Waterfall usage: mean amount per path and epoch, by layer", "epoch",
        [(label, colour, layers[name]["per_epoch_mean"])
         for name, (label, colour) in LAYER_STYLE.items()], epochs, "minor units")
    c2 = pool["cover2"]
    out["cover2"] = bar_chart(
        "cover2", "Cover-2: paths breaching in each epoch, and breaching for the first time",
        "epoch", [("breaches", MARGIN, [p * doc["inputs"]["paths"]
                                        for p in c2["p_breach_per_epoch"]]),
                  ("first breaches", CALLS, c2["first_breach_per_epoch"])], epochs)
    return out


def render(doc: Mapping[str, Any]) -> str:
    """The page of a report document (:func:`.summary.report`)."""
    from zkclear.audit.html import environment

    rows = [member_cells(r) for r in doc["members"]]
    return environment().get_template("stress.html.j2").render(
        doc=doc, pool=doc["pool"], inputs=doc["inputs"], columns=MEMBER_COLUMNS, rows=rows,
        charts=charts(doc), pct=_pct, num=_num)
