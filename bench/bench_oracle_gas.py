"""Gas of the oracle's posts (JSON on stdout): postPrices not final / finalising, per M,
and for a pool with a perpetual, a dated future and an option: marks with funding and the
risk round (``postRiskArrays``).

Run: ``.venv/bin/python bench/bench_oracle_gas.py [--sizes 2,8]``.

The system is deployed on the embedded EVM with a stand-in for the epoch verifier (any
contract: no proof is submitted here), N = 4, K = 4, three reporters, quorum 3. Each
figure is the ``gasUsed`` of one transaction (21k base included). Numbers are not
asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.client import Client
from zkclear.chain.pool import Actors
from zkclear.clearing.instruments import encode_arrays
from zkclear.clearing.params import PoolConfig
from zkclear.clearing.scenario import demo_params


def deploy(m: int, table: Any = ()) -> tuple[Client, Actors]:
    genesis = [1_000 + 10 * i for i in range(m)]
    kw = {}
    if table:
        genesis = [0 if ins.is_option else p for ins, p in zip(table, genesis, strict=True)]
        kw["instruments"] = tuple(table)
    cl, actors, _ = scenario.deploy_unproven(chain.embedded_web3(), PoolConfig(4, m, 4),
                                             demo_params(m, 4), genesis, **kw)
    return cl, actors


def post_round(cl: Client, actors: Actors, epoch: int, prices: Any,
               funding: Any = None) -> list[int]:
    out = []
    for r in actors.reporters:
        kw = {"funding": funding} if funding is not None else {}
        out.append(int(cl.post_prices(epoch, prices, sender=r, **kw)["gasUsed"]))
    return out


def futures(m: int) -> dict[str, Any]:
    cl, actors = deploy(m)
    prices = [1_001 + 10 * i for i in range(m)]
    gas = post_round(cl, actors, 1, prices)
    return {"postPrices_not_final": gas[:2], "postPrices_finalising": gas[2],
            "deploy_PriceOracle": cl.deployment.gas["PriceOracle"],
            "deploy_ClearingHouse": cl.deployment.gas["ClearingHouse"]}


def derivatives(m: int) -> dict[str, Any]:
    """Instrument 0 a perpetual, 1 a call on it (expiry epoch 3), then a dated future and
    futures (M >= 3); epoch 1: funding on the perpetual; then the risk round."""
    from zkclear.clearing.instruments import Instrument, Kind

    table = [Instrument(Kind.PERPETUAL), Instrument(Kind.OPTION, 3, 0, 1_000, True)]
    table += [Instrument(Kind.DATED, 5)] * (m > 2) + [Instrument()] * (m - 3)
    cl, actors = deploy(m, table)
    prices = [1_001 + 10 * i for i in range(m)]
    prices[1] = 25
    funding = [0] * m
    funding[0] = 3
    gas = post_round(cl, actors, 1, prices, funding)
    arrays = {1: (100, -200, 300, -400)}
    risk = [int(cl.post_risk_arrays(1, arrays, sender=r)["gasUsed"]) for r in actors.reporters]
    return {"postMarks_not_final": gas[:2], "postMarks_finalising": gas[2],
            "postRiskArrays_not_final": risk[:2], "postRiskArrays_finalising": risk[2],
            "risk_arrays_calldata_bytes": len(encode_arrays(arrays))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2,8", help="comma-separated M values")
    ap.add_argument("--futures-only", action="store_true",
                    help="only the plain-futures posts (runs against older contracts too)")
    args = ap.parse_args()
    out: dict[str, Any] = {}
    for m in (int(x) for x in args.sizes.split(",")):
        out[f"M={m}"] = {"futures": futures(m)}
        if not args.futures_only and m >= 2:
            out[f"M={m}"]["derivatives"] = derivatives(m)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
