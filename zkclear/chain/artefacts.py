"""The compiled system: solc's output for ``contracts/``, circomlibjs's Poseidon bytecode,
and the ABI of every name a :class:`~zkclear.chain.contracts.Deployment` holds.

Every source under ``contracts/`` is compiled in one solc job with the pinned solc
(:mod:`zkclear.chain.solidity`, cached). ``Poseidon1`` .. ``Poseidon6`` are circomlib's
Poseidon(n) as EVM bytecode from :mod:`zkclear.chain.poseidon_evm`; circomlibjs's generated
contracts (``prover/js/poseidon_contracts.mjs``, run once per circomlibjs version and
cached under ``build/contracts/``, :func:`poseidon_code`) are the reference they are
tested against.

Deploying (:mod:`zkclear.chain.contracts`) and decoding reverts
(:mod:`zkclear.chain.reverts`, which needs every ABI) both start here.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkclear import paths
from zkclear.chain import poseidon_evm
from zkclear.chain.solidity import CompiledContract, compile_sources
from zkclear.errors import ArtefactError, ToolError
from zkclear.fsutil import write_json_atomic
from zkclear.poseidon import MAX_INPUTS
from zkclear.prover import _node

#: Solidity sources of the system.
SOURCES_DIR = paths.CONTRACTS_DIR
#: The node script printing circomlibjs's Poseidon bytecode for 1..6 inputs.
POSEIDON_SCRIPT = paths.JS_DIR / "poseidon_contracts.mjs"
POSEIDON_ARITIES = tuple(range(1, MAX_INPUTS + 1))


def sources() -> dict[str, Path]:
    """Source unit name (path under ``contracts/``) -> file, for one solc job."""
    out = {p.relative_to(SOURCES_DIR).as_posix(): p for p in sorted(SOURCES_DIR.rglob("*.sol"))}
    if "ClearingHouse.sol" not in out:
        raise ArtefactError(f"no ClearingHouse.sol under {SOURCES_DIR}")
    return out


def build() -> dict[str, CompiledContract]:
    """Compile every contract (cached by solc input); contracts by name."""
    return compile_sources(sources())


@dataclass(frozen=True)
class PoseidonCode:
    arity: int
    abi: list[dict[str, Any]]
    bytecode: str


@functools.cache
def poseidon_code() -> dict[int, PoseidonCode]:
    """circomlibjs's Poseidon contracts by arity (generated once per circomlibjs version)."""
    version = _node.installed_version("circomlibjs")
    if version is None:
        raise ToolError("generate Poseidon contracts", "circomlibjs", "not installed",
                        paths.node_install_hint())
    cache = paths.contracts_build_dir() / f"poseidon-circomlibjs-{version}.json"
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        proc = _node.run_node(POSEIDON_SCRIPT, [], step="generate Poseidon contracts",
                              subject="circomlibjs", timeout=120)
        data = json.loads(proc.stdout)
        if data.get("circomlibjs") != version:
            raise ToolError("generate Poseidon contracts", "circomlibjs",
                            f"script ran circomlibjs {data.get('circomlibjs')}, "
                            f"{version} is installed") from None
        write_json_atomic(cache, data)
    return {int(n): PoseidonCode(int(n), c["abi"], c["bytecode"])
            for n, c in data["contracts"].items()}


def abis() -> dict[str, list[dict[str, Any]]]:
    """ABI of each deployed name (Poseidon contracts and the verifier included)."""
    compiled = build()
    out = {name: c.abi for name, c in compiled.items()}
    out["Collateral"] = compiled["TestCollateral"].abi
    out["EpochVerifier"] = compiled["IEpochVerifier"].abi
    for n in POSEIDON_ARITIES:  # deployed from zkclear.chain.poseidon_evm
        out[f"Poseidon{n}"] = poseidon_evm.abi(n)
    return out
