"""The contract tests' helpers. The pool they share with the gas benchmark -- the
engine's story played on-chain with real proofs -- is :mod:`zkclear.chain.scenario`;
its names are re-exported here (``cs.deploy_pool``, ``cs.CFG``, ...).

Accounts: :class:`zkclear.chain.pool.Actors` (the layout the demo and the pool driver use).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from py_ecc import bn128

from zkclear.chain import node as chain
from zkclear.chain.client import ContractError
from zkclear.chain.pool import Pool as Pool
from zkclear.chain.scenario import CFG as CFG
from zkclear.chain.scenario import COMPLIANCE as COMPLIANCE
from zkclear.chain.scenario import DELAY as DELAY
from zkclear.chain.scenario import ESCROW as ESCROW
from zkclear.chain.scenario import deploy_pool as deploy_pool
from zkclear.chain.scenario import deploy_unproven as deploy_unproven
from zkclear.chain.scenario import epoch_keys as epoch_keys
from zkclear.chain.scenario import install_exit_state as install_exit_state
from zkclear.chain.scenario import post_prices as post_prices
from zkclear.chain.scenario import prepare_epoch as prepare_epoch
from zkclear.chain.scenario import story_end_to_end as story_end_to_end
from zkclear.chain.scenario import submit as submit
from zkclear.clearing.epoch import EpochResult as EpochResult


def tamper(proof: dict[str, Any]) -> dict[str, Any]:
    """The proof with pi_a replaced by another valid curve point (2·G1)."""
    x, y = bn128.multiply(bn128.G1, 2)
    return {**proof, "pi_a": [str(x), str(y), "1"]}


@contextlib.contextmanager
def reverts(name: str) -> Iterator[Any]:
    """Expect a revert whose innermost custom error is ``name`` (for pytest tests)."""
    import pytest

    with pytest.raises(ContractError) as ei:
        yield ei
    assert ei.value.root.name == name, str(ei.value)


@contextlib.contextmanager
def rolled_back(pool: Pool) -> Iterator[Pool]:
    """The pool as it is now, restored (chain snapshot and off-chain state) afterwards."""
    snap, state = chain.snapshot(pool.w3), pool.state
    try:
        yield pool
    finally:
        chain.revert(pool.w3, snap)
        pool.state = state
