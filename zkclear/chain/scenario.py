"""The generated story of :mod:`zkclear.clearing.scenario` played on a deployed pool
through the chain client alone, with real epoch proofs: the contract tests' pool and the
gas benchmark's (``bench/bench_contract_gas.py``, ``bench/bench_oracle_gas.py``).

Unlike :class:`zkclear.chain.pool.Pool`'s own epochs (matching, netting, signed commits
by the operator's rules), the events here are the scenario's, sent as they are, so a test
can stop, tamper or replay at any step. Accounts: :class:`zkclear.chain.pool.Actors`.

Development only: :data:`COMPLIANCE` is a fixed, INSECURE key pair, :func:`epoch_keys`
are INSECURE development keys, and :func:`install_exit_state` writes contract storage
on the embedded chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from web3 import Web3

from zkclear.chain import contracts
from zkclear.chain import node as chain
from zkclear.chain.client import Client, ContractError, EpochAccepted, SignedCommit, exit_data_hash
from zkclear.chain.pool import Actors, Pool
from zkclear.clearing import public
from zkclear.clearing.epoch import EpochResult, run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import PoolConfig
from zkclear.clearing.scenario import EpochPlan, demo_keys, demo_params, demo_plans
from zkclear.clearing.state import Leaf
from zkclear.clearing.witness import epoch_circuit_inputs
from zkclear.field import P
from zkclear.privacy.compliance import ESCROW_V1, ESCROW_VERSION, escrow
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.prover import registry
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.keys import Keys, dev_setup
from zkclear.prover.prove import ProofResult, prove

#: The story's pool (N=4 slots, M=2 instruments, K=4 scenarios) and governance time-lock.
CFG = PoolConfig(4, 2, 4)
DELAY = 3600
#: The story pool's compliance key pair: fixed and INSECURE (its private key is in this
#: file). Registrations of the story's members escrow their view keys to it.
COMPLIANCE = X25519KeyPair(bytes(range(1, 33)), "compliance")
#: A stand-in escrow blob of the real size, for registrations with made-up vkh values
#: (no view key behind them to escrow); the story's members publish real ones.
ESCROW = bytes(range(93))
MINT = 10**12


def epoch_keys(cfg: PoolConfig = CFG) -> Keys:
    """INSECURE development keys of the epoch circuit (cached in build/ after the first)."""
    return dev_setup(compile_circuit(registry.epoch(cfg.n_slots, cfg.n_instruments,
                                                    cfg.n_scenarios, cfg.max_events)))


#: The story pool's auction windows (seconds): short, so that a service clearing it in
#: real time (the operator's tests) waits seconds, not the default ten minutes, after a
#: liquidation.
AUCTION_WINDOW = 2


def deploy_pool(w3: Web3, keys: Keys, cfg: PoolConfig = CFG, *,
                plans: Sequence[EpochPlan] | None = None,
                auction_window: int = AUCTION_WINDOW) -> Pool:
    """The story's pool with ``keys``' verifier, every member account minted :data:`MINT`
    test collateral (genesis prices: the first plan's), auctions of ``auction_window``
    seconds per phase."""
    plans = plans or demo_plans(cfg)
    actors = Actors.of(w3, cfg.n_slots)
    setup = contracts.PoolSetup(
        cfg, demo_params(cfg.n_instruments, cfg.n_scenarios), plans[0].prices,
        owners=actors.owners, threshold=2, reporters=actors.reporters, quorum=3,
        operator=actors.operator, house_account=actors.house, delay=DELAY,
        max_move_bp=2_000, max_age=3600, auction_window=auction_window)
    dep = contracts.deploy_with_keys(w3, setup, keys, sender=actors.deployer)
    client = Client(w3, dep)
    for account in actors.members.values():
        client.mint(account, MINT, sender=actors.deployer)
    return Pool(client, actors, setup, keys, setup.genesis_state())


def deploy_unproven(w3: Web3, cfg: PoolConfig, params: Any, genesis_prices: Sequence[int],
                    verifier: str | None = None,
                    **setup: Any) -> tuple[Client, Actors, contracts.PoolSetup]:
    """The system with a stand-in for the epoch verifier (a contract, not a verifier,
    unless ``verifier`` names one): for the oracle's, the parameters' and the auction's
    tests, where no real proof is submitted and no circuit of this size need be compiled.
    ``setup``: further :class:`PoolSetup` fields (defaults: :meth:`Actors.of`'s accounts,
    2-of-3 governance, quorum 3 of 3 reporters)."""
    actors = Actors.of(w3, cfg.n_slots)
    if verifier is None:
        stand_in, _ = contracts.deploy_contract(w3, contracts.build()["TestCollateral"], "v",
                                                "v", 6, sender=actors.deployer)
        verifier = stand_in.address
    kw: dict[str, Any] = {"owners": actors.owners, "threshold": 2,
                          "reporters": actors.reporters, "quorum": 3,
                          "operator": actors.operator, "house_account": actors.house,
                          "delay": DELAY} | setup
    pool_setup = contracts.PoolSetup(cfg, params, tuple(genesis_prices), **kw)
    dep = contracts.deploy_system(w3, pool_setup, verifier, sender=actors.deployer)
    return Client(w3, dep), actors, pool_setup


def escrow_for(pool: Pool, slot: int, vkh: int) -> bytes:
    """The registration's escrow: the story's view key of ``slot`` (``demo_keys``) sealed
    to :data:`COMPLIANCE` for this pool (its ``pool_id``: chain id and house address);
    the stand-in :data:`ESCROW` when ``vkh`` is not that key's. Slot 2 keeps the version-1
    escrow of pools registered before HPKE, so the audit reads both versions."""
    key = demo_keys(pool.setup.config).get(slot)
    if key is None or key.vkh != vkh:
        return ESCROW
    version = ESCROW_V1 if slot == 2 else ESCROW_VERSION
    return escrow(key, COMPLIANCE, slot, pool.client.deployment.pool_id, version=version)


def onchain_order(events: Sequence[Any]) -> list[Any]:
    """The order events land in on-chain: commitments are posted with closeEpoch, after
    every other event of the epoch."""
    return ([e for e in events if e.kind != Kind.COMMIT]
            + [e for e in events if e.kind == Kind.COMMIT])


def play_events(pool: Pool, plan: EpochPlan) -> list[SignedCommit]:
    """Send the plan's events as the members' (and governance's) transactions, in order;
    consecutive registrations go through one governance proposal, each with its escrow
    (:func:`escrow_for`). Each commitment is signed by its member with its report's
    ciphertext (the plan's) and returned, for the operator's closeEpoch."""
    cl, act = pool.client, pool.actors
    epoch = cl.open_epoch()
    signed = []
    events = list(plan.events)
    i = 0
    while i < len(events):
        ev = events[i]
        who = act.members[ev.slot]
        if ev.kind == Kind.REGISTER:
            calls = []
            while i < len(events) and events[i].kind == Kind.REGISTER:
                e = events[i]
                calls.append(cl.register_member_call(e.slot, act.members[e.slot], e.value,
                                                     escrow_for(pool, e.slot, e.value)))
                i += 1
            cl.govern(calls, act.signers)
            continue
        if ev.kind == Kind.DEPOSIT:
            cl.deposit(ev.value, sender=who)
        elif ev.kind == Kind.COMMIT:
            ct = plan.ciphertexts[ev.slot]
            assert ct.commitment() == ev.value
            signed.append(cl.sign_commit_as(who, epoch, ev.slot, ev.value, ct.to_bytes()))
        elif ev.kind == Kind.WITHDRAW:
            cl.request_withdrawal(ev.value, sender=who)
        i += 1
    return signed


def post_prices(pool: Pool, epoch: int, prices: Sequence[int]) -> None:
    """Every reporter (the quorum of three) posts ``prices``: final at the third."""
    for r in pool.actors.reporters[:3]:
        pool.client.post_prices(epoch, prices, sender=r)


def prepare_epoch(pool: Pool, plan: EpochPlan, *, played: int = 0,
                  commits: Sequence[SignedCommit] = ()) -> tuple[EpochResult, ProofResult]:
    """Play the plan (but its first ``played`` events, already sent; ``commits``: their
    signed commitments), price and close the epoch, clear it from the chain's own events
    and prices with the engine, and prove it (a real epoch proof)."""
    cl = pool.client
    epoch = cl.open_epoch()
    signed = [*commits, *play_events(pool, replace(plan, events=plan.events[played:]))]
    post_prices(pool, epoch, plan.prices)
    pool.wait_for_auction()
    cl.close_epoch(signed, sender=pool.actors.operator)
    events = cl.epoch_events(epoch)
    assert events == onchain_order(plan.events)
    result = run_epoch(pool.state, pool.setup.params, cl.final_prices(epoch), events,
                       plan.reports, view_keys=plan.view_keys, award=cl.award_of(epoch))
    assert result.epoch == epoch
    return result, prove(pool.keys, epoch_circuit_inputs(result))


def submit(pool: Pool, result: EpochResult, proof: ProofResult) -> EpochAccepted:
    accepted = pool.client.submit_epoch(proof.proof, proof.public, result.exit_data(),
                                        sender=pool.actors.operator)
    pool.state = result.new
    return accepted


def granted_amount(result: EpochResult) -> int:
    return sum(s.withdrawal_requested for s in result.slots if s.withdrawal_granted)


# --- a stand-in last accepted state for exits (until the 9-signal circuit publishes one) --


#: ClearingHouse's storage slots this file writes (its ``Accepted`` struct packs the last
#: accepted epoch's scalars into one word at ACCEPTED_SLOT: epoch, total, dfScale, frozen,
#: houseNegativeSince at bit offsets 0, 64, 192, 208, 216).
HOUSE_SLOTS = {"openEpoch": 0, "paramsHash": 9, "stateRoot": 11, "lastExitDataHash": 12,
               "accepted": 13}


def _slots(p: Pool) -> dict[str, int]:
    """ClearingHouse's storage slots this file writes, checked against their known values
    (a layout change fails here, not silently)."""
    cl = p.client
    addr, layout = cl.house.address, HOUSE_SLOTS

    def word(name: str) -> int:
        return int.from_bytes(p.w3.eth.get_storage_at(addr, layout[name]), "big")

    acc = cl.accepted()
    assert word("paramsHash") == cl.params_hash() and word("stateRoot") == cl.state_root()
    assert word("accepted") == (acc["epoch"] | acc["total"] << 64 | acc["dfScale"] << 192
                                | int(acc["frozen"]) << 208 | acc["houseNegativeSince"] << 216)
    return layout


def install_exit_state(p: Pool, leaves: dict[int, Leaf], house_c: int) -> list[int]:
    """Make the contract's last accepted state epoch 1 with these member leaves and the
    house's collateral ``house_c``: totalCollateral, exit data hash, tokens held; the
    open epoch becomes 2. Returns the exit data D."""
    cl = p.client
    layout = _slots(p)
    n, m = p.setup.config.n_slots, p.setup.config.n_instruments
    state = [Leaf(0, (0,) * m).hash()] * n + [house_c % P]
    for s, leaf in leaves.items():
        state[s] = leaf.hash()
    data = public.exit_data(state, 0, 0, n)
    total = house_c + sum(lf.collateral + lf.df for lf in leaves.values())
    assert total >= 0
    acc = cl.accepted()  # keep dfScale, frozen and houseNegativeSince
    packed = (1 | total << 64 | acc["dfScale"] << 192 | int(acc["frozen"]) << 208
              | acc["houseNegativeSince"] << 216)
    for name, value in (("openEpoch", 2), ("accepted", packed),
                        ("lastExitDataHash", int.from_bytes(exit_data_hash(data), "big"))):
        chain.set_storage(p.w3, cl.house.address, layout[name], value)
    if total:
        cl.mint(cl.house.address, total, sender=p.actors.deployer)
    assert (cl.last_accepted_epoch(), cl.open_epoch(), cl.total_collateral()) == (1, 2, total)
    return data


def story_end_to_end(pool: Pool) -> tuple[dict[str, int], list[ProofResult]]:
    """The demo story on-chain with real proofs; asserts every step, returns gas figures.

    Epoch 1: registrations, deposits, reports, a withdrawal that is refused. While it is
    being proven, a member deposits: that event belongs to epoch 2. Epoch 2: a price shock
    liquidates slot 2 and slot 1's withdrawal is granted and paid. Both epochs are
    submitted through the client; a replay of epoch 1 is refused. Returns the gas of
    each submitEpoch and the two proofs.
    """
    cl, act = pool.client, pool.actors
    plan1, plan2 = demo_plans(pool.setup.config)
    r1, p1 = prepare_epoch(pool, plan1)
    assert cl.epoch_info(1)["firstRequestAt"] > 0  # the refused request started the clock
    assert p1.public == r1.public_signals()
    (refused_slot,) = [s.slot for s in r1.slots if s.withdrawal_refused]

    # Proving takes a while: meanwhile events go to the next epoch.
    late = Event(Kind.DEPOSIT, 3, 5_000)
    cl.deposit(late.value, sender=act.members[late.slot])
    assert cl.open_epoch() == 2 and cl.epoch_events(2) == [late]

    before = cl.balance(act.members[refused_slot])
    a1 = submit(pool, r1, p1)
    assert (a1.epoch, a1.new_root) == (1, r1.new.root())
    assert a1.refused == ((refused_slot, r1.slots[refused_slot].withdrawal_requested),)
    assert a1.paid == () and a1.liquidated == ()
    assert cl.balance(act.members[refused_slot]) == before
    assert cl.state_root() == r1.new.root() and cl.last_accepted_epoch() == 1
    assert cl.total_collateral() == r1.total_collateral

    try:
        cl.submit_epoch(p1.proof, p1.public, r1.exit_data(), sender=act.operator)
        raise AssertionError("a replayed epoch was accepted")
    except ContractError as exc:
        assert exc.name == "EpochAlreadyAccepted", exc

    plan2 = replace(plan2, events=(late, *plan2.events))
    r2, p2 = prepare_epoch(pool, plan2, played=1)
    paid_before = cl.balance(act.members[1])
    a2 = submit(pool, r2, p2)
    assert cl.balance(act.members[1]) == paid_before  # credited, not pushed
    assert cl.claimable(act.members[1]) == cl.total_claimable() == granted_amount(r2)
    receipt = cl.claim(sender=act.members[1])
    assert cl.logs(receipt, "ClearingHouse", "Claimed")[0]["amount"] == granted_amount(r2)
    assert cl.claimable(act.members[1]) == cl.total_claimable() == 0
    liquidated = tuple(s.slot for s in r2.slots if s.liquidated)
    granted = tuple((s.slot, act.members[s.slot], s.withdrawal_requested)
                    for s in r2.slots if s.withdrawal_granted)
    assert liquidated == (2,) and a2.liquidated == liquidated
    assert a2.paid == granted and granted[0][0] == 1
    assert cl.balance(act.members[1]) == paid_before + granted[0][2]
    assert cl.state_root() == r2.new.root() == pool.state.root()
    assert cl.total_collateral() == r2.total_collateral
    assert cl.balance(cl.house.address) == r2.total_collateral  # reserves, nothing pending
    return {"submit_epoch_1": a1.gas_used, "submit_epoch_2": a2.gas_used}, [p1, p2]
