"""The operator tests' helpers (the fixture ``env`` built on them is in conftest.py): a
deployed pool with registered, funded members (each with its Ethereum key, transport key
and view key), and a small trade story."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from web3 import Web3

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.pool import Pool
from zkclear.clearing.trades import TradeReport
from zkclear.operator.api import ServerThread, create_app
from zkclear.operator.service import OperatorService
from zkclear.operator.store import Store
from zkclear.privacy.compliance import escrow
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.viewkeys import MemberKey
from zkclear.roles.member import MemberClient
from zkclear.schemas import TradeList

HARDHAT_MNEMONIC = "test test test test test test test test test test test junk"
DEPOSIT = 200_000


def account_keys(w3: Web3) -> dict[str, str]:
    """Checksummed address -> private key of the local chain's funded dev accounts."""
    if chain.is_embedded(w3):
        keys = [str(k) for k in w3.provider.ethereum_tester.backend.account_keys]  # type: ignore[attr-defined]
    else:
        Account.enable_unaudited_hdwallet_features()
        keys = [Account.from_mnemonic(HARDHAT_MNEMONIC,
                                      account_path=f"m/44'/60'/0'/0/{i}").key.hex()
                for i in range(20)]
    return {Account.from_key(k).address: k for k in keys}


@dataclass
class Member:
    slot: int
    account: str
    eth_key: str
    transport: X25519KeyPair
    view_key: MemberKey

    def client(self, url: str, pool: Pool | None = None) -> MemberClient:
        return MemberClient(url, self.eth_key, self.transport, self.view_key,
                            pool.client if pool else None)


def register_members(pool: Pool, compliance: X25519KeyPair | None = None
                     ) -> dict[int, Member]:
    """Register slots 1..N-1 through governance (fresh view keys) and deposit DEPOSIT each.
    With ``compliance`` each view key is escrowed to it (a real escrow, as recovery and
    the audit open it); without, the stand-in ``scenario.ESCROW``."""
    cl, act = pool.client, pool.actors
    keys = account_keys(pool.w3)
    members = {}
    for slot in range(1, pool.setup.config.n_slots):
        account = act.members[slot]
        members[slot] = Member(slot, account, keys[account], X25519KeyPair.generate("member"),
                               MemberKey.generate(slot))
    pid = cl.deployment.pool_id

    def blob(s: int, m: Member) -> bytes:
        return scenario.ESCROW if compliance is None else escrow(m.view_key, compliance, s, pid)

    cl.govern([cl.register_member_call(s, m.account, m.view_key.vkh, blob(s, m))
               for s, m in members.items()], act.signers)
    for m in members.values():
        cl.deposit(DEPOSIT, sender=m.account)
    return members


def story_trades(epoch: int = 1) -> dict[int, list[TradeReport]]:
    """Both sides of three trades, one contradictory pair (rejected) and one unmatched."""
    t = TradeReport
    return {
        1: [t(f"a{epoch}", 0, 1, 10, 1_001, 2), t(f"b{epoch}", 1, -1, 8, 1_099, 3),
            t(f"x{epoch}", 0, 1, 5, 1_000, 3)],
        2: [t(f"a{epoch}", 0, -1, 10, 1_001, 1), t(f"c{epoch}", 1, 1, 3, 1_100, 3)],
        3: [t(f"b{epoch}", 1, 1, 8, 1_099, 1), t(f"c{epoch}", 1, -1, 3, 1_100, 2),
            t(f"x{epoch}", 0, -1, 5, 1_002, 1), t(f"u{epoch}", 0, 1, 1, 1_000, 2)],
    }


def drive_epoch(env: ServiceEnv, epoch: int, prices: tuple[int, ...]) -> None:
    """Epoch ``epoch`` with no admin command (the service nets on schedule and closes on
    its own): the story's trades go in, the driver's tick waits for final prices, nets
    once they are posted, and closes, proves and submits once every member committed."""
    svc = env.service
    trades = story_trades(epoch)
    for slot, c in env.clients.items():
        c.submit_trades(trades[slot])
    svc.tick()
    assert svc.store.epoch_row(epoch)["phase"] == "intake"  # prices not final yet
    scenario.post_prices(env.pool, epoch, prices)
    svc.tick()
    assert svc.store.epoch_row(epoch)["phase"] == "netted"
    for c in env.clients.values():
        c.commit(epoch)
    svc.tick()


def as_dicts(trades: list[TradeReport]) -> list[dict[str, Any]]:
    return TradeList.read(trades, where="test trades").to_json()


#: The admin bearer token of the test services.
TOKEN = "test-admin-token-0123456789"


@dataclass
class ServiceEnv:
    """A pool on the embedded EVM, its operator service behind a real HTTP server, and
    one member client per registered member."""

    pool: Pool
    service: OperatorService
    server: ServerThread
    members: dict[int, Member]
    clients: dict[int, MemberClient]
    http: httpx.Client

    @property
    def store(self) -> Store:
        return self.service.store

    def admin(self, path: str) -> httpx.Response:
        return self.http.post(path, headers={"authorization": f"Bearer {TOKEN}"})


@contextlib.contextmanager
def service_env(db_dir: Path, *, enrol: bool = False, **service_kw: Any) -> Iterator[ServiceEnv]:
    """Deploy a pool with development keys, register its members, run the operator service
    (``service_kw``: OperatorService options, and ``auction_window``: the pool's, seconds)
    and, if ``enrol``, enrol every member."""
    keys = scenario.epoch_keys()
    window = service_kw.pop("auction_window", scenario.AUCTION_WINDOW)
    pool = scenario.deploy_pool(chain.embedded_web3(), keys, auction_window=window)
    members = register_members(pool)
    store = Store(f"sqlite:///{db_dir / 'op.db'}")
    service = OperatorService(store, pool.client, X25519KeyPair.generate("operator"),
                              operator=pool.actors.operator, keys=keys, **service_kw)
    server = ServerThread(create_app(service, admin_token=TOKEN)).start()
    clients = {s: m.client(server.url, pool) for s, m in members.items()}
    http = httpx.Client(base_url=server.url, timeout=120)
    try:
        if enrol:
            for c in clients.values():
                c.enrol()
        yield ServiceEnv(pool, service, server, members, clients, http)
    finally:
        http.close()
        for c in clients.values():
            c.close()
        server.stop()
        store.close()


def wait_healthy(proc: subprocess.Popen[bytes], url: str, tail: Callable[[], str],
                 timeout: float = 90) -> None:
    """Wait until an ``operator run`` process answers ``/v1/health``; fail with its log's
    tail if it exits or does not start within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"operator exited ({proc.returncode}): " + tail())
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError("operator did not start: " + tail())
