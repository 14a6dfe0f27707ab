"""zkclear.poseidon against circomlibjs: known answers, both backends, errors, selection."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkclear import _poseidon_constants as K
from zkclear import paths
from zkclear import poseidon as ps
from zkclear.field import FieldError, P

VECTORS_FILE = Path(__file__).parent.parent / "vectors" / "poseidon_circomlibjs.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_FILE.read_text())
CIRCOMLIBJS = paths.NODE_MODULES / "circomlibjs"


def _case(c: dict[str, Any]) -> Any:
    return pytest.param([int(x) for x in c["inputs"]], int(c["output"]), id=c["name"])


POSEIDON_CASES = [_case(c) for c in VECTORS["poseidon"]]
CHAIN_CASES = [_case(c) for c in VECTORS["poseidon_chain"]]

needs_light = pytest.mark.skipif(not ps.light_available(), reason="light-poseidon not installed")


@pytest.fixture(params=[ps.PYTHON, pytest.param(ps.LIGHT, marks=needs_light)])
def hash_fn(request: pytest.FixtureRequest) -> ps.Hash:
    """Every test taking ``hash_fn`` runs on both implementations (as py_ecc's bn128 pair)."""
    return {ps.PYTHON: ps.poseidon_python, ps.LIGHT: ps.poseidon_light}[request.param]


# --- known answers ---------------------------------------------------------------------


def test_vector_file_provenance() -> None:
    prov = VECTORS["provenance"]
    assert prov["generator"] == "scripts/gen_poseidon_vectors.mjs"
    assert prov["circomlibjs"] == K.CIRCOMLIBJS_VERSION
    arities = {len(c["inputs"]) for c in VECTORS["poseidon"]}
    assert arities == set(range(1, ps.MAX_INPUTS + 1))
    assert {len(c["inputs"]) for c in VECTORS["poseidon_chain"]} >= {7, 11, 12, 20}


@pytest.mark.parametrize(("inputs", "expected"), POSEIDON_CASES)
def test_circomlibjs_vectors(hash_fn: ps.Hash, inputs: list[int], expected: int) -> None:
    assert hash_fn(inputs) == expected


@pytest.mark.parametrize(("inputs", "expected"), POSEIDON_CASES[::7])
def test_default_backend_matches_vectors(inputs: list[int], expected: int) -> None:
    assert ps.poseidon(inputs) == expected


def test_published_answer(hash_fn: ps.Hash) -> None:
    # Poseidon([1, 2]) as circomlibjs's and light-poseidon's documentation print it.
    assert hash_fn([1, 2]) == 0x115CC0F5E7D690413DF64C6B9662E9CF2A3617F2743245519E19607A4417189A


@pytest.mark.parametrize(("values", "expected"), CHAIN_CASES)
def test_chain_vectors(hash_fn: ps.Hash, values: list[int], expected: int) -> None:
    assert ps.poseidon_chain(values, hash_fn) == expected


def test_chain_definition(hash_fn: ps.Hash) -> None:
    v = list(range(100, 120))
    assert ps.poseidon_chain(v[:1], hash_fn) == hash_fn(v[:1])
    assert ps.poseidon_chain(v[:6], hash_fn) == hash_fn(v[:6])
    acc = hash_fn(v[:6])
    assert ps.poseidon_chain(v[:7], hash_fn) == hash_fn([acc, v[6]])
    acc = hash_fn([acc, *v[6:11]])
    assert ps.poseidon_chain(v[:11], hash_fn) == acc
    assert ps.poseidon_chain(v[:12], hash_fn) == hash_fn([acc, v[11]])
    assert ps.poseidon_chain(v[:12], hash_fn) != ps.poseidon_chain(v[:11], hash_fn)


# --- the generated constants and a plain (textbook) reference -----------------------------

needs_circomlibjs = pytest.mark.skipif(
    not CIRCOMLIBJS.is_dir(), reason="node_modules/circomlibjs not installed"
)


@needs_circomlibjs
def test_constants_module_is_current() -> None:
    """_poseidon_constants.py equals circomlibjs's optimised constants (regenerate if not)."""
    installed = json.loads((CIRCOMLIBJS / "package.json").read_text())["version"]
    assert installed == K.CIRCOMLIBJS_VERSION
    opt = json.loads((CIRCOMLIBJS / "src" / "poseidon_constants_opt.json").read_text())
    for t in range(2, ps.MAX_INPUTS + 2):
        assert K.C[t] == tuple(int(x, 16) for x in opt["C"][t - 2])
        assert K.S[t] == tuple(int(x, 16) for x in opt["S"][t - 2])
        assert K.M[t] == tuple(tuple(int(x, 16) for x in row) for row in opt["M"][t - 2])
        assert K.P[t] == tuple(tuple(int(x, 16) for x in row) for row in opt["P"][t - 2])


def _poseidon_plain(inputs: Sequence[int], c: list[int], m: list[list[int]]) -> int:
    """The permutation as the paper states it: each round adds t constants, applies x^5
    to every element (full round) or to the first (partial round), and mixes by M."""
    t = len(inputs) + 1
    n_full, n_partial = K.N_ROUNDS_F, K.N_ROUNDS_P[t]
    state = [0, *inputs]
    for r in range(n_full + n_partial):
        state = [(s + c[r * t + i]) % P for i, s in enumerate(state)]
        if n_full // 2 <= r < n_full // 2 + n_partial:
            state[0] = pow(state[0], 5, P)
        else:
            state = [pow(s, 5, P) for s in state]
        state = [sum(m[i][j] * state[j] for j in range(t)) % P for i in range(t)]
    return state[0]


@needs_circomlibjs
def test_optimised_equals_plain_reference() -> None:
    """The sparse-round algorithm equals the textbook one on circomlibjs's plain constants."""
    plain = json.loads((CIRCOMLIBJS / "src" / "poseidon_constants.json").read_text())
    for inputs, expected in (case.values for case in POSEIDON_CASES[::4]):
        t = len(inputs) + 1
        c = [int(x, 16) for x in plain["C"][t - 2]]
        m = [[int(x, 16) for x in row] for row in plain["M"][t - 2]]
        assert _poseidon_plain(inputs, c, m) == ps.poseidon_python(inputs) == expected


# --- input errors ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [P, P + 1, -1, 2**256, True, False, "1", 1.0, None], ids=repr)
def test_non_canonical_input_rejected(hash_fn: ps.Hash, bad: object) -> None:
    with pytest.raises(FieldError, match="poseidon input 1"):
        hash_fn([5, bad])  # type: ignore[list-item]


@pytest.mark.parametrize("n", [0, 7, 16])
def test_bad_arity_rejected(hash_fn: ps.Hash, n: int) -> None:
    with pytest.raises(ValueError, match=f"takes 1 to 6 inputs.*got {n}; use poseidon_chain"):
        hash_fn([1] * n)


def test_largest_element_accepted(hash_fn: ps.Hash) -> None:
    assert 0 <= hash_fn([P - 1] * 6) < P


def test_chain_errors() -> None:
    with pytest.raises(ValueError, match="at least 1 value, got 0"):
        ps.poseidon_chain([])
    with pytest.raises(FieldError, match="poseidon_chain input 8"):
        ps.poseidon_chain([0] * 8 + [P])
    with pytest.raises(FieldError, match="poseidon_chain input 2"):
        ps.poseidon_chain([0, 1, True])


# --- the two backends agree --------------------------------------------------------------

field_elements = st.integers(min_value=0, max_value=P - 1)
small_or_edge = st.sampled_from([0, 1, 2, 2**64 - 1, 2**64, P - 2, P - 1])


@needs_light
@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(field_elements, small_or_edge), min_size=1, max_size=6))
def test_light_equals_python(inputs: list[int]) -> None:
    assert ps.poseidon_light(inputs) == ps.poseidon_python(inputs)


@needs_light
def test_light_in_threads() -> None:
    """Each thread gets its own light-poseidon Hasher objects; results do not mix."""
    cases = [case.values for case in POSEIDON_CASES] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda c: ps.poseidon_light(c[0]), cases))
    assert got == [expected for _, expected in cases]


@needs_light
@settings(max_examples=25, deadline=None)
@given(st.lists(field_elements, min_size=1, max_size=25))
def test_chain_light_equals_python(values: list[int]) -> None:
    assert ps.poseidon_chain(values, ps.poseidon_light) == ps.poseidon_chain(
        values, ps.poseidon_python
    )


# --- backend selection -------------------------------------------------------------------


def test_backend_is_a_known_one_and_stable() -> None:
    assert ps.backend() in (ps.PYTHON, ps.LIGHT)
    assert ps.backend() == ps.select_backend()


def test_env_forces_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ps.ENV_VAR, "python")
    assert ps.select_backend() == ps.PYTHON


def test_env_rejects_unknown_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ps.ENV_VAR, "gpu")
    with pytest.raises(ValueError, match="ZKCLEAR_POSEIDON='gpu'"):
        ps.select_backend()


@needs_light
@pytest.mark.parametrize("env", ["", "auto", "light-poseidon"])
def test_light_chosen_when_available(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv(ps.ENV_VAR, env)
    assert ps.select_backend() == ps.LIGHT


def test_missing_light_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ps, "_LIGHT_FACTORY", None)
    monkeypatch.delenv(ps.ENV_VAR, raising=False)
    assert ps.select_backend() == ps.PYTHON
    monkeypatch.setenv(ps.ENV_VAR, "light-poseidon")
    with pytest.raises(RuntimeError, match="not installed"):
        ps.select_backend()
    with pytest.raises(RuntimeError, match="not installed"):
        ps.poseidon_light([1])


@needs_light
def test_disagreeing_light_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ps, "_light_hash", lambda n: lambda xs: hex(n))
    monkeypatch.delenv(ps.ENV_VAR, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ps.select_backend() == ps.PYTHON
    assert any("disagrees" in str(w.message) for w in caught)
    monkeypatch.setenv(ps.ENV_VAR, "light-poseidon")
    with pytest.raises(RuntimeError, match="disagrees"):
        ps.select_backend()
