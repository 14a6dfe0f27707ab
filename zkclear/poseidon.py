"""Poseidon over the BN254 scalar field, equal to circomlib's ``Poseidon(n)`` and circomlibjs.

This is zkclear's one Poseidon.  ``poseidon([x1, ..., xn])`` (1 <= n <= 6) is the value
circomlib's ``Poseidon(n)`` template outputs and circomlibjs's ``buildPoseidon()`` returns:
width t = n + 1, state ``[0, x1, ..., xn]`` (initial state 0 in position 0), x^5 S-box,
8 full rounds and ``N_ROUNDS_P[t]`` partial rounds, output ``state[0]``.

Two implementations with the same contract (canonical field elements in, one out):

- :func:`poseidon_python`: pure Python, on circomlib's *optimised* constants (the
  algorithm of circomlibjs's ``poseidon_opt.js``, from neptune): the partial rounds use a
  sparse matrix, so each costs one S-box and about 2t multiplications instead of t^2.
  This is the reference; the tests check it against vectors from circomlibjs and against
  a textbook implementation (every round dense) that reads circomlibjs's plain constants
  from node_modules; those are not shipped, to keep the constants module small.
- :func:`poseidon_light`: the native ``light-poseidon`` package (Rust; import name
  ``light_poseidon_python``), 5-10x faster (``bench/bench_poseidon.py``).

:func:`poseidon` uses the native one when it imports *and* agrees with the pure-Python
one on a fixed vector for every arity (checked once, at first use); otherwise the
reference.  ``ZKCLEAR_POSEIDON=python`` forces the reference; ``=light-poseidon`` demands
the native one (an error if it is missing or disagrees).  :func:`backend` says which is
in use.

:func:`poseidon_chain` hashes any number of values by chaining (see its docstring); the
circuit template ``PoseidonChain(n)`` in ``circuits/lib/hash.circom`` computes the same.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zkclear import _poseidon_constants as _K
from zkclear.field import P, canonical

#: Most inputs one Poseidon call takes (t = 7): the arities zkclear's constants cover.
MAX_INPUTS = 6
#: Values each further chunk of :func:`poseidon_chain` absorbs (the accumulator is the 6th).
CHAIN_CHUNK = MAX_INPUTS - 1
#: Environment variable that chooses the backend: ``python``, ``light-poseidon`` or ``auto``.
ENV_VAR = "ZKCLEAR_POSEIDON"
PYTHON = "python"
LIGHT = "light-poseidon"

Hash = Callable[[Sequence[int]], int]


def _check_inputs(inputs: Sequence[int], what: str = "poseidon") -> list[int]:
    values = list(inputs)
    if not 1 <= len(values) <= MAX_INPUTS:
        raise ValueError(
            f"{what} takes 1 to {MAX_INPUTS} inputs (circomlib Poseidon(n), width t = n + 1 "
            f"<= {MAX_INPUTS + 1}), got {len(values)}; use poseidon_chain for longer input"
        )
    for i, x in enumerate(values):
        if type(x) is not int or not 0 <= x < P:  # fast path; canonical() words the error
            canonical(x, f"{what} input {i}")
    return values


# --------------------------------------------------------------------------------------
# Pure-Python reference on circomlib's optimised constants (circomlibjs poseidon_opt.js)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Params:
    """The constants of one width t, arranged for the rounds below."""

    t: int
    n_partial: int
    first_ark: tuple[int, ...]
    #: The first half's full rounds after the first: (constants added after the S-box, matrix).
    first_full: tuple[tuple[tuple[int, ...], tuple[tuple[int, ...], ...]], ...]
    #: Partial rounds: (constant, first row w of the sparse matrix, its first column v[1:]).
    partial: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]
    #: The second half's full rounds but the last: (constants, matrix rows).
    last_full: tuple[tuple[int, ...], ...]
    mds_rows: tuple[tuple[int, ...], ...]


def _rows(m: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
    """circomlib's matrices act as ``new[i] = sum_j m[j][i] * old[j]``: return the rows."""
    return tuple(zip(*m, strict=True))


def _params(t: int) -> _Params:
    c, s = _K.C[t], _K.S[t]
    n_full, n_partial = _K.N_ROUNDS_F, _K.N_ROUNDS_P[t]
    half = n_full // 2
    mds, pre_sparse = _rows(_K.M[t]), _rows(_K.P[t])
    # Constants checked where they are used: the shapes poseidon.circom expects.
    assert len(c) == t * n_full + n_partial and len(s) == n_partial * (2 * t - 1)
    assert all(len(row) == t for row in mds + pre_sparse) and len(mds) == len(pre_sparse) == t
    # After the first constants, the first half's full rounds r = 1..half each apply the
    # S-box, add C[r*t : r*t + t] and mix; the last of them mixes by P instead of M.
    first_full = tuple(
        (c[r * t : (r + 1) * t], mds if r < half else pre_sparse) for r in range(1, half + 1)
    )
    base = (half + 1) * t  # partial-round constants, one per round, start here
    w = 2 * t - 1
    partial = tuple(
        (c[base + r], s[w * r : w * r + t], s[w * r + t : w * (r + 1)]) for r in range(n_partial)
    )
    base += n_partial
    last_full = tuple(c[base + r * t : base + (r + 1) * t] for r in range(half - 1))
    return _Params(t, n_partial, c[:t], first_full, partial, last_full, mds)


_PARAMS: dict[int, _Params] = {t: _params(t) for t in range(2, MAX_INPUTS + 2)}


def round_schedule(t: int) -> _Params:
    """The constants of width ``t`` (1 + inputs) arranged as the rounds below use them, for
    code generators that must follow the same schedule (zkclear.chain.poseidon_evm)."""
    return _PARAMS[t]


def _pow5(x: int) -> int:
    x2 = x * x % P
    return x2 * x2 % P * x % P


def _mix(rows: tuple[tuple[int, ...], ...], state: list[int]) -> list[int]:
    return [sum(m * s for m, s in zip(row, state, strict=True)) % P for row in rows]


def _permute_opt(state: list[int], k: _Params) -> list[int]:
    """circomlib's permutation, rearranged with sparse partial rounds (poseidon_opt.js)."""
    state = [(s + c) % P for s, c in zip(state, k.first_ark, strict=True)]
    # First half of the full rounds; the last of them mixes by P, not M.
    for consts, matrix in k.first_full:
        state = [(_pow5(s) + c) % P for s, c in zip(state, consts, strict=True)]
        state = _mix(matrix, state)
    # Partial rounds: S-box on state[0] only, then a sparse matrix (first row w, first
    # column v, identity elsewhere) instead of the dense MDS matrix.  state[1:] is only
    # ever added to, so it is reduced once, after the last partial round.
    x, rest = state[0], state[1:]
    for c, w, v in k.partial:
        x = _pow5(x) + c
        new0 = w[0] * x + sum(a * b for a, b in zip(w[1:], rest, strict=True))
        rest = [s + x * vi for s, vi in zip(rest, v, strict=True)]
        x = new0 % P
    state = [x, *(s % P for s in rest)]
    # Second half: full rounds with constants, then the last one without.
    for consts in k.last_full:
        state = [(_pow5(s) + c) % P for s, c in zip(state, consts, strict=True)]
        state = _mix(k.mds_rows, state)
    return _mix(k.mds_rows, [_pow5(s) for s in state])


def poseidon_python(inputs: Sequence[int]) -> int:
    """Poseidon of 1..6 canonical field elements, in pure Python (the reference)."""
    values = _check_inputs(inputs)
    return _permute_opt([0, *values], _PARAMS[len(values) + 1])[0]


# --------------------------------------------------------------------------------------
# Native backend: light-poseidon (Rust)
# --------------------------------------------------------------------------------------


LightHash = Callable[[list[bytes]], str]


def _light_hasher_factory() -> Callable[[int], LightHash] | None:
    """``n -> hash of n 32-byte big-endian inputs`` from light-poseidon, or None."""
    try:
        from light_poseidon_python import Hasher
    except ImportError:
        return None
    return lambda n: Hasher(n).hash_bytes_be


_LIGHT_FACTORY = _light_hasher_factory()
# One light-poseidon Hasher per thread and arity: reusing it is ~25 % faster than the
# one-shot function, and a Rust object is not shared between threads that way.
_light_local = threading.local()


def _light_hash(n: int) -> LightHash:
    cache: dict[int, LightHash] | None = getattr(_light_local, "hashers", None)
    if cache is None:
        cache = _light_local.hashers = {}
    fn = cache.get(n)
    if fn is None:
        assert _LIGHT_FACTORY is not None
        fn = cache[n] = _LIGHT_FACTORY(n)
    return fn


def light_available() -> bool:
    """Whether the ``light-poseidon`` package imports (not whether it is trusted yet)."""
    return _LIGHT_FACTORY is not None


def poseidon_light(inputs: Sequence[int]) -> int:
    """Poseidon of 1..6 canonical field elements, by the native ``light-poseidon`` package.

    Its integer entry point takes 64-bit ints only, so values go in as 32-byte big-endian
    strings (it refuses values >= r itself too; zkclear checks first for a clear error).
    """
    if _LIGHT_FACTORY is None:
        raise RuntimeError("light-poseidon is not installed (pip install 'zkclear[fast]')")
    values = _check_inputs(inputs)
    return int(_light_hash(len(values))([x.to_bytes(32, "big") for x in values]), 16)


# --------------------------------------------------------------------------------------
# Backend selection
# --------------------------------------------------------------------------------------


def _self_check_vector(n: int) -> list[int]:
    """A fixed input of each arity mixing large and small elements."""
    return [(P - 1 - 3**i) if i % 2 == 0 else 7**i for i in range(n)]


def light_agrees() -> bool:
    """Whether light-poseidon equals the pure-Python reference on one vector per arity."""
    if _LIGHT_FACTORY is None:
        return False
    vectors = [_self_check_vector(n) for n in range(1, MAX_INPUTS + 1)]
    return all(poseidon_light(v) == poseidon_python(v) for v in vectors)


def select_backend() -> str:
    """Choose a backend afresh from ``$ZKCLEAR_POSEIDON`` and what is installed."""
    wanted = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if wanted == PYTHON:
        return PYTHON
    if wanted not in ("auto", LIGHT):
        raise ValueError(f"{ENV_VAR}={wanted!r}: use {PYTHON!r}, {LIGHT!r} or 'auto'")
    if _LIGHT_FACTORY is None:
        if wanted == LIGHT:
            raise RuntimeError(f"{ENV_VAR}={LIGHT} but light-poseidon is not installed")
        return PYTHON
    if not light_agrees():
        msg = "light-poseidon disagrees with the pure-Python Poseidon reference"
        if wanted == LIGHT:
            raise RuntimeError(msg)
        warnings.warn(msg + "; using the pure-Python one", RuntimeWarning, stacklevel=3)
        return PYTHON
    return LIGHT


_IMPLEMENTATIONS: dict[str, Hash] = {PYTHON: poseidon_python, LIGHT: poseidon_light}
_selected: str | None = None


def backend() -> str:
    """The backend :func:`poseidon` uses: ``"light-poseidon"`` or ``"python"``.

    Chosen by :func:`select_backend` at first use and kept for the life of the process.
    """
    global _selected
    if _selected is None:
        _selected = select_backend()
    return _selected


def poseidon(inputs: Sequence[int]) -> int:
    """Poseidon of 1..6 canonical field elements, equal to circomlib's ``Poseidon(n)``.

    Raises :class:`zkclear.field.FieldError` for an input that is not an int in [0, r)
    and :class:`ValueError` for fewer than 1 or more than 6 inputs.
    """
    return _IMPLEMENTATIONS[backend()](inputs)


def poseidon_chain(values: Sequence[int], hash_fn: Hash | None = None) -> int:
    """Poseidon of any number (>= 1) of field elements, by chaining 6-input Poseidons.

    Defined as: up to 6 values hash directly, ``poseidon(values)``.  Longer input hashes
    its first 6 values, then absorbs the rest in chunks of up to 5, each hashed together
    with the running value::

        acc = poseidon(values[0:6])
        for chunk in values[6:11], values[11:16], ...:   # the last chunk may be shorter
            acc = poseidon([acc, *chunk])

    The length is not hashed in separately: callers hashing variable-length data must fix
    the length by context (circuits do: ``PoseidonChain(n)`` has a fixed ``n``).
    ``hash_fn`` chooses the implementation (default :func:`poseidon`).
    """
    h = hash_fn or poseidon
    items = list(values)
    if not items:
        raise ValueError("poseidon_chain takes at least 1 value, got 0")
    for i, x in enumerate(items):
        canonical(x, f"poseidon_chain input {i}")
    acc = h(items[:MAX_INPUTS])
    for start in range(MAX_INPUTS, len(items), CHAIN_CHUNK):
        acc = h([acc, *items[start : start + CHAIN_CHUNK]])
    return acc
