"""The operator's netting applies the matcher rules (price band, rule R) with members'
equity from its own state and the epoch's on-chain deposits, and what it nets proves and
lands on the embedded EVM. Members 1-3 deposit 200,000 each (tests/operator/helpers.py)."""

from __future__ import annotations

from zkclear.chain import scenario
from zkclear.clearing.trades import DEFAULT_BAND_BP, TradeReport

from . import helpers as ops

PRICES_1 = (1_010, 1_095)
PRICES_2 = (1_010, 1_090)  # BETA -5: slot 2 (long 10 BETA after epoch 1) loses 50


Env = ops.ServiceEnv


#: The options of this module's ``env`` (tests/operator/conftest.py).
SERVICE = {"enrol": True, "auto_close": False}


def _send(env: Env, deals: list[tuple[str, int, int, int, int, int]]) -> None:
    """Both sides of each ``(id, buyer, seller, instrument, size, price)``."""
    lists: dict[int, list[TradeReport]] = {s: [] for s in env.clients}
    for tid, b, s, m, size, px in deals:
        lists[b].append(TradeReport(tid, m, 1, size, px, s))
        lists[s].append(TradeReport(tid, m, -1, size, px, b))
    for slot, c in env.clients.items():
        c.submit_trades(lists[slot])


def _reasons(env: Env, epoch: int) -> dict[tuple[int, str], str]:
    return {(s, r["trade_id"]): r["reason"] for s, c in env.clients.items()
            for r in c.result(epoch)["rejected"]}


def _settle(env: Env, epoch: int) -> None:
    for c in env.clients.values():
        c.commit(epoch)
    r = env.admin(f"/v1/admin/epochs/{epoch}/close")
    assert r.status_code == 200, r.text
    r = env.admin(f"/v1/admin/epochs/{epoch}/settle")
    assert r.status_code == 200 and r.json()["phase"] == "accepted", r.text


def test_epoch_1_band_and_rule_r(env: Env) -> None:
    assert env.service.trade_band_bp == DEFAULT_BAND_BP == 2_000
    _send(env, [
        ("drain", 1, 3, 0, 1_500, 1_010 + 150),  # in the band; -225,000 > slot 1's 200,000
        ("far", 2, 3, 0, 1, 1_010 + 203),  # 20 % of 1010 is 202 ticks: off-market
        ("ok", 2, 3, 1, 10, 1_095),
    ])
    scenario.post_prices(env.pool, 1, PRICES_1)
    r = env.admin("/v1/admin/epochs/1/net")
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1 and r.json()["reports"] == [2, 3]
    assert _reasons(env, 1) == {(1, "drain"): "INSUFFICIENT_EQUITY",
                                (3, "drain"): "COUNTERPARTY_REJECTED",
                                (2, "far"): "OFF_MARKET", (3, "far"): "OFF_MARKET"}
    msg = next(x["message"] for x in env.clients[1].result(1)["rejected"])
    assert "trade cash -225000" in msg and "equity before trades 200000" in msg
    _settle(env, 1)
    state = env.service.state()
    assert [lf.collateral for lf in state.leaves] == [0, 200_000, 200_000, 200_000]
    assert [list(lf.positions) for lf in state.leaves] == [[0, 0], [0, 0], [0, 10], [0, -10]]


def test_epoch_2_waits_for_epoch_1_and_uses_equity_after_it(env: Env) -> None:
    """Epoch 2 is netted with e0 from the state after epoch 1: slot 2's 199,950 includes
    its variation margin of -50, so a loss of 199,980 is refused while slot 1 may lose
    199,950 of its 200,000 (it is then liquidated, with no shortfall for the house)."""
    svc = env.service
    assert svc.intake_epoch() == 2
    _send(env, [
        ("a", 1, 3, 0, 1_333, 1_010 + 150),  # slot 1: -199,950
        ("b1", 2, 3, 0, 1_333, 1_010 + 150),  # slot 2: -199,950 ...
        ("b2", 2, 3, 0, 1, 1_010 + 30),  # ... and -30
    ])
    scenario.post_prices(env.pool, 2, PRICES_2)
    r = env.admin("/v1/admin/epochs/2/net")
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert _reasons(env, 2) == {(2, "b1"): "INSUFFICIENT_EQUITY",
                                (2, "b2"): "INSUFFICIENT_EQUITY",
                                (3, "b1"): "COUNTERPARTY_REJECTED",
                                (3, "b2"): "COUNTERPARTY_REJECTED"}
    msg = next(x["message"] for x in env.clients[2].result(2)["rejected"])
    assert "equity before trades 199950" in msg and "trade cash -199980" in msg
    house_before = svc.state().leaves[0].collateral
    _settle(env, 2)
    after = svc.state()
    assert after.leaves[1].collateral == 0 and not any(after.leaves[1].positions)  # liquidated
    assert after.leaves[0].collateral == house_before + 50  # its penalty; no shortfall
    assert env.pool.client.total_collateral() == after.total_collateral() == 600_000


def test_epoch_3_netting_waits_for_the_previous_epoch(env: Env) -> None:
    """Netting epoch e needs the state after e - 1: refused (409) while e - 1 is closed but
    not yet proved, and the scheduled netting waits for it."""
    svc = env.service
    _send(env, [("c", 2, 3, 1, 1, 1_090)])
    scenario.post_prices(env.pool, 3, PRICES_2)
    r = env.admin("/v1/admin/epochs/3/net")
    assert r.status_code == 200, r.text
    for c in env.clients.values():
        c.commit(3)
    assert env.admin("/v1/admin/epochs/3/close").status_code == 200
    _send(env, [("d", 2, 3, 1, 1, 1_090)])
    scenario.post_prices(env.pool, 4, PRICES_2)
    r = env.admin("/v1/admin/epochs/4/net")
    assert r.status_code == 409 and r.json()["error"]["code"] == "previous_epoch_pending"
    svc.net_after = 0.0
    try:
        assert svc.scheduled_net() is None
    finally:
        svc.net_after = None
    assert env.admin("/v1/admin/epochs/3/settle").status_code == 200
    r = env.admin("/v1/admin/epochs/4/net")
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
