"""Secrets in memory and on disk: a redacting wrapper, owner-only key files, X25519 keys.

- :class:`Secret` holds a key (an int field element or bytes).  Its ``repr``/``str``/
  ``format`` are redacted, so a key that reaches a log line, a traceback's locals or an
  f-string shows ``Secret(<redacted>)``; :meth:`Secret.reveal` is the one way out.
- :func:`write_json_secret` writes a JSON document with mode 0600 through
  :func:`zkclear.fsutil.write_atomic`, so a crash leaves either the old file or the new
  one, never a half-written key, and the key is never readable by others, not even for a
  moment; it never replaces an existing key file unless told to.
- :func:`read_json_secret` refuses a file whose permissions are wider than ``0600``
  (any group/other bit), that another user owns, that is not a regular file or that is
  not a JSON object, with a :class:`KeyFileError` that says what to fix.

- :class:`X25519KeyPair` is a static X25519 key pair (the pool's compliance key, members'
  and the operator's transport keys) with its key file; :func:`seal_key` is the
  HKDF -> ChaCha20-Poly1305 key schedule of the boxes sealed to such keys (transport
  messages and escrows).

The view-key, compliance-key and transport-key files (``zkclear.privacy.viewkeys``,
``zkclear.privacy.compliance``, ``zkclear.privacy.transport``) are all written and read
through here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zkclear.errors import ZkclearError
from zkclear.fsutil import write_atomic
from zkclear.schemas import Record, X25519KeyFile, dump, format_of, hex_value, parse

R = TypeVar("R", bound=Record)

#: The only permission bits a key file may have.
KEY_FILE_MODE = 0o600


class KeyFileError(ZkclearError):
    """A key file is missing, unsafe (permissions, owner, type) or malformed."""


class Secret:
    """A secret value whose text forms are redacted.  ``reveal()`` returns the value.

    Equality is constant-time on the value's bytes; a Secret is not hashable (so it cannot
    leak through a dict key or set ordering) and cannot be pickled by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: int | bytes) -> None:
        if isinstance(value, bool) or not isinstance(value, int | bytes):
            raise TypeError(f"Secret holds an int or bytes, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> Any:
        """The secret value itself.  Do not log it."""
        return self._value

    def _bytes(self) -> bytes:
        v = self._value
        if isinstance(v, bytes):
            return b"b" + v
        return b"i" + v.to_bytes((v.bit_length() + 8) // 8 + 1, "big", signed=True)

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._bytes(), other._bytes())

    # equal by value, so unhashable: Python's idiom, which typeshed types as a method
    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled; write it with a key file instead")

    def __copy__(self) -> Secret:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __bool__(self) -> bool:
        return True


def write_json_secret(path: str | os.PathLike[str], doc: dict[str, Any], *,
                      overwrite: bool = False) -> Path:
    """Write ``doc`` as JSON to ``path`` with mode 0600, atomically.

    Refuses to replace an existing file unless ``overwrite`` (losing a key is worse than an
    error).  The folder must exist.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise KeyFileError(f"cannot write {target}: folder {folder} does not exist")
    try:
        return write_atomic(target, json.dumps(doc, indent=2, sort_keys=True) + "\n",
                            mode=KEY_FILE_MODE, overwrite=overwrite, make_dirs=False)
    except FileExistsError:
        raise KeyFileError(f"{target} already exists; refusing to overwrite a key file"
                           ) from None


def read_json_secret(path: str | os.PathLike[str], what: str = "key file") -> dict[str, Any]:
    """Read a JSON object from an owner-only file; :class:`KeyFileError` otherwise.

    The checks are made on the opened descriptor (``fstat``), so the file that is checked
    is the file that is read.  Symbolic links are not followed.
    """
    p = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise KeyFileError(f"{what} {p} does not exist") from None
    except OSError as e:
        if p.is_symlink():
            raise KeyFileError(f"{what} {p} is a symbolic link; refusing to follow it") from None
        raise KeyFileError(f"cannot open {what} {p}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"{what} {p} is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & ~KEY_FILE_MODE:
            raise KeyFileError(
                f"{what} {p} has permissions {mode:04o}, wider than {KEY_FILE_MODE:04o}: "
                f"others may have read the key. Run `chmod 600 {p}` if it is still secret, "
                "or rotate the key"
            )
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise KeyFileError(f"{what} {p} belongs to uid {st.st_uid}, not to you")
        with os.fdopen(fd, "rb") as f:
            fd = -1
            raw = f.read(1 << 20)
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        # The message names the position only: the content may be a key.
        pos = getattr(e, "pos", getattr(e, "start", "?"))
        raise KeyFileError(f"{what} {p} is not valid JSON (at byte {pos})") from None
    if not isinstance(doc, dict):
        raise KeyFileError(f"{what} {p} must hold a JSON object")
    return doc


def read_key_file(path: str | os.PathLike[str], model: type[R], what: str = "key file") -> R:
    """Read an owner-only key file and validate it as ``model`` (a :mod:`zkclear.schemas`
    record); :class:`KeyFileError` names the file and the failing fields, never a key."""
    return parse(model, read_json_secret(path, what), where=f"{what} {path}", error=KeyFileError)


# --------------------------------------------------------------------------------------
# X25519 static key pairs (compliance key, transport keys)
# --------------------------------------------------------------------------------------

#: The ``format`` field of an X25519 key file.
X25519_FORMAT = format_of(X25519KeyFile)


def seal_key(ikm: bytes, info: bytes) -> tuple[ChaCha20Poly1305, bytes]:
    """The key schedule of zkclear's sealed boxes (transport messages, escrows):
    ``key ‖ nonce = HKDF-SHA256(ikm, salt = "", info, 44 bytes)``; the ChaCha20-Poly1305
    cipher under ``key`` and the 12-byte ``nonce``. ``info`` binds the purpose and the
    public keys involved, so each derived key is used once."""
    okm = HKDF(hashes.SHA256(), 44, b"", info).derive(ikm)
    return ChaCha20Poly1305(okm[:32]), okm[32:]


def fingerprint(public: bytes) -> bytes:
    """8 bytes naming a public key in headers and errors: SHA-256(public)[:8]."""
    return hashlib.sha256(public).digest()[:8]


class X25519KeyPair:
    """An X25519 static key pair with a ``purpose`` (``compliance``, ``member``, ``operator``).

    Key file (mode 0600)::

        {"format": "zkclear-x25519-key-v1", "purpose": "...",
         "public": "0x<32 bytes>", "private": "0x<32 bytes>"}

    ``repr`` shows the purpose and the public key's fingerprint only.
    """

    __slots__ = ("_private", "private_key", "public_bytes", "purpose")

    def __init__(self, private: bytes | Secret | X25519PrivateKey, purpose: str) -> None:
        if isinstance(private, X25519PrivateKey):
            key = private
        else:
            raw = private.reveal() if isinstance(private, Secret) else private
            if not isinstance(raw, bytes) or len(raw) != 32:
                raise ValueError("an X25519 private key is 32 bytes")
            key = X25519PrivateKey.from_private_bytes(raw)
        self.private_key = key
        self.purpose = purpose
        self._private = Secret(key.private_bytes_raw())
        self.public_bytes = key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls, purpose: str) -> X25519KeyPair:
        return cls(X25519PrivateKey.generate(), purpose)

    @property
    def private(self) -> Secret:
        """The 32 raw private-key bytes, wrapped."""
        return self._private

    @property
    def public_key(self) -> X25519PublicKey:
        return self.private_key.public_key()

    @property
    def fingerprint(self) -> bytes:
        return fingerprint(self.public_bytes)

    def __repr__(self) -> str:
        return f"X25519KeyPair(purpose={self.purpose!r}, fingerprint={self.fingerprint.hex()})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a key pair cannot be pickled; save it to a key file instead")

    def to_json(self) -> dict[str, Any]:
        return dump(X25519KeyFile.tagged(purpose=self.purpose,
                                         public="0x" + self.public_bytes.hex(),
                                         private="0x" + self._private.reveal().hex()))

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        return write_json_secret(path, self.to_json(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], purpose: str | None = None) -> X25519KeyPair:
        """Read a key file; refuses unsafe permissions, bad content or another ``purpose``."""
        doc = read_key_file(path, X25519KeyFile)
        if purpose is not None and doc.purpose != purpose:
            raise KeyFileError(f"key file {path} holds a {doc.purpose!r} key, not a "
                               f"{purpose!r} key")
        pair = cls(hex_value(doc.private), doc.purpose)
        if pair.public_bytes != hex_value(doc.public):
            raise KeyFileError(f"key file {path}: the public key does not belong to the "
                               "private key")
        return pair


def public_key_bytes(public: bytes | X25519PublicKey | X25519KeyPair) -> bytes:
    """The 32 raw bytes of an X25519 public key given in any of zkclear's forms."""
    if isinstance(public, X25519KeyPair):
        return public.public_bytes
    if isinstance(public, X25519PublicKey):
        return public.public_bytes_raw()
    if isinstance(public, bytes | bytearray) and len(public) == 32:
        return bytes(public)
    raise TypeError("an X25519 public key is 32 bytes, an X25519PublicKey or a key pair")
