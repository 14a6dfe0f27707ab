"""What a deployment fixes and where it lives: :class:`PoolSetup` (everything the
contracts are deployed with, apart from the epoch verifier), :class:`Deployment` (the
addresses on one chain, the ``zkclear-deployment-v1`` file) and the pool id escrows are
bound to. Deploying is :mod:`zkclear.chain.contracts` (which re-exports these names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from zkclear import bounds
from zkclear.chain.artefacts import POSEIDON_ARITIES
from zkclear.clearing.instruments import Instrument
from zkclear.clearing.params import ParamsError, PoolConfig, RiskParams, check_prices
from zkclear.clearing.state import PoolState
from zkclear.errors import ZkclearError
from zkclear.fsutil import write_json_atomic
from zkclear.schemas import DeploymentConfig, DeploymentFile, dump, parse, read_file

#: Names of the deployed contracts in a :class:`Deployment`.
POSEIDON_NAMES = tuple(f"Poseidon{n}" for n in POSEIDON_ARITIES)
SYSTEM = ("Governance", "Collateral", "PriceOracle", "EpochVerifier", "ClearingHouse",
          "LotAuction")



#: Default governed withdrawal timeout (seconds): one day.
DEFAULT_WITHDRAWAL_TIMEOUT = 86_400
#: Default governed funding clamp: |f| <= 0.3 % of the mark per epoch.
DEFAULT_MAX_FUNDING_BP = 30
#: Defaults of the governed auction of the house's lot (docs/protocol.md, "The auction of
#: the house's lot"): the reserve is the whole lot's margin bound; commits, then reveals,
#: for ten minutes each. Bounds: reserve 0..BP, window 1 s..1 day and at most a quarter
#: of the withdrawal timeout.
DEFAULT_AUCTION_RESERVE_BP = 10_000
DEFAULT_AUCTION_WINDOW = 600
MIN_AUCTION_WINDOW = 1
MAX_AUCTION_WINDOW = 86_400

class DeploymentError(ZkclearError):
    """A deployment failed or does not match what the off-chain code expects."""


@dataclass(frozen=True)
class PoolSetup:
    """Everything a deployment fixes, apart from the epoch verifier.

    ``owners``/``threshold``/``delay``: the Governance multisig and its time-lock
    (seconds). ``reporters``/``quorum``/``max_move_bp``/``max_age``/``breaker_delay``:
    the oracle (``quorum`` odd; a median beyond ``max_move_bp`` of the previous price
    becomes final ``breaker_delay`` seconds after it is posted, docs/protocol.md "Oracle").
    ``token``: an existing ERC-20 to use as collateral; None deploys ``TestCollateral``.
    ``withdrawal_timeout``: seconds after which an unserved withdrawal request lets
    anyone freeze the pool (governed; docs/protocol.md, "Liveness").
    ``instruments``: the fixed instrument table (docs/protocol.md, "Instruments"); ()
    keeps ``params``' table (M plain futures unless the parameters name one). Given, it
    becomes the parameters' table (``params.with_instruments``), so ``params.hash()`` is
    the on-chain paramsHash. ``max_funding_bp``: the oracle's governed funding clamp.
    ``auction_reserve_bp``/``auction_window``: the governed auction of the house's lot
    (reserve in bp of the lot's margin bound; seconds of commits, then of reveals;
    ``4 * auction_window <= withdrawal_timeout``).
    """

    config: PoolConfig
    params: RiskParams
    genesis_prices: tuple[int, ...]
    owners: tuple[str, ...]
    threshold: int
    reporters: tuple[str, ...]
    quorum: int
    operator: str
    house_account: str
    house_vkh: int = 0
    delay: int = 3600
    max_move_bp: int = 2_000
    max_age: int = 3600
    token: str | None = None
    breaker_delay: int = 600
    withdrawal_timeout: int = DEFAULT_WITHDRAWAL_TIMEOUT
    instruments: tuple[Instrument, ...] = ()
    max_funding_bp: int = DEFAULT_MAX_FUNDING_BP
    auction_reserve_bp: int = DEFAULT_AUCTION_RESERVE_BP
    auction_window: int = DEFAULT_AUCTION_WINDOW

    def __post_init__(self) -> None:
        table = tuple(self.instruments)
        if table and table != self.params.instruments:
            if any(i != Instrument() for i in self.params.instruments):
                raise ParamsError("the instrument table given is not the risk parameters' "
                                  "(give it in one place)")
            object.__setattr__(self, "params", self.params.with_instruments(table))
        object.__setattr__(self, "instruments", self.params.instruments)
        self.params.check_config(self.config)
        if not 0 <= self.max_funding_bp <= bounds.BP:
            raise ParamsError(f"max_funding_bp must be in 0..{bounds.BP}, "
                              f"got {self.max_funding_bp}")
        check_auction_params(self.auction_reserve_bp, self.auction_window,
                             self.withdrawal_timeout)
        object.__setattr__(self, "genesis_prices", check_prices(
            tuple(self.genesis_prices), self.config.n_instruments, "genesis prices",
            self.instruments))
        object.__setattr__(self, "owners", tuple(self.owners))
        object.__setattr__(self, "reporters", tuple(self.reporters))

    def genesis_state(self) -> PoolState:
        return PoolState.genesis(self.config, self.genesis_prices, self.house_vkh)


def check_auction_params(reserve_bp: int, window: int, withdrawal_timeout: int) -> None:
    """The contracts' bounds of the auction parameters (``InvalidAuctionParams``,
    ``AuctionWindowTooLong``), as a :class:`ParamsError` before anything is sent."""
    if not 0 <= reserve_bp <= bounds.BP:
        raise ParamsError(f"auction_reserve_bp must be in 0..{bounds.BP}, got {reserve_bp}")
    if not MIN_AUCTION_WINDOW <= window <= MAX_AUCTION_WINDOW:
        raise ParamsError(f"auction_window must be in {MIN_AUCTION_WINDOW}.."
                          f"{MAX_AUCTION_WINDOW} seconds, got {window}")
    if 4 * window > withdrawal_timeout:
        raise ParamsError(f"auction_window {window} s: 4 x the window must not exceed the "
                          f"withdrawal timeout ({withdrawal_timeout} s), or a running auction "
                          "could hold a close until the pool may be frozen")


def pool_id(chain_id: int, house: str) -> str:
    """``"<chain id>:<house address, lower case>"``: the one spelling escrows are bound to."""
    if not Web3.is_address(house):
        raise ValueError(f"not an address: {house!r}")
    return f"{int(chain_id)}:{house.lower()}"


def parse_pool_id(text: str) -> str:
    """Normalise a user-given ``"<chain id>:<house address>"`` (any address case)."""
    chain_id, sep, house = text.strip().partition(":")
    if not sep or not chain_id.isdigit() or not Web3.is_address(house):
        raise ValueError(f"a pool id is \"<chain id>:<ClearingHouse address>\", got {text!r}")
    return pool_id(int(chain_id), house)


@dataclass
class Deployment:
    """Where the system lives on one chain (JSON-serialisable)."""

    chain_id: int
    addresses: dict[str, str]
    config: PoolConfig
    first_block: int
    gas: dict[str, int] = field(default_factory=dict)

    def address(self, name: str) -> ChecksumAddress:
        return Web3.to_checksum_address(self.addresses[name])

    @property
    def pool_id(self) -> str:
        """The pool id bound into escrow blobs: ``"<chain id>:<house address, lower
        case>"`` (docs/protocol.md, "Escrow of K")."""
        return pool_id(self.chain_id, self.address("ClearingHouse"))

    def to_json(self) -> dict[str, Any]:
        """The ``zkclear-deployment-v1`` document (:class:`zkclear.schemas.DeploymentFile`)."""
        return dump(DeploymentFile(chain_id=self.chain_id, addresses=self.addresses,
                                   config=DeploymentConfig(**asdict(self.config)),
                                   first_block=self.first_block, gas=self.gas))

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | str | bytes,
                  where: str = "the deployment") -> Deployment:
        """A deployment from its document (a file without ``format`` is read as v1)."""
        doc = parse(DeploymentFile, d, where=where, error=DeploymentError)
        return cls(doc.chain_id, dict(doc.addresses), doc.config.to_engine(),
                   doc.first_block, dict(doc.gas))

    def save(self, path: Path) -> None:
        write_json_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> Deployment:
        what = "the deployment file"
        return cls.from_json(read_file(path, what, DeploymentError), f"{what} {path}")
