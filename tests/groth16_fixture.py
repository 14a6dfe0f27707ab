"""A tiny Groth16 circuit, keys and proof, built with snarkjs directly (independent of
zkclear's prover wrapper), for the verifier tests to check against."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkclear import paths
from zkclear.prover._node import run_node, snarkjs

SOURCE = paths.ROOT / "tests" / "circuits" / "multiplier_main.circom"


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
    w = snarkjs()
    s = dict(step="fixture", subject="multiplier")
    run_node(paths.NODE_MODULES / "circom2" / "cli.js",
             [str(SOURCE), "--r1cs", "--wasm", "-o", str(out)], **s)
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
