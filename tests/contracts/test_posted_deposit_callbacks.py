"""Posted deposits against a token that runs the member's code inside ``transferFrom``
(as an ERC-777 ``tokensToSend`` hook would): a callback into the pool while closeEpoch
pulls is refused (``ClosingEpoch``), and a callback that burns gas only fails its own
pull (``PULL_GAS``), which is skipped; the close goes through either way. A token that
keeps a fee back is refused for the whole batch (the balance is checked once).

The token is compiled here from :data:`HOOK_TOKEN` (a test double, not a contract of the
system) and given to a pool with a stand-in verifier (no proofs needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils import function_signature_to_4byte_selector

from zkclear.chain import contracts, scenario, solidity
from zkclear.chain import node as chain
from zkclear.chain.client import Client, ContractError
from zkclear.chain.pool import Actors
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.scenario import demo_plans

CFG = scenario.CFG
MAX = 2**256 - 1

HOOK_TOKEN = """
// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// A test token whose transferFrom first runs what is set for the sender: a call to
/// `hookTarget` with `hookData` (its outcome kept in lastOk/lastRet, not bubbled up), or
/// a loop that burns all the gas it is given; `fee` is kept back from what it sends.
contract HookToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(address => address) public hookTarget;
    mapping(address => bytes) public hookData;
    mapping(address => bool) public burns;
    mapping(address => uint256) public fee;
    bool public lastOk;
    bytes public lastRet;

    function mint(address to, uint256 value) external {
        balanceOf[to] += value;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        return true;
    }

    function setHook(address from, address target, bytes calldata data, bool burn) external {
        hookTarget[from] = target;
        hookData[from] = data;
        burns[from] = burn;
    }

    function setFee(address from, uint256 value) external {
        fee[from] = value;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        if (burns[from]) {
            uint256 i = 0;
            while (i != type(uint256).max) i++;
        }
        address target = hookTarget[from];
        if (target != address(0)) (lastOk, lastRet) = target.call(hookData[from]);
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "allowance");
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - value;
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(balanceOf[from] >= value, "balance");
        balanceOf[from] -= value;
        balanceOf[to] += value - fee[from];
    }
}
"""


@pytest.fixture(scope="module")
def hooked() -> tuple[Client, Actors, Any]:
    """A pool whose collateral is the HookToken; members 1-3 registered, funded and
    approved (standing allowance)."""
    w3 = chain.embedded_web3()
    compiled = solidity.compile_sources({"HookToken.sol": HOOK_TOKEN})["HookToken"]
    deployer = Actors.of(w3, CFG.n_slots).deployer
    token, _ = contracts.deploy_contract(w3, compiled, sender=deployer)
    cl, act, _ = scenario.deploy_unproven(
        w3, CFG, scenario.demo_params(CFG.n_instruments, CFG.n_scenarios),
        demo_plans(CFG)[0].prices, token=token.address)
    cl.govern([cl.register_member_call(s, act.members[s], 77 + s, scenario.ESCROW)
               for s in (1, 2, 3)], act.signers)
    for s in (1, 2, 3):
        cl.transact(token.functions.mint(act.members[s], 10**9), sender=deployer)
        cl.approve(MAX, sender=act.members[s])
    return cl, act, token


@pytest.fixture
def pool(hooked: tuple[Client, Actors, Any]) -> Iterator[tuple[Client, Actors, Any]]:
    snap = chain.snapshot(hooked[0].w3)
    yield hooked
    chain.revert(hooked[0].w3, snap)


def _close(cl: Client, act: Actors, amounts: dict[int, int]) -> Any:
    deposits = [cl.sign_deposit_as(act.members[s], 1, s, a) for s, a in amounts.items()]
    return cl.close_epoch([], sender=act.operator, deposits=deposits)


@pytest.mark.parametrize("call", [("deposit", [5]), ("requestWithdrawal", [5]),
                                  ("freeze", []), ("claim", [])])
def test_a_callback_into_the_pool_during_the_pulls_is_refused(pool, call) -> None:
    cl, act, token = pool
    data = bytes.fromhex(cl.house.encode_abi(call[0], args=call[1])[2:])
    cl.transact(token.functions.setHook(act.members[1], cl.house.address, data, False),
                sender=act.deployer)
    receipt = _close(cl, act, {1: 100, 2: 200})
    assert cl.skipped_deposits(receipt) == []
    assert not token.functions.lastOk().call()
    assert bytes(token.functions.lastRet().call()) == \
        function_signature_to_4byte_selector("ClosingEpoch()")
    # Only the two posted deposits: the callback's request or deposit never landed.
    assert cl.epoch_events(1)[3:] == [Event(Kind.DEPOSIT, 1, 100), Event(Kind.DEPOSIT, 2, 200)]
    assert cl.balance(cl.house.address) == 300 == cl.epoch_info(1)["deposits"]


def test_a_callback_that_burns_gas_only_skips_its_own_deposit(pool) -> None:
    cl, act, token = pool
    cl.transact(token.functions.setHook(act.members[1], cl.house.address, b"", True),
                sender=act.deployer)
    receipt = _close(cl, act, {1: 100, 2: 200, 3: 300})
    assert cl.skipped_deposits(receipt) == [(1, 100, 1)]
    assert cl.epoch_events(1)[3:] == [Event(Kind.DEPOSIT, 2, 200), Event(Kind.DEPOSIT, 3, 300)]
    assert cl.epoch_info(1)["closed"] and cl.balance(cl.house.address) == 500
    # the burning pull cost at most PULL_GAS: the close stays a few hundred thousand gas
    assert int(receipt["gasUsed"]) < 400_000


def test_a_fee_on_transfer_is_refused_for_the_batch(pool) -> None:
    cl, act, token = pool
    cl.transact(token.functions.setFee(act.members[2], 1), sender=act.deployer)
    with pytest.raises(ContractError) as ei:
        _close(cl, act, {1: 100, 2: 200})
    assert ei.value.root.name == "TransferFailed"
    assert cl.open_epoch() == 1 and cl.balance(cl.house.address) == 0
    assert (cl.deposit_of(1, 1), cl.deposit_of(1, 2)) == (0, 0)
