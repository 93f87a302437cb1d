"""The flow-matching teacher's training loop.

A run is a folder: the checkpoint files (config.json, model.safetensors, README.md),
``metrics.jsonl``, ``snapshots/step-NNNNNN/`` and ``state.safetensors``, the resumable
state (``training.state``: a killed run restarts from its last state, no step lost or
duplicated). No UI and no plots here: progress goes through ``on_step(step, logs)`` and
``should_stop()``. Arguments are trusted: requests are checked where they enter (the CLI's
parser, ``jobs.JobSpec.check``, ``sweep.SweepConfig.check``) against ``dmdviz.limits``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from dmdviz import checkpoint
from dmdviz.config import DataConfig, NetConfig, TeacherConfig, to_dict
from dmdviz.core import flow
from dmdviz.core.nets import build_net
from dmdviz.data import get_dataset
from dmdviz.errors import DmdvizError
from dmdviz.training.runtime import Runtime
from dmdviz.training.state import MetricsLog, load_state, save_state, start_run
from dmdviz.training.steps import OnStep, ShouldStop, ema_update, lr_factor, stop_agreed

# --------------------------------------------------------------------------- teacher


@dataclass
class _TeacherRun:
    """What one teacher iteration touches (built by ``_teacher_setup``)."""

    cfg: TeacherConfig
    rt: Runtime
    ds: object
    net: torch.nn.Module
    ema: torch.nn.Module
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    data_gen: torch.Generator
    gen: torch.Generator
    state: tuple
    params: list
    ema_params: list


def _teacher_setup(data_cfg, net_cfg, cfg, out: Path, data_dir, rt: Runtime, resume: bool) -> tuple[_TeacherRun, int, float]:
    """(the run, the step to continue after, wall seconds so far): a fresh or resumed run."""
    if not 0 <= cfg.ema < 1:
        raise DmdvizError(f"ema must be in [0, 1), got {cfg.ema}")
    if cfg.time_sampling not in flow.TIME_SAMPLING:
        raise DmdvizError(f"time sampling must be one of {', '.join(flow.TIME_SAMPLING)}, got {cfg.time_sampling!r}")
    ds = get_dataset(data_cfg, data_dir)
    if tuple(net_cfg.shape) != ds.shape:
        raise DmdvizError(f"network shape {tuple(net_cfg.shape)} does not match the data shape {ds.shape}")
    if net_cfg.n_classes != ds.n_classes:
        raise DmdvizError(f"network has {net_cfg.n_classes} classes, data set has {ds.n_classes}")
    run_config = {"role": "teacher", "data": to_dict(data_cfg), "net": to_dict(net_cfg), "train": to_dict(cfg)}
    resuming = start_run(out, run_config, resume, rt)
    torch.manual_seed(cfg.seed)
    net = rt.place(build_net(net_cfg))
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=True)
    data_gen = torch.Generator().manual_seed(rt.seed(cfg.seed * 1009 + 17))
    gen = torch.Generator(rt.device).manual_seed(rt.seed(cfg.seed * 1009 + 29))
    state = ({"net": net, "ema": ema}, {"opt": opt}, {"data": data_gen, "noise": gen})
    start, wall0 = load_state(out, *state, rt) if resuming else (0, 0.0)
    # listed once: walking the module tree every step cost ~4 % of a chessboard4d step
    run = _TeacherRun(cfg, rt, ds, net, ema, rt.wrap(net), opt, data_gen, gen, state,
                      list(net.parameters()), list(ema.parameters()))
    return run, start, wall0


def _teacher_step(r: _TeacherRun, step: int) -> torch.Tensor:
    """One flow-matching iteration (spec §1): x ~ data, z ~ N(0, I), t ~ cfg.time_sampling (uniform by default), then the
    EMA update; returns the batch's fm_loss."""
    cfg, rt = r.cfg, r.rt
    for group in r.opt.param_groups:
        group["lr"] = cfg.lr * lr_factor(step - 1, cfg.warmup, cfg.steps)
    x, y = r.ds.sample(cfg.batch, r.data_gen)
    x, y = x.to(rt.device), None if y is None else y.to(rt.device)
    z = torch.randn(x.shape, generator=r.gen, device=rt.device)
    t = flow.sample_time(len(x), r.gen, cfg.time_sampling, rt.device)
    with rt.autocast():
        loss, logs = flow.fm_loss(r.model, x, z, t, y)
    r.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(r.params, 1.0)
    r.opt.step()
    ema_update(r.ema_params, r.params, step, cfg.ema)
    return logs["fm_loss"]


def train_teacher(data_cfg: DataConfig, net_cfg: NetConfig, cfg: TeacherConfig, out, *, data_dir=None,
                  rt: Runtime | None = None, on_step: OnStep = None, should_stop: ShouldStop = None,
                  resume: bool = False, state_every: int = 500) -> Path:
    """Flow-matching teacher (spec §1) with an EMA copy saved as the checkpoint.

    Snapshots at ``cfg.snapshots`` go to ``out/snapshots/step-NNNNNN`` (each a full
    checkpoint folder). Returns ``out``.
    """
    rt, out = rt or Runtime.create(), Path(out)
    r, start, wall0 = _teacher_setup(data_cfg, net_cfg, cfg, out, data_dir, rt, resume)
    log = MetricsLog(out / "metrics.jsonl", rt.is_main)
    log.truncate(start)
    t0, window = time.perf_counter() - wall0, []
    for step in range(start + 1, cfg.steps + 1):
        window.append(_teacher_step(r, step))
        stop = stop_agreed(should_stop, rt)
        if step % cfg.log_every == 0 or step == cfg.steps or stop:
            rec = rt.mean_logs({"step": step, "fm_loss": torch.stack(window).mean(), "lr": r.opt.param_groups[0]["lr"],
                                "wall": time.perf_counter() - t0, "world_size": rt.world_size})
            window = []
            log.write(rec)
            if on_step:
                on_step(step, rec)
        if rt.is_main and step in cfg.snapshots:
            snap = _teacher_config(data_cfg, net_cfg, cfg, step, time.perf_counter() - t0, rt)
            checkpoint.save_checkpoint(out / "snapshots" / f"step-{step:06d}", r.ema, snap)
        if step % state_every == 0 or stop or step == cfg.steps:
            save_state(out, step, *r.state, time.perf_counter() - t0, rt)
        if stop:
            return out
    rt.assert_in_sync({"net": r.net, "ema": r.ema})
    if rt.is_main:
        checkpoint.save_checkpoint(out, r.ema, _teacher_config(data_cfg, net_cfg, cfg, cfg.steps, time.perf_counter() - t0, rt))
    rt.barrier()
    return out


def _teacher_config(data_cfg, net_cfg, cfg, step, wall, rt):
    train = {**to_dict(cfg), "step": step, "wall_time_s": round(wall, 2), "world_size": rt.world_size,
             "device": str(rt.device), "bf16": rt.bf16}
    return checkpoint.make_config("teacher", data_cfg, net_cfg, train)
