"""Auction drills (issue 16; docs/protocol.md, "The auction of the house's lot", the stories
of its "Why it is safe"): what one member, two colluding members or the operator can do
with the sealed-bid auction of the house's lot.

Every story starts alike: Carol (slot 1) buys 100 lots of instrument 0 from Bank A (slot
2), instrument 0 falls 7 % and Carol is liquidated: the house holds her long 100, the lot,
and the next epoch auctions it (reserve = her maintenance margin, the default 10000 bp).
The award epoch is then judged against the same epoch cleared without the award (the
counterfactual): every party but the winner ends there, less its published shares of a
lot sold below the mark (:meth:`Layers.shares`, which each member recomputes alone).

Each drill plays either on the embedded EVM with real proofs (``zkclear drill NAME``: the
auction is ``LotAuction``'s, bids are sealed, revealed and refused on-chain) or through the
engine alone (``engine_only=True``, the tests' quick form: :class:`.lot.Book` mirrors the
contract's auction rules); the checks are the same code.
"""

from __future__ import annotations

from typing import Any

from zkclear.chain.pool import EpochOrders
from zkclear.clearing.auction import Award, reserve
from zkclear.clearing.epoch import EpochResult, maintenance_margin, run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.state import HOUSE, PoolState
from zkclear.privacy.cipher import encrypt_report

from .base import DRILL_PRICES, Story, Verdict, merge_trades
from .fund import BP, Played, _pair, fund_params, published
from .lot import AuctionChain, AuctionEngine, AuctionTwin

CAROL, BANK, BIDDER = 1, 2, 3
DEPOSITS = {HOUSE: 100_000, CAROL: 10_500, BANK: 60_000}
GAP = (DRILL_PRICES[0] * 93 // 100, DRILL_PRICES[1])  # instrument 0 falls 7 %


# -- the story's first two epochs, and the award epoch's accounts --------------------------

def _lot(s: Story, engine_only: bool, names: dict[int, str], bidder_deposit: int
         ) -> tuple[AuctionTwin, int]:
    """Epochs 1-2: Carol long 100 from Bank A, instrument 0 falls 7 %, Carol is liquidated;
    returns the twin and the reserve of the auction that opens."""
    params = fund_params()
    run: AuctionTwin = (AuctionEngine(params, names) if engine_only
                        else AuctionChain(params, names))
    s.step(f"pool: N=4, M=2, K=4 on {run.where}; fund: floor {params.df_floor}, share "
           f"{params.df_share_bp} bp, stress {params.stress_bp} bp, skin cap {params.skin_cap}")
    run.play(EpochOrders(DRILL_PRICES, merge_trades(_pair("c1", 0, 100, CAROL, BANK)),
                         deposits={**DEPOSITS, BIDDER: bidder_deposit}))
    e2 = run.play(EpochOrders(GAP))
    r2 = e2.result
    a = run.auction()
    s.check(e2.liquidated == (CAROL,) and not r2.house_flat and a is not None
            and run.lot_base() == r2.lot_mm
            and a.reserve == reserve(r2.lot_mm, BP) == r2.slots[CAROL].maintenance_margin,
            f"epoch 2: instrument 0 {DRILL_PRICES[0]} -> {GAP[0]}, Carol is liquidated; the "
            f"house holds her long 100; an auction opens for epoch 3 with reserve "
            f"{a.reserve if a else None} = lotMM (her maintenance margin)")
    return run, a.reserve if a else 0


def _money(r: EpochResult) -> list[int]:
    """What each slot has after the epoch: collateral, contribution, withdrawal paid."""
    return [sl.after.collateral + sl.after.df
            + (sl.withdrawal_requested if sl.withdrawal_granted else 0) for sl in r.slots]


def _without_award(before: PoolState, params: RiskParams, orders: EpochOrders) -> EpochResult:
    """The award epoch cleared with no award (award epochs here have no trades)."""
    assert not orders.trades
    events = [Event(Kind.DEPOSIT, s, v) for s, v in orders.deposits.items()]
    events += [Event(Kind.WITHDRAW, s, v) for s, v in orders.withdrawals.items()]
    return run_epoch(before, params, orders.prices, events, {})


def _accounts(s: Story, run: AuctionTwin, before: PoolState, orders: EpochOrders,
              p: Played, names: dict[int, str], honest: tuple[int, ...], tag: str = ""
              ) -> dict[str, Any]:
    """The award epoch against the same epoch without the award: each survivor but the
    winner ends there less its published shares ``(u, y)`` of the lot's price; the house
    gains a positive price and pays a negative one less those shares; a sold lot's winner
    pays its bid and its shares; a liquidated winner loses its penalty only (the unwind).
    The honest parties' ledger: "owed" the counterfactual by these rules."""
    r = p.result
    cf = _without_award(before, run.params, orders)
    got, was = _money(r), _money(cf)
    award = r.award
    assert award is not None
    w, figs = award.winner, [sl.figures for sl in r.slots]
    sold = r.lot_sold
    b = award.bid if sold else 0
    s.check(published(p.layers) == published(r.layers), "the published waterfall "
            f"{published(p.layers)} (own, house, fund, haircut, fundBase, fundGains) is "
            "the engine's")
    s.check(all(f.shortfall == 0 for f in figs) and all(
        not sl.liquidated or sl.slot == w for sl in r.slots) and r.layers.residual
        == max(-b, 0), f"no default in the award epoch but the winner's; the waterfall "
        f"covers the lot's price only ({r.layers.residual})")
    shares = [(0, 0) if i == HOUSE or f.liquidated else p.layers.shares(f.df_held, f.gain)
              for i, f in enumerate(figs)]
    due = [-(u + y) for u, y in shares]
    due[HOUSE] = max(b, 0) - max(-b, 0) + sum(u + y for u, y in shares)
    if sold:
        due[w] -= b
    else:
        due[HOUSE] += figs[w].penalty
        due[w] = -figs[w].penalty
    for i in range(len(r.slots)):
        who = names.get(i, "the house")
        s.check(got[i] - was[i] == due[i], f"{who}: {got[i] - was[i]:+} against the epoch "
                f"without the award, by the rule {due[i]:+}"
                + (f" (shares {shares[i]})" if any(shares[i]) else ""))
    for i in (HOUSE, *honest):  # owed: the epoch without the award, less the rule's price
        name = names.get(i, "house") + tag
        s.ledger.honest.add(name)
        s.ledger.owed[name] = was[i] + (due[i] if i == w else min(due[i], 0))
        s.ledger.final[name] = got[i]
    paid = sum(was[i] - got[i] for i in range(len(got)) if i != w)
    return {"changes": [g - c for g, c in zip(got, was, strict=True)],
            "winner_shares": list(shares[w]), "winner": w, "bid": award.bid,
            "sold": int(sold), "paid_by_others": paid,
            "winner_change": got[w] - was[w], "winner_penalty": figs[w].penalty,
            "winner_equity": figs[w].cash_pre, "house_change": got[HOUSE] - was[HOUSE]}


# -- auction-overbid -----------------------------------------------------------------------

OVERBID = 1_000_000
OVERBIDDER_STAKE = 2_000


def drill_auction_overbid(engine_only: bool = False) -> Verdict:
    """Mallory (slot 3, collateral 2,000, no positions) bids +1,000,000 for Carol's lot,
    far beyond her means; Bank A bids -reserve/2. The higher bid wins: Mallory.

    Pass criterion: Mallory is liquidated in the award epoch and her bid unwound (no price
    enters the waterfall, the lot goes back to the house); against the same epoch without
    the award, the house, Bank A and Carol are not worse off (collateral + contribution +
    withdrawals paid) and Mallory loses her penalty only, at most her own equity.
    And the next auction's reserve base is the lot's bound once: Mallory's margin on her
    positions with the lot (an award resets lotBase to lotMM; before the fix it was
    added to the unsold lot's bound, counting the lot twice).
    """
    s = Story("auction-overbid")
    names = {CAROL: "Carol (defaulted)", BANK: "Bank A (honest bidder)",
             BIDDER: "Mallory (overbidder)"}
    run, res = _lot(s, engine_only, names, OVERBIDDER_STAKE)
    before = run.state
    orders = EpochOrders(GAP, bids={BANK: -(res // 2), BIDDER: OVERBID})
    p, refused = run.auction_epoch(orders)
    r = p.result
    s.check(not refused and r.award == Award(BIDDER, OVERBID),
            f"epoch 3: Bank A bids {-(res // 2)}, Mallory {OVERBID} with {OVERBIDDER_STAKE} "
            "of collateral: the higher bid wins, the lot is awarded to Mallory")
    s.check(p.liquidated == (BIDDER,) and not r.lot_sold
            and r.new.leaves[HOUSE].positions == before.leaves[HOUSE].positions,
            "Mallory cannot carry her bid: she is liquidated, the bid unwound, the lot "
            "is the house's again")
    acc = _accounts(s, run, before, orders, p, names, (BANK, CAROL))
    ch = acc["changes"]
    s.check(all(ch[i] >= 0 for i in (HOUSE, BANK, CAROL)),
            f"nobody else is worse off for the auction (changes {ch[:BIDDER]})")
    s.check(0 <= -ch[BIDDER] == acc["winner_penalty"] <= max(acc["winner_equity"], 0),
            f"Mallory loses {-ch[BIDDER]}, her penalty, at most her own equity "
            f"{acc['winner_equity']}")
    nxt = run.auction()
    lot_mm = maintenance_margin(r.new.leaves[HOUSE].positions, r.prices, run.params)
    s.check(run.lot_base() == r.lot_mm,
            f"the next auction's lotBase is {run.lot_base()} (reserve "
            f"{nxt.reserve if nxt else None}) for a lot whose margin is {lot_mm}: the "
            "liquidated winner's margin, on its positions with the lot, counted once")
    s.facts.update(acc, next_lot_base=run.lot_base(), lot_margin=lot_mm,
                   next_reserve=nxt.reserve if nxt else 0)
    return s.verdict("an overbid the bidder cannot carry is unwound: only the overbidder "
                     "loses, at most its own equity")


# -- auction-paid-to-default ---------------------------------------------------------------

RECOVER = DRILL_PRICES  # instrument 0 back to 1000 in the award epoch
DUST = 1  # Mallory's collateral


def _paid_at_unchanged_marks(s: Story, run: AuctionTwin, before: PoolState, res: int
                             ) -> dict[str, Any]:
    """What if the award epoch's marks are the liquidation epoch's (the engine, from the
    same state): Mallory's equity ``DUST + reserve`` meets the lot's margin (reserve =
    lotMM >= the lot's margin), so she survives; the next epoch she sells the lot to Bank
    A at the mark and asks for everything she has."""
    r3 = run_epoch(before, run.params, GAP, [], {}, award=Award(BIDDER, -res))
    f = r3.slots[BIDDER].figures
    out: dict[str, Any] = {"unchanged_marks_liquidated": f.liquidated,
                           "unchanged_marks_lot_margin": f.maintenance_margin}
    s.check(f.liquidated, f"at unchanged marks too (the lot's margin "
            f"{f.maintenance_margin} <= the reserve {res}) Mallory is liquidated: the "
            "house's payment is not margin in the award epoch")
    if f.liquidated:
        return out
    keys = run.member_keys()
    epoch, leaf = r3.epoch + 1, r3.new.leaves[BIDDER]
    reps = {BIDDER: Report((-leaf.positions[0], 0), 0, 7),
            BANK: Report((leaf.positions[0], 0), 0, 8)}
    events = [Event(Kind.COMMIT, i, encrypt_report(keys[i], epoch, rep).commitment())
              for i, rep in reps.items()]
    events.append(Event(Kind.WITHDRAW, BIDDER, leaf.collateral + leaf.df))
    r4 = run_epoch(r3.new, run.params, GAP, events, reps, view_keys=keys)
    sl = r4.slots[BIDDER]
    out["unchanged_marks_walks_away_with"] = sl.withdrawal_requested * sl.withdrawal_granted
    s.step(f"FINDING (engine what-if): at unchanged marks the lot's margin is "
           f"{f.maintenance_margin} <= her equity {f.cash_pre - f.bid}, so Mallory is NOT "
           f"liquidated; next epoch she sells the lot at the mark and withdraws "
           f"{out['unchanged_marks_walks_away_with']} having risked {DUST}: the house paid "
           "the reserve to a bidder with nothing at stake")
    return out


def drill_auction_paid_to_default(engine_only: bool = False) -> Verdict:
    """Mallory (slot 3) holds 1 unit of collateral and bids -reserve for Carol's lot: the
    house would pay her the reserve to take it, and she hopes to keep the payment. In the
    award epoch instrument 0 is back at 1000, so the lot's margin exceeds the reserve.

    Pass criterion: she wins (the only bid), is liquidated in the award epoch, her bid is
    unwound (the house pays nothing, the lot comes back), she receives nothing (ends no
    better than without the award); the house, Bank A and Carol are not worse off.
    Recorded, not a pass criterion (docs/protocol.md claims otherwise): the same bid at
    unchanged marks, where the reserve (lotMM) meets the lot's margin exactly.
    """
    s = Story("auction-paid-to-default")
    names = {CAROL: "Carol (defaulted)", BANK: "Bank A (honest)",
             BIDDER: "Mallory (no collateral)"}
    run, res = _lot(s, engine_only, names, DUST)
    before = run.state
    orders = EpochOrders(RECOVER, bids={BIDDER: -res})
    p, refused = run.auction_epoch(orders)
    r = p.result
    f = r.slots[BIDDER].figures
    s.check(not refused and r.award == Award(BIDDER, -res),
            f"epoch 3: Mallory bids -{res} (the reserve), the only bid: the lot is hers")
    s.check(f.maintenance_margin > res and p.liquidated == (BIDDER,) and not r.lot_sold,
            f"the lot's margin at the award marks {f.maintenance_margin} exceeds her equity "
            f"{f.cash_pre - f.bid} with the payment: she is liquidated, the bid unwound")
    acc = _accounts(s, run, before, orders, p, names, (BANK, CAROL))
    ch = acc["changes"]
    s.check(ch[BIDDER] <= 0 and r.new.leaves[BIDDER].collateral == 0,
            f"Mallory receives nothing: {ch[BIDDER]:+} against no award, collateral 0")
    s.check(all(ch[i] >= 0 for i in (HOUSE, BANK, CAROL)),
            f"nobody else is worse off for the auction (changes {ch[:BIDDER]})")
    s.facts.update(acc, **_paid_at_unchanged_marks(s, run, before, res))
    return s.verdict("a bid of -reserve without the margin to hold the lot is unwound: the "
                     "bidder is paid nothing")


# -- auction-collusion ---------------------------------------------------------------------

PAL_STAKE = 20_000
COLLUDERS = {CAROL: "Mallory (defaulted; colluder, stays out)", BANK: "Bank A (honest)",
             BIDDER: "Mallory's pal (colluder)"}


def drill_auction_collusion(engine_only: bool = False) -> Verdict:
    """Mallory defaults (slot 1; her portfolio is the lot) and her pal (slot 3) bids
    -reserve for it. A: Bank A bids -reserve/2. B (a second pool, same story): nobody
    honest bids; Mallory tries a bid below the reserve.

    Pass criterion: in A the higher bid wins (Bank A's), the members pay Bank A's price
    only, through the published waterfall, and the colluders gain nothing. In B Mallory's
    bid below the reserve is refused (BidBelowReserve) and the pal buys at -reserve: what
    the members pay is the published rule's, the reserve through the waterfall (house's
    skin, then the survivors' contributions pro rata, then the haircut), exactly: the
    lot's price in the waterfall equals the published reserve, the members other than
    the pal pay it less the pal's own shares, and no more; each honest party pays its
    published shares only.
    """
    s = Story("auction-collusion")
    s.step("A. an honest member outbids the colluders")
    run, res = _lot(s, engine_only, COLLUDERS, PAL_STAKE)
    before = run.state
    orders = EpochOrders(GAP, bids={BIDDER: -res, BANK: -(res // 2)})
    p, refused = run.auction_epoch(orders)
    r = p.result
    s.check(not refused and r.award == Award(BANK, -(res // 2)) and r.lot_sold,
            f"the pal bids -{res}, Bank A {-(res // 2)}: the higher bid wins, Bank A's")
    acc_a = _accounts(s, run, before, orders, p, COLLUDERS, (BANK,), " [A]")
    s.check(acc_a["changes"][CAROL] + acc_a["changes"][BIDDER] <= 0,
            "the colluders gain nothing")

    s.step("B. nobody honest bids (a second pool, the same first two epochs)")
    run, res = _lot(s, engine_only, COLLUDERS, PAL_STAKE)
    before = run.state
    orders = EpochOrders(GAP, bids={BIDDER: -res, CAROL: -res - 1})
    p, refused = run.auction_epoch(orders)
    r = p.result
    s.check(refused == {f"slot {CAROL}'s reveal": "BidBelowReserve"},
            f"Mallory's bid -{res + 1}, below the reserve, is refused: {refused}")
    s.check(r.award == Award(BIDDER, -res) and r.lot_sold,
            f"the pal buys the lot at -{res}, the published reserve")
    acc_b = _accounts(s, run, before, orders, p, COLLUDERS, (BANK,), " [B]")
    lay, (u, y) = p.layers, acc_b["winner_shares"]
    pair = acc_b["changes"][CAROL] + acc_b["changes"][BIDDER]
    s.check(r.layers.residual == res and lay.house + lay.fund + lay.haircut <= res
            and acc_b["paid_by_others"] == res - u - y == pair,
            f"the members pay the reserve through the waterfall and no more: skin "
            f"{lay.house}, contributions {lay.fund}, haircut {lay.haircut}; all but the pal "
            f"pay {acc_b['paid_by_others']} = {res} - the pal's own shares {u + y}, the "
            f"colluders' gain")
    s.facts.update({"a": acc_a, "b": acc_b, "reserve": res, "colluders_gain": pair,
                    "layers_b": dict(zip(("own", "house", "fund", "haircut", "fund_base",
                                          "gains"), published(lay), strict=True))})
    return s.verdict("colluders cannot beat an honest bid; unopposed they buy at the "
                     "published reserve, which the members pay through the waterfall")


# -- auction-cut-short ---------------------------------------------------------------------

def drill_auction_cut_short(engine_only: bool = False) -> Verdict:
    """Bank A and Dave bid for Carol's lot (-reserve/2 and -reserve); the operator tries
    to close the epoch in the commit window, then in the reveal window.

    Pass criterion: both closes are refused (AuctionRunning); both bids are revealed (no
    bid is lost); the close after the reveal deadline awards the best bid (Bank A's) and
    the epoch clears it; nobody pays more than the published rule.
    """
    s = Story("auction-cut-short")
    names = {CAROL: "Carol (defaulted)", BANK: "Bank A (honest bidder)",
             BIDDER: "Dave (honest bidder)"}
    run, res = _lot(s, engine_only, names, PAL_STAKE)
    before = run.state
    a = run.auction()
    assert a is not None
    window = a.reveal_end - a.commit_end
    s.step(f"the auction of epoch 3 (reserve {a.reserve}): commits for {window} s, then "
           f"reveals for {window} s")
    orders = EpochOrders(GAP, bids={BANK: -(res // 2), BIDDER: -res})
    p, refused = run.auction_epoch(orders, early_close=True)
    r = p.result
    s.check(refused == {"close in the commit window": "AuctionRunning",
                        "close in the reveal window": "AuctionRunning"},
            f"the operator's early closes are refused: {refused}")
    done = run.auction(r.epoch)
    s.check(done is not None and done.revealed == (BANK, BIDDER),
            f"no bid is lost: both are revealed ({done.revealed if done else None})")
    s.check(r.award == Award(BANK, -(res // 2)) and r.lot_sold,
            f"the close after the reveal deadline awards the best bid, Bank A's "
            f"{-(res // 2)}, and the epoch clears it")
    acc = _accounts(s, run, before, orders, p, names, (BANK, BIDDER))
    s.facts.update(acc, refused=refused)
    return s.verdict("the operator cannot cut the auction short; the best bid wins")
