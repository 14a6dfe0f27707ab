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

The audit's parts: :mod:`.chainview` reads the chain's logs, :mod:`.checks` audits one
epoch, :mod:`.report` is the record and its JSON form, :mod:`.html` (with
``templates/report.html.j2``) its page. This module runs them over the member's epochs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from web3 import Web3

from zkclear.chain.client import Client
from zkclear.chain.contracts import Deployment
from zkclear.clearing.epoch import SlotFigures
from zkclear.clearing.events import Kind
from zkclear.clearing.instruments import Market
from zkclear.errors import ArtefactError, ZkclearError
from zkclear.privacy.compliance import EscrowError, pool_id_bytes, recover
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.viewkeys import EpochKey, MemberKey

from .chainview import MemberView, hex32
from .checks import State, audit_epoch, derive_slot, market_of
from .report import FORMAT, AuditError, AuditReport, EpochRow, Finding

__all__ = [
    "FORMAT",
    "AuditError",
    "AuditReport",
    "EpochRow",
    "Finding",
    "SlotFigures",
    "audit_member",
    "derive_slot",
]

log = logging.getLogger(__name__)


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
                 vkey: Any = None,
                 lots: Mapping[int, Sequence[int]] | None = None) -> AuditReport:
    """Audit member ``slot`` (default: the key's slot) from chain data and one key.

    ``key``: the member's :class:`MemberKey` or one :class:`EpochKey`; or None with
    ``compliance_key`` (the pool's compliance key pair: the member's key is recovered
    from its escrow), or None alone (public checks only). ``vkey``: the epoch circuit's
    verification key (a ``VerifyingKey``, a path or a snarkjs JSON object) to re-verify
    every accepted epoch's proof from its ``submitEpoch`` calldata. ``lots``: epoch -> the
    house's lot the member won in that epoch's auction (as the operator showed it; checked
    against the chain), without which a winner's later epochs are not derivable.

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
    chain = MemberView(client, slot)
    pid = deployment.pool_id
    findings: list[Finding] = []

    regs = [e for e in chain.slot_events if int(e["kind"]) == Kind.REGISTER]
    if not regs or not chain.registered:
        raise AuditError(f"slot {slot} has never been registered in this pool (chain "
                         f"{deployment.chain_id}, house {deployment.address('ClearingHouse')})")
    reg_epoch = int(regs[0]["epoch"])
    reg_log = chain.registered[0]
    vkh = int(reg_log["vkh"])
    if int(regs[0]["value"]) != vkh:
        findings.append(Finding(reg_epoch, "registration", "mismatch", hex32(vkh),
                                hex32(int(regs[0]["value"])),
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
        findings.append(Finding(reg_epoch, "view key", "vkh", hex32(vkh), hex32(member_key.vkh),
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
    m_count = cfg.n_instruments
    state = State(0, (0,) * m_count)  # a slot is never reused: its leaf starts empty
    rows: list[EpochRow] = []
    try:  # the market the member's first epoch is marked from
        prev: Market | None = market_of(client, reg_epoch - 1)
    except ZkclearError:
        prev = None
    for epoch in range(reg_epoch, last_closed + 1):
        row = EpochRow(epoch)
        rows.append(row)
        prev = audit_epoch(row, chain, state, prev, member_key, epoch_key, vk, lots)
    for r in rows:
        findings.extend(r.findings)
    findings.sort(key=lambda f: -1 if f.epoch is None else f.epoch)
    log.info("audit of slot %d (%s key): %d epoch(s), %d finding(s)", slot, kind, len(rows),
             len(findings))
    return AuditReport(slot, deployment.chain_id, deployment.address("ClearingHouse"), pid,
                       kind, key_epoch, vkh, rows, findings, vk is not None)
