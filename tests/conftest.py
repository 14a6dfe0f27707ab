"""Fixtures shared by several test folders: the Groth16 multiplier fixture, and the story
pool of :mod:`zkclear.chain.scenario` (its keys, deployed once per module, restored after
each test). A module that needs another ``keys``, ``deployed`` or ``pool`` defines its
own, which takes precedence (pytest's rule). Folder-specific fixtures are in the
folders' conftest.py files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zkclear import paths
from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.pool import Pool
from zkclear.prover.keys import Keys
from zkclear.verifier import fixture as groth16_fixture


@pytest.fixture(scope="session")
def groth16_multiplier() -> groth16_fixture.Groth16Fixture:
    """A multiplier circuit proven with snarkjs directly: public = [c, s, offset]."""
    return groth16_fixture.build(paths.build_dir() / "test-fixtures" / "multiplier")


@pytest.fixture(scope="session")
def keys() -> Keys:
    """INSECURE development keys of the story pool's epoch circuit (N=4, M=2, K=4; cached
    in build/ after the first run)."""
    return scenario.epoch_keys()


@pytest.fixture(scope="module")
def deployed(keys: Keys) -> Pool:
    """The story pool (:func:`zkclear.chain.scenario.deploy_pool`) on a fresh embedded
    chain, one per test module."""
    return scenario.deploy_pool(chain.embedded_web3(), keys)


@pytest.fixture
def pool(deployed: Pool) -> Iterator[Pool]:
    """The module's story pool, its chain and off-chain state restored after the test."""
    snap, state = chain.snapshot(deployed.w3), deployed.state
    try:
        yield deployed
    finally:
        chain.revert(deployed.w3, snap)
        deployed.state = state
