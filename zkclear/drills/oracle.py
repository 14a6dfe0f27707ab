"""Drill ``oracle-single-reporter``: one oracle reporter tries to set the settlement price.

On the embedded EVM a pool is deployed with three reporters and the oracle's published
rule (docs/protocol.md, "Oracle"): quorum three, the final price is the median of the
three posts, a median beyond the band waits ``breakerDelay`` seconds and is then
released. The story:

1. epoch 1: the dishonest reporter posts 801 against the honest 1000 first (with the
   old quorum of two, the lower median of {801, 1000} made 801 final); it tries to post
   again, and to price a future epoch: both refused by name;
2. epoch 2, branch A: it posts a crash (500, beyond the band) alone: the final price is
   the honest one and the breaker does not trip;
3. epoch 2, branch B (same starting state): a real crash that every reporter sees
   (about -40 %): the breaker holds it, everyone can read it coming, a member tops up its
   collateral in the meantime, and after the delay anyone releases it: it clears
   without a governance change.

No epoch is proven (the drill is about prices): the clearing house gets a stand-in
verifier that refuses every proof. Money: the honest member's wallet plus its deposits
in the pool, before and after.
"""

from __future__ import annotations

from typing import Any

from eth_typing import HexStr
from web3 import Web3

from zkclear.chain import contracts
from zkclear.chain import node as chain
from zkclear.chain.client import Client, ContractError
from zkclear.chain.pool import Actors
from zkclear.clearing.events import Kind
from zkclear.clearing.params import PoolConfig, RiskParams
from zkclear.drills.base import Story, Verdict

NAME = "oracle-single-reporter"
GENESIS = (1_000, 1_100)
HONEST = (1_000, 1_100)
MANIPULATED = (801, 1_100)
CRASH_POSTS = ((600, 1_100), (590, 1_090), (610, 1_100))
CRASH = (600, 1_100)  # their median
MAX_MOVE_BP = 2_000
BREAKER_DELAY = 600
MINT = 10**9
DEPOSIT = 100_000
TOP_UP = 50_000

#: Runtime code that answers every call with 32 zero bytes: a verifier saying "invalid"
#: to any proof. Deploy code: PUSH5 <runtime> PUSH1 0 MSTORE PUSH1 5 PUSH1 27 RETURN.
_REFUSE_ALL_RUNTIME = "60206000f3"
_REFUSE_ALL_DEPLOY = "0x64" + _REFUSE_ALL_RUNTIME + "6000526005601bf3"


def _refusing_verifier(w3: Web3, sender: str) -> str:
    tx = w3.eth.send_transaction({"from": sender, "data": HexStr(_REFUSE_ALL_DEPLOY)})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None:
        raise contracts.DeploymentError("deploying the stand-in verifier failed")
    return Web3.to_checksum_address(address)


def _deploy(w3: Web3) -> tuple[Client, Actors]:
    cfg = PoolConfig(4, 2, 4)
    actors = Actors.of(w3, cfg.n_slots)
    setup = contracts.PoolSetup(
        cfg, RiskParams.symmetric(2, [500, 1_000]), GENESIS, owners=actors.owners,
        threshold=2, reporters=actors.reporters, quorum=3, operator=actors.operator,
        house_account=actors.house, max_move_bp=MAX_MOVE_BP, breaker_delay=BREAKER_DELAY)
    dep = contracts.deploy_system(w3, setup, _refusing_verifier(w3, actors.deployer),
                                  sender=actors.deployer)
    cl = Client(w3, dep)
    for account in actors.members.values():
        cl.mint(account, MINT, sender=actors.deployer)
    return cl, actors


def _refused(story: Story, what: str, error: str, fn: Any) -> None:
    try:
        fn()
    except ContractError as exc:
        story.check(exc.root.name == error, f"{what}: refused with {exc.root.describe()}")
        return
    story.check(False, f"{what}: was accepted")


def _held(cl: Client, slot: int, account: str) -> int:
    """The member's wallet plus its deposits in the pool (no epoch is cleared here)."""
    deposits = sum(e.value for epoch in range(1, cl.open_epoch() + 1)
                   for e in cl.epoch_events(epoch) if e.kind == Kind.DEPOSIT and e.slot == slot)
    return cl.balance(account) + deposits


def drill_oracle_single_reporter() -> Verdict:
    """Run the drill on a fresh embedded chain; the verdict accounts for the money."""
    story = Story(NAME)
    w3 = chain.embedded_web3()
    cl, act = _deploy(w3)
    bad, honest = act.reporters[0], act.reporters[1:]
    member = act.members[1]
    story.step(f"deployed: 3 reporters, quorum 3 (median of three posts), band "
               f"{MAX_MOVE_BP} bp, breaker delay {BREAKER_DELAY} s; genesis {GENESIS}")
    cl.govern([cl.register_member_call(1, member, 4242, bytes(93))], act.signers)
    story.ledger.owed["member-1"] = _held(cl, 1, member)
    story.ledger.honest.add("member-1")
    cl.deposit(DEPOSIT, sender=member)

    # 1. A manipulated post within the band, first; a second post; a future epoch.
    cl.post_prices(1, MANIPULATED, sender=bad)
    story.step(f"epoch 1: reporter {bad} posts {MANIPULATED} first")
    _refused(story, "the same reporter posting again", "AlreadyPosted",
             lambda: cl.post_prices(1, HONEST, sender=bad))
    _refused(story, "a post for epoch 2 while epoch 1 is open", "PriceEpochInFuture",
             lambda: cl.post_prices(2, MANIPULATED, sender=bad))
    for r in honest:
        cl.post_prices(1, HONEST, sender=r)
    final1 = cl.final_prices(1)
    story.check(final1 == HONEST, f"epoch 1 final {final1}: the honest price, not the "
                f"manipulated {MANIPULATED}")
    cl.close_epoch(sender=act.operator)

    # 2A. A lone crash report beyond the band.
    snap = chain.snapshot(w3)
    lone = (500, 1_100)
    cl.post_prices(2, lone, sender=bad)
    for r in honest:
        cl.post_prices(2, HONEST, sender=r)
    final2a = cl.final_prices(2)
    story.check(final2a == HONEST and cl.pending_prices(2) == ((), 0),
                f"epoch 2 (branch A): a lone out-of-band post {lone} -> final {final2a}, "
                "breaker not tripped")
    chain.revert(w3, snap)

    # 2B. A real crash that all reporters see.
    for r, prices in zip(act.reporters, CRASH_POSTS, strict=True):
        cl.post_prices(2, prices, sender=r)
    pending, release_at = cl.pending_prices(2)
    story.check(pending == CRASH and cl.prices_hash(2) == 0,
                f"epoch 2 (branch B): every reporter sees a crash {CRASH_POSTS}; the median "
                f"{pending} is beyond the band: held until {release_at}")
    _refused(story, "releasing before the delay", "BreakerDelayNotOver",
             lambda: cl.release_prices(2, sender=member))
    chain.advance_time(w3, BREAKER_DELAY // 2)
    cl.deposit(TOP_UP, sender=member)
    story.step(f"member 1 saw the crash coming and topped up {TOP_UP} in open epoch 2")
    chain.advance_time(w3, release_at - chain.latest_timestamp(w3))
    cl.release_prices(2, sender=member)
    final2b = cl.final_prices(2)
    story.check(final2b == CRASH, f"released by a member after {BREAKER_DELAY} s: epoch 2 "
                f"final {final2b}, without a governance change")

    story.ledger.final["member-1"] = _held(cl, 1, member)
    story.facts = {"manipulated": list(MANIPULATED), "final_epoch_1": list(final1),
                   "lone_crash_post": list(lone), "final_epoch_2_lone": list(final2a),
                   "crash_posts": [list(p) for p in CRASH_POSTS],
                   "final_epoch_2_crash": list(final2b), "breaker_delay": BREAKER_DELAY,
                   "max_move_bp": MAX_MOVE_BP}
    return story.verdict("one reporter cannot move the price; a real crash clears after "
                         "the breaker's delay")
