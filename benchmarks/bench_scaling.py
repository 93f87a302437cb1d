"""How an analysis's cost grows with the number of seeds N and the dimension D.

For each D a random-weight MLP teacher and student of the presets' shape (3x256, an R^D
vector model; 784 is MNIST's size) are saved and loaded like any checkpoint, then for each
N the four stages a visitor waits on are timed separately:

- sampling: Φ_1, Φ_8, Φ_32 and G on N seeds (``analysis.sample_pair``, no disk cache);
- exact OT: the cost matrices and the pair's two exact assignments, G's and Φ_1's
  (``PairAnalysis.assignment``: solved side by side);
- intervals: the bootstrap intervals over seeds (``PairAnalysis.intervals``: 200 resamples,
  50 of them re-solving the transport);
- figures: the Explore view's figures (panels, PCA triplets, cost heatmap, distances)
  built and serialised to JSON as Gradio sends them.

Each stage's exponent b of t ≈ a N^b is fitted by least squares on log t over the largest
three N (the smallest is dominated by fixed costs), and used to estimate N = 10,000.

    python -m benchmarks.bench_scaling [--ns 500,1000,2000,5000] [--dims 4,64,784] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dmdviz import analysis, checkpoint, plots
from dmdviz.config import DataConfig, NetConfig

STAGES = ("sample", "ot", "intervals", "figures")


def _random_pair(folder: Path, dim: int):
    data, net = DataConfig("chessboard", dim=dim), NetConfig(kind="mlp", shape=(dim,), hidden=256, depth=3)
    torch.manual_seed(dim)
    teacher = checkpoint.build_model(checkpoint.make_config("teacher", data, net, {"step": 0}))
    for prm in teacher.parameters():
        if prm.dim() > 1 and not prm.abs().sum():  # zero-initialised output layers: give the samples some shape
            torch.nn.init.normal_(prm, std=0.05)
    checkpoint.save_checkpoint(folder / "teacher", teacher, checkpoint.make_config("teacher", data, net, {"step": 0}))
    student_cfg = checkpoint.make_config("student", data, net, {"step": 0}, (str(folder / "teacher"), ""))
    student = checkpoint.build_model(student_cfg)
    student.net.load_state_dict(teacher.state_dict())
    with torch.no_grad():
        for prm in student.parameters():
            prm.add_(0.02 * torch.randn_like(prm))
    checkpoint.save_checkpoint(folder / "student", student, student_cfg)
    return checkpoint.load_folder(folder / "teacher"), checkpoint.load_folder(folder / "student")


def _figures(pa) -> int:
    """Build the Explore figures; returns their JSON size in bytes."""
    block, sigma = pa.cost_block(100)
    figs = [plots.low_dim_panels(pa.panels(), pa.seeds), plots.pca_triplets(pa.pca(), pa.seeds),
            plots.cost_heatmap(block, sigma, pa.seeds[:len(block)]), plots.distance_scatter(*pa.distances, pa.seeds)]
    return sum(len(f.to_json()) for f in figs)


def measure(teacher, student, n: int) -> dict:
    t0 = time.perf_counter()
    samples = analysis.sample_pair(teacher, student, n, 0, (1, 8, 32))
    t1 = time.perf_counter()
    pa = analysis.PairAnalysis(samples, 8)
    pa.assignment
    t2 = time.perf_counter()
    pa.intervals
    t3 = time.perf_counter()
    size = _figures(pa)
    t4 = time.perf_counter()
    return {"n": n, "sample": round(t1 - t0, 4), "ot": round(t2 - t1, 4), "intervals": round(t3 - t2, 4),
            "figures": round(t4 - t3, 4), "figures_kb": round(size / 1024, 1)}


def fit(ns: list[int], seconds: list[float]) -> tuple[float, float]:
    """(b, a) of t = a N^b, least squares on logs."""
    b, log_a = np.polyfit(np.log(ns), np.log(seconds), 1)
    return float(b), float(math.exp(log_a))


def run(ns=(500, 1000, 2000, 5000), dims=(4, 64, 784), threads: int | None = None, estimate: int = 10_000) -> dict:
    if threads:
        torch.set_num_threads(threads)
    load_before = os.getloadavg()
    rows, fits = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for dim in dims:
            teacher, student = _random_pair(Path(tmp) / f"d{dim}", dim)
            measure(teacher, student, min(ns))  # warm-up: allocator, thread pool, first-call costs
            per = [dict(measure(teacher, student, n), dim=dim) for n in ns]
            rows += per
            tail = per[-3:] if len(per) >= 3 else per
            for stage in STAGES:
                if len(tail) >= 2:
                    b, a = fit([r["n"] for r in tail], [max(r[stage], 1e-4) for r in tail])
                    fits[f"{dim}/{stage}"] = {"exponent": round(b, 2), "estimate_s": round(a * estimate ** b, 2)}
    return {"rows": rows, "fits": fits, "estimate_n": estimate, "threads": torch.get_num_threads(),
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()]}


def markdown(res: dict) -> str:
    """One row per (D, stage): seconds at each N, the fitted exponent and the N = 10,000 estimate."""
    ns = sorted({r["n"] for r in res["rows"]})
    head = ("| D | stage | " + " | ".join(f"N = {n:,}" for n in ns) + f" | exponent | N = {res['estimate_n']:,} (est.) |\n"
            "|---|---|" + "---|" * (len(ns) + 2) + "\n")
    lines = []
    for dim in sorted({r["dim"] for r in res["rows"]}):
        by_n = {r["n"]: r for r in res["rows"] if r["dim"] == dim}
        for stage in STAGES:
            f = res["fits"].get(f"{dim}/{stage}", {})
            lines.append(f"| {dim} | {stage} | " + " | ".join(f"{by_n[n][stage]:.3g} s" for n in ns)
                         + f" | {f.get('exponent', '–')} | {f.get('estimate_s', '–')} s |")
    sizes = {r["n"]: r["figures_kb"] for r in res["rows"] if r["dim"] == min(r["dim"] for r in res["rows"])}
    note = ("\nFigures' JSON (D = %d): " % min(r["dim"] for r in res["rows"])
            + ", ".join(f"{sizes[n]:.0f} KB at N = {n:,}" for n in ns)
            + f". {res['threads']} torch thread(s); load average before {' '.join(map(str, res['load_before']))}, "
            f"after {' '.join(map(str, res['load_after']))}.\n")
    return head + "\n".join(lines) + "\n" + note


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ns", default="500,1000,2000,5000")
    ap.add_argument("--dims", default="4,64,784")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", help="write the full result here")
    a = ap.parse_args()
    out = run(tuple(int(x) for x in a.ns.split(",")), tuple(int(x) for x in a.dims.split(",")), a.threads)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    print(markdown(out))
