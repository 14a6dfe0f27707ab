"""Gas of the generated Groth16 verifier on the embedded EVM (py-evm, Prague).

Run: ``.venv/bin/python bench/bench_gas.py [--bisect] [--estimate]``.
Builds the multiplier fixture of :mod:`zkclear.verifier.fixture` (3 public signals) in
``build/bench/multiplier`` (~2 s), exports ``MultiplierVerifier.sol``, compiles it with
the pinned solc (Cancun, optimizer 200 runs), deploys it and prints one JSON object with

* ``deploy_gas_used``: the deployment transaction's receipt;
* ``verify``: a verifyProof *transaction* with an explicit gas limit -- ``gas_used`` from
  the receipt (what a transaction pays), split into ``intrinsic`` (21,000 + calldata)
  and ``execution`` (verifier code + precompiles: what a calling contract pays);
* wall-clock times of each step (one verifyProof on py-evm is about a second);
* ``--bisect``: the least gas limit for which the call still returns true (about ten
  more calls). It is above ``gas_used``: the verifier forwards ``gas() - 2000`` to each
  precompile and only 63/64 of the remaining gas can be passed on.
* ``--estimate``: what ``eth_estimateGas`` says (slow: it re-runs the call; and wrong --
  the verifier returns false rather than reverting when starved, so the search
  converges on a limit at which the proof is *rejected*).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from zkclear import paths
from zkclear.chain import node as chain
from zkclear.chain import solidity
from zkclear.prover import _node
from zkclear.verifier import fixture as groth16_fixture
from zkclear.verifier.onchain import OnchainVerifier, deploy_verifier, export_verifier

CIRCUIT = "multiplier"


def least_gas_limit(v: OnchainVerifier, args: Any, low: int, high: int, step: int = 100) -> int:
    """Bisect the least limit at which verifyProof(args) returns true (``high`` must work)."""
    fn = v.contract.functions.verifyProof(*args)
    while high - low > step:
        mid = (low + high) // 2
        if fn.call({"gas": mid}):
            high = mid
        else:
            low = mid
    return high


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bisect", action="store_true", help="find the least working limit")
    parser.add_argument("--estimate", action="store_true", help="also run eth_estimateGas")
    args = parser.parse_args(argv)
    times: dict[str, float] = {}

    def timed(name: str, t0: float) -> None:
        times[name] = round(time.perf_counter() - t0, 3)

    fx = groth16_fixture.build(paths.build_dir() / "bench" / "multiplier")
    t0 = time.perf_counter()
    sol = export_verifier(fx.zkey, CIRCUIT, fx.dir / f"{paths.contract_name(CIRCUIT)}.sol")
    timed("export_s", t0)
    t0 = time.perf_counter()
    compiled = solidity.compile_sources({sol.name: sol})[paths.contract_name(CIRCUIT)]
    timed("compile_s", t0)  # a cache hit if this zkey was compiled before
    w3 = chain.embedded_web3()
    t0 = time.perf_counter()
    v = deploy_verifier(w3, sol, CIRCUIT)
    timed("deploy_s", t0)

    t0 = time.perf_counter()
    if not v.verify(fx.proof, fx.public):
        raise SystemExit("the fixture proof does not verify on-chain")
    timed("verify_call_s", t0)
    t0 = time.perf_counter()
    g = v.gas_of_verify(fx.proof, fx.public)
    timed("verify_tx_s", t0)

    result: dict[str, Any] = {
        "benchmark": "groth16_verifier_gas",
        "circuit": "multiplier (zkclear.verifier.fixture)",
        "contract": compiled.name,
        "n_public": v.n_public,
        "deploy_gas_used": v.deploy_gas,
        "deployed_code_bytes": (len(compiled.deployed_bytecode) - 2) // 2,
        "verify": {
            "gas_used": g.gas_used, "intrinsic": g.intrinsic, "execution": g.execution,
            "calldata_bytes": g.calldata_bytes, "gas_limit_sent": g.gas_limit,
        },
    }
    calldata = v.calldata(fx.proof, fx.public)
    if args.bisect:
        t0 = time.perf_counter()
        result["least_working_gas_limit"] = least_gas_limit(v, calldata, g.gas_used // 2,
                                                            g.gas_limit)
        timed("bisect_s", t0)
    if args.estimate:
        t0 = time.perf_counter()
        result["eth_estimate_gas"] = v.contract.functions.verifyProof(*calldata).estimate_gas()
        timed("estimate_s", t0)
    result |= {
        "times": times,
        "evm": f"py-evm {metadata.version('py-evm')} ({chain.EMBEDDED_FORK})",
        "solc": solidity.pinned_solc_version(),
        "evm_version": solidity.DEFAULT_EVM_VERSION,
        "optimizer_runs": solidity.OPTIMIZER_RUNS,
        "snarkjs": _node.installed_version("snarkjs"),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
