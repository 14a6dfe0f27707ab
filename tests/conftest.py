from __future__ import annotations

import pytest

from zkclear import paths
from zkclear.verifier import fixture as groth16_fixture


@pytest.fixture(scope="session")
def groth16_multiplier() -> groth16_fixture.Groth16Fixture:
    """A multiplier circuit proven with snarkjs directly: public = [c, s, offset]."""
    return groth16_fixture.build(paths.build_dir() / "test-fixtures" / "multiplier")
