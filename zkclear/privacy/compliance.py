"""The pool's compliance key: escrow of members' view keys, Shamir sharing among officers.

**Escrow** (docs/protocol.md, "Escrow of K").  At registration a member encrypts its
view key ``K`` to the pool's compliance public key and publishes the blob with the
registration.  Every blob starts ``"ZKES" ‖ version``, and :func:`recover` dispatches on
the version byte.  :func:`escrow` writes version 2, HPKE (RFC 9180, base mode,
single-shot, ``cryptography``'s :mod:`~cryptography.hazmat.primitives.hpke`):

    suite        DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305
    info         "zkclear-escrow-v2" ‖ uint16 len(pool_id) ‖ pool_id ‖ uint64 slot ‖ vkh (32)
    enc ‖ ct     HPKE.Seal(compliance_pub, info, K as 32 bytes big-endian)
    blob         "ZKES" ‖ 2 ‖ fingerprint(compliance_pub) (8) ‖ enc (32) ‖ ct (48)

Version 1 (before HPKE; still read, and written only on request) is a sealed box by hand:

    e            fresh X25519 key pair
    ikm          X25519(e, compliance_public)
    key ‖ nonce  HKDF-SHA256(ikm, salt = "", info = "zkclear-escrow-v1" ‖ e_pub ‖ compliance_pub,
                              44 bytes)
    box          ChaCha20-Poly1305(key, nonce, K as 32 bytes big-endian, aad)
    aad          "ZKES" ‖ 1 ‖ uint16 len(pool_id) ‖ pool_id ‖ uint64 slot
    blob         "ZKES" ‖ 1 ‖ fingerprint(compliance_pub) (8) ‖ e_pub (32) ‖ box (48)

The slot, pool id (and in version 2 the registered ``vkh = Poseidon(K)``) are bound by
the key schedule, not carried in the blob: :func:`recover` is told which slot, pool and
vkh the blob was published with, so a blob copied to another slot, pool or registration
does not open.  The fingerprint lets :func:`recover` say "made for another compliance
key" instead of a bare authentication failure.

**Sharing the compliance private key** among officers (Shamir over F_r) is
:mod:`zkclear.privacy.shamir`; its names are re-exported here.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from zkclear.errors import ZkclearError
from zkclear.field import P
from zkclear.privacy.keyfile import (
    Secret,
    X25519KeyPair,
    fingerprint,
    public_key_bytes,
    seal_key,
)
from zkclear.privacy.shamir import (
    PRIMITIVE_ELEMENT,
    PURPOSE,
    R_MINUS_1_FACTORS,
    KeyShare,
    Share,
    ShareError,
    check_primitive_element,
    combine,
    combine_key,
    field,
    split,
    split_key,
)
from zkclear.privacy.viewkeys import MemberKey, view_key_hash

__all__ = [
    "PRIMITIVE_ELEMENT",
    "PURPOSE",
    "R_MINUS_1_FACTORS",
    "EscrowError",
    "KeyShare",
    "Share",
    "ShareError",
    "check_primitive_element",
    "combine",
    "combine_key",
    "escrow",
    "field",
    "generate_compliance_key",
    "load_compliance_key",
    "recover",
    "split",
    "split_key",
]

ESCROW_MAGIC = b"ZKES"
#: Escrow versions: 1, X25519 + HKDF + ChaCha20-Poly1305 by hand; 2, HPKE (RFC 9180).
ESCROW_V1, ESCROW_V2 = 1, 2
#: The version :func:`escrow` writes.
ESCROW_VERSION = ESCROW_V2
#: magic, version, fingerprint, then 32 bytes: version 1's e_pub, version 2's HPKE enc.
_ESCROW_HEAD = struct.Struct(">4sB8s32s")
#: Both versions: the header, then K (32 bytes) and a 16-byte tag (93 bytes).
ESCROW_SIZE = _ESCROW_HEAD.size + 32 + 16
#: Where version 2's HPKE output (enc ‖ ct) starts: after magic, version and fingerprint.
_SEALED_AT = _ESCROW_HEAD.size - 32
_ESCROW_INFO = b"zkclear-escrow-v1"
_ESCROW_V2_INFO = b"zkclear-escrow-v2"
_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

class EscrowError(ZkclearError):
    """An escrow blob is malformed or does not open (wrong key, slot or pool; tampered)."""


# --------------------------------------------------------------------------------------
# Compliance key pair and escrow
# --------------------------------------------------------------------------------------


def generate_compliance_key() -> X25519KeyPair:
    """A fresh compliance key pair (``purpose = "compliance"``)."""
    return X25519KeyPair.generate(PURPOSE)


def load_compliance_key(path: str | os.PathLike[str]) -> X25519KeyPair:
    """Read a compliance key file (mode 0600, ``purpose = "compliance"``)."""
    return X25519KeyPair.load(path, PURPOSE)


def pool_id_bytes(pool_id: bytes | str) -> bytes:
    """The pool id as bytes (a str is UTF-8); 1 to 255 bytes.

    Suggested: the chain id and the pool contract's address, e.g. ``"31337:0xabc..."``.
    """
    raw = pool_id.encode() if isinstance(pool_id, str) else pool_id
    if not isinstance(raw, bytes) or not 1 <= len(raw) <= 255:
        raise ValueError("pool_id must be 1 to 255 bytes (or a str of that many UTF-8 bytes)")
    return raw


def _slot(slot: int) -> int:
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < 2**64:
        raise ValueError(f"slot must be an integer in [0, 2^64), got {slot!r}")
    return slot


def _escrow_aad(slot: int, pool_id: bytes | str) -> bytes:
    """Version 1's associated data."""
    pid = pool_id_bytes(pool_id)
    return (ESCROW_MAGIC + bytes([ESCROW_V1]) + len(pid).to_bytes(2, "big") + pid
            + _slot(slot).to_bytes(8, "big"))


def _escrow_info(slot: int, pool_id: bytes | str, vkh: int) -> bytes:
    """Version 2's HPKE info: what the escrow is for (pool, slot, registered vkh)."""
    if isinstance(vkh, bool) or not isinstance(vkh, int) or not 0 <= vkh < P:
        raise ValueError("vkh must be a canonical field element")
    pid = pool_id_bytes(pool_id)
    return (_ESCROW_V2_INFO + len(pid).to_bytes(2, "big") + pid
            + _slot(slot).to_bytes(8, "big") + vkh.to_bytes(32, "big"))


def _escrow_cipher(shared: bytes, eph_pub: bytes, recipient: bytes) -> tuple[ChaCha20Poly1305,
                                                                              bytes]:
    return seal_key(shared, _ESCROW_INFO + eph_pub + recipient)


def escrow(key: MemberKey | int | Secret, compliance_public: bytes | X25519PublicKey
           | X25519KeyPair, slot: int, pool_id: bytes | str, *,
           version: int = ESCROW_VERSION) -> bytes:
    """Encrypt view key ``K`` of ``slot`` in ``pool_id`` to the compliance public key.

    Version 2 (HPKE) unless ``version=1`` asks for the format older pools hold.
    """
    if version not in (ESCROW_V1, ESCROW_V2):
        raise ValueError(f"escrow version must be {ESCROW_V1} or {ESCROW_V2}, got {version!r}")
    if isinstance(key, MemberKey):
        if key.slot != slot:
            raise ValueError(f"the view key is slot {key.slot}'s, not slot {slot}'s")
        key = key.key
    k = key.reveal() if isinstance(key, Secret) else key
    if isinstance(k, bool) or not isinstance(k, int) or not 0 < k < P:
        raise ValueError("the view key must be a nonzero canonical field element")
    recipient = public_key_bytes(compliance_public)
    if version == ESCROW_V2:
        info = _escrow_info(slot, pool_id, view_key_hash(k))
        try:
            sealed = _HPKE.encrypt(k.to_bytes(32, "big"),
                                   X25519PublicKey.from_public_bytes(recipient), info=info)
        except ValueError:
            raise ValueError("the compliance public key is not a valid X25519 key") from None
        return ESCROW_MAGIC + bytes([ESCROW_V2]) + fingerprint(recipient) + sealed
    aad = _escrow_aad(slot, pool_id)
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes_raw()
    try:
        shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient))
    except ValueError:
        raise ValueError("the compliance public key is not a valid X25519 key") from None
    aead, nonce = _escrow_cipher(shared, eph_pub, recipient)
    box = aead.encrypt(nonce, k.to_bytes(32, "big"), aad)
    return _ESCROW_HEAD.pack(ESCROW_MAGIC, ESCROW_V1, fingerprint(recipient), eph_pub) + box


def recover(blob: bytes, compliance_private: X25519KeyPair | bytes | Secret, slot: int,
            pool_id: bytes | str, *, expected_vkh: int | None = None) -> MemberKey:
    """Open an escrow blob published for ``slot`` in ``pool_id``: the member's view key.

    ``expected_vkh`` is the ``vkh`` registered with the blob: a version-2 blob is bound to
    it and does not open without it; for either version ``Poseidon(K)`` must equal it.
    Every failure is an :class:`EscrowError` saying which check failed.
    """
    pair = (compliance_private if isinstance(compliance_private, X25519KeyPair)
            else X25519KeyPair(compliance_private, PURPOSE))
    blob = bytes(blob)
    if len(blob) < _ESCROW_HEAD.size or blob[:4] != ESCROW_MAGIC:
        raise EscrowError("not a zkclear escrow blob (bad magic or too short)")
    version = blob[4]
    if version not in (ESCROW_V1, ESCROW_V2):
        raise EscrowError(f"unsupported escrow version {version} "
                          f"(this zkclear reads versions {ESCROW_V1} and {ESCROW_V2})")
    if len(blob) != ESCROW_SIZE:
        raise EscrowError(f"escrow blob has {len(blob)} bytes, expected {ESCROW_SIZE} "
                          "(truncated or padded)")
    _, _, fp, eph_pub = _ESCROW_HEAD.unpack_from(blob)
    if fp != pair.fingerprint:
        raise EscrowError(f"escrow was made for another compliance key (fingerprint {fp.hex()}, "
                          f"this key's is {pair.fingerprint.hex()})")
    if version == ESCROW_V2:
        if expected_vkh is None:
            raise EscrowError("a version-2 escrow is bound to the vkh registered with it: "
                              "give that vkh (expected_vkh) to open it")
        info = _escrow_info(slot, pool_id, expected_vkh)
        try:
            raw = _HPKE.decrypt(blob[_SEALED_AT:], pair.private_key, info=info)
        except (InvalidTag, ValueError):
            raise EscrowError(f"escrow does not open for slot {slot} of pool "
                              f"{pool_id_bytes(pool_id)!r} with vkh {expected_vkh:#x}: it was "
                              "made for another slot, pool or vkh, or it was tampered "
                              "with") from None
    else:
        raw = _open_v1(blob, pair, eph_pub, slot, pool_id)
    k = int.from_bytes(raw, "big")
    if not 0 < k < P:
        raise EscrowError("escrow holds a value that is not a view key (not in (0, r))")
    member = MemberKey(slot, k)
    if expected_vkh is not None and member.vkh != expected_vkh:
        raise EscrowError(f"escrowed key does not match slot {slot}'s registered vkh: the "
                          "member escrowed another key than it committed")
    return member


def _open_v1(blob: bytes, pair: X25519KeyPair, eph_pub: bytes, slot: int,
             pool_id: bytes | str) -> bytes:
    aad = _escrow_aad(slot, pool_id)
    try:
        shared = pair.private_key.exchange(X25519PublicKey.from_public_bytes(eph_pub))
    except ValueError:
        raise EscrowError("escrow blob is tampered (invalid ephemeral key)") from None
    aead, nonce = _escrow_cipher(shared, eph_pub, pair.public_bytes)
    try:
        return aead.decrypt(nonce, blob[_ESCROW_HEAD.size:], aad)
    except InvalidTag:
        raise EscrowError(f"escrow does not open for slot {slot} of pool "
                          f"{pool_id_bytes(pool_id)!r}: it was made for another slot or pool, "
                          "or it was tampered with") from None
