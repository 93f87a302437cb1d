"""What the intervals over seeds cost, old path against new, and whether they cover.

For each shipped pair the samples are drawn once (the sample cache), then in one process,
interleaved (old, new, old, new, ...) so that a neighbour's load weighs on both alike:

- old: the two point assignments by scipy's ``linear_sum_assignment`` and the reference
  bootstrap (every one of the 200 resamples' transports solved cold by ``ot.emd``, every
  metric from the resample's S x S sub-matrices);
- new: the two point assignments by ``core.assignment.exact`` (network simplex, with its
  duals) and the bootstrap's fast path: A_OT from the first 50 draws (value ± 1.96 sd), each
  solved on its cheapest reduced edges with a dual certificate or read without a solve, the
  other metrics from orders of the full matrices (the same numbers on the same 200 draws:
  ``same_other_intervals``); A_OT's interval is set beside the reference's 200-draw one (its
  endpoints' difference in half-widths).

Coverage: the pair is sampled again on ``sets`` fresh seed sets (``seed`` 0 .. sets-1, N
seeds each); for each metric the spread (sd) of its value over the sets is set beside the
width of seed set 0's interval (as an sd: half-width / 1.96), and the share of sets whose
value falls inside set 0's interval is counted (a right-sized interval holds another set's
value in about 83 % of sets, not 95 %: that value varies as much as set 0's own). ρ is shown twice: its order-statistic
interval (now) and the bias-shifted bootstrap percentile interval of its median (before).

Timings on a shared machine are upper bounds: the load average is recorded beside them.

    python -m benchmarks.bench_intervals [--n 2000] [--sets 8] [--repeats 2] [--pairs chessboard4d,mnist]
    python -m benchmarks.bench_intervals --large 20000 [--large-pair mlp-manifold]   # A_OT's approximation vs exact
    python -m benchmarks.bench_intervals --truth-sets 24 [--n 2000] [--pairs mnist]   # coverage of the population value
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench_app import loadavg
from dmdviz.analysis import Analyses, bootstrap, large
from dmdviz.analysis.cache import SampleCache
from dmdviz.checkpoint import load_checkpoint
from dmdviz.core import assignment, metrics
from dmdviz.models import open_pair

PAIRS = {"chessboard4d": ("chessboard4d/teacher", "chessboard4d/student"),
         "mnist": ("mnist/teacher-8192", "mnist/student-8192"),
         "mlp-manifold": ("mlp-manifold/teacher", "mlp-manifold/student")}  # a partial copier: A_OT ~0.26


def _inputs(pa) -> tuple:
    x = pa.phi_k.reshape(pa.s.n, -1).double()
    return pa.cost.numpy(), torch.cdist(x, x).numpy(), *pa.distances


def _old(pa) -> tuple[float, dict]:
    t0 = time.perf_counter()
    metrics.ot_assignment(pa.cost.numpy()), metrics.ot_assignment(pa.cost_init.numpy())
    ci = bootstrap.intervals(*_inputs(pa), ot_resamples=bootstrap.RESAMPLES, fast=False)
    return time.perf_counter() - t0, ci


def _new(pa) -> tuple[float, dict]:
    """The analysis's own road: both point assignments (side by side on two threads) and the
    fast intervals, from the shared inputs."""
    t0 = time.perf_counter()
    pa.__dict__.pop("_exact_both", None)  # solved again on every repeat
    warm = pa.exact
    ci = bootstrap.intervals(*_inputs(pa), warm=warm)
    return time.perf_counter() - t0, ci


def _rho_bootstrap(pa) -> list[float]:
    d_init, d_student = pa.distances
    ratio = d_student / np.maximum(d_init, 1e-12)
    return bootstrap.statistic_interval(lambda i: bootstrap._median(ratio[i]), len(ratio), low=0.0)


def timing(pa, repeats: int) -> dict:
    old, new, same = [], [], True
    for _ in range(repeats):
        t, ci_old = _old(pa)
        old.append(round(t, 2))
        t, ci_new = _new(pa)
        new.append(round(t, 2))
        same &= all(ci_old[key] == ci_new[key] for key in bootstrap.KEYS if key != "ot_agreement")
    (lo, hi), (new_lo, new_hi) = ci_old["ot_agreement"], ci_new["ot_agreement"]
    half = max((hi - lo) / 2, 1e-12)
    return {"old_s": old, "new_s": new, "same_other_intervals": bool(same), "load": loadavg(),
            "ot_interval_200": [round(lo, 5), round(hi, 5)], "ot_interval_50": [round(new_lo, 5), round(new_hi, 5)],
            "ot_endpoint_shift_halfwidths": [round((new_lo - lo) / half, 3), round((new_hi - hi) / half, 3)]}


def coverage(service, pair, n: int, sets: int, first) -> dict:
    values = {key: [] for key in (*bootstrap.KEYS, "copy_ratio_bootstrap")}
    for seed in range(sets):
        pa = first if seed == 0 else service.analysis(pair, n, seed, 8)
        for key in bootstrap.KEYS:
            values[key].append(pa.pairing[key])
        values["copy_ratio_bootstrap"].append(pa.pairing["copy_ratio"])
    ci = dict(first.intervals, copy_ratio_bootstrap=_rho_bootstrap(first))
    out = {}
    for key, vals in values.items():
        low, high = ci[key]
        out[key] = {"interval": [round(low, 4), round(high, 4)], "interval_sd": round((high - low) / 2 / 1.96, 5),
                    "fresh_sd": round(float(np.std(vals, ddof=1)), 5),
                    "inside": f"{sum(low <= v <= high for v in vals)}/{len(vals)}"}
    return out


def run(n: int = 2000, sets: int = 8, repeats: int = 2, pairs=("chessboard4d", "mnist"), cache=None) -> dict:
    service = Analyses(cache or SampleCache.from_env())
    out = {"n": n, "sets": sets, "load_before": loadavg(), "threads": torch.get_num_threads(), "pairs": {}}
    for name in pairs:
        pair = open_pair(*(load_checkpoint(ref) for ref in PAIRS[name]))
        pa = service.analysis(pair, n, 0, 8)
        pa.cost, pa.cost_init, pa.distances  # noqa: B018 - the shared inputs, outside the timed paths
        res = timing(pa, repeats)
        print(f"{name}: {res}", file=sys.stderr, flush=True)  # the timings before the longer coverage run
        res["coverage"] = coverage(service, pair, n, sets, pa) if sets else {}
        out["pairs"][name] = res
    out["load_after"] = loadavg()
    return out


def new_only(n: int = 10_000, pairs=("chessboard4d", "mnist"), cache=None) -> dict:
    """The new path alone (the two point assignments and the intervals) at ``n`` seeds, where
    the old one takes many minutes (438 s and 354 s at 10,000 seeds on the last run that timed it)."""
    service = Analyses(cache or SampleCache.from_env())
    out = {"n": n, "threads": torch.get_num_threads(), "pairs": {}}
    for name in pairs:
        pa = service.analysis(open_pair(*(load_checkpoint(ref) for ref in PAIRS[name])), n, 0, 8)
        pa.cost, pa.cost_init, pa.distances  # noqa: B018 - the shared inputs, outside the timed path
        load = loadavg()
        seconds, ci = _new(pa)
        out["pairs"][name] = {"seconds": round(seconds, 1), "load": [load, loadavg()],
                              "ot_interval": [round(x, 5) for x in ci["ot_agreement"]]}
        print(f"{name} at N = {n}: {out['pairs'][name]}", file=sys.stderr, flush=True)
    return out


def large_n(n: int = 20_000, name: str = "chessboard4d", cache=None) -> dict:
    """The large-N A_OT approximation (``analysis.large``: exact within slabs) against the
    exact assignment of all ``n`` seeds, slabs of n/2 and n/4, with the seconds of each."""
    service = Analyses(cache or SampleCache.from_env())
    pa = service.analysis(open_pair(*(load_checkpoint(ref) for ref in PAIRS[name])), n, 0, 8)
    out = {"pair": name, "n": n, "load_before": loadavg(), "rows": []}
    for size in (n, n // 2, n // 4):
        t0 = time.perf_counter()
        a_ot, method = large.ot_agreement(pa.phi_k, pa.s.g, size)
        out["rows"].append({"slab": size, "ot_agreement": a_ot, "seconds": round(time.perf_counter() - t0, 1),
                            "method": method})
    exact = out["rows"][0]["ot_agreement"]
    for row in out["rows"]:
        row["error"] = round(row["ot_agreement"] - exact, 5)
    out["load_after"] = loadavg()
    return out


def truth_coverage(name: str, n: int = 2000, sets: int = 24, cache=None) -> dict:
    """Coverage of each set's own interval over ``sets`` fresh seed sets of ``n``: the share
    of sets whose 95 % interval holds the metric's value on the whole population, which for
    ρ (a median of i.i.d. per-seed ratios) is the median over all the sets' seeds pooled, and
    for the others (whose value depends on N) the mean of their value over the sets. A
    right-sized interval holds it in about 95 % of sets; the mean interval half-width / 1.96
    is set beside the sd of the values over the sets."""
    service = Analyses(cache or SampleCache.from_env())
    pair = open_pair(*(load_checkpoint(ref) for ref in PAIRS[name]))
    values, cis, ratios = {key: [] for key in bootstrap.KEYS}, {key: [] for key in bootstrap.KEYS}, []
    t0 = time.perf_counter()
    for seed in range(sets):
        pa = service.analysis(pair, n, seed, 8)
        d_init, d_student = pa.distances
        ratios.append(d_student / np.maximum(d_init, 1e-12))
        for key in bootstrap.KEYS:
            values[key].append(pa.pairing[key])
            cis[key].append(pa.intervals[key])
    out = {"pair": name, "n": n, "sets": sets, "seconds": round(time.perf_counter() - t0, 1), "load": loadavg(), "metrics": {}}
    for key in bootstrap.KEYS:
        truth = float(np.median(np.concatenate(ratios))) if key == "copy_ratio" else float(np.mean(values[key]))
        inside = sum(lo <= truth <= hi for lo, hi in cis[key])
        out["metrics"][key] = {"truth": round(truth, 5), "inside": f"{inside}/{sets}",
                               "interval_sd": round(float(np.mean([(hi - lo) / 2 / 1.96 for lo, hi in cis[key]])), 5),
                               "sd_over_sets": round(float(np.std(values[key], ddof=1)), 5)}
    return out


def markdown(res: dict) -> str:
    rows = []
    for name, r in res["pairs"].items():
        rows.append(f"| {name}, N = {res['n']} | old {', '.join(map(str, r['old_s']))} s | new {', '.join(map(str, r['new_s']))} s "
                    f"| other intervals equal: {r['same_other_intervals']}; A_OT {r['ot_interval_50']} (50 draws) vs "
                    f"{r['ot_interval_200']} (200), shift {r['ot_endpoint_shift_halfwidths']} half-widths; load {r['load']} |")
        for key, c in r.get("coverage", {}).items():
            rows.append(f"| {name} {key} | {c['interval']} (sd {c['interval_sd']}) | fresh sd {c['fresh_sd']} | "
                        f"{c['inside']} fresh sets inside |")
    return "| pair | interval / old | fresh / new | notes |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--sets", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pairs", default="chessboard4d,mnist")
    ap.add_argument("--large", type=int, help="instead: the large-N A_OT approximation against exact at this N")
    ap.add_argument("--large-pair", default="chessboard4d", choices=PAIRS)
    ap.add_argument("--truth-sets", type=int, help="instead: each set's interval against the population value, over this many sets")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.truth_sets:
        res = [truth_coverage(name, args.n, args.truth_sets) for name in args.pairs.split(",")]
        print(json.dumps(res, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
        return
    if args.large:
        res = large_n(args.large, args.large_pair)
        print(json.dumps(res, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
        return
    res = run(args.n, args.sets, args.repeats, tuple(args.pairs.split(",")))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))


if __name__ == "__main__":
    main()
