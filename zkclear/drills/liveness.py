"""Liveness drills (issue 12): every member gets its money out without the operator.

``operator-vanishes``: two epochs with positions, a liquidation, a granted and a refused
withdrawal; deposits and a withdrawal request in the open epoch; then the operator stops.
The request ages past ``withdrawalTimeout``, anyone freezes the pool, every member exits
with ``zkclear member exit``'s code (:mod:`zkclear.roles.exit`: its view key -- or the
compliance key -- and public chain data only), the house through governance. Each party
gets exactly what the last accepted state owes it plus its pending deposits and credits,
the payouts sum to the pool's token balance, and a second exit is refused.

``removed-member-exits``: governance removes a member; its account still requests a
withdrawal, the next epoch grants it and it claims its collateral; the other slots'
leaves do not change and the pool keeps clearing.

``refused-payout``: the token refuses transfers to one member. The epoch that grants its
withdrawal is still accepted (pull payouts), the other member claims, the blocked
member's claim alone fails, and succeeds once the token unblocks it.
"""

from __future__ import annotations

from typing import Any

from zkclear.chain import node as chain
from zkclear.chain.client import ContractError
from zkclear.chain.pool import EpochOrders
from zkclear.clearing.events import Kind
from zkclear.clearing.trades import TradeReport
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.roles.exit import ExitError, exit_slot, plan_exit

from .base import DRILL_PRICES, Story, Verdict, drill_pool, merge_trades, pool_holdings

A, B, C = 1, 2, 3
INSURANCE = 1_000_000


def _trade(tid: str, m: int, size: int, price: int, buyer: int,
           seller: int) -> dict[int, list[TradeReport]]:
    return {buyer: [TradeReport(tid, m, 1, size, price, seller)],
            seller: [TradeReport(tid, m, -1, size, price, buyer)]}


def _reverts(fn: Any, name: str) -> tuple[bool, str]:
    try:
        fn()
    except ContractError as exc:
        return exc.root.name == name, exc.root.describe()
    return False, "accepted"


def _pending(pool: Any, slot: int) -> int:
    cl = pool.client
    return sum(ev.value for e in range(cl.last_accepted_epoch() + 1, cl.open_epoch() + 1)
               for ev in cl.epoch_events(e) if ev.slot == slot and ev.kind == Kind.DEPOSIT)


def drill_operator_vanishes() -> Verdict:
    s = Story("operator-vanishes")
    compliance = X25519KeyPair.generate("compliance")
    names = {A: "Bank A", B: "Bank B", C: "Fund C (leveraged)"}
    pool = drill_pool(names, compliance)
    cl, w3 = pool.client, pool.w3
    p0, p1 = DRILL_PRICES
    s.step("pool: N=4, M=2, K=4 on the embedded EVM, INSECURE development keys")

    # Epoch 1: collateral, positions (C leveraged on instrument 0).
    e1 = pool.play_epoch(EpochOrders(
        DRILL_PRICES, merge_trades(_trade("t1", 0, 100, p0, A, B), _trade("t2", 0, 10, p0, C, B),
                             _trade("t3", 1, 20, p1, B, A)),
        deposits={0: INSURANCE, A: 200_000, B: 200_000, C: 2_000}))
    s.check(e1.accepted.epoch == 1 and len(e1.netted.match.accepted) == 3,
            "epoch 1: deposits and three trades accepted")
    # Epoch 2: instrument 0 falls 15 %: C is liquidated; A's withdrawal is granted (and
    # left unclaimed), B's (nearly everything) refused.
    prices2 = (p0 * 85 // 100, p1)
    e2 = pool.play_epoch(EpochOrders(prices2, withdrawals={A: 10_000, B: 215_000}))
    s.check(e2.accepted.liquidated == (C,), f"epoch 2: slot {C} liquidated "
            f"({e2.accepted.liquidated})")
    s.check([p[0] for p in e2.accepted.paid] == [A] and [r[0] for r in e2.accepted.refused]
            == [B], "epoch 2: slot 1's withdrawal granted (credited), slot 2's refused")
    last = pool.state
    s.facts["last_accepted_epoch"] = last.epoch
    s.facts["leaves"] = {str(i): {"collateral": lf.collateral, "positions": list(lf.positions)}
                         for i, lf in enumerate(last.leaves)}

    # Epoch 3 stays open: deposits and a withdrawal request; then the operator is gone.
    pool.act(EpochOrders(prices2, deposits={0: 7_000, A: 5_000}, withdrawals={B: 50_000}))
    s.step("epoch 3: the house deposits 7000, slot 1 deposits 5000, slot 2 requests "
           "50000; the operator never closes the epoch again")
    accounts = {"house": pool.account(0), **{names[i]: pool.account(i) for i in (A, B, C)}}
    slot_of = {"house": 0, names[A]: A, names[B]: B, names[C]: C}
    for party, slot in slot_of.items():
        s.ledger.owed[party] = pool_holdings(pool, slot) + _pending(pool, slot)
    s.ledger.honest.update(slot_of)
    wallets = {p: cl.balance(a) for p, a in accounts.items()}
    held = cl.balance(cl.house.address)
    s.check(held == sum(s.ledger.owed.values()),
            f"the pool holds {held} tokens = everything it owes ({sum(s.ledger.owed.values())})")

    anyone = pool.actors.reporters[2]
    try:
        exit_slot(cl, key=pool.members[A].key, sender=pool.account(A))
        s.check(False, "an exit before the timeout is refused")
    except ExitError as exc:
        s.check("cannot be frozen yet" in str(exc), f"before the timeout: {exc}")
    chain.advance_time(w3, cl.withdrawal_timeout())
    cl.freeze(sender=anyone)
    s.check(cl.frozen(), "after withdrawalTimeout, a third party froze the pool")

    # Every member exits with its key (slot C through compliance) and claims.
    credited: dict[str, int] = {}
    for slot in (A, B, C):
        party, m = names[slot], pool.members[slot]
        if slot == C:
            res = exit_slot(cl, C, compliance_key=compliance, sender=anyone)
            cl.claim(sender=m.account)
            how = "by compliance (escrowed key), claimed by the member"
        else:
            res = exit_slot(cl, key=m.key, sender=m.account)
            how = "with its own view key"
        credited[party] = res.credited
        want = last.leaves[slot].collateral + _pending(pool, slot)
        s.check(res.credited == want, f"{party} exited {how}: credited {res.credited} = "
                f"collateral {last.leaves[slot].collateral} + pending deposits "
                f"(leaf {'blinded' if res.plan.blinded else 'not blinded'}, exit gas "
                f"{res.gas.get('exit')})")
        s.facts[f"exit_gas_slot_{slot}"] = res.gas.get("exit")
    d = list(plan_exit(cl, A, key=pool.members[A].key).exit_data)
    receipt = cl.govern([cl.exit_house_call(d)], pool.actors.signers)
    (ev,) = cl.logs(receipt, "ClearingHouse", "Exited")
    want = last.leaves[0].collateral + _pending(pool, 0)
    s.check(int(ev["amount"]) == want, f"governance exits the house (exitHouse): credited "
            f"{int(ev['amount'])} = its collateral {last.leaves[0].collateral} + pending "
            "deposits")
    cl.claim(sender=pool.account(0))

    ok, why = _reverts(lambda: cl.exit(A, *plan_exit(cl, A, key=pool.members[A].key)
                                       .exit_args()[1:], sender=pool.account(A)),
                       "AlreadyExited")
    s.check(ok, f"a second exit of slot 1 is refused: {why}")
    try:
        exit_slot(cl, key=pool.members[B].key, sender=pool.account(B))
        s.check(False, "the exit tool refuses a second exit")
    except ExitError as exc:
        s.check("already exited" in str(exc), f"the exit tool refuses a second exit: {exc}")

    for party, account in accounts.items():
        s.ledger.final[party] = cl.balance(account) - wallets[party] + cl.claimable(account)
    paid = sum(s.ledger.final.values())
    s.check(paid == held, f"the payouts sum to {paid} = the {held} tokens the pool held")
    left = cl.balance(cl.house.address)
    s.check(left == 0, f"nothing is left in the pool ({left})")
    s.facts["paid"] = paid
    return s.verdict("the operator vanished; every member and the house got out exactly "
                     "what the last accepted state owed them")


def drill_removed_member_exits() -> Verdict:
    s = Story("removed-member-exits")
    names = {A: "Bank A", B: "Bank B", C: "Fund C (removed)"}
    pool = drill_pool(names)
    cl = pool.client
    p0, _ = DRILL_PRICES
    pool.play_epoch(EpochOrders(DRILL_PRICES, _trade("t1", 0, 50, p0, A, B),
                                deposits={0: INSURANCE, A: 100_000, B: 100_000, C: 30_000}))
    before = pool.state
    s.ledger.honest.update(names.values())
    s.ledger.honest.add("house")
    for slot, party in {0: "house", **names}.items():
        s.ledger.owed[party] = pool_holdings(pool, slot)
    wallet_c = cl.balance(pool.account(C))

    cl.govern([cl.remove_member_call(C)], pool.actors.signers)
    s.step("governance removed slot 3")
    ok, why = _reverts(lambda: cl.deposit(1, sender=pool.account(C)), "NotMember")
    s.check(ok, f"the removed member cannot deposit: {why}")
    out = pool.play_epoch(EpochOrders(DRILL_PRICES, _trade("t2", 0, 10, p0, B, A),
                                      withdrawals={C: 30_000}))
    s.check([p[0] for p in out.accepted.paid] == [C],
            f"epoch {out.epoch}: the removed member's withdrawal of 30000 was granted")
    cl.claim(sender=pool.account(C))
    got = cl.balance(pool.account(C)) - wallet_c
    s.check(got == 30_000, f"slot 3 claimed its collateral: {got}")
    after = pool.state
    same = all(after.leaves[i].collateral == before.leaves[i].collateral for i in (0, A, B))
    s.check(same, "the house's and the other members' collateral did not change")
    s.check(after.leaves[C].collateral == 0 and not any(after.leaves[C].positions),
            "slot 3's leaf is empty")
    s.check(len(out.netted.match.accepted) == 1, "the pool kept clearing (a trade between "
            "slots 1 and 2 in the same epoch)")
    for slot, party in {0: "house", A: names[A], B: names[B]}.items():
        s.ledger.final[party] = pool_holdings(pool, slot)
    s.ledger.final[names[C]] = got + pool_holdings(pool, C)
    return s.verdict("a removed member got its collateral out; nothing else changed")


def drill_refused_payout() -> Verdict:
    s = Story("refused-payout")
    names = {A: "Bank A (blocked by the token)", B: "Bank B"}
    pool = drill_pool(names)
    cl = pool.client
    p0, _ = DRILL_PRICES
    pool.play_epoch(EpochOrders(DRILL_PRICES, _trade("t1", 0, 20, p0, A, B),
                                deposits={0: INSURANCE, A: 100_000, B: 100_000}))
    s.ledger.honest.update(names.values())
    for slot, party in names.items():
        s.ledger.owed[party] = pool_holdings(pool, slot)
    wallets = {slot: cl.balance(pool.account(slot)) for slot in names}
    cl.transact(cl.token.functions.setBlocked(pool.account(A), True),
                sender=pool.actors.deployer)
    s.step("the token blocks transfers to slot 1's account")
    out = pool.play_epoch(EpochOrders(DRILL_PRICES, withdrawals={A: 40_000, B: 30_000}))
    s.check(sorted(p[0] for p in out.accepted.paid) == [A, B],
            f"epoch {out.epoch} granting both withdrawals was accepted "
            f"(submitEpoch gas {out.accepted.gas_used})")
    cl.claim(sender=pool.account(B))
    s.check(cl.balance(pool.account(B)) - wallets[B] == 30_000, "slot 2 claimed 30000")
    ok, why = _reverts(lambda: cl.claim(sender=pool.account(A)), "TransferFailed")
    s.check(ok and cl.claimable(pool.account(A)) == 40_000,
            f"slot 1's claim fails alone ({why}); its 40000 stay credited")
    nxt = pool.play_epoch(EpochOrders(DRILL_PRICES, _trade("t2", 0, 5, p0, B, A)))
    s.check(nxt.accepted.epoch == out.epoch + 1, "the pool kept clearing")
    cl.transact(cl.token.functions.setBlocked(pool.account(A), False),
                sender=pool.actors.deployer)
    cl.claim(sender=pool.account(A))
    s.check(cl.balance(pool.account(A)) - wallets[A] == 40_000,
            "unblocked, slot 1 claimed its 40000")
    for slot, party in names.items():
        s.ledger.final[party] = (cl.balance(pool.account(slot)) - wallets[slot]
                                 + pool_holdings(pool, slot))
    return s.verdict("a refused payout blocks only its own claim")


def drill_house_under_water() -> Verdict:
    """The house holds a defaulter's portfolio and the market moves against it beyond the
    insurance fund: the house is negative (a member's shortfall itself goes down the
    default waterfall; the house's own positions are the house's). No withdrawal can then
    be granted (the pool rule), so money would be stuck; once the house has been negative
    for ``withdrawalTimeout`` anyone may freeze, and every member exits with the published
    pro-rata haircut ``(c + df) * T / (T - c0)``: nobody gets less than that share and the
    payouts never exceed what the pool holds."""
    s = Story("house-under-water")
    names = {A: "Bank A", B: "Bank B", C: "Fund C (leveraged)"}
    pool = drill_pool(names)
    cl, w3 = pool.client, pool.w3
    p0, p1 = DRILL_PRICES
    s.step("pool: N=4, M=2, K=4 on the embedded EVM, INSECURE development keys; "
           "an insurance fund of 1000")
    e1 = pool.play_epoch(EpochOrders(
        DRILL_PRICES, _trade("t1", 0, 10, p0, B, C),
        deposits={0: 1_000, A: 200_000, B: 200_000, C: 2_000}))
    s.check(e1.accepted.epoch == 1, "epoch 1: deposits; slot 3 sells 10 lots to slot 2")
    # Instrument 0 jumps 50 % (beyond the oracle's band: released after the breaker delay).
    e2 = pool.play_epoch(EpochOrders((p0 * 3 // 2, p1)))
    s.check(e2.accepted.liquidated == (C,) and pool.state.leaves[0].positions[0] == -10,
            "epoch 2: slot 3 liquidated; the house takes its short 10 lots (its shortfall "
            "goes down the waterfall)")
    # Another 50 %: the house's short loses more than the insurance fund holds.
    e3 = pool.play_epoch(EpochOrders((p0 * 9 // 4, p1), withdrawals={A: 10_000}))
    house = pool.state.leaves[0].collateral
    s.check(house < 0, f"epoch 3: the house's position leaves it at {house}")
    s.check([r[0] for r in e3.accepted.refused] == [A] and not e3.accepted.paid,
            "slot 1's covered withdrawal is refused while the house is negative")
    since = int(cl.accepted()["houseNegativeSince"])
    s.check(since > 0, "the contract records since when the house is negative")
    ok, why = _reverts(lambda: cl.freeze(sender=pool.actors.reporters[2]), "FreezeTooEarly")
    s.check(ok, f"a freeze before the timeout is refused: {why}")
    chain.advance_time(w3, cl.withdrawal_timeout())
    cl.freeze(sender=pool.actors.reporters[2])
    s.check(cl.frozen(), "after withdrawalTimeout under water, a third party froze the pool")

    total = cl.total_collateral()
    members_total = total - house
    held = cl.balance(cl.house.address)
    for slot in (A, B, C):
        lf = pool.state.leaves[slot]
        party, c = names[slot], lf.collateral + lf.df
        share = c * total // members_total
        s.ledger.owed[party] = share
        s.ledger.honest.add(party)
        res = exit_slot(cl, key=pool.members[slot].key, sender=pool.account(slot))
        s.ledger.final[party] = res.credited
        s.check(res.credited == share and (res.plan.haircut or c == 0),
                f"{party}: collateral {c}, credited {res.credited} = c * T / (T - c0) with "
                f"T = {total}, c0 = {house}")
    paid = sum(s.ledger.final.values())
    s.check(paid <= held, f"the payouts {paid} do not exceed the {held} tokens held "
            f"(left: {held - paid}, the rounding of the haircut)")
    s.facts |= {"house": house, "total": total, "paid": paid}
    return s.verdict("a house under water does not trap the members' money: freeze and "
                     "exit with the published pro-rata haircut")
