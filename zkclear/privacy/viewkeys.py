"""Hierarchical view keys (docs/protocol.md, "Privacy and view keys").

- A member's **view key** ``K`` is a uniformly random nonzero element of the BN254 scalar
  field.  Its commitment ``vkh = Poseidon(K)`` sits in the member's state leaf and is
  published at registration (the REGISTER event's value).
- The **epoch key** of epoch ``e`` is ``K_e = Poseidon(K, e)``.  It decrypts that epoch's
  report and nothing else: handing it to an auditor discloses one epoch only.  ``K`` is
  not computable from ``K_e`` or ``vkh`` (Poseidon is one-way).

Key files are JSON, written with mode 0600 atomically and refused on read if their
permissions are wider than 0600 (:mod:`zkclear.privacy.keyfile`)::

    {"format": "zkclear-viewkey-v1", "kind": "member", "slot": 3,
     "key": "0x<64 hex digits: K, 32-byte big-endian>"}
    {"format": "zkclear-viewkey-v1", "kind": "epoch", "slot": 3, "epoch": 7,
     "key": "0x<64 hex digits: K_e>"}

Keys are held in a :class:`~zkclear.privacy.keyfile.Secret`, so ``repr``/``str`` of a key object
never show them.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkclear.field import P, canonical
from zkclear.poseidon import poseidon
from zkclear.privacy.keyfile import (
    KeyFileError,
    Secret,
    read_json_secret,
    write_json_secret,
)
from zkclear.schemas import ViewKeyFile, dump, format_of, hex_value, parse

__all__ = [
    "FORMAT",
    "EpochKey",
    "KeyFileError",
    "MemberKey",
    "Secret",
    "epoch_key",
    "load_key",
    "view_key_hash",
]

#: The ``format`` field of a view-key file.
FORMAT = format_of(ViewKeyFile)
#: Slots and epochs are unsigned 64-bit values (far below r).
MAX_INDEX = 2**64 - 1


def _index(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INDEX:
        raise ValueError(f"{name} must be an integer in [0, 2^64), got {value!r}")
    return value


def _secret_key(key: int | Secret, what: str) -> Secret:
    raw = key.reveal() if isinstance(key, Secret) else key
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw < P:
        # Never echo the value: it may be a key that is merely out of range.
        raise ValueError(f"{what} must be a nonzero canonical field element (0 < K < r)")
    return key if isinstance(key, Secret) else Secret(raw)


def view_key_hash(key: int) -> int:
    """``vkh = Poseidon(K)``: the view-key commitment in the leaf and the REGISTER event."""
    return poseidon([canonical(key, "view key")])


def epoch_key(key: int, epoch: int) -> int:
    """``K_e = Poseidon(K, e)``."""
    return poseidon([canonical(key, "view key"), _index(epoch, "epoch")])


def leaf_nonce(key: int, epoch: int) -> int:
    """The nonce of a blinded leaf after epoch ``e``: ``Poseidon(K_e, 0)`` (counter 0; the
    report keystream starts at 1). The member, or compliance with the escrowed ``K``,
    recomputes it to open its own leaf without the operator (docs/protocol.md)."""
    return poseidon([epoch_key(key, epoch), 0])


def _key_hex(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


@dataclass(frozen=True)
class MemberKey:
    """A member's view key ``K`` (all epochs).  ``repr`` shows the slot, never the key."""

    slot: int
    key: Secret

    def __init__(self, slot: int, key: int | Secret) -> None:
        object.__setattr__(self, "slot", _index(slot, "slot"))
        object.__setattr__(self, "key", _secret_key(key, "a view key"))

    @classmethod
    def generate(cls, slot: int) -> MemberKey:
        """A fresh key, uniform in [1, r) from the OS's CSPRNG."""
        return cls(slot, 1 + secrets.randbelow(P - 1))

    @property
    def vkh(self) -> int:
        """``Poseidon(K)``, the commitment published at registration."""
        return view_key_hash(self.key.reveal())

    def leaf_nonce(self, epoch: int) -> int:
        """The nonce of this member's leaf after ``epoch`` when the leaf is blinded."""
        return leaf_nonce(self.key.reveal(), epoch)

    def epoch_key(self, epoch: int) -> EpochKey:
        """The key of one epoch, ``K_e = Poseidon(K, e)``."""
        return EpochKey(self.slot, epoch, epoch_key(self.key.reveal(), epoch))

    def to_json(self) -> dict[str, Any]:
        return dump(ViewKeyFile.tagged(kind="member", slot=self.slot,
                                       key=_key_hex(self.key.reveal())))

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        return write_json_secret(path, self.to_json(), overwrite=overwrite)


@dataclass(frozen=True)
class EpochKey:
    """The key ``K_e`` of one member and one epoch.  ``repr`` never shows the key."""

    slot: int
    epoch: int
    key: Secret

    def __init__(self, slot: int, epoch: int, key: int | Secret) -> None:
        object.__setattr__(self, "slot", _index(slot, "slot"))
        object.__setattr__(self, "epoch", _index(epoch, "epoch"))
        object.__setattr__(self, "key", _secret_key(key, "an epoch key"))

    def to_json(self) -> dict[str, Any]:
        return dump(ViewKeyFile.tagged(kind="epoch", slot=self.slot, epoch=self.epoch,
                                       key=_key_hex(self.key.reveal())))

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        return write_json_secret(path, self.to_json(), overwrite=overwrite)


def key_from_json(doc: dict[str, Any], where: str = "view-key file") -> MemberKey | EpochKey:
    """Parse a view-key document; :class:`KeyFileError` names what is wrong (never the key)."""
    rec = parse(ViewKeyFile, doc, where=where, error=KeyFileError)
    value = int.from_bytes(hex_value(rec.key), "big")
    if rec.epoch is None:
        return MemberKey(rec.slot, value)
    return EpochKey(rec.slot, rec.epoch, value)


def load_key(path: str | os.PathLike[str]) -> MemberKey | EpochKey:
    """Read a view-key file (member or epoch key); refuses unsafe permissions or bad content."""
    return key_from_json(read_json_secret(path, "view-key file"), f"view-key file {path}")
