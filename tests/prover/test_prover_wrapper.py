"""The prover wrapper: compile cache, tool failures as clear errors, witness errors,
artefact checks. (Proving and the ceremony are in test_report_circuit / test_ceremony.)"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from zkclear import paths
from zkclear.errors import ArtefactError, CompileError, WitnessError
from zkclear.field import FieldError, P
from zkclear.prover import _node, circuit, registry
from zkclear.prover.binfile import r1cs_info, zkey_info
from zkclear.prover.circuit import Circuit, compile_circuit
from zkclear.prover.prove import calculate_witness, normalise_inputs

SQUARE = """pragma circom 2.1.0;
include "helper.circom";
template Square() {
    signal input x;
    signal output y;
    y <== Mul()(x, x);
}
"""
HELPER = """pragma circom 2.1.0;
template Mul() {
    signal input a;
    signal input b;
    signal output c;
    c <== a * b;
}
"""


@pytest.fixture
def srcdir() -> Path:
    d = paths.build_dir() / "test-src" / uuid.uuid4().hex[:8]
    d.mkdir(parents=True)
    (d / "square.circom").write_text(SQUARE)
    (d / "helper.circom").write_text(HELPER)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _square(d: Path) -> Circuit:
    return Circuit("square", d / "square.circom", "Square")


def test_compile_then_cache_hit_without_running_the_compiler(srcdir, monkeypatch):
    c = _square(srcdir)
    compiled = compile_circuit(c)
    assert compiled.info.n_constraints == 1
    assert compiled.paths.wasm.exists() and compiled.paths.r1cs.exists()
    assert compiled.manifest["key"] == c.key

    def boom(*a, **k):
        raise AssertionError("the compiler ran although the cache was valid")

    monkeypatch.setattr(_node, "run_node", boom)
    again = compile_circuit(_square(srcdir))
    assert again.paths.dir == compiled.paths.dir


def test_changed_source_or_include_changes_the_key_and_rebuilds(srcdir):
    first = compile_circuit(_square(srcdir))
    first_key = first.manifest["key"]
    # A change in an *included* file must change the key too.
    (srcdir / "helper.circom").write_text(HELPER.replace("c <== a * b;", "c <== a * b + 0;"))
    second_key = _square(srcdir).key
    assert second_key != first_key
    changed = SQUARE.replace("signal output y;", "signal output y;\n    signal unused;")
    (srcdir / "square.circom").write_text(changed)
    third = compile_circuit(_square(srcdir))
    assert third.manifest["key"] not in (first_key, second_key)
    assert third.paths.dir != first.paths.dir and third.paths.r1cs.exists()


def test_params_and_public_are_part_of_the_key(srcdir):
    a = Circuit("square", srcdir / "square.circom", "Square", (), ())
    b = Circuit("square", srcdir / "square.circom", "Square", (), ("x",))
    assert a.key != b.key


def test_compile_error_names_the_circuit_and_the_problem(srcdir):
    (srcdir / "square.circom").write_text(SQUARE.replace("y <== Mul()(x, x);", "y <== z;"))
    with pytest.raises(CompileError) as ei:
        compile_circuit(_square(srcdir))
    msg = str(ei.value)
    assert "compile failed for square" in msg and "z" in msg
    # No half-written artefact folder is left in the cache.
    leftovers = [p for p in (paths.build_dir() / "circuits").iterdir()
                 if p.name.startswith((".square", "square-")) and _square(srcdir).key in p.name]
    assert leftovers == []


def test_missing_include_is_reported_before_compiling(srcdir):
    (srcdir / "helper.circom").unlink()
    with pytest.raises(CompileError, match=r'include "helper\.circom" not found'):
        _square(srcdir).key  # noqa: B018


def test_witness_error_names_template_and_line(srcdir):
    (srcdir / "square.circom").write_text(
        SQUARE.replace("y <== Mul()(x, x);", "y <== Mul()(x, x);\n    y === 9;")
    )
    compiled = compile_circuit(_square(srcdir))
    w = srcdir / "w.wtns"
    calculate_witness(compiled, {"x": 3}, w)  # 3 * 3 = 9: satisfiable
    assert w.stat().st_size > 0
    with pytest.raises(WitnessError) as ei:
        calculate_witness(compiled, {"x": 4}, w)
    assert ei.value.template == "Square" and ei.value.line == 7
    assert "square" in str(ei.value)


def test_missing_input_signal_is_a_witness_error(srcdir):
    compiled = compile_circuit(_square(srcdir))
    with pytest.raises(WitnessError, match=r"Not all inputs have been set.*given: \[\]"):
        calculate_witness(compiled, {}, srcdir / "w.wtns")
    with pytest.raises(WitnessError, match=r"given: \['x', 'z'\]"):
        calculate_witness(compiled, {"x": 1, "z": 2}, srcdir / "w.wtns")


@pytest.mark.parametrize("bad", [P, -1, 2**256, True, "5"])
def test_inputs_must_be_canonical_field_elements(bad):
    with pytest.raises((FieldError, TypeError)):
        normalise_inputs({"x": [1, bad]})


def test_binary_headers_refuse_truncated_and_foreign_files(srcdir, groth16_multiplier):
    compiled = compile_circuit(_square(srcdir))
    info = r1cs_info(compiled.paths.r1cs)
    assert (info.n_constraints, info.n_outputs, info.n_public_inputs) == (1, 1, 0)
    cut = srcdir / "cut.r1cs"
    cut.write_bytes(compiled.paths.r1cs.read_bytes()[:-10])
    with pytest.raises(ArtefactError, match="truncated"):
        r1cs_info(cut)
    with pytest.raises(ArtefactError, match="not a zkey file"):
        zkey_info(compiled.paths.r1cs)
    z = zkey_info(groth16_multiplier.zkey)
    assert z.n_public == 3  # c, s, offset


def test_source_closure_follows_includes_into_node_modules():
    closure = circuit.source_closure(paths.CIRCUITS_DIR / "report.circom")
    names = {p.name for p in closure}
    assert {"report.circom", "hash.circom", "range.circom", "poseidon.circom",
            "bitify.circom"} <= names


def test_cache_outside_the_repository_works(srcdir, tmp_path, monkeypatch):
    """circom2 only sees the repo; a cache elsewhere still gets complete artefacts."""
    monkeypatch.setenv("ZKCLEAR_BUILD_DIR", str(tmp_path / "cache"))
    compiled = compile_circuit(_square(srcdir))
    assert compiled.paths.dir.is_relative_to(tmp_path)
    assert compiled.paths.wasm.exists() and compiled.info.n_constraints == 1
    w = tmp_path / "w.wtns"
    calculate_witness(compiled, {"x": 3}, w)
    assert w.exists()


def test_circuit_key_does_not_depend_on_where_the_circuits_live(tmp_path, monkeypatch):
    """A wheel's circuits and a checkout's node_modules may sort either way as absolute
    paths (CI's clone sorted before the wheel's venv in /tmp, ours after): same key."""
    want = registry.report_commitment(instruments=2).key
    nm = paths.node_modules_dir()
    assert nm is not None
    monkeypatch.setattr(paths, "CHECKOUT", None)
    for circuits_in, modules_in in (("a", "b"), ("d", "c")):
        circuits = tmp_path / circuits_in / "circuits"
        modules = tmp_path / modules_in / "node_modules"
        shutil.copytree(paths.CIRCUITS_DIR if circuits_in == "a" else tmp_path / "a/circuits",
                        circuits)
        for pkg in circuit.KEYED_TOOLS:
            dest = modules / pkg
            if pkg == "circomlib":
                shutil.copytree(nm / pkg / "circuits", dest / "circuits")
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy(nm / pkg / "package.json", dest / "package.json")
        monkeypatch.setattr(paths, "CIRCUITS_DIR", circuits)
        monkeypatch.setenv("ZKCLEAR_NODE_MODULES", str(modules))
        got = registry.report_commitment(instruments=2)
        assert got.source.is_relative_to(circuits)
        assert got.key == want, (circuits_in, modules_in)
