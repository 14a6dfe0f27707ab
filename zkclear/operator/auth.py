"""The operator API's authentication, as FastAPI dependencies (security schemes in the
OpenAPI document: ``MemberSignature`` and ``AdminToken``).

Members sign each request with their Ethereum key (:mod:`.signing`). :func:`member`
checks the timestamp (within ``max_skew`` seconds), the nonce's format, that the
signature is the claimed account's over this very request (else 401), that the nonce is
new (else 409; the handler stores it in the same transaction as the request's effect)
and that the account is an active member on-chain (``slotOf``; else 403).

Admin endpoints take ``Authorization: Bearer <token>`` -- a random token the operator
writes to an owner-only file at start -- and are only served to loopback clients
(:func:`admin`; 403 otherwise).

The body a member signs is read once, with a size limit (:func:`request_body`; 413),
and shared with the handler. A route with an ``{epoch}`` uses :func:`epoch_member` /
:func:`epoch_admin`, which take the validated epoch too: a bad epoch is a 422 before any
authentication (FastAPI does not call a dependency whose own parameters are invalid).

Every refusal is a :class:`~.errors.ServiceError`, answered in the API's JSON error shape.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security
from fastapi import Path as PathParam
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from web3 import Web3

from . import signing
from .errors import ServiceError

__all__ = ["LOOPBACK", "MAX_BODY", "MAX_EPOCH", "MAX_SKEW", "ApiSettings",
           "Body", "EpochAdmin", "EpochMember", "EpochPath", "Member", "MemberAuth", "admin",
           "epoch_admin", "epoch_member", "member", "request_body"]

MAX_BODY = 64 * 1024
MAX_SKEW = 300
#: The largest epoch a path may name (SQLite's INTEGER is signed 64-bit).
MAX_EPOCH = 2**63 - 1
LOOPBACK = {"127.0.0.1", "::1", "localhost"}

#: An epoch in a path: 0 <= epoch <= MAX_EPOCH, else a 422 before a handler runs.
EpochPath = Annotated[int, PathParam(ge=0, le=MAX_EPOCH, description="epoch number")]


@dataclass(frozen=True)
class ApiSettings:
    """What the dependencies need (``app.state.api``): the service and the limits."""

    service: Any  # OperatorService (its store, pool id and slotOf)
    admin_token: str | None = None
    max_body: int = MAX_BODY
    max_skew: int = MAX_SKEW


def _settings(request: Request) -> ApiSettings:
    return request.app.state.api


async def request_body(request: Request) -> bytes:
    """The request body, read once (FastAPI caches a dependency's value per request);
    ServiceError 413 past ``max_body`` bytes whatever the Content-Length said."""
    limit = _settings(request).max_body
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServiceError("body_too_large", f"request body exceeds {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


Body = Annotated[bytes, Depends(request_body)]

_MEMBER_SCHEME = APIKeyHeader(
    name=signing.SIGNATURE, scheme_name="MemberSignature", auto_error=False,
    description="EIP-191 personal_sign by a member's registered account over "
                "zkclear-request-v1, the pool id, the method, the path with its query, the "
                f"timestamp, the nonce and the body's SHA-256, one per line; with the "
                f"{signing.ADDRESS}, {signing.TIMESTAMP} and {signing.NONCE} headers.")
_ADMIN_SCHEME = HTTPBearer(
    scheme_name="AdminToken", auto_error=False,
    description="the token the operator writes to its admin token file at start; admin "
                "endpoints are served to loopback clients only")


@dataclass(frozen=True)
class SignedHeaders:
    """The four headers of a signed request (any may be missing: then 401)."""

    signature: str | None
    address: str | None
    timestamp: str | None
    nonce: str | None


def signed_headers(
        signature: Annotated[str | None, Security(_MEMBER_SCHEME)],
        address: Annotated[str | None, Header(alias=signing.ADDRESS,
                                              description="the signing member's account")]
        = None,
        timestamp: Annotated[str | None, Header(alias=signing.TIMESTAMP,
                                                description="unix seconds")] = None,
        nonce: Annotated[str | None, Header(alias=signing.NONCE,
                                            description="16-64 characters [A-Za-z0-9_-], "
                                                        "never reused")] = None,
) -> SignedHeaders:
    return SignedHeaders(signature, address, timestamp, nonce)


Signed = Annotated[SignedHeaders, Depends(signed_headers)]


@dataclass(frozen=True)
class Member:
    """An authenticated member request."""

    address: str
    slot: int
    nonce: str
    timestamp: int

    @property
    def request_nonce(self) -> tuple[str, str, int]:
        """(address, nonce, timestamp): what the handler stores with the request's effect."""
        return self.address, self.nonce, self.timestamp


async def member(request: Request, body: Body, headers: Signed) -> Member:
    """The member who signed this request (ServiceError 401 / 403 / 409 otherwise)."""
    settings = _settings(request)
    service = settings.service
    claimed, ts_s, nonce, sig = (headers.address, headers.timestamp, headers.nonce,
                                 headers.signature)
    if not (claimed and ts_s and nonce and sig):
        raise ServiceError("unauthenticated", "missing X-Zkclear-Address, -Timestamp, "
                           "-Nonce or -Signature header", 401)
    if not ts_s.isdigit():
        raise ServiceError("unauthenticated", "X-Zkclear-Timestamp must be unix seconds", 401)
    ts = int(ts_s)
    if abs(time.time() - ts) > settings.max_skew:
        raise ServiceError("stale_request", f"timestamp {ts} is more than "
                           f"{settings.max_skew} s from the operator's clock", 401)
    if not signing.NONCE_FORMAT.match(nonce):
        raise ServiceError("unauthenticated", "X-Zkclear-Nonce must be 16-64 characters "
                           "[A-Za-z0-9_-]", 401)
    if not Web3.is_address(claimed):
        raise ServiceError("unauthenticated", "X-Zkclear-Address is not an address", 401)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        signer = signing.recover_signer(service.info.pool_id, request.method, path, ts, nonce,
                                        body, sig)
    except Exception:
        raise ServiceError("bad_signature", "the signature does not parse", 401) from None
    if signer.lower() != claimed.lower():
        raise ServiceError("bad_signature", "the signature is not the claimed account's "
                           "over this request", 401)
    if service.store.one("SELECT 1 FROM request_nonces WHERE address = ? AND nonce = ?",
                         (signer.lower(), nonce)):
        raise ServiceError("replayed_request", "this request nonce was already used", 409)
    slot = await run_in_threadpool(service.slot_of, signer)
    if slot is None:
        raise ServiceError("unknown_member", f"{signer} is not an active member of this "
                           "pool", 403)
    return Member(signer, slot, nonce, ts)


async def epoch_member(epoch: EpochPath, request: Request, body: Body,
                       headers: Signed) -> Member:
    """:func:`member` on a route with an ``{epoch}`` (validated first)."""
    return await member(request, body, headers)


def admin(request: Request,
          credentials: Annotated[HTTPAuthorizationCredentials | None,
                                 Security(_ADMIN_SCHEME)]) -> None:
    """A loopback client with the operator's bearer token (ServiceError 403 otherwise)."""
    host = request.client.host if request.client else ""
    if host not in LOOPBACK:
        raise ServiceError("forbidden", "admin endpoints are served to loopback clients only",
                           403)
    token = _settings(request).admin_token
    given = credentials.credentials if credentials is not None else ""
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise ServiceError("forbidden", "admin endpoints need the operator's bearer token",
                           403)


def epoch_admin(epoch: EpochPath, request: Request,
                credentials: Annotated[HTTPAuthorizationCredentials | None,
                                       Security(_ADMIN_SCHEME)]) -> None:
    """:func:`admin` on a route with an ``{epoch}`` (validated first)."""
    admin(request, credentials)


#: A handler's parameter: the authenticated member (``EpochMember`` on ``{epoch}`` routes).
MemberAuth = Annotated[Member, Depends(member)]
EpochMember = Annotated[Member, Depends(epoch_member)]
#: A route's ``dependencies=[EpochAdmin]``: admin only.
EpochAdmin = Depends(epoch_admin)
