"""``zkclear stress``: hand-computed runs (each waterfall layer in turn), the run equal to
the engine replaying the same paths (clear_slot slot by slot with the engine's pool-wide
step, and run_epoch on a real PoolState), the generator's reproducibility and statistics,
bad inputs refused in one line, the CLI end to end."""

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
    Garch,
    StressInputError,
    StressPool,
    check_replay,
    generate_paths,
    load_member,
    load_paths,
    load_pool,
    price_paths,
    replay_path,
    report,
    run,
    run_replay,
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
            names: list[str] | None = None, df: list[int] | None = None,
            df_scale: int = 0) -> StressPool:
    dfs = df or [0] * len(accounts)
    accts = [Account(collateral=c, df=d, positions=q)
             for (c, q), d in zip(accounts, dfs, strict=True)]
    names = names or ["house"] + [f"m{i}" for i in range(1, len(accounts))]
    return StressPool.build(params, prices, accts, names, df_scale=df_scale)


def single(path: list[int], collateral: int = 1500, house: int = 0) -> Any:
    """One member long 10 lots at 1000 against the house."""
    pool = pool_of(PARAMS_1, [1000], [(house, [-10]), (collateral, [10])])
    return run(pool, np.array([[[p] for p in path]]))


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
    # no default fund: the house's skin in the game (unlimited) covers it
    assert r.layers["skin"].tolist() == [[0, 500, 0]]
    assert r.layers["own"].sum() == r.layers["fund"].sum() == r.layers["haircut"].sum() == 0


def cascade_pool() -> StressPool:
    """A long 10 against B short 10 (the house flat, 100 in its fund)."""
    return pool_of(PARAMS_1, [1000], [(100, [0]), (1500, [10]), (5000, [-10])])


def test_the_haircut_saves_the_house_then_inherited_positions_sink_it() -> None:
    """800: A is 500 short; the house (100, flat) gives its 100 of skin in the game, no
    fund (no contributions), so B's VM gain (2000) is haircut 400: the house ends at 0
    and takes A's long 10. 700: the long loses 1000 (-1000); 750: gains 500 (-500). B,
    short: 5000 + 2000 - 400 + 1000 - 500."""
    r = run(cascade_pool(), np.array([[[800], [700], [750]]]))
    assert r.liquidation_epoch.tolist() == [[1, 0]]
    assert r.shortfall.tolist() == [[500, 0]]
    assert r.haircut.tolist() == [[0, 400]] and r.fund_share.tolist() == [[0, 0]]
    assert r.layers["skin"].tolist() == [[100, 0, 0]]
    assert r.layers["haircut"].tolist() == [[400, 0, 0]]
    assert r.house.tolist() == [[100, 0, -1000, -500]]
    assert r.house_positions.tolist() == [[10]]
    assert r.inherited_vm.tolist() == [[0, -1000, 500]]
    assert r.collateral.tolist() == [[-500, 0, 7100]]  # 100 + 1500 + 5000 conserved
    doc = report(r)
    house = doc["pool"]["house"]
    assert house["loss"]["max"] == 600 and house["drawdown"]["max"] == 1100
    assert house["epochs_to_house_negative"]["p_within"] == [0.0, 1.0, 1.0]
    assert house["epochs_to_house_negative"]["earliest"] == 2
    cas = doc["pool"]["cascades"]
    assert cas["house_pushed_negative_by_defaults"] == 0.0
    assert cas["house_pushed_negative_by_inherited_positions"] == 1.0
    assert cas["inherited_positions_loss"]["max"] == 500
    (a, b) = doc["members"]
    assert b["mutualised"]["haircut"]["max"] == 400 and b["mutualised"]["haircut"]["p"] == 1.0
    assert a["mutualised"]["haircut"]["max"] == 0
    wf = doc["pool"]["waterfall"]["layers"]
    assert wf["haircut"]["per_epoch_max"] == [400, 0, 0] and wf["haircut"]["p_touched"] == 1.0
    assert wf["fund"]["p_touched"] == 0.0


#: One instrument, MM of q lots at P = |q| * P / 10 (shocks +-10 %), penalty 10 % of MM;
#: the fund: floor 100, a share of 10 % of the stress loss, stress = 2 x the margin
#: scenarios, the house's skin in the game capped at 300.
PARAMS_F = RiskParams(15_000, 1_000, (10**6,), ((1000,), (-1000,)), df_floor=100,
                      df_share_bp=1_000, stress_bp=20_000, skin_cap=300)


def test_each_waterfall_layer_in_turn() -> None:
    """A long 10 (1000 + df 200) against B and C short 2 each (1000 + df 100 each) and the
    house short 6 (1000). One epoch, five paths, A's price falls further on each:

    A at P: cpre = 10P - 9000, MM = P, ST = 2P, req = max(100, ceil(2P / 10)) = P / 5 <=
    200 = df, so no deficit is called: the excess returns, e = cpre - (req - 200), and A
    holds req; it is liquidated (e < 0 < MM): s = -e, o = min(s, req), R1 = s - o.
    B and C: MM = P / 5, ST = 2P / 5, req = max(100, ceil(ST / 10)) = 100 = df
    (no call), gains g = 2 (1000 - P) each, F = 200. The house: H = 1000 + 6 (1000 - P)
    (no penalty: A has nothing left), skin min(R1, 300, H).

    P=880: cpre -200, req 176, e -176: s = 176 = o, R1 0 (A's own contribution only);
    P=850: cpre -500, req 170, e -470, o 170, R1 300 = the skin (exactly its cap);
    P=840: cpre -600, req 168, e -568, o 168, R1 400: skin 300, fund 100 (u = 50 each);
    P=800: cpre -1000, req 160, e -960, o 160, R1 800: skin 300, fund 200 (u 100 each),
           haircut 300 of G = 800 (y = ceil(300 * 400 / 800) = 150 each);
    P=700: cpre -2000, req 140, e -1940, o 140, R1 1800: skin 300, fund 200, haircut 1200
           of G = 1200 (y 600 each), 100 uncovered (the house carries it).
    The house: H - R1 + sum u + sum y."""
    pool = pool_of(PARAMS_F, [1000], [(1000, [-6]), (1000, [10]), (1000, [-2]), (1000, [-2])],
                   df=[0, 200, 100, 100])
    r = run(pool, np.array([[[880]], [[850]], [[840]], [[800]], [[700]]]))
    assert r.liquidation_epoch[:, 0].tolist() == [1] * 5
    assert (r.liquidation_epoch[:, 1:] == 0).all()
    assert r.shortfall[:, 0].tolist() == [176, 470, 568, 960, 1940]
    layer = {k: v[:, 0].tolist() for k, v in r.layers.items()}
    assert layer == {"own": [176, 170, 168, 160, 140], "skin": [0, 300, 300, 300, 300],
                     "fund": [0, 0, 100, 200, 200], "haircut": [0, 0, 0, 300, 1200],
                     "uncovered": [0, 0, 0, 0, 100]}
    assert r.fund_share[:, 1:].tolist() == [[0, 0], [0, 0], [50, 50], [100, 100], [100, 100]]
    assert r.haircut[:, 1:].tolist() == [[0, 0], [0, 0], [0, 0], [150, 150], [600, 600]]
    h = [1000 + 6 * (1000 - p) for p in (880, 850, 840, 800, 700)]
    assert r.house[:, 1].tolist() == [h[0], h[1] - 300, h[2] - 400 + 100, h[3] - 800 + 500,
                                      h[4] - 1800 + 1400]
    assert r.df.tolist() == [[0, 100, 100], [0, 100, 100], [0, 50, 50], [0, 0, 0], [0, 0, 0]]
    assert r.exhausted[:, 0].tolist() == [False, False, False, True, True]
    # B and C: ST = 2P/5 far below their collateral: Cover-2 needs nothing
    assert r.cover2_met.all() and r.df_scale.tolist() == [[0, 0]] * 5
    assert check_replay(r, r.n_paths) == 5
    total = [sum(pool.collateral) + sum(pool.df)] * 5
    assert (r.collateral.sum(axis=1) + r.df.sum(axis=1)).tolist() == total
    wf = report(r)["pool"]["waterfall"]["layers"]
    assert [wf[k]["p_touched"] for k in ("own", "skin", "fund", "haircut", "uncovered")] == [
        1.0, 0.8, 0.6, 0.4, 0.2]
    assert wf["haircut"]["per_epoch_max"] == [1200] and wf["uncovered"]["max_epoch"] == 100


def test_cover2_missed_raises_the_next_call() -> None:
    """Two members long 10 and short 10 at 1000, 1200 each, no fund yet; stress 3 x the
    margin scenarios: ST = 3000 each. A price of 1000 (no move): MM 1000, req = floor 100
    (dfScale 0, no share), called in full from the equity above MM (1200 - 1000 = 200):
    e = 1100; c' = 1100, df' = 100: unc = 3000 - 1200 = 1800 each, C2 = 3600; the house's
    skin min(500, 1000) = 500, the fund 200: missed. dfScale = ceil((3600 - 500) * 10000 /
    6000) = 5167. Next epoch (no move): req = ceil(3000 * 5167 / 10000) = 1551, a deficit
    of 1451 called from the equity above MM only: min(1451, 1100 - 1000) = 100, so e =
    1000 = MM, df held 200 < req: the call is unmet and nobody is liquidated (the rule
    before 55946fc took the whole deficit, e = -351, and liquidated both). c' = 1000, df'
    = 200: unc = 3000 - 1200 = 1800 each again, C2 = 3600 against 400 + 500: missed,
    dfScale 5167 again."""
    params = RiskParams(15_000, 1_000, (10**6,), ((1000,), (-1000,)), df_floor=100,
                        stress_bp=30_000, skin_cap=500)
    pool = pool_of(params, [1000], [(1000, [0]), (1200, [10]), (1200, [-10])])
    r = run(pool, np.array([[[1000], [1000]]]))
    assert r.cover2_requirement.tolist() == [[3600, 3600]]
    assert r.cover2_met.tolist() == [[False, False]]
    assert r.df_scale.tolist() == [[0, 5167, 5167]]
    assert r.liquidation_epoch.tolist() == [[0, 0]] and r.unmet_calls.tolist() == [[1, 1]]
    assert r.own_used.tolist() == [[0, 0]] and r.df.tolist() == [[200, 200]]
    assert r.collateral.tolist() == [[1000, 1000, 1000]]
    doc = report(r)["pool"]["cover2"]
    assert doc["p_breach_per_epoch"] == [1.0, 1.0] and doc["first_breach_per_epoch"] == [1, 0]
    assert doc["earliest"] == 1 and doc["p_within"] == [1.0, 1.0]
    assert report(r)["pool"]["waterfall"]["p_unmet_fund_call"] == 1.0
    assert check_replay(r, 1) == 1


def test_the_call_never_liquidates_and_flat_members_hold_nothing() -> None:
    """The call's rule (clear_slot since 55946fc), by hand; floor 100, share 10 %, stress 2
    x the margin scenarios, skin cap 1480; the house short 5 with 2000; no price move in
    either epoch (P = 1000, MM = |q| * 100, ST = 2 MM, IM = 1.5 MM):

    m1, flat, 0 + df 500: MM 0, so req 0: the 500 returns to collateral (c' 500, df' 0);
    m2, long 10, 1050 + df 0: req = max(100, ceil(2000 / 10)) = 200, a deficit of 200
        called from the equity above MM only: min(200, 1050 - 1000) = 50, e = 1000 = MM:
        it survives with df 50 < req (unmet); the old rule (e = 850 < MM) liquidated it;
    m3, short 10, 900 + df 300: req 200 <= df: 100 returns, e = 1000, met (cpre < MM but
        nothing is called, so it survives, as before);
    m4, long 5, 400 + df 50: MM 500, req 100, cpre 400 < MM: nothing is called, e = 400 <
        MM: liquidated, pen = ceil(500 / 10) = 50, s = 0, c' = 350, df' = 50 (held - o);
        its 5 lots go to the house (flat). Epoch 2: MM 0, req 0: its 50 returns (c' 400).
    Epoch 1 Cover-2: unc = ST - c' - df' = 950 (m2), 800 (m3): C2 = 1750; the house H =
    2050, skin min(1480, 2050) = 1480; the survivors' df' 0 + 50 + 200 = 250: 1730 < 1750,
    missed (m4's leftover 50 would have met it, but it does not count). dfScale =
    ceil((1750 - 1480) * 10000 / 4000) = 675 < the share, so epoch 2's req is 200 again:
    m2's deficit 150, its equity above MM 0: still unmet; the same Cover-2."""
    params = RiskParams(15_000, 1_000, (10**6,), ((1000,), (-1000,)), df_floor=100,
                        df_share_bp=1_000, stress_bp=20_000, skin_cap=1480)
    pool = pool_of(params, [1000], [(2000, [-5]), (0, [0]), (1050, [10]), (900, [-10]),
                                    (400, [5])], df=[0, 500, 0, 300, 50])
    r = run(pool, np.array([[[1000], [1000]]]))
    assert r.liquidation_epoch.tolist() == [[0, 0, 0, 1]]
    assert r.unmet_calls.tolist() == [[0, 2, 0, 0]] and r.calls.tolist() == [[0, 2, 2, 0]]
    assert r.penalty.tolist() == [[0, 0, 0, 50]] and r.shortfall.tolist() == [[0, 0, 0, 0]]
    assert r.collateral.tolist() == [[2050, 500, 1000, 1000, 400]]
    assert r.df.tolist() == [[0, 50, 200, 0]] and r.fund.tolist() == [[850, 300, 250]]
    assert r.house_positions.tolist() == [[0]] and r.house[0].tolist() == [2000, 2050, 2050]
    assert r.cover2_requirement.tolist() == [[1750, 1750]]
    assert r.cover2_met.tolist() == [[False, False]]
    assert r.df_scale.tolist() == [[0, 675, 675]]
    m = report(r)["members"]
    assert [row["p_unmet_fund_call"] for row in m] == [0.0, 1.0, 0.0, 0.0]
    assert [row["mean_unmet_fund_call_epochs"] for row in m] == [0.0, 2.0, 0.0, 0.0]
    assert check_replay(r, 1) == 1
    total = sum(pool.collateral) + sum(pool.df)
    assert int(r.collateral.sum() + r.df.sum()) == total


# --- equal to the engine ------------------------------------------------------------------


#: A default fund that every layer of the waterfall and Cover-2 breaches get used with
#: on :func:`engine_run`'s paths.
FUND = {"df_floor": 10_000, "df_share_bp": 500, "stress_bp": 15_000, "skin_cap": 10_000}


def random_pool(n: int, m: int, seed: int, leverage: tuple[float, float] = (0.5, 1.5),
                fund: dict[str, int] | None = None) -> StressPool:
    """``n`` members with random positions, collateral ``leverage`` x their IM; the house
    holds the net; ``fund``: the default fund's parameters (none: no fund)."""
    rng = np.random.default_rng(seed)
    params = RiskParams.symmetric(m, [300, 700, 1200], penalty_bp=1500)
    params = RiskParams(params.im_factor_bp, params.penalty_bp, params.position_limits,
                        params.shocks, **(fund or {}))
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
    pool = random_pool(6, 3, seed=11, leverage=(0.3, 1.0), fund=FUND)
    paths = generate_paths(pool.prices, 30, 12, seed=5, model=Garch(vol=0.08, df=3.0))
    return pool, run(pool, paths)


def test_run_equals_clear_slot_replay(engine_run: tuple[StressPool, Any]) -> None:
    """Every path cleared slot by slot with the engine's clear_slot and pool-wide step
    (pool_waterfall, pool_cover2), run_epoch's two passes: the same liquidation epochs (so
    counts), margin calls, unmet fund calls, final balances and contributions, each
    member's o, u, y, house
    positions and path, each epoch's layers, Cover-2 and dfScale."""
    pool, r = engine_run
    assert (r.liquidation_epoch > 0).sum() >= 10  # the comparison has liquidations in it
    assert (r.calls > 0).sum() >= 5
    assert (r.unmet_calls > 0).sum() >= 3  # deficits called from the equity above MM only
    assert (r.df[:, 0] == 0).all()  # the member without positions holds no contribution
    for name in ("skin", "fund", "haircut", "uncovered"):  # every layer is in it
        assert (r.layers[name] > 0).sum() >= 2, name
    assert (~r.cover2_met).sum() >= 10 and (r.df_scale > 0).any()
    assert r.house.min() < 0 and r.exhausted.any()
    assert check_replay(r, r.n_paths) == r.n_paths
    for p in range(r.n_paths):
        ref = replay_path(pool, r.paths[p].tolist())
        assert sum(1 for e in ref.liquidation_epoch if e) == int((r.liquidation_epoch[p] > 0)
                                                                   .sum())
        assert list(ref.collateral) == r.collateral[p].tolist()


def engine_state(pool: StressPool) -> PoolState:
    n_slots = 1 << (len(pool.collateral) - 1).bit_length()
    cfg = PoolConfig(n_slots, pool.n_instruments, pool.params.n_scenarios)
    leaves = [Leaf(c, q, 0, 1, 0, d) for c, q, d in zip(pool.collateral, pool.positions,
                                                          pool.df, strict=True)]
    leaves += [Leaf(0, (0,) * pool.n_instruments)] * (n_slots - len(leaves))
    return PoolState(cfg, 0, tuple(leaves), pool.prices, df_scale=pool.df_scale)


def test_run_equals_run_epoch(engine_run: tuple[StressPool, Any]) -> None:
    """The whole engine (run_epoch: netting, both passes, the waterfall, Cover-2, house
    intake, invariants) on a real PoolState with no events and no reports, epoch by epoch:
    the same liquidations, balances, contributions, layers and dfScale."""
    pool, r = engine_run
    n = pool.n_members
    for p in range(0, r.n_paths, 3):
        state = engine_state(pool)
        liq = [0] * n
        ref = run_replay(r, p)
        for e, prices in enumerate(r.paths[p].tolist(), start=1):
            res = run_epoch(state, pool.params, prices, [], {})
            for s in res.slots[1:n + 1]:
                if s.liquidated and not liq[s.slot - 1]:
                    liq[s.slot - 1] = e
            state = res.new
            assert state.leaves[0].collateral == int(r.house[p, e])
            wf = res.layers
            assert (wf.own, wf.house, wf.fund, wf.haircut, wf.uncovered) == ref.layers[e - 1]
            assert res.cover2.met == ref.cover2_met[e - 1]
            assert state.df_scale == ref.df_scale[e]
        assert liq == r.liquidation_epoch[p].tolist()
        assert [lf.collateral for lf in state.leaves[:n + 1]] == r.collateral[p].tolist()
        assert [lf.df for lf in state.leaves[1:n + 1]] == r.df[p].tolist()
        assert list(state.leaves[0].positions) == r.house_positions[p].tolist()


def test_python_ints_equal_int64(engine_run: tuple[StressPool, Any]) -> None:
    pool, r = engine_run
    obj = run(pool, r.paths, force_objects=True)
    assert not obj.exact_int64 and obj.collateral.dtype == object
    for name in ("liquidation_epoch", "calls", "unmet_calls", "collateral", "house", "penalty",
                 "shortfall", "house_positions", "inherited_vm", "df", "own_used",
                 "fund_share", "haircut", "fund", "cover2_met", "cover2_requirement",
                 "df_scale", "exhausted"):
        assert getattr(obj, name).tolist() == getattr(r, name).tolist(), name
    for name in obj.layers:
        assert obj.layers[name].tolist() == r.layers[name].tolist(), name
    assert report(obj)["members"] == report(r)["members"]


@pytest.mark.parametrize("fund", [{}, {"df_floor": 2**70, "df_share_bp": 3_000,
                                        "stress_bp": 25_000, "skin_cap": 2**95}])
def test_values_near_the_bounds_are_exact(fund: dict[str, int]) -> None:
    """Positions and prices near 2^46, shocks near 2^15: margins near 2^94, beyond int64,
    so the run holds Python ints; it equals clear_slot and the pool-wide step."""
    rng = np.random.default_rng(3)
    m = 3
    shocks = rng.integers(-(2**15), 2**15, (4, m)).tolist()
    params = RiskParams(15_000, 2_500, (2**48 - 1,) * m, shocks, **fund)
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
    ({"members": [{"collateral": 1, "df": -1, "positions": [0, 0]}]}, "df = -1"),
    ({"house": {"collateral": 0, "df": 5, "positions": [0, 0]}}, "house holds no default"),
    ({"df_scale": 65536}, "df_scale = 65536"),
    ({"risk": {**RISK_DOC, "stress_bp": 9999}}, "stress_bp = 9999"),
    ({"risk": {**RISK_DOC, "df_floor": -1}}, "df_floor = -1"),
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
        risk={**RISK_DOC, "df_floor": 50, "df_share_bp": 1000, "stress_bp": 20_000,
              "skin_cap": 400}, df_scale=300,
        members=[{"name": "<script>alert(1)</script>", "collateral": 2000, "df": "60",
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
    assert set(doc["pool"]["house"]) >= {"loss", "epochs_to_house_negative"}
    assert set(doc["pool"]["waterfall"]["layers"]) == {"own", "skin", "fund", "haircut",
                                                       "uncovered"}
    assert len(doc["pool"]["cover2"]["p_breach_per_epoch"]) == 3
    assert 0.0 <= doc["pool"]["waterfall"]["p_unmet_fund_call"] <= 1.0
    assert all("p_unmet_fund_call" in m for m in doc["members"])
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
    assert page.tags.count("svg") == 5 + histogram + 3 and "details" in page.tags
    assert 'id="waterfall"' in html.read_text() and 'id="cover2"' in html.read_text()


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
