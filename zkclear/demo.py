"""``zkclear demo``: the whole story on the embedded EVM (``make demo``).

1. The epoch circuit (N=4 slots, M=2 instruments, K=4 margin scenarios) is compiled and
   its Groth16 keys come out of a phase-2 ceremony: one contribution from each member
   and a public beacon, over the INSECURE development phase 1 (tau is public: these keys
   are for the local chain only). The verified ceremony is cached under
   ``build/demo/ceremony-epoch-<circuit key>/``, so later runs reuse it (an interrupted
   ceremony resumes where it stopped).
2. The system is deployed (Poseidon, 2-of-3 governance with a time-lock, test
   collateral, the oracle with three reporters and a quorum of three -- the median of
   three posts --, the verifier generated from the ceremony's key, the clearing house).
3. A compliance key is generated for the pool and Shamir-split among three officers
   (any two recover it). Three institutions get fresh view keys (key files with
   owner-only permissions under ``build/demo/keys/``) and are registered by governance,
   each escrowing its view key to the compliance key.
4. Three epochs are cleared from the members' own trade lists: deposits, a hedged
   portfolio (long one index future, short the correlated one), trades the operator
   rejects (unmatched, contradictory, naming the house), a withdrawal refused for lack
   of initial margin, then a 12 % price shock that liquidates the fund that was short.
   Each epoch: the reporters post prices, the operator matches and nets the trades, each
   member encrypts its report under its view key and commits it, the operator closes
   the epoch, clears it with the engine, proves it and submits the proof; the chain
   accepts it only with a valid proof, and its root must be the engine's.
5. Two officers recombine the compliance key; one member is audited from public chain
   data twice, with its own view key and with the compliance key (its escrow opened),
   every epoch's proof re-verified; the HTML report goes to ``build/demo/``.

``run_demo`` returns the JSON summary ``zkclear demo --json`` prints.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkclear import paths
from zkclear.demo_keys import BEACON as BEACON
from zkclear.demo_keys import DemoError as DemoError
from zkclear.demo_keys import Output, run_ceremony
from zkclear.demo_keys import ceremony_dir as ceremony_dir
from zkclear.demo_story import (
    ALPHA,
    CALL,
    CONFIG,
    GENESIS_PRICES,
    INSTRUMENTS,
    MEMBERS,
    risk_params,
    story,
)

if TYPE_CHECKING:
    from zkclear.chain.pool import EpochOutcome, Member, NetOutcome, Pool
    from zkclear.privacy.cipher import Ciphertext
    from zkclear.privacy.keyfile import X25519KeyPair


#: Compliance officers holding shares of the pool's compliance key, and how many recover it.
OFFICERS, THRESHOLD = 3, 2
#: The member the demo audits (the one that gets liquidated).
AUDITED = 2


# --- institutions, compliance, keys on disk -----------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def key_dir() -> Path:
    d = paths.build_dir() / "demo" / "keys"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def make_members(pool: Pool) -> list[Member]:
    """Fresh view keys for the institutions, saved owner-only under build/demo/keys."""
    from zkclear.chain.pool import Member
    from zkclear.privacy.viewkeys import MemberKey

    d = key_dir()
    members = []
    for slot, name in MEMBERS.items():
        key = MemberKey.generate(slot)
        key.save(d / f"{_slug(name)}.viewkey.json", overwrite=True)
        members.append(Member(name, slot, pool.account(slot), key))
    return members


def make_compliance() -> tuple[X25519KeyPair, list[Path]]:
    """The pool's compliance key, split among the officers; only the shares are saved."""
    from zkclear.privacy.compliance import generate_compliance_key, split_key

    pair = generate_compliance_key()
    d = key_dir()
    files = []
    for share in split_key(pair, OFFICERS, THRESHOLD):
        files.append(share.save(d / f"officer-{share.x}.share.json", overwrite=True))
    return pair, files


def recombine(files: list[Path]) -> X25519KeyPair:
    """What the officers do for an audit: any ``THRESHOLD`` shares give the key back."""
    from zkclear.privacy.compliance import KeyShare, combine_key

    return combine_key([KeyShare.load(f) for f in files])


# --- the audit ----------------------------------------------------------------------------


def audit(pool: Pool, member: Member, compliance: X25519KeyPair, vkey: dict[str, Any],
          out_dir: Path) -> dict[str, Any]:
    """Audit ``member`` from public chain data: with its view key and with the
    (recombined) compliance key; proofs re-verified. Writes the HTML and JSON reports."""
    from zkclear.audit.core import audit_member

    by_key = audit_member(pool.w3, pool.deployment, member.key, vkey=vkey)
    by_compliance = audit_member(pool.w3, pool.deployment, None, slot=member.slot,
                                 compliance_key=compliance, vkey=vkey)
    stem = f"audit-{_slug(member.name)}"
    html = by_key.write_html(out_dir / f"{stem}.html")
    js = by_key.write_json(out_dir / f"{stem}.json")
    same = ([r.to_json() for r in by_key.rows]
            == [r.to_json() for r in by_compliance.rows])
    return {
        "slot": member.slot,
        "member": member.name,
        "view_key_ok": by_key.ok,
        "compliance_key_ok": by_compliance.ok,
        "same_figures": same,
        "epochs": [r.epoch for r in by_key.rows],
        "proofs_checked": by_key.proofs_checked,
        "findings": [f.to_json() for f in (*by_key.findings, *by_compliance.findings)],
        "rows": [r.to_json() for r in by_key.rows],
        "html": str(html),
        "json": str(js),
        "ok": by_key.ok and by_compliance.ok and same,
    }


# --- printing -----------------------------------------------------------------------------


def _covered_call(o: EpochOutcome) -> dict[str, int]:
    """Bank A's covered call margined together and leg by leg (the engine's margin, the
    epoch's risk arrays): the call's gains offset the future's losses per scenario."""
    from zkclear.clearing.epoch import maintenance_margin

    r = o.result
    q = r.new.leaves[1].positions
    legs = {"together": (q[ALPHA], 0, q[CALL]), "future": (q[ALPHA], 0, 0),
            "calls": (0, 0, q[CALL])}
    return {k: maintenance_margin(v, r.prices, r.params, r.risk_arrays)
            for k, v in legs.items()}


def _fmt(x: int) -> str:
    return f"{x:,}"


def _short(x: int) -> str:
    h = f"{x:#066x}"
    return h[:14] + "…"


def _show_netting(out: Output, netted: NetOutcome, cts: dict[int, Ciphertext]) -> None:
    from rich.markup import escape

    out.info(f"  operator: {len(netted.match.accepted)} trade(s) matched, "
             f"{len(netted.match.rejected)} report(s) rejected")
    for rj in netted.match.rejected:
        who = MEMBERS.get(rj.member, str(rj.member))
        out.info(f"    [yellow]rejected[/] {who}'s {rj.trade_id!r} ({rj.reason.value}): "
                 f"{escape(rj.message)}")
    for slot, rep in sorted(netted.reports.items()):
        ct = cts[slot]
        out.info(f"    {MEMBERS[slot]} commits its netted report delta={list(rep.delta)} "
                 f"tradeCash={_fmt(rep.trade_cash)}, encrypted under its view key "
                 f"({len(ct.to_bytes())} bytes, C={_short(ct.commitment())})")


def _show_result(out: Output, o: EpochOutcome) -> None:
    names = {0: "house (insurance)", **MEMBERS}
    for s in o.result.slots:
        if s.slot not in names:
            continue
        status = []
        if s.liquidated:
            status.append(f"[red]LIQUIDATED[/] (penalty {_fmt(s.penalty)}, shortfall "
                          f"{_fmt(s.shortfall)}; positions to the house)")
        if s.withdrawal_requested:
            status.append(("[green]withdrawal of {} paid[/]" if s.withdrawal_granted else
                           "[yellow]withdrawal of {} refused[/] (below initial margin)"
                           ).format(_fmt(s.withdrawal_requested)))
        margin = (f"MM {_fmt(s.maintenance_margin):>6} IM {_fmt(s.initial_margin):>6} "
                  f"fund {_fmt(s.after.df):>4}" if s.slot else " " * 30)
        out.info(f"    {names[s.slot]:<18} collateral {_fmt(s.after.collateral):>10}  "
                 f"positions {list(s.after.positions)!s:<12} {margin}  " + "; ".join(status))
    wf, c2 = o.result.layers, o.result.cover2
    award = o.result.award
    if award is not None:
        price = (f"paid {_fmt(-award.bid)} by the house" if award.bid < 0
                 else f"paying {_fmt(award.bid)}")
        out.info(f"  auction: {names.get(award.winner, award.winner)} won the house's lot, "
                 f"{price}; " + ("it takes the positions at the mark" if o.result.lot_sold
                                 else "[yellow]liquidated: the bid unwound[/]"))
    if wf.residual or wf.own:
        out.info(f"  default waterfall: the defaulters' own contributions {_fmt(wf.own)}, the "
                 f"house's skin {_fmt(wf.house)}, the survivors' fund {_fmt(wf.fund)} (of "
                 f"{_fmt(wf.fund_base)}), their gains' haircut {_fmt(wf.haircut)}; "
                 f"uncovered {_fmt(wf.uncovered)}")
    out.info(f"  Cover-2: the two largest uncovered stress losses {_fmt(c2.requirement)} "
             f"vs fund + skin {_fmt(c2.resources)}: "
             + ("[green]met[/]" if c2.met else "[yellow]missed[/]")
             + f"; next epoch's dfScale {o.result.new.df_scale} bp")
    a = o.accepted
    out.info(f"  [green]accepted on-chain[/]: epoch {a.epoch}, state root {_short(a.new_root)} "
             f"(= engine), submitEpoch gas {_fmt(a.gas_used)}")


# --- the demo -----------------------------------------------------------------------------


def run_demo(out: Output) -> dict[str, Any]:
    from rich.markup import escape

    from zkclear.chain import node as chain
    from zkclear.chain.pool import EpochOutcome, deploy_pool
    from zkclear.prover import ptau, registry
    from zkclear.prover.circuit import compile_circuit

    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def timed(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 2)

    out.info("[bold]zkclear demo[/] — three institutions clear four epochs privately on "
             "the embedded EVM")
    out.info("[dim]INSECURE development phase 1 (public tau): these keys are for a local "
             "chain only[/]")
    demo_dir = paths.build_dir() / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)

    # 1. keys
    cfg = CONFIG
    circuit = registry.epoch(cfg.n_slots, cfg.n_instruments, cfg.n_scenarios, cfg.max_events)
    t0 = time.perf_counter()
    with out.step(f"compile the epoch circuit (N={cfg.n_slots}, M={cfg.n_instruments}, "
                  f"K={cfg.n_scenarios})"):
        compiled = compile_circuit(circuit)
    timed("compile", t0)
    info = compiled.info
    out.info(f"  {_fmt(info.n_constraints)} constraints, {info.n_public} public signals")
    power = ptau.required_power(info.n_constraints, info.n_public)
    t0 = time.perf_counter()
    with out.step(f"phase 1: INSECURE development powers of tau 2^{power}"):
        ptau_path = ptau.dev_ptau(power)
    timed("phase1", t0)
    t0 = time.perf_counter()
    keys, ceremony_info = run_ceremony(compiled, ptau_path, out)
    timed("ceremony", t0)

    # 2. deploy
    t0 = time.perf_counter()
    with out.step("deploy Poseidon, governance, collateral, oracle, the epoch verifier "
                  "and the clearing house"):
        w3 = chain.embedded_web3()
        pool = deploy_pool(w3, keys, cfg, risk_params(), GENESIS_PRICES)
    timed("deploy", t0)
    dep = pool.deployment
    out.info(f"  clearing house {dep.address('ClearingHouse')} on chain {dep.chain_id}; "
             f"pool id {dep.pool_id}")

    # 3. compliance and institutions
    t0 = time.perf_counter()
    compliance, share_files = make_compliance()
    out.info(f"  compliance key {compliance.fingerprint.hex()} split among {OFFICERS} "
             f"officers (any {THRESHOLD} recover it); shares in {key_dir()}")
    members = make_members(pool)
    with out.step(f"governance registers {', '.join(MEMBERS.values())} (view-key "
                  "commitments, escrows to the compliance key; 2-of-3, time-lock)"):
        pool.register(members, compliance)
    del compliance  # only the officers' shares remain
    timed("register", t0)
    for m in members:
        out.info(f"    slot {m.slot} {m.name:<15} account {m.account}  vkh "
                 f"{_short(m.key.vkh)}")

    # 4. epochs
    outcomes: list[EpochOutcome] = []
    epoch_timings = []
    for chapter in story():
        epoch = pool.client.open_epoch()
        out.info(f"[bold]epoch {epoch}[/]: {chapter.title}")
        o = chapter.orders
        te = time.perf_counter()
        pool.act(o)
        prices = pool.post_prices(epoch, o.prices, o.funding)
        if o.risk_arrays:
            pool.post_risk_arrays(epoch, o.risk_arrays)
        arrays = (f"the call's risk array posted with its hash by {pool.setup.quorum} "
                  "reporters" if o.risk_arrays else
                  "the call settles this epoch: no risk arrays")
        out.info("  oracle: " + ", ".join(f"{n} {p}" for n, p in
                                         zip(INSTRUMENTS, prices, strict=True))
                 + f"; ALPHA funding index {pool.client.funding_index(epoch)[ALPHA]}; "
                 + arrays)
        netted = pool.net(epoch, o.trades, prices)
        cts = pool.commit(epoch, netted.reports)
        _show_netting(out, netted, cts)
        pool.close()
        result = pool.clear(epoch, netted.reports)
        t_chain = time.perf_counter() - te
        with out.step(f"prove epoch {epoch}"):
            proof = pool.prove(result)
        t0 = time.perf_counter()
        accepted = pool.submit(result, proof)
        outcome = EpochOutcome(netted, cts, result, proof, accepted)
        outcomes.append(outcome)
        epoch_timings.append({"chain_and_engine": round(t_chain, 2),
                              "prove": round(proof.prove_seconds, 2),
                              "submit": round(time.perf_counter() - t0, 2)})
        _show_result(out, outcome)
        if epoch == 1:
            covered = _covered_call(outcome)
            out.info(f"  covered call (Bank A: long 100 ALPHA, short 100 calls): maintenance "
                     f"margin {_fmt(covered['together'])} against {_fmt(covered['future'])} + "
                     f"{_fmt(covered['calls'])} for the legs alone")

    # 5. audit
    audited = pool.members[AUDITED]
    t0 = time.perf_counter()
    with out.step(f"officers recombine the compliance key ({THRESHOLD} of {OFFICERS} "
                  f"shares); audit {audited.name} with its view key and with the "
                  "compliance key"):
        recovered = recombine([share_files[0], share_files[2]])
        try:
            audit_info = audit(pool, audited, recovered, keys.vkey, demo_dir)
        except ImportError as exc:  # zkclear.audit.core broken in this checkout: say so
            audit_info = {"ok": False, "error": f"the audit could not run: {exc}",
                          "rows": [], "findings": [], "html": None}
    timed("audit", t0)
    audit_ok = bool(audit_info["ok"])
    for row in audit_info["rows"]:
        out.info(f"    epoch {row['epoch']}: {escape(str(row['status']))}")
    if "error" in audit_info:
        out.info(f"  [red]{escape(audit_info['error'])}[/]")
    else:
        out.info(("  [green]audit matches the chain[/]" if audit_ok else
                  f"  [red]audit findings: {len(audit_info['findings'])}[/]")
                 + f" — {audit_info['html']}")

    liquidations = [(o.epoch, s.slot) for o in outcomes for s in o.result.slots if s.liquidated]
    refused = [(o.epoch, s.slot, s.withdrawal_requested)
               for o in outcomes for s in o.result.slots if s.withdrawal_refused]
    paid = [(o.epoch, s.slot, s.withdrawal_requested)
            for o in outcomes for s in o.result.slots if s.withdrawal_granted]
    accepted_n = sum(1 for o in outcomes if o.accepted.new_root == o.result.new.root())
    chain_root = pool.client.state_root()
    funding = [{"epoch": o.epoch, "slot": s.slot, "member": MEMBERS.get(s.slot, "house"),
                "paid": -s.funding} for o in outcomes for s in o.result.slots if s.funding]
    settled = [{"epoch": o.epoch, "instrument": INSTRUMENTS[m],
                "final_price": o.result.prices[m]} for o in outcomes for m in o.result.settled]
    covered = _covered_call(outcomes[0])
    waterfalls = [{"epoch": o.epoch, "own": o.result.layers.own,
                   "house": o.result.layers.house, "fund": o.result.layers.fund,
                   "haircut": o.result.layers.haircut,
                   "fund_base": o.result.layers.fund_base,
                   "uncovered": o.result.layers.uncovered,
                   "cover2_met": o.result.cover2.met,
                   "cover2_requirement": o.result.cover2.requirement,
                   "df_scale_next": o.result.new.df_scale} for o in outcomes]
    defaulted = [w for w in waterfalls if w["own"] or w["house"] or w["fund"]]
    auctions = [{"epoch": o.epoch, "winner": MEMBERS.get(o.result.award.winner),
                 "bid": o.result.award.bid, "sold": o.result.lot_sold,
                 "house_flat_after": o.result.house_flat}
                for o in outcomes if o.result.award is not None]
    expired = all(lf.positions[CALL] == 0 for lf in pool.state.leaves)
    ok = (accepted_n == len(outcomes) and chain_root == pool.state.root()
          and bool(liquidations) and bool(refused) and audit_ok and bool(funding)
          and bool(settled) and expired and bool(defaulted)
          and any(a["sold"] and a["house_flat_after"] for a in auctions)
          and covered["together"] < covered["future"] + covered["calls"])
    total = round(time.perf_counter() - t_start, 2)
    summary: dict[str, Any] = {
        "ok": ok,
        "epochs": len(outcomes),
        "members": [{"slot": m.slot, "name": m.name, "account": m.account,
                     "vkh": hex(m.key.vkh)} for m in members],
        "proofs_accepted": accepted_n,
        "liquidations": len(liquidations),
        "liquidated": [{"epoch": e, "slot": s, "member": MEMBERS[s]} for e, s in liquidations],
        "withdrawals_refused": len(refused),
        "withdrawals_paid": len(paid),
        "withdrawals": [{"epoch": e, "slot": s, "member": MEMBERS[s], "amount": a,
                         "paid": p} for p, rows in ((False, refused), (True, paid))
                        for e, s, a in rows],
        "trades": [{"epoch": o.epoch, "accepted": len(o.netted.match.accepted),
                    "rejected": [{"member": MEMBERS.get(r.member, str(r.member)),
                                  "trade_id": r.trade_id, "reason": r.reason.name}
                                 for r in o.netted.match.rejected]} for o in outcomes],
        "funding": funding,
        "settled": settled,
        "covered_call": covered,
        "waterfall": waterfalls,
        "auctions": auctions,
        "audit_ok": audit_ok,
        "audit": {k: v for k, v in audit_info.items() if k != "rows"},
        "submit_epoch_gas": [o.accepted.gas_used for o in outcomes],
        "prove_seconds": [round(o.proof.prove_seconds, 2) for o in outcomes],
        "genesis_root": hex(pool.setup.genesis_state().root()),
        "state_roots": [hex(o.accepted.new_root) for o in outcomes],
        "chain_state_root": hex(chain_root),
        "total_collateral": pool.client.total_collateral(),
        "circuit": {"name": circuit.name, "constraints": info.n_constraints,
                    "slots": cfg.n_slots, "instruments": cfg.n_instruments,
                    "scenarios": cfg.n_scenarios},
        "ceremony": ceremony_info,
        "deploy_gas": sum(dep.gas.values()),
        "chain_id": dep.chain_id,
        "clearing_house": dep.address("ClearingHouse"),
        "keys_dir": str(key_dir()),
        "timings": {**timings, "epochs": epoch_timings, "total": total},
        "total_seconds": total,
    }
    if not ok:
        out.info("[red]demo FAILED[/]: " + json.dumps(
            {k: summary[k] for k in ("proofs_accepted", "liquidations",
                                     "withdrawals_refused", "audit_ok")}))
    else:
        out.info(f"[green]demo OK[/]: {len(outcomes)} epochs proven and accepted on-chain, "
                 f"{len(liquidations)} liquidation, {len(refused)} withdrawal refused, "
                 f"{len(paid)} paid, audit matching — {total:.0f} s")
    return summary
