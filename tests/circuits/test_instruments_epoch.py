"""Perpetual funding, expiry and final settlement, and option risk arrays in the engine
and the epoch circuit (docs/protocol.md, "Instruments").

Known answers by hand on a pool of N=4 slots and M=2 instruments; the circuit accepts
exactly the engine's epochs (random pools mixing every kind), and refuses a witness that
breaks each new constraint group: funding not the oracle's, a trade in a settled
instrument, a risk array not matching its hash, a non-option row, an array out of range.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from zkclear import paths
from zkclear.clearing.epoch import EpochError, EpochResult, maintenance_margin, run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.instruments import Instrument, InstrumentError, prices_hash, risk_arrays_hash
from zkclear.clearing.instruments import Kind as IKind
from zkclear.clearing.margin import MarginError, portfolio_margins
from zkclear.clearing.params import ParamsError, PoolConfig, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.state import PoolState
from zkclear.clearing.witness import epoch_circuit_inputs
from zkclear.errors import WitnessError
from zkclear.field import P
from zkclear.prover import registry
from zkclear.prover.binfile import read_witness
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.prove import calculate_witness

from ..clearing.helpers import committed, keys_of, registered
from .test_epoch_circuit import recommit

CFG = PoolConfig(4, 2, 4)
SHOCKS = ((1000, 1000), (-1000, -1000), (2000, 2000), (-2000, -2000))


def params(*table: Instrument) -> RiskParams:
    return RiskParams(15_000, 1_000, (10**6, 10**6), SHOCKS, table)


PERP = params(Instrument(IKind.PERPETUAL), Instrument())
DATED = params(Instrument(IKind.DATED, expiry=2), Instrument())
CALL = Instrument(IKind.OPTION, expiry=2, underlying=0, strike=1_000, call=True)
PUT = Instrument(IKind.OPTION, expiry=2, underlying=0, strike=1_000, call=False)
OPTIONS = params(Instrument(), CALL)
#: The option's risk array in 1/10000 tick per long lot (loss positive): it loses when the
#: underlying falls (scenarios 1 and 3) and gains when it rises.
ARRAY = (-300_000, 250_000, -650_000, 450_000)


def opened(prices, reports, deposits, p=PERP, **market) -> EpochResult:
    """Epoch 1 from genesis: slots 1-3 register, deposit and trade."""
    s0 = PoolState.genesis(CFG, prices)
    events = registered((1, 2, 3))
    events += [Event(Kind.DEPOSIT, i, d) for i, d in deposits.items()]
    events += committed(reports, 1)
    return run_epoch(s0, p, prices, events, reports, view_keys=keys_of(reports), **market)


def test_funding_over_two_epochs_moves_cash_from_longs_to_shorts():
    # slot 1 long 10 perpetuals, slot 2 short 10; the mark never moves
    e1 = opened((1_000, 500), {1: Report((10, 0), 0, 1), 2: Report((-10, 0), 0, 2)},
                {1: 5_000, 2: 5_000}, funding=(5, 0))
    assert [s.variation_margin for s in e1.slots] == [0, 0, 0, 0]  # new positions: no VM
    e2 = run_epoch(e1.new, PERP, (1_000, 500), [], {}, funding=(12, 0))
    assert [s.variation_margin for s in e2.slots] == [0, -70, 70, 0]  # 10 x (12 - 5)
    assert [s.funding for s in e2.slots] == [0, -70, 70, 0]  # all of it funding
    e3 = run_epoch(e2.new, PERP, (1_000, 500), [], {}, funding=(9, 0))
    assert [s.variation_margin for s in e3.slots] == [0, 30, -30, 0]  # rate turned
    assert [lf.collateral for lf in e3.new.leaves[1:3]] == [4_960, 5_040]
    assert e3.new.total_collateral() == e1.new.total_collateral()  # conserved
    # the funding index is part of the prices hash the oracle holds
    assert e3.public_values()["pricesHash"] == prices_hash((1_000, 500), (9, 0))
    assert e3.public_values()["pricesPrevHash"] == prices_hash((1_000, 500), (12, 0))


def test_funding_only_moves_for_perpetuals():
    e1 = opened((1_000, 500), {1: Report((10, 0), 0, 1), 2: Report((-10, 0), 0, 2)},
                {1: 5_000, 2: 5_000})
    with pytest.raises(EpochError, match="not a perpetual"):
        run_epoch(e1.new, PERP, (1_000, 500), [], {}, funding=(0, 3))


def test_dated_future_settles_at_expiry_and_takes_no_trades_after():
    e1 = opened((1_000, 500), {1: Report((10, 0), 0, 1), 2: Report((-10, 0), 0, 2)},
                {1: 5_000, 2: 5_000}, p=DATED)
    # epoch 2 is the expiry: the final settlement price 1_040 settles the position in cash
    e2 = run_epoch(e1.new, DATED, (1_040, 500), [], {})
    assert [s.variation_margin for s in e2.slots] == [0, 400, -400, 0]
    assert all(lf.positions[0] == 0 for lf in e2.new.leaves)
    assert [s.maintenance_margin for s in e2.slots] == [0, 0, 0, 0]  # nothing left to margin
    assert e2.settled == (0,)
    # a trade in the settled instrument is refused before proving
    s = e1.new
    rep = {1: Report((1, 0), 0, 9), 2: Report((-1, 0), 0, 8)}
    with pytest.raises(EpochError, match="expired"):
        run_epoch(s, DATED, (1_040, 500), committed(rep, 2), rep, view_keys=keys_of(rep))


@pytest.mark.parametrize("option, final, pnl", [(CALL, 1_120, 120 - 50),
                                                (PUT, 930, 70 - 50)])
def test_call_and_put_settle_at_intrinsic_value(option, final, pnl):
    """Slot 1 buys 10 options at a premium of 50 from slot 2 (futures-style: the premium
    is the mark, variation margin moves it); at expiry the mark is the intrinsic value."""
    p = params(Instrument(), option)
    arrays = {1: ARRAY}
    e1 = opened((1_000, 50), {1: Report((0, 10), 0, 1), 2: Report((0, -10), 0, 2)},
                {1: 5_000, 2: 50_000}, p=p, risk_arrays=arrays)
    intrinsic = option.intrinsic(final)
    # at its expiry epoch the option is settled: no risk array (its positions close)
    with pytest.raises(EpochError, match="settled in epoch 2"):
        run_epoch(e1.new, p, (final, intrinsic), [], {}, risk_arrays=arrays)
    e2 = run_epoch(e1.new, p, (final, intrinsic), [], {})
    assert e2.risk_hash == 0
    assert e2.slots[1].variation_margin == 10 * pnl
    assert e2.slots[2].variation_margin == -10 * pnl
    assert e2.new.leaves[1].positions == (0, 0) and e2.new.leaves[2].positions == (0, 0)


def test_covered_call_needs_less_margin_than_its_legs():
    """Long 1 future, short 1 call on it: per scenario the call's gain offsets the
    future's loss (arrays: -P*S for the future, the published array for the call)."""
    prices = (1_000, 50)
    arrays = {1: ARRAY}
    future = [-1_000 * s[0] for s in SHOCKS]  # r of one long future lot
    assert future == [-1_000_000, 1_000_000, -2_000_000, 2_000_000]
    # short call: -ARRAY; the legs' worst losses: 2,000,000 and 650,000; together
    # max(-1_000_000 + 300_000, 1_000_000 - 250_000, ..., 2_000_000 - 450_000) = 1_550_000
    assert maintenance_margin([1, 0], prices, OPTIONS, arrays) == 200
    assert maintenance_margin([0, -1], prices, OPTIONS, arrays) == 65
    assert maintenance_margin([1, -1], prices, OPTIONS, arrays) == 155


def test_vectorised_margin_equals_the_engine_with_risk_arrays():
    rng = random.Random(5)
    rows = [[rng.randrange(-1000, 1000), rng.randrange(-1000, 1000)] for _ in range(50)]
    arrays = {1: (-(1 << 64), (1 << 64) - 1, *ARRAY[2:])}
    got = portfolio_margins(rows, (1_000, 50), OPTIONS, arrays=arrays)
    assert got.maintenance == [maintenance_margin(r, (1_000, 50), OPTIONS, arrays)
                               for r in rows]
    with pytest.raises(MarginError, match="no risk array"):
        portfolio_margins(rows, (1_000, 50), OPTIONS)


def test_market_refusals():
    with pytest.raises(EpochError, match="no risk array for option"):
        opened((1_000, 50), {1: Report((0, 1), 0, 1), 2: Report((0, -1), 0, 2)},
               {1: 5_000, 2: 5_000}, p=OPTIONS)
    with pytest.raises(EpochError, match="not options"):
        opened((1_000, 500), {}, {1: 1}, risk_arrays={0: ARRAY})
    with pytest.raises(EpochError, match="outside"):
        opened((1_000, 50), {}, {1: 1}, p=OPTIONS, risk_arrays={1: (1 << 64,) * 4})
    with pytest.raises(ParamsError, match="underlying"):
        params(Instrument(), Instrument(IKind.OPTION, expiry=2, underlying=5, strike=10))
    with pytest.raises(InstrumentError, match="no expiry"):
        Instrument(IKind.PERPETUAL, expiry=3)
    assert opened((1_000, 0), {}, {1: 1}, p=OPTIONS, risk_arrays={1: ARRAY}).prices[1] == 0
    with pytest.raises(ParamsError, match=r"prices\[1\]"):  # only an option's premium may be 0
        opened((1_000, 0), {}, {1: 1})


# -- the circuit ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compiled():
    return compile_circuit(registry.epoch(4, 2, 4))


def witness_public(compiled, inputs: dict, tmp_path: Path) -> list[int]:
    wtns = tmp_path / "ok.wtns"
    calculate_witness(compiled, inputs, wtns)
    return read_witness(wtns)[1:1 + len(EpochResult.PUBLIC_NAMES)]


def random_epochs(seed: int) -> list[EpochResult]:
    """Three epochs of a random pool mixing a perpetual or a dated future with an option
    or a future: random trades, funding, price moves and an expiry at epoch 3."""
    rng = random.Random(seed)
    first = rng.choice([Instrument(IKind.PERPETUAL), Instrument(IKind.DATED, expiry=3),
                        Instrument()])
    second = rng.choice([Instrument(IKind.OPTION, expiry=3, underlying=0,
                                    strike=rng.randrange(900, 1100), call=rng.random() < .5),
                         Instrument(IKind.DATED, expiry=2)])
    p = params(first, second)
    arrays = ({1: tuple(rng.randrange(-10**6, 10**6) for _ in range(4))}
              if second.is_option else {})
    prices = (1_000, 40 if second.is_option else 700)
    sizes = [rng.randrange(1, 20), rng.randrange(1, 20)]
    reports = {1: Report((sizes[0], -sizes[1]), rng.randrange(-50, 50), 1),
               2: Report((-sizes[0], 0), 0, 2),
               3: Report((0, sizes[1]), 0, 3)}
    reports[2] = Report(reports[2].delta, -reports[1].trade_cash, 2)
    fund = [0, 0]
    out = [opened(prices, reports, {0: 10**6, 1: 10**5, 2: 10**5, 3: 10**5}, p=p,
                  risk_arrays=arrays)]
    for _ in range(2):
        st = out[-1].new
        epoch = st.epoch + 1
        px = [max(1, st.prices[0] + rng.randrange(-40, 41)), 0]
        if second.is_option:
            px[1] = (second.intrinsic(px[0]) if epoch >= second.expiry
                     else max(0, st.prices[1] + rng.randrange(-10, 11)))
        else:
            px[1] = st.prices[1] if second.done(epoch - 1) else st.prices[1] + rng.randrange(-9, 9)
        if first.is_perp:
            fund[0] += rng.randrange(-5, 6)
        live = {m: a for m, a in arrays.items() if epoch < p.instruments[m].expiry}
        out.append(run_epoch(st, p, tuple(px), [], {}, funding=tuple(fund),
                             risk_arrays=live))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_circuit_accepts_exactly_the_engines_epochs(compiled, tmp_path, seed):
    for r in random_epochs(seed):
        assert witness_public(compiled, epoch_circuit_inputs(r), tmp_path) == \
            r.public_signals()


def _fails(compiled, inputs, tmp_path, template: str, snippet: str | None = None) -> None:
    with pytest.raises(WitnessError) as ei:
        calculate_witness(compiled, inputs, tmp_path / "bad.wtns")
    assert ei.value.template == template, str(ei.value)
    if snippet is not None:
        src = (paths.CIRCUITS_DIR / "epoch.circom" if template == "Epoch"
               else paths.CIRCUITS_DIR / "lib" / "params.circom").read_text().splitlines()
        assert snippet in src[ei.value.line - 1], (snippet, src[ei.value.line - 1])


@pytest.fixture(scope="module")
def option_epochs() -> list[EpochResult]:
    return random_epochs(0) if random_epochs(0)[0].params.instruments[1].is_option else \
        next(random_epochs(s) for s in range(1, 50)
             if random_epochs(s)[0].params.instruments[1].is_option)


def test_funding_not_the_oracles_is_refused(compiled, tmp_path):
    e = next(r for s in range(50) for r in random_epochs(s)[1:]
             if r.params.instruments[0].is_perp and r.funding != r.funding_prev)
    bad = copy.deepcopy(epoch_circuit_inputs(e))
    bad["fund"][0] = (bad["fund"][0] + 1) % P  # the operator applies other funding
    _fails(compiled, bad, tmp_path, "Epoch", "pricesHash === pricesHashIn;")


def test_trade_in_a_settled_instrument_is_refused(compiled, tmp_path):
    """At the expiry epoch, slots 1 and 2 trade the live instrument; moving one lot of
    the settled one between them (reports re-encrypted, commitments and accumulator made
    consistent) has no witness."""
    e1 = opened((1_000, 500), {1: Report((10, 1), 0, 1), 2: Report((-10, -1), 0, 2)},
                {1: 5_000, 2: 5_000}, p=DATED)
    rep = {1: Report((0, 1), 0, 9), 2: Report((0, -1), 0, 8)}
    e2 = run_epoch(e1.new, DATED, (1_040, 500), committed(rep, 2), rep,
                   view_keys=keys_of(rep))
    bad = copy.deepcopy(epoch_circuit_inputs(e2))
    bad["delta"][1][0], bad["delta"][2][0] = 1, P - 1
    recommit(bad, 1)
    recommit(bad, 2)
    with pytest.raises(WitnessError) as ei:
        calculate_witness(compiled, bad, tmp_path / "bad.wtns")
    assert ei.value.template == "MarkToMarket", str(ei.value)
    src = (paths.CIRCUITS_DIR / "lib" / "epoch_slot.circom").read_text().splitlines()
    assert "delta[m] * (1 - live[m]) === 0;" in src[ei.value.line - 1]


def test_risk_array_must_match_its_hash(compiled, tmp_path, option_epochs):
    e = option_epochs[1]
    good = epoch_circuit_inputs(e)
    bad = copy.deepcopy(good)
    bad["riskArray"][1][0] = (bad["riskArray"][1][0] - 1) % P  # a lower loss, less margin
    _fails(compiled, bad, tmp_path, "Epoch", "pricesHash === pricesHashIn;")
    # a non-option row is zero, even with the hash made consistent
    bad = copy.deepcopy(good)
    bad["riskArray"][0][2] = 5
    arrays = {m: [v if v < P // 2 else v - P for v in row]
              for m, row in enumerate(bad["riskArray"])}
    risk = risk_arrays_hash(arrays, 2, 4)
    bad["pricesHash"] = prices_hash(e.prices, e.funding, risk)
    _fails(compiled, bad, tmp_path, "RiskArrays", "(1 - isOption[m]) * riskArray[m][k] === 0;")
    # an option's entry beyond 2^64 is out of range
    bad = copy.deepcopy(good)
    bad["riskArray"][1][0] = 1 << 70
    arrays = {1: [1 << 70, *[v if v < P // 2 else v - P for v in bad["riskArray"][1][1:]]]}
    bad["pricesHash"] = prices_hash(e.prices, e.funding, risk_arrays_hash(arrays, 2, 4))
    _fails(compiled, bad, tmp_path, "Num2Bits")


def test_matcher_refuses_trades_in_a_settled_instrument():
    from zkclear.clearing.trades import MatchedTrade, Reason, apply_rules

    trades = [MatchedTrade("t1", 0, 1, 2, 3, 1_000), MatchedTrade("t2", 1, 1, 2, 4, 1)]
    out = apply_rules(trades, (1_000, 0), n_slots=4, n_instruments=2, settled={0},
                      options={1})
    assert [t.trade_id for t in out.match.accepted] == ["t2"]
    assert [(r.reason, r.member) for r in out.match.rejected] == \
        [(Reason.SETTLED, 1), (Reason.SETTLED, 2)]
    assert "instrument 0 has expired" in out.match.rejected[0].message
