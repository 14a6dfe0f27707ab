"""Commit drills: one member tries to make an epoch unprovable (issue 12).

Members sign their netted report's commitment; the operator checks each one against the
report it netted and posts them all in ``closeEpoch``. A member that signs garbage, never
signs, or signs too late is excluded: its trades and its counterparties' matching trades
are dropped, the rest re-netted, the counterparties sign their new reports, and the epoch
closes with the slot in ``excludedMask`` (``ReportExcluded``; the slot is suspended for the
next epoch). Each drill passes when the honest members and the house lost nothing and the
pool kept clearing.

``garbage-commit``: Mallory signs a random commitment, then a garbage ciphertext; the
operator refuses both, she is excluded, and she cannot post a commitment herself.
``withheld-commit``: Mallory never signs; the epoch clears without her, her counterparties'
trades with each other still clear, and next epoch she is suspended.
``late-commit``: a signature made for epoch e is worthless in e + 1 (the digest names the
epoch); nothing can wedge the next epoch.
"""

from __future__ import annotations

import secrets

from zkclear.chain.client import ContractError, SignedCommit
from zkclear.chain.pool import (
    CommitRefused,
    EpochOrders,
    EpochOutcome,
    NetOutcome,
    Pool,
    slots_of,
)
from zkclear.clearing.report import Report
from zkclear.clearing.trades import Reason, TradeReport
from zkclear.privacy.cipher import encrypt_report

from .base import DRILL_PRICES, Story, Verdict, drill_pool, merge_trades, pool_holdings

BANK_A, BANK_B, MALLORY = 1, 2, 3
INSURANCE = 1_000_000
STAKE = 1_000_000
HONEST = {"house": 0, "Bank A": BANK_A, "Bank B": BANK_B}


def _pair(tid: str, m: int, size: int, buyer: int, seller: int
          ) -> dict[int, list[TradeReport]]:
    price = DRILL_PRICES[m]  # at the settlement price: trades move no money by themselves
    return {buyer: [TradeReport(tid, m, 1, size, price, seller)],
            seller: [TradeReport(tid, m, -1, size, price, buyer)]}


def _epoch_trades(epoch: int) -> dict[int, list[TradeReport]]:
    """A and B trade with each other and each with Mallory."""
    return merge_trades(_pair(f"ab{epoch}", 0, 5, BANK_A, BANK_B),
                   _pair(f"am{epoch}", 1, 3, BANK_A, MALLORY),
                   _pair(f"mb{epoch}", 0, 2, MALLORY, BANK_B))


def _start(s: Story) -> Pool:
    pool = drill_pool({BANK_A: "Bank A (honest)", BANK_B: "Bank B (honest)",
                       MALLORY: "Mallory"})
    s.step("pool: N=4, M=2, K=4 on the embedded EVM, INSECURE development keys; "
           "slots 1-2 honest banks, slot 3 Mallory")
    s.ledger.owed.update({"house": INSURANCE, "Bank A": STAKE, "Bank B": STAKE})
    s.ledger.honest.update(HONEST)
    return pool


def _deposits() -> dict[int, int]:
    return {0: INSURANCE, BANK_A: STAKE, BANK_B: STAKE, MALLORY: STAKE}


def _finish(s: Story, pool: Pool) -> None:
    s.ledger.final.update({p: pool_holdings(pool, slot) for p, slot in HONEST.items()})


def _excluded_logs(pool: Pool, epoch: int) -> list[int]:
    house = pool.client.house
    logs = house.events.ReportExcluded().get_logs(
        from_block=pool.client.deployment.first_block)
    return sorted(int(e["args"]["slot"]) for e in logs if int(e["args"]["epoch"]) == epoch)


def _check_cleared_without(s: Story, pool: Pool, out: EpochOutcome, slot: int) -> None:
    """The epoch was accepted without ``slot``: excluded on-chain, honest A-B trade kept,
    every trade with ``slot`` dropped with the exclusion reasons."""
    e = out.epoch
    n = out.netted
    s.check(out.accepted.epoch == e, f"epoch {e} accepted on-chain: the pool kept clearing")
    s.check(n.excluded == {slot} and slots_of(int(pool.client.epoch_info(e)["excludedMask"]))
            == {slot}, f"epoch {e}: slot {slot} closed in excludedMask")
    s.check(_excluded_logs(pool, e) == [slot], f"epoch {e}: ReportExcluded({e}, {slot}) emitted")
    kept = [t.trade_id for t in n.match.accepted]
    s.check(kept == [f"ab{e}"], f"epoch {e}: the honest banks' trade with each other cleared "
            f"(kept {kept})")
    reasons = {(rj.member, rj.trade_id): rj.reason for rj in n.match.rejected}
    want = {(slot, f"am{e}"): Reason.REPORT_WITHHELD, (BANK_A, f"am{e}"):
            Reason.COUNTERPARTY_EXCLUDED, (slot, f"mb{e}"): Reason.REPORT_WITHHELD,
            (BANK_B, f"mb{e}"): Reason.COUNTERPARTY_EXCLUDED}
    s.check(reasons == want, f"epoch {e}: the trades with slot {slot} were dropped "
            f"({', '.join(sorted({r.name for r in reasons.values()}))})")
    leaves = out.result.new.leaves
    s.check(leaves[BANK_A].positions[1] == 0 and leaves[BANK_B].positions[0] == -5
            and leaves[slot].positions == (0, 0),
            f"epoch {e}: positions are the honest trade's only")
    s.check(not out.accepted.liquidated, f"epoch {e}: nobody liquidated")
    s.facts[f"epoch_{e}"] = {"excluded": sorted(n.excluded), "rounds": n.rounds,
                             "rejections": [f"{rj.reason.name}: {rj}"
                                            for rj in n.match.rejected]}


def _garbage(pool: Pool, epoch: int, report: Report, kind: str) -> SignedCommit:
    m = pool.members[MALLORY]
    ct = encrypt_report(m.key, epoch, report)
    if kind == "random C":
        c, data = 1 + secrets.randbelow(2**250), ct.to_bytes()
    else:  # a garbage ciphertext under the right commitment
        c, data = ct.commitment(), secrets.token_bytes(len(ct.to_bytes()))
    return pool.client.sign_commit_as(m.account, epoch, MALLORY, c, data)


def _act_and_net(pool: Pool) -> tuple[int, NetOutcome]:
    """The open epoch's deposits and trade lists sent, its prices posted, the trades
    netted by the operator: (epoch, the pool driver's NetOutcome)."""
    epoch = pool.client.open_epoch()
    orders = EpochOrders(DRILL_PRICES, _epoch_trades(epoch), deposits=_deposits())
    pool.act(orders)
    prices = pool.post_prices(epoch, orders.prices)
    return epoch, pool.net(epoch, orders.trades, prices)


def drill_garbage_commit() -> Verdict:
    s = Story("garbage-commit")
    pool = _start(s)
    epoch, netted = _act_and_net(pool)
    s.check(set(netted.reports) == {BANK_A, BANK_B, MALLORY},
            f"epoch {epoch}: the operator netted reports for slots 1, 2 and 3")
    pool.commit(epoch, netted.reports, withheld={MALLORY})
    s.step("Banks A and B sign their reports; the operator checks and keeps them")

    for kind in ("random C", "garbage ciphertext"):
        bad = _garbage(pool, epoch, netted.reports[MALLORY], kind)
        try:
            pool.accept_commit(epoch, netted.reports, bad)
            s.check(False, f"the operator refuses Mallory's signed {kind}")
        except CommitRefused as exc:
            s.check(MALLORY not in pool.signed,
                    f"the operator refuses Mallory's signed {kind}: {exc}")
        # Mallory cannot get it on-chain herself: only the operator closes and commits.
        try:
            pool.client.close_epoch([bad], 0, sender=pool.account(MALLORY))
            s.check(False, f"Mallory's own closeEpoch with the {kind} is refused")
        except ContractError as exc:
            s.check(exc.name == "NotOperator",
                    f"Mallory's own closeEpoch with the {kind} reverts {exc.name}")
    fns = {f.get("name") for f in pool.client.house.abi if f.get("type") == "function"}
    s.check("commitReport" not in fns,
            "the clearing house has no member-sent commit function (commitReport is gone)")

    out = pool.finish_epoch(netted, withheld={MALLORY})
    s.step(f"the operator treats Mallory as withholding: {out.netted.rounds - 1} exclusion "
           "round(s), the banks re-sign their re-netted reports")
    _check_cleared_without(s, pool, out, MALLORY)
    s.check(pool_holdings(pool, MALLORY) == STAKE,
            "Mallory's own collateral is untouched (exclusion is no penalty)")
    _finish(s, pool)
    return s.verdict("a garbage commitment is refused by the operator; the epoch clears "
                     "without the member")


def _suspended_attempt(s: Story, pool: Pool, what: str, signed: SignedCommit,
                       want: str) -> None:
    try:
        pool.client.close_epoch([signed], 0, sender=pool.actors.operator)
        s.check(False, f"{what} is refused by closeEpoch")
    except ContractError as exc:
        s.check(exc.name == want, f"{what}: closeEpoch reverts {exc.name} "
                f"({', '.join(f'{k}={v}' for k, v in exc.args_dict.items())})")


def drill_withheld_commit() -> Verdict:
    s = Story("withheld-commit")
    pool = _start(s)
    out = pool.play_epoch(EpochOrders(DRILL_PRICES, _epoch_trades(1), deposits=_deposits(),
                                      withheld=frozenset({MALLORY})))
    s.step("epoch 1: Mallory never signs her netted report; the banks sign theirs")
    _check_cleared_without(s, pool, out, MALLORY)

    # Epoch 2: Mallory is suspended. The matcher refuses her trades with a clear reason;
    # a commit of hers is refused by the contract, so the operator never posts one.
    epoch = pool.client.open_epoch()
    orders = EpochOrders(DRILL_PRICES, _epoch_trades(epoch))
    pool.act(orders)
    prices = pool.post_prices(epoch, orders.prices)
    netted = pool.net(epoch, orders.trades, prices)
    s.check(netted.suspended == {MALLORY}, f"epoch {epoch}: slot {MALLORY} is suspended")
    reasons = {(rj.member, rj.trade_id): rj.reason for rj in netted.match.rejected}
    s.check(reasons.get((MALLORY, f"am{epoch}")) == Reason.SLOT_SUSPENDED
            and reasons.get((BANK_A, f"am{epoch}")) == Reason.COUNTERPARTY_EXCLUDED,
            f"epoch {epoch}: the matcher refuses the suspended slot's trades "
            f"({Reason.SLOT_SUSPENDED.name})")
    m = pool.members[MALLORY]
    ct = encrypt_report(m.key, epoch, Report((1, 0), 0, 1))
    signed = pool.client.sign_commit_as(m.account, epoch, MALLORY, ct.commitment(),
                                        ct.to_bytes())
    _suspended_attempt(s, pool, f"a commit of suspended slot {MALLORY} in epoch {epoch}",
                       signed, "SlotSuspended")
    pool.commit(epoch, netted.reports)
    out2 = pool.finish_epoch(netted)
    s.check(out2.accepted.epoch == epoch and not out2.netted.excluded,
            f"epoch {epoch} accepted, nobody excluded: the pool kept clearing")
    s.check([t.trade_id for t in out2.netted.match.accepted] == [f"ab{epoch}"],
            f"epoch {epoch}: the banks' trade with each other cleared")
    s.facts["suspended_rejections"] = [f"{rj.reason.name}: {rj}"
                                       for rj in netted.match.rejected]
    _finish(s, pool)
    return s.verdict("a member that never signs is excluded and suspended; the epoch "
                     "clears without it")


def drill_late_commit() -> Verdict:
    s = Story("late-commit")
    pool = _start(s)
    epoch, netted = _act_and_net(pool)
    pool.commit(epoch, netted.reports, withheld={MALLORY})
    a_signed = pool.signed[BANK_A]
    out = pool.finish_epoch(netted, withheld={MALLORY})
    s.step(f"epoch {epoch}: Mallory's signature has not arrived by the deadline; the "
           "operator closes without her")
    _check_cleared_without(s, pool, out, MALLORY)

    # Her signature for epoch 1 arrives now, in epoch 2.
    m = pool.members[MALLORY]
    ct = encrypt_report(m.key, epoch, netted.reports[MALLORY])
    late = pool.client.sign_commit_as(m.account, epoch, MALLORY, ct.commitment(),
                                      ct.to_bytes())
    nxt = pool.client.open_epoch()
    s.check(nxt == epoch + 1, f"epoch {epoch} is closed; the open epoch is {nxt}")
    _suspended_attempt(s, pool, f"Mallory's late epoch-{epoch} signature posted in epoch "
                       f"{nxt}", late, "SlotSuspended")
    d_old = pool.client.commit_digest(epoch, BANK_A, a_signed.commitment, a_signed.ciphertext)
    d_new = pool.client.commit_digest(nxt, BANK_A, a_signed.commitment, a_signed.ciphertext)
    s.check(d_old != d_new, "the commit digest names the epoch")
    _suspended_attempt(s, pool, f"Bank A's epoch-{epoch} signature replayed in epoch {nxt}",
                       a_signed, "WrongSigner")

    orders = EpochOrders(DRILL_PRICES, merge_trades(_pair(f"ab{nxt}", 1, 4, BANK_B, BANK_A)))
    out2 = pool.play_epoch(orders)
    s.check(out2.accepted.epoch == nxt and [t.trade_id for t in out2.netted.match.accepted]
            == [f"ab{nxt}"], f"epoch {nxt} accepted with the banks' trade: nothing is wedged")
    _finish(s, pool)
    s.facts["late_signature_epoch"] = epoch
    return s.verdict("a late signature is worthless in the next epoch; no epoch is wedged")
