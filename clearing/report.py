"""A member's epoch report and its commitment (PROTOCOL.md, step 1)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from zkclear import bounds
from zkclear.field import P
from zkclear.poseidon import poseidon_chain


@dataclass(frozen=True)
class Report:
    """Per-instrument position changes (lots), the trades' cash (minor units), a salt."""

    delta: tuple[int, ...]
    trade_cash: int
    salt: int

    def __post_init__(self) -> None:
        for m, d in enumerate(self.delta):
            bounds.DELTA.check(d, f"delta[{m}]")
        bounds.CASH.check(self.trade_cash, "tradeCash")
        if not 0 <= self.salt < P:
            raise ValueError("salt must be a canonical field element")

    @classmethod
    def new(cls, delta: list[int] | tuple[int, ...], trade_cash: int) -> Report:
        """A report with a fresh random salt."""
        return cls(tuple(delta), trade_cash, secrets.randbelow(P))

    def field_elements(self) -> list[int]:
        """The committed vector, in circuit order: delta[0..M-1], tradeCash, salt."""
        return [
            *(bounds.DELTA.encode(d) for d in self.delta),
            bounds.CASH.encode(self.trade_cash),
            self.salt,
        ]

    def commitment(self) -> int:
        return poseidon_chain(self.field_elements())

    def circuit_inputs(self) -> dict[str, int | list[int]]:
        """Witness input of ``ReportCommitment``."""
        fe = self.field_elements()
        m = len(self.delta)
        return {"delta": fe[:m], "tradeCash": fe[m], "salt": fe[m + 1]}
