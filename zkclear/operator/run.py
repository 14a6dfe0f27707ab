"""``zkclear operator run``: the long-running operator process (API + background driver).

Everything the process needs comes from its arguments and files: the chain (``--rpc-url``
of a JSON-RPC node; the embedded EVM lives in one process and cannot be shared), the
deployment file (:class:`zkclear.chain.contracts.Deployment` JSON), the database URL, the
operator's transport key file (created on first start) and the proving keys of the epoch
circuit (``--dev-keys``: the INSECURE development setup, local chains only; otherwise the
installed ceremony keys). At start it resumes every unfinished epoch, then serves.
Proofs are made in this process, or on a Ray cluster (``--ray ADDRESS``, ``--workers N``:
:mod:`zkclear.prover.distributed`).
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkclear.chain import contracts
from zkclear.chain import node as chain
from zkclear.chain.client import Client
from zkclear.errors import ZkclearError
from zkclear.privacy.keyfile import X25519KeyPair, write_json_secret
from zkclear.schemas import AdminTokenFile, dump

from .api import Driver, ServerThread, create_app
from .service import OperatorService
from .store import Store

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    rpc_url: str
    deployment: Path
    db: str = "sqlite:///operator.db"
    transport_key: Path = Path("operator-transport.json")
    admin_token_file: Path = Path("operator-admin-token.json")
    host: str = "127.0.0.1"
    port: int = 8545 + 1000
    operator: str | None = None
    dev_keys: bool = False
    auto_close: bool = True
    interval: float = 1.0
    net_after: float | None = None
    operator_key: Path | None = None  # eth key file: sign locally (real networks)
    sign_timeout: float | None = 300.0  # seconds to sign a netted report (None: on command)
    ray: str | None = None  # prove on the Ray cluster at this address ...
    workers: int | None = None  # ... or on a local Ray with this many workers


def epoch_keys_for(client: Client, dev: bool) -> Any:
    from zkclear.prover import registry
    from zkclear.prover.circuit import compile_circuit
    from zkclear.prover.keys import dev_setup, load_keys

    cfg = client.deployment.config
    compiled = compile_circuit(registry.epoch(cfg.n_slots, cfg.n_instruments,
                                              cfg.n_scenarios, cfg.max_events))
    if dev:
        if not chain.is_local(client.w3):
            raise ZkclearError("--dev-keys (INSECURE development keys) is for local chains only")
        return dev_setup(compiled)
    keys = load_keys(compiled)
    if keys is None:
        raise ZkclearError("no proving keys are installed for this pool's epoch circuit: run "
                           "a ceremony (zkclear ceremony ...) or pass --dev-keys on a local "
                           "chain")
    return keys


def build_service(opts: RunOptions, prover: Any = None) -> OperatorService:
    signers = []
    if opts.operator_key is not None:
        from zkclear.roles.member import read_eth_key

        signers = [read_eth_key(opts.operator_key)]
    w3 = chain.http_web3(opts.rpc_url, signers=signers)
    client = Client(w3, contracts.Deployment.load(opts.deployment))
    operator = (opts.operator or (str(w3.eth.default_account) if signers else None)
                or str(client.call(client.house.functions.operator())))
    if opts.transport_key.exists():
        transport = X25519KeyPair.load(opts.transport_key, "operator")
    else:
        transport = X25519KeyPair.generate("operator")
        transport.save(opts.transport_key)
    store = Store(opts.db)
    return OperatorService(store, client, transport, operator=operator,
                           keys=lambda: epoch_keys_for(client, opts.dev_keys),
                           auto_close=opts.auto_close, net_after=opts.net_after,
                           sign_timeout=opts.sign_timeout, prover=prover)


def run(opts: RunOptions, *, ready: Any = None) -> int:
    """Serve until SIGTERM/SIGINT. ``ready(info)`` is called once the API listens."""
    from zkclear.prover.distributed import connect

    # The prover first: an unreachable Ray cluster is refused before anything else starts.
    prover = connect(address=opts.ray, workers=opts.workers)
    log.info("proofs are made in %s", prover.description)
    try:
        return _serve(opts, prover, ready)
    finally:
        prover.close()


def _serve(opts: RunOptions, prover: Any, ready: Any) -> int:
    service = build_service(opts, prover)
    token = secrets.token_urlsafe(32)
    write_json_secret(opts.admin_token_file, dump(AdminTokenFile.tagged(token=token)),
                      overwrite=True)
    resumed = service.resume()
    if resumed:
        log.info("resumed epochs %s", resumed)
    server = ServerThread(create_app(service, admin_token=token), opts.host,
                          opts.port).start()
    driver = Driver(service, opts.interval).start()
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if ready is not None:
        ready({"url": server.url, "pool_id": service.info.pool_id, "resumed": resumed,
               "prover": prover.description})
    try:
        while not stop.wait(0.5):
            pass
    finally:
        driver.stop()
        server.stop()
        service.store.close()
    return 0
