"""The report cipher: a Poseidon stream cipher with a tag, under a member's epoch key.

For plaintext field elements ``pt[0..L-1]`` and epoch key ``K_e`` (docs/protocol.md,
"Privacy and view keys")::

    ks_j  = Poseidon(K_e, j + 1)                      j = 0 .. L-1   (keystream)
    ct_j  = pt_j + ks_j  mod r
    tag   = PoseidonChain(K_e, L, ct_0, ..., ct_{L-1})
    C     = PoseidonChain(ct_0, ..., ct_{L-1}, tag)   (the on-chain commitment, nonzero)

A report's plaintext is :meth:`Report.field_elements` (``delta[0..M-1], tradeCash,
salt``, so ``L = M + 2``).  Everything is a handful of Poseidon calls, so the epoch circuit
can check cheaply that the published ciphertext opens to the report it cleared.

**One ciphertext per key.**  The keystream depends on ``K_e`` only (no nonce), so two
different plaintexts under one ``K_e`` would reveal their difference.  A member publishes
one report per epoch (the contract accepts one COMMIT per slot per epoch) and ``K_e`` is
specific to the member and the epoch, so each key encrypts exactly once.  Never call
:func:`encrypt` twice with one key for different plaintexts.

Wire form (:meth:`Ciphertext.to_bytes`): ``b"ZKRC"``, version byte ``1``, ``L`` as a
big-endian uint16, then ``ct_0 .. ct_{L-1}, tag``, each 32 bytes big-endian:
``7 + 32·(L + 1)`` bytes.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from zkclear import bounds
from zkclear.clearing.report import Report
from zkclear.errors import ZkclearError
from zkclear.field import BoundError, P, canonical
from zkclear.poseidon import poseidon, poseidon_chain
from zkclear.privacy.keyfile import Secret
from zkclear.privacy.viewkeys import EpochKey, MemberKey

__all__ = [
    "MAGIC",
    "VERSION",
    "Ciphertext",
    "DecryptionError",
    "decrypt",
    "decrypt_report",
    "encrypt",
    "encrypt_report",
    "keystream",
]

MAGIC = b"ZKRC"
VERSION = 1
_HEADER = struct.Struct(">4sBH")
#: Bytes of the header: magic, version, length.
HEADER_SIZE = _HEADER.size
#: Most plaintext elements one ciphertext can carry (the header's uint16).
MAX_LENGTH = 0xFFFF


class DecryptionError(ZkclearError):
    """A ciphertext does not decrypt: ``reason`` says why, the message says precisely.

    Reasons: ``format`` (not a zkclear ciphertext / unsupported version), ``truncated``,
    ``length`` (wrong number of elements), ``non-canonical`` (an element >= r), ``tag``
    (wrong key, wrong epoch or tampered), ``epoch`` / ``slot`` (a key for another epoch or
    member), ``commitment`` (ciphertext differs from the committed one), ``report`` (the
    plaintext is not a valid report).
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def _raw_key(key_e: int | Secret | EpochKey) -> int:
    if isinstance(key_e, EpochKey):
        key_e = key_e.key
    raw = key_e.reveal() if isinstance(key_e, Secret) else key_e
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < P:
        raise TypeError("the key must be a canonical field element, a Secret or an EpochKey")
    return raw


def keystream(key_e: int | Secret | EpochKey, length: int) -> list[int]:
    """``Poseidon(K_e, j + 1)`` for ``j = 0 .. length-1``."""
    k = _raw_key(key_e)
    return [poseidon([k, j + 1]) for j in range(length)]


def _tag(k: int, ct: Sequence[int]) -> int:
    return poseidon_chain([k, len(ct), *ct])


def _elem_bytes(x: int) -> bytes:
    return x.to_bytes(32, "big")


@dataclass(frozen=True)
class Ciphertext:
    """``ct[0..L-1]`` and ``tag``.  Elements are checked (canonical) where they are used."""

    ct: tuple[int, ...]
    tag: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "ct", tuple(self.ct))
        for x in (*self.ct, self.tag):
            if isinstance(x, bool) or not isinstance(x, int):
                raise TypeError(f"ciphertext elements are ints, got {type(x).__name__}")

    def __len__(self) -> int:
        return len(self.ct)

    def check_canonical(self) -> None:
        """:class:`DecryptionError` (``non-canonical``) if any element is not in [0, r)."""
        for i, x in enumerate(self.ct):
            if not 0 <= x < P:
                raise DecryptionError("non-canonical",
                                      f"ciphertext element {i} is not a field element (>= r)")
        if not 0 <= self.tag < P:
            raise DecryptionError("non-canonical", "ciphertext tag is not a field element (>= r)")

    def commitment(self) -> int:
        """``C = PoseidonChain(ct_0, ..., ct_{L-1}, tag)``: the value the member commits."""
        self.check_canonical()
        return poseidon_chain([*self.ct, self.tag])

    def to_bytes(self) -> bytes:
        self.check_canonical()
        if not 1 <= len(self.ct) <= MAX_LENGTH:
            raise ValueError(f"a ciphertext has 1 to {MAX_LENGTH} elements, got {len(self.ct)}")
        return _HEADER.pack(MAGIC, VERSION, len(self.ct)) + b"".join(
            _elem_bytes(x) for x in (*self.ct, self.tag))

    @classmethod
    def from_bytes(cls, data: bytes, length: int | None = None) -> Ciphertext:
        """Parse the wire form; :class:`DecryptionError` for anything malformed.

        ``length``, if given, is the number of elements expected (``M + 2`` for a report).
        """
        data = bytes(data)
        if len(data) < HEADER_SIZE:
            raise DecryptionError(
                "truncated", f"ciphertext truncated: {len(data)} bytes, shorter than the "
                f"{HEADER_SIZE}-byte header")
        magic, version, n = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecryptionError("format", "not a zkclear report ciphertext (bad magic)")
        if version != VERSION:
            raise DecryptionError("format", f"unsupported ciphertext version {version} "
                                            f"(this zkclear reads version {VERSION})")
        expected = HEADER_SIZE + 32 * (n + 1)
        if len(data) < expected:
            raise DecryptionError(
                "truncated", f"ciphertext truncated: {len(data)} bytes, its header announces "
                f"{n} elements + tag = {expected} bytes")
        if len(data) > expected:
            raise DecryptionError(
                "format", f"ciphertext has {len(data) - expected} trailing bytes after its "
                f"{n} elements + tag")
        if length is not None and n != length:
            raise DecryptionError("length", f"ciphertext has {n} elements, expected {length}")
        vals = [int.from_bytes(data[HEADER_SIZE + 32 * i: HEADER_SIZE + 32 * (i + 1)], "big")
                for i in range(n + 1)]
        c = cls(tuple(vals[:n]), vals[n])
        c.check_canonical()
        return c


def encrypt(key_e: int | Secret | EpochKey, pt: Sequence[int]) -> Ciphertext:
    """Encrypt canonical field elements under ``K_e``.  Use each key for one plaintext only."""
    k = _raw_key(key_e)
    values = [canonical(x, f"plaintext element {i}") for i, x in enumerate(pt)]
    if not 1 <= len(values) <= MAX_LENGTH:
        raise ValueError(f"a plaintext has 1 to {MAX_LENGTH} elements, got {len(values)}")
    ct = tuple((x + s) % P for x, s in zip(values, keystream(k, len(values)), strict=True))
    return Ciphertext(ct, _tag(k, ct))


def decrypt(key_e: int | Secret | EpochKey, ciphertext: Ciphertext, length: int) -> list[int]:
    """The plaintext of ``length`` elements; :class:`DecryptionError` if it does not open."""
    k = _raw_key(key_e)
    if not isinstance(ciphertext, Ciphertext):
        raise TypeError(f"expected a Ciphertext, got {type(ciphertext).__name__}")
    if len(ciphertext.ct) != length:
        raise DecryptionError("length", f"ciphertext has {len(ciphertext.ct)} elements, "
                                        f"expected {length}")
    ciphertext.check_canonical()
    if not hmac.compare_digest(_elem_bytes(_tag(k, ciphertext.ct)),
                               _elem_bytes(ciphertext.tag)):
        raise DecryptionError("tag", "ciphertext tag does not verify: wrong key, a key of "
                                     "another epoch or member, or a tampered ciphertext")
    return [(c - s) % P for c, s in zip(ciphertext.ct, keystream(k, length), strict=True)]


def _epoch_key_for(key: MemberKey | EpochKey, epoch: int, slot: int | None) -> EpochKey:
    if not isinstance(key, MemberKey | EpochKey):
        raise TypeError("pass a MemberKey or an EpochKey (a bare number is ambiguous: "
                        f"member key or epoch key?), got {type(key).__name__}")
    if slot is not None and key.slot != slot:
        raise DecryptionError("slot", f"the key is slot {key.slot}'s, the report is slot "
                                      f"{slot}'s")
    if isinstance(key, MemberKey):
        return key.epoch_key(epoch)
    if key.epoch != epoch:
        raise DecryptionError("epoch", f"an epoch key of epoch {key.epoch} cannot decrypt "
                                       f"epoch {epoch}: each epoch key opens its own epoch only")
    return key


def encrypt_report(key: MemberKey | EpochKey, epoch: int, report: Report) -> Ciphertext:
    """Encrypt ``report`` under the member's key for ``epoch``; its commitment is nonzero."""
    if not isinstance(report, Report):
        raise TypeError(f"expected a Report, got {type(report).__name__}")
    try:
        ke = _epoch_key_for(key, epoch, None)
    except DecryptionError as e:
        raise ValueError(str(e)) from None
    c = encrypt(ke, report.field_elements())
    if c.commitment() == 0:  # probability ~2^-254; 0 means "no report" on chain
        raise ValueError("the ciphertext's commitment is 0; draw a fresh salt (Report.new)")
    return c


def decrypt_report(key: MemberKey | EpochKey, epoch: int, ciphertext: Ciphertext | bytes,
                   n_instruments: int, *, slot: int | None = None,
                   commitment: int | None = None) -> Report:
    """Decrypt one member's report of ``epoch`` with its member key or that epoch's key.

    ``slot``, if given, must be the key's slot; ``commitment``, if given (the on-chain
    ``C``), must equal the ciphertext's.  Every failure is a :class:`DecryptionError`.
    """
    if n_instruments < 1:
        raise ValueError(f"n_instruments must be >= 1, got {n_instruments}")
    length = n_instruments + 2
    ke = _epoch_key_for(key, epoch, slot)
    if isinstance(ciphertext, bytes | bytearray | memoryview):
        ciphertext = Ciphertext.from_bytes(bytes(ciphertext), length)
    elif isinstance(ciphertext, Ciphertext) and len(ciphertext.ct) != length:
        raise DecryptionError("length", f"ciphertext has {len(ciphertext.ct)} elements, "
                                        f"expected {length}")
    if commitment is not None and ciphertext.commitment() != commitment:
        raise DecryptionError("commitment", "the ciphertext does not match the on-chain "
                                            "commitment C (published ciphertext != committed)")
    pt = decrypt(ke, ciphertext, length)
    try:
        delta = tuple(bounds.DELTA.decode(v, f"delta[{m}]") for m, v in enumerate(pt[:-2]))
        cash = bounds.CASH.decode(pt[-2], "tradeCash")
        return Report(delta, cash, pt[-1])
    except BoundError as e:
        raise DecryptionError("report", f"the plaintext is not a valid report: {e}") from None
