"""The one function that turns an epoch into the epoch circuit's input.

Nothing is computed twice by hand: every value comes from the engine's
:class:`~zkclear.clearing.epoch.EpochResult`, encoded mod r. The names and the public
order are those of docs/protocol.md ("The epoch").
"""

from __future__ import annotations

from typing import Any

from zkclear.field import P

from . import public
from .epoch import EpochResult
from .events import EpochEvents


def epoch_circuit_inputs(r: EpochResult) -> dict[str, Any]:
    cfg = r.old.config
    n, m_count, e_max = cfg.n_slots, cfg.n_instruments, cfg.max_events
    zero = (0,) * m_count
    events = list(r.events.events)
    pad = e_max - len(events)
    reports = [r.reports.get(i) for i in range(n)]
    inputs: dict[str, Any] = dict(zip(r.PUBLIC_NAMES, r.public_signals(), strict=True))
    # The values the packed signals carry are private inputs the circuit unpacks to.
    inputs |= {k: v % P for k, v in r.public_values().items()
               if k not in inputs and k not in public.COMPUTED}
    inputs |= {
        "liquidatedMask": public.mask_words(r.liquidated_mask, n),
        "grantedMask": public.mask_words(r.granted_mask, n),
        "imFactorBp": r.params.im_factor_bp,
        "penaltyBp": r.params.penalty_bp,
        **dict(zip(("dfFloor", "dfShareBp", "stressBp", "skinCap"),
                   r.params.fund_elements(), strict=True)),
        "posLimit": list(r.params.position_limits),
        "shock": [[s % P for s in row] for row in r.params.shocks],
        "isPerp": [int(i.is_perp) for i in r.params.instruments],
        "isOption": [int(i.is_option) for i in r.params.instruments],
        "expiry": [i.expiry for i in r.params.instruments],
        "pricePrev": list(r.prices_prev),
        "fundPrev": [f % P for f in (r.funding_prev or (0,) * m_count)],
        "riskPrev": r.risk_prev,
        "price": list(r.prices),
        "fund": [f % P for f in (r.funding or (0,) * m_count)],
        "riskArray": [[a % P for a in r.risk_arrays.get(m, (0,) * cfg.n_scenarios)]
                      for m in range(m_count)],
        "evKind": [int(e.kind) for e in events] + [0] * pad,
        "evSlot": [e.slot for e in events] + [0] * pad,
        "evValue": [e.value for e in events] + [0] * pad,
        "evLayout": event_layout(r.events),
        "c": [lf.collateral % P for lf in r.old.leaves],
        "q": [[q % P for q in lf.positions] for lf in r.old.leaves],
        "df": [lf.df for lf in r.old.leaves],
        "vkh": [lf.vkh for lf in r.old.leaves],
        "status": [lf.status for lf in r.old.leaves],
        "nonce": [lf.nonce for lf in r.old.leaves],
        "delta": [[d % P for d in (rep.delta if rep else zero)] for rep in reports],
        "tradeCash": [(rep.trade_cash if rep else 0) % P for rep in reports],
        "salt": [rep.salt if rep else 0 for rep in reports],
        "viewKey": [r.view_keys[i].key.reveal() if i in r.view_keys else 0 for i in range(n)],
        "blind": [1 if i in r.blinded else 0 for i in range(n)],
    }
    return inputs



def event_layout(events: EpochEvents) -> list[list[int]]:
    """The events by slot and kind, as the circuit's ``EventsByLayout`` takes them:
    ``layout[i][k - 1]`` is slot ``i``'s event of kind ``k`` (its value mod r), 0 if none
    (:class:`EpochEvents` has refused a second event of a kind for one slot)."""
    return [[s.commitment % P, s.deposit, s.withdrawal, s.vkh % P if s.registered else 0]
            for s in events.per_slot]
