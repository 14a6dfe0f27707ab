"""Settlement: close the epoch on-chain, prove it, submit it (steps 4 and on of
:mod:`zkclear.operator.service`), each phase recorded before and after its side effect so
that a restart resumes where it stopped and never sends anything twice.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from zkclear.audit.chainview import find_params
from zkclear.chain.client import ContractError
from zkclear.chain.node import chain_now
from zkclear.clearing.epoch import EpochError, run_epoch
from zkclear.clearing.params import ParamsError, RiskParams
from zkclear.clearing.witness import epoch_circuit_inputs

from .base import PHASES, crash_point
from .errors import ServiceError
from .netting import Netting
from .store import StoreError

__all__ = ["Settlement"]

log = logging.getLogger(__name__)


class Settlement(Netting):
    """Close, prove, submit: :meth:`advance` performs every due step of an epoch."""

    def _enter(self, epoch: int, phase: str, step: str | None = None, detail: Any = "",
               **fields: Any) -> None:
        """Record, in one transaction, that ``epoch`` enters ``phase`` (with ``fields``)
        and journal ``step`` (default: the phase's name) with ``detail``."""
        with self.store.transaction():
            self.store.set_epoch(epoch, phase=phase, **fields)
            self.store.journal(epoch, step or phase, detail)

    def request_close(self, epoch: int) -> dict[str, Any]:
        with self._advance_lock:
            row = self.store.epoch_row(epoch)
            if row is None or row["phase"] == "intake":
                raise ServiceError("not_netted", f"epoch {epoch} is not netted yet", 409)
            if row["phase"] == "netted":
                self._enter(epoch, "close_requested")
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
                    self._enter(epoch, "failed", detail=str(exc), error=str(exc))
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
            self._enter(epoch, "close_requested", detail="all reports committed")
            return True
        if phase == "close_requested":
            if self.missing_commitments(epoch):
                # A commanded close is the deadline: exclude, then wait for the changed
                # reports' signatures (netted again: a new round).
                self.exclude_missing(epoch)
                self._enter(epoch, "netted", "close_deferred", "reports re-netted")
                return True
            if self.client.last_accepted_epoch() != epoch - 1:
                return False  # the previous epoch is still being proven
            auction = self.client.auction_of(epoch)
            if auction is not None and chain_now(self.client.w3) < auction.reveal_end:
                return False  # the house's lot is being auctioned: close after the reveals
            self._enter(epoch, "closing", "close_sending")
            return True
        if phase == "closing":
            if not self.client.epoch_info(epoch)["closed"]:
                crash_point("before_close_sent")
                signed = self.signed_commits(epoch)
                mask = sum(1 << s for s in self.excluded(epoch))
                self.client.close_epoch([signed[s] for s in sorted(signed)], mask,
                                        sender=self.operator,
                                        deposits=self.postable_deposits(epoch))
                crash_point("after_close_sent")
            self._enter(epoch, "closed")
            return True
        if phase == "closed":
            self._prove(epoch)
            return True
        if phase == "proved":
            self._enter(epoch, "submitting", "submit_sending")
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
        try:
            return find_params([ev["args"] for ev in logs], want, self.config.n_instruments,
                               self.raw_client.instruments())
        except ParamsError as exc:
            raise StoreError(f"epoch {epoch}: {exc}") from None

    def _prove(self, epoch: int) -> None:
        state = self.state()
        if state.epoch != epoch - 1:
            raise StoreError(f"the off-chain state is after epoch {state.epoch}, epoch "
                             f"{epoch} needs the state after {epoch - 1}")
        if state.root() != self.client.state_root():
            raise StoreError("the off-chain state root differs from the chain's: the "
                             "operator database is out of step with the chain")
        events = self.client.epoch_events(epoch)
        market = self.client.market(epoch)  # marks, funding indices, risk arrays
        reports = self.reports(epoch)
        # Every enrolled member's key: reporting slots need it, and every member's leaf is
        # blinded with it so that the member can open it after a freeze.
        keys = self._view_keys(set(reports)) | self._enrolled_keys()
        result = run_epoch(state, self.params_for(epoch), market, events, reports,
                           view_keys=keys, award=self.client.award_of(epoch))
        self.store.journal(epoch, "proving", {"prover": self.prover.description})
        t0 = time.perf_counter()
        # The proof is verified before it is returned: by the prover here, and again by
        # the Python verifier when it comes back from a Ray worker.
        proof = self.prover.prove(self.keys, epoch_circuit_inputs(result))
        if [int(x) for x in proof.public] != result.public_signals():
            raise StoreError(f"epoch {epoch}: the proof's public signals differ from the "
                             "engine's")
        with self.store.transaction():
            self.store.set_epoch(epoch, phase="proved", proof=json.dumps(proof.proof),
                                 public=json.dumps([str(x) for x in proof.public]),
                                 new_state=json.dumps(result.new.to_json()),
                                 exit_data=json.dumps([str(x) for x in result.exit_data()]))
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
                exit_data = [int(x) for x in json.loads(row["exit_data"])]
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
