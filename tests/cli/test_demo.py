"""``zkclear demo`` end to end, in-process, as ``zkclear demo --json`` prints it.

The first run pays for the epoch circuit's phase-2 ceremony (minutes on 2 cores); later
runs reuse the verified ceremony cached under build/demo/.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from zkclear.cli import main as cli


def test_demo_clears_proves_and_audits_the_whole_story(capsys):
    code = cli.main(["demo", "--json"])
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert code == 0 and data["ok"], data
    assert data["epochs"] >= 3
    assert data["proofs_accepted"] == data["epochs"]
    assert len(data["state_roots"]) == data["epochs"]
    assert data["chain_state_root"] == data["state_roots"][-1]
    assert len(set(data["state_roots"])) == data["epochs"]
    assert data["liquidations"] >= 1 and data["withdrawals_refused"] >= 1
    assert data["withdrawals_paid"] >= 1
    assert [m["name"] for m in data["members"]] == ["Bank A", "Fund B", "Market maker C"]
    assert data["liquidated"] == [{"epoch": 3, "slot": 2, "member": "Fund B"}]
    # Fund B's shortfall goes down the waterfall: its own contribution, the house's skin
    # in the game (capped at 250), then the survivors' fund; nothing left uncovered.
    wf = {w["epoch"]: w for w in data["waterfall"]}
    assert wf[3]["own"] > 0 and wf[3]["house"] == 250 and wf[3]["fund"] > 0
    assert wf[3]["uncovered"] == 0 and not any(wf[e]["own"] for e in (1, 2))
    assert wf[1]["cover2_met"] is False and wf[1]["df_scale_next"] > 0  # contributions rise
    assert all(t["rejected"] for t in data["trades"])  # every epoch rejects something
    assert {r["reason"] for t in data["trades"] for r in t["rejected"]} >= {
        "UNMATCHED", "CONTRADICTORY", "HOUSE_COUNTERPARTY"}
    gas = data["submit_epoch_gas"]
    assert len(gas) == data["epochs"] and all(g > 0 for g in gas)
    assert len(data["prove_seconds"]) == data["epochs"]
    assert all(s > 0 for s in data["prove_seconds"])
    assert data["ceremony"]["contributors"] == ["Bank A", "Fund B", "Market maker C"]
    assert data["ceremony"]["keys_insecure"] is True  # development phase 1
    # the audit: view key and compliance key agree, every proof re-verified
    assert data["audit_ok"] is True
    audit = data["audit"]
    assert audit["view_key_ok"] and audit["compliance_key_ok"] and audit["same_figures"]
    assert audit["proofs_checked"] and audit["findings"] == []
    assert Path(audit["html"]).read_text().lstrip().lower().startswith("<!doctype html")
    # key files are owner-only and never printed
    keys = list(Path(data["keys_dir"]).iterdir())
    assert len(keys) >= 6
    for f in keys:
        assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f
        doc = json.loads(f.read_text())
        secret = doc.get("key") if "viewkey" in f.name else doc.get("y_hi")
        assert secret and secret not in out.out and secret not in out.err
