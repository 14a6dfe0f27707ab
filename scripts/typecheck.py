"""Run mypy on the installed layout of the `zkclear` package (`make typecheck`).

prover/, verifier/ and clearing/ are installed as zkclear.prover, zkclear.verifier and
zkclear.clearing (`[tool.setuptools.package-dir]` in pyproject.toml). The editable install
maps them with an import hook, which mypy does not run, and mypy names a file's module
after its folders, so `mypy clearing/` would check a module `clearing` that nothing
imports. This script lays the package out as the wheel does, as a tree of symbolic links
in build/typecheck/ (rebuilt on every run, so new modules are seen), and runs mypy on it
with the `[tool.mypy]` settings of pyproject.toml (`mypy_path` names the tree). mypy's
messages name the tree's paths; they are rewritten to the repository's own, so
`clearing/trades.py:12: error: ...` points at the file to edit.

    python scripts/typecheck.py [MYPY-ARGS...]      # exit status is mypy's
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"
PACKAGE = "zkclear"


def python_subpackages() -> dict[str, Path]:
    """`zkclear.X` -> its source folder, for the mapped folders that hold Python code."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    out: dict[str, Path] = {}
    for name, folder in package_dir.items():
        source = (ROOT / folder).resolve()
        if name.startswith(PACKAGE + ".") and (source / "__init__.py").is_file():
            out[name.removeprefix(PACKAGE + ".")] = source
    return out


def build_tree() -> dict[str, str]:
    """Lay out build/typecheck/zkclear; return the path prefixes to rewrite in messages."""
    top = TREE / PACKAGE
    if top.exists():
        shutil.rmtree(top)
    top.mkdir(parents=True)
    for entry in sorted((ROOT / PACKAGE).iterdir()):
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    rewrites: dict[str, str] = {}
    for sub, source in python_subpackages().items():
        (top / sub).symlink_to(source, target_is_directory=True)
        rewrites[f"{top.relative_to(ROOT)}/{sub}/"] = f"{source.relative_to(ROOT)}/"
    rewrites[f"{top.relative_to(ROOT)}/"] = f"{PACKAGE}/"
    return rewrites


def main(argv: list[str]) -> int:
    rewrites = build_tree()
    mypy = Path(sys.executable).with_name("mypy")
    command = [str(mypy) if mypy.exists() else "mypy", *argv]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    for stream, text in ((sys.stdout, proc.stdout), (sys.stderr, proc.stderr)):
        for line in text.splitlines(keepends=True):
            for tree_path, source_path in rewrites.items():  # the longest prefixes first
                if line.startswith(tree_path):
                    line = source_path + line[len(tree_path):]
                    break
            stream.write(line)
    return proc.returncode


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main(sys.argv[1:]))
