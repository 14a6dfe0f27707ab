"""Pool state: one leaf per slot, and the Poseidon Merkle state root.

Leaf of slot i = PoseidonChain(c, q[0..M-1], df, vkh, status, nonce) with signed values
encoded mod r; the root is the binary Poseidon Merkle root over the N leaves.
The nonce changes every epoch, so a leaf's hash (and every Merkle sibling) reveals
nothing about whether its contents changed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zkclear import bounds
from zkclear.field import P
from zkclear.fsutil import write_json_atomic
from zkclear.poseidon import poseidon, poseidon_chain

from .params import ParamsError, PoolConfig

HOUSE = 0


@dataclass(frozen=True)
class Leaf:
    collateral: int
    positions: tuple[int, ...]
    vkh: int = 0
    status: int = 0
    nonce: int = 0
    df: int = 0  # the default-fund contribution (docs/protocol.md, "Default fund")

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", tuple(self.positions))
        bounds.CASH.check(self.collateral, "collateral")
        if isinstance(self.df, bool) or not 0 <= self.df < 1 << bounds.CASH_BITS:
            raise ParamsError(f"default-fund contribution {self.df!r} is not a cash amount >= 0")
        for m, q in enumerate(self.positions):
            bounds.DELTA.check(q, f"position[{m}]")
        if self.status not in (0, 1):
            raise ParamsError(f"status must be 0 or 1, got {self.status}")
        for name in ("vkh", "nonce"):
            v = getattr(self, name)
            if not 0 <= v < P:
                raise ParamsError(f"{name} must be a canonical field element")

    def field_elements(self) -> list[int]:
        return [self.collateral % P, *(q % P for q in self.positions), self.df,
                self.vkh, self.status, self.nonce]

    def hash(self) -> int:
        return poseidon_chain(self.field_elements())

    @property
    def is_flat(self) -> bool:
        return not any(self.positions)


def merkle_root(leaves: Sequence[int]) -> int:
    """Binary Poseidon Merkle root of a power-of-two number of leaf hashes."""
    level = list(leaves)
    if not level or len(level) & (len(level) - 1):
        raise ValueError("merkle_root needs a power-of-two number of leaves")
    while len(level) > 1:
        level = [poseidon([level[i], level[i + 1]]) for i in range(0, len(level), 2)]
    return level[0]


@dataclass(frozen=True)
class PoolState:
    """The full private state after an epoch (the operator's and, per slot, members' view)."""

    config: PoolConfig
    epoch: int  # the last epoch applied (0 = genesis)
    leaves: tuple[Leaf, ...]
    prices: tuple[int, ...]  # the prices this state is marked at
    funding: tuple[int, ...] = ()  # the funding indices F it is marked at (() = zeros)
    risk_hash: int = 0  # the riskHash of the epoch that produced it (0 at genesis)
    df_scale: int = 0  # the contract's dfScale: the next epoch's scale (0 at genesis)
    _root: int | None = field(default=None, compare=False, repr=False)
    _hashes: tuple[int, ...] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "leaves", tuple(self.leaves))
        object.__setattr__(self, "funding",
                           tuple(self.funding) or (0,) * self.config.n_instruments)
        if len(self.leaves) != self.config.n_slots:
            raise ParamsError(f"{len(self.leaves)} leaves for {self.config.n_slots} slots")
        for i, leaf in enumerate(self.leaves):
            if len(leaf.positions) != self.config.n_instruments:
                raise ParamsError(f"slot {i}: {len(leaf.positions)} positions, "
                                  f"expected {self.config.n_instruments}")

    @classmethod
    def genesis(cls, config: PoolConfig, prices: Sequence[int],
                house_vkh: int = 0) -> PoolState:
        zero = (0,) * config.n_instruments
        leaves = [Leaf(0, zero, house_vkh, 1, 0)]
        leaves += [Leaf(0, zero) for _ in range(config.n_slots - 1)]
        return cls(config, 0, tuple(leaves), tuple(prices))

    def leaf_hashes(self) -> tuple[int, ...]:
        """Every leaf's hash, computed once (the root and the exit data both need them)."""
        if self._hashes is None:
            object.__setattr__(self, "_hashes", tuple(leaf.hash() for leaf in self.leaves))
        assert self._hashes is not None
        return self._hashes

    def root(self) -> int:
        if self._root is None:
            object.__setattr__(self, "_root", merkle_root(self.leaf_hashes()))
        assert self._root is not None
        return self._root

    def total_collateral(self) -> int:
        """Everything the pool holds: collateral and default-fund contributions."""
        return sum(leaf.collateral + leaf.df for leaf in self.leaves)

    def exit_leaves(self) -> list[int]:
        """The state's part of an epoch's exit data ``D``: the leaf hashes and the house's
        collateral mod r, published with each epoch's proof (``submitEpoch`` calldata, the
        slot masks follow: ``EpochResult.exit_data``) so that members can exit after a
        freeze (docs/protocol.md, "Freeze and escape"). Blinded leaves reveal nothing."""
        return [*self.leaf_hashes(), self.leaves[HOUSE].collateral % P]

    def with_leaves(self, leaves: Sequence[Leaf], epoch: int, prices: Sequence[int],
                    funding: Sequence[int] = (), risk_hash: int = 0,
                    df_scale: int = 0) -> PoolState:
        return replace(self, leaves=tuple(leaves), epoch=epoch, prices=tuple(prices),
                       funding=tuple(funding), risk_hash=risk_hash, df_scale=df_scale,
                       _root=None, _hashes=None)

    # -- persistence: plain JSON, integers as strings where they may exceed 2^53 ----------
    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "config": {"n_slots": c.n_slots, "n_instruments": c.n_instruments,
                       "n_scenarios": c.n_scenarios, "max_events": c.max_events},
            "epoch": self.epoch,
            "prices": [str(p) for p in self.prices],
            "funding": [str(f) for f in self.funding],
            "risk_hash": str(self.risk_hash),
            "df_scale": self.df_scale,
            "leaves": [{"c": str(lf.collateral), "q": [str(q) for q in lf.positions],
                        "vkh": str(lf.vkh), "status": lf.status, "nonce": str(lf.nonce),
                        "df": str(lf.df)}
                       for lf in self.leaves],
            "root": str(self.root()),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PoolState:
        cfg = PoolConfig(**data["config"])
        leaves = [Leaf(int(d["c"]), tuple(int(q) for q in d["q"]), int(d["vkh"]),
                       int(d["status"]), int(d["nonce"]), int(d.get("df", 0)))
                  for d in data["leaves"]]
        state = cls(cfg, int(data["epoch"]), tuple(leaves),
                    tuple(int(p) for p in data["prices"]),
                    tuple(int(f) for f in data.get("funding", ())),
                    int(data.get("risk_hash", 0)), int(data.get("df_scale", 0)))
        if "root" in data and int(data["root"]) != state.root():
            raise ParamsError("stored state root does not match the stored leaves")
        return state

    def save(self, path: Path) -> None:
        write_json_atomic(path, self.to_json(), mode=0o644)

    @classmethod
    def load(cls, path: Path) -> PoolState:
        return cls.from_json(json.loads(path.read_text()))
