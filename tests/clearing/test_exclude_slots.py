"""exclude_slots: a slot that withholds its signed report (or is suspended) is cut out of
the epoch, its counterparties re-netted; unchanged reports keep their salt (and so the
signature already given)."""

from __future__ import annotations

from zkclear.clearing.report import Report
from zkclear.clearing.trades import (
    MatchedTrade,
    Reason,
    apply_rules,
    changed_reports,
    exclude_slots,
    net_reference,
    reports_from_netting,
)

N, M = 5, 2
PX = (1_000, 2_000)


def _t(tid, buyer, seller, m=0, size=2, price=None):
    return MatchedTrade(tid, m, buyer, seller, size, PX[m] if price is None else price)


def _reasons(res):
    return {(rj.member, rj.trade_id): rj.reason for rj in res.match.rejected}


def test_excluded_slot_and_its_counterparties_sides_are_dropped_rest_netted():
    trades = [_t("ab", 1, 2, price=990), _t("ac", 1, 3, 1, 1, 2_010), _t("bd", 2, 4),
              _t("cd", 3, 4, 1, 3, 1_995)]
    base = apply_rules(trades, PX, n_slots=N, n_instruments=M)
    res = exclude_slots(base.match, {3}, PX, n_slots=N, n_instruments=M)
    assert [t.trade_id for t in res.match.accepted] == ["ab", "bd"]
    assert _reasons(res) == {(3, "ac"): Reason.REPORT_WITHHELD,
                             (1, "ac"): Reason.COUNTERPARTY_EXCLUDED,
                             (3, "cd"): Reason.REPORT_WITHHELD,
                             (4, "cd"): Reason.COUNTERPARTY_EXCLUDED}
    kept = [t for t in trades if t.trade_id in ("ab", "bd")]
    delta, cash = net_reference(kept, N, M)
    assert res.netting.delta == delta and res.netting.notional_cash == cash
    assert 3 not in res.netting.traded
    # every rejection names the excluded slot or the counterparty that it hit
    assert all(str(3) in rj.message for rj in res.match.rejected)


def test_no_exclusion_is_apply_rules_and_house_is_ignored():
    trades = [_t("ab", 1, 2), _t("cd", 3, 4, 1, 1, 2_100)]
    a = apply_rules(trades, PX, n_slots=N, n_instruments=M, band_bp=200)
    b = exclude_slots(trades, {0}, PX, n_slots=N, n_instruments=M, band_bp=200)
    assert a.match == b.match and a.netting == b.netting


def test_suspended_reason_and_rule_r_applies_again():
    # slot 2 gains 100 from slot 3 and loses 100 to slot 1; with 3 excluded its loss to 1
    # alone exceeds its equity of 50: rule R now drops that trade too.
    trades = [_t("12", 1, 2, size=1, price=900), _t("32", 3, 2, size=1, price=1_100)]
    equity = {0: 0, 1: 1_000, 2: 50, 3: 1_000, 4: 0}
    base = apply_rules(trades, PX, n_slots=N, n_instruments=M, equity=equity)
    assert len(base.match.accepted) == 2
    res = exclude_slots(base.match, [3], PX, n_slots=N, n_instruments=M, equity=equity,
                        reason=Reason.SLOT_SUSPENDED)
    r = _reasons(res)
    assert r[(3, "32")] == Reason.SLOT_SUSPENDED and r[(2, "32")] == Reason.COUNTERPARTY_EXCLUDED
    assert r[(2, "12")] == Reason.INSUFFICIENT_EQUITY
    assert res.match.accepted == [] and not res.netting.traded


def test_changed_reports_keeps_unchanged_salts_and_names_changed_and_vanished():
    trades = [_t("ab", 1, 2, price=990), _t("ac", 1, 3, 1, 1, 2_010), _t("d4", 4, 2)]
    base = apply_rules(trades, PX, n_slots=N, n_instruments=M)
    old = reports_from_netting(base.netting, PX)
    res = exclude_slots(base.match, {3}, PX, n_slots=N, n_instruments=M)
    new = reports_from_netting(res.netting, PX)
    merged, changed = changed_reports(old, new)
    assert changed == {1, 3}  # 1 lost a trade, 3 has no report any more
    assert merged[2] is old[2] and merged[4] is old[4]  # same salt: same signature
    assert merged[1] is new[1] and 3 not in merged
    assert changed_reports({1: Report((1, 0), 5, 7)}, {}) == ({}, frozenset({1}))
