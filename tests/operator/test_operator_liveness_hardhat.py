"""Liveness through the real operator service (issue 12): ``zkclear operator run`` as its
own process against a hardhat node, members over HTTP, view keys escrowed to a
compliance key the test holds. One pool (N = 4: slots 1..3 members).

Epoch 1: slot 3 posts garbage signed commitments (refused with JSON errors) and never
signs its netted report; after the signing deadline the service excludes it, re-nets
slots 1 and 2, and the epoch is closed, proven and accepted with slot 3 in excludedMask.
Then the operator vanishes: SIGKILL, its database deleted; ``zkclear operator recover``
rebuilds a new one from the chain and the compliance key, a new service process runs on
it, the members enrol again, and epoch 2 is accepted with the engine's root. After each
epoch the members' collateral is the engine's (and their own audit's): nothing lost.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from zkclear.audit.core import audit_member
from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.client import Client
from zkclear.chain.pool import Pool
from zkclear.clearing.epoch import EpochResult, run_epoch
from zkclear.clearing.events import Kind
from zkclear.clearing.report import Report
from zkclear.clearing.trades import TradeReport
from zkclear.operator.api import sign_request
from zkclear.privacy.cipher import encrypt_report
from zkclear.privacy.compliance import generate_compliance_key
from zkclear.privacy.keyfile import read_json_secret
from zkclear.roles.member import MemberClient, MemberError

from . import helpers as ops

ZKCLEAR = Path(sys.executable).with_name("zkclear")
PRICES = {1: (1_010, 1_095), 2: (1_020, 1_090)}
GARBAGE = 3  # the slot that never signs its report in epoch 1
SIGN_TIMEOUT = 15.0  # seconds to sign a netted report (--sign-timeout)


class Operator:
    """``zkclear operator run`` as a process of this test, on its own files and port."""

    def __init__(self, node: chain.HardhatNode, deployment: Path, work: Path, name: str
                 ) -> None:
        self.node, self.deployment, self.work, self.name = node, deployment, work, name
        self.port = chain.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = work / f"{name}.db"
        self.log = work / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(ZKCLEAR), "operator", "run", "--rpc-url", self.node.url, "--deployment",
                 str(self.deployment), "--db", f"sqlite:///{self.db}", "--transport-key",
                 str(self.work / f"{self.name}-transport.json"), "--admin-token-file",
                 str(self.work / f"{self.name}-token.json"), "--port", str(self.port),
                 "--dev-keys", "--interval", "0.3", "--sign-timeout", str(SIGN_TIMEOUT)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={k: v for k, v in os.environ.items() if k != "ZKCLEAR_CRASH_AT"},
                start_new_session=True)
        ops.wait_healthy(self.proc, self.url, self.tail)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def admin(self, path: str) -> httpx.Response:
        token = read_json_secret(self.work / f"{self.name}-token.json")["token"]
        return httpx.post(self.url + path, headers={"authorization": f"Bearer {token}"},
                          timeout=120)

    def epoch(self, e: int) -> dict[str, Any]:
        return httpx.get(f"{self.url}/v1/epochs/{e}", timeout=30).json()  # type: ignore[no-any-return]

    def wait_epoch(self, e: int, pred: Any, what: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited ({self.proc.returncode}): "
                                     + self.tail())
            pub = self.epoch(e)
            if pred(pub):
                return pub
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}: {self.epoch(e)}\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the process group this test started (nothing else)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _trades(e: int) -> dict[int, list[TradeReport]]:
    """Epoch 1: 1-2, 1-3 and 2-3 trade, off the settlement prices (cash moves). Epoch 2:
    1-2 on both instruments, and 3 (suspended) with 1."""
    t = TradeReport
    if e == 1:
        return {1: [t("ab1", 0, 1, 5, 1_012, 2), t("ac1", 1, 1, 3, 1_094, 3)],
                2: [t("ab1", 0, -1, 5, 1_012, 1), t("cb1", 0, 1, 2, 1_008, 3)],
                3: [t("ac1", 1, -1, 3, 1_094, 1), t("cb1", 0, -1, 2, 1_008, 2)]}
    return {1: [t("ab2", 0, -1, 2, 1_017, 2), t("ba2", 1, 1, 4, 1_093, 2),
                t("ca2", 0, 1, 1, 1_020, 3)],
            2: [t("ab2", 0, 1, 2, 1_017, 1), t("ba2", 1, -1, 4, 1_093, 1)],
            3: [t("ca2", 0, -1, 1, 1_020, 1)]}


#: What survives each epoch, by hand: slot -> (delta, trade cash) at PRICES[e].
EXPECTED = {1: {1: ((5, 0), 5 * (1_010 - 1_012)), 2: ((-5, 0), -5 * (1_010 - 1_012))},
            2: {1: ((-2, 4), -2 * (1_020 - 1_017) + 4 * (1_090 - 1_093)),
                2: ((2, -4), 2 * (1_020 - 1_017) - 4 * (1_090 - 1_093))}}


@dataclass
class Story:
    node: chain.HardhatNode
    pool: Pool
    members: dict[int, ops.Member]
    work: Path
    deployment: Path
    compliance: Path
    op: Operator
    refusals: list[httpx.Response] = field(default_factory=list)
    round1: dict[str, Any] = field(default_factory=dict)
    results: dict[int, EpochResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def client(self) -> Client:
        return self.pool.client


def _post_commit(st: Story, url: str, slot: int, epoch: int, body: bytes) -> httpx.Response:
    """A commit request signed (request auth) by ``slot``'s account, sent as is."""
    m = st.members[slot]
    path = f"/v1/epochs/{epoch}/commit"
    headers = {"content-type": "application/json",
               **sign_request(m.eth_key, st.client.deployment.pool_id, "POST", path, body)}
    return httpx.post(url + path, content=body, headers=headers, timeout=30)


def _commit_body(commitment: int, ciphertext: bytes, signature: bytes) -> bytes:
    return json.dumps({"commitment": str(commitment), "ciphertext": "0x" + ciphertext.hex(),
                       "signature": "0x" + signature.hex()}).encode()


def _garbage_commits(st: Story, url: str, client: MemberClient, epoch: int
                     ) -> list[httpx.Response]:
    """Slot GARBAGE's attempts, each signed with its own key unless said otherwise."""
    cl, slot, m = st.client, GARBAGE, st.members[GARBAGE]
    report = client.verified_report(epoch)  # the netted report it should sign
    assert report is not None
    real = encrypt_report(m.view_key, epoch, report)
    c, data = real.commitment(), real.to_bytes()
    out = []
    # a random commitment and ciphertext, properly signed
    rc, rdata = secrets.randbelow(2**250), secrets.token_bytes(len(data))
    out.append(_post_commit(st, url, slot, epoch, _commit_body(
        rc, rdata, cl.sign_commit(m.eth_key, epoch, slot, rc, rdata).signature)))
    # its report's commitment with the ciphertext of another report
    other = encrypt_report(m.view_key, epoch, Report(report.delta, report.trade_cash + 1,
                                                     report.salt)).to_bytes()
    out.append(_post_commit(st, url, slot, epoch, _commit_body(
        c, other, cl.sign_commit(m.eth_key, epoch, slot, c, other).signature)))
    # the right commitment and ciphertext, signed by another member's account
    out.append(_post_commit(st, url, slot, epoch, _commit_body(
        c, data, cl.sign_commit(st.members[1].eth_key, epoch, slot, c, data).signature)))
    # not even a commit body
    out.append(_post_commit(st, url, slot, epoch, b'{"commitment": "x"}'))
    return out


def _engine(st: Story, epoch: int, clients: dict[int, MemberClient]) -> EpochResult:
    """Clear ``epoch`` with the engine from the chain's events and prices and the reports
    the members verified themselves; every member leaf blinded (all keys enrolled)."""
    cl = st.client
    before = st.results[epoch - 1].new if epoch > 1 else st.pool.state
    reports = {s: r for s, c in clients.items() if (r := c.verified_report(epoch))}
    return run_epoch(before, st.pool.setup.params, cl.final_prices(epoch),
                     cl.epoch_events(epoch), reports,
                     view_keys={s: m.view_key for s, m in st.members.items()})


def _assert_money(st: Story, epoch: int, result: EpochResult) -> None:
    """The chain holds the engine's state; the members' collateral is what their accepted
    trades give (and what each member's own audit derives); nothing lost."""
    cl = st.client
    assert cl.last_accepted_epoch() == epoch
    assert result.new.root() == cl.state_root()
    assert result.total_collateral == cl.total_collateral()
    leaves = result.new.leaves
    prev = st.results[epoch - 1].new.leaves if epoch > 1 else None
    for s in (1, 2, 3):
        c0 = ops.DEPOSIT if prev is None else prev[s].collateral
        p0 = (0, 0) if prev is None else prev[s].positions
        delta, cash = EXPECTED[epoch].get(s, ((0, 0), 0))
        vm = sum(q * (p - pp) for q, p, pp in zip(p0, PRICES[epoch], PRICES.get(
            epoch - 1, PRICES[epoch]), strict=True))  # variation margin on held positions
        assert leaves[s].collateral == c0 + vm + cash, (epoch, s)
        assert leaves[s].positions == tuple(a + b for a, b in zip(p0, delta, strict=True))
        assert leaves[s].status == 1 and leaves[s].nonce != 0  # active, blinded
        rep = audit_member(st.pool.w3, cl.deployment, st.members[s].view_key)
        assert rep.ok, rep.findings
        row = rep.row(epoch)
        assert row.figures is not None and row.figures.collateral_after == leaves[s].collateral
    # trade cash and variation margin are zero-sum, no liquidation: the members hold
    # all their deposits
    assert sum(leaves[s].collateral for s in (1, 2, 3)) == 3 * ops.DEPOSIT
    assert leaves[0].collateral == st.pool.state.leaves[0].collateral
    assert cl.balance(cl.house.address) >= cl.total_collateral()


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """The pool on a hardhat node and epoch 1 played through the operator service, with
    slot GARBAGE posting garbage and never signing."""
    work = tmp_path_factory.mktemp("liveness")
    ck = generate_compliance_key()
    ck_file = work / "compliance.json"
    ck.save(ck_file)
    with chain.HardhatNode(log=work / "hardhat.log") as node:
        pool = scenario.deploy_pool(node.web3(), scenario.epoch_keys())
        members = ops.register_members(pool, compliance=ck)
        dep = work / "deployment.json"
        pool.client.deployment.save(dep)
        op = Operator(node, dep, work, "operator")
        st = Story(node, pool, members, work, dep, ck_file, op)
        clients: dict[int, MemberClient] = {}
        try:
            t0 = time.monotonic()
            op.start()
            clients = {s: m.client(op.url, pool) for s, m in members.items()}
            for s, c in clients.items():
                c.enrol()
                c.submit_trades(_trades(1)[s])
            scenario.post_prices(pool, 1, PRICES[1])
            assert op.admin("/v1/admin/epochs/1/net").status_code == 200
            first = {s: clients[s].commit(1) for s in (1, 2)}
            st.refusals = _garbage_commits(st, op.url, clients[GARBAGE], 1)
            st.round1 = {"first": first, "view": op.epoch(1)}
            # the deadline passes: GARBAGE excluded, 1 and 2 re-netted and sign again
            st.round1["renetted"] = op.wait_epoch(
                1, lambda p: p.get("excluded_slots") == [GARBAGE], "the exclusion",
                timeout=SIGN_TIMEOUT + 60)
            st.round1["late"] = _post_commit(st, op.url, GARBAGE, 1, _commit_body(
                int(first[1] or 0), b"\0", b"\0" * 65))
            st.round1["second"] = {s: clients[s].commit(1) for s in (1, 2)}
            st.round1["accepted"] = op.wait_epoch(1, lambda p: p["phase"] == "accepted",
                                                  "epoch 1 accepted")
            st.seconds["epoch1"] = time.monotonic() - t0
            st.results[1] = _engine(st, 1, clients)
            yield st
        finally:
            for c in clients.values():
                c.close()
            op.kill()
            st.op.kill()


def test_garbage_commit_refused_then_excluded_and_epoch_accepted(story: Story) -> None:
    st, cl = story, story.client
    codes = []
    for resp in st.refusals:
        assert resp.headers["content-type"].startswith("application/json")
        codes.append((resp.status_code, resp.json()["error"]["code"]))
    assert codes == [(422, "wrong_commitment"), (422, "wrong_commitment"),
                     (422, "bad_signature"), (400, "bad_request")]
    view = st.round1["view"]
    assert view["phase"] == "netted" and view["awaiting_signatures"] == [GARBAGE]
    assert view["excluded_slots"] == []
    # after the deadline: excluded, the others re-netted with new reports to sign
    renet = st.round1["renetted"]
    assert renet["reporting_slots"] == [1, 2]
    late = st.round1["late"]
    assert late.status_code == 409 and late.json()["error"]["code"] == "no_report"
    second = st.round1["second"]
    assert all(second[s] != st.round1["first"][s] for s in (1, 2))

    acc = st.round1["accepted"]
    info = cl.epoch_info(1)
    assert int(info["excludedMask"]) == 1 << GARBAGE
    committed = {e.slot: e.value for e in cl.epoch_events(1) if e.kind == Kind.COMMIT}
    assert committed == second  # slot 3 never got a commitment on-chain
    result = st.results[1]
    assert acc["new_root"] == str(result.new.root())
    assert set(result.reports) == {1, 2}
    _assert_money(st, 1, result)
    assert result.new.leaves[GARBAGE].collateral == ops.DEPOSIT  # excluded, not robbed
    rep = audit_member(st.pool.w3, cl.deployment, st.members[GARBAGE].view_key)
    assert rep.ok and rep.row(1).status == "excluded" and rep.row(1).excluded


def test_operator_vanishes_recover_and_next_epoch_accepted(story: Story) -> None:
    st, cl, old = story, story.client, story.op
    assert cl.last_accepted_epoch() == 1
    # The operator's host dies: SIGKILL, its database gone (its key files too; the log
    # stays for a failure's diagnosis).
    old.kill()
    assert old.proc is not None and old.proc.returncode == -signal.SIGKILL
    for f in [*st.work.glob("operator.db*"), *st.work.glob("operator-*.json")]:
        f.unlink()
    assert not old.db.exists() and not list(st.work.glob("operator-*.json"))

    new = Operator(st.node, st.deployment, st.work, "newop")
    t0 = time.monotonic()
    rec = subprocess.run(
        [str(ZKCLEAR), "operator", "recover", "--rpc-url", st.node.url, "--deployment",
         str(st.deployment), "--compliance-key", str(st.compliance), "--db",
         f"sqlite:///{new.db}", "--json"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    out = json.loads(rec.stdout)
    assert out["ok"] and out["last_accepted"] == 1 and out["pending"] is None
    assert out["root"] == f"{cl.state_root():#066x}" and out["members"] == [1, 2, 3]
    assert out["open_epoch"] == 2
    st.seconds["recover"] = time.monotonic() - t0

    new.start()
    st.op = new  # the fixture's teardown kills this one
    clients = {s: m.client(new.url, st.pool) for s, m in st.members.items()}
    try:
        # transport keys are not on-chain: before enrolling again, a list is refused
        with pytest.raises(MemberError) as ei:
            clients[1].submit_trades(_trades(2)[1])
        assert ei.value.code == "not_enrolled"
        for s, c in clients.items():
            c.enrol()
            c.submit_trades(_trades(2)[s])
        scenario.post_prices(st.pool, 2, PRICES[2])
        assert new.admin("/v1/admin/epochs/2/net").status_code == 200
        r3 = clients[GARBAGE].result(2)
        assert r3["report"] is None and {r["reason"] for r in r3["rejected"]} == \
            {"SLOT_SUSPENDED"}  # excluded in epoch 1: suspended in epoch 2
        assert clients[GARBAGE].commit(2) is None
        for s in (1, 2):
            clients[s].commit(2)
        pub = new.wait_epoch(2, lambda p: p["phase"] == "accepted", "epoch 2 accepted")
        st.seconds["epoch2"] = time.monotonic() - t0

        result = _engine(st, 2, clients)
        assert pub["new_root"] == str(result.new.root()) == str(cl.state_root())
        assert int(cl.epoch_info(2)["excludedMask"]) == 0
        st.results[2] = result
        _assert_money(st, 2, result)
        print(f"\ntimings: {st.seconds}")
    finally:
        for c in clients.values():
            c.close()
        new.kill()
