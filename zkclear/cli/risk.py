"""``zkclear risk arrays``: the SPAN-style risk arrays of an epoch from a JSON input file
(docs/risk_arrays.md has the formats). Oracle reporters run it on the epoch's final marks
and post the ``risk_hash`` with the arrays; anyone can re-run it and compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from zkclear.clearing.span import SpanError, inputs_from_json, loads, risk_arrays
from zkclear.cli.output import Output
from zkclear.cli.params import command, group
from zkclear.fsutil import write_atomic


def arrays_command(input_path: Path, output_path: Path | None) -> dict[str, Any]:
    """Read a ``zkclear-risk-inputs-v1`` file, compute the arrays and return their
    ``zkclear-risk-arrays-v1`` document; also write it to ``output_path`` when given.

    Raises :class:`SpanError` for an unreadable file, bad JSON (floats included) or
    inputs the generator refuses."""
    try:
        text = Path(input_path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpanError(f"cannot read the risk inputs {input_path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SpanError(f"the risk inputs {input_path} are not UTF-8 text") from exc
    try:
        doc = risk_arrays(inputs_from_json(loads(text))).to_json()
    except SpanError as exc:
        raise SpanError(f"{input_path}: {exc}") from exc
    if output_path is not None:
        try:
            write_atomic(Path(output_path), json.dumps(doc, indent=1) + "\n")
        except OSError as exc:
            raise SpanError(f"cannot write {output_path}: {exc.strerror}") from exc
    return doc


risk = group("risk", "SPAN-style risk arrays (an oracle reporter, an auditor)")


@command(risk, "arrays", "compute an epoch's risk arrays and their hash from a "
         "zkclear-risk-inputs-v1 file")
@click.argument("inputs", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="also write the zkclear-risk-arrays-v1 document here")
def arrays(out: Output, inputs: Path, out_path: Path | None) -> int:
    doc = arrays_command(inputs, out_path)
    lines = [f"epoch {doc['epoch']}: risk_hash {doc['risk_hash']}"]
    for ins in doc["instruments"]:
        lines.append(f"  {ins['name']}: {ins['array']}")
    return out.done(doc, "\n".join(lines))


COMMANDS = [risk]
