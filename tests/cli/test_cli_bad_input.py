"""Every ``zkclear`` subcommand with bad input: exit status 2, one line
``zkclear: error: ...`` on stderr, never a traceback. The subcommands are read from the
click application itself, so a new one without a bad-input case here fails
:func:`test_every_subcommand_has_bad_input_cases`. Nothing here proves or starts a node:
the unreachable RPC (127.0.0.1:9) is refused at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from zkclear.chain.contracts import Deployment
from zkclear.chain.node import embedded_web3
from zkclear.clearing.params import PoolConfig
from zkclear.cli import main as cli
from zkclear.errors import ZkclearError
from zkclear.roles.member import keygen

RPC = "http://127.0.0.1:9"  # loopback, nothing listens: connection refused
DEP = "dep.json"  # a well-formed deployment file (see the fixture)
KEYS = "keys"  # a member's key folder
POOL = {
    "format": "zkclear-pool-v1", "slots": 4, "instruments": 2, "scenarios": 4,
    "risk": {"im_factor_bp": 15000, "penalty_bp": 1000, "position_limits": [10**9, 10**9],
             "shocks": [[500, 500], [-500, -500], [1000, 1000], [-1000, -1000]]},
    "genesis_prices": [1000, 1100], "owners": ["0x" + "11" * 20], "threshold": 1,
    "delay": 3600, "reporters": ["0x" + "22" * 20], "quorum": 1, "max_move_bp": 2000,
    "max_age": 3600, "operator": "0x" + "33" * 20, "house_account": "0x" + "44" * 20,
    "token": None,
}
CHAIN = ["--rpc-url", RPC, "--deployment", DEP]

# Per subcommand: argument lists that must each fail (after the subcommand's words).
BAD: dict[tuple[str, ...], list[list[str]]] = {
    ("epoch", "prove"): [["--slots", "3x"], ["--instruments", "0"], ["--scenarios", "-2"],
                         ["--workers", "0"], ["--ray", "head"], ["--ray", "auto", "--workers",
                                                                  "1"]],
    ("audit",): [["--rpc-url", RPC, "--deployment", "missing.json", "--key", "k.json"],
                 [*CHAIN, "--key", "missing-key.json"], [*CHAIN, "--key", "k", "--slot", "x"],
                 [*CHAIN], [*CHAIN, "--key", DEP, "--compliance-key", DEP]],
    ("doctor",): [["--bogus"]],
    ("demo",): [["--bogus"]],
    ("drill",): [["no_such_drill"], []],
    ("circuit", "list"): [["--bogus"]],
    ("circuit", "compile"): [["no_such_circuit"],
                             ["report_commitment", "--param", "instruments=-1"],
                             ["report_commitment", "--param", "instruments=99999999"]],
    ("setup",): [["no_such_circuit"], ["report_commitment", "--param", "x"]],
    ("ptau", "dev"): [["--power", "99"], ["--power", "0"], ["--power", "x"]],
    ("ceremony", "init"): [["no_such_circuit", "--dir", "c"], ["report_commitment"]],
    ("ceremony", "contribute"): [["--dir", "missing", "--name", "a"], ["--dir", "c"]],
    ("ceremony", "verify"): [["no_such_circuit", "--dir", "missing"]],
    ("ceremony", "finalize"): [["no_such_circuit", "--dir", "c", "--beacon", "00"],
                               ["report_commitment", "--dir", "c", "--beacon", "00",
                                "--iterations", "99"],
                               ["report_commitment", "--dir", "c", "--beacon", "zz"]],
    ("operator", "run"): [["--rpc-url", RPC, "--deployment", DEP],
                          [*CHAIN, "--db", "sqlite:////nonexistent/dir/op.db"],
                          [*CHAIN, "--db", "postgresql://x/y"], [*CHAIN, "--port", "70000"],
                          [*CHAIN, "--interval", "0"], [*CHAIN, "--sign-timeout", "-1"],
                          [*CHAIN, "--workers", "0"], [*CHAIN, "--ray", "nonsense"],
                          [*CHAIN, "--ray", "http://127.0.0.1:6379"],
                          [*CHAIN, "--ray", "127.0.0.1:6379", "--workers", "2"],
                          # nothing listens on 127.0.0.1:9: refused before the chain
                          [*CHAIN, "--ray", "127.0.0.1:9"]],
    ("operator", "recover"): [
        ["--rpc-url", RPC, "--deployment", "missing.json", "--compliance-key", "c.json",
         "--db", "sqlite:///new.db"],
        [*CHAIN, "--compliance-key", "missing.json", "--db", "sqlite:///new.db"],
        [*CHAIN, "--shares", "s1.json", "--db", "sqlite:///new.db"],
        [*CHAIN, "--compliance-key", "c.json", "--db", "sqlite:////nonexistent/dir/op.db"],
        [*CHAIN, "--db", "sqlite:///new.db"],
        [*CHAIN, "--db", "sqlite:///new.db", DEP]],  # a second share file without --shares
    ("member", "keygen"): [["--dir", "k", "--slot", "-1"], ["--dir", "k", "--slot", "256"],
                           ["--dir", "k", "--slot", "1", "--eth-key", "0xzz"]],
    ("member", "enrol"): [["--dir", "missing"],
                          ["--dir", KEYS, "--operator-url", "http://127.0.0.1:9"],
                          ["--dir", KEYS, "--operator-url", "127.0.0.1:9545"]],
    ("member", "submit"): [["--dir", KEYS, "--trades", "no.json"],
                           ["--dir", KEYS, "--trades", "notjson.txt"],
                           ["--dir", KEYS, "--trades", "obj.json"],
                           ["--dir", KEYS, "--trades", "list.json", "--epoch", "-3"],
                           ["--dir", KEYS, "--trades", "list.json",
                            "--operator-url", "http://127.0.0.1:9"]],
    ("member", "result"): [["--dir", KEYS, "--epoch", "-1"],
                           ["--dir", KEYS, "--epoch", "1",
                            "--operator-url", "http://127.0.0.1:9"]],
    ("member", "commit"): [["--dir", KEYS, "--epoch", "x"], ["--dir", KEYS, "--epoch", "1"]],
    ("member", "deposit"): [["--dir", KEYS, "--amount", "0"],
                            ["--dir", KEYS, "--amount", "5"],
                            ["--dir", KEYS, "--amount", "5", *CHAIN]],
    ("member", "post-deposit"): [["--dir", KEYS, "--amount", "0"],
                                 ["--dir", KEYS, "--amount", "x"],
                                 ["--dir", KEYS, "--amount", str(2**120)],
                                 ["--dir", KEYS, "--amount", "5"],
                                 ["--dir", KEYS, "--amount", "5", *CHAIN]],
    ("member", "withdraw"): [["--dir", KEYS, "--amount", "-5"],
                             ["--dir", KEYS, "--amount", "5", *CHAIN]],
    ("member", "status"): [["--dir", "missing"], ["--dir", KEYS]],
    ("member", "lot"): [["--dir", "missing"], ["--dir", KEYS],
                        ["--dir", KEYS, "--operator-url", "x"], ["--dir", KEYS, *CHAIN]],
    ("member", "bid"): [["--dir", KEYS, "--amount", "x"],
                        ["--dir", KEYS, "--amount", str(2**112)],
                        ["--dir", KEYS, "--amount", str(-(2**112))],
                        ["--dir", KEYS, "--amount", "1.5"], ["--dir", KEYS],
                        ["--dir", KEYS, "--amount", "-5"],  # no chain
                        ["--dir", KEYS, "--amount", "-5", *CHAIN]],
    ("member", "reveal"): [["--dir", "missing"], ["--dir", KEYS], ["--dir", KEYS, *CHAIN]],
    ("member", "escrow"): [["--dir", KEYS, "--compliance-public", "0x12", "--pool-id", "1:0x"],
                           ["--dir", "missing", "--compliance-public", "0x" + "11" * 32,
                            "--pool-id", "1:0x" + "11" * 20],
                           ["--dir", KEYS, "--compliance-public", "0x" + "11" * 32,
                            "--pool-id", "0x" + "11" * 20]],
    ("member", "exit"): [["--rpc-url", RPC, "--deployment", "missing.json", "--dir", KEYS],
                         [*CHAIN, "--dir", KEYS], [*CHAIN, "--compliance-key", "c.json"],
                         [*CHAIN, "--view-key", "missing.json"],
                         [*CHAIN, "--dir", KEYS, "--slot", "0"],
                         [*CHAIN, "--dir", KEYS, "--view-key", DEP],
                         [*CHAIN, "--dir", KEYS, "--key", DEP, "--from", "0x" + "11" * 20]],
    ("deploy",): [["--rpc-url", RPC, "--pool", "missing.json"],
                  ["--rpc-url", RPC, "--pool", "pool-delay.json"],
                  ["--rpc-url", RPC, "--pool", "pool.json"],
                  ["--rpc-url", RPC, "--pool", "pool.json", "--from", "0x12"],
                  ["--rpc-url", "127.0.0.1:8545", "--pool", "pool.json"]],
    ("oracle", "post"): [[*CHAIN, "--epoch", "1", "--prices", "2^300,1"],
                         [*CHAIN, "--epoch", "1", "--prices", str(2**300) + ",1"],
                         [*CHAIN, "--epoch", "1", "--prices", "-1,1"],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--funding", "1,x"],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--funding=2^49,0"],
                         [*CHAIN, "--epoch", "1", "--venue", "a"],
                         [*CHAIN, "--epoch", "1"], [*CHAIN, "--epoch", "1", "--prices", "5,6"],
                         [*CHAIN, "--epoch", str(2**64), "--prices", "5,6"],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--from", "0x12"],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--key", "missing.json"],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--key", DEP,
                          "--from", "0x" + "11" * 20]],
    ("oracle", "sign"): [[*CHAIN, "--epoch", "1", "--prices", "5,6"],
                         [*CHAIN, "--epoch", "1", "--prices", "-1,1", "--out", "s.json"],
                         [*CHAIN, "--epoch", "1", "--out", "s.json"],
                         [*CHAIN, "--epoch", "1", "--venue", "a", "--out", "s.json"],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--funding", "1,x",
                          "--out", "s.json"],
                         [*CHAIN, "--epoch", str(2**64), "--prices", "5,6", "--out",
                          "s.json"],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--out", "s.json"],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--out", "s.json",
                          "--key", "missing.json"],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--out", "s.json",
                          "--key", DEP, "--from", "0x" + "11" * 20],
                         [*CHAIN, "--epoch", "1", "--prices", "5,6", "--out", "c"]],
    ("oracle", "post-signed"): [[*CHAIN, "--epoch", "1"],
                                [*CHAIN, "--epoch", "1", "missing.json"],
                                [*CHAIN, "--epoch", "x", DEP],
                                [*CHAIN, DEP],
                                [*CHAIN, "--epoch", "1", DEP],
                                [*CHAIN, "--epoch", "1", "c"],
                                [*CHAIN, "--epoch", "1", DEP, "--from", "0x12"]],
    ("oracle", "release"): [[*CHAIN, "--epoch", "-1"], [*CHAIN, "--epoch", "1"]],
    ("risk", "arrays"): [["missing.json"], [DEP], ["pool.json", "--out", "."]],
    ("oracle", "arrays"): [[*CHAIN, "--arrays", "missing.json"], [*CHAIN, "--arrays", DEP],
                           [*CHAIN, "--arrays", DEP, "--from", "0x12"]],
    ("governance", "propose"): [[*CHAIN, "no-such-action"],
                                [*CHAIN, "register-member", "--vkh", "-1"],
                                [*CHAIN, "register-member", "--slot", "0"],
                                [*CHAIN, "register-member"],
                                [*CHAIN, "set-operator", "--account", "0x1"],
                                [*CHAIN, "set-auction-params", "--reserve-bp", "10001",
                                 "--window", "600"],
                                [*CHAIN, "set-auction-params", "--reserve-bp", "-1",
                                 "--window", "600"],
                                [*CHAIN, "set-auction-params", "--reserve-bp", "100",
                                 "--window", "0"],
                                [*CHAIN, "set-auction-params", "--reserve-bp", "100",
                                 "--window", "86401"],
                                [*CHAIN, "set-auction-params", "--reserve-bp", "100"],
                                [*CHAIN, "set-auction-params", "--window", "600"],
                                [*CHAIN, "set-auction-params", "--reserve-bp", "100",
                                 "--window", "600"]],
    ("governance", "confirm"): [[*CHAIN, "--id", "-1"], [*CHAIN, "--id", "1"]],
    ("governance", "execute"): [[*CHAIN, "--id", "x"], [*CHAIN, "--id", "1"]],
    ("governance", "show"): [[*CHAIN, "--id", "-1"], [*CHAIN, "--id", "1"],
                             ["--rpc-url", RPC, "--deployment", "missing.json", "--id", "1"]],
    ("stress", "run"): [["--pool", "missing.json", "--generate", "5", "--epochs", "3"],
                        ["--pool", "pool.json", "--generate", "0", "--epochs", "3"],
                        ["--pool", "pool.json", "--generate", "5", "--epochs", "3",
                         "--corr", "2"],
                        ["--pool", "pool.json", "--generate", "5"],
                        ["--pool", "pool.json", "--member-file", "pool.json", "--generate",
                         "5", "--epochs", "3"],
                        ["--pool", "pool.json", "--generate", "5", "--epochs", "3"],
                        ["--member-file", "obj.json", "--paths", "list.json"]],
}


def leaves(cmd: click.Command, prefix: tuple[str, ...] = ()
           ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """The runnable subcommands of the click application (word tuples, command)."""
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from leaves(sub, (*prefix, name))
    else:
        yield prefix, cmd


LEAVES = dict(leaves(cli.cli))


@pytest.fixture(autouse=True)
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    Deployment(31337, {n: "0x" + "55" * 20 for n in ("ClearingHouse", "PriceOracle",
                                                      "Governance", "Verifier")},
               PoolConfig(4, 2, 4), 0).save(tmp_path / DEP)
    keygen(tmp_path / KEYS, 1)
    (tmp_path / "notjson.txt").write_text("{not json")
    (tmp_path / "obj.json").write_text("{}")
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "pool.json").write_text(json.dumps(POOL))
    (tmp_path / "pool-delay.json").write_text(json.dumps({**POOL, "delay": -1}))
    (tmp_path / "c").mkdir()
    return tmp_path


ERROR = "zkclear: error: "


def check(code: int, err: str, out: str = "") -> None:
    assert code == 2, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR), err
    assert "Traceback" not in err + out
    assert len(lines[0]) > len(ERROR) + 10, err  # says something


def test_every_subcommand_has_bad_input_cases() -> None:
    found = set(LEAVES)
    assert found == set(BAD), f"add bad-input cases for {sorted(found - set(BAD))}"
    assert all(BAD.values())


CASES = [(words, args) for words, cases in BAD.items() for args in cases]


@pytest.mark.parametrize("words,args", CASES,
                         ids=[" ".join((*w, *a))[:80] for w, a in CASES])
def test_bad_input_is_one_line(words, args, capsys) -> None:
    code = cli.main([*words, *args])
    cap = capsys.readouterr()
    check(code, cap.err, cap.out)
    assert cap.out == ""


@pytest.mark.parametrize("words", sorted(BAD))
def test_json_error_on_stdout(words, capsys) -> None:
    code = cli.main([*words, *BAD[words][0], "--json"])
    cap = capsys.readouterr()
    check(code, cap.err, cap.out)
    doc = json.loads(cap.out)
    assert doc["ok"] is False and doc["error"] and doc["type"]


def test_debug_shows_the_traceback(capsys) -> None:
    code = cli.main(["--debug", "governance", "show", *CHAIN, "--id", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and err.splitlines()[-1].startswith(ERROR)
    code = cli.main(["governance", "show", *CHAIN, "--id", "1", "--debug"])
    assert code == 2 and "Traceback" in capsys.readouterr().err


def test_an_unexpected_exception_is_one_line(monkeypatch, capsys) -> None:
    def boom(*_: object) -> dict:
        raise KeyError("surprise")

    from zkclear.roles import admin

    monkeypatch.setattr(admin, "member_escrow", boom)
    code = cli.main(["member", "escrow", "--dir", KEYS, "--compliance-public", "0x" + "11" * 32,
                     "--pool-id", "1:0x" + "11" * 20])
    err = capsys.readouterr().err
    check(code, err)
    assert "KeyError" in err and "surprise" in err


def test_from_an_account_the_node_does_not_hold(monkeypatch, capsys) -> None:
    from zkclear.chain import node

    w3 = embedded_web3()
    monkeypatch.setattr(node, "http_web3", lambda url, **kw: w3)
    stranger = "0x" + "66" * 20
    code = cli.main(["deploy", "--rpc-url", RPC, "--pool", "pool.json", "--from", stranger])
    err = capsys.readouterr().err
    check(code, err)
    assert "holds no such unlocked account" in err


def test_deposit_from_an_account_without_eth(capsys) -> None:
    from eth_account import Account

    w3 = embedded_web3()
    poor = Account.create().address

    class Member:  # the command's check on a real chain: the account's balance is 0
        address = poor

        def _chain(self) -> object:
            return type("C", (), {"w3": w3})()

    from zkclear.cli.member import _has_gas_money

    with pytest.raises(ZkclearError, match="no ETH to pay for gas"):
        _has_gas_money(Member())


#: What click raises for a refusal of the command line itself (JSON ``type``).
USAGE = {"UsageError", "BadParameter", "MissingParameter", "NoSuchOption", "BadOptionUsage",
         "BadArgumentUsage"}


@pytest.mark.parametrize("words", sorted(BAD))
def test_bad_values_are_refused_before_any_work(words, monkeypatch, capsys) -> None:
    """Each subcommand has a case the parser refuses: no node, operator, key file or
    compiler was touched by then."""
    from zkclear.chain import node
    from zkclear.prover import circuit
    from zkclear.roles import member

    started: list[str] = []

    def spy(what: str):
        def work(*_: object, **__: object) -> None:
            started.append(what)
            raise ZkclearError(f"{what} started")
        return work

    monkeypatch.setattr(node, "http_web3", spy("a connection"))
    monkeypatch.setattr(circuit, "compile_circuit", spy("a compilation"))
    monkeypatch.setattr(member, "load_member", spy("the member client"))
    monkeypatch.setattr(member, "keygen", spy("keygen"))
    refused = 0
    for args in BAD[words]:
        code = cli.main([*words, *args, "--json"])
        cap = capsys.readouterr()
        check(code, cap.err, cap.out)
        if json.loads(cap.out)["type"] in USAGE:
            refused += 1
            assert not started, (args, started)
        started.clear()
    assert refused, f"no bad-input case of {' '.join(words)} is refused by the parser"


def test_help_of_every_command_and_the_version(capsys) -> None:
    for words, cmd in LEAVES.items():
        assert cli.main([*words, "--help"]) == 0
        text = capsys.readouterr().out
        assert text.startswith(f"Usage: zkclear {' '.join(words)}"), text
        names = {p.name for p in cmd.params}
        # the environment stands for the chain wherever a command takes it
        assert ("ZKCLEAR_RPC_URL" in text) == ("rpc_url" in names), words
        assert ("ZKCLEAR_DEPLOYMENT" in text) == ("deployment" in names), words
        assert "--json" in text and "--debug" in text
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "zkclear 0.1.0"
    assert cli.main(["--help"]) == 0 and "ZKCLEAR_RPC_URL" in capsys.readouterr().out


def test_the_environment_names_the_chain(monkeypatch, capsys) -> None:
    from zkclear.chain import node

    def connect(url: str, **_: object) -> None:
        raise ZkclearError(f"reached {url}")

    monkeypatch.setattr(node, "http_web3", connect)
    monkeypatch.setenv("ZKCLEAR_RPC_URL", "http://127.0.0.1:7")
    monkeypatch.setenv("ZKCLEAR_DEPLOYMENT", DEP)  # read (the role loads it first)
    code = cli.main(["governance", "show", "--id", "1"])
    err = capsys.readouterr().err
    check(code, err)
    assert "reached http://127.0.0.1:7" in err
    # the command line wins over the environment
    code = cli.main(["governance", "show", "--id", "1", "--rpc-url", "http://127.0.0.1:8"])
    assert "reached http://127.0.0.1:8" in capsys.readouterr().err
    monkeypatch.setenv("ZKCLEAR_DEPLOYMENT", "missing.json")
    code = cli.main(["governance", "show", "--id", "1"])
    err = capsys.readouterr().err
    check(code, err)
    assert "ZKCLEAR_DEPLOYMENT" in err and "missing.json" in err


def test_interrupted(monkeypatch, capsys) -> None:
    def interrupt(*_: object) -> dict:
        raise KeyboardInterrupt

    from zkclear.roles import admin

    monkeypatch.setattr(admin, "member_escrow", interrupt)
    code = cli.main(["member", "escrow", "--dir", KEYS, "--compliance-public", "0x" + "11" * 32,
                     "--pool-id", "1:0x" + "11" * 20])
    assert code == 130 and "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["member", "keygen", "--dir", "k", "--slot", "-1"],
    ["ptau", "dev", "--power", "99"],
    ["governance", "show", *CHAIN, "--id", "1"],
    ["member", "submit", "--dir", KEYS, "--trades", "no.json"],
])
def test_as_a_process(argv) -> None:
    proc = subprocess.run([sys.executable, "-m", "zkclear.cli.main", *argv],
                          capture_output=True, text=True, timeout=60)
    check(proc.returncode, proc.stderr, proc.stdout)
