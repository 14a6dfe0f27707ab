"""A pool of 256 slots (the most, ``MAX_SLOTS``) on the contracts: the liquidated and
granted masks travel in the exit data, two 128-bit words each, so slots above 64 and
above 128 are liquidated, paid and refused like any other.

The epoch circuit of this size is not compiled here (millions of constraints): the pool
is deployed around a verifier that accepts every proof, as the auction's tests do, and
the public inputs are built as the prover would (``clearing/public.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from zkclear import bounds
from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.clearing import public
from zkclear.clearing.params import PoolConfig
from zkclear.clearing.scenario import demo_params, demo_plans

from .helpers import reverts
from .test_auction_contracts import PROOF, accepting_verifier

CFG = PoolConfig(256, 2, 4)
N = CFG.n_slots
MEMBERS = (1, 100, 200, 255)


@pytest.fixture(scope="module")
def wide() -> Any:
    w3 = chain.embedded_web3(N + 7)  # an account per slot (generating them takes ~1 min)
    actors = scenario.Actors.of(w3, N)
    cl, act, _ = scenario.deploy_unproven(
        w3, CFG, demo_params(CFG.n_instruments, CFG.n_scenarios), demo_plans(CFG)[0].prices,
        verifier=accepting_verifier(w3, actors.deployer))
    cl.govern([cl.register_member_call(s, act.members[s], 77 + s, scenario.ESCROW)
               for s in MEMBERS], act.signers)
    for s in (200, 255):
        cl.mint(act.members[s], 1_000, sender=act.deployer)
        cl.deposit(1_000, sender=act.members[s])
        cl.request_withdrawal(400, sender=act.members[s])
    cl.close_epoch((), 0, sender=act.operator)
    for r in act.reporters:
        cl.post_prices(1, demo_plans(CFG)[0].prices, sender=r)
    return cl, act


def _inputs(cl: Any, liquidated: int, granted: int, paid: int) -> tuple[list[int], list[int]]:
    """Public inputs and exit data for epoch 1 with these masks, consistent with the
    contract's state (the challenge and the exit sum derived as the contract does)."""
    info = cl.epoch_info(1)
    leaves = [1_000 + j for j in range(N)] + [0]
    d = public.exit_data(leaves, liquidated, granted, N)
    new_root = 4242
    rho = public.exit_challenge(1, new_root, d)
    fns = cl.house.functions
    values = {
        "OLD_ROOT": cl.state_root(), "NEW_ROOT": new_root,
        "EPOCH_INFO": public.epoch_info(1, info["nEvents"], info["deposits"] - paid),
        "PARAMS_HASH": info["paramsHash"], "PRICES_PREV_HASH": cl.prices_hash(0),
        "PRICES_HASH": cl.prices_hash(1), "EVENTS_ACC": info["eventsAcc"],
        "EXIT_SUM": public.exit_sum(d, rho),
        "FUND_INFO": public.fund_info(cl.df_scale(), 0, 0, rho),
        "AUCTION": 0,
    }
    pub = [0] * int(fns.N_PUBLIC().call())
    for name, v in values.items():
        pub[int(getattr(fns, f"PUB_{name}")().call())] = v
    return pub, d


def test_the_exit_data_carries_two_words_per_mask(wide: Any) -> None:
    cl, _ = wide
    assert bounds.mask_words(N) == 2 and bounds.exit_data_slots(N + 5) == N
    liq, granted = 1 << 200, 1 << 255
    _, d = _inputs(cl, liq, granted, 400)
    assert len(d) == N + 5 and d[N + 2] == 1 << 72 and d[N + 4] == 1 << 127
    assert public.exit_masks(d, N) == (liq, granted)


def test_slots_above_128_are_liquidated_paid_and_refused(wide: Any) -> None:
    cl, act = wide
    snap = chain.snapshot(cl.w3)
    try:
        for error, liq, granted in [("InvalidLiquidatedMask", 1, 0),
                                    ("GrantedWithoutRequest", 0, 1 << 254)]:
            pub, d = _inputs(cl, liq, granted, 0)
            with reverts(error):
                cl.submit_epoch(PROOF, pub, d, sender=act.operator)
        pub, d = _inputs(cl, 1 << 200, 1 << 255, 400)
        with reverts("ExitDataLength"):  # one mask word per mask is a 128-slot pool's
            cl.submit_epoch(PROOF, pub, d[:N + 3], sender=act.operator)
        accepted = cl.submit_epoch(PROOF, pub, d, sender=act.operator)
        assert accepted.liquidated == (200,)
        assert accepted.paid == ((255, act.members[255], 400),)
        assert accepted.refused == ((200, 400),)
        assert cl.claimable(act.members[255]) == 400
    finally:
        chain.revert(cl.w3, snap)
