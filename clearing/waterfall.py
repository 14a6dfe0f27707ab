"""The default waterfall and Cover-2 (docs/protocol.md, "Default fund, the loss waterfall
and Cover-2"): the pool-wide part of an epoch, between the slots' own figures
(:func:`.slot.clear_slot`) and their new values: :func:`pool_waterfall` between the
engine's two passes, :func:`pool_cover2` after them.

Layers, in order, for the shortfalls of the epoch's liquidated members: (1) each
defaulter's own contribution, (2) the house's skin in the game up to ``skinCap``, (3) the
survivors' contributions pro rata, (4) a haircut of the survivors' variation-margin gains
pro rata; what is left stays with the house. Every amount here is what
``circuits/lib/waterfall.circom`` checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zkclear import bounds

from .params import RiskParams
from .slot import SlotFigures, ceil_div
from .state import HOUSE

BP = bounds.BP


def pro_rata(total: int, part: int, whole: int) -> int:
    """``ceil(total * part / whole)``, 0 when ``whole`` is 0: a member's share of a layer
    (never more than ``part`` when ``total <= whole``)."""
    return ceil_div(total * part, whole) if whole else 0


@dataclass(frozen=True)
class Layers:
    """One epoch's waterfall, as public as the proof makes it (``layersA``, ``layersB``,
    ``fundTotals``): every member recomputes its own shares from these and its own data."""

    own: int = 0  # O: the defaulters' own contributions used
    residual: int = 0  # R1: the shortfalls beyond them (not public; the house's figure shows it)
    house: int = 0  # hUse: the house's skin in the game used
    fund: int = 0  # fUse: the survivors' contributions used
    haircut: int = 0  # hcUse: the survivors' VM gains haircut
    fund_base: int = 0  # F: the survivors' contributions before the layer
    gains: int = 0  # G: the survivors' VM gains before the haircut

    @property
    def uncovered(self) -> int:
        """What no layer covered: the house carries it (and may be negative)."""
        return self.residual - self.house - self.fund - self.haircut

    def shares(self, held: int, gain: int) -> tuple[int, int]:
        """A survivor's ``(u, y)`` from its contribution after the call (``held``) and its
        gain: its contribution used and its haircut."""
        return (pro_rata(self.fund, held, self.fund_base),
                pro_rata(self.haircut, gain, self.gains))


def layers(house_after_penalties: int, shortfalls: Sequence[int], own: Sequence[int],
           survivors_held: Sequence[int], survivors_gains: Sequence[int],
           params: RiskParams, lot_loss: int = 0) -> Layers:
    """The waterfall of one epoch: ``shortfalls``/``own`` of the liquidated members,
    ``survivors_held``/``survivors_gains`` (df + call, g) of the surviving members,
    ``house_after_penalties`` = H = cpre_0 + sum of penalties (+ a positive sale price of
    the house's lot), ``lot_loss`` what the house paid to sell its lot (docs/protocol.md,
    "The auction of the house's lot"): a loss of the pool, covered like a shortfall."""
    o = sum(own)
    r1 = sum(shortfalls) - o + lot_loss
    h_use = min(r1, params.skin_cap, max(house_after_penalties, 0))
    r2 = r1 - h_use
    f_base = sum(survivors_held)
    f_use = min(r2, f_base)
    r3 = r2 - f_use
    g = sum(survivors_gains)
    return Layers(o, r1, h_use, f_use, min(r3, g), f_base, g)


@dataclass(frozen=True)
class Cover2:
    """Cover-2 after an epoch: the two largest uncovered stress losses against the fund
    and the house's layer; ``scale_next`` is the contract's next dfScale."""

    requirement: int  # C2 = the two largest unc_i
    resources: int  # the survivors' df' + skin'
    met: bool
    scale_next: int


def cover2(uncovered: Sequence[int], fund_after: int, house_after: int,
           survivors_stress: int, params: RiskParams) -> Cover2:
    """``uncovered`` = unc_i of the survivors (0 for others), ``fund_after`` = the
    survivors' df', ``house_after`` = c'_0, ``survivors_stress`` = D = sum ST_i."""
    top = sorted(uncovered, reverse=True)[:2]
    c2 = sum(top)
    skin = min(params.skin_cap, max(house_after, 0))
    need = max(0, c2 - skin)
    scale = (min((1 << bounds.SCALE_BITS) - 1, ceil_div(need * BP, survivors_stress))
             if survivors_stress else 0)
    return Cover2(c2, fund_after + skin, fund_after + skin >= c2, scale)


@dataclass(frozen=True)
class PoolWaterfall:
    """The pool-wide step between :func:`.slot.clear_slot`'s two passes (docs/protocol.md,
    "Default fund, the loss waterfall and Cover-2"): who survives, the epoch's layers,
    each slot's shares ``(u, y)`` for the second pass, and the house's new collateral."""

    survivors: tuple[bool, ...]
    layers: Layers
    shares: tuple[tuple[int, int], ...]
    house: int  # c'_0 = H - R1 + sum u + sum y


def pool_waterfall(first: Sequence[SlotFigures], members: Sequence[bool],
                   params: RiskParams) -> PoolWaterfall:
    """The waterfall of one epoch from every slot's first-pass figures (slot
    :data:`HOUSE` is the house; ``members[i]``: slot i is a member after this epoch's
    registrations, never the house). :func:`.epoch.run_epoch` and the stress run's replay
    (:func:`zkclear.clearing.stress.replay_path`) both call it. An auction winner's bid
    (``SlotFigures.bid``) is paid to the house unless the winner is liquidated (it
    unwinds); the house's payment for a lot sold below the mark enters the waterfall."""
    surv = tuple(members[i] and not f.liquidated for i, f in enumerate(first))
    liq = [f for f in first if f.liquidated]
    sale = sum(f.bid for f in first if not f.liquidated)
    house_h = first[HOUSE].cash_pre + sum(f.penalty for f in liq) + max(sale, 0)
    wf = layers(house_h, [f.shortfall for f in liq], [f.own_fund_used for f in liq],
                          [f.df_held for i, f in enumerate(first) if surv[i]],
                          [f.gain for i, f in enumerate(first) if surv[i]], params,
                          max(-sale, 0))
    shares = tuple(wf.shares(f.df_held, f.gain) if surv[i] else (0, 0)
                   for i, f in enumerate(first))
    house_c = house_h - wf.residual + sum(u + y for u, y in shares)
    return PoolWaterfall(surv, wf, shares, house_c)


def pool_cover2(figures: Sequence[SlotFigures], survivors: Sequence[bool], house_after: int,
                params: RiskParams) -> Cover2:
    """Cover-2 on the second pass's new values: the two largest uncovered stress losses of
    the survivors against the survivors' ``df'`` (a defaulter's leftover contribution
    covers its own shortfalls only) and the house's layer (``house_after`` = c'_0); its
    ``scale_next`` is the next epoch's dfScale."""
    unc = [max(0, f.stress - f.collateral_after - f.df_after) if survivors[i] else 0
           for i, f in enumerate(figures)]
    fund = sum(f.df_after for i, f in enumerate(figures) if survivors[i])
    return cover2(unc, fund, house_after,
                            sum(f.stress for i, f in enumerate(figures) if survivors[i]),
                            params)
