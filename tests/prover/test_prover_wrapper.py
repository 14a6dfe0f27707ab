"""The prover wrapper: compile cache, tool failures as clear errors, witness errors,
artefact checks. (Proving and the ceremony are in test_report_circuit / test_ceremony.)"""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from collections.abc import Sequence
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
    assert _cache_entries(_square(srcdir)) == []


def _cache_entries(c: Circuit) -> list[Path]:
    """``c``'s folders in the cache, complete or half-written (a compile's temporary)."""
    return [p for p in (paths.build_dir() / "circuits").iterdir()
            if p.name.startswith((f".{c.name}", f"{c.name}-")) and c.key in p.name]


def test_compile_time_limit_kills_circom2_and_caches_nothing(srcdir, monkeypatch):
    monkeypatch.setenv(circuit.TIMEOUT_ENV, "0.05")  # circom2 needs longer to start
    c = _square(srcdir)
    t0 = time.monotonic()
    with pytest.raises(CompileError) as ei:
        compile_circuit(c)
    assert time.monotonic() - t0 < 5
    msg = str(ei.value)
    assert re.match(rf"compile failed for square \({re.escape(str(c.source))}\): circom2 "
                    r"stopped after \d+\.\d s: the compile time limit is 0\.05 s\n", msg), msg
    assert f"raise it with {circuit.TIMEOUT_ENV}=SECONDS or compile_circuit(timeout=" in msg
    assert isinstance(ei.value.__cause__, _node.ToolTimeoutError)
    assert _cache_entries(c) == []
    # The parameter comes first: 0 is no limit.
    assert compile_circuit(c, timeout=0).info.n_constraints == 1


def test_compile_heartbeat_is_logged_while_circom2_runs(srcdir, caplog):
    with caplog.at_level(logging.INFO, logger="zkclear.prover"):
        compile_circuit(_square(srcdir), heartbeat=0.05)
    beats = [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    assert beats and beats[0].startswith("compile square (square.circom): still running after")
    assert all("MB resident" in b for b in beats)


def test_running_out_of_webassembly_memory_is_said_plainly(srcdir, monkeypatch):
    """circom2 capped at 90 pages (5.6 MiB; it starts with more than 70, this circuit needs
    more than 95) fails as a too-large circuit does at 4 GiB: Rust's allocation failure,
    then an abort (node: "RuntimeError: unreachable")."""
    real = _node.node_command

    def capped(script: Path | str, args: Sequence[str] = ()) -> list[str]:
        node, *rest = real(script, args)
        return [node, "--wasm-max-mem-pages=90", *rest]

    monkeypatch.setattr(_node, "node_command", capped)
    c = _square(srcdir)
    with pytest.raises(CompileError) as ei:
        compile_circuit(c)
    msg = str(ei.value)
    assert re.search(r"circom2 ran out of memory \(memory allocation of \d+ bytes failed\): "
                     r"circom2's WebAssembly build has at most 4 GiB of memory, and this "
                     r"circuit is too large for it\n  hint: ", msg), msg
    assert "RuntimeError" not in msg  # not the WebAssembly stack
    assert _cache_entries(c) == []


@pytest.mark.parametrize(("value", "limit"), [("", None), ("0", None), (" 90 ", 90.0),
                                              ("1.5", 1.5)])
def test_compile_time_limit_from_the_environment(monkeypatch, value, limit):
    monkeypatch.setenv(circuit.TIMEOUT_ENV, value)
    assert circuit.compile_timeout() == limit
    assert circuit.compile_timeout(12) == 12
    monkeypatch.delenv(circuit.TIMEOUT_ENV)
    assert circuit.compile_timeout() is None


@pytest.mark.parametrize("bad", ["soon", "-1", "nan", "inf"])
def test_a_bad_compile_time_limit_is_refused(monkeypatch, bad):
    monkeypatch.setenv(circuit.TIMEOUT_ENV, bad)
    with pytest.raises(CompileError, match=f"ZKCLEAR_COMPILE_TIMEOUT='{bad}': give seconds"):
        circuit.compile_timeout()
    with pytest.raises(CompileError, match=r"timeout=-1: give seconds"):
        circuit.compile_timeout(-1)


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
