"""Member -> operator messages (the trade list): authenticated encryption bound to identity.

Each member and the operator hold static X25519 key pairs; the operator knows every
member's registered public key by slot (its *registry*).  A message is sealed like the
one-way Noise ``K`` pattern (or HPKE's auth mode): sender static ``S``, receiver static
``R``, a fresh ephemeral ``e``::

    ikm          X25519(e, R) ‖ X25519(S, R)
    key ‖ nonce  HKDF-SHA256(ikm, salt = "", info = "zkclear-transport-v1" ‖ e_pub ‖ S_pub ‖ R_pub,
                              44 bytes)
    header       "ZKTM" ‖ version (1) ‖ uint8 len(pool_id) ‖ pool_id ‖ uint64 slot ‖ uint64 epoch
                 ‖ uint64 counter ‖ fingerprint(R_pub) (8) ‖ fingerprint(S_pub) (8) ‖ e_pub (32)
    message      header ‖ ChaCha20-Poly1305(key, nonce, payload, aad = header)

Only the holder of ``S`` (the registered member of that slot) and of ``R`` can compute
``X25519(S, R)``, so a message that opens was sent by the slot's member to this operator,
for this pool, slot, epoch and counter (all authenticated as associated data).  The
ephemeral term means that a later theft of the *member's* static key does not expose its
past messages; a theft of the *operator's* static key does (a one-pass message cannot be
forward-secret against its receiver) and would also let the thief forge messages to the
operator (key-compromise impersonation, inherent to static-static authentication).

Replays: the receiver accepts a member's message only if its counter is larger than every
counter accepted from that member before (:class:`ReplayGuard`, persisted in SQLite, so a
restarted operator still refuses old messages).  Counters are checked *after* the message
authenticates, so forged messages cannot burn counters.  The sender chooses counters: a
persisted sequence number, or e.g. ``time.time_ns()``.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from zkclear.errors import ZkclearError
from zkclear.privacy.keyfile import X25519KeyPair, fingerprint, public_key_bytes, seal_key

__all__ = [
    "Message",
    "ReplayError",
    "ReplayGuard",
    "TamperedError",
    "TransportError",
    "TransportReceiver",
    "TransportSender",
    "UnknownMemberError",
    "WrongRecipientError",
]

MAGIC = b"ZKTM"
VERSION = 1
_INFO = b"zkclear-transport-v1"
_FIXED = struct.Struct(">QQQ8s8s32s")  # slot, epoch, counter, recipient fp, sender fp, e_pub
#: Counters are positive and below 2^63 (SQLite's INTEGER).
MAX_COUNTER = 2**63 - 1
#: Largest payload accepted (a trade list; far above any realistic one).
MAX_PAYLOAD = 64 << 20


class TransportError(ZkclearError):
    """A member -> operator message was refused."""


class WrongRecipientError(TransportError):
    """The message is for another operator key or another pool."""


class UnknownMemberError(TransportError):
    """No transport key is registered for the message's slot."""


class TamperedError(TransportError):
    """The message does not authenticate: altered, truncated, or not sealed by the slot's
    registered key."""


class ReplayError(TransportError):
    """The message's counter is not above the last one accepted from that member."""


def _pool(pool_id: bytes | str) -> bytes:
    raw = pool_id.encode() if isinstance(pool_id, str) else pool_id
    if not isinstance(raw, bytes) or not 1 <= len(raw) <= 255:
        raise ValueError("pool_id must be 1 to 255 bytes (or a str of that many UTF-8 bytes)")
    return raw


def _u64(value: int, name: str, lo: int = 0, hi: int = 2**64 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _derive(ikm: bytes, e_pub: bytes, s_pub: bytes, r_pub: bytes) -> tuple[ChaCha20Poly1305,
                                                                           bytes]:
    return seal_key(ikm, _INFO + e_pub + s_pub + r_pub)


@dataclass(frozen=True)
class Message:
    """An authenticated message: who sent it (slot), for which epoch, its counter, payload."""

    slot: int
    epoch: int
    counter: int
    payload: bytes

    def __repr__(self) -> str:  # the payload is private (trades)
        return (f"Message(slot={self.slot}, epoch={self.epoch}, counter={self.counter}, "
                f"payload=<{len(self.payload)} bytes>)")


class TransportSender:
    """A member's side: seals payloads for the operator from its registered static key."""

    def __init__(self, member: X25519KeyPair, slot: int,
                 operator_public: bytes | X25519PublicKey | X25519KeyPair,
                 pool_id: bytes | str) -> None:
        self.member = member
        self.slot = _u64(slot, "slot")
        self.operator_public = public_key_bytes(operator_public)
        self.pool_id = _pool(pool_id)
        self._operator_key = X25519PublicKey.from_public_bytes(self.operator_public)

    def seal(self, payload: bytes, epoch: int, counter: int) -> bytes:
        """The message carrying ``payload`` for ``epoch``; ``counter`` must increase."""
        if not isinstance(payload, bytes | bytearray) or len(payload) > MAX_PAYLOAD:
            raise ValueError(f"payload must be bytes, at most {MAX_PAYLOAD} of them")
        e = X25519PrivateKey.generate()
        e_pub = e.public_key().public_bytes_raw()
        header = (MAGIC + bytes([VERSION, len(self.pool_id)]) + self.pool_id + _FIXED.pack(
            self.slot, _u64(epoch, "epoch"), _u64(counter, "counter", 1, MAX_COUNTER),
            fingerprint(self.operator_public), self.member.fingerprint, e_pub))
        try:
            ikm = (e.exchange(self._operator_key)
                   + self.member.private_key.exchange(self._operator_key))
        except ValueError:
            raise ValueError("the operator public key is not a valid X25519 key") from None
        aead, nonce = _derive(ikm, e_pub, self.member.public_bytes, self.operator_public)
        return header + aead.encrypt(nonce, bytes(payload), header)


#: The replay guard's table: the highest counter accepted per (pool, slot). The operator's
#: store (:mod:`zkclear.operator.store`) creates it in its own database with this DDL.
COUNTERS_DDL = ("CREATE TABLE IF NOT EXISTS counters (pool BLOB NOT NULL, slot INTEGER NOT NULL,"
                " last INTEGER NOT NULL, PRIMARY KEY (pool, slot))")


class ReplayGuard:
    """The highest counter accepted per (pool, member slot), persisted in a SQLite file.

    :meth:`accept` is one atomic ``INSERT ... ON CONFLICT DO UPDATE ... WHERE new > old``,
    so two processes sharing the file cannot both accept one counter.  ``path=":memory:"``
    keeps it in memory (tests only: a restart would forget).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not Path(self.path).exists():
            Path(self.path).touch(mode=0o600)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(COUNTERS_DDL)

    def last(self, pool_id: bytes | str, slot: int) -> int:
        """The highest counter accepted from ``slot`` (0 if none)."""
        row = self._db.execute("SELECT last FROM counters WHERE pool = ? AND slot = ?",
                               (_pool(pool_id), _u64(slot, "slot", 0, MAX_COUNTER))).fetchone()
        return int(row[0]) if row else 0

    def accept(self, pool_id: bytes | str, slot: int, counter: int) -> None:
        """Record ``counter`` for ``slot`` or raise :class:`ReplayError` if it is not new."""
        pid = _pool(pool_id)
        counter = _u64(counter, "counter", 1, MAX_COUNTER)
        cur = self._db.execute(
            "INSERT INTO counters (pool, slot, last) VALUES (?, ?, ?) "
            "ON CONFLICT (pool, slot) DO UPDATE SET last = excluded.last "
            "WHERE excluded.last > counters.last",
            (pid, _u64(slot, "slot", 0, MAX_COUNTER), counter))
        if cur.rowcount != 1:
            raise ReplayError(f"replayed or out-of-order message from slot {slot}: counter "
                              f"{counter} is not above the last accepted, "
                              f"{self.last(pid, slot)}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ReplayGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TransportReceiver:
    """The operator's side: opens messages from registered members, once each."""

    def __init__(self, operator: X25519KeyPair,
                 registry: Mapping[int, bytes | X25519PublicKey | X25519KeyPair],
                 pool_id: bytes | str, guard: ReplayGuard) -> None:
        self.operator = operator
        self.registry = {int(s): public_key_bytes(k) for s, k in registry.items()}
        self.pool_id = _pool(pool_id)
        self.guard = guard

    def open(self, data: bytes, *, expected_epoch: int | None = None) -> Message:
        """Authenticate, decrypt and de-duplicate one message; :class:`TransportError` if not.

        Checks, in order: well-formed; for this pool and this operator key
        (:class:`WrongRecipientError`); from a registered slot (:class:`UnknownMemberError`);
        sealed by that slot's key and unaltered (:class:`TamperedError`); for
        ``expected_epoch`` if given; counter new (:class:`ReplayError`).
        """
        data = bytes(data)
        if len(data) < 6 or data[:4] != MAGIC:
            raise TransportError("not a zkclear transport message (bad magic or too short)")
        if data[4] != VERSION:
            raise TransportError(f"unsupported transport version {data[4]} "
                                 f"(this zkclear reads version {VERSION})")
        plen = data[5]
        head_len = 6 + plen + _FIXED.size
        if len(data) < head_len + 16:
            raise TamperedError(f"message truncated: {len(data)} bytes, its header and tag "
                                f"alone take {head_len + 16}")
        pool = data[6:6 + plen]
        slot, epoch, counter, r_fp, s_fp, e_pub = _FIXED.unpack_from(data, 6 + plen)
        if pool != self.pool_id:
            raise WrongRecipientError(f"message is for pool {pool!r}, this is pool "
                                      f"{self.pool_id!r}")
        if r_fp != self.operator.fingerprint:
            raise WrongRecipientError(
                f"message is for the operator key {r_fp.hex()}, this operator's key is "
                f"{self.operator.fingerprint.hex()}")
        s_pub = self.registry.get(slot)
        if s_pub is None:
            raise UnknownMemberError(f"message claims slot {slot}, which has no registered "
                                     "transport key")
        if s_fp != fingerprint(s_pub):
            raise TamperedError(f"message claims slot {slot} but was sealed with key "
                                f"{s_fp.hex()}, not the slot's registered key "
                                f"{fingerprint(s_pub).hex()}")
        header = data[:head_len]
        try:
            e_key = X25519PublicKey.from_public_bytes(e_pub)
            ikm = (self.operator.private_key.exchange(e_key)
                   + self.operator.private_key.exchange(X25519PublicKey.from_public_bytes(s_pub)))
        except ValueError:
            raise TamperedError("message is tampered (invalid ephemeral key)") from None
        aead, nonce = _derive(ikm, e_pub, s_pub, self.operator.public_bytes)
        try:
            payload = aead.decrypt(nonce, data[head_len:], header)
        except InvalidTag:
            raise TamperedError(f"message from slot {slot} does not authenticate: altered in "
                                "transit or not sealed by the slot's registered key") from None
        if expected_epoch is not None and epoch != expected_epoch:
            raise TransportError(f"message from slot {slot} is for epoch {epoch}, the operator "
                                 f"is collecting epoch {expected_epoch}")
        self.guard.accept(self.pool_id, slot, counter)
        return Message(slot, epoch, counter, payload)
