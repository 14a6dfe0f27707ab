"""Headers of iden3 binary files (r1cs, zkey, ptau, wtns), read in Python.

Each file is ``magic(4) version(u32) n_sections(u32)`` followed by sections
``type(u32) size(u64) data``. Reading the headers lets zkclear refuse a truncated file,
a zkey made for another circuit, or a ptau that is too small, *before* node runs for
minutes on it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from zkclear.errors import ArtefactError
from zkclear.field import P


@dataclass(frozen=True)
class Section:
    type: int
    offset: int  # of the data, in bytes from the start of the file
    size: int


def read_sections(path: Path, magic: bytes) -> dict[int, list[Section]]:
    """The section table of an iden3 binary file, checked against its length."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != magic:
                raise ArtefactError(
                    f"{path}: not a {magic.decode()} file (bad magic {head[:4]!r})"
                )
            (n_sections,) = struct.unpack_from("<I", head, 8)
            sections: dict[int, list[Section]] = {}
            pos = 12
            for _ in range(n_sections):
                f.seek(pos)
                raw = f.read(12)
                if len(raw) < 12:
                    raise ArtefactError(f"{path}: truncated (section table ends at byte {pos})")
                stype, ssize = struct.unpack("<IQ", raw)
                pos += 12
                if pos + ssize > size:
                    raise ArtefactError(
                        f"{path}: truncated (section {stype} needs {ssize} bytes at {pos}, "
                        f"file has {size})"
                    )
                sections.setdefault(stype, []).append(Section(stype, pos, ssize))
                pos += ssize
    except OSError as exc:
        raise ArtefactError(f"{path}: cannot read ({exc.strerror})") from exc
    return sections


def _read(path: Path, sec: Section, n: int) -> bytes:
    with path.open("rb") as f:
        f.seek(sec.offset)
        return f.read(min(n, sec.size))


def _one(path: Path, sections: dict[int, list[Section]], stype: int, what: str) -> Section:
    found = sections.get(stype)
    if not found:
        raise ArtefactError(f"{path}: missing section {stype} ({what})")
    return found[0]


@dataclass(frozen=True)
class R1csInfo:
    n_wires: int
    n_outputs: int
    n_public_inputs: int
    n_private_inputs: int
    n_labels: int
    n_constraints: int

    @property
    def n_public(self) -> int:
        """Public signals as snarkjs counts them (outputs first, then public inputs)."""
        return self.n_outputs + self.n_public_inputs


def r1cs_info(path: Path) -> R1csInfo:
    sections = read_sections(path, b"r1cs")
    sec = _one(path, sections, 1, "header")
    raw = _read(path, sec, 4 + 32 + 4 * 4 + 8 + 4)
    (n8,) = struct.unpack_from("<I", raw, 0)
    prime = int.from_bytes(raw[4 : 4 + n8], "little")
    if prime != P:
        raise ArtefactError(f"{path}: circuit is over prime {prime}, zkclear uses BN254's r")
    # nWires, nPubOut, nPubIn, nPrvIn (u32), nLabels (u64), mConstraints (u32)
    n_wires, n_out, n_pub, n_prv, n_labels, m = struct.unpack_from("<IIIIQI", raw, 4 + n8)
    return R1csInfo(n_wires, n_out, n_pub, n_prv, n_labels, m)


@dataclass(frozen=True)
class ZkeyInfo:
    protocol: int
    n_vars: int
    n_public: int
    domain_size: int


def zkey_info(path: Path) -> ZkeyInfo:
    sections = read_sections(path, b"zkey")
    proto = struct.unpack("<I", _read(path, _one(path, sections, 1, "protocol"), 4))[0]
    if proto != 1:
        raise ArtefactError(f"{path}: not a Groth16 zkey (protocol id {proto})")
    sec = _one(path, sections, 2, "Groth16 header")
    raw = _read(path, sec, 4 + 32 + 4 + 32 + 12)
    (n8q,) = struct.unpack_from("<I", raw, 0)
    (n8r,) = struct.unpack_from("<I", raw, 4 + n8q)
    r = int.from_bytes(raw[8 + n8q : 8 + n8q + n8r], "little")
    if r != P:
        raise ArtefactError(f"{path}: zkey is over scalar field {r}, not BN254's")
    n_vars, n_public, domain = struct.unpack_from("<III", raw, 8 + n8q + n8r)
    return ZkeyInfo(proto, n_vars, n_public, domain)


def witness_length(path: Path) -> int:
    """The number of values in a ``.wtns`` file (from its header: nothing else is read)."""
    return _witness_header(path, read_sections(path, b"wtns"))[1]


def _witness_header(path: Path, sections: dict[int, list[Section]]) -> tuple[int, int]:
    """(bytes per value, number of values) of a ``.wtns`` file, its prime checked."""
    head = _read(path, _one(path, sections, 1, "header"), 4 + 32 + 4)
    (n8,) = struct.unpack_from("<I", head, 0)
    prime = int.from_bytes(head[4 : 4 + n8], "little")
    if prime != P:
        raise ArtefactError(f"{path}: witness is over prime {prime}, not BN254's r")
    (n_values,) = struct.unpack_from("<I", head, 4 + n8)
    return n8, n_values


def read_witness(path: Path, count: int | None = None) -> list[int]:
    """The witness values of a ``.wtns`` file (index 0 is the constant 1, then outputs,
    then public inputs): all of them, or the first ``count``."""
    sections = read_sections(path, b"wtns")
    n8, n_values = _witness_header(path, sections)
    sec = _one(path, sections, 2, "values")
    if sec.size != n_values * n8:
        raise ArtefactError(f"{path}: witness section holds {sec.size} bytes, "
                            f"expected {n_values} values of {n8} bytes")
    if count is not None and count > n_values:
        raise ArtefactError(f"{path}: witness holds {n_values} values, {count} wanted")
    data = _read(path, sec, sec.size if count is None else count * n8)
    return [int.from_bytes(data[i : i + n8], "little") for i in range(0, len(data), n8)]
