"""The distributed prover on a local Ray of 2 workers: a backlog of proving jobs of a small
circuit (the 516-constraint report commitment) proven in parallel equals the
single-machine path, a worker killed mid-proof is retried, and bad input or a bad proof
from a worker is refused with a one-line error.

The workers get their own build folder (``ZKCLEAR_BUILD_DIR`` in Ray's runtime
environment): like the machines of a real cluster they share no file with the driver, so
the keys reach them through Ray's object store. One Ray session serves the module.
"""

from __future__ import annotations

import dataclasses
import secrets
import sys
from pathlib import Path

import pytest

from zkclear import paths
from zkclear.clearing.report import Report
from zkclear.errors import ProofError, ToolError, ToolMissingError, WitnessError
from zkclear.prover import distributed, registry
from zkclear.prover.circuit import compile_circuit
from zkclear.prover.keys import dev_setup
from zkclear.prover.prove import job_key, prove
from zkclear.verifier import Proof, VerifyingKey
from zkclear.verifier import verify as py_verify

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def keys():
    return dev_setup(compile_circuit(registry.report_commitment(instruments=2)))


@pytest.fixture(scope="module")
def kill_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ray-kill")


@pytest.fixture(scope="module")
def ray_prover(tmp_path_factory, kill_dir):
    worker_build = tmp_path_factory.mktemp("ray-worker-build")
    env = {paths.BUILD_DIR_ENV: str(worker_build), distributed.KILL_ENV: str(kill_dir)}
    prover = distributed.RayProver(workers=2, runtime_env={"env_vars": env})
    yield prover
    prover.close()


def _reports(n: int) -> list[Report]:
    # fresh salts: every run proves new jobs (the driver's proof store persists in build/)
    return [Report(delta=(25 + i, -10), trade_cash=-2_500_000 + i,
                   salt=secrets.randbelow(2**200)) for i in range(n)]


def _check(keys, res, report: Report) -> None:
    assert res.public == [report.commitment()]
    assert res.job_key == job_key(keys, report.circuit_inputs())
    assert py_verify(VerifyingKey.from_json(keys.vkey), Proof.from_json(res.proof), res.public)


def test_a_backlog_on_two_workers_equals_the_single_machine_path(keys, ray_prover):
    reports = _reports(4)
    single = prove(keys, reports[0].circuit_inputs())  # the single-machine path, first
    seen: list[tuple[int, int]] = []
    results = list(ray_prover.prove_many(keys, [r.circuit_inputs() for r in reports],
                                         progress=lambda d, t: seen.append((d, t))))
    assert [r.job_key for r in results] == [job_key(keys, r.circuit_inputs()) for r in reports]
    for res, report in zip(results, reports, strict=True):
        _check(keys, res, report)
        assert not res.cached  # the workers share no proof store with the driver
    assert results[0].public == single.public and results[0].job_key == single.job_key
    assert seen == [(i, 4) for i in range(5)]
    # stored in the driver's content-addressed store: the single-machine path reuses it
    again = prove(keys, reports[3].circuit_inputs())
    assert again.cached and again.proof == results[3].proof


def test_a_worker_killed_mid_proof_is_retried(keys, ray_prover, kill_dir):
    reports = _reports(2)
    victim = job_key(keys, reports[1].circuit_inputs())
    (kill_dir / f"{victim}.kill").touch()
    results = list(ray_prover.prove_many(keys, [r.circuit_inputs() for r in reports]))
    assert (kill_dir / f"{victim}.killed").exists()  # the worker did die once
    for res, report in zip(results, reports, strict=True):
        _check(keys, res, report)


def test_a_failing_job_raises_its_own_error_once(keys, ray_prover):
    bad = Report(delta=(25, -10), trade_cash=-2_500_000, salt=1).circuit_inputs()
    bad["delta"] = [2**60, 0]  # beyond the circuit's range check
    with pytest.raises(WitnessError) as exc:
        ray_prover.prove(keys, bad)
    assert "\n" not in str(exc.value)


def test_a_wrong_or_stale_proof_from_a_worker_is_refused(keys, ray_prover):
    import ray

    first, other = _reports(2)
    good = ray_prover.prove(keys, first.circuit_inputs())
    vk = VerifyingKey.from_json(keys.vkey)
    inputs = first.circuit_inputs()
    key = good.job_key
    out = {"job_key": key, "proof": good.proof, "public": [str(x) for x in good.public],
           "prove_seconds": 1.0, "cached": False}
    assert ray_prover._collect(ray.put(out), keys, vk, inputs, key) is not None
    forged = {**out, "public": [str(other.commitment())]}  # another statement
    stale = {**out, "job_key": job_key(keys, other.circuit_inputs())}  # another job's
    garbage = {**out, "proof": {"pi_a": [1, 2]}}
    for bad in (forged, stale, garbage):
        assert ray_prover._collect(ray.put(bad), keys, vk, inputs, key) is None


def test_a_refused_proof_is_proven_again_then_the_job_fails(keys, ray_prover, monkeypatch):
    real, calls = ray_prover._collect, []

    def refuse_first(ref, *args):
        calls.append(ref)
        return None if len(calls) == 1 else real(ref, *args)

    first, second = _reports(2)
    monkeypatch.setattr(ray_prover, "_collect", refuse_first)
    _check(keys, ray_prover.prove(keys, first.circuit_inputs()), first)
    assert len(calls) == 2 and calls[0] != calls[1]  # a second task proved it
    monkeypatch.setattr(ray_prover, "_collect", lambda *a: None)
    with pytest.raises(ProofError, match="twice") as exc:
        ray_prover.prove(keys, second.circuit_inputs())
    assert "\n" not in str(exc.value)


def test_a_worker_refuses_a_zkey_that_is_not_the_announced_one(keys, ray_prover):
    bundle, refs, _ = ray_prover._bundle(keys)
    other = dataclasses.replace(bundle, record={**bundle.record, "zkey_sha256": "ab" * 32})
    with pytest.raises(ProofError, match="does not have the hash"):
        distributed._worker_keys(other, refs)


def test_bad_cluster_input_is_one_line(monkeypatch):
    cases = [({"address": "127.0.0.1:1"}, "no Ray head node answers"),
             ({"address": "nonsense"}, "expected HOST:PORT"),
             ({"workers": 0}, "at least 1 worker")]
    for kwargs, match in cases:
        with pytest.raises(ToolError, match=match) as exc:
            distributed.connect(**kwargs)
        assert "\n" not in str(exc.value)
    assert isinstance(distributed.connect(), distributed.LocalProver)
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    with pytest.raises(ToolMissingError, match="Ray is not installed") as exc:
        distributed.connect(workers=2)
    assert "zkclear[ray]" in str(exc.value)


def test_the_operator_proves_an_epoch_on_ray_and_settles_it(ray_prover, tmp_path):
    """operator run --workers/--ray: the service's proof comes from a Ray worker, is
    accepted on-chain, and the state is the engine's (as on the single-machine path)."""
    from ..operator import helpers as ops

    with ops.service_env(tmp_path, enrol=True, auto_close=True, net_after=0.0,
                         prover=ray_prover) as env:
        svc, cl = env.service, env.pool.client
        ops.drive_epoch(env, 1, (1_010, 1_095))
        assert svc.epoch_public(1)["phase"] == "accepted"
        assert cl.last_accepted_epoch() == 1 and cl.state_root() == svc.state().root()
        [detail] = env.store.query("SELECT detail FROM journal WHERE epoch = 1 AND "
                                   "step = 'proving'")
        assert "local Ray" in detail[0]
