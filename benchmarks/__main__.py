"""``python -m benchmarks [--quick] [--readme]``: every speed number of dmdviz in one run.

The goals table comes first: each of the performance goals' figures beside its target
(time to a good chessboard teacher against torchcfm, the sample cache, a cached view under
20 clients, first paint in Chromium, the scaling table). A full run takes 15-30 minutes on
two cores; ``--quick`` is a smoke run whose numbers mean nothing.

Threads: $DMDVIZ_THREADS, else the cores idle at start (``settings.default_threads``). The machine's load (``/proc/loadavg``) before and
after is recorded next to the numbers: on a shared machine they are lower bounds.
MNIST rows read the IDX files from $DMDVIZ_DATA_DIR, else the repo's data/mnist, and are
skipped (with a note) when neither holds them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import bench_train
from benchmarks.bench_app import loadavg
from dmdviz.data import mnist_folder
from dmdviz.errors import DmdvizError
from dmdviz.training.runtime import Runtime

HERE = Path(__file__).resolve().parent


def _cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _mnist_note() -> str:
    """Empty when MNIST is readable (``mnist_folder``); else why its rows are skipped."""
    try:
        mnist_folder()
        return ""
    except DmdvizError as e:
        return f"mnist rows skipped: {e}"


def _analysis(threads: int) -> dict:
    if importlib.util.find_spec("benchmarks.bench_analysis") is None:
        return {"skipped": "benchmarks/bench_analysis.py is absent"}
    try:
        from benchmarks import bench_analysis

        return bench_analysis.run(n=2000, threads=threads)
    except Exception as e:  # another engineer's module: report, don't lose the other numbers
        return {"skipped": f"bench_analysis failed: {type(e).__name__}: {e}"}


def _cache(threads: int, quick: bool) -> dict:
    from benchmarks import bench_cache

    try:
        return bench_cache.run(n=200 if quick else 2000, threads=threads)
    except DmdvizError as e:  # the shipped MNIST UNet pair is absent
        return {"skipped": str(e)}


def _guarded(name: str, run):
    """One benchmark's result, or why it did not run: a failure costs its row, not the others'."""
    try:
        return run()
    except Exception as e:  # noqa: BLE001 - reported in the table
        return {"skipped": f"{name} failed: {type(e).__name__}: {e}"}


def _quality(threads: int, quick: bool) -> dict:
    from benchmarks import bench_quality

    if importlib.util.find_spec("torchcfm") is None:
        return {"skipped": "torchcfm absent: pip install --no-deps -r requirements-bench.txt"}
    kw = dict(rounds=1, cap=60, check_every=20, n_eval=200, steps=60) if quick else {}
    res = bench_quality.run(threads=threads, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        res["end_to_end"] = {"skipped": "quick run"} if quick else bench_quality.end_to_end(Path(tmp), threads)
        res["train_tab"] = {"skipped": "quick run"} if quick else bench_quality.train_tab(Path(tmp) / "runs")
    return res


def _load(quick: bool) -> dict:
    from benchmarks import bench_load

    return bench_load.run(sessions=3 if quick else 20, n=50 if quick else 500)


def _first_paint(quick: bool) -> dict:
    from benchmarks import bench_app

    if importlib.util.find_spec("playwright") is None or not Path(bench_app.CHROMIUM).exists():
        return {"skipped": f"needs playwright and Chromium at {bench_app.CHROMIUM}"}
    return bench_app.run(repeats=1 if quick else 3)


def _scaling(threads: int, quick: bool) -> dict:
    from benchmarks import bench_scaling

    return bench_scaling.run(ns=(50, 100, 200) if quick else (500, 1000, 2000, 5000), threads=threads)


def _intervals(quick: bool) -> dict:
    from benchmarks import bench_intervals

    return bench_intervals.run(n=200 if quick else 2000, sets=2 if quick else 8, repeats=1 if quick else 2)


def _sampling(quick: bool) -> dict:
    from benchmarks import bench_sampling

    return bench_sampling.run(n=20 if quick else 200, chunks=(250,) if quick else (100, 250, 1000),
                              error_n=20 if quick else 500)


def _threads(quick: bool) -> dict:
    from benchmarks import bench_threads

    return bench_threads.run(steps=20 if quick else 1000, n=50 if quick else 1000)


def _large(quick: bool) -> dict:
    from benchmarks import bench_intervals

    return {"intervals": bench_intervals.new_only(n=1000 if quick else 10_000),
            "point": bench_intervals.large_n(n=2000 if quick else 20_000, name="mlp-manifold")}


def _large_rows(res: dict) -> list:
    """Issue 26 at large N: intervals at 10,000 seeds; A_OT exact at 20,000 and the slab
    approximation's error against it."""
    lg = res.get("large", {})
    if "skipped" in lg:
        return [("issue 26: intervals at N = 10,000; A_OT at N = 20,000", "skipped", "≤ 2 min", lg["skipped"], None)]
    iv, rows = lg.get("intervals", {}), []
    for name, r in iv.get("pairs", {}).items():
        rows.append((f"issue 26: intervals, {name}, N = {iv['n']:,} (point solves + bootstrap)", f"{r['seconds']:.0f} s",
                     "≤ 2 min", f"before 438 s (chessboard4d), 354 s (MNIST); load {r['load']}", r["seconds"] <= 120))
    pt = lg.get("point")
    if pt:
        exact, *approx = pt["rows"]
        rows.append((f"issue 26: A_OT exact at N = {pt['n']:,}, {pt['pair']} (costs a block at a time)",
                     f"{exact['ot_agreement']:.4f} in {exact['seconds']:.0f} s", "exact, or a stated error",
                     "; ".join(f"slabs of {r['slab']:,}: {r['ot_agreement']:.4f} (error {r['error']:+.4f}, {r['seconds']:.0f} s)"
                               for r in approx), exact["method"] == "exact"))
    return rows


def _issue26_rows(res: dict) -> list:
    """Goals 2 and 4 of issue 26: sampling's share of the fp32 peak, the default threads' cost."""
    rows = []
    sa = res.get("sampling", {})
    plain = [r for r in sa.get("rows", []) if r.get("precision", "fp32") == "fp32" and r.get("layout", "contiguous") == "contiguous"]
    for r in plain:
        if r["chunk"] == 250 and r["threads"] == max(x["threads"] for x in plain):
            best = max((x for x in sa["rows"] if x["pair"] == r["pair"]), key=lambda x: x["share_of_peak"])
            how = "".join(f", {best[key]}" for key in ("precision", "layout") if best.get(key, "fp32") not in ("fp32", "contiguous"))
            rows.append((f"issue 26: Φ_K/G sampling, {r['pair']}, share of fp32 peak (batch 250, {r['threads']} threads)",
                         f"{100 * r['share_of_peak']:.0f} %", "≥ 50 % (UNet)",
                         (f"{r['gflops']} GFLOP/s; best {100 * best['share_of_peak']:.0f} % at batch {best['chunk']}, "
                          f"{best['threads']} thread(s){how}; load {r['load']}"),
                         r["share_of_peak"] >= 0.5 if "unet" in r["pair"] else None))
    if "skipped" in sa:
        rows.append(("issue 26: sampling's share of fp32 peak", "skipped", "≥ 50 % (UNet)", sa["skipped"], None))
    th = res.get("threads", {})
    for key, ratio in th.get("ratios", {}).items():
        rows.append((f"issue 26: default threads ÷ best fixed, {key}", f"{ratio:.2f}×", "≤ 1.5×",
                     f"load before {th['load_before']}, after {th['load_after']}", ratio <= 1.5))
    if "skipped" in th:
        rows.append(("issue 26: default threads ÷ best fixed", "skipped", "≤ 1.5×", th["skipped"], None))
    return rows + _cold_rows(res.get("cold", {}))


def _cold(quick: bool) -> dict:
    if quick:
        return {"skipped": "not in a quick run (N = 500 of the MNIST UNet, six fresh processes)"}
    from benchmarks import bench_cold
    from dmdviz import settings

    if settings.shipped_samples() is None:  # without the folder, "shipped" would time plain sampling again
        return {**bench_cold.run(settings=("fp32", "bf16")), "shipped_absent": True}
    return bench_cold.run()


def _cold_rows(cold: dict) -> list:
    """Goal 5 of issue 26: the mnist-unet pair file and family cold in the app at N = 500."""
    if "skipped" in cold:
        return [("issue 26: cold mnist-unet pair and family in the app", "skipped", "< 15 s", cold["skipped"], None)]
    by = {(r["case"], r["setting"]): r for r in cold.get("rows", []) if "seconds" in r}
    before = {"pair": "43.6 s", "family": "99.5 s"}
    return [(f"issue 26: cold mnist-unet {case} in the app, N = 500, fp32", f"{by[(case, 'fp32')]['seconds']} s", "< 15 s",
             "; ".join([f"before {before[case]}"] + [f"{s} {by[(case, s)]['seconds']} s" for s in ("bf16", "shipped")
                                                      if (case, s) in by]
                       + (["shipped samples not built here (`python -m dmdviz.web.prefill checkpoints/samples`)"]
                          if cold.get("shipped_absent") else []) + [f"load {by[(case, 'fp32')]['load']}"]),
             by[(case, "fp32")]["seconds"] < 15) for case in ("pair", "family") if (case, "fp32") in by]


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "**no**")


def goals(res: dict) -> str:
    """Each goal's measured figure beside its target (issue 12), as a Markdown table."""
    rows = []
    q = res.get("quality", {"skipped": "not run"})
    if "skipped" in q:
        rows.append(("1. time to ≥ 0.90 on-board share vs torchcfm", "skipped", "dmdviz ≥ 2× faster", q["skipped"], None))
    else:
        ours, theirs = q.get("ours_best"), q.get("theirs_best")
        best_theirs = max(c["on_board"] for runs in q["theirs"].values() for x in runs for c in x["checks"])
        value = (f"dmdviz {ours['seconds']:.1f} s ({ours['step']} steps)" if ours else "dmdviz not reached") + " vs " + (
            f"torchcfm {theirs['seconds']:.1f} s ({theirs['step']} steps)" if theirs
            else f"torchcfm not reached in {q['cap']} steps (best {best_theirs:.3f})")
        speed = q.get("speedup")
        rows.append(("1. time to ≥ 0.90 on-board share vs torchcfm (same net and batch)", value, "dmdviz ≥ 2× faster",
                     f"{speed:.2f}×" if speed else ("torchcfm never reached it" if ours else ""),
                     (speed >= 2) if speed else (True if ours and not theirs else None)))
        e = q.get("end_to_end", {})
        if "total_s" in e:
            rows.append(("1. chessboard4d teacher + student from the CLI", f"{e['total_s']:.1f} s (teacher {e['teacher_s']:.1f} s, "
                         f"student {e['student_s']:.1f} s)", "≤ 45 s at ≥ 0.90", f"teacher Φ_8 on-board {e['on_board']:.3f}",
                         e["total_s"] <= 45 and e["on_board"] >= 0.9))
        if "pair_s" in e:
            rows.append(("1. chessboard4d teacher + student from the CLI in one command (`train-teacher --student`)",
                         f"{e['pair_s']:.1f} s", "≤ 45 s at ≥ 0.90", f"teacher Φ_8 on-board {e['pair_on_board']:.3f}",
                         e["pair_s"] <= 45 and e["pair_on_board"] >= 0.9))
        tab = q.get("train_tab", {})
        if "train_tab_s" in tab:
            threads = tab.get("threads", 1)
            rows.append((f"1. chessboard4d teacher + student from the Train tab (one job, {threads} thread{'s' * (threads > 1)})",
                         f"{tab['train_tab_s']:.1f} s",
                         "≤ 45 s at ≥ 0.90", f"teacher Φ_8 on-board {tab['on_board']:.3f}",
                         tab["train_tab_s"] <= 45 and tab["on_board"] >= 0.9))
    c = res.get("cache", {"skipped": "not run"})
    rows.append((f"2. sample cache, mnist-unet pair, N = {c.get('n', '?')}, warm", f"{min(c['warm_s']):.2f} s" if "warm_s" in c
                 else "skipped", "≤ 1 s", f"cold {c['cold_s']:.1f} s" if "cold_s" in c else c["skipped"],
                 min(c["warm_s"]) <= 1 if "warm_s" in c else None))
    lo = res.get("load", {"skipped": "not run"})
    rows.append((f"3. cached view under {lo.get('sessions', 20)} clients, warm p95",
                 f"{lo['warm']['p95_s']:.2f} s" if "warm" in lo else "skipped", "≤ 0.5 s",
                 f"p50 {lo['warm']['p50_s']:.2f} s; cold p50 {lo['cold']['p50_s']:.2f} s, p95 {lo['cold']['p95_s']:.2f} s; "
                 f"answers correct: {lo['all_correct']}" if "warm" in lo else lo["skipped"],
                 lo["warm"]["p95_s"] <= 0.5 if "warm" in lo else None))
    a = res.get("app", {"skipped": "not run"})
    if "paints_ms" in a:
        rows.append(("4. first byte → default plots on screen (Chromium): static first paint",
                     f"{a['first_byte_to_paint_cold_ms'] / 1000:.2f} s first load", "≤ 2 s",
                     f"loads {', '.join(f'{x / 1000:.2f}' for x in a['paints_ms'])} s; server start {a['server_start_s']:.1f} s",
                     max(a["paints_ms"]) <= 2000))
    rows.append(("4. first byte → default plots interactive (Plotly drawn)",
                 f"{a['first_byte_to_plots_cold_ms'] / 1000:.2f} s first load" if "loads_ms" in a else "skipped",
                 "(≤ 2 s)" if "paints_ms" in a else "≤ 2 s",
                 f"loads {', '.join(f'{x / 1000:.2f}' for x in a['loads_ms'])} s" if "loads_ms" in a else a["skipped"],
                 max(a["loads_ms"]) <= 2000 if "loads_ms" in a else None))
    iv = res.get("intervals", {})
    for name, r in iv.get("pairs", {}).items():
        rows.append((f"issue 26: intervals, {name}, N = {iv['n']} (point solves + bootstrap)", f"{min(r['new_s']):.1f} s",
                     "≤ 8 s", (f"before {min(r['old_s']):.1f} s, same process; other intervals equal {r['same_other_intervals']}; "
                               f"A_OT's 50-draw interval vs 200: shift {r['ot_endpoint_shift_halfwidths']} half-widths; "
                               f"load {r['load']}"), min(r["new_s"]) <= 8))
    if "skipped" in iv:
        rows.append(("issue 26: intervals at N = 2,000", "skipped", "≤ 8 s", iv["skipped"], None))
    rows += _large_rows(res)
    rows += _issue26_rows(res)
    sc = res.get("scaling", {"skipped": "not run"})
    if "fits" in sc:
        big = max(r["dim"] for r in sc["rows"])
        f = {st: sc["fits"].get(f"{big}/{st}", {}) for st in ("sample", "ot", "intervals", "figures")}
        total = sum(v.get("estimate_s", 0) for v in f.values())
        rows.append((f"5. scaling with N (D = {big})", ", ".join(f"{st} N^{v.get('exponent', '?')}" for st, v in f.items()),
                     "a table (below)", f"N = {sc['estimate_n']:,} estimated {total:.0f} s", None))
    else:
        rows.append(("5. scaling with N and D", "skipped", "a table", sc["skipped"], None))
    return ("| goal | measured | target | notes | met |\n|---|---|---|---|---|\n"
            + "".join(f"| {g} | {v} | {t} | {n} | {_met(ok)} |\n" for g, v, t, n, ok in rows))


def markdown(res: dict) -> str:
    """The results as a Markdown table plus the machine and load notes."""
    peak = res["peak_gflops"]
    rows = [("fp32 matrix product peak (1024²)", f"{peak['fp32']:.1f} GFLOP/s", ""),
            ("bf16 matrix product peak (1024²)", f"{peak['bf16']:.1f} GFLOP/s", f"{peak['bf16'] / peak['fp32']:.2f}× fp32")]
    for p in res["presets"]:
        name, t_rate = f"{p['preset']} ({p['net']})", p["teacher_steps_per_s"]
        util = lambda rate, flops: f"{rate * flops / 1e9:.1f} GFLOP/s = {100 * rate * flops / 1e9 / peak['fp32']:.0f} % of fp32 peak"  # noqa: E731
        rows.append((f"{name} teacher, batch {p['batch']}", f"{t_rate:.1f} steps/s", util(t_rate, p["step_flops"])))
        for key in sorted(k for k in p if k.startswith("dmd_r") and k.endswith("_it_per_s")):
            ratio = int(key[5:].split("_")[0])
            rate, flops = p[key], p[f"dmd_r{ratio}_flops"]
            cost = t_rate / rate  # both presets distil at the teacher's batch
            rows.append((f"{name} DMD, ratio {ratio}, batch {p['dmd_batch']}", f"{rate:.1f} it/s",
                         f"{util(rate, flops)}; {cost:.2f} teacher steps (arithmetic {flops / p['step_flops']:.2f})"))
    if res.get("mnist_note"):
        rows.append(("mnist (UNet)", "skipped", res["mnist_note"]))
    a = res["analysis"]
    rows.append(("analysis, N = 2000 (" + (f"{a.get('net')}, K = 8" if "total" in a else "") + ")",
                 f"{a['total']:.2f} s" if "total" in a else "skipped",
                 ", ".join(f"{k} {a[k]} s" for k in ("sample", "pairing_ot", "pca", "intervals", "train_set_metrics", "figures") if k in a)
                 or a.get("skipped", "")))
    sc = res.get("cache", {"skipped": "not run"})
    rows.append((f"sample cache, mnist-unet pair, N = {sc.get('n', '?')}: cold → warm",
                 f"{sc['cold_s']:.1f} s → {min(sc['warm_s']):.2f} s" if "cold_s" in sc else "skipped",
                 f"warm with exact OT {min(sc['warm_with_ot_s']):.2f} s; target warm ≤ 1 s; {sc['cache_mb']} MB on disk"
                 if "cold_s" in sc else sc["skipped"]))
    c = res["torchcfm"]
    if "skipped" in c:
        rows.append(("torchcfm 1.0.7 side by side", "skipped", c["skipped"]))
    else:
        ratio = c["ours_steps_per_s"] / c["steps_per_s"]
        per_flop = ratio * res["presets"][0]["step_flops"] / c["flops_per_step"]
        rows.append(("torchcfm 1.0.7 teacher, chessboard4d, batch 512",
                     f"{c['steps_per_s']:.1f} steps/s",
                     f"MLP width {c['width']}, {c['params']:,} params (ours {res['ours_params']:,})"))
        rows.append(("dmdviz / torchcfm teacher steps/s", f"{ratio:.2f}×",
                     f"same run: ours {c['ours_steps_per_s']:.1f} steps/s; per FLOP {per_flop:.2f}×"))
    m = res["machine"]
    head = (f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, {m['threads']} torch threads, AMX {m['amx']}), "
            f"torch {m['torch']}. Load average before: {m['load_before']}; after: {m['load_after']}. "
            f"Total {res['seconds']:.0f} s.\n\n")
    scaling = ""
    if "rows" in res.get("scaling", {}):
        from benchmarks import bench_scaling

        scaling = "\nAnalysis cost against N and D (`benchmarks/bench_scaling.py`):\n\n" + bench_scaling.markdown(res["scaling"])
    return (head + goals(res) + "\n| measurement | value | notes |\n|---|---|---|\n"
            + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows) + scaling)


README = HERE.parent / "README.md"
MARKS = ("<!-- bench:start -->", "<!-- bench:end -->")


def write_readme(table: str, readme: Path = README) -> None:
    """Replace the README's text between the bench markers with ``table``."""
    text = readme.read_text()
    start, end = text.index(MARKS[0]) + len(MARKS[0]), text.index(MARKS[1])
    readme.write_text(text[:start] + "\n" + table + text[end:])


def main() -> None:
    ap = argparse.ArgumentParser(description="dmdviz speed benchmarks")
    ap.add_argument("--quick", action="store_true", help="tiny step counts (smoke run; numbers not meaningful)")
    ap.add_argument("--out", default=str(HERE), help="folder for results.json and results.md")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md between the bench markers")
    args = ap.parse_args()
    t0, load_before = time.perf_counter(), loadavg()
    rt = Runtime.create("cpu")
    note = _mnist_note()
    res = bench_train.run(rt, mnist=not note, quick=args.quick)
    res["mnist_note"] = note
    res["ours_params"] = sum(p.numel() for p in bench_train.build_net(
        bench_train.get_preset("chessboard4d").net).parameters())
    threads = torch.get_num_threads()
    res["analysis"] = _analysis(threads)
    res["cache"] = _cache(threads, args.quick)
    res["quality"] = _guarded("bench_quality", lambda: _quality(threads, args.quick))
    res["load"] = _guarded("bench_load", lambda: _load(args.quick))
    res["app"] = _guarded("bench_app", lambda: _first_paint(args.quick))
    res["scaling"] = _guarded("bench_scaling", lambda: _scaling(threads, args.quick))
    res["intervals"] = _guarded("bench_intervals", lambda: _intervals(args.quick))
    res["large"] = _guarded("bench_intervals (large N)", lambda: _large(args.quick))
    res["sampling"] = _guarded("bench_sampling", lambda: _sampling(args.quick))
    res["threads"] = _guarded("bench_threads", lambda: _threads(args.quick))
    res["cold"] = _guarded("bench_cold", lambda: _cold(args.quick))
    res["machine"] = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": _cpu_name(),
                      "cores": os.cpu_count(), "threads": threads, "amx": torch.cpu._is_amx_tile_supported(),
                      "torch": torch.__version__, "load_before": load_before, "load_after": loadavg()}
    res["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / "results.md").write_text(markdown(res))
    if args.readme:
        write_readme(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
