"""Operator recovery (issue 12): ``zkclear operator recover`` rebuilds the operator's state
from public chain data and the compliance key, on the embedded EVM.

One pool (slots 1 and 2 members, slot 3 free) plays two epochs; in epoch 2 slot 2's leaf
is left unblinded (as by an operator that never held its key). Each test that changes
the chain runs on a snapshot and reverts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zkclear import drills
from zkclear.chain import node as chain
from zkclear.chain.pool import EpochOrders, Pool
from zkclear.clearing.report import Report
from zkclear.clearing.state import PoolState
from zkclear.clearing.trades import TradeReport
from zkclear.cli.main import main
from zkclear.drills.base import DRILL_PRICES, drill_pool
from zkclear.operator.recover import (
    EscrowOpenError,
    RecoverError,
    ReportOpenError,
    recover_operator,
    recover_state,
    write_store,
)
from zkclear.operator.service import OperatorService
from zkclear.operator.store import Store
from zkclear.privacy.cipher import encrypt_report
from zkclear.privacy.compliance import (
    escrow,
    generate_compliance_key,
    split_key,
)
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.viewkeys import MemberKey


def _pair(tid: str, m: int, size: int, price: int, buyer: int,
          seller: int) -> dict[int, list[TradeReport]]:
    return {buyer: [TradeReport(tid, m, 1, size, price, seller)],
            seller: [TradeReport(tid, m, -1, size, price, buyer)]}


@dataclass
class Story:
    pool: Pool
    compliance: X25519KeyPair
    states: dict[int, PoolState]


@pytest.fixture(scope="module")
def story() -> Story:
    ck = generate_compliance_key()
    pool = drill_pool({1: "Bank A", 2: "Bank B"}, compliance=ck)
    p0, p1 = DRILL_PRICES
    states = {0: pool.state}
    pool.play_epoch(EpochOrders(DRILL_PRICES, _pair("t1", 0, 5, p0, 1, 2),
                                deposits={0: 1_000_000, 1: 300_000, 2: 300_000}))
    states[1] = pool.state
    bank_b = pool.members.pop(2)
    try:  # slot 2 trades nothing and is left unblinded
        pool.play_epoch(EpochOrders((p0 + 10, p1 - 5), withdrawals={1: 40_000}))
    finally:
        pool.members[2] = bank_b
    states[2] = pool.state
    return Story(pool, ck, states)


@pytest.fixture
def snap(story: Story) -> Iterator[Story]:
    s, state, members = chain.snapshot(story.pool.w3), story.pool.state, dict(story.pool.members)
    yield story
    chain.revert(story.pool.w3, s)
    story.pool.state, story.pool.members, story.pool.signed = state, members, {}


def test_recover_equals_the_operator_state(story: Story) -> None:
    rec = recover_state(story.pool.client, story.compliance)
    assert set(rec.states) == {0, 1, 2}
    for epoch, want in story.states.items():
        got = rec.states[epoch]
        assert got.root() == want.root()
        for a, b in zip(got.leaves, want.leaves, strict=True):
            assert (a.collateral, a.positions, a.vkh, a.status, a.nonce) == \
                   (b.collateral, b.positions, b.vkh, b.status, b.nonce)
    assert rec.state == story.pool.state
    assert rec.blinded == {1: frozenset({1, 2}), 2: frozenset({1})}
    assert rec.state.leaves[2].nonce == 0 and rec.state.leaves[1].nonce != 0
    assert {s: k.vkh for s, k in rec.keys.items()} == \
           {s: m.key.vkh for s, m in story.pool.members.items()}
    assert rec.pending is None and rec.open_epoch == 3


def test_recovered_database_starts_the_operator_service(story: Story, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    rec = recover_operator(story.pool.client, story.compliance, url)
    with Store(url) as store:
        svc = OperatorService(store, story.pool.client, X25519KeyPair.generate("operator"),
                              operator=story.pool.actors.operator, keys=story.pool.keys)
        assert svc.state() == rec.state
        assert svc.registry() == {}  # members enrol again: transport keys are not on-chain
        assert {s: k.vkh for s, k in svc._enrolled_keys().items()} == \
               {s: k.vkh for s, k in rec.keys.items()}
        assert store.epochs_in("accepted") == [1, 2]
        assert svc.epoch_public(2)["new_root"] == str(rec.state.root())
        assert svc.intake_epoch() == 3
    with Store(url) as store, pytest.raises(RecoverError, match="not empty"):
        write_store(rec, store)


def test_the_service_proves_a_closed_epoch_after_recovery(snap: Story, tmp_path: Path) -> None:
    pool = snap.pool
    epoch = pool.client.open_epoch()
    orders = EpochOrders(pool.state.prices, _pair("t3", 1, 2, pool.state.prices[1], 2, 1),
                         deposits={2: 10_000})
    pool.act(orders)
    prices = pool.post_prices(epoch, orders.prices)
    netted = pool.net(epoch, orders.trades, prices)
    pool.commit(epoch, netted.reports)
    pool.close()  # ... and the operator dies before proving
    url = f"sqlite:///{tmp_path / 'new.db'}"
    rec = recover_operator(pool.client, snap.compliance, url)
    assert rec.pending is not None and rec.pending[0] == epoch
    assert rec.pending[2] == netted.reports
    with Store(url) as store:
        svc = OperatorService(store, pool.client, X25519KeyPair.generate("operator"),
                              operator=pool.actors.operator, keys=pool.keys)
        assert svc.resume() == [epoch]
        assert store.epoch_row(epoch)["phase"] == "accepted"
        assert pool.client.last_accepted_epoch() == epoch
        assert svc.state().root() == pool.client.state_root()
    # and what the service cleared is what the pool driver would have
    assert pool.clear(epoch, netted.reports).new.root() == pool.client.state_root()


def test_wrong_compliance_key_is_refused(story: Story, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(EscrowOpenError, match="another compliance key"):
        recover_state(story.pool.client, generate_compliance_key())
    # The CLI: one line, status 2, nothing written.
    dep = tmp_path / "deployment.json"
    dep.write_text(json.dumps(story.pool.deployment.to_json()))
    wrong = tmp_path / "wrong.json"
    generate_compliance_key().save(wrong)
    monkeypatch.setattr(chain, "http_web3", lambda url, **kw: story.pool.w3)
    db = tmp_path / "new.db"
    assert main(["operator", "recover", "--rpc-url", "http://x", "--deployment", str(dep),
                 "--compliance-key", str(wrong), "--db", f"sqlite:///{db}", "--json"]) == 2
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is False and out["type"] == "EscrowOpenError"
    assert "\n" not in out["error"] and not db.exists()
    # Two of three officers' shares do it too.
    files = []
    for i, share in enumerate(split_key(story.compliance, 3, 2)[1:]):
        files.append(str(share.save(tmp_path / f"share{i}.json")))
    assert main(["operator", "recover", "--rpc-url", "http://x", "--deployment", str(dep),
                 "--shares", *files, "--db", f"sqlite:///{db}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["last_accepted"] == 2
    assert out["root"] == f"{story.pool.state.root():#066x}"


@pytest.mark.parametrize("version", [2, 1])
@pytest.mark.parametrize("how", ["tampered", "other-key"])
def test_tampered_escrow_is_refused(snap: Story, how: str, version: int) -> None:
    pool = snap.pool
    key = MemberKey.generate(3)
    blob = bytearray(escrow(key, snap.compliance, 3, pool.deployment.pool_id, version=version))
    if how == "tampered":
        blob[-5] ^= 1
    else:  # a well-formed escrow of another key than the registered vkh
        blob = bytearray(escrow(MemberKey.generate(3), snap.compliance, 3, pool.deployment.pool_id,
                                version=version))
    cl = pool.client
    cl.govern([cl.register_member_call(3, pool.account(3), key.vkh, bytes(blob))],
              pool.actors.signers)
    with pytest.raises(EscrowOpenError, match="slot 3"):
        recover_state(cl, snap.compliance)


def test_a_report_that_does_not_open_is_refused(snap: Story) -> None:
    pool = snap.pool
    epoch = pool.client.open_epoch()
    # Slot 1 signs a ciphertext made under another key (the old operator posted it).
    bad = encrypt_report(MemberKey.generate(1), epoch, Report((1, 0), -1_000, 7))
    pool.signed[1] = pool.client.sign_commit_as(pool.account(1), epoch, 1,
                                                bad.commitment(), bad.to_bytes())
    pool.close()
    with pytest.raises(ReportOpenError, match=f"epoch {epoch}: slot 1"):
        recover_state(pool.client, snap.compliance)


@pytest.mark.heavy
def test_operator_replaced_drill_passes() -> None:
    v = drills.run("operator-replaced")
    assert v.passed, v.summary
    assert v.ledger.honest_loss() == 0
    assert v.facts["recovered"]["blinded"] == {1: [1, 2, 3], 2: [1, 2]}
