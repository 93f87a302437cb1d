"""What fraction of the machine's fp32 matrix-product peak Φ_K/G sampling reaches, and what bf16 costs.

For the shipped MNIST pairs (the MLP and the UNet): the FLOPs of one seed's samples (Φ_1,
Φ_8, Φ_32 and G: 41 teacher steps and one student forward), counted once with
``torch.utils.flop_counter.FlopCounterMode`` on one batch (no hand counts); the rate in seeds
per second of ``analysis.sample`` without a cache; the fp32 peak of a 1024² product measured
in the same run at each thread count (``bench_train.gemm_peak``). Achieved FLOP/s ÷ fp32 peak
is the figure (the bf16 product's peak, through the CPU's AMX tiles where it has them, is
recorded beside it: a bf16 row's share of *that* peak is far lower).

Levers, each a row: the batch (``chunk``) 100 / 250 (today) / 1,000; one thread against all;
bf16 autocast (``sample(..., bf16=True)``: the app's ``DMDVIZ_BF16=1``, the command line's
``--bf16``); channels-last weights (UNet); ``--compile``: ``torch.compile`` of the teacher's
net, its compile time beside its rate. bf16's error is measured, not assumed: at
``--error-n`` seeds (default 500, the app's default N) Φ_K and G against fp32 (max and median
|Δ|) and every pairing metric against fp32, with fp32's bootstrap half-width beside it. The
load average is recorded beside every figure.

    python -m benchmarks.bench_sampling [--n 200] [--error-n 500] [--compile] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from unittest import mock

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.bench_app import loadavg
from benchmarks.bench_train import gemm_peak
from dmdviz.analysis.pairing import PairAnalysis
from dmdviz.analysis.samples import DRILL_KS, sample
from dmdviz.checkpoint import load_checkpoint
from dmdviz.core import nets, noise
from dmdviz.models import open_pair

PAIRS = {"mnist-mlp": ("mnist/teacher-8192", "mnist/student-8192"),
         "mnist-unet": ("mnist-unet/teacher-8192", "mnist-unet/student-8192")}
METRICS = ("ot_agreement", "ot_agreement_init", "copy_ratio", "nn_agreement", "diag_contrast", "resolution")


def seed_flops(pair, batch: int = 16) -> float:
    """FLOPs of one seed's Φ_K for every K of ``DRILL_KS`` and G (one Euler step counted and
    multiplied: every step runs the same network on the same shapes)."""
    t, g = pair.teacher, pair.student
    z, y = noise.seeded(0, batch, t.shape, t.n_classes, 0)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as step:
            t.phi(z, 1, y)
        with FlopCounterMode(display=False) as student:
            g(z, y)
    return (sum(DRILL_KS) * step.get_total_flops() + student.get_total_flops()) / batch


def rate(pair, n: int, chunk: int, bf16: bool = False) -> float:
    """Seeds per second of ``sample`` (no cache) of the first ``n`` seeds in batches of ``chunk``."""
    t0 = time.perf_counter()
    sample(pair, n, 0, DRILL_KS, chunk=chunk, bf16=bf16)
    return n / (time.perf_counter() - t0)


def _row(name, pair, flops, peaks, n, threads, chunk, precision, layout="contiguous", seeds_s=None) -> dict:
    torch.set_num_threads(threads)
    row = {"pair": name, "threads": threads, "chunk": chunk, "precision": precision, "layout": layout, "load": loadavg()}
    seeds_s = seeds_s or rate(pair, n, chunk, precision == "bf16-autocast")
    row.update(seeds_per_s=round(seeds_s, 1), gflop_per_seed=round(flops / 1e9, 3),
               gflops=round(seeds_s * flops / 1e9, 1),
               share_of_peak=round(seeds_s * flops / 1e9 / peaks[threads], 3))
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def _layout(pair, fmt) -> None:
    for m in (pair.teacher.model, pair.student.model):
        m.to(memory_format=fmt)


def lever_rows(name: str, pair, n: int, peaks: dict, cores: int, chunks) -> list[dict]:
    """fp32 at every batch (all cores) and batch 250 (1 thread), then bf16 autocast, then (for
    the UNet) channels-last weights: one row each."""
    flops = seed_flops(pair)
    sample(pair, min(n, 50), 0, (1,), chunk=50)  # warm-up: the allocator and thread pool
    rows = [_row(name, pair, flops, peaks, n, 1, 250, "fp32")]
    if "unet" in name:  # the UNet as it sampled before its in-place SiLUs and adds (same bits), same run
        with mock.patch.object(nets, "_silu", nn.functional.silu), mock.patch.object(nets, "_add", torch.add):
            rows.append(_row(name, pair, flops, peaks, n, 1, 250, "fp32", "out of place (before)"))
    rows += [_row(name, pair, flops, peaks, n, cores, c, "fp32") for c in chunks if cores > 1]
    rows += [_row(name, pair, flops, peaks, n, 1, c, "bf16-autocast") for c in (128, 250)]
    rows += [_row(name, pair, flops, peaks, n, cores, 250, "bf16-autocast")] if cores > 1 else []
    if "unet" in name:
        _layout(pair, torch.channels_last)
        rows += [_row(name, pair, flops, peaks, n, 1, 250, p, "channels_last") for p in ("fp32", "bf16-autocast")]
        _layout(pair, torch.contiguous_format)
    torch.set_num_threads(cores)
    return rows


def compile_rows(name: str, pair, n: int, peaks: dict, cores: int) -> list[dict]:
    """``torch.compile`` (inductor) of the teacher's net, 1 thread: the first call's extra time
    (compiling, a cold inductor cache unless one is on disk) and the steady rate after it."""
    flops, model, rows = seed_flops(pair), pair.teacher.model, []
    for precision in ("fp32", "bf16-autocast"):
        torch._dynamo.reset()
        pair.teacher.model = torch.compile(model, dynamic=False)
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        rate(pair, n, 250, precision != "fp32")  # compiles (for the batch shapes the row runs)
        first = time.perf_counter() - t0
        row = _row(name, pair, flops, peaks, n, 1, 250, precision, "torch.compile")
        row["compile_s"] = round(first - n / row["seeds_per_s"], 1)
        rows.append(row)
    pair.teacher.model = model
    torch.set_num_threads(cores)
    return rows


def bf16_error(name: str, pair, n: int) -> dict:
    """bf16 autocast against fp32 at ``n`` seeds: |Δ| of each sample set and of each metric."""
    t0 = time.perf_counter()
    ref = sample(pair, n, 0, DRILL_KS)
    t1 = time.perf_counter()
    low = sample(pair, n, 0, DRILL_KS, bf16=True)
    t2 = time.perf_counter()
    out = {"pair": name, "n": n, "fp32_s": round(t1 - t0, 1), "bf16_s": round(t2 - t1, 1), "load": loadavg()}
    sets = {**{f"phi_{k}": (ref.phi[k], low.phi[k]) for k in DRILL_KS}, "g": (ref.g, low.g)}
    for key, (a, b) in sets.items():
        d = (b - a).abs()
        out[key] = {"max": round(d.max().item(), 4), "median": round(d.median().item(), 5),
                    "share_over_0.1": round((d.flatten(1).amax(1) > 0.1).float().mean().item(), 4)}
    pa, pb = PairAnalysis(ref, 8), PairAnalysis(low, 8)
    half = {key: (v[1] - v[0]) / 2 for key, v in pa.intervals.items() if key in METRICS and isinstance(v, (list, tuple))}
    out["metrics"] = {key: {"fp32": round(pa.pairing[key], 4), "bf16": round(pb.pairing[key], 4),
                            "delta": round(pb.pairing[key] - pa.pairing[key], 4),
                            "fp32_half_width": round(half[key], 4) if key in half else None} for key in METRICS}
    print(json.dumps(out), file=sys.stderr, flush=True)
    return out


def run(n: int = 200, pairs=tuple(PAIRS), chunks=(100, 250, 1000), error_n: int = 500,
        compiled: bool = False) -> dict:
    cores = torch.get_num_threads()
    out = {"threads": cores, "load_before": loadavg(), "rows": [], "bf16_error": []}
    out["peak_fp32_gflops"], out["peak_bf16_gflops"] = {}, {}
    for threads in sorted({1, cores}):  # the peak at each thread count the rows use
        torch.set_num_threads(threads)
        out["peak_fp32_gflops"][threads] = round(gemm_peak(torch.float32, seconds=1.0), 1)
        out["peak_bf16_gflops"][threads] = round(gemm_peak(torch.bfloat16, seconds=1.0), 1)
    torch.set_num_threads(cores)
    for name in pairs:
        pair = open_pair(*(load_checkpoint(ref) for ref in PAIRS[name]))
        out["rows"] += lever_rows(name, pair, n, out["peak_fp32_gflops"], cores, chunks)
        if compiled and "unet" in name:
            out["rows"] += compile_rows(name, pair, n, out["peak_fp32_gflops"], cores)
        if error_n:
            torch.set_num_threads(1)  # the check's own times beside the one-thread rows
            out["bf16_error"].append(bf16_error(name, pair, error_n))
            torch.set_num_threads(cores)
    out["load_after"] = loadavg()
    return out


def markdown(res: dict) -> str:
    lines = ["| pair | threads | batch | precision | layout | seeds/s | GFLOP/s | share of fp32 peak | load average |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['pair']} | {r['threads']} | {r['chunk']} | {r.get('precision', 'fp32')} | {r.get('layout', '')}"
              f"{' (compile ' + str(r['compile_s']) + ' s)' if 'compile_s' in r else ''} | {r['seeds_per_s']} | "
              f"{r['gflops']} | {100 * r['share_of_peak']:.0f} % | {r['load']} |" for r in res["rows"]]
    peaks = ", ".join(f"{v} GFLOP/s on {k} thread(s)" for k, v in res["peak_fp32_gflops"].items())
    bf = ", ".join(f"{v} on {k}" for k, v in res.get("peak_bf16_gflops", {}).items())
    text = "\n".join(lines) + f"\n\nfp32 peak (1024² product, same run): {peaks}; bf16 peak {bf}; " \
        f"load average before {res['load_before']}, after {res['load_after']}.\n"
    for e in res.get("bf16_error", []):
        text += (f"\nbf16 autocast against fp32, {e['pair']}, N = {e['n']} (fp32 {e['fp32_s']} s, bf16 {e['bf16_s']} s, "
                 f"load {e['load']}):\n\n| set | max abs Δ | median abs Δ | share of seeds with a pixel off by > 0.1 |\n"
                 "|---|---|---|---|\n")
        text += "".join(f"| {key} | {e[key]['max']} | {e[key]['median']} | {e[key]['share_over_0.1']} |\n"
                        for key in ("phi_1", "phi_8", "phi_32", "g"))
        text += "\n| metric | fp32 | bf16 | Δ | fp32 interval half-width |\n|---|---|---|---|---|\n"
        text += "".join(f"| {key} | {m['fp32']} | {m['bf16']} | {m['delta']} | {m['fp32_half_width']} |\n"
                        for key, m in e["metrics"].items())
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--pairs", default=",".join(PAIRS))
    ap.add_argument("--chunks", default="100,250,1000", help="batches tried with all cores (fp32)")
    ap.add_argument("--error-n", type=int, default=500, help="seeds of the bf16 error check (0: none)")
    ap.add_argument("--compile", action="store_true", help="also torch.compile the UNet teacher (minutes)")
    ap.add_argument("--json")
    args = ap.parse_args()
    res = run(args.n, tuple(args.pairs.split(",")), tuple(int(c) for c in args.chunks.split(",")), args.error_n,
              args.compile)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))


if __name__ == "__main__":
    main()
