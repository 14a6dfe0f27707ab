"""Every path in one place (nothing else builds a path by hand).

Sources zkclear ships, found through :mod:`importlib.resources` so a built wheel works
outside the repository:

* circuits (``circuits/``, ``circuits/lib/``) and contracts (``contracts/``) are package
  data of the wheel (``zkclear/circuits``, ``zkclear/contracts``); from a checkout (an
  editable install) they are the repository's own folders;
* the node tooling's manifests (``package.json``, ``package-lock.json``,
  ``hardhat.config.js``) ship as ``zkclear/toolchain``, so ``npm ci --prefix DIR`` can
  install the pinned node packages anywhere (README, "Installing the wheel");
* the node packages themselves are found in ``$ZKCLEAR_NODE_MODULES`` (a
  ``node_modules`` folder), else in the checkout's ``node_modules``.

Layout under the build directory (``$ZKCLEAR_BUILD_DIR``; else ``<repo>/build`` in a
checkout, the user cache folder otherwise)::

    circuits/<name>-<key>/            one compiled circuit, key = hash(source, params, tools)
        <name>.r1cs  <name>.sym  <name>_js/<name>.wasm
        groth16_pkey.zkey (snarkjs) or groth16py_pkey.bin (groth16py dev setup)
        groth16_vkey.json  <Name>Verifier.sol  manifest.json
    ptau/                             phase-1 files (development ones are labelled insecure)
    ceremonies/<name>-<key>/          phase-2 transcripts
    proofs/<job-key>/                 content-addressed proving jobs (proof.json, public.json)
    contracts/                        solc output (abi + bytecode)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zkclear.errors import ToolMissingError

#: Environment variables (documented in README, "Installing the wheel").
BUILD_DIR_ENV = "ZKCLEAR_BUILD_DIR"
NODE_MODULES_ENV = "ZKCLEAR_NODE_MODULES"


def _resource_dir(package: str, *parts: str) -> Path:
    root = resources.files(package)
    if not isinstance(root, Path):  # e.g. a zip import: circom and node need real files
        raise ImportError(f"{package} must be installed as files, not from {root}")
    return root.joinpath(*parts)


#: The installed ``zkclear`` package folder.
PACKAGE = _resource_dir("zkclear")


def _checkout() -> Path | None:
    root = PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "circuits").is_dir():
        return root
    return None


#: The repository root when zkclear runs from a checkout (an editable install), else None.
CHECKOUT = None if (PACKAGE / "circuits").is_dir() else _checkout()


def _shipped(name: str) -> Path:
    """Package data ``zkclear/<name>`` of a wheel, or the checkout's folder."""
    if CHECKOUT is None:
        return PACKAGE / name
    return CHECKOUT if name == "toolchain" else CHECKOUT / name


CIRCUITS_DIR = _shipped("circuits")
CONTRACTS_DIR = _shipped("contracts")
#: package.json, package-lock.json and hardhat.config.js of the pinned node tooling.
TOOLCHAIN_DIR = _shipped("toolchain")
PACKAGE_JSON = TOOLCHAIN_DIR / "package.json"
#: Our own node scripts (snarkjs worker, solc, development ptau, Poseidon contracts).
JS_DIR = _resource_dir("zkclear.prover", "js")

def node_modules_dir() -> Path | None:
    """The node_modules folder of the pinned tooling, or None if none is known.

    ``$ZKCLEAR_NODE_MODULES`` wins; in a checkout, ``<repo>/node_modules``.
    """
    env = os.environ.get(NODE_MODULES_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return CHECKOUT / "node_modules" if CHECKOUT is not None else None


def node_modules() -> Path:
    """Like :func:`node_modules_dir`, but a missing location is a :class:`ToolMissingError`."""
    nm = node_modules_dir()
    if nm is None:
        raise ToolMissingError(
            "locate node packages", "node_modules",
            f"not running from a checkout and {NODE_MODULES_ENV} is not set", node_install_hint(),
        )
    return nm


def node_install_hint() -> str:
    """How to install the pinned node packages, for this install."""
    if CHECKOUT is not None:
        return f"run `make install` (or `npm ci`) in {CHECKOUT}"
    t = TOOLCHAIN_DIR
    return (f"copy {t}/package.json and {t}/package-lock.json into a folder DIR, run "
            f"`npm ci --prefix DIR`, then set {NODE_MODULES_ENV}=DIR/node_modules")


def user_cache_dir() -> Path:
    """The per-user cache folder (XDG on Linux, the platforms' own elsewhere)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "zkclear"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "zkclear" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zkclear"


def build_dir() -> Path:
    """Root of the artefact cache: ``$ZKCLEAR_BUILD_DIR``, ``<repo>/build`` or the user cache."""
    env = os.environ.get(BUILD_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return CHECKOUT / "build" if CHECKOUT is not None else user_cache_dir()


def __getattr__(name: str) -> Path:
    """``ROOT`` and ``NODE_MODULES``, for tests and benchmarks that run in a checkout."""
    if name == "ROOT":
        if CHECKOUT is None:
            raise AttributeError("zkclear.paths.ROOT: not running from a checkout")
        return CHECKOUT
    if name == "NODE_MODULES":
        return node_modules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    def native_pkey(self) -> Path:
        """The proving key of a groth16py development setup (groth16py's own format)."""
        return self.dir / "groth16py_pkey.bin"

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
