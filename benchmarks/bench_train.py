"""Training speed: matrix-product peak, teacher steps/s, DMD iterations/s, torchcfm side by side.

Rates are measured through the real loops (``train_teacher``, ``distill``) with timestamps
taken from their ``on_step`` callback, so data sampling, EMA, clipping and logging count;
the first logged window (warm-up: allocator, thread pool) and the final checkpoint write
do not. FLOPs per step come from ``torch.utils.flop_counter.FlopCounterMode``: one forward
F and one flow-matching step (forward + backward, ~3F) of the network at the run's batch.
A DMD iteration costs F (G without gradients) + 3F (critic step) + (3F + 2F) / ratio
(generator step: G forward + backward, teacher and critic forwards), i.e. 3 teacher steps
at ratio 1 and 5/3 at ratio 5.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from dmdviz import checkpoint
from dmdviz.config import get_preset
from dmdviz.core import flow
from dmdviz.core.nets import build_net
from dmdviz.data import get_dataset
from dmdviz.training import distill, train_teacher
from dmdviz.training.runtime import Runtime


def gemm_peak(dtype: torch.dtype, n: int = 1024, seconds: float = 1.5) -> float:
    """Sustained GFLOP/s of an (n, n) @ (n, n) product in ``dtype`` on the CPU."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def _rate(stamps: dict[int, float]) -> float:
    """Steps per second between the first and last timestamped steps."""
    steps = sorted(stamps)
    return (steps[-1] - steps[0]) / (stamps[steps[-1]] - stamps[steps[0]])


def fm_flops(net: torch.nn.Module, shape: tuple[int, ...], batch: int) -> tuple[int, int]:
    """(forward FLOPs, forward + backward FLOPs) of the velocity net at this batch."""
    x, z, t = torch.randn(batch, *shape), torch.randn(batch, *shape), torch.rand(batch)
    with FlopCounterMode(display=False) as fwd:
        with torch.no_grad():
            net(x, t)
    with FlopCounterMode(display=False) as step:
        flow.fm_loss(net, x, z, t)[0].backward()
    net.zero_grad(set_to_none=True)
    return fwd.get_total_flops(), step.get_total_flops()


def teacher_rate(preset: str, steps: int, out: Path, rt: Runtime, **train) -> float:
    """FM teacher steps/s of a preset's network and batch; the checkpoint is left in ``out``."""
    p = get_preset(preset)
    cfg = replace(p.teacher, steps=steps, snapshots=(), log_every=max(1, steps // 10), **train)
    stamps = {}
    train_teacher(p.data, p.net, cfg, out, rt=rt, state_every=10**9,
                  on_step=lambda step, rec: stamps.__setitem__(step, time.perf_counter()))
    del stamps[min(stamps)]  # warm-up window
    return _rate(stamps)


def dmd_rate(preset: str, teacher_dir: Path, steps: int, ratio: int, out: Path, rt: Runtime) -> float:
    """DMD iterations/s at the preset's batch, over whole generator periods after the first;
    the probe (step 0 and the last step) is left out."""
    cfg = replace(get_preset(preset).distill, steps=steps, ratio=ratio, probe_every=10**9)
    stamps = {}
    distill(checkpoint.load_checkpoint(str(teacher_dir)), cfg, out, rt=rt, state_every=10**9,
            on_step=lambda step, rec: stamps.__setitem__(step, time.perf_counter()))
    last = ratio + ratio * ((steps - 1 - ratio) // ratio)
    return _rate({s: stamps[s] for s in (ratio, last)})


def torchcfm_rate(steps: int) -> dict:
    """torchcfm's ConditionalFlowMatcher + its MLP (width matched to our parameter count) on
    chessboard4d at the preset's batch and learning rate: the loop of torchcfm's README."""
    from torchcfm.conditional_flow_matching import ConditionalFlowMatcher
    from torchcfm.models.models import MLP

    p = get_preset("chessboard4d")
    ours = sum(q.numel() for q in build_net(p.net).parameters())
    d = p.net.shape[0]
    width = next(w for w in range(8, 4096) if 2 * w * w + (2 * d + 4) * w + d >= ours)
    torch.manual_seed(0)
    model = MLP(dim=d, w=width, time_varying=True)
    opt = torch.optim.Adam(model.parameters(), lr=p.teacher.lr)
    cfm = ConditionalFlowMatcher(sigma=0.0)
    ds, gen = get_dataset(p.data), torch.Generator().manual_seed(0)
    warm = max(1, steps // 10)
    for step in range(steps + warm):
        if step == warm:
            t0 = time.perf_counter()
        x1 = ds.sample(p.teacher.batch, gen)[0]
        x0 = torch.randn_like(x1)
        t, xt, ut = cfm.sample_location_and_conditional_flow(x0, x1)
        loss = (model(torch.cat([xt, t[:, None]], dim=-1)) - ut).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    rate = steps / (time.perf_counter() - t0)
    x = torch.randn(p.teacher.batch, d + 1)
    with FlopCounterMode(display=False) as fc:
        (model(x) - x[:, :d]).pow(2).mean().backward()
    return {"steps_per_s": rate, "params": sum(q.numel() for q in model.parameters()), "width": width,
            "flops_per_step": fc.get_total_flops()}


def preset_rows(preset: str, teacher_steps: int, dmd_steps: int, rt: Runtime, root: Path) -> dict:
    """Teacher steps/s and DMD it/s (ratio 1 and the preset's ratio) with FLOP counts."""
    p = get_preset(preset)
    fwd, step = fm_flops(build_net(p.net), tuple(p.net.shape), p.teacher.batch)
    out = {"preset": preset, "net": p.net.kind, "batch": p.teacher.batch, "dmd_batch": p.distill.batch,
           "fwd_flops": fwd, "step_flops": step,
           "teacher_steps_per_s": teacher_rate(preset, teacher_steps, root / f"{preset}-t", rt)}
    dmd_fwd, dmd_step = fm_flops(build_net(p.net), tuple(p.net.shape), p.distill.batch)
    for ratio in sorted({1, p.distill.ratio}):
        out[f"dmd_r{ratio}_it_per_s"] = dmd_rate(preset, root / f"{preset}-t", dmd_steps, ratio, root / f"{preset}-s{ratio}", rt)
        out[f"dmd_r{ratio}_flops"] = dmd_fwd + dmd_step + (dmd_step + 2 * dmd_fwd) / ratio
    return out


def run(rt: Runtime, mnist: bool, quick: bool = False) -> dict:
    """Everything above in one pass on this machine; ``quick`` shrinks step counts (a smoke run)."""
    scale = 0.1 if quick else 1.0
    n = lambda k: max(12, int(k * scale))  # noqa: E731
    res = {"peak_gflops": {"fp32": gemm_peak(torch.float32), "bf16": gemm_peak(torch.bfloat16)}, "presets": []}
    with tempfile.TemporaryDirectory() as tmp:
        res["presets"].append(preset_rows("chessboard4d", n(400), n(200), rt, Path(tmp)))
        if mnist:
            res["presets"].append(preset_rows("mnist", n(40), n(24), rt, Path(tmp)))
        if importlib.util.find_spec("torchcfm") is None:
            res["torchcfm"] = {"skipped": "torchcfm absent: pip install --no-deps -r requirements-bench.txt"}
        else:
            res["torchcfm"] = side_by_side(n(300), rt, Path(tmp))
    return res


def side_by_side(steps: int, rt: Runtime, root: Path, rounds: int = 5) -> dict:
    """Ours and torchcfm's teacher loops alternated ``rounds`` times, best rate of each: on a
    shared machine the best of interleaved runs is the least biased by the neighbours' load."""
    ours, theirs = [], []
    for i in range(rounds):
        ours.append(teacher_rate("chessboard4d", steps, root / f"cfm-ours-{i}", rt))
        theirs.append(torchcfm_rate(steps))
    return {**max(theirs, key=lambda r: r["steps_per_s"]), "ours_steps_per_s": max(ours), "rounds": rounds,
            "ours_all": ours, "theirs_all": [r["steps_per_s"] for r in theirs]}
