"""What fraction of the machine's fp32 matrix-product peak Φ_K/G sampling reaches.

For the shipped MNIST pairs (the MLP and the UNet): the FLOPs of one seed's samples (Φ_1,
Φ_8, Φ_32 and G: 41 teacher steps and one student forward), counted once with
``torch.utils.flop_counter.FlopCounterMode`` on one batch (no hand counts); the rate in seeds
per second of ``analysis.sample`` without a cache; the fp32 peak of a 1024² product measured
in the same run at each thread count (``bench_train.gemm_peak``). Achieved FLOP/s ÷ peak is the figure. The lever
tried: the batch (``chunk``) the samples are computed in, 250 (today) against 100 and 1,000,
and one thread against all. The load average is recorded beside every figure.

    python -m benchmarks.bench_sampling [--n 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.bench_app import loadavg
from benchmarks.bench_train import gemm_peak
from dmdviz.analysis.samples import DRILL_KS, sample
from dmdviz.checkpoint import load_checkpoint
from dmdviz.core import noise
from dmdviz.models import open_pair

PAIRS = {"mnist-mlp": ("mnist/teacher-8192", "mnist/student-8192"),
         "mnist-unet": ("mnist-unet/teacher-8192", "mnist-unet/student-8192")}


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


def rate(pair, n: int, chunk: int) -> float:
    """Seeds per second of ``sample`` (no cache) of the first ``n`` seeds in batches of ``chunk``."""
    t0 = time.perf_counter()
    sample(pair, n, 0, DRILL_KS, chunk=chunk)
    return n / (time.perf_counter() - t0)


def run(n: int = 200, pairs=tuple(PAIRS), chunks=(100, 250, 1000)) -> dict:
    cores = torch.get_num_threads()
    out = {"threads": cores, "load_before": loadavg(), "rows": []}
    out["peak_fp32_gflops"] = {}
    for threads in sorted({1, cores}):  # the peak at each thread count the rows use
        torch.set_num_threads(threads)
        out["peak_fp32_gflops"][threads] = round(gemm_peak(torch.float32, seconds=1.0), 1)
    torch.set_num_threads(cores)
    for name in pairs:
        pair = open_pair(*(load_checkpoint(ref) for ref in PAIRS[name]))
        flops = seed_flops(pair)
        sample(pair, min(n, 50), 0, (1,), chunk=50)  # warm-up: the allocator and thread pool
        for threads in sorted({1, cores}):
            torch.set_num_threads(threads)
            for chunk in chunks if threads == cores else (250,):
                row = {"pair": name, "threads": threads, "chunk": chunk, "load": loadavg()}
                seeds_s = rate(pair, n, chunk)
                row.update(seeds_per_s=round(seeds_s, 1), gflop_per_seed=round(flops / 1e9, 3),
                           gflops=round(seeds_s * flops / 1e9, 1),
                           share_of_peak=round(seeds_s * flops / 1e9 / out["peak_fp32_gflops"][threads], 3))
                print(json.dumps(row), file=sys.stderr, flush=True)
                out["rows"].append(row)
        torch.set_num_threads(cores)
    out["load_after"] = loadavg()
    return out


def markdown(res: dict) -> str:
    lines = ["| pair | threads | batch | seeds/s | GFLOP/s | share of fp32 peak | load average |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['pair']} | {r['threads']} | {r['chunk']} | {r['seeds_per_s']} | {r['gflops']} | "
              f"{100 * r['share_of_peak']:.0f} % | {r['load']} |" for r in res["rows"]]
    peaks = ", ".join(f"{v} GFLOP/s on {k} thread(s)" for k, v in res["peak_fp32_gflops"].items())
    return "\n".join(lines) + f"\n\nfp32 peak (1024² product, same run): {peaks}; " \
        f"load average before {res['load_before']}, after {res['load_after']}.\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--pairs", default=",".join(PAIRS))
    ap.add_argument("--json")
    args = ap.parse_args()
    res = run(args.n, tuple(args.pairs.split(",")))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))


if __name__ == "__main__":
    main()
