"""The stories on the embedded EVM: ``zkclear demo`` and ``zkclear drill NAME|all``; and
``zkclear doctor``, which checks that everything they need is in place."""

from __future__ import annotations

import click

from zkclear.cli.output import Output
from zkclear.cli.params import DRILL, command


@command(None, "doctor", "check Python, node, pinned tools and the artefact cache")
def doctor(out: Output) -> int:
    from rich.markup import escape

    from zkclear.doctor import run_checks

    checks = run_checks()
    bad = [c for c in checks if not c.ok]
    for c in checks:
        mark = "[green]ok[/]  " if c.ok else "[red]FAIL[/]"
        out.info(f"{mark} {c.name}: {escape(c.detail)}")
        if not c.ok and c.fix:
            out.info(f"      fix: {escape(c.fix)}")
    out.result({"ok": not bad, "checks": [c.__dict__ for c in checks]})
    if not bad:
        out.info("[green]everything zkclear needs is in place[/]")
    return 1 if bad else 0


@command(None, "demo", "run the end-to-end demo on the embedded EVM")
def demo(out: Output) -> int:
    from zkclear.demo import run_demo

    summary = run_demo(out)
    out.result(summary)
    return 0 if summary.get("ok") else 1


@command(None, "drill", "run an adversarial drill (or all) on the embedded EVM; passes only "
         "if no honest member lost money")
@click.argument("name", type=DRILL, help="drill name or 'all'")
def drill(out: Output, name: str) -> int:
    """Run adversarial drills; exit 0 only if every one passed."""
    from rich.markup import escape

    from zkclear import drills

    verdicts = []
    for one in sorted(drills.DRILLS) if name == "all" else [name]:
        out.info(f"drill {one} ...")
        v = drills.run(one)
        verdicts.append(v)
        for line in v.story:
            out.info(f"  {escape(line)}")
        mark = "[green]PASS[/]" if v.passed else "[red]FAIL[/]"
        out.info(f"{mark} {one}: {escape(v.summary)} (honest loss {v.ledger.honest_loss()})")
    ok = all(v.passed for v in verdicts)
    out.result({"ok": ok, "drills": [v.to_json() for v in verdicts]})
    return 0 if ok else 1


COMMANDS = [doctor, demo, drill]
