"""What one epoch of a pool is made of, for the pool driver (:mod:`zkclear.chain.pool`):
who acts (:class:`Actors`, :class:`Member`), what they do (:class:`EpochOrders`), what the
operator netted (:class:`NetOutcome`) and what came of the epoch (:class:`EpochOutcome`);
the driver's errors and the slot masks of ``excludedMask``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from web3 import Web3

from zkclear.chain.client import EpochAccepted
from zkclear.clearing.epoch import EpochResult
from zkclear.clearing.report import Report
from zkclear.clearing.state import HOUSE
from zkclear.clearing.trades import MatchResult, NettingResult, TradeReport
from zkclear.errors import ZkclearError
from zkclear.privacy.cipher import Ciphertext
from zkclear.privacy.viewkeys import MemberKey
from zkclear.prover.prove import ProofResult


class PoolError(ZkclearError):
    """The chain or the engine disagrees with what the pool driver expected."""


class CommitRefused(PoolError):
    """The operator refuses a signed commitment: not the netted report's, or not signed
    by the slot's account (the member is then treated as withholding)."""


def slots_of(mask: int) -> frozenset[int]:
    """The slots whose bit is set in ``mask``."""
    return frozenset(i for i in range(mask.bit_length()) if mask >> i & 1)


def mask_of(slots: Iterable[int]) -> int:
    return sum(1 << s for s in set(slots))


@dataclass(frozen=True)
class Actors:
    """Who sends which transactions.

    Account layout (the embedded chain has ten accounts, hardhat twenty): 0 deployer,
    minter, operator and first owner; 1-2 the other owners (threshold 2); 3-5 oracle
    reporters (quorum 3: the median of three posts, docs/protocol.md "Oracle"); 6 the
    house; 7.. the members of slots 1..N-1, then accounts 1-5 when those run out (one
    account holds one slot only).
    """

    deployer: str
    owners: tuple[str, ...]
    reporters: tuple[str, ...]
    operator: str
    house: str
    members: dict[int, str]  # slot -> account (slot 0: the house)

    @classmethod
    def of(cls, w3: Web3, n_slots: int) -> Actors:
        a: list[str] = list(w3.eth.accounts)
        if len(a) < 7:
            raise PoolError(f"the node has {len(a)} unlocked accounts; the pool needs at "
                            "least 7 (deployer, 2 more owners, 3 reporters, house)")
        candidates = a[7:] + a[1:6]
        if len(candidates) < n_slots - 1:
            raise PoolError(f"{len(a)} accounts are too few for {n_slots} slots")
        members = {HOUSE: a[6]} | {i: candidates[i - 1] for i in range(1, n_slots)}
        return cls(a[0], (a[0], a[1], a[2]), (a[3], a[4], a[5]), a[0], a[6], members)

    @property
    def signers(self) -> tuple[str, str]:
        """The two owners who sign governance proposals (threshold 2)."""
        return self.owners[0], self.owners[1]


@dataclass(frozen=True)
class Member:
    """An institution in the pool: its display name, slot, account and view key."""

    name: str
    slot: int
    account: str
    key: MemberKey

    def __post_init__(self) -> None:
        if self.key.slot != self.slot:
            raise PoolError(f"{self.name}: the view key is slot {self.key.slot}'s, "
                            f"not slot {self.slot}'s")


@dataclass(frozen=True)
class EpochOrders:
    """What happens in one epoch: the oracle's settlement prices, each member's trade
    list (as the member reports it), deposits and withdrawal requests (slot -> amount;
    the house, slot 0, may deposit to the insurance fund). ``withheld``: members that
    never sign their netted report (nor any re-netted one). ``funding``: the epoch's
    funding amount per instrument (() = none); ``risk_arrays``: option m -> its K risk
    array entries, posted once the marks are final (a pool with options). ``bids``: slot
    -> its bid in the epoch's auction of the house's lot (docs/protocol.md).
    ``posted_deposits``: slot -> amount of the deposits the member signs for the operator
    to post with closeEpoch (under a standing allowance) instead of sending them itself;
    they are not in rule R's equity of this epoch (not on-chain before the close)."""

    prices: tuple[int, ...]
    trades: Mapping[int, Sequence[TradeReport]] = field(default_factory=dict)
    deposits: Mapping[int, int] = field(default_factory=dict)
    withdrawals: Mapping[int, int] = field(default_factory=dict)
    withheld: frozenset[int] = frozenset()
    funding: tuple[int, ...] = ()
    risk_arrays: Mapping[int, Sequence[int]] = field(default_factory=dict)
    bids: Mapping[int, int] = field(default_factory=dict)
    posted_deposits: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NetOutcome:
    """The operator's matching and netting of one epoch's trade lists (after
    :meth:`Pool.settle_commits`: of what is left once the withholding slots are out)."""

    epoch: int
    prices: tuple[int, ...]
    match: MatchResult
    netting: NettingResult
    reports: dict[int, Report]
    equity: Mapping[int, int] = field(default_factory=dict)  # rule R's e0 per slot
    suspended: frozenset[int] = frozenset()  # excluded last epoch: no trades this epoch
    excluded: frozenset[int] = frozenset()  # closed without their report (excludedMask)
    rounds: int = 1  # netting rounds (1 + one per exclusion round)

    @property
    def excluded_mask(self) -> int:
        return mask_of(self.excluded)


@dataclass(frozen=True)
class EpochOutcome:
    """One epoch played end to end."""

    netted: NetOutcome
    ciphertexts: dict[int, Ciphertext]
    result: EpochResult
    proof: ProofResult
    accepted: EpochAccepted

    @property
    def epoch(self) -> int:
        return self.result.epoch
