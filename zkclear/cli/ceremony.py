"""A ceremony contributor: ``zkclear ceremony init|contribute|verify|finalize`` (phase 2,
multi-party)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zkclear.cli.circuits import compiled
from zkclear.cli.output import Output
from zkclear.cli.params import BEACON, Existing, Int, circuit_args, command, group

ceremony = group("ceremony", "phase-2 multi-party ceremony")

CEREMONY_DIR = Existing("the ceremony folder", folder=True)
PTAU_HELP = "the phase-1 file (default: the one the transcript names)"
Params = tuple[tuple[str, int], ...]


def _ceremony_ptau(ptau_file: str | None, c: Any, out: Output) -> Path:
    from zkclear.prover import ptau

    if ptau_file is not None:
        return Path(ptau_file)
    power = ptau.required_power(c.info.n_constraints, c.info.n_public)
    out.info(f"[yellow]no --ptau given: using the INSECURE development phase 1 (2^{power})[/]")
    with out.step(f"development powers of tau 2^{power}"):
        return ptau.dev_ptau(power)


@command(ceremony, "init", "start a ceremony for a circuit")
@circuit_args
@click.option("--dir", "folder", required=True, help="ceremony folder (the transcript)")
@click.option("--ptau", type=Existing("the phase-1 file"),
              help="ceremony-grade phase-1 file (default: INSECURE dev ptau)")
def init(out: Output, circuit: str, params: Params, folder: str, ptau: str | None) -> int:
    from zkclear.prover import ceremony as cer

    c = compiled(circuit, params, out)
    ptau_path = _ceremony_ptau(ptau, c, out)
    with out.step("ceremony init (initial zkey)"):
        made = cer.init(c, ptau_path, Path(folder))
    out.info(f"ceremony for {c.circuit.name} started in {made}")
    out.result({"dir": str(made), "circuit": c.circuit.name, "ptau": str(ptau_path)})
    return 0


@command(ceremony, "contribute", "add your contribution")
@click.option("--dir", "folder", type=CEREMONY_DIR, required=True)
@click.option("--name", required=True, help="contributor's name, recorded in the key")
@click.option("--entropy", help="extra entropy (default: 32 random bytes)")
def contribute(out: Output, folder: str, name: str, entropy: str | None) -> int:
    from zkclear.prover import ceremony as cer

    with out.step(f"contribution by {name}"):
        c = cer.contribute(Path(folder), name, entropy=entropy)
    out.info(f"contribution #{c.index} by {c.name}; keep its hash to check the transcript:\n"
             f"  {c.contribution_hash}")
    out.result(c.__dict__)
    return 0


@command(ceremony, "verify", "verify a ceremony transcript")
@circuit_args
@click.option("--dir", "folder", type=CEREMONY_DIR, required=True)
@click.option("--ptau", type=Existing("the phase-1 file"), help=PTAU_HELP)
def verify(out: Output, circuit: str, params: Params, folder: str, ptau: str | None) -> int:
    from rich.markup import escape

    from zkclear.prover import ceremony as cer

    c = compiled(circuit, params, out)
    with out.step("verify ceremony transcript"):
        rep = cer.verify(Path(folder), c, ptau=Path(ptau) if ptau else None)
    if rep.ok:
        out.info(f"[green]transcript verifies[/]: contributions by {', '.join(rep.contributions)}")
    for p in rep.problems:
        out.info(f"[red]problem[/]: {escape(p)}")
    out.result(rep.__dict__)
    return 0 if rep.ok else 1


@command(ceremony, "finalize", "apply the beacon, verify, install the key")
@circuit_args
@click.option("--dir", "folder", type=CEREMONY_DIR, required=True)
@click.option("--beacon", type=BEACON, required=True, help="public random beacon, hex")
@click.option("--iterations", type=Int(10, 63, "an exponent", "EXP"), default=10,
              help="beacon iterations exponent")
@click.option("--ptau", type=Existing("the phase-1 file"), help=PTAU_HELP)
def finalize(out: Output, circuit: str, params: Params, folder: str, beacon: str,
             iterations: int, ptau: str | None) -> int:
    from zkclear.prover import ceremony as cer

    c = compiled(circuit, params, out)
    with out.step("apply beacon"):
        final = cer.finalize(Path(folder), beacon, iterations_exp=iterations)
    with out.step("verify and install final key"):
        keys = cer.install(Path(folder), c, ptau=Path(ptau) if ptau else None)
    out.info(f"final key {final} installed for {c.circuit.name}"
             + (" [yellow](insecure: development phase 1)[/]" if keys.insecure else ""))
    out.result({"final": str(final), "zkey": str(keys.zkey), "insecure": keys.insecure})
    return 0


COMMANDS = [ceremony]
