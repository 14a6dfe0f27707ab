"""bench/_gastrace.py: the traced parts of a real transaction add up to its execution gas
(the receipt's gasUsed less the intrinsic 21,000 + calldata, computed here on their own),
and land under the right contract and opcode kind."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from web3 import Web3

from zkclear.chain import artefacts, contracts
from zkclear.chain import node as chain

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gastrace = _load("_gastrace")


def _calldata_gas(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def test_parts_add_up_to_the_execution_gas() -> None:
    w3 = chain.embedded_web3()
    alice, bob = w3.eth.accounts[:2]
    token, _ = contracts.deploy_contract(w3, artefacts.build()["TestCollateral"], "T", "T", 6,
                                         sender=alice)
    mint = token.functions.mint(alice, 10**9).transact({"from": alice})
    w3.eth.wait_for_transaction_receipt(mint)
    transfer = token.get_function_by_name("transfer")
    selector = bytes(Web3.keccak(text="transfer(address,uint256)")[:4])
    with gastrace.trace_gas(w3, {token.address.lower(): "Token"},
                            {selector: "transfer"}) as traces:
        # bob's balance word is fresh (a 20k write); the mint above is not watched
        tx = transfer(bob, 1234).transact({"from": alice, "gas": 200_000})
        receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert [t.selector for t in traces] == ["transfer"]
    data = bytes(w3.eth.get_transaction(tx)["input"])
    out = gastrace.breakdown(traces[0], int(receipt["gasUsed"]))
    assert out["intrinsic_less_refund"] == 21_000 + _calldata_gas(data)
    assert out["execution"] == int(receipt["gasUsed"]) - 21_000 - _calldata_gas(data)
    assert set(out["by_contract"]) == {"Token"}
    # cold reads of blocked[bob] and both balances; alice's balance word rewritten (warm),
    # bob's written fresh
    assert out["parts"]["Token/SSTORE"] == 2_900 + 20_000
    assert out["parts"]["Token/SLOAD"] == 3 * 2_100
    assert out["parts"]["Token/LOG3"] == 375 + 3 * 375 + 8 * 32
    assert sum(out["storage"].values()) == 2_900 + 20_000 + 3 * 2_100
    # the patch is gone after the block: nothing more is traced
    w3.eth.wait_for_transaction_receipt(transfer(bob, 1).transact({"from": alice}))
    assert len(traces) == 1
