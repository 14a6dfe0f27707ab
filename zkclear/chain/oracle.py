"""The oracle's side of the chain client: posting prices (marks, funding, the venues
they are the median of) directly or signed by each reporter and submitted as one batch
(:meth:`OracleCalls.sign_post`, :meth:`OracleCalls.post_signed_marks`), option risk
arrays, and reading the final market back (:meth:`OracleCalls.market`), with the venue
blob's encoding (:func:`encode_venues`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from zkclear.chain import contracts
from zkclear.chain import node as chain
from zkclear.chain.base import ClientBase
from zkclear.chain.commits import (
    SignedPost,
    prices_inner,
    recover_inner,
    sign_inner,
    split_signature,
)
from zkclear.clearing.instruments import (
    Instrument,
    Market,
    decode_arrays,
    encode_arrays,
    live_options,
    risk_hash,
)
from zkclear.errors import ZkclearError

# --- oracle venues ----------------------------------------------------------------------


def median(values: Sequence[int]) -> int:
    """The venues' median (PriceOracle._checkVenues): the middle value, or for an even
    count the floor of the mean of the two middle values."""
    if not values:
        raise ZkclearError("the median of no values")
    v = sorted(int(x) for x in values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) // 2


def venue_medians(venues: Mapping[str, Sequence[int]]) -> tuple[int, ...]:
    """Per instrument, the median over venues (name -> one price per instrument)."""
    if not venues:
        raise ZkclearError("no venues")
    widths = {len(p) for p in venues.values()}
    if len(widths) != 1:
        raise ZkclearError(f"the venues quote different numbers of instruments: "
                           f"{ {n: len(p) for n, p in venues.items()} }")
    (m,) = widths
    return tuple(median([p[i] for p in venues.values()]) for i in range(m))


def encode_venues(venues: Mapping[str, Sequence[int]]) -> bytes:
    """abi.encode(string[] names, uint256[][] prices), the PricesPosted ``venues`` blob."""
    names = list(venues)
    return abi_encode(["string[]", "uint256[][]"],
                      [names, [[int(p) for p in venues[n]] for n in names]])


def decode_venues(blob: bytes) -> dict[str, tuple[int, ...]]:
    """The venues of a PricesPosted event ({} when the reporter posted none)."""
    if not blob:
        return {}
    names, prices = abi_decode(["string[]", "uint256[][]"], blob)
    return {str(n): tuple(int(x) for x in p) for n, p in zip(names, prices, strict=True)}


# --- the client's oracle calls -----------------------------------------------------------


class OracleCalls(ClientBase):
    """:class:`~zkclear.chain.client.Client`'s PriceOracle methods."""

    def post_prices(self, epoch: int, prices: Sequence[int] | None = None, *, sender: str,
                    observed_at: int | None = None,
                    venues: Mapping[str, Sequence[int]] | None = None,
                    funding: Sequence[int] | None = None) -> Any:
        """Post ``epoch``'s prices (marks); with ``venues`` (name -> one price per
        instrument) the posted prices are their per-instrument median
        (:func:`venue_medians`) and the venues go into the PricesPosted event (the
        contract checks the median). ``funding``: one signed amount per lot and
        instrument (nonzero only for perpetuals; ``postMarks``), None posts zeros
        (``postPrices``)."""
        marks, blob, ts = self._post_values(prices, venues, observed_at)
        fns = self.oracle.functions
        if funding is None:
            return self.transact(fns.postPrices(epoch, ts, list(marks), blob), sender=sender)
        return self.transact(fns.postMarks(epoch, ts, list(marks), [int(f) for f in funding],
                                           blob), sender=sender)

    def _post_values(self, prices: Sequence[int] | None,
                     venues: Mapping[str, Sequence[int]] | None,
                     observed_at: int | None) -> tuple[tuple[int, ...], bytes, int]:
        """A post's marks (the venues' medians if given), venues blob and observedAt (the
        latest block's time unless given)."""
        blob = b""
        if venues is not None:
            med = venue_medians(venues)
            if prices is not None and tuple(prices) != med:
                raise ZkclearError(f"prices {tuple(prices)} are not the venues' median {med}")
            prices, blob = med, encode_venues(venues)
        if prices is None:
            raise ZkclearError("a post needs prices or venues")
        ts = chain.latest_timestamp(self.w3) if observed_at is None else observed_at
        return tuple(int(p) for p in prices), blob, ts

    # -- signed posts, submitted as one batch ------------------------------------------------

    def prices_inner(self, epoch: int, observed_at: int, prices: Sequence[int],
                     funding: Sequence[int], venues: bytes) -> bytes:
        """What a reporter signs (EIP-191) for this post to this oracle on this chain
        (:func:`~zkclear.chain.commits.prices_inner`)."""
        return prices_inner(self.deployment.chain_id, self.oracle.address, epoch,
                            observed_at, prices, funding, venues)

    def sign_post(self, private_key: Any, epoch: int, prices: Sequence[int] | None = None,
                  *, observed_at: int | None = None,
                  venues: Mapping[str, Sequence[int]] | None = None,
                  funding: Sequence[int] | None = None) -> SignedPost:
        """A reporter's post signed with its private key (eth_account, EIP-191, low s),
        for anyone to submit with :meth:`post_signed_marks`; arguments as
        :meth:`post_prices` (``funding`` None: zeros)."""
        return self._signed_post(epoch, prices, observed_at, venues, funding,
                                 lambda inner: sign_inner(inner, private_key))

    def sign_post_as(self, account: str, epoch: int, prices: Sequence[int] | None = None,
                     *, observed_at: int | None = None,
                     venues: Mapping[str, Sequence[int]] | None = None,
                     funding: Sequence[int] | None = None) -> SignedPost:
        """As :meth:`sign_post`, signed as one of the node's accounts (the embedded
        chain's key, else ``eth_sign``)."""
        return self._signed_post(epoch, prices, observed_at, venues, funding,
                                 lambda inner: self._sign_as(account, inner))

    def _signed_post(self, epoch: int, prices: Sequence[int] | None,
                     observed_at: int | None, venues: Mapping[str, Sequence[int]] | None,
                     funding: Sequence[int] | None,
                     sign: Callable[[bytes], bytes]) -> SignedPost:
        marks, blob, ts = self._post_values(prices, venues, observed_at)
        f = tuple(int(x) for x in funding) if funding is not None else (0,) * len(marks)
        sig = sign(self.prices_inner(epoch, ts, marks, f, blob))
        return SignedPost(epoch, ts, marks, f, blob, *split_signature(sig))

    def post_signer(self, post: SignedPost) -> str:
        """The account that signed ``post`` (what the contract recovers)."""
        return recover_inner(self.prices_inner(post.epoch, post.observed_at, post.prices,
                                               post.funding, post.venues), post.signature)

    def post_signed_marks(self, epoch: int, posts: Sequence[SignedPost], *,
                          sender: str) -> Any:
        """Submit a quorum of reporters' signed posts for ``epoch`` in one transaction
        (``postSignedMarks``; any sender): the round concludes at once, final or held by
        the breaker. Only into a fresh round, exactly ``quorum`` posts."""
        for p in posts:
            if p.epoch != epoch:
                raise ZkclearError(f"a post signed for epoch {p.epoch} in epoch {epoch}'s batch")
        return self.transact(self.oracle.functions.postSignedMarks(
            epoch, [p.as_tuple() for p in posts]), sender=sender)

    def prices_digest(self, post: SignedPost) -> bytes:
        """The oracle's ``pricesDigest`` of ``post`` (the EIP-191 digest it recovers from)."""
        return bytes(self.call(self.oracle.functions.pricesDigest(post.epoch, post.as_tuple())))

    def post_risk_arrays(self, epoch: int, arrays: Mapping[int, Sequence[int]], *,
                         sender: str, posted_hash: int | None = None) -> Any:
        """Post the hash of ``epoch``'s option risk arrays (option m -> K entries) with
        the arrays (:func:`~zkclear.clearing.instruments.encode_arrays`); the hash is
        computed from the deployed instrument table and K unless ``posted_hash`` is given
        (tests post others)."""
        if posted_hash is None:
            posted_hash = risk_hash(self.instruments(), arrays,
                                    self.deployment.config.n_scenarios, epoch)
        return self.transact(self.oracle.functions.postRiskArrays(
            epoch, posted_hash, encode_arrays(arrays)), sender=sender)

    def posted_risk_arrays(self, epoch: int) -> list[dict[str, Any]]:
        """Every RiskArraysPosted of ``epoch``: reporter, riskHash, the arrays decoded
        (None where the blob does not decode)."""
        logs = self.oracle.events.RiskArraysPosted().get_logs(
            argument_filters={"epoch": epoch}, from_block=self.deployment.first_block)
        out = []
        for e in logs:
            try:
                arrays: dict[int, tuple[int, ...]] | None = decode_arrays(
                    bytes(e["args"]["arrays"]))
            except ZkclearError:
                arrays = None
            out.append({"reporter": str(e["args"]["reporter"]),
                        "risk_hash": int(e["args"]["riskHash"]), "arrays": arrays})
        return out

    def market(self, epoch: int) -> Market:
        """``epoch``'s final market from the chain: marks, funding indices and -- in a
        pool with options, once the risk round is final -- the risk arrays of a post
        whose arrays hash to the final riskHash (ZkclearError if none does)."""
        prices, funding = self.final_prices(epoch), self.funding_index(epoch)
        table = self.instruments()
        if not live_options(table, epoch):  # no risk round: riskHash = 0
            return Market(prices, funding)
        final = self.risk_hash(epoch)
        if final == 0:
            raise ZkclearError(f"epoch {epoch}: the risk arrays are not final yet")
        k = self.deployment.config.n_scenarios
        for post in self.posted_risk_arrays(epoch):
            arrays = post["arrays"]
            if post["risk_hash"] != final or arrays is None:
                continue
            try:
                if risk_hash(table, arrays, k, epoch) == final:
                    return Market(prices, funding, arrays)
            except ZkclearError:
                continue
        raise ZkclearError(f"epoch {epoch}: no posted risk arrays hash to the final "
                           f"riskHash {final:#x}")

    def release_prices(self, epoch: int, *, sender: str) -> Any:
        """Make a candidate held by the circuit breaker final (after breakerDelay)."""
        return self.transact(self.oracle.functions.releasePrices(epoch), sender=sender)

    def pending_prices(self, epoch: int) -> tuple[tuple[int, ...], int]:
        """The candidate the breaker holds for ``epoch`` and its release time (() and 0)."""
        prices, release_at = self.call(self.oracle.functions.pendingPrices(epoch))
        return tuple(int(p) for p in prices), int(release_at)

    def finalised_at(self, epoch: int) -> int:
        return int(self.call(self.oracle.functions.finalisedAt(epoch)))

    def posted_venues(self, epoch: int) -> list[dict[str, Any]]:
        """Every PricesPosted of ``epoch``: reporter, observedAt, prices, decoded venues."""
        logs = self.oracle.events.PricesPosted().get_logs(
            argument_filters={"epoch": epoch}, from_block=self.deployment.first_block)
        return [{"reporter": str(e["args"]["reporter"]),
                 "observed_at": int(e["args"]["observedAt"]),
                 "prices": tuple(int(p) for p in e["args"]["prices"]),
                 "funding": tuple(int(f) for f in e["args"]["funding"]),
                 "venues": decode_venues(bytes(e["args"]["venues"]))} for e in logs]

    def final_prices(self, epoch: int) -> tuple[int, ...]:
        return tuple(int(p) for p in self.call(self.oracle.functions.finalPrices(epoch)))

    def prices_hash(self, epoch: int) -> int:
        """``pricesHash`` of ``epoch`` (0 until its marks -- and, with options, its risk
        arrays -- are final)."""
        return int(self.call(self.oracle.functions.pricesHashOf(epoch)))

    def mark_hash(self, epoch: int) -> int:
        """``markHash`` of ``epoch`` (0 until its marks are final)."""
        return int(self.call(self.oracle.functions.markHashOf(epoch)))

    def risk_hash(self, epoch: int) -> int:
        """The final ``riskHash`` of ``epoch`` (0 without options or until final)."""
        return int(self.call(self.oracle.functions.riskHashOf(epoch)))

    def funding_index(self, epoch: int) -> tuple[int, ...]:
        """The funding indices ``F`` of ``epoch`` (signed; PricesNotFinal before)."""
        return tuple(int(f) for f in self.call(self.oracle.functions.fundingIndex(epoch)))

    def max_funding_bp(self) -> int:
        return int(self.call(self.oracle.functions.maxFundingBp()))

    @functools.cached_property
    def _instruments(self) -> tuple[Instrument, ...]:
        rows = self.call(self.oracle.functions.instruments())
        return tuple(contracts.instrument_from_tuple(r) for r in rows)

    def instruments(self) -> tuple[Instrument, ...]:
        """The deployment's instrument table, from the oracle (fixed: read once)."""
        return self._instruments
