"""Circuits and keys: ``zkclear circuit list|compile``, ``zkclear setup`` (INSECURE
development keys), ``zkclear ptau dev`` and ``zkclear epoch prove``."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import click

from zkclear.cli.output import Output
from zkclear.cli.params import (
    DEV_POWER,
    PROVER,
    Existing,
    Int,
    circuit_args,
    command,
    group,
    prover_options,
)
from zkclear.errors import ZkclearError


def compiled(name: str, params: Sequence[tuple[str, int]], out: Output) -> Any:
    """Compile (or load from the cache) circuit ``name`` at the given sizes."""
    from zkclear.prover import registry
    from zkclear.prover.circuit import compile_circuit

    try:
        circuit = registry.get(name, **dict(params))
    except (KeyError, TypeError) as exc:  # a size parameter the circuit does not take
        raise ZkclearError(str(exc).strip('"')) from exc
    with out.step(f"compile {circuit.name}"):
        return compile_circuit(circuit)


circuit = group("circuit", "list and compile circuits")


@command(circuit, "list", "list the circuits")
def circuit_list(out: Output) -> int:
    from zkclear.prover import registry

    rows = []
    for name in sorted(registry.CIRCUITS):
        c = registry.get(name)
        rows.append({"name": name, "template": c.template, "params": list(c.params),
                     "description": c.description})
        out.info(f"{name}: {c.template}{c.params} — {c.description}")
    out.result({"circuits": rows})
    return 0


@command(circuit, "compile", "compile a circuit (cached)")
@circuit_args
def circuit_compile(out: Output, circuit: str, params: tuple[tuple[str, int], ...]) -> int:
    m = (c := compiled(circuit, params, out)).manifest
    out.info(f"{m['name']}: {m['constraints']} constraints, {m['public_signals']} public "
             f"signals, artefacts in {c.paths.dir}")
    out.result({**m, "dir": str(c.paths.dir)})
    return 0


@command(None, "setup", "insecure development Groth16 keys for a circuit")
@circuit_args
@click.option("--ptau", type=Existing("the phase-1 file"),
              help="phase-1 file (default: development ptau)")
def setup(out: Output, circuit: str, params: tuple[tuple[str, int], ...],
          ptau: str | None) -> int:
    from zkclear.prover.keys import dev_setup

    c = compiled(circuit, params, out)
    with out.step("groth16 setup (insecure development keys)"):
        keys = dev_setup(c, ptau=Path(ptau) if ptau else None)
    out.info(f"[yellow]insecure development keys[/] in {c.paths.dir} "
             "(for tests and local chains only; run a ceremony for anything else)")
    out.result({"zkey": str(keys.zkey), "vkey": str(keys.vkey_path), **keys.record})
    return 0


ptau_group = group("ptau", "phase-1 files")


@command(ptau_group, "dev", "make the INSECURE development powers of tau")
@click.option("--power", type=DEV_POWER, required=True)
def ptau_dev(out: Output, power: int) -> int:
    from zkclear.prover import ptau

    with out.step(f"development powers of tau 2^{power}"):
        path = ptau.dev_ptau(power)
    out.info(f"[yellow]INSECURE[/] development ptau (tau is public): {path}")
    out.result({"ptau": str(path), "power": power, "insecure": True})
    return 0


epoch = group("epoch", "clear and prove epochs")


@command(epoch, "prove",
         "clear the generated demo story (hedge, refusal, liquidation), prove, verify",
         not_both=PROVER)
@click.option("--slots", type=Int(2, 64, "a slot count", "N"), default=4,
              help="N, a power of two (slot 0 = house)")
@click.option("--instruments", type=Int(1, 256, "an instrument count", "M"), default=2, help="M")
@click.option("--scenarios", type=Int(1, 1024, "a scenario count", "K"), default=4, help="K")
@prover_options
def epoch_prove(out: Output, slots: int, instruments: int, scenarios: int, ray: str | None,
                workers: int | None) -> int:
    """Clear the generated demo story at the given size, prove and verify each epoch
    (with --ray/--workers: every epoch at once on Ray; the engine runs first)."""
    from zkclear.clearing.params import PoolConfig
    from zkclear.clearing.scenario import run_story
    from zkclear.clearing.witness import epoch_circuit_inputs
    from zkclear.prover import registry
    from zkclear.prover.circuit import compile_circuit
    from zkclear.prover.distributed import connect
    from zkclear.prover.keys import dev_setup
    from zkclear.verifier import Proof, VerifyingKey, verify

    # The prover first: an unreachable Ray cluster is refused before any work.
    with closing(connect(address=ray, workers=workers)) as prover:
        cfg = PoolConfig(slots, instruments, scenarios)
        circuit = registry.get("epoch", slots=cfg.n_slots, instruments=cfg.n_instruments,
                               scenarios=cfg.n_scenarios)
        with out.step(f"compile epoch circuit N={cfg.n_slots} M={cfg.n_instruments} "
                      f"K={cfg.n_scenarios}"):
            c = compile_circuit(circuit)
        out.info(f"  {c.info.n_constraints} constraints")
        with out.step("groth16 setup (insecure development keys)"):
            keys = dev_setup(c)
        vk = VerifyingKey.from_json(keys.vkey)
        results = list(run_story(cfg))  # the engine: every epoch's witness is known now
        with out.progress(f"prove {len(results)} epochs in {prover.description}") as bar:
            proofs = list(prover.prove_many(keys, [epoch_circuit_inputs(r) for r in results],
                                            progress=bar))
    epochs = []
    for r, res in zip(results, proofs, strict=True):
        if res.public != r.public_signals():
            raise ZkclearError(f"epoch {r.epoch}: circuit public signals differ from the "
                               "engine's")
        ok = verify(vk, Proof.from_json(res.proof), res.public)
        liquidated = [s.slot for s in r.slots if s.liquidated]
        hedged = [s.slot for s in r.slots[1:] if s.maintenance_margin and len(
            [q for q in s.after.positions if q]) > 1]
        refused = [s.slot for s in r.slots if s.withdrawal_refused]
        out.info(f"  epoch {r.epoch}: proof {'[green]verifies[/]' if ok else '[red]REJECTED[/]'}"
                 f" ({res.prove_seconds:.1f} s); liquidated {liquidated}, "
                 f"withdrawals refused {refused}, multi-instrument members {hedged}")
        epochs.append({"epoch": r.epoch, "verified": ok, "prove_seconds": res.prove_seconds,
                       "liquidated": liquidated, "withdrawals_refused": refused,
                       "new_root": str(r.new.root()), "total_collateral": r.total_collateral})
    out.result({"constraints": c.info.n_constraints, "slots": cfg.n_slots,
                "instruments": cfg.n_instruments, "scenarios": cfg.n_scenarios,
                "epochs": epochs})
    return 0 if all(e["verified"] for e in epochs) else 1


COMMANDS = [circuit, setup, ptau_group, epoch]
