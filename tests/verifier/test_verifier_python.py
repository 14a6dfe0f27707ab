"""The Python Groth16 verifier against snarkjs, on the multiplier fixture (public = [c, s, offset]).

Every tampered proof is also given to snarkjs itself (through the worker, bypassing
``prover.prove.verify``'s own input checks) so the two verifiers are seen to agree; the
one documented difference is that snarkjs accepts non-canonical coordinates (v + q).
Each Python verification costs ~0.5-1 s, so pairings are run sparingly.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from py_ecc.optimized_bn128 import (
    FQ,
    FQ2,
    FQ12,
    G1,
    G2,
    add,
    b2,
    final_exponentiate,
    is_inf,
    multiply,
    neg,
    normalize,
    pairing,
)

from zkclear.errors import ArtefactError, ProofError
from zkclear.field import P as R
from zkclear.prover import _node
from zkclear.prover.prove import verify as snarkjs_verify
from zkclear.verifier import Proof, VerifyingKey, check, parse_public, verify
from zkclear.verifier.fixture import Groth16Fixture
from zkclear.verifier.groth16 import Q, _conjugate, _g1, _g2, final_exponentiation

Json = dict[str, Any]


# --------------------------------------------------------------------------------- helpers


def snarkjs_accepts(vkey: Json, public: list[str], proof: Json) -> bool:
    """snarkjs's own verdict (an exception inside snarkjs counts as a rejection)."""
    try:
        return bool(_node.snarkjs().call("groth16.verify", vkey, public, proof,
                                         step="verify", subject="cross-check"))
    except _node.WorkerCallError:
        return False


def g1_json(pt: Any) -> list[str]:
    x, y = normalize(pt)
    return [str(x.n), str(y.n), "1"]


def g2_json(pt: Any) -> list[list[str]]:
    x, y = normalize(pt)
    return [[str(c) for c in x.coeffs], [str(c) for c in y.coeffs], ["1", "0"]]


def g1_point(j: list[str]) -> Any:
    return FQ(int(j[0])), FQ(int(j[1])), FQ.one()


def g2_point(j: list[list[str]]) -> Any:
    return FQ2([int(c) for c in j[0]]), FQ2([int(c) for c in j[1]]), FQ2.one()


def fp2_sqrt(a: Any) -> Any | None:
    """A square root in F_q2 (q = 3 mod 4), or None: Algorithm 9 of Adj and
    Rodriguez-Henriquez, "Square root computation over even extension fields" (2012)."""
    a1 = a ** ((Q - 3) // 4)
    alpha = a1 * a1 * a
    if alpha ** Q * alpha == FQ2([-1, 0]):
        return None
    x0 = a1 * a
    if alpha == FQ2([-1, 0]):
        return FQ2([0, 1]) * x0
    return (FQ2.one() + alpha) ** ((Q - 1) // 2) * x0


def twist_point_outside_g2() -> list[list[str]]:
    """A point on y^2 = x^3 + 3/(9+i) that r does not kill: the twist's cofactor is
    2q - r, so almost any point found by trying x values will do."""
    for k in range(1, 100):
        x = FQ2([k, 1])
        y = fp2_sqrt(x ** 3 + b2)
        if y is None:
            continue
        assert y * y == x ** 3 + b2
        pt = (x, y, FQ2.one())
        if not is_inf(multiply(pt, R)):
            return g2_json(pt)
    raise AssertionError("no twist point outside G2 found")


@pytest.fixture(scope="module")
def fx(groth16_multiplier: Groth16Fixture) -> Groth16Fixture:
    return groth16_multiplier


@pytest.fixture(scope="module")
def vk(fx: Groth16Fixture) -> VerifyingKey:
    return VerifyingKey.from_json(fx.vkey)


def tampered(fx: Groth16Fixture, how: str) -> tuple[Json, list[str]]:
    """A copy of the fixture's (proof, public) changed as ``how`` says."""
    proof, public = copy.deepcopy(fx.proof), list(fx.public)
    if how == "A + G1":
        proof["pi_a"] = g1_json(add(g1_point(proof["pi_a"]), G1))
    elif how == "B + G2":
        proof["pi_b"] = g2_json(add(g2_point(proof["pi_b"]), G2))
    elif how == "C + G1":
        proof["pi_c"] = g1_json(add(g1_point(proof["pi_c"]), G1))
    elif how == "A = -A":
        proof["pi_a"] = g1_json(neg(g1_point(proof["pi_a"])))
    elif how == "public[0] + 1":
        public[0] = str(int(public[0]) + 1)
    else:
        raise ValueError(how)
    return proof, public


# ------------------------------------------------------------------------------ valid proof


def test_valid_proof_verifies_and_agrees_with_snarkjs(
        fx: Groth16Fixture, vk: VerifyingKey, tmp_path: Path) -> None:
    assert fx.public == ["33", "19", "5"]
    # Read from files, the way a user would (written here: other tests may rebuild the
    # fixture's own directory concurrently).
    (tmp_path / "vkey.json").write_text(json.dumps(fx.vkey))
    (tmp_path / "proof.json").write_text(json.dumps(fx.proof))
    vk_file = VerifyingKey.from_json(tmp_path / "vkey.json")
    proof = Proof.from_json(str(tmp_path / "proof.json"))
    assert vk_file == vk and vk.n_public == 3
    assert verify(vk_file, proof, fx.public) is True
    assert verify(vk, proof, [33, 19, 5]) is True  # ints as well as decimal strings
    check(vk, proof, fx.public)
    assert snarkjs_verify(fx.vkey, fx.public, fx.proof) is True


def test_round_trip_through_snarkjs_json(fx: Groth16Fixture, vk: VerifyingKey) -> None:
    proof = Proof.from_json(fx.proof)
    assert proof.to_json() == fx.proof
    expected = {k: v for k, v in fx.vkey.items() if k != "vk_alphabeta_12"}
    assert vk.to_json() == expected
    assert VerifyingKey.from_json(vk.to_json()) == vk
    assert Proof.from_json(proof.to_json()) == proof
    # What we write, snarkjs reads.
    assert snarkjs_accepts(vk.to_json(), fx.public, proof.to_json())


def test_direct_construction_validates_and_normalises() -> None:
    g1 = [1, 2]  # the G1 generator, given as a list
    g2 = [list(c.coeffs) for c in normalize(G2)]
    proof = Proof(g1, g2, (1, 2))  # type: ignore[arg-type]
    assert proof.a == (1, 2) and isinstance(proof.b[0], tuple)
    with pytest.raises(ProofError, match=r"pi_c is not on the curve"):
        Proof((1, 2), proof.b, (1, 3))


# ------------------------------------------------------ 3-pairing form, cached e(alpha, beta)


def four_pairing_product(vk: VerifyingKey, proof: Proof, public: list[int]) -> FQ12:
    """e(-A, B) · e(alpha, beta) · e(vk_x, gamma) · e(C, delta): the textbook form, with
    e(alpha, beta) computed afresh (4 Miller loops and one final exponentiation)."""
    vk_x = _g1(vk.ic[0])
    for x, base in zip(public, vk.ic[1:], strict=True):
        vk_x = add(vk_x, multiply(_g1(base), x))
    f = (pairing(_g2(proof.b), neg(_g1(proof.a)), final_exponentiate=False)
         * pairing(_g2(vk.beta2), _g1(vk.alpha1), final_exponentiate=False)
         * pairing(_g2(vk.gamma2), vk_x, final_exponentiate=False)
         * pairing(_g2(vk.delta2), _g1(proof.c), final_exponentiate=False))
    return final_exponentiate(f)


def test_cached_alpha_beta_equals_a_fresh_pairing(fx: Groth16Fixture) -> None:
    """The per-key precomputation is e(alpha, beta)^-1, computed once and then reused."""
    vk = VerifyingKey.from_json(fx.vkey)  # a key of its own: nothing cached yet
    assert "_alpha_beta_inverse" not in vk.__dict__
    cached = vk._alpha_beta_inverse
    assert vk.__dict__["_alpha_beta_inverse"] is cached and vk._alpha_beta_inverse is cached
    fresh = pairing(_g2(vk.beta2), _g1(vk.alpha1))  # e(alpha, beta), full pairing
    assert fresh != FQ12.one() and cached * fresh == FQ12.one()
    # verify() compares against it; the cache belongs to the instance, not the class.
    assert verify(vk, Proof.from_json(fx.proof), fx.public) is True
    other = VerifyingKey.from_json(fx.vkey)
    assert "_alpha_beta_inverse" not in other.__dict__


def test_split_final_exponentiation_equals_py_ecc() -> None:
    """The easy/hard split equals py_ecc's single power of (q^12 - 1) / r."""
    w = FQ12([0, 1] + [0] * 10)
    assert w ** (Q ** 6) == -w  # the q^6 Frobenius negates w: _conjugate's premise
    rng = random.Random(8)
    f = FQ12([rng.randrange(Q) for _ in range(12)])
    assert _conjugate(f) == f ** (Q ** 6)
    miller = pairing(G2, G1, final_exponentiate=False)
    for x in (f, miller):
        assert final_exponentiation(x) == final_exponentiate(x)
    assert final_exponentiation(FQ12.one()) == FQ12.one()
    assert final_exponentiation(FQ12.zero()) == FQ12.zero()


@pytest.mark.parametrize("how", ["valid", "A = -A", "public[0] + 1"])
def test_three_pairing_form_agrees_with_four_pairings(
        fx: Groth16Fixture, vk: VerifyingKey, how: str) -> None:
    """The 3-Miller-loop check against the cached value gives the textbook verdict: the
    valid proof passes, a wrong proof (A negated, still on the curve) or a wrong
    statement fails, both ways."""
    proof_json, public = (fx.proof, list(fx.public)) if how == "valid" else tampered(fx, how)
    proof = Proof.from_json(proof_json)
    textbook = four_pairing_product(vk, proof, [int(x) for x in public]) == FQ12.one()
    assert textbook is (how == "valid")
    assert verify(vk, proof, public) is textbook


# --------------------------------------------------------------------- tampered: pairings


@pytest.mark.parametrize("how", ["A + G1", "B + G2", "C + G1", "public[0] + 1"])
def test_tampered_proof_rejected_by_both(fx: Groth16Fixture, vk: VerifyingKey, how: str) -> None:
    proof_json, public = tampered(fx, how)
    proof = Proof.from_json(proof_json)  # still well-formed: only the pairing can tell
    assert verify(vk, proof, public) is False
    with pytest.raises(ProofError, match="proof rejected"):
        check(vk, proof, public)
    assert not snarkjs_accepts(fx.vkey, public, proof_json)


# -------------------------------------------------------------- tampered: caught by parsing


def test_swapped_b_coordinates(fx: Groth16Fixture) -> None:
    """[c1, c0] (EVM order) instead of [c0, c1]: off the twist, with a hint."""
    proof = copy.deepcopy(fx.proof)
    proof["pi_b"] = [c[::-1] for c in proof["pi_b"][:2]] + [proof["pi_b"][2]]
    with pytest.raises(ProofError, match=r"pi_b is not on the twist curve.*\[c1, c0\]"):
        Proof.from_json(proof)
    assert not snarkjs_accepts(fx.vkey, fx.public, proof)


def test_off_curve_a(fx: Groth16Fixture) -> None:
    proof = copy.deepcopy(fx.proof)
    proof["pi_a"][1] = str((int(proof["pi_a"][1]) + 1) % Q)
    with pytest.raises(ProofError, match=r"pi_a is not on the curve y\^2 = x\^3 \+ 3"):
        Proof.from_json(proof)
    assert not snarkjs_accepts(fx.vkey, fx.public, proof)


def test_b_on_twist_outside_subgroup(fx: Groth16Fixture) -> None:
    proof = copy.deepcopy(fx.proof)
    proof["pi_b"] = twist_point_outside_g2()
    with pytest.raises(ProofError, match=r"pi_b is on the twist curve but not in the order-r"):
        Proof.from_json(proof)
    # snarkjs checks only the curve equation for B; its pairing then fails.
    assert not snarkjs_accepts(fx.vkey, fx.public, proof)


def test_point_at_infinity_rejected(fx: Groth16Fixture) -> None:
    proof = copy.deepcopy(fx.proof)
    proof["pi_a"] = ["0", "1", "0"]  # snarkjs's encoding of infinity
    with pytest.raises(ProofError, match=r"pi_a is the point at infinity"):
        Proof.from_json(proof)
    assert not snarkjs_accepts(fx.vkey, fx.public, proof)
    proof = copy.deepcopy(fx.proof)
    proof["pi_b"][2] = ["0", "0"]
    with pytest.raises(ProofError, match=r"pi_b is the point at infinity"):
        Proof.from_json(proof)


def test_non_canonical_coordinate_rejected_though_snarkjs_accepts(fx: Groth16Fixture) -> None:
    """The documented difference: snarkjs reduces x + q silently (the same proof then has
    many encodings); we refuse it, so a proof has exactly one JSON form."""
    for path in (("pi_a", 0), ("pi_b", 0, 1)):
        proof = copy.deepcopy(fx.proof)
        parent = proof[path[0]][path[1]] if len(path) == 3 else proof[path[0]]
        parent[path[-1]] = str(int(parent[path[-1]]) + Q)
        with pytest.raises(ProofError, match=r"is not a canonical coordinate"):
            Proof.from_json(proof)
        assert snarkjs_accepts(fx.vkey, fx.public, proof)


def test_non_canonical_public_input(fx: Groth16Fixture, vk: VerifyingKey) -> None:
    proof = Proof.from_json(fx.proof)
    public = [str(int(fx.public[0]) + R), *fx.public[1:]]
    with pytest.raises(ProofError, match=r"public\[0\] = \d+ is not a canonical scalar"):
        verify(vk, proof, public)
    assert not snarkjs_accepts(fx.vkey, public, fx.proof)
    assert snarkjs_verify(fx.vkey, public, fx.proof) is False


@pytest.mark.parametrize("public", [["33", "19"], ["33", "19", "5", "0"], []])
def test_wrong_public_count(fx: Groth16Fixture, vk: VerifyingKey, public: list[str]) -> None:
    with pytest.raises(ProofError, match=rf"{len(public)} public signals given.*nPublic = 3"):
        verify(vk, Proof.from_json(fx.proof), public)
    # snarkjs returns false for too few and throws for too many: rejected either way.
    assert not snarkjs_accepts(fx.vkey, public, fx.proof)


def test_verify_wants_parsed_objects(fx: Groth16Fixture, vk: VerifyingKey) -> None:
    with pytest.raises(TypeError, match=r"Proof\.from_json"):
        verify(vk, fx.proof, fx.public)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="VerifyingKey"):
        verify(fx.vkey, Proof.from_json(fx.proof), fx.public)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- malformed files


def test_malformed_json_files(tmp_path: Path) -> None:
    bad = tmp_path / "proof.json"
    bad.write_text('{"pi_a": [1, 2,')
    with pytest.raises(ProofError, match=r"proof\.json: the proof is not valid JSON"):
        Proof.from_json(bad)
    with pytest.raises(ArtefactError, match=r"proof\.json: the verification key is not valid"):
        VerifyingKey.from_json(bad)
    with pytest.raises(ProofError, match=r"missing\.json: cannot read the proof"):
        Proof.from_json(tmp_path / "missing.json")
    bad.write_text("[1, 2, 3]")
    with pytest.raises(ProofError, match=r"must be a JSON object, got list"):
        Proof.from_json(bad)


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p.update(protocol="plonk"), r"protocol is 'plonk', expected 'groth16'"),
    (lambda p: p.pop("protocol"), r"missing field 'protocol'"),
    (lambda p: p.update(curve="bls12381"), r"curve is 'bls12381', expected 'bn128'"),
    (lambda p: p.pop("pi_c"), r"missing field 'pi_c'"),
    (lambda p: p.update(pi_a=p["pi_a"][:2]), r"pi_a: expected a G1 point \[x, y, z\]"),
    (lambda p: p["pi_a"].__setitem__(2, "2"), r"pi_a\[2\]: z must be 1"),
    (lambda p: p["pi_a"].__setitem__(0, "0x1"), r"pi_a\[0\]: expected a non-negative decimal"),
    (lambda p: p["pi_a"].__setitem__(0, "-1"), r"pi_a\[0\]: expected a non-negative decimal"),
    (lambda p: p["pi_a"].__setitem__(0, 1.5), r"pi_a\[0\]: expected a non-negative decimal"),
    (lambda p: p["pi_b"].__setitem__(0, ["1"]), r"pi_b\[0\]: expected an Fp2 element"),
])
def test_malformed_proof_fields(fx: Groth16Fixture, change: Any, message: str) -> None:
    proof = copy.deepcopy(fx.proof)
    change(proof)
    with pytest.raises(ProofError, match=r"^proof: " + message):
        Proof.from_json(proof)


@pytest.mark.parametrize(("change", "message"), [
    (lambda v: v.update(protocol="plonk"), r"protocol is 'plonk'"),
    (lambda v: v.pop("curve"), r"missing field 'curve'"),
    (lambda v: v.update(nPublic=4), r"IC must list nPublic \+ 1 = 5 G1 points, got 4"),
    (lambda v: v.update(nPublic="3"), r"nPublic must be a non-negative integer"),
    (lambda v: v["IC"].__setitem__(1, ["0", "1", "0"]), r"IC\[1\] is the point at infinity"),
    (lambda v: v["vk_alpha_1"].__setitem__(0, str(int(v["vk_alpha_1"][0]) + Q)),
     r"vk_alpha_1\[0\] = \d+ is not a canonical coordinate"),
    (lambda v: v.update(vk_delta_2=v["vk_gamma_2"]), r"vk_delta_2 equals ±vk_gamma_2"),
    (lambda v: v.update(vk_beta_2=twist_point_outside_g2()),
     r"vk_beta_2 is on the twist curve but not in the order-r subgroup"),
])
def test_malformed_verification_key(fx: Groth16Fixture, change: Any, message: str) -> None:
    vkey = copy.deepcopy(fx.vkey)
    change(vkey)
    with pytest.raises(ArtefactError, match=r"^verification key: " + message):
        VerifyingKey.from_json(vkey)


def test_uncontributed_key_is_refused_because_proofs_can_be_forged(
        fx: Groth16Fixture, tmp_path: Path) -> None:
    """Why delta = gamma is refused: with snarkjs's key before its phase-2 contribution,
    a proof of c = 33 becomes a proof of any c by moving vk_x into C, and snarkjs accepts."""
    w = _node.snarkjs()
    s = dict(step="fixture", subject="uncontributed key")
    zkey0 = tmp_path / "m0.zkey"
    zkey0.write_bytes((fx.dir / "m0.zkey").read_bytes())
    vkey0 = w.call("zkey.exportVerificationKey", str(zkey0), **s)
    w.call("wtns.calculate", {"a": "3", "b": "11", "offset": "5"}, str(fx.wasm),
           str(tmp_path / "w.wtns"), **s)
    res = w.call("groth16.prove", str(zkey0), str(tmp_path / "w.wtns"), **s)
    proof, public = res["proof"], res["publicSignals"]
    assert vkey0["vk_delta_2"] == vkey0["vk_gamma_2"]

    def vk_x(pub: list[int]) -> Any:
        acc = g1_point(vkey0["IC"][0])
        for x, base in zip(pub, vkey0["IC"][1:], strict=True):
            acc = add(acc, multiply(g1_point(base), x))
        return acc

    forged_public = [7, 19, 5]  # claims 3 * 11 = 7
    forged = copy.deepcopy(proof)
    shift = add(vk_x([int(x) for x in public]), neg(vk_x(forged_public)))
    forged["pi_c"] = g1_json(add(g1_point(proof["pi_c"]), shift))
    assert snarkjs_accepts(vkey0, [str(x) for x in forged_public], forged)
    with pytest.raises(ArtefactError, match=r"vk_delta_2 equals ±vk_gamma_2.*forged"):
        VerifyingKey.from_json(vkey0)


# ---------------------------------------------------------------- random invalid publics


def random_invalid_public(rng: random.Random) -> tuple[list[Any], str]:
    """Three public signals, one of them not a canonical scalar, and the expected message."""
    public: list[Any] = [str(rng.randrange(R)) for _ in range(3)]
    i = rng.randrange(3)
    kind = rng.choice(["big", "negative", "float", "bool", "none", "hex", "padded", "huge"])
    public[i] = {
        "big": str(rng.randrange(R, 2 ** 256)),
        "negative": -rng.randrange(1, R),
        "float": rng.random() * 100,
        "bool": rng.choice([True, False]),
        "none": None,
        "hex": hex(rng.randrange(R)),
        "padded": f" {rng.randrange(R)}",
        "huge": "9" * rng.randrange(81, 5000),
    }[kind]
    canonical_form = kind in ("big", "negative")
    return public, (rf"public\[{i}\] = -?\d+ is not a canonical scalar" if canonical_form
                    else rf"public\[{i}\]: expected an integer or a decimal string")


def test_random_invalid_public_inputs_rejected(fx: Groth16Fixture, vk: VerifyingKey) -> None:
    """A property without hypothesis: a seeded stream of malformed public signals is
    refused before any pairing, and random canonical but wrong signals fail the pairing."""
    rng = random.Random(20261101)
    proof = Proof.from_json(fx.proof)
    for _ in range(200):
        public, message = random_invalid_public(rng)
        with pytest.raises(ProofError, match=message):
            parse_public(public, vk.n_public)
        with pytest.raises(ProofError, match=message):
            verify(vk, proof, public)  # refused before any pairing: cheap
    for _ in range(2):  # pairings are slow: two random wrong statements
        public = [str(rng.randrange(R)) for _ in range(3)]
        assert verify(vk, proof, public) is False
        assert not snarkjs_accepts(fx.vkey, public, fx.proof)
