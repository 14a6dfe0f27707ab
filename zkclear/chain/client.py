"""The chain client: every call to the deployed system, with clear Python errors.

:class:`Client` wraps a :class:`~zkclear.chain.contracts.Deployment` on any web3 connection
(the embedded EVM or a JSON-RPC node) and offers one method per action -- governance
proposals, member registration, reports, deposits, withdrawal requests, oracle posts,
closing and submitting epochs -- plus the views and event logs the operator and auditors
need (:meth:`Client.epoch_events` rebuilds an epoch's events for the clearing engine).

Its parts: how calls and transactions are sent, and a revert raised as a
:class:`ContractError` carrying the custom error's name and decoded arguments
(:mod:`zkclear.chain.base`, :mod:`zkclear.chain.reverts`); the oracle's posts and reads
(:mod:`zkclear.chain.oracle`); the auction of the house's lot, sealed bids and awards
(:mod:`zkclear.chain.auction`); the commit digests members sign
(:mod:`zkclear.chain.commits`). Their names (``SignedCommit``, ``median``,
``decode_error`` ...) are still importable from here.

Gas: ordinary transactions are estimated (+25 %); ``submitEpoch`` always gets an explicit
limit (:func:`submit_gas_limit`) because the verifier answers false, not revert, when
starved, and estimating re-runs the pairing check several times on py-evm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.logs import DISCARD

from zkclear import bounds
from zkclear.chain import contracts
from zkclear.chain import node as chain
from zkclear.chain.auction import AuctionCalls
from zkclear.chain.auction import AuctionState as AuctionState
from zkclear.chain.auction import SealedBid as SealedBid
from zkclear.chain.base import Call as Call
from zkclear.chain.commits import COMMIT_DOMAIN as COMMIT_DOMAIN
from zkclear.chain.commits import DEPOSIT_DOMAIN as DEPOSIT_DOMAIN
from zkclear.chain.commits import PRICES_DOMAIN as PRICES_DOMAIN
from zkclear.chain.commits import SECP256K1_HALF_N as SECP256K1_HALF_N
from zkclear.chain.commits import SignedCommit as SignedCommit
from zkclear.chain.commits import SignedDeposit as SignedDeposit
from zkclear.chain.commits import SignedPost as SignedPost
from zkclear.chain.commits import commit_inner as commit_inner
from zkclear.chain.commits import deposit_inner as deposit_inner
from zkclear.chain.commits import eip191_digest as eip191_digest
from zkclear.chain.commits import exit_data_hash as exit_data_hash
from zkclear.chain.commits import prices_inner as prices_inner
from zkclear.chain.commits import recover_inner as recover_inner
from zkclear.chain.commits import sign_inner as sign_inner
from zkclear.chain.gas import PULL_GAS as PULL_GAS
from zkclear.chain.gas import submit_gas_limit as submit_gas_limit
from zkclear.chain.oracle import OracleCalls
from zkclear.chain.oracle import decode_venues as decode_venues
from zkclear.chain.oracle import encode_venues as encode_venues
from zkclear.chain.oracle import median as median
from zkclear.chain.oracle import venue_medians as venue_medians
from zkclear.chain.reverts import ContractError as ContractError
from zkclear.chain.reverts import decode_error
from zkclear.chain.reverts import error_table as error_table
from zkclear.chain.reverts import raise_decoded as raise_decoded
from zkclear.chain.reverts import revert_data as revert_data
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import RiskParams
from zkclear.errors import ZkclearError
from zkclear.verifier.onchain import proof_calldata

# --- the client -------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochAccepted:
    epoch: int
    new_root: int
    liquidated: tuple[int, ...]
    paid: tuple[tuple[int, str, int], ...]  # (slot, to, amount)
    refused: tuple[tuple[int, int], ...]  # (slot, amount)
    total_collateral: int
    gas_used: int


class Client(OracleCalls, AuctionCalls):
    """One connection to one deployed system (:class:`~zkclear.chain.base.ClientBase`):
    one method per action and view."""

    # -- governance -------------------------------------------------------------------

    def register_member_call(self, slot: int, account: str, vkh: int, escrow: bytes) -> Call:
        return self._encode("ClearingHouse", "registerMember", slot,
                            Web3.to_checksum_address(account), vkh, escrow)

    def remove_member_call(self, slot: int) -> Call:
        return self._encode("ClearingHouse", "removeMember", slot)

    def risk_params_call(self, params: RiskParams) -> Call:
        """setRiskParams; the instrument table is the deployment's (fixed), so
        ``params.instruments`` must be it for ``params.hash()`` to be the new paramsHash."""
        rows = [contracts.instrument_tuple(i) for i in params.instruments]
        if rows != [contracts.instrument_tuple(i) for i in self.instruments()]:
            raise ZkclearError("the risk parameters carry another instrument table than the "
                               "deployment's (RiskParams.with_instruments(client."
                               "instruments()))")
        return self._encode("ClearingHouse", "setRiskParams", *_risk_args(params))

    def risk_params_hash(self, params: RiskParams) -> int:
        """The paramsHash the contract computes for ``params`` (e.g. a pending proposal's)."""
        return int(self.call(self.house.functions.hashRiskParams(*_risk_args(params))))

    def set_operator_call(self, operator: str) -> Call:
        return self._encode("ClearingHouse", "setOperator", Web3.to_checksum_address(operator))

    def add_reporter_call(self, reporter: str) -> Call:
        return self._encode("PriceOracle", "addReporter", Web3.to_checksum_address(reporter))

    def remove_reporter_call(self, reporter: str) -> Call:
        return self._encode("PriceOracle", "removeReporter",
                            Web3.to_checksum_address(reporter))

    def set_max_funding_call(self, max_funding_bp: int) -> Call:
        return self._encode("PriceOracle", "setMaxFunding", max_funding_bp)

    def set_quorum_call(self, quorum: int) -> Call:
        return self._encode("PriceOracle", "setQuorum", quorum)

    def set_oracle_limits_call(self, max_move_bp: int, max_age: int,
                               breaker_delay: int | None = None) -> Call:
        """setLimits; ``breaker_delay`` None keeps the current one."""
        if breaker_delay is None:
            breaker_delay = int(self.call(self.oracle.functions.breakerDelay()))
        return self._encode("PriceOracle", "setLimits", max_move_bp, max_age, breaker_delay)

    def add_owner_call(self, owner: str) -> Call:
        return self._encode("Governance", "addOwner", Web3.to_checksum_address(owner))

    def remove_owner_call(self, owner: str) -> Call:
        return self._encode("Governance", "removeOwner", Web3.to_checksum_address(owner))

    def set_expiry_call(self, expiry: int) -> Call:
        return self._encode("Governance", "setExpiry", expiry)

    def propose(self, calls: Sequence[Call], *, sender: str) -> int:
        receipt = self.transact(self.governance.functions.propose(
            [(Web3.to_checksum_address(t), d) for t, d in calls]), sender=sender)
        (ev,) = self.governance.events.Proposed().process_receipt(receipt, errors=DISCARD)
        return int(ev["args"]["id"])

    def confirm(self, proposal: int, *, sender: str) -> Any:
        return self.transact(self.governance.functions.confirm(proposal), sender=sender)

    def execute(self, proposal: int, *, sender: str) -> Any:
        return self.transact(self.governance.functions.execute(proposal), sender=sender)

    def cancel(self, proposal: int, *, sender: str) -> Any:
        """Vote to cancel a proposal (the owners' threshold cancels it)."""
        return self.transact(self.governance.functions.cancel(proposal), sender=sender)

    def proposal_eta(self, proposal: int) -> int:
        return int(self.call(self.governance.functions.proposals(proposal))[1])

    def confirmations(self, proposal: int) -> int:
        """Confirmations that count now (by current owners)."""
        return int(self.call(self.governance.functions.confirmationsOf(proposal)))

    def govern(self, calls: Sequence[Call], signers: Sequence[str]) -> Any:
        """Propose, confirm by ``signers`` (the first proposes), wait out the time-lock
        (moving a local chain's clock) and execute; returns the execution receipt."""
        pid = self.propose(calls, sender=signers[0])
        for s in signers[1:]:
            self.confirm(pid, sender=s)
        eta = self.proposal_eta(pid)
        if eta == 0:
            raise ZkclearError(f"proposal {pid} has {len(signers)} confirmations, "
                               f"fewer than the threshold")
        wait = eta - chain.latest_timestamp(self.w3)
        if wait > 0:
            chain.advance_time(self.w3, wait)
        return self.execute(pid, sender=signers[0])

    # -- members ----------------------------------------------------------------------

    def commit_digest(self, epoch: int, slot: int, commitment: int,
                      ciphertext: bytes) -> bytes:
        """The EIP-191 digest the slot's account signs for ``commitment`` in ``epoch`` on
        this pool (closeEpoch recomputes it)."""
        return eip191_digest(self.commit_inner(epoch, slot, commitment, ciphertext))

    def commit_inner(self, epoch: int, slot: int, commitment: int, ciphertext: bytes) -> bytes:
        return commit_inner(self.deployment.chain_id, self.house.address, epoch, slot,
                            commitment, ciphertext)

    def sign_commit(self, private_key: Any, epoch: int, slot: int, commitment: int,
                    ciphertext: bytes) -> SignedCommit:
        """Sign a commitment with a private key (eth_account, EIP-191, low s)."""
        sig = sign_inner(self.commit_inner(epoch, slot, commitment, ciphertext), private_key)
        return SignedCommit.from_signature(slot, commitment, ciphertext, sig)

    def sign_commit_as(self, account: str, epoch: int, slot: int, commitment: int,
                       ciphertext: bytes) -> SignedCommit:
        """Sign as one of the node's accounts: with the embedded chain's key, else by
        ``eth_sign`` (a local node's unlocked account)."""
        sig = self._sign_as(account, self.commit_inner(epoch, slot, commitment, ciphertext))
        return SignedCommit.from_signature(slot, commitment, ciphertext, sig)

    def deposit_inner(self, epoch: int, slot: int, amount: int) -> bytes:
        return deposit_inner(self.deployment.chain_id, self.house.address, epoch, slot, amount)

    def deposit_digest(self, epoch: int, slot: int, amount: int) -> bytes:
        """The EIP-191 digest the slot's account signs for a deposit of ``amount`` in
        ``epoch`` that the operator posts with closeEpoch."""
        return eip191_digest(self.deposit_inner(epoch, slot, amount))

    def sign_deposit(self, private_key: Any, epoch: int, slot: int,
                     amount: int) -> SignedDeposit:
        """Sign a deposit intent with a private key (eth_account, EIP-191, low s)."""
        sig = sign_inner(self.deposit_inner(epoch, slot, amount), private_key)
        return SignedDeposit.from_signature(epoch, slot, amount, sig)

    def sign_deposit_as(self, account: str, epoch: int, slot: int,
                        amount: int) -> SignedDeposit:
        """Sign a deposit intent as one of the node's accounts (as :meth:`sign_commit_as`)."""
        sig = self._sign_as(account, self.deposit_inner(epoch, slot, amount))
        return SignedDeposit.from_signature(epoch, slot, amount, sig)

    def deposit_signer(self, signed: SignedDeposit) -> str:
        """The account that signed this deposit intent (raises on a bad signature)."""
        return recover_inner(self.deposit_inner(signed.epoch, signed.slot, signed.amount),
                             signed.signature)

    def commit_signer(self, epoch: int, signed: SignedCommit) -> str:
        """The account that signed this commit for ``epoch`` (raises on a bad signature)."""
        return recover_inner(self.commit_inner(epoch, signed.slot, signed.commitment,
                                               signed.ciphertext), signed.signature)

    def deposit_of(self, epoch: int, slot: int) -> int:
        """The slot's deposit in ``epoch`` (exact for the open epoch and the one before)."""
        return int(self.call(self.house.functions.depositOf(epoch, slot)))

    def approve(self, amount: int, *, sender: str) -> Any:
        """A standing allowance of ``amount`` to the clearing house (for posted deposits)."""
        return self.transact(self.token.functions.approve(self.house.address, amount),
                             sender=sender)

    def claim(self, *, sender: str) -> Any:
        return self.transact(self.house.functions.claim(), sender=sender)

    def claimable(self, account: str) -> int:
        return int(self.call(self.house.functions.claimable(
            Web3.to_checksum_address(account))))

    def total_claimable(self) -> int:
        return int(self.call(self.house.functions.totalClaimable()))

    def account_of_slot(self, slot: int) -> str:
        return str(self.call(self.house.functions.accountOfSlot(slot)))

    def deposit(self, amount: int, *, sender: str, approve: bool = True) -> Any:
        """Deposit ``amount``; with ``approve``, the allowance is granted only after the
        amount and the sender's membership are checked, and taken back if the deposit
        is refused anyway (no allowance is left behind)."""
        if not approve:
            return self.transact(self.house.functions.deposit(amount), sender=sender)
        self.check_deposit(amount, sender)
        self.transact(self.token.functions.approve(self.house.address, amount), sender=sender)
        try:
            return self.transact(self.house.functions.deposit(amount), sender=sender)
        except ContractError:
            self.transact(self.token.functions.approve(self.house.address, 0), sender=sender)
            raise

    def check_deposit(self, amount: int, sender: str) -> None:
        """The contract's own checks of a deposit that need no allowance: the amount
        (AmountOutOfRange) and membership (NotMember), as the same named errors."""
        if not 0 < amount < 1 << bounds.CASH_BITS:
            sel = function_signature_to_4byte_selector("AmountOutOfRange(uint256)")
            data = sel + abi_encode(["uint256"], [amount % (1 << 256)])
            raise decode_error(data, "ClearingHouse.deposit")
        self.call(self.house.functions.slotOf(Web3.to_checksum_address(sender)))

    def allowance(self, owner: str) -> int:
        """What ``owner`` has approved the clearing house to pull."""
        return int(self.call(self.token.functions.allowance(
            Web3.to_checksum_address(owner), self.house.address)))

    def request_withdrawal(self, amount: int, *, sender: str) -> Any:
        return self.transact(self.house.functions.requestWithdrawal(amount), sender=sender)

    def mint(self, to: str, amount: int, *, sender: str) -> Any:
        """Mint test collateral (the deployer of TestCollateral is its minter)."""
        return self.transact(self.token.functions.mint(Web3.to_checksum_address(to), amount),
                             sender=sender)

    def balance(self, account: str) -> int:
        return int(self.call(self.token.functions.balanceOf(Web3.to_checksum_address(account))))

    def slot_of(self, account: str) -> int:
        return int(self.call(self.house.functions.slotOf(Web3.to_checksum_address(account))))

    # -- epochs -----------------------------------------------------------------------

    def close_epoch(self, commits: Sequence[SignedCommit] = (), excluded_mask: int = 0, *,
                    sender: str, deposits: Sequence[SignedDeposit] = ()) -> Any:
        """Post the signed deposits (each pulled under its member's standing allowance, or
        skipped with DepositSkipped), then the signed commits, and close the open epoch
        (operator). Every deposit must be signed for the open epoch."""
        epoch = self.open_epoch() if deposits else 0
        stale = [d.slot for d in deposits if d.epoch != epoch]
        if stale:
            raise ZkclearError(f"deposits of slots {stale} are not signed for the open epoch "
                               f"{epoch}")
        fn = self.house.functions.closeEpoch(
            [c.as_tuple() for c in commits], [d.as_tuple() for d in deposits], excluded_mask)
        gas = None
        if deposits:
            try:
                est = int(fn.estimate_gas({"from": sender}))
            except Exception as exc:
                raise_decoded(exc, "ClearingHouse.closeEpoch")
                raise
            gas = est + est // 4 + 10_000 + PULL_GAS * len(deposits)
        return self.transact(fn, sender=sender, gas=gas)

    def skipped_deposits(self, receipt: Any) -> list[tuple[int, int, int]]:
        """(slot, amount, reason) of each posted deposit closeEpoch skipped (reason 1: the
        pull failed; 2: the slot had deposited directly)."""
        return [(int(e["slot"]), int(e["amount"]), int(e["reason"]))
                for e in self.logs(receipt, "ClearingHouse", "DepositSkipped")]

    # -- liveness: freeze and exit ------------------------------------------------------

    def set_withdrawal_timeout_call(self, timeout: int) -> Call:
        return self._encode("ClearingHouse", "setWithdrawalTimeout", timeout)

    def withdrawal_timeout(self) -> int:
        return int(self.call(self.house.functions.withdrawalTimeout()))

    def freeze(self, *, sender: str) -> Any:
        return self.transact(self.house.functions.freeze(), sender=sender)

    def frozen(self) -> bool:
        return bool(self.call(self.house.functions.frozen()))

    def exited(self, slot: int) -> bool:
        return bool(self.call(self.house.functions.exited(slot)))

    def last_exit_data_hash(self) -> bytes:
        return bytes(self.call(self.house.functions.lastExitDataHash()))

    def exit(self, slot: int, collateral: int, positions: Sequence[int], df: int, vkh: int,
             nonce: int, exit_data: Sequence[int], *, sender: str) -> Any:
        """Exit ``slot`` after a freeze with its leaf (c, q, df, vkh, nonce) and the last
        accepted epoch's exit data; the proceeds go to the slot's claimable balance."""
        return self.transact(self.house.functions.exit(
            slot, collateral, list(positions), df, vkh, nonce, list(exit_data)), sender=sender)

    def exit_house_call(self, exit_data: Sequence[int]) -> Call:
        return self._encode("ClearingHouse", "exitHouse", list(exit_data))

    def submit_epoch(self, proof: Mapping[str, Any], public: Sequence[int],
                     exit_data: Sequence[int], *, sender: str,
                     gas: int | None = None) -> EpochAccepted:
        """Submit an epoch proof (snarkjs JSON) with its public signals and the epoch's
        exit data (``EpochResult.exit_data``: the new leaves, the house's collateral and
        the slot masks)."""
        a, b, c, pub = proof_calldata(proof, public)
        fn = self.house.functions.submitEpoch((a, b, c), list(pub), [int(x) for x in exit_data])
        receipt = self.transact(fn, sender=sender, gas=gas or submit_gas_limit(pub, exit_data))
        ev = self.house.events

        def logs(event: Any) -> list[Any]:
            return list(event().process_receipt(receipt, errors=DISCARD))

        (acc,) = logs(ev.EpochAccepted)
        return EpochAccepted(
            epoch=int(acc["args"]["epoch"]),
            new_root=int(acc["args"]["newRoot"]),
            liquidated=tuple(int(e["args"]["slot"]) for e in logs(ev.Liquidated)),
            paid=tuple((int(e["args"]["slot"]), str(e["args"]["to"]), int(e["args"]["amount"]))
                       for e in logs(ev.WithdrawalPaid)),
            refused=tuple((int(e["args"]["slot"]), int(e["args"]["amount"]))
                          for e in logs(ev.WithdrawalRefused)),
            total_collateral=int(acc["args"]["totalCollateral"]),
            gas_used=int(receipt["gasUsed"]),
        )

    def epoch_events(self, epoch: int) -> list[Event]:
        """The epoch's events in accumulator order, from the EpochEvent logs (checked
        against the on-chain accumulator and count)."""
        logs = self.house.events.EpochEvent().get_logs(
            argument_filters={"epoch": epoch}, from_block=self.deployment.first_block)
        logs = sorted(logs, key=lambda e: int(e["args"]["index"]))
        events = [Event(Kind(int(e["args"]["kind"])), int(e["args"]["slot"]),
                        int(e["args"]["value"])) for e in logs]
        info = self.epoch_info(epoch)
        from zkclear.clearing.events import accumulate

        if [int(e["args"]["index"]) for e in logs] != list(range(len(logs))) \
                or len(events) != info["nEvents"] or accumulate(events) != info["eventsAcc"]:
            raise ZkclearError(f"epoch {epoch}: the event logs do not rebuild the on-chain "
                               "accumulator (incomplete logs from the node?)")
        return events

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        keys = ("eventsAcc", "paramsHash", "withdrawMask", "deposits", "nEvents", "closed",
                "firstRequestAt", "excludedMask")
        return dict(zip(keys, self.call(self.house.functions.epochInfo(epoch)), strict=True))

    def state_root(self) -> int:
        return int(self.call(self.house.functions.stateRoot()))

    def accepted(self) -> dict[str, Any]:
        """The last accepted epoch's packed scalars (``ClearingHouse.accepted``): epoch,
        total (collateral), dfScale, frozen, houseNegativeSince."""
        keys = ("epoch", "total", "dfScale", "frozen", "houseNegativeSince")
        return dict(zip(keys, self.call(self.house.functions.accepted()), strict=True))

    def last_accepted_epoch(self) -> int:
        return int(self.accepted()["epoch"])

    def open_epoch(self) -> int:
        return int(self.call(self.house.functions.openEpoch()))

    def total_collateral(self) -> int:
        return int(self.accepted()["total"])

    def df_scale(self) -> int:
        """The default fund's scale the next epoch must be cleared with."""
        return int(self.accepted()["dfScale"])

    def params_hash(self) -> int:
        return int(self.call(self.house.functions.paramsHash()))

    @property
    def accounts(self) -> list[ChecksumAddress]:
        return list(self.w3.eth.accounts)


def _risk_args(params: RiskParams) -> tuple[Any, ...]:
    """setRiskParams / hashRiskParams arguments: imFactorBp, penaltyBp, fund[4] (dfFloor,
    dfShareBp, stressBp, skinCap), positionLimits, shocks (row-major)."""
    return (params.im_factor_bp, params.penalty_bp, params.fund_elements(),
            list(params.position_limits), [s for row in params.shocks for s in row])
