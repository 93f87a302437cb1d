"""Cold vs warm analysis through the on-disk sample cache (issue 12, goal 2).

The shipped MNIST UNet pair (``mnist-unet/teacher-8192`` -> ``mnist-unet/student-8192``)
at N seeds through the app's registry with every set the per-seed view reads (``Registry.analysis_of(drill=True)``:
Φ_1, Φ_8, Φ_32 and G; the app itself now samples Φ_32 only for the seeds it shows):

    cold        an empty cache: every set sampled, then written
    warm        a fresh Registry (a restarted app: nothing in memory) over the same cache
    warm+OT     warm plus the pairing metrics (two exact OT solves of N x N costs)

    python -m benchmarks.bench_cache [--n 2000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

PAIR = ("mnist-unet/student-8192", "mnist-unet/teacher-8192")


def run(n: int = 2000, threads: int = 2, repeats: int = 3) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"DMDVIZ_CACHE_DIR": tmp, "DMDVIZ_APP_THREADS": str(threads), "DMDVIZ_MAX_SEEDS": str(max(n, 2)),
               "DMDVIZ_SHIPPED_SAMPLES": "off"}  # cold means sampled: not read from checkpoints/samples
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return _measure(n, threads, repeats, Path(tmp))
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _measure(n: int, threads: int, repeats: int, tmp: Path) -> dict:
    from dmdviz.web.registry import Registry

    reg = Registry()
    torch.set_num_threads(threads)
    reg.pair(*PAIR)  # checkpoint loading is not what is measured
    t0 = time.perf_counter()
    reg.analysis_of(reg.pair(*PAIR), n, 0, 8, drill=True)
    cold = time.perf_counter() - t0
    warm, warm_ot = [], []
    for _ in range(repeats):
        fresh = Registry()  # a restarted app: nothing in memory, the same disk cache
        fresh.pair(*PAIR)
        t0 = time.perf_counter()
        pa = fresh.analysis_of(fresh.pair(*PAIR), n, 0, 8, drill=True)
        warm.append(time.perf_counter() - t0)
        pa.pairing
        warm_ot.append(time.perf_counter() - t0)
    size = sum(f.stat().st_size for f in tmp.rglob("*.safetensors"))
    return {"pair": " -> ".join(reversed(PAIR)), "n": n, "threads": threads, "cold_s": round(cold, 2),
            "warm_s": [round(w, 3) for w in warm], "warm_with_ot_s": [round(w, 3) for w in warm_ot],
            "cache_mb": round(size / 2**20, 1)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(json.dumps(run(args.n, args.threads), indent=2))
