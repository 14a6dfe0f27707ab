"""Independent audit of one member's history from public chain data and a view key.

``audit_member`` reads only what anyone can read from the chain -- the clearing house's
and the oracle's events and views (and, to re-verify the epoch proofs, the calldata of
the ``submitEpoch`` transactions) -- plus one key:

- a :class:`~zkclear.privacy.viewkeys.MemberKey` (``K``: every epoch of the member),
- an :class:`~zkclear.privacy.viewkeys.EpochKey` (``K_e``: epoch ``e`` only; epochs in which the
  member committed a report under another key are listed as *not disclosed*, which is
  not a failure), or
- the pool's compliance key pair, which opens the member's escrow (published with its
  registration) and so yields ``K``.

Epoch by epoch it fetches the member's published report ciphertext, checks it against
the on-chain commitment, decrypts it, takes the epoch's deposits and withdrawal request
from the event log, the final prices from the oracle and the risk parameters the epoch
was closed with (``paramsHash`` of ``EpochClosed``, matched to a ``RiskParamsSet``), and
re-derives the member's variation margin, positions, equity (``cpre``), maintenance and
initial margin, liquidation (penalty, shortfall) and withdrawal outcome with the engine's
rules (:mod:`zkclear.clearing.epoch`). Each derived outcome is compared with what the
accepted epoch published (``EpochAccepted`` masks, ``Liquidated`` / ``WithdrawalPaid`` /
``WithdrawalRefused``). Every mismatch or failure becomes a :class:`Finding` naming the
epoch, the field, what was expected and what was found; the audit of everything else
carries on. docs/protocol.md ("Audit") describes the checks.

The report (:class:`AuditReport`) holds the member's private figures: it is written with
owner-only permissions and never contains key material.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import event_abi_to_log_topic
from web3 import Web3

from zkclear.chain.client import Client
from zkclear.chain.contracts import Deployment
from zkclear.clearing.epoch import SlotFigures, TradeLossError, clear_slot
from zkclear.clearing.events import EpochEvents, Event, Kind, accumulate
from zkclear.clearing.params import ParamsError, RiskParams, prices_hash
from zkclear.clearing.public import PackingError, exit_challenge, exit_sum
from zkclear.clearing.public import unpack as unpack_public
from zkclear.clearing.report import Report
from zkclear.errors import ArtefactError, ProofError, ZkclearError
from zkclear.field import BoundError, P
from zkclear.fsutil import write_atomic
from zkclear.privacy.cipher import Ciphertext, DecryptionError, decrypt, decrypt_report
from zkclear.privacy.compliance import EscrowError, pool_id_bytes, recover
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.viewkeys import EpochKey, MemberKey

__all__ = [
    "FORMAT",
    "AuditError",
    "AuditReport",
    "EpochRow",
    "Finding",
    "SlotFigures",
    "audit_member",
    "derive_slot",
    "pool_id",
]

#: The ``format`` field of the JSON report.
FORMAT = "zkclear-audit-v1"


class AuditError(ZkclearError):
    """The audit cannot start (no such member, ambiguous or missing key, bad vkey)."""


def pool_id(deployment: Deployment) -> str:
    """The pool id bound into escrow blobs (:attr:`Deployment.pool_id`)."""
    return deployment.pool_id


# --- findings and rows ------------------------------------------------------------------


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


def derive_slot(slot: int, collateral: int, positions: Sequence[int], report: Report,
                deposit: int, withdrawal: int, prices: Sequence[int],
                prices_prev: Sequence[int], params: RiskParams, *,
                house_ok: bool = True) -> SlotFigures:
    """Clear one member slot (``slot >= 1``) from its leaf before the epoch, its report and
    its public events: the engine's own per-slot function
    (:func:`zkclear.clearing.epoch.clear_slot`), so audit and engine cannot drift apart.
    Raises :class:`BoundError` / :class:`ParamsError` for values the epoch proof could
    never have accepted (out of bounds, over a position limit).
    """
    if slot < 1:
        raise ValueError("the house (slot 0) is not audited per member")
    return clear_slot(collateral, positions, report.delta, report.trade_cash, deposit,
                      withdrawal, prices, prices_prev, params, house_ok=house_ok)


def house_collateral(client: Any, epoch: int) -> int | None:
    """The house's collateral after an accepted epoch, from its published exit data
    (``ExitDataPublished``; the last word, signed mod r), or None if not published."""
    logs = client.house.events.ExitDataPublished().get_logs(
        argument_filters={"epoch": epoch}, from_block=client.deployment.first_block)
    if not logs:
        return None
    c0 = int(logs[-1]["args"]["exitData"][-1])
    return c0 - P if c0 > P // 2 else c0


#: Row statuses, in the order of the HTML legend.
STATUSES = {
    "verified": "figures derived from the decrypted report and checked against the chain",
    "excluded": "closed without the member's report (ReportExcluded: it did not sign its "
                "netted report in time); figures derived with no trades and checked",
    "failed": "a check failed (see the findings)",
    "pending": "closed but not accepted yet: figures derived, no on-chain outcome to check",
    "not disclosed": "the member committed a report that the given key does not open "
                     "(an epoch key of another epoch): public checks only",
    "not derivable": "an earlier epoch's figures are unknown, so this epoch's are too: "
                     "public checks only",
}


@dataclass
class EpochRow:
    """The audit of one epoch for the member. Figures are None where not derivable."""

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
        return _render_html(self)

    def write_html(self, path: str | os.PathLike[str]) -> Path:
        """A self-contained page (inline CSS and SVG), owner-only permissions."""
        p = Path(path)
        write_atomic(p, self.to_html())
        return p


# --- chain data ---------------------------------------------------------------------------


def _hex(x: int) -> str:
    return "0x" + x.to_bytes(32, "big").hex() if 0 <= x < 2**256 else str(x)


class _Chain:
    """The public data the audit reads: the clearing house's logs, fetched in one query
    (a node scans its blocks once, not once per event type) and decoded here."""

    def __init__(self, client: Client, slot: int) -> None:
        self.client = client
        house = client.house
        by_topic = {event_abi_to_log_topic(abi): getattr(house.events, abi["name"])()
                    for abi in house.abi if abi.get("type") == "event"}
        raw = client.w3.eth.get_logs({"address": house.address,
                                      "fromBlock": client.deployment.first_block,
                                      "toBlock": "latest"})
        decoded: dict[str, list[Any]] = {}
        for log in raw:
            ev = by_topic.get(bytes(log["topics"][0])) if log["topics"] else None
            if ev is not None:
                decoded.setdefault(ev.event_name, []).append(ev.process_log(log))

        def logs(name: str, **filters: int) -> list[dict[str, Any]]:
            return [{**e["args"], "_log": e} for e in decoded.get(name, [])
                    if all(int(e["args"][k]) == v for k, v in filters.items())]

        self.closed = {int(e["epoch"]): e for e in logs("EpochClosed")}
        self.accepted = {int(e["epoch"]): e["_log"] for e in logs("EpochAccepted")}
        self.params_set = logs("RiskParamsSet")
        self.registered = logs("MemberRegistered", slot=slot)
        self.epoch_events: dict[int, list[dict[str, Any]]] = {}
        for e in logs("EpochEvent"):
            self.epoch_events.setdefault(int(e["epoch"]), []).append(e)
        self.slot_events = [e for e in logs("EpochEvent") if int(e["slot"]) == slot]
        self.excluded = {int(e["epoch"]) for e in logs("ReportExcluded", slot=slot)}
        self.reports: dict[int, list[dict[str, Any]]] = {}
        for e in logs("ReportCommitted", slot=slot):
            self.reports.setdefault(int(e["epoch"]), []).append(e)
        self.liquidated: dict[int, int] = {}
        for e in logs("Liquidated", slot=slot):
            self.liquidated[int(e["epoch"])] = self.liquidated.get(int(e["epoch"]), 0) + 1
        self.paid: dict[int, list[dict[str, Any]]] = {}
        for e in logs("WithdrawalPaid", slot=slot):
            self.paid.setdefault(int(e["epoch"]), []).append(e)
        self.refused: dict[int, list[int]] = {}
        for e in logs("WithdrawalRefused", slot=slot):
            self.refused.setdefault(int(e["epoch"]), []).append(int(e["amount"]))

    def events_of(self, epoch: int) -> list[Event]:
        """The epoch's events in accumulator order, checked against the on-chain
        accumulator and count (as :meth:`Client.epoch_events` does, from the logs
        already fetched)."""
        logs = sorted(self.epoch_events.get(epoch, []), key=lambda e: int(e["index"]))
        events = [Event(Kind(int(e["kind"])), int(e["slot"]), int(e["value"])) for e in logs]
        info = self.client.epoch_info(epoch)
        if [int(e["index"]) for e in logs] != list(range(len(logs))) \
                or len(events) != info["nEvents"] or accumulate(events) != info["eventsAcc"]:
            raise ZkclearError(f"epoch {epoch}: the event logs do not rebuild the on-chain "
                               "accumulator (incomplete logs from the node?)")
        return events

    def params_for(self, params_hash: int) -> RiskParams:
        cfg = self.client.deployment.config
        for ev in reversed(self.params_set):
            if int(ev["paramsHash"]) != params_hash:
                continue
            params = RiskParams.from_log(ev, cfg.n_instruments)
            if params.hash() != params_hash:
                raise ParamsError(f"RiskParamsSet announces paramsHash {_hex(params_hash)} "
                                  f"but its parameters hash to {_hex(params.hash())}")
            return params
        raise ParamsError(f"no RiskParamsSet event has paramsHash {_hex(params_hash)}")


# --- the audit ----------------------------------------------------------------------------


@dataclass
class _State:
    """The member's leaf as far as the audit knows it (None: unknown)."""

    collateral: int | None
    positions: tuple[int, ...] | None


def _load_vkey(vkey: Any) -> Any:
    from zkclear.verifier.groth16 import VerifyingKey

    if vkey is None or isinstance(vkey, VerifyingKey):
        return vkey
    try:
        return VerifyingKey.from_json(vkey)
    except ArtefactError as exc:
        raise AuditError(f"cannot use the verification key: {exc}") from exc


def audit_member(w3: Web3, deployment: Deployment, key: MemberKey | EpochKey | None, *,
                 slot: int | None = None, compliance_key: X25519KeyPair | None = None,
                 vkey: Any = None) -> AuditReport:
    """Audit member ``slot`` (default: the key's slot) from chain data and one key.

    ``key``: the member's :class:`MemberKey` or one :class:`EpochKey`; or None with
    ``compliance_key`` (the pool's compliance key pair: the member's key is recovered
    from its escrow), or None alone (public checks only). ``vkey``: the epoch circuit's
    verification key (a ``VerifyingKey``, a path or a snarkjs JSON object) to re-verify
    every accepted epoch's proof from its ``submitEpoch`` calldata.

    Raises :class:`AuditError` only when there is nothing to audit (no such member, key
    arguments that contradict each other); everything else is a :class:`Finding`.
    """
    if key is not None and not isinstance(key, MemberKey | EpochKey):
        raise AuditError(f"key must be a MemberKey or an EpochKey, got {type(key).__name__}")
    if key is not None and compliance_key is not None:
        raise AuditError("give a view key or the compliance key, not both")
    if compliance_key is not None and not isinstance(compliance_key, X25519KeyPair):
        raise AuditError("compliance_key must be the pool's compliance X25519KeyPair")
    if slot is None:
        if key is None:
            raise AuditError("which member? give slot= (the compliance key opens any slot)")
        slot = key.slot
    if isinstance(slot, bool) or not isinstance(slot, int):
        raise AuditError(f"slot must be an integer, got {slot!r}")
    cfg = deployment.config
    if not 1 <= slot < cfg.n_slots:
        raise AuditError(f"slot {slot} is not a member slot of this pool (1..{cfg.n_slots - 1}; "
                         "slot 0 is the house)")
    vk = _load_vkey(vkey)
    client = Client(w3, deployment)
    chain = _Chain(client, slot)
    pid = pool_id(deployment)
    findings: list[Finding] = []

    regs = [e for e in chain.slot_events if int(e["kind"]) == Kind.REGISTER]
    if not regs or not chain.registered:
        raise AuditError(f"slot {slot} has never been registered in this pool (chain "
                         f"{deployment.chain_id}, house {deployment.address('ClearingHouse')})")
    reg_epoch = int(regs[0]["epoch"])
    reg_log = chain.registered[0]
    vkh = int(reg_log["vkh"])
    if int(regs[0]["value"]) != vkh:
        findings.append(Finding(reg_epoch, "registration", "mismatch", _hex(vkh),
                                _hex(int(regs[0]["value"])),
                                "the REGISTER event's vkh differs from MemberRegistered's"))

    kind = "none" if key is None else ("member" if isinstance(key, MemberKey) else "epoch")
    key_epoch = key.epoch if isinstance(key, EpochKey) else None
    member_key: MemberKey | None = key if isinstance(key, MemberKey) else None
    epoch_key: EpochKey | None = key if isinstance(key, EpochKey) else None
    if key is not None and key.slot != slot:
        findings.append(Finding(None, "view key", "slot", str(slot), str(key.slot),
                                f"the key is slot {key.slot}'s, the audited member is slot "
                                f"{slot}: it opens none of this member's reports"))
        member_key = epoch_key = None
    if member_key is not None and member_key.vkh != vkh:
        findings.append(Finding(reg_epoch, "view key", "vkh", _hex(vkh), _hex(member_key.vkh),
                                "Poseidon(K) of the given key is not the vkh the member "
                                "registered: a wrong key (its decryptions fail below)"))
    if compliance_key is not None:
        kind = "compliance"
        try:
            member_key = recover(bytes(reg_log["escrow"]), compliance_key, slot,
                                 pool_id_bytes(pid), expected_vkh=vkh)
        except EscrowError as exc:
            findings.append(Finding(reg_epoch, "escrow", "escrow", None, None,
                                    f"the escrow published with the registration does not "
                                    f"yield the member's key: {exc}"))

    last_closed = max(chain.closed, default=0)
    genesis_prices = client.final_prices(0)
    m_count = cfg.n_instruments
    state = _State(0, (0,) * m_count)  # a slot is never reused: its leaf starts empty
    rows: list[EpochRow] = []
    prev_prices: tuple[int, ...] | None = genesis_prices
    for epoch in range(reg_epoch, last_closed + 1):
        row = EpochRow(epoch)
        rows.append(row)
        prices = _audit_epoch(row, client, chain, slot, state, prev_prices, member_key,
                              epoch_key, vk)
        prev_prices = prices
    for r in rows:
        findings.extend(r.findings)
    findings.sort(key=lambda f: -1 if f.epoch is None else f.epoch)
    return AuditReport(slot, deployment.chain_id, deployment.address("ClearingHouse"), pid,
                       kind, key_epoch, vkh, rows, findings, vk is not None)


def _audit_epoch(row: EpochRow, client: Client, chain: _Chain, slot: int, state: _State,
                 prev_prices: tuple[int, ...] | None, member_key: MemberKey | None,
                 epoch_key: EpochKey | None, vk: Any) -> tuple[int, ...] | None:
    """Fill ``row`` and advance ``state``; returns this epoch's prices (None if unknown)."""
    epoch, cfg = row.epoch, client.deployment.config
    m_count = cfg.n_instruments

    def finding(fld: str, reason: str, expected: Any, found: Any, message: str) -> None:
        row.findings.append(Finding(epoch, fld, reason,
                                    None if expected is None else str(expected),
                                    None if found is None else str(found), message))

    known = state.collateral is not None and state.positions is not None
    row.positions_before, row.collateral_before = state.positions, state.collateral

    # Public inputs: events, prices, parameters.
    per = None
    try:
        events = chain.events_of(epoch)
        per = EpochEvents.build(cfg, events).per_slot[slot]
    except ZkclearError as exc:
        finding("events", "events", None, None, f"the epoch's event log cannot be used: {exc}")
    closed = chain.closed.get(epoch)
    params = None
    if closed is not None:
        row.params_hash = int(closed["paramsHash"])
        try:
            params = chain.params_for(row.params_hash)
        except ParamsError as exc:
            finding("risk parameters", "params", _hex(row.params_hash), None, str(exc))
    prices = None
    try:
        prices = client.final_prices(epoch)
        if prices_hash(prices) != client.prices_hash(epoch):
            finding("prices", "prices", _hex(client.prices_hash(epoch)),
                    _hex(prices_hash(prices)), "the oracle's final prices do not hash to "
                    "its pricesHash")
    except ZkclearError as exc:
        prices = None
        if epoch in chain.accepted:  # an epoch awaiting its prices is merely pending
            finding("prices", "prices", None, None, f"no final prices: {exc}")
    row.prices_prev, row.prices = prev_prices, prices

    report: Report | None = None
    if per is not None:
        row.registered = per.registered
        row.deposit, row.withdrawal_requested = per.deposit, per.withdrawal
        row.committed = per.commitment != 0
        row.excluded = epoch in chain.excluded
        if row.committed and row.excluded:
            finding("commitment", "excluded", None, _hex(per.commitment),
                    "the slot is both excluded and committed in this epoch")
        if row.committed:
            row.commitment = per.commitment
            report = _open_report(row, chain, slot, per.commitment, m_count, member_key,
                                  epoch_key, finding)
        else:
            report = Report((0,) * m_count, 0, 0)
            row.disclosed = True  # nothing to disclose: no report this epoch
    if report is not None:
        row.delta, row.trade_cash = report.delta, report.trade_cash

    # Re-derive the slot's clearing.
    figures = None
    if (known and report is not None and per is not None and params is not None
            and prices is not None and prev_prices is not None):
        assert state.collateral is not None and state.positions is not None
        # The pool rule of step 6: no grant while the house is negative after the epoch.
        house_c = house_collateral(client, epoch) if epoch in chain.accepted else None
        try:
            figures = derive_slot(slot, state.collateral, state.positions, report,
                                  per.deposit, per.withdrawal, prices, prev_prices, params,
                                  house_ok=house_c is None or house_c >= 0)
        except (BoundError, ParamsError, TradeLossError) as exc:
            finding("clearing", "bounds", None, None,
                    f"the decrypted report cannot have been cleared: {exc}")
    row.figures = figures

    # What the accepted epoch published.
    acc = chain.accepted.get(epoch)
    row.accepted = acc is not None
    if acc is not None:
        _check_outcome(row, chain, slot, acc, per, figures, finding)
        if vk is not None:
            _check_proof(row, client, chain, acc, prev_prices, prices, vk, finding)
    if figures is not None:
        state.collateral, state.positions = figures.collateral_after, figures.positions_after
    else:
        state.collateral = state.positions = None

    if row.findings:
        row.status = "failed"
    elif not row.accepted:
        row.status = "pending"
    elif row.excluded and figures is not None:
        row.status = "excluded"
    elif figures is not None:
        row.status = "verified"
    elif row.committed and not row.disclosed:
        row.status = "not disclosed"
    else:
        row.status = "not derivable"
    return prices


def _open_report(row: EpochRow, chain: _Chain, slot: int, commitment: int, m_count: int,
                 member_key: MemberKey | None, epoch_key: EpochKey | None,
                 finding: Any) -> Report | None:
    """The member's report of ``row.epoch``: checks the published ciphertext against the
    commitment (no key needed), then decrypts it if the key covers this epoch."""
    epoch = row.epoch
    published = chain.reports.get(epoch, [])
    if len(published) != 1:
        finding("ciphertext", "missing" if not published else "duplicate", "1",
                str(len(published)), f"{len(published)} ReportCommitted logs for the slot's "
                "COMMIT event")
        if not published:
            return None
    log = published[0]
    if int(log["commitment"]) != commitment:
        finding("commitment", "mismatch", _hex(commitment), _hex(int(log["commitment"])),
                "ReportCommitted's commitment differs from the COMMIT event's value")
    try:
        ct = Ciphertext.from_bytes(bytes(log["ciphertext"]), m_count + 2)
    except DecryptionError as exc:
        finding("ciphertext", exc.reason, f"{7 + 32 * (m_count + 3)} bytes",
                f"{len(bytes(log['ciphertext']))} bytes",
                f"the published ciphertext is unusable: {exc}")
        return None
    if ct.commitment() != commitment:
        finding("ciphertext", "commitment", _hex(commitment), _hex(ct.commitment()),
                "the member published a ciphertext that is not the committed one (garbage "
                "bytes): the cleared report cannot be recovered from the chain")
        return None
    if member_key is not None:
        key: MemberKey | EpochKey = member_key
    elif epoch_key is not None and epoch_key.epoch == epoch:
        key = epoch_key
    else:
        return None  # not disclosed by this key
    try:
        report = decrypt_report(key, epoch, ct, m_count, slot=slot, commitment=commitment)
    except DecryptionError as exc:
        reason, message = exc.reason, str(exc)
        if reason == "tag" and isinstance(key, EpochKey):
            other = _opens_other_epoch(key, chain, epoch, m_count)
            if other is not None:
                reason = "wrong-epoch"
                message = (f"the epoch key labelled epoch {epoch} is the key of epoch "
                           f"{other} (it opens that epoch's ciphertext); each epoch key "
                           "opens its own epoch only")
        finding("decryption", reason, None, None, message)
        return None
    row.disclosed = True
    return report


def _opens_other_epoch(key: EpochKey, chain: _Chain, epoch: int, m_count: int) -> int | None:
    for e, logs in sorted(chain.reports.items()):
        if e == epoch:
            continue
        for log in logs:
            try:
                decrypt(key, Ciphertext.from_bytes(bytes(log["ciphertext"]), m_count + 2),
                        m_count + 2)
            except DecryptionError:
                continue
            return e
    return None


def _bit(mask: int, slot: int) -> bool:
    return bool((mask >> slot) & 1)


def _check_outcome(row: EpochRow, chain: _Chain, slot: int, acc: Any, per: Any,
                   figures: SlotFigures | None, finding: Any) -> None:
    """The accepted epoch's public outcome for the slot, self-consistent and equal to the
    derived one."""
    epoch = row.epoch
    args = acc["args"]
    liq_bit = _bit(int(args["liquidatedMask"]), slot)
    granted_bit = _bit(int(args["grantedMask"]), slot)
    row.onchain_liquidated, row.onchain_granted = liq_bit, granted_bit
    n_liq = chain.liquidated.get(epoch, 0)
    if n_liq != int(liq_bit):
        finding("liquidated", "events", f"{int(liq_bit)} Liquidated event(s)", str(n_liq),
                "the Liquidated events disagree with EpochAccepted's liquidatedMask")
    paid = chain.paid.get(epoch, [])
    refused = chain.refused.get(epoch, [])
    row.withdrawal_paid = int(paid[0]["amount"]) if paid else None
    row.withdrawal_refused = refused[0] if refused else None
    w = per.withdrawal if per is not None else None
    if w is not None:
        want_paid = [w] if granted_bit else []
        want_refused = [w] if w and not granted_bit else []
        if [int(p["amount"]) for p in paid] != want_paid:
            finding("withdrawal", "events", str(want_paid), str([int(p["amount"]) for p in paid]),
                    "WithdrawalPaid events disagree with the request and grantedMask")
        if refused != want_refused:
            finding("withdrawal", "events", str(want_refused), str(refused),
                    "WithdrawalRefused events disagree with the request and grantedMask")
        if granted_bit and not w:
            finding("withdrawal", "events", "no grant", "granted",
                    "grantedMask grants a withdrawal the member never requested")
        account = chain.registered[0]["account"] if chain.registered else None
        for p in paid:
            if account is not None and Web3.to_checksum_address(p["to"]) != \
                    Web3.to_checksum_address(account):
                finding("withdrawal", "recipient", account, p["to"],
                        "a withdrawal was paid to another account than the member's")
    if figures is None:
        return
    if figures.liquidated != liq_bit:
        finding("liquidated", "mismatch", figures.liquidated, liq_bit,
                f"the engine's rule gives liquidated={figures.liquidated} (equity "
                f"{figures.equity} vs maintenance margin {figures.maintenance_margin}); the "
                f"accepted epoch says {liq_bit}")
    if figures.withdrawal_granted != granted_bit:
        finding("withdrawal granted", "mismatch", figures.withdrawal_granted, granted_bit,
                f"the engine's rule gives granted={figures.withdrawal_granted} (equity "
                f"{figures.equity} - request {row.withdrawal_requested} vs initial margin "
                f"{figures.initial_margin}); the accepted epoch says {granted_bit}")


def _check_proof(row: EpochRow, client: Client, chain: _Chain, acc: Any,
                 prev_prices: tuple[int, ...] | None, prices: tuple[int, ...] | None,
                 vk: Any, finding: Any) -> None:
    """Re-verify the epoch's Groth16 proof from the submitEpoch calldata with the Python
    verifier, and its public inputs against the public data the audit used."""
    from zkclear.verifier.groth16 import Proof, verify

    epoch = row.epoch
    try:
        tx = client.w3.eth.get_transaction(acc["transactionHash"])
        fn, args = client.house.decode_function_input(tx["input"])
    except Exception as exc:  # a node without the transaction, or not a direct call
        finding("proof", "calldata", "submitEpoch calldata", None,
                f"cannot read the accepting transaction's calldata: {exc}")
        row.proof_verified = False
        return
    if fn.fn_name != "submitEpoch":
        finding("proof", "calldata", "submitEpoch", fn.fn_name,
                "the accepting transaction is not a direct submitEpoch call")
        row.proof_verified = False
        return
    pr, public = args["proof"], [int(x) for x in args["publicInputs"]]
    a, b, c = (pr["a"], pr["b"], pr["c"]) if isinstance(pr, Mapping) else pr
    try:
        proof = Proof.from_json({
            "protocol": "groth16", "curve": "bn128",
            "pi_a": [str(a[0]), str(a[1]), "1"],
            # calldata holds G2 coordinates as the precompile wants them: (c1, c0)
            "pi_b": [[str(b[0][1]), str(b[0][0])], [str(b[1][1]), str(b[1][0])], ["1", "0"]],
            "pi_c": [str(c[0]), str(c[1]), "1"]})
        ok = verify(vk, proof, public)
    except ProofError as exc:
        finding("proof", "proof", "a valid proof", None, f"malformed proof in calldata: {exc}")
        row.proof_verified = False
        return
    row.proof_verified = ok
    if not ok:
        finding("proof", "proof", "valid", "invalid",
                "the submitEpoch proof does not verify under the given verification key")
    closed = chain.closed.get(epoch, {})
    acc_args = acc["args"]
    expect: dict[str, int | None] = {
        "oldRoot": int(acc_args["oldRoot"]), "newRoot": int(acc_args["newRoot"]),
        "epoch": epoch, "paramsHash": row.params_hash,
        "pricesPrevHash": prices_hash(prev_prices) if prev_prices else None,
        "pricesHash": prices_hash(prices) if prices else None,
        "eventsAcc": int(closed["eventsAcc"]) if closed else None,
        "nEvents": int(closed["nEvents"]) if closed else None,
        "liquidatedMask": int(acc_args["liquidatedMask"]),
        "grantedMask": int(acc_args["grantedMask"]),
        "totalCollateral": int(acc_args["totalCollateral"]) % P,
    }
    # The exit data in calldata: the challenge and sum the contract derived from it.
    exit_data = [int(x) for x in args.get("exitData", ())]
    rho = exit_challenge(epoch, int(acc_args["newRoot"]), exit_data)
    expect |= {"rho": rho, "exitSum": exit_sum(exit_data, rho)}
    try:
        values = unpack_public(public, client.deployment.config.n_slots)
    except PackingError as exc:
        finding("proof", "public-input", "9 public signals", str(len(public)), str(exc))
        return
    for name, value in values.items():
        want = expect[name]
        if want is not None and want != value:
            finding("proof", "public-input", f"{name}={_hex(want)}", f"{name}={_hex(value)}",
                    f"the proof's public input {name} is not the chain's")


# --- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#1d2330}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.88em}
th,td{border:1px solid #c9ced8;padding:.3em .55em;text-align:right;vertical-align:top}
th{background:#eef1f6} td.text{text-align:left}
tr.failed td{background:#fde8e8} tr.verified td.status{color:#136c2e}
tr.pending td.status,tr.not-disclosed td.status,tr.not-derivable td.status,
tr.excluded td.status{color:#8a6100}
.ok{color:#136c2e;font-weight:600} .bad{color:#b00020;font-weight:600}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em} dt{font-weight:600}
code{font-size:.9em}
"""

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("epoch", "Epoch"), ("status", "Status"), ("accepted", "Accepted"),
    ("positions_before", "Positions before"), ("collateral_before", "Collateral before"),
    ("delta", "Trades (delta)"), ("trade_cash", "Trade cash"), ("deposit", "Deposits"),
    ("variation_margin", "Variation margin"), ("positions", "Positions"),
    ("equity", "Equity"), ("maintenance_margin", "MM"), ("initial_margin", "IM"),
    ("liquidated", "Liquidated"), ("penalty", "Penalty"), ("shortfall", "Shortfall"),
    ("withdrawal_requested", "Withdrawal requested"), ("withdrawal", "Withdrawal"),
    ("collateral_after", "Collateral after"), ("positions_after", "Positions after"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _withdrawal_text(r: dict[str, Any]) -> str:
    if not r["withdrawal_requested"]:
        return "none"
    on = r["onchain"]
    if on["withdrawal_paid"] is not None:
        return f"granted, paid {on['withdrawal_paid']}"
    if on["withdrawal_refused"] is not None:
        return "refused"
    if r["withdrawal_granted"] is not None:
        return "granted (derived)" if r["withdrawal_granted"] else "refused (derived)"
    return "—"


def _render_html(rep: AuditReport) -> str:
    doc = rep.to_json()
    e = html.escape
    verdict = ('<span class="ok">no findings</span>' if rep.ok else
               f'<span class="bad">{len(rep.findings)} finding(s)</span>')
    key = doc["key"]["kind"] + (f" (epoch {doc['key']['epoch']})"
                                if doc["key"]["epoch"] is not None else "")
    out = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(f'zkclear audit: slot {rep.slot}')}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(f'zkclear audit of member slot {rep.slot}')}</h1>",
        f"<p>Result: {verdict}.</p>",
        "<dl>",
        f"<dt>Pool</dt><dd><code>{e(rep.pool_id)}</code></dd>",
        f"<dt>Key used</dt><dd>{e(key)}</dd>",
        f"<dt>Registered vkh</dt><dd><code>{e(str(doc['vkh']))}</code></dd>",
        f"<dt>Proofs re-verified</dt><dd>{'yes' if rep.proofs_checked else 'no'}</dd>",
        f"<dt>Epochs</dt><dd>{len(rep.rows)}</dd>",
        "</dl>",
        '<h2 id="history">History</h2>',
        '<table id="epochs"><thead><tr>',
        *(f'<th scope="col">{e(title)}</th>' for _, title in _COLUMNS),
        "</tr></thead><tbody>",
    ]
    for r in doc["epochs"]:
        cls = e(r["status"].replace(" ", "-"))
        out.append(f'<tr class="{cls}" data-epoch="{int(r["epoch"])}">')
        for name, _ in _COLUMNS:
            if name == "withdrawal":
                text = _withdrawal_text(r)
            elif name == "liquidated" and r["liquidated"] is None:
                text = _cell(r["onchain"]["liquidated"])
            else:
                text = _cell(r[name])
            css = ' class="text status"' if name == "status" else (
                ' class="text"' if name in ("withdrawal", "accepted") else "")
            out.append(f'<td data-field="{e(name)}"{css}>{e(text)}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append("<p>Statuses: " + "; ".join(
        f"<b>{e(s)}</b>: {e(d)}" for s, d in STATUSES.items()) + ".</p>")
    out.append('<h2 id="plot">Equity and maintenance margin</h2>')
    out.append(_svg_plot(rep))
    out.append('<h2 id="findings">Findings</h2>')
    if not rep.findings:
        out.append('<p class="ok">None: every check passed.</p>')
    else:
        out.append('<table id="findings-table"><thead><tr><th>Epoch</th><th>Field</th>'
                   "<th>Reason</th><th>Expected</th><th>Found</th><th>Detail</th></tr>"
                   "</thead><tbody>")
        for f in rep.findings:
            out.append("<tr>" + "".join(
                f'<td class="text">{e(_cell(v))}</td>'
                for v in ("pool" if f.epoch is None else f.epoch, f.field, f.reason,
                          f.expected, f.found, f.message)) + "</tr>")
        out.append("</tbody></table>")
    out.append("<p><small>Generated by zkclear audit from public chain data and a view key. "
               "This page holds the member's private positions and balances.</small></p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _svg_plot(rep: AuditReport) -> str:
    """Equity (cpre) and maintenance margin per epoch, hand-made SVG; gaps where unknown."""
    e = html.escape
    width, height, left, right, top, bottom = 660, 300, 90, 45, 20, 45
    pts = [(r.epoch, r.figures.equity if r.figures else None,
            r.figures.maintenance_margin if r.figures else None,
            r.figures.liquidated if r.figures else bool(r.onchain_liquidated))
           for r in rep.rows]
    values = [v for _, eq, mm, _ in pts for v in (eq, mm) if v is not None]
    if not pts or not values:
        return '<svg id="equity-plot" xmlns="http://www.w3.org/2000/svg" width="640" ' \
               'height="60" role="img"><text x="10" y="35">no derivable figures</text></svg>'
    lo, hi = min(0, *values), max(0, *values)
    if hi == lo:
        hi = lo + 1
    span_x = max(1, len(pts) - 1)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / span_x if len(pts) > 1 else 0.5)

    def y(v: int) -> float:
        return top + (height - top - bottom) * (hi - v) / (hi - lo)

    parts = [f'<svg id="equity-plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="equity and maintenance margin per epoch">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        v = round(lo + (hi - lo) * frac)
        yy = y(v)
        parts.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{width - right}" y2="{yy:.1f}" '
                     'stroke="#e3e6ec"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{e(str(v))}</text>')
    parts.append(f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" '
                 'stroke="#7a8190"/>')
    for i, (ep, *_rest) in enumerate(pts):
        parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 18}" font-size="11" '
                     f'text-anchor="middle">{e(f"epoch {ep}")}</text>')

    def series(idx: int, colour: str, name: str, dash: str) -> None:
        run: list[str] = []
        segments: list[list[str]] = []
        for i, p in enumerate(pts):
            v = p[idx]
            if v is None:
                if run:
                    segments.append(run)
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            label = "maintenance margin" if name == "mm" else name
            parts.append(f'<circle class="{e(name)}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" '
                         f'fill="{colour}"><title>{e(f"{label}, epoch {p[0]}: {v}")}</title>'
                         "</circle>")
        if run:
            segments.append(run)
        for seg in segments:
            if len(seg) > 1:
                parts.append(f'<polyline class="{e(name)}" points="{" ".join(seg)}" '
                             f'fill="none" stroke="{colour}" stroke-width="2"{dash}/>')

    base = height - bottom
    for i, p in enumerate(pts):
        if p[3]:
            parts.append(f'<line class="liquidation" x1="{x(i):.1f}" y1="{top}" x2="{x(i):.1f}" '
                         f'y2="{base}" stroke="#b00020" stroke-dasharray="2 3"/>')
            last = i == len(pts) - 1 and len(pts) > 1
            parts.append(f'<text x="{x(i) + (-4 if last else 4):.1f}" y="{base - 6}" '
                         f'font-size="11" fill="#b00020" text-anchor="{"end" if last else "start"}"'
                         '>liquidated</text>')
        if p[1] is None:
            parts.append(f'<text x="{x(i):.1f}" y="{base - 22}" font-size="11" fill="#7a8190" '
                         'text-anchor="middle">no figures</text>')
    series(1, "#1f5fbf", "equity", "")
    series(2, "#c0392b", "mm", ' stroke-dasharray="6 4"')
    lx = left + 10
    parts.append(f'<line x1="{lx}" y1="{height - 10}" x2="{lx + 24}" y2="{height - 10}" '
                 'stroke="#1f5fbf" stroke-width="2"/>')
    parts.append(f'<text x="{lx + 30}" y="{height - 6}" font-size="11">equity (cpre)</text>')
    lx += 150
    parts.append(f'<line x1="{lx}" y1="{height - 10}" x2="{lx + 24}" y2="{height - 10}" '
                 'stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4"/>')
    parts.append(f'<text x="{lx + 30}" y="{height - 6}" font-size="11">maintenance margin'
                 "</text>")
    parts.append("</svg>")
    return "\n".join(parts)

