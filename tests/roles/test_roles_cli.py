"""The roles' commands on a real JSON-RPC node (hardhat, started on 127.0.0.1): deploy from
a pool file, a member's registration request (vkh + escrow), governance propose / confirm /
execute with its time-lock, oracle posts by two reporters -- one of them an account the
node does not hold, signing locally with --key. Every command as a user runs it
(``cli.main``, ``--json``); bad input gives one clear error and exit status 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.client import Client
from zkclear.chain.contracts import Deployment
from zkclear.cli import main as cli
from zkclear.privacy.compliance import generate_compliance_key, recover
from zkclear.privacy.keyfile import write_json_secret
from zkclear.roles.member import ETH_KEY_FORMAT, keygen


def run(capsys, *argv: str) -> tuple[int, dict, str]:
    code = cli.main([*argv, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else {}, out.err


@pytest.fixture(scope="module")
def node() -> Iterator[chain.HardhatNode]:
    scenario.epoch_keys()  # the N=4 development keys, cached for `deploy --insecure-dev-setup`
    with chain.HardhatNode() as n:
        yield n


def key_file(path: Path, account) -> Path:
    write_json_secret(path, {"format": ETH_KEY_FORMAT, "key": "0x" + bytes(account.key).hex()})
    return path


def test_deploy_register_and_price_through_the_cli(node, tmp_path, capsys) -> None:
    w3 = node.web3()
    a = w3.eth.accounts
    reporter = Account.create()  # not held by the node: signs with --key
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
        {"from": a[0], "to": reporter.address, "value": 10**18}))
    pool = {
        "format": "zkclear-pool-v1", "slots": 4, "instruments": 2, "scenarios": 4,
        "risk": {"im_factor_bp": 15000, "penalty_bp": 1000,
                 "position_limits": [10**9, 10**9],
                 "shocks": [[500, 500], [-500, -500], [1000, 1000], [-1000, -1000]]},
        "genesis_prices": [1000, 1100],
        "owners": a[0:3], "threshold": 2, "delay": 3600,
        "reporters": [a[3], reporter.address, a[5]], "quorum": 3,
        "max_move_bp": 2000, "max_age": 3600,
        "operator": a[0], "house_account": a[6], "token": None,
    }
    (tmp_path / "pool.json").write_text(json.dumps(pool))
    url = node.url
    dep_file = str(tmp_path / "deployment.json")

    # Without installed ceremony keys, deploying needs the explicit insecure flag.
    code, data, err = run(capsys, "deploy", "--rpc-url", url, "--pool",
                          str(tmp_path / "pool.json"), "--out", dep_file)
    if code == 2:  # no ceremony keys installed here: the refusal names the way out
        assert "--insecure-dev-setup" in err
        code, data, err = run(capsys, "deploy", "--rpc-url", url, "--pool",
                              str(tmp_path / "pool.json"), "--out", dep_file,
                              "--insecure-dev-setup")
    assert code == 0, err
    dep = Deployment.load(Path(dep_file))
    house = dep.address("ClearingHouse")
    assert data["addresses"]["ClearingHouse"] == house and dep.chain_id == 31337

    # A member's registration request: keys, then vkh + escrow to the compliance key.
    member_dir = tmp_path / "member1"
    info = keygen(member_dir, 1, "0x" + "11" * 32)
    compliance = generate_compliance_key()
    pool_id = f"{dep.chain_id}:{house}"  # checksummed: normalised to the escrow's spelling
    code, req, err = run(capsys, "member", "escrow", "--dir", str(member_dir),
                         "--compliance-public", "0x" + compliance.public_bytes.hex(),
                         "--pool-id", pool_id)
    assert code == 0, err
    assert (req["slot"], req["account"], req["vkh"]) == (1, info["account"], info["vkh"])
    assert req["pool_id"] == dep.pool_id == f"31337:{house.lower()}"

    # Governance: owner 0 proposes, owner 1 confirms, the time-lock passes, anyone executes.
    owner0 = ["--rpc-url", url, "--deployment", dep_file]
    code, prop, err = run(capsys, "governance", "propose", "register-member", *owner0,
                          "--slot", "1", "--account", req["account"], "--vkh", req["vkh"],
                          "--escrow", req["escrow"])
    assert code == 0, err
    pid = str(prop["proposal"])
    assert prop["confirmations"] == 1 and prop["eta"] is None
    owner1 = key_file(tmp_path / "owner1.json", Account.from_key(
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"))  # hardhat #1
    assert Account.from_key(json.loads(owner1.read_text())["key"]).address == a[1]
    code, conf, err = run(capsys, "governance", "confirm", *owner0, "--key", str(owner1),
                          "--id", pid)
    assert code == 0 and conf["confirmations"] == 2 and conf["eta"], err
    code, _, err = run(capsys, "governance", "execute", *owner0, "--id", pid)
    assert code == 2 and "TimelockNotExpired" in err, err
    chain.advance_time(w3, 3601)
    code, done, err = run(capsys, "governance", "execute", *owner0, "--id", pid)
    assert code == 0 and done["executed"], err
    cl = Client(w3, dep)
    assert cl.slot_of(req["account"]) == 1
    (ev,) = cl.house.events.MemberRegistered().get_logs(from_block=dep.first_block,
                                                         argument_filters={"slot": 1})
    assert str(ev["args"]["vkh"]) == req["vkh"]
    # The compliance officers can open the escrow the chain now holds.
    opened = recover(bytes(ev["args"]["escrow"]), compliance, 1, dep.pool_id,
                     expected_vkh=int(req["vkh"]))
    assert str(opened.vkh) == req["vkh"]

    # Oracle: three reporters post epoch 1's prices (one from its venues); the third
    # post finalises the median.
    r_key = key_file(tmp_path / "reporter.json", reporter)
    code, p1, err = run(capsys, "oracle", "post", *owner0, "--key", str(r_key), "--epoch",
                        "1", "--prices", "1010,1090")
    assert code == 0 and not p1["final"], err
    code, p2, err = run(capsys, "oracle", "post", "--rpc-url", url, "--deployment", dep_file,
                        "--epoch", "1", "--prices", "1020,1100")  # node account a[0]: refused
    assert code == 2 and "NotReporter" in err, err
    code, p2, err = run(capsys, "oracle", "post", "--rpc-url", url, "--deployment", dep_file,
                        "--epoch", "1", "--prices", "1020,1100", "--from", a[5])
    assert code == 0 and not p2["final"], err
    code, p3, err = run(capsys, "oracle", "post", *owner0, "--from", a[3], "--epoch", "1",
                        "--venue", "alpha=1000,1080", "--venue", "beta=1030,1095",
                        "--venue", "gamma=1015,1200")
    assert code == 0 and p3["prices"] == [1015, 1095], err
    assert p3["final"] and p3["final_prices"] == [1015, 1095], p3
    assert cl.final_prices(1) == (1015, 1095)
    (posted,) = [p for p in cl.posted_venues(1) if p["reporter"] == a[3]]
    assert posted["venues"] == {"alpha": (1000, 1080), "beta": (1030, 1095),
                                "gamma": (1015, 1200)}

    # Bad input: one line, exit status 2, nothing sent.
    for argv, words in (
        (["oracle", "post", *owner0, "--epoch", "2", "--prices", "1,x"], "price in ticks"),
        (["oracle", "post", *owner0, "--epoch", "2", "--prices", "1,2,3"], "2 instruments"),
        (["oracle", "post", *owner0, "--epoch", "2"], "--prices or"),
        (["oracle", "post", *owner0, "--epoch", "2", "--venue", "x"], "NAME=P1"),
        (["oracle", "post", *owner0, "--epoch", "2", "--venue", "x=1"], "2 instruments"),
        (["governance", "show", *owner0, "--id", "99"], "no proposal 99"),
        (["governance", "propose", "register-member", *owner0, "--slot", "2"], "needs"),
        (["deploy", "--rpc-url", url, "--pool", str(tmp_path / "nope.json")], "pool file"),
        (["member", "escrow", "--dir", str(member_dir), "--compliance-public",
          "0x" + compliance.public_bytes.hex(), "--pool-id", house], "a pool id is"),
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and words in err, (argv, err)
