"""``zkclear audit`` end to end on the embedded EVM, with real epoch proofs.

One module-scoped chain plays the contract tests' story (zkclear/chain/scenario.py:
epoch 1 hedged member 1 and slot 3's refused withdrawal, epoch 2 a price shock that
liquidates slot 2 and pays slot 1's withdrawal) and a third epoch in which slot 1 trades
with slot 3 honestly, but slot 3 publishes a ciphertext that is not the one it committed
(garbage) and slot 2 publishes a truncated one (the proof does not see published bytes,
so the epoch is accepted). The audits' figures are compared with the engine's
EpochResult of each epoch, recomputed from the same chain events.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from eth_utils import event_abi_to_log_topic
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from zkclear.audit import (
    AuditError,
    AuditReport,
    EpochRow,
    Finding,
    audit_member,
    derive_slot,
)
from zkclear.audit import html as audit_html
from zkclear.chain import artefacts, scenario
from zkclear.chain import node as chain
from zkclear.chain.pool import Pool
from zkclear.clearing.epoch import EpochError, EpochResult, SlotFigures, SlotResult, run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import PoolConfig, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.scenario import EpochPlan, demo_keys, demo_plans
from zkclear.clearing.state import PoolState
from zkclear.cli import main as cli
from zkclear.field import P
from zkclear.privacy.cipher import Ciphertext, encrypt_report
from zkclear.privacy.compliance import generate_compliance_key
from zkclear.privacy.viewkeys import EpochKey, MemberKey

from ..clearing import helpers as es

# Epoch 3: slot 1 buys LOTS3 of instrument 0 from slot 3 at PX3; settlement PRICES3.
PRICES3 = (1_117, 1_093)
LOTS3, PX3 = 37, 1_113


@dataclass
class Story:
    pool: Pool
    results: dict[int, EpochResult]  # epoch -> the engine's result
    keys: dict[int, MemberKey]
    published: dict[int, bytes]  # epoch 3: what each slot published with its COMMIT

    @property
    def w3(self) -> Any:
        return self.pool.w3

    @property
    def deployment(self) -> Any:
        return self.pool.client.deployment

    def slot(self, epoch: int, slot: int) -> SlotResult:
        return self.results[epoch].slots[slot]


def _epoch3(keys: dict[int, MemberKey]) -> tuple[EpochPlan, dict[int, bytes]]:
    rng = random.Random(3)
    cash = LOTS3 * (PRICES3[0] - PX3)
    reports = {1: Report((LOTS3, 0), cash, rng.randrange(1, P)),
               2: Report((0, 0), 0, rng.randrange(1, P)),
               3: Report((-LOTS3, 0), -cash, rng.randrange(1, P))}
    cts = {i: encrypt_report(keys[i], 3, r) for i, r in reports.items()}
    garbage = Ciphertext(tuple(rng.randrange(P) for _ in range(4)), rng.randrange(P))
    published = {1: cts[1].to_bytes(), 2: cts[2].to_bytes()[:-40], 3: garbage.to_bytes()}
    events = tuple(Event(Kind.COMMIT, i, c.commitment()) for i, c in cts.items())
    plan = EpochPlan(PRICES3, events, reports, {i: keys[i] for i in reports}, cts)
    return plan, published


@pytest.fixture(scope="module")
def story() -> Story:
    pool = scenario.deploy_pool(chain.embedded_web3(), scenario.epoch_keys())
    cl = pool.client
    keys = demo_keys(scenario.CFG)
    genesis = pool.state
    scenario.story_end_to_end(pool)
    # The engine's results of epochs 1 and 2, from the chain's own events and prices.
    plans = demo_plans(scenario.CFG)
    results: dict[int, EpochResult] = {}
    state = genesis
    for epoch, plan in ((1, plans[0]), (2, plans[1])):
        r = run_epoch(state, pool.setup.params, cl.final_prices(epoch), cl.epoch_events(epoch),
                      plan.reports, view_keys=plan.view_keys)
        results[epoch], state = r, r.new
    assert cl.total_collateral() == results[2].total_collateral
    # Epoch 3: commitments with what each member chose to publish, then clear and prove.
    plan3, published = _epoch3(keys)
    assert cl.open_epoch() == 3
    signed = [cl.sign_commit_as(pool.actors.members[ev.slot], 3, ev.slot, ev.value,
                                published[ev.slot]) for ev in plan3.events]
    r3, p3 = scenario.prepare_epoch(pool, plan3, played=len(plan3.events), commits=signed)
    scenario.submit(pool, r3, p3)
    results[3] = r3
    assert cl.last_accepted_epoch() == 3 and cl.state_root() == r3.new.root()
    return Story(pool, results, keys, published)


def assert_row_equals_engine(row: EpochRow, r: EpochResult, slot: int) -> None:
    s = r.slots[slot]
    rep = r.reports.get(slot)
    delta = rep.delta if rep else (0,) * len(s.before.positions)
    f = row.figures
    assert f is not None, (row.epoch, row.status, row.findings)
    assert row.accepted and row.status == "verified", (row.status, row.findings)
    assert row.positions_before == s.before.positions
    assert row.collateral_before == s.before.collateral
    assert row.delta == delta
    assert row.trade_cash == (rep.trade_cash if rep else 0)
    assert row.deposit == r.events.per_slot[slot].deposit
    assert row.prices == r.prices and row.prices_prev == r.prices_prev
    assert row.params_hash == r.params.hash()
    got = (f.variation_margin, f.positions, f.equity, f.losses, f.maintenance_margin,
           f.initial_margin, f.liquidated, row.withdrawal_requested, f.withdrawal_granted,
           f.penalty, f.shortfall, f.collateral_after, f.positions_after)
    want = (s.variation_margin, tuple(b + d for b, d in zip(s.before.positions, delta,
                                                             strict=True)),
            s.collateral_pre, s.losses, s.maintenance_margin, s.initial_margin, s.liquidated,
            s.withdrawal_requested, s.withdrawal_granted, s.penalty, s.shortfall,
            s.after.collateral, s.after.positions)
    assert got == want
    assert row.onchain_liquidated == s.liquidated
    assert row.onchain_granted == s.withdrawal_granted


def reasons(rep: AuditReport) -> list[tuple[int | None, str, str]]:
    return [(f.epoch, f.field, f.reason) for f in rep.findings]


# --- the per-slot rules against the engine ---------------------------------------------------

PROP_CFG = PoolConfig(8, 3, 4)
PROP_PARAMS = RiskParams.symmetric(3, [500, 2000], im_factor_bp=12_000, penalty_bp=500)
_trade = st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(0, 2),
                   st.integers(1, 60), st.integers(50, 150))
_epoch = st.tuples(
    st.lists(_trade, max_size=10),
    st.lists(st.integers(50, 150), min_size=3, max_size=3),  # prices: big moves liquidate
    st.lists(st.tuples(st.integers(1, 7), st.integers(1, 3000)), max_size=4),  # deposits
    st.lists(st.tuples(st.integers(1, 7), st.integers(1, 3000)), max_size=3),  # withdrawals
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_epoch, min_size=1, max_size=4), st.integers(0, 2**32))
def test_derive_slot_equals_the_engine_on_random_epochs(epochs, seed) -> None:
    """The audit's per-slot derivation (from one slot's leaf, report and public events)
    gives exactly the engine's SlotResult, whatever the rest of the pool does."""
    state = PoolState.genesis(PROP_CFG, (100, 100, 100))
    for j, (trades, prices, deposits, withdrawals) in enumerate(epochs):
        delta = [[0] * 3 for _ in range(8)]
        cash = [0] * 8
        for buyer, seller, m, size, px in trades:
            if buyer != seller:
                delta[buyer][m] += size
                delta[seller][m] -= size
                cash[buyer] += size * (prices[m] - px)
                cash[seller] -= size * (prices[m] - px)
        reports = {i: Report(tuple(delta[i]), cash[i], (seed + i + j) % 2**64 + 1)
                   for i in range(1, 8) if any(delta[i]) or cash[i]}
        events = es.registered(range(1, 8)) if j == 0 else []
        events += es.committed(reports, state.epoch + 1)
        events += [Event(Kind.DEPOSIT, s, a) for s, a in dict(deposits).items()]
        events += [Event(Kind.WITHDRAW, s, a) for s, a in dict(withdrawals).items()]
        try:
            r = run_epoch(state, PROP_PARAMS, tuple(prices), events, reports,
                          view_keys=es.keys_of(reports))
        except EpochError as exc:  # random trades that break the trade-cash rule: no epoch
            assert "exceeds the equity before trades" in str(exc), exc
            return
        for s in r.slots[1:]:
            rep = reports.get(s.slot, Report((0, 0, 0), 0, 0))
            se = r.events.per_slot[s.slot]
            f = derive_slot(s.slot, s.before.collateral, s.before.positions, rep, se.deposit,
                            se.withdrawal, r.prices, r.prices_prev, PROP_PARAMS)
            assert (f.variation_margin, f.equity, f.losses, f.maintenance_margin,
                    f.initial_margin, f.liquidated, f.withdrawal_granted, f.penalty,
                    f.shortfall, f.collateral_after, f.positions_after) == (
                s.variation_margin, s.collateral_pre, s.losses, s.maintenance_margin,
                s.initial_margin, s.liquidated, s.withdrawal_granted, s.penalty,
                s.shortfall, s.after.collateral, s.after.positions)
            event("liquidated" if s.liquidated else "not liquidated")
            if s.withdrawal_requested:
                event("granted" if s.withdrawal_granted else "refused")
        state = r.new


# --- the story itself ---------------------------------------------------------------------


def test_story_has_what_the_audit_must_see(story: Story) -> None:
    r1, r2, r3 = (story.results[e] for e in (1, 2, 3))
    assert r1.slots[3].withdrawal_refused and r1.slots[1].after.positions == (100, -90)
    assert r2.slots[2].liquidated
    assert r2.slots[1].withdrawal_granted
    assert not any(s.liquidated for s in r3.slots) and set(r3.reports) == {1, 2, 3}


# --- audits with each kind of key ---------------------------------------------------------


def test_member_key_audit_equals_the_engine(story: Story) -> None:
    rep = audit_member(story.w3, story.deployment, story.keys[1])
    assert rep.ok, [str(f) for f in rep.findings]
    assert [r.epoch for r in rep.rows] == [1, 2, 3]
    for r in rep.rows:
        assert_row_equals_engine(r, story.results[r.epoch], 1)
    assert rep.row(2).withdrawal_paid == story.slot(2, 1).withdrawal_requested
    assert (rep.key_kind, rep.vkh) == ("member", story.keys[1].vkh)


def test_liquidated_member_audit_equals_the_engine(story: Story) -> None:
    rep = audit_member(story.w3, story.deployment, story.keys[2])
    for epoch in (1, 2):
        assert_row_equals_engine(rep.row(epoch), story.results[epoch], 2)
    row2 = rep.row(2)
    assert row2.figures is not None and row2.figures.liquidated and row2.onchain_liquidated
    assert row2.figures.equity < row2.figures.maintenance_margin
    assert row2.figures.positions_after == (0, 0)
    # Epoch 3: slot 2 published a truncated ciphertext; the rest of the audit completed.
    assert reasons(rep) == [(3, "ciphertext", "truncated")]
    assert rep.row(3).status == "failed" and rep.row(3).figures is None
    assert rep.row(3).accepted and rep.row(3).onchain_liquidated is False


@pytest.mark.parametrize("slot", [1, 2])
def test_epoch_key_discloses_its_epoch_only(story: Story, slot: int) -> None:
    key = story.keys[slot].epoch_key(1)
    rep = audit_member(story.w3, story.deployment, key)
    assert rep.key_kind == "epoch" and rep.key_epoch == 1
    # Epoch 1 is disclosed; epoch 2 has no report, so it follows from epoch 1.
    for epoch in (1, 2):
        assert_row_equals_engine(rep.row(epoch), story.results[epoch], slot)
    row3 = rep.row(3)
    assert row3.figures is None and row3.delta is None
    if slot == 1:  # a valid ciphertext the key does not open: not a failure
        assert rep.ok and row3.status == "not disclosed" and not row3.disclosed
    else:  # slot 2's epoch 3 ciphertext is truncated: found without any key
        assert reasons(rep) == [(3, "ciphertext", "truncated")]


def test_epoch_key_of_a_later_epoch_shows_its_report_only(story: Story) -> None:
    rep = audit_member(story.w3, story.deployment, story.keys[1].epoch_key(3))
    assert rep.ok and [r.status for r in rep.rows] == [
        "not disclosed", "not derivable", "not derivable"]
    row3 = rep.row(3)  # the report opens, but the positions it adds to are not disclosed
    assert row3.disclosed and row3.delta == (LOTS3, 0) and row3.figures is None
    assert rep.row(2).withdrawal_paid == story.slot(2, 1).withdrawal_requested


def test_compliance_key_recovers_the_key_from_the_escrow(story: Story) -> None:
    rep = audit_member(story.w3, story.deployment, None, slot=1, compliance_key=scenario.COMPLIANCE)
    assert rep.ok and rep.key_kind == "compliance", [str(f) for f in rep.findings]
    for r in rep.rows:
        assert_row_equals_engine(r, story.results[r.epoch], 1)
    rep2 = audit_member(story.w3, story.deployment, None, slot=2,
                        compliance_key=scenario.COMPLIANCE)
    for epoch in (1, 2):
        assert_row_equals_engine(rep2.row(epoch), story.results[epoch], 2)
    assert reasons(rep2) == [(3, "ciphertext", "truncated")]


# --- bad keys and bad ciphertexts ------------------------------------------------------------


def test_wrong_key_is_flagged_and_the_rest_completes(story: Story) -> None:
    rep = audit_member(story.w3, story.deployment, MemberKey(1, secrets.randbelow(P - 1) + 1))
    assert reasons(rep) == [(1, "view key", "vkh"), (1, "decryption", "tag"),
                            (3, "decryption", "tag")]
    assert [r.status for r in rep.rows] == ["failed", "not derivable", "failed"]
    # Public facts are still read: epoch 2 paid slot 1's withdrawal.
    assert rep.row(2).withdrawal_paid == story.slot(2, 1).withdrawal_requested
    assert all(r.accepted for r in rep.rows)


def test_epoch_key_of_another_epoch_is_flagged(story: Story) -> None:
    k1 = story.keys[1].epoch_key(1)
    mislabelled = EpochKey(1, 3, k1.key)  # epoch 1's key, labelled epoch 3
    rep = audit_member(story.w3, story.deployment, mislabelled)
    assert reasons(rep) == [(3, "decryption", "wrong-epoch")]
    assert "epoch 1" in rep.findings[0].message
    assert rep.row(1).status == "not disclosed"
    # An unrelated key labelled epoch 3 fails the tag plainly.
    rep = audit_member(story.w3, story.deployment, EpochKey(1, 3, 12345))
    assert reasons(rep) == [(3, "decryption", "tag")]


def test_key_of_another_member_is_flagged(story: Story) -> None:
    rep = audit_member(story.w3, story.deployment, story.keys[2], slot=1)
    assert reasons(rep) == [(None, "view key", "slot")]
    assert rep.row(1).status == "not disclosed" and rep.row(2).status == "not derivable"


def test_garbage_ciphertext_published_is_flagged(story: Story) -> None:
    rep = audit_member(story.w3, story.deployment, story.keys[3])
    for epoch in (1, 2):
        assert_row_equals_engine(rep.row(epoch), story.results[epoch], 3)
    assert rep.row(1).figures is not None and not rep.row(1).figures.withdrawal_granted
    assert rep.row(1).withdrawal_refused == story.slot(1, 3).withdrawal_requested
    (f,) = rep.findings
    assert (f.epoch, f.field, f.reason) == (3, "ciphertext", "commitment")
    assert f.expected == "0x" + story.results[3].events.per_slot[3].commitment.to_bytes(
        32, "big").hex()
    assert f.found == "0x" + Ciphertext.from_bytes(story.published[3]).commitment().to_bytes(
        32, "big").hex()


def test_escrow_that_does_not_open_is_flagged(story: Story) -> None:
    other = generate_compliance_key()
    rep = audit_member(story.w3, story.deployment, None, slot=1, compliance_key=other)
    assert reasons(rep) == [(1, "escrow", "escrow")]
    assert "another compliance key" in rep.findings[0].message
    assert [r.status for r in rep.rows] == ["not disclosed", "not derivable", "not disclosed"]
    assert rep.row(2).accepted and rep.row(2).withdrawal_paid is not None


def test_closed_epoch_awaiting_its_proof_is_pending(story: Story) -> None:
    cl = story.pool.client
    snap = chain.snapshot(story.w3)
    try:
        cl.deposit(2_500, sender=story.pool.actors.members[1])
        story.pool.wait_for_auction()
        cl.close_epoch(sender=story.pool.actors.operator)  # epoch 4: no prices, no proof
        rep = audit_member(story.w3, story.deployment, story.keys[1])
        assert rep.ok and [r.epoch for r in rep.rows] == [1, 2, 3, 4]
        row4 = rep.row(4)
        assert row4.status == "pending" and not row4.accepted and row4.deposit == 2_500
        assert row4.figures is None and row4.prices is None
    finally:
        chain.revert(story.w3, snap)


def test_audit_refuses_what_it_cannot_start(story: Story) -> None:
    with pytest.raises(AuditError, match="which member"):
        audit_member(story.w3, story.deployment, None)
    with pytest.raises(AuditError, match="not both"):
        audit_member(story.w3, story.deployment, story.keys[1], compliance_key=scenario.COMPLIANCE)
    with pytest.raises(AuditError, match="house"):
        audit_member(story.w3, story.deployment, None, slot=0)


def test_pool_id_is_chain_and_house() -> None:
    from zkclear.chain.deployment import Deployment, pool_id

    house = "0x" + "AB" * 20
    dep = Deployment(31337, {"ClearingHouse": house}, scenario.CFG, 1)
    assert dep.pool_id == pool_id(31337, house) == "31337:0x" + "ab" * 20


# --- outputs ----------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Cells of table#epochs by row (data-epoch) and data-field; svg elements seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[int, dict[str, str]] = {}
        self.svg: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self._row: int | None = None
        self._field: str | None = None
        self._text: list[str] = []
        self._in_svg = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "svg":
            self._in_svg = True
        if self._in_svg:
            self.svg.append((tag, a))
        if tag == "tr" and a.get("data-epoch"):
            self._row = int(str(a["data-epoch"]))
            self.rows[self._row] = {}
        if tag == "td" and self._row is not None and a.get("data-field"):
            self._field, self._text = str(a["data-field"]), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._in_svg = False
        if tag == "td" and self._field is not None and self._row is not None:
            self.rows[self._row][self._field] = "".join(self._text).strip()
            self._field = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self._text.append(data)


def test_html_report_shows_the_engines_figures(story: Story, tmp_path: Path) -> None:
    rep = audit_member(story.w3, story.deployment, story.keys[2])
    page = rep.write_html(tmp_path / "audit.html")
    assert page.stat().st_mode & 0o077 == 0  # private figures: owner only
    text = page.read_text()
    parser = _Tables()
    parser.feed(text)
    assert set(parser.rows) == {1, 2, 3}
    for epoch in (1, 2):
        s, cells = story.slot(epoch, 2), parser.rows[epoch]
        assert int(cells["equity"]) == s.collateral_pre
        assert int(cells["maintenance_margin"]) == s.maintenance_margin
        assert int(cells["initial_margin"]) == s.initial_margin
        assert int(cells["collateral_after"]) == s.after.collateral
        assert json.loads(cells["positions_after"]) == list(s.after.positions)
        assert cells["liquidated"] == ("yes" if s.liquidated else "no")
        assert cells["status"] == "verified"
    assert parser.rows[3]["status"] == "failed" and parser.rows[3]["equity"] == "—"
    assert {"epochs", "equity-plot", "findings", "findings-table"} <= parser.ids
    tags = [t for t, _ in parser.svg]
    assert tags[0] == "svg" and "polyline" in tags and tags.count("circle") == 4
    assert "truncated" in text
    # Escaping: a finding's text with markup in it stays text.
    rep.findings[0] = type(rep.findings[0])(3, "<b>x</b>", "r&d", None, None, "<script>")
    assert "<script>" not in rep.to_html() and "&lt;script&gt;" in rep.to_html()


HOSTILE = '<script>alert("x")</script>'


def _synthetic_report(text: str) -> AuditReport:
    """A report made by hand (no chain) with ``text`` in every string a member, the chain
    or a finding can put on the page."""
    figures = SlotFigures(5, (1, -2), 993, 1_000, (3, 4), 300, 600, False, True, 0, 0, 997,
                          (1, -2))
    rows = [EpochRow(1, status="verified", accepted=True, figures=figures,
                     onchain_liquidated=False),
            EpochRow(2, status="failed", accepted=True, onchain_liquidated=True)]
    findings = [Finding(2, text, text, text, text, text), Finding(None, "escrow", text, None,
                                                                  None, text)]
    return AuditReport(1, 31337, "0x" + "ab" * 20, f"31337:{text}", "member", None, 7, rows,
                       findings, False)


def test_html_report_escapes_hostile_strings() -> None:
    page = _synthetic_report(HOSTILE).to_html()
    assert "<script" not in page.lower() and "alert(\"x\")" not in page
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") == 8
    parser = _Tables()
    parser.feed(page)
    assert set(parser.rows) == {1, 2} and parser.rows[1]["equity"] == "1000"
    assert [t for t, _ in parser.svg].count("circle") == 2  # epoch 1's equity and MM
    # An attribute cannot be left either: quotes are escaped too.
    page = _synthetic_report('" onmouseover="x').to_html()
    assert 'onmouseover="x' not in page and "&#34; onmouseover=&#34;x" in page


def test_html_template_is_autoescaped_package_data() -> None:
    from importlib.resources import files

    assert files("zkclear.audit").joinpath("templates/report.html.j2").is_file()
    env = audit_html.environment()
    assert env.autoescape("report.html.j2") is True  # select_autoescape for .html.j2
    assert audit_html.plot(_synthetic_report("x").to_json()) is not None
    empty = AuditReport(1, 1, "0x" + "ab" * 20, "1:x", "none", None, None,
                        [EpochRow(1)], [], False)
    assert audit_html.plot(empty.to_json()) is None
    assert "no derivable figures" in empty.to_html()


def test_json_report_is_plain_json_without_key_material(story: Story, tmp_path: Path) -> None:
    key = story.keys[1]
    for rep in (audit_member(story.w3, story.deployment, key),
                audit_member(story.w3, story.deployment, None, slot=1,
                             compliance_key=scenario.COMPLIANCE)):
        doc = json.loads(json.dumps(rep.to_json()))
        assert doc["format"] == "zkclear-audit-v1" and doc["ok"] and doc["slot"] == 1
        e1 = doc["epochs"][0]
        s = story.slot(1, 1)
        assert (e1["equity"], e1["maintenance_margin"], e1["collateral_after"]) == (
            s.collateral_pre, s.maintenance_margin, s.after.collateral)
        everything = rep.write_json(tmp_path / "a.json").read_text() + rep.to_html()
        k = key.key.reveal()
        for secret in (str(k), f"{k:x}", f"{k:064x}", str(key.epoch_key(1).key.reveal()),
                       scenario.COMPLIANCE.private.reveal().hex()):
            assert secret not in everything


# --- the plaintext scan ---------------------------------------------------------------------


def _words(x: int) -> set[bytes]:
    """32-byte big-endian forms of x: itself, or for x < 0 two's complement and mod r."""
    if x >= 0:
        return {x.to_bytes(32, "big")}
    return {(x + 2**256).to_bytes(32, "big"), (x + P).to_bytes(32, "big")}


def test_no_plaintext_appears_on_chain(story: Story) -> None:
    """Every transaction's calldata, every log's topics and data, every decoded event
    argument: none holds a position, trade delta, tradeCash or collateral balance.

    Deposits and withdrawal amounts are public by design, so values equal to one of them
    are excluded -- here exactly two balances that *are* the deposit that made them: the
    house's 1,000,000 and slot 2's 6,000 after epoch 1 (no trade cash: slot 2 sold at the
    settlement price; no variation margin yet). The remaining private values (37 to
    1,000,150 in absolute value) differ from every public number the chain holds (prices
    1,000-1,120, limits 10^9, shocks 500/1,000, factors 15,000/1,000, amounts, epoch and
    slot numbers, timestamps), so a hit is a leak, not chance. A deposit amount, which
    is public, is found by the same scan (the scan does read the data).
    """
    w3 = story.w3
    private: set[int] = set()
    for r in story.results.values():
        for rep in r.reports.values():
            private.update([*rep.delta, rep.trade_cash])
        for s in r.slots:
            private.update([*s.before.positions, *s.after.positions, s.before.collateral,
                            s.after.collateral, s.collateral_pre])
            delta = r.reports[s.slot].delta if s.slot in r.reports else ()
            private.update(b + d for b, d in zip(s.before.positions, delta, strict=False))
    public = {ev.value for r in story.results.values() for ev in r.events.events
              if ev.kind in (Kind.DEPOSIT, Kind.WITHDRAW)}
    # The house's collateral (the insurance fund) is public by design: the last word of
    # each epoch's exit data (docs/protocol.md, "Freeze and escape"); members' are not.
    public |= {r.new.leaves[0].collateral for r in story.results.values()}
    private -= {0} | public
    assert {100, -90, LOTS3} <= private and min(abs(v) for v in private) >= 37

    # ABI values are 32-byte words at fixed offsets: a call's after its 4-byte selector, a
    # deployment's constructor arguments at the end of its code, a log's topics and data
    # from their start. Every such word is checked (a byte window across two words, e.g.
    # zero padding followed by a hash, is not a value).
    blobs: list[tuple[str, set[bytes]]] = []

    def aligned(blob: bytes, start: int) -> set[bytes]:
        return {blob[i:i + 32] for i in range(start, len(blob) - 31, 32)}

    # A deployment's own init code is not data: 31 zero bytes of an immutable's placeholder
    # and the next opcode can form a small "value" by chance. Its arguments are scanned.
    init_codes = [bytes.fromhex(c.bytecode.removeprefix("0x"))
                  for c in artefacts.build().values() if c.bytecode not in ("", "0x")]
    known = 0
    for n in range(w3.eth.block_number + 1):
        for h in w3.eth.get_block(n)["transactions"]:
            tx = w3.eth.get_transaction(h)
            data = bytes(tx["input"])
            if tx["to"] is not None:
                start = 4
            else:
                code = [len(c) for c in init_codes if data.startswith(c)]
                start = max(code) if code else len(data) % 32
                known += bool(code)
            blobs.append((f"tx {bytes(h).hex()}", aligned(data, start)))
    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"})
    assert len(logs) > 50 and len(blobs) > 40
    assert known >= 5  # the token, oracle, verifier, ExitLeaves, house (its args scanned)
    for lg in logs:
        blobs.append((f"log {lg['address']}#{lg['logIndex']}", aligned(
            b"".join(bytes(t) for t in lg["topics"]) + bytes(lg["data"]), 0)))
    assert any(_words(60_000).pop() in blob for _, blob in blobs)  # slot 1's deposit
    words = {w: v for v in private for w in _words(v)}
    for where, blob in blobs:
        for w, v in words.items():
            assert w not in blob, f"private value {v} appears in {where}"

    # Decoded events of every contract: no argument (or array element) is a private value.
    decoders = {(c.address, event_abi_to_log_topic(abi)): getattr(c.events, abi["name"])()
                for c in story.pool.client.c.values() for abi in c.abi
                if abi.get("type") == "event"}
    seen = 0
    for lg in logs:
        ev = decoders[(lg["address"], bytes(lg["topics"][0]))]
        seen += 1
        for name, value in ev.process_log(lg)["args"].items():
            for v in value if isinstance(value, list | tuple) else [value]:
                if isinstance(v, int) and not isinstance(v, bool):
                    signed = v - 2**256 if v >= 2**255 else v
                    assert signed not in private and v - P not in private, (
                        f"{ev.event_name}.{name} = {v} is a private value")
    assert seen == len(logs)


# --- proofs -----------------------------------------------------------------------------------


def test_audit_reverifies_each_proof_from_calldata(story: Story) -> None:
    rep = audit_member(story.w3, story.deployment, story.keys[1],
                       vkey=story.pool.keys.vkey_path)
    assert rep.ok and rep.proofs_checked, [str(f) for f in rep.findings]
    assert [r.proof_verified for r in rep.rows] == [True, True, True]


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def rpc(story: Story, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """`--rpc-url` reaches the story's embedded chain; the deployment file is written."""
    monkeypatch.setattr(chain, "http_web3", lambda url, **kw: story.w3)
    dep = tmp_path / "deployment.json"
    story.deployment.save(dep)
    yield dep


def test_cli_audit_with_a_member_key(story: Story, rpc: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    keyfile = story.keys[2].save(tmp_path / "slot2.key")
    out = tmp_path / "out"
    code = cli.main(["audit", "--rpc-url", "http://127.0.0.1:1", "--deployment", str(rpc),
                     "--key", str(keyfile), "--out", str(out), "--json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 1 and not doc["ok"]  # slot 2's truncated ciphertext in epoch 3
    assert [f["reason"] for f in doc["findings"]] == ["truncated"]
    assert doc["slot"] == 2 and [e["status"] for e in doc["epochs"]] == [
        "verified", "verified", "failed"]
    assert (out / "audit-slot2.json").exists() and (out / "audit-slot2.html").exists()
    assert json.loads((out / "audit-slot2.json").read_text())["epochs"] == doc["epochs"]
    assert str(story.keys[2].key.reveal()) not in captured.out + captured.err


def test_cli_audit_with_the_compliance_key(story: Story, rpc: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    ck = scenario.COMPLIANCE.save(tmp_path / "compliance.key")
    code = cli.main(["audit", "--rpc-url", "http://127.0.0.1:1", "--deployment", str(rpc),
                     "--compliance-key", str(ck), "--slot", "1", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "no findings" in captured.err and (tmp_path / "audit-slot1.html").exists()


def test_cli_audit_usage_errors(story: Story, rpc: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    # a key is required: one line, exit status 2 (argparse's error, not a SystemExit)
    assert cli.main(["audit", "--rpc-url", "http://x", "--deployment", str(rpc)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--key --compliance-key is required" in err
    ck = scenario.COMPLIANCE.save(tmp_path / "compliance.key")
    code = cli.main(["audit", "--rpc-url", "http://x", "--deployment", str(rpc),
                     "--compliance-key", str(ck), "--json"])
    assert code == 2 and "which member" in json.loads(capsys.readouterr().out)["error"]
    code = cli.main(["audit", "--rpc-url", "http://x", "--deployment", str(tmp_path / "no"),
                     "--compliance-key", str(ck), "--slot", "1", "--json"])
    assert code == 2
    assert "cannot read the deployment file" in json.loads(capsys.readouterr().out)["error"]


# --- across processes, over JSON-RPC --------------------------------------------------------


def test_cli_audit_in_another_process_over_json_rpc(tmp_path: Path) -> None:
    """The story on a hardhat node; `zkclear audit` run as its own process against the
    node's URL reproduces the liquidated member's history equal to the engine's."""
    import subprocess
    import sys

    with chain.HardhatNode() as node:
        pool = scenario.deploy_pool(node.web3(), scenario.epoch_keys())
        genesis = pool.state
        scenario.story_end_to_end(pool)
        cl = pool.client
        dep = tmp_path / "deployment.json"
        cl.deployment.save(dep)
        keyfile = demo_keys(scenario.CFG)[2].save(tmp_path / "slot2.key")
        proc = subprocess.run(
            [sys.executable, "-m", "zkclear.cli.main", "audit", "--rpc-url", node.url,
             "--deployment", str(dep), "--key", str(keyfile), "--out", str(tmp_path),
             "--vkey", str(pool.keys.vkey_path), "--json"],
            capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        state = genesis
        for epoch, plan in zip((1, 2), demo_plans(scenario.CFG), strict=True):
            r = run_epoch(state, pool.setup.params, cl.final_prices(epoch),
                          cl.epoch_events(epoch), plan.reports, view_keys=plan.view_keys)
            state = r.new
            row, s = doc["epochs"][epoch - 1], r.slots[2]
            assert row["status"] == "verified" and row["onchain"]["proof_verified"]
            assert (row["equity"], row["maintenance_margin"], row["initial_margin"],
                    row["liquidated"], row["collateral_after"], row["positions_after"]) == (
                s.collateral_pre, s.maintenance_margin, s.initial_margin, s.liquidated,
                s.after.collateral, list(s.after.positions))
        assert doc["epochs"][1]["liquidated"] and doc["ok"]
