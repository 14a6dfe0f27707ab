"""On-chain events of an epoch and their accumulator (docs/protocol.md, "Events").

acc_0 = 0, acc_{j+1} = Poseidon(acc_j, kind, slot, value); the contract computes the
same as members' transactions arrive, so the epoch proof binds every per-slot public
value through one field element.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from zkclear import bounds
from zkclear.field import P
from zkclear.poseidon import poseidon

from .params import ParamsError, PoolConfig
from .state import HOUSE


class Kind(IntEnum):
    COMMIT = 1
    DEPOSIT = 2
    WITHDRAW = 3
    REGISTER = 4


@dataclass(frozen=True)
class Event:
    kind: Kind
    slot: int
    value: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))
        if not 0 <= self.value < P:
            raise ParamsError(f"{self.kind.name} event value is not a field element")


def accumulate(events: Sequence[Event]) -> int:
    acc = 0
    for ev in events:
        acc = poseidon([acc, int(ev.kind), ev.slot, ev.value])
    return acc


@dataclass
class SlotEvents:
    commitment: int = 0
    deposit: int = 0
    withdrawal: int = 0
    registered: bool = False
    vkh: int = 0


@dataclass(frozen=True)
class EpochEvents:
    """The epoch's events, checked against the rules, aggregated per slot."""

    events: tuple[Event, ...]
    per_slot: tuple[SlotEvents, ...] = field(repr=False)

    @property
    def accumulator(self) -> int:
        return accumulate(self.events)

    @classmethod
    def build(cls, config: PoolConfig, events: Sequence[Event]) -> EpochEvents:
        if len(events) > config.max_events:
            raise ParamsError(f"{len(events)} events exceed the epoch's capacity "
                              f"of {config.max_events}")
        per = [SlotEvents() for _ in range(config.n_slots)]
        for j, ev in enumerate(events):
            where = f"event {j} ({ev.kind.name} for slot {ev.slot})"
            if not 0 <= ev.slot < config.n_slots:
                raise ParamsError(f"{where}: unknown slot (the pool has {config.n_slots})")
            s = per[ev.slot]
            if ev.kind == Kind.COMMIT:
                if ev.slot == HOUSE:
                    raise ParamsError(f"{where}: the house does not report")
                if ev.value == 0:
                    raise ParamsError(f"{where}: a commitment cannot be 0")
                if s.commitment:
                    raise ParamsError(f"{where}: a second commitment in one epoch")
                s.commitment = ev.value
            elif ev.kind in (Kind.DEPOSIT, Kind.WITHDRAW):
                if not 1 <= ev.value <= bounds.CASH.hi:
                    raise ParamsError(f"{where}: amount {ev.value} outside [1, 2^"
                                      f"{bounds.CASH_BITS} - 1]")
                if ev.kind == Kind.DEPOSIT:
                    if s.deposit:
                        raise ParamsError(f"{where}: a second deposit in one epoch")
                    s.deposit = ev.value
                else:
                    if ev.slot == HOUSE:
                        raise ParamsError(f"{where}: the house does not withdraw")
                    if s.withdrawal:
                        raise ParamsError(f"{where}: a second withdrawal request")
                    s.withdrawal = ev.value
            else:
                if s.registered:
                    raise ParamsError(f"{where}: registered twice in one epoch")
                if ev.value == 0:
                    raise ParamsError(f"{where}: a view-key commitment cannot be 0")
                s.registered, s.vkh = True, ev.value
        return cls(tuple(events), tuple(per))
