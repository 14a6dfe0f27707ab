"""The operator's HTTP API (FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``).

Member requests are authenticated with the member's Ethereum key: four headers

    X-Zkclear-Address    the signer's account (checksummed or lower case)
    X-Zkclear-Timestamp  unix seconds; refused if more than ``max_skew`` (300 s) away
    X-Zkclear-Nonce      16-64 characters [A-Za-z0-9_-], never reused by that account
    X-Zkclear-Signature  EIP-191 personal_sign over :func:`canonical_request`

where the signed text is ``zkclear-request-v1``, the pool id, the method, the path (with
its query), the timestamp, the nonce and the SHA-256 of the body, one per line. The
recovered address must equal the claimed one (else 401) and be an active member on-chain
(``slotOf``; else 403). The nonce is stored in the same SQLite transaction as the
request's effect, so a refused request stores nothing and a replay is refused (409).

Bodies are limited to ``max_body`` bytes (64 KiB; 413). Every error is JSON
``{"error": {"code": "...", "message": "..."}}``.

Admin endpoints (``/v1/admin/...``: net, close, settle) take ``Authorization: Bearer
<token>`` -- a random token the operator writes to an owner-only file at start -- and
are only served to loopback clients (127.0.0.1 / ::1): run the operator behind a proxy
that does not forward ``/v1/admin`` if it must listen on other interfaces.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import h11
import uvicorn
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from uvicorn.protocols.http.h11_impl import H11Protocol
from web3 import Web3

from zkclear.chain.client import ContractError
from zkclear.errors import ZkclearError
from zkclear.schemas import NettedReport, Trade

from .service import OperatorService, ServiceError

log = logging.getLogger("zkclear.operator.api")

SIGNATURE_DOMAIN = "zkclear-request-v1"
MAX_BODY = 64 * 1024
MAX_SKEW = 300
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def canonical_request(pool_id: str, method: str, path: str, timestamp: int, nonce: str,
                      body: bytes) -> str:
    """The text a member signs for one request."""
    return "\n".join([SIGNATURE_DOMAIN, pool_id, method.upper(), path, str(timestamp), nonce,
                      hashlib.sha256(body).hexdigest()])


def sign_request(private_key: Any, pool_id: str, method: str, path: str, body: bytes, *,
                 timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The authentication headers of a request signed with ``private_key``."""
    ts = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_urlsafe(24)
    acct = Account.from_key(private_key)
    msg = encode_defunct(text=canonical_request(pool_id, method, path, ts, nonce, body))
    sig = acct.sign_message(msg).signature.hex()
    return {"X-Zkclear-Address": acct.address, "X-Zkclear-Timestamp": str(ts),
            "X-Zkclear-Nonce": nonce,
            "X-Zkclear-Signature": sig if sig.startswith("0x") else "0x" + sig}


# -- models (OpenAPI) ------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


class EnrolIn(BaseModel):
    transport_public: str = Field(description="the member's X25519 transport public key, "
                                  "0x + 64 hex")
    message: str = Field(description="base64 transport message (epoch 0) sealed with that "
                         'key, payload {"view_key": "0x<64 hex>"}')


class EnrolOut(BaseModel):
    slot: int
    vkh: str


class HealthOut(BaseModel):
    ok: bool
    intake_epoch: int
    chain_open_epoch: int
    last_accepted_epoch: int


class PoolOut(BaseModel):
    pool_id: str
    chain_id: int
    clearing_house: str
    operator_transport_public: str
    n_slots: int
    n_instruments: int
    intake_epoch: int


class CommitOut(BaseModel):
    epoch: int
    slot: int
    commitment: str


class SubmitOut(BaseModel):
    epoch: int
    slot: int
    submission: int
    trades: int


class RejectionOut(BaseModel):
    trade_id: str | int | None
    reason: str
    message: str


class MemberResultOut(BaseModel):
    epoch: int
    slot: int
    phase: str
    submissions: int
    netted: bool
    prices: list[str] | None = None
    accepted: list[Trade] | None = None
    rejected: list[RejectionOut] | None = None
    report: NettedReport | None = None
    commitment: str | None = None
    committed_on_chain: bool | None = None
    excluded: bool | None = None  # closed without this slot's report (no signature)
    needs_signature: bool | None = None  # the current report is not signed yet


class EpochOut(BaseModel):
    epoch: int
    phase: str
    prices: list[str] | None = None
    public_signals: list[str] | None = None
    new_root: str | None = None
    error: str | None = None
    accepted_on_chain: bool | None = None
    submit: dict[str, Any] | None = None
    reporting_slots: list[int] | None = None
    excluded_slots: list[int] | None = None
    awaiting_signatures: list[int] | None = None
    sign_deadline: float | None = None


#: An epoch in a path: 0 <= epoch < 2^63 (SQLite's INTEGER is signed 64-bit); anything
#: else is a 422 in the JSON error shape before a handler runs.
EpochPath = Annotated[int, PathParam(ge=0, lt=2**63, description="epoch number")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 403, 409, 413, 422)}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class _Auth:
    def __init__(self, address: str, slot: int | None, nonce: str, ts: int) -> None:
        self.address, self.slot, self.nonce, self.ts = address, slot, nonce, ts


def create_app(service: OperatorService, *, admin_token: str | None = None,
               max_body: int = MAX_BODY, max_skew: int = MAX_SKEW) -> FastAPI:
    """The FastAPI application serving ``service``."""
    app = FastAPI(title="zkclear operator", version="1",
                  description=(__doc__ or "").split("\n\n")[0])
    pool_id = service.info.pool_id

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", "; ".join(
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(ContractError)
    async def _contract(_: Request, exc: ContractError) -> JSONResponse:
        return _error(502, "chain_error", str(exc))

    @app.exception_handler(ZkclearError)
    async def _zk(_: Request, exc: ZkclearError) -> JSONResponse:
        log.error("request failed: %s", exc)
        return _error(500, "operator_error", str(exc))

    @app.exception_handler(Exception)
    async def _any(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return _error(500, "internal_error", f"internal error ({type(exc).__name__})")

    @app.middleware("http")
    async def _limit(request: Request,
                     call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return _error(400, "bad_request", "invalid Content-Length")
            if int(length) > max_body:
                return _error(413, "body_too_large",
                              f"request body of {length} bytes exceeds {max_body}")
        return await call_next(request)

    async def body_of(request: Request) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise ServiceError("body_too_large", f"request body exceeds {max_body} bytes",
                                   413)
            chunks.append(chunk)
        return b"".join(chunks)

    async def authenticate(request: Request, body: bytes, *, member: bool = True) -> _Auth:
        h = request.headers
        claimed, ts_s = h.get("x-zkclear-address"), h.get("x-zkclear-timestamp")
        nonce, sig = h.get("x-zkclear-nonce"), h.get("x-zkclear-signature")
        if not (claimed and ts_s and nonce and sig):
            raise ServiceError("unauthenticated", "missing X-Zkclear-Address, -Timestamp, "
                               "-Nonce or -Signature header", 401)
        if not ts_s.isdigit():
            raise ServiceError("unauthenticated", "X-Zkclear-Timestamp must be unix seconds",
                               401)
        ts = int(ts_s)
        if abs(time.time() - ts) > max_skew:
            raise ServiceError("stale_request", f"timestamp {ts} is more than {max_skew} s "
                               "from the operator's clock", 401)
        if not _NONCE.match(nonce):
            raise ServiceError("unauthenticated", "X-Zkclear-Nonce must be 16-64 characters "
                               "[A-Za-z0-9_-]", 401)
        if not Web3.is_address(claimed):
            raise ServiceError("unauthenticated", "X-Zkclear-Address is not an address", 401)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        text = canonical_request(pool_id, request.method, path, ts, nonce, body)
        try:
            signer = Account.recover_message(encode_defunct(text=text), signature=sig)
        except Exception:
            raise ServiceError("bad_signature", "the signature does not parse", 401) from None
        if signer.lower() != claimed.lower():
            raise ServiceError("bad_signature", "the signature is not the claimed account's "
                               "over this request", 401)
        if service.store.one("SELECT 1 FROM request_nonces WHERE address = ? AND nonce = ?",
                             (signer.lower(), nonce)):
            raise ServiceError("replayed_request", "this request nonce was already used", 409)
        slot = await run_in_threadpool(service.slot_of, signer)
        if member and slot is None:
            raise ServiceError("unknown_member", f"{signer} is not an active member of "
                               "this pool", 403)
        return _Auth(signer, slot, nonce, ts)

    def admin(request: Request) -> None:
        host = request.client.host if request.client else ""
        if host not in LOOPBACK:
            raise ServiceError("forbidden", "admin endpoints are served to loopback clients "
                               "only", 403)
        given = request.headers.get("authorization", "")
        if not admin_token or not hmac.compare_digest(given.encode(),
                                                      f"Bearer {admin_token}".encode()):
            raise ServiceError("forbidden", "admin endpoints need the operator's bearer "
                               "token", 403)

    # -- public ----------------------------------------------------------------------

    @app.get("/v1/health", response_model=HealthOut)
    async def health() -> dict[str, Any]:
        def f() -> dict[str, Any]:
            return {"ok": True, "intake_epoch": service.intake_epoch(),
                    "chain_open_epoch": service.client.open_epoch(),
                    "last_accepted_epoch": service.client.last_accepted_epoch()}
        return await run_in_threadpool(f)

    @app.get("/v1/pool", response_model=PoolOut)
    async def pool() -> dict[str, Any]:
        i = service.info
        return {"pool_id": i.pool_id, "chain_id": i.chain_id,
                "clearing_house": i.clearing_house,
                "operator_transport_public": "0x" + i.operator_transport_public.hex(),
                "n_slots": i.n_slots, "n_instruments": i.n_instruments,
                "intake_epoch": await run_in_threadpool(service.intake_epoch)}

    @app.get("/v1/epochs/{epoch}", response_model=EpochOut, responses=_ERRORS)
    async def epoch_public(epoch: EpochPath) -> dict[str, Any]:
        return await run_in_threadpool(service.epoch_public, epoch)

    # -- members ---------------------------------------------------------------------

    @app.post("/v1/members/enrol", response_model=EnrolOut, responses=_ERRORS,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": EnrolIn.model_json_schema()}}}})
    async def enrol(request: Request) -> dict[str, Any]:
        body = await body_of(request)
        auth = await authenticate(request, body)
        try:
            doc = EnrolIn.model_validate_json(body)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise ServiceError("malformed_json", "the body is not valid JSON", 400
                                   ) from None
            raise ServiceError("invalid_request", "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
                422) from None

        def f() -> dict[str, Any]:
            assert auth.slot is not None
            return service.enrol(auth.slot, doc.transport_public, doc.message,
                                 nonce=(auth.address, auth.nonce, auth.ts))
        return await run_in_threadpool(f)

    @app.post("/v1/epochs/{epoch}/trades", response_model=SubmitOut, responses=_ERRORS,
              status_code=201, openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string",
                                                          "format": "binary"}}}}})
    async def submit(epoch: EpochPath, request: Request) -> dict[str, Any]:
        """Body: one transport message (zkclear.privacy.transport) for this epoch whose payload is
        ``{"trades": [{trade_id, instrument, side, size, price, counterparty}, ...]}``."""
        body = await body_of(request)
        auth = await authenticate(request, body)

        def f() -> dict[str, Any]:
            assert auth.slot is not None
            return service.submit_trades(auth.slot, epoch, body,
                                         nonce=(auth.address, auth.nonce, auth.ts))
        return await run_in_threadpool(f)

    @app.post("/v1/epochs/{epoch}/commit", response_model=CommitOut, responses=_ERRORS,
              status_code=201)
    async def commit(epoch: EpochPath, request: Request) -> dict[str, Any]:
        """Body: ``{"commitment": "<decimal>", "ciphertext": "0x..", "signature": "0x.."}``,
        the member's signature (EIP-191, its account) of the commit digest; the operator
        posts it with closeEpoch."""
        body = await body_of(request)
        auth = await authenticate(request, body)
        try:
            doc = json.loads(body)
            commitment = int(doc["commitment"])
            ciphertext = bytes.fromhex(str(doc["ciphertext"]).removeprefix("0x"))
            signature = bytes.fromhex(str(doc["signature"]).removeprefix("0x"))
        except (ValueError, TypeError, KeyError) as exc:
            raise ServiceError("bad_request", f"commit body: {exc}", 400) from None

        def f() -> dict[str, Any]:
            assert auth.slot is not None
            return service.accept_commit(auth.slot, epoch, commitment, ciphertext, signature,
                                         nonce=(auth.address, auth.nonce, auth.ts))
        return await run_in_threadpool(f)

    @app.get("/v1/epochs/{epoch}/me", response_model=MemberResultOut, responses=_ERRORS)
    async def my_result(epoch: EpochPath, request: Request) -> dict[str, Any]:
        body = await body_of(request)
        auth = await authenticate(request, body)

        def f() -> dict[str, Any]:
            assert auth.slot is not None
            with service.store.transaction():
                service.record_nonce(auth.address, auth.nonce, auth.ts)
                return service.member_result(auth.slot, epoch)
        return await run_in_threadpool(f)

    # -- admin -----------------------------------------------------------------------

    @app.post("/v1/admin/epochs/{epoch}/net", responses=_ERRORS)
    async def admin_net(epoch: EpochPath, request: Request) -> dict[str, Any]:
        admin(request)
        return await run_in_threadpool(service.net_epoch, epoch)

    @app.post("/v1/admin/epochs/{epoch}/close", response_model=EpochOut, responses=_ERRORS)
    async def admin_close(epoch: EpochPath, request: Request) -> dict[str, Any]:
        admin(request)
        return await run_in_threadpool(service.request_close, epoch)

    @app.post("/v1/admin/epochs/{epoch}/settle", response_model=EpochOut, responses=_ERRORS)
    async def admin_settle(epoch: EpochPath, request: Request) -> dict[str, Any]:
        """Run every due step: close (if requested), engine, prove, submitEpoch."""
        admin(request)
        return await run_in_threadpool(service.advance, epoch)

    return app


class Driver:
    """Background thread: :meth:`OperatorService.tick` every ``interval`` seconds
    (resumes unfinished epochs, auto-closes, proves, submits)."""

    def __init__(self, service: OperatorService, interval: float = 2.0) -> None:
        self.service, self.interval = service, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zkclear-driver", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.service.tick()
            except ZkclearError as exc:
                log.error("driver: %s", exc)
            except Exception:
                log.exception("driver: unexpected error")
            self._stop.wait(self.interval)

    def start(self) -> Driver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


class JsonErrorsH11(H11Protocol):
    """uvicorn's h11 protocol, but a request it cannot parse (e.g. an invalid
    Content-Length) is answered in the API's JSON error shape, not plain text."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": {"code": "bad_request", "message": msg}}).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))  # type: ignore[arg-type]
        self.transport.close()


class ServerThread:
    """uvicorn serving an app on ``host:port`` in a background thread (tests, embedding)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        from zkclear.chain.node import free_port

        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port,
                                                    log_level="warning", lifespan="off",
                                                    http=JsonErrorsH11))
        self._thread = threading.Thread(target=self.server.run, name="zkclear-api",
                                        daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise ZkclearError(f"the operator API did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
