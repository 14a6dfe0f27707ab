"""One logging story: zkclear's modules log to stdlib loggers, front ends attach handlers.

Every module that reports progress or trouble does it through
``log = logging.getLogger(__name__)`` -- all under the ``zkclear`` logger -- and never
through a ``log=`` callback threaded through its signatures. What the user sees is the
front end's choice: the CLI shows a long step's latest record on its rich spinner
(:func:`shown_on`: a :class:`StatusHandler`, attached for the step's duration with
:func:`attached`); the operator process logs to stderr (``logging.basicConfig``); tests
use ``caplog``. The prover logs snarkjs's progress lines too
(``zkclear.prover._node``, at snarkjs's own levels).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.markup import escape

__all__ = ["ROOT", "StatusHandler", "attached", "shown_on"]

#: The logger every zkclear module logs under.
ROOT = "zkclear"


class _Status(Protocol):
    def update(self, status: str) -> None: ...


class StatusHandler(logging.Handler):
    """Shows each record on a rich status line (``Console.status(...)``, the CLI's
    spinner) as ``"<title> — <first line of the message>"``, cut to ``width`` characters.
    The message is escaped: brackets in it are text, not rich markup."""

    def __init__(self, status: _Status, title: str, *, width: int = 80,
                 level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.status, self.title, self.width = status, title, width

    def emit(self, record: logging.LogRecord) -> None:
        try:
            lines = self.format(record).strip().splitlines()
            text = lines[0][:self.width] if lines else ""
            self.status.update(f"{escape(self.title)} — {escape(text)}" if text
                               else escape(self.title))
        except Exception:
            self.handleError(record)


@contextmanager
def attached(handler: logging.Handler, name: str = ROOT,
             level: int = logging.INFO) -> Iterator[logging.Handler]:
    """Attach ``handler`` to logger ``name`` for the block, the logger letting records of
    ``level`` and above through meanwhile; both are restored afterwards."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


@contextmanager
def shown_on(status: _Status | None, title: str) -> Iterator[None]:
    """A long step of the CLI: zkclear's records, ``DEBUG`` and up, shown on the rich
    status line ``status`` (the step's spinner) for the block; with no ``status`` (JSON
    output, or no terminal) they are not shown at all, as a step shows only its time."""
    if status is None:
        with attached(logging.NullHandler(), level=logging.CRITICAL):
            yield
        return
    with attached(StatusHandler(status, title), level=logging.DEBUG):
        yield
