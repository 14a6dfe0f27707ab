"""Operator drills (issue 12).

``operator-replaced``: a pool clears two epochs (deposits, trades, a withdrawal; one
member's leaf left unblinded as by an operator that never held its key), then the
operator and its whole database vanish. Two of three compliance officers combine their
shares of the compliance key; ``recover`` rebuilds every leaf, nonce and root from the
chain and the escrowed view keys (and must equal what the lost operator held);
governance appoints a new operator account; the new operator clears the next epoch with
the recovered state and keys, a withdrawal is paid, and the old operator can no longer
close epochs. The drill passes when no honest member lost anything.
"""

from __future__ import annotations

from dataclasses import replace

from eth_account import Account
from web3.types import Wei

from zkclear.chain import node as chain
from zkclear.chain.client import ContractError
from zkclear.chain.pool import EpochOrders, Member, Pool
from zkclear.clearing.trades import TradeReport
from zkclear.operator.recover import recover_state
from zkclear.privacy.compliance import combine_key, generate_compliance_key, split_key

from .base import DRILL_PRICES, Story, Verdict, drill_pool, pool_holdings

NAMES = {1: "Bank A", 2: "Bank B", 3: "Bank C"}
INSURANCE = 1_000_000
STAKE = 300_000
WITHDRAWAL = 50_000


def _pair(tid: str, m: int, size: int, price: int, buyer: int,
          seller: int) -> dict[int, list[TradeReport]]:
    return {buyer: [TradeReport(tid, m, 1, size, price, seller)],
            seller: [TradeReport(tid, m, -1, size, price, buyer)]}


def _new_operator_account(pool: Pool) -> str:
    """A fresh account on the embedded chain, unlocked and funded with ether."""
    w3 = pool.w3
    acct = Account.create()
    chain.embedded_tester(w3).add_account(acct.key.hex())
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": acct.address,
                                  "value": Wei(10**18)})
    w3.eth.wait_for_transaction_receipt(tx)
    return str(acct.address)


def drill_operator_replaced() -> Verdict:
    s = Story("operator-replaced")
    compliance = generate_compliance_key()
    pool = drill_pool(NAMES, compliance=compliance)
    shares = split_key(compliance, 3, 2)
    s.step("pool: N=4, M=2, K=4 on the embedded EVM, INSECURE development keys; the "
           "compliance key is split 2-of-3 among officers")

    p0, p1 = DRILL_PRICES
    e1 = pool.play_epoch(EpochOrders(
        DRILL_PRICES, _pair("t1", 0, 5, p0, 1, 2),
        deposits={0: INSURANCE, 1: STAKE, 2: STAKE, 3: STAKE}))
    s.check(e1.accepted.epoch == 1, "epoch 1 (deposits, a trade) accepted")
    # Epoch 2: slot 3 sits out and the operator does not blind its leaf (as an operator
    # it never enrolled with would): recovery must find that from the exit data.
    prices2 = (p0 + 10, p1 - 5)
    bank_c = pool.members.pop(3)
    try:
        e2 = pool.play_epoch(EpochOrders(prices2, _pair("t2", 1, 3, p1 - 5, 2, 1),
                                         withdrawals={1: WITHDRAWAL}))
    finally:
        pool.members[3] = bank_c
    s.check(e2.accepted.epoch == 2, "epoch 2 (a trade, slot 1's withdrawal) accepted")
    s.check(e2.result.blinded == frozenset({1, 2}), "epoch 2 left slot 3's leaf unblinded")

    honest = {NAMES[i]: i for i in NAMES} | {"house": 0}
    s.ledger.owed.update({n: pool_holdings(pool, i) for n, i in honest.items()})
    s.ledger.honest.update(honest)
    lost = pool.state
    s.step(f"the operator vanishes with its database after epoch {lost.epoch} "
           f"(root {lost.root():#x})")
    pool.state = None

    # Compliance officers 1 and 3 combine their shares; recover from the chain alone.
    key = combine_key([shares[0], shares[2]])
    rec = recover_state(pool.client, key)
    s.check(rec.state == lost and all(a.nonce == b.nonce for a, b in
                                      zip(rec.state.leaves, lost.leaves, strict=True)),
            "recover rebuilt every leaf, nonce and the root the lost operator held")
    s.check(rec.blinded == {1: frozenset({1, 2, 3}), 2: frozenset({1, 2})},
            f"the blinded slots per epoch were read off the exit data: {rec.summary()['blinded']}")
    s.facts["recovered"] = rec.summary()

    # Governance appoints a new operator; it takes over with the recovered state and keys.
    old_operator = pool.actors.operator
    new_operator = _new_operator_account(pool)
    pool.client.govern([pool.client.set_operator_call(new_operator)], pool.actors.signers)
    s.check(str(pool.client.call(pool.client.house.functions.operator())) == new_operator,
            "governance appointed the new operator account")
    pool.actors = replace(pool.actors, operator=new_operator)
    pool.state = rec.state
    pool.members = {slot: Member(NAMES[slot], slot, rec.accounts[slot], k)
                    for slot, k in rec.keys.items()}
    try:
        pool.client.close_epoch([], 0, sender=old_operator)
        s.check(False, "the old operator can no longer close epochs")
    except ContractError as exc:
        s.check(exc.name == "NotOperator", f"the old operator is refused: {exc.name}")

    e3 = pool.play_epoch(EpochOrders(prices2, _pair("t3", 0, 2, prices2[0], 3, 1),
                                     withdrawals={2: WITHDRAWAL}))
    s.check(e3.accepted.epoch == 3, "epoch 3, proven by the new operator, accepted on-chain")
    s.check(any(slot == 2 for slot, _, _ in e3.accepted.paid),
            "the new operator served slot 2's withdrawal")
    s.ledger.final.update({n: pool_holdings(pool, i) for n, i in honest.items()})
    s.facts["root_epoch_3"] = hex(e3.result.new.root())
    return s.verdict("the operator was replaced from chain data and the compliance key; "
                     "the pool kept clearing")
