"""The default-fund drills (issue 16): the same story through the engine alone (quick:
the published values are the proof's public signals) and on the embedded EVM with real
proofs (heavy: two proven epochs each, the published values are the contract's events)."""

from __future__ import annotations

import random

import pytest

from zkclear.clearing.epoch import run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import PoolConfig
from zkclear.clearing.state import Leaf, PoolState
from zkclear.drills import DRILLS, run
from zkclear.drills.base import DRILL_PRICES
from zkclear.drills.fund import (
    GR_STRESS_BP,
    drill_default_waterfall,
    drill_fund_call_griefing,
    fund_params,
)


def test_default_waterfall_engine() -> None:
    v = drill_default_waterfall(engine_only=True)
    assert v.passed, "\n".join(v.story)
    assert v.ledger.honest == {"house", "Bank A (honest)"} and v.ledger.honest_loss() == 0
    lay = v.facts["layers"]
    assert lay["house"] == 5_000 and lay["fund"] == lay["fund_base"] > 0
    assert 0 < lay["haircut"] < lay["gains"]
    # The colluders end better than with an honest counterparty (a finding, not a pass
    # criterion): exactly by what the house and the honest member lost by the rule.
    assert v.facts["colluders_no_better_than_honest_counterparty"] is False
    assert v.facts["colluders_extracted"] == (v.facts["house_before"] - v.facts["house_after"]
                                              + sum(v.facts["bank_shares"]))


@pytest.mark.heavy
def test_default_waterfall_on_chain() -> None:
    assert "default-waterfall" in DRILLS
    v = run("default-waterfall")
    assert v.passed, "\n".join(v.story)
    assert v.facts["layers"] == drill_default_waterfall(engine_only=True).facts["layers"]


def test_fund_call_griefing_engine() -> None:
    v = drill_fund_call_griefing(engine_only=True)
    assert v.passed, "\n".join(v.story)
    assert v.ledger.honest_loss() == 0 and len(v.ledger.honest) == 3
    assert v.facts["cover2_met"] == [False, False]
    share = fund_params(stress_bp=GR_STRESS_BP).df_share_bp
    assert all(share < x <= 10_000 for x in v.facts["df_scale"])
    assert v.facts["rich_paid"]
    # The griefing's cost (recorded): Bank B's withdrawal, granted at the floor share,
    # is refused while its larger call is unmet.
    assert v.facts["thin_refused"] and v.facts["thin_granted_without_griefer"]
    assert not v.facts["thin_call_met"]


@pytest.mark.heavy
def test_fund_call_griefing_on_chain() -> None:
    assert "fund-call-griefing" in DRILLS
    v = run("fund-call-griefing")
    assert v.passed, "\n".join(v.story)
    assert v.facts == drill_fund_call_griefing(engine_only=True).facts


@pytest.mark.parametrize("seed", range(4))
def test_df_scale_never_exceeds_100_percent(seed: int) -> None:
    """dfScaleNext <= 10000 bp on random pools: a survivor's c' and df' are >= 0, so
    unc_i <= ST_i, C2 <= the two largest survivors' ST <= D and need <= D."""
    rng = random.Random(seed)
    cfg = PoolConfig(4, 2, 4)
    for _ in range(150):
        params = fund_params(df_floor=rng.choice([0, 50, 500]),
                             df_share_bp=rng.choice([0, 1_000, 10_000]),
                             stress_bp=rng.choice([10_000, 15_000, 30_000, 60_000]),
                             skin_cap=rng.choice([0, 100, 10**6]))
        pos = [[rng.randint(-300, 300) for _ in range(2)] for _ in range(3)]
        house_q = [-sum(p[m] for p in pos) for m in range(2)]
        leaves = [Leaf(rng.randint(0, 20_000), house_q, 0, 1)] + [
            Leaf(rng.randint(0, 40_000), p, i, 1, 0, rng.randint(0, 3_000))
            for i, p in enumerate(pos, 1)]
        st = PoolState(cfg, 3, tuple(leaves), DRILL_PRICES,
                       df_scale=rng.choice([0, 5_000, 10_000, (1 << 16) - 1]))
        prices = tuple(max(1, p * rng.randint(60, 140) // 100) for p in DRILL_PRICES)
        events = [Event(Kind.WITHDRAW, i, rng.randint(1, 5_000)) for i in (1, 2, 3)
                  if rng.random() < 0.3]
        r = run_epoch(st, params, prices, events, {})
        surv = [sl.figures for sl in r.slots[1:] if not sl.liquidated]
        assert all(f.collateral_after >= 0 and f.df_after >= 0 for f in surv)
        stress = sorted((f.stress for f in surv), reverse=True)
        assert r.cover2.requirement <= sum(stress[:2]) <= sum(stress)
        assert r.new.df_scale <= 10_000
