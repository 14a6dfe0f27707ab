"""The headline figures of issue #17, taken from ``run.py``'s combined ``results``.

``summarize(results)`` reads the sub-benchmarks' JSON objects (nothing is typed in) and
returns one object: matching + netting throughput, gas per cleared trade at N=4 and N=32,
constraints at N=4 ... 128 (measured or extrapolated, marked), proving time per backend
and Ray throughput. A figure that the results do not hold is ``null``, and
``null_reasons`` says why, keyed by its dotted path in the summary.
"""

from __future__ import annotations

from typing import Any

#: The pool sizes whose gas per cleared trade the issue asks for.
GAS_SLOTS = (4, 32)
#: ... and the trades per epoch it divides by.
GAS_TRADES = ("1000", "10000")
#: The pool sizes whose constraint counts the issue asks for.
CONSTRAINT_SLOTS = (4, 8, 16, 32, 64, 128)


class _Summary:
    def __init__(self) -> None:
        self.out: dict[str, Any] = {}
        self.reasons: dict[str, str] = {}

    def null(self, path: str, reason: str) -> None:
        """Set ``path`` (dotted) to null, saying why."""
        *parents, leaf = path.split(".")
        node = self.out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = None
        self.reasons[path] = reason


def _missing(results: dict[str, Any], name: str) -> str | None:
    return None if name in results else f"benchmark {name!r} not in the results (not run or failed)"


def matching(s: _Summary, results: dict[str, Any]) -> None:
    """Matching + netting trades/s, columnar and objects, at the largest size run."""
    why = _missing(results, "matching")
    if why or not results["matching"].get("sizes"):
        s.null("matching_netting", why or "bench_matching ran no size")
        return
    largest = max(results["matching"]["sizes"], key=lambda r: r["trades"])
    s.out["matching_netting"] = {
        "trades": largest["trades"],
        **{f"{path}_trades_per_s": largest[path]["match_and_net"]["trades_per_s_median"]
           for path in ("columnar", "objects")},
    }


def gas(s: _Summary, results: dict[str, Any]) -> None:
    """Gas per cleared trade at N=4 and N=32 for every trade count measured (1,000, 10,000)."""
    why = _missing(results, "contract_gas")
    by_size = {} if why else results["contract_gas"].get("gas_per_cleared_trade", {})
    s.out["gas_per_cleared_trade"] = {}
    for n in GAS_SLOTS:
        labels = [label for label in by_size if int(label.split("x")[0]) == n]
        if not labels:
            s.null(f"gas_per_cleared_trade.N={n}", why or f"contract_gas measured no N={n} pool")
            continue
        g = by_size[labels[0]]
        row = s.out["gas_per_cleared_trade"][f"N={n}"] = {
            "pool": labels[0], "per_epoch": g["per_epoch"],
            "submit_epoch_is": g["submit_epoch_is"]}
        for trades in GAS_TRADES:
            if trades in g["per_trade"]:
                row[f"per_trade_{trades}"] = g["per_trade"][trades]
            else:
                s.null(f"gas_per_cleared_trade.N={n}.per_trade_{trades}",
                       f"contract_gas ran without {trades} in --trades")


def submit_epoch(s: _Summary, results: dict[str, Any]) -> None:
    """submitEpoch's gas at N=4 (real proofs): the verifier's frame and what the house adds
    (``outside_verifier``, issue #17's "within 40k of the verifier"), per story epoch."""
    why = _missing(results, "submit_gas")
    if why:
        s.null("submit_epoch_gas", why)
        return
    r = results["submit_gas"]
    s.out["submit_epoch_gas"] = {"pool": r["size"], **{
        name: {k: b[k] for k in ("gas_used", "verifier_frame", "outside_verifier",
                                 "intrinsic_less_refund")}
        for name, b in r["results"].items() if name.startswith("submitEpoch")}}


def constraints(s: _Summary, results: dict[str, Any]) -> None:
    """Per shape M,K: constraints at N=4 ... 128 (and any other N the sweep extrapolated),
    each ``measured`` or ``extrapolated``, with the fit's quadratic share."""
    why = _missing(results, "constraints")
    if why:
        s.null("constraints", why)
        return
    s.out["constraints"] = {}
    for shape in results["constraints"]["shapes"]:
        key = f"M={shape['m']},K={shape['k']}"
        rows = {r["n"]: r for r in shape["sizes"]}
        fit = shape.get("fit")
        extrapolated = fit["extrapolated"] if fit else {}
        out: dict[str, Any] = {}
        for n in sorted({*CONSTRAINT_SLOTS, *map(int, extrapolated)}):
            row = rows.get(n)
            if row is not None and row["built"]:
                out[str(n)] = {"constraints": row["constraints"], "how": "measured",
                               "per_slot": row["per_slot"], "compile_s": row["compile_s"],
                               "peak_rss_mb": row["peak_rss_mb"]}
            elif str(n) in extrapolated:
                out[str(n)] = {**extrapolated[str(n)], "how": "extrapolated"}
                if row is not None:
                    out[str(n)]["not_built"] = row["reason"]
            else:
                out[str(n)] = None
                reason = (f"not built: {row['reason']}" if row is not None
                          else "not in this run's sweep (bench_constraints.py --slots)")
                if fit is None:
                    reason += "; no fit to extrapolate from (fewer than three sizes built)"
                s.reasons[f"constraints.{key}.{n}"] = reason
        s.out["constraints"][key] = out
        if fit:
            s.out["constraints"][key]["fit"] = {
                k: fit[k] for k in ("model", "a", "b", "q", "fitted_on", "max_residual_pct",
                                    "quadratic_share")}


def proving(s: _Summary, results: dict[str, Any]) -> None:
    """The proof alone per backend at each size bench_prove ran, and the epoch circuit's."""
    why = _missing(results, "prove")
    if why:
        s.null("proving_s.groth16py", why)
        s.null("proving_s.snarkjs", why)
    else:
        per: dict[str, dict[str, Any]] = {"groth16py": {}, "snarkjs": {}}
        for size in results["prove"]["sizes"]:
            label = f"2^{size['power']} ({size['constraints']} constraints)"
            for backend, row in per.items():
                row[label] = size["steps"]["prove"][backend]["median_s"]
        s.out.setdefault("proving_s", {}).update(per)
    if "epoch" in results and results["epoch"].get("prove"):
        s.out.setdefault("proving_s", {})["epoch_circuit"] = {
            f"{p['n']}x{p['m']}x{p['k']}": {"prover": p["prover"], "median_s": p["prove_median_s"]}
            for p in results["epoch"]["prove"]}
    else:
        s.null("proving_s.epoch_circuit", _missing(results, "epoch")
               or "bench_epoch proved no size (--prove)")


def ray(s: _Summary, results: dict[str, Any]) -> None:
    """Epochs per minute on Ray with 1 and 2 workers (and the same backlog in-process)."""
    r = results.get("ray")
    if r is None or r.get("circuit") != "epoch":
        s.null("ray_epochs_per_minute", _missing(results, "ray")
               or f"bench_ray proved the {r.get('circuit') if r else '?'} circuit, not epochs")
        return
    by = {run["workers"]: run["proofs_per_minute"] for run in r["ray"]}
    out: dict[str, Any] = {"local": r["local"]["proofs_per_minute"],
                           "epochs": r["local"]["proofs"], "constraints": r["constraints"],
                           "speedup_2_vs_1": r.get("speedup_2_vs_1")}
    s.out["ray_epochs_per_minute"] = out
    for w in (1, 2):
        out[f"workers_{w}"] = by.get(w)
        if w not in by:
            s.reasons[f"ray_epochs_per_minute.workers_{w}"] = f"bench_ray ran no {w}-worker run"


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures from ``run.py``'s ``results`` (benchmark name -> its JSON)."""
    s = _Summary()
    for part in (matching, gas, submit_epoch, constraints, proving, ray):
        part(s, results)
    s.out["null_reasons"] = s.reasons
    return s.out
