"""The BN254 scalar field and the signed-integer encoding: one source of truth.

Every value a circuit sees is an element of the BN254 scalar field F_r. zkclear's
quantities are signed integers (sizes in lots, prices in ticks, cash in minor units);
they are encoded as ``x mod r`` and every circuit that relies on a signed value
proves ``x + 2^B`` fits in ``B + 1`` bits, i.e. ``-2^B <= x < 2^B``.  The Python side
rejects values outside the same range *before* anything is proven, with a
:class:`BoundError` naming the quantity and the bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from py_ecc.optimized_bn128 import curve_order as _PY_ECC_CURVE_ORDER

from zkclear.errors import ZkclearError

#: The BN254 (alt_bn128) scalar field modulus r: circom's and snarkjs's default prime.
P = 21888242871839275222246405745257275088548364400416034343698204186575808495617
#: Bits needed to write any field element.
FIELD_BITS = 254
#: The largest B for which a range check ``x + 2^B < 2^(B+1)`` cannot wrap the field.
MAX_SIGNED_BITS = 252

# Constants checked where they are defined (py_ecc asserts its curve order this way).
assert _PY_ECC_CURVE_ORDER == P, "py_ecc's BN254 curve order differs from zkclear's field"
assert P.bit_length() == FIELD_BITS
assert pow(7, P - 1, P) == 1 and pow(5, (P - 1) // 2, P) == P - 1  # Fermat; 5 a non-residue
assert (P - 1) % (1 << 28) == 0  # 2-adicity 28: FFT domains up to 2^28


class FieldError(ZkclearError, ValueError):
    """A value is not a canonical field element (not an int, negative, or >= r)."""


class BoundError(ZkclearError, ValueError):
    """A signed quantity lies outside the range the circuits can check."""

    def __init__(self, name: str, value: int, bits: int) -> None:
        self.name, self.value, self.bits = name, value, bits
        super().__init__(
            f"{name} = {value} is outside the signed range [-2^{bits}, 2^{bits}) "
            f"= [{-(1 << bits)}, {(1 << bits) - 1}]"
        )


def canonical(x: int, name: str = "value") -> int:
    """Return ``x`` unchanged if it is a canonical field element (0 <= x < r)."""
    if isinstance(x, bool) or not isinstance(x, int):
        raise FieldError(f"{name} must be an int, got {type(x).__name__}")
    if not 0 <= x < P:
        raise FieldError(f"{name} = {x} is not a canonical field element (0 <= x < r)")
    return x


def reduce(x: int) -> int:
    """``x mod r`` for any Python int (negative values wrap as the circuit sees them)."""
    return x % P


def inv(x: int) -> int:
    """Multiplicative inverse in F_r."""
    if x % P == 0:
        raise ZeroDivisionError("0 has no inverse in F_r")
    return pow(x, P - 2, P)


@dataclass(frozen=True)
class SignedRange:
    """Signed integers ``-2^bits <= x < 2^bits``, as one ``Num2Bits(bits + 1)`` checks them."""

    bits: int

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= MAX_SIGNED_BITS:
            raise ValueError(
                f"signed range bits must be in [1, {MAX_SIGNED_BITS}], got {self.bits}"
            )

    @property
    def lo(self) -> int:
        return -(1 << self.bits)

    @property
    def hi(self) -> int:
        """The largest admissible value."""
        return (1 << self.bits) - 1

    def contains(self, x: int) -> bool:
        return self.lo <= x <= self.hi

    def check(self, x: int, name: str = "value") -> int:
        if isinstance(x, bool) or not isinstance(x, int):
            raise TypeError(f"{name} must be an int, got {type(x).__name__}")
        if not self.contains(x):
            raise BoundError(name, x, self.bits)
        return x

    def encode(self, x: int, name: str = "value") -> int:
        """Field element of a bounded signed int (``x mod r``)."""
        return self.check(x, name) % P

    def decode(self, v: int, name: str = "value") -> int:
        """The signed int a field element stands for; errors if it is outside the range."""
        canonical(v, name)
        x = v if v <= P // 2 else v - P
        if not self.contains(x):
            raise BoundError(name, x, self.bits)
        return x


def encode_signed(x: int, bits: int, name: str = "value") -> int:
    return SignedRange(bits).encode(x, name)


def decode_signed(v: int, bits: int, name: str = "value") -> int:
    return SignedRange(bits).decode(v, name)


def to_field_str(x: int) -> str:
    """Decimal string of a canonical element, the form circom input JSON uses."""
    return str(canonical(x))
