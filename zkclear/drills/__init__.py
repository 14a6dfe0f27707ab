"""Adversarial drills (``zkclear drill NAME|all``): each story of what one member, two
colluding members, one oracle reporter or a vanished operator could try, run on the
embedded EVM, with a verdict that accounts for the money (:mod:`.base`)."""

from __future__ import annotations

import importlib
import traceback

from .base import DrillFn, Story, Verdict

#: drill name -> "module:function" (imported when run, so listing them is cheap).
DRILLS: dict[str, str] = {
    "offmarket-drain": "economic:drill_offmarket_drain",
    "garbage-commit": "commits:drill_garbage_commit",
    "withheld-commit": "commits:drill_withheld_commit",
    "late-commit": "commits:drill_late_commit",
    "oracle-single-reporter": "oracle:drill_oracle_single_reporter",
    "operator-replaced": "operator:drill_operator_replaced",
    "operator-vanishes": "liveness:drill_operator_vanishes",
    "removed-member-exits": "liveness:drill_removed_member_exits",
    "refused-payout": "liveness:drill_refused_payout",
    "house-under-water": "liveness:drill_house_under_water",
    "default-waterfall": "fund:drill_default_waterfall",
    "fund-call-griefing": "fund:drill_fund_call_griefing",
    "auction-overbid": "auction:drill_auction_overbid",
    "auction-paid-to-default": "auction:drill_auction_paid_to_default",
    "auction-collusion": "auction:drill_auction_collusion",
    "auction-cut-short": "auction:drill_auction_cut_short",
}


def drill(name: str) -> DrillFn:
    try:
        module, fn = DRILLS[name].split(":")
    except KeyError:
        raise KeyError(f"unknown drill {name!r}; known: {', '.join(sorted(DRILLS))}") from None
    return getattr(importlib.import_module(f"{__name__}.{module}"), fn)


def run(name: str) -> Verdict:
    """Run one drill; a drill that crashes fails with the error as its summary."""
    fn = drill(name)
    try:
        return fn()
    except Exception as exc:  # a crash is a failed drill, reported, not a traceback
        s = Story(name)
        s.step(traceback.format_exc(limit=3))
        s.check(False, f"the drill crashed: {type(exc).__name__}: {exc}")
        return s.verdict("crashed")


__all__ = ["DRILLS", "Story", "Verdict", "drill", "run"]
