"""The ``oracle-single-reporter`` drill on the embedded EVM (issue 13)."""

from __future__ import annotations

from zkclear.drills.oracle import CRASH, HONEST, drill_oracle_single_reporter


def test_oracle_single_reporter_drill_passes() -> None:
    v = drill_oracle_single_reporter()
    assert v.passed, "\n".join(v.story)
    assert v.facts["final_epoch_1"] == list(HONEST) == v.facts["final_epoch_2_lone"]
    assert v.facts["final_epoch_2_crash"] == list(CRASH)
    assert v.ledger.honest_loss() == 0 and not any("FAILED" in line for line in v.story)
    assert v.to_json()["drill"] == "oracle-single-reporter"
