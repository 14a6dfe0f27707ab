"""The same contracts through the same client on a real JSON-RPC node: hardhat's
(pinned npm package), started on 127.0.0.1 and a free port by the fixture and stopped
afterwards -- the code path a user takes with ``--rpc-url``.

A reverted transaction comes back differently here (the node refuses it with the revert
data in the JSON-RPC error, instead of mining it with status 0), so the decoding of named
errors is checked again, over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.client import ContractError
from zkclear.chain.pool import Pool
from zkclear.clearing.params import PoolConfig
from zkclear.clearing.scenario import demo_plans

from ..contracts.helpers import tamper


@pytest.fixture(scope="module")
def node() -> Iterator[chain.HardhatNode]:
    with chain.HardhatNode() as n:
        yield n


@pytest.fixture
def pool(node: chain.HardhatNode, keys) -> Iterator[Pool]:
    w3 = node.web3()
    snap = chain.snapshot(w3)
    yield scenario.deploy_pool(w3, keys)
    chain.revert(w3, snap)


def test_node_is_local_http(node: chain.HardhatNode) -> None:
    w3 = node.web3()
    assert node.url.startswith("http://127.0.0.1:")
    assert int(w3.eth.chain_id) == 31337 and chain.is_local(w3) and not chain.is_embedded(w3)


def test_story_end_to_end_with_real_proofs(pool: Pool) -> None:
    gas, _ = scenario.story_end_to_end(pool)
    assert all(100_000 < g < 1_000_000 for g in gas.values()), gas


def test_named_errors_over_json_rpc(pool: Pool) -> None:
    cl, act = pool.client, pool.actors
    with pytest.raises(ContractError) as ei:
        cl.deposit(5, sender=act.owners[1], approve=False)
    assert ei.value.name == "NotMember" and ei.value.args_dict["caller"] == act.owners[1]
    pid = cl.propose([cl.set_quorum_call(3)], sender=act.owners[0])
    cl.confirm(pid, sender=act.owners[1])
    with pytest.raises(ContractError) as ei:
        cl.execute(pid, sender=act.owners[0])
    assert ei.value.name == "TimelockNotExpired"
    with pytest.raises(ContractError) as ei:
        cl.post_prices(2, (1_300, 1_100), sender=act.reporters[0])
    assert ei.value.name == "PriceEpochInFuture"
    assert ei.value.args_dict == {"epoch": 2, "openEpoch": 1}


def test_oracle_median_and_breaker_over_json_rpc(pool: Pool) -> None:
    """One reporter's manipulated post cannot move the price; a real crash beyond the
    band is held by the circuit breaker and released after its delay."""
    cl, r = pool.client, pool.actors.reporters
    for who, prices in zip(r, ((801, 1_100), (1_000, 1_100), (1_000, 1_100)), strict=True):
        cl.post_prices(1, prices, sender=who)
    assert cl.final_prices(1) == (1_000, 1_100)
    cl.close_epoch(sender=pool.actors.operator)
    for who in r:
        cl.post_prices(2, (600, 1_100), sender=who)
    prices, release_at = cl.pending_prices(2)
    assert prices == (600, 1_100) and cl.prices_hash(2) == 0
    with pytest.raises(ContractError) as ei:
        cl.release_prices(2, sender=r[0])
    assert ei.value.name == "BreakerDelayNotOver"
    chain.advance_time(pool.w3, release_at - chain.latest_timestamp(pool.w3))
    cl.release_prices(2, sender=r[0])
    assert cl.final_prices(2) == (600, 1_100)


def test_submit_rejections_over_json_rpc(pool: Pool) -> None:
    r, proof = scenario.prepare_epoch(pool, demo_plans(scenario.CFG)[0])
    cl, op = pool.client, pool.actors.operator
    bad_root = [proof.public[0] ^ 1, *proof.public[1:]]
    with pytest.raises(ContractError) as ei:
        cl.submit_epoch(proof.proof, bad_root, r.exit_data(), sender=op)
    assert ei.value.name == "RootMismatch"
    assert ei.value.args_dict == {"given": bad_root[0], "expected": r.old.root()}
    with pytest.raises(ContractError) as ei:
        cl.submit_epoch(tamper(proof.proof), proof.public, r.exit_data(), sender=op)
    assert ei.value.name == "InvalidProof"
    cl.submit_epoch(proof.proof, proof.public, r.exit_data(), sender=op)
    with pytest.raises(ContractError) as ei:
        cl.submit_epoch(proof.proof, proof.public, r.exit_data(), sender=op)
    assert ei.value.name == "EpochAlreadyAccepted"


@pytest.mark.heavy
def test_submit_gas_does_not_grow_with_the_pool(node: chain.HardhatNode, keys) -> None:
    """The story at N=16, M=4, K=8 (proof keys: minutes to set up the first time) costs
    the same submitEpoch gas as at N=4, M=2, K=4 but for the exit data: per-slot data
    reaches the proof through the events accumulator, and the only per-slot cost left is
    one published exit-data word (calldata, event data, a check and a Horner step)."""
    w3 = node.web3()
    gas = {}
    for cfg, k in ((scenario.CFG, keys), (PoolConfig(16, 4, 8), None)):
        snap = chain.snapshot(w3)
        try:
            pool = scenario.deploy_pool(w3, k or scenario.epoch_keys(cfg), cfg)
            gas[cfg.n_slots], _ = scenario.story_end_to_end(pool)
        finally:
            chain.revert(w3, snap)
    for epoch in ("submit_epoch_1", "submit_epoch_2"):
        per_slot = (gas[16][epoch] - gas[4][epoch]) / (16 - 4)
        assert 0 < per_slot < 2_000, gas


def test_locally_signed_accounts_over_json_rpc(node: chain.HardhatNode, pool: Pool) -> None:
    """A real network holds none of our keys: with ``signers`` the client signs here and
    sends raw transactions; the same contract call from an account the node does not know
    fails without it."""
    from eth_account import Account

    from zkclear.chain.client import Client
    from zkclear.errors import ToolError

    member = Account.create()
    w3 = node.web3()
    assert member.address not in w3.eth.accounts
    funder = pool.actors.deployer
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
        {"from": funder, "to": member.address, "value": 10**18}))
    pool.client.mint(member.address, 1_000, sender=funder)

    local = chain.http_web3(node.url, signers=[member.key.hex()])
    assert local.eth.default_account == member.address
    cl = Client(local, pool.client.deployment)
    house = pool.client.house.address
    cl.transact(cl.token.functions.approve(house, 600), sender=member.address)
    assert cl.token.functions.allowance(member.address, house).call() == 600
    with pytest.raises(Exception, match=r"(?i)unknown account|sender account not recognized"):
        pool.client.token.functions.approve(house, 1).transact({"from": member.address})
    with pytest.raises(ToolError, match="not a valid secp256k1 private key") as ei:
        chain.http_web3(node.url, signers=["0x1234"])
    assert "1234" not in str(ei.value)
