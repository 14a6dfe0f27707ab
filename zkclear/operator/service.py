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
   command); **closing** is recorded *before* ``closeEpoch(commits, deposits, excludedMask)``
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

The service is built in layers, one module each: :mod:`.base` (the store, the chain
client, identities, what is on record), :mod:`.intake` (step 1), :mod:`.netting` (steps
2-3: netting, signatures, exclusion rounds), :mod:`.settlement` (close, prove, submit);
:mod:`.records` holds the JSON forms and :mod:`.errors` :class:`ServiceError`.
:class:`OperatorService` puts them together and answers the queries.
"""

from __future__ import annotations

import time
from typing import Any

from zkclear.clearing.auction import Lot
from zkclear.schemas import LotFile

from .base import CRASH_POINTS, PHASES, PoolInfo, ServiceBase, crash_point
from .errors import ServiceError
from .intake import ENROL_EPOCH, Intake
from .records import (
    MAX_TRADES_PER_LIST,
    parse_trade_list,
    report_from_json,
    report_to_json,
    trade_to_json,
)
from .settlement import Settlement

__all__ = [
    "CRASH_POINTS",
    "ENROL_EPOCH",
    "MAX_TRADES_PER_LIST",
    "PHASES",
    "OperatorService",
    "PoolInfo",
    "ServiceBase",
    "ServiceError",
    "crash_point",
    "parse_trade_list",
    "report_from_json",
    "report_to_json",
    "trade_to_json",
]


class OperatorService(Intake, Settlement):
    """The operator: intake, netting, close, prove, submit; state in :class:`Store`.

    ``keys``: the epoch circuit's proving keys, or a callable returning them (loaded on the
    first proof). ``operator``: the account that sends ``closeEpoch``/``submitEpoch``.
    ``auto_close``: close an epoch as soon as every netted member has committed.
    ``net_after``: the schedule -- net the intake epoch by itself once it is the chain's
    open epoch, its prices are final and its first trade list is this many seconds old
    (None: only on command). ``sign_timeout``: seconds members have, after each netting
    round, to send their signed commitment before the missing ones are excluded (None:
    only when a close is commanded). ``prover``: where proofs are made (default: this
    process; :class:`zkclear.prover.distributed.RayProver`: a Ray cluster).
    """

    # -- the auction of the house's lot -----------------------------------------------------

    def house_lot(self) -> dict[str, Any]:
        """What ``GET /v1/lot`` answers a member: the house's leaf after the last accepted
        epoch (its positions are the lot auctioned in the next epoch), which the member
        checks against that epoch's published exit data
        (:func:`zkclear.clearing.auction.verify_lot`)."""
        state = self.state()
        if state.epoch == 0:
            raise ServiceError("no_accepted_epoch", "no epoch has been accepted yet: the "
                               "house holds no lot", 409)
        house = state.leaves[0]
        lot = Lot(state.epoch, house.collateral, house.positions, house.vkh)
        return LotFile.of(lot).model_dump()

    # -- the background driver -------------------------------------------------------------

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
