"""Groth16 keys of a compiled circuit: the proving key (zkey) and verification key (vkey).

Two provenances, recorded in ``setup.json`` beside the keys:

* ``insecure-dev``: phase 2 started from the deterministic development powers of tau
  (its tau is public) or a given ptau, with one public phase-2 contribution. Fine for tests
  and the local demo; deploying such keys anywhere but a local chain requires
  ``--insecure-dev-setup``.
* ``ceremony``: the final zkey of a verified multi-party phase-2 ceremony
  (see :mod:`zkclear.prover.ceremony`), installed with :func:`install_ceremony_zkey`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkclear.errors import ArtefactError
from zkclear.fsutil import write_json_atomic
from zkclear.prover import _node
from zkclear.prover.binfile import zkey_info
from zkclear.prover.circuit import Compiled

INSECURE_DEV = "insecure-dev"
#: Public entropy of the development phase-2 contribution (snarkjs adds its own
#: randomness, so the keys are not reproducible; they are insecure all the same).
DEV_PHASE2_ENTROPY = hashlib.sha256(b"zkclear INSECURE development phase 2 v1").hexdigest()
CEREMONY = "ceremony"


@dataclass(frozen=True)
class Keys:
    compiled: Compiled
    zkey: Path
    vkey_path: Path
    provenance: str
    record: dict[str, Any]

    @property
    def vkey(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.vkey_path.read_text())
        return data

    @property
    def insecure(self) -> bool:
        """True unless a phase-2 ceremony ran on a ceremony-grade phase-1 file.

        A known phase-1 tau is as fatal as a missing phase 2: with tau known, the H query
        yields delta^-1 * G1 and proofs can be forged. So a ceremony over the development
        powers of tau is still insecure.
        """
        return self.provenance == INSECURE_DEV or bool(self.record.get("ptau_insecure_dev"))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _setup_record_path(compiled: Compiled) -> Path:
    return compiled.paths.dir / "setup.json"


def load_keys(compiled: Compiled) -> Keys | None:
    """The keys already set up for ``compiled``, or None (also if incomplete)."""
    cp = compiled.paths
    try:
        record = json.loads(_setup_record_path(compiled).read_text())
    except (OSError, ValueError):
        return None
    if not (cp.zkey.exists() and cp.vkey.exists()):
        return None
    return Keys(compiled, cp.zkey, cp.vkey, record["provenance"], record)


def check_zkey_matches(compiled: Compiled, zkey: Path) -> None:
    """Refuse a zkey made for another circuit ("Invalid witness length" made impossible)."""
    zi = zkey_info(zkey)
    info = compiled.info
    if zi.n_vars != info.n_wires or zi.n_public != info.n_public:
        raise ArtefactError(
            f"{zkey}: made for a circuit with {zi.n_vars} wires and {zi.n_public} public "
            f"signals, but {compiled.circuit.name} has {info.n_wires} wires and "
            f"{info.n_public} public signals (stale or foreign zkey)"
        )


def _install(compiled: Compiled, zkey_src: Path, record: dict[str, Any], *, move: bool,
             dest_dir: Path | None = None) -> Keys:
    cp = compiled.paths
    zkey_path, vkey_path, record_path = cp.zkey, cp.vkey, _setup_record_path(compiled)
    if dest_dir is not None:  # keys kept apart from the circuit's active ones
        dest_dir.mkdir(parents=True, exist_ok=True)
        zkey_path = dest_dir / cp.zkey.name
        vkey_path = dest_dir / cp.vkey.name
        record_path = dest_dir / record_path.name
    check_zkey_matches(compiled, zkey_src)
    vkey = _node.snarkjs().call(
        "zkey.exportVerificationKey", str(zkey_src),
        step="export verification key", subject=str(zkey_src),
    )
    tmp_z = zkey_path.with_suffix(f".zkey.tmp{os.getpid()}")
    if move:
        os.replace(zkey_src, tmp_z)
    else:
        shutil.copyfile(zkey_src, tmp_z)
    record = {**record, "zkey_sha256": file_sha256(tmp_z),
              "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    # The record goes last: keys without a record are treated as absent.
    record_path.unlink(missing_ok=True)
    os.replace(tmp_z, zkey_path)
    write_json_atomic(vkey_path, vkey, mode=0o644)
    write_json_atomic(record_path, record, indent=2, mode=0o644)
    return Keys(compiled, zkey_path, vkey_path, record["provenance"], record)


def dev_setup(compiled: Compiled, *, ptau: Path | None = None) -> Keys:
    """INSECURE keys from the development powers of tau (or ``ptau``).

    Reuses existing keys when they came from the same ptau, and never replaces keys a
    ceremony installed unless a ``ptau`` is given explicitly. A file lock makes
    concurrent callers (parallel test runs, several processes) wait for one setup
    instead of overwriting each other's keys: snarkjs mixes fresh randomness into every
    contribution, so two setups never produce the same keys.
    """
    compiled.paths.dir.mkdir(parents=True, exist_ok=True)
    with (compiled.paths.dir / "setup.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _dev_setup_locked(compiled, ptau)


def _dev_setup_locked(compiled: Compiled, ptau: Path | None) -> Keys:
    from zkclear.prover import ptau as ptau_mod  # heavy-ish; only needed here

    info = compiled.info
    power = ptau_mod.required_power(info.n_constraints, info.n_public)
    ptau_path = ptau if ptau is not None else ptau_mod.dev_ptau(power)
    ptau_mod.check_ptau_for_circuit(ptau_path, info.n_constraints, info.n_public)
    existing = load_keys(compiled)
    if existing is not None and (
        existing.record.get("ptau") == str(ptau_path.resolve())
        or (existing.provenance == CEREMONY and ptau is None)
    ):
        return existing
    header = ptau_mod.read_ptau_header(ptau_path)
    cp = compiled.paths
    tmp0 = cp.dir / f"setup0.{os.getpid()}.zkey"
    tmp = cp.dir / f"setup.{os.getpid()}.zkey"
    t0 = time.perf_counter()
    try:
        _node.snarkjs().call(
            "zkey.new", str(cp.r1cs), str(ptau_path), str(tmp0),
            step="groth16 setup", subject=compiled.circuit.name,
        )
        # One deterministic (public!) contribution: a zkey with no contribution has
        # delta = gamma, which verifiers rightly refuse as trivially forgeable. This one
        # is no safer, only not *obviously* broken; the record says it is insecure.
        _node.snarkjs().call(
            "zkey.contribute", str(tmp0), str(tmp), "zkclear INSECURE development phase 2",
            DEV_PHASE2_ENTROPY, step="groth16 setup (dev contribution)",
            subject=compiled.circuit.name,
        )
        record = {
            # Without a real phase-2 ceremony delta is known: anyone could forge proofs,
            # whatever the phase-1 file. Only a ceremony makes keys deployable.
            "provenance": INSECURE_DEV,
            "ptau_insecure_dev": header.insecure_dev,
            "ptau": str(ptau_path.resolve()),
            "ptau_power": header.power,
            "setup_seconds": round(time.perf_counter() - t0, 3),
        }
        return _install(compiled, tmp, record, move=True)
    finally:
        tmp0.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def install_ceremony_zkey(compiled: Compiled, final_zkey: Path, transcript: Path,
                          *, dest_dir: Path | None = None) -> Keys:
    """Make a verified ceremony's final zkey the circuit's proving key.

    With ``dest_dir`` the keys go there instead of becoming the circuit's active keys.
    """
    data = json.loads(transcript.read_text())
    record = {"provenance": CEREMONY, "transcript": str(transcript.resolve()),
              "transcript_sha256": file_sha256(transcript),
              "ptau_insecure_dev": bool(data["ptau"]["insecure_dev"]),
              "contributors": [c["name"] for c in data["contributions"]]}
    return _install(compiled, final_zkey, record, move=False, dest_dir=dest_dir)
