"""``zkclear demo``: the end-to-end story, on the embedded EVM.

Foundations stage: a member's report is committed, the report-commitment circuit is
compiled, its keys come out of a phase-2 ceremony with three member contributions and a
beacon (over the INSECURE development phase 1 — tau is public, so these keys are only
for the local chain), the member proves its report opens to the commitment, and the
proof is verified three ways: in Python (py-ecc), by snarkjs, and by the generated
Solidity verifier deployed on the embedded EVM. A tampered public input is rejected by
all three.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from typing import TYPE_CHECKING, Any

from zkclear import paths

if TYPE_CHECKING:
    from zkclear.cli import Output

MEMBERS = ("Bank A", "Fund B", "Market maker C")


def run_demo(out: Output) -> dict[str, Any]:
    from zkclear.chain import embedded_web3
    from zkclear.clearing.report import Report
    from zkclear.field import P
    from zkclear.prover import ceremony, ptau, registry
    from zkclear.prover.circuit import compile_circuit
    from zkclear.prover.prove import prove
    from zkclear.prover.prove import verify as snarkjs_verify
    from zkclear.verifier import groth16
    from zkclear.verifier.onchain import deploy_for_keys

    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def timed(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 2)

    out.info("[bold]zkclear demo[/] — report commitment proven, verified in Python, snarkjs "
             "and on the embedded EVM")
    circuit = registry.report_commitment(instruments=2)
    t0 = time.perf_counter()
    with out.step(f"compile {circuit.name}") as log:
        compiled = compile_circuit(circuit, log=log)
    timed("compile", t0)
    info = compiled.info
    out.info(f"  {info.n_constraints} constraints, {info.n_public} public signal(s)")

    power = ptau.required_power(info.n_constraints, info.n_public)
    t0 = time.perf_counter()
    with out.step(f"phase 1: INSECURE development powers of tau 2^{power}") as log:
        ptau_path = ptau.dev_ptau(power, log=log)
    timed("phase1", t0)

    folder = paths.build_dir() / "demo" / "ceremony"
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    with out.step("phase 2: ceremony init") as log:
        ceremony.init(compiled, ptau_path, folder, log=log)
    hashes = {}
    for name in MEMBERS:
        with out.step(f"phase 2: contribution by {name}") as log:
            hashes[name] = ceremony.contribute(folder, name, log=log).contribution_hash
    beacon = hashlib.sha256(b"zkclear demo beacon: a public, unpredictable value").hexdigest()
    with out.step("phase 2: beacon") as log:
        ceremony.finalize(folder, beacon, iterations_exp=10, log=log)
    with out.step("phase 2: verify transcript and install key") as log:
        # The demo's keys stay in its folder: the circuit's active keys are untouched.
        keys = ceremony.install(folder, compiled, log=log, dest_dir=folder / "keys")
    timed("ceremony", t0)

    report = Report.new([25, -10], -2_500_000)
    commitment = report.commitment()
    out.info(f"  member report: delta={list(report.delta)}, tradeCash={report.trade_cash}; "
             f"commitment {hex(commitment)[:18]}…")
    t0 = time.perf_counter()
    with out.step("prove the report opens to its commitment") as log:
        result = prove(keys, report.circuit_inputs(), log=log)
    timed("prove", t0)
    public = result.public
    if public != [commitment]:
        raise AssertionError(f"circuit output {public} != Python commitment {commitment}")

    vk = groth16.VerifyingKey.from_json(keys.vkey)
    proof = groth16.Proof.from_json(result.proof)
    t0 = time.perf_counter()
    py_ok = groth16.verify(vk, proof, public)
    timed("verify_python", t0)
    t0 = time.perf_counter()
    sj_ok = snarkjs_verify(keys.vkey, public, result.proof)
    timed("verify_snarkjs", t0)

    t0 = time.perf_counter()
    with out.step("deploy the generated verifier on the embedded EVM"):
        w3 = embedded_web3()
        onchain = deploy_for_keys(w3, keys)
    evm_ok = onchain.verify(result.proof, public)
    gas = onchain.gas_of_verify(result.proof, public).gas_used
    timed("verify_evm", t0)

    tampered = [(commitment + 1) % P]
    rejected = {
        "python": not groth16.verify(vk, proof, tampered),
        "snarkjs": not snarkjs_verify(keys.vkey, tampered, result.proof),
        "evm": not onchain.verify(result.proof, tampered),
    }
    ok = py_ok and sj_ok and evm_ok and all(rejected.values())
    for who, good in (("Python (py-ecc)", py_ok), ("snarkjs", sj_ok), ("embedded EVM", evm_ok)):
        out.info(f"  {who}: " + ("[green]accepted[/]" if good else "[red]REJECTED[/]"))
    out.info("  tampered public input rejected by: "
             + ", ".join(k for k, v in rejected.items() if v))
    out.info(f"  verifyProof gas on the EVM: {gas}")
    out.info(("[green]demo OK[/]" if ok else "[red]demo FAILED[/]")
             + f" in {time.perf_counter() - t_start:.1f} s")
    return {
        "ok": ok,
        "circuit": circuit.name,
        "constraints": info.n_constraints,
        "ceremony_contributors": list(MEMBERS),
        "contribution_hashes": hashes,
        "keys_insecure": keys.insecure,
        "commitment": str(commitment),
        "prove_seconds": result.prove_seconds,
        "proof_cached": result.cached,
        "verified": {"python": py_ok, "snarkjs": sj_ok, "evm": evm_ok},
        "tampered_rejected": rejected,
        "verify_proof_gas": gas,
        "timings": timings,
        "total_seconds": round(time.perf_counter() - t_start, 2),
    }
