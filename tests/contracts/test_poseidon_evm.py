"""zkclear.chain.poseidon_evm's Poseidon contracts against circomlibjs's generated ones and
the Python reference: bit-identical on many inputs of every arity, canonical or not (the
epoch circuit recomputes the on-chain events accumulator, so one differing bit would make
every epoch unprovable), cheaper, within EIP-170, and refusing a wrong selector or length."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3

from zkclear.chain import contracts, poseidon_evm
from zkclear.chain import node as chain
from zkclear.chain.contracts import POSEIDON_ARITIES
from zkclear.field import P
from zkclear.poseidon import poseidon

#: Random inputs per arity (each a call on both contracts); the edges are added to them.
CASES = 60


@pytest.fixture(scope="module")
def deployed() -> tuple[Web3, dict[int, tuple[Any, Any]]]:
    w3 = chain.embedded_web3()
    sender = w3.eth.accounts[0]
    out = {}
    for n in POSEIDON_ARITIES:
        fast, _ = contracts.deploy_poseidon(w3, n, sender=sender)
        ref = contracts.poseidon_code()[n]
        tx = w3.eth.send_transaction({"from": sender, "data": ref.bytecode})
        ref_addr = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
        sig = f"poseidon(uint256[{n}])"
        fast_c = w3.eth.contract(address=fast, abi=poseidon_evm.abi(n))
        ref_c = w3.eth.contract(address=ref_addr, abi=ref.abi)
        out[n] = (fast_c.get_function_by_signature(sig), ref_c.get_function_by_signature(sig))
    return w3, out


def _inputs(n: int, rng: random.Random) -> list[list[int]]:
    edges = [[0] * n, [P - 1] * n, [P] * n, [2**256 - 1] * n, list(range(1, n + 1))]
    pick = (lambda: rng.randrange(P), lambda: rng.randrange(2**256),
            lambda: P - 1 - rng.randrange(8), lambda: rng.randrange(2**64),
            lambda: P + rng.randrange(8), lambda: 0)
    return edges + [[rng.choice(pick)() for _ in range(n)] for _ in range(CASES)]


@pytest.mark.parametrize("n", POSEIDON_ARITIES)
def test_equal_to_circomlibjs_and_python(deployed: tuple[Web3, dict[int, tuple[Any, Any]]],
                                         n: int) -> None:
    _, fns = deployed
    fast, ref = fns[n]
    for xs in _inputs(n, random.Random(n)):
        got = int(fast(xs).call())
        assert got == int(ref(xs).call()), (n, xs)
        assert got == poseidon([x % P for x in xs]), (n, xs)
        assert 0 <= got < P


def _gas(w3: Web3, fn: Any) -> int:
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": fn.address,
                                  "data": fn._encode_transaction_data()})
    return int(w3.eth.wait_for_transaction_receipt(tx)["gasUsed"])


def test_cheaper_than_circomlibjs(deployed: tuple[Web3, dict[int, tuple[Any, Any]]]) -> None:
    w3, fns = deployed
    for n, (fast, ref) in fns.items():
        xs = [P - 1 - i for i in range(n)]
        fast_gas, ref_gas = _gas(w3, fast(xs)), _gas(w3, ref(xs))
        # The accumulator's arity, 4: about half; every arity: cheaper (the 21k base included).
        assert fast_gas < ref_gas * (0.55 if n == 4 else 0.9), (n, fast_gas, ref_gas)


def test_stages_fit_eip170_and_wrong_calls_revert(
        deployed: tuple[Web3, dict[int, tuple[Any, Any]]]) -> None:
    w3, fns = deployed
    for n in POSEIDON_ARITIES:
        assert all(len(s.runtime) <= poseidon_evm.CODE_LIMIT for s in poseidon_evm.stages(n))
        fast, _ = fns[n]
        good = bytes.fromhex(fast([1] * n)._encode_transaction_data()[2:])
        other = function_signature_to_4byte_selector(f"poseidon(bytes32[{n}])")
        for data in (good[:-1], good + b"\0", other + good[4:], b""):
            with pytest.raises(Exception):  # noqa: B017 - a bare revert, no reason
                w3.eth.call({"to": fast.address, "data": "0x" + data.hex()})
    with pytest.raises(ValueError, match=r"1\.\.6"):
        poseidon_evm.stages(7)
