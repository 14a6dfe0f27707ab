"""Phase 1 (powers of tau): the INSECURE development file, and checks of any ptau.

Groth16 setup (``snarkjs zkey new``) needs a phase-1 file prepared for phase 2: the
tau-power sections 2-7 *and* the Lagrange sections 12-15. snarkjs prepares these with a
group FFT (``powersoftau prepare phase2``) that takes ~11 min at 2^14 and hours at 2^16
on our machines. For development and tests :func:`dev_ptau` instead writes the file
directly from secrets derived from a public label (``prover/js/devptau.mjs``), in
seconds. **Anyone can recompute those secrets**: keys built on it are forgeable unless a
phase-2 ceremony follows, and the file says so (its one contribution is named
:data:`DEV_LABEL`, which :func:`read_ptau_header` reports as ``insecure_dev``).

A ceremony-grade file (``--ptau FILE``) is used as given after :func:`read_ptau_header`
and :func:`check_ptau_for_circuit` accept it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from zkclear import paths
from zkclear.errors import ArtefactError
from zkclear.field import P as R
from zkclear.prover import _node
from zkclear.prover.binfile import Section, read_sections

log = logging.getLogger(__name__)

#: The name of the development file's single contribution; marks a file as insecure.
DEV_LABEL = "zkclear INSECURE development powers of tau v1"
#: BN254's base field modulus q (the coordinates of curve points).
Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583
#: BN254's scalar field has 2-adicity 28: no FFT domain (hence no circuit) beyond 2^28.
MAX_POWER = 28
#: devptau computes the extra 2^(power+1) Lagrange level from roots of unity, so 2^27.
MAX_DEV_POWER = 27

_G1, _G2 = 64, 128  # affine points, two coordinates of 32 / 64 bytes
_HEADER_SIZE = 4 + 32 + 4 + 4  # n8, q, power, ceremony power
_PHASE1 = (2, 3, 4, 5, 6, 7)
_PHASE2 = (12, 13, 14, 15)
# One contribution record before its parameters: tauG1 tauG2 alphaG1 betaG1 betaG2,
# the public key (6 G1 + 3 G2), the partial response hash and the next challenge.
_CONTRIBUTION_FIXED = 3 * _G1 + 2 * _G2 + 6 * _G1 + 3 * _G2 + 216 + 64


@dataclass(frozen=True)
class PtauInfo:
    """What the header and contributions section of a ptau say."""

    power: int
    ceremony_power: int
    n_contributions: int
    has_phase2_sections: bool
    insecure_dev: bool
    contribution_names: tuple[str, ...] = ()

    @property
    def insecure(self) -> bool:
        """No secret anyone could have forgotten: zkclear's dev file, or no contribution."""
        return self.insecure_dev or self.n_contributions == 0


def _section_sizes(power: int) -> dict[int, int]:
    n = 1 << power
    return {
        2: (2 * n - 1) * _G1,  # tau^i G1, i < 2n-1
        3: n * _G2,
        4: n * _G1,
        5: n * _G1,
        6: _G2,
        12: (4 * n - 1) * _G1,  # Lagrange bases of every domain 2^0 .. 2^(power+1)
        13: (2 * n - 1) * _G2,  # ... 2^0 .. 2^power
        14: (2 * n - 1) * _G1,
        15: (2 * n - 1) * _G1,
    }


def read_ptau_header(path: Path, *, require_phase2: bool = True) -> PtauInfo:
    """Validate a ptau's structure (not its points) and summarise it.

    Raises :class:`ArtefactError` naming the file and the defect: not a ptau, truncated,
    wrong curve, sections of the wrong size, or (with ``require_phase2``) no Lagrange
    sections, i.e. not prepared for phase 2.
    """
    path = Path(path)
    sections = read_sections(path, b"ptau")  # magic, section table, truncation
    with path.open("rb") as f:
        head = f.read(8)
        (version,) = struct.unpack_from("<I", head, 4)
        if version != 1:
            raise ArtefactError(f"{path}: ptau format version {version}, snarkjs writes 1")

        def one(stype: int, what: str) -> Section:
            found = sections.get(stype)
            if not found:
                raise ArtefactError(f"{path}: missing section {stype} ({what})")
            if len(found) > 1:
                raise ArtefactError(f"{path}: section {stype} ({what}) appears {len(found)} times")
            return found[0]

        hdr = one(1, "header")
        if hdr.size != _HEADER_SIZE:
            raise ArtefactError(f"{path}: header is {hdr.size} bytes, expected {_HEADER_SIZE}")
        f.seek(hdr.offset)
        raw = f.read(hdr.size)
        (n8,) = struct.unpack_from("<I", raw, 0)
        q = int.from_bytes(raw[4:36], "little")
        power, ceremony_power = struct.unpack_from("<II", raw, 36)
        if n8 != 32 or q != Q:
            raise ArtefactError(f"{path}: not a BN254 (bn128) ptau (base field {q})")
        if not 1 <= power <= MAX_POWER or ceremony_power < power:
            raise ArtefactError(
                f"{path}: implausible power 2^{power} (ceremony power 2^{ceremony_power})"
            )

        sizes = _section_sizes(power)
        names = {2: "tauG1", 3: "tauG2", 4: "alphaTauG1", 5: "betaTauG1", 6: "betaG2",
                 7: "contributions", 12: "Lagrange tauG1", 13: "Lagrange tauG2",
                 14: "Lagrange alphaTauG1", 15: "Lagrange betaTauG1"}
        for stype in _PHASE1:
            sec = one(stype, names[stype])
            if stype in sizes and sec.size != sizes[stype]:
                raise ArtefactError(
                    f"{path}: section {stype} ({names[stype]}) is {sec.size} bytes, "
                    f"2^{power} needs {sizes[stype]}"
                )
        present = [s for s in _PHASE2 if s in sections]
        if present and len(present) != len(_PHASE2):
            raise ArtefactError(
                f"{path}: incomplete phase-2 preparation (has Lagrange sections {present} "
                f"of {list(_PHASE2)})"
            )
        for stype in present:
            sec = one(stype, names[stype])
            if sec.size != sizes[stype]:
                raise ArtefactError(
                    f"{path}: section {stype} ({names[stype]}) is {sec.size} bytes, "
                    f"2^{power} needs {sizes[stype]}"
                )
        if require_phase2 and not present:
            raise ArtefactError(
                f"{path}: not prepared for phase 2 (no Lagrange sections 12-15); run "
                f"`snarkjs powersoftau prepare phase2` on it, or use the development ptau"
            )
        sec7 = one(7, "contributions")
        f.seek(sec7.offset)
        contribution_names = _contribution_names(path, f.read(sec7.size))

    return PtauInfo(
        power=power,
        ceremony_power=ceremony_power,
        n_contributions=len(contribution_names),
        has_phase2_sections=bool(present),
        insecure_dev=bool(contribution_names) and all(n == DEV_LABEL for n in contribution_names),
        contribution_names=tuple(contribution_names),
    )


def _contribution_names(path: Path, data: bytes) -> list[str]:
    """The names of the contributions in section 7 ("" for unnamed ones)."""
    def corrupt(why: str) -> ArtefactError:
        return ArtefactError(f"{path}: corrupt contributions section ({why})")

    if len(data) < 4:
        raise corrupt("too short")
    (count,) = struct.unpack_from("<I", data, 0)
    pos, out = 4, []
    for i in range(count):
        pos += _CONTRIBUTION_FIXED
        if pos + 8 > len(data):
            raise corrupt(f"contribution {i + 1} of {count} is cut short")
        _ctype, plen = struct.unpack_from("<II", data, pos)
        pos += 8
        params = data[pos : pos + plen]
        if len(params) != plen:
            raise corrupt(f"parameters of contribution {i + 1} are cut short")
        pos += plen
        name, j = "", 0
        while j < plen:  # (type, ...) pairs: 1 name, 2 iterations exponent, 3 beacon hash
            ptype = params[j]
            if ptype == 2:
                j += 2
            elif ptype in (1, 3) and j + 1 < plen:
                n = params[j + 1]
                if ptype == 1:
                    name = params[j + 2 : j + 2 + n].decode("utf-8", "replace")
                j += 2 + n
            else:
                raise corrupt(f"unknown parameter {ptype} in contribution {i + 1}")
        if j != plen:
            raise corrupt(f"parameters of contribution {i + 1} overrun")
        out.append(name)
    if pos != len(data):
        raise corrupt(f"{len(data) - pos} bytes after {count} contributions")
    return out


def required_power(n_constraints: int, n_public: int) -> int:
    """The least k with which ``snarkjs zkey new`` accepts a circuit: 2^k > constraints + public.

    snarkjs 0.7.6 ``zkey_new.js``: ``cirPower = log2(nConstraints + nPubInputs + nOutputs
    + 1 - 1) + 1`` with ``log2`` the floor of the binary logarithm (``log2(0) = 0``).
    The domain holds the circuit's constraints plus one row per public signal and one
    for the constant 1 (``A_s(X)`` for those, so the public inputs are bound), i.e.
    ``2^k >= n_constraints + n_public + 1``. ``n_public`` counts outputs and public
    inputs, not the constant.
    """
    if n_constraints < 0 or n_public < 0:
        raise ValueError("constraint and public-signal counts are non-negative")
    return max(1, (n_constraints + n_public).bit_length())


def check_ptau_for_circuit(path: Path, n_constraints: int, n_public: int) -> PtauInfo:
    """Refuse a ptau that cannot set up this circuit, before snarkjs runs on it."""
    info = read_ptau_header(path)
    need = required_power(n_constraints, n_public)
    if need > MAX_POWER:
        raise ArtefactError(
            f"circuit needs 2^{need} ({n_constraints} constraints + {n_public} public "
            f"signals), beyond BN254's largest FFT domain 2^{MAX_POWER}"
        )
    if info.power < need:
        raise ArtefactError(
            f"{path}: circuit needs 2^{need} ({n_constraints} constraints + {n_public} "
            f"public signals + 1 = {n_constraints + n_public + 1} > 2^{need - 1}), this ptau "
            f"has 2^{info.power}"
        )
    return info


def ptau_for_circuit(
    n_constraints: int, n_public: int, *, ptau: Path | None = None,
) -> tuple[Path, PtauInfo]:
    """The ptau to set a circuit up with: the given one (``--ptau FILE``) after checks, or
    the development one of the least sufficient power (generated on first use)."""
    if ptau is None:
        ptau = dev_ptau(required_power(n_constraints, n_public))
    info = check_ptau_for_circuit(ptau, n_constraints, n_public)
    if info.insecure:
        what = "zkclear's development file" if info.insecure_dev else "no contribution"
        log.warning("%s: INSECURE powers of tau (%s): keys need a phase-2 ceremony", ptau, what)
    return ptau, info


# ------------------------------------------------------------------ development ptau


@dataclass(frozen=True)
class DevSecrets:
    """The development file's toxic waste: public by construction, never for production."""

    tau: int
    alpha: int
    beta: int


def dev_secrets(label: str = DEV_LABEL) -> DevSecrets:
    """tau, alpha, beta as devptau.mjs derives them.

    ``x = int(SHA-256(SHA-256(label) || "/" || name)) mod r`` for each name.
    """
    seed = hashlib.sha256(label.encode()).digest()

    def derive(name: str) -> int:
        return int.from_bytes(hashlib.sha256(seed + b"/" + name.encode()).digest(), "big") % R

    return DevSecrets(derive("tau"), derive("alpha"), derive("beta"))


def dev_ptau_path(power: int) -> Path:
    return paths.ptau_dir() / f"zkclear_insecure_dev_pot{power:02d}.ptau"


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    # Two processes asking for the same power generate it once (the second waits).
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)


def _valid_dev(path: Path, power: int) -> bool:
    try:
        info = read_ptau_header(path)
    except ArtefactError:
        return False
    return info.insecure_dev and info.power == power and info.has_phase2_sections


def dev_ptau(power: int) -> Path:
    """The INSECURE development ptau for 2^power, generated on first use and cached.

    Deterministic: the same bytes on every machine. A cached file that fails the header
    checks (e.g. a crash left it truncated, which the atomic rename should prevent) is
    regenerated.
    """
    if not 1 <= power <= MAX_DEV_POWER:
        raise ValueError(f"development ptau power must be in 1..{MAX_DEV_POWER}, not {power}")
    path = dev_ptau_path(power)
    if _valid_dev(path, power):
        return path
    with _lock(path):
        if _valid_dev(path, power):  # made by another process while we waited
            return path
        if path.exists():
            log.warning("%s: invalid cached development ptau, regenerating", path)
            path.unlink()
        for stale in path.parent.glob(path.name + ".tmp-*"):  # a killed generator's
            stale.unlink(missing_ok=True)
        log.info("generating INSECURE development powers of tau 2^%d (%s)", power, path.name)
        proc = _node.run_node(
            paths.JS_DIR / "devptau.mjs", ["--power", str(power), "--out", str(path)],
            step="generate development ptau", subject=f"2^{power}",
            heartbeat=_node.HEARTBEAT_S,  # 2^19 and above take hours: show it is alive
        )
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        log.info("development ptau 2^%d: %s bytes in %.1f s", power, summary["bytes"],
                 summary["seconds"])
    if not _valid_dev(path, power):
        raise ArtefactError(f"{path}: the generated development ptau fails its header checks")
    return path

