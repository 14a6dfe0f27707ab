"""The deployer: ``zkclear deploy`` (the contracts for a pool file)."""

from __future__ import annotations

import click

from zkclear.cli.output import Output
from zkclear.cli.params import SIGNER, Existing, command, rpc_url_option, signer_options


@command(None, "deploy", "deploy the contracts for a pool file (zkclear-pool-v1)",
         not_both=SIGNER)
@rpc_url_option()
@signer_options
@click.option("--pool", type=Existing("the pool file"), required=True,
              help="pool file (see zkclear/roles/admin.py)")
@click.option("--out", "out_file", default="deployment.json",
              help="where to write the deployment")
@click.option("--insecure-dev-setup", is_flag=True,
              help="INSECURE development proving keys if no ceremony installed keys (refused "
              "on non-local chains)")
def deploy(out: Output, rpc_url: str, key: str | None, from_account: str | None, pool: str,
           out_file: str, insecure_dev_setup: bool) -> int:
    from zkclear.roles import admin as roles

    with out.step("compile the epoch circuit, deploy verifier and contracts"):
        res = roles.deploy(rpc_url, pool, out_file, key_file=key,
                           insecure_dev_setup=insecure_dev_setup, from_account=from_account)
    warn = " [red](INSECURE development keys)[/]" if res["insecure_keys"] else ""
    return out.done(res, f"deployed on chain {res['chain_id']}: ClearingHouse "
                         f"{res['addresses']['ClearingHouse']}{warn}; {out_file}")


COMMANDS = [deploy]
