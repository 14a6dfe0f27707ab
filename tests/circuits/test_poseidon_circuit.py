"""The circuit computes exactly what zkclear.poseidon computes (same constants, layout)."""

from __future__ import annotations

import hashlib

import pytest

from zkclear import paths
from zkclear.field import P
from zkclear.poseidon import poseidon_chain
from zkclear.prover.binfile import read_witness
from zkclear.prover.circuit import Circuit, compile_circuit
from zkclear.prover.prove import calculate_witness


def _values(n: int, label: str) -> list[int]:
    return [int.from_bytes(hashlib.sha256(f"{label}{i}".encode()).digest(), "big") % P
            for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 6, 7, 12])
def test_poseidon_chain_circuit_equals_python(n, tmp_path):
    compiled = compile_circuit(Circuit(
        f"poseidon_chain_test_{n}", paths.ROOT / "tests/circuits/poseidon_chain_test.circom",
        "PoseidonChainTest", (n,)))
    for label, values in (("edge", [P - 1] * n), ("random", _values(n, f"r{n}"))):
        wtns = tmp_path / f"{label}.wtns"
        calculate_witness(compiled, {"in": values}, wtns)
        # witness[0] is the constant 1; witness[1] the first output.
        assert read_witness(wtns)[1] == poseidon_chain(values), (n, label)
