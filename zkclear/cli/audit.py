"""An auditor or compliance officer: ``zkclear audit`` (a member's history from public
chain data and a view key or the compliance key)."""

from __future__ import annotations

from pathlib import Path

import click

from zkclear.cli.output import Output
from zkclear.cli.params import (
    ANY_SLOT,
    Existing,
    command,
    deployment_option,
    load_deployment,
    rpc_url_option,
)


@command(None, "audit", "audit a member's history from chain data and a view key or the "
         "compliance key", one_of=[("key", "compliance_key")])
@rpc_url_option()
@deployment_option(help="deployment JSON (addresses, sizes)")
@click.option("--key", type=Existing("the view-key file"),
              help="view-key file: the member key or one epoch key")
@click.option("--compliance-key", type=Existing("the compliance key file"),
              help="the pool's compliance key file (needs --slot)")
@click.option("--slot", type=ANY_SLOT, help="member slot (default: the key's)")
@click.option("--vkey", type=Existing("the verification key"),
              help="epoch circuit verification key: re-verify every proof")
@click.option("--out", "out_dir", default=".", help="folder for audit-slotN.json/.html")
def audit(out: Output, rpc_url: str, deployment: str, key: str | None,
          compliance_key: str | None, slot: int | None, vkey: str | None, out_dir: str) -> int:
    """Audit one member from public chain data and a view key (or the compliance key)."""
    from rich.markup import escape

    from zkclear.audit.core import audit_member
    from zkclear.chain import node as chain
    from zkclear.privacy.compliance import load_compliance_key
    from zkclear.privacy.viewkeys import load_key

    dep = load_deployment(deployment)
    view_key = load_key(key) if key else None
    compliance = load_compliance_key(compliance_key) if compliance_key else None
    w3 = chain.http_web3(rpc_url)
    with out.step("read the chain, decrypt and re-derive each epoch"):
        report = audit_member(w3, dep, view_key, slot=slot, compliance_key=compliance,
                              vkey=vkey)
    folder = Path(out_dir)
    json_path = report.write_json(folder / f"audit-slot{report.slot}.json")
    html_path = report.write_html(folder / f"audit-slot{report.slot}.html")
    for row in report.rows:
        out.info(f"  epoch {row.epoch}: {escape(row.status)}")
    if report.ok:
        out.info(f"[green]no findings[/] for slot {report.slot}")
    else:
        out.info(f"[red]{len(report.findings)} finding(s)[/] for slot {report.slot}:")
        for f in report.findings:
            out.info(f"  {escape(str(f))}")
    out.info(f"report: {escape(str(html_path))} and {escape(str(json_path))}")
    out.result({**report.to_json(), "json": str(json_path), "html": str(html_path)})
    return 0 if report.ok else 1


COMMANDS = [audit]
