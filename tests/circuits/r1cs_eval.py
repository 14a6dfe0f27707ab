"""Evaluate a circom R1CS on a full witness, for tampered-witness tests.

The witness generator refuses bad *inputs*, but a malicious prover controls every wire,
including the hints (``<--``) that the constraints must pin down. These helpers load the
constraints and the symbol table so a test can set wires by name and ask whether the
R1CS still holds (circomkit's ``expectConstraintFail``), without running any prover.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from zkclear.field import P
from zkclear.prover.binfile import read_sections

Lc = list[tuple[int, int]]  # (wire, coefficient)


@dataclass(frozen=True)
class R1cs:
    n_wires: int
    constraints: list[tuple[Lc, Lc, Lc]]
    wires: dict[str, int]  # signal name (without "main.") -> wire, for kept signals

    def violated(self, witness: list[int]) -> list[int]:
        """Indices of the constraints A*B = C that the witness does not satisfy."""
        assert len(witness) == self.n_wires and witness[0] == 1

        def ev(lc: Lc) -> int:
            return sum(witness[w] * k for w, k in lc) % P

        return [i for i, (a, b, c) in enumerate(self.constraints)
                if ev(a) * ev(b) % P != ev(c)]

    def holds(self, witness: list[int]) -> bool:
        return not self.violated(witness)


def load(r1cs: Path, sym: Path) -> R1cs:
    sections = read_sections(r1cs, b"r1cs")
    data = r1cs.read_bytes()

    def body(stype: int) -> bytes:
        (sec,) = sections[stype]
        return data[sec.offset : sec.offset + sec.size]

    head = body(1)
    (n8,) = struct.unpack_from("<I", head, 0)
    assert int.from_bytes(head[4 : 4 + n8], "little") == P
    n_wires, _out, _pub, _prv, _labels, n_constraints = struct.unpack_from(
        "<IIIIQI", head, 4 + n8)
    raw, pos = body(2), 0
    constraints = []
    for _ in range(n_constraints):
        lcs = []
        for _ in range(3):
            (n_terms,) = struct.unpack_from("<I", raw, pos)
            pos += 4
            lc = []
            for _ in range(n_terms):
                (wire,) = struct.unpack_from("<I", raw, pos)
                lc.append((wire, int.from_bytes(raw[pos + 4 : pos + 4 + n8], "little")))
                pos += 4 + n8
            lcs.append(lc)
        constraints.append((lcs[0], lcs[1], lcs[2]))
    wires = {}
    for line in sym.read_text().splitlines():
        _label, wire, _component, name = line.split(",", 3)
        if int(wire) >= 0:
            wires[name.removeprefix("main.")] = int(wire)
    return R1cs(n_wires, constraints, wires)
