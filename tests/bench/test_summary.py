"""bench/run.py's ``summary`` (bench/_summary.py) and the constraints sweep's quadratic fit
(bench/bench_constraints.py), on canned sub-benchmark outputs shaped like the scripts'."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


summary_mod = _load("_summary")
constraints_mod = _load("bench_constraints")


def quadratic(n: int) -> int:
    return 20_000 + 9_000 * n + 32 * n * n


def sweep_shape(m: int, k: int, built: list[int], refused: list[int],
                failed: tuple[int, ...] = ()) -> dict[str, Any]:
    sizes: list[dict[str, Any]] = [
        {"n": n, "m": m, "k": k, "events": 4 * n, "built": True, "constraints": quadratic(n),
         "per_slot": round(quadratic(n) / n), "wires": quadratic(n), "compile_s": 1.0 * n,
         "peak_rss_mb": 100 * n} for n in built]
    sizes += [{"n": n, "m": m, "k": k, "events": 4 * n, "built": False,
               "reason": "refused by clearing/params.py: n_slots must be ..."} for n in refused]
    sizes += [{"n": n, "m": m, "k": k, "events": 4 * n, "built": False, "compile_s": 600.0,
               "reason": "ran out of memory at 4100 MB peak RSS: ..."} for n in failed]
    fit = constraints_mod.fit([(n, quadratic(n)) for n in built],
                              sorted({*refused, *failed, 128, 256}))
    return {"m": m, "k": k, "sizes": sizes, "fit": fit}


def matching(*sizes: int) -> dict[str, Any]:
    def path(n: int, per_s: int) -> dict[str, Any]:
        return {"match_and_net": {"trades": n, "trades_per_s_median": per_s}}
    return {"benchmark": "matching", "sizes": [
        {"trades": n, "columnar": path(n, 3 * n), "objects": path(n, n // 7)} for n in sizes]}


def gas(label: str, per_epoch: int) -> dict[str, Any]:
    return {"per_trade": {"1000": per_epoch / 1000, "10000": per_epoch / 10000},
            "per_epoch": per_epoch, "per_member_epoch": 1, "submit_epoch_is": "measured"}


FULL: dict[str, Any] = {
    "matching": matching(10**5, 10**6),
    "contract_gas": {"gas_per_cleared_trade": {
        "4x2x4": gas("4x2x4", 1_623_454), "16x4x8": gas("16x4x8", 3_000_000),
        "32x2x4": gas("32x2x4", 6_173_784)}},
    "submit_gas": {"benchmark": "submit_gas", "size": "4x2x4", "results": {
        "submitEpoch_1": {"gas_used": 422_500, "verifier_frame": 268_686,
                          "outside_verifier": 153_814, "intrinsic_less_refund": 32_440,
                          "execution": 390_060, "parts": {}, "by_contract": {}},
        "closeEpoch_1": {"gas_used": 218_212, "execution": 1, "parts": {}}}},
    "constraints": {"shapes": [sweep_shape(8, 16, [4, 8, 16, 32], [128], failed=(64,)),
                               sweep_shape(2, 4, [4, 8, 16, 32, 64], [128])]},
    "prove": {"sizes": [{"power": p, "constraints": 2**p - 3, "steps": {"prove": {
        "groth16py": {"median_s": p / 10}, "snarkjs": {"median_s": p / 2}}}} for p in (12, 14)]},
    "epoch": {"prove": [{"n": 4, "m": 2, "k": 4, "prover": "groth16py", "prove_median_s": 1.2}]},
    "ray": {"circuit": "epoch", "constraints": 47_667,
            "local": {"proofs": 6, "proofs_per_minute": 10.2},
            "ray": [{"workers": 1, "proofs_per_minute": 10.3},
                    {"workers": 2, "proofs_per_minute": 13.1}], "speedup_2_vs_1": 1.28},
}


def test_the_fit_recovers_a_quadratic_and_extrapolates() -> None:
    fit = constraints_mod.fit([(n, quadratic(n)) for n in (4, 8, 16, 32)], [128, 256])
    assert (fit["a"], fit["b"], fit["q"]) == (20_000, 9_000, 32)
    assert fit["max_residual_pct"] == 0
    assert fit["extrapolated"]["256"]["constraints"] == quadratic(256)
    assert fit["extrapolated"]["128"]["per_slot"] == round(quadratic(128) / 128)
    assert fit["extrapolated"]["128"]["quadratic_share"] == round(
        32 * 128 * 128 / quadratic(128), 3)
    assert fit["quadratic_share"]["4"] < fit["quadratic_share"]["32"]


def test_no_fit_from_fewer_than_three_sizes() -> None:
    assert constraints_mod.fit([(4, 100), (8, 200)], [128]) is None
    assert constraints_mod.fit([(4, 100), (4, 100), (8, 200)], [128]) is None


def test_the_summary_of_a_full_run() -> None:
    s = summary_mod.summarize(FULL)
    assert s["matching_netting"] == {"trades": 10**6, "columnar_trades_per_s": 3 * 10**6,
                                     "objects_trades_per_s": 10**6 // 7}
    assert s["gas_per_cleared_trade"]["N=4"]["per_trade_10000"] == pytest.approx(162.3454)
    assert s["gas_per_cleared_trade"]["N=32"] == {
        "pool": "32x2x4", "per_epoch": 6_173_784, "per_trade_1000": 6_173_784 / 1000,
        "per_trade_10000": 6_173_784 / 10000, "submit_epoch_is": "measured"}
    assert s["submit_epoch_gas"] == {"pool": "4x2x4", "submitEpoch_1": {
        "gas_used": 422_500, "verifier_frame": 268_686, "outside_verifier": 153_814,
        "intrinsic_less_refund": 32_440}}
    big = s["constraints"]["M=8,K=16"]
    assert [big[str(n)]["how"] for n in (4, 8, 16, 32, 64, 128, 256)] == [
        "measured"] * 4 + ["extrapolated"] * 3
    assert big["32"]["constraints"] == quadratic(32)
    assert big["64"]["constraints"] == quadratic(64)
    assert big["64"]["not_built"].startswith("ran out of memory")
    assert big["128"]["not_built"].startswith("refused by clearing/params.py")
    assert big["fit"]["q"] == 32 and big["fit"]["quadratic_share"]["32"] == round(
        32 * 32 * 32 / quadratic(32), 3)
    assert s["constraints"]["M=2,K=4"]["64"]["how"] == "measured"
    assert s["proving_s"]["groth16py"] == {"2^12 (4093 constraints)": 1.2,
                                           "2^14 (16381 constraints)": 1.4}
    assert s["proving_s"]["snarkjs"]["2^14 (16381 constraints)"] == 7.0
    assert s["proving_s"]["epoch_circuit"] == {"4x2x4": {"prover": "groth16py",
                                                          "median_s": 1.2}}
    assert s["ray_epochs_per_minute"] == {"local": 10.2, "epochs": 6, "constraints": 47_667,
                                          "speedup_2_vs_1": 1.28, "workers_1": 10.3,
                                          "workers_2": 13.1}
    assert s["null_reasons"] == {}


def test_a_quick_run_leaves_nulls_with_reasons() -> None:
    quick = dict(FULL, matching=matching(10**5),
                 constraints={"shapes": [sweep_shape(8, 16, [4], []), sweep_shape(2, 4, [4], [])]},
                 contract_gas={"gas_per_cleared_trade": {"4x2x4": gas("4x2x4", 1_623_454)}})
    del quick["prove"]
    quick["ray"] = dict(FULL["ray"], ray=[{"workers": 1, "proofs_per_minute": 9.0}],
                        speedup_2_vs_1=None)
    s = summary_mod.summarize(quick)
    reasons = s["null_reasons"]
    assert s["matching_netting"]["trades"] == 10**5
    assert s["gas_per_cleared_trade"]["N=32"] is None
    assert "no N=32 pool" in reasons["gas_per_cleared_trade.N=32"]
    small = s["constraints"]["M=8,K=16"]
    assert small["4"]["how"] == "measured" and small["4"]["constraints"] == quadratic(4)
    assert small["8"] is None and "fit" not in small
    assert reasons["constraints.M=8,K=16.128"] == (
        "not in this run's sweep (bench_constraints.py --slots); no fit to extrapolate from "
        "(fewer than three sizes built)")
    assert s["proving_s"]["groth16py"] is None and s["proving_s"]["snarkjs"] is None
    assert "'prove' not in the results" in reasons["proving_s.snarkjs"]
    assert s["proving_s"]["epoch_circuit"]["4x2x4"]["median_s"] == 1.2
    assert s["ray_epochs_per_minute"]["workers_2"] is None
    assert reasons["ray_epochs_per_minute.workers_2"] == "bench_ray ran no 2-worker run"


def test_nothing_run_is_all_nulls() -> None:
    s = summary_mod.summarize({})
    assert s["matching_netting"] is None and s["constraints"] is None
    assert s["submit_epoch_gas"] is None
    assert s["ray_epochs_per_minute"] is None
    assert s["gas_per_cleared_trade"] == {"N=4": None, "N=32": None}
    assert set(s["null_reasons"]) >= {"matching_netting", "constraints", "submit_epoch_gas",
                                      "proving_s.groth16py",
                                      "proving_s.epoch_circuit", "ray_epochs_per_minute"}


def test_why_a_compile_was_not_built() -> None:
    refused = ('error[T3001]: False assert reached\n   ┌─ "circuits/epoch.circom":22:5\n'
               "previous errors were found")
    why = constraints_mod.failure_reason(1, refused, 114.0)
    assert why.startswith("circom2 failed (exit status 1) at 114 MB peak RSS: ")
    assert "False assert reached" in why and why.endswith("previous errors were found")
    oom = "RangeError: WebAssembly.Memory.grow(): Maximum memory size exceeded"
    assert constraints_mod.failure_reason(7, oom, 4100.0).startswith(
        "ran out of memory at 4100 MB peak RSS: RangeError")
    assert constraints_mod.failure_reason(-9, "", 3000.0).startswith(
        "circom2 killed by signal 9")
