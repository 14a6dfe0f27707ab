"""The commit drills (issue 12): a member that signs garbage, never signs, or signs too
late cannot make an epoch unprovable; the honest members lose nothing and the pool keeps
clearing. Each runs on the embedded EVM with real proofs (1-2 epochs each)."""

from __future__ import annotations

import pytest

from zkclear.drills import DRILLS, run


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["garbage-commit", "withheld-commit", "late-commit"])
def test_commit_drill_passes_with_no_honest_loss(name: str) -> None:
    assert name in DRILLS
    v = run(name)
    assert v.passed, "\n".join(v.story)
    assert v.ledger.honest_loss() == 0
    assert v.ledger.honest >= {"house", "Bank A", "Bank B"}
    assert not any(line.startswith("FAILED") for line in v.story)
