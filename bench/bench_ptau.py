"""Benchmark: the INSECURE development powers of tau vs snarkjs's own phase 1.

Run: ``.venv/bin/python bench/bench_ptau.py [--powers 12 14 16] [--snarkjs-power 12]
[--groth16 4000 16000]``. Prints one JSON object:

* ``devptau``: per power, wall-clock seconds and peak resident memory of
  ``prover/js/devptau.mjs`` generating the file from scratch (into ``build/bench/ptau``,
  not the cache), plus the generator's own summary (window widths, per-worker times);
* ``snarkjs``: ``powersoftau new`` / ``contribute`` / ``prepare phase2`` at one power
  through the warm snarkjs worker (``--snarkjs-power 0`` skips it: 2^12 takes ~2 min);
* ``groth16``: for chain circuits of the given numbers of multiplication constraints
  (``tests/circuits/ptau_chain_lib.circom``): compile, ``zkey new`` from the dev ptau
  ("setup", no phase-2 contribution), witness, prove, verify.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zkclear import paths
from zkclear.prover import ptau
from zkclear.prover._node import installed_version, node_binary, run_node, snarkjs
from zkclear.prover.binfile import r1cs_info


def run_devptau(power: int, out_dir: os.PathLike[str]) -> dict[str, Any]:
    out = os.path.join(out_dir, f"bench_dev_{power}.ptau")
    cmd = [node_binary(), "--max-old-space-size=8192", str(paths.JS_DIR / "devptau.mjs"),
           "--power", str(power), "--out", out]
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, text=True)
        # wait4 gives this child's own peak RSS (kB on Linux)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        stdout, stderr = so.read(), se.read()
    if proc.returncode != 0:
        raise SystemExit(f"devptau {power} failed: {stderr[-2000:]}")
    summary = json.loads(stdout.strip().splitlines()[-1])
    n_bytes = summary["bytes"]
    for k in ("path", "label", "power", "phase2", "bytes"):
        summary.pop(k, None)
    info = ptau.read_ptau_header(Path(out))
    assert info.power == power and info.insecure_dev
    os.remove(out)
    return {"power": power, "seconds": round(seconds, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "bytes": n_bytes,
            "generator": summary}


def run_snarkjs(power: int, out_dir: os.PathLike[str]) -> dict[str, Any]:
    w = snarkjs()
    s = {"step": "bench", "subject": f"snarkjs ptau 2^{power}"}
    p0, p1, p2 = (os.path.join(out_dir, f"sj{power}_{i}.ptau") for i in range(3))
    w.call("ping", **s)  # start the worker outside the timings
    times = {}
    for name, op, args in (
        ("new", "powersoftau.new", ("bn128", power, p0)),
        ("contribute", "powersoftau.contribute", (p0, p1, "bench", "entropy")),
        ("prepare_phase2", "powersoftau.preparePhase2", (p1, p2)),
    ):
        start = time.perf_counter()
        w.call(op, *args, **s)
        times[name] = round(time.perf_counter() - start, 2)
    for p in (p0, p1, p2):
        os.remove(p)
    return {"power": power, "seconds": times, "total": round(sum(times.values()), 2)}


def run_groth16(n: int, out_dir: str) -> dict[str, Any]:
    """Chain(n): n multiplications, one public output."""
    d = os.path.join(out_dir, f"chain{n}")
    os.makedirs(d, exist_ok=True)
    lib = paths.ROOT / "tests" / "circuits" / "ptau_chain_lib.circom"
    main = os.path.join(d, f"chain{n}.circom")
    with open(main, "w") as f:  # circom2 sees only files under the repository root
        f.write(f'pragma circom 2.1.0;\ninclude "{os.path.relpath(lib, d)}";\n'
                f"component main = Chain({n});\n")
    s = {"step": "bench", "subject": f"chain{n}"}
    t: dict[str, float] = {}

    def lap(name: str, start: float) -> None:
        t[name] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    run_node(paths.NODE_MODULES / "circom2" / "cli.js", [main, "--r1cs", "--wasm", "-o", d], **s)
    lap("compile", start)
    r1cs = os.path.join(d, f"chain{n}.r1cs")
    info = r1cs_info(Path(r1cs))
    power = ptau.required_power(info.n_constraints, info.n_public)
    start = time.perf_counter()
    f = ptau.dev_ptau(power)
    lap("dev_ptau (cached or generated)", start)
    w = snarkjs()
    zkey, wtns = os.path.join(d, "c.zkey"), os.path.join(d, "c.wtns")
    start = time.perf_counter()
    w.call("zkey.new", r1cs, str(f), zkey, **s)
    lap("setup (zkey new)", start)
    vkey = w.call("zkey.exportVerificationKey", zkey, **s)
    start = time.perf_counter()
    w.call("wtns.calculate", {"x": "3"}, os.path.join(d, f"chain{n}_js", f"chain{n}.wasm"), wtns,
           **s)
    lap("witness", start)
    start = time.perf_counter()
    res = w.call("groth16.prove", zkey, wtns, **s)
    lap("prove", start)
    start = time.perf_counter()
    ok = w.call("groth16.verify", vkey, res["publicSignals"], res["proof"], **s)
    lap("verify", start)
    if ok is not True:
        raise SystemExit(f"chain{n}: proof does not verify")
    return {"constraints": info.n_constraints, "public": info.n_public, "power": power,
            "seconds": t}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--powers", type=int, nargs="*", default=[12, 14, 16])
    parser.add_argument("--snarkjs-power", type=int, default=12)
    parser.add_argument("--groth16", type=int, nargs="*", default=[])
    args = parser.parse_args(argv)

    out_dir = paths.build_dir() / "bench" / "ptau"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "node": subprocess.run([node_binary(), "--version"], capture_output=True,
                                           text=True).stdout.strip(),
                    "snarkjs": installed_version("snarkjs")},
        "devptau": [run_devptau(p, out_dir) for p in args.powers],
    }
    if args.snarkjs_power:
        result["snarkjs"] = run_snarkjs(args.snarkjs_power, out_dir)
    if args.groth16:
        result["groth16"] = [run_groth16(n, str(out_dir)) for n in args.groth16]
    shutil.rmtree(out_dir, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
