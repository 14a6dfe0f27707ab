"""The contracts on the embedded EVM (py-evm), driven through the chain client.

Every rejection asserts its named custom error, decoded by :mod:`zkclear.chain.client`.
Each test runs on a snapshot of a deployed pool and the chain is reverted afterwards, so
the tests are independent and deployment (~10 s) happens once per fixture. The epoch
proofs are real (the epoch circuit at N=4, M=2, K=4 with INSECURE development keys,
shared with tests/circuits/test_epoch_circuit.py through the build cache). A verifyProof on py-evm
takes about 1.5 s, so only the tests that must reach the verifier do.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak

from zkclear.chain import contracts, scenario
from zkclear.chain import node as chain
from zkclear.chain.client import decode_error
from zkclear.chain.pool import Pool
from zkclear.clearing import public as public_mod
from zkclear.clearing.events import Event, Kind, accumulate
from zkclear.clearing.params import PoolConfig, RiskParams, prices_hash
from zkclear.clearing.public import AUCTION_VALUES, FUND_VALUES, pack, unpack
from zkclear.clearing.scenario import demo_plans
from zkclear.field import P
from zkclear.poseidon import poseidon, poseidon_chain
from zkclear.verifier import onchain

from .helpers import reverts, tamper

CASH_MAX = (1 << 120) - 1




def register_all(p: Pool, vkh: int = 77) -> None:
    calls = [p.client.register_member_call(i, p.actors.members[i], vkh + i, scenario.ESCROW)
             for i in range(1, p.setup.config.n_slots)]
    p.client.govern(calls, p.actors.signers)


# --- Poseidon and deployment --------------------------------------------------------------


def test_poseidon_contracts_equal_python(pool: Pool) -> None:
    w3 = pool.w3
    for n, code in contracts.poseidon_code().items():
        c = w3.eth.contract(address=pool.client.deployment.address(f"Poseidon{n}"),
                            abi=code.abi)
        fn = c.get_function_by_signature(f"poseidon(uint256[{n}])")
        for xs in ([0] * n, [P - 1] * n, [(i * 0x9E3779B97F4A7C15 + 7) ** 3 % P
                                          for i in range(n)]):
            assert int(fn(xs).call()) == poseidon(xs), (n, xs)


def test_on_chain_hashes_equal_python(pool: Pool) -> None:
    """paramsHash (a 22-element PoseidonChain: the parameters, the default fund's four and
    the instrument table's three columns), pricesHash and the genesis root were computed
    by the contracts; deploy_system compared them, here once more by hand."""
    setup = pool.setup
    assert len(setup.params.field_elements()) == 2 + 4 + 2 + 4 * 2 + 3 * 2
    assert pool.client.params_hash() == poseidon_chain(setup.params.field_elements())
    assert pool.client.prices_hash(0) == prices_hash(setup.genesis_prices)
    assert pool.client.prices_hash(0) == poseidon([pool.client.mark_hash(0), 0])
    assert pool.client.state_root() == setup.genesis_state().root()


def test_constants_are_checked_by_name(pool: Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    contracts.check_constants(pool.client.house)
    assert contracts.expected_constants()["PUB_PRICES_PREV_HASH"] == 4
    assert contracts.expected_constants()["PUB_EXIT_SUM"] == 7
    assert "PUB_OUTCOME" not in contracts.expected_constants()  # the masks are exit data
    real = contracts.expected_constants
    monkeypatch.setattr(contracts, "expected_constants", lambda: {**real(), "CASH_BITS": 121})
    with pytest.raises(contracts.DeploymentError, match="CASH_BITS: chain 120, Python 121"):
        contracts.check_constants(pool.client.house)


def test_constructor_errors_are_decoded(pool: Pool) -> None:
    bad = replace(pool.setup, quorum=4)  # three reporters
    with reverts("InvalidQuorum") as ei:
        contracts.deploy_system(pool.w3, bad, pool.client.deployment.address("EpochVerifier"),
                                sender=pool.actors.deployer)
    assert ei.value.action == "deploy PriceOracle"


def test_keys_for_another_pool_size_are_refused(keys) -> None:
    with pytest.raises(contracts.DeploymentError, match="epoch"):
        contracts.check_verifier_for(keys, PoolConfig(8, 2, 4))


def test_insecure_keys_only_on_local_chains(pool: Pool, monkeypatch) -> None:
    """deploy_with_keys goes through the verifier's guard: INSECURE development keys
    are refused on any chain that is not a local development chain."""
    monkeypatch.setattr(onchain, "LOCAL_CHAIN_IDS", frozenset())
    with pytest.raises(onchain.InsecureSetupError, match="--insecure-dev-setup"):
        contracts.deploy_with_keys(pool.w3, pool.setup, pool.keys)


def test_errors_are_decoded_recursively() -> None:
    root = function_signature_to_4byte_selector("RootMismatch(uint256,uint256)") + encode(
        ["uint256", "uint256"], [1, 2])
    wrapped = function_signature_to_4byte_selector("CallFailed(uint256,uint256,bytes)") + encode(
        ["uint256", "uint256", "bytes"], [7, 0, root])
    err = decode_error(wrapped, "Governance.execute")
    assert (err.name, err.args_dict["id"], err.root.name) == ("CallFailed", 7, "RootMismatch")
    assert err.root.args_dict == {"given": 1, "expected": 2}
    assert str(err) == ("Governance.execute reverted: CallFailed(id=7, index=0, "
                        "reason=RootMismatch(given=1, expected=2))")
    assert decode_error(b"\x00\x01", "x").name == ""
    assert decode_error(b"\xde\xad\xbe\xef", "x").name == "unknown error 0xdeadbeef"


# --- governance -----------------------------------------------------------------------------


def test_governance_threshold_and_timelock(pool: Pool) -> None:
    cl, (o0, o1, o2) = pool.client, pool.actors.owners
    new = RiskParams.symmetric(2, [700, 1400], im_factor_bp=20_000, penalty_bp=500,
                               position_limit=5_000)
    call = cl.risk_params_call(new)
    with reverts("NotOwner"):
        cl.propose([call], sender=pool.actors.reporters[0])
    pid = cl.propose([call], sender=o0)
    with reverts("AlreadyConfirmed"):
        cl.confirm(pid, sender=o0)
    with reverts("NotApproved"):
        cl.execute(pid, sender=o0)
    cl.confirm(pid, sender=o1)
    with reverts("TimelockNotExpired") as ei:
        cl.execute(pid, sender=o2)
    assert ei.value.args_dict["eta"] == cl.proposal_eta(pid)
    assert cl.params_hash() == pool.setup.params.hash()
    assert cl.risk_params_hash(new) == new.hash()  # visible before it takes effect
    chain.advance_time(pool.w3, scenario.DELAY)
    receipt = cl.execute(pid, sender=o2)
    (ev,) = cl.logs(receipt, "ClearingHouse", "RiskParamsSet")
    assert ev["paramsHash"] == new.hash() == cl.params_hash()
    assert list(ev["shocks"]) == [s for row in new.shocks for s in row]
    with reverts("AlreadyExecuted"):
        cl.execute(pid, sender=o0)
    with reverts("UnknownProposal"):
        cl.confirm(pid + 1, sender=o0)


def test_only_governance_administers(pool: Pool) -> None:
    cl, owner = pool.client, pool.actors.owners[0]
    p = pool.setup.params
    with reverts("NotGovernance"):
        cl.transact(cl.house.functions.setRiskParams(p.im_factor_bp, p.penalty_bp,
                                                     p.fund_elements(),
                                                     list(p.position_limits), [0] * 8),
                    sender=owner)
    with reverts("NotGovernance"):
        cl.transact(cl.house.functions.registerMember(1, owner, 5, b"x"), sender=owner)
    with reverts("NotGovernance"):
        cl.transact(cl.oracle.functions.setQuorum(1), sender=owner)
    with reverts("NotSelf"):
        cl.transact(cl.governance.functions.setDelay(0), sender=owner)


def test_invalid_parameters_fail_inside_the_governed_call(pool: Pool) -> None:
    cl = pool.client
    p = pool.setup.params
    bad = cl._encode("ClearingHouse", "setRiskParams", p.im_factor_bp, p.penalty_bp,
                     p.fund_elements(), list(p.position_limits), [0, 0, 0, 0, 0, 0, 0, 1 << 16])
    with reverts("InvalidShock") as ei:
        cl.govern([bad], pool.actors.signers)
    assert ei.value.name == "CallFailed"
    assert ei.value.root.args_dict == {"scenario": 3, "instrument": 1, "shock": 1 << 16}
    with reverts("InvalidImFactor"):
        cl.govern([cl._encode("ClearingHouse", "setRiskParams", 9_999, 0, p.fund_elements(),
                              list(p.position_limits), [0] * 8)], pool.actors.signers)
    # The default fund's parameters: a stress below the margin scenarios, a floor,
    # a share or a cap out of bounds.
    for fund in ([0, 0, 9_999, 0], [1 << 112, 0, 10_000, 0], [0, 1 << 16, 10_000, 0],
                 [0, 0, 10_000, 1 << 112]):
        bad = cl._encode("ClearingHouse", "setRiskParams", p.im_factor_bp, p.penalty_bp,
                         fund, list(p.position_limits), [0] * 8)
        with reverts("InvalidFundParams"):
            cl.govern([bad], pool.actors.signers)


def test_params_are_frozen_when_the_epoch_closes(pool: Pool) -> None:
    cl = pool.client
    cl.close_epoch(sender=pool.actors.operator)
    new = replace(pool.setup.params, penalty_bp=2_000)
    cl.govern([cl.risk_params_call(new)], pool.actors.signers)
    assert cl.epoch_info(1)["paramsHash"] == pool.setup.params.hash()
    assert cl.params_hash() == new.hash()


# --- member registry --------------------------------------------------------------------


def test_registration_records_an_event(pool: Pool) -> None:
    cl, act = pool.client, pool.actors
    receipt = cl.govern([cl.register_member_call(2, act.members[2], 1234, scenario.ESCROW)],
                        act.signers)
    (ev,) = cl.logs(receipt, "ClearingHouse", "MemberRegistered")
    assert (ev["slot"], ev["vkh"], ev["escrow"]) == (2, 1234, scenario.ESCROW)
    assert cl.slot_of(act.members[2]) == 2
    assert cl.call(cl.house.functions.escrowOf(2)) == scenario.ESCROW
    assert cl.epoch_events(1) == [Event(Kind.REGISTER, 2, 1234)]


@pytest.mark.parametrize(("slot", "who", "vkh", "escrow", "error"), [
    (0, 7, 5, scenario.ESCROW, "SlotInUse"),
    (4, 7, 5, scenario.ESCROW, "SlotOutOfRange"),
    (1, 6, 5, scenario.ESCROW, "AccountAlreadyMember"),  # the house's account
    (1, 7, 0, scenario.ESCROW, "InvalidViewKeyCommitment"),
    (1, 7, P, scenario.ESCROW, "InvalidViewKeyCommitment"),
    (1, 7, 5, b"", "InvalidEscrow"),
])
def test_registration_rejections(pool: Pool, slot, who, vkh, escrow, error) -> None:
    cl = pool.client
    account = pool.w3.eth.accounts[who]
    with reverts(error):
        cl.govern([cl.register_member_call(slot, account, vkh, escrow)], pool.actors.signers)


def test_non_members_cannot_act(pool: Pool) -> None:
    cl, stranger = pool.client, pool.actors.owners[1]
    with reverts("NotMember"):
        cl.deposit(5, sender=stranger, approve=False)
    with reverts("NotMember"):
        cl.request_withdrawal(5, sender=stranger)
    register_all(pool)
    cl.govern([cl.remove_member_call(1)], pool.actors.signers)
    with reverts("NotMember"):
        cl.deposit(5, sender=pool.actors.members[1], approve=False)
    with reverts("SlotNotActive"):  # a removed slot cannot be committed for
        cl.close_epoch([cl.sign_commit_as(pool.actors.members[1], 1, 1, 5, b"")],
                       sender=pool.actors.operator)
    with reverts("SlotInUse"):  # a slot keeps its leaf: never handed to someone else
        cl.govern([cl.register_member_call(1, pool.actors.members[1], 5, scenario.ESCROW)],
                  pool.actors.signers)


# --- custody, reports and the events accumulator ------------------------------------------


def test_member_actions_and_their_rejections(pool: Pool) -> None:
    cl, m = pool.client, pool.actors.members
    register_all(pool)
    cl.deposit(1_000, sender=m[1])
    assert cl.balance(cl.house.address) == 1_000
    with reverts("AlreadyDeposited"):
        cl.deposit(5, sender=m[1])
    for amount in (0, CASH_MAX + 1):
        with reverts("AmountOutOfRange"):
            cl.deposit(amount, sender=m[2])
        with reverts("AmountOutOfRange"):
            cl.request_withdrawal(amount, sender=m[2])
    with reverts("TransferFailed"):  # nothing approved
        cl.deposit(10, sender=m[3], approve=False)
    cl.deposit(500, sender=m[0])  # the house tops up its insurance fund
    with reverts("HouseCannotWithdraw"):
        cl.request_withdrawal(5, sender=m[0])
    cl.request_withdrawal(CASH_MAX, sender=m[3])
    with reverts("AlreadyRequested"):
        cl.request_withdrawal(1, sender=m[3])
    signed = cl.sign_commit_as(m[1], 1, 1, P - 1, b"ZKRC\x01")
    cl.close_epoch([signed], sender=pool.actors.operator)
    events = cl.epoch_events(1)
    assert events[3:] == [Event(Kind.DEPOSIT, 1, 1_000), Event(Kind.DEPOSIT, 0, 500),
                          Event(Kind.WITHDRAW, 3, CASH_MAX), Event(Kind.COMMIT, 1, P - 1)]
    info = cl.epoch_info(1)
    assert info["eventsAcc"] == accumulate(events) and info["nEvents"] == 7
    assert info["deposits"] == 1_500 and info["withdrawMask"] == 0b1000


def test_closing_an_epoch_sends_later_events_to_the_next(pool: Pool) -> None:
    cl, m = pool.client, pool.actors.members
    register_all(pool)
    cl.deposit(100, sender=m[1])
    with reverts("NotOperator"):
        cl.close_epoch(sender=m[1])
    cl.close_epoch(sender=pool.actors.operator)
    cl.deposit(200, sender=m[1])  # allowed again: a new epoch
    assert cl.open_epoch() == 2
    assert cl.epoch_events(1)[-1] == Event(Kind.DEPOSIT, 1, 100)
    assert cl.epoch_events(2) == [Event(Kind.DEPOSIT, 1, 200)]
    assert cl.epoch_info(1)["closed"] and not cl.epoch_info(2)["closed"]
    with reverts("EpochPending"):  # epoch 1 is not proven yet
        cl.close_epoch(sender=pool.actors.operator)


def test_an_epoch_cannot_overflow_its_capacity(pool: Pool) -> None:
    """A pool with E = 2 event slots: the third event of an epoch is refused."""
    setup = replace(pool.setup, config=PoolConfig(4, 2, 4, max_events=2))
    dep = contracts.deploy_system(pool.w3, setup, pool.client.deployment.address(
        "EpochVerifier"), sender=pool.actors.deployer)
    from zkclear.chain.client import Client

    cl = Client(pool.w3, dep)
    calls = [cl.register_member_call(i, pool.actors.members[i], 9, scenario.ESCROW)
             for i in (1, 2, 3)]
    with reverts("EpochFull"):
        cl.govern(calls, pool.actors.signers)
    cl.govern(calls[:2], pool.actors.signers)
    with reverts("EpochFull"):
        cl.deposit(5, sender=pool.actors.house)


# --- oracle -------------------------------------------------------------------------------


def test_oracle_quorum_median_and_hash(pool: Pool) -> None:
    cl, r = pool.client, pool.actors.reporters
    assert int(cl.call(cl.oracle.functions.quorum())) == 3  # odd: a true median
    cl.post_prices(1, (1_000, 1_150), sender=r[0])
    cl.post_prices(1, (1_100, 1_000), sender=r[1])
    assert cl.prices_hash(1) == 0 and cl.finalised_at(1) == 0
    with reverts("PricesNotFinal"):
        cl.final_prices(1)
    with reverts("AlreadyPosted"):
        cl.post_prices(1, (1_000, 1_100), sender=r[1])
    receipt = cl.post_prices(1, (1_050, 1_100), sender=r[2])
    (marks,) = cl.logs(receipt, "PriceOracle", "MarksFinalised")
    (ev,) = cl.logs(receipt, "PriceOracle", "PricesFinalised")
    assert cl.final_prices(1) == (1_050, 1_100) == tuple(marks["prices"])
    assert cl.funding_index(1) == (0, 0) == tuple(marks["fundingIndex"])
    assert cl.prices_hash(1) == prices_hash((1_050, 1_100)) == ev["pricesHash"]
    assert ev["markHash"] == marks["markHash"] == cl.mark_hash(1) and ev["riskHash"] == 0
    assert cl.finalised_at(1) == chain.latest_timestamp(pool.w3)
    with reverts("PricesAlreadyFinal"):
        cl.post_prices(1, (1_000, 1_100), sender=r[0])


def test_oracle_rejections(pool: Pool) -> None:
    cl, r = pool.client, pool.actors.reporters
    now = chain.latest_timestamp(pool.w3)
    with reverts("NotReporter"):
        cl.post_prices(1, (1_000, 1_100), sender=pool.actors.owners[1])
    with reverts("PriceEpochInFuture"):  # the clearing house is on epoch 1
        cl.post_prices(2, (1_000, 1_100), sender=r[0])
    with reverts("WrongPriceCount"):
        cl.post_prices(1, (1_000,), sender=r[0])
    with reverts("ZeroPrice"):
        cl.post_prices(1, (1_000, 0), sender=r[0])
    with reverts("PriceTooLarge"):
        cl.post_prices(1, (1 << 48, 1_100), sender=r[0])
    with reverts("StalePrice"):
        cl.post_prices(1, (1_000, 1_100), sender=r[0], observed_at=now - 3_601)
    with reverts("PriceFromFuture"):
        cl.post_prices(1, (1_000, 1_100), sender=r[0], observed_at=now + 1_000)
    cl.post_prices(1, (1_201, 879), sender=r[0])  # beyond the band: one post is a vote


def test_governed_oracle_limits(pool: Pool) -> None:
    cl = pool.client
    cl.govern([cl.set_oracle_limits_call(5_000, 60, 30)], pool.actors.signers)
    assert [int(cl.call(getattr(cl.oracle.functions, n)()))
            for n in ("maxMoveBp", "maxAge", "breakerDelay")] == [5_000, 60, 30]
    with reverts("InvalidQuorum"):
        cl.govern([cl.set_quorum_call(5)], pool.actors.signers)
    with reverts("EvenQuorum"):
        cl.govern([cl.set_quorum_call(2)], pool.actors.signers)
    with reverts("InvalidLimits"):
        cl.govern([cl.set_oracle_limits_call(0, 60, 30)], pool.actors.signers)
    with reverts("InvalidLimits"):  # the breaker's delay must be shorter than maxAge
        cl.govern([cl.set_oracle_limits_call(2_000, 60, 60)], pool.actors.signers)


def test_an_expired_round_starts_again(pool: Pool) -> None:
    cl, r = pool.client, pool.actors.reporters
    cl.post_prices(1, (1_000, 1_100), sender=r[0])
    cl.post_prices(1, (1_030, 1_100), sender=r[2])
    chain.advance_time(pool.w3, 3_601)
    receipt = cl.post_prices(1, (1_010, 1_100), sender=r[1])
    assert cl.logs(receipt, "PriceOracle", "RoundExpired")
    assert cl.prices_hash(1) == 0  # the old posts no longer count
    cl.post_prices(1, (1_020, 1_100), sender=r[0])  # a new round: r[0] may post again
    cl.post_prices(1, (1_040, 1_100), sender=r[2])
    assert cl.final_prices(1) == (1_020, 1_100)


# --- submitEpoch: every public input against state -----------------------------------------


@pytest.fixture(scope="module")
def closed(keys):
    """A pool whose epoch 1 (the story's) is played, priced, closed and proven."""
    p = scenario.deploy_pool(chain.embedded_web3(), keys)
    result, proof = scenario.prepare_epoch(p, demo_plans(scenario.CFG)[0])
    return p, result, proof


@pytest.fixture
def epoch1(closed):
    p, result, proof = closed
    snap = chain.snapshot(p.w3)
    yield p, result, proof
    chain.revert(p.w3, snap)


def _with(public: list[int], **changes: int) -> list[int]:
    """The public signals with some of the values they carry changed (packed again)."""
    values = unpack(public) | changes
    return pack(values)


def test_each_public_input_is_checked_against_state(epoch1) -> None:
    p, r, proof = epoch1
    pub = proof.public
    other_commit = [Event(e.kind, e.slot, e.value + 1 if e.kind == Kind.COMMIT else e.value)
                    for e in r.events.events]
    other_deposit = [Event(e.kind, e.slot, e.value + 1 if e.kind == Kind.DEPOSIT else e.value)
                     for e in r.events.events]
    v = unpack(pub)
    d = r.exit_data()
    cases = [
        ("RootMismatch", _with(pub, oldRoot=v["oldRoot"] + 1)),
        ("EpochOutOfOrder", _with(pub, epoch=2)),
        ("EpochAlreadyAccepted", _with(pub, epoch=0)),
        ("ParamsMismatch", _with(pub, paramsHash=v["paramsHash"] + 1)),
        ("PrevPricesMismatch", _with(pub, pricesPrevHash=prices_hash((1_000, 1_101)))),
        ("PricesMismatch", _with(pub, pricesHash=prices_hash((1_001, 1_100)))),
        ("EventsMismatch", _with(pub, eventsAcc=accumulate(other_commit))),  # a commitment
        ("EventsMismatch", _with(pub, eventsAcc=accumulate(other_deposit))),  # a deposit
        ("EventCountMismatch", _with(pub, nEvents=v["nEvents"] - 1)),
        # rho (fundInfo's top bits) is the exit-data challenge, derived on-chain
        ("ExitChallengeMismatch", _with(pub, rho=v["rho"] ^ 1)),
        ("ExitSumMismatch", _with(pub, exitSum=v["exitSum"] + 1)),
        ("TotalCollateralMismatch", _with(pub, totalCollateral=v["totalCollateral"] + 1)),
    ]
    for error, public in cases:
        with reverts(error):
            p.client.submit_epoch(proof.proof, public, d, sender=p.actors.operator)
    # The masks are exit-data words (after the leaves and the house's collateral): with a
    # consistent challenge and sum, the contract still refuses a liquidated house and a
    # grant nobody requested.
    n = scenario.CFG.n_slots
    for error, liq, granted in [("InvalidLiquidatedMask", 0b1, 0),
                                ("GrantedWithoutRequest", 0, 0b10)]:
        bad = public_mod.exit_data(d[:n + 1], liq, granted, n)
        rho = public_mod.exit_challenge(1, v["newRoot"], bad)
        with reverts(error):
            p.client.submit_epoch(proof.proof,
                                  _with(pub, rho=rho, exitSum=public_mod.exit_sum(bad, rho)),
                                  bad, sender=p.actors.operator)
    # Exit data: the proof binds it, so another D (a different leaf) changes the challenge;
    # wrong lengths and non-canonical words are refused by name.
    for error, bad in [("ExitChallengeMismatch", [d[0], d[1] ^ 1, *d[2:]]),
                       ("ExitDataLength", d[:-1]), ("ExitDataLength", [*d, 0]),
                       ("ExitDataNotCanonical", [*d[:-1], d[-1] + P])]:
        with reverts(error):
            p.client.submit_epoch(proof.proof, pub, bad, sender=p.actors.operator)
    with reverts("InsufficientGas"):  # too little gas left for the pairing check
        p.client.submit_epoch(proof.proof, pub, d, sender=p.actors.operator, gas=300_000)
    assert p.client.last_accepted_epoch() == 0


def test_tampered_proof_and_replay(epoch1) -> None:
    p, r, proof = epoch1
    cl = p.client
    d = r.exit_data()
    with reverts("InvalidProof"):
        cl.submit_epoch(tamper(proof.proof), proof.public, d, sender=p.actors.operator)
    accepted = cl.submit_epoch(proof.proof, proof.public, d, sender=p.actors.operator)
    assert accepted.new_root == r.new.root() == cl.state_root()
    assert cl.house.functions.lastExitDataHash().call() == keccak(encode(["uint256[]"], [d]))
    with reverts("EpochAlreadyAccepted"):
        cl.submit_epoch(proof.proof, proof.public, d, sender=p.actors.operator)


def test_epoch_must_be_closed_and_priced(pool: Pool) -> None:
    cl = pool.client
    pub = pack({"oldRoot": cl.state_root(), "newRoot": 0, "epoch": 1,
                "paramsHash": cl.params_hash(), "pricesPrevHash": cl.prices_hash(0),
                "pricesHash": 0, "eventsAcc": 0, "nEvents": 0,
                "totalCollateral": 0, "rho": 0, "exitSum": 0,
                **dict.fromkeys(FUND_VALUES, 0), **dict.fromkeys(AUCTION_VALUES, 0)})
    d = [0] * (scenario.CFG.n_slots + 3)
    proof = {"pi_a": ["1", "2", "1"], "pi_b": [["0", "0"], ["0", "0"], ["1", "0"]],
             "pi_c": ["1", "2", "1"]}
    with reverts("EpochNotClosed"):
        cl.submit_epoch(proof, pub, d, sender=pool.actors.operator)
    cl.close_epoch(sender=pool.actors.operator)
    with reverts("PricesNotFinal"):
        cl.submit_epoch(proof, pub, d, sender=pool.actors.operator)


# --- end to end -------------------------------------------------------------------------------


def test_story_end_to_end_with_real_proofs(keys) -> None:
    pool = scenario.deploy_pool(chain.embedded_web3(), keys)
    gas, _ = scenario.story_end_to_end(pool)
    assert all(100_000 < g < 1_000_000 for g in gas.values()), gas
