"""One logging story (zkclear/logs.py): module loggers under ``zkclear``, the CLI's
spinner as a logging handler, and no ``log=`` callbacks anywhere in the package."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from zkclear import logs

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "zkclear"


class _Status:
    """Stands in for rich's Status: records what the spinner line would show."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def update(self, status: str) -> None:
        self.lines.append(status)


def test_status_handler_shows_the_latest_message_escaped() -> None:
    status = _Status()
    with logs.attached(logs.StatusHandler(status, "prove epoch 1", width=20)):
        logging.getLogger("zkclear.operator.settlement").info("epoch %d [b]accepted[/b]", 1)
        logging.getLogger("zkclear.audit.checks").debug("not shown: below INFO")
        logging.getLogger("other").warning("not zkclear's")
        logging.getLogger("zkclear.prover.ptau").warning("INSECURE powers of tau\nsecond line")
    assert status.lines == ["prove epoch 1 — epoch 1 \\[b]accepted[",
                            "prove epoch 1 — INSECURE powers of t"]


def test_attached_restores_the_logger() -> None:
    root = logging.getLogger(logs.ROOT)
    before_level, before_handlers = root.level, list(root.handlers)
    handler = logging.NullHandler()
    with logs.attached(handler, level=logging.DEBUG):
        assert handler in root.handlers and root.getEffectiveLevel() == logging.DEBUG
    assert root.level == before_level and root.handlers == before_handlers


def test_shown_on_a_spinner_or_nowhere(capsys: pytest.CaptureFixture[str]) -> None:
    """A CLI step shows zkclear's records from DEBUG up on its spinner; without one (JSON
    output, no terminal) none reaches stderr, not even a warning (logging's last resort)."""
    status, prover = _Status(), logging.getLogger("zkclear.prover._node")
    with logs.shown_on(status, "setup"):
        prover.debug("Reading r1cs")
    with logs.shown_on(None, "setup"):
        prover.warning("not shown")
    assert status.lines == ["setup — Reading r1cs"]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("package", [
    "zkclear", "zkclear/audit", "zkclear/chain", "zkclear/cli", "zkclear/operator",
    "zkclear/roles", "zkclear/drills", "zkclear/privacy", "zkclear/schemas", "prover",
    "verifier", "clearing", "clearing/stress"])
def test_module_loggers_and_no_log_callbacks(package: str) -> None:
    """Each module of the package logs through ``logging.getLogger(__name__)`` if at all
    (logs.py, which attaches the handlers, aside), and no function takes a ``log``
    callback (a ``log`` file path, as the hardhat node's, is no callback)."""
    for path in sorted((REPO / package).glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                callbacks = [a.arg for a in (*node.args.args, *node.args.kwonlyargs)
                             if a.arg == "log" and "Path" not in ast.unparse(a.annotation or a)]
                assert callbacks == [], f"{path.name}: {node.name}(log=...)"
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "getLogger"
                    and path != PACKAGE / "logs.py"):
                assert [ast.unparse(a) for a in node.args] == ["__name__"], path.name
