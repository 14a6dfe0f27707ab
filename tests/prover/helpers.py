"""The report circuit's development keys by each setup tool, for the tests of the
provers (plain functions, not fixtures: module fixtures call them).

groth16py's keys are the circuit's active keys (what ``dev_setup`` makes by default);
snarkjs's, the reference, are kept apart in the circuit's ``snarkjs-dev/`` folder so that
the two never replace each other.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

from zkclear.field import P
from zkclear.prover import registry
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.keys import Keys, dev_setup


def report_keys(tool: str, instruments: int = 2) -> Keys:
    """The report circuit's development keys made by ``tool`` (groth16py or snarkjs)."""
    compiled = compile_circuit(registry.report_commitment(instruments=instruments))
    if tool == "snarkjs":
        return dev_setup(compiled, tool="snarkjs", dest_dir=compiled.paths.dir / "snarkjs-dev")
    return dev_setup(compiled, tool=tool)


def write_wtns(path: Path, values: Sequence[int]) -> Path:
    """A ``.wtns`` file (iden3 format 2) holding ``values``: a witness of no real circuit."""
    head = struct.pack("<I", 32) + P.to_bytes(32, "little") + struct.pack("<I", len(values))
    data = b"".join(v.to_bytes(32, "little") for v in values)
    path.write_bytes(b"wtns" + struct.pack("<II", 2, 2)
                     + struct.pack("<IQ", 1, len(head)) + head
                     + struct.pack("<IQ", 2, len(data)) + data)
    return path
