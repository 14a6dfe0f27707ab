"""Property tests of the engine: random pools, trades and price paths over several epochs."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkclear.clearing.epoch import EpochError, run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import PoolConfig, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.state import PoolState

from .helpers import committed, keys_of
from .helpers import registered as register

CFG = PoolConfig(8, 3, 4)
PARAMS = RiskParams.symmetric(3, [500, 2000], im_factor_bp=12_000, penalty_bp=500)

trade = st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(0, 2),
                  st.integers(1, 50), st.integers(50, 150))
epoch_spec = st.tuples(
    st.lists(trade, max_size=12),
    st.lists(st.integers(50, 150), min_size=3, max_size=3),  # prices
    st.lists(st.tuples(st.integers(0, 7), st.integers(1, 5000)), max_size=4),  # deposits
    st.lists(st.tuples(st.integers(1, 7), st.integers(1, 5000)), max_size=3),  # withdrawals
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(epoch_spec, min_size=1, max_size=4), st.integers(0, 2**32))
def test_random_epochs_conserve_and_leave_survivors_solvent(epochs, seed):
    state = PoolState.genesis(CFG, (100, 100, 100))
    registered = False
    for j, (trades, prices, deposits, withdrawals) in enumerate(epochs):
        delta = [[0] * 3 for _ in range(8)]
        cash = [0] * 8
        for buyer, seller, m, size, px in trades:
            if buyer == seller:
                continue
            delta[buyer][m] += size
            delta[seller][m] -= size
            cash[buyer] -= size * px
            cash[seller] += size * px
        reports = {i: Report(tuple(delta[i]), cash[i], (seed + i + j) % 2**64 + 1)
                   for i in range(1, 8) if any(delta[i]) or cash[i]}
        events: list[Event] = []
        if not registered:
            events += register(range(1, 8))
            registered = True
        events += committed(reports, state.epoch + 1)
        deposited = dict(deposits)  # one deposit per slot and epoch (the last drawn)
        events += [Event(Kind.DEPOSIT, s, a) for s, a in deposited.items()]
        seen = set()
        for s, a in withdrawals:
            if s not in seen:
                events.append(Event(Kind.WITHDRAW, s, a))
                seen.add(s)
        try:
            r = run_epoch(state, PARAMS, tuple(prices), events, reports,
                          view_keys=keys_of(reports))
        except EpochError as exc:
            # The one refusal these epochs can meet: random trade prices that give a slot
            # trade losses beyond its equity before trades (the trade-cash rule; the
            # operator's matcher refuses such trades before members sign). The pool total
            # can no longer go negative: no withdrawal is granted while the house is.
            assert "exceeds the equity before trades" in str(exc), exc
            return
        paid = sum(s.withdrawal_requested for s in r.slots if s.withdrawal_granted)
        assert r.total_collateral == state.total_collateral() + sum(deposited.values()) - paid
        for m in range(3):
            assert sum(lf.positions[m] for lf in r.new.leaves) == 0
        for s in r.slots[1:]:
            if s.liquidated:
                assert s.after.is_flat and s.after.collateral >= 0
                assert s.collateral_pre < s.maintenance_margin
            else:
                assert s.after.collateral >= s.maintenance_margin
                if s.withdrawal_granted:
                    assert s.after.collateral >= s.initial_margin
        assert r.liquidated_mask & 1 == 0  # the house is never liquidated
        state = r.new
