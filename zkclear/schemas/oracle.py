"""A reporter's signed post, as it crosses the disk (docs/protocol.md, "Oracle", signed
posts).

:class:`SignedPricesFile` is what ``zkclear oracle sign`` writes: one reporter's marks,
funding and venues for one epoch of one oracle on one chain, with its EIP-191 signature
of the prices digest (``zkclear-prices-v1``). Anyone holding a quorum of them submits
them in one transaction (``zkclear oracle post-signed``, ``PriceOracle.postSignedMarks``);
the file is not secret. :mod:`zkclear.roles.signed_prices` converts it to and from the
client's :class:`zkclear.chain.commits.SignedPost`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from zkclear.bounds import PRICE_BITS

from .base import U64, Address, HexBytes, Record

Hex32 = Annotated[str, HexBytes(32)]
Mark = Annotated[int, Field(ge=0, lt=2**PRICE_BITS)]
FundingAmount = Annotated[int, Field(gt=-(2**PRICE_BITS), lt=2**PRICE_BITS)]


class VenueQuote(Record):
    """One venue's prices, one per instrument."""

    name: str = Field(min_length=1, description="the venue's name")
    prices: list[Mark] = Field(description="its price per instrument, in ticks")


class SignedPricesFile(Record):
    """A reporter's post for ``epoch``, signed for ``oracle`` on ``chain_id``: what the
    prices digest binds, and the signature (v, r, s)."""

    format: Literal["zkclear-signed-prices-v1"]
    chain_id: U64 = Field(description="the chain the signature is for")
    oracle: Address = Field(description="the PriceOracle the signature is for")
    epoch: U64 = Field(description="the epoch the prices are for")
    reporter: Address = Field(description="the reporter who signed (the signature "
                              "recovers to it)")
    observed_at: U64 = Field(description="when the prices were observed (unix seconds)")
    prices: list[Mark] = Field(min_length=1, description="the marks, one per instrument "
                               "(the venues' per-instrument median when venues are given)")
    funding: list[FundingAmount] = Field(description="signed funding amount per lot, one "
                                         "per instrument (nonzero only for perpetuals)")
    venues: list[VenueQuote] = Field(description="the venues the prices are the median of, "
                                     "in order (abi.encode(names, prices) is signed); "
                                     "[] for none")
    v: int = Field(ge=27, le=28, description="the signature's v (27 or 28)")
    r: Hex32 = Field(description="the signature's r (0x + 64 hex)")
    s: Hex32 = Field(description="the signature's s (0x + 64 hex, low s)")

    @model_validator(mode="after")
    def _lengths(self) -> SignedPricesFile:
        m = len(self.prices)
        if len(self.funding) != m:
            raise PydanticCustomError("lengths", "funding must have one amount per price")
        if any(len(q.prices) != m for q in self.venues):
            raise PydanticCustomError("lengths", "every venue must quote one price per "
                                      "instrument")
        if len({q.name for q in self.venues}) != len(self.venues):
            raise PydanticCustomError("venues", "venue names must be distinct")
        return self
