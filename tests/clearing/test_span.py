"""SPAN-style risk arrays (clearing/span.py, docs/risk_arrays.md).

Known answers (a covered call, by hand and against an independent float Black-76 written
here with math.erfc), Black-76 identities, exact reproducibility through JSON, the hash
order, the futures row, and every refused input.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal, localcontext
from itertools import pairwise
from pathlib import Path

import pytest

from zkclear.clearing import span
from zkclear.clearing.span import (
    Future,
    Option,
    RiskInputs,
    Smile,
    SpanError,
    black76,
    futures_risk_array,
    futures_shocks,
    norm_cdf,
    option_risk_array,
    risk_arrays,
    risk_arrays_hash,
    smile_vol,
)
from zkclear.cli.risk import arrays_command
from zkclear.field import P as FIELD_P
from zkclear.poseidon import poseidon_chain

BP = 10_000
# price move (fraction of the scan range), vol move, weight: the 16 CME SPAN scenarios
MOVES = [0, 0, 1 / 3, 1 / 3, -1 / 3, -1 / 3, 2 / 3, 2 / 3, -2 / 3, -2 / 3, 1, 1, -1, -1, 2, -2]
VOL_MOVES = [1, -1] * 7 + [0, 0]
WEIGHTS = [1.0] * 14 + [0.35, 0.35]


# -- an independent float Black-76 --------------------------------------------------------------

def ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def ref_black76(right: str, f: float, k: float, vol: float, t: float, r: float = 0.0) -> float:
    disc = math.exp(-r * t)
    if t == 0 or vol == 0:
        return disc * max(f - k if right == "call" else k - f, 0.0)
    sd = vol * math.sqrt(t)
    d1 = (math.log(f / k) + sd * sd / 2) / sd
    d2 = d1 - sd
    if right == "call":
        return disc * (f * ncdf(d1) - k * ncdf(d2))
    return disc * (k * ncdf(-d2) - f * ncdf(-d1))


def ref_array(right: str, f: float, k: float, vol: float, t: float, scan_bp: int,
              vol_scan: float, r: float = 0.0) -> list[float]:
    """The unrounded entries 10000 * w_k * (V0 - V_k), in floats (vols floored at 1e-4)."""
    v0 = ref_black76(right, f, k, max(vol, 1e-4), t, r)
    return [BP * w * (v0 - ref_black76(right, f * (1 + m * scan_bp / BP), k,
                                       max(vol + dv * vol_scan, 1e-4), t, r))
            for m, dv, w in zip(MOVES, VOL_MOVES, WEIGHTS, strict=True)]


# -- the worked example of docs/risk_arrays.md: a covered call ----------------------------------
# ALPHA future at 10000 ticks, scan 900 bp (9 %); a 10500 call expiring in 73 days
# (T = 0.2 years), smile 24 % / 20 % / 22 % at 9000 / 10000 / 11000 (so 21 % at 10500),
# vol scan 4 points, rate 0. Long 1 future, short 1 call.

AS_OF = date(2027, 1, 1)
EXPIRY = date(2027, 3, 15)  # 73 days later
SMILE = ((9000, Decimal("0.24")), (10000, Decimal("0.20")), (11000, Decimal("0.22")))


def covered_call_inputs(**over: object) -> RiskInputs:
    base: dict[str, object] = dict(
        epoch=7, as_of=AS_OF,
        instruments=(Future("ALPHA", 10000, 900),
                     Option("ALPHA-C10500", "ALPHA", "call", 10500, EXPIRY, som_ticks=5)),
        smiles=(Smile("ALPHA", EXPIRY, Decimal("0.04"), SMILE),))
    base.update(over)
    return RiskInputs(**base)  # type: ignore[arg-type]


# The future's row: S = 0, 0, +-300, +-600, +-900 bp, and +-2 * 900 * 0.35 = +-630 bp.
HAND_FUTURE = [0, 0, -3000000, -3000000, 3000000, 3000000, -6000000, -6000000, 6000000,
               6000000, -9000000, -9000000, 9000000, 9000000, -6300000, 6300000]
# The call's row (one long call), each = round(10000 * w * (V0 - V_k)); V0 = 184.5128 ticks.
# Written out with V_k from the float reference (docs/risk_arrays.md has the table):
# e.g. scenario 11: F = 10900, vol 25 %: V = 703.3984 -> 10000 * (184.5128 - 703.3984).
HAND_CALL = [-652081, 618555, -1859526, -408751, 258351, 1256114, -3374925, -1878748,
             902565, 1600521, -5188857, -3783780, 1326512, 1759160, -4091923, 641776]


def scanning_risk(rows: list[tuple[int, list[int]]]) -> int:
    """The circuit's MM for positions q with arrays r: ceil(max(0, max_k sum q r) / 10000)."""
    loss = [sum(q * r[k] for q, r in rows) for k in range(16)]
    return -(-max(0, *loss) // BP)


def test_covered_call_known_answer() -> None:
    res = risk_arrays(covered_call_inputs())
    fut, call = res.instruments
    assert list(fut.array) == HAND_FUTURE
    assert list(call.array) == HAND_CALL
    assert call.premium_ticks == 185  # 184.5128
    assert call.short_option_minimum == 5 * BP
    assert call.delta_bp == 3183  # N(d1) = 0.31826
    assert res.risk_hash == int("2057338436566752099334992620998141524581899959758850936135937"
                                "6149568581588822")  # docs/risk_arrays.md
    covered = scanning_risk([(1, HAND_FUTURE), (-1, HAND_CALL)])
    legs = scanning_risk([(1, HAND_FUTURE)]) + scanning_risk([(-1, HAND_CALL)])
    # worst for the covered call: scenario 13 (-9 %, vol up): 9000000 - 1326512
    assert covered == -(-(9000000 - 1326512) // BP) == 768
    assert legs == 900 + 519  # future: scenario 13; short call: scenario 11
    assert covered < legs


def test_covered_call_table_agrees_with_float_reference() -> None:
    ref = ref_array("call", 10000, 10500, 0.21, 0.2, 900, 0.04)
    assert [round(x) for x in ref] == HAND_CALL
    for x in ref:  # the table is not at a rounding tie, so floats settle it
        assert abs(x - round(x)) < 0.49


def test_covered_call_at_expiry_by_hand() -> None:
    """T = 0 (expiry today): values are intrinsic, so the table is plain arithmetic.

    ATM call K = 10000, F = 10000, scan 9 %: up moves of 300/600/900 ticks give the call
    the same gain as the future, down moves give it nothing; +18 % counts 35 % of 1800."""
    inputs = covered_call_inputs(
        instruments=(Future("ALPHA", 10000, 900), Option("ALPHA-C", "ALPHA", "call", 10000,
                                                         AS_OF)),
        smiles=(Smile("ALPHA", AS_OF, Decimal("0.04"), SMILE),))
    fut, call = risk_arrays(inputs).instruments
    gain = [0, 0, 300, 300, 0, 0, 600, 600, 0, 0, 900, 900, 0, 0, 630, 0]
    assert list(call.array) == [-g * BP for g in gain]
    assert call.premium_ticks == 0
    assert scanning_risk([(1, list(fut.array)), (-1, list(call.array))]) == 900
    assert scanning_risk([(-1, list(call.array))]) == 900  # short call alone: +9 %


# -- Black-76 against the float reference, and its identities ------------------------------------

CASES = [(right, f, k, vol, t, r)
         for right in ("call", "put")
         for f, k in ((10000, 10500), (10000, 10000), (10000, 8000), (250, 400), (3, 2))
         for vol, t, r in (("0.2", "0.25", "0"), ("0.65", "2", "0.05"),
                           ("0.05", "0.0027397260273972602739726027397260273972602739726"
                            "03", "-0.01"))]


@pytest.mark.parametrize(("right", "f", "k", "vol", "t", "r"), CASES)
def test_black76_matches_float_reference(right: str, f: int, k: int, vol: str, t: str,
                                         r: str) -> None:
    got = float(black76(right, f, k, Decimal(vol), Decimal(t), Decimal(r)))
    want = ref_black76(right, f, k, float(vol), float(t), float(r))
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9 * max(f, k))


@pytest.mark.parametrize(("right", "f", "k", "vol", "t"),
                         [("put", 10000, 9500, "0.30", "0.5"), ("call", 777, 700, "0", "1"),
                          ("put", 52, 60, "0.00005", "0.1")])
def test_option_array_matches_float_reference(right: str, f: int, k: int, vol: str,
                                              t: str) -> None:
    got = option_risk_array(right, f, k, vol, t, scan_bp=1200, vol_scan="0.06")
    want = ref_array(right, f, k, float(vol), float(t), 1200, 0.06)
    for g, w in zip(got, want, strict=True):
        assert abs(g - w) <= 0.5 + 1e-9 * BP * max(f, k)


def test_put_call_parity() -> None:
    for f, k, vol, t, r in ((10000, 10500, "0.2", "0.25", "0.03"), (90, 120, "1.5", "3", "0"),
                            (5000, 4000, "0.01", "0.01", "-0.02")):
        c, p = (black76(right, f, k, Decimal(vol), Decimal(t), Decimal(r))
                for right in ("call", "put"))
        disc = (-Decimal(r) * Decimal(t)).exp()
        assert abs(c - p - disc * (f - k)) < Decimal("1e-35")


def test_expiry_gives_intrinsic_value() -> None:
    assert black76("call", 110, 100, "0.3", 0) == 10
    assert black76("put", 110, 100, "0.3", 0) == 0
    assert black76("put", 90, 100, "0.3", 0, "0.05") == 10
    assert black76("call", 90, 100, 0, "1", 0) == 0  # zero vol: intrinsic too


def test_value_increases_with_vol() -> None:
    for right in ("call", "put"):
        values = [black76(right, 10000, 10800, Decimal(v) / 100, "0.5") for v in range(1, 120)]
        assert all(a < b for a, b in pairwise(values))


def test_norm_cdf() -> None:
    for x in ("0", "0.3", "1", "-1.7", "3.2", "-6", "8.5", "14.99", "-20"):
        d = Decimal(x)
        assert abs(norm_cdf(d) + norm_cdf(-d) - 1) < Decimal("1e-45")
        assert float(norm_cdf(d)) == pytest.approx(ncdf(float(x)), rel=1e-14, abs=1e-50)
    assert norm_cdf(Decimal(1)) == Decimal("0.84134474606854294858523254563203792247791296672656")


def test_norm_cdf_accuracy_against_100_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented bound: |N_50(x) - N(x)| < 1e-45, N recomputed at 100 digits."""
    xs = [Decimal(i) / 8 for i in range(-121, 122)]
    at_50 = [norm_cdf(x) for x in xs]
    ctx = span._CONTEXT.copy()
    ctx.prec = 100
    monkeypatch.setattr(span, "_CONTEXT", ctx)
    with localcontext(ctx):
        monkeypatch.setattr(span, "_SQRT_2PI", (2 * span._pi()).sqrt())
        assert max(abs(a - norm_cdf(x)) for a, x in zip(at_50, xs, strict=True)) < Decimal(
            "1e-45")
        assert norm_cdf(Decimal(-span.CDF_CUTOFF)) < Decimal("4e-51")  # the dropped tail


def test_smile_is_linear_between_points_and_flat_outside() -> None:
    assert smile_vol(SMILE, 10500) == Decimal("0.21")
    assert smile_vol(SMILE, 9250) == Decimal("0.23")
    assert smile_vol(SMILE, 10000) == Decimal("0.20")
    assert smile_vol(SMILE, 5000) == smile_vol(SMILE, 9000) == Decimal("0.24")
    assert smile_vol(SMILE, 20000) == Decimal("0.22")
    assert smile_vol(((100, Decimal("0.3")),), 1) == Decimal("0.3")


def test_vol_floor_in_scenarios() -> None:
    """vol 2 %, scan 5 points: the down scenarios value at 0.0001, not at -3 %."""
    got = option_risk_array("call", 1000, 1000, "0.02", "0.5", scan_bp=300, vol_scan="0.05")
    v0 = black76("call", 1000, 1000, Decimal("0.02"), "0.5")
    v2 = black76("call", 1000, 1000, span.VOL_FLOOR, "0.5")
    assert got[1] == span.round_half_even(BP * (v0 - v2))


# -- futures ------------------------------------------------------------------------------------

def test_futures_shocks_and_row() -> None:
    assert futures_shocks(900) == [0, 0, 300, 300, -300, -300, 600, 600, -600, -600, 900, 900,
                                   -900, -900, 630, -630]
    # thirds of 1000 round to 333 / 667; 2 * 1000 * 0.35 = 700
    assert futures_shocks(1000)[2:8:2] == [333, -333, 667]
    # ties go to even: 2 * 5 * 0.35 = 3.5 -> 4, 2 * 15 * 0.35 = 10.5 -> 10
    assert futures_shocks(5)[14:] == [4, -4] and futures_shocks(15)[14:] == [10, -10]
    assert futures_shocks(900, "2.5", 5000)[14:] == [1125, -1125]
    res = risk_arrays(covered_call_inputs())
    fut = res.instruments[0]
    assert list(fut.shocks_bp) == futures_shocks(900)
    assert list(fut.array) == [-10000 * s for s in futures_shocks(900)]
    assert futures_risk_array(10000, futures_shocks(900)) == HAND_FUTURE


def test_intermonth_spread_charge_is_reported() -> None:
    inputs = covered_call_inputs(instruments=(Future("ALPHA", 10000, 900, 25),
                                              covered_call_inputs().instruments[1]))
    fut, call = risk_arrays(inputs).instruments
    assert fut.intermonth_spread_charge == 10000 * 25
    assert 0 < call.delta_bp < BP


# -- reproducibility and the hash ---------------------------------------------------------------

def test_same_inputs_same_integers_and_hash() -> None:
    a, b = risk_arrays(covered_call_inputs()), risk_arrays(covered_call_inputs())
    assert a == b
    doc = span.inputs_to_json(covered_call_inputs())
    again = span.inputs_from_json(span.loads(json.dumps(doc)))
    assert again == covered_call_inputs()
    assert risk_arrays(again) == a
    out = json.loads(json.dumps(a.to_json()))
    assert out["format"] == "zkclear-risk-arrays-v1" and out["risk_hash"] == str(a.risk_hash)
    assert span.arrays_from_json(out) == a


def test_risk_hash_covers_only_options_in_order() -> None:
    res = risk_arrays(covered_call_inputs())
    values = [0] * 16 + [v % FIELD_P for v in HAND_CALL]
    assert res.risk_hash == poseidon_chain(values)
    assert res.risk_hash == risk_arrays_hash({1: HAND_CALL}, 2, 16)
    assert risk_arrays_hash({0: HAND_CALL}, 2, 16) != res.risk_hash
    with pytest.raises(SpanError, match="arrays\\[1\\] has 15 entries"):
        risk_arrays_hash({1: HAND_CALL[:15]}, 2, 16)
    with pytest.raises(SpanError, match="instrument index"):
        risk_arrays_hash({2: HAND_CALL}, 2, 16)


def test_risk_hash_is_zero_without_options() -> None:
    """docs/protocol.md: riskHash = 0 in a pool without options."""
    res = risk_arrays(covered_call_inputs(instruments=(Future("ALPHA", 10000, 900),),
                                          smiles=()))
    assert res.risk_hash == 0
    assert span.arrays_from_json(json.loads(json.dumps(res.to_json()))) == res


def test_tampered_arrays_document_is_refused() -> None:
    doc = risk_arrays(covered_call_inputs()).to_json()
    doc["instruments"][1]["array"][0] += 1
    with pytest.raises(SpanError, match="risk_hash"):
        span.arrays_from_json(doc)


def test_cli_arrays_command(tmp_path: Path) -> None:
    src = tmp_path / "inputs.json"
    src.write_text(json.dumps(span.inputs_to_json(covered_call_inputs())))
    out = tmp_path / "out" / "arrays.json"
    doc = arrays_command(src, out)
    assert json.loads(out.read_text()) == doc
    assert doc["instruments"][1]["array"] == HAND_CALL
    assert arrays_command(src, None) == doc
    src.write_text(src.read_text().replace('"epoch": 7', '"epoch": 7.0'))
    with pytest.raises(SpanError, match=re.escape("inputs.json: epoch = 7.0 is a float")):
        arrays_command(src, None)
    with pytest.raises(SpanError, match="cannot read"):
        arrays_command(tmp_path / "missing.json", None)


def test_cli_risk_arrays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zkclear.cli import main as cli

    src = tmp_path / "inputs.json"
    src.write_text(json.dumps(span.inputs_to_json(covered_call_inputs())))
    assert cli.main(["risk", "arrays", str(src), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["instruments"][1]["array"] == HAND_CALL
    assert int(doc["risk_hash"]) == risk_arrays(covered_call_inputs()).risk_hash


# -- refused inputs -----------------------------------------------------------------------------

def json_inputs() -> dict:
    return span.inputs_to_json(covered_call_inputs())


def edit(path: tuple, value: object) -> dict:
    doc = json_inputs()
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


BAD_JSON = [
    (("instruments", 0, "price_ticks"), 0, "future 'ALPHA': price_ticks must be >= 1"),
    (("instruments", 0, "price_ticks"), -5, "price_ticks must be >= 1"),
    (("instruments", 1, "strike_ticks"), 0, "option 'ALPHA-C10500': strike_ticks must be >= 1"),
    (("smiles", 0, "points", 1, 1), "-0.2", "points\\[1\\] vol must be >= 0"),
    (("smiles", 0, "vol_scan"), "-0.01", "vol_scan must be >= 0"),
    (("instruments", 1, "underlying"), "BETA", "unknown underlying 'BETA'"),
    (("instruments", 1, "expiry"), "2026-12-31", "expiry 2026-12-31 is in the past"),
    (("instruments", 1, "expiry"), "2027-02-30", "expiry must be a date"),
    (("instruments", 1, "right"), "straddle", "right must be"),
    (("instruments", 0, "scan_bp"), 5000, "scan_bp \\* extreme_multiple"),
    (("smiles", 0, "expiry"), "2027-03-16", "no smile for underlying 'ALPHA'"),
    (("smiles", 0, "points"), [[11000, "0.2"], [10000, "0.2"]], "strictly increasing"),
    (("rate",), "2", "rate must be within"),
    (("rate",), "1e-3", "decimal string"),
    (("extreme_weight_bp",), 10001, "extreme_weight_bp must be <= 10000"),
    (("extreme_multiple",), "0", "extreme_multiple must be > 0"),
    (("instruments", 1, "name"), "ALPHA", "the name 'ALPHA' is used twice"),
    (("instruments", 1, "kind"), "swap", "kind must be"),
    (("instruments", 0, "colour"), "red", "unknown field\\(s\\) colour"),
    (("format",), "zkclear-risk-inputs-v0", "not a zkclear-risk-inputs-v1 document"),
    (("instruments", 0, "name"), span.loads("1.5"), "name must be a non-empty string"),
    (("instruments", 1, "underlying"), "", "underlying must be a non-empty string"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_JSON)
def test_bad_inputs_are_refused(path: tuple, value: object, message: str) -> None:
    with pytest.raises(SpanError, match=message):
        span.inputs_from_json(edit(path, value))


def test_entries_beyond_the_circuit_bound_are_refused() -> None:
    """A huge price, a deep call and a strongly negative rate over 30 years: the entries
    would pass 2^64, which the circuit's loss bound does not allow."""
    with pytest.raises(SpanError, match="not below 2\\^64 in size"):
        option_risk_array("call", (1 << 48) - 1, 1, "0.2", "30", scan_bp=900, vol_scan="0",
                          rate="-1")


def test_option_on_an_option_is_refused() -> None:
    doc = json_inputs()
    doc["instruments"].append({**doc["instruments"][1], "name": "X", "underlying":
                               "ALPHA-C10500"})
    with pytest.raises(SpanError, match="option 'X': underlying 'ALPHA-C10500' is not a "
                                        "future"):
        span.inputs_from_json(doc)


@pytest.mark.parametrize(("text", "message"), [
    ('"price_ticks": 10000.0', "future 'ALPHA': price_ticks = 10000.0 is a float"),
    ('"vol_scan": 0.04', "vol_scan = 0.04 is a float"),
    ('"rate": 0', None),  # an integer is fine
    ('"rate": 1E-2', "rate = 1E-2 is a float"),
    ('"rate": NaN', "JSON constant NaN"),
])
def test_json_floats_are_refused(text: str, message: str | None) -> None:
    key = text.split(":")[0].strip('"')
    raw = json.dumps(json_inputs())
    old = {"price_ticks": '"price_ticks": 10000', "vol_scan": '"vol_scan": "0.04"',
           "rate": '"rate": "0"'}[key]
    assert old in raw
    if message is None:
        span.inputs_from_json(span.loads(raw.replace(old, text, 1)))
        return
    with pytest.raises(SpanError, match=message):
        span.inputs_from_json(span.loads(raw.replace(old, text, 1)))


def test_python_floats_are_refused() -> None:
    with pytest.raises(SpanError, match=re.escape("vol_scan = 0.04 is a float")):
        Smile("ALPHA", EXPIRY, 0.04, SMILE)  # type: ignore[arg-type]
    with pytest.raises(SpanError, match=re.escape("vol = 0.2 is a float")):
        black76("call", 100, 100, 0.2, "1")
    with pytest.raises(SpanError, match=re.escape("price_ticks = 100.0 is a float")):
        Future("A", 100.0, 900)  # type: ignore[arg-type]
    with pytest.raises(SpanError, match=re.escape("rate = 0.01 is a float")):
        replace(covered_call_inputs(), rate=0.01)
    with pytest.raises(SpanError, match="forward must be > 0"):
        black76("call", 0, 100, "0.2", "1")
    with pytest.raises(SpanError, match="strike must be > 0"):
        black76("put", 100, -1, "0.2", "1")
    with pytest.raises(SpanError, match="vol must be >= 0"):
        black76("put", 100, 1, "-0.2", "1")
