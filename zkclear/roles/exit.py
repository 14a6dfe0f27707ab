"""A member's exit without the operator (``zkclear member exit``; docs/protocol.md,
"Liveness", "Freeze and escape").

From public chain data and one key -- the member's view key ``K``, or the pool's
compliance key, which opens the member's escrow (published with its registration) --
:func:`plan_exit` finds what the last accepted state owes the slot:

1. the last accepted epoch ``E`` and its exit data ``D`` (the ``ExitDataPublished`` log,
   checked against the contract's ``lastExitDataHash``);
2. the slot's leaf after ``E``: collateral and positions re-derived epoch by epoch by the
   audit (:func:`zkclear.audit.core.audit_member`, the engine's own per-slot rules on the
   member's decrypted reports), ``vkh`` as registered, nonce ``Poseidon(K_E, 0)`` or 0 (a
   leaf the operator did not blind) -- whichever hashes to ``D[slot]``;
3. its deposits of the unaccepted epochs, and the pro-rata haircut if the house's
   collateral ``D[N]`` is negative.

:func:`exit_slot` then freezes the pool if it is not frozen and may be, calls ``exit``
(the proceeds are credited to the slot's account) and, when sent from that account,
``claim``. Every refusal is an :class:`ExitError` with a one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from zkclear.chain.client import Client, ContractError, exit_data_hash
from zkclear.clearing.events import Kind
from zkclear.clearing.state import Leaf
from zkclear.errors import ZkclearError
from zkclear.field import P
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.viewkeys import MemberKey

__all__ = ["ExitError", "ExitPlan", "ExitResult", "derive_leaf", "exit_slot", "member_exit",
           "open_leaf", "plan_exit", "published_exit_data"]


class ExitError(ZkclearError):
    """The exit cannot be made (the message says why, in one line)."""


@dataclass(frozen=True)
class ExitPlan:
    """What ``exit(slot, ...)`` will credit, and the arguments that make it do so."""

    slot: int
    account: str
    epoch: int  # the last accepted epoch (0: none)
    exit_data: tuple[int, ...]  # D of that epoch (empty if none)
    leaf: Leaf | None  # None: no leaf to open (no accepted epoch since registration)
    blinded: bool  # the nonce is Poseidon(K_E, 0) (else 0)
    pending_deposits: int
    house_collateral: int | None
    total_collateral: int
    from_leaf: int  # what the leaf pays (after a haircut)
    haircut: bool

    @property
    def amount(self) -> int:
        return self.from_leaf + self.pending_deposits

    def exit_args(self) -> tuple[int, int, tuple[int, ...], int, int, int, list[int]]:
        """(slot, c, q, df, vkh, nonce, exitData) for :meth:`Client.exit`."""
        if self.leaf is None:
            return self.slot, 0, (), 0, 0, 0, []
        lf = self.leaf
        return (self.slot, lf.collateral, lf.positions, lf.df, lf.vkh, lf.nonce,
                list(self.exit_data))

    def to_json(self) -> dict[str, Any]:
        lf = self.leaf
        return {"slot": self.slot, "account": self.account, "epoch": self.epoch,
                "collateral": lf.collateral if lf else None,
                "positions": list(lf.positions) if lf else None,
                "default_fund": lf.df if lf else None,
                "blinded": self.blinded, "pending_deposits": self.pending_deposits,
                "house_collateral": self.house_collateral,
                "total_collateral": self.total_collateral, "from_leaf": self.from_leaf,
                "haircut": self.haircut, "amount": self.amount}


@dataclass
class ExitResult:
    plan: ExitPlan
    froze: bool = False
    credited: int = 0
    claimed: int | None = None  # None: not claimed (sent from another account)
    gas: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "froze": self.froze, "credited": self.credited,
                "claimed": self.claimed, "gas": dict(self.gas)}


def _reason(exc: ContractError) -> str:
    return exc.root.describe() if exc.root.name else str(exc)


def member_key(client: Client, slot: int, *, key: MemberKey | None = None,
               compliance_key: X25519KeyPair | None = None) -> tuple[MemberKey, str]:
    """The slot's view key (given, or recovered from its escrow with the compliance key),
    checked against the registered ``vkh``; and the slot's account."""
    from zkclear.privacy.compliance import EscrowError, pool_id_bytes, recover

    if (key is None) == (compliance_key is None):
        raise ExitError("give the member's view key or the pool's compliance key (one)")
    logs = client.house.events.MemberRegistered().get_logs(
        argument_filters={"slot": slot}, from_block=client.deployment.first_block)
    if not logs:
        raise ExitError(f"slot {slot} was never registered in this pool")
    reg = logs[0]["args"]
    vkh, account = int(reg["vkh"]), Web3.to_checksum_address(reg["account"])
    if compliance_key is not None:
        try:
            key = recover(bytes(reg["escrow"]), compliance_key, slot,
                          pool_id_bytes(client.deployment.pool_id), expected_vkh=vkh)
        except EscrowError as exc:
            raise ExitError(f"slot {slot}: the compliance key does not open the member's "
                            f"escrow: {exc}") from None
    assert key is not None
    if key.slot != slot:
        raise ExitError(f"the view key is slot {key.slot}'s, not slot {slot}'s")
    if key.vkh != vkh:
        raise ExitError(f"wrong view key: Poseidon(K) is not the vkh slot {slot} registered")
    return key, account


def published_exit_data(client: Client, epoch: int) -> tuple[int, ...]:
    """D of accepted ``epoch`` from its ``ExitDataPublished`` log, checked against the
    contract's ``lastExitDataHash`` when ``epoch`` is the last accepted one."""
    logs = client.house.events.ExitDataPublished().get_logs(
        argument_filters={"epoch": epoch}, from_block=client.deployment.first_block)
    if not logs:
        raise ExitError(f"no ExitDataPublished log for accepted epoch {epoch} (a node "
                        "without old logs?)")
    data = tuple(int(x) for x in logs[-1]["args"]["exitData"])
    if epoch == client.last_accepted_epoch() and \
            exit_data_hash(data) != client.last_exit_data_hash():
        raise ExitError(f"the exit data logged for epoch {epoch} is not the one the "
                        "contract stored (lastExitDataHash)")
    return data


def _pending_deposits(client: Client, slot: int, after: int) -> tuple[int, bool]:
    """The slot's deposits in the epochs after ``after``, and whether it registered in one."""
    total, registered = 0, False
    for e in range(after + 1, client.open_epoch() + 1):
        for ev in client.epoch_events(e):
            if ev.slot == slot and ev.kind == Kind.DEPOSIT:
                total += ev.value
            elif ev.slot == slot and ev.kind == Kind.REGISTER:
                registered = True
    return total, registered


def derive_leaf(client: Client, key: MemberKey,
                epoch: int) -> tuple[int, tuple[int, ...], int]:
    """(c, q, df) of the slot after accepted ``epoch``, re-derived by the audit."""
    from zkclear.audit.core import AuditError, audit_member

    try:
        report = audit_member(client.w3, client.deployment, key)
    except AuditError as exc:
        raise ExitError(f"cannot re-derive slot {key.slot}'s leaf: {exc}") from None
    try:
        row = report.row(epoch)
    except KeyError:
        raise ExitError(f"slot {key.slot} has no audited row for epoch {epoch}") from None
    if row.figures is None:
        why = "; ".join(str(f) for f in report.findings if f.epoch is None
                        or f.epoch <= epoch) or row.status
        raise ExitError(f"cannot re-derive slot {key.slot}'s leaf after epoch {epoch}: {why}")
    f = row.figures
    return f.collateral_after, tuple(f.positions_after), f.df_after


def open_leaf(key: MemberKey, epoch: int, collateral: int, positions: tuple[int, ...],
              df: int, word: int) -> Leaf | None:
    """The member's leaf after ``epoch`` with these figures if it hashes to ``word`` (its
    word of the exit data), blinded (nonce ``Poseidon(K_E, 0)``) or not (nonce 0)."""
    for nonce in (key.leaf_nonce(epoch), 0):
        candidate = Leaf(collateral, positions, key.vkh, 1, nonce, df)
        if candidate.hash() == word:
            return candidate
    return None


def plan_exit(client: Client, slot: int | None = None, *, key: MemberKey | None = None,
              compliance_key: X25519KeyPair | None = None) -> ExitPlan:
    """What ``slot`` exits with, from public chain data and the member's key (or the
    compliance key); refuses (ExitError) a leaf that does not match the exit data."""
    if slot is None:
        if key is None:
            raise ExitError("which slot? give --slot with the compliance key")
        slot = key.slot
    n = client.deployment.config.n_slots
    if not 1 <= slot < n:
        raise ExitError(f"slot {slot} is not a member slot of this pool (1..{n - 1})")
    key, account = member_key(client, slot, key=key, compliance_key=compliance_key)
    epoch = client.last_accepted_epoch()
    pending, registered_since = _pending_deposits(client, slot, epoch)
    total = client.total_collateral()
    if epoch == 0 or registered_since:
        return ExitPlan(slot, account, epoch, (), None, False, pending, None, total, 0, False)
    data = published_exit_data(client, epoch)
    c0 = data[n] - P if data[n] > P // 2 else data[n]
    c, q, df = derive_leaf(client, key, epoch)
    leaf = open_leaf(key, epoch, c, q, df, data[slot])
    if leaf is None:
        raise ExitError(f"slot {slot}: the re-derived leaf after epoch {epoch} (collateral "
                        f"{c}, positions {list(q)}, contribution {df}) does not match the "
                        "published exit data")
    amount, haircut = c + df, False
    if c0 < 0:
        amount, haircut = (c + df) * total // (total - c0), True
    return ExitPlan(slot, account, epoch, data, leaf, leaf.nonce != 0, pending, c0, total,
                    amount, haircut)


def exit_slot(client: Client, slot: int | None = None, *, sender: str,
              key: MemberKey | None = None, compliance_key: X25519KeyPair | None = None,
              freeze: bool = True, claim: bool = True) -> ExitResult:
    """Exit ``slot`` (default: the key's) after a freeze: freeze first if needed and
    allowed (``freeze``), ``exit`` with the planned leaf, then ``claim`` if ``sender`` is
    the slot's account (``claim``). Sent from ``sender``; anyone may exit any slot, the
    proceeds always go to the slot's account."""
    plan = plan_exit(client, slot, key=key, compliance_key=compliance_key)
    res = ExitResult(plan)
    if client.exited(plan.slot):
        raise ExitError(f"slot {plan.slot} has already exited")
    if not client.frozen():
        if not freeze:
            raise ExitError("the pool is not frozen (pass freeze to freeze it first)")
        try:
            res.gas["freeze"] = int(client.freeze(sender=sender)["gasUsed"])
        except ContractError as exc:
            raise ExitError(f"the pool is not frozen and cannot be frozen yet: "
                            f"{_reason(exc)}") from None
        res.froze = True
    try:
        receipt = client.exit(*plan.exit_args(), sender=sender)
    except ContractError as exc:
        raise ExitError(f"slot {plan.slot}: exit refused: {_reason(exc)}") from None
    res.gas["exit"] = int(receipt["gasUsed"])
    (ev,) = client.logs(receipt, "ClearingHouse", "Exited")
    res.credited = int(ev["amount"])
    if res.credited != plan.amount:
        raise ExitError(f"slot {plan.slot}: the contract credited {res.credited}, the plan "
                        f"was {plan.amount}")
    if claim and Web3.to_checksum_address(sender) == plan.account \
            and client.claimable(plan.account) > 0:
        before = client.balance(plan.account)
        try:
            res.gas["claim"] = int(client.claim(sender=sender)["gasUsed"])
        except ContractError as exc:
            raise ExitError(f"slot {plan.slot} exited ({res.credited} credited) but the claim "
                            f"failed: {_reason(exc)}") from None
        res.claimed = client.balance(plan.account) - before
    return res


def member_exit(rpc_url: str, deployment: str | Path, *, directory: str | Path | None = None,
                view_key: str | Path | None = None, compliance_key: str | Path | None = None,
                slot: int | None = None, key_file: str | Path | None = None,
                from_account: str | None = None, freeze: bool = True,
                claim: bool = True) -> dict[str, Any]:
    """``zkclear member exit``: the key from ``directory`` (its ``viewkey.json``; its
    ``eth-key.json`` signs unless ``key_file``/``from_account`` say otherwise), a view-key
    file, or the compliance key file with ``slot``; returns the result as JSON."""
    from zkclear.privacy.compliance import load_compliance_key
    from zkclear.privacy.viewkeys import load_key
    from zkclear.roles.admin import _client, _sender

    if sum(x is not None for x in (directory, view_key, compliance_key)) != 1:
        raise ExitError("give one of --dir, --view-key or --compliance-key")
    mkey: MemberKey | None = None
    ckey = None
    if compliance_key is not None:
        if slot is None:
            raise ExitError("--compliance-key needs --slot")
        ckey = load_compliance_key(compliance_key)
    else:
        path = Path(directory) / "viewkey.json" if directory is not None else Path(view_key or "")
        loaded = load_key(path)
        if not isinstance(loaded, MemberKey):
            raise ExitError(f"{path} holds an epoch key; an exit needs the member key")
        mkey = loaded
        if directory is not None and key_file is None and from_account is None:
            key_file = Path(directory) / "eth-key.json"
    cl = _client(rpc_url, deployment, key_file, from_account)
    res = exit_slot(cl, slot, sender=_sender(cl), key=mkey, compliance_key=ckey,
                    freeze=freeze, claim=claim)
    return res.to_json()
