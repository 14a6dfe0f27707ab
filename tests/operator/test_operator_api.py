"""The operator service over real HTTP (uvicorn on 127.0.0.1) with several member
clients, on the embedded EVM with real epoch proofs; and the API's refusals of bad
input, each leaving the database untouched."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from zkclear.chain import scenario
from zkclear.clearing.epoch import run_epoch
from zkclear.clearing.state import PoolState
from zkclear.operator.api import sign_request
from zkclear.operator.service import ServiceError
from zkclear.operator.store import Store, StoreError
from zkclear.privacy.transport import TransportSender
from zkclear.roles.member import MemberClient, MemberError, check_result

from . import helpers as ops

PRICES_1 = (1_010, 1_095)

Env = ops.ServiceEnv


#: The options of this module's ``env`` (tests/operator/conftest.py).
SERVICE = {"auto_close": False}


def _signed(env: Env, member: ops.Member, method: str, path: str, body: bytes,
            **kw: object) -> dict[str, str]:
    return sign_request(member.eth_key, env.service.info.pool_id, method, path, body,
                        **kw)  # type: ignore[arg-type]


def _trade_message(env: Env, member: ops.Member, epoch: int, trades: list[dict]) -> bytes:
    sender = TransportSender(member.transport, member.slot, env.service.transport.public_bytes,
                             env.service.info.pool_id)
    return sender.seal(json.dumps({"trades": trades}).encode(), epoch, time.time_ns())


def _refused(env: Env, resp: httpx.Response, status: int, code: str,
             before: dict[str, int]) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert env.store.counts() == before, "a refused request changed the database"


def test_store_url_schemes(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="only sqlite"):
        Store("postgresql://localhost/zkclear")
    with pytest.raises(StoreError, match="bad SQLite URL"):
        Store("sqlite://host/x.db")
    with Store(f"sqlite:///{tmp_path}/a.db") as s:
        assert s.one("PRAGMA journal_mode")[0] == "wal"
        assert (tmp_path / "a.db").stat().st_mode & 0o777 == 0o600
        s.bind_pool("1:0xabc")
        with pytest.raises(StoreError, match="belongs to pool"):
            s.bind_pool("1:0xdef")


def test_public_endpoints_and_openapi(env: Env) -> None:
    h = env.http.get("/v1/health").json()
    assert h == {"ok": True, "intake_epoch": 1, "chain_open_epoch": 1,
                 "last_accepted_epoch": 0}
    p = env.http.get("/v1/pool").json()
    assert p["pool_id"] == env.service.info.pool_id and p["n_slots"] == 4
    spec = env.http.get("/openapi.json").json()
    for path in ("/v1/members/enrol", "/v1/epochs/{epoch}/trades", "/v1/epochs/{epoch}/me",
                 "/v1/admin/epochs/{epoch}/net"):
        assert path in spec["paths"], path
    r = env.http.get("/v1/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_enrol_members(env: Env) -> None:
    for slot, c in env.clients.items():
        assert c.enrol() == {"slot": slot, "vkh": str(env.members[slot].view_key.vkh)}
    rows = env.store.query("SELECT slot, view_key FROM members ORDER BY slot")
    assert [r[0] for r in rows] == [1, 2, 3]
    assert all(int(r[1], 16) == env.members[r[0]].view_key.key.reveal() for r in rows)


def test_bad_requests_refused_and_nothing_stored(env: Env) -> None:
    m1 = env.members[1]
    msg = _trade_message(env, m1, 1, ops.as_dicts(ops.story_trades()[1]))
    path = "/v1/epochs/1/trades"
    octet = {"content-type": "application/octet-stream"}
    before = env.store.counts()

    _refused(env, env.http.post(path, content=msg, headers=octet), 401, "unauthenticated",
             before)
    # forged: signed by slot 2's key but claiming slot 1's account
    h = _signed(env, env.members[2], "POST", path, msg) | {"X-Zkclear-Address": m1.account}
    _refused(env, env.http.post(path, content=msg, headers=octet | h), 401, "bad_signature",
             before)
    # signature over another body
    h = _signed(env, m1, "POST", path, b"other")
    _refused(env, env.http.post(path, content=msg, headers=octet | h), 401, "bad_signature",
             before)
    h = _signed(env, m1, "POST", path, msg, timestamp=int(time.time()) - 3600)
    _refused(env, env.http.post(path, content=msg, headers=octet | h), 401, "stale_request",
             before)
    big = b"\0" * (64 * 1024 + 1)
    h = _signed(env, m1, "POST", path, big)
    _refused(env, env.http.post(path, content=big, headers=octet | h), 413, "body_too_large",
             before)
    # unknown member: a funded account that holds no slot
    keys = ops.account_keys(env.pool.w3)
    outsider = env.pool.actors.reporters[0]
    h = sign_request(keys[outsider], env.service.info.pool_id, "POST", path, msg)
    _refused(env, env.http.post(path, content=msg, headers=octet | h), 403, "unknown_member",
             before)
    # malformed JSON and a wrong schema at enrolment
    for body, status, code in ((b"{not json", 400, "malformed_json"),
                               (b'{"transport_public": 1}', 422, "invalid_request")):
        h = _signed(env, m1, "POST", "/v1/members/enrol", body)
        _refused(env, env.http.post("/v1/members/enrol", content=body,
                                    headers={"content-type": "application/json"} | h),
                 status, code, before)
    # an authenticated request whose sealed payload is not a trade list
    bad = TransportSender(m1.transport, 1, env.service.transport.public_bytes,
                          env.service.info.pool_id).seal(b"[1, 2", 1, time.time_ns())
    h = _signed(env, m1, "POST", path, bad)
    _refused(env, env.http.post(path, content=bad, headers=octet | h), 422,
             "malformed_trades", before)
    # a tampered message
    tampered = msg[:-1] + bytes([msg[-1] ^ 1])
    h = _signed(env, m1, "POST", path, tampered)
    _refused(env, env.http.post(path, content=tampered, headers=octet | h), 400,
             "tampered_message", before)
    # admin without the token
    _refused(env, env.http.post("/v1/admin/epochs/1/net"), 403, "forbidden", before)

    # replays: the same signed request twice, and the same sealed message again
    h = _signed(env, m1, "GET", "/v1/epochs/1/me", b"")
    assert env.http.get("/v1/epochs/1/me", headers=h).status_code == 200
    after_get = env.store.counts()
    assert after_get["request_nonces"] == before["request_nonces"] + 1
    _refused(env, env.http.get("/v1/epochs/1/me", headers=h), 409, "replayed_request",
             after_get)
    h = _signed(env, m1, "POST", path, msg)
    r = env.http.post(path, content=msg, headers=octet | h)
    assert r.status_code == 201, r.text
    stored = env.store.counts()
    assert stored["submissions"] == after_get["submissions"] + 1
    h = _signed(env, m1, "POST", path, msg)  # fresh nonce, replayed transport message
    _refused(env, env.http.post(path, content=msg, headers=octet | h), 409,
             "replayed_message", stored)


def test_epoch_end_to_end_over_http(env: Env) -> None:
    """intake -> net -> members verify and commit on-chain -> close -> prove -> submit."""
    cl, svc = env.pool.client, env.service
    trades = ops.story_trades()
    for slot, c in env.clients.items():
        assert c.submit_trades(trades[slot])["trades"] == len(trades[slot])
    r = env.admin("/v1/admin/epochs/1/net")
    assert r.status_code == 409 and r.json()["error"]["code"] == "prices_not_final"
    scenario.post_prices(env.pool, 1, PRICES_1)
    r = env.admin("/v1/admin/epochs/1/net")
    assert r.status_code == 200, r.text
    net = r.json()
    assert net["reports"] == [1, 2, 3] and net["accepted"] == 3
    assert env.http.get("/v1/pool").json()["intake_epoch"] == 2

    res3 = env.clients[3].result(1)
    reasons = {x["trade_id"]: x["reason"] for x in res3["rejected"]}
    assert reasons == {"x1": "CONTRADICTORY", "u1": "UNMATCHED"}
    # a member refuses a result that does not match its own trades
    wrong = [*ops.as_dicts(trades[3][:1]), {**ops.as_dicts(trades[3])[1], "size": 4},
             *ops.as_dicts(trades[3][2:])]
    with pytest.raises(MemberError, match="not one this member sent"):
        check_result(res3, wrong, PRICES_1, 2)

    commitments = {s: c.commit(1) for s, c in env.clients.items()}
    assert all(commitments.values())
    assert env.clients[1].commit(1) == commitments[1]  # idempotent
    signed = svc.signed_commits(1)
    assert {s: c.commitment for s, c in signed.items()} == commitments \
        == svc.expected_commitments(1)
    assert svc.committed(1) == {}  # nothing on-chain before the operator's closeEpoch
    # a commitment signed by another member's key, or not the netted report's, is refused
    s1 = signed[1]
    other = cl.sign_commit(env.clients[2].eth_key, 1, 1, s1.commitment, s1.ciphertext)
    for args, code in (((s1.commitment, s1.ciphertext, other.signature), "bad_signature"),
                       ((s1.commitment + 1, s1.ciphertext, s1.signature), "wrong_commitment"),
                       ((s1.commitment, s1.ciphertext + b"x", s1.signature),
                        "wrong_commitment")):
        with pytest.raises(ServiceError) as ei:
            svc.accept_commit(1, 1, *args)
        assert ei.value.code == code

    # every member deposited itself in epoch 1: a signed deposit for the operator to
    # post is refused (one per slot and epoch), as is one signed by another's key
    with pytest.raises(MemberError, match="already deposited in epoch 1"):
        env.clients[1].post_deposit(700)
    forged = cl.sign_deposit(env.clients[2].eth_key, 1, 1, 700)
    for args, code in (((1, 1, 700, forged.signature), "deposit_refused"),
                       ((1, 1, 0, forged.signature), "deposit_refused"),
                       ((1, 1, 700, b"\0" * 64), "bad_signature")):
        with pytest.raises(ServiceError) as ei:
            svc.accept_deposit(*args)
        assert ei.value.code == code
    assert svc.signed_deposits(1) == {}

    r = env.admin("/v1/admin/epochs/1/close")
    assert r.status_code == 200 and r.json()["phase"] == "closed", r.text
    assert svc.committed(1) == commitments  # posted with closeEpoch
    r = env.admin("/v1/admin/epochs/1/settle")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["phase"] == "accepted" and out["accepted_on_chain"]
    assert cl.last_accepted_epoch() == 1
    new = svc.state()
    assert new.epoch == 1 and cl.state_root() == new.root() == int(out["new_root"])
    assert cl.total_collateral() == new.total_collateral() == 3 * ops.DEPOSIT

    # the engine, run independently on the chain's data with the members' keys, agrees:
    # nonces are derived from the keys, so anyone holding them recomputes the same root
    genesis = PoolState.from_json(json.loads(env.store.one(
        "SELECT state FROM pool_state WHERE epoch = 0")[0]))
    again = run_epoch(genesis, svc.params_for(1), cl.final_prices(1), cl.epoch_events(1),
                      svc.reports(1), view_keys={s: m.view_key for s, m in env.members.items()})
    assert again.new.root() == new.root()
    steps = [s for _, s in env.store.journal_steps(1)]
    assert steps == ["netted", "close_requested", "close_sending", "closed", "proving",
                     "proved", "submit_sending", "accepted"]
    # the member's view after the epoch: its positions are what it netted
    me = env.clients[1].result(1)
    assert me["phase"] == "accepted" and me["committed_on_chain"]
    assert list(new.leaves[1].positions) == [int(d) for d in me["report"]["delta"]]


def test_second_epoch_netted_on_schedule_and_settled_by_the_driver(env: Env) -> None:
    """Epoch 2 with no admin command: the driver's tick nets on schedule once prices are
    final, closes when every report is committed, proves and submits."""
    svc, cl = env.service, env.pool.client
    assert svc.intake_epoch() == 2
    # a member signs a deposit for the operator to post at the close (its standing
    # allowance granted once): posted with closeEpoch, proven and accepted
    total = cl.total_collateral()
    assert env.clients[2].post_deposit(700) == {"epoch": 2, "slot": 2, "amount": "700"}
    assert {s: d.amount for s, d in svc.signed_deposits(2).items()} == {2: 700}
    assert cl.deposit_of(2, 2) == 0  # nothing on-chain before the close
    svc.net_after, svc.auto_close = 0.0, True
    try:
        ops.drive_epoch(env, 2, (1_020, 1_090))
    finally:
        svc.net_after, svc.auto_close = None, False
    assert svc.epoch_public(2)["phase"] == "accepted"
    assert cl.deposit_of(2, 2) == 700 and cl.epoch_info(2)["deposits"] == 700
    assert cl.total_collateral() == total + 700
    assert cl.last_accepted_epoch() == 2 and cl.state_root() == svc.state().root()
    assert svc.state().epoch == 2


def test_enrol_refuses_a_wrong_view_key(env: Env) -> None:
    m = env.members[2]
    before = env.store.counts()
    from zkclear.privacy.viewkeys import MemberKey

    c = MemberClient(env.server.url, m.eth_key, m.transport, MemberKey.generate(2))
    try:
        with pytest.raises(MemberError) as ei:
            c.enrol()
        assert ei.value.status == 422 and ei.value.code == "view_key_mismatch"
    finally:
        c.close()
    assert env.store.counts() == before


def test_member_cli(env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zkclear.cli.main import main

    m3 = env.members[3]
    d = tmp_path / "m3"
    assert main(["member", "keygen", "--dir", str(d), "--slot", "3", "--eth-key", m3.eth_key,
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["account"] == m3.account and (d / "viewkey.json").stat().st_mode & 0o077 == 0
    assert main(["member", "result", "--dir", str(d), "--epoch", "1", "--operator-url",
                 env.server.url, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["result"]
    assert res["phase"] == "accepted" and res["report"] is not None
    before = env.store.counts()
    # a fresh view key is not the one slot 3 registered: one clear error, exit status 2
    assert main(["member", "enrol", "--dir", str(d), "--operator-url", env.server.url]) == 2
    assert "view_key_mismatch" in capsys.readouterr().err
    assert env.store.counts() == before
