"""A built wheel works outside the repository: doctor and a real proof from a fresh venv.

Offline by construction: the wheel is built with ``--no-build-isolation`` (setuptools is
pinned in the dev extra) from a copy of the sources, and installed with ``--no-deps
--no-index`` into a new venv that sees the test venv's site-packages through a ``.pth``
file (its dependencies, nothing of zkclear: an editable install's finder lives in a
``.pth`` file of its own, which a path added this way does not run). The commands then
run from a folder outside the repository, with ``ZKCLEAR_NODE_MODULES`` pointing at the
repository's node_modules and the build directory left to its default (the user cache,
here a temporary ``XDG_CACHE_HOME``).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from zkclear import paths
from zkclear.prover import registry

pytestmark = pytest.mark.skipif(paths.CHECKOUT is None, reason="needs the repository")

#: Repository folders whose files become the package (see pyproject.toml's package-dir).
PACKAGE_DIRS = {"zkclear": "zkclear", "prover": "zkclear/prover", "verifier": "zkclear/verifier",
                "clearing": "zkclear/clearing", "circuits": "zkclear/circuits",
                "contracts": "zkclear/contracts"}
TOOLCHAIN = ("package.json", "package-lock.json", "hardhat.config.js")

PROVE = """
import json, sys
import zkclear
from zkclear import paths
from zkclear.clearing.report import Report
from zkclear.prover import registry
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.keys import dev_setup
from zkclear.prover.prove import prove
from zkclear.verifier import Proof, VerifyingKey, verify

keys = dev_setup(compile_circuit(registry.report_commitment(instruments=2)))
report = Report(delta=(25, -10), trade_cash=-2_500_000, salt=123456789)
res = prove(keys, report.circuit_inputs())
ok = verify(VerifyingKey.from_json(keys.vkey), Proof.from_json(res.proof), res.public)
print(json.dumps({"package": zkclear.__file__, "circuits": str(paths.CIRCUITS_DIR),
                  "build": str(paths.build_dir()), "checkout": str(paths.CHECKOUT),
                  "constraints": keys.compiled.info.n_constraints,
                  "key": keys.compiled.circuit.key,
                  "public": [str(v) for v in res.public],
                  "commitment": str(report.commitment()), "verified": ok}))
"""


def _run(cmd: list[str], cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _repo_files() -> set[str]:
    """Wheel paths of every file of the package folders (modules, templates, circuits,
    contracts, scripts), from the repository."""
    assert paths.CHECKOUT is not None
    out = {f"zkclear/toolchain/{name}" for name in TOOLCHAIN}
    for src, dest in PACKAGE_DIRS.items():
        for f in (paths.CHECKOUT / src).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                out.add(f"{dest}/{f.relative_to(paths.CHECKOUT / src).as_posix()}")
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert paths.CHECKOUT is not None
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a copy: an in-tree build would write build/lib into the artefact cache.
    src = tmp / "src"
    shutil.copytree(paths.CHECKOUT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", "build", "*.egg-info", "__pycache__", "tests",
        "bench", "docs"))
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-index", "--quiet", "-w", str(tmp / "dist"), str(src)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = (tmp / "dist").glob("zkclear-*.whl")
    return whl


def test_the_wheel_holds_every_module_circuit_contract_and_npm_manifest(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_repo_files() - names)
    assert not missing, f"not in the wheel (pyproject.toml's packages/package-data): {missing}"
    assert "zkclear/circuits/lib/hash.circom" in names
    assert "zkclear/contracts/base/Constants.sol" in names
    assert "zkclear/audit/templates/report.html.j2" in names


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("venv")
    proc = _run([sys.executable, "-m", "venv", "--without-pip", str(d)])
    assert proc.returncode == 0, proc.stderr
    py = d / "bin" / "python"
    proc = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                 "--no-index", "--quiet", str(wheel)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    # The dependencies (pinned, already installed for the tests), after the venv's own.
    Path(purelib.stdout.strip(), "zkclear_test_deps.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n")
    return d


def _env(tmp: Path, *, node_modules: bool = True) -> dict[str, str]:
    assert paths.CHECKOUT is not None
    env = {k: v for k, v in os.environ.items()
           if k not in ("ZKCLEAR_BUILD_DIR", "ZKCLEAR_NODE_MODULES", "PYTHONPATH")}
    env["XDG_CACHE_HOME"] = str(tmp / "cache")
    if node_modules:
        env["ZKCLEAR_NODE_MODULES"] = str(paths.CHECKOUT / "node_modules")
    return env


def test_doctor_from_the_wheel_outside_the_repo(venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = _run([str(venv / "bin" / "zkclear"), "doctor"], cwd=work, env=_env(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "package data" in out and str(venv) in out  # circuits from the wheel
    assert str(tmp_path / "cache" / "zkclear") in out  # the user cache by default

    # Without node_modules, doctor says what is missing and how to install it.
    proc = _run([str(venv / "bin" / "zkclear"), "doctor"], cwd=work,
                env=_env(tmp_path, node_modules=False))
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 1, out
    assert "ZKCLEAR_NODE_MODULES is not set" in out and "npm ci --prefix DIR" in out
    assert "package-lock.json" in out


def test_a_proof_from_the_wheel_outside_the_repo(venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = _run([str(venv / "bin" / "python"), "-c", PROVE], cwd=work, env=_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(res["package"]).is_relative_to(venv)
    assert Path(res["circuits"]).is_relative_to(venv) and res["checkout"] == "None"
    assert Path(res["build"]) == tmp_path / "cache" / "zkclear"
    assert res["constraints"] == 516
    # Sources are named relative to the circuits folder and node_modules in the cache key,
    # so the wheel and the checkout agree on it (and on the keys a ceremony made).
    assert res["key"] == registry.report_commitment(instruments=2).key
    assert res["verified"] and res["public"] == [res["commitment"]]
