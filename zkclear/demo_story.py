"""The demo's pool and story (``zkclear demo``): three institutions, four epochs.

The pool clears three instruments (docs/protocol.md, "Instruments"):

0. ALPHA perpetual (funding every epoch: longs pay shorts when the index rises),
1. BETA March future, a dated future expiring at epoch 3 (final settlement at its mark),
2. ALPHA 1,050 call, expiring at epoch 3 (futures-style: its mark is its premium; its
   margin comes from its SPAN risk array, computed each epoch by ``zkclear risk arrays``'
   generator from ALPHA's mark and a volatility smile, which the oracle's reporters post
   with their hash).

Margin scenarios: SPAN's 16 (price scan range 10 %, extreme moves of two ranges counted at
35 %), the same moves for the futures' rows. The story:

1. registration and deposits; Bank A buys 100 ALPHA perpetuals and writes 100 ALPHA
   calls to Market maker C -- a covered call, whose margin is well below the sum of its
   legs' -- and sells 90 BETA futures to C (a hedge); Fund B sells 80 ALPHA thinly
   collateralised; every member with a margin requirement pays its default-fund
   contribution from its collateral; an unmatched trade is rejected.
2. prices move; the longs of ALPHA (Bank A) pay funding to the shorts (Fund B, C); a
   contradictory trade; C's withdrawal would leave it below initial margin: refused.
3. ALPHA +12 %: the call expires in the money and settles at its intrinsic value, the
   BETA future at its final settlement price (a trade in the call that epoch is
   refused), Fund B is liquidated with a shortfall that goes down the default waterfall
   (its own contribution, the house's skin in the game, the survivors' fund pro rata),
   Bank A's withdrawal is paid.
4. the house auctions Fund B's portfolio (short 80 ALPHA): Bank A and Market maker C
   seal their bids and open them; C's (the house pays it 600 to take the lot) beats
   A's (900); C takes the lot at the epoch's mark, the 600 goes down the waterfall
   (the house's skin in the game, then the survivors' fund).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from zkclear.clearing import span
from zkclear.clearing.instruments import Instrument, Kind
from zkclear.clearing.params import PoolConfig, RiskParams
from zkclear.clearing.trades import BUY, SELL, TradeReport

if TYPE_CHECKING:
    from zkclear.chain.pool import EpochOrders

#: The institutions, by slot (slot 0 is the house).
MEMBERS = {1: "Bank A", 2: "Fund B", 3: "Market maker C"}
INSTRUMENTS = ("ALPHA perpetual", "BETA March future", "ALPHA 1050 call")
ALPHA, BETA, CALL = 0, 1, 2
#: The call: strike, expiry epoch; one epoch is a month (30 days) of the option's life.
STRIKE, EXPIRY, DAYS_PER_EPOCH = 1_050, 3, 30
START = date(2027, 1, 1)  # the date of epoch 0
#: SPAN: price scan range (bp of the price), volatility scan range, ALPHA's smile.
SCAN_BP, VOL_SCAN = 1_000, Decimal("0.04")
SMILE = ((900, Decimal("0.28")), (1_000, Decimal("0.24")), (1_050, Decimal("0.22")),
         (1_200, Decimal("0.21")))
#: Pool sizes: N slots, M instruments, K = SPAN's 16 scenarios (the epoch circuit's size).
CONFIG = PoolConfig(4, 3, 16)
TABLE = (Instrument(Kind.PERPETUAL, name=INSTRUMENTS[ALPHA]),
         Instrument(Kind.DATED, expiry=EXPIRY, name=INSTRUMENTS[BETA]),
         Instrument(Kind.OPTION, expiry=EXPIRY, underlying=ALPHA, strike=STRIKE, call=True,
                    name=INSTRUMENTS[CALL]))
#: ALPHA and BETA per epoch (genesis first); funding amounts per ALPHA lot per epoch.
FUTURES = ((1_000, 1_100), (1_000, 1_100), (1_010, 1_105), (1_131, 1_105), (1_126, 1_105))
FUNDING = (0, 0, 2, 3, 1)


#: The default fund (docs/protocol.md, "Default fund"): every member with a margin
#: requirement holds at least DF_FLOOR; Cover-2 stresses the margin scenarios x 1.5; the
#: house puts at most SKIN_CAP of its own into a default before the members' fund.
DF_FLOOR, STRESS_BP, SKIN_CAP = 500, 15_000, 250


def risk_params() -> RiskParams:
    """Initial margin 1.5x maintenance; 10 % liquidation penalty (of MM); SPAN's 16 price
    moves for every future (the call's row is unused: its risk array stands in); the
    default fund's floor, stress and skin in the game."""
    shocks = span.futures_shocks(SCAN_BP)
    return RiskParams(15_000, 1_000, (10**9,) * CONFIG.n_instruments,
                      tuple((s,) * CONFIG.n_instruments for s in shocks), TABLE,
                      df_floor=DF_FLOOR, stress_bp=STRESS_BP, skin_cap=SKIN_CAP)


@dataclass(frozen=True)
class EpochMarket:
    """What the reporters post for an epoch: marks, funding amounts, the call's array."""

    prices: tuple[int, ...]
    funding: tuple[int, ...]
    arrays: dict[int, list[int]]


def market(epoch: int) -> EpochMarket:
    """The epoch's marks (the call at the generator's Black-76 premium, at expiry its
    intrinsic value), funding amounts and risk arrays, exactly as every reporter computes
    them from the same inputs (clearing/span.py)."""
    alpha, beta = FUTURES[epoch]
    if epoch > EXPIRY:  # the call and BETA have settled: their marks stay the final ones
        final = market(EXPIRY).prices
        return EpochMarket((alpha, final[BETA], final[CALL]), (FUNDING[epoch], 0, 0), {})
    expiry = START + timedelta(days=DAYS_PER_EPOCH * EXPIRY)
    inputs = span.RiskInputs(
        epoch, START + timedelta(days=DAYS_PER_EPOCH * epoch),
        (span.Future(INSTRUMENTS[ALPHA], alpha, SCAN_BP),
         span.Future(INSTRUMENTS[BETA], beta, SCAN_BP),
         span.Option(INSTRUMENTS[CALL], INSTRUMENTS[ALPHA], "call", STRIKE, expiry)),
        (span.Smile(INSTRUMENTS[ALPHA], expiry, VOL_SCAN, SMILE),))
    arrays = span.risk_arrays(inputs)
    premium = arrays.instruments[CALL].premium_ticks
    assert premium is not None
    # From its expiry epoch on the call is settled: no risk round (docs/protocol.md).
    live = 0 < epoch < EXPIRY
    return EpochMarket((alpha, beta, premium), (FUNDING[epoch], 0, 0),
                       arrays.option_arrays() if live else {})


GENESIS_PRICES = market(0).prices


@dataclass(frozen=True)
class Chapter:
    title: str
    orders: EpochOrders


def _trades(*deals: tuple[str, int, int, int, int, int]) -> dict[int, list[TradeReport]]:
    """Both sides' reports of each deal ``(id, buyer, seller, instrument, size, price)``."""
    out: dict[int, list[TradeReport]] = {}
    for tid, buyer, seller, inst, size, px in deals:
        out.setdefault(buyer, []).append(TradeReport(tid, inst, BUY, size, px, seller))
        out.setdefault(seller, []).append(TradeReport(tid, inst, SELL, size, px, buyer))
    return out


def _add(trades: dict[int, list[TradeReport]], slot: int, *reports: TradeReport) -> None:
    trades.setdefault(slot, []).extend(reports)


def _orders(epoch: int, trades: dict[int, list[TradeReport]], *,
            deposits: Mapping[int, int] | None = None,
            withdrawals: Mapping[int, int] | None = None,
            bids: Mapping[int, int] | None = None) -> EpochOrders:
    from zkclear.chain.pool import EpochOrders

    m = market(epoch)
    return EpochOrders(m.prices, trades, deposits=deposits or {},
                       withdrawals=withdrawals or {}, funding=m.funding, risk_arrays=m.arrays,
                       bids=bids or {})


#: What Bank A (1) and Market maker C (3) ask to be paid for the house's lot in epoch 4.
AUCTION_BIDS = {1: 900, 3: 600}


def story() -> list[Chapter]:
    """Four epochs; slot 1 Bank A, 2 Fund B, 3 Market maker C."""
    bank, fund, mm = 1, 2, 3
    call1 = market(1).prices[CALL]
    t1 = _trades(
        ("E1-01", bank, mm, ALPHA, 100, 998),  # Bank A: long 100 ALPHA perpetuals ...
        ("E1-02", mm, bank, CALL, 100, call1),  # ... writes 100 calls on them: covered
        ("E1-03", mm, bank, BETA, 90, 1_101),  # ... and sells 90 BETA futures
        ("E1-04", mm, fund, ALPHA, 80, 1_000),  # Fund B: short 80 ALPHA, thinly collateralised
    )
    # Fund B reports a trade Market maker C never confirmed: rejected as unmatched.
    _add(t1, fund, TradeReport("E1-05", BETA, BUY, 20, 1_100, mm))
    e1 = _orders(1, t1, deposits={0: 1_000_000, bank: 60_000, fund: 9_300, mm: 400_000})

    t2 = _trades(
        ("E2-01", bank, mm, ALPHA, 10, 1_005),
        ("E2-02", mm, bank, BETA, 10, 1_106),
    )
    # The two sides of E2-03 disagree on the price: both reports are rejected.
    _add(t2, bank, TradeReport("E2-03", ALPHA, SELL, 5, 1_012, mm))
    _add(t2, mm, TradeReport("E2-03", ALPHA, BUY, 5, 1_010, bank))
    # Market maker C asks for almost all its collateral: it would be left below initial
    # margin, so the epoch refuses the withdrawal (and pays nothing).
    e2 = _orders(2, t2, withdrawals={mm: 396_000})

    t3 = _trades(("E3-01", mm, bank, ALPHA, 5, 1_130))
    # A trade naming the house as counterparty: the house never trades.
    _add(t3, mm, TradeReport("E3-02", ALPHA, BUY, 5, 1_131, 0))
    # A trade in the call on its expiry epoch: it settles, it takes no trades.
    t3 |= {k: v + t3.get(k, []) for k, v in
           _trades(("E3-03", mm, bank, CALL, 10, market(3).prices[CALL])).items()}
    # ALPHA jumps 12 %: the call settles at its intrinsic value and BETA at its final
    # price, Fund B (short ALPHA) falls below maintenance margin and is liquidated; Bank
    # A's withdrawal is paid.
    e3 = _orders(3, t3, withdrawals={bank: 20_000})

    # The auction of the house's lot (Fund B's short 80 ALPHA): sealed bids, the higher
    # wins: Market maker C asks to be paid 600 for taking it, Bank A 900.
    t4 = _trades(("E4-01", bank, mm, ALPHA, 5, 1_126))
    # Bank A reports a sale Market maker C never agreed to: rejected as unmatched.
    _add(t4, bank, TradeReport("E4-02", ALPHA, SELL, 3, 1_126, mm))
    e4 = _orders(4, t4, bids={bank: -AUCTION_BIDS[bank], mm: -AUCTION_BIDS[mm]})
    return [
        Chapter("registration, deposits, a covered call, a hedge, a short; an unmatched "
                "trade", e1),
        Chapter("prices move, funding paid; a contradictory trade; a withdrawal refused", e2),
        Chapter("ALPHA +12 %: the call and BETA expire and settle; a liquidation; a "
                "withdrawal paid", e3),
        Chapter("the house auctions Fund B's portfolio: sealed bids, Market maker C takes "
                "it; the price through the waterfall", e4),
    ]
