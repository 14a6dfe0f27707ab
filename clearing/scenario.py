"""A generated multi-member story for demos and tests: registration, hedged and
leveraged members, a refused withdrawal, then a price shock that liquidates one member.

Deterministic for a given seed; works for any pool with N >= 4 slots, M >= 2 instruments
and K >= 2 scenarios.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from zkclear.field import P
from zkclear.privacy.cipher import Ciphertext, encrypt_report
from zkclear.privacy.viewkeys import MemberKey

from .epoch import EpochResult, initial_margin, maintenance_margin, run_epoch
from .events import Event, Kind
from .params import PoolConfig, RiskParams
from .report import Report
from .state import PoolState


def demo_params(m: int, k: int) -> RiskParams:
    """K scenarios: all prices up/down by 5 %, 10 %, ...; a zero row if K is odd."""
    shocks = [500 * (j + 1) for j in range(k // 2)]
    base = RiskParams.symmetric(m, shocks, im_factor_bp=15_000, penalty_bp=1_000,
                                position_limit=10**9)
    rows = list(base.shocks) + ([(0,) * m] if k % 2 else [])
    return RiskParams(base.im_factor_bp, base.penalty_bp, base.position_limits, tuple(rows))


@dataclass(frozen=True)
class EpochPlan:
    """One epoch of the story: its prices, its events (COMMIT values are the commitments
    of ``ciphertexts``), the reports they open and the view keys of the reporting slots."""

    prices: tuple[int, ...]
    events: tuple[Event, ...]
    reports: dict[int, Report]
    view_keys: dict[int, MemberKey]
    ciphertexts: dict[int, Ciphertext]


def demo_keys(cfg: PoolConfig, seed: int = 1) -> dict[int, MemberKey]:
    """The members' view keys of the story (slots 1..N-1), deterministic per seed.
    INSECURE by design (reproducible demo keys); real members use MemberKey.generate."""
    rng = random.Random(f"zkclear-demo-keys-{seed}")
    return {i: MemberKey(i, rng.randrange(1, P)) for i in range(1, cfg.n_slots)}


def _encrypted(reports: dict[int, Report], keys: dict[int, MemberKey],
               epoch: int) -> dict[int, Ciphertext]:
    return {i: encrypt_report(keys[i], epoch, r) for i, r in reports.items()}


def _reports(delta: list[list[int]], cash: list[int], rng: random.Random) -> dict[int, Report]:
    return {i: Report(tuple(delta[i]), cash[i], rng.randrange(1, P))
            for i in range(len(cash)) if any(delta[i]) or cash[i]}


def demo_plans(cfg: PoolConfig, seed: int = 1) -> list[EpochPlan]:
    """Two epochs. Slot 1 is hedged (long A, short B), slot 2 short A with collateral
    between maintenance and initial margin, slot 3 the counterparty of most trades and
    asks for a withdrawal that would leave it below initial margin (refused); other slots
    trade small random amounts. Epoch 2: A jumps 12 %, slot 2 is liquidated, slot 1's
    withdrawal is granted."""
    if cfg.n_slots < 4 or cfg.n_instruments < 2 or cfg.n_scenarios < 2:
        raise ValueError("the demo story needs N >= 4, M >= 2, K >= 2")
    rng = random.Random(seed)
    n, m = cfg.n_slots, cfg.n_instruments
    params = demo_params(m, cfg.n_scenarios)
    prices = tuple(1_000 + 100 * j for j in range(m))
    delta = [[0] * m for _ in range(n)]
    cash = [0] * n

    def trade(buyer: int, seller: int, inst: int, size: int, px: int) -> None:
        # Futures: no notional changes hands; the trade's P&L against the settlement
        # price is the trade cash (docs/protocol.md, "Trades and netting").
        delta[buyer][inst] += size
        delta[seller][inst] -= size
        cash[buyer] += size * (prices[inst] - px)
        cash[seller] -= size * (prices[inst] - px)

    trade(1, 3, 0, 100, prices[0] - 2)  # hedged: long 100 A ...
    trade(3, 1, 1, 90, prices[1] + 1)  # ... short 90 B
    trade(3, 2, 0, 50, prices[0])  # slot 2 short 50 A
    for i in range(4, n):  # the rest trade a little with slot 3
        j = rng.randrange(m)
        trade(i, 3, j, rng.randrange(1, 20), prices[j] + rng.randrange(-3, 4))
    mm2 = maintenance_margin(delta[2], prices, params)
    deposits = {0: 1_000_000, 1: 60_000, 2: mm2 * 6 // 5, 3: 400_000}
    deposit = [deposits.get(i, 50_000) for i in range(n)]
    im3 = initial_margin(maintenance_margin(delta[3], prices, params), params)
    w3 = deposit[3] + cash[3] - im3 // 2  # leaves half the initial margin: refused

    keys = demo_keys(cfg, seed)
    events = [Event(Kind.REGISTER, i, keys[i].vkh) for i in range(1, n)]
    events += [Event(Kind.DEPOSIT, i, deposit[i]) for i in range(n)]
    reports1 = _reports(delta, cash, rng)
    cts1 = _encrypted(reports1, keys, 1)
    events += [Event(Kind.COMMIT, i, c.commitment()) for i, c in cts1.items()]
    events.append(Event(Kind.WITHDRAW, 3, w3))
    plan1 = EpochPlan(prices, tuple(events), reports1,
                      {i: keys[i] for i in reports1}, cts1)

    shocked = (prices[0] * 112 // 100, *prices[1:])
    plan2 = EpochPlan(shocked, (Event(Kind.WITHDRAW, 1, 1_000),), {}, {}, {})
    return [plan1, plan2]


def run_story(cfg: PoolConfig, seed: int = 1) -> Iterator[EpochResult]:
    """Run the demo story from genesis, yielding each epoch's result."""
    params = demo_params(cfg.n_instruments, cfg.n_scenarios)
    plans = demo_plans(cfg, seed)
    state = PoolState.genesis(cfg, plans[0].prices)
    for plan in plans:
        result = run_epoch(state, params, plan.prices, plan.events, plan.reports,
                           view_keys=plan.view_keys)
        yield result
        state = result.new
