"""What a command prints: human lines (and spinners for long steps) on stderr, one JSON
object on stdout with ``--json``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from zkclear import logs

#: The console on stderr every command writes its human output and its error line to.
err = Console(stderr=True, highlight=False)


class Output:
    """Human output on stderr (with spinners for long steps), JSON on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def info(self, msg: str) -> None:
        if not self.as_json:
            err.print(msg)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """A long step: a spinner showing zkclear's latest log record (its progress, from
        :func:`zkclear.logs.shown_on`); prints its time."""
        t0 = time.perf_counter()
        if self.as_json or not err.is_terminal:
            with logs.shown_on(None, title):
                yield
            self.info(f"  {title} ({time.perf_counter() - t0:.1f} s)")
            return
        with err.status(title) as status, logs.shown_on(status, title):
            yield
        self.info(f"  [green]✓[/] {title} ({time.perf_counter() - t0:.1f} s)")

    @contextmanager
    def progress(self, title: str) -> Iterator[Callable[[int, int], None]]:
        """A progress bar over jobs: yields ``update(done, total)`` (a line per job when
        stderr is not a terminal; nothing with --json)."""
        t0 = time.perf_counter()
        if self.as_json or not err.is_terminal:
            yield lambda done, total: self.info(f"  {title}: {done}/{total}")
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            with Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=err, transient=True) as bar:
                task = bar.add_task(title, total=None)
                yield lambda done, total: bar.update(task, completed=done, total=total)
        self.info(f"  [green]✓[/] {title} ({time.perf_counter() - t0:.1f} s)")

    def result(self, obj: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(obj, indent=2, default=str))

    def done(self, res: dict[str, Any], line: str) -> int:
        """A role command's ending: its line for humans, ``{"ok": true, ...}`` for JSON."""
        self.info(line)
        self.result({"ok": True, **res})
        return 0
