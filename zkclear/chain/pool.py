"""Driving a deployed pool on-chain: the parts the demo, the operator and tests share.

:class:`Pool` wraps a :class:`~zkclear.chain.client.Client` with the pool's actors
(:class:`Actors`: deployer, governance owners, oracle reporters, operator, house and one
account per member slot) and the off-chain twin of the on-chain state (the
:class:`~zkclear.clearing.state.PoolState` after the last accepted epoch). An epoch is
played in the order the protocol needs (docs/protocol.md):

1. members act on-chain: governance registers new members (each with its view-key
   commitment ``vkh`` and the escrow of its view key to the pool's compliance key),
   deposits, withdrawal requests (:meth:`Pool.register`, :meth:`Pool.act`); a member may
   instead sign a deposit for the operator to post at the close (:meth:`Pool.sign_deposit`);
2. the oracle reporters post the epoch's settlement prices, with the perpetuals' funding
   (:meth:`Pool.post_prices`), and in a pool with options the hash of the epoch's risk
   arrays (:meth:`Pool.post_risk_arrays`);
3. the operator matches the members' trade lists and nets the accepted trades into one
   report per slot at those prices (:meth:`Pool.net`, :mod:`zkclear.clearing.trades`);
4. each member encrypts its report under its view key and signs the commit digest
   (epoch, slot, C, ciphertext) with its account (:meth:`Pool.commit`); the operator
   checks each one against the report it netted (:meth:`Pool.accept_commit`);
   a member that does not sign (:attr:`EpochOrders.withheld`) or signs something else is
   excluded: its trades and its counterparties' matching trades are dropped, the rest is
   netted again and the counterparties whose report changed sign again, round after
   round until every remaining report is signed (:meth:`Pool.settle_commits`);
5. the operator posts the signed deposits and commitments and closes the epoch in one
   transaction
   (the excluded slots in ``excludedMask``: suspended next epoch),
   clears it with the engine from the chain's own events and final prices, proves it
   and submits the proof (:meth:`Pool.close`,
   :meth:`Pool.clear`, :meth:`Pool.prove`, :meth:`Pool.submit`); the new on-chain root
   must be the engine's.

:meth:`Pool.play_epoch` runs all of it for one :class:`EpochOrders`. The records of an
epoch (:class:`Actors`, :class:`EpochOrders`, :class:`NetOutcome` ...) are in
:mod:`zkclear.chain.orders`, and importable from here; the checks of a signed deposit in
:mod:`zkclear.chain.deposits`.

Why one long module: the five steps are one class's methods over one shared state (the
off-chain twin, the members, the signed commits and deposits waiting for the close).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from zkclear.chain import contracts
from zkclear.chain import node as chain
from zkclear.chain.client import Client, EpochAccepted, SignedCommit, SignedDeposit
from zkclear.chain.deposits import check_signed_deposit, sign_deposit
from zkclear.chain.orders import (
    Actors,
    CommitRefused,
    EpochOrders,
    EpochOutcome,
    Member,
    NetOutcome,
    PoolError,
    slots_of,
)
from zkclear.clearing.auction import Award
from zkclear.clearing.epoch import EpochResult, run_epoch
from zkclear.clearing.instruments import Instrument, trading_rules
from zkclear.clearing.params import PoolConfig, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.state import HOUSE, PoolState
from zkclear.clearing.trades import (
    DEFAULT_BAND_BP,
    Reason,
    changed_reports,
    deposits_from_events,
    equity_before_trades,
    exclude_slots,
    match_trades,
    reports_from_netting,
)
from zkclear.clearing.witness import epoch_circuit_inputs
from zkclear.privacy.cipher import Ciphertext, encrypt_report
from zkclear.privacy.compliance import escrow
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.prover.keys import Keys
from zkclear.prover.prove import ProofResult, prove

__all__ = [
    "Actors",
    "CommitRefused",
    "EpochOrders",
    "EpochOutcome",
    "Member",
    "NetOutcome",
    "Pool",
    "PoolError",
    "deploy_pool",
]


@dataclass
class Pool:
    """A deployed pool with its off-chain twin (the state after the last accepted epoch)."""

    client: Client
    actors: Actors
    setup: contracts.PoolSetup
    keys: Keys
    state: PoolState
    members: dict[int, Member] = field(default_factory=dict)  # registered, by slot
    trade_band_bp: int | None = DEFAULT_BAND_BP  # operator policy (trades.apply_rules)
    #: Signed commitments waiting for the operator's closeEpoch, by slot.
    signed: dict[int, SignedCommit] = field(default_factory=dict)
    #: Signed deposits waiting for the operator's closeEpoch, by slot.
    deposits: dict[int, SignedDeposit] = field(default_factory=dict)

    @property
    def w3(self) -> Web3:
        return self.client.w3

    @property
    def config(self) -> PoolConfig:
        return self.setup.config

    @property
    def params(self) -> RiskParams:
        return self.setup.params

    @property
    def deployment(self) -> contracts.Deployment:
        return self.client.deployment

    def account(self, slot: int) -> str:
        try:
            return self.actors.members[slot]
        except KeyError:
            raise PoolError(f"slot {slot} is not a slot of this pool "
                            f"(0..{self.config.n_slots - 1})") from None

    # -- 1. members act ----------------------------------------------------------------

    def register(self, members: Iterable[Member], compliance: X25519KeyPair | bytes) -> Any:
        """Register ``members`` in one governance proposal (propose, confirm, time-lock,
        execute), each with ``vkh = Poseidon(K)`` and its view key escrowed to the pool's
        compliance public key; returns the execution receipt."""
        members = list(members)
        if not members:
            raise PoolError("nothing to register")
        pid = self.deployment.pool_id
        calls = []
        for m in members:
            if m.account != self.account(m.slot):
                raise PoolError(f"{m.name}: slot {m.slot} belongs to account "
                                f"{self.account(m.slot)}, not {m.account}")
            if m.slot == HOUSE:
                raise PoolError(f"{m.name}: slot 0 is the house, not a member slot")
            blob = escrow(m.key, compliance, m.slot, pid)
            calls.append(self.client.register_member_call(m.slot, m.account, m.key.vkh, blob))
        receipt = self.client.govern(calls, self.actors.signers)
        for m in members:
            if self.client.slot_of(m.account) != m.slot:
                raise PoolError(f"{m.name} is not registered in slot {m.slot} after the "
                                "governance proposal executed")
            self.members[m.slot] = m
        return receipt

    def act(self, orders: EpochOrders) -> None:
        """Send the epoch's deposits and withdrawal requests from the members' accounts,
        and its bids for the house's lot (:meth:`bid`)."""
        for slot, amount in sorted(orders.deposits.items()):
            self.client.deposit(amount, sender=self.account(slot))
        for slot, amount in sorted(orders.withdrawals.items()):
            self.client.request_withdrawal(amount, sender=self.account(slot))
        for slot, amount in sorted(orders.posted_deposits.items()):
            self.sign_deposit(slot, amount)
        if orders.bids:
            self.bid(orders.bids)

    def sign_deposit(self, slot: int, amount: int) -> SignedDeposit:
        """The slot's member signs a deposit for the operator to post at the close
        (:func:`~zkclear.chain.deposits.sign_deposit`); the operator checks and keeps it."""
        signed = sign_deposit(self.client, self.account(slot), slot, amount)
        check_signed_deposit(self.client, signed, self.deposits)
        self.deposits[slot] = signed
        return signed

    def bid(self, bids: Mapping[int, int]) -> Award | None:
        """The open epoch's auction of the house's lot (docs/protocol.md, "The auction of
        the house's lot"): each slot of ``bids`` seals its bid, then opens it once the
        commit deadline has passed (on a local chain the clock is moved there); returns
        the best bid revealed. Refused (:class:`PoolError`) if no auction is open."""
        state = self.client.auction_of()
        if state is None:
            raise PoolError(f"epoch {self.client.open_epoch()}: no auction of the house's "
                            "lot is open (the house is flat, or the last epoch is not "
                            "accepted yet)")
        sealed = [self.client.commit_bid(b, sender=self.account(s))
                  for s, b in sorted(bids.items())]
        self._wait_until(state.commit_end)
        for sb in sealed:
            self.client.reveal_bid(sb, sender=self.account(sb.slot))
        after = self.client.auction_of()
        return after.best if after is not None else None

    def wait_for_auction(self) -> None:
        """An epoch with an auction of the house's lot closes after its reveal deadline:
        on a local chain the clock is moved there (elsewhere that wait is the caller's)."""
        auction = self.client.auction_of()
        if auction is not None:
            self._wait_until(auction.reveal_end)

    def _wait_until(self, t: int) -> None:
        """On a local chain, move the clock to ``t``; elsewhere that wait is the caller's."""
        if chain.is_local(self.w3):
            wait = t - chain.latest_timestamp(self.w3)
            if wait > 0:
                chain.advance_time(self.w3, wait)

    # -- 2. oracle ---------------------------------------------------------------------

    def post_prices(self, epoch: int, prices: Sequence[int],
                    funding: Sequence[int] | None = None) -> tuple[int, ...]:
        """The reporters (a quorum of them) post ``prices`` (and ``funding``, one signed
        amount per instrument, if given); returns the final prices. A move beyond the
        oracle's band trips its circuit breaker: on a local chain the clock is moved past
        ``breakerDelay`` and the prices released (docs/protocol.md, "Oracle"); elsewhere
        that wait is the caller's. In a pool with options the epoch's pricesHash waits
        for :meth:`post_risk_arrays`."""
        cl = self.client
        quorum = int(cl.call(cl.oracle.functions.quorum()))
        for reporter in self.actors.reporters[:quorum]:
            cl.post_prices(epoch, prices, sender=reporter,
                           funding=list(funding) if funding else None)
        if cl.mark_hash(epoch) == 0:
            _, release_at = cl.pending_prices(epoch)
            if release_at and chain.is_local(self.w3):
                self._wait_until(release_at)
                cl.release_prices(epoch, sender=self.actors.reporters[0])
        final = cl.final_prices(epoch)
        if final != tuple(prices):
            raise PoolError(f"epoch {epoch}: the oracle's final prices {final} are not the "
                            f"posted {tuple(prices)}")
        return final

    def post_risk_arrays(self, epoch: int, arrays: Mapping[int, Sequence[int]]) -> int:
        """The reporters (a quorum of them) post the hash of ``epoch``'s option risk
        arrays with the arrays; returns the epoch's final pricesHash."""
        cl = self.client
        quorum = int(cl.call(cl.oracle.functions.quorum()))
        for reporter in self.actors.reporters[:quorum]:
            cl.post_risk_arrays(epoch, arrays, sender=reporter)
        final = cl.prices_hash(epoch)
        if final == 0:
            raise PoolError(f"epoch {epoch}: the risk arrays are not final after the quorum")
        return final

    # -- 3. operator nets --------------------------------------------------------------

    def net(self, epoch: int, trades: Mapping[int, Sequence[Any]],
            prices: Sequence[int] | None = None) -> NetOutcome:
        """Match and net the members' trade lists at the epoch's final oracle prices,
        refusing off-market trades (:attr:`trade_band_bp`), the trades of slots whose
        losses would exceed their equity before trades (rule R, from the state after the
        previous epoch and the epoch's deposits so far) and the trades of the slots
        suspended this epoch (excluded from the previous one: closeEpoch would refuse
        their commits with SlotSuspended)."""
        cfg = self.config
        prices = tuple(prices) if prices is not None else self.client.final_prices(epoch)
        match = match_trades(trades, n_slots=cfg.n_slots, n_instruments=cfg.n_instruments,
                             members=self.members)
        if self.state.epoch != epoch - 1:
            raise PoolError(f"the off-chain state is after epoch {self.state.epoch}; the "
                            f"equity before trades of epoch {epoch} needs epoch {epoch - 1}")
        equity = equity_before_trades(self.state, prices,
                                      deposits_from_events(self.client.epoch_events(epoch)),
                                      self.client.funding_index(epoch))
        suspended = self.suspended(epoch)
        ruled = exclude_slots(match, suspended, prices, n_slots=cfg.n_slots,
                              n_instruments=cfg.n_instruments, band_bp=self.trade_band_bp,
                              equity=equity, reason=Reason.SLOT_SUSPENDED,
                              **trading_rules(self.params.instruments, epoch))
        match, netting = ruled.match, ruled.netting
        reports = reports_from_netting(netting, prices)
        return NetOutcome(epoch, prices, match, netting, reports, equity, suspended)

    def suspended(self, epoch: int) -> frozenset[int]:
        """The slots suspended in ``epoch``: those excluded from ``epoch - 1``."""
        if epoch <= 1:
            return frozenset()
        return slots_of(int(self.client.epoch_info(epoch - 1)["excludedMask"]))

    # -- 4. members commit -------------------------------------------------------------

    def commit(self, epoch: int, reports: Mapping[int, Report],
               withheld: Iterable[int] = ()) -> dict[int, Ciphertext]:
        """Each reporting member (but the ``withheld`` ones) encrypts its report under its
        view key and signs the commit digest with its account; the operator checks each
        (:meth:`accept_commit`) and posts them at :meth:`close`."""
        out = {}
        withheld = set(withheld)
        for slot, report in sorted(reports.items()):
            member = self.members.get(slot)
            if member is None:
                raise PoolError(f"slot {slot} has a report but is not a registered member")
            if slot in withheld:
                continue
            ct = encrypt_report(member.key, epoch, report)
            data = ct.to_bytes()
            signed = self.client.sign_commit_as(member.account, epoch, slot,
                                                ct.commitment(), data)
            self.accept_commit(epoch, reports, signed)
            out[slot] = ct
        return out

    def accept_commit(self, epoch: int, reports: Mapping[int, Report],
                      signed: SignedCommit) -> None:
        """The operator's check of a member's signed commitment before it keeps it for
        closeEpoch: the slot has a netted report, the commitment and ciphertext are that
        report's (encrypted under the slot's view key for ``epoch``), and the slot's
        account signed the commit digest of ``epoch``. CommitRefused otherwise."""
        slot = signed.slot
        report, member = reports.get(slot), self.members.get(slot)
        if report is None or member is None:
            raise CommitRefused(f"slot {slot} has no netted report in epoch {epoch}")
        ct = encrypt_report(member.key, epoch, report)
        if signed.commitment != ct.commitment() or signed.ciphertext != ct.to_bytes():
            raise CommitRefused(f"slot {slot}: the commitment or ciphertext is not the one "
                                f"of the report netted for epoch {epoch}")
        try:
            signer = self.client.commit_signer(epoch, signed)
        except Exception:
            raise CommitRefused(f"slot {slot}: the signature does not parse") from None
        if signer.lower() != member.account.lower():
            raise CommitRefused(f"slot {slot}: the commit is not signed by the slot's "
                                f"account for epoch {epoch}")
        self.signed[slot] = signed

    def settle_commits(self, netted: NetOutcome, withheld: Iterable[int] = ()) -> NetOutcome:
        """Exclusion rounds: while a netted report has no accepted signed commitment
        (its member withheld it, or signed something :meth:`accept_commit` refused),
        exclude that slot, drop its trades and its counterparties' matching trades
        (:func:`~zkclear.clearing.trades.exclude_slots`, rule R again), and let every
        member whose report changed sign the new one (``withheld`` ones never do).
        Each round excludes at least one slot, so there are at most N rounds. Returns
        the final netting, with ``excluded`` the slots for closeEpoch's excludedMask."""
        cfg = self.config
        withheld = set(withheld)
        excluded = set(netted.excluded)
        while True:
            missing = {s for s in netted.reports if s not in self.signed}
            if not missing:
                return netted
            excluded |= missing
            ruled = exclude_slots(netted.match, excluded, netted.prices, n_slots=cfg.n_slots,
                                  n_instruments=cfg.n_instruments,
                                  band_bp=self.trade_band_bp, equity=netted.equity,
                                  **trading_rules(self.params.instruments, netted.epoch))
            fresh = reports_from_netting(ruled.netting, netted.prices)
            reports, changed = changed_reports(netted.reports, fresh)
            for slot in changed:  # their signed commitment (if any) is of the old report
                self.signed.pop(slot, None)
            netted = NetOutcome(netted.epoch, netted.prices, ruled.match, ruled.netting,
                                reports, netted.equity, netted.suspended,
                                frozenset(excluded), netted.rounds + 1)
            self.commit(netted.epoch, {s: reports[s] for s in changed if s in reports},
                        withheld)

    # -- 5. operator closes, clears, proves, submits -----------------------------------

    def close(self, excluded_mask: int = 0) -> int:
        """The operator posts the signed deposits (:meth:`sign_deposit`; one closeEpoch
        skips is not in the epoch's events) and commitments (:meth:`commit`) and closes
        the open epoch, excluding the slots of ``excluded_mask``; returns its number."""
        epoch = self.client.open_epoch()
        commits = [self.signed[s] for s in sorted(self.signed)
                   if not excluded_mask >> s & 1]
        deposits = [self.deposits[s] for s in sorted(self.deposits)]
        self.wait_for_auction()
        self.client.close_epoch(commits, excluded_mask, sender=self.actors.operator,
                                deposits=deposits)
        self.signed, self.deposits = {}, {}
        return epoch

    def clear(self, epoch: int, reports: Mapping[int, Report]) -> EpochResult:
        """Run the engine on the closed epoch's on-chain events and final prices."""
        if epoch != self.state.epoch + 1:
            raise PoolError(f"the off-chain state is after epoch {self.state.epoch}; "
                            f"epoch {epoch} cannot be cleared next")
        if self.client.params_hash() != self.params.hash():
            raise PoolError("the on-chain paramsHash is not the pool's risk parameters' "
                            "(changed by governance?)")
        events = self.client.epoch_events(epoch)
        # Every member's key: reporting slots need it, and every leaf is blinded with it
        # so that its member can open it after a freeze (docs/protocol.md).
        keys = {slot: m.key for slot, m in self.members.items()}
        market = self.client.market(epoch)
        result = run_epoch(self.state, self.params, market.prices, events, reports,
                           view_keys=keys, funding=market.funding, risk_arrays=market.arrays,
                           award=self.client.award_of(epoch))
        if result.epoch != epoch:
            raise PoolError(f"the engine cleared epoch {result.epoch}, expected {epoch}")
        return result

    def prove(self, result: EpochResult) -> ProofResult:
        proof = prove(self.keys, epoch_circuit_inputs(result))
        if proof.public != result.public_signals():
            raise PoolError(f"epoch {result.epoch}: the proof's public signals are not the "
                            "engine's")
        return proof

    def submit(self, result: EpochResult, proof: ProofResult) -> EpochAccepted:
        """Submit the proof; checks the chain now holds the engine's root and totals."""
        accepted = self.client.submit_epoch(proof.proof, proof.public, result.exit_data(),
                                            sender=self.actors.operator)
        root = self.client.state_root()
        if (accepted.epoch, accepted.new_root, root) != (result.epoch, result.new.root(),
                                                         result.new.root()):
            raise PoolError(f"epoch {result.epoch}: the chain accepted epoch "
                            f"{accepted.epoch} with root {accepted.new_root:#x}; the engine's "
                            f"root is {result.new.root():#x}")
        if accepted.total_collateral != result.total_collateral:
            raise PoolError(f"epoch {result.epoch}: on-chain total collateral "
                            f"{accepted.total_collateral} != engine {result.total_collateral}")
        self.state = result.new
        return accepted

    def play_epoch(self, orders: EpochOrders) -> EpochOutcome:
        """One whole epoch: act, price, net, commit, close, clear, prove, submit."""
        epoch = self.client.open_epoch()
        self.act(orders)
        prices = self.post_prices(epoch, orders.prices, orders.funding or None)
        if orders.risk_arrays:
            self.post_risk_arrays(epoch, orders.risk_arrays)
        netted = self.net(epoch, orders.trades, prices)
        self.commit(epoch, netted.reports, orders.withheld)
        return self.finish_epoch(netted, orders.withheld)

    def finish_epoch(self, netted: NetOutcome, withheld: Iterable[int] = ()) -> EpochOutcome:
        """After the first signing round: exclusion rounds, close, clear, prove, submit."""
        epoch = netted.epoch
        netted = self.settle_commits(netted, withheld)
        self.close(netted.excluded_mask)
        cts = {s: encrypt_report(self.members[s].key, epoch, r)
               for s, r in netted.reports.items()}
        result = self.clear(epoch, netted.reports)
        proof = self.prove(result)
        return EpochOutcome(netted, cts, result, proof, self.submit(result, proof))


def deploy_pool(w3: Web3, keys: Keys, config: PoolConfig, params: RiskParams,
                genesis_prices: Sequence[int], *, mint: int = 10**12, delay: int = 3600,
                max_move_bp: int = 2_000, max_age: int = 3600,
                withdrawal_timeout: int = contracts.DEFAULT_WITHDRAWAL_TIMEOUT,
                allow_insecure: bool = False, instruments: Sequence[Instrument] = (),
                max_funding_bp: int = contracts.DEFAULT_MAX_FUNDING_BP) -> Pool:
    """Deploy the system around the epoch ``keys``' verifier, with :meth:`Actors.of`'s
    accounts (governance 2-of-3, oracle quorum 3 of 3 reporters), and mint ``mint`` test
    collateral to the house and every member account. ``instruments``: the fixed
    instrument table (() = the parameters', plain futures unless they name one)."""
    actors = Actors.of(w3, config.n_slots)
    setup = contracts.PoolSetup(
        config, params, tuple(genesis_prices), owners=actors.owners, threshold=2,
        reporters=actors.reporters, quorum=3, operator=actors.operator,
        house_account=actors.house, delay=delay, max_move_bp=max_move_bp, max_age=max_age,
        withdrawal_timeout=withdrawal_timeout, instruments=tuple(instruments),
        max_funding_bp=max_funding_bp)
    dep = contracts.deploy_with_keys(w3, setup, keys, allow_insecure=allow_insecure,
                                     sender=actors.deployer)
    client = Client(w3, dep)
    if mint:
        for account in actors.members.values():
            client.mint(account, mint, sender=actors.deployer)
    return Pool(client, actors, setup, keys, setup.genesis_state())
