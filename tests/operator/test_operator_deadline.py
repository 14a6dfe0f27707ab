"""The operator service's signing deadline (issue 12): a member that does not sign its
netted report by ``sign_timeout`` is excluded, its counterparties are re-netted and sign
again, the epoch closes with the slot in ``excludedMask`` and is proven and accepted; the
slot is suspended the next epoch (its trades rejected by the service's netting). Real
HTTP, embedded EVM, real proofs (two epochs)."""

from __future__ import annotations

import time

import pytest

from zkclear.audit.core import audit_member
from zkclear.chain import scenario
from zkclear.clearing.trades import TradeReport
from zkclear.operator.service import ServiceError

from . import helpers as ops

PRICES = (1_000, 1_100)
WITHHOLDER = 3
#: Long enough that a loaded 2-core machine commits two members and ticks well inside it
#: (at 1 s the deadline passed before the first tick under a parallel test run).
TIMEOUT = 5.0


Env = ops.ServiceEnv


#: The options of this module's ``env`` (tests/operator/conftest.py).
SERVICE = {"enrol": True, "auto_close": True, "sign_timeout": TIMEOUT}


def _trades(e: int) -> dict[int, list[TradeReport]]:
    """1 and 2 trade with each other and each with 3, at the settlement prices."""
    t = TradeReport
    return {1: [t(f"ab{e}", 0, 1, 5, 1_000, 2), t(f"ac{e}", 1, 1, 3, 1_100, 3)],
            2: [t(f"ab{e}", 0, -1, 5, 1_000, 1), t(f"cb{e}", 0, 1, 2, 1_000, 3)],
            3: [t(f"ac{e}", 1, -1, 3, 1_100, 1), t(f"cb{e}", 0, -1, 2, 1_000, 2)]}


def _reasons(res: dict) -> dict[str, str]:
    return {r["trade_id"]: r["reason"] for r in res["rejected"]}


def test_withheld_signature_excluded_after_the_deadline(env: Env) -> None:
    svc, cl = env.service, env.pool.client
    for slot, c in env.clients.items():
        c.submit_trades(_trades(1)[slot])
    scenario.post_prices(env.pool, 1, PRICES)
    assert svc.net_epoch(1)["reports"] == [1, 2, 3]
    first = svc.expected_commitments(1)
    for slot in (1, 2):
        env.clients[slot].commit(1)
    svc.tick()  # before the deadline: waiting for slot 3
    pub = svc.epoch_public(1)
    assert pub["phase"] == "netted" and pub["awaiting_signatures"] == [WITHHOLDER]
    assert pub["sign_deadline"] > time.time() - TIMEOUT

    time.sleep(TIMEOUT + 0.2)
    svc.tick()  # the deadline passed: slot 3 excluded, 1 and 2 re-netted, a new round
    pub = svc.epoch_public(1)
    assert pub["phase"] == "netted" and pub["excluded_slots"] == [WITHHOLDER]
    assert pub["awaiting_signatures"] == [1, 2]
    assert svc.signed_commits(1) == {}  # the old signatures are of the old reports
    new = svc.expected_commitments(1)
    assert set(new) == {1, 2} and all(new[s] != first[s] for s in (1, 2))
    r1 = env.clients[1].result(1)
    assert r1["needs_signature"] and not r1["excluded"]
    assert [t["trade_id"] for t in r1["accepted"]] == ["ab1"]
    assert _reasons(r1) == {"ac1": "COUNTERPARTY_EXCLUDED"}
    r3 = env.clients[WITHHOLDER].result(1)
    assert r3["excluded"] and r3["report"] is None
    assert _reasons(r3) == {"ac1": "REPORT_WITHHELD", "cb1": "REPORT_WITHHELD"}
    # too late for the withholder: it has no report to sign any more
    with pytest.raises(ServiceError) as ei:
        svc.accept_commit(WITHHOLDER, 1, first[WITHHOLDER], b"", b"\0" * 65)
    assert ei.value.code == "no_report"

    for slot in (1, 2):  # the member client re-checks its new result and signs it
        assert env.clients[slot].commit(1) == new[slot]
    svc.tick()
    assert svc.epoch_public(1)["phase"] == "accepted"
    assert cl.last_accepted_epoch() == 1 and cl.state_root() == svc.state().root()
    assert int(cl.epoch_info(1)["excludedMask"]) == 1 << WITHHOLDER
    assert svc.committed(1) == new
    steps = [s for _, s in svc.store.journal_steps(1)]
    assert steps[:2] == ["netted", "renetted"] and steps[-1] == "accepted"
    leaves = svc.state().leaves
    assert leaves[1].positions == (5, 0) and leaves[2].positions == (-5, 0)
    assert leaves[WITHHOLDER].positions == (0, 0)
    assert leaves[WITHHOLDER].collateral == ops.DEPOSIT

    # the audit reports the exclusion as an informational row, no finding
    rep = audit_member(env.pool.w3, cl.deployment, env.members[WITHHOLDER].view_key)
    assert rep.ok and rep.row(1).status == "excluded" and rep.row(1).excluded


def test_suspended_slot_trades_rejected_next_epoch(env: Env) -> None:
    svc, cl = env.service, env.pool.client
    for slot, c in env.clients.items():
        c.submit_trades(_trades(2)[slot])
    scenario.post_prices(env.pool, 2, PRICES)
    svc.tick()  # net_after is None: nothing happens before the command
    assert svc.net_epoch(2)["reports"] == [1, 2]
    r3 = env.clients[WITHHOLDER].result(2)
    assert r3["report"] is None
    assert _reasons(r3) == {"ac2": "SLOT_SUSPENDED", "cb2": "SLOT_SUSPENDED"}
    assert _reasons(env.clients[2].result(2)) == {"cb2": "COUNTERPARTY_EXCLUDED"}
    assert env.clients[WITHHOLDER].commit(2) is None  # nothing to sign when suspended
    for slot in (1, 2):
        env.clients[slot].commit(2)
    svc.tick()
    assert svc.epoch_public(2)["phase"] == "accepted" and cl.last_accepted_epoch() == 2
    assert int(cl.epoch_info(2)["excludedMask"]) == 0
