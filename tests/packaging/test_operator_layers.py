"""zkclear's modules import each other one way only: no import cycle anywhere in the
package (function-level and type-checking imports included, and the package ``__init__``
an import runs), and the member client does not load the HTTP server to sign its
requests; no module is much longer than 450 lines unless its docstring says why."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Installed package -> source folder (pyproject's package-dir).
ROOTS = {"zkclear": REPO / "zkclear", "zkclear.prover": REPO / "prover",
         "zkclear.verifier": REPO / "verifier", "zkclear.clearing": REPO / "clearing"}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            if "node_modules" in path.parts or (pkg == "zkclear" and parts[:1] and parts[0]
                                                in ("prover", "verifier", "clearing")):
                continue
            out[".".join([pkg, *parts])] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    base = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            deps |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                b = base
                for _ in range(node.level - 1):
                    b = b.rpartition(".")[0]
                mod = f"{b}.{mod}" if mod else b
            deps |= {mod} | {f"{mod}.{a.name}" for a in node.names}
    # importing a.b.c runs a/__init__ and a/b/__init__ first: edges to those packages too
    deps |= {d.rsplit(".", k)[0] for d in deps for k in range(1, d.count(".") + 1)}
    return {d for d in deps if d in known and d != name and not name.startswith(d + ".")}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while (w := stack.pop()) != v:
                comp.append(w)
            if comp:
                found.append(sorted([v, *comp]))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_the_package() -> None:
    mods = _modules()
    assert {"zkclear.chain.client", "zkclear.clearing.trades", "zkclear.audit"} <= set(mods)
    graph = {name: _imports(name, path, set(mods)) for name, path in mods.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_member_client_does_not_load_the_server() -> None:
    code = ("import sys, zkclear.roles.member; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'zkclear.operator.api') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_bench_imports_only_the_package() -> None:
    """bench/ scripts import zkclear (and their own bench/ helpers), never tests/, and do
    not edit sys.path to reach anything else."""
    found = []
    for path in sorted((REPO / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name} imports {n}" for n in names
                      if n.split(".")[0] in ("tests", "conftest")]
            if (isinstance(node, ast.Attribute) and node.attr == "path"
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                found.append(f"{path.name} uses sys.path")
    assert found == []


#: "About 450 lines": a module longer than this says in its docstring why it is one module.
MAX_LINES = 460
#: How a long module's docstring says why (span.py; the generated Poseidon constants).
LONG_REASONS = ("Why one long module", "GENERATED FILE")


def test_long_modules_say_why() -> None:
    long = []
    for name, path in _modules().items():
        text = path.read_text()
        lines = len(text.splitlines())
        doc = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_LINES and not any(r in doc for r in LONG_REASONS):
            long.append(f"{name}: {lines} lines")
    assert long == []
