"""``zkclear risk arrays``: the SPAN-style risk arrays of an epoch from a JSON input file.

The command line (zkclear/cli/main.py) calls :func:`arrays_command` and prints its one-line
errors; this module only reads, computes and writes (docs/risk_arrays.md has the formats).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zkclear.clearing.span import SpanError, inputs_from_json, loads, risk_arrays
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
