"""Time to a good teacher: dmdviz's chessboard4d recipe against torchcfm's ConditionalFlowMatcher.

Both sides train the same network (the preset's MLP, Fourier features included) at the same
batch on the same data, interleaved round by round in one process. dmdviz runs its preset
(``train_teacher``: warm-up and cosine schedule, gradient clipping, EMA) with a snapshot every
``check_every`` steps; torchcfm runs the loop of its README (``ConditionalFlowMatcher(sigma=0)``,
Adam at a constant learning rate, no EMA) on the same net and is checked every ``check_every``
steps, its clock paused while it is checked, up to ``cap`` steps. The quality is the share of
Φ_8 samples (``n_eval`` shared seeds) on the black squares with the extra coordinates near 0
(``Dataset.support``); the answer is the first check at or above ``target``: its step and its
training seconds.

    python -m benchmarks.bench_quality [--rounds 2] [--cap 8000] [--check-every 250]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from dmdviz import checkpoint
from dmdviz.config import get_preset
from dmdviz.core import flow, noise
from dmdviz.core.nets import build_net
from dmdviz.data import get_dataset
from dmdviz.files import read_metrics
from dmdviz.training import train_teacher
from dmdviz.training.runtime import Runtime

PRESET = "chessboard4d"


def on_board(model, n: int, k: int = 8) -> float:
    """Share of Φ_k(z_i), i < n (seed 0), on the board's black squares and near its plane."""
    p = get_preset(PRESET)
    z, _ = noise.seeded(0, n, tuple(p.net.shape), 0)
    with torch.no_grad():
        return get_dataset(p.data).support(flow.euler(model.eval(), z, k))["on_support"]


def _first(checks: list[dict], target: float) -> dict | None:
    return next((c for c in checks if c["on_board"] >= target), None)


def ours(steps: int, check_every: int, n_eval: int, target: float, root: Path, rt: Runtime) -> dict:
    """The preset's teacher run; every ``check_every`` steps its EMA snapshot is scored afterwards."""
    p = get_preset(PRESET)
    marks = tuple(range(check_every, steps, check_every))
    cfg = replace(p.teacher, steps=steps, snapshots=marks, log_every=check_every)
    t0 = time.perf_counter()
    train_teacher(p.data, p.net, cfg, root, rt=rt, state_every=10**9)
    total = time.perf_counter() - t0
    wall = {r["step"]: r["wall"] for r in read_metrics(root)}
    checks = [{"step": s, "seconds": round(wall[s], 2),
               "on_board": on_board(checkpoint.load_folder(root / "snapshots" / f"step-{s:06d}").model, n_eval)} for s in marks]
    checks.append({"step": steps, "seconds": round(wall[steps], 2), "on_board": on_board(checkpoint.load_folder(root).model, n_eval)})
    return {"checks": checks, "reached": _first(checks, target), "run_s": round(total, 2)}


def theirs(lr: float, cap: int, check_every: int, n_eval: int, target: float) -> dict:
    """torchcfm's README loop on the preset's net; stops at the first check at or above ``target``."""
    from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

    p = get_preset(PRESET)
    torch.manual_seed(0)
    model = build_net(p.net)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    cfm = ConditionalFlowMatcher(sigma=0.0)
    ds, gen = get_dataset(p.data), torch.Generator().manual_seed(0)
    checks, seconds = [], 0.0
    for step in range(1, cap + 1):
        t0 = time.perf_counter()
        x1 = ds.sample(p.teacher.batch, gen)[0]
        x0 = torch.randn_like(x1)
        t, xt, ut = cfm.sample_location_and_conditional_flow(x0, x1)
        loss = (model.train()(xt, t) - ut).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        seconds += time.perf_counter() - t0
        if step % check_every == 0 or step == cap:
            checks.append({"step": step, "seconds": round(seconds, 2), "on_board": on_board(model, n_eval)})
            if checks[-1]["on_board"] >= target:
                break
    return {"lr": lr, "checks": checks, "reached": _first(checks, target)}


def end_to_end(root: Path, threads: int | None = None, n_eval: int = 2000) -> dict:
    """The preset from the command line as a user runs it, timed by the wall clock (imports
    included): ``train-teacher`` then ``distill``, each a fresh process, and the pair in one
    command (``train-teacher --student``: torch's start-up paid once); the teacher's Φ_8 share."""
    import subprocess
    import sys

    extra = ["--threads", str(threads)] if threads else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    times = {}
    for stage, args in (("teacher_s", ["train-teacher", "--preset", PRESET, "--out", str(root / "teacher")]),
                        ("student_s", ["distill", "--teacher", str(root / "teacher"), "--out", str(root / "student")]),
                        ("pair_s", ["train-teacher", "--preset", PRESET, "--out", str(root / "pair" / "teacher"),
                                    "--student", str(root / "pair" / "student")])):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dmdviz", *args, *extra], check=True, env=env, capture_output=True)
        times[stage] = round(time.perf_counter() - t0, 2)
    return {**times, "total_s": round(times["teacher_s"] + times["student_s"], 2),
            "on_board": on_board(checkpoint.load_folder(root / "teacher").model, n_eval),
            "pair_on_board": on_board(checkpoint.load_folder(root / "pair" / "teacher").model, n_eval)}


def train_tab(root: Path, timeout: float = 900.0, teacher_steps: int = 0, student_steps: int = 0) -> dict:
    """The same preset as the Train tab starts it: a background job with the tab's defaults
    (the preset's recipe) in a runs root of its own, timed from ``jobs.start`` until its
    status reads done (the worker's threads: ``Limits.job_threads``, $DMDVIZ_JOB_THREADS)."""
    from dmdviz.experiments import jobs
    from dmdviz.limits import Limits

    p = get_preset(PRESET)
    spec = jobs.JobSpec(PRESET, teacher_steps=teacher_steps or p.teacher.steps, student_steps=student_steps or p.distill.steps,
                        ratio=p.distill.ratio)
    t0 = time.perf_counter()
    name = jobs.start(spec, "bench", root)
    while (state := jobs.state(root / name)[0]) in jobs.ACTIVE and time.perf_counter() - t0 < timeout:
        time.sleep(0.25)
    wall = time.perf_counter() - t0
    if state != "done":
        return {"skipped": f"the Train tab's job ended {state} after {wall:.0f} s"}
    return {"train_tab_s": round(wall, 2), "threads": Limits.from_env().job_threads, "on_board": on_board(checkpoint.load_folder(root / name / "teacher").model, 2000)}


def run(rounds: int = 2, cap: int = 8000, check_every: int = 250, n_eval: int = 2000, target: float = 0.90,
        steps: int | None = None, threads: int | None = None) -> dict:
    """``rounds`` interleaved rounds: ours, then torchcfm at our learning rate and at 1e-3 (its
    examples' Adam default). Each side's figure is its fastest round (least disturbed by the
    machine's other load); every round is kept."""
    rt = Runtime.create("cpu", threads=threads)
    p = get_preset(PRESET)
    steps = steps or p.teacher.steps
    lrs = sorted({p.teacher.lr, 1e-3}, reverse=True)
    load_before = os.getloadavg()
    res = {"ours": [], "theirs": {str(lr): [] for lr in lrs}}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            res["ours"].append(ours(steps, check_every, n_eval, target, Path(tmp) / f"ours-{r}", rt))
            for lr in lrs:
                res["theirs"][str(lr)].append(theirs(lr, cap, check_every, n_eval, target))
    best = lambda runs: min((x["reached"] for x in runs if x["reached"]), key=lambda c: c["seconds"], default=None)  # noqa: E731
    res["ours_best"] = best(res["ours"])
    res["theirs_best"] = best([x for runs in res["theirs"].values() for x in runs])
    if res["ours_best"] and res["theirs_best"]:
        res["speedup"] = round(res["theirs_best"]["seconds"] / res["ours_best"]["seconds"], 2)
    res.update(target=target, cap=cap, check_every=check_every, n_eval=n_eval, threads=torch.get_num_threads(),
               load_before=[round(x, 2) for x in load_before], load_after=[round(x, 2) for x in os.getloadavg()])
    return res


def summary(res: dict) -> str:
    """One line per side: steps and seconds to the target, or the best share reached."""
    def side(name, runs):
        hit = min((x["reached"] for x in runs if x["reached"]), key=lambda c: c["seconds"], default=None)
        if hit:
            return f"{name}: {hit['step']} steps, {hit['seconds']:.1f} s to {res['target']:.2f}"
        top = max(c["on_board"] for x in runs for c in x["checks"])
        return f"{name}: not reached (best {top:.3f})"
    lines = [side("dmdviz", res["ours"])] + [side(f"torchcfm lr {lr}", runs) for lr, runs in res["theirs"].items()]
    if "speedup" in res:
        lines.append(f"dmdviz {res['speedup']:.2f}x faster to the target (target >= 2x)")
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cap", type=int, default=8000, help="most torchcfm steps per run")
    ap.add_argument("--check-every", type=int, default=250)
    ap.add_argument("--n-eval", type=int, default=2000, help="seeds per quality check")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", help="write the full result here")
    args = ap.parse_args()
    out = run(args.rounds, args.cap, args.check_every, args.n_eval, threads=args.threads)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    print(summary(out))
