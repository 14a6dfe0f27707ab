"""The demo's epoch keys (``zkclear demo``, step 1): a phase-2 ceremony over the epoch
circuit with one contribution from each of the demo's institutions and a public beacon,
over the INSECURE development phase 1 (tau is public: these keys are for the local chain
only). The verified ceremony is cached under ``build/demo/ceremony-epoch-<circuit key>/``
(file hashes checked on reuse; an interrupted ceremony resumes where it stopped; the
ceremonies of earlier circuit versions are pruned).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from zkclear import paths
from zkclear.demo_story import MEMBERS
from zkclear.errors import ZkclearError

if TYPE_CHECKING:
    from zkclear.prover.circuit import Compiled
    from zkclear.prover.keys import Keys


class Output(Protocol):
    """Where the demo tells its story (the command line's ``zkclear.cli.output.Output``):
    a line, and a long step, during which zkclear's log records are its progress
    (:func:`zkclear.logs.shown_on`)."""

    def info(self, msg: str) -> None: ...

    def step(self, title: str) -> AbstractContextManager[None]: ...


#: A public value for the ceremony's final beacon (a real ceremony takes a future block
#: hash or a randomness beacon's output, fixed in advance).
BEACON = hashlib.sha256(b"zkclear demo beacon: a public, unpredictable value").hexdigest()


class DemoError(ZkclearError):
    """The demo's story did not go as told (a bug, or a changed rule)."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def ceremony_dir(compiled: Compiled) -> Path:
    return paths.build_dir() / "demo" / f"ceremony-{compiled.circuit.name}-{compiled.circuit.key}"


def _cached_keys(folder: Path, compiled: Compiled) -> Keys | None:
    """The keys a finished, verified ceremony installed in ``folder/keys``, if they are
    still those of its transcript (file hashes checked)."""
    from zkclear.prover.keys import Keys, check_zkey_matches, file_sha256

    kdir = folder / "keys"
    zkey, vkey = kdir / compiled.paths.zkey.name, kdir / compiled.paths.vkey.name
    try:
        record = json.loads((kdir / "setup.json").read_text())
        transcript = json.loads((folder / "transcript.json").read_text())
        if (record.get("transcript_sha256") != file_sha256(folder / "transcript.json")
                or record.get("zkey_sha256") != file_sha256(zkey) or not vkey.exists()
                or transcript["circuit"]["key"] != compiled.circuit.key):
            return None
        check_zkey_matches(compiled, zkey)
    except (OSError, ValueError, KeyError, ZkclearError):
        return None
    return Keys(compiled, zkey, vkey, record["provenance"], record)


def _prune_stale(keep: Path) -> None:
    """Remove the demo's ceremonies of earlier versions of the circuit (~150 MB each),
    unless another process holds one's lock."""
    prefix = keep.name.rsplit("-", 1)[0] + "-"
    for other in keep.parent.glob(prefix + "*"):
        if other == keep or not other.is_dir():
            continue
        with other.with_suffix(".lock").open("w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue
            shutil.rmtree(other, ignore_errors=True)
        other.with_suffix(".lock").unlink(missing_ok=True)


def run_ceremony(compiled: Compiled, ptau_path: Path, out: Output) -> tuple[Keys, dict[str, Any]]:
    """The epoch circuit's keys from a phase-2 ceremony: each member contributes, a beacon
    finishes it, the transcript is verified and the keys installed apart from the
    circuit's active keys. Reuses a verified ceremony of the same circuit from build/."""
    from zkclear.prover import ceremony

    folder = ceremony_dir(compiled)
    names = list(MEMBERS.values())
    with _locked(folder.with_suffix(".lock")):
        keys = _cached_keys(folder, compiled)
        cached = keys is not None
        if keys is None:
            try:
                data = json.loads((folder / "transcript.json").read_text())
            except (OSError, ValueError):
                data = None
            if data is None or data.get("beacon") is not None:
                shutil.rmtree(folder, ignore_errors=True)
                with out.step(f"phase 2: ceremony init ({compiled.info.n_constraints} "
                              "constraints; the longest step)"):
                    ceremony.init(compiled, ptau_path, folder)
                data = json.loads((folder / "transcript.json").read_text())
            else:
                out.info(f"  resuming the ceremony in {folder}")
            done = {c["name"] for c in data["contributions"]}
            for name in names:
                if name in done:
                    continue
                with out.step(f"phase 2: contribution by {name}"):
                    c = ceremony.contribute(folder, name)
                out.info(f"    {name}'s contribution hash {c.contribution_hash[:16]}…")
            with out.step("phase 2: public beacon"):
                ceremony.finalize(folder, BEACON, iterations_exp=10)
            # The demo made the initial key itself, in this folder: verifying from it skips
            # re-deriving it from the R1CS (minutes). `zkclear ceremony verify` re-derives.
            with out.step("phase 2: verify every contribution and the beacon from the "
                          "initial key, and install the keys"):
                keys = ceremony.install(folder, compiled, dest_dir=folder / "keys",
                                        trust_initial=True)
            _prune_stale(folder)
        data = json.loads((folder / "transcript.json").read_text())
    contributors = [c["name"] for c in data["contributions"]]
    if contributors != names or data.get("beacon") is None:
        raise DemoError(f"{folder}: the ceremony's contributors are {contributors}, "
                        f"expected {names} and a beacon; delete the folder to redo it")
    if cached:
        out.info(f"  phase 2: reusing the verified ceremony in {folder} (contributions by "
                 f"{', '.join(contributors)} and a beacon); delete it to run a fresh one")
    info = {
        "folder": str(folder),
        "cached": cached,
        "contributors": contributors,
        "contribution_hashes": {c["name"]: c["contribution_hash"]
                                for c in data["contributions"]},
        "beacon": data["beacon"]["hash"],
        "keys_insecure": keys.insecure,
    }
    return keys, info
