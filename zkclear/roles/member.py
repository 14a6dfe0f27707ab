"""The member client: talks to the operator over HTTP and to the chain through
:class:`zkclear.chain.client.Client`.

A member holds three keys: its Ethereum account key (signs every HTTP request, see
:mod:`zkclear.operator.signing`; its account is the one governance registered for the slot),
its X25519 transport key (seals trade lists and the enrolment message,
:mod:`zkclear.privacy.transport`) and its view key ``K`` (encrypts its report,
:mod:`zkclear.privacy.cipher`; handed to the operator at enrolment inside a sealed message).

Per epoch: :meth:`MemberClient.submit_trades` sends the trade list; after netting,
:meth:`MemberClient.commit` fetches the netted result, checks it against the trades it
sent (every accepted trade is one of its own, every one of its trades is accepted or
rejected with a reason, the report nets exactly its accepted trades at the chain's final
prices), encrypts the report under its view key, signs the commit digest (epoch, slot,
C, ciphertext) with its account and hands it to the operator, who posts it with
``closeEpoch``. Committing is idempotent: if the slot's commitment is already on-chain,
it is compared with the expected one and nothing is sent again; sending it again to the
operator before the close replaces nothing.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from zkclear.chain.client import Client
from zkclear.clearing.events import Kind
from zkclear.clearing.report import Report
from zkclear.clearing.trades import TradeReport
from zkclear.errors import ZkclearError
from zkclear.operator.signing import sign_request
from zkclear.privacy.cipher import encrypt_report
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.transport import TransportSender
from zkclear.privacy.viewkeys import MemberKey
from zkclear.schemas import EthKeyFile, NettedReport, Trade, TradeList, dump, format_of, parse


class MemberError(ZkclearError):
    """The operator refused a request (``code``, ``status``) or the member's check failed."""

    def __init__(self, message: str, code: str = "member_error", status: int = 0) -> None:
        self.code, self.status = code, status
        super().__init__(message)


class ResultMismatchError(MemberError):
    """The operator's netted result does not match the member's own trades."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "result_mismatch")


def expected_report(accepted: Sequence[Trade], prices: Sequence[int],
                    n_instruments: int) -> tuple[list[int], int]:
    """(delta, tradeCash) of a member's accepted trades at settlement ``prices``."""
    delta = [0] * n_instruments
    cash = 0
    for t in accepted:
        delta[t.instrument] += t.side * t.size
        cash += t.side * t.size * (int(prices[t.instrument]) - t.price)
    return delta, cash


def check_result(result: Mapping[str, Any], sent: Sequence[TradeReport | Mapping[str, Any]],
                 prices: Sequence[int], n_instruments: int) -> Report | None:
    """The member's checks of its netted result (ResultMismatchError if one fails)."""
    mine_list = TradeList.read(sent, where="the trades sent", error=MemberError).trades
    mine = {t.trade_id: t for t in mine_list}
    accepted = TradeList.read(result.get("accepted") or [],
                              where="the operator's accepted trades",
                              error=ResultMismatchError).trades
    if len(mine) != len(mine_list):
        mine_ids = [t.trade_id for t in mine_list]
        dup = {i for i in mine_ids if mine_ids.count(i) > 1}
        if any(t.trade_id in dup for t in accepted):
            raise ResultMismatchError(f"trades {sorted(map(str, dup))} were sent twice but "
                                      "accepted")
    for t in accepted:
        if mine.get(t.trade_id) != t:
            raise ResultMismatchError(f"accepted trade {t.trade_id!r} is not one this "
                                      "member sent")
    decided = {t.trade_id for t in accepted} | {
        r["trade_id"] for r in result.get("rejected") or [] if r["trade_id"] is not None}
    whole = any(r["trade_id"] is None for r in result.get("rejected") or [])
    missing = [i for i in mine if i not in decided]
    if missing and not whole:
        raise ResultMismatchError(f"trades {missing!r} are neither accepted nor rejected")
    if [str(p) for p in result.get("prices") or []] != [str(p) for p in prices]:
        raise ResultMismatchError(f"the operator netted at prices {result.get('prices')}, the "
                                  f"oracle's final prices are {list(prices)}")
    delta, cash = expected_report(accepted, prices, n_instruments)
    rep = result.get("report")
    if rep is None:
        if any(delta) or cash:
            raise ResultMismatchError("the operator gives no report but the accepted trades "
                                      "do not net to zero")
        return None
    report = parse(NettedReport, rep, where="the operator's report",
                   error=ResultMismatchError).to_engine()
    if list(report.delta) != delta or report.trade_cash != cash:
        raise ResultMismatchError(f"the report (delta {list(report.delta)}, tradeCash "
                                  f"{report.trade_cash}) does not net the accepted trades "
                                  f"(delta {delta}, tradeCash {cash})")
    return report


@dataclass
class MemberClient:
    """One member's client. ``chain`` may be None for HTTP-only use (no commit)."""

    base_url: str
    eth_key: Any  # the account's private key (hex str or bytes)
    transport: X25519KeyPair
    view_key: MemberKey
    chain: Client | None = None
    timeout: float = 120.0
    sent: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    _pool: dict[str, Any] | None = None
    _http: httpx.Client | None = None

    def __post_init__(self) -> None:
        from eth_account import Account

        self.address = Account.from_key(self.eth_key).address
        self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> MemberClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def slot(self) -> int:
        return self.view_key.slot

    # -- HTTP ------------------------------------------------------------------------

    def pool(self) -> dict[str, Any]:
        if self._pool is None:
            self._pool = self._send("GET", "/v1/pool", signed=False)
        return self._pool

    def _sender(self) -> TransportSender:
        p = self.pool()
        return TransportSender(self.transport, self.slot,
                               bytes.fromhex(p["operator_transport_public"][2:]), p["pool_id"])

    def _send(self, method: str, path: str, body: bytes = b"", *, signed: bool = True,
              content_type: str = "application/json") -> Any:
        assert self._http is not None, "client closed"
        headers = {"content-type": content_type} if body else {}
        if signed:
            headers |= sign_request(self.eth_key, self.pool()["pool_id"], method, path, body)
        try:
            resp = self._http.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise MemberError(f"{method} {self.base_url}{path}: {exc}", "unreachable") from exc
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if resp.status_code >= 400:
            err = (doc or {}).get("error", {}) if isinstance(doc, dict) else {}
            raise MemberError(f"operator refused {method} {path} ({resp.status_code} "
                              f"{err.get('code', '?')}): {err.get('message', resp.text[:200])}",
                              err.get("code", "http_error"), resp.status_code)
        return doc

    def enrol(self) -> dict[str, Any]:
        """Hand the operator this member's transport key and (sealed) view key."""
        payload = json.dumps({"view_key": "0x" + self.view_key.key.reveal().to_bytes(
            32, "big").hex()}).encode()
        msg = self._sender().seal(payload, 0, time.time_ns())
        body = json.dumps({"transport_public": "0x" + self.transport.public_bytes.hex(),
                           "message": base64.b64encode(msg).decode()}).encode()
        return self._send("POST", "/v1/members/enrol", body)

    def intake_epoch(self) -> int:
        return int(self._send("GET", "/v1/pool", signed=False)["intake_epoch"])

    def submit_trades(self, trades: TradeList | Sequence[TradeReport | Mapping[str, Any]],
                      epoch: int | None = None) -> dict[str, Any]:
        """Seal and send this epoch's trade list (replaces an earlier one before netting)."""
        e = self.intake_epoch() if epoch is None else epoch
        items = TradeList.read(trades, where="the trade list", error=MemberError).to_json()
        msg = self._sender().seal(json.dumps({"trades": items}).encode(), e, time.time_ns())
        out = self._send("POST", f"/v1/epochs/{e}/trades", msg,
                         content_type="application/octet-stream")
        self.sent[e] = items
        return out

    def result(self, epoch: int) -> dict[str, Any]:
        return self._send("GET", f"/v1/epochs/{epoch}/me")

    def epoch(self, epoch: int) -> dict[str, Any]:
        return self._send("GET", f"/v1/epochs/{epoch}", signed=False)

    def lot(self) -> dict[str, Any]:
        """The operator's opening of the house's leaf after the last accepted epoch (the
        lot; unchecked: :func:`zkclear.roles.auction.verified_lot` checks it)."""
        return self._send("GET", "/v1/lot")

    # -- checks and chain ---------------------------------------------------------------

    def _chain(self) -> Client:
        if self.chain is None:
            raise MemberError("this member client has no chain connection", "no_chain")
        return self.chain

    def verified_report(self, epoch: int,
                        trades: Sequence[Mapping[str, Any]] | None = None) -> Report | None:
        """Fetch and check the netted result against ``trades`` (default: what this client
        sent for the epoch) and the chain's final prices."""
        sent = trades if trades is not None else self.sent.get(epoch)
        if sent is None:
            raise MemberError(f"no record of the trades sent for epoch {epoch}: pass them",
                              "no_trades")
        result = self.result(epoch)
        if not result.get("netted"):
            raise MemberError(f"epoch {epoch} is not netted yet (phase {result['phase']})",
                              "not_netted")
        prices = self._chain().final_prices(epoch)
        return check_result(result, sent, prices, len(prices))

    def commit(self, epoch: int,
               trades: Sequence[Mapping[str, Any]] | None = None) -> int | None:
        """Verify, encrypt and commit this epoch's report on-chain; the commitment (None
        if the member has nothing to report). Idempotent."""
        report = self.verified_report(epoch, trades)
        if report is None:
            return None
        cl = self._chain()
        ct = encrypt_report(self.view_key, epoch, report)
        c = ct.commitment()
        done = {e.slot: e.value for e in cl.epoch_events(epoch) if e.kind == Kind.COMMIT} \
            if cl.open_epoch() >= epoch else {}
        if self.slot in done:
            if done[self.slot] != c:
                raise MemberError(f"slot {self.slot} already committed another value in "
                                  f"epoch {epoch}", "already_committed")
            return c
        if cl.open_epoch() != epoch:
            raise MemberError(f"the chain's open epoch is {cl.open_epoch()}, not {epoch}: "
                              "cannot commit now", "epoch_not_open")
        data = ct.to_bytes()
        signed = cl.sign_commit(self.eth_key, epoch, self.slot, c, data)
        body = json.dumps({"commitment": str(c), "ciphertext": "0x" + data.hex(),
                           "signature": "0x" + signed.signature.hex()}).encode()
        self._send("POST", f"/v1/epochs/{epoch}/commit", body)
        return c

    def deposit(self, amount: int) -> Any:
        return self._chain().deposit(amount, sender=self.address)

    def post_deposit(self, amount: int) -> dict[str, Any]:
        """Sign a deposit of ``amount`` in the chain's open epoch and hand it to the
        operator, who posts it with closeEpoch (cheaper than :meth:`deposit`; if it is
        not posted, deposit yourself). Grants the clearing house a standing allowance
        first if the current one is short (one transaction, once)."""
        cl = self._chain()
        cl.check_deposit(amount, self.address)  # AmountOutOfRange, NotMember (by name)
        if cl.balance(self.address) < amount:
            raise MemberError(f"account {self.address} holds {cl.balance(self.address)} "
                              f"tokens, less than {amount}", "insufficient_balance")
        if cl.allowance(self.address) < amount:
            cl.approve(2**256 - 1, sender=self.address)
        epoch = cl.open_epoch()
        signed = cl.sign_deposit(self.eth_key, epoch, self.slot, amount)
        body = json.dumps({"amount": str(amount),
                           "signature": "0x" + signed.signature.hex()}).encode()
        return dict(self._send("POST", f"/v1/epochs/{epoch}/deposit", body))

    def request_withdrawal(self, amount: int) -> Any:
        return self._chain().request_withdrawal(amount, sender=self.address)

    def status(self) -> dict[str, Any]:
        cl = self._chain()
        return {"slot": self.slot, "address": self.address, "balance": cl.balance(self.address),
                "open_epoch": cl.open_epoch(), "last_accepted_epoch": cl.last_accepted_epoch()}


# -- files (the ``zkclear member`` commands) -------------------------------------------------

ETH_KEY_FORMAT = format_of(EthKeyFile)


def keygen(directory: Path, slot: int, eth_key: str | None = None) -> dict[str, Any]:
    """Create a member's key files in ``directory`` (never overwriting) and return what
    governance needs to register it: account, vkh (and the transport public key)."""
    from eth_account import Account

    from zkclear.privacy.keyfile import write_json_secret

    directory.mkdir(parents=True, exist_ok=True)
    acct = Account.from_key(eth_key) if eth_key else Account.create()
    write_json_secret(directory / "eth-key.json",
                      dump(EthKeyFile.tagged(key="0x" + bytes(acct.key).hex())))
    transport = X25519KeyPair.generate("member")
    transport.save(directory / "transport.json")
    view = MemberKey.generate(slot)
    view.save(directory / "viewkey.json")
    return {"slot": slot, "account": acct.address, "vkh": str(view.vkh),
            "transport_public": "0x" + transport.public_bytes.hex()}


def read_eth_key(path: Path) -> str:
    """The private key (0x hex) of a ``zkclear-eth-key-v1`` file (owner-only, see keyfile)."""
    from zkclear.privacy.keyfile import read_key_file

    return read_key_file(path, EthKeyFile, "Ethereum key file").key


def load_member(directory: Path, operator_url: str, chain_client: Client | None = None
                ) -> MemberClient:
    """A MemberClient from the key files :func:`keygen` wrote (trades sent earlier are
    read back from ``sent-<epoch>.json``)."""
    from zkclear.privacy.viewkeys import load_key

    eth_key = read_eth_key(directory / "eth-key.json")
    view = load_key(directory / "viewkey.json")
    if not isinstance(view, MemberKey):
        raise MemberError(f"{directory / 'viewkey.json'} holds an epoch key, not a member key")
    client = MemberClient(operator_url, eth_key,
                          X25519KeyPair.load(directory / "transport.json", "member"), view,
                          chain_client)
    for f in directory.glob("sent-*.json"):
        client.sent[int(f.stem.split("-")[1])] = TradeList.load(f, error=MemberError).to_json()
    return client


def save_sent(client: MemberClient, directory: Path, epoch: int) -> None:
    from zkclear.fsutil import write_json_atomic

    write_json_atomic(directory / f"sent-{epoch}.json", client.sent[epoch])
