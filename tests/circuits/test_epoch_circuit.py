"""The epoch circuit checks exactly the engine's transition (docs/protocol.md, "The epoch").

Known answers: epochs computed by the engine (clearing/epoch.py: the demo story, the
hand-computed scenarios of the engine tests, random epochs) satisfy the circuit, and the
public signals in the witness are the engine's. Soundness: for each property the circuit
proves, an input that breaks it (with every hash the contract would recompute made
consistent, so only that property is wrong) fails witness generation at the constraint
that guards it, so no proof exists; the one hint with custom logic (the events prefix
mask) is checked against the R1CS for every possible assignment. One proof is made and
verified at N=4 (and at N=16 in the heavy run).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from zkclear import bounds, paths
from zkclear.clearing import public
from zkclear.clearing.auction import Award
from zkclear.clearing.epoch import EpochError, EpochResult, run_epoch
from zkclear.clearing.events import Event, Kind, accumulate
from zkclear.clearing.params import PoolConfig, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.scenario import run_story
from zkclear.clearing.state import Leaf, PoolState, merkle_root
from zkclear.clearing.witness import epoch_circuit_inputs
from zkclear.errors import WitnessError
from zkclear.field import P
from zkclear.poseidon import poseidon, poseidon_chain
from zkclear.privacy.cipher import Ciphertext, encrypt
from zkclear.privacy.viewkeys import epoch_key
from zkclear.prover import registry
from zkclear.prover.binfile import read_witness
from zkclear.prover.circuit import Circuit, compile_circuit
from zkclear.prover.prove import calculate_witness

from ..clearing.helpers import KEYS, first_epoch_orders, keys_of, vkh
from ..clearing.helpers import committed as committed_at
from . import r1cs_eval

CFG = PoolConfig(4, 2, 4)
#: Pinned so growth is visible in review (docs/benchmarks.md, "Epoch circuit size").
CONSTRAINTS_N4_M2_K4 = 47075
LIB = paths.CIRCUITS_DIR / "lib"


def line_of(source: Path, snippet: str, template: str) -> int:
    """1-based line of a constraint in a template's body (robust to edits elsewhere)."""
    lines = source.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"template {template}("))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("template ")),
               len(lines))
    hits = [i + 1 for i in range(start, end) if snippet in lines[i]]
    assert len(hits) == 1, (source.name, template, snippet, hits)
    return hits[0]


@pytest.fixture(scope="module")
def compiled():
    return compile_circuit(registry.epoch(4, 2, 4))


@pytest.fixture(scope="module")
def story() -> tuple[EpochResult, EpochResult]:
    e1, e2 = run_story(CFG)
    return e1, e2


def public_of(compiled, inputs: dict, tmp_path: Path) -> list[int]:
    """Witness generation passes; returns the witness's public signals (wires 1..8)."""
    wtns = tmp_path / "ok.wtns"
    calculate_witness(compiled, inputs, wtns)
    return read_witness(wtns)[1:1 + len(EpochResult.PUBLIC_NAMES)]


def fails_at(compiled, inputs: dict, tmp_path: Path, template: str,
             source: Path | None = None, snippet: str | None = None) -> None:
    """Witness generation fails in `template` (at `snippet` of `source`, if given)."""
    with pytest.raises(WitnessError) as ei:
        calculate_witness(compiled, inputs, tmp_path / "bad.wtns")
    assert ei.value.template == template, str(ei.value)
    if snippet is not None:
        assert source is not None
        assert ei.value.line == line_of(source, snippet, template), str(ei.value)


def at_epoch(snippet: str) -> dict:
    return {"source": paths.CIRCUITS_DIR / "epoch.circom", "snippet": snippet}


# -- forging inputs: keep every value the contract recomputes consistent ------------------

def reaccumulate(inputs: dict) -> None:
    """eventsAcc of the (tampered) first nEvents events, as the contract computes it."""
    acc = 0
    for j in range(inputs["nEvents"]):  # raw values: a forged kind need not be a Kind
        acc = poseidon([acc, inputs["evKind"][j], inputs["evSlot"][j], inputs["evValue"][j]])
    inputs["eventsAcc"] = acc


def ciphertext_of(inputs: dict, slot: int) -> Ciphertext:
    """The ciphertext of the slot's (possibly tampered) report under its epoch key."""
    ke = epoch_key(inputs["viewKey"][slot], inputs["epoch"])
    return encrypt(ke, [*inputs["delta"][slot], inputs["tradeCash"][slot], inputs["salt"][slot]])


def set_commit(inputs: dict, slot: int, c: int) -> None:
    """The slot's COMMIT event carries ``c``; the accumulator and the layout follow."""
    for j in range(inputs["nEvents"]):
        if inputs["evKind"][j] == Kind.COMMIT and inputs["evSlot"][j] == slot:
            inputs["evValue"][j] = c
    inputs["evLayout"][slot][Kind.COMMIT - 1] = c % P
    reaccumulate(inputs)


def recommit(inputs: dict, slot: int) -> None:
    """The slot's COMMIT event carries the commitment of its (tampered) report."""
    set_commit(inputs, slot, ciphertext_of(inputs, slot).commitment())


def add_event(inputs: dict, kind: int, slot: int, value: int) -> None:
    """One more event on the chain, and in the prover's layout wherever it has room for it
    (the strongest forger: the layout is the prover's to choose)."""
    n = inputs["nEvents"]
    inputs["evKind"][n], inputs["evSlot"][n], inputs["evValue"][n] = kind, slot, value
    inputs["nEvents"] = n + 1
    reaccumulate(inputs)
    layout = inputs["evLayout"]
    if 1 <= kind <= 4 and 0 <= slot < len(layout) and layout[slot][kind - 1] == 0:
        layout[slot][kind - 1] = value % P


def rehash_params(inputs: dict) -> None:
    inputs["paramsHash"] = poseidon_chain([
        inputs["imFactorBp"], inputs["penaltyBp"], inputs["dfFloor"], inputs["dfShareBp"],
        inputs["stressBp"], inputs["skinCap"], *inputs["posLimit"],
        *(s for row in inputs["shock"] for s in row),
        *inputs["isPerp"], *inputs["isOption"], *inputs["expiry"]])


def rehash_prices(inputs: dict) -> None:
    """pricesHash / pricesPrevHash of the (tampered) market, as the oracle computes them;
    riskHash as the circuit does (0 without an option)."""
    arrays = [a for row in inputs["riskArray"] for a in row]
    risk = poseidon_chain(arrays) if any(inputs["isOption"]) else 0
    inputs["pricesHash"] = poseidon([poseidon_chain([*inputs["price"], *inputs["fund"]]), risk])
    inputs["pricesPrevHash"] = poseidon([
        poseidon_chain([*inputs["pricePrev"], *inputs["fundPrev"]]), inputs["riskPrev"]])


def reroot_old(inputs: dict) -> None:
    leaves = [poseidon_chain([inputs["c"][i], *inputs["q"][i], inputs["df"][i],
                              inputs["vkh"][i], inputs["status"][i], inputs["nonce"][i]])
              for i in range(4)]
    inputs["oldRoot"] = merkle_root(leaves)


def forge_masks(inputs: dict, r: EpochResult, liquidated: int, granted: int) -> None:
    """Other liquidated and granted masks, with everything the contract derives from the
    exit data they travel in (rho in fundInfo, exitSum) consistent with them."""
    n = r.old.config.n_slots
    d = public.exit_data(r.new.exit_leaves(), liquidated, granted, n)
    rho = public.exit_challenge(r.epoch, r.new.root(), d)
    v = r.public_values()
    inputs["liquidatedMask"] = public.mask_words(liquidated, n)
    inputs["grantedMask"] = public.mask_words(granted, n)
    inputs["rho"], inputs["exitSum"] = rho, public.exit_sum(d, rho)
    inputs["fundInfo"] = public.fund_info(v["dfScale"], v["dfScaleNext"], v["cover2Met"], rho)


@pytest.fixture
def e1(story) -> dict:
    """Epoch 1 of the story: registrations, deposits, trades, slot 3's refused withdrawal."""
    return copy.deepcopy(epoch_circuit_inputs(story[0]))


@pytest.fixture
def e2(story) -> dict:
    """Epoch 2: A up 12 %, slot 2 liquidated, slot 1's withdrawal granted."""
    return copy.deepcopy(epoch_circuit_inputs(story[1]))


# -- the circuit's shape -------------------------------------------------------------------

def test_constraint_count_is_pinned(compiled):
    assert compiled.info.n_constraints == CONSTRAINTS_N4_M2_K4


def test_public_inputs_are_the_documented_ones_in_order(compiled):
    assert compiled.info.n_outputs == 0
    assert compiled.info.n_public_inputs == 13
    assert tuple(compiled.manifest["public"]) == EpochResult.PUBLIC_NAMES
    # Parameters come from zkclear.bounds, in the order of the template's parameters.
    assert registry.epoch(16, 4, 8).params == (
        16, 4, 8, 64, bounds.DELTA_BITS, bounds.CASH_BITS, bounds.PRICE_BITS,
        bounds.SHOCK_BITS, bounds.LOSS_BITS, bounds.IM_FACTOR_BITS, bounds.PENALTY_BITS,
        bounds.BP, bounds.EPOCH_BITS, bounds.N_EVENTS_BITS, bounds.TOTAL_BITS,
        bounds.RHO_BITS, bounds.FUND_BITS, bounds.SCALE_BITS, bounds.LAYER_BITS,
        bounds.MASK_WORD_BITS)
    # In circom, public inputs are numbered in declaration order: that is the order.
    src = (paths.CIRCUITS_DIR / "epoch.circom").read_text()
    declared = [line.split()[2].rstrip(";") for line in src.splitlines()
                if line.strip().startswith("signal input")][:13]
    assert tuple(declared) == EpochResult.PUBLIC_NAMES


# -- known answers from the engine ----------------------------------------------------------

def test_story_epochs_are_known_answers(compiled, story, tmp_path):
    e1, e2 = story
    assert e1.slots[3].withdrawal_refused and e2.liquidated_mask == 0b100
    assert e2.granted_mask == 0b10
    for r in story:
        inputs = epoch_circuit_inputs(r)
        assert public_of(compiled, inputs, tmp_path) == r.public_signals()
        # The forging helpers below recompute exactly what the engine computed.
        forged = copy.deepcopy(inputs)
        reaccumulate(forged)
        rehash_params(forged)
        rehash_prices(forged)
        reroot_old(forged)
        assert forged == inputs and inputs["eventsAcc"] == accumulate(r.events.events)


# The engine tests' hand-computed scenarios (tests/clearing/test_epoch_engine.py), with K = 4
# scenarios: +-10 % and +-5 %, both instruments together; the 10 % rows decide.
PARAMS = RiskParams.symmetric(2, [1000, 500], im_factor_bp=15_000, penalty_bp=1_000)
PRICES = (100, 200)
NONCES = [11, 22, 33, 44]


def state_with(*leaves: Leaf, prices=PRICES, house_c: int = 0) -> PoolState:
    """Slots 1.. are `leaves` (with their slot's test view key); the house holds the
    opposite positions."""
    leaves = tuple(Leaf(lf.collateral, lf.positions, vkh(i), lf.status, lf.nonce)
                   for i, lf in enumerate(leaves, 1))
    house_q = tuple(-sum(lf.positions[m] for lf in leaves) for m in range(2))
    rest = [Leaf(0, (0, 0))] * (CFG.n_slots - 1 - len(leaves))
    return PoolState(CFG, 3, (Leaf(house_c, house_q, 0, 1), *leaves, *rest), prices)


def member(c: int, q: tuple[int, int]) -> Leaf:
    return Leaf(c, q, vkh=7, status=1)


def committed(reports: dict[int, Report], epoch: int = 4) -> list[Event]:
    """COMMIT events for an epoch cleared from `state_with` (at epoch 3) by default."""
    return committed_at(reports, epoch)


def first_epoch() -> EpochResult:
    reports, events = first_epoch_orders()
    r = run_epoch(PoolState.genesis(CFG, PRICES), PARAMS, PRICES, events, reports,
                  view_keys=keys_of(reports))
    assert (r.liquidated_mask, r.granted_mask, r.total_collateral) == (0b1000, 0b10, 12_100)
    return r


def at_maintenance_margin(c: int) -> Callable[[], EpochResult]:
    def run() -> EpochResult:  # short 10 A at 100: MM = 100
        r = run_epoch(state_with(member(c, (-10, 0))), PARAMS, PRICES, [], {})
        assert r.slots[1].maintenance_margin == 100 and r.slots[1].liquidated == (c < 100)
        return r
    return run


def at_initial_margin(w: int) -> Callable[[], EpochResult]:
    def run() -> EpochResult:  # MM 100, IM 150: 1000 - w >= 150 is granted
        r = run_epoch(state_with(member(1000, (-10, 0))), PARAMS, PRICES,
                      [Event(Kind.WITHDRAW, 1, w)], {})
        assert r.slots[1].initial_margin == 150 and r.slots[1].withdrawal_granted == (w <= 850)
        return r
    return run


def capped_penalty() -> EpochResult:
    r = run_epoch(state_with(member(105, (-10, 0)), member(15, (-10, 0))), PARAMS, (101, 200),
                  [], {})
    assert [s.penalty for s in r.slots[1:3]] == [11, 5] and r.liquidated_mask == 0b110
    return r


def shortfall() -> EpochResult:
    r = run_epoch(state_with(member(0, (-10, 0))), PARAMS, (101, 200),
                  [Event(Kind.DEPOSIT, 0, 500)], {})
    assert r.slots[1].shortfall == 10
    return r


def house_goes_negative() -> EpochResult:
    # The house holds a short 1000 A (taken over in an earlier liquidation; member 1 is
    # long) with 1000 in cash; A jumps 100 -> 150: its variation margin of -50,000 is more
    # than its collateral (a member's shortfall no longer reaches the house first: the
    # waterfall's later layers cover it, tests/clearing/test_waterfall.py).
    st = state_with(member(10**6, (1000, 0)), house_c=1000)
    r = run_epoch(st, PARAMS, (150, 200), [], {})
    assert r.new.leaves[0].collateral == 1000 - 50_000
    assert r.total_collateral == 1000 + 10**6
    return r


def waterfall_all_layers() -> EpochResult:
    # Member 1 (short 100 A, 50 in the fund, no cash) is wiped out by A 100 -> 110: its
    # contribution, the house's skin (30), the survivors' fund and a haircut of their
    # gains cover the 1,000 (tests/clearing/test_waterfall.py computes it by hand).
    params = replace(PARAMS, df_floor=50, stress_bp=20_000, skin_cap=30)
    leaves = (replace(member(0, (-100, 0)), df=50), replace(member(2000, (60, 0)), df=50),
              replace(member(1000, (40, 0)), df=50))
    st = state_with(*leaves, house_c=200)
    st = replace(st, leaves=(st.leaves[0], *(replace(lf, df=50) for lf in st.leaves[1:])))
    r = run_epoch(st, params, (110, 200), [], {})
    assert (r.layers.own, r.layers.house, r.layers.fund, r.layers.haircut) == (50, 30, 100, 820)
    return r


def cover2_missed() -> EpochResult:
    # Two survivors short of their stress loss (C2 = 70), the fund 3 x 10 after returning
    # the excess, the house's layer 39: missed by one; dfScale next 775.
    params = replace(PARAMS, df_floor=10, stress_bp=20_000, skin_cap=1000)
    st = state_with(member(120, (10, 0)), member(110, (-10, 0)), member(0, (0, 0)),
                    house_c=39)
    st = replace(st, leaves=(st.leaves[0], *(replace(lf, df=50) for lf in st.leaves[1:])),
                 df_scale=1)
    r = run_epoch(st, params, PRICES, [], {})
    assert not r.cover2.met and r.cover2.requirement == 70 and r.new.df_scale > 0
    return r


def flat_with_negative_equity() -> EpochResult:
    # Member 1 (short 10 A, 5 in cash) is wiped out by the move to 101 (VM -10, e0 = -5)
    # and buys back at the settlement price (trade cash 0 >= min(e0, 0) - the rule holds):
    # flat with negative equity, MM 0 > cpre, liquidated, the house absorbs 5.
    st = state_with(member(5, (-10, 0)), member(2000, (0, 0)))
    reports = {1: Report((10, 0), 0, 1), 2: Report((-10, 0), 0, 2)}
    r = run_epoch(st, PARAMS, (101, 200), committed(reports), reports,
                  view_keys=keys_of(reports))
    assert r.slots[1].maintenance_margin == 0 and r.slots[1].liquidated
    assert r.slots[1].shortfall == 5
    return r


def extreme_params() -> EpochResult:
    # IM = MM (factor 1.0) and the full penalty (100 % of MM); a hedge across instruments.
    params = RiskParams.symmetric(2, [1000, 500], im_factor_bp=10_000, penalty_bp=10_000)
    st = state_with(member(60, (10, -4)), member(50, (-10, 0)))
    r = run_epoch(st, params, (101, 199), [Event(Kind.WITHDRAW, 1, 30)], {})
    assert r.granted_mask == 0b10 and r.liquidated_mask == 0b100
    return r


def extreme_magnitudes() -> EpochResult:
    """Every bound at its edge: positions 2^48 - 1, prices near 2^48, shocks -2^16 and
    2^16 - 1, factor 2^16 - 1: losses reach 2^113, MM 2^100; one withdrawal of 2^103."""
    a, s = (1 << 48) - 1, 1 << 16
    params = RiskParams((1 << 16) - 1, bounds.BP, (a, a), (
        (s - 1, -(s - 1)), (-(s - 1), s - 1), (-s, -s), (s - 1, s - 1)))
    st = PoolState(CFG, 7, (Leaf(1 << 100, (0, 0), 0, 1), Leaf(1 << 104, (a, -a), 7, 1),
                            Leaf(1 << 98, (-a, a), 8, 1), Leaf(0, (0, 0))), (a, 1 << 47))
    r = run_epoch(st, params, (a - 1, (1 << 47) + 12345), [Event(Kind.WITHDRAW, 1, 1 << 103)],
                  {})
    assert max(abs(x) for x in r.slots[1].losses).bit_length() == 113
    assert (r.liquidated_mask, r.granted_mask) == (0b100, 0b10)
    return r


def auction(winner: int, bid: int, winner_cash: int = 0,
            prices=PRICES) -> Callable[[], EpochResult]:
    """The house holds 100 A long (slots 1 and 2 are short 60 and 40) and awards it
    (tests/clearing/test_auction.py computes the same pools by hand)."""
    def run() -> EpochResult:
        params = replace(PARAMS, df_floor=50, stress_bp=20_000, skin_cap=30)
        st = state_with(member(5000, (-60, 0)), member(3000, (-40, 0)),
                        member(winner_cash, (0, 0)), house_c=200)
        r = run_epoch(st, params, prices, [], {}, award=Award(winner, bid))
        assert r.award == Award(winner, bid)
        return r
    return run


@pytest.mark.parametrize("scenario", [
    auction(1, -300), auction(2, 100, prices=(103, 200)), auction(3, -300), auction(3, 5000, 100),
    first_epoch, at_maintenance_margin(100), at_maintenance_margin(99), at_initial_margin(850),
    at_initial_margin(851), capped_penalty, shortfall, house_goes_negative,
    flat_with_negative_equity, extreme_params, extreme_magnitudes, waterfall_all_layers,
    cover2_missed,
], ids=["auction-below-mark", "auction-above-mark", "auction-unwound-paid",
        "auction-unwound-beyond-means", "first-epoch", "equity=MM", "equity=MM-1",
        "after-withdrawal=IM",
        "after-withdrawal=IM-1", "capped-penalty", "shortfall", "house-negative",
        "flat-negative-equity", "IM=MM,penalty=100%", "extreme-magnitudes", "waterfall",
        "cover2-missed"])
def test_hand_computed_epochs_are_known_answers(compiled, tmp_path, scenario):
    r = scenario()
    assert public_of(compiled, epoch_circuit_inputs(r), tmp_path) == r.public_signals()


@settings(max_examples=8, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(positions=st.lists(st.tuples(st.integers(-60, 60), st.integers(-60, 60)),
                          min_size=3, max_size=3),
       cash=st.lists(st.integers(-500, 20_000), min_size=3, max_size=3),
       trades=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1),
                                 st.integers(1, 40), st.integers(-5, 5)), max_size=4),
       moves=st.tuples(st.integers(-30, 30), st.integers(-30, 30)),
       flows=st.lists(st.tuples(st.sampled_from([Kind.DEPOSIT, Kind.WITHDRAW]),
                                st.integers(1, 3), st.integers(1, 15_000)), max_size=4))
def test_random_epochs_engine_agrees_with_circuit(compiled, tmp_path, positions, cash, trades,
                                                  moves, flows):
    st0 = state_with(*(member(c, q) for c, q in zip(cash, positions, strict=True)))
    prices = tuple(p + d for p, d in zip(PRICES, moves, strict=True))
    delta, tcash = [[0, 0] for _ in range(4)], [0] * 4
    for buyer, seller, m, size, off in trades:
        if buyer != seller:
            delta[buyer][m] += size
            delta[seller][m] -= size
            tcash[buyer] -= size * off
            tcash[seller] += size * off
    reports = {i: Report(tuple(delta[i]), tcash[i], 100 + i) for i in range(1, 4)
               if any(delta[i]) or tcash[i]}
    events = committed(reports)
    asked: set[tuple[Kind, int]] = set()
    for kind, slot, v in flows:
        if (kind, slot) in asked:
            continue  # one deposit and one request per slot and epoch
        asked.add((kind, slot))
        events.append(Event(kind, slot, v))
    try:
        r = run_epoch(st0, PARAMS, prices, events, reports, view_keys=keys_of(reports))
    except EpochError:
        assume(False)
    assert public_of(compiled, epoch_circuit_inputs(r), tmp_path) == r.public_signals()


# -- soundness: liquidation, withdrawals, penalties, totals ---------------------------------

def test_cannot_liquidate_a_solvent_member(compiled, story, e2, tmp_path):
    r = story[1]
    forge_masks(e2, r, r.liquidated_mask | 0b10, r.granted_mask)  # slot 1 is solvent
    fails_at(compiled, e2, tmp_path, "Epoch", **at_epoch("liquidatedMask[w] === liqMask[w]"))


def test_cannot_keep_an_insolvent_member(compiled, story, e2, tmp_path):
    r = story[1]  # slot 2 is below maintenance margin
    forge_masks(e2, r, r.liquidated_mask & ~0b100, r.granted_mask)
    fails_at(compiled, e2, tmp_path, "Epoch", **at_epoch("liquidatedMask[w] === liqMask[w]"))


def test_house_is_never_liquidated(compiled, story, e2, tmp_path):
    r = story[1]
    forge_masks(e2, r, r.liquidated_mask | 0b1, r.granted_mask)
    fails_at(compiled, e2, tmp_path, "Epoch", **at_epoch("liquidatedMask[w] === liqMask[w]"))


def test_cannot_grant_a_withdrawal_that_breaks_initial_margin(compiled, story, e1, tmp_path):
    r = story[0]  # slot 3's request would leave half its IM
    forge_masks(e1, r, r.liquidated_mask, r.granted_mask | 0b1000)
    fails_at(compiled, e1, tmp_path, "Epoch", **at_epoch("grantedMask[w] === grantMask[w]"))


def test_cannot_refuse_a_covered_withdrawal(compiled, story, e2, tmp_path):
    r = story[1]
    forge_masks(e2, r, r.liquidated_mask, r.granted_mask & ~0b10)
    fails_at(compiled, e2, tmp_path, "Epoch", **at_epoch("grantedMask[w] === grantMask[w]"))


def test_the_published_masks_are_the_circuits(compiled, story, e2, tmp_path):
    """The masks are exit-data words: a published D whose granted word differs from the
    witness's masks (with the witness's rho) has another exitSum, which fails."""
    r = story[1]
    d = r.exit_data()
    d[-1] ^= 0b10  # slot 1's grant dropped from the published data only
    e2["exitSum"] = public.exit_sum(d, r.rho)
    fails_at(compiled, e2, tmp_path, "Epoch", **at_epoch("exitSum === horner[0];"))


def test_wrong_total_collateral(compiled, e1, tmp_path):
    e1["totalCollateral"] += 1
    fails_at(compiled, e1, tmp_path, "Epoch", **at_epoch("totalCollateral === total;"))


def test_packed_public_signals_bind_their_values(compiled, e1, e2, tmp_path):
    """epochInfo and fundInfo are packed private values, and only one decomposition of
    each word passes: every field is bound on its own (nEvents by the accumulator, the
    total by conservation, rho by the exit sum) and range-checked, so no other split of
    the same word has a witness."""
    assert public.unpack([e1[k] for k in EpochResult.PUBLIC_NAMES])["epoch"] == 1
    bad = copy.deepcopy(e1)
    bad["epochInfo"] += 1  # another epoch number than the one the reports were opened with
    fails_at(compiled, bad, tmp_path, "Epoch", **at_epoch("epochInfo === epoch"))
    bad = copy.deepcopy(e2)
    bad["fundInfo"] = int(bad["fundInfo"]) ^ 1 << 33  # another rho than the witness's
    fails_at(compiled, bad, tmp_path, "Epoch", **at_epoch("fundInfo === dfScale"))
    # Same word, other split: epoch + 2^64, nEvents - 1 (the count is the accumulator's).
    bad = copy.deepcopy(e2)
    bad["epoch"] += 1 << bounds.EPOCH_BITS
    bad["nEvents"] -= 1
    assert bad["epoch"] + (bad["nEvents"] << 64) + (bad["totalCollateral"] << 80) == \
        bad["epochInfo"]
    # The epoch >= 2^64 is refused by the first range check it meets (the expiry
    # comparison's bits); with it in range, the shorter count by the accumulator.
    fails_at(compiled, bad, tmp_path, "Num2Bits")
    bad["epoch"] -= 1 << bounds.EPOCH_BITS
    bad["epochInfo"] -= 1 << bounds.EPOCH_BITS
    fails_at(compiled, bad, tmp_path, "EventAccumulator")


def test_changed_penalty_breaks_the_new_root(compiled, tmp_path):
    """Claim a state where a liquidated member paid one unit less penalty."""
    r = capped_penalty()
    inputs = epoch_circuit_inputs(r)
    leaves = list(r.new.leaves)
    lf, house = leaves[1], leaves[0]
    leaves[1] = replace(lf, collateral=lf.collateral + 1)
    leaves[0] = replace(house, collateral=house.collateral - 1)
    inputs["newRoot"] = merkle_root([x.hash() for x in leaves])  # the total is unchanged
    fails_at(compiled, inputs, tmp_path, "Epoch", **at_epoch("newRoot === newRootIn;"))


def test_liquidated_positions_must_go_to_the_house(compiled, story, e2, tmp_path):
    leaves = list(story[1].new.leaves)
    lf, house = leaves[2], leaves[0]
    q2 = story[1].slots[2].before.positions
    assert any(q2) and not any(lf.positions)
    leaves[2] = Leaf(lf.collateral, q2, lf.vkh, lf.status, lf.nonce)  # kept its position
    leaves[0] = Leaf(house.collateral, tuple(h - q for h, q in zip(house.positions, q2,
                                                                  strict=True)),
                     house.vkh, house.status, house.nonce)
    e2["newRoot"] = merkle_root([x.hash() for x in leaves])  # positions still net
    fails_at(compiled, e2, tmp_path, "Epoch", **at_epoch("newRoot === newRootIn;"))


# -- soundness: reports and netting -----------------------------------------------------------

def test_positions_must_net(compiled, e1, tmp_path):
    e1["delta"][1][0] = (e1["delta"][1][0] + 1) % P
    recommit(e1, 1)
    fails_at(compiled, e1, tmp_path, "ColumnSumsAreZero", LIB / "conserve.circom", "s === 0;")


def test_trade_cash_must_net(compiled, e1, tmp_path):
    e1["tradeCash"][1] = (e1["tradeCash"][1] + 1) % P
    recommit(e1, 1)
    fails_at(compiled, e1, tmp_path, "SumIsZero", LIB / "conserve.circom", "s === 0;")


def test_old_positions_must_net(compiled, e2, tmp_path):
    e2["q"][1][0] = (e2["q"][1][0] + 1) % P  # a state the operator made up
    reroot_old(e2)
    fails_at(compiled, e2, tmp_path, "ColumnSumsAreZero", LIB / "conserve.circom", "s === 0;")


COMMITMENT_CHECK = "hasReport * (cipher.commitment - commit) === 0;"


def test_report_must_be_the_committed_one(compiled, e1, tmp_path):
    # A different report than the committed ciphertext's: delta changed (still nets),
    # C unchanged. The ciphertext the auditor decrypts can never differ from what was
    # cleared.
    e1["delta"][1][0] = (e1["delta"][1][0] + 1) % P
    e1["delta"][3][0] = (e1["delta"][3][0] - 1) % P
    fails_at(compiled, e1, tmp_path, "OpenReport", LIB / "epoch_slot.circom", COMMITMENT_CHECK)


def test_committed_ciphertext_is_recomputed_not_trusted(compiled, story, e1, tmp_path):
    # The witness's ciphertext is the one the circuit computes from the report and the
    # epoch key, so a published ciphertext that differs from it (another body, another
    # tag, another epoch's key) has a commitment the circuit refuses.
    ct = ciphertext_of(e1, 1)
    assert ct.commitment() == story[0].events.per_slot[1].commitment  # the genuine one
    tampered = [
        poseidon_chain([*ct.ct[:-1], (ct.ct[-1] + 1) % P, ct.tag]),  # body changed
        poseidon_chain([*ct.ct, (ct.tag + 1) % P]),  # tag changed
        encrypt(epoch_key(e1["viewKey"][1], 2), [*e1["delta"][1], e1["tradeCash"][1],
                                                 e1["salt"][1]]).commitment(),  # epoch 2 key
    ]
    for c in tampered:
        bad = copy.deepcopy(e1)
        set_commit(bad, 1, c)
        fails_at(compiled, bad, tmp_path, "OpenReport", LIB / "epoch_slot.circom",
                 COMMITMENT_CHECK)


def test_view_key_must_be_the_registered_one(compiled, e1, tmp_path):
    # Another key with a matching commitment: the operator encrypts the report under a key
    # it made up. Poseidon(K) must be the slot's vkh', so the ciphertext is one the
    # member's real key (and the auditor's copy of it) decrypts.
    e1["viewKey"][1] = KEYS[200].key.reveal()
    recommit(e1, 1)
    fails_at(compiled, e1, tmp_path, "SlotKey", LIB / "epoch_slot.circom",
             "uses * (keyHash - vkh) === 0;")


def test_off_market_drain_has_no_witness(compiled, e1, tmp_path):
    """Issue 13's drain: two members move cash between them with an off-market price so
    that one's trade loss exceeds its equity and the house absorbs the shortfall. The
    reports are committed correctly (the members collude); the trade-cash rule
    cpre >= min(e0, 0) has no witness."""
    e0 = (e1["c"][3] + sum(e1["q"][3][m] * (e1["price"][m] - e1["pricePrev"][m])
                            for m in range(2)))
    deposits = sum(e1["evValue"][j] for j in range(e1["nEvents"])
                   if e1["evKind"][j] == Kind.DEPOSIT and e1["evSlot"][j] == 3)
    loss = e0 + deposits + (e1["tradeCash"][3] if e1["tradeCash"][3] < P // 2
                            else e1["tradeCash"][3] - P) + 1
    # slot 3 pays `loss` more to slot 1: its equity ends at -1 while it was >= 0 before trades
    e1["tradeCash"][3] = (e1["tradeCash"][3] - loss) % P
    e1["tradeCash"][1] = (e1["tradeCash"][1] + loss) % P
    recommit(e1, 1)
    recommit(e1, 3)
    fails_at(compiled, e1, tmp_path, "Num2Bits", None, None)


def test_deterministic_nonces_cannot_be_replaced(compiled, e1, tmp_path):
    """A blinded leaf's nonce is Poseidon(K_e, 0): the operator cannot choose another (the
    member could no longer open its leaf after a freeze), nor blind a slot with a key that
    is not the registered one, nor blind a non-member's leaf."""
    assert e1["blind"][1] == 1
    bad = copy.deepcopy(e1)
    bad["viewKey"][1] = KEYS[200].key.reveal()
    fails_at(compiled, bad, tmp_path, "SlotKey", LIB / "epoch_slot.circom",
             "uses * (keyHash - vkh) === 0;")
    bad = copy.deepcopy(e1)
    bad["blind"][1] = 2
    fails_at(compiled, bad, tmp_path, "SlotKey", LIB / "epoch_slot.circom",
             "blind * (1 - blind) === 0;")


def test_exit_sum_binds_the_exit_data(compiled, story, e2, tmp_path):
    """exitSum is sum_j D[j] rho^j over the real new leaves and house collateral: another
    exit data (as a contract would compute it) gives a different exitSum, which fails."""
    r = story[1]
    d = r.exit_data()
    d[1] = (d[1] + 1) % P
    e2["exitSum"] = public.exit_sum(d, r.rho)
    fails_at(compiled, e2, tmp_path, "Epoch", **at_epoch("exitSum === horner[0];"))


def test_no_withdrawal_is_granted_while_the_house_is_negative(compiled, tmp_path):
    # The house goes negative in this epoch (its own short position); member 1's covered
    # withdrawal is refused by the pool rule, and granting it has no witness.
    st = state_with(member(10**6, (1000, 0)), house_c=1000)
    r = run_epoch(st, PARAMS, (150, 200), [Event(Kind.WITHDRAW, 1, 1000)], {})
    assert r.new.leaves[0].collateral < 0 and r.granted_mask == 0
    assert not r.slots[1].withdrawal_granted and r.slots[1].initial_margin < 10**6 - 1000
    inputs = epoch_circuit_inputs(r)
    assert public_of(compiled, inputs, tmp_path) == r.public_signals()
    forged = copy.deepcopy(inputs)
    forge_masks(forged, r, r.liquidated_mask, 0b10)
    fails_at(compiled, forged, tmp_path, "Epoch", **at_epoch("grantedMask[w] === grantMask[w];"))


def test_no_commitment_means_no_trades(compiled, e2, tmp_path):
    e2["delta"][1] = [1, 0]
    e2["delta"][3] = [P - 1, 0]  # nets, but neither slot committed this epoch
    fails_at(compiled, e2, tmp_path, "OpenReport", LIB / "epoch_slot.circom",
             "none * delta[m] === 0;")


@pytest.mark.parametrize("bad", [1 << 48, -(1 << 48) - 1, (P - 1) // 2])
def test_delta_out_of_range_is_refused(compiled, e1, tmp_path, bad):
    # Slot 1's change leaves the DELTA range and slot 3 takes the difference, so netting
    # and both commitments still hold: only the range check can refuse it.
    old = e1["delta"][1][0]
    e1["delta"][1][0] = bad % P
    e1["delta"][3][0] = (e1["delta"][3][0] + old - bad) % P
    recommit(e1, 1)
    recommit(e1, 3)
    fails_at(compiled, e1, tmp_path, "Num2Bits")


def test_position_limit_is_enforced(compiled, story, e1, tmp_path):
    biggest = max(abs(q) for s in story[0].slots[1:] for q in s.after.positions)
    e1["posLimit"] = [biggest - 1] * 2
    rehash_params(e1)
    fails_at(compiled, e1, tmp_path, "Num2Bits")


def test_a_lowered_limit_binds_increases_only(compiled, tmp_path):
    # Held 10 / -10, limit lowered to 5: trading down to 7 / -7 is provable ...
    params = RiskParams.symmetric(2, [1000, 500], position_limit=5)
    st = state_with(member(10**6, (10, 0)), member(10**6, (-10, 0)))
    down = {1: Report((-3, 0), 0, 1), 2: Report((3, 0), 0, 2)}
    r = run_epoch(st, params, PRICES, committed(down), down, view_keys=keys_of(down))
    inputs = epoch_circuit_inputs(r)
    assert public_of(compiled, inputs, tmp_path) == r.public_signals()
    # ... trading up to 11 is not, although it nets and is committed.
    inputs["delta"][1] = [1, 0]
    inputs["delta"][2] = [P - 1, 0]
    recommit(inputs, 1)
    recommit(inputs, 2)
    fails_at(compiled, inputs, tmp_path, "Num2Bits")


def test_cash_out_of_range_is_refused(compiled, tmp_path):
    # cpre = c + deposit must stay below 2^CASH_BITS; the engine refuses it, so forge it.
    top = (1 << bounds.CASH_BITS) - 10
    r = run_epoch(state_with(member(top, (0, 0))), PARAMS, PRICES,
                  [Event(Kind.DEPOSIT, 1, 5)], {})
    inputs = epoch_circuit_inputs(r)
    inputs["evValue"][0] = inputs["evLayout"][1][Kind.DEPOSIT - 1] = 20
    reaccumulate(inputs)
    with pytest.raises(EpochError, match="collateral"):
        run_epoch(r.old, PARAMS, PRICES, [Event(Kind.DEPOSIT, 1, 20)], {})
    fails_at(compiled, inputs, tmp_path, "Num2Bits")


# -- soundness: roots, hashes, events -----------------------------------------------------------

def test_wrong_new_root(compiled, e2, tmp_path):
    e2["newRoot"] = (e2["newRoot"] + 1) % P
    fails_at(compiled, e2, tmp_path, "Epoch", **at_epoch("newRoot === newRootIn;"))


def test_wrong_old_root(compiled, e1, tmp_path):
    e1["oldRoot"] = (e1["oldRoot"] + 1) % P
    fails_at(compiled, e1, tmp_path, "Epoch", **at_epoch("oldRoot === oldRootIn;"))


@pytest.mark.parametrize(("public", "snippet"), [
    ("paramsHash", "paramsHash === paramsHashIn;"),
    ("pricesHash", "pricesHash === pricesHashIn;"),
    ("pricesPrevHash", "pricesPrevHash === pricesPrevHashIn;"),
])
def test_wrong_params_or_prices_hash(compiled, e1, tmp_path, public, snippet):
    e1[public] = (e1[public] + 1) % P
    fails_at(compiled, e1, tmp_path, "Epoch", **at_epoch(snippet))


def test_params_and_prices_must_be_the_hashed_ones(compiled, e1, tmp_path):
    bad = copy.deepcopy(e1)
    bad["penaltyBp"] = 0  # a cheaper penalty than governance set
    fails_at(compiled, bad, tmp_path, "Epoch", **at_epoch("paramsHash === paramsHashIn;"))
    bad = copy.deepcopy(e1)
    bad["price"][0] += 1
    fails_at(compiled, bad, tmp_path, "Epoch", **at_epoch("pricesHash === pricesHashIn;"))


@pytest.mark.parametrize(("name", "value"), [
    ("penaltyBp", bounds.BP + 1), ("imFactorBp", bounds.BP - 1), ("imFactorBp", 1 << 16),
    ("posLimit", 0), ("posLimit", 1 << 48), ("shock", 1 << 16), ("shock", P - (1 << 16) - 1),
    ("price", 0), ("price", 1 << 48), ("pricePrev", 0),
])
def test_params_and_prices_out_of_bounds_are_refused_even_when_hashed(compiled, e1, tmp_path,
                                                                      name, value):
    if name in ("posLimit", "price", "pricePrev"):
        e1[name][0] = value
    elif name == "shock":
        e1[name][0][0] = value
    else:
        e1[name] = value
    rehash_params(e1)
    rehash_prices(e1)
    fails_at(compiled, e1, tmp_path, "Num2Bits")


def test_wrong_events_accumulator(compiled, e1, tmp_path):
    e1["eventsAcc"] = (e1["eventsAcc"] + 1) % P
    fails_at(compiled, e1, tmp_path, "Epoch", **at_epoch("eventsAcc === acc.acc;"))


def test_events_must_be_the_accumulated_ones(compiled, e1, tmp_path):
    e1["evValue"][0] = (e1["evValue"][0] + 1) % P  # a changed registration
    fails_at(compiled, e1, tmp_path, "Epoch", **at_epoch("eventsAcc === acc.acc;"))


def test_event_after_nEvents_is_refused(compiled, e1, tmp_path):
    n = e1["nEvents"]
    e1["evKind"][n], e1["evSlot"][n], e1["evValue"][n] = int(Kind.DEPOSIT), 1, 5  # hidden
    fails_at(compiled, e1, tmp_path, "EventAccumulator", LIB / "events.circom",
             "(1 - active[j]) * kind[j] === 0;")


def test_dropping_an_event_by_lowering_nEvents_is_refused(compiled, e1, tmp_path):
    e1["nEvents"] -= 1  # slot 3's WITHDRAW is last: it would silently vanish
    reaccumulate(e1)
    fails_at(compiled, e1, tmp_path, "EventAccumulator", LIB / "events.circom",
             "(1 - active[j]) * kind[j] === 0;")


def test_nEvents_above_capacity_is_refused(compiled, e2, tmp_path):
    e2["nEvents"] = CFG.max_events + 1
    fails_at(compiled, e2, tmp_path, "PrefixMask", LIB / "events.circom", "count === n;")


HOUSE, MEMBER, STRANGER = 0, 1, 3  # in epoch 2 of the story everyone is registered


@pytest.mark.parametrize(("kind", "slot", "value", "template"), [
    (5, MEMBER, 1, "EventsByLayout"),  # no such kind: no place in the layout
    (int(Kind.DEPOSIT), 4, 1, "EventsByLayout"),  # slot >= N
    (int(Kind.COMMIT), MEMBER, 0, "EventsByLayout"),  # a zero commitment is "no report"
    (int(Kind.DEPOSIT), MEMBER, 0, "EventsByLayout"),
    (int(Kind.DEPOSIT), MEMBER, 1 << 120, "Num2Bits"),
    (int(Kind.DEPOSIT), MEMBER, P - 5, "Num2Bits"),  # a negative deposit
    (int(Kind.WITHDRAW), MEMBER, 5, "EventsByLayout"),  # slot 1 already asked
    (int(Kind.WITHDRAW), HOUSE, 5, "EventsByLayout"),
    (int(Kind.REGISTER), HOUSE, 9, None),  # fine on its own; a second one below
])
def test_event_rules(compiled, e2, tmp_path, kind, slot, value, template):
    add_event(e2, kind, slot, value)
    if template is None:
        add_event(e2, kind, slot, value + 1)
        template = "EventsByLayout"
    fails_at(compiled, e2, tmp_path, template)


def test_one_commitment_per_slot_and_none_for_the_house(compiled, e1, tmp_path):
    bad = copy.deepcopy(e1)
    add_event(bad, int(Kind.COMMIT), 1, 12345)  # the layout has room for one
    fails_at(compiled, bad, tmp_path, "EventsByLayout", LIB / "events.circom",
             "prodE[E] === prodL[4 * N];")
    bad = copy.deepcopy(e1)
    add_event(bad, int(Kind.COMMIT), 0, 12345)
    fails_at(compiled, bad, tmp_path, "EventsByLayout", LIB / "events.circom",
             "commit[0] === 0;")


def test_the_layout_is_exactly_the_chains_events(compiled, e1, e2, tmp_path):
    """The layout the prover supplies can neither add an event the chain does not have,
    drop one it has, nor change a value: each fails the grand product."""
    assert e1["evLayout"][1][0] and e1["evLayout"][2][1] == 6000 and not e2["evLayout"][1][1]
    cases = []
    bad = copy.deepcopy(e1)
    bad["evLayout"][1][0] = 0  # slot 1's commitment dropped
    cases.append(bad)
    bad = copy.deepcopy(e1)
    bad["evLayout"][2][1] = 6001  # slot 2's deposit altered
    cases.append(bad)
    bad = copy.deepcopy(e2)
    bad["evLayout"][1][1] = 77  # a deposit the chain does not have
    cases.append(bad)
    for bad in cases:
        fails_at(compiled, bad, tmp_path, "EventsByLayout", LIB / "events.circom",
                 "prodE[E] === prodL[4 * N];")


def test_only_members_deposit(compiled, tmp_path):
    r = run_epoch(state_with(member(100, (0, 0))), PARAMS, PRICES, [], {})
    inputs = epoch_circuit_inputs(r)
    add_event(inputs, int(Kind.DEPOSIT), STRANGER, 100)  # slot 3 never registered
    inputs["totalCollateral"] += 100
    fails_at(compiled, inputs, tmp_path, "Epoch",
             **at_epoch("(1 - statusNew[i]) * ev.deposit[i] === 0;"))


def test_status_must_be_a_bit(compiled, e2, tmp_path):
    e2["status"][3] = 2
    reroot_old(e2)
    fails_at(compiled, e2, tmp_path, "Epoch", **at_epoch("status[i] * (1 - status[i]) === 0;"))


# -- library templates at their edges ----------------------------------------------------------

def test_ceil_division_at_its_edges(tmp_path):
    b, d = 20, bounds.BP
    compiled = compile_circuit(Circuit("ceil_div_test", LIB / "divide.circom", "CeilDivConst",
                                       (b, d)))
    for x in (0, 1, d - 1, d, d + 1, 5 * d, (1 << b) - 1):
        calculate_witness(compiled, {"in": x}, tmp_path / "w.wtns")
        assert read_witness(tmp_path / "w.wtns")[1] == -(-x // d), x
    # The quotient has 7 bits (ceil((2^20 - 1) / 10^4) = 105 < 2^7): a larger one has no
    # witness, whatever the input.
    calculate_witness(compiled, {"in": 127 * d}, tmp_path / "w.wtns")
    with pytest.raises(WitnessError):
        calculate_witness(compiled, {"in": 127 * d + 1}, tmp_path / "w.wtns")


def test_sign_bit_is_a_range_check_at_its_edges(tmp_path):
    b = 8
    compiled = compile_circuit(Circuit("sign_bit_test", LIB / "compare.circom", "SignBit", (b,)))
    for x, neg in ((-(1 << b), 1), (-1, 1), (0, 0), ((1 << b) - 1, 0)):
        calculate_witness(compiled, {"in": x % P}, tmp_path / "w.wtns")
        assert read_witness(tmp_path / "w.wtns")[1] == neg, x
    for x in (1 << b, -(1 << b) - 1, (P - 1) // 2):
        with pytest.raises(WitnessError):
            calculate_witness(compiled, {"in": x % P}, tmp_path / "w.wtns")


# -- the default fund's constraint groups (docs/protocol.md, "Default fund") -------------

@pytest.mark.parametrize(("word", "delta", "snippet"), [
    ("fundInfo", 1 << 16, "fundInfo === dfScale + cover.scaleNext"),  # dfScaleNext + 1
    ("fundInfo", 1 << 32, "fundInfo === dfScale + cover.scaleNext"),  # Cover-2 met flipped
    ("layersA", 1, "layersA === wf.O + wf.hUse"),  # less of the defaulter's own
    ("layersA", -(1 << 126), "layersA === wf.O + wf.hUse"),  # less skin in the game
    ("layersB", -(1 << 126), "layersB === wf.fUse + wf.hcUse"),  # a smaller haircut
    ("layersB", 1, "layersB === wf.fUse + wf.hcUse"),  # more of the survivors' fund
    ("fundTotals", 1, "fundTotals === wf.F + wf.G"),  # another fund base
])
def test_waterfall_words_are_the_proven_ones(compiled, tmp_path, word, delta, snippet):
    """Every amount of the waterfall and Cover-2 is what the circuit computes: a word
    claiming another value has no witness."""
    inputs = epoch_circuit_inputs(waterfall_all_layers())
    inputs[word] = (inputs[word] + delta) % P
    fails_at(compiled, inputs, tmp_path, "Epoch", **at_epoch(snippet))


def test_the_proof_is_cleared_with_the_contracts_df_scale(compiled, tmp_path):
    """dfScale is the public word's (the contract checks it): clearing with another scale
    changes every call, so the published fund totals (and the new root) no longer follow."""
    params = replace(PARAMS, df_floor=10, stress_bp=20_000)
    st = replace(state_with(member(1000, (10, 0)), member(1000, (-10, 0))), df_scale=5000)
    r = run_epoch(st, params, PRICES, [], {})
    assert [s.figures.required for s in r.slots[1:3]] == [100, 100]  # 5000 bp of ST 200
    inputs = epoch_circuit_inputs(r)
    assert public_of(compiled, inputs, tmp_path) == r.public_signals()
    inputs["dfScale"] = 0
    inputs["fundInfo"] = public.fund_info(0, r.new.df_scale, int(r.cover2.met), r.rho)
    fails_at(compiled, inputs, tmp_path, "Epoch", **at_epoch("fundTotals === wf.F + wf.G"))


def test_a_withdrawal_with_an_unmet_call_has_no_witness(compiled, tmp_path):
    params = replace(PARAMS, df_floor=50)
    st = state_with(member(120, (10, 0)))
    r = run_epoch(st, params, PRICES, [Event(Kind.WITHDRAW, 1, 1)], {})
    assert not r.slots[1].figures.call_met and r.granted_mask == 0
    inputs = epoch_circuit_inputs(r)
    assert public_of(compiled, inputs, tmp_path) == r.public_signals()
    forge_masks(inputs, r, r.liquidated_mask, 0b10)
    fails_at(compiled, inputs, tmp_path, "Epoch", **at_epoch("grantedMask[w] === grantMask[w];"))


def test_ceil_div_var_is_the_ceiling_or_zero(tmp_path):
    """CeilDivVar(num, den): ceil(num / den), 0 for den = 0 (callers give num = 0 then),
    and no witness for a quotient beyond its bound."""
    compiled = compile_circuit(Circuit("ceil_div_var_test", LIB / "waterfall.circom",
                                       "CeilDivVar", (12, 6, 7)))
    for num, den in ((0, 0), (0, 5), (1, 5), (5, 5), (6, 5), (63 * 64 - 1, 63), (40, 1)):
        calculate_witness(compiled, {"num": num, "den": den}, tmp_path / "w.wtns")
        want = -(-num // den) if den else 0
        assert read_witness(tmp_path / "w.wtns")[1] == want, (num, den)
    with pytest.raises(WitnessError):  # 200 >= 2^7
        calculate_witness(compiled, {"num": 200, "den": 1}, tmp_path / "w.wtns")


# -- the prefix-mask hint against the R1CS, for every assignment -------------------------------

def test_prefix_mask_admits_only_the_prefix(tmp_path):
    """PrefixMask(E): the hinted bits satisfy the R1CS only as the first n of E, n <= E."""
    e = 4
    compiled = compile_circuit(Circuit("prefix_mask_test", LIB / "events.circom", "PrefixMask",
                                       (e,), public=("n",)))
    r1cs = r1cs_eval.load(compiled.paths.r1cs, compiled.paths.sym)
    calculate_witness(compiled, {"n": 2}, tmp_path / "w.wtns")
    honest = read_witness(tmp_path / "w.wtns")
    assert r1cs.holds(honest)
    wires = [r1cs.wires["n"]] + [r1cs.wires[f"active[{j}]"] for j in range(e)]
    assert set(range(r1cs.n_wires)) == {0, *wires}  # nothing else to forge
    accepted = []
    for n in range(e + 3):
        for bits in itertools.product((0, 1, 2, P - 1), repeat=e):
            w = list(honest)
            for wire, v in zip(wires, (n, *bits), strict=True):
                w[wire] = v
            if r1cs.holds(w):
                accepted.append((n, bits))
    assert accepted == [(n, tuple(int(j < n) for j in range(e))) for n in range(e + 1)]


# -- proofs -------------------------------------------------------------------------------------

def _prove_story(cfg: PoolConfig) -> None:
    from zkclear.prover.keys import dev_setup
    from zkclear.prover.prove import prove
    from zkclear.prover.prove import verify as snarkjs_verify
    from zkclear.verifier import Proof, VerifyingKey, verify

    compiled = compile_circuit(registry.epoch(cfg.n_slots, cfg.n_instruments, cfg.n_scenarios))
    keys = dev_setup(compiled)
    vk = VerifyingKey.from_json(keys.vkey)
    for r in run_story(cfg):
        res = prove(keys, epoch_circuit_inputs(r))
        assert res.public == r.public_signals()
        assert verify(vk, Proof.from_json(res.proof), res.public)
        assert snarkjs_verify(keys.vkey, res.public, res.proof)
    # The proof is bound to every public input: each one changed is refused, the packed
    # epoch number and liquidation mask included.
    proof = Proof.from_json(res.proof)
    for index in range(len(res.public)):
        tampered = list(res.public)
        tampered[index] = (tampered[index] ^ 0b10) % P
        assert not snarkjs_verify(keys.vkey, tampered, res.proof), index
    assert not verify(vk, proof, [*res.public[:2], res.public[2] + 1, *res.public[3:]])


def test_story_is_proven_and_verified_at_n4():
    _prove_story(CFG)


@pytest.mark.heavy
def test_story_is_proven_and_verified_at_n16_m4_k8():
    _prove_story(PoolConfig(16, 4, 8))


# -- soundness: the auction of the house's lot ----------------------------------------------

@pytest.fixture
def awarded() -> dict:
    return copy.deepcopy(epoch_circuit_inputs(auction(3, -300)()))


def set_award(inputs: dict, winner: int) -> None:
    """The award to `winner` in both the private fields and the public word."""
    word = int(inputs["auction"])
    inputs["auction"] = word + 4 * (winner - inputs["winner"])
    inputs["winner"] = winner


def test_the_house_cannot_win_its_own_lot(compiled, awarded, tmp_path):
    set_award(awarded, 0)
    fails_at(compiled, awarded, tmp_path, "Epoch", **at_epoch("isWinner.out[0] * awarded === 0"))


def test_only_a_member_wins(compiled, tmp_path):
    r = auction(3, -300)()
    inputs = epoch_circuit_inputs(r)
    # Slot 3 is a member in `r`; make the old leaf a non-member (status 0) and re-root.
    inputs["status"][3] = 0
    reroot_old(inputs)
    fails_at(compiled, inputs, tmp_path, "Epoch",
             **at_epoch("(1 - statusNew[i]) * win[i] === 0"))


def test_the_award_cannot_be_dropped(compiled, awarded, tmp_path):
    # Without the award the lot stays with the house and the winner is not liquidated:
    # the published outcome (and the word the contract set, awarded = 1) no longer holds.
    awarded["awarded"] = 0
    fails_at(compiled, awarded, tmp_path, "Epoch")
    awarded["liquidatedMask"] = [0]
    fails_at(compiled, awarded, tmp_path, "Epoch")


def test_the_lot_margin_cannot_be_understated(compiled, awarded, tmp_path):
    awarded["auction"] = int(awarded["auction"]) - (1 << 123)  # lotMM - 1
    fails_at(compiled, awarded, tmp_path, "Epoch", **at_epoch("auction === awarded"))


def test_a_bid_is_a_bounded_amount(compiled, awarded, tmp_path):
    awarded["bidAbs"] = 1 << 112
    awarded["auction"] = int(awarded["auction"]) + ((1 << 112) - 300) * (1 << 10)
    fails_at(compiled, awarded, tmp_path, "Num2Bits")


def test_masks_in_several_words(story, tmp_path):
    """The masks' multi-word layout inside the circuit. At the real width (128 slots a
    word) a mask needs a second word only at N = 256, far too large to compile here; with
    2-slot words the N = 4 circuit has two words a mask and runs the same code: epoch 2 of
    the story (slot 2 liquidated: word 1; slot 1 granted: word 0) proves with the exit
    data the contract would derive the challenge from, and a word moved fails."""
    base = registry.epoch(4, 2, 4)
    narrow = compile_circuit(replace(base, params=(*base.params[:-1], 2)))
    r = story[1]
    d = public.exit_data(r.new.exit_leaves(), r.liquidated_mask, r.granted_mask, 4, word_bits=2)
    assert d[5:] == [0, 0b01, 0b10, 0]
    rho = public.exit_challenge(r.epoch, r.new.root(), d)
    v = r.public_values() | {"rho": rho, "exitSum": public.exit_sum(d, rho)}
    inputs = epoch_circuit_inputs(r)
    inputs["liquidatedMask"], inputs["grantedMask"] = d[5:7], d[7:9]
    inputs["rho"], inputs["exitSum"] = rho, v["exitSum"]
    inputs["fundInfo"] = public.fund_info(v["dfScale"], v["dfScaleNext"], v["cover2Met"], rho)
    assert public_of(narrow, inputs, tmp_path) == public.pack(v)
    moved = copy.deepcopy(inputs)
    moved["liquidatedMask"] = [0b01, 0]  # slot 0 instead of slot 2
    fails_at(narrow, moved, tmp_path, "Epoch", **at_epoch("liquidatedMask[w] === liqMask[w]"))
