"""Groth16 keys of a compiled circuit: the proving key and verification key (vkey).

Two provenances, recorded in ``setup.json`` beside the keys:

* ``insecure-dev``: development keys (:func:`dev_setup`), made by one of two tools
  (``setup_tool``; ``$ZKCLEAR_DEV_SETUP`` chooses, :func:`dev_setup_tool`):

  - ``groth16py`` (the default when it is installed): its single-party setup from the
    r1cs, seconds where snarkjs takes minutes. The proving key is groth16py's own file
    (``groth16py_pkey.bin``), which only the groth16py prover reads; the vkey is
    snarkjs's JSON, so snarkjs verify and the Solidity verifier work as for any key.
  - ``snarkjs``: phase 2 started from the deterministic development powers of tau (its
    tau is public) or a given ptau, with one public phase-2 contribution; a snarkjs zkey,
    which every prover reads.

  Either is fine for tests and the local demo; deploying such keys anywhere but a local
  chain requires ``--insecure-dev-setup``.
* ``ceremony``: the final zkey of a verified multi-party phase-2 ceremony
  (see :mod:`zkclear.prover.ceremony`), installed with :func:`install_ceremony_zkey`.
  Ceremonies always run on snarkjs: a single-party setup knows its toxic waste.

``pkey_format`` in the record says which file the proving key is (``snarkjs-zkey`` when
absent: records written before groth16py).
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

from zkclear.errors import ArtefactError, ToolMissingError
from zkclear.fsutil import write_json_atomic
from zkclear.prover import _node, native
from zkclear.prover.binfile import zkey_info
from zkclear.prover.circuit import Compiled

INSECURE_DEV = "insecure-dev"
#: Public entropy of the development phase-2 contribution (snarkjs adds its own
#: randomness, so the keys are not reproducible; they are insecure all the same).
DEV_PHASE2_ENTROPY = hashlib.sha256(b"zkclear INSECURE development phase 2 v1").hexdigest()
CEREMONY = "ceremony"
#: Proving-key file formats (``pkey_format`` in ``setup.json``).
ZKEY = "snarkjs-zkey"
NATIVE = "groth16py"
#: The tools :func:`dev_setup` can use, and the environment variable choosing one
#: (``auto``, the default: groth16py if it is installed, else snarkjs).
SETUP_TOOLS = ("groth16py", "snarkjs")
DEV_SETUP_ENV = "ZKCLEAR_DEV_SETUP"


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
    def pkey_format(self) -> str:
        """``snarkjs-zkey`` (any prover reads it) or ``groth16py`` (groth16py only)."""
        return str(self.record.get("pkey_format", ZKEY))

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


def _files(compiled: Compiled, folder: Path | None, pkey_format: str = ZKEY
           ) -> tuple[Path, Path, Path]:
    """(proving key, vkey, setup record) of the keys in ``folder`` (default: the
    circuit's active keys, in its build folder)."""
    cp = compiled.paths
    d = folder if folder is not None else cp.dir
    pkey = cp.native_pkey if pkey_format == NATIVE else cp.zkey
    return d / pkey.name, d / cp.vkey.name, d / "setup.json"


def load_keys(compiled: Compiled, folder: Path | None = None) -> Keys | None:
    """The keys already set up for ``compiled`` (in ``folder`` if given), or None (also
    if incomplete)."""
    try:
        record = json.loads(_files(compiled, folder)[2].read_text())
        pkey, vkey, _ = _files(compiled, folder, record.get("pkey_format", ZKEY))
        provenance = record["provenance"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (pkey.exists() and vkey.exists()):
        return None
    return Keys(compiled, pkey, vkey, provenance, record)


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


def _install(compiled: Compiled, pkey_src: Path, record: dict[str, Any], *, move: bool,
             dest_dir: Path | None = None, vkey: dict[str, Any] | None = None) -> Keys:
    """Install a proving key as the circuit's keys (or in ``dest_dir``). A snarkjs zkey is
    checked against the circuit and its vkey exported; a groth16py key comes with its
    ``vkey``. ``zkey_sha256`` in the record is the proving key file's hash, whatever its
    format (proving jobs are keyed by it)."""
    fmt = str(record.get("pkey_format", ZKEY))
    pkey_path, vkey_path, record_path = _files(compiled, dest_dir, fmt)
    pkey_path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ZKEY:
        check_zkey_matches(compiled, pkey_src)
        vkey = _node.snarkjs().call(
            "zkey.exportVerificationKey", str(pkey_src),
            step="export verification key", subject=str(pkey_src),
        )
    elif vkey is None or vkey.get("nPublic") != compiled.info.n_public:
        raise ArtefactError(f"{pkey_src}: its verification key has "
                            f"{None if vkey is None else vkey.get('nPublic')} public signals, "
                            f"{compiled.circuit.name} has {compiled.info.n_public}")
    tmp = pkey_path.with_name(f"{pkey_path.name}.tmp{os.getpid()}")
    if move:
        os.replace(pkey_src, tmp)
    else:
        shutil.copyfile(pkey_src, tmp)
    record = {**record, "pkey_format": fmt, "zkey_sha256": file_sha256(tmp),
              "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    # The record goes last: keys without a record are treated as absent.
    record_path.unlink(missing_ok=True)
    os.replace(tmp, pkey_path)
    write_json_atomic(vkey_path, vkey, mode=0o644)
    write_json_atomic(record_path, record, indent=2, mode=0o644)
    other = _files(compiled, dest_dir, ZKEY if fmt == NATIVE else NATIVE)[0]
    other.unlink(missing_ok=True)  # the replaced keys' proving key, if of the other format
    return Keys(compiled, pkey_path, vkey_path, record["provenance"], record)


def dev_setup_tool(tool: str | None = None, *, ptau: Path | None = None) -> str:
    """The tool :func:`dev_setup` uses: ``tool``, else ``$ZKCLEAR_DEV_SETUP``, else
    ``auto``: groth16py if it is installed, snarkjs otherwise. A given ``ptau`` is for
    snarkjs (groth16py needs none), so it means snarkjs unless groth16py is asked for by
    name, which is refused."""
    explicit = tool is not None
    choice = (tool if explicit else os.environ.get(DEV_SETUP_ENV, "")) or "auto"
    choice = choice.strip().lower() or "auto"
    if choice not in ("auto", *SETUP_TOOLS):
        raise ArtefactError(f"development setup tool {choice!r} "
                            f"({'given' if explicit else DEV_SETUP_ENV}): use auto, "
                            f"{' or '.join(SETUP_TOOLS)}")
    if ptau is not None:
        if explicit and choice == NATIVE:
            raise ArtefactError("groth16py's development setup takes no ptau: that is "
                                "snarkjs's (tool='snarkjs')")
        return "snarkjs"
    if choice == "auto":
        return NATIVE if native.available() else "snarkjs"
    if choice == NATIVE and not native.available():
        raise ToolMissingError("development setup", "groth16py", "groth16py is not "
                               f"installed ({DEV_SETUP_ENV}=groth16py)",
                               f"pip install 'zkclear[{native.EXTRA}]', or "
                               f"{DEV_SETUP_ENV}=snarkjs")
    return choice


def dev_setup(compiled: Compiled, *, ptau: Path | None = None, tool: str | None = None,
              dest_dir: Path | None = None) -> Keys:
    """INSECURE development keys, by :func:`dev_setup_tool`'s tool: groth16py's
    single-party setup, or snarkjs from the development powers of tau (or ``ptau``).

    Reuses existing keys of the same tool (and, for snarkjs, the same ptau), and never
    replaces keys a ceremony installed unless a ``ptau`` is given explicitly. With
    ``dest_dir`` the keys go there instead of becoming the circuit's active keys (tests
    keep snarkjs reference keys apart this way). A file lock makes concurrent callers
    (parallel test runs, several processes) wait for one setup instead of overwriting
    each other's keys: both tools mix fresh randomness into the keys, so two setups never
    produce the same keys.
    """
    used = dev_setup_tool(tool, ptau=ptau)
    folder = dest_dir if dest_dir is not None else compiled.paths.dir
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "setup.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = load_keys(compiled, dest_dir)
        if existing is not None and existing.provenance == CEREMONY and ptau is None:
            return existing
        if used == NATIVE:
            if existing is not None and existing.record.get("setup_tool") == NATIVE:
                return existing
            return _native_setup(compiled, dest_dir)
        return _snarkjs_setup(compiled, ptau, existing, dest_dir)


def _native_setup(compiled: Compiled, dest_dir: Path | None) -> Keys:
    folder = dest_dir if dest_dir is not None else compiled.paths.dir
    tmp = folder / f"setup.{os.getpid()}.bin"
    t0 = time.perf_counter()
    try:
        vkey = native.setup(compiled.paths.r1cs, tmp)
        record = {
            # The toxic waste was in this process: anyone could have kept it.
            "provenance": INSECURE_DEV,
            "setup_tool": NATIVE,
            "pkey_format": NATIVE,
            "groth16py": native.version(),
            "setup_seconds": round(time.perf_counter() - t0, 3),
        }
        return _install(compiled, tmp, record, move=True, dest_dir=dest_dir, vkey=vkey)
    finally:
        tmp.unlink(missing_ok=True)


def _snarkjs_setup(compiled: Compiled, ptau: Path | None, existing: Keys | None,
                   dest_dir: Path | None) -> Keys:
    from zkclear.prover import ptau as ptau_mod  # heavy-ish; only needed here

    info = compiled.info
    power = ptau_mod.required_power(info.n_constraints, info.n_public)
    ptau_path = ptau if ptau is not None else ptau_mod.dev_ptau(power)
    ptau_mod.check_ptau_for_circuit(ptau_path, info.n_constraints, info.n_public)
    if (existing is not None and existing.record.get("ptau") == str(ptau_path.resolve())
            and existing.pkey_format == ZKEY):
        return existing
    header = ptau_mod.read_ptau_header(ptau_path)
    folder = dest_dir if dest_dir is not None else compiled.paths.dir
    tmp0 = folder / f"setup0.{os.getpid()}.zkey"
    tmp = folder / f"setup.{os.getpid()}.zkey"
    t0 = time.perf_counter()
    try:
        _node.snarkjs().call(
            "zkey.new", str(compiled.paths.r1cs), str(ptau_path), str(tmp0),
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
            "setup_tool": "snarkjs",
            "ptau_insecure_dev": header.insecure_dev,
            "ptau": str(ptau_path.resolve()),
            "ptau_power": header.power,
            "setup_seconds": round(time.perf_counter() - t0, 3),
        }
        return _install(compiled, tmp, record, move=True, dest_dir=dest_dir)
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
