"""run_node's time limit (the whole process group killed), heartbeat and failure messages,
on small node scripts written per test (each test well under 10 s)."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import pytest

from zkclear.errors import ToolError
from zkclear.prover import _node
from zkclear.prover._node import ToolTimeoutError, run_node

#: Starts a grandchild node (same process group) that would live a minute, writes both
#: pids to the file named by argv[2], then waits a minute itself.
FAMILY = """
const { spawn } = require("child_process");
const kid = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], {stdio: "ignore"});
require("fs").writeFileSync(process.argv[2], `${process.pid} ${kid.pid}`);
setTimeout(() => {}, 60000);
"""


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "script.cjs"
    path.write_text(body)
    return path


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that never reaps counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_timeout_kills_node_and_its_children_and_raises(tmp_path):
    pids = tmp_path / "pids"
    t0 = time.monotonic()
    with pytest.raises(ToolTimeoutError) as ei:
        run_node(_script(tmp_path, FAMILY), [str(pids)], step="sleep", subject="family",
                 timeout=3)
    took = time.monotonic() - t0
    assert 3 <= took < 8
    err = ei.value
    assert isinstance(err, ToolError) and err.limit == 3 and 3 <= err.elapsed < 8
    assert str(err) == "sleep failed for family: timed out after 3 s"
    node, kid = map(int, pids.read_text().split())
    deadline = time.monotonic() + 5
    while (_alive(node) or _alive(kid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(node) and not _alive(kid)


def test_heartbeat_logs_elapsed_time_and_memory_while_node_runs(tmp_path, caplog):
    script = _script(tmp_path, "setTimeout(() => console.log('done'), 1500);")
    with caplog.at_level(logging.INFO, logger=_node.log.name):
        proc = run_node(script, [], step="wait", subject="a while", heartbeat=0.4, timeout=8)
    assert proc.returncode == 0 and proc.stdout.strip() == "done"
    beats = [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    assert 2 <= len(beats) <= 4, beats
    shape = re.compile(r"wait a while: still running after (\d+) s, node at ([\d,]+) MB resident")
    found = [shape.fullmatch(b) for b in beats]
    assert all(found), beats
    mb = [float(m.group(2).replace(",", "")) for m in found if m]
    assert all(10 < m < 2000 for m in mb), mb  # node's RSS, not bytes or GB


def test_no_heartbeat_before_the_first_interval(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger=_node.log.name):
        proc = run_node(_script(tmp_path, "console.log('quick')"), [], step="run",
                        subject="quick", heartbeat=5, timeout=8)
    assert proc.stdout.strip() == "quick"
    assert [r for r in caplog.records if "still running" in r.getMessage()] == []


def test_input_reaches_node_across_heartbeats(tmp_path):
    script = _script(tmp_path, """
let got = "";
process.stdin.on("data", (d) => { got += d; });
process.stdin.on("end", () => setTimeout(() => console.log(got.length), 600));
""")
    text = "x" * 300_000  # more than a pipe holds: written while node reads
    proc = run_node(script, [], step="read", subject="stdin", input_text=text,
                    heartbeat=0.2, timeout=8)
    assert proc.stdout.strip() == str(len(text))


def test_a_failure_raises_with_its_output_or_is_returned_unchecked(tmp_path):
    script = _script(tmp_path, "console.error('bad input'); process.exit(3);")
    with pytest.raises(ToolError, match=r"^check failed for x: bad input$"):
        run_node(script, [], step="check", subject="x")
    proc = run_node(script, [], step="check", subject="x", check=False)
    assert proc.returncode == 3 and proc.stderr.strip() == "bad input"
    assert _node.failure_detail(proc) == "bad input"


def test_a_silent_death_by_signal_is_named(tmp_path):
    script = _script(tmp_path, "process.kill(process.pid, 'SIGKILL');")
    with pytest.raises(ToolError, match=r"failed for x: killed by SIGKILL$"):
        run_node(script, [], step="die", subject="x")


def test_resident_memory_of_a_process_that_is_gone_is_unknown(tmp_path):
    proc = run_node(_script(tmp_path, "console.log(process.pid)"), [], step="pid",
                    subject="node")
    assert _node.resident_mb(int(proc.stdout)) is None
    here = _node.resident_mb(os.getpid())
    assert here is not None and here > 1
    peak = _node.resident_mb(os.getpid(), "VmHWM")
    assert peak is not None and peak >= here - 1
