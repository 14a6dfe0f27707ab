"""The operator's epoch lifecycle, independent of HTTP (the API in :mod:`.api` calls it).

Epoch ``e`` goes through these phases, each recorded in the store (:mod:`.store`)::

    intake -> netted -> close_requested -> closing -> closed -> proved -> submitting -> accepted
                                                                   \\-> failed (needs a human)

1. **intake** -- enrolled members send encrypted, authenticated trade lists
   (:mod:`zkclear.privacy.transport` messages, counters checked by ReplayGuard's SQL) for the
   intake epoch. Each is committed to SQLite, in the same transaction as its counter and
   its HTTP request nonce, before the 2xx reply; a later list from the same member
   replaces the earlier one for netting (all are kept).
2. **netted** -- on command (``POST /v1/admin/epochs/{e}/net``) or on a schedule, the
   operator matches and nets the latest list of every member into one
   :class:`~zkclear.clearing.report.Report` per slot with a fresh random salt, stores the
   reports with every trade's acceptance or rejection reason, and the commitment each
   member's ciphertext must have. Netting needs the epoch's final oracle prices (a
   report's ``tradeCash`` is settlement-relative, docs/protocol.md) and needs ``e`` to be
   the chain's open epoch. Intake of ``e`` is over; new trade lists go to ``e + 1``.
3. members fetch their result (``GET /v1/epochs/{e}/me``), check it against their own
   trades, encrypt the report under their view key, sign the commit digest with their
   account and send ``(C, ciphertext, signature)`` back (``POST /v1/epochs/{e}/commit``,
   :class:`zkclear.roles.member.MemberClient`); the operator checks that the ciphertext
   is the one of the netted report and the signature the slot account's, and stores it.
   Deadline (``sign_timeout``): a member whose netted report has no valid signed
   commitment ``sign_timeout`` seconds after netting (or when the close is commanded) is
   excluded: its trades and its counterparties' matching trades are dropped
   (:func:`zkclear.clearing.trades.exclude_slots`, reasons ``REPORT_WITHHELD`` /
   ``COUNTERPARTY_EXCLUDED``), the rest is netted again in one transaction (journal step
   ``renetted``; the slot goes to the ``exclusions`` table), and the members whose report
   changed must fetch and sign their new report (their old signed commitment is
   deleted); a new deadline starts. Each round excludes at least one slot, so an epoch
   needs at most N rounds. A slot excluded from epoch e is suspended in e + 1: netting
   rejects its trades (``SLOT_SUSPENDED``).
4. **close_requested** once every netted member's signed commitment is in (or on
   command); **closing** is recorded *before* ``closeEpoch(commits, excludedMask)``
   (every stored signed commitment, the excluded slots) is sent and **closed** after;
   **proved**
   stores the engine's new state and the proof (the engine runs on the chain's own events
   and final prices); **submitting** is recorded before ``submitEpoch`` is sent and
   **accepted** (with the new off-chain PoolState, in the same transaction) after.

Crash safety: every phase change is one SQLite transaction; restart resumes from the
recorded phase (:meth:`OperatorService.resume`): ``closing`` asks the chain whether the
epoch is closed before resending; ``closed`` re-runs the engine and the (content-addressed,
idempotent) prover; ``submitting`` reads ``lastAcceptedEpoch``/the ``EpochAccepted`` log
and only resends if the submission did not land, so an epoch is never submitted twice
and no manual step is needed. Tests kill the process at named points: the environment
variable ``ZKCLEAR_CRASH_AT=<point>[:<n>]`` makes it SIGKILL itself at the n-th (default
first) time it passes ``<point>`` (see :data:`CRASH_POINTS`).

Secrets: the store holds each member's view key (needed to prove that the committed
ciphertext decrypts to the netted report). They are never logged; errors never echo them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import Web3

from zkclear.chain.client import Client, ContractError, SignedCommit
from zkclear.clearing.epoch import EpochError, run_epoch
from zkclear.clearing.events import Kind
from zkclear.clearing.params import ParamsError, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.state import PoolState
from zkclear.clearing.trades import (
    BUY,
    DEFAULT_BAND_BP,
    MatchedTrade,
    MatchResult,
    Reason,
    TradeError,
    TradeReport,
    changed_reports,
    deposits_from_events,
    equity_before_trades,
    exclude_slots,
    match_trades,
    reports_from_netting,
)
from zkclear.clearing.witness import epoch_circuit_inputs
from zkclear.errors import ZkclearError
from zkclear.privacy.cipher import encrypt_report
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.transport import TransportError, TransportReceiver
from zkclear.privacy.viewkeys import MemberKey
from zkclear.schemas import NettedReport, Trade, TradeList

from .store import Store, StoreError

log = logging.getLogger("zkclear.operator")

PHASES = ("intake", "netted", "close_requested", "closing", "closed", "proved",
          "submitting", "accepted", "failed")
#: Where ``ZKCLEAR_CRASH_AT`` can kill the process.
CRASH_POINTS = ("after_trades_stored", "after_net", "before_close_sent", "after_close_sent",
                "after_proof_stored", "before_submit_sent", "after_submit_sent")
#: Transport messages carrying an enrolment use epoch 0.
ENROL_EPOCH = 0
#: Largest trade list (entries) one submission may hold.
MAX_TRADES_PER_LIST = 1000

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


class ServiceError(ZkclearError):
    """A request the operator refuses; ``code`` is a stable machine-readable name and
    ``status`` the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code, self.status = code, status
        super().__init__(message)


class _MalformedTrades(ServiceError):
    """A trade list that is not a :class:`zkclear.schemas.TradeList` (422)."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed_trades", message, 422)


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise ServiceError("bad_request", f"{what} must be 0x followed by 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ServiceError("bad_request", f"{what} is not hex") from None


def parse_trade_list(payload: bytes) -> list[dict[str, Any]]:
    """The trades of a submission payload (:class:`zkclear.schemas.TradeList`), at most
    :data:`MAX_TRADES_PER_LIST` of them (field types checked; matching checks values)."""
    trades = TradeList.read(payload, where="the trade list", error=_MalformedTrades).trades
    if len(trades) > MAX_TRADES_PER_LIST:
        raise ServiceError("too_many_trades",
                           f"{len(trades)} trades, at most {MAX_TRADES_PER_LIST} per list", 422)
    return [t.model_dump() for t in trades]


@dataclass(frozen=True)
class PoolInfo:
    pool_id: str
    chain_id: int
    clearing_house: str
    operator_transport_public: bytes
    n_slots: int
    n_instruments: int


class _LockedClient:
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


class OperatorService:
    """The operator: intake, netting, close, prove, submit; state in :class:`Store`.

    ``keys``: the epoch circuit's proving keys, or a callable returning them (loaded on the
    first proof). ``operator``: the account that sends ``closeEpoch``/``submitEpoch``.
    ``auto_close``: close an epoch as soon as every netted member has committed.
    ``net_after``: the schedule -- net the intake epoch by itself once it is the chain's
    open epoch, its prices are final and its first trade list is this many seconds old
    (None: only on command). ``sign_timeout``: seconds members have, after each netting
    round, to send their signed commitment before the missing ones are excluded (None:
    only when a close is commanded).
    """

    #: Price band of accepted trades, bp of the settlement price (None: no band).
    trade_band_bp: int | None = DEFAULT_BAND_BP

    def __init__(self, store: Store, client: Client, transport: X25519KeyPair, *,
                 operator: str, keys: Any | Callable[[], Any],
                 auto_close: bool = True, net_after: float | None = None,
                 sign_timeout: float | None = None) -> None:
        self.store = store
        self._chain_lock = threading.RLock()
        self.raw_client = client
        self.client: Any = _LockedClient(client, self._chain_lock)
        self.transport = transport
        self.operator = Web3.to_checksum_address(operator)
        self._keys = keys
        self.auto_close = auto_close
        self.net_after = net_after
        self.sign_timeout = sign_timeout
        self._advance_lock = threading.RLock()
        dep = client.deployment
        self.config = dep.config
        self.info = PoolInfo(dep.pool_id, dep.chain_id, dep.address("ClearingHouse"),
                             transport.public_bytes, self.config.n_slots,
                             self.config.n_instruments)
        store.bind_pool(self.info.pool_id)
        self._ensure_genesis()

    # -- set-up ----------------------------------------------------------------------

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

    # -- identities ------------------------------------------------------------------

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

    # -- requests (the API runs each inside one store transaction) -----------------------

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

    def enrol(self, slot: int, transport_public_hex: str, message_b64: str, *,
              nonce: tuple[str, str, int] | None = None) -> dict[str, Any]:
        """Record a member's transport key and view key. The view key travels inside a
        transport message sealed with that transport key (epoch 0); it must hash to the
        vkh the slot registered on-chain."""
        pub = _hex32(transport_public_hex, "transport_public")
        try:
            data = base64.b64decode(message_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ServiceError("bad_request", "message must be base64") from None
        receiver = TransportReceiver(self.transport, {slot: pub}, self.info.pool_id,
                                     self.store.guard)
        with self.store.transaction() as db:
            if nonce is not None:
                self.record_nonce(*nonce)
            msg = _open(receiver, data, ENROL_EPOCH, slot)
            try:
                doc = json.loads(msg.payload)
                key = MemberKey(slot, int.from_bytes(_hex32(doc["view_key"], "view_key"),
                                                     "big"))
            except (ValueError, KeyError, TypeError):
                raise ServiceError("bad_view_key", "the enrolment payload must be "
                                   '{"view_key": "0x<64 hex>"} with 0 < K < r', 422) from None
            vkh = int(self.client.call(self.raw_client.house.functions.vkhOf(slot)))
            if key.vkh != vkh:
                raise ServiceError("view_key_mismatch", f"Poseidon(view key) is not the vkh "
                                   f"slot {slot} registered on-chain", 422)
            account = self._account_of(slot)
            db.execute("INSERT INTO members VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (slot) DO "
                       "UPDATE SET address = excluded.address, transport_public = "
                       "excluded.transport_public, view_key = excluded.view_key, vkh = "
                       "excluded.vkh, enrolled_at = excluded.enrolled_at",
                       (slot, account.lower(), pub, hex(key.key.reveal()), str(vkh),
                        time.time()))
        return {"slot": slot, "vkh": str(vkh)}

    def _account_of(self, slot: int) -> str:
        account, _active, _used = self.client.call(self.raw_client.house.functions.members(slot))
        return str(account)

    def submit_trades(self, slot: int, epoch: int, body: bytes, *,
                      nonce: tuple[str, str, int] | None = None) -> dict[str, Any]:
        """Open, check and durably store one trade list (raises ServiceError); the
        request ``nonce`` (address, nonce, timestamp) is stored in the same transaction."""
        intake = self.intake_epoch()
        if epoch != intake:
            raise ServiceError("epoch_not_open", f"epoch {epoch} is not taking trade lists; "
                               f"the intake epoch is {intake}", 409)
        reg = self.registry()
        if slot not in reg:
            raise ServiceError("not_enrolled", f"slot {slot} has not enrolled its transport "
                               "and view keys", 403)
        receiver = TransportReceiver(self.transport, reg, self.info.pool_id, self.store.guard)
        with self.store.transaction() as db:
            if nonce is not None:
                self.record_nonce(*nonce)
            msg = _open(receiver, body, epoch, slot)
            trades = parse_trade_list(msg.payload)
            cur = db.execute("INSERT INTO submissions (epoch, slot, counter, received_at, "
                             "trades) VALUES (?, ?, ?, ?, ?)",
                             (epoch, slot, msg.counter, time.time(), json.dumps(trades)))
            sub_id = int(cur.lastrowid or 0)
            if self.store.epoch_row(epoch) is None:
                self.store.set_epoch(epoch, phase="intake")
        crash_point("after_trades_stored")
        return {"epoch": epoch, "slot": slot, "submission": sub_id, "trades": len(trades)}

    # -- netting ---------------------------------------------------------------------

    def latest_submissions(self, epoch: int) -> dict[int, list[dict[str, Any]]]:
        rows = self.store.query("SELECT slot, trades FROM submissions WHERE id IN (SELECT "
                                "MAX(id) FROM submissions WHERE epoch = ? GROUP BY slot)",
                                (epoch,))
        return {int(s): json.loads(t) for s, t in rows}

    def net_epoch(self, epoch: int) -> dict[str, Any]:
        """Step 2: match, net, store per-slot results (one transaction)."""
        with self._advance_lock:
            row = self.store.epoch_row(epoch)
            if row is not None and row["phase"] != "intake":
                raise ServiceError("already_netted", f"epoch {epoch} is already netted "
                                   f"(phase {row['phase']})", 409)
            if epoch != self.intake_epoch():
                raise ServiceError("epoch_not_open", f"epoch {epoch} is not the intake epoch "
                                   f"{self.intake_epoch()}", 409)
            if self.client.open_epoch() != epoch:
                raise ServiceError("epoch_not_open", f"the chain's open epoch is "
                                   f"{self.client.open_epoch()}, not {epoch}", 409)
            try:
                prices = self.client.final_prices(epoch)
            except ContractError as exc:
                raise ServiceError("prices_not_final", f"the oracle has not finalised epoch "
                                   f"{epoch}'s prices ({exc.name}); netting needs them", 409
                                   ) from exc
            subs = self.latest_submissions(epoch)
            members = self.active_members()
            cfg = self.config
            match = match_trades(subs, n_slots=cfg.n_slots, n_instruments=cfg.n_instruments,
                                 members=members)
            equity = self._equity(epoch, prices)
            try:
                ruled = exclude_slots(match, self.suspended(epoch), prices,
                                      n_slots=cfg.n_slots, n_instruments=cfg.n_instruments,
                                      band_bp=self.trade_band_bp, equity=equity,
                                      reason=Reason.SLOT_SUSPENDED)
                match = ruled.match
                reports = reports_from_netting(ruled.netting, prices)
            except TradeError as exc:
                raise ServiceError("netting_failed", str(exc), 422) from exc
            keys = self._view_keys(set(reports))
            per_slot: dict[int, dict[str, list[Any]]] = {
                s: {"accepted": [], "rejected": []} for s in set(subs) | set(reports)}
            for t in match.accepted:
                for me, other, side in ((t.buyer, t.seller, BUY), (t.seller, t.buyer, -BUY)):
                    per_slot.setdefault(me, {"accepted": [], "rejected": []})
                    per_slot[me]["accepted"].append(Trade.of(TradeReport(
                        t.trade_id, t.instrument, side, t.size, t.price, other)).model_dump())
            for rj in match.rejected:
                if type(rj.member) is int and rj.member in per_slot:
                    per_slot[rj.member]["rejected"].append(
                        {"trade_id": rj.trade_id, "reason": rj.reason.name,
                         "message": rj.message})
            with self.store.transaction() as db:
                for slot, res in sorted(per_slot.items()):
                    rep = reports.get(slot)
                    commitment = (str(encrypt_report(keys[slot], epoch, rep).commitment())
                                  if rep is not None else None)
                    db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
                               (epoch, slot, json.dumps(res["accepted"]),
                                json.dumps(res["rejected"]),
                                NettedReport.of(rep).model_dump_json() if rep else None,
                                commitment))
                self.store.set_epoch(epoch, phase="netted", prices=json.dumps(list(prices)),
                                     error=None)
                self.store.journal(epoch, "netted", {"reports": sorted(reports),
                                                     "accepted": len(match.accepted),
                                                     "rejected": len(match.rejected)})
            crash_point("after_net")
            log.info("epoch %d netted: %d trades accepted, %d reports rejected, %d reports",
                     epoch, len(match.accepted), len(match.rejected), len(reports))
            return {"epoch": epoch, "phase": "netted", "reports": sorted(reports),
                    "accepted": len(match.accepted), "rejected": len(match.rejected),
                    "prices": list(prices)}

    def _equity(self, epoch: int, prices: Any) -> dict[int, int]:
        before = self._state_before(epoch)
        deposits = deposits_from_events(self.client.epoch_events(epoch))
        try:
            return equity_before_trades(before, prices, deposits)
        except TradeError as exc:
            raise ServiceError("netting_failed", str(exc), 422) from exc

    def suspended(self, epoch: int) -> set[int]:
        """Slots suspended in ``epoch``: those closeEpoch excluded from ``epoch - 1``."""
        if epoch <= 1:
            return set()
        mask = int(self.client.epoch_info(epoch - 1)["excludedMask"])
        return {i for i in range(mask.bit_length()) if mask >> i & 1}

    def excluded(self, epoch: int) -> set[int]:
        return {int(r[0]) for r in self.store.query(
            "SELECT slot FROM exclusions WHERE epoch = ?", (epoch,))}

    def missing_commitments(self, epoch: int) -> set[int]:
        """Slots with a netted report but no stored signed commitment of it."""
        return set(self.expected_commitments(epoch)) - set(self.signed_commits(epoch))

    def sign_deadline(self, epoch: int) -> float | None:
        """When the current signing round of ``epoch`` ends (None: no timeout set)."""
        if self.sign_timeout is None:
            return None
        start = self.store.journal_last(epoch, "netted", "renetted")
        return None if start is None else start + self.sign_timeout

    def exclude_missing(self, epoch: int) -> dict[str, Any]:
        """One exclusion round: every slot in :meth:`missing_commitments` is excluded, the
        accepted trades without them are netted again (rule R again), changed reports
        replace the old ones and lose their signed commitment. One transaction."""
        missing = self.missing_commitments(epoch)
        if not missing:
            return {"epoch": epoch, "excluded": [], "changed": []}
        row = self.store.epoch_row(epoch)
        assert row is not None and row["prices"]
        prices = tuple(int(p) for p in json.loads(row["prices"]))
        cfg = self.config
        results = {int(s): (json.loads(a), json.loads(r)) for s, a, r in self.store.query(
            "SELECT slot, accepted, rejected FROM results WHERE epoch = ?", (epoch,))}
        trades = [MatchedTrade(t["trade_id"], t["instrument"], slot, t["counterparty"],
                               t["size"], t["price"])
                  for slot, (acc, _) in sorted(results.items()) for t in acc
                  if t["side"] == BUY]
        excluded = self.excluded(epoch) | missing
        try:
            ruled = exclude_slots(MatchResult(trades, []), excluded, prices,
                                  n_slots=cfg.n_slots, n_instruments=cfg.n_instruments,
                                  band_bp=self.trade_band_bp,
                                  equity=self._equity(epoch, prices))
            fresh = reports_from_netting(ruled.netting, prices)
        except TradeError as exc:
            raise ServiceError("netting_failed", str(exc), 422) from exc
        reports, changed = changed_reports(self.reports(epoch), fresh)
        keys = self._view_keys({s for s in changed if s in reports})
        accepted: dict[int, list[dict[str, Any]]] = {s: [] for s in results}
        for t in ruled.match.accepted:
            for me, other, side in ((t.buyer, t.seller, BUY), (t.seller, t.buyer, -BUY)):
                accepted.setdefault(me, []).append(Trade.of(TradeReport(
                    t.trade_id, t.instrument, side, t.size, t.price, other)).model_dump())
        new_rej: dict[int, list[dict[str, Any]]] = {}
        for rj in ruled.match.rejected:
            new_rej.setdefault(rj.member, []).append(
                {"trade_id": rj.trade_id, "reason": rj.reason.name, "message": rj.message})
        rnd = int(self.store.one("SELECT COUNT(DISTINCT round) FROM exclusions WHERE "
                                 "epoch = ?", (epoch,))[0]) + 1
        with self.store.transaction() as db:
            for slot, (_, old_rej) in sorted(results.items()):
                db.execute("UPDATE results SET accepted = ?, rejected = ? WHERE epoch = ? "
                           "AND slot = ?", (json.dumps(accepted.get(slot, [])),
                                            json.dumps(old_rej + new_rej.get(slot, [])),
                                            epoch, slot))
            for slot in sorted(changed):
                rep = reports.get(slot)
                commitment = (str(encrypt_report(keys[slot], epoch, rep).commitment())
                              if rep is not None else None)
                db.execute("UPDATE results SET report = ?, commitment = ? WHERE epoch = ? "
                           "AND slot = ?", (NettedReport.of(rep).model_dump_json() if rep else None,
                                            commitment, epoch, slot))
                db.execute("DELETE FROM signed_commits WHERE epoch = ? AND slot = ?",
                           (epoch, slot))
            for slot in sorted(missing):
                db.execute("INSERT OR IGNORE INTO exclusions VALUES (?, ?, ?, ?)",
                           (epoch, slot, rnd, time.time()))
            detail = {"round": rnd, "excluded": sorted(missing),
                      "changed": sorted(changed - missing),
                      "resign": sorted(s for s in changed if s in reports)}
            self.store.journal(epoch, "renetted", detail)
        log.warning("epoch %d: slots %s excluded (no signed commitment), %s re-netted",
                    epoch, sorted(missing), detail["changed"])
        return {"epoch": epoch, **detail}

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

    def reports(self, epoch: int) -> dict[int, Report]:
        rows = self.store.query("SELECT slot, report FROM results WHERE epoch = ? AND "
                                "report IS NOT NULL", (epoch,))
        return {int(s): NettedReport.model_validate_json(r).to_engine() for s, r in rows}

    def expected_commitments(self, epoch: int) -> dict[int, int]:
        rows = self.store.query("SELECT slot, commitment FROM results WHERE epoch = ? AND "
                                "commitment IS NOT NULL", (epoch,))
        return {int(s): int(c) for s, c in rows}

    # -- queries ---------------------------------------------------------------------

    def member_result(self, slot: int, epoch: int) -> dict[str, Any]:
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

    def accept_commit(self, slot: int, epoch: int, commitment: int, ciphertext: bytes,
                      signature: bytes, *, nonce: tuple[str, str, int] | None = None
                      ) -> dict[str, Any]:
        """Store a member's signed commitment for closeEpoch: it must be the netted
        report's (same C, same ciphertext) and signed by the slot's account. Idempotent."""
        row = self.store.epoch_row(epoch)
        if row is None or row["phase"] not in ("netted", "close_requested"):
            raise ServiceError("not_committable", f"epoch {epoch} does not take commitments "
                               f"now (phase {row['phase'] if row else 'intake'})", 409)
        want = self.expected_commitments(epoch).get(slot)
        if want is None:
            raise ServiceError("no_report", f"slot {slot} has no report in epoch {epoch}", 409)
        expected_ct = encrypt_report(self._view_keys({slot})[slot], epoch,
                                     self.reports(epoch)[slot]).to_bytes()
        if commitment != want or ciphertext != expected_ct:
            raise ServiceError("wrong_commitment", f"slot {slot}: the commitment or "
                               "ciphertext is not the netted report's", 422)
        try:
            signed = SignedCommit.from_signature(slot, commitment, ciphertext, signature)
            inner = self.raw_client.commit_inner(epoch, slot, commitment, ciphertext)
            signer = Account.recover_message(encode_defunct(primitive=inner),
                                             signature=signed.signature)
        except Exception:
            raise ServiceError("bad_signature", "the commit signature does not parse",
                               422) from None
        if signer.lower() != self._account_of(slot).lower():
            raise ServiceError("bad_signature", f"the commit is not signed by slot {slot}'s "
                               "account", 422)
        with self.store.transaction() as db:
            if nonce is not None:
                self.record_nonce(*nonce)
            db.execute("INSERT OR REPLACE INTO signed_commits VALUES (?, ?, ?, ?, ?)",
                       (epoch, slot, str(commitment), ciphertext, signed.signature))
        return {"epoch": epoch, "slot": slot, "commitment": str(commitment)}

    def signed_commits(self, epoch: int) -> dict[int, SignedCommit]:
        rows = self.store.query("SELECT slot, commitment, ciphertext, signature FROM "
                                "signed_commits WHERE epoch = ?", (epoch,))
        return {int(s): SignedCommit.from_signature(int(s), int(c), bytes(ct), bytes(sig))
                for s, c, ct, sig in rows}

    def committed(self, epoch: int) -> dict[int, int]:
        """Slot -> commitment of the epoch's on-chain COMMIT events."""
        try:
            events = self.client.epoch_events(epoch)
        except ZkclearError:
            return {}
        return {e.slot: e.value for e in events if e.kind == Kind.COMMIT}

    # -- close, prove, submit ----------------------------------------------------------

    def request_close(self, epoch: int) -> dict[str, Any]:
        with self._advance_lock:
            row = self.store.epoch_row(epoch)
            if row is None or row["phase"] == "intake":
                raise ServiceError("not_netted", f"epoch {epoch} is not netted yet", 409)
            if row["phase"] == "netted":
                with self.store.transaction():
                    self.store.set_epoch(epoch, phase="close_requested")
                    self.store.journal(epoch, "close_requested")
        return self.advance(epoch, through="closed")

    def advance(self, epoch: int, *, through: str = "accepted") -> dict[str, Any]:
        """Perform every due step of ``epoch`` up to phase ``through`` (idempotent; what a
        restart runs). Returns the public view of the epoch."""
        stop = PHASES.index(through)
        with self._advance_lock:
            for _ in range(10):
                row = self.store.epoch_row(epoch)
                if row is None:
                    break
                phase = row["phase"]
                if phase in ("accepted", "failed", "intake") or PHASES.index(phase) >= stop:
                    break
                try:
                    moved = self._step(epoch, phase)
                except (EpochError, ParamsError) as exc:
                    with self.store.transaction():
                        self.store.set_epoch(epoch, phase="failed", error=str(exc))
                        self.store.journal(epoch, "failed", str(exc))
                    log.error("epoch %d cannot be cleared: %s", epoch, exc)
                    break
                if not moved:
                    break
        return self.epoch_public(epoch)

    def _step(self, epoch: int, phase: str) -> bool:
        if phase == "netted":
            if self.missing_commitments(epoch):
                deadline = self.sign_deadline(epoch)
                if deadline is None or time.time() < deadline:
                    return False
                self.exclude_missing(epoch)
                return True  # a new round: the changed reports' members sign again
            if not self.auto_close:
                return False
            with self.store.transaction():
                self.store.set_epoch(epoch, phase="close_requested")
                self.store.journal(epoch, "close_requested", "all reports committed")
            return True
        if phase == "close_requested":
            if self.missing_commitments(epoch):
                # A commanded close is the deadline: exclude, then wait for the changed
                # reports' signatures (netted again: a new round).
                self.exclude_missing(epoch)
                with self.store.transaction():
                    self.store.set_epoch(epoch, phase="netted")
                    self.store.journal(epoch, "close_deferred", "reports re-netted")
                return True
            if self.client.last_accepted_epoch() != epoch - 1:
                return False  # the previous epoch is still being proven
            with self.store.transaction():
                self.store.set_epoch(epoch, phase="closing")
                self.store.journal(epoch, "close_sending")
            return True
        if phase == "closing":
            if not self.client.epoch_info(epoch)["closed"]:
                crash_point("before_close_sent")
                signed = self.signed_commits(epoch)
                mask = sum(1 << s for s in self.excluded(epoch))
                self.client.close_epoch([signed[s] for s in sorted(signed)], mask,
                                        sender=self.operator)
                crash_point("after_close_sent")
            with self.store.transaction():
                self.store.set_epoch(epoch, phase="closed")
                self.store.journal(epoch, "closed")
            return True
        if phase == "closed":
            self._prove(epoch)
            return True
        if phase == "proved":
            with self.store.transaction():
                self.store.set_epoch(epoch, phase="submitting")
                self.store.journal(epoch, "submit_sending")
            return True
        if phase == "submitting":
            self._submit(epoch)
            return True
        return False

    def params_for(self, epoch: int) -> RiskParams:
        """The risk parameters epoch ``epoch`` was frozen with (from RiskParamsSet logs)."""
        want = int(self.client.epoch_info(epoch)["paramsHash"])
        with self._chain_lock:
            logs = self.raw_client.house.events.RiskParamsSet().get_logs(
                from_block=self.raw_client.deployment.first_block)
        m = self.config.n_instruments
        for ev in reversed(list(logs)):
            a = ev["args"]
            if int(a["paramsHash"]) != want:
                continue
            shocks = [int(s) for s in a["shocks"]]
            return RiskParams(int(a["imFactorBp"]), int(a["penaltyBp"]),
                              tuple(int(x) for x in a["positionLimits"]),
                              tuple(tuple(shocks[k * m:(k + 1) * m])
                                    for k in range(len(shocks) // m)))
        raise StoreError(f"no RiskParamsSet log with epoch {epoch}'s paramsHash")

    def _prove(self, epoch: int) -> None:
        state = self.state()
        if state.epoch != epoch - 1:
            raise StoreError(f"the off-chain state is after epoch {state.epoch}, epoch "
                             f"{epoch} needs the state after {epoch - 1}")
        if state.root() != self.client.state_root():
            raise StoreError("the off-chain state root differs from the chain's: the "
                             "operator database is out of step with the chain")
        events = self.client.epoch_events(epoch)
        prices = self.client.final_prices(epoch)
        reports = self.reports(epoch)
        # Every enrolled member's key: reporting slots need it, and every member's leaf is
        # blinded with it so that the member can open it after a freeze.
        keys = self._view_keys(set(reports)) | self._enrolled_keys()
        result = run_epoch(state, self.params_for(epoch), prices, events, reports,
                           view_keys=keys)
        from zkclear.prover.prove import prove

        self.store.journal(epoch, "proving")
        t0 = time.perf_counter()
        proof = prove(self.keys, epoch_circuit_inputs(result))
        if [int(x) for x in proof.public] != result.public_signals():
            raise StoreError(f"epoch {epoch}: the proof's public signals differ from the "
                             "engine's")
        with self.store.transaction():
            self.store.set_epoch(epoch, phase="proved", proof=json.dumps(proof.proof),
                                 public=json.dumps([str(x) for x in proof.public]),
                                 new_state=json.dumps(result.new.to_json()))
            self.store.journal(epoch, "proved", {"seconds": round(time.perf_counter() - t0, 2),
                                                 "new_root": str(result.new.root())})
        crash_point("after_proof_stored")

    def _landed(self, epoch: int, new_root: int) -> dict[str, Any] | None:
        """The EpochAccepted log of ``epoch`` if the chain has accepted it."""
        if self.client.last_accepted_epoch() < epoch:
            return None
        with self._chain_lock:
            logs = self.raw_client.house.events.EpochAccepted().get_logs(
                from_block=self.raw_client.deployment.first_block)
        for ev in logs:
            if int(ev["args"]["epoch"]) == epoch:
                if int(ev["args"]["newRoot"]) != new_root:
                    raise StoreError(f"epoch {epoch} was accepted on-chain with another root "
                                     "than this operator proved (another operator?)")
                return {"tx": ev["transactionHash"].hex(), "block": int(ev["blockNumber"])}
        raise StoreError(f"lastAcceptedEpoch >= {epoch} but no EpochAccepted log for it")

    def _submit(self, epoch: int) -> None:
        row = self.store.epoch_row(epoch)
        assert row is not None
        public = [int(x) for x in json.loads(row["public"])]
        new_state = json.loads(row["new_state"])
        landed = self._landed(epoch, public[1])
        gas = None
        if landed is None:
            crash_point("before_submit_sent")
            try:
                exit_data = PoolState.from_json(new_state).exit_data()
                acc = self.client.submit_epoch(json.loads(row["proof"]), public, exit_data,
                                               sender=self.operator)
                gas = acc.gas_used
            except ContractError as exc:
                if exc.name != "EpochAlreadyAccepted":
                    raise
            crash_point("after_submit_sent")
            landed = self._landed(epoch, public[1])
            if landed is None:
                raise StoreError(f"epoch {epoch}: submitEpoch returned but the chain has not "
                                 "accepted it")
        with self.store.transaction():
            self.store.set_epoch(epoch, phase="accepted", submit_tx=json.dumps(landed),
                                 gas=gas)
            self.store.put_state(epoch, new_state)
            self.store.journal(epoch, "accepted", landed)
        log.info("epoch %d accepted on-chain", epoch)

    def scheduled_net(self) -> dict[str, Any] | None:
        """Net the intake epoch if the schedule says so and it can be netted."""
        e = self.intake_epoch()
        row = self.store.one("SELECT MIN(received_at) FROM submissions WHERE epoch = ?", (e,))
        if row is None or row[0] is None or self.net_after is None:
            return None
        if time.time() - float(row[0]) < self.net_after or self.client.open_epoch() != e:
            return None
        try:
            return self.net_epoch(e)
        except ServiceError as exc:
            if exc.code in ("prices_not_final", "epoch_not_open", "already_netted",
                            "previous_epoch_pending"):
                return None  # not yet: the next tick tries again
            raise

    def resume(self) -> list[int]:
        """Advance every epoch that is past intake and not finished (after a restart)."""
        todo = self.store.epochs_in(*PHASES[1:7])
        for e in todo:
            self.advance(e)
        return todo

    def tick(self) -> None:
        """One pass of the background driver: net on schedule, resume unfinished epochs,
        prune old request nonces."""
        if self.net_after is not None:
            self.scheduled_net()
        self.resume()
        self.prune_nonces(int(time.time()) - 3600)


def _open(receiver: TransportReceiver, data: bytes, epoch: int, slot: int) -> Any:
    """Open a member's transport message for ``epoch``; it must come from ``slot``, the
    slot whose account signed the request (ServiceError otherwise)."""
    try:
        msg = receiver.open(data, expected_epoch=epoch)
    except TransportError as exc:
        name = type(exc).__name__
        code, status = {
            "ReplayError": ("replayed_message", 409),
            "UnknownMemberError": ("not_enrolled", 403),
            "WrongRecipientError": ("wrong_recipient", 400),
            "TamperedError": ("tampered_message", 400),
        }.get(name, ("bad_message", 400))
        if name == "TransportError" and "is for epoch" in str(exc):
            code, status = "epoch_mismatch", 409
        raise ServiceError(code, str(exc), status) from exc
    if msg.slot != slot:
        raise ServiceError("wrong_slot", f"the message is from slot {msg.slot}, the request "
                           f"is signed by slot {slot}'s account", 403)
    return msg

