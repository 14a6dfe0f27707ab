"""Witnesses, proofs and verification: the content-addressed proving job.

A proving job is (compiled circuit, proving key, inputs) -> (proof, public signals),
keyed by the hash of all three. Its result is stored under ``build/proofs/<job key>/``
and a repeated job returns the stored, re-verified result. The job is idempotent and
self-contained (zkey, wasm and input are files named by hash), so it can be handed to a
distributed runner later without redesign.

Inputs are dicts of signal name -> int or nested lists of ints; every int must already
be a canonical field element (encode signed values with :mod:`zkclear.field`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkclear import paths
from zkclear.errors import ProofError, WitnessError
from zkclear.field import P, canonical
from zkclear.prover import _node, native
from zkclear.prover.keys import DEV_SETUP_ENV, ZKEY, Keys

_ASSERT = re.compile(r"Error in template (\w+?)(?:_\d+)? line: (\d+)")

InputValue = int | list[Any]


@dataclass(frozen=True)
class ProofResult:
    proof: dict[str, Any]
    public: list[int]
    job_key: str
    job_dir: Path
    prove_seconds: float
    cached: bool

    @property
    def public_strings(self) -> list[str]:
        return [str(x) for x in self.public]


def _normalise(value: InputValue, name: str) -> Any:
    if isinstance(value, list | tuple):
        return [_normalise(v, f"{name}[{i}]") for i, v in enumerate(value)]
    return str(canonical(value, f"input {name}"))


def normalise_inputs(inputs: Mapping[str, InputValue]) -> dict[str, Any]:
    """Decimal-string form of the inputs, checked canonical (0 <= x < r)."""
    return {k: _normalise(v, k) for k, v in sorted(inputs.items())}


def job_key(keys: Keys, inputs: Mapping[str, InputValue]) -> str:
    h = hashlib.sha256()
    h.update(keys.compiled.circuit.key.encode())
    h.update(keys.record["zkey_sha256"].encode())
    h.update(json.dumps(normalise_inputs(inputs), sort_keys=True).encode())
    return h.hexdigest()[:24]


def calculate_witness(keys_or_compiled: Any, inputs: Mapping[str, InputValue],
                      wtns: Path) -> None:
    """Run the circuit's witness generator; a failed assert becomes a WitnessError."""
    compiled = getattr(keys_or_compiled, "compiled", keys_or_compiled)
    name = compiled.circuit.name
    try:
        _node.snarkjs().call(
            "wtns.calculate", normalise_inputs(inputs), str(compiled.paths.wasm), str(wtns),
            step="witness", subject=name,
        )
    except _node.WorkerCallError as exc:
        m = _ASSERT.search(exc.detail) or _ASSERT.search(exc.stack)
        first = exc.detail.splitlines()[0] if exc.detail else "witness generation failed"
        if not m:  # missing or unknown input signals: say what was given
            first += f" (given: {sorted(inputs)})"
        raise WitnessError(name, first, m.group(1) if m else None,
                           int(m.group(2)) if m else None) from exc


def _load_job(job_dir: Path) -> tuple[dict[str, Any], list[int], float] | None:
    try:
        proof = json.loads((job_dir / "proof.json").read_text())
        public = [int(x) for x in json.loads((job_dir / "public.json").read_text())]
        meta = json.loads((job_dir / "job.json").read_text())
    except (OSError, ValueError):
        return None
    return proof, public, float(meta.get("prove_seconds", 0.0))


def prove(keys: Keys, inputs: Mapping[str, InputValue]) -> ProofResult:
    """Prove ``inputs`` with ``keys`` (or return the stored result of the same job).

    Every proof is verified against the verification key before it is returned.
    """
    key = job_key(keys, inputs)
    job_dir = paths.proofs_dir() / key
    stored = _load_job(job_dir)
    if stored is not None:
        proof, public, secs = stored
        if verify(keys.vkey, public, proof):
            return ProofResult(proof, public, key, job_dir, secs, cached=True)
        shutil.rmtree(job_dir, ignore_errors=True)  # corrupt or stale: redo

    with _job_folder(key, inputs) as tmp:
        wtns = tmp / "witness.wtns"
        calculate_witness(keys, inputs, wtns)
        t0 = time.perf_counter()
        proof, public = prove_witness(keys, wtns)
        secs = time.perf_counter() - t0
        wtns.unlink()  # the witness holds every private value: do not keep it around
        _write_result(tmp, keys, proof, public, secs)
    return ProofResult(proof, public, key, job_dir, secs, cached=False)


@contextmanager
def _job_folder(key: str, inputs: Mapping[str, InputValue]) -> Iterator[Path]:
    """A temporary folder beside ``proofs/<key>`` holding ``input.json``, renamed into
    place when the block ends without an error (removed otherwise, or if the same job
    finished elsewhere first)."""
    job_dir = paths.proofs_dir() / key
    job_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=job_dir.parent))
    try:
        (tmp / "input.json").write_text(json.dumps(normalise_inputs(inputs)) + "\n")
        yield tmp
        try:
            os.rename(tmp, job_dir)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # the same job finished elsewhere
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_result(folder: Path, keys: Keys, proof: Mapping[str, Any], public: list[int],
                  secs: float) -> None:
    (folder / "proof.json").write_text(json.dumps(proof, indent=1) + "\n")
    (folder / "public.json").write_text(json.dumps([str(x) for x in public]) + "\n")
    meta = {"circuit": keys.compiled.circuit.name, "circuit_key": keys.compiled.circuit.key,
            "zkey_sha256": keys.record["zkey_sha256"], "backend": backend()[0],
            "prove_seconds": round(secs, 3)}
    (folder / "job.json").write_text(json.dumps(meta, indent=2) + "\n")


def record_job(keys: Keys, inputs: Mapping[str, InputValue], proof: Mapping[str, Any],
               public: list[int], secs: float) -> Path:
    """Store a proof made elsewhere (a Ray worker) as the result of its job here, so that
    :func:`prove` returns it; the caller has verified it. Returns the job folder."""
    key = job_key(keys, inputs)
    if _load_job(paths.proofs_dir() / key) is None:
        with _job_folder(key, inputs) as tmp:
            _write_result(tmp, keys, proof, public, secs)
    return paths.proofs_dir() / key


#: Environment variable choosing the prover: ``groth16py``, ``rapidsnark``, ``snarkjs`` or
#: ``auto`` (default: groth16py if it is installed, else rapidsnark if a binary of that
#: name is on PATH, else snarkjs). snarkjs is the reference: its tests run explicitly.
BACKEND_ENV = "ZKCLEAR_PROVER"
BACKENDS = ("auto", "groth16py", "rapidsnark", "snarkjs")
#: rapidsnark's binary is built as ``prover``; too generic a name to pick up from PATH,
#: so install or link it as ``rapidsnark``.
RAPIDSNARK = "rapidsnark"


def backend() -> tuple[str, str | None]:
    """The prover in use: ``("groth16py", None)``, ``("rapidsnark", path)`` or
    ``("snarkjs", None)``."""
    choice = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    if choice not in BACKENDS:
        raise ProofError(f"{BACKEND_ENV}={choice!r}: use {', '.join(BACKENDS[:-1])} or "
                         f"{BACKENDS[-1]}")
    if choice == "snarkjs":
        return "snarkjs", None
    if choice in ("auto", "groth16py"):
        if native.available():
            return "groth16py", None
        if choice == "groth16py":
            raise ProofError(f"{BACKEND_ENV}=groth16py but groth16py is not installed "
                             f"(pip install 'zkclear[{native.EXTRA}]')")
    binary = shutil.which(RAPIDSNARK)
    if binary is None and choice == "rapidsnark":
        raise ProofError(f"{BACKEND_ENV}=rapidsnark but no 'rapidsnark' binary is on PATH")
    return ("rapidsnark", binary) if binary else ("snarkjs", None)


def _prove_native(keys: Keys, vkey: Mapping[str, Any], wtns: Path
                  ) -> tuple[dict[str, Any], list[int]]:
    """groth16py, from a groth16py key or a snarkjs zkey (loaded once per process)."""
    pk = native.proving_key(keys.zkey, str(keys.record["zkey_sha256"]),
                            zkey=keys.pkey_format == ZKEY)
    info = getattr(keys.compiled, "info", None)  # a Ray worker's circuit has none
    return native.prove_wtns(pk, wtns, n_wires=info.n_wires if info is not None else None,
                             n_public=int(vkey["nPublic"]),
                             subject=keys.compiled.circuit.name)


def _prove_rapidsnark(binary: str, keys: Keys, wtns: Path) -> dict[str, Any]:
    """rapidsnark's CLI: ``rapidsnark <zkey> <wtns> <proof.json> <public.json>``."""
    import subprocess

    with tempfile.TemporaryDirectory(prefix="zkclear-rapidsnark-") as tmp:
        proof_path, public_path = Path(tmp) / "proof.json", Path(tmp) / "public.json"
        done = subprocess.run([binary, str(keys.zkey), str(wtns), str(proof_path),
                               str(public_path)], capture_output=True, text=True)
        if done.returncode != 0 or not proof_path.exists():
            raise ProofError(f"{keys.compiled.circuit.name}: rapidsnark ({binary}) failed "
                             f"with status {done.returncode}: "
                             f"{(done.stderr or done.stdout).strip()[:500]}")
        try:
            return {"proof": json.loads(proof_path.read_text()),
                    "publicSignals": json.loads(public_path.read_text())}
        except (OSError, ValueError) as exc:
            raise ProofError(f"rapidsnark wrote an unreadable proof: {exc}") from exc


def prove_witness(keys: Keys, wtns: Path) -> tuple[dict[str, Any], list[int]]:
    """Prove a witness file with :func:`backend`'s prover; the proof is verified (by
    snarkjs) before it is returned, whatever the backend.

    No prover checks the witness against the constraints (groth16py, snarkjs): a witness
    that does not satisfy them yields a proof that does not verify. That proof never
    leaves.
    """
    name, binary = backend()
    vkey = keys.vkey
    if name == "groth16py":
        proof, public = _prove_native(keys, vkey, wtns)
    else:
        if keys.pkey_format != ZKEY:
            raise ProofError(
                f"{keys.compiled.circuit.name}: {name} cannot prove with these keys: "
                f"{keys.zkey.name} is a {keys.pkey_format} proving key (groth16py's "
                f"development setup), which only groth16py reads. Prove with "
                f"{BACKEND_ENV}=groth16py (or auto), or make snarkjs development keys "
                f"with {DEV_SETUP_ENV}=snarkjs")
        if binary is not None:
            out = _prove_rapidsnark(binary, keys, wtns)
        else:
            out = _node.snarkjs().call(
                "groth16.prove", str(keys.zkey), str(wtns),
                step="prove", subject=keys.compiled.circuit.name,
            )
        try:
            proof, public = out["proof"], [int(x) for x in out["publicSignals"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofError(f"{name} returned no proof and public signals: {exc}") from exc
    if not verify(vkey, public, proof):
        raise ProofError(f"{keys.compiled.circuit.name}: the proof {name} made does not "
                         "verify: the witness does not satisfy the circuit, or the proving "
                         "key is not this circuit's")
    return proof, public


def verify(vkey: Mapping[str, Any], public: list[int] | list[str],
           proof: Mapping[str, Any]) -> bool:
    """``snarkjs groth16 verify``: the reference verifier (false for any bad proof)."""
    pub = [str(int(x)) for x in public]
    if any(not 0 <= int(x) < P for x in pub):
        return False
    try:
        return bool(_node.snarkjs().call("groth16.verify", dict(vkey), pub, dict(proof),
                                         step="verify", subject="proof"))
    except _node.WorkerCallError as exc:
        raise ProofError(f"malformed proof or verification key: {exc.detail}") from exc
