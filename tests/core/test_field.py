"""zkclear.field: canonical elements, the signed encoding at and beyond its bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zkclear.field import (
    MAX_SIGNED_BITS,
    BoundError,
    FieldError,
    P,
    SignedRange,
    canonical,
    decode_signed,
    encode_signed,
    inv,
    reduce,
    to_field_str,
)

BITS = [1, 8, 64, 128, MAX_SIGNED_BITS]


# --- canonical elements ------------------------------------------------------------------


@pytest.mark.parametrize("x", [0, 1, P // 2, P - 1])
def test_canonical_accepts(x: int) -> None:
    assert canonical(x) == x
    assert to_field_str(x) == str(x)


@pytest.mark.parametrize("x", [-1, P, P + 1, 2**256])
def test_canonical_rejects_out_of_range(x: int) -> None:
    with pytest.raises(FieldError, match=r"size = .* is not a canonical field element"):
        canonical(x, "size")


@pytest.mark.parametrize("x", [True, False, 1.0, "1", None])
def test_canonical_rejects_non_int(x: object) -> None:
    with pytest.raises(FieldError, match="size must be an int"):
        canonical(x, "size")  # type: ignore[arg-type]


def test_field_error_is_value_error() -> None:
    assert issubclass(FieldError, ValueError) and issubclass(BoundError, ValueError)


def test_reduce_and_inverse() -> None:
    assert reduce(-1) == P - 1 and reduce(P) == 0 and reduce(P + 5) == 5
    for x in (1, 2, P - 1, 123456789):
        assert x * inv(x) % P == 1
    assert inv(P + 2) == inv(2)
    with pytest.raises(ZeroDivisionError):
        inv(0)
    with pytest.raises(ZeroDivisionError):
        inv(P)


# --- signed encoding -----------------------------------------------------------------------


@pytest.mark.parametrize("bits", BITS)
def test_bounds(bits: int) -> None:
    r = SignedRange(bits)
    assert (r.lo, r.hi) == (-(2**bits), 2**bits - 1)
    # The circuit's check: x + 2^bits fits in bits + 1 bits exactly for lo <= x <= hi.
    assert (r.lo + 2**bits) == 0 and (r.hi + 2**bits).bit_length() == bits + 1


@pytest.mark.parametrize("bits", BITS)
def test_round_trip_at_bounds(bits: int) -> None:
    r = SignedRange(bits)
    for x in (r.lo, r.lo + 1, -1, 0, 1, r.hi - 1, r.hi):
        v = r.encode(x)
        assert 0 <= v < P and v == x % P
        assert r.decode(v) == x
        assert decode_signed(encode_signed(x, bits), bits) == x
    assert r.encode(-1) == P - 1 and r.encode(r.lo) == P - 2**bits


@pytest.mark.parametrize("bits", BITS)
def test_encode_beyond_bounds(bits: int) -> None:
    r = SignedRange(bits)
    for x in (r.lo - 1, r.hi + 1, r.lo - 2**bits, r.hi * 3):
        with pytest.raises(BoundError, match=f"qty = {x} is outside the signed range") as e:
            r.encode(x, "qty")
        assert (e.value.name, e.value.value, e.value.bits) == ("qty", x, bits)
        assert not r.contains(x)


@pytest.mark.parametrize("bits", BITS)
def test_decode_beyond_bounds(bits: int) -> None:
    r = SignedRange(bits)
    # Canonical elements that stand for lo - 1 and hi + 1: outside the range.
    for x in (r.lo - 1, r.hi + 1):
        with pytest.raises(BoundError) as e:
            r.decode(x % P, "qty")
        assert e.value.value == x


def test_decode_middle_of_field() -> None:
    # (P - 1) / 2 is the largest "positive" element, (P + 1) / 2 the most negative one.
    r = SignedRange(MAX_SIGNED_BITS)
    with pytest.raises(BoundError):
        r.decode(P // 2)
    with pytest.raises(BoundError):
        r.decode(P // 2 + 1)


@pytest.mark.parametrize("v", [-1, P, P + 3, 2**300])
def test_decode_rejects_non_canonical(v: int) -> None:
    with pytest.raises(FieldError, match="qty"):
        SignedRange(64).decode(v, "qty")


@pytest.mark.parametrize("x", [True, 1.5, "3", None])
def test_encode_rejects_non_int(x: object) -> None:
    with pytest.raises(TypeError, match="qty must be an int"):
        SignedRange(64).encode(x, "qty")  # type: ignore[arg-type]
    with pytest.raises(FieldError):
        SignedRange(64).decode(x, "qty")  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", [0, -1, MAX_SIGNED_BITS + 1, 254])
def test_bits_limits(bits: int) -> None:
    with pytest.raises(ValueError, match="signed range bits must be in"):
        SignedRange(bits)


def test_max_bits_cannot_wrap() -> None:
    # At the largest width, x + 2^B stays below r for every admissible x, so the circuit's
    # range check cannot be satisfied by a wrapped value; one bit more could.
    b = MAX_SIGNED_BITS
    assert 2 ** (b + 1) < P < 2 ** (b + 2)
    assert SignedRange(b).hi + 2**b < P


@given(st.data())
def test_round_trip_random(data: st.DataObject) -> None:
    bits = data.draw(st.integers(min_value=1, max_value=MAX_SIGNED_BITS))
    r = SignedRange(bits)
    x = data.draw(st.integers(min_value=r.lo, max_value=r.hi))
    assert r.decode(r.encode(x)) == x
