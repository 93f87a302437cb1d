"""``python -m benchmarks [--quick]``: every speed number of dmdviz in one run (~3 min).

Threads: $DMDVIZ_THREADS, else all cores. The machine's load (``/proc/loadavg``) before and
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
import time
from pathlib import Path

import torch

from benchmarks import bench_train
from dmdviz.data import mnist_folder
from dmdviz.errors import DmdvizError
from dmdviz.runtime import Runtime

HERE = Path(__file__).resolve().parent


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


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
                 ", ".join(f"{k} {a[k]} s" for k in ("sample", "pairing_ot", "pca", "train_set_metrics", "figures") if k in a)
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
    return (head + "| measurement | value | notes |\n|---|---|---|\n"
            + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows))


def main() -> None:
    ap = argparse.ArgumentParser(description="dmdviz speed benchmarks")
    ap.add_argument("--quick", action="store_true", help="tiny step counts (smoke run; numbers not meaningful)")
    ap.add_argument("--out", default=str(HERE), help="folder for results.json and results.md")
    args = ap.parse_args()
    t0, load_before = time.perf_counter(), _loadavg()
    rt = Runtime.create("cpu")
    note = _mnist_note()
    res = bench_train.run(rt, mnist=not note, quick=args.quick)
    res["mnist_note"] = note
    res["ours_params"] = sum(p.numel() for p in bench_train.build_net(
        bench_train.get_preset("chessboard4d").net).parameters())
    threads = torch.get_num_threads()
    res["analysis"] = _analysis(threads)
    res["cache"] = _cache(threads, args.quick)
    res["machine"] = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": _cpu_name(),
                      "cores": os.cpu_count(), "threads": threads, "amx": torch.cpu._is_amx_tile_supported(),
                      "torch": torch.__version__, "load_before": load_before, "load_after": _loadavg()}
    res["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / "results.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
