"""Running the pinned node tooling (circom2, snarkjs) from Python.

Two ways in:

* :func:`run_node` runs a node script once (circom2's compiler, a generated witness
  generator, our own scripts) and turns a non-zero exit into a :class:`ToolError`.
* :class:`SnarkjsWorker` keeps one node process (``prover/js/worker.mjs``) alive and
  calls snarkjs's API through it, saving node's 1.2-1.6 s start-up per step.

Both start node through :func:`node_command` and :func:`node_env`: the node packages are
wherever :func:`zkclear.paths.node_modules` says (``$ZKCLEAR_NODE_MODULES`` or the
checkout's), and ``prover/js/resolve.mjs`` makes our scripts import them from there.

Every failure names the step, the subject (circuit or file) and the tool's own message.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import json
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zkclear import paths
from zkclear.errors import ToolError, ToolMissingError

log = logging.getLogger(__name__)

MARK = "\x1eZKC "

#: The worker's progress levels (snarkjs's logger), as logging levels.
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "error": logging.ERROR}


@functools.cache
def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise ToolMissingError(
            "locate node", "node", "node is not on PATH",
            "install Node.js >= 20.6 (e.g. `apt-get install nodejs npm`)",
        )
    return node


@functools.cache
def pinned_versions() -> dict[str, str]:
    """The node packages and exact versions package.json pins."""
    data = json.loads(paths.PACKAGE_JSON.read_text())
    return dict(data["dependencies"])


def installed_version(package: str) -> str | None:
    nm = paths.node_modules_dir()
    pj = nm / package / "package.json" if nm is not None else None
    if pj is None or not pj.exists():
        return None
    return str(json.loads(pj.read_text())["version"])


def require_package(package: str) -> Path:
    """The package's folder in node_modules, checked against the pinned version."""
    nm = paths.node_modules()
    want = pinned_versions().get(package)
    have = installed_version(package)
    if have is None:
        raise ToolMissingError("locate node package", package, f"not installed in {nm}",
                               paths.node_install_hint())
    if want is not None and have != want:
        raise ToolMissingError("locate node package", package,
                               f"version {have} installed in {nm}, {want} pinned",
                               paths.node_install_hint())
    return nm / package


def node_command(script: Path | str, args: Sequence[str] = ()) -> list[str]:
    """``node script args...``; our own scripts get the resolve hook (prover/js/resolve.mjs)."""
    hook: list[str] = []
    if Path(script).resolve().is_relative_to(paths.JS_DIR.resolve()):
        hook = ["--import", (paths.JS_DIR / "resolve.mjs").as_uri()]
    return [node_binary(), "--max-old-space-size=8192", *hook, str(script), *map(str, args)]


def node_env() -> dict[str, str]:
    """The environment for node: ours, with ``ZKCLEAR_NODE_MODULES`` set when it is known."""
    env = dict(os.environ)
    nm = paths.node_modules_dir()
    if nm is not None:
        env[paths.NODE_MODULES_ENV] = str(nm)
    return env


def run_node(
    script: Path | str,
    args: Sequence[str],
    *,
    step: str,
    subject: str,
    cwd: Path | None = None,
    timeout: float | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``node script args...``; raise :class:`ToolError` with its output if it fails."""
    try:
        proc = subprocess.run(
            node_command(script, args), cwd=cwd or paths.TOOLCHAIN_DIR, env=node_env(),
            capture_output=True, text=True, timeout=timeout, input=input_text,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolError(step, subject, f"timed out after {timeout} s") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip() or f"exit code {proc.returncode}")
        raise ToolError(step, subject, detail[-4000:])
    return proc


class WorkerCallError(ToolError):
    """A snarkjs API call failed inside the worker; ``stack`` keeps the JS stack."""

    def __init__(self, step: str, subject: str, detail: str, stack: str) -> None:
        self.stack = stack
        super().__init__(step, subject, detail)


class SnarkjsWorker:
    """One long-lived node process serving snarkjs API calls (see ``prover/js/worker.mjs``)."""

    def __init__(self) -> None:
        require_package("snarkjs")
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._proc: subprocess.Popen[str] | None = None
        self._stderr_tail: list[str] = []

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                node_command(paths.JS_DIR / "worker.mjs"), env=node_env(),
                cwd=paths.TOOLCHAIN_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, bufsize=1,
            )
            self._stderr_tail = []
            threading.Thread(target=self._drain_stderr, args=(self._proc,), daemon=True).start()
        return self._proc

    def _drain_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr_tail = [*self._stderr_tail[-40:], line.rstrip()]

    def call(
        self, op: str, *args: Any, step: str, subject: str,
        messages: list[tuple[str, str]] | None = None,
    ) -> Any:
        """Run one snarkjs operation; return its JSON result or raise a ToolError.

        snarkjs's progress lines are logged (this module's logger, at :data:`LEVELS`) and,
        given ``messages``, also appended to it as ``(level, message)``."""
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            rid = next(self._ids)
            try:
                proc.stdin.write(json.dumps({"id": rid, "op": op, "args": list(args)}) + "\n")
                proc.stdin.flush()
            except BrokenPipeError as exc:
                raise ToolError(step, subject, "snarkjs worker exited: " + self._tail()) from exc
            while True:
                line = proc.stdout.readline()
                if not line:
                    proc.wait()
                    raise ToolError(
                        step, subject,
                        f"snarkjs worker died (exit {proc.returncode}): {self._tail()}",
                        "out of memory? large setups need several GB; see docs/benchmarks.md",
                    )
                if not line.startswith(MARK):
                    continue
                msg = json.loads(line[len(MARK):])
                if msg.get("id") != rid:
                    continue
                if "log" in msg:
                    log.log(LEVELS.get(msg["log"], logging.INFO), "%s", msg["msg"])
                    if messages is not None:
                        messages.append((msg["log"], msg["msg"]))
                    continue
                if msg["ok"]:
                    return msg["result"]
                raise WorkerCallError(step, subject, msg["error"], msg.get("stack", ""))

    @property
    def pid(self) -> int | None:
        """The node process id while it runs (for memory measurements)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _tail(self) -> str:
        return "\n".join(self._stderr_tail[-10:]) or "(no output)"

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


_worker: SnarkjsWorker | None = None
_worker_lock = threading.Lock()


def snarkjs() -> SnarkjsWorker:
    """The process-wide snarkjs worker (started on first use, closed at exit)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = SnarkjsWorker()
            atexit.register(_worker.close)
        return _worker
