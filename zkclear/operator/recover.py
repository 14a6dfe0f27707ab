"""``zkclear operator recover``: rebuild the operator's state from public chain data and
the compliance key (docs/operator.md, "Replacing the operator").

Everything the operator knows can be derived again by whoever holds the pool's
compliance key (or a threshold of its officers' shares):

1. the registry: every ``MemberRegistered`` log gives a slot's account, its ``vkh`` and
   the escrow of its view key ``K``; the compliance key opens each escrow
   (:func:`zkclear.privacy.compliance.recover`, as the audit does for one slot) and
   ``Poseidon(K)`` must be the registered ``vkh``;
2. every accepted epoch is cleared again with the engine: the epoch's events from the
   ``EpochEvent`` logs (checked against the on-chain accumulator), each committed report
   decrypted from its ``ReportCommitted`` ciphertext with the member's key, the risk
   parameters frozen at close (``EpochClosed.paramsHash`` matched to a
   ``RiskParamsSet`` log) and the oracle's final prices;
3. which leaves were blinded is read off the published exit data
   (``ExitDataPublished(epoch, D)``): a member leaf hashes to ``D[slot]`` with nonce
   ``leaf_nonce(K, epoch)`` (blinded) or with nonce 0; the epoch is replayed with exactly
   the blinded slots' keys and its new root and exit data must be the chain's.

Any disagreement is refused with a named error (:class:`RecoverError` and its
subclasses): a wrong compliance key or tampered escrow (:class:`EscrowOpenError`), a
committed report that does not open (:class:`ReportOpenError`), a replayed epoch whose
root is not the chain's (:class:`ReplayMismatchError`).

:func:`write_store` then fills a fresh operator database so that ``zkclear operator run``
carries on: the pool state after every accepted epoch, an ``accepted`` row per epoch, the
members with their view keys, and -- for an epoch closed on-chain but not yet accepted --
its reports and a ``closed`` row, so the service proves and submits it at start.

Not on-chain, so not recovered: the members' X25519 transport keys and their trade lists.
A recovered member row has an empty transport key; the member enrols again with the new
operator (``zkclear member enrol``: the new operator has a new transport key anyway) and
sends its trade list of the open epoch again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from web3 import Web3

from zkclear import bounds
from zkclear.audit.chainview import ChainDataError, ChainView, hex32
from zkclear.chain.client import Client
from zkclear.chain.contracts import Deployment
from zkclear.clearing.auction import Award
from zkclear.clearing.epoch import EpochError, EpochResult, run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.instruments import Market
from zkclear.clearing.params import ParamsError, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.state import HOUSE, PoolState
from zkclear.errors import ZkclearError
from zkclear.privacy.cipher import Ciphertext, DecryptionError, decrypt_report, encrypt_report
from zkclear.privacy.compliance import EscrowError, pool_id_bytes
from zkclear.privacy.compliance import recover as open_escrow
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.viewkeys import MemberKey
from zkclear.schemas import NettedReport

from .store import Store

__all__ = [
    "EscrowOpenError",
    "RecoverError",
    "Recovered",
    "ReplayMismatchError",
    "ReportOpenError",
    "recover_operator",
    "recover_state",
    "write_store",
]

log = logging.getLogger(__name__)


class RecoverError(ZkclearError):
    """The operator's state cannot be rebuilt from the chain and the compliance key."""


class EscrowOpenError(RecoverError):
    """A member's escrow does not yield its view key: a wrong compliance key, or the escrow
    was tampered with (or escrows another key than the registered vkh)."""


class ReportOpenError(RecoverError):
    """A committed report's ciphertext is missing or does not open with the member's key."""


class ReplayMismatchError(RecoverError):
    """A replayed epoch does not give the chain's leaves or root."""


@dataclass
class Recovered:
    """The operator's state rebuilt from the chain."""

    deployment: Deployment
    keys: dict[int, MemberKey]  # every registered member slot's view key
    accounts: dict[int, str]  # slot -> registered account (removed members included)
    states: dict[int, PoolState]  # epoch -> state after it (0 = genesis)
    results: dict[int, EpochResult]  # accepted epoch -> its replay
    blinded: dict[int, frozenset[int]]  # accepted epoch -> slots whose leaf was blinded
    accepted_logs: dict[int, Any]  # accepted epoch -> EpochAccepted log
    #: An epoch closed on-chain but not accepted yet: (epoch, prices, reports), or None.
    pending: tuple[int, tuple[int, ...], dict[int, Report]] | None = None
    open_epoch: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def state(self) -> PoolState:
        """The state after the last accepted epoch."""
        return self.states[max(self.states)]

    def summary(self) -> dict[str, Any]:
        return {"pool_id": self.deployment.pool_id, "last_accepted": self.state.epoch,
                "root": hex32(self.state.root()), "members": sorted(self.keys),
                "blinded": {e: sorted(b) for e, b in sorted(self.blinded.items())},
                "pending": self.pending[0] if self.pending else None,
                "open_epoch": self.open_epoch}


def _member_keys(client: Client, logs: ChainView, compliance: X25519KeyPair
                 ) -> tuple[dict[int, MemberKey], dict[int, str]]:
    pid = pool_id_bytes(client.deployment.pool_id)
    keys: dict[int, MemberKey] = {}
    accounts: dict[int, str] = {}
    for a in logs.args("MemberRegistered"):
        slot = int(a["slot"])
        if slot == HOUSE:
            continue
        try:
            keys[slot] = open_escrow(bytes(a["escrow"]), compliance, slot, pid,
                                     expected_vkh=int(a["vkh"]))
        except EscrowError as exc:
            raise EscrowOpenError(f"slot {slot}: the escrow published with its registration "
                                  f"does not yield its view key: {exc}") from None
        accounts[slot] = Web3.to_checksum_address(a["account"])
    return keys, accounts


def _params(logs: ChainView, params_hash: int) -> RiskParams:
    try:
        return logs.params_for(params_hash)
    except ParamsError as exc:
        raise RecoverError(str(exc)) from None


def _events(logs: ChainView, epoch: int) -> list[Event]:
    try:
        return logs.events_of(epoch)
    except ChainDataError as exc:
        raise RecoverError(str(exc)) from None


def _reports(logs: ChainView, epoch: int, events: Sequence[Event], keys: Mapping[int, MemberKey],
             m: int) -> dict[int, Report]:
    """Every committed report of ``epoch``, decrypted from its published ciphertext."""
    published: dict[int, list[Any]] = {}
    for a in logs.args("ReportCommitted", epoch=epoch):
        published.setdefault(int(a["slot"]), []).append(a)
    out: dict[int, Report] = {}
    for e in events:
        if e.kind != Kind.COMMIT:
            continue
        slot, commitment = e.slot, e.value
        key = keys.get(slot)
        if key is None:
            raise ReportOpenError(f"epoch {epoch}: slot {slot} committed a report but no "
                                  "view key of that slot was recovered")
        cands = [a for a in published.get(slot, []) if int(a["commitment"]) == commitment]
        if not cands:
            raise ReportOpenError(f"epoch {epoch}: slot {slot}'s commitment "
                                  f"{hex32(commitment)} has no ReportCommitted ciphertext")
        try:
            ct = Ciphertext.from_bytes(bytes(cands[-1]["ciphertext"]), m + 2)
            out[slot] = decrypt_report(key, epoch, ct, m, slot=slot, commitment=commitment)
        except DecryptionError as exc:
            raise ReportOpenError(f"epoch {epoch}: slot {slot}'s committed report does not "
                                  f"open with its view key: {exc}") from None
    return out


def _replay(state: PoolState, epoch: int, params: RiskParams, prices: Market,
            events: list[Event], reports: dict[int, Report], keys: Mapping[int, MemberKey],
            exit_data: list[int] | None, award: Award | None = None) -> EpochResult:
    """Clear ``epoch`` with the keys of exactly the slots the exit data shows blinded
    (``award``: the epoch's award of the house's lot, as the chain recorded it)."""
    try:
        result = run_epoch(state, params, prices, events, reports, view_keys=keys,
                           award=award)
    except (EpochError, ParamsError) as exc:
        raise ReplayMismatchError(f"epoch {epoch}: the engine refuses the chain's data: "
                                  f"{exc}") from None
    if exit_data is None:
        return result
    n = state.config.n_slots
    want = bounds.exit_data_length(n)
    if len(exit_data) != want:
        raise ReplayMismatchError(f"epoch {epoch}: the published exit data has "
                                  f"{len(exit_data)} words, expected {want}")
    blinded: set[int] = set()
    for i, leaf in enumerate(result.new.leaves):
        if leaf.hash() == exit_data[i]:
            if leaf.nonce:
                blinded.add(i)
            continue
        plain = replace(leaf, nonce=0)
        if leaf.nonce and plain.hash() == exit_data[i]:
            continue
        raise ReplayMismatchError(f"epoch {epoch}: slot {i}'s replayed leaf is not the "
                                  "published one (neither blinded nor with nonce 0): wrong "
                                  "view key, parameters or prices")
    if blinded != set(result.blinded):
        missing = set(reports) - blinded
        if missing:
            raise ReplayMismatchError(f"epoch {epoch}: reporting slots {sorted(missing)} "
                                      "have unblinded leaves in the published exit data")
        result = run_epoch(state, params, prices, events, reports,
                           view_keys={s: keys[s] for s in blinded}, award=award)
    if result.exit_data() != list(exit_data):
        raise ReplayMismatchError(f"epoch {epoch}: the replayed exit data is not the "
                                  "published one")
    return result


def recover_state(client: Client, compliance: X25519KeyPair) -> Recovered:
    """Rebuild the registry, every accepted epoch and the pending epoch from the chain."""
    dep = client.deployment
    cfg = dep.config
    m = cfg.n_instruments
    logs = ChainView(client)
    keys, accounts = _member_keys(client, logs, compliance)
    closed, accepted, exits = logs.closed, logs.accepted, logs.exit_data

    vkh0 = int(client.call(client.house.functions.vkhOf(HOUSE)))
    state = PoolState.genesis(cfg, client.final_prices(0), vkh0)
    genesis_root = int(client.call(client.house.functions.genesisRoot()))
    if state.root() != genesis_root:
        raise ReplayMismatchError(f"the genesis state's root {hex32(state.root())} is not the "
                                  f"chain's genesisRoot {hex32(genesis_root)}")
    rec = Recovered(dep, keys, accounts, {0: state}, {}, {}, {},
                    open_epoch=client.open_epoch())
    last = client.last_accepted_epoch()
    if sorted(accepted) != list(range(1, last + 1)):
        raise RecoverError(f"lastAcceptedEpoch is {last} but EpochAccepted logs cover "
                           f"{sorted(accepted)} (incomplete logs from the node?)")
    for epoch in range(1, last + 1):
        acc = accepted[epoch]["args"]
        if int(acc["oldRoot"]) != state.root():
            raise ReplayMismatchError(f"epoch {epoch}: accepted on oldRoot "
                                      f"{hex32(int(acc['oldRoot']))}, the replay holds "
                                      f"{hex32(state.root())}")
        if epoch not in closed or epoch not in exits:
            raise RecoverError(f"epoch {epoch}: no EpochClosed or ExitDataPublished log")
        events = _events(logs, epoch)
        params = _params(logs, int(closed[epoch]["paramsHash"]))
        prices = client.market(epoch)
        reports = _reports(logs, epoch, events, keys, m)
        result = _replay(state, epoch, params, prices, events, reports, keys, exits[epoch],
                         client.award_of(epoch))
        if result.new.root() != int(acc["newRoot"]):
            raise ReplayMismatchError(f"epoch {epoch}: the replayed root "
                                      f"{hex32(result.new.root())} is not the accepted "
                                      f"newRoot {hex32(int(acc['newRoot']))}")
        if result.total_collateral != int(acc["totalCollateral"]):
            raise ReplayMismatchError(f"epoch {epoch}: replayed total collateral "
                                      f"{result.total_collateral} != accepted "
                                      f"{int(acc['totalCollateral'])}")
        state = result.new
        rec.states[epoch] = state
        rec.results[epoch] = result
        rec.blinded[epoch] = result.blinded
        rec.accepted_logs[epoch] = accepted[epoch]
        log.info("epoch %d replayed: root %s", epoch, hex32(state.root()))
    if state.root() != client.state_root():
        raise ReplayMismatchError(f"the replayed root {hex32(state.root())} is not the "
                                  f"chain's stateRoot {hex32(client.state_root())}")
    nxt = last + 1
    if nxt in closed:
        events = _events(logs, nxt)
        reports = _reports(logs, nxt, events, keys, m)
        pending_prices: tuple[int, ...]
        try:
            pending_prices = client.final_prices(nxt)
        except ZkclearError:
            pending_prices = ()
        rec.pending = (nxt, pending_prices, reports)
    return rec


def _check_fresh(store: Store) -> None:
    counts = store.counts()
    busy = {t: n for t, n in counts.items() if n}
    if busy:
        raise RecoverError(f"the database {store.path} is not empty ({busy}): recover into a "
                           "new database")


def write_store(rec: Recovered, store: Store) -> None:
    """Fill a fresh operator database with the recovered state (one transaction)."""
    _check_fresh(store)
    store.bind_pool(rec.deployment.pool_id)
    with store.transaction() as db:
        for slot, key in sorted(rec.keys.items()):
            # No transport key: the member enrols again with the new operator.
            db.execute("INSERT INTO members VALUES (?, ?, ?, ?, ?, ?)",
                       (slot, rec.accounts[slot].lower(), b"", hex(key.key.reveal()),
                        str(key.vkh), 0.0))
        for epoch, state in sorted(rec.states.items()):
            store.put_state(epoch, state.to_json())
            if epoch == 0:
                continue
            result = rec.results[epoch]
            log = rec.accepted_logs[epoch]
            store.set_epoch(epoch, phase="accepted", prices=json.dumps(list(result.prices)),
                            public=json.dumps([str(x) for x in result.public_signals()]),
                            new_state=json.dumps(state.to_json()),
                            exit_data=json.dumps([str(x) for x in result.exit_data()]),
                            submit_tx=json.dumps({"tx": log["transactionHash"].hex(),
                                                  "block": int(log["blockNumber"])}))
            store.journal(epoch, "recovered", {"new_root": str(state.root()),
                                               "blinded": sorted(rec.blinded[epoch])})
        if rec.pending is not None:
            epoch, prices, reports = rec.pending
            for slot, rep in sorted(reports.items()):
                c = encrypt_report(rec.keys[slot], epoch, rep).commitment()
                db.execute("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)",
                           (epoch, slot, "[]", "[]", NettedReport.of(rep).model_dump_json(),
                            str(c)))
            store.set_epoch(epoch, phase="closed", prices=json.dumps(list(prices)))
            store.journal(epoch, "recovered", "closed on-chain, not accepted: to prove")


def recover_operator(client: Client, compliance: X25519KeyPair, db_url: str) -> Recovered:
    """Rebuild from the chain and write a fresh operator database at ``db_url``."""
    rec = recover_state(client, compliance)
    with Store(db_url) as store:
        write_store(rec, store)
    return rec
