"""Every artefact path in one place (nothing else builds a path by hand).

Layout under the build directory (``$ZKCLEAR_BUILD_DIR`` or ``<repo>/build``)::

    circuits/<name>-<key>/            one compiled circuit, key = hash(source, params, tools)
        <name>.r1cs  <name>.sym  <name>_js/<name>.wasm
        groth16_pkey.zkey  groth16_vkey.json  <Name>Verifier.sol  manifest.json
    ptau/                             phase-1 files (development ones are labelled insecure)
    ceremonies/<name>-<key>/          phase-2 transcripts
    proofs/<job-key>/                 content-addressed proving jobs (proof.json, public.json)
    contracts/                        solc output (abi + bytecode)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The repository root (this file is ``<root>/zkclear/paths.py``; installs are editable).
ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
CIRCUITS_DIR = ROOT / "circuits"
CONTRACTS_DIR = ROOT / "contracts"
JS_DIR = ROOT / "prover" / "js"
PACKAGE_JSON = ROOT / "package.json"


def build_dir() -> Path:
    """Root of the artefact cache; ``ZKCLEAR_BUILD_DIR`` overrides ``<repo>/build``."""
    return Path(os.environ.get("ZKCLEAR_BUILD_DIR", ROOT / "build")).resolve()


def ptau_dir() -> Path:
    return build_dir() / "ptau"


def proofs_dir() -> Path:
    return build_dir() / "proofs"


def contracts_build_dir() -> Path:
    return build_dir() / "contracts"


def ceremonies_dir() -> Path:
    return build_dir() / "ceremonies"


@dataclass(frozen=True)
class CircuitPaths:
    """Where one compiled circuit (identified by name and cache key) keeps its artefacts."""

    name: str
    key: str

    @property
    def dir(self) -> Path:
        return build_dir() / "circuits" / f"{self.name}-{self.key}"

    @property
    def main(self) -> Path:
        return self.dir / f"{self.name}.circom"

    @property
    def r1cs(self) -> Path:
        return self.dir / f"{self.name}.r1cs"

    @property
    def sym(self) -> Path:
        return self.dir / f"{self.name}.sym"

    @property
    def wasm(self) -> Path:
        return self.dir / f"{self.name}_js" / f"{self.name}.wasm"

    @property
    def zkey(self) -> Path:
        return self.dir / "groth16_pkey.zkey"

    @property
    def vkey(self) -> Path:
        return self.dir / "groth16_vkey.json"

    @property
    def solidity_verifier(self) -> Path:
        return self.dir / f"{contract_name(self.name)}.sol"

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"


def contract_name(circuit: str) -> str:
    """Per-circuit verifier contract name: ``report_commitment`` -> ``ReportCommitmentVerifier``."""
    return "".join(part.capitalize() for part in circuit.replace("-", "_").split("_")) + "Verifier"
