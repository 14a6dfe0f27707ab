"""The epoch circuit checks exactly the engine's transition (docs/protocol.md).

Known answers: the engine's epochs (the demo story and random ones) satisfy the circuit
with the engine's public values, and a proof verifies. Soundness: for each property the
circuit proves, an input that breaks it fails witness generation at the constraint that
guards it (so no proof can exist). Witness generation is cheap; one proof is made.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkclear import paths
from zkclear.clearing.epoch import run_epoch
from zkclear.clearing.events import Event, Kind, accumulate
from zkclear.clearing.params import PoolConfig
from zkclear.clearing.report import Report
from zkclear.clearing.scenario import demo_params, run_story
from zkclear.clearing.state import Leaf, PoolState, merkle_root
from zkclear.clearing.witness import epoch_circuit_inputs
from zkclear.errors import WitnessError
from zkclear.field import P
from zkclear.poseidon import poseidon_chain
from zkclear.prover import registry
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.prove import calculate_witness

CFG = PoolConfig(4, 2, 4)
SOURCE = (paths.CIRCUITS_DIR / "epoch.circom").read_text().splitlines()


def line_of(snippet: str) -> int:
    """1-based line of the constraint in epoch.circom (robust to edits elsewhere)."""
    hits = [i + 1 for i, line in enumerate(SOURCE) if snippet in line]
    assert len(hits) == 1, (snippet, hits)
    return hits[0]


@pytest.fixture(scope="module")
def compiled():
    return compile_circuit(registry.epoch(4, 2, 4))


@pytest.fixture(scope="module")
def story():
    e1, e2 = run_story(CFG)
    return e1, e2


def witness_ok(compiled, inputs, tmp_path) -> None:
    calculate_witness(compiled, inputs, tmp_path / "w.wtns")


def fails_at(compiled, inputs, tmp_path, template: str, snippet: str | None = None) -> None:
    with pytest.raises(WitnessError) as ei:
        calculate_witness(compiled, inputs, tmp_path / "bad.wtns")
    assert ei.value.template == template, str(ei.value)
    if snippet is not None:
        assert ei.value.line == line_of(snippet), str(ei.value)


def test_constraint_count_is_pinned(compiled):
    assert compiled.info.n_public == 11
    assert compiled.info.n_constraints == 23874


def test_engine_epochs_satisfy_the_circuit(compiled, story, tmp_path):
    for r in story:
        inputs = epoch_circuit_inputs(r)
        assert [inputs[k] for k in r.PUBLIC_NAMES] == r.public_signals()
        witness_ok(compiled, inputs, tmp_path)
    e1, e2 = story
    assert e2.liquidated_mask == 0b100 and e1.slots[3].withdrawal_refused


# -- helpers that forge inputs while keeping everything else consistent -----------------

def _recommit(inputs: dict, slot: int) -> None:
    """Recompute slot's commitment from its (tampered) report and the events accumulator."""
    c = poseidon_chain([*inputs["delta"][slot], inputs["tradeCash"][slot], inputs["salt"][slot]])
    for j, (k, s) in enumerate(zip(inputs["evKind"], inputs["evSlot"], strict=True)):
        if k == Kind.COMMIT and s == slot:
            inputs["evValue"][j] = c
    _reaccumulate(inputs)


def _reaccumulate(inputs: dict) -> None:
    n = inputs["nEvents"]
    evs = [Event(Kind(k), s, v) for k, s, v in
           zip(inputs["evKind"][:n], inputs["evSlot"][:n], inputs["evValue"][:n], strict=True)]
    inputs["eventsAcc"] = accumulate(evs)


def _add_event(inputs: dict, kind: Kind, slot: int, value: int) -> None:
    n = inputs["nEvents"]
    inputs["evKind"][n], inputs["evSlot"][n], inputs["evValue"][n] = int(kind), slot, value
    inputs["nEvents"] = n + 1
    _reaccumulate(inputs)


@pytest.fixture
def e1(story):
    return copy.deepcopy(epoch_circuit_inputs(story[0]))


@pytest.fixture
def e2(story):
    return copy.deepcopy(epoch_circuit_inputs(story[1]))


# -- soundness: one test per proven property ---------------------------------------------

def test_soundness_cannot_liquidate_a_solvent_member(compiled, e2, tmp_path):
    e2["liquidatedMask"] |= 0b10  # slot 1 is solvent
    fails_at(compiled, e2, tmp_path, "Epoch", "liquidatedMask === liqMask")


def test_soundness_cannot_keep_an_insolvent_member(compiled, e2, tmp_path):
    e2["liquidatedMask"] &= ~0b100  # slot 2 is below maintenance margin
    fails_at(compiled, e2, tmp_path, "Epoch", "liquidatedMask === liqMask")


def test_soundness_cannot_grant_a_withdrawal_that_breaks_initial_margin(compiled, e1, tmp_path):
    e1["grantedMask"] |= 0b1000  # slot 3's request was refused
    fails_at(compiled, e1, tmp_path, "Epoch", "grantedMask === grantMask")


def test_soundness_cannot_refuse_a_covered_withdrawal(compiled, e2, tmp_path):
    e2["grantedMask"] &= ~0b10
    fails_at(compiled, e2, tmp_path, "Epoch", "grantedMask === grantMask")


def test_soundness_positions_must_net(compiled, e1, tmp_path):
    e1["delta"][1][0] = (e1["delta"][1][0] + 1) % P
    _recommit(e1, 1)
    fails_at(compiled, e1, tmp_path, "Epoch", "sd === 0;")


def test_soundness_cash_must_net(compiled, e1, tmp_path):
    e1["tradeCash"][1] = (e1["tradeCash"][1] + 1) % P
    _recommit(e1, 1)
    fails_at(compiled, e1, tmp_path, "Epoch", "sCash === 0;")


def test_soundness_report_must_be_the_committed_one(compiled, e1, tmp_path):
    e1["delta"][1][0] = (e1["delta"][1][0] + 1) % P
    e1["delta"][3][0] = (e1["delta"][3][0] - 1) % P  # still nets
    fails_at(compiled, e1, tmp_path, "OpenReport")


def test_soundness_no_report_means_no_trades(compiled, e2, tmp_path):
    e2["delta"][1] = [1, 0]
    e2["delta"][3] = [P - 1, 0]  # nets, but neither slot committed this epoch
    fails_at(compiled, e2, tmp_path, "OpenReport")


def test_soundness_range_overflow_is_refused(compiled, e1, tmp_path):
    # Slot 1's change becomes 2^48 (one past the bound) and slot 3 takes the difference,
    # so netting and both commitments still hold: only the range check can refuse it.
    old = e1["delta"][1][0]
    e1["delta"][1][0] = 1 << 48
    e1["delta"][3][0] = (e1["delta"][3][0] + old - (1 << 48)) % P
    _recommit(e1, 1)
    _recommit(e1, 3)
    fails_at(compiled, e1, tmp_path, "Num2Bits")


def test_soundness_wrong_total_collateral(compiled, e1, tmp_path):
    e1["totalCollateral"] += 1
    fails_at(compiled, e1, tmp_path, "Epoch", "totalCollateral === total;")


def test_soundness_changed_penalty_breaks_the_new_root(compiled, story, e2, tmp_path):
    """Claim a state where the liquidated member paid one unit less penalty."""
    r = story[1]
    leaves = list(r.new.leaves)
    lf, house = leaves[2], leaves[0]
    leaves[2] = Leaf(lf.collateral + 1, lf.positions, lf.vkh, lf.status, lf.nonce)
    leaves[0] = Leaf(house.collateral - 1, house.positions, house.vkh, house.status,
                     house.nonce)
    e2["newRoot"] = merkle_root([x.hash() for x in leaves])
    fails_at(compiled, e2, tmp_path, "Epoch", "newRoot === newRootIn;")


def test_soundness_wrong_old_root(compiled, e1, tmp_path):
    e1["oldRoot"] = (e1["oldRoot"] + 1) % P
    fails_at(compiled, e1, tmp_path, "Epoch", "oldRoot === oldRootIn;")


def test_soundness_wrong_params_or_prices(compiled, e1, tmp_path):
    bad = copy.deepcopy(e1)
    bad["penaltyBp"] = 0  # a cheaper penalty than governance set
    fails_at(compiled, bad, tmp_path, "Epoch", "paramsHash === paramsHashIn;")
    bad = copy.deepcopy(e1)
    bad["price"][0] += 1
    fails_at(compiled, bad, tmp_path, "Epoch", "pricesHash === pricesHashIn;")


def test_soundness_events_are_bound(compiled, e1, tmp_path):
    bad = copy.deepcopy(e1)
    bad["evValue"][0] = (bad["evValue"][0] + 1) % P  # a changed registration
    fails_at(compiled, bad, tmp_path, "Epoch", "eventsAcc === acc.acc;")
    bad = copy.deepcopy(e1)
    n = bad["nEvents"]
    bad["evKind"][n], bad["evSlot"][n], bad["evValue"][n] = 2, 1, 5  # hidden deposit
    fails_at(compiled, bad, tmp_path, "EventAccumulator")


def test_soundness_only_members_deposit(compiled, tmp_path):
    # A fresh pool where nobody registered; the deposit to slot 2 is forged in.
    r = run_epoch(PoolState.genesis(CFG, (1000, 1100)), demo_params(2, 4), (1000, 1100),
                  [], {})
    inputs = epoch_circuit_inputs(r)
    _add_event(inputs, Kind.DEPOSIT, 2, 100)
    inputs["totalCollateral"] += 100
    fails_at(compiled, inputs, tmp_path, "Epoch", "(1 - statusNew[i]) * ev.deposit[i] === 0;")


def test_soundness_one_withdrawal_per_slot_and_none_for_the_house(compiled, e2, tmp_path):
    bad = copy.deepcopy(e2)
    _add_event(bad, Kind.WITHDRAW, 1, 5)  # slot 1 already asked this epoch
    fails_at(compiled, bad, tmp_path, "EventsPerSlot")
    bad = copy.deepcopy(e2)
    _add_event(bad, Kind.WITHDRAW, 0, 5)
    fails_at(compiled, bad, tmp_path, "EventsPerSlot")


@settings(max_examples=6, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1),
                          st.integers(1, 60)), max_size=5),
       st.integers(800, 1300), st.integers(900, 1400))
def test_random_epochs_engine_root_equals_circuit(compiled, tmp_path, trades, pa, pb):
    e1 = next(iter(run_story(CFG)))
    delta = [[0, 0] for _ in range(4)]
    for buyer, seller, m, size in trades:
        if buyer != seller:
            delta[buyer][m] += size
            delta[seller][m] -= size
    reports = {i: Report(tuple(delta[i]), 0, 1000 + i) for i in range(1, 4) if any(delta[i])}
    events = [Event(Kind.COMMIT, i, r.commitment()) for i, r in reports.items()]
    r = run_epoch(e1.new, e1.params, (pa, pb), events, reports)
    witness_ok(compiled, epoch_circuit_inputs(r), tmp_path)


def _prove_story(cfg: PoolConfig) -> None:
    from zkclear.prover.keys import dev_setup
    from zkclear.prover.prove import prove
    from zkclear.prover.prove import verify as snarkjs_verify
    from zkclear.verifier import Proof, VerifyingKey, verify

    keys = dev_setup(compile_circuit(registry.epoch(cfg.n_slots, cfg.n_instruments,
                                                    cfg.n_scenarios)))
    vk = VerifyingKey.from_json(keys.vkey)
    for r in run_story(cfg):
        res = prove(keys, epoch_circuit_inputs(r))
        assert res.public == r.public_signals()
        assert verify(vk, Proof.from_json(res.proof), res.public)
        assert snarkjs_verify(keys.vkey, res.public, res.proof)
        tampered = [*res.public[:8], res.public[8] ^ 0b10, *res.public[9:]]
        assert not verify(vk, Proof.from_json(res.proof), tampered)


def test_story_is_proven_and_verified_at_n4():
    _prove_story(CFG)


@pytest.mark.heavy
def test_story_is_proven_and_verified_at_n16_m4_k8():
    _prove_story(PoolConfig(16, 4, 8))
