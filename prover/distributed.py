"""Proving on a Ray cluster: many content-addressed proving jobs at once, results in order.

A proving job (:func:`zkclear.prover.prove.prove`) is keyed by the hashes of the circuit,
the zkey and the inputs, and is idempotent: it can run anywhere that has the circuit's
witness generator (wasm), the zkey and the verification key, and running it twice
yields an equal result (a second proof of the same statement, or the stored one). So a
backlog of epochs -- each epoch's witness is known as soon as the engine has run it --
and the epochs of many pools can be proven in parallel by Ray (https://docs.ray.io), an
existing engine: no scheduler of our own.

* :class:`RayProver` connects to a cluster (``address``: ``HOST:PORT`` of its head node,
  ``ray://HOST:PORT`` of a Ray Client server, or ``auto``) or starts a local one with
  ``workers`` CPUs (one proof per CPU at a time).
* The keys travel once per cluster, not per job: the zkey, wasm and verification key are
  put in Ray's object store (``ray.put``) the first time a prover sees them; a worker
  writes them to ``<build dir>/ray-keys/<zkey sha256>/`` (checked against the zkey's
  hash, so a worker never proves with another zkey) and later jobs on that machine find
  them there. Workers need zkclear and its node tooling installed (and groth16py, the ``fast``
  extra, to prove with groth16py's development keys), nothing else.
* A task runs the ordinary :func:`prove` job in the worker's own build folder. A worker
  that dies mid-proof (killed, out of memory, its machine gone) is retried by Ray
  (``max_retries``); the job is content-addressed, so the retry proves the same
  statement. An error of the job itself (a witness that fails an assert) is not retried:
  it is raised here, as it would be on one machine.
* The driver trusts no worker: each proof is checked to be the job's (its job key) and
  verified with the Python Groth16 verifier (:mod:`zkclear.verifier`) against the
  driver's verification key before it is yielded, then stored in the driver's own
  content-addressed store (so the single-machine path finds it). A proof that fails is
  proven once again, then refused with a :class:`ProofError`.

:class:`LocalProver` is the single-machine path with the same interface (the default).
Ray is an optional dependency (``pip install 'zkclear[ray]'``), imported only here.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from zkclear import paths
from zkclear.errors import ProofError, ToolError, ToolMissingError
from zkclear.prover.keys import Keys, file_sha256
from zkclear.prover.prove import (
    InputValue,
    ProofResult,
    job_key,
    prove,
    record_job,
)

__all__ = ["KILL_ENV", "LocalProver", "RayProver", "connect"]

log = logging.getLogger(__name__)

Inputs = Mapping[str, InputValue]
#: Called after each finished job with (jobs done, jobs in all).
Progress = Callable[[int, int], None]

#: Test hook: a folder; a worker about to prove job ``K`` kills its own process (SIGKILL)
#: while proving if ``<folder>/K.kill`` exists, renaming it to ``K.killed`` first (once).
KILL_ENV = "ZKCLEAR_RAY_KILL_DIR"
#: How long to wait for a cluster's head node to accept a connection (Ray itself waits
#: for minutes before it gives up).
CONNECT_TIMEOUT = 5.0


class LocalProver:
    """The single-machine path: :func:`prove`, one job after the other."""

    description = "this process"

    def prove(self, keys: Keys, inputs: Inputs) -> ProofResult:
        return prove(keys, inputs)

    def prove_many(self, keys: Keys, jobs: Sequence[Inputs], *,
                   progress: Progress | None = None) -> Iterator[ProofResult]:
        for i, inputs in enumerate(jobs):
            yield prove(keys, inputs)
            if progress is not None:
                progress(i + 1, len(jobs))

    def close(self) -> None:
        pass


# -- the worker's side ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Circuit:
    """What a proving job needs of a circuit away from its sources: name and cache key."""

    name: str
    key: str


@dataclass(frozen=True)
class KeyBundle:
    """The keys of a circuit as a worker receives them: plain data and object refs."""

    circuit: _Circuit
    record: dict[str, Any]
    vkey: dict[str, Any]
    provenance: str
    #: The proving key's file name (its format: a snarkjs zkey or groth16py's own).
    pkey_name: str = "groth16_pkey.zkey"

    @property
    def zkey_sha256(self) -> str:
        return str(self.record["zkey_sha256"])


_materialised: dict[str, Keys] = {}
_materialise_lock = threading.Lock()


def _worker_keys(bundle: KeyBundle, refs: list[Any]) -> Keys:
    """The bundle's keys as files on this machine (fetched from the object store once)."""
    with _materialise_lock:
        if bundle.zkey_sha256 in _materialised:
            return _materialised[bundle.zkey_sha256]
        folder = paths.build_dir() / "ray-keys" / bundle.zkey_sha256
        zkey, wasm = folder / bundle.pkey_name, folder / "circuit.wasm"
        vkey = folder / "vkey.json"
        complete = zkey.exists() and wasm.exists() and vkey.exists()
        if not (complete and file_sha256(zkey) == bundle.zkey_sha256):
            import ray

            zkey_bytes, wasm_bytes = ray.get(refs)
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
            try:
                (tmp / zkey.name).write_bytes(zkey_bytes)
                (tmp / wasm.name).write_bytes(wasm_bytes)
                (tmp / vkey.name).write_text(json.dumps(bundle.vkey))
                if file_sha256(tmp / zkey.name) != bundle.zkey_sha256:
                    raise ProofError(f"{bundle.circuit.name}: the zkey this worker received "
                                     "does not have the hash the driver announced")
                folder.mkdir(exist_ok=True)
                for f in tmp.iterdir():  # file by file: each replaced atomically
                    os.replace(f, folder / f.name)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        # What prove() reads of a compiled circuit: its name, key and witness generator.
        compiled = SimpleNamespace(circuit=bundle.circuit, paths=SimpleNamespace(wasm=wasm))
        keys = Keys(cast(Any, compiled), zkey, vkey,
                    bundle.provenance, bundle.record)
        _materialised[bundle.zkey_sha256] = keys
        return keys


def _kill_hook(key: str) -> bool:
    """Arm a SIGKILL of this worker in 0.3 s (mid-proof) if the test hook asks for it."""
    folder = os.environ.get(KILL_ENV)
    if not folder:
        return False
    marker = Path(folder) / f"{key}.kill"
    try:
        os.rename(marker, marker.with_suffix(".killed"))
    except OSError:
        return False  # not armed for this job, or already fired
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGKILL)).start()
    return True


def _prove_task(bundle: KeyBundle, refs: list[Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """One proving job on a Ray worker (refs: [zkey bytes, wasm bytes] in the object
    store, nested so that Ray does not fetch them for every job)."""
    keys = _worker_keys(bundle, refs)
    key = job_key(keys, inputs)
    armed = _kill_hook(key)
    res = prove(keys, inputs)
    if armed:
        threading.Event().wait(30)  # a quick proof: the kill lands before the result leaves
    return {"job_key": res.job_key, "proof": res.proof, "public": res.public_strings,
            "prove_seconds": res.prove_seconds, "cached": res.cached,
            "host": socket.gethostname(), "pid": os.getpid()}


# -- the driver's side ----------------------------------------------------------------------

def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ToolMissingError("start the distributed prover", "ray", "Ray is not installed",
                               "pip install 'zkclear[ray]'") from None
    return ray


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Refuse at once a cluster address nothing answers on (Ray would retry for minutes)."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ToolError("connect to Ray", address, "expected HOST:PORT, ray://HOST:PORT "
                        "or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ToolError("connect to Ray", address, f"no Ray head node answers there "
                        f"({exc.strerror or exc})") from None


class RayProver:
    """Proving jobs on Ray workers (see the module docstring).

    ``address``: an existing cluster (:meth:`close` disconnects from it); else
    ``workers``: a local Ray with that many CPUs (:meth:`close` shuts it down). If this
    process is already connected to Ray, that session is used and left running.
    ``max_retries``: how often Ray reruns a job whose worker died.
    """

    def __init__(self, *, address: str | None = None, workers: int | None = None,
                 max_retries: int = 3, runtime_env: dict[str, Any] | None = None) -> None:
        if (address is None) == (workers is None):
            raise ValueError("RayProver needs address or workers (one of them)")
        if workers is not None and workers < 1:
            raise ToolError("start Ray", f"{workers} workers", "at least 1 worker is needed")
        ray = _import_ray()
        self._ray = ray
        self._bundles: dict[str, tuple[KeyBundle, list[Any], Any]] = {}
        self._started = False
        if address is not None:
            check_reachable(address)
        try:
            if ray.is_initialized():
                pass  # the caller's session (tests, a notebook): use it, leave it running
            elif address is not None:
                ray.init(address=address, log_to_driver=False, runtime_env=runtime_env,
                         logging_level=logging.WARNING)
                self._started = True  # close() disconnects; the cluster keeps running
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                         runtime_env=runtime_env, logging_level=logging.WARNING)
                self._started = True
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ToolError("connect to Ray", address or "a local Ray",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                            ) from None
        self._task = ray.remote(num_cpus=1, max_retries=max_retries,
                                retry_exceptions=False)(_prove_task)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.description = (f"Ray at {address}" if address else "a local Ray") + \
            f" ({cpus} CPUs)"

    def _bundle(self, keys: Keys) -> tuple[KeyBundle, list[Any], Any]:
        """The keys as workers get them (put in the object store once) and the parsed
        verification key the driver checks their proofs with."""
        from zkclear.verifier import VerifyingKey

        sha = str(keys.record["zkey_sha256"])
        if sha not in self._bundles:
            bundle = KeyBundle(_Circuit(keys.compiled.circuit.name, keys.compiled.circuit.key),
                               dict(keys.record), keys.vkey, keys.provenance, keys.zkey.name)
            refs = [self._ray.put(keys.zkey.read_bytes()),
                    self._ray.put(keys.compiled.paths.wasm.read_bytes())]
            self._bundles[sha] = (bundle, refs, VerifyingKey.from_json(keys.vkey))
        return self._bundles[sha]

    def prove(self, keys: Keys, inputs: Inputs) -> ProofResult:
        return next(iter(self.prove_many(keys, [inputs])))

    def prove_many(self, keys: Keys, jobs: Sequence[Inputs], *,
                   progress: Progress | None = None) -> Iterator[ProofResult]:
        """Prove every job on the cluster at once; yield the verified results in the
        order of ``jobs`` (each as soon as it and every earlier one is in)."""
        bundle, refs, vk = self._bundle(keys)
        normal = [dict(j) for j in jobs]
        expected = [job_key(keys, j) for j in normal]  # checks every input is canonical
        pending = {self._task.remote(bundle, refs, j): i for i, j in enumerate(normal)}
        retried: set[int] = set()
        done: dict[int, ProofResult] = {}
        finished = 0
        if progress is not None:
            progress(0, len(jobs))
        for i in range(len(jobs)):
            while i not in done:
                [ref], _ = self._ray.wait(list(pending), num_returns=1)
                k = pending.pop(ref)
                res = self._collect(ref, keys, vk, normal[k], expected[k])
                if res is None:  # refused: prove it once more, then give up
                    log.warning("%s: job %s: a worker's proof was refused",
                                keys.compiled.circuit.name, expected[k])
                    if k in retried:
                        raise ProofError(f"{keys.compiled.circuit.name}: job {expected[k]}: "
                                         "the workers returned a proof that does not verify "
                                         "(twice): is a worker's zkey another one?")
                    retried.add(k)
                    pending[self._task.remote(bundle, refs, normal[k])] = k
                    continue
                done[k] = res
                finished += 1
                if progress is not None:
                    progress(finished, len(jobs))
            yield done.pop(i)

    def _collect(self, ref: Any, keys: Keys, vk: Any, inputs: dict[str, Any],
                 key: str) -> ProofResult | None:
        from zkclear.verifier import Proof
        from zkclear.verifier import verify as py_verify

        out = self._get(ref)
        try:
            proof = Proof.from_json(out["proof"])
            public = [int(x) for x in out["public"]]
            ok = out["job_key"] == key and py_verify(vk, proof, public)
        except (ProofError, KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            return None
        secs = float(out["prove_seconds"])
        log.info("%s: job %s proven on %s (pid %s) in %.1f s%s", keys.compiled.circuit.name,
                 key, out.get("host"), out.get("pid"), secs, " (stored)" if out["cached"] else "")
        job_dir = record_job(keys, inputs, out["proof"], public, secs)
        return ProofResult(out["proof"], public, key, job_dir, secs, cached=bool(out["cached"]))

    def _get(self, ref: Any) -> dict[str, Any]:
        from ray import exceptions as rex

        try:
            return cast(dict[str, Any], self._ray.get(ref))
        except rex.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception) and cause.__class__.__module__.startswith("zkclear"):
                raise cause from None  # the job's own error, as on one machine
            raise ToolError("prove on Ray", "a worker", _first_line(exc)) from None
        except rex.RayError as exc:  # a worker died more often than max_retries, ...
            raise ToolError("prove on Ray", "a worker", _first_line(exc)) from None

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(*, address: str | None = None, workers: int | None = None
            ) -> LocalProver | RayProver:
    """The prover ``operator run`` uses: Ray if ``address`` or ``workers`` is given."""
    if address is None and workers is None:
        return LocalProver()
    return RayProver(address=address, workers=workers)



