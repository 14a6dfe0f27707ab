"""The circuits zkclear proves, with their parameters fixed at the edge (one place)."""

from __future__ import annotations

from collections.abc import Callable

from zkclear import bounds, paths
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


#: name -> factory taking the circuit's size parameters as keyword arguments.
CIRCUITS: dict[str, Callable[..., Circuit]] = {
    "report_commitment": report_commitment,
}


def get(name: str, **params: int) -> Circuit:
    try:
        factory = CIRCUITS[name]
    except KeyError:
        raise KeyError(f"unknown circuit {name!r}; known: {', '.join(sorted(CIRCUITS))}") from None
    return factory(**params)
