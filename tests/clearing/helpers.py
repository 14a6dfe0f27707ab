"""Test view keys and committed reports for the engine, circuit and audit tests (plain
functions and a constant, called with arguments and at import time: not fixtures).

The epoch clears a report only if its on-chain commitment is the one of the report's
ciphertext under the slot's epoch key, and the key is the one the slot's leaf commits to
(docs/protocol.md, "Report cipher"). Tests give every slot a fixed key, ``KEYS[slot]``;
members' leaves and REGISTER events carry its ``vkh``.
"""

from __future__ import annotations

from collections.abc import Mapping

from zkclear.clearing.events import Event, Kind
from zkclear.clearing.report import Report
from zkclear.poseidon import poseidon
from zkclear.privacy.cipher import encrypt_report
from zkclear.privacy.viewkeys import MemberKey

#: Fixed, public test keys (never use such keys for real members).
KEYS = {slot: MemberKey(slot, poseidon([0x7E57, slot])) for slot in range(256)}


def vkh(slot: int) -> int:
    return KEYS[slot].vkh


def commitment(slot: int, epoch: int, report: Report) -> int:
    return encrypt_report(KEYS[slot], epoch, report).commitment()


def committed(reports: Mapping[int, Report], epoch: int) -> list[Event]:
    """COMMIT events of ``reports`` (slot -> report) for ``epoch``, in slot order."""
    return [Event(Kind.COMMIT, i, commitment(i, epoch, r)) for i, r in sorted(reports.items())]


def keys_of(reports: Mapping[int, Report]) -> dict[int, MemberKey]:
    return {i: KEYS[i] for i in reports}


def registered(slots: range | list[int] | tuple[int, ...]) -> list[Event]:
    return [Event(Kind.REGISTER, i, vkh(i)) for i in slots]


def first_epoch_orders(deposit_3: int = 800,
                       withdrawals: bool = True) -> tuple[dict[int, Report], list[Event]]:
    """The engine's and circuit's first story epoch (N=4, M=2 at prices 100, 200): members
    1-3 register and deposit (the house 10,000), 1 buys 10 A from 2 and sells 4 B to 3,
    and 1 and 2 ask for 700 and 1,900 back."""
    reports = {1: Report((10, -4), -200, 5), 2: Report((-10, 0), 1000, 6),
               3: Report((0, 4), -800, 7)}
    events = registered((1, 2, 3))
    events += [Event(Kind.DEPOSIT, 0, 10_000), Event(Kind.DEPOSIT, 1, 1000),
               Event(Kind.DEPOSIT, 2, 1000), Event(Kind.DEPOSIT, 3, deposit_3)]
    events += committed(reports, 1)
    if withdrawals:
        events += [Event(Kind.WITHDRAW, 1, 700), Event(Kind.WITHDRAW, 2, 1900)]
    return reports, events
