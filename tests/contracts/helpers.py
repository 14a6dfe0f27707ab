"""Helpers the contract tests call with arguments (so plain functions, not fixtures):
a tampered proof, and a ``with`` block expecting a named revert. The pool they share with
the gas benchmark -- the engine's story played on-chain with real proofs -- is
:mod:`zkclear.chain.scenario`; its fixtures (``keys``, ``deployed``, ``pool``) are in
tests/conftest.py."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from py_ecc import bn128

from zkclear.chain.client import ContractError


def tamper(proof: dict[str, Any]) -> dict[str, Any]:
    """The proof with pi_a replaced by another valid curve point (2·G1)."""
    x, y = bn128.multiply(bn128.G1, 2)
    return {**proof, "pi_a": [str(x), str(y), "1"]}


@contextlib.contextmanager
def reverts(name: str) -> Iterator[Any]:
    """Expect a revert whose innermost custom error is ``name``."""
    with pytest.raises(ContractError) as ei:
        yield ei
    assert ei.value.root.name == name, str(ei.value)
