"""A tiny Groth16 instance -- a multiplier circuit, its keys and a proof -- built with
snarkjs directly, independent of zkclear's prover wrapper: what the verifier tests check
:mod:`zkclear.verifier` against, and what the verifier benchmarks time
(``bench/bench_verify.py``, ``bench/bench_gas.py``).

The circuit (``c = a * b``, ``s = a + b + offset``, ``offset`` public: public signals
``[c, s, offset]``) is written into the output folder and compiled there with circom2;
phase 1 is a fresh 2^6 snarkjs ceremony. Development only: the entropy is fixed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from zkclear import paths
from zkclear.prover._node import run_node, snarkjs

#: The circuit, as one source file (circom names the outputs after it: multiplier_main).
SOURCE_NAME = "multiplier_main.circom"
SOURCE = """pragma circom 2.1.0;

// Test circuit: c = a * b and s = a + b + offset, with `offset` a public input.
template Multiplier() {
    signal input a;
    signal input b;
    signal input offset;
    signal output c;
    signal output s;
    c <== a * b;
    s <== a + b + offset;
}

component main {public [offset]} = Multiplier();
"""


class _Step(TypedDict):
    """How the node tools name this step in their errors."""

    step: str
    subject: str


@dataclass(frozen=True)
class Groth16Fixture:
    dir: Path
    zkey: Path
    vkey: dict[str, Any]
    proof: dict[str, Any]
    public: list[str]
    wasm: Path


def build(out: Path, a: int = 3, b: int = 11, offset: int = 5) -> Groth16Fixture:
    """Compile the multiplier, set up from a fresh snarkjs ptau (2^6), prove a*b, a+b+offset."""
    out.mkdir(parents=True, exist_ok=True)
    source = out / SOURCE_NAME
    source.write_text(SOURCE)
    w = snarkjs()
    s: _Step = {"step": "fixture", "subject": "multiplier"}
    run_node(paths.NODE_MODULES / "circom2" / "cli.js",
             [str(source), "--r1cs", "--wasm", "-o", str(out)], **s)
    w.call("powersoftau.new", "bn128", 6, str(out / "p0.ptau"), **s)
    w.call("powersoftau.contribute", str(out / "p0.ptau"), str(out / "p1.ptau"), "t", "e1", **s)
    w.call("powersoftau.preparePhase2", str(out / "p1.ptau"), str(out / "p2.ptau"), **s)
    w.call("zkey.new", str(out / "multiplier_main.r1cs"), str(out / "p2.ptau"),
           str(out / "m0.zkey"), **s)
    w.call("zkey.contribute", str(out / "m0.zkey"), str(out / "m1.zkey"), "c", "e2", **s)
    vkey = w.call("zkey.exportVerificationKey", str(out / "m1.zkey"), **s)
    wasm = out / "multiplier_main_js" / "multiplier_main.wasm"
    w.call("wtns.calculate", {"a": str(a), "b": str(b), "offset": str(offset)}, str(wasm),
           str(out / "w.wtns"), **s)
    res = w.call("groth16.prove", str(out / "m1.zkey"), str(out / "w.wtns"), **s)
    (out / "vkey.json").write_text(json.dumps(vkey))
    (out / "proof.json").write_text(json.dumps(res["proof"]))
    (out / "public.json").write_text(json.dumps(res["publicSignals"]))
    return Groth16Fixture(out, out / "m1.zkey", vkey, res["proof"], res["publicSignals"], wasm)
