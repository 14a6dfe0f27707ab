"""groth16py (Rust, arkworks) behind zkclear's own interface: the native prover and the
development setup.

`groth16py <https://pypi.org/project/groth16py/>`_ (GPL-3.0, like circom and snarkjs;
the ``fast`` extra) proves a circom witness 2.5-2.75x faster than the snarkjs CLI on the
same zkey and sets up development keys from an r1cs in seconds where snarkjs takes
minutes (docs/benchmarks.md). It is used only through this module, and never trusted:

* **It fails open.** A witness that does not satisfy the constraints, or an input that
  broke a circom assert, yields a proof that simply does not verify; a witness of
  another circuit may even yield a proof of a wrong statement, or a Rust panic that
  derives from ``BaseException`` (not ``Exception``). So :func:`prove_wtns` checks the
  witness's length first, turns groth16py's own errors and that panic (only that one:
  ``KeyboardInterrupt`` and the like pass through) into a :class:`ProofError`, and its
  caller (:func:`zkclear.prover.prove.prove_witness`) verifies every proof with snarkjs
  before it leaves.
* **Its proofs come as the Ethereum calldata blob** (a, b, c as 32-byte big-endian
  words, each G2 coordinate as ``[c1, c0]``); :func:`proof_json` writes snarkjs's JSON
  (``[c0, c1]``: the pairing precompile's order swapped back, TOOLCHAIN.md). The public
  signals are not in the blob: they are the witness's values 1..nPublic.
* **Its setup is single-party**: the process that runs :func:`setup` knows the toxic
  waste, so anyone with access to it could forge proofs. It makes development and test
  keys only (:func:`zkclear.prover.keys.dev_setup`, always recorded as insecure);
  deployed pools take keys from a phase-2 ceremony (:mod:`zkclear.prover.ceremony`, a
  snarkjs zkey), which groth16py proves with too (:func:`proving_key` imports the zkey).
* **Its proving keys are its own file format** (``ProvingKey.save``; carries the
  constraint matrices), which snarkjs cannot read: keys made here are proven with
  groth16py only. Their verification key is snarkjs's ``verification_key.json``
  layout, so snarkjs verify, the Python verifier and the Solidity verifier (rendered from
  it by snarkjs's own template, :func:`zkclear.verifier.onchain.export_verifier`) work
  unchanged.

groth16py proves on one core (its thread pool does not parallelise the prover).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkclear.errors import ArtefactError, ProofError, ToolMissingError
from zkclear.prover.binfile import read_witness, witness_length

if TYPE_CHECKING:
    import groth16py

#: The pip extra that installs groth16py.
EXTRA = "fast"
#: The size of groth16py's proof blob: eight 32-byte words.
PROOF_BYTES = 256


@functools.cache
def available() -> bool:
    """True if groth16py can be imported (``pip install 'zkclear[fast]'``)."""
    return importlib.util.find_spec("groth16py") is not None


def version() -> str:
    """groth16py's version (recorded with the keys it sets up)."""
    return str(_module().__version__)


def _module() -> Any:
    try:
        import groth16py
    except ImportError:
        raise ToolMissingError("use the native prover", "groth16py", "groth16py is not "
                               "installed", f"pip install 'zkclear[{EXTRA}]'") from None
    return groth16py


def _errors(g: Any) -> tuple[type[Exception], ...]:
    return (g.SetupError, g.WitnessError, g.EncodingError, g.VerificationError)


def is_rust_panic(exc: BaseException) -> bool:
    """A panic inside groth16py's Rust code (pyo3's ``PanicException``: it derives from
    ``BaseException`` and lives in a module, ``pyo3_runtime``, that cannot be imported)."""
    kind = type(exc)
    return kind.__name__ == "PanicException" and kind.__module__ == "pyo3_runtime"


def setup(r1cs: Path, pkey_out: Path) -> dict[str, Any]:
    """INSECURE single-party Groth16 setup of ``r1cs``: the proving key is written to
    ``pkey_out`` (groth16py's format), the verification key (snarkjs's JSON layout) is
    returned. The toxic waste lived in this process: development and tests only."""
    g = _module()
    try:
        pk, vk = g.setup(str(r1cs))
        pk.save(str(pkey_out))
        vkey: dict[str, Any] = json.loads(vk.to_json())
    except _errors(g) as exc:
        raise ArtefactError(f"{r1cs}: groth16py setup failed: {exc}") from exc
    except BaseException as exc:
        if not is_rust_panic(exc):
            raise
        raise ArtefactError(f"{r1cs}: groth16py setup panicked: {exc}") from None
    return vkey


_keys: dict[tuple[str, str], groth16py.ProvingKey] = {}
_keys_lock = threading.Lock()


def proving_key(path: Path, sha256: str, *, zkey: bool) -> groth16py.ProvingKey:
    """The proving key in ``path`` (a snarkjs ``.zkey`` if ``zkey``, else a key
    :func:`setup` saved), loaded once per process and file content (``sha256``)."""
    g = _module()
    with _keys_lock:
        cached = _keys.get((str(path), sha256))
        if cached is not None:
            return cached
        try:
            pk = g.import_zkey(str(path))[0] if zkey else g.ProvingKey.load(str(path))
        except _errors(g) as exc:
            raise ArtefactError(f"{path}: groth16py cannot read this proving key: {exc}"
                                ) from exc
        except BaseException as exc:
            if not is_rust_panic(exc):
                raise
            raise ArtefactError(f"{path}: groth16py panicked reading it: {exc}") from None
        _keys[(str(path), sha256)] = pk
        return pk


def proof_json(blob: bytes) -> dict[str, Any]:
    """snarkjs's proof JSON from groth16py's blob (``a.x a.y | b.x.c1 b.x.c0 b.y.c1
    b.y.c0 | c.x c.y``, 32-byte big-endian words)."""
    if len(blob) != PROOF_BYTES:
        raise ProofError(f"groth16py returned a proof of {len(blob)} bytes, expected "
                         f"{PROOF_BYTES}")
    w = [str(int.from_bytes(blob[i : i + 32], "big")) for i in range(0, PROOF_BYTES, 32)]
    return {"pi_a": [w[0], w[1], "1"],
            "pi_b": [[w[3], w[2]], [w[5], w[4]], ["1", "0"]],
            "pi_c": [w[6], w[7], "1"],
            "protocol": "groth16", "curve": "bn128"}


def prove_wtns(pk: groth16py.ProvingKey, wtns: Path, *, n_wires: int | None, n_public: int,
               subject: str) -> tuple[dict[str, Any], list[int]]:
    """Prove the witness file ``wtns``: (snarkjs proof JSON, public signals).

    NOT verified here (the caller verifies). ``n_wires``, when known, is checked against
    the witness first: a witness of another circuit is refused before groth16py sees it.
    """
    g = _module()
    length = witness_length(wtns)
    if n_wires is not None and length != n_wires:
        raise ProofError(f"{subject}: the witness has {length} values, the circuit "
                         f"{n_wires} wires: it is another circuit's witness")
    try:
        blob = g.prove_wtns(pk, str(wtns))
    except _errors(g) as exc:
        raise ProofError(f"{subject}: groth16py refused the witness or key: {exc}") from exc
    except BaseException as exc:
        if not is_rust_panic(exc):
            raise
        raise ProofError(f"{subject}: groth16py panicked proving ({exc}): the witness "
                         "does not fit the proving key") from None
    public = read_witness(wtns, count=1 + n_public)[1:]
    return proof_json(bytes(blob)), public
