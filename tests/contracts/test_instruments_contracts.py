"""The instrument table on-chain (docs/protocol.md, "Instruments"; issue 15).

The table is fixed at deployment and checked as clearing/instruments.py checks it; the
clearing house hashes its columns into paramsHash and refuses an oracle with another
table. The oracle takes the perpetuals' funding (median, clamp, index), holds an
option's premium to its intrinsic value at expiry and freezes marks after it, and in a
pool with options sets pricesHash only once a quorum of reporters posted the same
risk-arrays hash. Every hash is compared with the Python functions.

Two pools, deployed once per module with a stand-in verifier (no proof is submitted
here): ``perp`` (a future and a perpetual, quorum 3 of 3) and ``opts`` (futures, a
perpetual, dated futures, a call and a put; five reporters, quorum 3).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from zkclear.chain import contracts, scenario
from zkclear.chain import node as chain
from zkclear.chain.client import Client, ContractError
from zkclear.chain.pool import Actors
from zkclear.clearing import instruments as ins
from zkclear.clearing.instruments import Instrument, InstrumentError, Kind, Market, decode_arrays
from zkclear.clearing.params import ParamsError, PoolConfig, RiskParams
from zkclear.clearing.scenario import demo_params
from zkclear.cli.params import Funding
from zkclear.field import P
from zkclear.poseidon import poseidon, poseidon_chain
from zkclear.roles.admin import RoleError, load_pool

from .helpers import reverts

K = 4
MAX_FUNDING_BP = 100

PERP_TABLE = (Instrument(), Instrument(Kind.PERPETUAL))
PERP_GENESIS = (1_000, 2_000)

OPTS_TABLE = (
    Instrument(),  # 0 future
    Instrument(Kind.PERPETUAL),  # 1 perpetual
    Instrument(Kind.DATED, 1),  # 2 dated future, final settlement at epoch 1
    Instrument(Kind.DATED, 2),  # 3 dated future, final settlement at epoch 2
    Instrument(Kind.OPTION, 2, 3, 1_000, True),  # 4 call on 3, strike 1000, expires at 2
    Instrument(Kind.OPTION, 2, 0, 1_000, False),  # 5 put on 0, strike 1000, expires at 2
)
OPTS_GENESIS = (1_000, 2_000, 500, 1_000, 40, 30)
#: Epoch 1 in the options pool: U0 = 950 (put intrinsic 50), U3 = 1100 (call 100); at
#: epoch 2, the options' expiry, the same marks are their intrinsic values.
OPTS_E1 = (950, 2_000, 510, 1_100, 100, 50)
ARRAYS = {4: (120, -80, 300, -150), 5: (-60, 90, -200, 240)}


@pytest.fixture(scope="module")
def perp_deployed() -> tuple[Client, Actors, contracts.PoolSetup]:
    return scenario.deploy_unproven(chain.embedded_web3(), PoolConfig(4, 2, K), demo_params(2, K),
                              PERP_GENESIS, instruments=PERP_TABLE,
                              max_funding_bp=MAX_FUNDING_BP)


@pytest.fixture(scope="module")
def opts_deployed() -> tuple[Client, Actors, contracts.PoolSetup]:
    w3 = chain.embedded_web3()
    a = w3.eth.accounts
    return scenario.deploy_unproven(w3, PoolConfig(4, len(OPTS_TABLE), K),
                              demo_params(len(OPTS_TABLE), K), OPTS_GENESIS,
                              instruments=OPTS_TABLE, reporters=(a[3], a[4], a[5], a[7], a[8]))


def _rolled_back(deployed: tuple[Client, Actors, contracts.PoolSetup]) -> Iterator[Any]:
    cl = deployed[0]
    snap = chain.snapshot(cl.w3)
    try:
        yield deployed
    finally:
        chain.revert(cl.w3, snap)


@pytest.fixture
def perp(perp_deployed) -> Iterator[tuple[Client, Actors, contracts.PoolSetup]]:
    yield from _rolled_back(perp_deployed)


@pytest.fixture
def opts(opts_deployed) -> Iterator[tuple[Client, Actors, contracts.PoolSetup]]:
    yield from _rolled_back(opts_deployed)


def post(cl: Client, actors: Actors, epoch: int, *posts: Any, funding: Any = ()) -> Any:
    """Reporter i posts ``posts[i]`` (with ``funding[i]`` if given); the last receipt."""
    receipt = None
    for i, prices in enumerate(posts):
        f = funding[i] if funding else None
        receipt = cl.post_prices(epoch, prices, sender=actors.reporters[i], funding=f)
    return receipt


def close(cl: Client, actors: Actors) -> None:
    cl.close_epoch([], sender=actors.operator)


# --- the table ---------------------------------------------------------------------------

U48 = 1 << 48
#: (rows as the contracts take them, the named error, the same table in Python or None
#: where Python cannot even express it).
BAD_TABLES = [
    ([], "InvalidInstrumentCount", None),
    ([(4, 0, 0, False, 0)], "InvalidInstrumentKind", None),
    ([(2, 0, 0, False, 0)], "MissingExpiry", lambda: Instrument(Kind.DATED)),
    ([(0, 0, 0, False, 0), (3, 0, 0, True, 900)], "MissingExpiry",
     lambda: Instrument(Kind.OPTION, 0, 0, 900)),
    ([(0, 3, 0, False, 0)], "UnexpectedExpiry", lambda: Instrument(Kind.FUTURE, 3)),
    ([(1, 3, 0, False, 0)], "UnexpectedExpiry", lambda: Instrument(Kind.PERPETUAL, 3)),
    ([(0, 0, 0, False, 0), (3, 2, 0, True, 0)], "InvalidStrike",
     lambda: Instrument(Kind.OPTION, 2, 0, 0)),
    ([(0, 0, 0, False, 0), (3, 2, 0, True, U48)], "InvalidStrike",
     lambda: Instrument(Kind.OPTION, 2, 0, U48)),
    ([(0, 0, 0, False, 7)], "UnexpectedOptionTerms", lambda: Instrument(strike=7)),
    ([(0, 0, 0, False, 0), (1, 0, 0, False, 0), (0, 0, 1, False, 0)],
     "UnexpectedOptionTerms", lambda: Instrument(underlying=1)),
    ([(0, 0, 0, True, 0)], "UnexpectedOptionTerms", None),  # canonical encoding only
    ([(3, 2, 0, True, 900)], "InvalidUnderlying",
     lambda: ins.check_table([Instrument(Kind.OPTION, 2, 0, 900)])),
    ([(0, 0, 0, False, 0), (3, 2, 2, True, 900)], "InvalidUnderlying",
     lambda: ins.check_table([Instrument(), Instrument(Kind.OPTION, 2, 2, 900)])),
    ([(0, 0, 0, False, 0), (3, 2, 0, True, 900), (3, 2, 1, False, 900)], "UnderlyingIsOption",
     lambda: ins.check_table([Instrument(), Instrument(Kind.OPTION, 2, 0, 900),
                              Instrument(Kind.OPTION, 2, 1, 900, False)])),
    ([(2, 2, 0, False, 0), (3, 3, 0, True, 900)], "UnderlyingExpiresFirst",
     lambda: ins.check_table([Instrument(Kind.DATED, 2), Instrument(Kind.OPTION, 3, 0, 900)])),
]


@pytest.mark.parametrize(("rows", "error", "python"), BAD_TABLES,
                         ids=[f"{e}-{i}" for i, (_, e, _) in enumerate(BAD_TABLES)])
def test_table_validation_errors(perp, rows, error, python) -> None:
    """The oracle's constructor refuses each bad table with the named error, as
    clearing/instruments.py refuses the same table."""
    cl, act, _ = perp
    pos = [cl.deployment.address(f"Poseidon{n}") for n in contracts.POSEIDON_ARITIES]
    compiled = contracts.build()
    with reverts(error):
        contracts.deploy_contract(
            cl.w3, compiled["PriceOracle"], cl.governance.address, pos, rows,
            [1_000] * len(rows), list(act.reporters), 3, [2_000, 3_600, 600, 100],
            sender=act.deployer)
    if python is not None:
        with pytest.raises(InstrumentError):
            python()


def test_the_table_round_trips_and_governance_cannot_change_it(opts) -> None:
    cl, act, setup = opts
    assert cl.instruments() == tuple(replace(i, name="") for i in OPTS_TABLE)
    rows = [contracts.instrument_tuple(i) for i in OPTS_TABLE]
    assert [tuple(r) for r in cl.call(cl.house.functions.instruments())] == rows
    assert cl.call(cl.house.functions.instrumentsHash()) == \
        cl.call(cl.oracle.functions.instrumentsHash())
    assert cl.call(cl.oracle.functions.hasOptions()) is True
    # Nothing writes the table: every function naming it is a view.
    for c in (cl.house, cl.oracle):
        for item in c.abi:
            if item.get("type") == "function" and "nstrument" in item["name"]:
                assert item["stateMutability"] in ("view", "pure"), item["name"]
    # New parameters keep the table's columns; a RiskParams with another table is refused.
    new = RiskParams(12_000, 700, setup.params.position_limits, setup.params.shocks,
                     OPTS_TABLE)
    with pytest.raises(Exception, match="another instrument table"):
        cl.risk_params_call(replace(new, instruments=()))
    receipt = cl.govern([cl.risk_params_call(new)], act.signers)
    (ev,) = cl.logs(receipt, "ClearingHouse", "RiskParamsSet")
    assert cl.params_hash() == new.hash() == ev["paramsHash"]
    assert RiskParams.from_log(ev, len(OPTS_TABLE), OPTS_TABLE) == new
    with pytest.raises(ParamsError, match="instrument columns"):
        RiskParams.from_log(ev, len(OPTS_TABLE))  # read as plain futures


def test_the_house_refuses_an_oracle_with_another_table(perp) -> None:
    cl, act, setup = perp
    compiled = contracts.build()
    pos = [cl.deployment.address(f"Poseidon{n}") for n in contracts.POSEIDON_ARITIES]
    gov, token = cl.governance.address, cl.token.address
    other = replace(setup, instruments=(Instrument(Kind.PERPETUAL), Instrument()),
                    params=setup.params.with_instruments(()))
    oracle, _ = contracts.deploy_contract(cl.w3, compiled["PriceOracle"],
                                          *contracts.oracle_args(other, gov, pos),
                                          sender=act.deployer)
    stand_in = cl.deployment.address("EpochVerifier")
    leaves = cl.deployment.address("ExitLeaves")
    with reverts("InstrumentsMismatch"):
        contracts.deploy_contract(cl.w3, compiled["ClearingHouse"], contracts.house_config(
            setup, gov, pos, token, oracle.address, stand_in, leaves), sender=act.deployer)
    config = list(contracts.house_config(other, gov, pos, token, oracle.address, stand_in,
                                         leaves))
    config[10] = config[10] + config[10][:1]  # three rows for M = 2
    with reverts("InstrumentCountMismatch"):
        contracts.deploy_contract(cl.w3, compiled["ClearingHouse"], tuple(config),
                                  sender=act.deployer)
    house, _ = contracts.deploy_contract(cl.w3, compiled["ClearingHouse"], contracts.house_config(
        other, gov, pos, token, oracle.address, stand_in, leaves), sender=act.deployer)
    assert int(house.functions.paramsHash().call()) == other.params.hash()
    # The exit-data checker must be of the pool's size (its layout depends on N and M).
    wide, _ = contracts.deploy_contract(cl.w3, compiled["ExitLeaves"], pos,
                                        2 * setup.config.n_slots, setup.config.n_instruments,
                                        sender=act.deployer)
    with reverts("ExitLeavesMismatch"):
        contracts.deploy_contract(cl.w3, compiled["ClearingHouse"], contracts.house_config(
            other, gov, pos, token, oracle.address, stand_in, wide.address),
            sender=act.deployer)
    with reverts("NotAContract"):
        contracts.deploy_contract(cl.w3, compiled["ClearingHouse"], contracts.house_config(
            other, gov, pos, token, oracle.address, stand_in, act.deployer),
            sender=act.deployer)


# --- hashes -------------------------------------------------------------------------------


def test_params_and_genesis_hashes_equal_python(opts, perp) -> None:
    cl, act, _ = opts
    params = demo_params(len(OPTS_TABLE), K).with_instruments(OPTS_TABLE)
    assert params.field_elements()[-3 * 6:] == ins.table_columns(OPTS_TABLE) == \
        [*(0, 1, 0, 0, 0, 0), *(0, 0, 0, 0, 1, 1), *(0, 0, 1, 2, 2, 2)]
    assert cl.params_hash() == params.hash() == poseidon_chain(params.field_elements())
    # Options: genesis (no positions) has no risk round: riskHash_0 = 0, as the engine's
    # genesis state holds it.
    assert cl.mark_hash(0) == ins.mark_hash(OPTS_GENESIS)
    assert cl.prices_hash(0) == ins.prices_hash(OPTS_GENESIS) == \
        ins.prices_hash(OPTS_GENESIS, (0,) * 6, 0)
    assert cl.funding_index(0) == (0,) * 6
    with pytest.raises(ContractError, match="RiskAlreadyFinal"):
        cl.post_risk_arrays(0, {4: (1, 2, 3, 4), 5: (-1, -2, -3, -4)},
                            sender=act.reporters[0], posted_hash=1)
    # No options: pricesHash = Poseidon(markHash, 0) at genesis.
    pcl, _, psetup = perp
    assert pcl.params_hash() == psetup.params.hash()
    assert psetup.params.instruments == PERP_TABLE
    assert pcl.prices_hash(0) == poseidon([ins.mark_hash(PERP_GENESIS), 0]) == \
        ins.prices_hash(PERP_GENESIS)


# --- funding ------------------------------------------------------------------------------


def test_funding_only_for_perpetuals_and_within_the_clamp(perp) -> None:
    cl, act, _ = perp
    r = act.reporters[0]
    with reverts("FundingNotPerpetual"):
        cl.post_prices(1, (1_000, 2_000), funding=(1, 0), sender=r)
    for f in (21, -21, 2**255 - 1, -(2**255)):  # 1 % of 2000 is 20
        with reverts("FundingBeyondClamp"):
            cl.post_prices(1, (1_000, 2_000), funding=(0, f), sender=r)
    with reverts("WrongFundingCount"):
        cl.post_prices(1, (1_000, 2_000), funding=(0, 1, 0), sender=r)
    cl.post_prices(1, (1_000, 2_000), funding=(0, -20), sender=r)
    # The clamp is governed.
    cl.govern([cl.set_max_funding_call(10)], act.signers)
    assert cl.max_funding_bp() == 10
    with reverts("FundingBeyondClamp"):
        cl.post_prices(1, (1_000, 2_000), funding=(0, 3), sender=act.reporters[1])
    with pytest.raises(ContractError) as ei:
        cl.govern([cl.set_max_funding_call(10_001)], act.signers)
    assert ei.value.root.name == "InvalidMaxFunding"


def test_funding_median_and_index_over_two_epochs(perp) -> None:
    """f is the signed median of the quorum's posts; F_e = F_{e-1} + f_e; markHash and
    pricesHash hash F (mod r) exactly as clearing/instruments.py does."""
    cl, act, _ = perp
    e1 = (1_010, 2_000)
    receipt = post(cl, act, 1, e1, e1, e1, funding=[(0, 20), (0, -5), (0, 3)])
    (marks,) = cl.logs(receipt, "PriceOracle", "MarksFinalised")
    assert cl.funding_index(1) == (0, 3) == tuple(marks["fundingIndex"])
    assert cl.prices_hash(1) == ins.prices_hash(e1, (0, 3)) == Market(e1, (0, 3)).hash(
        PERP_TABLE, K, 1)
    close(cl, act)
    e2 = (1_020, 1_990)
    post(cl, act, 2, e2, e2, e2, funding=[(0, -12), (0, 15), (0, -7)])
    assert cl.funding_index(2) == (0, -4)  # 3 + median(-12, 15, -7)
    assert cl.mark_hash(2) == poseidon_chain([*e2, 0, P - 4])
    assert cl.prices_hash(2) == ins.prices_hash(e2, (0, -4))
    # postPrices is a post with zero funding; the posts carry the funding in the event.
    assert [p["funding"] for p in cl.posted_venues(2)] == [(0, -12), (0, 15), (0, -7)]


def test_a_held_crash_keeps_its_funding(perp) -> None:
    """Beyond the band the breaker holds marks and funding together; released, the index
    is the one the quorum's median gave."""
    cl, act, setup = perp
    crash = (1_000, 1_000)  # the perpetual halves: beyond the 20 % band
    receipt = post(cl, act, 1, crash, crash, crash, funding=[(0, -10), (0, -9), (0, 4)])
    assert cl.logs(receipt, "PriceOracle", "BreakerTripped") and cl.mark_hash(1) == 0
    with reverts("PricesNotFinal"):
        cl.funding_index(1)
    chain.advance_time(cl.w3, setup.breaker_delay)
    cl.release_prices(1, sender=act.reporters[0])
    assert cl.funding_index(1) == (0, -9)
    assert cl.prices_hash(1) == ins.prices_hash(crash, (0, -9))


# --- expiry -------------------------------------------------------------------------------


def _to_epoch_2(cl: Client, act: Actors, first: Any = OPTS_E1) -> None:
    """Epoch 1 final (marks; its risk round may stay open) and epoch 2 open."""
    post(cl, act, 1, first, OPTS_E1, OPTS_E1)
    close(cl, act)


def test_an_option_at_expiry_is_worth_its_intrinsic_value(opts) -> None:
    cl, act, _ = opts
    r = act.reporters[0]
    # before its expiry epoch an option's premium is any mark (the call at 101 > 100)
    _to_epoch_2(cl, act, (950, 2_000, 510, 1_100, 101, 49))
    with reverts("NotIntrinsicValue") as ei:  # call on 3: 1100 - 1000 = 100
        cl.post_prices(2, (950, 2_000, 510, 1_100, 101, 50), sender=r)
    assert ei.value.args_dict == {"instrument": 4, "premium": 101, "intrinsic": 100}
    with reverts("NotIntrinsicValue") as ei:  # put on 0: 1000 - 950 = 50
        cl.post_prices(2, (950, 2_000, 510, 1_100, 100, 49), sender=r)
    assert ei.value.args_dict == {"instrument": 5, "premium": 49, "intrinsic": 50}
    with reverts("NotIntrinsicValue"):  # out of the money: 0
        cl.post_prices(2, (1_050, 2_000, 510, 900, 1, 0), sender=r)
    # Each post is checked against its own underlying; the median of intrinsic values is
    # the intrinsic value of the median underlying. Option premiums are not banded, so
    # the median is final at once.
    post(cl, act, 2, (1_050, 2_000, 510, 900, 0, 0),  # premium 0 is a mark
         (950, 2_000, 510, 1_100, 100, 50))
    receipt = cl.post_prices(2, (940, 2_000, 510, 1_120, 120, 60), sender=act.reporters[2])
    assert not cl.logs(receipt, "PriceOracle", "BreakerTripped")
    assert cl.final_prices(2) == OPTS_E1
    # The options settle at 2: their arrays are not used, there is no risk round and the
    # prices hash is final with the marks (riskHash = 0).
    assert cl.risk_hash(2) == 0 and cl.prices_hash(2) == ins.prices_hash(OPTS_E1)
    with reverts("NoOptions"):
        cl.post_risk_arrays(2, ARRAYS, sender=r, posted_hash=1)
    assert cl.market(2) == Market(OPTS_E1, (0,) * 6)


def test_marks_are_frozen_after_expiry(opts) -> None:
    cl, act, _ = opts
    _to_epoch_2(cl, act)
    r = act.reporters[0]
    with reverts("MarkFrozen") as ei:  # instrument 2 settled at 1
        cl.post_prices(2, (950, 2_000, 511, 1_100, 100, 50), sender=r)
    assert ei.value.args_dict == {"instrument": 2, "posted": 511, "finalMark": 510}
    # Instrument 2 repeats its final mark; 3, 4 and 5 settle at 2 (any mark for the
    # dated future, the options at their intrinsic values). An option's mark after its
    # expiry is frozen by the same rule (the epoch after 2 needs epoch 1 proven first).
    post(cl, act, 2, OPTS_E1, OPTS_E1, OPTS_E1)
    assert cl.final_prices(2) == OPTS_E1


# --- the risk round -----------------------------------------------------------------------


def test_risk_round_needs_a_quorum_on_one_hash(opts) -> None:
    cl, act, setup = opts
    r = setup.reporters  # five, quorum 3
    with reverts("PricesNotFinal"):  # epoch 1's marks are not final
        cl.post_risk_arrays(1, ARRAYS, sender=r[0])
    post(cl, act, 1, OPTS_E1, OPTS_E1, OPTS_E1)
    assert cl.mark_hash(1) == ins.mark_hash(OPTS_E1)
    assert cl.prices_hash(1) == 0  # options: not before the risk round
    good = ins.risk_hash(OPTS_TABLE, ARRAYS, K, 1)
    with reverts("NotReporter"):
        cl.post_risk_arrays(1, ARRAYS, sender=act.house)
    with reverts("InvalidRiskHash"):
        cl.post_risk_arrays(1, ARRAYS, sender=r[0], posted_hash=P)
    receipt = cl.post_risk_arrays(1, ARRAYS, sender=r[0])
    (ev,) = cl.logs(receipt, "PriceOracle", "RiskArraysPosted")
    assert ev["riskHash"] == good and decode_arrays(ev["arrays"]) == ARRAYS
    assert cl.risk_hash(1) == 0 and cl.prices_hash(1) == 0  # one reporter is not final
    with reverts("RiskAlreadyPosted"):
        cl.post_risk_arrays(1, ARRAYS, sender=r[0])
    # The next epoch's marks may be posted while this risk round is open.
    close(cl, act)
    e2 = (1_000, 2_000, 510, 1_150, 150, 0)  # the options' expiry: intrinsic values
    post(cl, act, 2, e2, e2, e2)
    # A dissenting hash (other arrays) does not block three agreeing reporters of five.
    other = {4: (1, 1, 1, 1), 5: (2, 2, 2, 2)}
    cl.post_risk_arrays(1, other, sender=r[1])
    cl.post_risk_arrays(1, ARRAYS, sender=r[2])
    assert cl.prices_hash(1) == 0
    receipt = cl.post_risk_arrays(1, ARRAYS, sender=r[3])
    (fin,) = cl.logs(receipt, "PriceOracle", "RiskArraysFinal")
    (done,) = cl.logs(receipt, "PriceOracle", "PricesFinalised")
    want = Market(OPTS_E1, (), ARRAYS).hash(OPTS_TABLE, K, 1)
    assert fin["riskHash"] == good == cl.risk_hash(1)
    assert cl.prices_hash(1) == want == done["pricesHash"] == poseidon([cl.mark_hash(1), good])
    assert cl.market(1) == Market(OPTS_E1, (0,) * 6, ARRAYS)
    with reverts("RiskAlreadyFinal"):
        cl.post_risk_arrays(1, other, sender=r[4])


def test_no_risk_round_without_options(perp) -> None:
    cl, act, _ = perp
    with reverts("NoOptions"):
        cl.post_risk_arrays(0, {}, sender=act.reporters[0], posted_hash=1)


# --- the pool file and the CLI ------------------------------------------------------------


def test_pool_file_takes_a_count_or_a_table(tmp_path: Path) -> None:
    a = [Web3.to_checksum_address(f"0x{i:040x}") for i in range(1, 8)]
    doc = {"format": "zkclear-pool-v1", "slots": 4, "instruments": 2, "scenarios": 2,
           "risk": {"im_factor_bp": 15_000, "penalty_bp": 1_000,
                    "position_limits": [10, 10], "shocks": [[500, 500], [-500, -500]]},
           "genesis_prices": [1_000, 0], "owners": a[:3], "threshold": 2, "delay": 60,
           "reporters": a[3:6], "quorum": 3, "max_move_bp": 2_000, "max_age": 3_600,
           "operator": a[0], "house_account": a[6], "token": None}
    f = tmp_path / "pool.json"

    def load(**changes: Any) -> contracts.PoolSetup:
        f.write_text(json.dumps(doc | changes))
        return load_pool(f)

    with pytest.raises(RoleError, match="genesis"):  # two futures: no zero mark
        load()
    assert load(genesis_prices=[1_000, 1_100]).instruments == ins.futures(2)
    table = [{"kind": "perpetual"}, {"kind": "option", "expiry": 4, "underlying": 0,
                                     "strike": 900, "right": "put"}]
    setup = load(instruments=table, max_funding_bp=50)
    assert setup.instruments == tuple(Instrument.from_json(t) for t in table)
    assert setup.params.instruments == setup.instruments and setup.max_funding_bp == 50
    assert setup.config.n_instruments == 2
    with pytest.raises(RoleError, match="underlying"):
        load(instruments=[{"kind": "future"},
                          {"kind": "option", "expiry": 4, "underlying": 1, "strike": 900}])
    with pytest.raises(RoleError, match="max_funding_bp"):
        load(instruments=table, max_funding_bp=10_001)


def test_cli_funding_amounts_are_signed() -> None:
    import click

    assert Funding().convert("-3,0,7", None, None) == [-3, 0, 7]
    with pytest.raises(click.BadParameter, match="out of range"):
        Funding().convert(str(2**48), None, None)
