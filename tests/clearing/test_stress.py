"""``zkclear stress``: hand-computed runs, the run equal to the engine replaying the same
paths (clear_slot slot by slot, and run_epoch on a real PoolState), the generator's
reproducibility and statistics, bad inputs refused in one line, the CLI end to end."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zkclear.clearing.epoch import maintenance_margin, run_epoch
from zkclear.clearing.params import ParamsError, PoolConfig, RiskParams
from zkclear.clearing.state import Leaf, PoolState
from zkclear.clearing.stress import (
    Defaults,
    Garch,
    Resources,
    StressInputError,
    StressPool,
    check_replay,
    generate_paths,
    house_absorbs,
    load_member,
    load_paths,
    load_pool,
    price_paths,
    replay_path,
    report,
    run,
    windows,
)
from zkclear.clearing.stress.html import render
from zkclear.clearing.stress.inputs import Account
from zkclear.cli import main as cli

#: One instrument, scenarios +-10 %: MM of q lots at P is |q| * P / 10; IM = 1.5 MM;
#: penalty 10 % of MM.
PARAMS_1 = RiskParams(15_000, 1_000, (10**6,), ((1000,), (-1000,)))
RISK_DOC = {"im_factor_bp": 15000, "penalty_bp": 1000, "position_limits": [10**6, 10**6],
            "shocks": [[500, 500], [-500, -500], [1000, 1000], [-1000, -1000]]}


def pool_of(params: RiskParams, prices: list[int], accounts: list[tuple[int, list[int]]],
            names: list[str] | None = None) -> StressPool:
    accts = [Account(collateral=c, positions=q) for c, q in accounts]
    names = names or ["house"] + [f"m{i}" for i in range(1, len(accounts))]
    return StressPool.build(params, prices, accts, names)


def single(path: list[int], collateral: int = 1500, house: int = 0) -> Any:
    """One member long 10 lots at 1000 against the house."""
    pool = pool_of(PARAMS_1, [1000], [(house, [-10]), (collateral, [10])])
    return run(pool, np.array([[[p] for p in path]]), waterfall=house_absorbs)


# --- hand-computed ------------------------------------------------------------------------


def test_crossing_maintenance_margin_at_a_known_epoch() -> None:
    """Long 10 lots at 1000 with 1500: MM = P, IM = 1.5 P. Epochs 1-2 are margin calls
    (cpre 1400 < IM 1485; 1000 < 1425), epoch 3 liquidates (cpre 500 < MM 900): penalty
    min(ceil(900 * 10 %), 500) = 90, the member keeps 410, the house (short 10) took
    +100, +400, +500 of variation margin, gets the penalty and the long 10 back (flat)."""
    r = single([990, 950, 900, 800])
    assert r.liquidation_epoch.tolist() == [[3]]
    assert r.first_call_epoch.tolist() == [[1]] and r.calls.tolist() == [[2]]
    assert r.penalty.tolist() == [[90]] and r.shortfall.tolist() == [[0]]
    assert r.collateral.tolist() == [[1090, 410]]
    assert r.house.tolist() == [[0, 100, 500, 1090, 1090]]
    assert r.house_positions.tolist() == [[0]]
    assert r.exact_int64
    doc = report(r, horizon=2)
    (m,) = doc["members"]
    assert m["p_liquidated_within"] == [0.0, 0.0, 1.0, 1.0]
    assert m["p_liquidated_within_horizon"] == 0.0
    assert m["p_margin_call_within_horizon"] == 1.0
    assert m["liquidations_with_prior_call"] == 1.0 and m["mean_lead_epochs"] == 2.0
    assert doc["pool"]["early_margin_calls"]["first_calls_per_epoch"] == [1, 0, 0, 0]
    assert doc["pool"]["liquidations_per_epoch"] == [0, 0, 1, 0]
    assert doc["pool"]["house"]["loss"]["p_loss"] == 0.0


def test_gap_through_the_collateral_leaves_a_shortfall() -> None:
    """A gap to 800 at epoch 2: cpre = 1400 - 1900 = -500, no penalty (nothing left), the
    house absorbs 500 after taking +1900 on its short."""
    r = single([990, 800, 1200], house=300)
    assert r.liquidation_epoch.tolist() == [[2]]
    assert r.penalty.tolist() == [[0]] and r.shortfall.tolist() == [[500]]
    assert r.collateral.tolist() == [[1800, 0]]
    assert r.house.tolist() == [[300, 400, 1800, 1800]]
    assert r.resources.used["house"].tolist() == [500]


def cascade_pool() -> StressPool:
    """A long 10 against B short 10 (the house flat, 100 in its fund)."""
    return pool_of(PARAMS_1, [1000], [(100, [0]), (1500, [10]), (5000, [-10])])


def test_a_default_pushes_the_house_negative_and_its_positions_lose_more() -> None:
    """800: A is 500 short, the house (100) goes to -400 and takes A's long 10; 700: the
    long loses 1000 more (-1400); 750: gains 500 (-900). B, short, keeps +2000 +1000 -500."""
    r = run(cascade_pool(), np.array([[[800], [700], [750]]]))
    assert r.liquidation_epoch.tolist() == [[1, 0]]
    assert r.shortfall.tolist() == [[500, 0]]
    assert r.house.tolist() == [[100, -400, -1400, -900]]
    assert r.house_positions.tolist() == [[10]]
    assert r.inherited_vm.tolist() == [[0, -1000, 500]]
    assert r.collateral.tolist() == [[-900, 0, 7500]]  # 100 + 1500 + 5000 conserved
    doc = report(r)
    house = doc["pool"]["house"]
    assert house["loss"]["max"] == 1000 and house["drawdown"]["max"] == 1500
    assert house["epochs_to_house_negative"]["p_within"] == [1.0, 1.0, 1.0]
    assert house["epochs_to_house_negative"]["earliest"] == 1
    assert "Cover-2" in house["epochs_to_house_negative"]["note"]
    cas = doc["pool"]["cascades"]
    assert cas["house_pushed_negative_by_defaults"] == 1.0
    assert cas["house_pushed_negative_by_inherited_positions"] == 0.0
    assert cas["inherited_positions_loss"]["max"] == 500


def test_a_waterfall_plugs_in() -> None:
    """A function of the same shape as house_absorbs: a fund of 300 per path pays first."""
    def fund_first(res: Resources, d: Defaults) -> None:
        short = d.shortfall.sum(axis=1)
        fund = res.used.setdefault("fund", np.zeros_like(short))
        pay = np.minimum(short, 300 - fund)
        fund += pay
        res.house += d.penalty.sum(axis=1) - (short - pay)
        res.used["house"] = res.used["house"] + short - pay

    r = run(cascade_pool(), np.array([[[800], [700], [750]]]), waterfall=fund_first)
    assert r.house.tolist() == [[100, -100, -1100, -600]]
    assert r.resources.used["fund"].tolist() == [300]
    assert r.resources.used["house"].tolist() == [200]
    assert set(report(r)["pool"]["house"]["waterfall"]) == {"house", "fund"}


# --- equal to the engine ------------------------------------------------------------------


def random_pool(n: int, m: int, seed: int, leverage: tuple[float, float] = (0.5, 1.5)
                ) -> StressPool:
    """``n`` members with random positions, collateral ``leverage`` x their IM; the house
    holds the net."""
    rng = np.random.default_rng(seed)
    params = RiskParams.symmetric(m, [300, 700, 1200], penalty_bp=1500)
    prices = rng.integers(1_000, 100_000, m).tolist()
    q = rng.integers(-300, 300, (n, m))
    q[0] = 0  # a member without positions
    notional = (np.abs(q) * np.array(prices)).sum(axis=1)
    coll = (notional * 0.18 * rng.uniform(*leverage, n)).astype(np.int64)
    accounts = [(int(rng.integers(0, 10**6)), (-q.sum(axis=0)).tolist())]
    accounts += [(int(c), row.tolist()) for c, row in zip(coll, q, strict=True)]
    return pool_of(params, prices, accounts)


@pytest.fixture(scope="module")
def engine_run() -> tuple[StressPool, Any]:
    pool = random_pool(6, 3, seed=11)
    paths = generate_paths(pool.prices, 30, 12, seed=5, model=Garch(vol=0.05, df=3.0))
    return pool, run(pool, paths)


def test_run_equals_clear_slot_replay(engine_run: tuple[StressPool, Any]) -> None:
    """Every path cleared slot by slot with the engine's clear_slot: the same liquidation
    epochs (so counts), margin calls, final balances, house positions and house path."""
    pool, r = engine_run
    assert (r.liquidation_epoch > 0).sum() >= 10  # the comparison has liquidations in it
    assert (r.calls > 0).sum() >= 5
    assert r.house.min() < 0 or (r.shortfall > 0).any()
    assert check_replay(r, r.n_paths) == r.n_paths
    for p in range(r.n_paths):
        ref = replay_path(pool, r.paths[p].tolist())
        assert sum(1 for e in ref.liquidation_epoch if e) == int((r.liquidation_epoch[p] > 0)
                                                                   .sum())
        assert list(ref.collateral) == r.collateral[p].tolist()


def engine_state(pool: StressPool) -> PoolState:
    n_slots = 1 << (len(pool.collateral) - 1).bit_length()
    cfg = PoolConfig(n_slots, pool.n_instruments, pool.params.n_scenarios)
    leaves = [Leaf(c, q, 0, 1, 0) for c, q in zip(pool.collateral, pool.positions,
                                                    strict=True)]
    leaves += [Leaf(0, (0,) * pool.n_instruments)] * (n_slots - len(leaves))
    return PoolState(cfg, 0, tuple(leaves), pool.prices)


def test_run_equals_run_epoch(engine_run: tuple[StressPool, Any]) -> None:
    """The whole engine (run_epoch: netting, house intake, invariants) on a real PoolState
    with no events and no reports, epoch by epoch: the same liquidations and balances."""
    pool, r = engine_run
    n = pool.n_members
    for p in range(0, r.n_paths, 6):
        state = engine_state(pool)
        liq = [0] * n
        for e, prices in enumerate(r.paths[p].tolist(), start=1):
            res = run_epoch(state, pool.params, prices, [], {})
            for s in res.slots[1:n + 1]:
                if s.liquidated and not liq[s.slot - 1]:
                    liq[s.slot - 1] = e
            state = res.new
            assert state.leaves[0].collateral == int(r.house[p, e])
        assert liq == r.liquidation_epoch[p].tolist()
        assert [lf.collateral for lf in state.leaves[:n + 1]] == r.collateral[p].tolist()
        assert list(state.leaves[0].positions) == r.house_positions[p].tolist()


def test_python_ints_equal_int64(engine_run: tuple[StressPool, Any]) -> None:
    pool, r = engine_run
    obj = run(pool, r.paths, force_objects=True)
    assert not obj.exact_int64 and obj.collateral.dtype == object
    for name in ("liquidation_epoch", "calls", "collateral", "house", "penalty", "shortfall",
                 "house_positions", "inherited_vm"):
        assert getattr(obj, name).tolist() == getattr(r, name).tolist(), name
    assert report(obj)["members"] == report(r)["members"]


def test_values_near_the_bounds_are_exact() -> None:
    """Positions and prices near 2^46, shocks near 2^15: margins near 2^94, beyond int64,
    so the run holds Python ints; it equals clear_slot."""
    rng = np.random.default_rng(3)
    m = 3
    shocks = rng.integers(-(2**15), 2**15, (4, m)).tolist()
    params = RiskParams(15_000, 2_500, (2**48 - 1,) * m, shocks)
    big = 2**46
    prices = rng.integers(big, 2 * big, m).tolist()
    q = rng.integers(-big, big, (3, m))
    mm = [maintenance_margin(row, prices, params) for row in q.tolist()]
    accounts = [(2**100, (-q.sum(axis=0)).tolist())]
    accounts += [(x * f // 100, row.tolist())
                 for x, f, row in zip(mm, (105, 120, 300), q, strict=True)]
    pool = pool_of(params, prices, accounts)
    moves = rng.integers(-(2**42), 2**42, (6, 8, m))
    paths = np.clip(np.array(prices) + np.cumsum(moves, axis=1), 1, 2**48 - 1)
    r = run(pool, paths)
    assert not r.exact_int64
    assert check_replay(r, r.n_paths) == r.n_paths
    assert (r.liquidation_epoch > 0).any()


def test_a_member_without_positions_and_negative_collateral_is_liquidated_once() -> None:
    pool = pool_of(PARAMS_1, [1000], [(100, [-5]), (-50, [0]), (5000, [5])])
    r = run(pool, np.array([[[1000], [1010]]]))
    assert r.liquidation_epoch.tolist() == [[1, 0]]
    assert check_replay(r, 1) == 1


# --- the generator ------------------------------------------------------------------------


def test_generator_is_reproducible() -> None:
    a = generate_paths([1000, 2000], 50, 20, seed=42)
    b = generate_paths([1000, 2000], 50, 20, seed=42)
    c = generate_paths([1000, 2000], 50, 20, seed=43)
    assert a.dtype == np.int64 and a.shape == (50, 20, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 1


def test_generator_has_fat_tails_clustering_and_correlation() -> None:
    model = Garch(vol=0.01, alpha=0.1, beta=0.85, df=5.0, corr=0.6)
    px = generate_paths([10**9, 10**9], 100, 1000, seed=7, model=model)
    full = np.concatenate([np.full((100, 1, 2), 10**9), px], axis=1)
    r = np.diff(np.log(full.astype(np.float64)), axis=1)
    x = r - r.mean(axis=1, keepdims=True)
    kurtosis = (x**4).mean() / (x**2).mean() ** 2
    assert kurtosis > 3.5, kurtosis  # a normal has 3
    sq = x[:, :, 0] ** 2
    sq = sq - sq.mean(axis=1, keepdims=True)
    acf1 = (sq[:, 1:] * sq[:, :-1]).mean() / (sq**2).mean()
    assert acf1 > 0.05, acf1  # volatility clustering
    corr = np.corrcoef(r[:, :, 0].ravel(), r[:, :, 1].ravel())[0, 1]
    assert 0.5 < corr < 0.7, corr
    assert abs(r.std() - 0.01) < 0.002


@pytest.mark.parametrize("kw,msg", [
    ({"alpha": 0.2, "beta": 0.8}, "alpha \\+ beta < 1"), ({"df": 2.0}, "degrees of freedom"),
    ({"vol": 0.0}, "volatility"), ({"corr": 1.0}, "correlation"),
    ({"corr": ((1.0, 0.99), (0.98, 1.0))}, "symmetric"),
    ({"corr": ((1.0, 2.0), (2.0, 1.0))}, "positive definite"),
    ({"corr": ((1.0,),)}, "2 x 2")])
def test_generator_refuses_bad_models(kw: dict[str, Any], msg: str) -> None:
    with pytest.raises(StressInputError, match=msg):
        generate_paths([1000, 2000], 2, 2, seed=1, model=Garch(**kw))


# --- inputs -------------------------------------------------------------------------------


def pool_doc(**over: Any) -> dict[str, Any]:
    doc = {"format": "zkclear-stress-pool-v1", "risk": RISK_DOC, "prices": [1000, "1100"],
           "instruments": [{"name": "ALPHA"}, {"name": "BETA", "kind": "future"}],
           "house": {"collateral": 5000, "positions": [0, 0]},
           "members": [{"name": "Bank <A>", "collateral": 2000, "positions": [10, -10]},
                       {"name": "Fund B", "collateral": "1200", "positions": [-10, 0]},
                       {"collateral": 900, "positions": [0, 10]}]}
    doc.update(over)
    return doc


def write(tmp: Path, name: str, data: Any) -> Path:
    p = tmp / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def test_pool_and_member_files(tmp_path: Path) -> None:
    pool = load_pool(write(tmp_path, "pool.json", pool_doc()))
    assert pool.names == ("house", "Bank <A>", "Fund B", "member 3")
    assert pool.instruments == ("ALPHA", "BETA") and pool.prices == (1000, 1100)
    assert pool.collateral == (5000, 2000, 1200, 900)
    me = load_member(write(tmp_path, "me.json", {
        "format": "zkclear-stress-member-v1", "risk": RISK_DOC, "prices": [1000, 1100],
        "collateral": 700, "positions": [3, -2]}))
    assert me.member_mode and me.positions == ((-3, 2), (3, -2)) and me.collateral == (0, 700)


@pytest.mark.parametrize("over,msg", [
    ({"members": [{"collateral": 1, "positions": [1, 0]}]}, "sum to 1, not 0"),
    ({"instruments": [{"name": "A"}, {"name": "C", "kind": "option"}]}, "futures? only|"
     "clears future only"),
    ({"prices": [0, 1100]}, "prices\\[0\\] = 0"),
    ({"members": []}, "at least one member"),
    ({"house": {"collateral": 0, "positions": [2**48, -(2**48)]}}, "outside"),
    ({"house": {"collateral": 0, "positions": [1]}}, "1 given"),
    ({"members": [{"collateral": "12x", "positions": [0, 0]}]}, "collateral"),
    ({"format": "zkclear-pool-v1"}, "format"),
    ({"extra": 1}, "unknown field")])
def test_bad_pool_files(tmp_path: Path, over: dict[str, Any], msg: str) -> None:
    with pytest.raises(StressInputError, match=msg) as info:
        load_pool(write(tmp_path, "pool.json", pool_doc(**over)))
    assert "\n" not in str(info.value)


def test_house_capacity_is_checked() -> None:
    half = 2**47
    with pytest.raises(ParamsError, match="could not take over"):
        pool_of(PARAMS_1, [1000], [(0, [0]), (0, [half]), (0, [-half])])


@pytest.mark.parametrize("name,text,msg", [
    ("p.csv", "ALPHA,BETA\n1000,1100\n1010,\n", "line 3, BETA: missing price"),
    ("p.csv", "1000,1100\n0,1100\n", "line 2, ALPHA: price 0 is not positive"),
    ("p.csv", "1000,1100\n-5,1100\n", "price -5 is not positive"),
    ("p.csv", "1000,1100,7\n", "3 prices, the pool has 2"),
    ("p.csv", "1000\n", "1 prices, the pool has 2"),
    ("p.csv", "1000.5,1100\n", "integer number of ticks"),
    ("p.csv", "BETA,ALPHA\n1000,1100\n", "header names BETA, ALPHA"),
    ("p.csv", "ALPHA,BETA\n", "a header but no prices"),
    ("p.csv", "", "no rows"),
    ("p.json", "[[1000, 1100], [1000, null]]", "epoch 2, BETA: missing price"),
    ("p.json", "[[1000, 1100], [1000]]", "epoch 2: 1 prices"),
    ("p.json", "[[[1000, 1100]], [[1000, 1100], [5, 5]]]", "path 1, 2 epochs, path 0 has 1"),
    ("p.json", "[[1000, true]]", "integer number of ticks"),
    ("p.json", "[[1000, 1100.5]]", "integer number of ticks"),
    ("p.json", f"[[1000, {2**48}]]", "not below 2\\^48"),
    ("p.json", "{\"paths\": [], \"x\": 1}", "one field"),
    ("p.json", "[]", "a list of rows"),
    ("p.json", "[1000, 1100]", "epoch 1: a row of 2 prices expected"),
    ("p.json", "{not json", "not valid JSON")])
def test_bad_price_paths(tmp_path: Path, name: str, text: str, msg: str) -> None:
    pool = load_pool(write(tmp_path, "pool.json", pool_doc()))
    with pytest.raises(StressInputError, match=msg) as info:
        load_paths(write(tmp_path, name, text), pool)
    assert "\n" not in str(info.value) and str(tmp_path / name) in str(info.value)


def test_price_files_and_windows(tmp_path: Path) -> None:
    pool = load_pool(write(tmp_path, "pool.json", pool_doc()))
    csv = load_paths(write(tmp_path, "p.csv", "ALPHA,BETA\n1000,1100\n\n990,1200\n"), pool)
    assert csv.tolist() == [[[1000, 1100], [990, 1200]]]
    assert load_paths(write(tmp_path, "p.json", "[[5, 6]]"), pool).tolist() == [[[5, 6]]]
    two = load_paths(write(tmp_path, "q.json", {"paths": [[[5, 6]], [[7, "8"]]]}), pool)
    assert two.tolist() == [[[5, 6]], [[7, 8]]]
    series = np.array([[100, 50], [110, 50], [99, 25], [100, 1]])
    w = windows(series, [1000, 1100], 2)
    # window 0: 1000 * 110/100, 1000 * 99/100; 1100 * 50/50, 1100 * 25/50
    assert w.tolist() == [[[1100, 1100], [990, 550]], [[900, 550], [909, 22]]]
    with pytest.raises(StressInputError, match="needs 4"):
        windows(series[:3], [1000, 1100], 3)
    with pytest.raises(StressInputError, match="3 epochs per path, 4 asked"):
        price_paths(pool, paths_file=write(tmp_path, "r.json", [[1, 1]] * 3), epochs=4)
    paths, source = price_paths(pool, generate=3, epochs=4, seed=9)
    assert paths.shape == (3, 4, 2) and source["seed"] == 9


def test_run_refuses_bad_arrays() -> None:
    pool = cascade_pool()
    for bad, msg in [(np.zeros((1, 2, 1), dtype=np.int64), "price 0 outside"),
                     (np.ones((1, 2, 2), dtype=np.int64), "2 instruments"),
                     (np.ones((1, 2, 1)), "integer ticks"), (np.ones((2, 1)), "shape")]:
        with pytest.raises(StressInputError, match=msg):
            run(pool, bad)
    r = run(pool, np.full((1, 2, 1), 1000))
    with pytest.raises(ValueError, match="horizon"):
        report(r, horizon=3)


# --- the CLI end to end -------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects start tags and text; fails on unbalanced figure/svg/table tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("figure", "svg", "table", "details", "dl"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("figure", "svg", "table", "details", "dl"):
            assert self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pool = write(tmp_path, "pool.json", pool_doc(
        members=[{"name": "<script>alert(1)</script>", "collateral": 2000,
                  "positions": [10, -10]},
                 {"name": "Fund B", "collateral": "1200", "positions": [-10, 0]},
                 {"collateral": 900, "positions": [0, 10]}]))
    paths = write(tmp_path, "paths.csv", "ALPHA,BETA\n1000,1100\n950,1150\n900,1250\n")
    html = tmp_path / "report.html"
    code = cli.main(["stress", "run", "--pool", str(pool), "--paths", str(paths), "--json",
                     "--html", str(html), "--replay", "1", "--horizon", "2"])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True and doc["replayed"] == 1 and doc["html"] == str(html)
    for key in ("format", "inputs", "members", "pool", "member_fan"):
        assert key in doc
    for key in ("p_any_liquidation_within", "liquidations_per_epoch", "early_margin_calls",
                "house", "cascades", "fan", "histograms"):
        assert key in doc["pool"]
    assert set(doc["pool"]["house"]) >= {"loss", "epochs_to_house_negative", "waterfall"}
    assert doc["inputs"]["source"] == {"file": str(paths)} and doc["inputs"]["horizon"] == 2
    assert [len(m["p_liquidated_within"]) for m in doc["members"]] == [3, 3, 3]
    page = _Page()
    page.feed(html.read_text())
    page.close()
    assert not page.stack
    assert "script" not in page.tags  # the name is text, escaped
    assert "<script>alert(1)</script>" in "".join(page.text)
    assert "&lt;script&gt;" in html.read_text()
    histogram = 1 if doc["pool"]["histograms"]["house_loss"]["counts"] else 0
    assert page.tags.count("svg") == 3 + histogram + 3 and "details" in page.tags


def test_cli_member_file_generated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    me = write(tmp_path, "me.json", {"format": "zkclear-stress-member-v1", "risk": RISK_DOC,
                                     "prices": [1000, 1100], "name": "me", "collateral": 400,
                                     "positions": [3, -2]})
    args = ["stress", "run", "--member-file", str(me), "--generate", "40", "--epochs", "5",
            "--seed", "4", "--vol", "0.03", "--json"]
    assert cli.main([*args, "--html", str(tmp_path / "me.html")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["pool"] is None and doc["inputs"]["member_mode"]
    assert doc["inputs"]["source"]["seed"] == 4 and len(doc["members"]) == 1
    assert cli.main(args) == 0  # the same seed, the same report
    again = json.loads(capsys.readouterr().out)
    assert again["members"] == doc["members"]
    page = _Page()
    page.feed((tmp_path / "me.html").read_text())
    assert page.tags.count("svg") == 1


def test_cli_windows_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pool = write(tmp_path, "pool.json", pool_doc())
    hist = write(tmp_path, "hist.csv", "\n".join(f"{1000 + 7 * i},{1100 - 3 * i}"
                                                 for i in range(12)))
    assert cli.main(["stress", "run", "--pool", str(pool), "--paths", str(hist), "--windows",
                     "--epochs", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["inputs"]["paths"] == 8 and doc["inputs"]["epochs"] == 4
    bad = write(tmp_path, "bad.csv", "1000,1100\n1000,0\n")
    for args in (["--paths", str(bad)], ["--generate", "3", "--epochs", "2", "--horizon", "3"],
                 ["--generate", "3", "--epochs", "2", "--df", "2"],
                 ["--paths", str(hist), "--windows"]):
        assert cli.main(["stress", "run", "--pool", str(pool), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("zkclear: error: ") and len(err.strip().splitlines()) == 1


def test_report_renders_without_losses() -> None:
    pool = cascade_pool()
    r = run(pool, np.full((3, 2, 1), 1000))
    doc = report(r)
    assert doc["pool"]["histograms"]["house_loss"]["counts"] == []
    page = _Page()
    page.feed(render(doc))
    assert "No path ends with a house loss." in "".join(page.text)
