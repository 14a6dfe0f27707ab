"""Netting, the members' signatures and the exclusion rounds (steps 2 and 3 of
:mod:`zkclear.operator.service`).

:meth:`Netting.net_epoch` matches and nets the latest trade list of every member into one
report per slot; members sign their report's commitment (:meth:`Netting.accept_commit`)
and, if they like, a deposit for the operator to post at the close
(:meth:`Netting.accept_deposit`);
when the signing deadline passes, :meth:`Netting.exclude_missing` drops the slots that
did not sign, nets the rest again and asks the members whose report changed to sign anew.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from zkclear.chain.client import ContractError, SignedCommit, SignedDeposit
from zkclear.chain.deposits import check_signed_deposit
from zkclear.chain.orders import CommitRefused
from zkclear.clearing.instruments import TradingRules, trading_rules
from zkclear.clearing.report import Report
from zkclear.clearing.trades import (
    BUY,
    MatchedTrade,
    MatchResult,
    Reason,
    Rejection,
    TradeError,
    TradeReport,
    changed_reports,
    deposits_from_events,
    equity_before_trades,
    exclude_slots,
    match_trades,
    reports_from_netting,
)
from zkclear.errors import ZkclearError
from zkclear.privacy.cipher import encrypt_report
from zkclear.privacy.viewkeys import MemberKey

from .base import ServiceBase, crash_point
from .errors import ServiceError
from .records import report_to_json, trade_to_json

__all__ = ["Netting"]

log = logging.getLogger(__name__)


def _sides(trades: Iterable[MatchedTrade]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each accepted trade as each counterparty reported it: (slot, the trade's JSON)."""
    for t in trades:
        for me, other, side in ((t.buyer, t.seller, BUY), (t.seller, t.buyer, -BUY)):
            yield me, trade_to_json(TradeReport(t.trade_id, t.instrument, side, t.size,
                                                t.price, other))


def _rejection(rj: Rejection) -> dict[str, Any]:
    return {"trade_id": rj.trade_id, "reason": rj.reason.name, "message": rj.message}


def _stored(keys: Mapping[int, MemberKey], slot: int, epoch: int,
            rep: Report | None) -> tuple[str | None, str | None]:
    """A slot's netted report as the results table holds it: its JSON and the commitment
    of its ciphertext under the slot's view key (None, None: no report)."""
    if rep is None:
        return None, None
    commitment = encrypt_report(keys[slot], epoch, rep).commitment()
    return json.dumps(report_to_json(rep)), str(commitment)


class Netting(ServiceBase):
    """Netting, signatures, exclusions."""

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
                                      reason=Reason.SLOT_SUSPENDED, **self._rules(epoch))
                match = ruled.match
                reports = reports_from_netting(ruled.netting, prices)
            except TradeError as exc:
                raise ServiceError("netting_failed", str(exc), 422) from exc
            keys = self._view_keys(set(reports))
            per_slot: dict[int, dict[str, list[Any]]] = {
                s: {"accepted": [], "rejected": []} for s in set(subs) | set(reports)}
            for me, trade in _sides(match.accepted):
                per_slot.setdefault(me, {"accepted": [], "rejected": []})
                per_slot[me]["accepted"].append(trade)
            for rj in match.rejected:
                if type(rj.member) is int and rj.member in per_slot:
                    per_slot[rj.member]["rejected"].append(_rejection(rj))
            with self.store.transaction() as db:
                for slot, res in sorted(per_slot.items()):
                    db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
                               (epoch, slot, json.dumps(res["accepted"]),
                                json.dumps(res["rejected"]),
                                *_stored(keys, slot, epoch, reports.get(slot))))
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
            return equity_before_trades(before, prices, deposits,
                                        self.client.funding_index(epoch))
        except TradeError as exc:
            raise ServiceError("netting_failed", str(exc), 422) from exc

    def _rules(self, epoch: int) -> TradingRules:
        """The instrument table's trading rules in ``epoch`` (settled, options)."""
        return trading_rules(self.client.instruments(), epoch)

    def suspended(self, epoch: int) -> set[int]:
        """Slots suspended in ``epoch``: those closeEpoch excluded from ``epoch - 1``."""
        if epoch <= 1:
            return set()
        mask = int(self.client.epoch_info(epoch - 1)["excludedMask"])
        return {i for i in range(mask.bit_length()) if mask >> i & 1}

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
                                  equity=self._equity(epoch, prices), **self._rules(epoch))
            fresh = reports_from_netting(ruled.netting, prices)
        except TradeError as exc:
            raise ServiceError("netting_failed", str(exc), 422) from exc
        reports, changed = changed_reports(self.reports(epoch), fresh)
        keys = self._view_keys({s for s in changed if s in reports})
        accepted: dict[int, list[dict[str, Any]]] = {s: [] for s in results}
        for me, trade in _sides(ruled.match.accepted):
            accepted.setdefault(me, []).append(trade)
        new_rej: dict[int, list[dict[str, Any]]] = {}
        for rj in ruled.match.rejected:
            new_rej.setdefault(rj.member, []).append(_rejection(rj))
        rnd = int(self.store.one("SELECT COUNT(DISTINCT round) FROM exclusions WHERE "
                                 "epoch = ?", (epoch,))[0]) + 1
        with self.store.transaction() as db:
            for slot, (_, old_rej) in sorted(results.items()):
                db.execute("UPDATE results SET accepted = ?, rejected = ? WHERE epoch = ? "
                           "AND slot = ?", (json.dumps(accepted.get(slot, [])),
                                            json.dumps(old_rej + new_rej.get(slot, [])),
                                            epoch, slot))
            for slot in sorted(changed):
                db.execute("UPDATE results SET report = ?, commitment = ? WHERE epoch = ? "
                           "AND slot = ?", (*_stored(keys, slot, epoch, reports.get(slot)),
                                            epoch, slot))
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
            signer = self.raw_client.commit_signer(epoch, signed)
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

    def accept_deposit(self, slot: int, epoch: int, amount: int, signature: bytes, *,
                       nonce: tuple[str, str, int] | None = None) -> dict[str, Any]:
        """Store a member's signed deposit for the close of ``epoch`` (the chain's open
        epoch, not closing yet): refused (422) if closeEpoch would refuse or skip it now
        (:func:`~zkclear.chain.deposits.check_signed_deposit`). A later one of the same
        slot replaces it. Not counted in rule R's equity (not on-chain before the close)."""
        row = self.store.epoch_row(epoch)
        phase = row["phase"] if row else "intake"
        if phase not in ("intake", "netted", "close_requested"):
            raise ServiceError("not_depositable", f"epoch {epoch} does not take deposits "
                               f"now (phase {phase})", 409)
        try:
            signed = SignedDeposit.from_signature(epoch, slot, amount, signature)
        except ZkclearError as exc:
            raise ServiceError("bad_signature", str(exc), 422) from None
        try:
            check_signed_deposit(self.client, signed)
        except CommitRefused as exc:
            raise ServiceError("deposit_refused", str(exc), 422) from None
        with self.store.transaction() as db:
            if nonce is not None:
                self.record_nonce(*nonce)
            db.execute("INSERT OR REPLACE INTO signed_deposits VALUES (?, ?, ?, ?)",
                       (epoch, slot, str(amount), signed.signature))
        return {"epoch": epoch, "slot": slot, "amount": str(amount)}

    def postable_deposits(self, epoch: int) -> list[SignedDeposit]:
        """The epoch's stored signed deposits that closeEpoch would take now, by slot
        (each checked again: one that became refusable, e.g. a member removed since,
        would revert the whole close; one that would be skipped is left out too)."""
        out = []
        for slot, signed in sorted(self.signed_deposits(epoch).items()):
            try:
                check_signed_deposit(self.client, signed)
            except CommitRefused as exc:
                self.store.journal(epoch, "deposit_dropped", {"slot": slot, "why": str(exc)})
                continue
            out.append(signed)
        return out
