"""Running the pinned node tooling (circom2, snarkjs) from Python.

Two ways in:

* :func:`run_node` runs a node script once (circom2's compiler, a generated witness
  generator, our own scripts) and turns a non-zero exit into a :class:`ToolError`. Node
  runs in a process group of its own: a time limit (:class:`ToolTimeoutError`) or an
  interrupted caller kills the whole group; a long run can log a heartbeat (the elapsed
  time and node's resident memory, :func:`resident_mb`).
* :class:`SnarkjsWorker` keeps one node process (``prover/js/worker.mjs``) alive and
  calls snarkjs's API through it, saving node's 1.2-1.6 s start-up per step.

Both start node through :func:`node_command` and :func:`node_env`: the node packages are
wherever :func:`zkclear.paths.node_modules` says (``$ZKCLEAR_NODE_MODULES`` or the
checkout's), and ``prover/js/resolve.mjs`` makes our scripts import them from there.

Every failure names the step, the subject (circuit or file) and the tool's own message.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
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


#: Seconds between two progress lines of a long node run (compiles, development ptau
#: generation), the first after as many.
HEARTBEAT_S = 30.0


class ToolTimeoutError(ToolError):
    """A node run passed its time limit and was killed; ``limit`` and ``elapsed`` in seconds."""

    def __init__(self, step: str, subject: str, limit: float, elapsed: float) -> None:
        self.limit, self.elapsed = limit, elapsed
        super().__init__(step, subject, f"timed out after {limit:g} s")


def run_node(
    script: Path | str,
    args: Sequence[str],
    *,
    step: str,
    subject: str,
    cwd: Path | None = None,
    timeout: float | None = None,
    input_text: str | None = None,
    heartbeat: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``node script args...``; raise :class:`ToolError` with its output if it fails
    (``check=False``: return the failed run instead, for the caller to read).

    Past ``timeout`` seconds node's process group is killed and :class:`ToolTimeoutError`
    raised. Given ``heartbeat``, a run still going is logged (info) every ``heartbeat``
    seconds, the first after ``heartbeat`` seconds: elapsed time and node's RSS."""
    if heartbeat is not None and heartbeat <= 0:
        raise ValueError(f"heartbeat must be positive seconds, not {heartbeat}")
    proc = subprocess.Popen(
        node_command(script, args), cwd=cwd or paths.TOOLCHAIN_DIR, env=node_env(),
        stdin=subprocess.PIPE if input_text is not None else None, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        stdout, stderr = _communicate(proc, input_text, timeout, heartbeat, step, subject)
    except BaseException:  # the time limit, or the caller interrupted (Ctrl-C)
        _kill_group(proc)
        raise
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if check and done.returncode != 0:
        raise ToolError(step, subject, failure_detail(done))
    return done


def _communicate(proc: subprocess.Popen[str], input_text: str | None, timeout: float | None,
                 heartbeat: float | None, step: str, subject: str) -> tuple[str, str]:
    """``proc.communicate(input_text)`` with :func:`run_node`'s time limit and heartbeat."""
    start = time.monotonic()
    beat = heartbeat
    while True:
        elapsed = time.monotonic() - start
        waits = [t - elapsed for t in (timeout, beat) if t is not None]
        try:
            return proc.communicate(input_text, timeout=max(0.0, min(waits)) if waits else None)
        except subprocess.TimeoutExpired:
            input_text = None  # given once: communicate keeps what it has not sent yet
        elapsed = time.monotonic() - start
        if timeout is not None and elapsed >= timeout:
            raise ToolTimeoutError(step, subject, timeout, elapsed)
        if beat is not None and heartbeat is not None and elapsed >= beat:
            rss = resident_mb(proc.pid)
            log.info("%s %s: still running after %.0f s%s", step, subject, elapsed,
                     "" if rss is None else f", node at {rss:,.0f} MB resident")
            while beat <= elapsed:
                beat += heartbeat


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill node and anything it started (its process group), and reap it."""
    if sys.platform == "win32":
        proc.kill()
    else:
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def failure_detail(proc: subprocess.CompletedProcess[str]) -> str:
    """A failed run's message: the end of its stderr, else of its stdout, else its exit."""
    status = f"exit code {proc.returncode}"
    if proc.returncode < 0:
        try:
            status = f"killed by {signal.Signals(-proc.returncode).name}"
        except ValueError:
            status = f"killed by signal {-proc.returncode}"
    return (proc.stderr.strip() or proc.stdout.strip() or status)[-4000:]


def resident_mb(pid: int, field: str = "VmRSS") -> float | None:
    """A process's memory in MB from ``/proc/<pid>/status`` (``VmRSS``: resident now,
    ``VmHWM``: its peak); None where that is not readable (not Linux, process gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


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
