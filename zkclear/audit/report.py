"""The audit's record: its findings, a row per epoch, the report and its JSON form.

:class:`AuditReport` is what :func:`zkclear.audit.audit_member` returns. Its machine form
(:meth:`AuditReport.to_json`, format ``zkclear-audit-v1``) has plain JSON types (integers
exact, field elements as hex); its page (:meth:`AuditReport.to_html`) is rendered by
:mod:`zkclear.audit.html`. Both hold the member's private figures: the files are written
with owner-only permissions, and neither ever contains key material.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkclear.clearing.auction import Award
from zkclear.clearing.epoch import SlotFigures
from zkclear.clearing.waterfall import Layers
from zkclear.errors import ZkclearError
from zkclear.fsutil import write_atomic

from .html import render

__all__ = ["FORMAT", "AuditError", "AuditReport", "EpochRow", "Finding"]

#: The ``format`` field of the JSON report.
FORMAT = "zkclear-audit-v1"


class AuditError(ZkclearError):
    """The audit cannot start (no such member, ambiguous or missing key, bad vkey)."""


@dataclass(frozen=True)
class Finding:
    """One failed check. ``epoch`` is None for pool-level findings (the key, the escrow).

    ``field`` is what was checked (``ciphertext``, ``view key``, ``escrow``, ``liquidated``,
    ``withdrawal``, ``proof``, ...), ``reason`` a short code (``tag``, ``truncated``,
    ``commitment``, ``wrong-epoch``, ``mismatch``, ...), ``expected`` / ``found`` the two
    values compared (strings; None when there is no single value), ``message`` a sentence.
    """

    epoch: int | None
    field: str
    reason: str
    expected: str | None
    found: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "field": self.field, "reason": self.reason,
                "expected": self.expected, "found": self.found, "message": self.message}

    def __str__(self) -> str:
        where = f"epoch {self.epoch}" if self.epoch is not None else "pool"
        extra = ""
        if self.expected is not None or self.found is not None:
            extra = f" (expected {self.expected}, found {self.found})"
        return f"{where}: {self.field}: {self.reason}: {self.message}{extra}"


@dataclass
class EpochRow:
    """The audit of one epoch for the member. Figures are None where not derivable;
    ``status`` is one of :data:`zkclear.audit.html.STATUSES`."""

    epoch: int
    status: str = "not derivable"
    accepted: bool = False
    committed: bool = False
    commitment: int | None = None
    excluded: bool = False  # ReportExcluded: closed without the member's report
    disclosed: bool = False
    registered: bool = False
    deposit: int = 0
    withdrawal_requested: int = 0
    prices_prev: tuple[int, ...] | None = None
    prices: tuple[int, ...] | None = None
    funding_index: tuple[int, ...] | None = None  # F_e (perpetuals)
    settled: tuple[int, ...] = ()  # instruments whose expiry is this epoch
    waterfall: Layers | None = None  # the epoch's published DefaultWaterfall
    award: Award | None = None  # the epoch's award of the house's lot (LotAwarded)
    params_hash: int | None = None
    delta: tuple[int, ...] | None = None
    trade_cash: int | None = None
    positions_before: tuple[int, ...] | None = None
    collateral_before: int | None = None
    figures: SlotFigures | None = None
    # What the accepted epoch published for the slot.
    onchain_liquidated: bool | None = None
    onchain_granted: bool | None = None
    withdrawal_paid: int | None = None
    withdrawal_refused: int | None = None
    proof_verified: bool | None = None
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        f = self.figures

        def hx(x: int | None) -> str | None:
            return None if x is None else "0x" + x.to_bytes(32, "big").hex()

        def lst(x: Sequence[int] | None) -> list[int] | None:
            return None if x is None else list(x)

        return {
            "epoch": self.epoch, "status": self.status, "accepted": self.accepted,
            "registered": self.registered, "committed": self.committed,
            "commitment": hx(self.commitment), "excluded": self.excluded,
            "disclosed": self.disclosed,
            "deposit": self.deposit, "withdrawal_requested": self.withdrawal_requested,
            "prices_prev": lst(self.prices_prev), "prices": lst(self.prices),
            "funding_index": lst(self.funding_index), "settled": list(self.settled),
            "funding": f.funding if f else None,
            "params_hash": hx(self.params_hash),
            "delta": lst(self.delta), "trade_cash": self.trade_cash,
            "positions_before": lst(self.positions_before),
            "collateral_before": self.collateral_before,
            "variation_margin": f.variation_margin if f else None,
            "positions": list(f.positions) if f else None,
            "equity": f.equity if f else None,
            "scenario_losses": list(f.losses) if f else None,
            "maintenance_margin": f.maintenance_margin if f else None,
            "initial_margin": f.initial_margin if f else None,
            "liquidated": f.liquidated if f else None,
            "penalty": f.penalty if f else None,
            "shortfall": f.shortfall if f else None,
            "withdrawal_granted": f.withdrawal_granted if f else None,
            "collateral_after": f.collateral_after if f else None,
            "positions_after": list(f.positions_after) if f else None,
            "default_fund": ({"before": f.df_held - (f.cash_pre - f.equity),
                              "required": f.required, "held": f.df_held,
                              "call_met": f.call_met, "stress_loss": f.stress,
                              "own_used": f.own_fund_used, "fund_share": f.fund_share,
                              "haircut": f.haircut, "after": f.df_after} if f else None),
            "waterfall": (None if self.waterfall is None else {
                "own": self.waterfall.own, "house": self.waterfall.house,
                "fund": self.waterfall.fund, "haircut": self.waterfall.haircut,
                "fund_base": self.waterfall.fund_base, "gains": self.waterfall.gains}),
            "award": (None if self.award is None else
                      {"winner": self.award.winner, "bid": self.award.bid}),
            "onchain": {"liquidated": self.onchain_liquidated,
                        "withdrawal_granted": self.onchain_granted,
                        "withdrawal_paid": self.withdrawal_paid,
                        "withdrawal_refused": self.withdrawal_refused,
                        "proof_verified": self.proof_verified},
            "findings": [x.to_json() for x in self.findings],
        }


@dataclass
class AuditReport:
    """The audit of one member: a row per epoch since its registration, and findings."""

    slot: int
    chain_id: int
    house: str
    pool_id: str
    key_kind: str  # member | epoch | compliance | none
    key_epoch: int | None
    vkh: int | None
    rows: list[EpochRow]
    findings: list[Finding]
    proofs_checked: bool

    @property
    def ok(self) -> bool:
        """No finding at all (epochs that are merely not disclosed are not failures)."""
        return not self.findings

    def row(self, epoch: int) -> EpochRow:
        for r in self.rows:
            if r.epoch == epoch:
                return r
        raise KeyError(f"epoch {epoch} is not in the audit")

    def to_json(self) -> dict[str, Any]:
        """The machine form: plain JSON types (integers exact, field elements as hex)."""
        return {
            "format": FORMAT, "ok": self.ok, "slot": self.slot, "chain_id": self.chain_id,
            "house": self.house, "pool_id": self.pool_id,
            "key": {"kind": self.key_kind, "epoch": self.key_epoch},
            "vkh": None if self.vkh is None else "0x" + self.vkh.to_bytes(32, "big").hex(),
            "proofs_checked": self.proofs_checked,
            "epochs": [r.to_json() for r in self.rows],
            "findings": [f.to_json() for f in self.findings],
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        write_atomic(p, json.dumps(self.to_json(), indent=1) + "\n")  # mode 0600 (mkstemp)
        return p

    def to_html(self) -> str:
        """The self-contained page (:func:`zkclear.audit.html.render` of :meth:`to_json`)."""
        return render(self.to_json())

    def write_html(self, path: str | os.PathLike[str]) -> Path:
        """A self-contained page (inline CSS and SVG), owner-only permissions."""
        p = Path(path)
        write_atomic(p, self.to_html())
        return p
