"""The default-fund drills (issue 16): the same story through the engine alone (quick:
the published values are the proof's public signals) and on the embedded EVM with real
proofs (heavy: two proven epochs each, the published values are the contract's events)."""

from __future__ import annotations

import pytest

from zkclear.drills import DRILLS, run
from zkclear.drills.fund import drill_default_waterfall


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
