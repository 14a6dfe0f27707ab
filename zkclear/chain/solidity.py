"""Compiling Solidity with the pinned solc (solcjs from node_modules) and caching the result.

:func:`compile_sources` builds a solc standard-JSON input from the given sources, runs
``prover/js/solc.mjs`` once and returns every contract's ABI and bytecode. Results are
cached under :func:`zkclear.paths.contracts_build_dir` in one JSON file per compile job,
keyed by a hash of the whole standard-JSON input (every source's text and every setting)
and the pinned solc version, so an unchanged job never starts node again; the file is
written to a temporary name and renamed into place, so a crash never leaves half a cache.

Callers pass every source the job needs (no import callback): the key then covers all
the output depends on. Compiler *errors* raise :class:`~zkclear.errors.ToolError`
(step ``solc compile``) carrying solc's formatted messages; *warnings* are logged and
kept on each :class:`CompiledContract`, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkclear import paths
from zkclear.errors import ToolError
from zkclear.fsutil import write_json_atomic
from zkclear.prover import _node

log = logging.getLogger(__name__)

STEP = "solc compile"
#: solc 0.8.28's default target; Cancun uses PUSH0 and MCOPY (pass ``paris`` for old chains).
DEFAULT_EVM_VERSION = "cancun"
#: solc's usual default: a balance between deployment and call cost.
OPTIMIZER_RUNS = 200
#: Bumped whenever the cache file layout changes, so old files are simply not found.
CACHE_FORMAT = 1
SOLC_SCRIPT = paths.JS_DIR / "solc.mjs"

_OUTPUTS = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]


@dataclass(frozen=True)
class CompiledContract:
    """One contract out of a compile job; bytecodes are ``0x``-prefixed hex."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    #: The source unit (the key it had in ``sources``) that defines the contract.
    source: str = ""
    #: solc's formatted warnings for that source (and any without a location).
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "abi": self.abi, "bytecode": self.bytecode,
            "deployed_bytecode": self.deployed_bytecode, "source": self.source,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CompiledContract:
        return cls(
            d["name"], list(d["abi"]), d["bytecode"], d["deployed_bytecode"],
            d.get("source", ""), tuple(d.get("warnings", ())),
        )


def pinned_solc_version() -> str:
    """The solc version package.json pins (and node_modules must hold)."""
    return _node.pinned_versions()["solc"]


def standard_input(
    sources: Mapping[str, str | Path], *, evm_version: str = DEFAULT_EVM_VERSION,
    optimize: bool = True,
) -> dict[str, Any]:
    """The solc standard-JSON input; a ``str`` value is source text, a ``Path`` is read."""
    if not sources:
        raise ValueError("compile_sources: no sources given")
    contents: dict[str, dict[str, str]] = {}
    for unit, src in sorted(sources.items()):
        text = src.read_text(encoding="utf-8") if isinstance(src, Path) else src
        contents[unit] = {"content": text}
    return {
        "language": "Solidity",
        "sources": contents,
        "settings": {
            "optimizer": {"enabled": optimize, "runs": OPTIMIZER_RUNS},
            "evmVersion": evm_version,
            "outputSelection": {"*": {"*": _OUTPUTS}},
        },
    }


def cache_path(std_input: Mapping[str, Any]) -> Path:
    """Where the output of this exact input (and the pinned solc) is cached."""
    h = hashlib.sha256()
    h.update(f"zkclear-solc-cache/{CACHE_FORMAT}/solc={pinned_solc_version()}\n".encode())
    h.update(json.dumps(std_input, sort_keys=True, separators=(",", ":")).encode())
    # Name the file after the first source so a human can find it in the build folder.
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(next(iter(std_input["sources"]))).stem)
    return paths.contracts_build_dir() / f"{stem}-{h.hexdigest()[:16]}.json"


def compile_sources(
    sources: Mapping[str, str | Path], *, evm_version: str = DEFAULT_EVM_VERSION,
    optimize: bool = True,
) -> dict[str, CompiledContract]:
    """Compile ``{source unit name: text or Path}``; return contracts by name.

    Contract names must be unique across the job (that is why generated verifiers are
    renamed per circuit). Raises :class:`ToolError` on compiler errors.
    """
    std_input = standard_input(sources, evm_version=evm_version, optimize=optimize)
    cached = cache_path(std_input)
    hit = _read_cache(cached)
    if hit is not None:
        for c in hit.values():
            for w in c.warnings:
                log.debug("solc warning (cached) in %s: %s", c.source, w)
        return hit

    subject = ", ".join(std_input["sources"])
    version, output = _run_solc(std_input, subject)
    pinned = pinned_solc_version()
    if version.split("+", 1)[0] != pinned:
        raise ToolError(
            STEP, subject, f"solc reports version {version}, but {pinned} is pinned",
            paths.node_install_hint(),
        )
    contracts = _contracts_from_output(output, subject)
    _write_cache(cached, version, std_input, contracts)
    return contracts


def _run_solc(std_input: Mapping[str, Any], subject: str) -> tuple[str, dict[str, Any]]:
    """Run the pinned solcjs once; return (reported version, standard-JSON output).

    Kept as its own function so tests can count how often solc really runs.
    """
    _node.require_package("solc")
    proc = _node.run_node(
        SOLC_SCRIPT, ["--with-version"], step=STEP, subject=subject,
        input_text=json.dumps(std_input), timeout=600,
    )
    try:
        reply = json.loads(proc.stdout)
        return str(reply["version"]), dict(reply["output"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolError(STEP, subject, f"unreadable solc output: {proc.stdout[:2000]!r}") from exc


def _contracts_from_output(output: Mapping[str, Any], subject: str) -> dict[str, CompiledContract]:
    messages = list(output.get("errors", ()))
    errors = [m for m in messages if m.get("severity") == "error"]
    if errors:
        files = sorted({m["sourceLocation"]["file"] for m in errors if "sourceLocation" in m})
        raise ToolError(
            STEP, ", ".join(files) or subject,
            "\n".join(str(m.get("formattedMessage") or m.get("message")).rstrip()
                      for m in errors),
        )
    warnings_by_file: dict[str | None, list[str]] = {}
    for m in messages:
        if m.get("severity") != "warning":
            continue
        text = str(m.get("formattedMessage") or m.get("message")).rstrip()
        where = m.get("sourceLocation", {}).get("file")
        log.warning("solc warning in %s: %s", where or subject, text)
        warnings_by_file.setdefault(where, []).append(text)

    contracts: dict[str, CompiledContract] = {}
    for unit, by_name in output.get("contracts", {}).items():
        for name, data in by_name.items():
            if name in contracts:
                raise ToolError(
                    STEP, subject,
                    f"contract {name} is defined in both {contracts[name].source} and {unit}",
                    "give each contract its own name (verifiers: zkclear.paths.contract_name)",
                )
            warns = (*warnings_by_file.get(unit, ()), *warnings_by_file.get(None, ()))
            contracts[name] = CompiledContract(
                name=name,
                abi=list(data["abi"]),
                bytecode="0x" + data["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
                source=unit,
                warnings=tuple(warns),
            )
    return contracts


def _read_cache(path: Path) -> dict[str, CompiledContract] | None:
    try:
        data = json.loads(path.read_text())
        if data.get("format") != CACHE_FORMAT:
            return None
        return {n: CompiledContract.from_json(c) for n, c in data["contracts"].items()}
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        # A damaged cache file is only a lost optimisation: compile again and overwrite it.
        log.warning("ignoring unreadable solc cache file %s: %s", path, exc)
        return None


def _write_cache(
    path: Path, version: str, std_input: Mapping[str, Any],
    contracts: Mapping[str, CompiledContract],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "format": CACHE_FORMAT,
        "solc": version,
        "sources": list(std_input["sources"]),
        "settings": std_input["settings"],
        "contracts": {n: c.to_json() for n, c in contracts.items()},
    }
    write_json_atomic(path, record)
