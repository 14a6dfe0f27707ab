"""The ``zkclear`` command line: one entry point, a subcommand per role.

Every command accepts ``--json`` (one JSON object on stdout). Every error -- a bad
argument, a user mistake, a tool failure or a bug -- prints one line ``error: ...`` on
stderr (no traceback; ``--debug`` shows it) and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

from zkclear.errors import ZkclearError

err = Console(stderr=True, highlight=False)


class UsageError(ZkclearError):
    """The command line itself is wrong (an unknown option, a malformed number ...)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a :class:`UsageError` (one line), not usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# -- argument types (argparse turns ArgumentTypeError into a usage error) ------------------

def int_range(lo: int, hi: int, what: str = "an integer") -> Callable[[str], int]:
    """An argparse type: an integer in ``lo..hi``."""
    def parse(text: str) -> int:
        try:
            v = int(text.strip(), 0) if text.strip().lower().startswith("0x") else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} expected, got {text!r}") from None
        if not lo <= v <= hi:
            shown = text if len(text) <= 24 else text[:20] + "..."
            raise argparse.ArgumentTypeError(f"{shown!r} is out of range: {what} in "
                                             f"{lo}..{_show(hi)}")
        return v
    parse.__name__ = what
    return parse


def float_range(lo: float, what: str = "a number") -> Callable[[str], float]:
    """An argparse type: a finite number >= ``lo``."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} expected, got {text!r}") from None
        if not (v >= lo and v != float("inf")):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: {what} >= {lo}")
        return v
    parse.__name__ = what
    return parse


def _show(n: int) -> str:
    return f"2^{n.bit_length()}-1" if n > 10**6 and (n + 1) & n == 0 else str(n)


U64 = 2**64 - 1
EPOCH = int_range(0, U64, "an epoch number")
PROPOSAL = int_range(0, U64, "a proposal id")


def _bounds() -> Any:
    from zkclear import bounds

    return bounds


def member_slot(text: str) -> int:
    """A member's slot: 1..MAX_SLOTS-1 (slot 0 is the house)."""
    return int_range(1, _bounds().MAX_SLOTS - 1, "a member slot")(text)


def any_slot(text: str) -> int:
    return int_range(0, _bounds().MAX_SLOTS - 1, "a slot")(text)


def amount(text: str) -> int:
    """A cash amount: 1..2^CASH_BITS-1 minor units."""
    return int_range(1, 2**_bounds().CASH_BITS - 1, "an amount")(text)


def prices(text: str) -> list[int]:
    """Comma-separated price ticks, each 1..2^PRICE_BITS-1."""
    one = int_range(1, 2**_bounds().PRICE_BITS - 1, "a price in ticks")
    return [one(x) for x in text.split(",")]


def funding(text: str) -> list[int]:
    """Comma-separated signed funding amounts in ticks per lot, |f| < 2^PRICE_BITS."""
    bound = 2**_bounds().PRICE_BITS - 1
    one = int_range(-bound, bound, "a funding amount in ticks")
    return [one(x) for x in text.split(",")]


def vkh(text: str) -> int:
    """A view-key hash: a field element."""
    from zkclear.field import P

    return int_range(0, P - 1, "a field element")(text)


def dev_power(text: str) -> int:
    from zkclear.prover.ptau import MAX_DEV_POWER

    return int_range(1, MAX_DEV_POWER, "a development ptau power")(text)


class Output:
    """Human output on stderr (with spinners for long steps), JSON on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def info(self, msg: str) -> None:
        if not self.as_json:
            err.print(msg)

    @contextmanager
    def step(self, title: str) -> Iterator[Callable[[str, str], None]]:
        """A long step: a spinner showing the latest progress line; prints its time."""
        t0 = time.perf_counter()
        if self.as_json or not err.is_terminal:
            yield lambda level, msg: None
            self.info(f"  {title} ({time.perf_counter() - t0:.1f} s)")
            return
        with err.status(title) as status:
            def log(level: str, msg: str) -> None:
                if level in ("info", "debug", "warn"):
                    status.update(f"{title} — {msg.strip()[:80]}")
            yield log
        self.info(f"  [green]✓[/] {title} ({time.perf_counter() - t0:.1f} s)")

    def result(self, obj: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(obj, indent=2, default=str))


def _params(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not v.lstrip("-").isdigit():
            raise ZkclearError(f"--param takes NAME=INT, got {item!r}")
        out[k] = int(v)
        if not 0 < out[k] < 2**16:
            raise ZkclearError(f"--param {k}: {v} is out of range 1..65535")
    return out


def _circuit(args: argparse.Namespace) -> Any:
    from zkclear.prover import registry

    try:
        return registry.get(args.circuit, **_params(args.param))
    except (KeyError, TypeError) as exc:
        raise ZkclearError(str(exc).strip('"')) from exc


def _compiled(args: argparse.Namespace, out: Output) -> Any:
    from zkclear.prover.circuit import compile_circuit

    circuit = _circuit(args)
    with out.step(f"compile {circuit.name}") as log:
        return compile_circuit(circuit, log=log)


# -- commands -----------------------------------------------------------------------------

def cmd_doctor(args: argparse.Namespace, out: Output) -> int:
    from zkclear.doctor import run_checks

    checks = run_checks()
    bad = [c for c in checks if not c.ok]
    for c in checks:
        mark = "[green]ok[/]  " if c.ok else "[red]FAIL[/]"
        out.info(f"{mark} {c.name}: {escape(c.detail)}")
        if not c.ok and c.fix:
            out.info(f"      fix: {escape(c.fix)}")
    out.result({"ok": not bad, "checks": [c.__dict__ for c in checks]})
    if not bad:
        out.info("[green]everything zkclear needs is in place[/]")
    return 1 if bad else 0


def cmd_circuit_list(args: argparse.Namespace, out: Output) -> int:
    from zkclear.prover import registry

    rows = []
    for name in sorted(registry.CIRCUITS):
        c = registry.get(name)
        rows.append({"name": name, "template": c.template, "params": list(c.params),
                     "description": c.description})
        out.info(f"{name}: {c.template}{c.params} — {c.description}")
    out.result({"circuits": rows})
    return 0


def cmd_circuit_compile(args: argparse.Namespace, out: Output) -> int:
    compiled = _compiled(args, out)
    m = compiled.manifest
    out.info(f"{m['name']}: {m['constraints']} constraints, {m['public_signals']} public "
             f"signals, artefacts in {compiled.paths.dir}")
    out.result({**m, "dir": str(compiled.paths.dir)})
    return 0


def cmd_setup(args: argparse.Namespace, out: Output) -> int:
    from zkclear.prover.keys import dev_setup

    compiled = _compiled(args, out)
    with out.step("groth16 setup (insecure development keys)") as log:
        keys = dev_setup(compiled, ptau=args.ptau, log=log)
    out.info(f"[yellow]insecure development keys[/] in {compiled.paths.dir} "
             "(for tests and local chains only; run a ceremony for anything else)")
    out.result({"zkey": str(keys.zkey), "vkey": str(keys.vkey_path), **keys.record})
    return 0


def cmd_ptau_dev(args: argparse.Namespace, out: Output) -> int:
    from zkclear.prover import ptau

    with out.step(f"development powers of tau 2^{args.power}") as log:
        path = ptau.dev_ptau(args.power, log=log)
    out.info(f"[yellow]INSECURE[/] development ptau (tau is public): {path}")
    out.result({"ptau": str(path), "power": args.power, "insecure": True})
    return 0


def _ceremony_ptau(args: argparse.Namespace, compiled: Any, out: Output) -> Path:
    from zkclear.prover import ptau

    if args.ptau is not None:
        return Path(args.ptau)
    info = compiled.info
    power = ptau.required_power(info.n_constraints, info.n_public)
    out.info(f"[yellow]no --ptau given: using the INSECURE development phase 1 (2^{power})[/]")
    with out.step(f"development powers of tau 2^{power}") as log:
        return ptau.dev_ptau(power, log=log)


def cmd_ceremony_init(args: argparse.Namespace, out: Output) -> int:
    from zkclear.prover import ceremony

    compiled = _compiled(args, out)
    ptau_path = _ceremony_ptau(args, compiled, out)
    with out.step("ceremony init (initial zkey)") as log:
        folder = ceremony.init(compiled, ptau_path, Path(args.dir), log=log)
    out.info(f"ceremony for {compiled.circuit.name} started in {folder}")
    out.result({"dir": str(folder), "circuit": compiled.circuit.name, "ptau": str(ptau_path)})
    return 0


def cmd_ceremony_contribute(args: argparse.Namespace, out: Output) -> int:
    from zkclear.prover import ceremony

    with out.step(f"contribution by {args.name}") as log:
        c = ceremony.contribute(Path(args.dir), args.name, entropy=args.entropy, log=log)
    out.info(f"contribution #{c.index} by {c.name}; keep its hash to check the transcript:\n"
             f"  {c.contribution_hash}")
    out.result(c.__dict__)
    return 0


def cmd_ceremony_verify(args: argparse.Namespace, out: Output) -> int:
    from zkclear.prover import ceremony

    compiled = _compiled(args, out)
    with out.step("verify ceremony transcript") as log:
        rep = ceremony.verify(Path(args.dir), compiled,
                              ptau=Path(args.ptau) if args.ptau else None, log=log)
    if rep.ok:
        out.info(f"[green]transcript verifies[/]: contributions by {', '.join(rep.contributions)}")
    for p in rep.problems:
        out.info(f"[red]problem[/]: {escape(p)}")
    out.result(rep.__dict__)
    return 0 if rep.ok else 1


def cmd_ceremony_finalize(args: argparse.Namespace, out: Output) -> int:
    from zkclear.prover import ceremony

    compiled = _compiled(args, out)
    with out.step("apply beacon") as log:
        final = ceremony.finalize(Path(args.dir), args.beacon,
                                  iterations_exp=args.iterations, log=log)
    with out.step("verify and install final key") as log:
        keys = ceremony.install(Path(args.dir), compiled,
                                ptau=Path(args.ptau) if args.ptau else None, log=log)
    out.info(f"final key {final} installed for {compiled.circuit.name}"
             + (" [yellow](insecure: development phase 1)[/]" if keys.insecure else ""))
    out.result({"final": str(final), "zkey": str(keys.zkey), "insecure": keys.insecure})
    return 0


def cmd_epoch_prove(args: argparse.Namespace, out: Output) -> int:
    """Clear the generated demo story at the given size, prove and verify each epoch."""
    from zkclear.clearing.params import PoolConfig
    from zkclear.clearing.scenario import run_story
    from zkclear.clearing.witness import epoch_circuit_inputs
    from zkclear.prover import registry
    from zkclear.prover.circuit import compile_circuit
    from zkclear.prover.keys import dev_setup
    from zkclear.prover.prove import prove
    from zkclear.verifier import Proof, VerifyingKey, verify

    cfg = PoolConfig(args.slots, args.instruments, args.scenarios)
    circuit = registry.get("epoch", slots=cfg.n_slots, instruments=cfg.n_instruments,
                           scenarios=cfg.n_scenarios)
    with out.step(f"compile epoch circuit N={cfg.n_slots} M={cfg.n_instruments} "
                  f"K={cfg.n_scenarios}") as log:
        compiled = compile_circuit(circuit, log=log)
    out.info(f"  {compiled.info.n_constraints} constraints")
    with out.step("groth16 setup (insecure development keys)") as log:
        keys = dev_setup(compiled, log=log)
    vk = VerifyingKey.from_json(keys.vkey)
    epochs = []
    for r in run_story(cfg):
        with out.step(f"prove epoch {r.epoch}") as log:
            res = prove(keys, epoch_circuit_inputs(r), log=log)
        if res.public != r.public_signals():
            raise ZkclearError(f"epoch {r.epoch}: circuit public signals differ from the "
                               "engine's")
        ok = verify(vk, Proof.from_json(res.proof), res.public)
        liquidated = [s.slot for s in r.slots if s.liquidated]
        hedged = [s.slot for s in r.slots[1:] if s.maintenance_margin and len(
            [q for q in s.after.positions if q]) > 1]
        refused = [s.slot for s in r.slots if s.withdrawal_refused]
        out.info(f"  epoch {r.epoch}: proof {'[green]verifies[/]' if ok else '[red]REJECTED[/]'}"
                 f" ({res.prove_seconds:.1f} s); liquidated {liquidated}, "
                 f"withdrawals refused {refused}, multi-instrument members {hedged}")
        epochs.append({"epoch": r.epoch, "verified": ok, "prove_seconds": res.prove_seconds,
                       "liquidated": liquidated, "withdrawals_refused": refused,
                       "new_root": str(r.new.root()), "total_collateral": r.total_collateral})
    out.result({"constraints": compiled.info.n_constraints, "slots": cfg.n_slots,
                "instruments": cfg.n_instruments, "scenarios": cfg.n_scenarios,
                "epochs": epochs})
    return 0 if all(e["verified"] for e in epochs) else 1


def cmd_drill(args: argparse.Namespace, out: Output) -> int:
    """Run adversarial drills; exit 0 only if every one passed."""
    from zkclear import drills

    names = sorted(drills.DRILLS) if args.name == "all" else [args.name]
    if args.name != "all" and args.name not in drills.DRILLS:
        raise ZkclearError(f"unknown drill {args.name!r}; known: "
                           f"{', '.join(sorted(drills.DRILLS))} or all")
    verdicts = []
    for name in names:
        out.info(f"drill {name} ...")
        v = drills.run(name)
        verdicts.append(v)
        for line in v.story:
            out.info(f"  {escape(line)}")
        mark = "[green]PASS[/]" if v.passed else "[red]FAIL[/]"
        out.info(f"{mark} {name}: {escape(v.summary)} (honest loss {v.ledger.honest_loss()})")
    ok = all(v.passed for v in verdicts)
    out.result({"ok": ok, "drills": [v.to_json() for v in verdicts]})
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    from zkclear.demo import run_demo

    summary = run_demo(out)
    out.result(summary)
    return 0 if summary.get("ok") else 1


# -- operator and member ------------------------------------------------------------------

def cmd_operator_run(args: argparse.Namespace, out: Output) -> int:
    import logging

    from zkclear.operator.run import RunOptions, run
    from zkclear.operator.store import check_url

    check_url(args.db)  # before connecting: a bad URL fails at once
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    opts = RunOptions(args.rpc_url, Path(args.deployment), args.db, Path(args.transport_key),
                      Path(args.admin_token_file), args.host, args.port, args.operator,
                      args.dev_keys, not args.no_auto_close, args.interval, args.net_after,
                      Path(args.operator_key) if args.operator_key else None,
                      args.sign_timeout if args.sign_timeout > 0 else None)

    def ready(info: dict[str, Any]) -> None:
        out.info(f"operator API on {info['url']} (pool {info['pool_id']})")
        if out.as_json:
            print(json.dumps({"ok": True, **info}), flush=True)
    return run(opts, ready=ready)


def cmd_operator_recover(args: argparse.Namespace, out: Output) -> int:
    """Rebuild the operator's database from the chain and the compliance key."""
    from zkclear.chain import node as chain
    from zkclear.chain.client import Client
    from zkclear.chain.contracts import Deployment
    from zkclear.operator.recover import RecoverError, recover_operator
    from zkclear.operator.store import check_url
    from zkclear.privacy.compliance import KeyShare, combine_key, load_compliance_key

    check_url(args.db)
    try:
        deployment = Deployment.load(Path(args.deployment))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"bad content ({exc!r})"
        raise RecoverError(f"cannot read the deployment file {args.deployment}: {why}") from exc
    if args.compliance_key:
        compliance = load_compliance_key(args.compliance_key)
    else:
        compliance = combine_key([KeyShare.load(f) for f in args.shares])
    client = Client(chain.http_web3(args.rpc_url), deployment)
    with out.step("read the chain, open the escrows and replay every accepted epoch"):
        rec = recover_operator(client, compliance, args.db)
    summary = rec.summary()
    out.info(f"recovered pool {summary['pool_id']}: epochs 1..{summary['last_accepted']} "
             f"replayed, root {summary['root']} (the chain's), members {summary['members']}"
             + (f", epoch {summary['pending']} closed and left to prove"
                if summary["pending"] else ""))
    out.info("members must enrol again with the new operator (transport keys are not "
             "on-chain) and resend their trade lists of the open epoch")
    out.result({"ok": True, **summary, "db": args.db})
    return 0


def _role_result(out: Output, res: dict[str, Any], line: str) -> int:
    out.info(line)
    out.result({"ok": True, **res})
    return 0


def cmd_member_escrow(args: argparse.Namespace, out: Output) -> int:
    from zkclear.roles import admin as roles

    res = roles.member_escrow(args.dir, args.compliance_public, args.pool_id)
    return _role_result(out, res, f"slot {res['slot']}: account {res['account']}, vkh "
                                  f"{res['vkh']}, escrow {len(res['escrow']) // 2 - 1} bytes")


def cmd_deploy(args: argparse.Namespace, out: Output) -> int:
    from zkclear.roles import admin as roles

    with out.step("compile the epoch circuit, deploy verifier and contracts"):
        res = roles.deploy(args.rpc_url, args.pool, args.out, key_file=args.key,
                           insecure_dev_setup=args.insecure_dev_setup,
                           from_account=args.from_account)
    warn = " [red](INSECURE development keys)[/]" if res["insecure_keys"] else ""
    return _role_result(out, res, f"deployed on chain {res['chain_id']}: ClearingHouse "
                                  f"{res['addresses']['ClearingHouse']}{warn}; {args.out}")


def _venue(spec: str) -> tuple[str, list[int]]:
    """An argparse type: ``NAME=P1,P2,...`` (one venue's prices)."""
    name, sep, values = spec.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"NAME=P1,P2,... expected, got {spec!r}")
    return name.strip(), prices(values)


def cmd_oracle_post(args: argparse.Namespace, out: Output) -> int:
    from zkclear.roles import admin as roles

    venues: dict[str, list[int]] = {}
    for name, values in args.venue or []:
        if name in venues:
            raise ZkclearError(f"--venue {name} given twice")
        venues[name] = values
    if args.prices is None and not venues:
        raise ZkclearError("oracle post needs --prices or at least one --venue")
    res = roles.post_prices(args.rpc_url, args.deployment, args.epoch, args.prices,
                            venues=venues or None, key_file=args.key,
                            from_account=args.from_account, funding=args.funding)
    return _role_result(out, res, f"epoch {args.epoch} prices {res['prices']} posted; "
                                  f"{_price_state_line(res)}")


def cmd_oracle_release(args: argparse.Namespace, out: Output) -> int:
    from zkclear.roles import admin as roles

    res = roles.release_prices(args.rpc_url, args.deployment, args.epoch, key_file=args.key,
                               from_account=args.from_account)
    return _role_result(out, res, f"epoch {args.epoch}: {_price_state_line(res)}")


def _price_state_line(res: dict[str, Any]) -> str:
    if res["final"]:
        return f"final: {res['final_prices']}"
    if res["breaker"]:
        return (f"beyond the band: {res['breaker']['prices']} held by the circuit breaker "
                f"until {res['breaker']['release_at']} (then: zkclear oracle release)")
    return "not final yet (quorum)"


def cmd_gov_propose(args: argparse.Namespace, out: Output) -> int:
    from zkclear.roles import admin as roles

    res = roles.propose(args.rpc_url, args.deployment, args.action, key_file=args.key,
                        slot=args.slot, account=args.account, vkh=args.vkh,
                        escrow=args.escrow, risk_file=args.risk,
                        from_account=args.from_account)
    return _role_result(out, res, f"proposal {res['proposal']} ({args.action}): "
                                  f"{res['confirmations']} confirmation(s)")


def cmd_gov_confirm(args: argparse.Namespace, out: Output) -> int:
    from zkclear.roles import admin as roles

    res = roles.confirm(args.rpc_url, args.deployment, args.id, key_file=args.key,
                        from_account=args.from_account)
    eta = f", executable at {res['eta']}" if res["eta"] else ""
    return _role_result(out, res, f"proposal {args.id}: {res['confirmations']} "
                                  f"confirmation(s){eta}")


def cmd_gov_execute(args: argparse.Namespace, out: Output) -> int:
    from zkclear.roles import admin as roles

    res = roles.execute(args.rpc_url, args.deployment, args.id, key_file=args.key,
                        from_account=args.from_account)
    return _role_result(out, res, f"proposal {args.id} executed")


def cmd_gov_show(args: argparse.Namespace, out: Output) -> int:
    from zkclear.roles import admin as roles

    res = roles.show(args.rpc_url, args.deployment, args.id)
    return _role_result(out, res, f"proposal {args.id}: {res}")


def _member(args: argparse.Namespace) -> Any:
    from zkclear.chain import contracts
    from zkclear.chain import node as chain
    from zkclear.chain.client import Client
    from zkclear.roles.member import load_member, read_eth_key

    cl = None
    if getattr(args, "rpc_url", None) and getattr(args, "deployment", None):
        # The member's own key signs its transactions (a real node holds no key of ours).
        key = read_eth_key(Path(args.dir) / "eth-key.json")
        cl = Client(chain.http_web3(args.rpc_url, signers=[key]),
                    contracts.Deployment.load(Path(args.deployment)))
    return load_member(Path(args.dir), args.operator_url, cl)


def cmd_member_keygen(args: argparse.Namespace, out: Output) -> int:
    from eth_account import Account

    from zkclear.roles.member import keygen

    if args.eth_key is not None:
        try:
            Account.from_key(args.eth_key)
        except Exception:  # never echo the key
            raise ZkclearError("--eth-key is not a private key (0x + 64 hex)") from None
    info = keygen(Path(args.dir), args.slot, args.eth_key)
    out.info(f"member keys for slot {info['slot']} in {args.dir}: account {info['account']}, "
             f"vkh {info['vkh']} (governance registers these)")
    out.result({"ok": True, **info})
    return 0


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise ZkclearError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ZkclearError(f"{what} {path} is not valid JSON ({exc})") from exc


def _has_gas_money(m: Any) -> None:
    """Refuse an on-chain action from an account that cannot pay for gas."""
    cl = m._chain()
    if cl.w3.eth.get_balance(m.address) == 0:
        raise ZkclearError(f"account {m.address} has no ETH to pay for gas: fund it first")


def cmd_member_action(args: argparse.Namespace, out: Output) -> int:
    from zkclear.roles.member import save_sent

    action = args.action
    trades = None
    if action == "submit":  # the file is checked before anything is sent
        trades = _read_json(args.trades, "the trade list")
        if not isinstance(trades, list):
            raise ZkclearError(f"the trade list {args.trades} must be a JSON list of trades")
    if action in ("deposit", "withdraw") and not (args.rpc_url and args.deployment):
        raise ZkclearError(f"member {action} needs --rpc-url and --deployment")
    with _member(args) as m:
        if action in ("deposit", "withdraw"):
            _has_gas_money(m)
        if action == "enrol":
            res: Any = m.enrol()
        elif action == "submit":
            res = m.submit_trades(trades, args.epoch)
            save_sent(m, Path(args.dir), int(res["epoch"]))
        elif action == "result":
            res = m.result(args.epoch)
        elif action == "commit":
            c = m.commit(args.epoch)
            res = {"epoch": args.epoch, "commitment": None if c is None else str(c)}
        elif action == "deposit":
            m.deposit(args.amount)
            res = {"deposited": args.amount}
        elif action == "withdraw":
            m.request_withdrawal(args.amount)
            res = {"requested": args.amount}
        else:
            res = m.status()
    out.info(json.dumps(res, indent=2, default=str))
    out.result({"ok": True, "result": res})
    return 0


def cmd_member_exit(args: argparse.Namespace, out: Output) -> int:
    """Exit a slot after a freeze (freezing first if allowed) without the operator."""
    from zkclear.roles.exit import member_exit

    res = member_exit(args.rpc_url, args.deployment, directory=args.dir,
                      view_key=args.view_key, compliance_key=args.compliance_key,
                      slot=args.slot, key_file=args.key, from_account=args.from_account,
                      freeze=not args.no_freeze, claim=not args.no_claim)
    froze = "froze the pool; " if res["froze"] else ""
    claimed = (f", claimed {res['claimed']}" if res["claimed"] is not None
               else " (the slot's account claims it)")
    out.info(f"slot {res['slot']}: {froze}exited after epoch {res['epoch']}, credited "
             f"{res['credited']} to {res['account']}{claimed}")
    out.result({"ok": True, **res})
    return 0


def cmd_audit(args: argparse.Namespace, out: Output) -> int:
    """Audit one member from public chain data and a view key (or the compliance key)."""
    from zkclear.audit.core import AuditError, audit_member
    from zkclear.chain import node as chain
    from zkclear.chain.contracts import Deployment
    from zkclear.privacy.compliance import load_compliance_key
    from zkclear.privacy.viewkeys import load_key

    try:
        deployment = Deployment.load(Path(args.deployment))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"bad content ({exc!r})"
        raise AuditError(f"cannot read the deployment file {args.deployment}: {why}") from exc
    key = load_key(args.key) if args.key else None
    compliance = load_compliance_key(args.compliance_key) if args.compliance_key else None
    w3 = chain.http_web3(args.rpc_url)
    with out.step("read the chain, decrypt and re-derive each epoch"):
        report = audit_member(w3, deployment, key, slot=args.slot, compliance_key=compliance,
                              vkey=args.vkey)
    out_dir = Path(args.out)
    json_path = report.write_json(out_dir / f"audit-slot{report.slot}.json")
    html_path = report.write_html(out_dir / f"audit-slot{report.slot}.html")
    for row in report.rows:
        out.info(f"  epoch {row.epoch}: {escape(row.status)}")
    if report.ok:
        out.info(f"[green]no findings[/] for slot {report.slot}")
    else:
        out.info(f"[red]{len(report.findings)} finding(s)[/] for slot {report.slot}:")
        for f in report.findings:
            out.info(f"  {escape(str(f))}")
    out.info(f"report: {escape(str(html_path))} and {escape(str(json_path))}")
    out.result({**report.to_json(), "json": str(json_path), "html": str(html_path)})
    return 0 if report.ok else 1


# -- parser -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="zkclear", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[..., int], help_: str,
            parent: Any = sub) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_, parents=[common])
        sp.set_defaults(fn=fn)
        return sp

    def circuit_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("circuit", help="circuit name (see `zkclear circuit list`)")
        sp.add_argument("--param", action="append", default=[], metavar="NAME=INT",
                        help="circuit size parameter, e.g. --param instruments=4")

    ep = sub.add_parser("epoch", help="clear and prove epochs").add_subparsers(
        dest="sub", required=True, metavar="SUBCOMMAND")
    sp = add("prove", cmd_epoch_prove,
             "clear the generated demo story (hedge, refusal, liquidation), prove, verify", ep)
    sp.add_argument("--slots", type=int_range(2, 64, "a slot count"), default=4,
                    help="N, a power of two (slot 0 = house)")
    sp.add_argument("--instruments", type=int_range(1, 256, "an instrument count"),
                    default=2, help="M")
    sp.add_argument("--scenarios", type=int_range(1, 1024, "a scenario count"), default=4,
                    help="K")

    sp = add("audit", cmd_audit,
             "audit a member's history from chain data and a view key or the compliance key")
    sp.add_argument("--rpc-url", required=True, help="JSON-RPC URL of the chain")
    sp.add_argument("--deployment", required=True, help="deployment JSON (addresses, sizes)")
    who = sp.add_mutually_exclusive_group(required=True)
    who.add_argument("--key", help="view-key file: the member key or one epoch key")
    who.add_argument("--compliance-key", help="the pool's compliance key file (needs --slot)")
    sp.add_argument("--slot", type=any_slot, help="member slot (default: the key's)")
    sp.add_argument("--vkey", help="epoch circuit verification key: re-verify every proof")
    sp.add_argument("--out", default=".", help="folder for audit-slotN.json/.html")
    add("doctor", cmd_doctor, "check Python, node, pinned tools and the artefact cache")
    add("demo", cmd_demo, "run the end-to-end demo on the embedded EVM")
    sp = add("drill", cmd_drill, "run an adversarial drill (or all) on the embedded EVM; "
             "passes only if no honest member lost money")
    sp.add_argument("name", help="drill name or 'all'")

    circ = sub.add_parser("circuit", help="list and compile circuits").add_subparsers(
        dest="sub", required=True, metavar="SUBCOMMAND")
    add("list", cmd_circuit_list, "list the circuits", circ)
    circuit_args(add("compile", cmd_circuit_compile, "compile a circuit (cached)", circ))

    sp = add("setup", cmd_setup, "insecure development Groth16 keys for a circuit")
    circuit_args(sp)
    sp.add_argument("--ptau", type=Path, help="phase-1 file (default: development ptau)")

    pt = sub.add_parser("ptau", help="phase-1 files").add_subparsers(
        dest="sub", required=True, metavar="SUBCOMMAND")
    sp = add("dev", cmd_ptau_dev, "make the INSECURE development powers of tau", pt)
    sp.add_argument("--power", type=dev_power, required=True)

    cer = sub.add_parser("ceremony", help="phase-2 multi-party ceremony").add_subparsers(
        dest="sub", required=True, metavar="SUBCOMMAND")
    sp = add("init", cmd_ceremony_init, "start a ceremony for a circuit", cer)
    circuit_args(sp)
    sp.add_argument("--dir", required=True, help="ceremony folder (the transcript)")
    sp.add_argument("--ptau", help="ceremony-grade phase-1 file (default: INSECURE dev ptau)")
    sp = add("contribute", cmd_ceremony_contribute, "add your contribution", cer)
    sp.add_argument("--dir", required=True)
    sp.add_argument("--name", required=True, help="contributor's name, recorded in the key")
    sp.add_argument("--entropy", help="extra entropy (default: 32 random bytes)")
    sp = add("verify", cmd_ceremony_verify, "verify a ceremony transcript", cer)
    circuit_args(sp)
    sp.add_argument("--dir", required=True)
    sp.add_argument("--ptau", help="the phase-1 file (default: the one the transcript names)")
    sp = add("finalize", cmd_ceremony_finalize, "apply the beacon, verify, install the key", cer)
    circuit_args(sp)
    sp.add_argument("--dir", required=True)
    sp.add_argument("--beacon", required=True, help="public random beacon, hex")
    sp.add_argument("--iterations", type=int_range(0, 63, "an exponent"), default=10,
                    help="beacon iterations exponent")
    sp.add_argument("--ptau", help="the phase-1 file (default: the one the transcript names)")

    op = sub.add_parser("operator", help="the operator service").add_subparsers(
        dest="sub", required=True, metavar="SUBCOMMAND")
    sp = add("run", cmd_operator_run, "serve the operator API and run the epoch lifecycle", op)
    sp.add_argument("--rpc-url", required=True, help="JSON-RPC URL of the chain")
    sp.add_argument("--deployment", required=True, help="deployment JSON file")
    sp.add_argument("--db", default="sqlite:///operator.db", help="database URL (SECRET: "
                    "holds members' view keys)")
    sp.add_argument("--transport-key", default="operator-transport.json",
                    help="operator X25519 key file (created if missing)")
    sp.add_argument("--admin-token-file", default="operator-admin-token.json",
                    help="where the admin bearer token is written (0600)")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int_range(0, 65535, "a TCP port"), default=9545)
    sp.add_argument("--operator", help="account sending closeEpoch/submitEpoch "
                    "(default: the ClearingHouse's operator)")
    sp.add_argument("--operator-key", metavar="FILE", help="zkclear-eth-key-v1 file of the "
                    "operator account: transactions are signed locally (a real node)")
    sp.add_argument("--dev-keys", action="store_true",
                    help="INSECURE development proving keys (local chains only)")
    sp.add_argument("--no-auto-close", action="store_true",
                    help="close epochs only on command")
    sp.add_argument("--interval", type=float_range(0.01, "seconds"), default=1.0,
                    help="driver period, seconds")
    sp.add_argument("--net-after", type=float_range(0, "seconds"), metavar="SECONDS",
                    help="net the intake epoch by itself once its prices are final and its "
                    "first trade list is SECONDS old (default: only on command)")
    sp.add_argument("--sign-timeout", type=float_range(0, "seconds"), default=300.0,
                    metavar="SECONDS",
                    help="members have SECONDS after each netting round to send their signed "
                    "commitment; then the missing ones are excluded and the rest re-netted "
                    "(0: only when a close is commanded; default 300)")

    sp = add("recover", cmd_operator_recover, "rebuild the operator's database from "
             "chain data and the compliance key (a new operator takes over)", op)
    sp.add_argument("--rpc-url", required=True, help="JSON-RPC URL of the chain")
    sp.add_argument("--deployment", required=True, help="deployment JSON file")
    who = sp.add_mutually_exclusive_group(required=True)
    who.add_argument("--compliance-key", help="the pool's compliance key file")
    who.add_argument("--shares", nargs="+", metavar="FILE",
                     help="a threshold of the compliance officers' share files")
    sp.add_argument("--db", required=True, help="a NEW database URL, e.g. sqlite:///new.db "
                    "(SECRET: it will hold members' view keys)")

    mem = sub.add_parser("member", help="a member's client").add_subparsers(
        dest="sub", required=True, metavar="SUBCOMMAND")
    sp = add("keygen", cmd_member_keygen, "create key files; print account and vkh", mem)
    sp.add_argument("--dir", required=True)
    sp.add_argument("--slot", type=member_slot, required=True)
    sp.add_argument("--eth-key", help="existing account key (hex); default: a new one")
    for action, help_ in (("enrol", "hand the operator the transport and view keys"),
                          ("submit", "send a trade list (JSON file)"),
                          ("result", "own netted result of an epoch"),
                          ("commit", "verify the result, encrypt and commit on-chain"),
                          ("deposit", "deposit collateral"),
                          ("withdraw", "request a withdrawal"),
                          ("status", "balance and epochs")):
        sp = add(action, cmd_member_action, help_, mem)
        sp.set_defaults(action=action)
        sp.add_argument("--dir", required=True, help="the member's key folder")
        sp.add_argument("--operator-url", default="http://127.0.0.1:9545")
        sp.add_argument("--rpc-url", help="JSON-RPC URL (on-chain actions)")
        sp.add_argument("--deployment", help="deployment JSON file (on-chain actions)")
        if action in ("submit",):
            sp.add_argument("--trades", required=True, help="JSON list of trades")
            sp.add_argument("--epoch", type=EPOCH, help="default: the intake epoch")
        if action in ("result", "commit"):
            sp.add_argument("--epoch", type=EPOCH, required=True)
        if action in ("deposit", "withdraw"):
            sp.add_argument("--amount", type=amount, required=True)
    sp = add("escrow", cmd_member_escrow, "registration request: account, vkh and the view "
             "key escrowed to the compliance key (what governance registers)", mem)
    sp.add_argument("--dir", required=True, help="the member's key folder")
    sp.add_argument("--compliance-public", required=True, help="the pool's compliance "
                    "public key (0x + 64 hex)")
    sp.add_argument("--pool-id", required=True, help='"<chain id>:<ClearingHouse address>"')
    sp = add("exit", cmd_member_exit, "after a freeze (freezing first once allowed): exit "
             "with what the last accepted state owes the slot, from a view key or the "
             "compliance key and public chain data", mem)
    sp.add_argument("--rpc-url", required=True, help="JSON-RPC URL of the chain")
    sp.add_argument("--deployment", required=True, help="deployment JSON file")
    who = sp.add_mutually_exclusive_group(required=True)
    who.add_argument("--dir", help="the member's key folder (viewkey.json; its eth-key.json "
                     "signs and claims)")
    who.add_argument("--view-key", help="the member's view-key file")
    who.add_argument("--compliance-key", help="the pool's compliance key file (with --slot)")
    sp.add_argument("--slot", type=member_slot, help="member slot (default: the view key's)")
    sp.add_argument("--key", help="zkclear-eth-key-v1 file that signs (default: --dir's)")
    sp.add_argument("--from", dest="from_account", metavar="ADDRESS",
                    help="send from this unlocked account of the node instead")
    sp.add_argument("--no-freeze", action="store_true", help="do not freeze the pool")
    sp.add_argument("--no-claim", action="store_true", help="leave the proceeds credited")

    def chain_args(sp: argparse.ArgumentParser, deployment: bool = True) -> None:
        sp.add_argument("--rpc-url", required=True, help="JSON-RPC URL of the chain")
        if deployment:
            sp.add_argument("--deployment", required=True, help="deployment JSON file")
        sp.add_argument("--key", help="zkclear-eth-key-v1 file: sign locally (real nodes); "
                        "default: the node's first unlocked account")
        sp.add_argument("--from", dest="from_account", metavar="ADDRESS",
                        help="send from this unlocked account of the node instead")

    sp = add("deploy", cmd_deploy, "deploy the contracts for a pool file (zkclear-pool-v1)")
    chain_args(sp, deployment=False)
    sp.add_argument("--pool", required=True, help="pool file (see zkclear/roles/admin.py)")
    sp.add_argument("--out", default="deployment.json", help="where to write the deployment")
    sp.add_argument("--insecure-dev-setup", action="store_true",
                    help="INSECURE development proving keys if no ceremony installed keys "
                    "(refused on non-local chains)")

    orc = sub.add_parser("oracle", help="an oracle reporter").add_subparsers(
        dest="sub", required=True, metavar="SUBCOMMAND")
    sp = add("post", cmd_oracle_post, "post an epoch's prices (the quorum finalises)", orc)
    chain_args(sp)
    sp.add_argument("--epoch", type=EPOCH, required=True)
    sp.add_argument("--prices", type=prices, help="comma-separated ticks, one per instrument")
    sp.add_argument("--venue", type=_venue, action="append", metavar="NAME=P1,P2,...",
                    help="one venue's prices, one per instrument (repeat per venue): the "
                    "post is their per-instrument median, the venues go into the event")
    sp.add_argument("--funding", type=funding, metavar="F1,F2,...",
                    help="signed funding amount per lot, one per instrument (nonzero only "
                    "for perpetuals; write --funding=-3,0 when it starts with a minus)")
    sp = add("release", cmd_oracle_release, "make prices the circuit breaker held final "
             "(after its delay)", orc)
    chain_args(sp)
    sp.add_argument("--epoch", type=EPOCH, required=True)

    gov = sub.add_parser("governance", help="a governance owner").add_subparsers(
        dest="sub", required=True, metavar="SUBCOMMAND")
    sp = add("propose", cmd_gov_propose, "propose one governed action (time-locked)", gov)
    chain_args(sp)
    sp.add_argument("action", choices=["register-member", "remove-member", "risk-params",
                                       "set-operator", "add-reporter", "remove-reporter"])
    sp.add_argument("--slot", type=member_slot)
    sp.add_argument("--account")
    sp.add_argument("--vkh", type=vkh)
    sp.add_argument("--escrow", help="hex escrow blob (zkclear member escrow)")
    sp.add_argument("--risk", help="JSON file with the risk object of a pool file")
    for name, fn, help_ in (("confirm", cmd_gov_confirm, "confirm a proposal"),
                            ("execute", cmd_gov_execute, "execute a queued proposal after "
                             "its time-lock"),
                            ("show", cmd_gov_show, "a proposal's state")):
        sp = add(name, fn, help_, gov)
        chain_args(sp)
        sp.add_argument("--id", type=PROPOSAL, required=True, help="proposal id")
    return p


def describe(exc: BaseException) -> str:
    """One line saying what went wrong (a ZkclearError's message is written for users)."""
    if isinstance(exc, ZkclearError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or "failed"


def _fail(exc: BaseException, as_json: bool, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    msg = describe(exc)
    err.print(f"[red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps({"ok": False, "error": msg, "type": type(exc).__name__}))
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug, as_json = "--debug" in argv, "--json" in argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(exc, as_json, debug)
    out = Output(getattr(args, "json", False))
    try:
        return int(args.fn(args, out))
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:  # every error is one line (the traceback with --debug)
        return _fail(exc, out.as_json, bool(getattr(args, "debug", False)))


if __name__ == "__main__":
    sys.exit(main())

