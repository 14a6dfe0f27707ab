"""zkclear.schemas: every record round-trips, refuses unknown fields and wrong types
(strictly: "1" is not an integer), names the failing field's path, never echoes a key;
the published JSON Schemas in docs/schemas/ are up to date."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from zkclear import paths
from zkclear.chain.contracts import Deployment, DeploymentError
from zkclear.clearing.params import PoolConfig, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.trades import TradeReport
from zkclear.errors import ZkclearError
from zkclear.field import P
from zkclear.operator.service import ServiceError, parse_trade_list
from zkclear.roles.admin import RoleError, load_pool
from zkclear.schemas import (
    SCHEMAS,
    DeploymentConfig,
    NettedReport,
    Risk,
    Trade,
    TradeList,
    ViewKeyFile,
    dump,
    json_schema,
    parse,
)
from zkclear.schemas.__main__ import main as schemas_main
from zkclear.schemas.__main__ import stale

KEY = "0x" + (123456789).to_bytes(32, "big").hex()
TRADE = {"trade_id": "T1", "instrument": 0, "side": 1, "size": 10, "price": 100,
         "counterparty": 2}
RISK = {"im_factor_bp": 15000, "penalty_bp": 1000, "position_limits": [10**9, 10**9],
        "shocks": [[500, 500], [-500, -500], [1000, 1000], [-1000, -1000]],
        "df_floor": 500, "df_share_bp": 1000, "stress_bp": 15000, "skin_cap": 10**6}
POOL = {"format": "zkclear-pool-v1", "slots": 4, "instruments": 2, "scenarios": 4,
        "risk": RISK, "genesis_prices": [1000, 1100], "owners": ["0x" + "11" * 20],
        "threshold": 1, "delay": 3600, "reporters": ["0x" + "22" * 20], "quorum": 1,
        "max_move_bp": 2000, "max_age": 3600, "operator": "0x" + "33" * 20,
        "house_account": "0x" + "44" * 20, "token": None}
DEPLOYMENT = {"format": "zkclear-deployment-v1", "chain_id": 31337,
              "addresses": {"ClearingHouse": "0x" + "55" * 20},
              "config": {"n_slots": 4, "n_instruments": 2, "n_scenarios": 4, "max_events": 16},
              "first_block": 3, "gas": {"ClearingHouse": 21000}}

# name -> (a valid document, the path of an integer field in it)
SAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    "trade": (TRADE, "size"),
    "trade-list": ({"trades": [TRADE, {**TRADE, "trade_id": 7, "side": -1}]},
                   "trades[1].price"),
    "report": ({"delta": ["5", "-3"], "trade_cash": "-120", "salt": "77"}, ""),
    "pool": (POOL, "risk.position_limits[1]"),
    "risk": (RISK, "shocks[2][0]"),
    "deployment": (DEPLOYMENT, "config.n_slots"),
    "x25519-key": ({"format": "zkclear-x25519-key-v1", "purpose": "member",
                    "public": "0x" + "ab" * 32, "private": KEY}, ""),
    "viewkey": ({"format": "zkclear-viewkey-v1", "kind": "epoch", "slot": 3, "epoch": 7,
                 "key": KEY}, "slot"),
    "compliance-share": ({"format": "zkclear-compliance-share-v1", "key": "0011223344556677",
                          "t": 2, "x": 1, "y_hi": KEY, "y_lo": KEY}, "x"),
    "eth-key": ({"format": "zkclear-eth-key-v1", "key": KEY}, ""),
    "admin-token": ({"format": "zkclear-admin-token-v1", "token": "t" * 43}, ""),
    "lot": ({"format": "zkclear-lot-v1", "epoch": 3, "collateral": "-20",
             "positions": ["1333", "0"], "vkh": "77"}, "epoch"),
    "sealed-bid": ({"format": "zkclear-sealed-bid-v1", "clearing_house": "0x" + "55" * 20,
                    "epoch": 4, "slot": 2, "bid": "-5000", "salt": KEY,
                    "commitment": "0x" + "cd" * 32}, "slot"),
    "signed-prices": ({"format": "zkclear-signed-prices-v1", "chain_id": 31337,
                       "oracle": "0x" + "55" * 20, "epoch": 1, "reporter": "0x" + "22" * 20,
                       "observed_at": 1767000000, "prices": [1015, 1095], "funding": [0, -3],
                       "venues": [{"name": "alpha", "prices": [1000, 1080]},
                                  {"name": "beta", "prices": [1030, 1095]}],
                       "v": 27, "r": "0x" + "ab" * 32, "s": "0x" + "cd" * 32},
                      "venues[1].prices[0]"),
}
NAMES = sorted(SCHEMAS)


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with the field at ``path`` (``a.b[1].c``) set to ``value``."""
    out = copy.deepcopy(doc)
    parts = _parts(path)
    node: Any = out
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
    return out


def _refused(name: str, doc: Any) -> str:
    with pytest.raises(ZkclearError) as info:
        parse(SCHEMAS[name], json.dumps(doc), where="doc")
    text = str(info.value)
    assert text.startswith("doc: ") and "\n" not in text
    return text.removeprefix("doc: ")


def test_every_record_has_a_sample() -> None:
    assert set(SAMPLES) == set(SCHEMAS)


@pytest.mark.parametrize("name", NAMES)
def test_round_trip(name: str) -> None:
    doc, _ = SAMPLES[name]
    rec = parse(SCHEMAS[name], json.dumps(doc), where=name)
    assert dump(rec) == doc
    assert parse(SCHEMAS[name], doc, where=name) == rec  # Python values validate the same
    with pytest.raises(ValueError, match="frozen"):
        setattr(rec, next(iter(doc)), None)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_field_refused(name: str) -> None:
    doc, _ = SAMPLES[name]
    assert _refused(name, {**doc, "bogus": 1}) == "bogus: unknown field"


@pytest.mark.parametrize(("name", "path"), [("pool", "risk"), ("trade-list", "trades[0]"),
                                            ("deployment", "config")])
def test_unknown_field_in_a_nested_record(name: str, path: str) -> None:
    doc, _ = SAMPLES[name]
    bad = _set(doc, path, {**_get(doc, path), "bogus": 1})
    assert _refused(name, bad) == f"{path}.bogus: unknown field"


def _get(doc: Any, path: str) -> Any:
    for p in _parts(path):
        doc = doc[p]
    return doc


def _parts(path: str) -> list[int | str]:
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]


@pytest.mark.parametrize("name", [n for n in NAMES if SAMPLES[n][1]])
def test_strict_types_name_the_path(name: str) -> None:
    doc, path = SAMPLES[name]
    for bad in ("1", 1.0, True, None):
        assert _refused(name, _set(doc, path, bad)).startswith(f"{path}: must be an integer")


def test_missing_and_wrong_format() -> None:
    doc, _ = SAMPLES["viewkey"]
    assert _refused("viewkey", {k: v for k, v in doc.items() if k != "slot"}) == "slot: missing"
    # a document of another kind: only the tag is reported
    assert _refused("viewkey", SAMPLES["pool"][0]) == (
        "format: must be 'zkclear-viewkey-v1', got 'zkclear-pool-v1'")
    assert _refused("pool", []) == "must be a JSON object"
    with pytest.raises(ZkclearError, match=r"^doc: not valid JSON \(EOF while parsing"):
        parse(SCHEMAS["pool"], "{", where="doc")


def test_many_errors_are_one_line() -> None:
    bad = {"trades": [{**TRADE, "size": "1", "price": "2"}, {**TRADE, "side": 0}, {}]}
    text = _refused("trade-list", bad)
    assert text.startswith("trades[0].size: must be an integer; trades[0].price: must be an "
                           "integer; trades[1].side: must be +1 (buy) or -1 (sell) (+")


def test_values_checked_by_the_engine_are_refused_with_their_record() -> None:
    assert _refused("pool", {**POOL, "slots": 3}).startswith("n_slots must be a power of two")
    assert _refused("pool", _set(POOL, "risk.penalty_bp", 20000)) == (
        "risk: penalty_bp = 20000 is outside [0, 10000]")
    assert _refused("pool", {**POOL, "delay": -1}) == (
        "delay: must be greater than or equal to 0")
    assert _refused("pool", {**POOL, "owners": ["0x12"]}) == (
        "owners[0]: must be an address (0x and 40 hex digits)")
    assert "delta[0]" in _refused("report", {"delta": [str(2**60)], "trade_cash": "0",
                                             "salt": "1"})
    assert _refused("report", {"delta": ["1e3"], "trade_cash": "0", "salt": "1"}) == (
        "delta[0]: must be an integer written as a decimal string")
    assert "trade_id: must be a string" in _refused("trade", {**TRADE, "trade_id": ""})
    assert "trade_id" in _refused("trade", {**TRADE, "trade_id": 2**63})
    assert _refused("trade", {**TRADE, "side": True}) == "side: must be an integer"


def test_keys_never_echoed() -> None:
    secret = "0x" + "1234567890abcdef" * 3  # 24 bytes: the wrong length
    doc = {"format": "zkclear-eth-key-v1", "key": secret}
    text = _refused("eth-key", doc)
    assert text == "key: must be 32 bytes (64 hex digits, 0x optional)"
    assert "1234567890" not in text
    rec = parse(SCHEMAS["eth-key"], SAMPLES["eth-key"][0], where="k")
    assert KEY[2:] not in repr(rec) and KEY[2:] not in str(rec)
    view = parse(ViewKeyFile, SAMPLES["viewkey"][0], where="k")
    assert KEY[2:] not in repr(view)
    big = {**SAMPLES["viewkey"][0], "key": "0x" + P.to_bytes(32, "big").hex()}
    assert _refused("viewkey", big) == ("key: is not a nonzero canonical field element "
                                        "(0 < K < r)")


def test_engine_conversions() -> None:
    t = TradeReport("a", 1, -1, 5, 7, 3)
    assert Trade.of(t).to_engine() == t
    assert TradeList.read([t, TRADE], where="x").to_engine() == [
        t, TradeReport("T1", 0, 1, 10, 100, 2)]
    assert TradeList.read(json.dumps({"trades": [TRADE]}), where="x").to_json() == [TRADE]
    r = Report((5, -3), -120, 77)
    assert NettedReport.of(r).to_engine() == r
    assert dump(NettedReport.of(r)) == SAMPLES["report"][0]


def test_mirrors_follow_the_engine_dataclasses() -> None:
    """The records mirror the engine's dataclasses field for field: a field added to
    PoolConfig or RiskParams must be added to its record (and the schemas published)."""
    assert list(DeploymentConfig.model_fields) == [f.name for f in fields(PoolConfig)]
    # the instrument table is the deployment's (the pool file's "instruments"), not governed
    assert list(Risk.model_fields) == [f.name for f in fields(RiskParams)
                                       if f.name != "instruments"]
    assert list(Trade.model_fields) == [f.name for f in fields(TradeReport)]


def test_deployment_file(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    dep = Deployment.from_json(DEPLOYMENT)
    dep.save(path)
    assert json.loads(path.read_text()) == DEPLOYMENT
    assert Deployment.load(path) == dep
    untagged = {k: v for k, v in DEPLOYMENT.items() if k != "format"}  # before v1's tag
    path.write_text(json.dumps(untagged))
    assert Deployment.load(path) == dep
    path.write_text(json.dumps(_set(untagged, "config.n_instruments", "2")))
    with pytest.raises(DeploymentError, match=rf"^the deployment file {path}: "
                       r"config.n_instruments: must be an integer$"):
        Deployment.load(path)
    with pytest.raises(DeploymentError, match="cannot read the deployment file"):
        Deployment.load(tmp_path / "missing.json")


def test_errors_surface_as_the_callers_error(tmp_path: Path) -> None:
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps(_set(POOL, "risk.shocks[1][1]", "5")))
    with pytest.raises(RoleError, match=r"pool.json: risk.shocks\[1\]\[1\]: must be an "):
        load_pool(pool)
    pool.write_text(json.dumps(POOL))
    assert load_pool(pool).config == PoolConfig(4, 2, 4)
    bad = json.dumps({"trades": [TRADE, TRADE, {**TRADE, "price": "1"}]}).encode()
    with pytest.raises(ServiceError, match=r"trades\[2\].price: must be an integer") as info:
        parse_trade_list(bad)
    assert info.value.code == "malformed_trades" and info.value.status == 422
    trades = tmp_path / "trades.json"
    trades.write_text(json.dumps([TRADE]))  # the bare list is a trade-list file too
    assert TradeList.load(trades).to_json() == [TRADE]


def test_published_schemas_are_up_to_date() -> None:
    folder = paths.ROOT / "docs" / "schemas"
    assert stale(folder) == [], ("docs/schemas is out of date: run "
                                 "`python -m zkclear.schemas --write docs/schemas`")


def test_write_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas_main(["--write", str(tmp_path)]) == 0
    assert sorted(p.stem for p in tmp_path.iterdir()) == NAMES
    assert json.loads((tmp_path / "pool.json").read_text())["title"] == "PoolFile"
    assert schemas_main(["--check", str(tmp_path)]) == 0
    (tmp_path / "trade.json").write_text("{}")
    (tmp_path / "old.json").write_text("{}")
    assert schemas_main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "trade.json is out of date" in err and "old.json" in err
    assert schemas_main(["--write", str(tmp_path)]) == 0
    assert not (tmp_path / "old.json").exists()
    assert (tmp_path / "trade.json").read_text() == json_schema("trade")


@pytest.mark.parametrize(("field", "value", "says"), [
    ("stress_bp", 9_999, "stress_bp = 9999 is outside [10000, 65535]"),
    ("df_floor", -1, "df_floor = -1 is outside"),
    ("skin_cap", 1 << 112, "skin_cap = "),
    ("df_share_bp", 1 << 16, "df_share_bp = 65536 is outside"),
])
def test_default_fund_parameters_are_checked_in_the_pool_file(field: str, value: int,
                                                              says: str) -> None:
    doc, _ = SAMPLES["pool"]
    text = _refused("pool", _set(doc, f"risk.{field}", value))
    assert text.startswith("risk") and says in text, text


def test_signed_prices_lists_agree() -> None:
    """A signed post's funding and venues have one value per price, the venues distinct
    names."""
    doc, _ = SAMPLES["signed-prices"]
    assert "funding must have one amount per price" in _refused(
        "signed-prices", {**doc, "funding": [0]})
    assert "one price per instrument" in _refused(
        "signed-prices", _set(doc, "venues[1].prices", [1030]))
    assert "venue names must be distinct" in _refused(
        "signed-prices", _set(doc, "venues[1].name", "alpha"))
    assert _refused("signed-prices", {**doc, "v": 1}) == "v: must be greater than or equal to 27"
