"""Full analysis of an MNIST-size pair at N = 2000 seeds (spec §4, §5), timed per stage.

A random-weight teacher and student (the ``mnist-mlp`` preset's MLP, 3x256 at the time of writing, or the
``mnist`` preset's 16/32/32 UNet) are written to a temp dir and loaded like any
checkpoint; the output layers get small random weights so samples are not just z. The
stages: sampling Φ_1, Φ_8, Φ_32 and G; pairing metrics (two exact OT solves); PCA;
training-set metrics (memorization, boundary, sample quality on real MNIST when
available); building every figure of the report.

    python benchmarks/bench_analysis.py [--net mlp|unet] [--n 2000] [--threads 2] [--bf16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from dmdviz import checkpoint
from dmdviz.analysis import study
from dmdviz.config import get_preset


def _random_pair(folder: Path, net_kind: str) -> tuple[checkpoint.Checkpoint, checkpoint.Checkpoint]:
    p = get_preset("mnist-mlp" if net_kind == "mlp" else "mnist")
    torch.manual_seed(0)
    teacher = checkpoint.build_model(checkpoint.make_config("teacher", p.data, p.net, {"step": 0}))
    for prm in teacher.parameters():
        if prm.dim() > 1 and not prm.abs().sum():  # zero-initialised output layers
            torch.nn.init.normal_(prm, std=0.02)
    checkpoint.save_checkpoint(folder / "teacher", teacher, checkpoint.make_config("teacher", p.data, p.net, {"step": 0}))
    student = checkpoint.build_model(checkpoint.make_config("student", p.data, p.net, {}, (str(folder / "teacher"), "")))
    student.net.load_state_dict(teacher.state_dict())
    with torch.no_grad():
        for prm in student.parameters():
            prm.add_(0.01 * torch.randn_like(prm))
    checkpoint.save_checkpoint(folder / "student", student,
                        checkpoint.make_config("student", p.data, p.net, {"step": 0}, (str(folder / "teacher"), "")))
    return checkpoint.load_checkpoint(str(folder / "teacher")), checkpoint.load_checkpoint(str(folder / "student"))


def run(net: str = "mlp", n: int = 2000, threads: int = 2, bf16: bool = False) -> dict:
    """Seconds per stage of the full analysis, and their total."""
    from dmdviz.experiments.report import figures

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        teacher, student = _random_pair(Path(tmp), net)
        t = {"start": time.perf_counter()}
        st = study(teacher, student, n, 8, bf16=bf16)  # MNIST: $DMDVIZ_DATA_DIR, else the repo's data/mnist
        t["sample"] = time.perf_counter()
        st.pair.pairing
        t["pairing_ot"] = time.perf_counter()
        st.pair.pca()
        t["pca"] = time.perf_counter()
        st.pair.intervals
        t["intervals"] = time.perf_counter()
        summary = st.summary
        t["train_set_metrics"] = time.perf_counter()
        figs = figures(st)
        t["figures"] = time.perf_counter()
    stages = list(t)
    out = {name: round(t[name] - t[prev], 3) for prev, name in zip(stages, stages[1:])}
    out.update(total=round(t["figures"] - t["start"], 3), net=net, n=n, threads=threads, bf16=bf16,
               n_figures=len(figs), train_set=summary.get("memorization_median") is not None)
    return out


COLUMNS = ("net", "n", "threads", "bf16", "sample", "pairing_ot", "pca", "intervals", "train_set_metrics", "figures",
           "total")


def markdown_row(r: dict) -> str:
    return "| " + " | ".join(str(r[c]) for c in COLUMNS) + " |"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", choices=["mlp", "unet"], default="mlp")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    print(markdown_row(run(a.net, a.n, a.threads, a.bf16)))
