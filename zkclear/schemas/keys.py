"""Key files (owner-only JSON, written and read through :mod:`zkclear.privacy.keyfile`).

Each has a ``format`` tag. The secret fields are left out of ``repr`` and no error
message repeats a value. The modules that use the keys convert these records into their
key objects (:mod:`zkclear.privacy.viewkeys`, :mod:`zkclear.privacy.compliance`,
:mod:`zkclear.privacy.keyfile`, :mod:`zkclear.roles.member`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from zkclear.field import P

from .base import SECRET, U64, HexBytes, Record


def _nonzero_element(value: str) -> str:
    if not 0 < int(value, 16) < P:
        raise PydanticCustomError("field_element",
                                  "is not a nonzero canonical field element (0 < K < r)")
    return value


def _element(value: str) -> str:
    if not int(value, 16) < P:
        raise PydanticCustomError("field_element", "is not a canonical field element (< r)")
    return value


Hex32 = Annotated[str, HexBytes(32, prefix=None)]
SecretHex32 = Annotated[str, HexBytes(32, prefix=None), SECRET]
ViewKeyHex = Annotated[str, HexBytes(32, prefix=None), AfterValidator(_nonzero_element), SECRET]
ShareHex = Annotated[str, HexBytes(32, prefix=None), AfterValidator(_element), SECRET]
Byte = Annotated[int, Field(ge=1, le=255)]


class X25519KeyFile(Record):
    """An X25519 static key pair: the pool's compliance key, a member's or the operator's
    transport key."""

    format: Literal["zkclear-x25519-key-v1"]
    purpose: str = Field(description="compliance, member or operator")
    public: Hex32
    private: SecretHex32


class ViewKeyFile(Record):
    """A member's view key ``K`` (``kind`` member) or one epoch's key ``K_e`` (``kind``
    epoch, with ``epoch``): 32 bytes big-endian, a nonzero element of the BN254 field."""

    format: Literal["zkclear-viewkey-v1"]
    kind: Literal["member", "epoch"]
    slot: U64
    epoch: U64 | None = Field(None, description="only in an epoch key")
    key: ViewKeyHex

    @model_validator(mode="after")
    def _epoch_iff_epoch_key(self) -> ViewKeyFile:
        if (self.kind == "epoch") != (self.epoch is not None):
            raise PydanticCustomError(
                "epoch_field", "epoch: missing" if self.kind == "epoch"
                else "epoch: unknown field in a member key")
        return self


class ComplianceShareFile(Record):
    """A compliance officer's Shamir share of the compliance private key (both 16-byte
    halves at the same ``x``), the threshold ``t`` and the key's fingerprint."""

    format: Literal["zkclear-compliance-share-v1"]
    key: Annotated[str, HexBytes(8, prefix=None),
                   Field(description="fingerprint of the compliance key")]
    t: Byte
    x: Byte
    y_hi: ShareHex
    y_lo: ShareHex


class EthKeyFile(Record):
    """An Ethereum account's private key (a member's, the deployer's, an owner's...)."""

    format: Literal["zkclear-eth-key-v1"]
    key: SecretHex32


class AdminTokenFile(Record):
    """The bearer token of the operator's admin API, written by ``zkclear operator run``."""

    format: Literal["zkclear-admin-token-v1"]
    token: str = Field(min_length=16, repr=False)
