"""The development powers of tau (prover/js/devptau.mjs) and the ptau checks (prover/ptau.py).

* the file is what snarkjs itself makes: `powersoftau verify` accepts it, and snarkjs's
  own `prepare phase2` on the unprepared variant reproduces it byte for byte;
* its contents are checked independently in Python (py_ecc, galois) from the public
  secrets: every point, the Lagrange bases, and pairing relations that need no secret;
* it sets up, proves and verifies a real circuit, and snarkjs's size rule is encoded
  exactly (a circuit one constraint too big is refused by both snarkjs and us);
* malformed files are refused with an error naming the file and the defect.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import galois
import pytest
from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.optimized_bn128 import (
    FQ12,
    G1,
    G2,
    add,
    eq,
    final_exponentiate,
    multiply,
    neg,
    pairing,
)

from zkclear import paths
from zkclear.errors import ArtefactError
from zkclear.field import P as R
from zkclear.prover import ptau
from zkclear.prover._node import run_node, snarkjs
from zkclear.prover.binfile import r1cs_info, read_sections

CIRCUITS = paths.ROOT / "tests" / "circuits"
DEVPTAU = paths.JS_DIR / "devptau.mjs"
S = {"step": "test", "subject": "ptau"}


@pytest.fixture(scope="module")
def tmp() -> Iterator[Path]:
    # Inside the repository: circom2 (WASI) sees only files under its working directory.
    d = paths.build_dir() / "test-tmp" / "ptau"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def devptau(out: Path, power: int, *extra: str) -> Path:
    run_node(DEVPTAU, ["--power", str(power), "--out", str(out), *extra], **S)
    return out


def compile_chain(tmp: Path, n: int) -> Path:
    out = tmp / f"chain{n}"
    out.mkdir(exist_ok=True)
    run_node(paths.NODE_MODULES / "circom2" / "cli.js",
             [str(CIRCUITS / f"ptau_chain{n}.circom"), "--r1cs", "--wasm", "-o", str(out)], **S)
    r1cs = out / f"ptau_chain{n}.r1cs"
    info = r1cs_info(r1cs)
    assert (info.n_constraints, info.n_public) == (n, 1), "the chain circuit's shape changed"
    return r1cs


# --------------------------------------------------------------- agreement with snarkjs


def test_matches_snarkjs_prepare_phase2_and_verifies(tmp: Path) -> None:
    """snarkjs prepares our unprepared file into exactly our prepared file; verify passes.

    Small jobs (--chunk 3) exercise the chunk boundaries that big powers hit.
    """
    full = devptau(tmp / "d4.ptau", 4, "--chunk", "3")
    bare = devptau(tmp / "d4_bare.ptau", 4, "--no-phase2", "--chunk", "5")
    theirs = tmp / "d4_snarkjs.ptau"
    snarkjs().call("powersoftau.preparePhase2", str(bare), str(theirs), **S)
    assert full.read_bytes() == theirs.read_bytes()
    assert snarkjs().call("powersoftau.verify", str(full), **S) is True
    # deterministic: the cached dev file is the same bytes
    assert ptau.dev_ptau(4).read_bytes() == full.read_bytes()


# ------------------------------------------------------------- independent Python check

RINV_Q = pow(1 << 256, -1, ptau.Q)  # points are stored in Montgomery form, little-endian


def _fq(b: bytes) -> int:
    return int.from_bytes(b, "little") * RINV_Q % ptau.Q


def _points(path: Path, stype: int, g2: bool) -> list[tuple]:
    sec = read_sections(path, b"ptau")[stype][0]
    with path.open("rb") as f:
        f.seek(sec.offset)
        data = f.read(sec.size)
    if not g2:
        return [(FQ(_fq(data[i:i + 32])), FQ(_fq(data[i + 32:i + 64])), FQ.one())
                for i in range(0, len(data), 64)]
    out = []
    for i in range(0, len(data), 128):
        c = [_fq(data[i + 32 * k:i + 32 * k + 32]) for k in range(4)]
        out.append((FQ2(c[0:2]), FQ2(c[2:4]), FQ2.one()))
    return out


def _omega(p: int) -> int:
    """The 2^p-th root of unity snarkjs (ffjavascript) uses: 5^((r-1)/2^28), squared down."""
    w = pow(5, (R - 1) >> 28, R)
    return pow(w, 1 << (28 - p), R)


def _levels(points: list, top: int) -> list[list]:
    """Section 12-15 layout: the bases of domain 2^0, then 2^1, ... up to 2^top."""
    out, pos = [], 0
    for p in range(top + 1):
        out.append(points[pos:pos + (1 << p)])
        pos += 1 << p
    assert pos == len(points)
    return out


def _msm(points: list, scalars: list[int]) -> tuple:
    acc = None
    for pt, k in zip(points, scalars, strict=True):
        term = multiply(pt, k % R)
        acc = term if acc is None else add(acc, term)
    assert acc is not None
    return acc


def test_contents_from_the_public_secrets(tmp: Path) -> None:
    power, n = 4, 16
    f = ptau.dev_ptau(power)
    s = ptau.dev_secrets()
    tau, alpha, beta = s.tau, s.alpha, s.beta
    tau_g1, tau_g2 = _points(f, 2, False), _points(f, 3, True)
    alpha_g1, beta_g1 = _points(f, 4, False), _points(f, 5, False)
    (beta_g2,) = _points(f, 6, True)

    # every power, directly
    assert all(eq(p, multiply(G1, pow(tau, i, R))) for i, p in enumerate(tau_g1))
    assert len(tau_g1) == 2 * n - 1
    assert all(eq(p, multiply(G2, pow(tau, i, R))) for i, p in enumerate(tau_g2))
    assert all(eq(p, multiply(G1, alpha * pow(tau, i, R))) for i, p in enumerate(alpha_g1))
    assert all(eq(p, multiply(G1, beta * pow(tau, i, R))) for i, p in enumerate(beta_g1))
    assert eq(beta_g2, multiply(G2, beta))

    # pairing relations a verifier without the secrets can check (one final
    # exponentiation per product): consecutive powers, and beta in G1 vs G2
    def pairs_equal(a1: tuple, a2: tuple, b1: tuple, b2: tuple) -> bool:
        m = pairing(a2, a1, final_exponentiate=False) * pairing(b2, neg(b1),
                                                                final_exponentiate=False)
        return final_exponentiate(m) == FQ12.one()

    assert pairs_equal(tau_g1[2 * n - 2], G2, tau_g1[2 * n - 3], tau_g2[1])
    assert pairs_equal(beta_g1[0], G2, G1, beta_g2)

    # Lagrange bases: galois interpolates the basis polynomials on the domain of size 8;
    # they agree with the closed form L_i(tau) = w^i (tau^n - 1) / (n (tau - w^i)).
    gf = galois.GF(R, primitive_element=5, verify=False)
    m = 8
    w = _omega(3)
    domain = gf([pow(w, i, R) for i in range(m)])
    basis = [int(galois.lagrange_poly(domain, gf([int(i == j) for j in range(m)]))(gf(tau)))
             for i in range(m)]
    closed = [pow(w, i, R) * (pow(tau, m, R) - 1) * pow(m * (tau - pow(w, i, R)), -1, R) % R
              for i in range(m)]
    assert basis == closed
    assert sum(basis) % R == 1

    lag12 = _levels(_points(f, 12, False), power + 1)
    lag13 = _levels(_points(f, 13, True), power)
    lag14 = _levels(_points(f, 14, False), power)
    lag15 = _levels(_points(f, 15, False), power)
    assert all(eq(p, multiply(G1, k)) for p, k in zip(lag12[3], basis, strict=True))
    assert all(eq(p, multiply(G2, k)) for p, k in zip(lag13[3], basis, strict=True))
    assert all(eq(p, multiply(G1, alpha * k)) for p, k in zip(lag14[3], basis, strict=True))
    assert all(eq(p, multiply(G1, beta * k)) for p, k in zip(lag15[3], basis, strict=True))

    # every level of every section, from the closed form
    def lagrange(p: int) -> list[int]:
        size, wp = 1 << p, _omega(p)
        return [pow(wp, i, R) * (pow(tau, size, R) - 1) * pow(size * (tau - pow(wp, i, R)), -1, R)
                % R for i in range(size)]

    for p in range(power + 1):
        ls = lagrange(p)
        assert all(eq(a, multiply(G1, k)) for a, k in zip(lag12[p], ls, strict=True))
        assert all(eq(a, multiply(G1, alpha * k)) for a, k in zip(lag14[p], ls, strict=True))
        assert all(eq(a, multiply(G1, beta * k)) for a, k in zip(lag15[p], ls, strict=True))
    for p in (0, 1, power):  # G2 multiplications are slow in pure Python: a sample
        assert all(eq(a, multiply(G2, k)) for a, k in zip(lag13[p], lagrange(p), strict=True))
    # The extra level 2^(power+1) of section 12 is what snarkjs derives from the 2n-1
    # powers with a zero appended: the basis minus the missing tau^(2n-1) term.
    big, wb = 2 * n, _omega(power + 1)
    top = [(k - pow(wb, i, R) * pow(tau, big - 1, R) * pow(big, -1, R)) % R
           for i, k in enumerate(lagrange(power + 1))]
    assert all(eq(a, multiply(G1, k)) for a, k in zip(lag12[power + 1], top, strict=True))

    # without the secrets: sum_i w^(ij) [L_i] = [tau^j] (the inverse transform)
    for j in (0, 1, 5, m - 1):
        assert eq(_msm(lag12[3], [pow(w, i * j, R) for i in range(m)]), tau_g1[j])


# ------------------------------------------------------------------ end to end with snarkjs


def test_setup_prove_verify_with_dev_ptau(tmp: Path) -> None:
    r1cs = compile_chain(tmp, 200)
    info = r1cs_info(r1cs)
    power = ptau.required_power(info.n_constraints, info.n_public)
    assert power == 8
    f = ptau.dev_ptau(power)
    assert ptau.check_ptau_for_circuit(f, info.n_constraints, info.n_public).insecure_dev
    w = snarkjs()
    zkey = tmp / "chain200.zkey"
    w.call("zkey.new", str(r1cs), str(f), str(zkey), **S)
    vkey = w.call("zkey.exportVerificationKey", str(zkey), **S)
    wtns = tmp / "chain200.wtns"
    w.call("wtns.calculate", {"x": "3"}, str(r1cs.parent / "ptau_chain200_js" /
                                                "ptau_chain200.wasm"), str(wtns), **S)
    res = w.call("groth16.prove", str(zkey), str(wtns), **S)
    assert res["publicSignals"] == [str(pow(3, 201, R))]
    assert w.call("groth16.verify", vkey, res["publicSignals"], res["proof"], **S) is True
    bad = [str(pow(3, 201, R) + 1)]
    assert w.call("groth16.verify", vkey, bad, res["proof"], **S) is False
    json.dumps(vkey)  # plain JSON


def test_required_power_rule() -> None:
    # zkey_new.js: cirPower = log2(m + nPub) + 1 (floor log2, log2(0) = 0), i.e. 2^k > m + nPub
    assert ptau.required_power(0, 0) == 1
    assert ptau.required_power(1, 0) == 1
    assert ptau.required_power(2, 0) == 2
    assert ptau.required_power(14, 1) == 4
    assert ptau.required_power(15, 1) == 5
    assert ptau.required_power(255, 0) == 8
    assert ptau.required_power(256, 0) == 9
    assert ptau.required_power(14_000, 5) == 14
    with pytest.raises(ValueError):
        ptau.required_power(-1, 0)


def test_required_power_boundary_agrees_with_snarkjs(tmp: Path) -> None:
    """14 constraints + 1 public fit 2^4; 15 + 1 do not, for snarkjs and for us."""
    f4 = ptau.dev_ptau(4)
    fits, too_big = compile_chain(tmp, 14), compile_chain(tmp, 15)
    ptau.check_ptau_for_circuit(f4, 14, 1)
    res = snarkjs().call("zkey.new", str(fits), str(f4), str(tmp / "fits.zkey"), **S)
    assert res != -1
    with pytest.raises(ArtefactError, match=r"circuit needs 2\^5 .*this ptau has 2\^4"):
        ptau.check_ptau_for_circuit(f4, 15, 1)
    # snarkjs logs an error and returns -1 rather than raising
    res = snarkjs().call("zkey.new", str(too_big), str(f4), str(tmp / "too_big.zkey"), **S)
    assert res == -1
    res = snarkjs().call("zkey.new", str(too_big), str(ptau.dev_ptau(5)),
                         str(tmp / "too_big5.zkey"), **S)
    assert res != -1


# ------------------------------------------------------------------------- bad files


def test_header_of_dev_ptau() -> None:
    info = ptau.read_ptau_header(ptau.dev_ptau(4))
    assert (info.power, info.ceremony_power, info.n_contributions) == (4, 4, 1)
    assert info.has_phase2_sections and info.insecure_dev and info.insecure
    assert info.contribution_names == (ptau.DEV_LABEL,)


def test_truncated(tmp: Path) -> None:
    data = ptau.dev_ptau(4).read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 20):
        bad = tmp / f"cut{cut}.ptau"
        bad.write_bytes(data[:cut])
        with pytest.raises(ArtefactError, match=rf"{bad}: truncated"):
            ptau.read_ptau_header(bad)


def test_wrong_magic(tmp: Path) -> None:
    bad = tmp / "magic.ptau"
    bad.write_bytes(b"zkey" + ptau.dev_ptau(4).read_bytes()[4:])
    with pytest.raises(ArtefactError, match=rf"{bad}: not a ptau file"):
        ptau.read_ptau_header(bad)
    empty = tmp / "empty.ptau"
    empty.write_bytes(b"")
    with pytest.raises(ArtefactError, match="not a ptau file"):
        ptau.read_ptau_header(empty)
    with pytest.raises(ArtefactError, match="cannot read"):
        ptau.read_ptau_header(tmp / "missing.ptau")


def test_unprepared_ptau_is_refused(tmp: Path) -> None:
    fresh = tmp / "new4.ptau"
    snarkjs().call("powersoftau.new", "bn128", 4, str(fresh), **S)
    with pytest.raises(ArtefactError, match=rf"{fresh}: not prepared for phase 2"):
        ptau.read_ptau_header(fresh)
    with pytest.raises(ArtefactError, match="not prepared for phase 2"):
        ptau.check_ptau_for_circuit(fresh, 3, 1)
    info = ptau.read_ptau_header(fresh, require_phase2=False)
    assert (info.power, info.n_contributions, info.has_phase2_sections) == (4, 0, False)
    assert info.insecure and not info.insecure_dev  # tau = 1: no secret at all


def test_wrong_section_size(tmp: Path) -> None:
    """A section table that is self-consistent but wrong for the power (e.g. a spliced file)."""
    src = ptau.dev_ptau(4)
    secs = read_sections(src, b"ptau")
    data = bytearray(src.read_bytes())
    # claim power 5 in the header: every section is now too small for it
    hdr = secs[1][0]
    data[hdr.offset + 36:hdr.offset + 40] = (5).to_bytes(4, "little")
    data[hdr.offset + 40:hdr.offset + 44] = (5).to_bytes(4, "little")
    bad = tmp / "spliced.ptau"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArtefactError, match=r"section 2 \(tauG1\) is 1984 bytes, 2\^5 needs 4032"):
        ptau.read_ptau_header(bad)


def test_dev_ptau_regenerates_a_damaged_cache(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKCLEAR_BUILD_DIR", str(tmp / "cache"))
    f = ptau.dev_ptau(3)
    assert f.parent == tmp / "cache" / "ptau" and "insecure_dev" in f.name and "03" in f.name
    good = f.read_bytes()
    f.write_bytes(good[:-10])
    f.with_name(f.name + ".tmp-999999").write_bytes(b"left by a killed generator")
    assert ptau.dev_ptau(3).read_bytes() == good
    assert not list(f.parent.glob("*.tmp-*"))
    with pytest.raises(ValueError):
        ptau.dev_ptau(0)


def test_ptau_for_circuit(tmp: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, info = ptau.ptau_for_circuit(14, 1)
    assert path == ptau.dev_ptau_path(4) and info.insecure_dev
    assert any(r.levelno == logging.WARNING and r.name == "zkclear.prover.ptau"
               and "INSECURE" in r.getMessage() for r in caplog.records)
    # a given file is used as is when big enough (here the 2^5 dev file), refused otherwise
    given = ptau.dev_ptau(5)
    assert ptau.ptau_for_circuit(14, 1, ptau=given)[0] == given
    with pytest.raises(ArtefactError, match=r"circuit needs 2\^6 .*this ptau has 2\^5"):
        ptau.ptau_for_circuit(40, 2, ptau=given)
