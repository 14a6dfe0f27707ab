"""The operator API's refusals that need no chain -- path parameters out of bounds, a
request the HTTP parser rejects (invalid Content-Length), unknown paths and methods,
missing or bad authentication, bodies over the limit or malformed, internal errors --
each in the JSON error shape; the OpenAPI document's security schemes; and a database
URL whose directory does not exist."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from eth_account import Account

from zkclear.operator.api import ServerThread, create_app
from zkclear.operator.auth import MAX_EPOCH
from zkclear.operator.signing import sign_request
from zkclear.operator.store import Store, StoreError, check_url

POOL_ID = "31337:0x" + "11" * 20
TOKEN = "t" * 32
MEMBER = Account.create()


class _NoService(SimpleNamespace):
    """Only the pool id: every request below is refused before a handler runs (any call
    into the service would fail the test)."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the service was reached ({name})")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    service = _NoService(info=SimpleNamespace(pool_id=POOL_ID))
    with ServerThread(create_app(service, admin_token=TOKEN)) as srv:  # type: ignore[arg-type]
        yield srv


class _MemberService:
    """Enough of a service for authentication to pass for MEMBER (slot 1): a store for the
    nonces and ``slotOf``. Enrolment fails inside (an internal error); anything else
    would fail the test."""

    def __init__(self, store: Store) -> None:
        self.info = SimpleNamespace(pool_id=POOL_ID)
        self.store = store

    def slot_of(self, address: str) -> int | None:
        return 1 if address == MEMBER.address else None

    def enrol(self, *args: object, **kw: object) -> None:
        raise RuntimeError("a detail that must not reach the client")


@pytest.fixture(scope="module")
def member_server(tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[ServerThread, Store]]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('api')}/op.db")
    app = create_app(_MemberService(store), admin_token=TOKEN, max_body=1024)  # type: ignore[arg-type]
    with ServerThread(app) as srv:
        yield srv, store
    store.close()


def _json_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("epoch", ["18446744073709551616", str(2**63), "-1", "abc", "1e3"])
@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/epochs/{}"), ("GET", "/v1/epochs/{}/me"), ("POST", "/v1/epochs/{}/trades"),
    ("POST", "/v1/epochs/{}/commit"), ("POST", "/v1/epochs/{}/deposit"),
    ("POST", "/v1/admin/epochs/{}/net"),
    ("POST", "/v1/admin/epochs/{}/close"), ("POST", "/v1/admin/epochs/{}/settle")])
def test_epoch_out_of_bounds_is_422_json(server, method, path, epoch) -> None:
    r = httpx.request(method, server.url + path.format(epoch), timeout=10)
    err = _json_error(r, 422, "invalid_request")
    assert "epoch" in err["message"]


def test_largest_epoch_passes_validation(server) -> None:
    # 2^63 - 1 is in bounds: the request gets past validation (here: to authentication).
    r = httpx.get(server.url + f"/v1/epochs/{2**63 - 1}/me", timeout=10)
    _json_error(r, 401, "unauthenticated")


def _raw(server: ServerThread, request: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return lines[0], headers, body


@pytest.mark.parametrize("length", [b"abc", b"-5", b"1, 2"])
def test_invalid_content_length_is_json(server, length) -> None:
    status, headers, body = _raw(server, b"POST /v1/epochs/1/trades HTTP/1.1\r\n"
                                 b"Host: x\r\nContent-Length: " + length + b"\r\n\r\n")
    assert " 400 " in status and headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["error"]["code"] == "bad_request" and doc["error"]["message"]


def test_store_refuses_a_missing_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/op.db"
    with pytest.raises(StoreError, match="does not exist"):
        check_url(url)
    with pytest.raises(StoreError, match="does not exist"):
        Store(url)
    assert not (tmp_path / "no").exists()
    with Store(f"sqlite:///{tmp_path}/op.db") as store:  # an existing directory: created
        assert store.meta("schema") == "2"
    assert (tmp_path / "op.db").stat().st_mode & 0o777 == 0o600


# --- every error in the JSON shape ------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("GET", "/v1/nowhere"), ("POST", "/v1/epochs/1/x"),
                                         ("GET", "/")])
def test_unknown_path_is_404_json(server, method, path) -> None:
    _json_error(httpx.request(method, server.url + path, timeout=10), 404, "not_found")


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/v1/health", "GET"), ("GET", "/v1/epochs/1/trades", "POST"),
    ("PUT", "/v1/admin/epochs/1/net", "POST")])
def test_wrong_method_is_405_json(server, method, path, allow) -> None:
    r = httpx.request(method, server.url + path, timeout=10)
    _json_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == allow


@pytest.mark.parametrize("method,path", [
    ("POST", "/v1/members/enrol"), ("POST", "/v1/epochs/1/trades"),
    ("POST", "/v1/epochs/1/commit"), ("POST", "/v1/epochs/1/deposit"),
    ("GET", "/v1/epochs/1/me"), ("GET", "/v1/lot")])
def test_member_routes_without_signature_are_401_json(server, method, path) -> None:
    _json_error(httpx.request(method, server.url + path, timeout=10), 401, "unauthenticated")


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"},
                                     {"authorization": f"Basic {TOKEN}"},
                                     {"authorization": TOKEN}])
def test_admin_routes_without_the_token_are_403_json(server, headers) -> None:
    for action in ("net", "close", "settle"):
        r = httpx.post(server.url + f"/v1/admin/epochs/1/{action}", headers=headers,
                       timeout=10)
        assert "bearer token" in _json_error(r, 403, "forbidden")["message"]


def test_body_over_the_limit_is_413_json(server) -> None:
    # Announced by Content-Length (refused before reading), or streamed without one.
    r = httpx.post(server.url + "/v1/epochs/1/trades", content=b"x" * (64 * 1024 + 1),
                   timeout=10)
    _json_error(r, 413, "body_too_large")
    r = httpx.post(server.url + "/v1/epochs/1/trades",
                   content=iter([b"x" * 40_000, b"x" * 40_000]), timeout=10)
    assert "transfer-encoding" in r.request.headers
    _json_error(r, 413, "body_too_large")


def _signed(srv: ServerThread, method: str, path: str, body: bytes = b"",
            **kw: object) -> httpx.Response:
    headers = sign_request(MEMBER.key, POOL_ID, method, path, body, **kw)  # type: ignore[arg-type]
    return httpx.request(method, srv.url + path, content=body, headers=headers, timeout=10)


def test_member_authentication_refusals_are_json(member_server) -> None:
    srv, store = member_server
    _json_error(_signed(srv, "GET", "/v1/epochs/1/me", timestamp=int(time.time()) - 3600),
                401, "stale_request")
    _json_error(_signed(srv, "GET", "/v1/epochs/1/me", nonce="short"), 401, "unauthenticated")
    headers = sign_request(MEMBER.key, POOL_ID, "GET", "/v1/epochs/2/me", b"")
    r = httpx.get(srv.url + "/v1/epochs/1/me", headers=headers, timeout=10)  # another path
    _json_error(r, 401, "bad_signature")
    other = Account.create()
    headers = sign_request(other.key, POOL_ID, "GET", "/v1/epochs/1/me", b"")
    _json_error(httpx.get(srv.url + "/v1/epochs/1/me", headers=headers, timeout=10),
                403, "unknown_member")
    nonce = "n" * 24
    with store.transaction() as db:
        db.execute("INSERT INTO request_nonces VALUES (?, ?, ?)",
                   (MEMBER.address.lower(), nonce, int(time.time())))
    _json_error(_signed(srv, "GET", "/v1/epochs/1/me", nonce=nonce), 409, "replayed_request")


def test_body_validation_errors_are_json(member_server) -> None:
    srv, _ = member_server
    err = _json_error(_signed(srv, "POST", "/v1/members/enrol", b'{"transport_public": 1}'),
                      422, "invalid_request")
    assert "transport_public" in err["message"] and "message" in err["message"]
    _json_error(_signed(srv, "POST", "/v1/members/enrol", b"{not json"), 400,
                "malformed_json")
    _json_error(_signed(srv, "POST", "/v1/epochs/1/commit", b"[]"), 400, "bad_request")
    for body in (b"[]", b'{"amount": "x", "signature": "0x00"}', b'{"amount": "5"}',
                 b'{"amount": "5", "signature": "0xzz"}'):
        _json_error(_signed(srv, "POST", "/v1/epochs/1/deposit", body), 400, "bad_request")
    _json_error(_signed(srv, "POST", "/v1/epochs/1/trades", b"x" * 1025), 413,
                "body_too_large")


def test_internal_error_is_json_without_details(member_server) -> None:
    body = json.dumps({"transport_public": "0x" + "00" * 32, "message": "AA=="}).encode()
    err = _json_error(_signed(member_server[0], "POST", "/v1/members/enrol", body), 500,
                      "internal_error")
    assert "must not reach" not in err["message"] and "RuntimeError" in err["message"]


def test_openapi_documents_auth_and_bounds(server) -> None:
    spec = httpx.get(server.url + "/openapi.json", timeout=10).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["MemberSignature"] == {**schemes["MemberSignature"], "type": "apiKey",
                                          "in": "header", "name": "X-Zkclear-Signature"}
    assert schemes["AdminToken"]["type"] == "http"
    assert schemes["AdminToken"]["scheme"] == "bearer"
    ops = {(m.upper(), p): op for p, item in spec["paths"].items() for m, op in item.items()}
    for key, op in ops.items():
        want = ([{"AdminToken": []}] if "/admin/" in key[1] else
                [{"MemberSignature": []}] if key[1] not in (
                    "/v1/health", "/v1/pool", "/v1/epochs/{epoch}") else None)
        assert op.get("security") == want, key
        params = {p["name"]: p for p in op.get("parameters", [])}
        if "{epoch}" in key[1]:
            assert params["epoch"]["schema"]["minimum"] == 0
            assert params["epoch"]["schema"]["maximum"] == MAX_EPOCH
        if want == [{"MemberSignature": []}]:
            assert {"X-Zkclear-Address", "X-Zkclear-Timestamp", "X-Zkclear-Nonce"} <= set(params)
