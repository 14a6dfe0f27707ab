"""The operator service's ground floor: its chain client, store and identities.

:class:`ServiceBase` holds what every part of :class:`~zkclear.operator.service.OperatorService`
shares -- the store, the chain client (every call serialised: :class:`LockedClient`), the
operator's transport key and account, the pool's configuration -- and answers the
questions they all ask: who is a member, which epoch takes trade lists, the pool state,
the netted reports and signed commitments on record, the members' view keys. The
lifecycle's steps are layered on top: :mod:`.intake` (trade lists), :mod:`.netting`
(netting, signatures, exclusions), :mod:`.settlement` (close, prove, submit).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from zkclear.chain.client import Client, ContractError, SignedCommit, SignedDeposit
from zkclear.clearing.events import Kind
from zkclear.clearing.report import Report
from zkclear.clearing.state import PoolState
from zkclear.clearing.trades import DEFAULT_BAND_BP
from zkclear.errors import ZkclearError
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.viewkeys import MemberKey

from .errors import ServiceError
from .records import report_from_json
from .store import Store, StoreError

__all__ = ["CRASH_POINTS", "PHASES", "LockedClient", "PoolInfo", "ServiceBase", "crash_point"]

PHASES = ("intake", "netted", "close_requested", "closing", "closed", "proved",
          "submitting", "accepted", "failed")
#: Where ``ZKCLEAR_CRASH_AT`` can kill the process.
CRASH_POINTS = ("after_trades_stored", "after_net", "before_close_sent", "after_close_sent",
                "after_proof_stored", "before_submit_sent", "after_submit_sent")

_crash_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Test hook: SIGKILL this process here if ``ZKCLEAR_CRASH_AT`` names this point."""
    spec = os.environ.get("ZKCLEAR_CRASH_AT", "")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _crash_counts[name] = _crash_counts.get(name, 0) + 1
    if _crash_counts[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class PoolInfo:
    """What ``GET /v1/pool`` tells members: the pool, its operator's transport key, its
    size."""

    pool_id: str
    chain_id: int
    clearing_house: str
    operator_transport_public: bytes
    n_slots: int
    n_instruments: int


class LockedClient:
    """The chain client with every call serialised (the embedded EVM is not thread-safe
    and the API serves requests from a thread pool)."""

    def __init__(self, client: Client, lock: threading.RLock) -> None:
        self._client, self._lock = client, lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        lock = self._lock

        def call(*a: Any, **kw: Any) -> Any:
            with lock:
                return attr(*a, **kw)
        return call


class ServiceBase:
    """The state every part of the operator service shares (see the module docstring);
    :class:`~zkclear.operator.service.OperatorService` documents the arguments."""

    #: Price band of accepted trades, bp of the settlement price (None: no band).
    trade_band_bp: int | None = DEFAULT_BAND_BP

    def __init__(self, store: Store, client: Client, transport: X25519KeyPair, *,
                 operator: str, keys: Any | Callable[[], Any],
                 auto_close: bool = True, net_after: float | None = None,
                 sign_timeout: float | None = None, prover: Any = None) -> None:
        from zkclear.prover.distributed import LocalProver

        self.store = store
        self._chain_lock = threading.RLock()
        self.raw_client = client
        self.client: Any = LockedClient(client, self._chain_lock)
        self.transport = transport
        self.operator = Web3.to_checksum_address(operator)
        self._keys = keys
        self.auto_close = auto_close
        self.net_after = net_after
        self.sign_timeout = sign_timeout
        #: where proofs are made: this process (the default) or a Ray cluster
        #: (:mod:`zkclear.prover.distributed`); both run the same content-addressed job.
        self.prover = prover if prover is not None else LocalProver()
        self._advance_lock = threading.RLock()
        dep = client.deployment
        self.config = dep.config
        self.info = PoolInfo(dep.pool_id, dep.chain_id, dep.address("ClearingHouse"),
                             transport.public_bytes, self.config.n_slots,
                             self.config.n_instruments)
        store.bind_pool(self.info.pool_id)
        self._ensure_genesis()

    # -- set-up ----------------------------------------------------------------------------

    @property
    def keys(self) -> Any:
        if callable(self._keys):
            self._keys = self._keys()
        return self._keys

    def _ensure_genesis(self) -> None:
        if self.store.latest_state() is not None:
            return
        if self.client.last_accepted_epoch() != 0:
            raise StoreError("the chain has accepted epochs but this operator database has "
                             "no pool state: rebuild it with `zkclear operator recover` "
                             "(compliance key) or restore the operator's database")
        vkh0 = int(self.client.call(self.raw_client.house.functions.vkhOf(0)))
        genesis = PoolState.genesis(self.config, self.client.final_prices(0), vkh0)
        if genesis.root() != self.client.state_root():
            raise StoreError("the genesis state built from the chain does not match its "
                             "state root")
        self.store.put_state(0, genesis.to_json())

    def state(self) -> PoolState:
        latest = self.store.latest_state()
        assert latest is not None
        return PoolState.from_json(latest[1])

    # -- identities ------------------------------------------------------------------------

    def slot_of(self, address: str) -> int | None:
        """The active member slot of an Ethereum account (None if not a member)."""
        try:
            slot = self.client.slot_of(address)
        except ContractError as exc:
            if exc.name == "NotMember":
                return None
            raise
        return int(slot)

    def is_operator(self, address: str) -> bool:
        return Web3.to_checksum_address(address) == self.operator

    def active_members(self) -> set[int]:
        out = set()
        for slot in range(1, self.config.n_slots):
            _account, active, _used = self.client.call(
                self.raw_client.house.functions.members(slot))
            if active:
                out.add(slot)
        return out

    def registry(self) -> dict[int, bytes]:
        """Slot -> transport key of the members enrolled with this operator (a row that
        ``zkclear operator recover`` wrote has a view key but no transport key yet)."""
        return {int(s): bytes(k) for s, k in
                self.store.query("SELECT slot, transport_public FROM members")
                if len(bytes(k)) == 32}

    def intake_epoch(self) -> int:
        return max(self.client.open_epoch(), self.store.last_closed_intake() + 1)

    def _account_of(self, slot: int) -> str:
        account, _active, _used = self.client.call(self.raw_client.house.functions.members(slot))
        return str(account)

    # -- requests --------------------------------------------------------------------------

    def record_nonce(self, address: str, nonce: str, ts: int) -> None:
        """Store an HTTP request nonce; ServiceError(replay) if seen (inside the caller's
        transaction, so a refused request leaves no trace)."""
        with self.store.transaction() as db:
            cur = db.execute("INSERT OR IGNORE INTO request_nonces VALUES (?, ?, ?)",
                             (address.lower(), nonce, ts))
            if cur.rowcount != 1:
                raise ServiceError("replayed_request",
                                   "this request nonce was already used", 409)

    def prune_nonces(self, older_than: int) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM request_nonces WHERE ts < ?", (older_than,))

    # -- what is on record -----------------------------------------------------------------

    def latest_submissions(self, epoch: int) -> dict[int, list[dict[str, Any]]]:
        rows = self.store.query("SELECT slot, trades FROM submissions WHERE id IN (SELECT "
                                "MAX(id) FROM submissions WHERE epoch = ? GROUP BY slot)",
                                (epoch,))
        return {int(s): json.loads(t) for s, t in rows}

    def reports(self, epoch: int) -> dict[int, Report]:
        rows = self.store.query("SELECT slot, report FROM results WHERE epoch = ? AND "
                                "report IS NOT NULL", (epoch,))
        return {int(s): report_from_json(json.loads(r)) for s, r in rows}

    def expected_commitments(self, epoch: int) -> dict[int, int]:
        rows = self.store.query("SELECT slot, commitment FROM results WHERE epoch = ? AND "
                                "commitment IS NOT NULL", (epoch,))
        return {int(s): int(c) for s, c in rows}

    def signed_commits(self, epoch: int) -> dict[int, SignedCommit]:
        rows = self.store.query("SELECT slot, commitment, ciphertext, signature FROM "
                                "signed_commits WHERE epoch = ?", (epoch,))
        return {int(s): SignedCommit.from_signature(int(s), int(c), bytes(ct), bytes(sig))
                for s, c, ct, sig in rows}

    def signed_deposits(self, epoch: int) -> dict[int, SignedDeposit]:
        rows = self.store.query("SELECT slot, amount, signature FROM signed_deposits WHERE "
                                "epoch = ?", (epoch,))
        return {int(s): SignedDeposit.from_signature(epoch, int(s), int(a), bytes(sig))
                for s, a, sig in rows}

    def committed(self, epoch: int) -> dict[int, int]:
        """Slot -> commitment of the epoch's on-chain COMMIT events."""
        try:
            events = self.client.epoch_events(epoch)
        except ZkclearError:
            return {}
        return {e.slot: e.value for e in events if e.kind == Kind.COMMIT}

    def excluded(self, epoch: int) -> set[int]:
        return {int(r[0]) for r in self.store.query(
            "SELECT slot FROM exclusions WHERE epoch = ?", (epoch,))}

    def missing_commitments(self, epoch: int) -> set[int]:
        """Slots with a netted report but no stored signed commitment of it."""
        return set(self.expected_commitments(epoch)) - set(self.signed_commits(epoch))

    def _view_keys(self, slots: set[int]) -> dict[int, MemberKey]:
        out = {}
        for s, k in self.store.query("SELECT slot, view_key FROM members"):
            if int(s) in slots:
                out[int(s)] = MemberKey(int(s), int(k, 16))
        missing = slots - set(out)
        if missing:
            raise ServiceError("not_enrolled", f"slots {sorted(missing)} have reports but no "
                               "enrolled view key", 409)
        return out

    def _enrolled_keys(self) -> dict[int, MemberKey]:
        return {int(s): MemberKey(int(s), int(k, 16))
                for s, k in self.store.query("SELECT slot, view_key FROM members")}

    def _state_before(self, epoch: int) -> PoolState:
        """The state after ``epoch - 1`` (members' equity before trades of ``epoch``):
        the latest accepted one, or epoch - 1's once proved but not yet landed."""
        state = self.state()
        if state.epoch == epoch - 1:
            return state
        row = self.store.epoch_row(epoch - 1)
        if row is not None and row.get("new_state"):
            prev = PoolState.from_json(json.loads(row["new_state"]))
            if prev.epoch == epoch - 1:
                return prev
        raise ServiceError("previous_epoch_pending", f"epoch {epoch - 1} is not cleared yet; "
                           f"netting epoch {epoch} needs members' equity after it", 409)

    def sign_deadline(self, epoch: int) -> float | None:
        """When the current signing round of ``epoch`` ends (None: no timeout set)."""
        if self.sign_timeout is None:
            return None
        start = self.store.journal_last(epoch, "netted", "renetted")
        return None if start is None else start + self.sign_timeout

    # -- queries ---------------------------------------------------------------------------

    def member_result(self, slot: int, epoch: int) -> dict[str, Any]:
        """What ``GET /v1/epochs/{e}/me`` answers a member."""
        row = self.store.epoch_row(epoch)
        subs = self.store.one("SELECT COUNT(*) FROM submissions WHERE epoch = ? AND slot = ?",
                              (epoch, slot))[0]
        out: dict[str, Any] = {"epoch": epoch, "slot": slot,
                               "phase": row["phase"] if row else "intake",
                               "submissions": int(subs), "netted": False}
        if row is None or row["phase"] == "intake":
            return out
        out["prices"] = [str(p) for p in json.loads(row["prices"])]
        res = self.store.one("SELECT accepted, rejected, report, commitment FROM results "
                             "WHERE epoch = ? AND slot = ?", (epoch, slot))
        out["netted"] = True
        if res is None:
            out |= {"accepted": [], "rejected": [], "report": None, "commitment": None}
        else:
            out |= {"accepted": json.loads(res[0]), "rejected": json.loads(res[1]),
                    "report": json.loads(res[2]) if res[2] else None,
                    "commitment": res[3]}
        out["excluded"] = slot in self.excluded(epoch)
        if out["report"] is not None:
            out["committed_on_chain"] = slot in self.committed(epoch)
            out["needs_signature"] = (row["phase"] in ("netted", "close_requested")
                                      and slot not in self.signed_commits(epoch))
        return out

    def epoch_public(self, epoch: int) -> dict[str, Any]:
        """What ``GET /v1/epochs/{e}`` answers anyone."""
        row = self.store.epoch_row(epoch)
        out: dict[str, Any] = {"epoch": epoch, "phase": row["phase"] if row else "intake"}
        if row is None:
            return out
        if row["prices"]:
            out["prices"] = [str(p) for p in json.loads(row["prices"])]
        if row["public"]:
            pub = json.loads(row["public"])
            out["public_signals"] = pub
            out["new_root"] = pub[1]
        if row["error"]:
            out["error"] = row["error"]
        out["accepted_on_chain"] = row["phase"] == "accepted"
        if row["submit_tx"]:
            out["submit"] = json.loads(row["submit_tx"])
        out["reporting_slots"] = sorted(self.expected_commitments(epoch))
        out["excluded_slots"] = sorted(self.excluded(epoch))
        if row["phase"] in ("netted", "close_requested"):
            out["awaiting_signatures"] = sorted(self.missing_commitments(epoch))
            deadline = self.sign_deadline(epoch)
            if deadline is not None:
                out["sign_deadline"] = deadline
        return out
