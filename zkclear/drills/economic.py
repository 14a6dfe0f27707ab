"""Economic drills: colluding members against the insurance fund (issue 13).

``offmarket-drain``: slot 1 "buys" one lot from its accomplice in slot 3 at the settlement
price + X, far beyond slot 1's equity, and slot 3 asks to withdraw X in the same epoch.
Before the trade-cash rule, slot 1 was liquidated, the house absorbed its shortfall and
slot 3 walked away with the insurance fund. Now the operator's matcher refuses the trade
(it would break ``cpre >= min(e0, 0)``), an operator that tried to clear it anyway is
refused by the engine before proving (and the circuit has no witness: tested in
tests/circuits/test_epoch_circuit.py), and a trade within slot 1's own equity moves money only
between the colluders. The drill passes when the honest member and the house lost nothing.
"""

from __future__ import annotations

from zkclear.chain.pool import EpochOrders
from zkclear.clearing.epoch import EpochError, run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.report import Report
from zkclear.clearing.trades import TradeReport
from zkclear.privacy.cipher import encrypt_report

from .base import DRILL_PRICES, Story, Verdict, drill_pool, pool_holdings

BUYER, HONEST, SELLER = 1, 2, 3
INSURANCE = 1_000_000
STAKE = 100_000  # each colluder's collateral
HONEST_STAKE = 1_000_000
X = 700_000  # the off-market premium: seven times the buyer's equity


def _pair(tid: str, m: int, size: int, price: int, buyer: int,
          seller: int) -> dict[int, list[TradeReport]]:
    return {buyer: [TradeReport(tid, m, 1, size, price, seller)],
            seller: [TradeReport(tid, m, -1, size, price, buyer)]}


def drill_offmarket_drain() -> Verdict:
    s = Story("offmarket-drain")
    pool = drill_pool({BUYER: "Mallory (buyer)", HONEST: "Bank A (honest)",
                       SELLER: "Mallory (seller)"})
    s.step("pool: N=4, M=2, K=4 on the embedded EVM, INSECURE development keys")

    # Epoch 1: the insurance fund and every member's collateral; one honest trade.
    e1 = pool.play_epoch(EpochOrders(
        DRILL_PRICES, _pair("h1", 0, 5, DRILL_PRICES[0], HONEST, SELLER),
        deposits={0: INSURANCE, BUYER: STAKE, HONEST: HONEST_STAKE, SELLER: STAKE}))
    s.check(e1.accepted.epoch == 1, "epoch 1 (deposits, an honest trade) accepted on-chain")
    owed = {"house": pool_holdings(pool, 0), "Bank A": pool_holdings(pool, HONEST)}
    s.ledger.owed.update(owed)
    s.ledger.honest.update(owed)
    colluders_before = pool_holdings(pool, BUYER) + pool_holdings(pool, SELLER)
    s.step(f"before the attack: house {owed['house']}, Bank A {owed['Bank A']}, "
           f"colluders {colluders_before}")

    # Epoch 2: the drain. Slot 1 pays P + X for one lot; slot 3 asks for X.
    prices = DRILL_PRICES
    attack = _pair("drain", 0, 1, prices[0] + X, BUYER, SELLER)
    s.step(f"slot 1 buys 1 lot of instrument 0 from slot 3 at {prices[0] + X} "
           f"(settlement {prices[0]}); slot 3 requests a withdrawal of {X}")
    for epoch, band in ((2, pool.trade_band_bp), (3, None)):
        pool.trade_band_bp = band
        out = pool.play_epoch(EpochOrders(prices, attack, withdrawals={SELLER: X}))
        reasons = sorted({rj.reason.name for rj in out.netted.match.rejected})
        policy = f"band {band} bp" if band is not None else "no price band"
        s.check(not out.netted.match.accepted and bool(reasons),
                f"epoch {epoch} ({policy}): the matcher refused the trade "
                f"({', '.join(reasons) or 'accepted!'})")
        s.check(out.accepted.epoch == epoch, f"epoch {epoch} still cleared: the pool kept going")
        s.check(SELLER not in {slot for slot, _, _ in out.accepted.paid},
                f"epoch {epoch}: slot 3's withdrawal was not granted")
        s.facts[f"rejections_epoch_{epoch}"] = [f"{rj.reason.name}: {rj}"
                                                for rj in out.netted.match.rejected]

    # A colluding operator that forces the trade into committed reports is refused before
    # proving: the engine applies the circuit's own rule (which has no witness for it).
    epoch = pool.state.epoch + 1
    forced = {BUYER: Report((1, 0), -X, 1), SELLER: Report((-1, 0), X, 2)}
    keys = {slot: pool.members[slot].key for slot in forced}
    events = [Event(Kind.COMMIT, slot, encrypt_report(keys[slot], epoch, rep).commitment())
              for slot, rep in forced.items()]
    try:
        run_epoch(pool.state, pool.params, prices, events, forced, view_keys=keys)
        s.check(False, "an operator forcing the trade was refused by the engine")
    except EpochError as exc:
        s.check("exceeds the equity before trades" in str(exc),
                f"an operator forcing the trade is refused before proving: {exc}")

    # Within the buyer's own equity (and with no band) the trade clears, and the house
    # pays nothing for it: the money only moves between the colluders.
    small = STAKE // 2
    out = pool.play_epoch(EpochOrders(prices, _pair("gift", 0, 1, prices[0] + small,
                                                    BUYER, SELLER)))
    s.check(len(out.netted.match.accepted) == 1,
            f"a premium of {small} (within slot 1's equity) is accepted")
    colluders_after = pool_holdings(pool, BUYER) + pool_holdings(pool, SELLER)
    s.check(colluders_after <= colluders_before,
            f"the colluders together hold {colluders_after} <= {colluders_before}: "
            "money only moved between them")

    s.ledger.final.update({"house": pool_holdings(pool, 0),
                           "Bank A": pool_holdings(pool, HONEST)})
    s.facts["house_after"] = s.ledger.final["house"]
    return s.verdict("the off-market drain is refused; the insurance fund is intact")
