"""The public chain data of a pool, as the audit and the operator's recovery read it.

:class:`ChainView` fetches the clearing house's logs since deployment in one
``eth_getLogs`` query (a node scans its blocks once, not once per event type), decodes
them with the contract's ABI and answers the questions both readers ask: the epoch's
events in accumulator order (checked against the on-chain accumulator and count), the
risk parameters an epoch was closed with (``EpochClosed.paramsHash`` matched to a
``RiskParamsSet`` log, whose parameters must hash to it), the closed and accepted epochs
and their published exit data. Anyone can read all of it: no key is involved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eth_utils import event_abi_to_log_topic

from zkclear import bounds
from zkclear.chain.client import Client
from zkclear.clearing.auction import Award, Lot, LotMismatch, verify_lot
from zkclear.clearing.events import Event, Kind, accumulate
from zkclear.clearing.instruments import Instrument
from zkclear.clearing.params import ParamsError, RiskParams
from zkclear.clearing.state import HOUSE
from zkclear.clearing.waterfall import Layers
from zkclear.errors import ZkclearError
from zkclear.field import P

__all__ = ["ChainDataError", "ChainView", "MemberView", "find_params", "hex32"]

log = logging.getLogger(__name__)


class ChainDataError(ZkclearError):
    """The node's logs do not rebuild what the contract says (incomplete logs?)."""


def hex32(x: int) -> str:
    """A field element or word as ``0x`` and 64 hex digits (other integers in decimal)."""
    return "0x" + x.to_bytes(32, "big").hex() if 0 <= x < 2**256 else str(x)


def find_params(params_set: Iterable[Mapping[str, Any]], params_hash: int,
                n_instruments: int, instruments: Sequence[Instrument] = ()) -> RiskParams:
    """The risk parameters of the latest ``RiskParamsSet`` (its ``args``) announcing
    ``params_hash``, with the deployment's instrument table (() = plain futures);
    :class:`ParamsError` if none does or its parameters hash otherwise."""
    for args in reversed(list(params_set)):
        if int(args["paramsHash"]) != params_hash:
            continue
        params = RiskParams.from_log(args, n_instruments, instruments)
        if params.hash() != params_hash:
            raise ParamsError(f"RiskParamsSet announces paramsHash {hex32(params_hash)} "
                              f"but its parameters hash to {hex32(params.hash())}")
        return params
    raise ParamsError(f"no RiskParamsSet event has paramsHash {hex32(params_hash)}")


class ChainView:
    """The clearing house's logs since deployment, fetched once and decoded."""

    def __init__(self, client: Client) -> None:
        self.client = client
        house = client.house
        abis: list[Any] = list(house.abi)
        by_topic = {event_abi_to_log_topic(abi): getattr(house.events, abi["name"])()
                    for abi in abis if abi.get("type") == "event"}
        raw = client.w3.eth.get_logs({"address": house.address,
                                      "fromBlock": client.deployment.first_block,
                                      "toBlock": "latest"})
        self._by_name: dict[str, list[Any]] = {}
        for entry in raw:
            ev = by_topic.get(bytes(entry["topics"][0])) if entry["topics"] else None
            if ev is not None:
                self._by_name.setdefault(ev.event_name, []).append(ev.process_log(entry))
        log.debug("read %d clearing-house logs from block %d", len(raw),
                  client.deployment.first_block)
        self.closed: dict[int, Any] = {int(a["epoch"]): a for a in self.args("EpochClosed")}
        self.accepted: dict[int, Any] = {int(e["args"]["epoch"]): e
                                         for e in self.logs("EpochAccepted")}
        self.exit_data: dict[int, list[int]] = {
            int(a["epoch"]): [int(x) for x in a["exitData"]]
            for a in self.args("ExitDataPublished")}
        self.waterfalls: dict[int, Layers] = {
            int(a["epoch"]): Layers(own=int(a["fundOwn"]), house=int(a["fundHouse"]),
                                    fund=int(a["fundShared"]), haircut=int(a["fundHaircut"]),
                                    fund_base=int(a["fundBase"]), gains=int(a["fundGains"]))
            for a in self.args("DefaultWaterfall")}
        self._awards: dict[int, Award | None] = {}
        self.cover2: dict[int, tuple[bool, int]] = {
            int(a["epoch"]): (bool(a["met"]), int(a["dfScaleNext"]))
            for a in self.args("Cover2")}

    def logs(self, name: str, **filters: int) -> list[Any]:
        """The decoded ``name`` logs (``args``, ``transactionHash``, ``blockNumber``, ...)
        whose integer arguments equal ``filters``, in chain order."""
        return [e for e in self._by_name.get(name, [])
                if all(int(e["args"][k]) == v for k, v in filters.items())]

    def args(self, name: str, **filters: int) -> list[Any]:
        """The arguments of :meth:`logs`."""
        return [e["args"] for e in self.logs(name, **filters)]

    def events_of(self, epoch: int) -> list[Event]:
        """The epoch's events in accumulator order, checked against the on-chain
        accumulator and count (as :meth:`Client.epoch_events` does, from these logs)."""
        logs = sorted(self.args("EpochEvent", epoch=epoch), key=lambda a: int(a["index"]))
        events = [Event(Kind(int(a["kind"])), int(a["slot"]), int(a["value"])) for a in logs]
        info = self.client.epoch_info(epoch)
        if [int(a["index"]) for a in logs] != list(range(len(logs))) \
                or len(events) != info["nEvents"] or accumulate(events) != info["eventsAcc"]:
            raise ChainDataError(f"epoch {epoch}: the event logs do not rebuild the on-chain "
                                 "accumulator (incomplete logs from the node?)")
        return events

    def params_for(self, params_hash: int) -> RiskParams:
        """The risk parameters announced with ``params_hash`` (:func:`find_params`)."""
        return find_params(self.args("RiskParamsSet"), params_hash,
                           self.client.deployment.config.n_instruments,
                           self.client.instruments())

    def df_scale(self, epoch: int) -> int | None:
        """The dfScale ``epoch`` was cleared with: the previous accepted epoch's
        dfScaleNext (0 before the first), None if that epoch is not accepted."""
        if epoch <= 1:
            return 0
        c2 = self.cover2.get(epoch - 1)
        return None if c2 is None else c2[1]

    def award(self, epoch: int) -> Award | None:
        """The award ``epoch`` was closed with (the auction of the house's lot), or None."""
        if epoch not in self._awards:
            self._awards[epoch] = self.client.award_of(epoch) if epoch in self.closed else None
        return self._awards[epoch]

    def lot_opens(self, epoch: int, lot: Sequence[int]) -> bool:
        """``lot`` is the house's positions after ``epoch``: with the house's collateral
        and vkh (public), its leaf is the first word of the epoch's exit data (the house's
        nonce is 0; docs/protocol.md, "The auction of the house's lot")."""
        data, c0 = self.exit_data.get(epoch), self.house_collateral(epoch)
        if not data or c0 is None:
            return False
        vkh0 = int(self.client.call(self.client.house.functions.vkhOf(HOUSE)))
        try:
            verify_lot(Lot(epoch, c0, tuple(lot), vkh0), data)
        except (LotMismatch, TypeError):
            return False
        return True

    def house_collateral(self, epoch: int) -> int | None:
        """The house's collateral after an accepted epoch, from its published exit data
        (the last word, signed mod r), or None if not published."""
        data = self.exit_data.get(epoch)
        if not data:
            return None
        c0 = data[bounds.exit_data_slots(len(data))]
        return c0 - P if c0 > P // 2 else c0


class MemberView(ChainView):
    """A :class:`ChainView` with one member slot's logs indexed by epoch (the audit's)."""

    def __init__(self, client: Client, slot: int) -> None:
        super().__init__(client)
        self.slot = slot
        self.registered = self.args("MemberRegistered", slot=slot)
        self.slot_events = self.args("EpochEvent", slot=slot)
        self.excluded = {int(a["epoch"]) for a in self.args("ReportExcluded", slot=slot)}
        self.reports: dict[int, list[Any]] = {}
        for a in self.args("ReportCommitted", slot=slot):
            self.reports.setdefault(int(a["epoch"]), []).append(a)
        self.liquidated: dict[int, int] = {}
        for a in self.args("Liquidated", slot=slot):
            self.liquidated[int(a["epoch"])] = self.liquidated.get(int(a["epoch"]), 0) + 1
        self.paid: dict[int, list[Any]] = {}
        for a in self.args("WithdrawalPaid", slot=slot):
            self.paid.setdefault(int(a["epoch"]), []).append(a)
        self.refused: dict[int, list[int]] = {}
        for a in self.args("WithdrawalRefused", slot=slot):
            self.refused.setdefault(int(a["epoch"]), []).append(int(a["amount"]))
