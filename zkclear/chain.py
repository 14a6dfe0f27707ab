"""Chain access. For now only the embedded EVM used by tests and benchmarks.

:func:`embedded_web3` runs a whole chain inside the Python process: web3's
``EthereumTesterProvider`` over eth-tester's py-evm backend. Facts that matter here:

* The backend starts at py-evm's newest fork (Prague with eth-tester 0.14.0b1 /
  py-evm 0.12.1b1), so code from solc 0.8.28's default target, Cancun (PUSH0, MCOPY),
  runs as is. :data:`EMBEDDED_FORK` records what we rely on and is checked at start.
* Ten accounts, each funded with 1,000,000 ether, unlocked; blocks are mined per
  transaction (auto-mine), so a receipt is available as soon as a transaction is sent.
* Precompiles are pure Python: one BN254 pairing check (a Groth16 verifyProof) takes
  1.4-1.7 s, and ``estimate_gas`` re-executes the call several times and returns too
  little for the verifier anyway -- always send an explicit gas limit.

The real chain client (RPC endpoints, key management) will live here later.
"""

from __future__ import annotations

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from zkclear.errors import ToolError

#: The fork the embedded chain must run (solc's Cancun output needs Cancun or later).
EMBEDDED_FORK = "prague"


def embedded_web3() -> Web3:
    """A fresh in-process chain; ``w3.eth.default_account`` is its first funded account."""
    backend = PyEVMBackend()
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
