"""``zkclear doctor``: is everything zkclear needs in place? Each check says how to fix it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata

from zkclear import paths

MIN_PYTHON = (3, 11)
#: module.register (prover/js/resolve.mjs) needs node 20.6.
MIN_NODE = (20, 6)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _python() -> Check:
    v = sys.version_info
    ok = (v.major, v.minor) >= MIN_PYTHON
    return Check("python", ok, f"{v.major}.{v.minor}.{v.micro} at {sys.executable}",
                 "" if ok else "use Python >= 3.11 (make recreates .venv with python3)")


def _pip_fix() -> str:
    if paths.CHECKOUT is not None:
        return "run `make install` to restore the pinned versions"
    return "reinstall zkclear with pip (its dependencies are pinned)"


def _python_packages() -> list[Check]:
    # The installed distribution's own pins (pyproject.toml's dependencies, no extras).
    pins = [r for r in metadata.requires("zkclear") or [] if "extra ==" not in r]
    out = []
    for spec in pins:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)", spec.strip())
        if not m:
            continue
        name, want = m.groups()
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            out.append(Check(f"pip {name}", False, "not installed", _pip_fix()))
            continue
        ok = have == want
        out.append(Check(f"pip {name}", ok, f"{have}" + ("" if ok else f" (pinned {want})"),
                         "" if ok else _pip_fix()))
    return out


def _sources() -> Check:
    """The circuits, contracts and npm manifests zkclear ships (package data of a wheel)."""
    where = "checkout" if paths.CHECKOUT is not None else "package data"
    need = {"circuits": sorted(paths.CIRCUITS_DIR.rglob("*.circom")),
            "contracts": sorted(paths.CONTRACTS_DIR.rglob("*.sol")),
            "package.json": [paths.PACKAGE_JSON] if paths.PACKAGE_JSON.is_file() else []}
    missing = [k for k, files in need.items() if not files]
    if missing:
        return Check("sources", False, f"{where}: no {', '.join(missing)} under {paths.PACKAGE}",
                     "reinstall zkclear from a complete wheel or checkout")
    return Check("sources", True, f"{where}: {len(need['circuits'])} circuit files in "
                 f"{paths.CIRCUITS_DIR}, {len(need['contracts'])} contracts")


def _node_modules() -> Check:
    nm = paths.node_modules_dir()
    if nm is None:
        return Check("node_modules", False,
                     f"not in a checkout and {paths.NODE_MODULES_ENV} is not set",
                     paths.node_install_hint())
    source = (paths.NODE_MODULES_ENV if os.environ.get(paths.NODE_MODULES_ENV)
              else "the checkout")
    if not nm.is_dir():
        return Check("node_modules", False, f"{nm} (from {source}) does not exist",
                     paths.node_install_hint())
    return Check("node_modules", True, f"{nm} (from {source})")


def _node() -> Check:
    node = shutil.which("node")
    if node is None:
        return Check("node", False, "not on PATH",
                     "install Node.js >= 20.6 (apt-get install nodejs)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    parts = re.findall(r"\d+", version)[:2]
    ok = tuple(int(p) for p in parts) >= MIN_NODE
    return Check("node", ok, f"{version} at {node}", "" if ok else "install Node.js >= 20.6")


def _node_packages() -> list[Check]:
    from zkclear.prover import _node

    out = []
    for name, want in _node.pinned_versions().items():
        have = _node.installed_version(name)
        ok = have == want
        detail = "not installed" if have is None else have + ("" if ok else f" (pinned {want})")
        out.append(Check(f"npm {name}", ok, detail, "" if ok else paths.node_install_hint()))
    return out


def _snarkjs_worker() -> Check:
    from zkclear.errors import ZkclearError
    from zkclear.prover import _node

    try:
        pong = _node.snarkjs().call("ping", step="start snarkjs worker", subject="worker")
    except ZkclearError as exc:
        return Check("snarkjs worker", False, str(exc), paths.node_install_hint())
    return Check("snarkjs worker", True, f"answers (node {pong['node']})")


def _circom() -> Check:
    from zkclear.errors import ZkclearError
    from zkclear.prover import _node

    try:
        proc = _node.run_node(paths.node_modules() / "circom2" / "cli.js", ["--version"],
                              step="circom2 --version", subject="circom2")
    except ZkclearError as exc:
        return Check("circom compiler", False, str(exc), paths.node_install_hint())
    m = re.search(r"circom compiler (\S+)", proc.stdout)
    return Check("circom compiler", bool(m), m.group(1) if m else proc.stdout.strip())


def _poseidon() -> Check:
    from zkclear import poseidon

    backend = poseidon.backend()
    # circomlibjs's Poseidon([1, 2]) (also in tests/vectors): a fixed known answer.
    want = 7853200120776062878684798364095072458815029376092732009249414926327459813530
    ok = poseidon.poseidon([1, 2]) == want and poseidon.poseidon_python([1, 2]) == want
    return Check("poseidon", ok, f"backend {backend}, known answer " + ("ok" if ok else "WRONG"),
                 "" if ok else f"reinstall ({_pip_fix()}); report a bug if it persists")


def _prover() -> Check:
    from zkclear.errors import ZkclearError
    from zkclear.prover import native
    from zkclear.prover.keys import dev_setup_tool
    from zkclear.prover.prove import backend

    try:
        name, binary = backend()
        tool = dev_setup_tool()
    except ZkclearError as exc:
        return Check("prover", False, str(exc).splitlines()[0],
                     "set ZKCLEAR_PROVER and ZKCLEAR_DEV_SETUP to auto (README)")
    detail = f"{name}" + (f" ({binary})" if binary else "") + f", development setup {tool}"
    if not native.available():
        detail += f"; groth16py not installed (pip install 'zkclear[{native.EXTRA}]')"
    return Check("prover", True, detail)


def _cache() -> Check:
    d = paths.build_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check("artefact cache", False, f"{d}: not writable ({exc.strerror})",
                     f"set {paths.BUILD_DIR_ENV} to a writable folder")
    circuits = sorted((d / "circuits").glob("*-*/manifest.json"))
    ptaus = sorted(paths.ptau_dir().glob("*.ptau"))
    size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
    stale = [p.parent.name for p in circuits if not (p.parent / "setup.json").exists()]
    detail = (f"{d}: {len(circuits)} compiled circuits, {len(ptaus)} ptau files, "
              f"{size / 1e6:.1f} MB" + (f"; not set up: {', '.join(stale)}" if stale else ""))
    return Check("artefact cache", True, detail)


def run_checks() -> list[Check]:
    checks = [_python(), *_python_packages(), _sources(), _node()]
    if checks[-1].ok:
        checks.append(_node_modules())
    if checks[-1].ok:
        npm = _node_packages()
        checks += npm
        if all(c.ok for c in npm):
            checks += [_circom(), _snarkjs_worker()]
    checks += [_poseidon(), _prover(), _cache()]
    return checks
