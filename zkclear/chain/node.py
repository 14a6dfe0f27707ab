"""Chain access: the embedded EVM, a JSON-RPC endpoint, and a local hardhat node.

* :func:`embedded_web3` runs a whole chain inside the Python process: web3's
  ``EthereumTesterProvider`` over eth-tester's py-evm backend.
* :func:`http_web3` connects to a JSON-RPC endpoint (``--rpc-url``): the same code path a
  user points at a real network. Transactions are sent from the node's unlocked accounts
  (a local node's, such as hardhat's) or, for the accounts whose private keys are given
  (``signers``, :func:`use_local_keys`), signed here and sent raw: a real node holds no
  key of ours.
* :class:`HardhatNode` starts ``hardhat node`` (the pinned npm package) on 127.0.0.1 and
  a free port, waits until it answers, and stops it again (only the process it started).

Facts that matter here:

* The embedded backend starts at py-evm's newest fork (Prague with eth-tester 0.14.0b1 /
  py-evm 0.12.1b1), so code from solc 0.8.28's default target, Cancun (PUSH0, MCOPY),
  runs as is. :data:`EMBEDDED_FORK` records what we rely on and is checked at start.
  Ten accounts, each funded with 1,000,000 ether, unlocked; one block per transaction.
  hardhat 2.29.1's node: chain id 31337, twenty funded unlocked accounts, automine.
* Precompiles are pure Python on the embedded chain: one BN254 pairing check (a Groth16
  verifyProof) takes 1.4-1.7 s (about 30 ms on hardhat), and ``estimate_gas`` re-executes
  the call several times and returns too little for the verifier anyway -- always send
  an explicit gas limit for anything that verifies a proof.
* A reverting transaction sent with an explicit gas limit is *mined* on the embedded
  chain (receipt status 0, no exception); hardhat's automine raises instead.
  :mod:`zkclear.chain.client` handles both.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_typing import ChecksumAddress
from web3 import EthereumTesterProvider, Web3
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import RPCEndpoint

from zkclear import paths
from zkclear.errors import ToolError
from zkclear.prover import _node
from zkclear.verifier.onchain import LOCAL_CHAIN_IDS

#: The fork the embedded chain must run (solc's Cancun output needs Cancun or later).
EMBEDDED_FORK = "prague"


def embedded_web3(n_accounts: int | None = None) -> Web3:
    """A fresh in-process chain; ``w3.eth.default_account`` is its first funded account.
    ``n_accounts``: funded accounts (eth-tester's default, 10, is enough up to N = 8)."""
    backend = (PyEVMBackend() if n_accounts is None else
               PyEVMBackend(genesis_state=PyEVMBackend.generate_genesis_state(
                   num_accounts=n_accounts)))
    fork = backend.chain.get_vm().fork
    if fork != EMBEDDED_FORK:
        # A py-evm upgrade changed the default fork: gas figures and opcodes may differ.
        raise ToolError(
            "start embedded EVM", "py-evm",
            f"runs fork {fork!r}, zkclear expects {EMBEDDED_FORK!r}",
            "check the pinned eth-tester / py-evm versions, then update EMBEDDED_FORK",
        )
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
    w3.eth.default_account = w3.eth.accounts[0]
    return w3


def http_web3(url: str, *, timeout: float = 60.0, signers: Sequence[Any] = ()) -> Web3:
    """Connect to a JSON-RPC endpoint. ``default_account`` is the first signer's account,
    else the node's first account, if any. Transactions from a signer's account are signed
    locally (:func:`use_local_keys`)."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - one round trip proves the endpoint answers
        accounts = w3.eth.accounts
    except Exception as exc:
        raise ToolError("connect", url, f"no JSON-RPC answer: {exc}",
                        "is the node running, and is this its HTTP URL?") from exc
    if accounts:
        w3.eth.default_account = accounts[0]
    if signers:
        w3.eth.default_account = use_local_keys(w3, signers)[0]
    return w3


def use_local_keys(w3: Web3, keys: Sequence[Any]) -> list[ChecksumAddress]:
    """Sign transactions from these accounts here (web3's signing middleware turns their
    ``eth_sendTransaction`` into ``eth_sendRawTransaction``); returns their addresses.
    Keys are hex strings, bytes or eth-account accounts; they are never logged."""
    try:
        accounts = [Account.from_key(k) if not isinstance(k, LocalAccount) else k
                    for k in keys]
    except Exception:  # never echo the key material in the message
        raise ToolError("load signing key", "private key", "not a valid secp256k1 "
                        "private key", "pass 32 bytes as 0x-prefixed hex") from None
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(accounts), layer=0)
    return [a.address for a in accounts]


def embedded_private_key(w3: Web3, account: str) -> bytes | None:
    """The private key of one of the embedded chain's own accounts (None otherwise)."""
    if not is_embedded(w3):
        return None
    backend = embedded_tester(w3).backend
    for key in backend.account_keys:
        if key.public_key.to_checksum_address() == Web3.to_checksum_address(account):
            return bytes(key.to_bytes())
    return None


def is_embedded(w3: Web3) -> bool:
    return isinstance(w3.provider, EthereumTesterProvider)


def embedded_tester(w3: Web3) -> EthereumTester:
    """The embedded chain's eth-tester (``w3`` must be embedded: :func:`is_embedded`)."""
    provider = w3.provider
    if not isinstance(provider, EthereumTesterProvider):
        raise TypeError("not the embedded chain")
    return provider.ethereum_tester


def is_local(w3: Web3) -> bool:
    """A throwaway development chain (embedded, hardhat, anvil, ganache)."""
    return int(w3.eth.chain_id) in LOCAL_CHAIN_IDS


def latest_timestamp(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def chain_now(w3: Web3) -> int:
    """The time the next transaction will see (the pending block's timestamp; the latest
    block's on a node without a pending block): the latest block's lags behind while no
    block is mined (a quiet local chain)."""
    try:
        return int(w3.eth.get_block("pending")["timestamp"])
    except Exception:  # a node without a pending block
        return latest_timestamp(w3)


def set_storage(w3: Web3, address: str, slot: int, value: int) -> None:
    """Write one storage word on the embedded chain (py-evm) and mine it into a block
    (tests and benchmarks: a state no transaction reaches yet)."""
    backend = embedded_tester(w3).backend
    state = backend.chain.get_vm().state
    state.set_storage(bytes.fromhex(address[2:]), slot, value)
    state.persist()
    backend.chain.header = backend.chain.header.copy(state_root=state.state_root)
    backend.mine_blocks()


def advance_time(w3: Web3, seconds: int) -> int:
    """Move a local chain's clock forward by ``seconds`` and mine a block; returns its time.

    Only development chains can do this (eth-tester's ``time_travel``, hardhat's
    ``evm_increaseTime``); on a real network the caller has to wait instead.
    """
    if seconds < 0:
        raise ValueError("time only moves forward")
    target = latest_timestamp(w3) + seconds
    if is_embedded(w3):
        embedded_tester(w3).time_travel(target)
    else:
        if not is_local(w3):
            raise ToolError("advance time", f"chain {w3.eth.chain_id}",
                            "only a local development chain can move its clock")
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    return latest_timestamp(w3)


def snapshot(w3: Web3) -> object:
    """Snapshot a local chain's state (for tests); :func:`revert` goes back to it."""
    if is_embedded(w3):
        return embedded_tester(w3).take_snapshot()
    return w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]


def revert(w3: Web3, snap: object) -> None:
    """Return a local chain to ``snap`` (hardhat forgets the snapshot after using it)."""
    if is_embedded(w3):
        embedded_tester(w3).revert_to_snapshot(snap)
        return
    ok = w3.provider.make_request(RPCEndpoint("evm_revert"), [snap])
    if not ok.get("result"):
        raise ToolError("revert to snapshot", str(snap), f"node answered {ok}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rpc_ready(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    req = urllib.request.Request(url, body.encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return "result" in json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


class HardhatNode:
    """``hardhat node`` on 127.0.0.1 (a free port unless given), as a context manager.

    Started from the folder holding node_modules (hardhat refuses to run from elsewhere)
    with the shipped one-line ``hardhat.config.js`` (both the repository root in a
    checkout); the node's output goes to ``log`` (a file) so a failure to start can be
    shown. ``stop`` ends the process group this object started, and nothing else.
    """

    def __init__(self, port: int | None = None, *, log: Path | None = None,
                 start_timeout: float = 60.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or paths.build_dir() / "hardhat" / f"node-{self.port}.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HardhatNode:
        cli = _node.require_package("hardhat") / "internal" / "cli" / "cli.js"
        config = paths.TOOLCHAIN_DIR / "hardhat.config.js"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [_node.node_binary(), str(cli), "--config", str(config), "node",
                 "--hostname", "127.0.0.1", "--port", str(self.port)],
                cwd=paths.node_modules().parent, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"},
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.proc = None
                raise ToolError("start hardhat node", self.url, f"exited early: {tail}")
            if _rpc_ready(self.url):
                return self
            time.sleep(0.2)
        self.stop()
        raise ToolError("start hardhat node", self.url,
                        f"no answer within {self.start_timeout:.0f} s (log: {self.log})")

    def web3(self) -> Web3:
        return http_web3(self.url)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the group this object started
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> HardhatNode:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
