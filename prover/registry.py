"""The circuits zkclear proves, with their parameters fixed at the edge (one place)."""

from __future__ import annotations

from collections.abc import Callable

from zkclear import bounds, paths
from zkclear.clearing.public import PUBLIC_NAMES
from zkclear.prover.circuit import Circuit


def report_commitment(instruments: int = 2) -> Circuit:
    """A member's report (delta[M], tradeCash, salt) opens to its public commitment."""
    return Circuit(
        name="report_commitment",
        source=paths.CIRCUITS_DIR / "report.circom",
        template="ReportCommitment",
        params=(instruments, bounds.DELTA_BITS, bounds.CASH_BITS),
        description="report opens to its Poseidon commitment; signed fields range-checked",
    )


#: The epoch circuit's public signals, in order: zkclear.clearing.public's (it packs them),
#: the one list the circuit, the contracts' mirror (N_PUBLIC, PUB_*) and the verifier's
#: input count are checked against.
EPOCH_PUBLIC = PUBLIC_NAMES


def epoch(slots: int = 4, instruments: int = 2, scenarios: int = 4,
          events: int | None = None) -> Circuit:
    """One epoch of clearing for N slots, M instruments, K scenarios, E event slots.

    E defaults to 4N (docs/protocol.md); every bound and the basis-point scale come from
    :mod:`zkclear.bounds`, in the order of ``Epoch``'s parameters.
    """
    e = events if events is not None else 4 * slots
    return Circuit(
        name="epoch",
        source=paths.CIRCUITS_DIR / "epoch.circom",
        template="Epoch",
        params=(slots, instruments, scenarios, e, bounds.DELTA_BITS, bounds.CASH_BITS,
                bounds.PRICE_BITS, bounds.SHOCK_BITS, bounds.LOSS_BITS,
                bounds.IM_FACTOR_BITS, bounds.PENALTY_BITS, bounds.BP, bounds.EPOCH_BITS,
                bounds.N_EVENTS_BITS, bounds.TOTAL_BITS, bounds.RHO_BITS, bounds.FUND_BITS,
                bounds.SCALE_BITS, bounds.LAYER_BITS, bounds.MASK_WORD_BITS),
        public=EPOCH_PUBLIC,
        description="events, reports, netting, mark-to-market, portfolio margin, two-way "
                    "liquidation, withdrawals, penalties, the default waterfall, Cover-2, "
                    "conservation, state roots",
    )


#: name -> factory taking the circuit's size parameters as keyword arguments.
CIRCUITS: dict[str, Callable[..., Circuit]] = {
    "report_commitment": report_commitment,
    "epoch": epoch,
}


def get(name: str, **params: int) -> Circuit:
    try:
        factory = CIRCUITS[name]
    except KeyError:
        raise KeyError(f"unknown circuit {name!r}; known: {', '.join(sorted(CIRCUITS))}") from None
    return factory(**params)
