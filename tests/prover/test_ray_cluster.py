"""``--ray ADDRESS``: a Ray cluster of two nodes (one CPU each) on this machine, started
apart from the prover (as ``ray start`` would), and ``zkclear epoch prove --ray ADDRESS``
run as a process against it: the demo story's epochs are proven on the cluster's
workers and equal the engine's public signals.

The cluster's workers get a build folder of their own, so they share no file with the
driver (the keys reach them through the object store) and no stored proof answers them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zkclear import paths

pytest.importorskip("ray")

ZKCLEAR = Path(sys.executable).with_name("zkclear")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[object, Path]]:
    from ray.cluster_utils import Cluster

    worker_build = tmp_path_factory.mktemp("cluster-build")
    saved = os.environ.get(paths.BUILD_DIR_ENV)
    os.environ[paths.BUILD_DIR_ENV] = str(worker_build)  # what the nodes' workers inherit
    try:
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        c.add_node(num_cpus=1)
        c.wait_for_nodes()
    finally:
        if saved is None:
            del os.environ[paths.BUILD_DIR_ENV]
        else:
            os.environ[paths.BUILD_DIR_ENV] = saved
    yield c, worker_build
    c.shutdown()


def test_epoch_prove_on_a_two_node_cluster(cluster) -> None:
    c, worker_build = cluster
    address = c.address
    proc = subprocess.run([str(ZKCLEAR), "epoch", "prove", "--ray", address, "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert [e["verified"] for e in out["epochs"]] == [True, True]
    # the workers proved them in their own build folder, with keys shipped to it
    assert len(list((worker_build / "proofs").iterdir())) == 2
    assert len(list((worker_build / "ray-keys").iterdir())) == 1
