"""Shamir sharing of the pool's compliance private key among compliance officers.

**Sharing the compliance private key.**  The 32-byte X25519 private key is split among
officers with Shamir's scheme over the BN254 scalar field F_r (``galois``).  32 bytes do
not fit below r (r < 2^254), so the key is split as two 16-byte halves (each < 2^128 < r),
each shared with its own independent random polynomial of degree t-1 at the same points
x = 1..n: an officer's share is ``(x, y_hi, y_lo)``.  Any t shares give both halves by
Lagrange interpolation at 0; fewer reveal nothing about either (each half is perfectly
hidden, and the polynomials are independent).

Escrow of members' view keys to the compliance key is :mod:`zkclear.privacy.compliance`
(which re-exports these names).
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkclear.errors import ZkclearError
from zkclear.field import P
from zkclear.privacy.keyfile import X25519KeyPair, read_key_file, write_json_secret
from zkclear.schemas import ComplianceShareFile, dump, format_of, hex_value

if TYPE_CHECKING:  # galois is imported where it is used: importing it takes ~0.5 s
    import galois

#: The compliance key pair's purpose (its key file's ``purpose``).
PURPOSE = "compliance"
#: 5 generates F_r^* (checked by :func:`check_primitive_element` against the factors below).
PRIMITIVE_ELEMENT = 5
#: r - 1 = prod(p^k): the factorisation galois would otherwise spend ~100 s finding.
R_MINUS_1_FACTORS: tuple[tuple[int, int], ...] = (
    (2, 28), (3, 2), (13, 1), (29, 1), (983, 1), (11003, 1), (237073, 1), (405928799, 1),
    (1670836401704629, 1), (13818364434197438864469338081, 1),
)


class ShareError(ZkclearError):
    """Shares cannot be combined (too few, duplicates, mixed, inconsistent, malformed)."""


# --------------------------------------------------------------------------------------
# Shamir over F_r with galois
# --------------------------------------------------------------------------------------


def check_primitive_element(g: int = PRIMITIVE_ELEMENT) -> None:
    """Raise ``ValueError`` unless ``g`` generates F_r^*: the factors must multiply to r - 1
    and be prime, and ``g^((r-1)/q) != 1`` for each prime q.  About a millisecond (galois
    would factor r - 1 first)."""
    import galois

    prod = 1
    for q, e in R_MINUS_1_FACTORS:
        if not galois.is_prime(q):
            raise ValueError(f"factor {q} of r - 1 is not prime")
        prod *= q**e
    if prod != P - 1:
        raise ValueError("the factors do not multiply to r - 1")
    for q, _ in R_MINUS_1_FACTORS:
        if pow(g, (P - 1) // q, P) == 1:
            raise ValueError(f"{g} does not generate F_r^*: its order divides (r - 1)/{q}")


@functools.cache
def field() -> type[galois.FieldArray]:
    """``galois.GF(r)``, built once.

    Given the primitive element and ``verify=False`` construction takes milliseconds; with
    galois's own verification it factors r - 1 (~100 s).  :func:`check_primitive_element`
    verifies the element instead (the tests run it).
    """
    import galois

    return galois.GF(P, primitive_element=PRIMITIVE_ELEMENT, verify=False)


@dataclass(frozen=True)
class Share:
    """One Shamir share ``(x, y)`` of a field element, with the threshold ``t``.

    ``repr`` hides ``y`` (t of them are the secret).
    """

    x: int
    y: int
    t: int

    def __repr__(self) -> str:
        return f"Share(x={self.x}, t={self.t}, y=<redacted>)"


def _check_n_t(n: int, t: int) -> None:
    for name, v in (("n", n), ("t", t)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{name} must be an int")
    if not 1 <= t <= n <= 255:
        raise ValueError(f"need 1 <= t <= n <= 255, got n={n}, t={t}")


def _random_poly(secret: int, t: int) -> galois.Poly:
    import galois

    gf = field()
    # Coefficients from the OS's CSPRNG (galois's own random uses numpy's generator).
    coeffs = [secrets.randbelow(P) for _ in range(t - 1)]  # a_{t-1} .. a_1
    return galois.Poly(gf([*coeffs, secret]))  # descending degree; constant term = secret


def split(secret: int, n: int, t: int) -> list[Share]:
    """Shares of ``secret`` (a canonical field element) at x = 1..n; any ``t`` recover it."""
    _check_n_t(n, t)
    if isinstance(secret, bool) or not isinstance(secret, int) or not 0 <= secret < P:
        raise ValueError("the secret must be a canonical field element")
    gf = field()
    xs = gf(list(range(1, n + 1)))
    ys = _random_poly(secret, t)(xs)
    return [Share(i + 1, int(y), t) for i, y in enumerate(ys)]


def _check_shares(shares: Sequence[Any]) -> int:
    """Common checks; returns t."""
    if not shares:
        raise ShareError("no shares given")
    ts = {s.t for s in shares}
    if len(ts) != 1:
        raise ShareError(f"shares disagree on the threshold ({sorted(ts)}): they come from "
                         "different splits")
    t = ts.pop()
    xs = [s.x for s in shares]
    dup = sorted({x for x in xs if xs.count(x) > 1})
    if dup:
        raise ShareError(f"duplicate share x = {', '.join(map(str, dup))}: each officer's "
                         "share counts once")
    if any(isinstance(x, bool) or not isinstance(x, int) or not 0 < x < P for x in xs):
        raise ShareError("share x must be in [1, r)")
    if len(shares) < t:
        raise ShareError(f"{len(shares)} share(s) given, the threshold is {t}")
    return t


def _combine_points(xs: list[int], ys: list[int], t: int, what: str) -> int:
    import galois

    gf = field()
    if any(isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < P for y in ys):
        raise ShareError(f"{what}: a share's y is not a canonical field element")
    poly = galois.lagrange_poly(gf(xs[:t]), gf(ys[:t]))
    if len(xs) > t:
        extra = poly(gf(xs[t:]))
        bad = [x for x, y, want in zip(xs[t:], ys[t:], extra, strict=True) if int(want) != y]
        if bad:
            raise ShareError(f"{what}: share(s) x = {', '.join(map(str, bad))} do not lie on "
                             "the polynomial of the others (corrupt, or from another split)")
    return int(poly(gf(0)))


def combine(shares: Sequence[Share]) -> int:
    """The secret from at least ``t`` shares (Lagrange at 0); more are checked for agreement."""
    t = _check_shares(shares)
    return _combine_points([s.x for s in shares], [s.y for s in shares], t, "combine")


# --------------------------------------------------------------------------------------
# Shares of the compliance private key
# --------------------------------------------------------------------------------------

SHARE_FORMAT = format_of(ComplianceShareFile)


@dataclass(frozen=True)
class KeyShare:
    """An officer's share of the compliance private key: the same ``x`` for both 16-byte
    halves, ``y_hi`` / ``y_lo``, the threshold and the compliance key's fingerprint.

    Share file (mode 0600)::

        {"format": "zkclear-compliance-share-v1", "key": "<fingerprint hex>",
         "t": 2, "x": 1, "y_hi": "0x<32 bytes>", "y_lo": "0x<32 bytes>"}
    """

    x: int
    y_hi: int
    y_lo: int
    t: int
    key_fingerprint: bytes

    def __repr__(self) -> str:
        return (f"KeyShare(x={self.x}, t={self.t}, key={self.key_fingerprint.hex()}, "
                "y=<redacted>)")

    def to_json(self) -> dict[str, Any]:
        return dump(ComplianceShareFile.tagged(
            key=self.key_fingerprint.hex(), t=self.t, x=self.x,
            y_hi="0x" + self.y_hi.to_bytes(32, "big").hex(),
            y_lo="0x" + self.y_lo.to_bytes(32, "big").hex()))

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        return write_json_secret(path, self.to_json(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyShare:
        doc = read_key_file(path, ComplianceShareFile, "share file")
        return cls(doc.x, int(doc.y_hi, 16), int(doc.y_lo, 16), doc.t, hex_value(doc.key))


def split_key(pair: X25519KeyPair, n: int, t: int) -> list[KeyShare]:
    """Split the compliance private key among ``n`` officers, any ``t`` of whom recover it."""
    raw = pair.private.reveal()
    hi, lo = (split(int.from_bytes(raw[a:b], "big"), n, t) for a, b in ((0, 16), (16, 32)))
    return [KeyShare(h.x, h.y, lo_.y, t, pair.fingerprint) for h, lo_ in zip(hi, lo, strict=True)]


def combine_key(shares: Sequence[KeyShare]) -> X25519KeyPair:
    """The compliance key pair from ``t`` or more officers' shares.

    Refuses too few or duplicate shares, shares of different keys, and shares that
    combine to a key whose public key is not the one the shares name.
    """
    fps = {s.key_fingerprint for s in shares}
    if len(fps) > 1:
        raise ShareError("the shares belong to different compliance keys "
                         f"({', '.join(sorted(f.hex() for f in fps))})")
    t = _check_shares(shares)
    xs = [s.x for s in shares]
    halves = [_combine_points(xs, [getattr(s, f) for s in shares], t, f"combine_key {f}")
              for f in ("y_hi", "y_lo")]
    if any(h >= 1 << 128 for h in halves):
        raise ShareError("the shares do not combine to a key (corrupt shares)")
    pair = X25519KeyPair(b"".join(h.to_bytes(16, "big") for h in halves), PURPOSE)
    if pair.fingerprint != next(iter(fps)):
        raise ShareError("the shares combine to a key whose public key is not the compliance "
                         "key they name (corrupt shares)")
    return pair
