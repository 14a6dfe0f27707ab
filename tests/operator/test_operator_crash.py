"""Crash recovery: the operator (``zkclear operator run``) as a subprocess on a file
database against a hardhat node (a chain that outlives it), killed with SIGKILL at
several points of an epoch and restarted each time. Asserts that no accepted trade list
is lost, that submitEpoch is sent exactly once, and that the final state is the one an
uninterrupted run gives."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.pool import Pool
from zkclear.clearing.epoch import EpochResult
from zkclear.clearing.state import PoolState
from zkclear.clearing.trades import match_trades, net_reference
from zkclear.operator.store import Store
from zkclear.privacy.keyfile import read_json_secret
from zkclear.roles.member import MemberClient, MemberError

from . import helpers as ops

PRICES_1 = (1_010, 1_095)
ZKCLEAR = Path(sys.executable).with_name("zkclear")


@pytest.fixture(scope="module")
def node() -> Iterator[chain.HardhatNode]:
    with chain.HardhatNode() as n:
        yield n


class Operator:
    """Starts/kills ``zkclear operator run`` on fixed files and port."""

    def __init__(self, node: chain.HardhatNode, deployment: Path, work: Path) -> None:
        self.node, self.deployment, self.work = node, deployment, work
        self.port = chain.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = work / "operator.db"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, crash_at: str | None = None, *, wait: bool = True,
              extra: tuple[str, ...] = ()) -> None:
        env = {k: v for k, v in os.environ.items() if k != "ZKCLEAR_CRASH_AT"}
        if crash_at:
            env["ZKCLEAR_CRASH_AT"] = crash_at
        self.starts += 1
        log = (self.work / f"operator-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [str(ZKCLEAR), "operator", "run", "--rpc-url", self.node.url, "--deployment",
             str(self.deployment), "--db", f"sqlite:///{self.db}", "--transport-key",
             str(self.work / "transport.json"), "--admin-token-file",
             str(self.work / "token.json"), "--port", str(self.port), "--dev-keys",
             "--interval", "0.3", *extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
        log.close()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        assert self.proc is not None
        ops.wait_healthy(self.proc, self.url, self.log_tail, timeout)

    def log_tail(self) -> str:
        return (self.work / f"operator-{self.starts}.log").read_text(errors="replace")[-3000:]

    def token(self) -> str:
        return str(read_json_secret(self.work / "token.json")["token"])

    def admin(self, path: str) -> httpx.Response:
        return httpx.post(self.url + path, headers={"authorization": f"Bearer {self.token()}"},
                          timeout=120)

    def wait_killed(self, timeout: float = 120) -> None:
        """Wait for the process to kill itself at its crash point (SIGKILL)."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("operator did not reach its crash point: "
                                 + self.log_tail()) from None
        assert rc == -signal.SIGKILL, (rc, self.log_tail())

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this test started
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def operated_pool(node: chain.HardhatNode, work: Path) -> Iterator[
        tuple[Pool, dict[int, ops.Member], Operator, dict[int, MemberClient]]]:
    """A pool with registered members on the node (reverted afterwards), its operator
    (not started: files in ``work``) and a client per member."""
    w3 = node.web3()
    snap = chain.snapshot(w3)
    op: Operator | None = None
    clients: dict[int, MemberClient] = {}
    try:
        pool = scenario.deploy_pool(w3, scenario.epoch_keys())
        members = ops.register_members(pool)
        dep = work / "deployment.json"
        pool.client.deployment.save(dep)
        op = Operator(node, dep, work)
        clients.update({s: m.client(op.url, pool) for s, m in members.items()})
        yield pool, members, op, clients
    finally:
        for c in clients.values():
            c.close()
        if op is not None:
            op.kill()
        chain.revert(w3, snap)


def _submit_epoch_txs(pool: Pool) -> int:
    """submitEpoch transactions sent to the ClearingHouse since deployment."""
    house = pool.client.house
    selector = house.encode_abi("submitEpoch", args=[((0, 0), ((0, 0), (0, 0)), (0, 0)),
                                                     [0] * len(EpochResult.PUBLIC_NAMES),
                                                     []])[:10]
    w3, n = pool.w3, 0
    for b in range(pool.client.deployment.first_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(b, full_transactions=True)["transactions"]:
            data = tx["input"]
            data = data.hex() if isinstance(data, bytes) else str(data)
            data = data if data.startswith("0x") else "0x" + data
            if tx["to"] == house.address and data[:10] == selector:
                n += 1
    return n


def _wait(pred: object, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")



def _is_the_uninterrupted_run(state_json: dict, pool: Pool, trades: dict) -> PoolState:
    """The stored state is the chain's and its leaves are the engine's from the same
    trades (what an uninterrupted operator would have made)."""
    final = PoolState.from_json(state_json)
    assert final.root() == pool.client.state_root()
    match = match_trades(trades, n_slots=4, n_instruments=2, members={1, 2, 3})
    delta, cash = net_reference(match.accepted, 4, 2, PRICES_1)
    assert [(lf.collateral, list(lf.positions)) for lf in final.leaves[1:]] == [
        (ops.DEPOSIT + cash[s], delta[s]) for s in (1, 2, 3)]
    return final

def test_sigkill_at_every_stage_of_an_epoch(node: chain.HardhatNode,
                                            tmp_path: Path) -> None:
    with operated_pool(node, tmp_path) as (pool, members, op, clients):
        trades = ops.story_trades()

        # 1. mid-intake: two lists accepted, then SIGKILL from outside
        op.start()
        for s in (1, 2):
            clients[s].enrol()
            clients[s].submit_trades(trades[s])
        op.kill()
        with Store(f"sqlite:///{op.db}") as st:
            assert st.counts()["submissions"] == 2

        # 2. restart; the third list; netting kills the process right after its commit
        op.start("after_net")
        clients[3].enrol()
        clients[3].submit_trades(trades[3])
        scenario.post_prices(pool, 1, PRICES_1)
        with pytest.raises(httpx.HTTPError):
            op.admin("/v1/admin/epochs/1/net")
        op.wait_killed()

        # 3. restart: the netted results are there; members commit; the driver closes the
        #    epoch and dies right after closeEpoch was sent
        op.start("after_close_sent")
        for c in clients.values():
            c.commit(1)
        op.wait_killed()
        assert pool.client.epoch_info(1)["closed"]

        # 4. restart: resumes (closing -> closed -> prove -> submit), dies right after
        #    submitEpoch was sent, before recording it
        op.start("after_submit_sent", wait=False)
        op.wait_killed(timeout=180)
        assert pool.client.last_accepted_epoch() == 1
        with Store(f"sqlite:///{op.db}") as st:
            assert st.epoch_row(1)["phase"] == "submitting"

        # 5. restart: learns from the chain that the submission landed; no resend
        op.start()
        _wait(lambda: httpx.get(op.url + "/v1/epochs/1").json()["phase"] == "accepted",
              "epoch 1 accepted")
        op.stop()
        assert _submit_epoch_txs(pool) == 1

        with Store(f"sqlite:///{op.db}") as st:
            assert st.counts()["submissions"] == 3  # no accepted list lost
            steps = [s for _, s in st.journal_steps(1)]
            assert steps.count("netted") == 1 and steps.count("accepted") == 1
            assert steps.count("close_sending") == 1 and steps[-1] == "accepted"
            state = st.latest_state()
        assert state is not None and state[0] == 1
        # identical to an uninterrupted run: the engine's leaves from the same trades
        final = _is_the_uninterrupted_run(state[1], pool, trades)
        for s in (1, 2, 3):
            leaf = final.leaves[s]
            assert leaf.vkh == members[s].view_key.vkh and leaf.status == 1
        with pytest.raises(MemberError):  # the operator is down: a clear client error
            clients[1].result(1)


def test_sigkill_after_storing_a_list_before_close_after_proof_before_submit(
        node: chain.HardhatNode, tmp_path: Path) -> None:
    """The other crash points: a trade list stored but the reply lost (the member sends
    again: both kept, the latest netted), before closeEpoch was sent, after the proof
    was stored, before submitEpoch was sent."""
    with operated_pool(node, tmp_path) as (pool, _members, op, clients):
        trades = ops.story_trades()

        op.start("after_trades_stored")
        clients[1].enrol()
        with pytest.raises(MemberError) as ei:
            clients[1].submit_trades(trades[1])
        assert ei.value.code == "unreachable"
        op.wait_killed()
        with Store(f"sqlite:///{op.db}") as st:
            assert st.counts()["submissions"] == 1  # stored before the (lost) reply

        op.start("before_close_sent")
        for s in (1, 2, 3):
            if s != 1:
                clients[s].enrol()
            clients[s].submit_trades(trades[s])  # slot 1 sends again: a new counter
        scenario.post_prices(pool, 1, PRICES_1)
        assert op.admin("/v1/admin/epochs/1/net").status_code == 200
        for c in clients.values():
            c.commit(1)
        op.wait_killed()
        assert not pool.client.epoch_info(1)["closed"]

        op.start("after_proof_stored", wait=False)
        op.wait_killed(timeout=180)
        assert pool.client.epoch_info(1)["closed"] and pool.client.last_accepted_epoch() == 0

        op.start("before_submit_sent", wait=False)
        op.wait_killed(timeout=180)
        assert pool.client.last_accepted_epoch() == 0

        op.start()
        _wait(lambda: httpx.get(op.url + "/v1/epochs/1").json()["phase"] == "accepted",
              "epoch 1 accepted")
        op.stop()
        assert _submit_epoch_txs(pool) == 1
        with Store(f"sqlite:///{op.db}") as st:
            assert st.counts()["submissions"] == 4
            steps = [s for _, s in st.journal_steps(1)]
            assert steps.count("proved") == 1  # the stored proof was reused, not redone
            latest = st.latest_state()
        assert latest is not None and latest[0] == 1
        _is_the_uninterrupted_run(latest[1], pool, trades)


def test_operator_run_proves_on_a_local_ray(node: chain.HardhatNode, tmp_path: Path) -> None:
    """``operator run --workers 2``: the process starts a local Ray, the epoch is proven
    on it and accepted, and SIGTERM stops the process (and its Ray) cleanly."""
    with operated_pool(node, tmp_path) as (pool, _members, op, clients):
        op.start(extra=("--workers", "2"))
        trades = ops.story_trades()
        for s, c in clients.items():
            c.enrol()
            c.submit_trades(trades[s])
        scenario.post_prices(pool, 1, PRICES_1)
        assert op.admin("/v1/admin/epochs/1/net").status_code == 200
        for c in clients.values():
            c.commit(1)  # every report committed: the driver closes, proves, submits
        _wait(lambda: httpx.get(op.url + "/v1/epochs/1").json()["phase"] == "accepted",
              "epoch 1 accepted", timeout=240)
        op.stop()
        assert op.proc is not None and op.proc.returncode == 0, op.log_tail()
        assert "proofs are made in a local Ray (2 CPUs)" in op.log_tail()
        with Store(f"sqlite:///{op.db}") as st:
            detail = st.one("SELECT detail FROM journal WHERE epoch = 1 AND step = 'proving'")
            latest = st.latest_state()
        assert detail is not None and "local Ray" in detail[0]
        assert latest is not None and latest[0] == 1
        assert PoolState.from_json(latest[1]).root() == pool.client.state_root()
