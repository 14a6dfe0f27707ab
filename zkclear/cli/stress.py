"""``zkclear stress run``: price paths through the engine's margin, liquidation,
default-fund and waterfall rules,
for the whole pool (the operator, ``--pool``) or one member's portfolio
(``--member-file``); docs/stress.md."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from zkclear.cli.output import Output, err
from zkclear.cli.params import Ctx, Existing, Float, Int, Param, command, group

stress = group("stress", "stress-test a pool or a portfolio on price paths (docs/stress.md)")

MAX_PATHS = 10_000_000
MAX_EPOCHS = 100_000


class Correlation(click.ParamType):
    """A correlation for every pair (a number in (-1, 1)) or a JSON file holding an M x M
    matrix."""

    name = "RHO|FILE"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> Any:
        if isinstance(value, float | tuple):
            return value
        text = str(value).strip()
        try:
            rho = float(text)
        except ValueError:
            pass
        else:
            if not -1 < rho < 1:
                self.fail(f"{text!r} is out of range: a correlation in (-1, 1)", param, ctx)
            return rho
        try:
            doc = json.loads(Path(text).read_text())
        except OSError as exc:
            self.fail(f"{text!r} is neither a number nor a readable file ({exc.strerror})",
                      param, ctx)
        except ValueError as exc:
            self.fail(f"{text}: not valid JSON ({exc})", param, ctx)
        if (not isinstance(doc, list) or not doc
                or not all(isinstance(r, list) and all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in r)
                    for r in doc)):
            self.fail(f"{text}: a correlation matrix is a list of rows of numbers", param, ctx)
        return tuple(tuple(float(v) for v in row) for row in doc)


@contextmanager
def _progress(out: Output, total_paths: int) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over the epochs on stderr (a terminal, no --json), else nothing."""
    if out.as_json or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(f"stress: {total_paths} paths"), BarColumn(),
                  TextColumn("epoch {task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("run", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
        yield tick


@command(stress, "run", "run price paths through the engine's margin, liquidation, default-"
         "fund and waterfall rules",
         one_of=[("pool", "member_file"), ("paths_file", "generate")])
@click.option("--pool", type=Existing("the stress pool file"),
              help="the whole pool (zkclear-stress-pool-v1)")
@click.option("--member-file", type=Existing("the member file"),
              help="one member's portfolio (zkclear-stress-member-v1)")
@click.option("--paths", "paths_file", type=Existing("the price paths"),
              help="settlement prices, epochs x instruments (.csv: one path; .json: one or "
              "several)")
@click.option("--generate", type=Int(1, MAX_PATHS, "a number of paths", "N"),
              help="generate N paths (GARCH(1,1), correlated Student-t)")
@click.option("--epochs", type=Int(1, MAX_EPOCHS, "a number of epochs", "E"),
              help="epochs per path: needed with --generate and --windows; with --paths, "
              "the first E rows")
@click.option("--windows", is_flag=True, help="--paths is one history: each E + 1 "
              "consecutive rows give a path of its relative moves from the pool's marks")
@click.option("--seed", type=Int(0, 2**64 - 1, "a seed", "S"), default=0,
              help="the generator's seed")
@click.option("--vol", type=Float(0.0, "a volatility", "VOL"), default=0.02,
              help="per-epoch volatility of log returns (generator)")
@click.option("--df", type=Float(2.0, "degrees of freedom", "DF"), default=4.0,
              help="Student-t degrees of freedom, > 2 (generator)")
@click.option("--alpha", type=Float(0.0, "a GARCH alpha", "A"), default=0.08,
              help="GARCH reaction to the last shock (generator)")
@click.option("--beta", type=Float(0.0, "a GARCH beta", "B"), default=0.90,
              help="GARCH persistence; alpha + beta < 1 (generator)")
@click.option("--corr", type=Correlation(), default="0.5",
              help="correlation of every pair of instruments, or a JSON M x M matrix file")
@click.option("--horizon", type=Int(1, MAX_EPOCHS, "a number of epochs", "N"),
              help="n of 'probability of liquidation within n epochs' (default: all)")
@click.option("--html", "html_out", type=click.Path(dir_okay=False),
              help="write the HTML report to this file")
@click.option("--replay", type=Int(0, 1000, "a number of paths", "K"), default=0,
              help="also clear the first K paths slot by slot with the engine's clear_slot "
              "and pool-wide waterfall and check that they agree")
def run(out: Output, pool: str | None, member_file: str | None, paths_file: str | None,
        generate: int | None, epochs: int | None, windows: bool, seed: int, vol: float,
        df: float, alpha: float, beta: float, corr: Any, horizon: int | None,
        html_out: str | None, replay: int) -> int:
    """Run price paths through the engine's margin, liquidation, default-fund and
    waterfall rules: per member and for the pool, the probability of liquidation within n
    epochs, early margin calls, each waterfall layer's use, each member's mutualised loss,
    Cover-2 breaches and the epochs to the first, cascades and the house's losses."""
    from rich.markup import escape

    from zkclear.clearing import stress as st
    from zkclear.fsutil import write_atomic

    if generate is not None and windows:
        raise click.UsageError("--windows reads a history from --paths, not --generate")
    if generate is not None and epochs is None:
        raise click.UsageError("--generate needs --epochs")
    if windows and epochs is None:
        raise click.UsageError("--windows needs --epochs (the window is E + 1 rows)")
    the_pool = st.load_pool(pool) if pool is not None else st.load_member(str(member_file))
    model = st.Garch(vol=vol, alpha=alpha, beta=beta, df=df, corr=corr)
    paths, source = st.price_paths(the_pool, paths_file=paths_file, generate=generate,
                                   epochs=epochs, windows_of=windows, seed=seed, model=model)
    if horizon is not None and horizon > paths.shape[1]:
        raise st.StressInputError(f"--horizon {horizon} is beyond the {paths.shape[1]} "
                                  "epochs of the paths")
    with _progress(out, paths.shape[0]) as tick:
        result = st.run(the_pool, paths, progress=tick)
    doc = st.report(result, horizon=horizon, source=source)
    if replay:
        agreed = st.check_replay(result, min(replay, paths.shape[0]))
        doc["replayed"] = agreed
    if html_out is not None:
        from zkclear.clearing.stress.html import render

        write_atomic(Path(html_out), render(doc), mode=0o644)
        doc["html"] = html_out
    n = doc["inputs"]["horizon"]
    for row in doc["members"]:
        out.info(f"{escape(row['name'])}: P(liquidated within {n} epochs) "
                 f"{100 * row['p_liquidated_within_horizon']:.2f} %, P(margin call) "
                 f"{100 * row['p_margin_call_within_horizon']:.2f} %")
    if doc["pool"] is not None:
        p, h = doc["pool"], doc["pool"]["house"]
        neg = h["epochs_to_house_negative"]
        out.info(f"pool: P(any liquidation within {n}) "
                 f"{100 * p['p_any_liquidation_within_horizon']:.2f} %; house loss 99 % "
                 f"{h['loss']['quantiles']['99']}, P(house negative within {n}) "
                 f"{100 * neg['p_within_horizon']:.2f} %")
        touched = ", ".join(f"{name} {100 * layer['p_touched']:.2f} %"
                            for name, layer in p["waterfall"]["layers"].items())
        out.info(f"waterfall layers touched: {touched}; P(Cover-2 breach within {n}) "
                 f"{100 * p['cover2']['p_within_horizon']:.2f} %, unmet fund calls "
                 f"{100 * p['waterfall']['p_unmet_fund_call']:.2f} %, cascades "
                 f"{100 * p['cascades']['p_cascade']:.2f} %")
    if replay:
        out.info(f"replayed {doc['replayed']} path(s) through clear_slot and the "
                 "waterfall: equal")
    if html_out is not None:
        out.info(f"report: {escape(html_out)}")
    out.result({"ok": True, **doc})
    return 0


COMMANDS = [stress]
