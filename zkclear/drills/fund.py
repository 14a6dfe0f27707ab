"""Default-fund drills (issue 16; docs/protocol.md, "Default fund, the loss waterfall and
Cover-2"): what colluding or griefing members can do to the mutualised layers.

Each drill is one story played either on the embedded EVM with real proofs (the drill
proper, ``zkclear drill NAME``: what is "published" is what the contract emitted,
``DefaultWaterfall`` and ``Cover2``) or through the engine alone (``engine_only=True``,
the quick form the tests run: what is "published" is the proof's public signals, unpacked).
The checks are the same code in both forms.

Why one long module: the two drills share the story runner (EVM or engine alone) and the
readers of what was published; apart, each half would import the other's internals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from zkclear.chain.pool import EpochOrders, EpochOutcome
from zkclear.clearing import public
from zkclear.clearing.auction import Award
from zkclear.clearing.epoch import EpochResult, ceil_div, clear_slot, run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import PoolConfig, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.state import HOUSE, Leaf, PoolState
from zkclear.clearing.trades import TradeReport
from zkclear.clearing.waterfall import Layers
from zkclear.privacy.cipher import encrypt_report
from zkclear.privacy.viewkeys import MemberKey

from .base import (
    DRILL_INSTRUMENTS,
    DRILL_PRICES,
    DRILL_SCENARIOS,
    DRILL_SLOTS,
    Story,
    Verdict,
    drill_params,
    drill_pool,
    merge_trades,
    pool_holdings,
)

BP = 10_000


def fund_params(*, df_floor: int = 500, df_share_bp: int = 1_000, stress_bp: int = 15_000,
                skin_cap: int = 5_000) -> RiskParams:
    """The drill pool's parameters with a default fund."""
    from dataclasses import replace

    return replace(drill_params(), df_floor=df_floor, df_share_bp=df_share_bp,
                   stress_bp=stress_bp, skin_cap=skin_cap)


def _pair(tid: str, m: int, size: int, buyer: int, seller: int
          ) -> dict[int, list[TradeReport]]:
    price = DRILL_PRICES[m]  # at the settlement price: trades move no money by themselves
    return {buyer: [TradeReport(tid, m, 1, size, price, seller)],
            seller: [TradeReport(tid, m, -1, size, price, buyer)]}


def published(layers: Layers) -> tuple[int, ...]:
    """The six amounts ``DefaultWaterfall`` carries (``residual`` is not public)."""
    return (layers.own, layers.house, layers.fund, layers.haircut, layers.fund_base,
            layers.gains)


@dataclass(frozen=True)
class Played:
    """One epoch as its members see it: the engine's result (the operator's), and what
    was published: the waterfall's layers and Cover-2's outcome."""

    result: EpochResult
    layers: Layers
    cover2_met: bool
    df_scale_next: int
    liquidated: tuple[int, ...]
    paid: tuple[int, ...]
    refused: tuple[int, ...]


class Twin(Protocol):
    where: str

    @property
    def state(self) -> PoolState: ...

    def play(self, orders: EpochOrders) -> Played: ...

    def holdings(self, slot: int) -> int: ...


class EngineTwin:
    """The story through :func:`run_epoch` alone (no chain, no proof). Trades are at the
    settlement price (no trade cash); what is published is the epoch's public signals."""

    where = "the engine (public signals unpacked)"

    def __init__(self, params: RiskParams, slots: Iterable[int]) -> None:
        cfg = PoolConfig(DRILL_SLOTS, DRILL_INSTRUMENTS, DRILL_SCENARIOS)
        self.params = params
        self.keys = {slot: MemberKey.generate(slot) for slot in slots}
        zero = (0,) * cfg.n_instruments
        leaves = [Leaf(0, zero, 0, 1)] + [
            Leaf(0, zero, self.keys[i].vkh, 1) if i in self.keys else Leaf(0, zero)
            for i in range(1, cfg.n_slots)]
        self._state = PoolState(cfg, 0, tuple(leaves), DRILL_PRICES)
        self.paid: dict[int, int] = {}

    @property
    def state(self) -> PoolState:
        return self._state

    def play(self, orders: EpochOrders) -> Played:
        st = self._state
        epoch = st.epoch + 1
        deltas: dict[int, list[int]] = {}
        for slot, trades in orders.trades.items():
            d = deltas.setdefault(slot, [0] * st.config.n_instruments)
            for t in trades:
                if t.price != orders.prices[t.instrument]:
                    raise ValueError("the engine twin takes trades at the settlement price")
                d[t.instrument] += t.side * t.size
        reports = {slot: Report(tuple(d), 0, 1 + slot) for slot, d in deltas.items()}
        events = [Event(Kind.DEPOSIT, s, v) for s, v in orders.deposits.items()]
        events += [Event(Kind.WITHDRAW, s, v) for s, v in orders.withdrawals.items()]
        events += [Event(Kind.COMMIT, s, encrypt_report(self.keys[s], epoch, r).commitment())
                   for s, r in reports.items()]
        r = run_epoch(st, self.params, orders.prices, events, reports, view_keys=self.keys,
                      award=self.award_for(orders))
        self._state = r.new
        self.accepted(r)
        v = public.unpack(r.public_signals())
        for sl in r.slots:
            if sl.withdrawal_granted:
                self.paid[sl.slot] = self.paid.get(sl.slot, 0) + sl.withdrawal_requested
        return Played(r, Layers(own=v["fundOwn"], house=v["fundHouse"], fund=v["fundShared"],
                                haircut=v["fundHaircut"], fund_base=v["fundBase"],
                                gains=v["fundGains"]),
                      bool(v["cover2Met"]), v["dfScaleNext"],
                      tuple(sl.slot for sl in r.slots if sl.liquidated),
                      tuple(sl.slot for sl in r.slots if sl.withdrawal_granted),
                      tuple(sl.slot for sl in r.slots if sl.withdrawal_refused))

    def award_for(self, orders: EpochOrders) -> Award | None:
        """The award the epoch clears with (none here; the auction drills' twin runs the
        auction)."""
        return None

    def accepted(self, result: EpochResult) -> None:
        """After each epoch (the auction drills' twin keeps the contract's lot bound)."""

    def holdings(self, slot: int) -> int:
        leaf = self._state.leaves[slot]
        return leaf.collateral + leaf.df + self.paid.get(slot, 0)


class ChainTwin:
    """The story on the embedded EVM with real proofs (INSECURE development keys); what
    is published is what the clearing house emitted."""

    where = "the embedded EVM (DefaultWaterfall and Cover2 events)"

    def __init__(self, params: RiskParams, names: Mapping[int, str]) -> None:
        self.pool = drill_pool(dict(names), params=params)

    @property
    def state(self) -> PoolState:
        return self.pool.state

    def _args(self, event: str, epoch: int) -> Any:
        cl = self.pool.client
        (log,) = getattr(cl.house.events, event)().get_logs(
            argument_filters={"epoch": epoch}, from_block=cl.deployment.first_block)
        return log["args"]

    def play(self, orders: EpochOrders) -> Played:
        return self.outcome(self.pool.play_epoch(orders))

    def outcome(self, out: EpochOutcome) -> Played:
        """An epoch played on the chain, as published."""
        a = self._args("DefaultWaterfall", out.epoch)
        c2 = self._args("Cover2", out.epoch)
        layers = Layers(own=int(a["fundOwn"]), house=int(a["fundHouse"]),
                        fund=int(a["fundShared"]), haircut=int(a["fundHaircut"]),
                        fund_base=int(a["fundBase"]), gains=int(a["fundGains"]))
        on_chain = self.pool.client.df_scale()
        if on_chain != int(c2["dfScaleNext"]):
            raise AssertionError(f"dfScale {on_chain} != Cover2's {int(c2['dfScaleNext'])}")
        acc = out.accepted
        return Played(out.result, layers, bool(c2["met"]), int(c2["dfScaleNext"]),
                      tuple(acc.liquidated), tuple(s for s, _, _ in acc.paid),
                      tuple(s for s, _ in acc.refused))

    def holdings(self, slot: int) -> int:
        """Collateral and what it can claim (:func:`pool_holdings`) plus its contribution
        (the member's money, paid at exit)."""
        return pool_holdings(self.pool, slot) + self.pool.state.leaves[slot].df


def _twin(engine_only: bool, params: RiskParams, names: Mapping[int, str]) -> Twin:
    return EngineTwin(params, names) if engine_only else ChainTwin(params, names)


def own_shares(r: EpochResult, slot: int, layers: Layers, df_scale: int,
               params: RiskParams) -> tuple[int, int, Leaf]:
    """What a surviving member recomputes alone from its own leaf and orders, the public
    prices, the contract's dfScale and the published layers: its ``(u, y)`` and its new
    leaf's collateral and contribution (``Layers.shares`` on its own ``held`` and ``g``)."""
    leaf = r.old.leaves[slot]
    rep = r.reports.get(slot)
    se = r.events.per_slot[slot]
    args = (leaf.collateral, leaf.positions, rep.delta if rep else (0,) * len(leaf.positions),
            rep.trade_cash if rep else 0, se.deposit, se.withdrawal, r.prices, r.prices_prev,
            params)
    first = clear_slot(*args, df=leaf.df, df_scale=df_scale)
    u, y = layers.shares(first.df_held, first.gain)
    house_ok = r.new.leaves[HOUSE].collateral >= 0  # public: the house's word of the exit data
    again = clear_slot(*args, df=leaf.df, df_scale=df_scale, fund_share=u, haircut=y,
                       house_ok=house_ok)
    return u, y, Leaf(again.collateral_after, again.positions_after, df=again.df_after)


# -- default-waterfall ---------------------------------------------------------------------

LONG, BANK, SHORT = 1, 2, 3
WF_NAMES = {LONG: "Mallory (long)", BANK: "Bank A (honest)", SHORT: "Mallory (short)"}
WF_DEPOSITS = {HOUSE: 100_000, LONG: 20_000, BANK: 50_000, SHORT: 30_000}
GAP = (DRILL_PRICES[0] * 70 // 100, DRILL_PRICES[1])  # instrument 0 gaps down 30 %


def drill_default_waterfall(engine_only: bool = False) -> Verdict:
    """Two colluding members (slots 1 and 3) build offsetting positions within the rules:
    slot 1 buys 100 lots of instrument 0 from slot 3 (at the settlement price, with
    collateral above initial margin), and 10 more from Bank A; Bank A also buys 20 lots
    of instrument 1 from slot 3. Instrument 0 then gaps down 30 %, beyond every margin
    scenario: slot 1 is wiped out beyond its collateral and slot 3 gains.

    Pass criterion (mutualisation is a loss by design, so "lost nothing" means "lost
    nothing beyond the published, proven shares"):
      * the shortfall goes down the waterfall exactly as published: the published
        ``DefaultWaterfall`` equals the engine's layers, and each layer is the protocol's
        formula in order (the defaulter's own contribution, the house's skin capped at
        ``skinCap``, the survivors' contributions pro rata, the haircut of their gains);
      * totals conserve (every party's collateral, contribution and claims sum to the
        same before and after; the house stays >= 0: the colluder's gains are haircut
        before the house goes negative);
      * Bank A recomputes its own shares alone (its leaf, the public prices and dfScale,
        the event's fundBase/fundGains, :meth:`Layers.shares`) and loses exactly them
        beyond its market P&L; the house loses exactly its skin (less penalties, plus
        the rounding excess each layer leaves it). The ledger's honest parties are "owed"
        these entitlements; any loss beyond them fails the drill.

    Not a pass criterion, recorded as facts: whether the colluders end no better than
    with an honest counterparty. They do not: slot 1's outcome is its own whatever its
    counterparty, so the pair ends better by slot 3's net gain, and beyond its market P&L
    the pair extracts exactly the house's skin used plus Bank A's shares (zero-sum; bounded
    by ``skinCap`` plus the honest survivors' published shares).
    """
    s = Story("default-waterfall")
    params = fund_params()
    run = _twin(engine_only, params, WF_NAMES)
    s.step(f"pool: N=4, M=2, K=4 on {run.where}; fund: floor {params.df_floor}, share "
           f"{params.df_share_bp} bp, stress {params.stress_bp} bp, skin cap {params.skin_cap}")
    e1 = run.play(EpochOrders(DRILL_PRICES, merge_trades(
        _pair("c1", 0, 100, LONG, SHORT), _pair("a1", 0, 10, LONG, BANK),
        _pair("a2", 1, 20, BANK, SHORT)), deposits=WF_DEPOSITS))
    r1 = e1.result
    s.check(r1.epoch == 1 and not e1.liquidated and all(
        sl.figures.equity >= sl.maintenance_margin for sl in r1.slots[1:]),
        "epoch 1: deposits and positions within the rules (every member above MM)")
    s.check(r1.slots[LONG].collateral_pre >= r1.slots[LONG].initial_margin,
            f"slot 1 opened long 110 with {WF_DEPOSITS[LONG]} >= its IM "
            f"{r1.slots[LONG].initial_margin}")
    parties = {"house": HOUSE, **{WF_NAMES[i]: i for i in WF_NAMES}}
    before = {p: run.holdings(i) for p, i in parties.items()}
    scale = run.state.df_scale

    e2 = run.play(EpochOrders(GAP))
    r = e2.result
    figs = {sl.slot: sl.figures for sl in r.slots}
    fl, fb, fs = figs[LONG], figs[BANK], figs[SHORT]
    s.step(f"epoch 2: instrument 0 gaps {DRILL_PRICES[0]} -> {GAP[0]}")
    s.check(e2.liquidated == (LONG,) and fl.shortfall > 0,
            f"slot 1 is liquidated with a shortfall of {fl.shortfall} beyond its collateral")
    lay = r.layers
    s.check(published(e2.layers) == published(lay),
            f"the published waterfall {published(e2.layers)} (own, house, fund, haircut, "
            "fundBase, fundGains) is the engine's")
    # Each layer in order, recomputed from the slots' figures with the protocol's formulas.
    liq = [f for f in figs.values() if f.liquidated]
    surv = [i for i, f in figs.items() if i != HOUSE and not f.liquidated]
    own = sum(min(f.shortfall, f.df_held) for f in liq)
    r1_ = sum(f.shortfall for f in liq) - own
    h = figs[HOUSE].cash_pre + sum(f.penalty for f in liq)
    s.check(lay.own == own == fl.df_held,
            f"1. the defaulter's own contribution first: {lay.own} (all it held)")
    h_use = min(r1_, params.skin_cap, max(h, 0))
    s.check(lay.house == h_use == params.skin_cap < r1_,
            f"2. the house's skin: {lay.house} = skinCap (the residual {r1_} is larger)")
    f_base = sum(figs[i].df_held for i in surv)
    f_use = min(r1_ - h_use, f_base)
    s.check((lay.fund_base, lay.fund) == (f_base, f_use) and f_use == f_base,
            f"3. the survivors' contributions, all {f_base} of them, pro rata")
    g = sum(figs[i].gain for i in surv)
    hc = min(r1_ - h_use - f_use, g)
    s.check((lay.gains, lay.haircut) == (g, hc) and 0 < hc < g and lay.uncovered == 0,
            f"4. the haircut: {hc} of the survivors' gains {g}; nothing left uncovered")
    s.check(all((figs[i].fund_share, figs[i].haircut) == lay.shares(figs[i].df_held,
                                                                     figs[i].gain)
                for i in surv), "each survivor's shares are ceil(layer * own / base)")
    s.check(fs.haircut > 0 and r.new.leaves[HOUSE].collateral >= 0,
            f"the colluder's gains are haircut ({fs.haircut}) before the house goes "
            f"negative (house {r.new.leaves[HOUSE].collateral})")

    after = {p: run.holdings(i) for p, i in parties.items()}
    s.check(sum(before.values()) == sum(after.values()) == r.total_collateral
            == r.old.total_collateral(), f"totals conserve: {sum(after.values())} before "
            "and after, on-chain totalCollateral the same")

    # Bank A, alone: its own figures and the published layers.
    u, y, leaf = own_shares(r, BANK, e2.layers, scale, params)
    new_a = r.new.leaves[BANK]
    s.check((u, y) == (fb.fund_share, fb.haircut) and (leaf.collateral, leaf.df)
            == (new_a.collateral, new_a.df),
            f"Bank A recomputes its shares alone: fund {u}, haircut {y}; its new leaf "
            f"({new_a.collateral}, df {new_a.df}) is what it computed")
    loss_a = before[WF_NAMES[BANK]] + fb.variation_margin - after[WF_NAMES[BANK]]
    s.check(loss_a == u + y, f"Bank A lost {loss_a} beyond its market P&L "
            f"{fb.variation_margin}: exactly its published shares {u} + {y}")
    excess = sum(figs[i].fund_share for i in surv) - lay.fund + sum(
        figs[i].haircut for i in surv) - lay.haircut
    house_due = before["house"] + sum(f.penalty for f in liq) - lay.house
    s.check(after["house"] == house_due + excess and 0 <= excess < 2 * DRILL_SLOTS,
            f"the house lost its skin {lay.house} (less penalties), kept the rounding "
            f"excess {excess}")
    s.ledger.honest.update({"house", WF_NAMES[BANK]})
    s.ledger.owed.update({"house": house_due,
                          WF_NAMES[BANK]: before[WF_NAMES[BANK]] + fb.variation_margin - u - y})
    s.ledger.final.update({"house": after["house"], WF_NAMES[BANK]: after[WF_NAMES[BANK]]})

    # The colluders, as a pair.
    pair = (LONG, SHORT)
    d_pair = sum(after[WF_NAMES[i]] - before[WF_NAMES[i]] for i in pair)
    market = sum(figs[i].variation_margin for i in pair)
    extracted = d_pair - market
    d_long = after[WF_NAMES[LONG]] - before[WF_NAMES[LONG]]
    s.check(extracted == (before["house"] - after["house"]) + u + y
            <= params.skin_cap + u + y,
            f"beyond their market P&L ({market}) the colluders extracted {extracted} = the "
            "house's loss + Bank A's shares, at most skinCap + Bank A's published shares")
    s.step(f"not better off than with an honest counterparty? No: slot 1 ends at {d_long} "
           f"whoever its counterparty; with slot 3 the pair ends at {d_pair} (better by "
           f"{d_pair - d_long}, slot 3's net gain)")
    s.facts.update({"layers": dict(zip(("own", "house", "fund", "haircut", "fund_base",
                                        "gains"), published(e2.layers), strict=True)),
                    "shortfall": fl.shortfall, "bank_shares": [u, y],
                    "house_before": before["house"], "house_after": after["house"],
                    "colluders_change": d_pair, "colluders_market_pnl": market,
                    "colluders_extracted": extracted, "long_alone_change": d_long,
                    "colluders_no_better_than_honest_counterparty": d_pair <= d_long})
    return s.verdict("the default goes down the published waterfall; the honest member "
                     "loses exactly its proven pro-rata shares")


# -- fund-call-griefing --------------------------------------------------------------------

RICH, THIN, GRIEFER = 1, 2, 3
GR_NAMES = {RICH: "Bank A (honest, well funded)", THIN: "Bank B (honest, above IM)",
            GRIEFER: "Mallory (griefer)"}
GR_DEPOSITS = {HOUSE: 10_000, RICH: 500_000, THIN: 4_200, GRIEFER: 50_400}
GR_STRESS_BP = 30_000  # Cover-2's stress: three times the margin scenarios
RICH_WITHDRAWAL = 100_000
THIN_WITHDRAWAL = 100


def _call_checks(s: Story, p: Played, params: RiskParams, scale: int,
                 honest: Iterable[int]) -> None:
    """The call rule on every member: ``req = max(floor, ceil(ST * s / BP))`` with
    ``s = max(dfShareBp, dfScale)`` (at most ``max(floor, ST)`` since dfScale <= 10000),
    the call from the equity above MM only, and no honest member liquidated."""
    r = p.result
    s_use = max(params.df_share_bp, scale)
    for sl in r.slots[1:]:
        f = sl.figures
        if f.maintenance_margin == 0:
            continue
        want = max(params.df_floor, ceil_div(f.stress * s_use, BP))
        call = f.df_held - sl.before.df
        s.check(f.required == want <= max(params.df_floor, f.stress)
                and call <= max(0, f.cash_pre - f.maintenance_margin),
                f"epoch {r.epoch} slot {sl.slot}: req {f.required} <= max(floor, its own "
                f"stress {f.stress}); call {call} from the equity above MM "
                f"({f.cash_pre} - {f.maintenance_margin}); held {f.df_held}"
                + ("" if f.call_met else " (unmet)"))
    for i in honest:
        f = r.slots[i].figures
        s.check(not r.slots[i].liquidated and f.equity >= f.maintenance_margin,
                f"epoch {r.epoch}: honest slot {i} not liquidated by the call (equity "
                f"{f.equity} >= MM {f.maintenance_margin})")


def _cover2_checks(s: Story, p: Played) -> None:
    """Cover-2 as published, and the bound: C2 <= the two largest survivors' stress
    losses <= D, so dfScaleNext <= 10000 bp."""
    r = p.result
    surv = [sl.figures for sl in r.slots[1:] if not sl.liquidated]
    stress = sorted((f.stress for f in surv), reverse=True)
    d = sum(stress)
    c2 = r.cover2.requirement
    s.check((p.cover2_met, p.df_scale_next) == (r.cover2.met, r.new.df_scale),
            f"epoch {r.epoch}: the published Cover2 (met {p.cover2_met}, dfScaleNext "
            f"{p.df_scale_next}) is the engine's")
    s.check(c2 <= sum(stress[:2]) <= d and p.df_scale_next <= BP,
            f"epoch {r.epoch}: C2 {c2} <= two largest stress losses {sum(stress[:2])} <= D "
            f"{d}, so dfScaleNext {p.df_scale_next} <= {BP} bp")


def drill_fund_call_griefing(engine_only: bool = False) -> Verdict:
    """Mallory (slot 3) buys 500 lots of instrument 0 from Bank A with collateral barely
    above MM: her uncovered stress loss makes the epoch miss Cover-2, and the next
    epoch's dfScale calls every member for a larger share of its own stress loss. Bank B
    holds a small position with equity above IM; Bank A is well funded.

    Pass criterion: the call cannot be turned against honest members' money --
      * dfScaleNext never exceeds 10000 bp (C2 <= the two largest survivors' stress
        losses <= D, checked in both epochs), so each member is called at most
        ``max(dfFloor, its own stress loss)``;
      * the call never liquidates: it comes from the equity above MM only; no honest
        member is liquidated, and neither is the griefer (her call stays unmet);
      * Bank A, whose equity covers MM + its call + IM + the withdrawal, withdraws;
      * no honest party (house, Bank A, Bank B) loses money (prices do not move).
    Recorded, not a pass criterion: Bank B's withdrawal, which the rule without the
    griefer would grant, is refused while its call is unmet (the griefing's cost: liquidity,
    not money).
    """
    s = Story("fund-call-griefing")
    params = fund_params(stress_bp=GR_STRESS_BP, skin_cap=1_000)
    run = _twin(engine_only, params, GR_NAMES)
    s.step(f"pool: N=4, M=2, K=4 on {run.where}; fund: floor {params.df_floor}, share "
           f"{params.df_share_bp} bp, stress {params.stress_bp} bp, skin cap {params.skin_cap}")
    parties = {"house": HOUSE, **{GR_NAMES[i]: i for i in GR_NAMES}}
    honest = (RICH, THIN)
    s.ledger.honest.update(("house", GR_NAMES[RICH], GR_NAMES[THIN]))
    s.ledger.owed.update({p: GR_DEPOSITS[i] for p, i in parties.items()
                          if p in s.ledger.honest})

    e1 = run.play(EpochOrders(DRILL_PRICES, merge_trades(
        _pair("g1", 0, 500, GRIEFER, RICH), _pair("b1", 1, 20, THIN, RICH)),
        deposits=GR_DEPOSITS))
    g1 = e1.result.slots[GRIEFER].figures
    assert g1 is not None
    s.check(not e1.liquidated and g1.equity >= g1.maintenance_margin and not g1.call_met,
            f"epoch 1: Mallory long 500 with equity {g1.equity} >= MM "
            f"{g1.maintenance_margin}, her call unmet (held {g1.df_held} of {g1.required})")
    s.check(not e1.cover2_met and e1.df_scale_next > params.df_share_bp,
            f"epoch 1 misses Cover-2 (C2 {e1.result.cover2.requirement} > fund + skin "
            f"{e1.result.cover2.resources}): next dfScale {e1.df_scale_next} bp")
    _call_checks(s, e1, params, 0, honest)
    _cover2_checks(s, e1)

    scale = run.state.df_scale
    e2 = run.play(EpochOrders(DRILL_PRICES, withdrawals={
        RICH: RICH_WITHDRAWAL, THIN: THIN_WITHDRAWAL, GRIEFER: 1_000}))
    r2 = e2.result
    s.step(f"epoch 2: the call at dfScale {scale} bp; Bank A asks for {RICH_WITHDRAWAL}, "
           f"Bank B for {THIN_WITHDRAWAL}, Mallory for 1000")
    _call_checks(s, e2, params, scale, honest)
    _cover2_checks(s, e2)
    a, b = r2.slots[RICH].figures, r2.slots[THIN].figures
    assert a is not None and b is not None
    s.check(a.cash_pre >= a.maintenance_margin + (a.required - r2.slots[RICH].before.df)
            and RICH in e2.paid,
            f"Bank A (equity {a.cash_pre} above MM {a.maintenance_margin} + its call "
            f"{a.required - r2.slots[RICH].before.df}) withdrew {RICH_WITHDRAWAL}")
    s.check(GRIEFER in e2.refused and GRIEFER not in e2.liquidated,
            "Mallory's withdrawal is refused (her call is unmet); she is not liquidated")
    # The counterfactual: Bank B's figures at the floor share (no griefer's dfScale).
    rep = r2.slots[THIN].before
    se = r2.events.per_slot[THIN]
    calm = clear_slot(rep.collateral, rep.positions, (0, 0), 0, se.deposit, se.withdrawal,
                      r2.prices, r2.prices_prev, params, df=rep.df, df_scale=0)
    s.step(f"Bank B: equity {b.cash_pre}, MM {b.maintenance_margin}, IM "
           f"{b.initial_margin}; called {b.required - rep.df} at dfScale {scale}: "
           + ("met" if b.call_met else f"unmet (held {b.df_held} of {b.required})")
           + f"; its withdrawal {'granted' if THIN in e2.paid else 'refused'} (at the floor "
           f"share it would be {'granted' if calm.withdrawal_granted else 'refused'})")
    s.ledger.final.update({p: run.holdings(i) for p, i in parties.items()
                           if p in s.ledger.honest})
    s.facts.update({"df_scale": [e1.df_scale_next, e2.df_scale_next],
                    "cover2_met": [e1.cover2_met, e2.cover2_met],
                    "thin_refused": THIN in e2.refused,
                    "thin_granted_without_griefer": calm.withdrawal_granted,
                    "thin_call_met": b.call_met, "rich_paid": RICH in e2.paid})
    return s.verdict("a griefer's missed Cover-2 raises every call to at most each "
                     "member's own stress loss; nobody is liquidated by it")
