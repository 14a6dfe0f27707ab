"""``zkclear oracle sign`` and ``zkclear oracle post-signed`` as a user runs them
(``cli.main``, ``--json``) against the embedded chain (the CLI's JSON-RPC connection is
the in-process chain): three reporters sign epoch 1's prices to files -- one with its
key file, two as node accounts -- and one submission of the three files finalises the
epoch with the final prices three direct ``oracle post``s give. A file for another
epoch, two files of one reporter, a file altered after signing, too few files: each is
one clear line, exit status 2, and nothing is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.client import SECP256K1_HALF_N, Client
from zkclear.chain.pool import Actors
from zkclear.clearing.params import PoolConfig
from zkclear.clearing.scenario import demo_params
from zkclear.cli import main as cli
from zkclear.privacy.keyfile import write_json_secret
from zkclear.roles.member import ETH_KEY_FORMAT
from zkclear.schemas import SignedPricesFile, load

RPC = "http://127.0.0.1:9"  # never dialled: http_web3 is the embedded chain here
POSTS = (["--prices", "1010,1090"], ["--prices", "1020,1100"],
         ["--venue", "alpha=1000,1080", "--venue", "beta=1030,1095",
          "--venue", "gamma=1015,1200"])
FINAL = [1015, 1095]  # the medians of the three posts (the third's venues give 1015,1095)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = cli.main([*argv, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else {}, out.err


@pytest.fixture(scope="module")
def deployed() -> tuple[Client, Actors]:
    cl, act, _ = scenario.deploy_unproven(chain.embedded_web3(), PoolConfig(4, 2, 4),
                                          demo_params(2, 4), (1_000, 1_100))
    return cl, act


@pytest.fixture
def pool(deployed: tuple[Client, Actors], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, Actors, list[str]]]:
    """The deployment file, the chain as the CLI's node, rolled back after the test;
    yields the client, the actors and the chain options."""
    cl, act = deployed
    cl.deployment.save(tmp_path / "deployment.json")

    def connect(url: str, *, signers: Sequence[Any] = (), **_: Any) -> Any:
        # the reporters' keys are the embedded chain's own: its accounts send for them
        cl.w3.eth.default_account = (Account.from_key(signers[0]).address if signers
                                     else cl.w3.eth.accounts[0])
        return cl.w3

    monkeypatch.setattr(chain, "http_web3", connect)
    snap = chain.snapshot(cl.w3)
    try:
        yield cl, act, ["--rpc-url", RPC, "--deployment", str(tmp_path / "deployment.json")]
    finally:
        cl.w3.eth.default_account = cl.w3.eth.accounts[0]
        chain.revert(cl.w3, snap)


def signers(cl: Client, act: Actors, tmp_path: Path) -> list[list[str]]:
    """Reporter 0 signs with its key file, 1 and 2 as node accounts (--from)."""
    key = chain.embedded_private_key(cl.w3, act.reporters[0])
    assert key is not None
    key_file = write_json_secret(tmp_path / "reporter0.json",
                                 {"format": ETH_KEY_FORMAT, "key": "0x" + key.hex()},
                                 overwrite=True)
    return [["--key", str(key_file)], ["--from", act.reporters[1]],
            ["--from", act.reporters[2]]]


def sign_all(capsys: pytest.CaptureFixture[str], opts: list[str], who: list[list[str]],
             tmp_path: Path, epoch: int = 1) -> list[str]:
    files = []
    for i, (signer, post) in enumerate(zip(who, POSTS, strict=True)):
        path = str(tmp_path / f"signed-{epoch}-{i}.json")
        code, res, err = run(capsys, "oracle", "sign", *opts, *signer, "--epoch",
                             str(epoch), *post, "--out", path)
        assert code == 0, err
        assert res["out"] == path and res["epoch"] == epoch
        files.append(path)
    return files


def test_a_signed_quorum_finalises_as_direct_posts_do(pool, tmp_path, capsys) -> None:
    cl, act, opts = pool
    who = signers(cl, act, tmp_path)

    # Three direct posts, then (rolled back) the same three posts signed and submitted.
    snap = chain.snapshot(cl.w3)
    for signer, post in zip(who, POSTS, strict=True):
        code, direct, err = run(capsys, "oracle", "post", *opts, *signer, "--epoch", "1",
                                *post)
        assert code == 0, err
    assert direct["final"] and direct["final_prices"] == FINAL
    direct_hash = cl.mark_hash(1)
    chain.revert(cl.w3, snap)
    assert cl.mark_hash(1) == 0

    block = cl.w3.eth.block_number
    files = sign_all(capsys, opts, who, tmp_path)
    assert cl.w3.eth.block_number == block  # signing sends nothing
    doc = load(SignedPricesFile, files[2], what="signed")
    assert doc.reporter == act.reporters[2] and doc.prices == FINAL
    assert doc.oracle == cl.oracle.address and doc.chain_id == cl.deployment.chain_id
    assert [(q.name, q.prices) for q in doc.venues] == [
        ("alpha", [1000, 1080]), ("beta", [1030, 1095]), ("gamma", [1015, 1200])]
    assert load(SignedPricesFile, files[0], what="signed").reporter == act.reporters[0]

    # Any account submits them (here the node's first, not a reporter).
    code = cli.main(["oracle", "post-signed", *opts, "--epoch", "1", *files])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err.strip() == "epoch 1: 3 signed posts submitted; final: [1015, 1095]"
    assert cl.final_prices(1) == tuple(FINAL) and cl.mark_hash(1) == direct_hash
    posted = {p["reporter"]: p["venues"] for p in cl.posted_venues(1)}
    assert sorted(posted) == sorted(act.reporters[:3])
    assert posted[act.reporters[2]]["beta"] == (1030, 1095)

    # Text output of a signature.
    code = cli.main(["oracle", "sign", *opts, *who[1], "--epoch", "2", "--prices",
                     "1000,1100", "--out", str(tmp_path / "e2.json")])
    out = capsys.readouterr()
    assert code == 0 and " ".join(out.err.split()).startswith(  # rich wraps the line
        f"epoch 2 prices [1000, 1100] signed by {act.reporters[1]}: "), out.err

    # Submitting them again: the contract refuses, one clear line.
    code = cli.main(["oracle", "post-signed", *opts, "--epoch", "1", *files])
    assert code == 2 and "PricesAlreadyFinal" in capsys.readouterr().err


def test_refusals_send_nothing(pool, tmp_path, capsys) -> None:
    cl, act, opts = pool
    who = signers(cl, act, tmp_path)
    files = sign_all(capsys, opts, who, tmp_path)
    (later,) = sign_all(capsys, opts, who, tmp_path, epoch=2)[:1]
    tampered = tmp_path / "tampered.json"
    doc = json.loads(Path(files[1]).read_text())
    tampered.write_text(json.dumps({**doc, "prices": [1021, 1100]}))
    other_oracle = tmp_path / "other-oracle.json"
    other_oracle.write_text(json.dumps({**doc, "oracle": "0x" + "55" * 20}))
    malformed = tmp_path / "malformed.json"
    malformed.write_text(json.dumps({**doc, "v": "27"}))
    high_s = tmp_path / "high-s.json"  # the same signature's twin: recovers, not canonical
    n = 2 * SECP256K1_HALF_N + 1  # the curve's order
    high_s.write_text(json.dumps({**doc, "s": f"0x{n - int(doc['s'], 16):064x}",
                                  "v": 55 - doc["v"]}))
    no_signer = tmp_path / "no-signer.json"
    no_signer.write_text(json.dumps({**doc, "r": "0x" + "00" * 32}))
    stranger = tmp_path / "stranger.json"
    code, _, err = run(capsys, "oracle", "sign", *opts, "--epoch", "1", "--prices",
                       "1000,1100", "--out", str(stranger))  # the node's first account
    assert code == 2 and "is not a reporter" in err and not stranger.exists(), err

    block = cl.w3.eth.block_number
    for argv, words in (
        ([files[0], later, files[2]], f"{later} is signed for epoch 2, not 1"),
        ([files[0], files[1], files[1]], "are both from the reporter"),
        ([files[0], str(tampered), files[2]], "does not recover to its reporter"),
        ([files[0], str(other_oracle), files[2]], "is for the oracle 0x5555"),
        ([files[0], str(malformed), files[2]], "v: must be an integer"),
        ([files[0], str(no_signer), files[2]], "does not recover to its reporter"),
        ([files[0], str(high_s), files[2]], "not canonical (high s)"),
        (files[:2], "the oracle's quorum is 3 signed posts, got 2 files"),
        ([*files, later], "signed for epoch 2"),
    ):
        code, res, err = run(capsys, "oracle", "post-signed", *opts, "--epoch", "1", *argv)
        assert code == 2 and words in err, (argv, err)
        assert len(err.strip().splitlines()) == 1 and res["ok"] is False, err
    assert cl.w3.eth.block_number == block and cl.posted_venues(1) == []
    assert cl.mark_hash(1) == 0

    # A revert comes back as the CLI's clear error: a direct post started the round.
    code, _, err = run(capsys, "oracle", "post", *opts, *who[0], "--epoch", "1",
                       "--prices", "1010,1090")
    assert code == 0, err
    code, _, err = run(capsys, "oracle", "post-signed", *opts, "--epoch", "1", *files)
    assert code == 2 and "RoundHasPosts" in err, err


def test_a_file_is_the_post_the_contract_reads() -> None:
    """The file's venues re-encode to the blob the client signed (b"" for none)."""
    from zkclear.chain.oracle import decode_venues
    from zkclear.roles.signed_prices import signed_post
    from zkclear.schemas import parse

    doc = {"format": "zkclear-signed-prices-v1", "chain_id": 31337, "oracle": "0x" + "55" * 20,
           "epoch": 1, "reporter": "0x" + "22" * 20, "observed_at": 1767000000,
           "prices": [1015, 1095], "funding": [0, -3],
           "venues": [{"name": "beta", "prices": [1030, 1095]},
                      {"name": "alpha", "prices": [1000, 1080]}],
           "v": 27, "r": "0x" + "ab" * 32, "s": "0x" + "cd" * 32}
    post = signed_post(parse(SignedPricesFile, doc, where="doc"))
    assert (post.epoch, post.observed_at, post.prices, post.funding, post.v) == (
        1, 1767000000, (1015, 1095), (0, -3), 27)
    assert (post.r, post.s) == (b"\xab" * 32, b"\xcd" * 32)
    assert list(decode_venues(post.venues).items()) == [("beta", (1030, 1095)),
                                                        ("alpha", (1000, 1080))]
    assert signed_post(parse(SignedPricesFile, {**doc, "venues": []}, where="doc")).venues == b""
