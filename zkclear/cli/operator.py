"""The operator: ``zkclear operator run`` (the service) and ``zkclear operator recover``
(a new operator rebuilds the database from chain data and the compliance key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from zkclear.cli.output import Output
from zkclear.cli.params import (
    ADDRESS,
    DB_URL,
    PORT,
    PROVER,
    SECONDS,
    Existing,
    Float,
    command,
    deployment_option,
    group,
    load_deployment,
    prover_options,
    rpc_url_option,
)

operator = group("operator", "the operator service")


@command(operator, "run", "serve the operator API and run the epoch lifecycle",
         not_both=PROVER)
@rpc_url_option()
@deployment_option()
@click.option("--db", type=DB_URL, default="sqlite:///operator.db",
              help="database URL (SECRET: holds members' view keys)")
@click.option("--transport-key", default="operator-transport.json",
              help="operator X25519 key file (created if missing)")
@click.option("--admin-token-file", default="operator-admin-token.json",
              help="where the admin bearer token is written (0600)")
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=PORT, default=9545)
@click.option("--operator", "operator_account", type=ADDRESS,
              help="account sending closeEpoch/submitEpoch (default: the ClearingHouse's "
              "operator)")
@click.option("--operator-key", type=Existing("the operator key file"), metavar="FILE",
              help="zkclear-eth-key-v1 file of the operator account: transactions are signed "
              "locally (a real node)")
@click.option("--dev-keys", is_flag=True,
              help="INSECURE development proving keys (local chains only)")
@click.option("--no-auto-close", is_flag=True, help="close epochs only on command")
@click.option("--interval", type=Float(0.01, "seconds"), default=1.0,
              help="driver period, seconds")
@click.option("--net-after", type=SECONDS, metavar="SECONDS",
              help="net the intake epoch by itself once its prices are final and its first "
              "trade list is SECONDS old (default: only on command)")
@click.option("--sign-timeout", type=SECONDS, default=300.0, metavar="SECONDS",
              help="members have SECONDS after each netting round to send their signed "
              "commitment; then the missing ones are excluded and the rest re-netted (0: only "
              "when a close is commanded)")
@prover_options
def run(out: Output, rpc_url: str, deployment: str, db: str, transport_key: str,
        admin_token_file: str, host: str, port: int, operator_account: str | None,
        operator_key: str | None, dev_keys: bool, no_auto_close: bool, interval: float,
        net_after: float | None, sign_timeout: float, ray: str | None,
        workers: int | None) -> int:
    import logging

    from zkclear.operator.run import RunOptions, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    opts = RunOptions(rpc_url, Path(deployment), db, Path(transport_key),
                      Path(admin_token_file), host, port, operator_account, dev_keys,
                      not no_auto_close, interval, net_after,
                      Path(operator_key) if operator_key else None,
                      sign_timeout if sign_timeout > 0 else None, ray=ray, workers=workers)

    def ready(info: dict[str, Any]) -> None:
        out.info(f"operator API on {info['url']} (pool {info['pool_id']}; proving in "
                 f"{info['prover']})")
        if out.as_json:
            print(json.dumps({"ok": True, **info}), flush=True)
    return run(opts, ready=ready)


class _More(click.Argument):
    """Further ``--shares`` files (``--shares A B C``): not shown as an argument."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


@command(operator, "recover", "rebuild the operator's database from chain data and the "
         "compliance key (a new operator takes over)", one_of=[("compliance_key", "shares")])
@rpc_url_option()
@deployment_option()
@click.option("--compliance-key", type=Existing("the compliance key file"),
              help="the pool's compliance key file")
@click.option("--shares", type=Existing("a share file"), multiple=True,
              metavar="FILE [FILE ...]", help="a threshold of the compliance officers' share files")
@click.option("--db", type=DB_URL, required=True, help="a NEW database URL, e.g. "
              "sqlite:///new.db (SECRET: it will hold members' view keys)")
@click.argument("more_shares", nargs=-1, type=Existing("a share file"), cls=_More)
def recover(out: Output, rpc_url: str, deployment: str, compliance_key: str | None,
            shares: tuple[str, ...], db: str, more_shares: tuple[str, ...]) -> int:
    """Rebuild the operator's database from the chain and the compliance key."""
    from zkclear.chain import node as chain
    from zkclear.chain.client import Client
    from zkclear.operator.recover import recover_operator
    from zkclear.privacy.compliance import KeyShare, combine_key, load_compliance_key

    if more_shares and not shares:
        raise click.UsageError(f"unexpected extra arguments: {' '.join(more_shares)}")
    dep = load_deployment(deployment)
    if compliance_key:
        compliance = load_compliance_key(compliance_key)
    else:
        compliance = combine_key([KeyShare.load(f) for f in (*shares, *more_shares)])
    client = Client(chain.http_web3(rpc_url), dep)
    with out.step("read the chain, open the escrows and replay every accepted epoch"):
        rec = recover_operator(client, compliance, db)
    summary = rec.summary()
    out.info(f"recovered pool {summary['pool_id']}: epochs 1..{summary['last_accepted']} "
             f"replayed, root {summary['root']} (the chain's), members {summary['members']}"
             + (f", epoch {summary['pending']} closed and left to prove"
                if summary["pending"] else ""))
    out.info("members must enrol again with the new operator (transport keys are not "
             "on-chain) and resend their trade lists of the open epoch")
    out.result({"ok": True, **summary, "db": db})
    return 0


COMMANDS = [operator]
