"""Groth16 verification over BN254 in plain Python, reading snarkjs's JSON files.

This is zkclear's reference verifier: short, readable, and strict about its inputs.
The arithmetic is py_ecc's ``optimized_bn128``; everything here is parsing, validation
and the one verification equation (Groth16, https://eprint.iacr.org/2016/260)::

    e(-A, B) · e(alpha, beta) · e(vk_x, gamma) · e(C, delta) == 1
    vk_x = IC[0] + sum_i public[i] · IC[i + 1]

computed as a product of three Miller loops with a single final exponentiation,
compared with e(alpha, beta)^-1, which depends only on the key and is computed once per
key (the 3-pairing form). The final exponentiation is split as usual into the easy part
``(q^6 - 1)(q^2 + 1)`` (a conjugation, an inversion and one power) and the hard part
``(q^4 - q^2 + 1) / r``: about half the cost of py_ecc's single power of
``(q^12 - 1) / r`` (:func:`final_exponentiation`; equal to py_ecc's, tested).

snarkjs's layout, which :meth:`Proof.from_json` / :meth:`VerifyingKey.from_json` read and
``to_json`` writes (all numbers are decimal strings)::

    G1 point   ["x", "y", "1"]
    G2 point   [["x.c0", "x.c1"], ["y.c0", "y.c1"], ["1", "0"]]     (c0 + c1·i, i^2 = -1)

The Fp2 order ``[c0, c1]`` is also py_ecc's ``FQ2`` order, so coordinates go across
unchanged; only EVM calldata wants ``[c1, c0]`` (docs: TOOLCHAIN.md, "G2 coordinate order").

Validation, before any pairing is computed (a :class:`ProofError` for proofs and public
inputs, an :class:`ArtefactError` for verification keys, each naming the file and field):

* the JSON layout, ``protocol`` and ``curve``;
* every coordinate a canonical element of the base field (``0 <= v < q``): snarkjs
  reduces ``v + q`` silently, which makes one proof writable many ways;
* every point on its curve, and G2 points in the order-r subgroup (G1 has cofactor 1,
  so on the curve already means in the group; the twist does not);
* no point at infinity (a proof element or key element at infinity only arises from a
  broken prover or key; an ``IC`` point at infinity would leave a public input unbound);
* ``vk_delta_2`` different from ``±vk_gamma_2``: snarkjs's gamma is the G2 generator and
  delta equals it until a phase-2 contribution is made; with delta = gamma anybody can
  move ``vk_x`` into ``C`` and prove arbitrary public inputs;
* public inputs canonical scalars (``0 <= x < r``), exactly ``nPublic`` of them.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from py_ecc.optimized_bn128 import (
    FQ,
    FQ2,
    FQ12,
    add,
    b2,
    curve_order,
    field_modulus,
    is_inf,
    multiply,
    neg,
    pairing,
)
from py_ecc.optimized_bn128 import final_exponentiate as _py_ecc_final_exponentiate

from zkclear.errors import ArtefactError, ProofError, ZkclearError
from zkclear.field import P as R

#: The BN254 base field modulus q (coordinates live in F_q; scalars in F_r).
Q: int = field_modulus

# Constants checked where they are defined: both moduli as the rest of zkclear knows them.
assert curve_order == R, "py_ecc's curve order differs from zkclear.field.P"
assert Q > R and Q % 4 == 3  # q = 3 mod 4: the twist's Fp2 is Fp[i] / (i^2 + 1)

#: An element c0 + c1·i of F_q2, in snarkjs's (and py_ecc's) order.
Fp2 = tuple[int, int]
#: Affine points; the point at infinity has no affine form and is never accepted.
G1Affine = tuple[int, int]
G2Affine = tuple[Fp2, Fp2]

PROTOCOL = "groth16"
#: The names snarkjs's ``getCurveFromName`` accepts for BN254 (compared case-insensitively).
CURVE_NAMES = frozenset({"bn128", "bn254", "altbn128", "alt_bn128"})

_DECIMAL = re.compile(r"[0-9]{1,80}")  # 80 digits > any q or r; no signs, spaces or 0x


# ---------------------------------------------------------------------------- validation


def _integer(value: Any, where: str, err: type[ZkclearError]) -> int:
    """A JSON number field: snarkjs writes decimal strings; Python callers may pass ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    raise err(f"{where}: expected a non-negative decimal string, got {_show(value)}")


def _coordinate(value: Any, where: str, err: type[ZkclearError]) -> int:
    v = _integer(value, where, err)
    if not 0 <= v < Q:
        raise err(f"{where} = {v} is not a canonical coordinate (0 <= v < q, the base field "
                  "modulus)")
    return v


def _pair(value: Any, where: str, err: type[ZkclearError]) -> tuple[Any, Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise err(f"{where}: expected a pair of coordinates, got {_show(value)}")
    return value[0], value[1]


def _check_g1(pt: Any, where: str, err: type[ZkclearError]) -> G1Affine:
    """``pt`` as a tuple of canonical coordinates, checked on the curve y^2 = x^3 + 3."""
    x, y = (_coordinate(v, f"{where}[{i}]", err) for i, v in enumerate(_pair(pt, where, err)))
    if (y * y - x * x * x - 3) % Q != 0:
        raise err(f"{where} is not on the curve y^2 = x^3 + 3")
    return x, y


def _check_g2(value: Any, where: str, err: type[ZkclearError]) -> G2Affine:
    """``value`` as tuples of canonical coordinates, checked on the twist and in G2."""
    def fp2(i: int, c: Any) -> Fp2:
        c0, c1 = _pair(c, f"{where}[{i}]", err)
        return _coordinate(c0, f"{where}[{i}][0]", err), _coordinate(c1, f"{where}[{i}][1]", err)

    x2, y2 = _pair(value, where, err)
    pt: G2Affine = (fp2(0, x2), fp2(1, y2))
    x, y = FQ2(list(pt[0])), FQ2(list(pt[1]))
    if y * y != x * x * x + b2:
        raise err(f"{where} is not on the twist curve y^2 = x^3 + 3/(9+i) "
                  "(are its Fp2 coordinates in [c1, c0] order instead of [c0, c1]?)")
    # The twist has a large cofactor: a point outside the order-r subgroup would let the
    # pairing leave G_T, so r·B must be the point at infinity (~30-70 ms).
    if not is_inf(multiply(_g2(pt), R)):
        raise err(f"{where} is on the twist curve but not in the order-r subgroup G2")
    return pt


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- JSON layout


def _load(obj_or_path: Any, what: str, err: type[ZkclearError]) -> tuple[dict[str, Any], str]:
    """The JSON object and a label for messages (the file's path, or ``what``)."""
    if isinstance(obj_or_path, Mapping):
        return dict(obj_or_path), what
    if not isinstance(obj_or_path, str | os.PathLike):
        raise TypeError(f"{what}: expected a dict or a path to a JSON file, "
                        f"got {type(obj_or_path).__name__}")
    path = Path(obj_or_path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise err(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc
    try:
        obj = json.loads(text)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise err(f"{path}: the {what} is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise err(f"{path}: the {what} must be a JSON object, got {type(obj).__name__}")
    return obj, str(path)


def _field(obj: Mapping[str, Any], key: str, source: str, err: type[ZkclearError]) -> Any:
    if key not in obj:
        raise err(f"{source}: missing field {key!r}")
    return obj[key]


def _check_header(obj: Mapping[str, Any], source: str, err: type[ZkclearError], *,
                  curve_required: bool) -> None:
    protocol = _field(obj, "protocol", source, err)
    if protocol != PROTOCOL:
        raise err(f"{source}: protocol is {_show(protocol)}, expected {PROTOCOL!r}")
    if curve_required or "curve" in obj:
        curve = _field(obj, "curve", source, err)
        if not isinstance(curve, str) or curve.lower() not in CURVE_NAMES:
            raise err(f"{source}: curve is {_show(curve)}, expected 'bn128' (BN254)")


def _g1_from_json(value: Any, where: str, err: type[ZkclearError]) -> G1Affine:
    if not isinstance(value, list) or len(value) != 3:
        raise err(f"{where}: expected a G1 point [x, y, z] of 3 decimal strings, "
                  f"got {_show(value)}")
    x, y, z = (_integer(v, f"{where}[{i}]", err) for i, v in enumerate(value))
    if z == 0:
        raise err(f"{where} is the point at infinity (z = 0), which is not allowed here")
    # Any other z is ambiguous (snarkjs reads it as Jacobian, py_ecc as homogeneous) and
    # snarkjs never writes one: accept only the affine form.
    if z != 1:
        raise err(f"{where}[2]: z must be 1 (affine, as snarkjs writes points), got {z}")
    return x, y


def _fp2_from_json(value: Any, where: str, err: type[ZkclearError]) -> Fp2:
    if not isinstance(value, list) or len(value) != 2:
        raise err(f"{where}: expected an Fp2 element [c0, c1] of 2 decimal strings, "
                  f"got {_show(value)}")
    return _integer(value[0], f"{where}[0]", err), _integer(value[1], f"{where}[1]", err)


def _g2_from_json(value: Any, where: str, err: type[ZkclearError]) -> G2Affine:
    if not isinstance(value, list) or len(value) != 3:
        raise err(f"{where}: expected a G2 point [x, y, z] of 3 Fp2 elements, "
                  f"got {_show(value)}")
    x, y, z = (_fp2_from_json(v, f"{where}[{i}]", err) for i, v in enumerate(value))
    if z == (0, 0):
        raise err(f"{where} is the point at infinity (z = 0), which is not allowed here")
    if z != (1, 0):
        raise err(f"{where}[2]: z must be [1, 0] (affine, as snarkjs writes points), got "
                  f"{list(z)}")
    return x, y


def _g1_to_json(pt: G1Affine) -> list[str]:
    return [str(pt[0]), str(pt[1]), "1"]


def _g2_to_json(pt: G2Affine) -> list[list[str]]:
    return [[str(c) for c in pt[0]], [str(c) for c in pt[1]], ["1", "0"]]


# ----------------------------------------------------------------- final exponentiation

#: The hard part's exponent: (q^12 - 1) / r = (q^6 - 1) (q^2 + 1) (q^4 - q^2 + 1) / r.
_HARD_EXPONENT = (Q ** 4 - Q ** 2 + 1) // R
assert (Q ** 4 - Q ** 2 + 1) % R == 0
assert (Q ** 6 - 1) * (Q ** 2 + 1) * _HARD_EXPONENT == (Q ** 12 - 1) // R


def _conjugate(f: FQ12) -> FQ12:
    """``f^(q^6)``. py_ecc's F_q^12 is F_q[w] / (w^12 - 18 w^6 + 82); the Frobenius
    fixes the F_q coefficients and maps w to w^(q^6) = -w (w^(q^6 - 1) = -1, checked in
    tests/verifier/test_verifier_python.py), so it negates the odd coefficients."""
    return FQ12([c if i % 2 == 0 else -c for i, c in enumerate(f.coeffs)])


def final_exponentiation(f: FQ12) -> FQ12:
    """``f^((q^12 - 1) / r)``, equal to py_ecc's ``final_exponentiate`` but about twice
    as fast: the easy part ``f^((q^6 - 1)(q^2 + 1))`` costs a conjugation, an inversion
    and a ~508-bit power, the hard part a ~762-bit power (py_ecc: one ~2 790-bit power)."""
    if f == FQ12.zero():
        return _py_ecc_final_exponentiate(f)
    g = _conjugate(f) * f.inv()  # f^(q^6 - 1)
    g = g ** (Q * Q) * g  # ^(q^2 + 1)
    return g ** _HARD_EXPONENT


# ------------------------------------------------------------------------------ the types


def _g1(pt: G1Affine) -> tuple[FQ, FQ, FQ]:
    """py_ecc's projective form of a validated affine point."""
    return FQ(pt[0]), FQ(pt[1]), FQ.one()


def _g2(pt: G2Affine) -> tuple[FQ2, FQ2, FQ2]:
    return FQ2(list(pt[0])), FQ2(list(pt[1])), FQ2.one()


@dataclass(frozen=True)
class Proof:
    """A Groth16 proof (A, B, C), validated when constructed (raises :class:`ProofError`)."""

    a: G1Affine
    b: G2Affine
    c: G1Affine
    #: Where the proof came from, for messages (a path, or "proof").
    source: str = field(default="proof", compare=False, repr=False)

    def __post_init__(self) -> None:
        # Validate, and store the points as tuples of ints whatever sequences were given
        # (object.__setattr__: the dataclass is frozen).
        s, err = self.source, ProofError
        object.__setattr__(self, "a", _check_g1(self.a, f"{s}: pi_a", err))
        object.__setattr__(self, "b", _check_g2(self.b, f"{s}: pi_b", err))
        object.__setattr__(self, "c", _check_g1(self.c, f"{s}: pi_c", err))

    @classmethod
    def from_json(cls, obj_or_path: Mapping[str, Any] | str | os.PathLike[str]) -> Proof:
        """Read snarkjs's ``proof.json`` (a dict, or a path to the file)."""
        obj, source = _load(obj_or_path, "proof", ProofError)
        _check_header(obj, source, ProofError, curve_required=False)  # rapidsnark omits it
        a, b, c = (_field(obj, k, source, ProofError) for k in ("pi_a", "pi_b", "pi_c"))
        return cls(
            _g1_from_json(a, f"{source}: pi_a", ProofError),
            _g2_from_json(b, f"{source}: pi_b", ProofError),
            _g1_from_json(c, f"{source}: pi_c", ProofError),
            source=source,
        )

    def to_json(self) -> dict[str, Any]:
        """snarkjs's ``proof.json`` layout."""
        return {"pi_a": _g1_to_json(self.a), "pi_b": _g2_to_json(self.b),
                "pi_c": _g1_to_json(self.c), "protocol": PROTOCOL, "curve": "bn128"}


@dataclass(frozen=True)
class VerifyingKey:
    """A Groth16 verification key, validated when constructed (raises :class:`ArtefactError`).

    ``ic[0]`` is the constant term of vk_x, ``ic[i + 1]`` the base of public input i.
    """

    alpha1: G1Affine
    beta2: G2Affine
    gamma2: G2Affine
    delta2: G2Affine
    ic: tuple[G1Affine, ...]
    source: str = field(default="verification key", compare=False, repr=False)

    def __post_init__(self) -> None:
        s, err = self.source, ArtefactError
        if isinstance(self.ic, str | bytes) or not isinstance(self.ic, Sequence) or not self.ic:
            raise err(f"{s}: IC must be a non-empty list of nPublic + 1 G1 points")
        object.__setattr__(self, "alpha1", _check_g1(self.alpha1, f"{s}: vk_alpha_1", err))
        object.__setattr__(self, "beta2", _check_g2(self.beta2, f"{s}: vk_beta_2", err))
        object.__setattr__(self, "gamma2", _check_g2(self.gamma2, f"{s}: vk_gamma_2", err))
        object.__setattr__(self, "delta2", _check_g2(self.delta2, f"{s}: vk_delta_2", err))
        object.__setattr__(self, "ic", tuple(
            _check_g1(pt, f"{s}: IC[{i}]", err) for i, pt in enumerate(self.ic)))
        neg_gamma = (self.gamma2[0], ((-self.gamma2[1][0]) % Q, (-self.gamma2[1][1]) % Q))
        if self.delta2 in (self.gamma2, neg_gamma):
            raise err(f"{s}: vk_delta_2 equals ±vk_gamma_2, so proofs for any public inputs "
                      "can be forged; the key lacks a phase-2 contribution "
                      "(run `snarkjs zkey contribute` before exporting it)")

    @property
    def n_public(self) -> int:
        """The number of public signals (snarkjs's ``nPublic``)."""
        return len(self.ic) - 1

    @classmethod
    def from_json(cls, obj_or_path: Mapping[str, Any] | str | os.PathLike[str]) -> VerifyingKey:
        """Read snarkjs's ``verification_key.json`` (a dict, or a path to the file).

        ``vk_alphabeta_12`` is ignored: e(alpha, beta) is recomputed from alpha and beta
        rather than trusted from the file.
        """
        err = ArtefactError
        obj, source = _load(obj_or_path, "verification key", err)
        _check_header(obj, source, err, curve_required=True)
        n_public = _field(obj, "nPublic", source, err)
        if isinstance(n_public, bool) or not isinstance(n_public, int) or n_public < 0:
            raise err(f"{source}: nPublic must be a non-negative integer, got "
                      f"{_show(n_public)}")
        ic = _field(obj, "IC", source, err)
        if not isinstance(ic, list) or len(ic) != n_public + 1:
            got = f"{len(ic)} points" if isinstance(ic, list) else _show(ic)
            raise err(f"{source}: IC must list nPublic + 1 = {n_public + 1} G1 points, "
                      f"got {got}")
        return cls(
            _g1_from_json(_field(obj, "vk_alpha_1", source, err), f"{source}: vk_alpha_1", err),
            _g2_from_json(_field(obj, "vk_beta_2", source, err), f"{source}: vk_beta_2", err),
            _g2_from_json(_field(obj, "vk_gamma_2", source, err), f"{source}: vk_gamma_2", err),
            _g2_from_json(_field(obj, "vk_delta_2", source, err), f"{source}: vk_delta_2", err),
            tuple(_g1_from_json(pt, f"{source}: IC[{i}]", err) for i, pt in enumerate(ic)),
            source=source,
        )

    def to_json(self) -> dict[str, Any]:
        """snarkjs's ``verification_key.json`` layout, without ``vk_alphabeta_12``
        (snarkjs's verifier does not read it)."""
        return {
            "protocol": PROTOCOL, "curve": "bn128", "nPublic": self.n_public,
            "vk_alpha_1": _g1_to_json(self.alpha1), "vk_beta_2": _g2_to_json(self.beta2),
            "vk_gamma_2": _g2_to_json(self.gamma2), "vk_delta_2": _g2_to_json(self.delta2),
            "IC": [_g1_to_json(pt) for pt in self.ic],
        }

    @functools.cached_property
    def _alpha_beta_inverse(self) -> FQ12:
        """e(alpha, beta)^-1 = e(-alpha, beta): the same for every proof under this key."""
        return final_exponentiation(
            pairing(_g2(self.beta2), neg(_g1(self.alpha1)), final_exponentiate=False))


# --------------------------------------------------------------------------- public inputs


def parse_public(values: Sequence[int | str], n_public: int | None = None, *,
                 source: str = "public") -> tuple[int, ...]:
    """Public signals as canonical scalars (``0 <= x < r``), ints or decimal strings.

    With ``n_public`` the count must match too. Raises :class:`ProofError` naming the index.
    """
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ProofError(f"{source}: expected a list of public signals, got {_show(values)}")
    if n_public is not None and len(values) != n_public:
        raise ProofError(f"{source}: {len(values)} public signals given, the verification key "
                         f"expects nPublic = {n_public}")
    out = []
    for i, v in enumerate(values):
        where = f"{source}[{i}]"
        if isinstance(v, int) and not isinstance(v, bool):
            x = v
        elif isinstance(v, str) and _DECIMAL.fullmatch(v):
            x = int(v)
        else:
            raise ProofError(f"{where}: expected an integer or a decimal string, got {_show(v)}")
        # A value >= r would be reduced mod r by the arithmetic and so alias another input.
        if not 0 <= x < R:
            raise ProofError(f"{where} = {x} is not a canonical scalar (0 <= x < r)")
        out.append(x)
    return tuple(out)


# ---------------------------------------------------------------------------- verification


def verify(vk: VerifyingKey, proof: Proof, public: Sequence[int | str]) -> bool:
    """Whether ``proof`` proves ``public`` under ``vk``.

    Returns ``False`` for a well-formed proof that does not verify; raises
    :class:`ProofError` for public inputs that are malformed or of the wrong count (the
    key and proof were validated when they were built). Either way, nothing is accepted
    that snarkjs rejects. Costs about 3 Miller loops and one final exponentiation.
    """
    if not isinstance(vk, VerifyingKey) or not isinstance(proof, Proof):
        raise TypeError("verify(vk, proof, public) takes a VerifyingKey and a Proof "
                        "(build them with VerifyingKey.from_json / Proof.from_json)")
    inputs = parse_public(public, vk.n_public)

    vk_x = _g1(vk.ic[0])
    for x, base in zip(inputs, vk.ic[1:], strict=True):
        vk_x = add(vk_x, multiply(_g1(base), x))

    # e(-A, B) · e(vk_x, gamma) · e(C, delta), each without its final exponentiation;
    # py_ecc's pairing takes (G2, G1) and gives 1 for the point at infinity (vk_x may be).
    f = (pairing(_g2(proof.b), neg(_g1(proof.a)), final_exponentiate=False)
         * pairing(_g2(vk.gamma2), vk_x, final_exponentiate=False)
         * pairing(_g2(vk.delta2), _g1(proof.c), final_exponentiate=False))
    return bool(final_exponentiation(f) == vk._alpha_beta_inverse)


def check(vk: VerifyingKey, proof: Proof, public: Sequence[int | str]) -> None:
    """:func:`verify`, raising :class:`ProofError` instead of returning ``False``."""
    if not verify(vk, proof, public):
        shown = _show([str(x) for x in public])
        raise ProofError(f"proof rejected: {proof.source} does not verify under {vk.source} "
                         f"for public signals {shown}")
