"""The pool file (what ``zkclear deploy`` deploys), its risk parameters (also the file of
``zkclear governance propose risk-params``) and ``deployment.json`` (where a deployed pool
lives).

The engine's :class:`~zkclear.clearing.params.PoolConfig` and
:class:`~zkclear.clearing.params.RiskParams` check the values: each record builds them
while it is validated, so a bad value is refused with the path of the record that holds
it (``risk: penalty_bp = 20000 is outside [0, 10000]``).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from zkclear import bounds
from zkclear.clearing.instruments import Instrument
from zkclear.clearing.params import PoolConfig, RiskParams

from .base import U64, Address, EngineRecord, Record

#: The ``format`` of a deployment file (files written before it was added have none).
DEPLOYMENT_FORMAT: Final = "zkclear-deployment-v1"


class Risk(EngineRecord):
    """SPAN-like risk parameters (docs/protocol.md, "Margin"): the pool file's ``risk``
    object, and the file a ``risk-params`` proposal reads."""

    im_factor_bp: int = Field(description="initial margin / maintenance margin, bp (>= 10000)")
    penalty_bp: int = Field(description="liquidation penalty, bp of maintenance margin")
    position_limits: list[int] = Field(description="largest |position| per instrument")
    shocks: list[list[int]] = Field(description="per scenario, the price move of each "
                                    "instrument in bp")
    df_floor: int = Field(0, description="default fund: least contribution of a member, "
                          "minor units")
    df_share_bp: int = Field(0, description="default fund: least share of a member's own "
                             "stress loss, bp")
    stress_bp: int = Field(bounds.BP, description="Cover-2 stress: the margin scenarios "
                           "scaled by this, bp (>= 10000)")
    skin_cap: int = Field(bounds.SKIN_UNLIMITED, description="the house's skin in the "
                          "game: most of its collateral the waterfall uses, minor units")

    def to_engine(self) -> RiskParams:
        return RiskParams(self.im_factor_bp, self.penalty_bp, tuple(self.position_limits),
                          tuple(tuple(row) for row in self.shocks), (), self.df_floor,
                          self.df_share_bp, self.stress_bp, self.skin_cap)


class InstrumentSpec(EngineRecord):
    """One row of the pool's fixed instrument table (docs/protocol.md, "Instruments"):
    a future, a perpetual, a dated future (``expiry`` epoch) or an option (``underlying``
    index, ``strike`` ticks, ``right``, ``expiry``)."""

    kind: Literal["future", "perpetual", "dated", "option"] = "future"
    name: str | None = Field(None, description="a label")
    expiry: U64 | None = Field(None, description="epoch of final settlement")
    underlying: int | None = Field(None, description="an option's underlying instrument")
    strike: int | None = Field(None, description="an option's strike, ticks")
    right: Literal["call", "put"] | None = Field(None, description="an option's right")

    def to_engine(self) -> Instrument:
        return Instrument.from_json(self.model_dump(exclude_none=True))


class PoolFile(EngineRecord):
    """Everything a deployment fixes apart from the epoch verifier's keys
    (:class:`zkclear.chain.contracts.PoolSetup`)."""

    format: Literal["zkclear-pool-v1"]
    slots: int = Field(description="N, a power of two; slot 0 is the house")
    instruments: int | list[InstrumentSpec] = Field(
        description="M plain futures, or the instrument table (M rows)")
    scenarios: int = Field(description="K margin scenarios (rows of risk.shocks)")
    risk: Risk
    genesis_prices: list[int] = Field(description="one price (ticks) per instrument")
    owners: list[Address] = Field(description="governance owners")
    threshold: U64 = Field(description="confirmations a governance proposal needs")
    delay: U64 = Field(description="governance time-lock, seconds")
    reporters: list[Address] = Field(description="oracle reporters")
    quorum: U64 = Field(description="posts per price (odd: the final price is the median)")
    max_move_bp: U64 = Field(description="largest price move per epoch before the breaker")
    max_age: U64 = Field(description="seconds before a posted price is stale")
    breaker_delay: U64 | None = Field(None, description="seconds a median beyond "
                                      "max_move_bp waits before it is final (default 600)")
    withdrawal_timeout: U64 | None = Field(None, description="seconds before an unserved "
                                           "withdrawal lets anyone freeze the pool "
                                           "(default one day)")
    max_funding_bp: U64 | None = Field(None, description="largest funding per epoch, bp of "
                                       "the mark (default 30)")
    auction_reserve_bp: U64 | None = Field(None, description="the auction of the house's "
                                           "lot: the reserve, bp of the lot's margin bound "
                                           "(default 10000)")
    auction_window: U64 | None = Field(None, description="the auction of the house's lot: "
                                       "seconds of commits, then of reveals (default 600; "
                                       "at most a quarter of withdrawal_timeout)")
    operator: Address
    house_account: Address
    token: Address | None = Field(description="the collateral ERC-20; null deploys a "
                                  "test token (local chains)")

    def table(self) -> tuple[Instrument, ...]:
        """The instrument table (() for M plain futures)."""
        if isinstance(self.instruments, int):
            return ()
        return tuple(i.to_engine() for i in self.instruments)

    def to_engine(self) -> tuple[PoolConfig, RiskParams]:
        """The pool's sizes and risk parameters (with the table), checked together."""
        table = self.table()
        m = len(table) if table else self.instruments
        assert isinstance(m, int)
        config = PoolConfig(self.slots, m, self.scenarios)
        params = self.risk.to_engine()
        if table:
            params = params.with_instruments(table)
        params.check_config(config)
        return config, params


class DeploymentConfig(EngineRecord):
    """The pool's sizes (:class:`~zkclear.clearing.params.PoolConfig`)."""

    n_slots: int
    n_instruments: int
    n_scenarios: int
    max_events: int = 0

    def to_engine(self) -> PoolConfig:
        return PoolConfig(self.n_slots, self.n_instruments, self.n_scenarios, self.max_events)


class DeploymentFile(Record):
    """Where a deployed pool lives on one chain (:class:`zkclear.chain.contracts.Deployment`)."""

    format: Literal["zkclear-deployment-v1"] = Field(
        DEPLOYMENT_FORMAT, description="absent in files written before the tag was added")
    chain_id: U64
    addresses: dict[str, Address] = Field(description="contract name -> address")
    config: DeploymentConfig
    first_block: U64 = Field(description="the block of the first deployment transaction")
    gas: dict[str, U64] = Field(default_factory=dict, description="deployment gas per "
                                "contract")
