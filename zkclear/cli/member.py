"""A member (an institution): ``zkclear member keygen | escrow | enrol | submit | result |
commit | deposit | post-deposit | withdraw | status | lot | bid | reveal | exit``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from zkclear import bounds
from zkclear.cli.output import Output
from zkclear.cli.params import (
    ADDRESS,
    AMOUNT,
    EPOCH,
    MEMBER_SLOT,
    POOL_ID,
    PRIVATE_KEY,
    PUBLIC_KEY,
    SIGNER,
    URL,
    Existing,
    Int,
    TradeListFile,
    command,
    deployment_option,
    group,
    rpc_url_option,
)
from zkclear.errors import ZkclearError

F = TypeVar("F", bound=Callable[..., Any])
KEY_DIR = Existing("the member's key folder", folder=True)

member = group("member", "a member's client")


@command(member, "keygen", "create key files; print account and vkh")
@click.option("--dir", "folder", required=True)
@click.option("--slot", type=MEMBER_SLOT, required=True)
@click.option("--eth-key", type=PRIVATE_KEY, help="existing account key (hex); default: a new "
              "one")
def keygen(out: Output, folder: str, slot: int, eth_key: str | None) -> int:
    from eth_account import Account

    from zkclear.roles.member import keygen as make_keys

    if eth_key is not None:
        try:
            Account.from_key(eth_key)
        except Exception:  # never echo the key
            raise click.BadParameter("not a private key (0x + 64 hex)",
                                     param_hint="'--eth-key'") from None
    info = make_keys(Path(folder), slot, eth_key)
    out.info(f"member keys for slot {info['slot']} in {folder}: account {info['account']}, "
             f"vkh {info['vkh']} (governance registers these)")
    out.result({"ok": True, **info})
    return 0


@command(member, "escrow", "registration request: account, vkh and the view key escrowed to "
         "the compliance key (what governance registers)")
@click.option("--dir", "folder", type=KEY_DIR, required=True, help="the member's key folder")
@click.option("--compliance-public", type=PUBLIC_KEY, required=True,
              help="the pool's compliance public key (0x + 64 hex)")
@click.option("--pool-id", type=POOL_ID, required=True,
              help='"<chain id>:<ClearingHouse address>"')
def escrow(out: Output, folder: str, compliance_public: str, pool_id: str) -> int:
    from zkclear.roles import admin as roles

    res = roles.member_escrow(folder, compliance_public, pool_id)
    return out.done(res, f"slot {res['slot']}: account {res['account']}, vkh {res['vkh']}, "
                         f"escrow {len(res['escrow']) // 2 - 1} bytes")


# -- the member's client: the operator's API, and the chain for deposits and withdrawals ---

def client_options(fn: F) -> F:
    """``--dir``, ``--operator-url``, and the chain (on-chain actions)."""
    for deco in reversed((
            click.option("--dir", "folder", type=KEY_DIR, required=True,
                         help="the member's key folder"),
            click.option("--operator-url", type=URL, default="http://127.0.0.1:9545"),
            rpc_url_option(required=False, help="JSON-RPC URL (on-chain actions)"),
            deployment_option(required=False, help="deployment JSON file (on-chain actions)"))):
        fn = deco(fn)
    return fn


def _client(folder: str, operator_url: str, rpc_url: str | None,
            deployment: str | None) -> Any:
    from zkclear.chain import node as chain
    from zkclear.chain.client import Client
    from zkclear.cli.params import load_deployment
    from zkclear.roles.member import load_member, read_eth_key

    cl = None
    if rpc_url and deployment:
        # The member's own key signs its transactions (a real node holds no key of ours).
        key = read_eth_key(Path(folder) / "eth-key.json")
        cl = Client(chain.http_web3(rpc_url, signers=[key]), load_deployment(deployment))
    return load_member(Path(folder), operator_url, cl)


def _show(out: Output, res: Any) -> int:
    out.info(json.dumps(res, indent=2, default=str))
    out.result({"ok": True, "result": res})
    return 0


def _has_gas_money(m: Any) -> None:
    """Refuse an on-chain action from an account that cannot pay for gas."""
    cl = m._chain()
    if cl.w3.eth.get_balance(m.address) == 0:
        raise ZkclearError(f"account {m.address} has no ETH to pay for gas: fund it first")


@command(member, "enrol", "hand the operator the transport and view keys")
@client_options
def enrol(out: Output, **chain: Any) -> int:
    with _client(**chain) as m:
        return _show(out, m.enrol())


@command(member, "submit", "send a trade list (JSON file)")
@client_options
@click.option("--trades", type=TradeListFile(), required=True,
              help="the trade list: a JSON list of trades (or {\"trades\": [...]})")
@click.option("--epoch", type=EPOCH, help="default: the intake epoch")
def submit(out: Output, trades: Any, epoch: int | None, **chain: Any) -> int:
    from zkclear.roles.member import save_sent

    with _client(**chain) as m:
        res = m.submit_trades(trades, epoch)
        save_sent(m, Path(chain["folder"]), int(res["epoch"]))
    return _show(out, res)


@command(member, "result", "own netted result of an epoch")
@client_options
@click.option("--epoch", type=EPOCH, required=True)
def result(out: Output, epoch: int, **chain: Any) -> int:
    with _client(**chain) as m:
        return _show(out, m.result(epoch))


@command(member, "commit", "verify the result, encrypt and commit on-chain")
@client_options
@click.option("--epoch", type=EPOCH, required=True)
def commit(out: Output, epoch: int, **chain: Any) -> int:
    with _client(**chain) as m:
        c = m.commit(epoch)
    return _show(out, {"epoch": epoch, "commitment": None if c is None else str(c)})


def _transaction(name: str, help: str, method: str, key: str) -> click.Command:
    """``member deposit|withdraw``: a transaction from the member's own account, which must
    be able to pay for gas."""
    @command(member, name, help)
    @client_options
    @click.option("--amount", type=AMOUNT, required=True)
    def run(out: Output, amount: int, **chain: Any) -> int:
        _on_chain(name, chain)
        with _client(**chain) as m:
            _has_gas_money(m)
            getattr(m, method)(amount)
        return _show(out, {key: amount})
    return run


deposit = _transaction("deposit", "deposit collateral", "deposit", "deposited")


@command(member, "post-deposit", "sign a deposit for the operator to post at the close")
@client_options
@click.option("--amount", type=AMOUNT, required=True)
def post_deposit(out: Output, amount: int, **chain: Any) -> int:
    """Cheaper than ``member deposit``: no transaction of the member's own but a one-off
    standing allowance; if the operator does not post it, use ``member deposit``."""
    _on_chain("post-deposit", chain)
    with _client(**chain) as m:
        _has_gas_money(m)  # the one-off approve
        return _show(out, m.post_deposit(amount))


withdraw = _transaction("withdraw", "request a withdrawal", "request_withdrawal", "requested")


@command(member, "status", "balance and epochs")
@client_options
def status(out: Output, **chain: Any) -> int:
    with _client(**chain) as m:
        return _show(out, m.status())


# -- the auction of the house's lot (zkclear.roles.auction) ----------------------------------

#: A bid: a signed amount (< 0: the house pays the winner |X| to take the lot);
#: |bid| < 2^FUND_BITS (zkclear.clearing.auction.BID_BITS).
BID = Int(-(2**bounds.FUND_BITS - 1), 2**bounds.FUND_BITS - 1, "a bid (a signed amount)", "AMOUNT")


def _on_chain(name: str, chain: dict[str, Any]) -> None:
    if not (chain["rpc_url"] and chain["deployment"]):
        raise click.UsageError(f"member {name} needs --rpc-url and --deployment")


def _auction(name: str, chain: dict[str, Any], step: Callable[[Any, Path], Any], *,
              gas: bool = True) -> Any:
    """``step(member client, key folder)`` of ``member lot|bid|reveal`` (on-chain; ``gas``:
    a transaction from the member's account)."""
    _on_chain(name, chain)
    with _client(**chain) as m:
        if gas:
            _has_gas_money(m)
        return step(m, Path(chain["folder"]))


@command(member, "lot", "fetch the house's lot from the operator, check it against the "
         "epoch's published exit data and keep it (lots/<epoch>.json)")
@client_options
def lot(out: Output, **chain: Any) -> int:
    from zkclear.roles.auction import member_lot

    res = _auction("lot", chain, member_lot, gas=False)
    out.info(f"the house's lot after epoch {res['epoch']} checks against the published exit "
             f"data: positions {res['positions']}, collateral {res['collateral']}; kept in "
             f"{res['file']}")
    out.result({"ok": True, "result": res})
    return 0


@command(member, "bid", "seal a bid for the open auction of the house's lot (refused if this "
         "member could not margin the lot after paying it); the salt is kept in "
         "bids/<epoch>.json")
@client_options
@click.option("--amount", type=BID, required=True,
              help="the bid: > 0 this member pays the house, < 0 the house pays this member")
def bid(out: Output, amount: int, **chain: Any) -> int:
    from zkclear.roles.auction import commit_bid

    res = _auction("bid", chain, lambda m, folder: commit_bid(m, amount, folder))
    out.info(f"sealed bid {amount} for the auction of epoch {res['epoch']} (equity after it "
             f"{res['equity']}, initial margin with the lot {res['initial_margin']}); reveal "
             f"it after {res['commit_end']} with `zkclear member reveal`")
    out.result({"ok": True, "result": res})
    return 0


@command(member, "reveal", "reveal the saved sealed bid of the open auction (after its "
         "commit deadline, before its reveal deadline)")
@client_options
def reveal(out: Output, **chain: Any) -> int:
    from zkclear.roles.auction import reveal_bid

    return _show(out, _auction("reveal", chain, reveal_bid))


# -- exit after a freeze ----------------------------------------------------------------------

@command(member, "exit", "after a freeze (freezing first once allowed): exit with what the "
         "last accepted state owes the slot, from a view key or the compliance key and public "
         "chain data", one_of=[("folder", "view_key", "compliance_key")],
         not_both=SIGNER)
@rpc_url_option()
@deployment_option()
@click.option("--dir", "folder", type=KEY_DIR,
              help="the member's key folder (viewkey.json; its eth-key.json signs and claims)")
@click.option("--view-key", type=Existing("the view-key file"), help="the member's view-key "
              "file")
@click.option("--compliance-key", type=Existing("the compliance key file"),
              help="the pool's compliance key file (with --slot)")
@click.option("--slot", type=MEMBER_SLOT, help="member slot (default: the view key's)")
@click.option("--key", type=Existing("the key file"), metavar="FILE",
              help="zkclear-eth-key-v1 file that signs (default: --dir's)")
@click.option("--from", "from_account", type=ADDRESS, metavar="ADDRESS",
              help="send from this unlocked account of the node instead")
@click.option("--no-freeze", is_flag=True, help="do not freeze the pool")
@click.option("--no-claim", is_flag=True, help="leave the proceeds credited")
def exit_(out: Output, rpc_url: str, deployment: str, folder: str | None,
          view_key: str | None, compliance_key: str | None, slot: int | None,
          key: str | None, from_account: str | None, no_freeze: bool, no_claim: bool) -> int:
    """Exit a slot after a freeze (freezing first if allowed) without the operator."""
    from zkclear.roles.exit import member_exit

    res = member_exit(rpc_url, deployment, directory=folder, view_key=view_key,
                      compliance_key=compliance_key, slot=slot, key_file=key,
                      from_account=from_account, freeze=not no_freeze, claim=not no_claim)
    froze = "froze the pool; " if res["froze"] else ""
    claimed = (f", claimed {res['claimed']}" if res["claimed"] is not None
               else " (the slot's account claims it)")
    out.info(f"slot {res['slot']}: {froze}exited after epoch {res['epoch']}, credited "
             f"{res['credited']} to {res['account']}{claimed}")
    out.result({"ok": True, **res})
    return 0


COMMANDS = [member]
