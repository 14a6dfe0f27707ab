"""An oracle reporter: ``zkclear oracle post``, ``sign`` (a signed post written to a file,
no transaction), ``post-signed`` (anyone submits a quorum of signed posts in one
transaction), ``arrays`` and ``release``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from zkclear.cli.output import Output
from zkclear.cli.params import (
    EPOCH,
    SIGNER,
    Existing,
    Funding,
    Prices,
    Venue,
    chain_options,
    command,
    group,
)

F = TypeVar("F", bound=Callable[..., Any])

oracle = group("oracle", "an oracle reporter")


def _price_state_line(res: dict[str, Any]) -> str:
    if res["final"]:
        return f"final: {res['final_prices']}"
    if res["breaker"]:
        return (f"beyond the band: {res['breaker']['prices']} held by the circuit breaker "
                f"until {res['breaker']['release_at']} (then: zkclear oracle release)")
    return "not final yet (quorum)"


def price_options(fn: F) -> F:
    """``--epoch``, ``--prices``, ``--venue`` (repeated), ``--funding``."""
    for deco in reversed((
            click.option("--epoch", type=EPOCH, required=True),
            click.option("--prices", type=Prices(),
                         help="comma-separated ticks, one per instrument"),
            click.option("--venue", "venue_list", type=Venue(), multiple=True,
                         help="one venue's prices, one per instrument (repeat per venue): "
                         "the post is their per-instrument median, the venues go into the "
                         "event"),
            click.option("--funding", type=Funding(),
                         help="signed funding amount per lot, one per instrument (nonzero "
                         "only for perpetuals; --funding=-3,0 when it starts with a "
                         "minus)"))):
        fn = deco(fn)
    return fn


def _venues(command_name: str, prices: list[int] | None,
            venue_list: tuple[tuple[str, list[int]], ...]) -> dict[str, list[int]]:
    """The ``--venue`` options by name (each once); refused without prices or venues."""
    venues: dict[str, list[int]] = {}
    for name, values in venue_list:
        if name in venues:
            raise click.BadParameter(f"--venue {name} given twice", param_hint="'--venue'")
        venues[name] = values
    if prices is None and not venues:
        raise click.UsageError(f"oracle {command_name} needs --prices or at least one "
                               "--venue")
    return venues


@command(oracle, "post", "post an epoch's prices (the quorum finalises)", not_both=SIGNER)
@chain_options
@price_options
def post(out: Output, rpc_url: str, deployment: str, key: str | None,
         from_account: str | None, epoch: int, prices: list[int] | None,
         venue_list: tuple[tuple[str, list[int]], ...], funding: list[int] | None) -> int:
    from zkclear.roles import admin as roles

    venues = _venues("post", prices, venue_list)
    res = roles.post_prices(rpc_url, deployment, epoch, prices, venues=venues or None,
                            key_file=key, from_account=from_account, funding=funding)
    return out.done(res, f"epoch {epoch} prices {res['prices']} posted; "
                         f"{_price_state_line(res)}")


@command(oracle, "sign", "sign an epoch's prices as a reporter and write them to a file "
         "(no transaction: anyone submits a quorum with zkclear oracle post-signed)",
         not_both=SIGNER)
@chain_options
@price_options
@click.option("--out", "out_file", type=click.Path(dir_okay=False, writable=True),
              required=True, help="the zkclear-signed-prices-v1 file to write")
def sign(out: Output, rpc_url: str, deployment: str, key: str | None,
         from_account: str | None, epoch: int, prices: list[int] | None,
         venue_list: tuple[tuple[str, list[int]], ...], funding: list[int] | None,
         out_file: str) -> int:
    """The reporter is the --key file's account (or --from, or the node's first account);
    the signature binds the deployment's chain and oracle, the epoch and every value;
    observedAt is the latest block's time."""
    from zkclear.roles import signed_prices as roles

    venues = _venues("sign", prices, venue_list)
    res = roles.sign_prices(rpc_url, deployment, epoch, out_file, prices,
                            venues=venues or None, key_file=key, from_account=from_account,
                            funding=funding)
    return out.done(res, f"epoch {epoch} prices {res['prices']} signed by "
                         f"{res['reporter']}: {out_file}")


@command(oracle, "post-signed", "submit a quorum of reporters' signed prices (files of "
         "zkclear oracle sign) in one transaction; any account may send it", not_both=SIGNER)
@chain_options
@click.option("--epoch", type=EPOCH, required=True)
@click.argument("files", nargs=-1, required=True, type=Existing("the signed prices"))
def post_signed(out: Output, rpc_url: str, deployment: str, key: str | None,
                from_account: str | None, epoch: int, files: tuple[str, ...]) -> int:
    """Every file is checked first (chain, oracle, epoch, signature, one per reporter,
    the quorum): a refusal sends nothing."""
    from zkclear.roles import signed_prices as roles

    res = roles.post_signed_prices(rpc_url, deployment, epoch, files, key_file=key,
                                   from_account=from_account)
    return out.done(res, f"epoch {epoch}: {len(res['reporters'])} signed posts submitted; "
                         f"{_price_state_line(res)}")


@command(oracle, "arrays", "post an epoch's option risk arrays with their hash (from "
         "zkclear risk arrays --out FILE; a quorum of equal hashes makes them final)",
         not_both=SIGNER)
@chain_options
@click.option("--arrays", "arrays_file", type=Existing("the risk arrays"), required=True,
              help="a zkclear-risk-arrays-v1 file")
def arrays(out: Output, rpc_url: str, deployment: str, key: str | None,
           from_account: str | None, arrays_file: str) -> int:
    from zkclear.roles import admin as roles

    res = roles.post_risk_arrays(rpc_url, deployment, arrays_file, key_file=key,
                                 from_account=from_account)
    state = "final" if res["risk_final"] else "not final yet (quorum)"
    return out.done(res, f"epoch {res['epoch']} risk arrays posted (hash "
                         f"{res['risk_hash']}); {state}")


@command(oracle, "release", "make prices the circuit breaker held final (after its delay)",
         not_both=SIGNER)
@chain_options
@click.option("--epoch", type=EPOCH, required=True)
def release(out: Output, rpc_url: str, deployment: str, key: str | None,
            from_account: str | None, epoch: int) -> int:
    from zkclear.roles import admin as roles

    res = roles.release_prices(rpc_url, deployment, epoch, key_file=key,
                               from_account=from_account)
    return out.done(res, f"epoch {epoch}: {_price_state_line(res)}")


COMMANDS = [oracle]
