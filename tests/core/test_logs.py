"""One logging story (zkclear/logs.py): module loggers under ``zkclear``, the CLI's
spinner as a logging handler, and no ``log=`` callbacks in the audit and the operator."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from zkclear import logs

PACKAGE = Path(__file__).resolve().parents[2] / "zkclear"


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
        logs.as_sink("zkclear.prover")("warn", "INSECURE powers of tau\nsecond line")
    assert status.lines == ["prove epoch 1 — epoch 1 \\[b]accepted[",
                            "prove epoch 1 — INSECURE powers of t"]


def test_attached_restores_the_logger() -> None:
    root = logging.getLogger(logs.ROOT)
    before_level, before_handlers = root.level, list(root.handlers)
    handler = logging.NullHandler()
    with logs.attached(handler, level=logging.DEBUG):
        assert handler in root.handlers and root.getEffectiveLevel() == logging.DEBUG
    assert root.level == before_level and root.handlers == before_handlers


def test_as_sink_maps_levels(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="zkclear")
    sink = logs.as_sink("zkclear.prover")
    for level in ("debug", "info", "warn", "error", "other"):
        sink(level, level)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("zkclear.prover", "DEBUG", "debug"), ("zkclear.prover", "INFO", "info"),
        ("zkclear.prover", "WARNING", "warn"), ("zkclear.prover", "ERROR", "error"),
        ("zkclear.prover", "INFO", "other")]


@pytest.mark.parametrize("package", ["audit", "operator"])
def test_module_loggers_and_no_log_callbacks(package: str) -> None:
    """Each module of the package logs through ``logging.getLogger(__name__)`` if at all,
    and no function takes a ``log`` callback."""
    for path in sorted((PACKAGE / package).glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in (*node.args.args, *node.args.kwonlyargs)]
                assert "log" not in names, f"{path.name}: {node.name}(log=...)"
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "getLogger":
                assert [ast.unparse(a) for a in node.args] == ["__name__"], path.name
