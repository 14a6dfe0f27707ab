"""The operator's HTTP API (FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``).

Member requests are signed with the member's Ethereum key (:mod:`.signing`: four
``X-Zkclear-*`` headers, EIP-191 over the request) and checked by the :mod:`.auth`
dependencies: the recovered address must be the claimed one (else 401) and an active
member on-chain (``slotOf``; else 403); the request's nonce is stored in the same SQLite
transaction as its effect, so a refused request stores nothing and a replay is refused
(409). Admin endpoints (``/v1/admin/...``: net, close, settle) take ``Authorization:
Bearer <token>`` and are only served to loopback clients (127.0.0.1 / ::1): run the
operator behind a proxy that does not forward ``/v1/admin`` if it must listen on other
interfaces. Both show in the OpenAPI document as security schemes.

Bodies are limited to ``max_body`` bytes (64 KiB; 413); path epochs to 0..2^63-1 (422).
Every error -- a refusal, a validation error, an unknown path (404), a wrong method
(405), a request the HTTP parser rejects (400, :class:`JsonErrorsH11`), an internal
error (500) -- is JSON ``{"error": {"code": "...", "message": "..."}}``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from uvicorn.protocols.http.h11_impl import H11Protocol

from zkclear.chain.client import ContractError
from zkclear.errors import ZkclearError
from zkclear.schemas import LotFile, NettedReport, Trade

from .auth import (
    MAX_BODY,
    MAX_SKEW,
    ApiSettings,
    Body,
    EpochAdmin,
    EpochMember,
    EpochPath,
    MemberAuth,
)
from .errors import ServiceError
from .service import OperatorService
from .signing import canonical_request, sign_request

__all__ = ["Driver", "JsonErrorsH11", "ServerThread", "canonical_request", "create_app",
           "sign_request"]

log = logging.getLogger(__name__)

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


class DepositOut(BaseModel):
    epoch: int
    slot: int
    amount: str


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


_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 403, 409, 413, 422, 500)}


def _error(status: int, code: str, message: str,
           headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def create_app(service: OperatorService, *, admin_token: str | None = None,
               max_body: int = MAX_BODY, max_skew: int = MAX_SKEW) -> FastAPI:
    """The FastAPI application serving ``service``."""
    app = FastAPI(title="zkclear operator", version="1",
                  description=(__doc__ or "").split("\n\n")[0])
    app.state.api = ApiSettings(service, admin_token, max_body, max_skew)

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
        return _error(exc.status_code, code, str(exc.detail), exc.headers)  # 405: Allow

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

    # -- public ----------------------------------------------------------------------------

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

    # -- members ---------------------------------------------------------------------------

    @app.post("/v1/members/enrol", response_model=EnrolOut, responses=_ERRORS,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": EnrolIn.model_json_schema()}}}})
    async def enrol(auth: MemberAuth, body: Body) -> dict[str, Any]:
        try:
            doc = EnrolIn.model_validate_json(body)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise ServiceError("malformed_json", "the body is not valid JSON", 400
                                   ) from None
            raise ServiceError("invalid_request", "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
                422) from None
        return await run_in_threadpool(service.enrol, auth.slot, doc.transport_public,
                                       doc.message, nonce=auth.request_nonce)

    @app.post("/v1/epochs/{epoch}/trades", response_model=SubmitOut, responses=_ERRORS,
              status_code=201, openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string",
                                                          "format": "binary"}}}}})
    async def submit(epoch: EpochPath, auth: EpochMember, body: Body) -> dict[str, Any]:
        """Body: one transport message (zkclear.privacy.transport) for this epoch whose
        payload is ``{"trades": [{trade_id, instrument, side, size, price, counterparty},
        ...]}``."""
        return await run_in_threadpool(service.submit_trades, auth.slot, epoch, body,
                                       nonce=auth.request_nonce)

    @app.post("/v1/epochs/{epoch}/commit", response_model=CommitOut, responses=_ERRORS,
              status_code=201)
    async def commit(epoch: EpochPath, auth: EpochMember, body: Body) -> dict[str, Any]:
        """Body: ``{"commitment": "<decimal>", "ciphertext": "0x..", "signature": "0x.."}``,
        the member's signature (EIP-191, its account) of the commit digest; the operator
        posts it with closeEpoch."""
        try:
            doc = json.loads(body)
            commitment = int(doc["commitment"])
            ciphertext = bytes.fromhex(str(doc["ciphertext"]).removeprefix("0x"))
            signature = bytes.fromhex(str(doc["signature"]).removeprefix("0x"))
        except (ValueError, TypeError, KeyError) as exc:
            raise ServiceError("bad_request", f"commit body: {exc}", 400) from None
        return await run_in_threadpool(service.accept_commit, auth.slot, epoch, commitment,
                                       ciphertext, signature, nonce=auth.request_nonce)

    @app.post("/v1/epochs/{epoch}/deposit", response_model=DepositOut, responses=_ERRORS,
              status_code=201)
    async def deposit(epoch: EpochPath, auth: EpochMember, body: Body) -> dict[str, Any]:
        """Body: ``{"amount": "<decimal>", "signature": "0x.."}``, the member's signature
        (EIP-191, its account) of the deposit digest of the chain's open epoch; the
        operator posts it with closeEpoch, which pulls the amount under the member's
        standing allowance (docs/protocol.md, "Deposits")."""
        try:
            doc = json.loads(body)
            amount = int(doc["amount"])
            signature = bytes.fromhex(str(doc["signature"]).removeprefix("0x"))
        except (ValueError, TypeError, KeyError) as exc:
            raise ServiceError("bad_request", f"deposit body: {exc}", 400) from None
        return await run_in_threadpool(service.accept_deposit, auth.slot, epoch, amount,
                                       signature, nonce=auth.request_nonce)

    @app.get("/v1/epochs/{epoch}/me", response_model=MemberResultOut, responses=_ERRORS)
    async def my_result(epoch: EpochPath, auth: EpochMember) -> dict[str, Any]:
        def f() -> dict[str, Any]:
            with service.store.transaction():
                service.record_nonce(*auth.request_nonce)
                return service.member_result(auth.slot, epoch)
        return await run_in_threadpool(f)

    @app.get("/v1/lot", response_model=LotFile, responses=_ERRORS)
    async def house_lot(auth: MemberAuth) -> dict[str, Any]:
        """The house's leaf after the last accepted epoch (members only): the lot the
        next epoch auctions. Check it against that epoch's exit data
        (``ExitDataPublished``) before bidding: ``zkclear member lot``."""
        def f() -> dict[str, Any]:
            with service.store.transaction():
                service.record_nonce(*auth.request_nonce)
                return service.house_lot()
        return await run_in_threadpool(f)

    # -- admin -----------------------------------------------------------------------------

    @app.post("/v1/admin/epochs/{epoch}/net", responses=_ERRORS, dependencies=[EpochAdmin])
    async def admin_net(epoch: EpochPath) -> dict[str, Any]:
        return await run_in_threadpool(service.net_epoch, epoch)

    @app.post("/v1/admin/epochs/{epoch}/close", response_model=EpochOut, responses=_ERRORS,
              dependencies=[EpochAdmin])
    async def admin_close(epoch: EpochPath) -> dict[str, Any]:
        return await run_in_threadpool(service.request_close, epoch)

    @app.post("/v1/admin/epochs/{epoch}/settle", response_model=EpochOut, responses=_ERRORS,
              dependencies=[EpochAdmin])
    async def admin_settle(epoch: EpochPath) -> dict[str, Any]:
        """Run every due step: close (if requested), engine, prove, submitEpoch."""
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
            self.transport.write(self.conn.send(event))
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
