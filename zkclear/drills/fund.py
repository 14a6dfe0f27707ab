"""Default-fund drills (issue 16; docs/protocol.md, "Default fund, the loss waterfall and
Cover-2"): what colluding or griefing members can do to the mutualised layers.

Each drill is one story played either on the embedded EVM with real proofs (the drill
proper, ``zkclear drill NAME``: what is "published" is what the contract emitted,
``DefaultWaterfall`` and ``Cover2``) or through the engine alone (``engine_only=True``,
the quick form the tests run: what is "published" is the proof's public signals, unpacked).
The checks are the same code in both forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from zkclear.chain.pool import EpochOrders
from zkclear.clearing import public
from zkclear.clearing.epoch import EpochResult, clear_slot, run_epoch
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
        r = run_epoch(st, self.params, orders.prices, events, reports, view_keys=self.keys)
        self._state = r.new
        v = public.unpack(r.public_signals(), st.config.n_slots)
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
        return self.pool.state  # type: ignore[no-any-return]

    def _args(self, event: str, epoch: int) -> Any:
        cl = self.pool.client
        (log,) = getattr(cl.house.events, event)().get_logs(
            argument_filters={"epoch": epoch}, from_block=cl.deployment.first_block)
        return log["args"]

    def play(self, orders: EpochOrders) -> Played:
        out = self.pool.play_epoch(orders)
        a = self._args("DefaultWaterfall", out.epoch)
        c2 = self._args("Cover2", out.epoch)
        layers = Layers(own=int(a["fundOwn"]), house=int(a["fundHouse"]),
                        fund=int(a["fundShared"]), haircut=int(a["fundHaircut"]),
                        fund_base=int(a["fundBase"]), gains=int(a["fundGains"]))
        on_chain = int(self.pool.client.house.functions.dfScale().call())
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
        sl.figures and sl.figures.equity >= sl.maintenance_margin for sl in r1.slots[1:]),
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
    assert all(f is not None for f in figs.values())
    fl, fb, fs = figs[LONG], figs[BANK], figs[SHORT]
    assert fl and fb and fs
    s.step(f"epoch 2: instrument 0 gaps {DRILL_PRICES[0]} -> {GAP[0]}")
    s.check(e2.liquidated == (LONG,) and fl.shortfall > 0,
            f"slot 1 is liquidated with a shortfall of {fl.shortfall} beyond its collateral")
    lay = r.layers
    s.check(published(e2.layers) == published(lay),
            f"the published waterfall {published(e2.layers)} (own, house, fund, haircut, "
            "fundBase, fundGains) is the engine's")
    # Each layer in order, recomputed from the slots' figures with the protocol's formulas.
    liq = [f for f in figs.values() if f and f.liquidated]
    surv = [i for i, f in figs.items() if i != HOUSE and f and not f.liquidated]
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
