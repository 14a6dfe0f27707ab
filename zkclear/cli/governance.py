"""A governance owner: ``zkclear governance propose | confirm | execute | show``."""

from __future__ import annotations

import click

from zkclear import bounds
from zkclear.cli.output import Output
from zkclear.cli.params import (
    ADDRESS,
    FIELD_ELEMENT,
    HEX,
    MEMBER_SLOT,
    PROPOSAL,
    SIGNER,
    Existing,
    Int,
    chain_options,
    command,
    group,
)

governance = group("governance", "a governance owner")
ACTIONS = ("register-member", "remove-member", "risk-params", "set-operator", "add-reporter",
           "remove-reporter", "set-auction-params")
#: What each action needs (checked before the chain is asked anything).
NEEDS = {"register-member": ("slot", "account", "vkh", "escrow"), "remove-member": ("slot",),
         "risk-params": ("risk",), "set-operator": ("account",),
         "add-reporter": ("account",), "remove-reporter": ("account",),
         "set-auction-params": ("reserve_bp", "window")}
#: The auction of the house's lot: the reserve (bp of the lot's margin bound) and the
#: commit (then reveal) window, seconds (the contract also bounds it by the withdrawal
#: timeout).
RESERVE_BP = Int(0, bounds.BP, "a reserve in basis points", "BP")
WINDOW = Int(1, 86_400, "an auction window in seconds", "SECONDS")
proposal_id = click.option("--id", "pid", type=PROPOSAL, required=True, help="proposal id")


@command(governance, "propose", "propose one governed action (time-locked)", not_both=SIGNER)
@chain_options
@click.argument("action", type=click.Choice(ACTIONS), metavar="ACTION",
                help=f"one of {', '.join(ACTIONS)}")
@click.option("--slot", type=MEMBER_SLOT)
@click.option("--account", type=ADDRESS)
@click.option("--vkh", type=FIELD_ELEMENT)
@click.option("--escrow", type=HEX, help="hex escrow blob (zkclear member escrow)")
@click.option("--risk", type=Existing("the risk file"),
              help="JSON file with the risk object of a pool file")
@click.option("--reserve-bp", type=RESERVE_BP, help="set-auction-params: the lowest bid is "
              "-ceil(lotBase * reserve / 10000)")
@click.option("--window", type=WINDOW, help="set-auction-params: seconds of commits, then "
              "of reveals (at most a quarter of the withdrawal timeout)")
def propose(out: Output, rpc_url: str, deployment: str, key: str | None,
            from_account: str | None, action: str, slot: int | None, account: str | None,
            vkh: int | None, escrow: str | None, risk: str | None, reserve_bp: int | None,
            window: int | None) -> int:
    from zkclear.roles import admin as roles

    given = {"slot": slot, "account": account, "vkh": vkh, "escrow": escrow, "risk": risk,
             "reserve_bp": reserve_bp, "window": window}
    if any(given[n] is None for n in NEEDS[action]):
        *most, last = (f"--{n.replace('_', '-')}" for n in NEEDS[action])
        raise click.UsageError(f"{action} needs {', '.join(most) + ' and ' if most else ''}"
                               f"{last}")
    res = roles.propose(rpc_url, deployment, action, key_file=key, slot=slot, account=account,
                        vkh=vkh, escrow=escrow, risk_file=risk, reserve_bp=reserve_bp,
                        window=window, from_account=from_account)
    return out.done(res, f"proposal {res['proposal']} ({action}): {res['confirmations']} "
                         "confirmation(s)")


@command(governance, "confirm", "confirm a proposal", not_both=SIGNER)
@chain_options
@proposal_id
def confirm(out: Output, rpc_url: str, deployment: str, key: str | None,
            from_account: str | None, pid: int) -> int:
    from zkclear.roles import admin as roles

    res = roles.confirm(rpc_url, deployment, pid, key_file=key, from_account=from_account)
    eta = f", executable at {res['eta']}" if res["eta"] else ""
    return out.done(res, f"proposal {pid}: {res['confirmations']} confirmation(s){eta}")


@command(governance, "execute", "execute a queued proposal after its time-lock",
         not_both=SIGNER)
@chain_options
@proposal_id
def execute(out: Output, rpc_url: str, deployment: str, key: str | None,
            from_account: str | None, pid: int) -> int:
    from zkclear.roles import admin as roles

    res = roles.execute(rpc_url, deployment, pid, key_file=key, from_account=from_account)
    return out.done(res, f"proposal {pid} executed")


@command(governance, "show", "a proposal's state", not_both=SIGNER)
@chain_options
@proposal_id
def show(out: Output, rpc_url: str, deployment: str, key: str | None,
         from_account: str | None, pid: int) -> int:
    from zkclear.roles import admin as roles

    res = roles.show(rpc_url, deployment, pid)
    return out.done(res, f"proposal {pid}: {res}")


COMMANDS = [governance]
