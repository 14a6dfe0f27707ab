"""Intake: members enrol their keys and send their trade lists.

Each request is one store transaction with the HTTP request's nonce and the transport
message's counter (:class:`~zkclear.privacy.transport.ReplayGuard`'s SQL), so a refused
request stores nothing and a replayed one is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from typing import Any

from zkclear.privacy.transport import TransportError, TransportReceiver
from zkclear.privacy.viewkeys import MemberKey

from .base import ServiceBase, crash_point
from .errors import ServiceError
from .records import parse_trade_list

__all__ = ["ENROL_EPOCH", "Intake"]

log = logging.getLogger(__name__)

#: Transport messages carrying an enrolment use epoch 0.
ENROL_EPOCH = 0


class Intake(ServiceBase):
    """Enrolment and trade lists (the API runs each inside one store transaction)."""

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
        log.info("slot %d enrolled", slot)
        return {"slot": slot, "vkh": str(vkh)}

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
        log.info("epoch %d: slot %d sent a trade list of %d trade(s)", epoch, slot,
                 len(trades))
        return {"epoch": epoch, "slot": slot, "submission": sub_id, "trades": len(trades)}


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise ServiceError("bad_request", f"{what} must be 0x followed by 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ServiceError("bad_request", f"{what} is not hex") from None


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
