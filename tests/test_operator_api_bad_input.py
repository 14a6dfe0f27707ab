"""The operator API's refusals that need no chain: path parameters out of bounds, a
request the HTTP parser rejects (invalid Content-Length) -- each in the JSON error shape
-- and a database URL whose directory does not exist."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from zkclear.operator.api import ServerThread, create_app
from zkclear.operator.store import Store, StoreError, check_url


class _NoService(SimpleNamespace):
    """Only the pool id: every request below is refused before a handler runs (any call
    into the service would fail the test)."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the service was reached ({name})")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    service = _NoService(info=SimpleNamespace(pool_id="31337:0x" + "11" * 20))
    with ServerThread(create_app(service, admin_token="t" * 32)) as srv:  # type: ignore[arg-type]
        yield srv


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
    ("POST", "/v1/epochs/{}/commit"), ("POST", "/v1/admin/epochs/{}/net"),
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
        assert store.meta("schema") == "1"
    assert (tmp_path / "op.db").stat().st_mode & 0o777 == 0o600
