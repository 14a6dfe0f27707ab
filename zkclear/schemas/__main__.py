"""``python -m zkclear.schemas --write DIR``: publish every record's JSON Schema as
``DIR/<name>.json``; ``--check DIR`` exits 1 naming the files that are out of date."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zkclear.fsutil import write_atomic

from . import SCHEMAS, json_schema


def stale(folder: Path) -> list[str]:
    """The published files under ``folder`` that differ from the records (or are missing),
    and files there that no record publishes."""
    out = []
    for name in SCHEMAS:
        path = folder / f"{name}.json"
        if not path.is_file() or path.read_text(encoding="utf-8") != json_schema(name):
            out.append(path.name)
    known = {f"{n}.json" for n in SCHEMAS}
    out += sorted(p.name for p in folder.glob("*.json") if p.name not in known)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zkclear.schemas", description=__doc__)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="DIR", type=Path, help="write DIR/<name>.json")
    group.add_argument("--check", metavar="DIR", type=Path, help="exit 1 if DIR is stale")
    args = ap.parse_args(argv)
    if args.check:
        bad = stale(args.check)
        for name in bad:
            print(f"{args.check / name} is out of date: run python -m zkclear.schemas "
                  f"--write {args.check}", file=sys.stderr)
        return 1 if bad else 0
    for name in SCHEMAS:
        write_atomic(args.write / f"{name}.json", json_schema(name), mode=0o644)
    for extra in stale(args.write):  # files of records that no longer exist
        (args.write / extra).unlink()
    print(f"wrote {len(SCHEMAS)} schemas to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
