"""One epoch of clearing in plain integer Python: the executable form of the spec.

Every formula here is the one in docs/protocol.md ("The epoch") and the one
circuits/epoch.circom checks; the witness builder (:mod:`.witness`) feeds this module's
inputs to the circuit, and the tests check that the circuit's public values equal
:meth:`EpochResult.public_signals`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from zkclear import bounds
from zkclear.errors import ZkclearError
from zkclear.field import BoundError
from zkclear.privacy.cipher import encrypt_report
from zkclear.privacy.viewkeys import MemberKey

from . import auction, public, waterfall
from .auction import Award
from .events import EpochEvents, Event
from .instruments import InstrumentError, Market, risk_hash
from .params import ParamsError, RiskParams, check_prices, prices_hash
from .report import Report
from .slot import (
    SlotFigures,
    TradeLossError,
    ceil_div,
    clear_slot,
    initial_margin,
    maintenance_margin,
    scenario_losses,
)
from .state import HOUSE, Leaf, PoolState
from .waterfall import PoolWaterfall, pool_cover2, pool_waterfall

__all__ = ["EpochError", "EpochResult", "PoolWaterfall", "SlotFigures", "SlotResult",
           "TradeLossError", "ceil_div", "clear_slot", "initial_margin",
           "maintenance_margin", "pool_cover2", "pool_waterfall", "run_epoch",
           "scenario_losses"]

BP = bounds.BP


class EpochError(ZkclearError, ValueError):
    """The epoch cannot be cleared as given (refused before proving)."""


@dataclass(frozen=True)
class SlotResult:
    slot: int
    variation_margin: int
    collateral_pre: int  # e: after VM, trade cash, deposits and the default-fund call
    losses: tuple[int, ...]
    maintenance_margin: int
    initial_margin: int
    liquidated: bool
    withdrawal_requested: int
    withdrawal_granted: bool
    penalty: int
    shortfall: int  # the part of a negative cpre the house absorbs (>= 0)
    before: Leaf
    after: Leaf
    figures: SlotFigures  # everything clear_slot computed for the slot
    funding: int = 0  # the funding part of variation_margin (received > 0)

    @property
    def equity(self) -> int:
        return self.collateral_pre

    @property
    def withdrawal_refused(self) -> bool:
        return self.withdrawal_requested > 0 and not self.withdrawal_granted


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    old: PoolState
    new: PoolState
    params: RiskParams
    prices_prev: tuple[int, ...]
    prices: tuple[int, ...]
    events: EpochEvents
    reports: Mapping[int, Report]
    slots: tuple[SlotResult, ...]
    view_keys: Mapping[int, MemberKey]  # the key of every slot that reported or is blinded
    blinded: frozenset[int] = frozenset()  # slots whose new nonce derives from their key
    funding_prev: tuple[int, ...] = ()  # F of the previous epoch (() = zeros)
    funding: tuple[int, ...] = ()  # F of this epoch
    risk_arrays: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # options' A
    risk_prev: int = 0  # the previous epoch's riskHash
    layers: waterfall.Layers = field(default_factory=waterfall.Layers)
    cover2: waterfall.Cover2 = field(default_factory=lambda: waterfall.Cover2(0, 0, True, 0))
    award: Award | None = None  # the epoch's award of the house's lot (the auction)

    @property
    def house_flat(self) -> bool:
        """The house holds no position after the epoch (no auction follows)."""
        return not any(self.new.leaves[HOUSE].positions)

    @property
    def lot_mm(self) -> int:
        """lotMM: the defaulters' maintenance margins (an upper bound of the margin of
        what the house took over), the next auction's reserve base."""
        return sum(s.maintenance_margin for s in self.slots if s.liquidated)

    @property
    def lot_sold(self) -> bool:
        """The award went through (its winner was not liquidated)."""
        return self.award is not None and not self.slots[self.award.winner].liquidated

    @property
    def risk_hash(self) -> int:
        cfg = self.old.config
        return risk_hash(self.params.instruments, self.risk_arrays, cfg.n_scenarios,
                         self.epoch)

    @property
    def settled(self) -> tuple[int, ...]:
        """Instruments settled in this epoch (their expiry epoch)."""
        return tuple(m for m, ins in enumerate(self.params.instruments)
                     if ins.expiry == self.epoch)

    @property
    def liquidated_mask(self) -> int:
        return sum(1 << s.slot for s in self.slots if s.liquidated)

    @property
    def granted_mask(self) -> int:
        return sum(1 << s.slot for s in self.slots if s.withdrawal_granted)

    @property
    def total_collateral(self) -> int:
        return self.new.total_collateral()

    def exit_data(self) -> list[int]:
        """``D``: the new leaf hashes, the house's collateral mod r and the liquidated and
        granted masks' words, published with the proof (``submitEpoch`` calldata) so that
        members can exit after a freeze and the contract learns the masks."""
        return public.exit_data(self.new.exit_leaves(), self.liquidated_mask, self.granted_mask,
                                self.old.config.n_slots)

    @property
    def rho(self) -> int:
        return public.exit_challenge(self.epoch, self.new.root(), self.exit_data())

    def public_values(self) -> dict[str, int]:
        """What the public signals carry, by name (:data:`public.PUBLIC_VALUES`)."""
        d = self.exit_data()
        rho = public.exit_challenge(self.epoch, self.new.root(), d)
        return {"rho": rho, "exitSum": public.exit_sum(d, rho),
                "oldRoot": self.old.root(), "newRoot": self.new.root(), "epoch": self.epoch,
                "paramsHash": self.params.hash(),
                "pricesPrevHash": prices_hash(self.prices_prev, self.funding_prev,
                                              self.risk_prev),
                "pricesHash": prices_hash(self.prices, self.funding, self.risk_hash),
                "eventsAcc": self.events.accumulator, "nEvents": len(self.events.events),
                "totalCollateral": self.total_collateral,
                "dfScale": self.old.df_scale, "dfScaleNext": self.new.df_scale,
                "cover2Met": int(self.cover2.met), "fundOwn": self.layers.own,
                "fundHouse": self.layers.house, "fundShared": self.layers.fund,
                "fundHaircut": self.layers.haircut, "fundBase": self.layers.fund_base,
                "fundGains": self.layers.gains,
                **auction.award_values(self.award), "houseFlat": int(self.house_flat),
                "lotMM": self.lot_mm}

    def public_signals(self) -> list[int]:
        """In the circuit's order (docs/protocol.md), small values packed."""
        return public.pack(self.public_values())

    PUBLIC_NAMES = public.PUBLIC_NAMES


def run_epoch(
    state: PoolState,
    params: RiskParams,
    prices: Sequence[int] | Market,
    events: Sequence[Event],
    reports: Mapping[int, Report],
    *,
    view_keys: Mapping[int, MemberKey] | None = None,
    funding: Sequence[int] | None = None,
    risk_arrays: Mapping[int, Sequence[int]] | None = None,
    award: Award | None = None,
) -> EpochResult:
    """Clear epoch ``state.epoch + 1``; raises :class:`EpochError` before any proving.

    ``reports`` maps a slot to the report its on-chain commitment opens; ``view_keys``
    must hold that slot's :class:`MemberKey`: the commitment is the one of the report's
    ciphertext under the key's epoch key (docs/protocol.md, "Report cipher"), and the key
    must be the one the slot's leaf commits to after this epoch's registration. Every
    member slot whose key is given is *blinded* (keys of non-members are ignored): its new
    leaf's nonce is ``Poseidon(K_e, 0)``, which the member can recompute; any other leaf's
    nonce is 0.

    The market (docs/protocol.md, "Instruments"), given as a :class:`Market` or as
    ``prices`` with ``funding`` and ``risk_arrays``: ``funding`` is this epoch's funding
    index F per instrument (None: unchanged, no funding paid), which may move only for
    perpetuals; ``risk_arrays`` maps every option to its K-entry risk array (the oracle's
    final arrays). Instruments at or past their expiry take no trades and close.

    ``award``: the epoch's award of the house's lot, as the contract recorded it at close
    (docs/protocol.md, "The auction of the house's lot"): its winner takes the house's
    positions at this epoch's marks and pays the bid.
    """
    cfg = state.config
    n, m_count = cfg.n_slots, cfg.n_instruments
    params.check_config(cfg)
    table = params.instruments
    if isinstance(prices, Market):  # the oracle's final market (chain client's market())
        if funding is not None or risk_arrays is not None:
            raise EpochError("give the market, or prices with funding and risk_arrays")
        funding, risk_arrays = prices.funding, prices.arrays
        prices = prices.prices
    prices = check_prices(prices, m_count, table=table)
    prev = check_prices(state.prices, m_count, "previous prices", table=table)
    epoch = state.epoch + 1
    try:
        market = Market(prices, tuple(funding) if funding is not None else state.funding,
                        {j: tuple(a) for j, a in (risk_arrays or {}).items()})
        r_hash = risk_hash(table, market.arrays, cfg.n_scenarios, epoch)
    except (ParamsError, InstrumentError) as exc:
        raise EpochError(str(exc)) from exc
    for m, ins in enumerate(table):
        if market.funding[m] != state.funding[m] and not ins.is_perp:
            raise EpochError(f"instrument {m} is not a perpetual: its funding index cannot "
                             f"move ({state.funding[m]} -> {market.funding[m]})")
    risk = params.risk_matrix(prices, market.arrays, epoch)
    ev = EpochEvents.build(cfg, events)
    live = tuple(not ins.done(epoch) for ins in table)

    # 1. Reports must be what the committed ciphertexts decrypt to; members only.
    view_keys = dict(view_keys or {})
    for slot in reports:
        if not 0 <= slot < n:
            raise EpochError(f"report for unknown slot {slot}")
    nonces = [0] * n
    for slot, key in view_keys.items():
        if not (isinstance(slot, int) and 0 <= slot < n):
            raise EpochError(f"view key for unknown slot {slot!r}")
        if not isinstance(key, MemberKey) or key.slot != slot:
            raise EpochError(f"slot {slot}: view_keys[{slot}] must be slot {slot}'s MemberKey")
        se = ev.per_slot[slot]
        if not (state.leaves[slot].status == 1 or se.registered):
            continue  # not a member (yet): its leaf stays empty, its nonce 0
        vkh = se.vkh if se.registered else state.leaves[slot].vkh
        if key.vkh != vkh:
            raise EpochError(f"slot {slot}: the view key is not the one the slot registered "
                             "(Poseidon(K) != vkh)")
        nonces[slot] = key.leaf_nonce(epoch)
    for i in range(n):
        se = ev.per_slot[i]
        member = state.leaves[i].status == 1 or se.registered
        if not member and (se.commitment or se.deposit or se.withdrawal or i in reports):
            raise EpochError(f"slot {i} is not a member: no reports, deposits or withdrawals")
        rep = reports.get(i)
        if se.commitment and rep is None:
            raise EpochError(f"slot {i} committed {hex(se.commitment)[:12]}… but no report "
                             "opening it was given")
        if rep is not None:
            if not se.commitment:
                raise EpochError(f"slot {i}: report given but nothing was committed on-chain")
            if len(rep.delta) != m_count:
                raise EpochError(f"slot {i}: report has {len(rep.delta)} instruments, "
                                 f"the pool has {m_count}")
            rep_key = view_keys.get(i)
            if rep_key is None:
                raise EpochError(f"slot {i}: no view key given: the proof shows the "
                                 "committed ciphertext decrypts to the report, which needs it")
            if encrypt_report(rep_key, epoch, rep).commitment() != se.commitment:
                raise EpochError(f"slot {i}: the report's ciphertext under the slot's epoch "
                                 f"{epoch} key does not match its on-chain commitment")

    zero = (0,) * m_count
    deltas = [reports[i].delta if i in reports else zero for i in range(n)]
    cash = [reports[i].trade_cash if i in reports else 0 for i in range(n)]

    # 2. Netting conserves positions and cash.
    for m in range(m_count):
        if sum(d[m] for d in deltas) != 0:
            raise EpochError(f"instrument {m}: position changes sum to "
                             f"{sum(d[m] for d in deltas)}, not 0 (reports do not net)")
    if sum(cash) != 0:
        raise EpochError(f"trade cash sums to {sum(cash)}, not 0 (reports do not net)")
    for m in range(m_count):
        if sum(leaf.positions[m] for leaf in state.leaves) != 0:
            raise EpochError(f"state invariant broken: positions in {m} do not sum to 0")

    members = [bool(leaf.status or ev.per_slot[i].registered) and i != HOUSE
               for i, leaf in enumerate(state.leaves)]
    if state.leaves[HOUSE].df:
        raise EpochError("state invariant broken: the house holds a default-fund contribution")
    zero_lot = (0,) * m_count
    lot = zero_lot
    if award is not None:
        if not isinstance(award, Award) or award.winner >= n or not members[award.winner]:
            raise EpochError(f"award {award!r}: the winner must be a member slot of the pool")
        lot = state.leaves[HOUSE].positions  # clear_slot drops settled instruments

    def won(i: int) -> tuple[tuple[int, ...], int]:
        """Slot i's lot and bid (the award's winner's; nothing for the others)."""
        if award is None or i != award.winner:
            return (), 0
        return lot, award.bid

    def clear_all(house_ok: bool, shares: Sequence[tuple[int, int]]) -> list[SlotFigures]:
        figures: list[SlotFigures] = []
        for i, leaf in enumerate(state.leaves):
            se = ev.per_slot[i]
            lot_i, bid_i = won(i)
            try:
                figures.append(clear_slot(leaf.collateral, leaf.positions, deltas[i], cash[i],
                                          se.deposit, se.withdrawal, prices, prev, params,
                                          house=i == HOUSE, house_ok=house_ok,
                                          funding=market.funding, funding_prev=state.funding,
                                          live=live, risk=risk, df=leaf.df,
                                          df_scale=state.df_scale, member=members[i],
                                          fund_share=shares[i][0], haircut=shares[i][1],
                                          lot=lot_i, bid=bid_i))
            except (BoundError, ParamsError, TradeLossError) as exc:
                raise EpochError(f"slot {i}: {exc}") from exc
        return figures

    # A first pass decides liquidations, penalties and shortfalls (none depends on the
    # waterfall); the waterfall then gives each survivor its shares (docs/protocol.md,
    # "Default fund, the loss waterfall and Cover-2").
    pool = pool_waterfall(clear_all(True, [(0, 0)] * n), members, params)
    surv, wf, shares, house_c = pool.survivors, pool.layers, pool.shares, pool.house
    # Step 6, pool rule: no withdrawal is granted while the house, after this epoch's
    # waterfall, is negative (grants do not change the house's figure).
    figures = clear_all(house_c >= 0, shares)

    # Step 8: the house takes over liquidated positions; its cash is the waterfall's.
    house_f = figures[HOUSE]
    # An award hands the house's lot to the winner (a liquidated winner returns it below).
    house_q = list(zero_lot if award is not None else house_f.positions)
    slots: list[SlotResult] = []
    new_leaves: list[Leaf] = []
    for i, (leaf, f) in enumerate(zip(state.leaves, figures, strict=True)):
        se = ev.per_slot[i]
        status = 1 if (leaf.status or se.registered) else 0
        vkh = se.vkh if se.registered else leaf.vkh
        if f.liquidated:
            house_q = [h + q for h, q in zip(house_q, f.positions, strict=True)]
        after = (Leaf(f.collateral_after, f.positions_after, vkh, status, nonces[i],
                      f.df_after) if i != HOUSE else leaf)  # the house's leaf is set below
        new_leaves.append(after)
        slots.append(SlotResult(i, f.variation_margin, f.equity, f.losses,
                                f.maintenance_margin, f.initial_margin, f.liquidated,
                                se.withdrawal if i != HOUSE else 0, f.withdrawal_granted,
                                f.penalty, f.shortfall, leaf, after, f, f.funding))
    h = state.leaves[HOUSE]
    hse = ev.per_slot[HOUSE]
    try:
        house = Leaf(house_c, tuple(house_q), hse.vkh if hse.registered else h.vkh,
                     1 if (h.status or hse.registered) else 0, nonces[HOUSE])
    except BoundError as exc:
        raise EpochError(f"house account out of bounds: {exc}") from exc
    new_leaves[HOUSE] = house
    slots[HOUSE] = replace(slots[HOUSE], after=house)

    c2 = pool_cover2(figures, surv, house_c, params)
    new_state = state.with_leaves(new_leaves, epoch, prices, market.funding, r_hash,
                                  c2.scale_next)
    total = new_state.total_collateral()
    if not 0 <= total < 1 << bounds.TOTAL_BITS:
        raise EpochError(f"total collateral after the epoch would be {total}: the granted "
                         "withdrawals exceed what the pool holds (the house is under water)")
    blinded = frozenset(i for i in range(n) if nonces[i])
    result = EpochResult(epoch, state, new_state, params, prev, prices, ev, dict(reports),
                         tuple(slots), {i: view_keys[i] for i in set(reports) | blinded},
                         blinded, state.funding, market.funding, market.arrays,
                         state.risk_hash, wf, c2, award)
    _check_invariants(result)
    return result


def _check_invariants(r: EpochResult) -> None:
    """Steps 7 and 9: solvency and conservation (a failure here is a bug, not bad input)."""
    cfg = r.new.config
    for m in range(cfg.n_instruments):
        assert sum(lf.positions[m] for lf in r.new.leaves) == 0, "positions do not net"
    deposits = sum(s.deposit for s in r.events.per_slot)
    paid = sum(s.withdrawal_requested for s in r.slots if s.withdrawal_granted)
    assert r.new.total_collateral() == r.old.total_collateral() + deposits - paid
    for s in r.slots:
        if s.slot != HOUSE:
            # A survivor met MM before the waterfall's haircut (which may leave it short:
            # it is margined again next epoch).
            haircut = s.figures.haircut
            assert s.liquidated or s.after.collateral + haircut >= s.maintenance_margin
            assert s.after.collateral >= 0 or not s.liquidated
