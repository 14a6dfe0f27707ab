"""The adversarial drills (``zkclear drill``) as tests: each must pass with no honest loss."""

from __future__ import annotations

import json

import pytest

from zkclear import drills
from zkclear.cli.main import main


@pytest.mark.heavy
def test_offmarket_drain_drill_passes() -> None:
    v = drills.run("offmarket-drain")
    assert v.passed, v.summary
    assert v.ledger.honest_loss() == 0 and v.ledger.honest == {"house", "Bank A"}
    assert any("INSUFFICIENT_EQUITY" in r for r in v.facts["rejections_epoch_3"])


def test_unknown_drill_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "no-such-drill", "--json"]) == 2
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is False and "unknown drill" in out["error"]


def test_a_crashing_drill_fails_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(drills.DRILLS, "boom", "base:drill_pool")  # needs an argument
    v = drills.run("boom")
    assert not v.passed and "crashed" in v.summary


@pytest.mark.heavy
def test_house_under_water_drill_passes() -> None:
    v = drills.run("house-under-water")
    assert v.passed, v.summary
    assert v.facts["house"] < 0 and v.facts["paid"] <= v.facts["total"]


def test_every_story_of_issues_12_and_13_is_a_registered_drill() -> None:
    assert set(drills.DRILLS) >= {
        "garbage-commit", "withheld-commit", "late-commit", "operator-vanishes",
        "operator-replaced", "removed-member-exits", "refused-payout", "offmarket-drain",
        "oracle-single-reporter", "house-under-water", "default-waterfall",
        "fund-call-griefing"}
    for name in drills.DRILLS:  # each resolves to a function
        assert callable(drills.drill(name))
