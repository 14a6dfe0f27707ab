"""Phase-2 trusted-setup ceremony: init, contribute, verify, finalize.

The transcript is a folder: the initial zkey, one zkey per contribution, the beacon's
final zkey, and ``transcript.json`` recording each file's SHA-256 and each contribution's
hash. Anyone holding the circuit source, the phase-1 file and the folder can re-verify it:
``verify`` checks every file against the transcript, then has snarkjs re-derive the
initial key from the r1cs and ptau and check every contribution's proof of knowledge in
the last zkey (``zkey verify``), and finally that each recorded contribution hash is the
one the key carries. A contributor checks that their hash (printed at contribution) is
listed. The phase-2 secret of each contribution is destroyed by snarkjs after use; the
keys are sound if at least one contributor was honest.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkclear.errors import ArtefactError, ZkclearError
from zkclear.fsutil import write_json_atomic
from zkclear.prover import _node
from zkclear.prover.circuit import Compiled
from zkclear.prover.keys import Keys, file_sha256, install_ceremony_zkey

FORMAT = "zkclear-ceremony-v1"
TRANSCRIPT = "transcript.json"


class CeremonyError(ZkclearError):
    """A ceremony step was refused or its transcript does not verify."""


@dataclass(frozen=True)
class Contribution:
    index: int
    name: str
    file: str
    sha256: str
    contribution_hash: str


def _load(folder: Path) -> dict[str, Any]:
    path = folder / TRANSCRIPT
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise CeremonyError(f"{folder}: no {TRANSCRIPT} (run `zkclear ceremony init`)") from None
    except ValueError as exc:
        raise CeremonyError(f"{path}: not valid JSON ({exc})") from exc
    if data.get("format") != FORMAT:
        raise CeremonyError(f"{path}: unknown transcript format {data.get('format')!r}")
    return data


def _save(folder: Path, data: dict[str, Any]) -> None:
    write_json_atomic(folder / TRANSCRIPT, data, indent=2, mode=0o644)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:40] or "anonymous"


def init(compiled: Compiled, ptau: Path, folder: Path) -> Path:
    """Start a ceremony for ``compiled`` from the phase-1 file ``ptau``."""
    from zkclear.prover import ptau as ptau_mod

    info = compiled.info
    ptau_mod.check_ptau_for_circuit(ptau, info.n_constraints, info.n_public)
    header = ptau_mod.read_ptau_header(ptau)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / TRANSCRIPT).exists():
        raise CeremonyError(f"{folder}: a ceremony already exists here; use a new folder")
    initial = folder / "0000_initial.zkey"
    tmp = folder / f".0000_initial.zkey.tmp{os.getpid()}"
    try:
        _node.snarkjs().call("zkey.new", str(compiled.paths.r1cs), str(ptau), str(tmp),
                             step="ceremony init", subject=compiled.circuit.name)
        os.replace(tmp, initial)
    finally:
        tmp.unlink(missing_ok=True)
    _save(folder, {
        "format": FORMAT,
        "circuit": {
            "name": compiled.circuit.name, "key": compiled.circuit.key,
            "template": compiled.circuit.template, "params": list(compiled.circuit.params),
            "r1cs_sha256": file_sha256(compiled.paths.r1cs),
            "constraints": info.n_constraints,
        },
        "ptau": {"file": str(ptau.resolve()), "sha256": file_sha256(ptau),
                 "power": header.power, "insecure_dev": header.insecure_dev},
        "initial": {"file": initial.name, "sha256": file_sha256(initial), "at": _now()},
        "contributions": [],
        "beacon": None,
    })
    return folder


def _last_file(folder: Path, data: dict[str, Any]) -> Path:
    if data["beacon"] is not None:
        return folder / data["beacon"]["file"]
    if data["contributions"]:
        return folder / data["contributions"][-1]["file"]
    return folder / data["initial"]["file"]


def contribute(folder: Path, name: str, *, entropy: str | None = None) -> Contribution:
    """Add one contribution; returns its hash, which the contributor should keep."""
    data = _load(folder)
    if data["beacon"] is not None:
        raise CeremonyError(f"{folder}: the ceremony is finalized; no more contributions")
    prev = _last_file(folder, data)
    _check_file(folder, prev.name, _expected_sha(data, prev.name))
    index = len(data["contributions"]) + 1
    out = folder / f"{index:04d}_{_slug(name)}.zkey"
    if out.exists():
        raise CeremonyError(f"{out} exists: refusing to overwrite a contribution")
    tmp = folder / f".{out.name}.tmp{os.getpid()}"
    # The toxic waste lives only inside the node process for this call.
    entropy = entropy if entropy is not None else secrets.token_hex(32)
    try:
        chash = _node.snarkjs().call("zkey.contribute", str(prev), str(tmp), name, entropy,
                                     step="ceremony contribute", subject=str(folder))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    entry = {"index": index, "name": name, "file": out.name, "sha256": file_sha256(out),
             "contribution_hash": chash, "at": _now()}
    data["contributions"].append(entry)
    _save(folder, data)
    return Contribution(index, name, out.name, entry["sha256"], chash)


def finalize(folder: Path, beacon_hex: str, *, iterations_exp: int = 10) -> Path:
    """Apply a public random beacon (e.g. a future block hash) as the last contribution."""
    data = _load(folder)
    if data["beacon"] is not None:
        raise CeremonyError(f"{folder}: already finalized")
    if not data["contributions"]:
        raise CeremonyError(f"{folder}: no contributions yet; a beacon alone is not a ceremony")
    if not re.fullmatch(r"(0x)?([0-9a-fA-F]{2}){1,255}", beacon_hex):
        raise CeremonyError(f"beacon must be an even-length hex string, got {beacon_hex!r}")
    if not 10 <= iterations_exp <= 63:  # snarkjs's own limits
        raise CeremonyError("beacon iterations exponent must be in [10, 63]")
    beacon_hex = beacon_hex.removeprefix("0x")
    prev = _last_file(folder, data)
    _check_file(folder, prev.name, _expected_sha(data, prev.name))
    out = folder / "final.zkey"
    tmp = folder / f".final.zkey.tmp{os.getpid()}"
    try:
        chash = _node.snarkjs().call("zkey.beacon", str(prev), str(tmp), "final beacon",
                                     beacon_hex, iterations_exp,
                                     step="ceremony finalize", subject=str(folder))
        if chash is False:
            raise CeremonyError(f"{folder}: snarkjs refused the beacon")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    data["beacon"] = {"file": out.name, "sha256": file_sha256(out), "hash": beacon_hex,
                      "iterations_exp": iterations_exp, "contribution_hash": chash,
                      "at": _now()}
    _save(folder, data)
    return out


def _expected_sha(data: dict[str, Any], file: str) -> str:
    if data["initial"]["file"] == file:
        return str(data["initial"]["sha256"])
    for c in data["contributions"]:
        if c["file"] == file:
            return str(c["sha256"])
    if data["beacon"] and data["beacon"]["file"] == file:
        return str(data["beacon"]["sha256"])
    raise CeremonyError(f"{file} is not in the transcript")


def _check_file(folder: Path, file: str, sha: str) -> None:
    path = folder / file
    if not path.exists():
        raise CeremonyError(f"{path}: missing from the ceremony folder")
    got = file_sha256(path)
    if got != sha:
        raise CeremonyError(f"{path}: SHA-256 {got[:16]}… differs from the transcript's "
                            f"{sha[:16]}… (file altered)")


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    contributions: list[str]
    problems: list[str]


def verify(folder: Path, compiled: Compiled, *, ptau: Path | None = None,
           trust_initial: bool = False) -> VerifyReport:
    """Verify the whole transcript; never raises for a bad transcript, lists problems.

    By default snarkjs re-derives the initial key from the circuit's R1CS and the phase-1
    file (as long as ``init`` took) and checks every contribution and the beacon from it.
    ``trust_initial`` starts from the transcript's own initial key (its hash checked)
    instead: only for a caller that made that initial key itself, in this folder (the
    demo); an independent verifier keeps the default.
    """
    problems: list[str] = []
    try:
        data = _load(folder)
    except CeremonyError as exc:
        return VerifyReport(False, [], [str(exc)])
    circ = data["circuit"]
    if circ["key"] != compiled.circuit.key or circ["r1cs_sha256"] != file_sha256(
        compiled.paths.r1cs
    ):
        problems.append(f"transcript is for circuit {circ['name']}-{circ['key']}, "
                        f"not {compiled.circuit.name}-{compiled.circuit.key}")
    ptau_path = ptau or Path(data["ptau"]["file"])
    if not ptau_path.exists():
        problems.append(f"phase-1 file {ptau_path} not found (pass --ptau)")
    elif file_sha256(ptau_path) != data["ptau"]["sha256"]:
        problems.append(f"phase-1 file {ptau_path} differs from the one the ceremony used")
    files = [data["initial"], *data["contributions"]]
    if data["beacon"]:
        files.append(data["beacon"])
    for entry in files:
        try:
            _check_file(folder, entry["file"], entry["sha256"])
        except CeremonyError as exc:
            problems.append(str(exc))
    if problems:
        return VerifyReport(False, [], problems)

    last = _last_file(folder, data)
    messages: list[tuple[str, str]] = []
    if trust_initial:
        ok = _node.snarkjs().call("zkey.verifyFromInit", str(folder / data["initial"]["file"]),
                                  str(ptau_path), str(last), step="ceremony verify",
                                  subject=str(folder), messages=messages)
    else:
        ok = _node.snarkjs().call("zkey.verifyFromR1cs", str(compiled.paths.r1cs),
                                  str(ptau_path), str(last), step="ceremony verify",
                                  subject=str(folder), messages=messages)
    problems += [f"snarkjs: {msg}" for level, msg in messages if level == "error"]
    if not ok:
        problems.append(f"{last.name}: snarkjs zkey verify failed")
    # Contribution hashes the key carries, in order (formatted as 4 lines of hex words).
    carried = _carried_hashes("\n".join(msg for _, msg in messages))
    expected = [c["contribution_hash"] for c in data["contributions"]]
    if data["beacon"]:
        expected.append(data["beacon"]["contribution_hash"])
    if ok and carried != expected:
        problems.append(f"contribution hashes in {last.name} ({len(carried)}) do not match "
                        f"the transcript's ({len(expected)})")
    names = [c["name"] for c in data["contributions"]]
    return VerifyReport(ok and not problems, names, problems)


def _carried_hashes(text: str) -> list[str]:
    """Contribution hashes from snarkjs's verify log, in contribution order.

    snarkjs prints them newest first as ``contribution #i name:`` and four lines of
    four 8-digit hex words.
    """
    found: dict[int, str] = {}
    pattern = r"contribution #(\d+)[^\n]*:\n((?:\s*[0-9a-f]{8}(?: [0-9a-f]{8}){3}\n?){4})"
    for m in re.finditer(pattern, text):
        found[int(m.group(1))] = re.sub(r"\s+", "", m.group(2))
    return [found[i] for i in sorted(found)]


def install(folder: Path, compiled: Compiled, *, ptau: Path | None = None,
            dest_dir: Path | None = None, trust_initial: bool = False) -> Keys:
    """Verify a finalized ceremony and make its key the circuit's proving key
    (or, with ``dest_dir``, put the keys there without touching the active ones).
    ``trust_initial``: see :func:`verify`."""
    data = _load(folder)
    if data["beacon"] is None:
        raise CeremonyError(f"{folder}: not finalized (run `zkclear ceremony finalize`)")
    report = verify(folder, compiled, ptau=ptau, trust_initial=trust_initial)
    if not report.ok:
        raise ArtefactError(f"{folder}: ceremony does not verify: " + "; ".join(report.problems))
    return install_ceremony_zkey(compiled, folder / data["beacon"]["file"],
                                 folder / TRANSCRIPT, dest_dir=dest_dir)
