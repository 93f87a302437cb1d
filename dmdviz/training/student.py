"""DMD distillation: a one-step student G(z) = z + v_φ(z, 0) trained against its teacher.

The run folder is that of ``training.teacher`` (checkpoint files, ``metrics.jsonl``,
``state.safetensors``, resumable). Each iteration updates the critic ``ratio`` times and
the generator once (two time-scale), with optional GAN and regression terms, and probes
the pairing on fixed seeds every ``probe_every`` iterations.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from dmdviz import checkpoint
from dmdviz.config import DistillConfig, NetConfig, to_dict
from dmdviz.core import dmd, flow, metrics, noise
from dmdviz.core.nets import build_net, feature_dim
from dmdviz.data import get_dataset
from dmdviz.errors import DmdvizError
from dmdviz.training.runtime import Runtime
from dmdviz.training.state import MetricsLog, load_state, save_state, scalar, start_run
from dmdviz.training.steps import OnStep, ShouldStop, stop_agreed


def probe_set(teacher: checkpoint.Checkpoint, student: dmd.StudentNet, cfg: DistillConfig, device) -> dict:
    """Fixed probe seeds for the copying meter: z, y, Φ_1(z'), Φ_K(z') (spec §3, §4), with
    z' = ``student.target_noise(z)`` the noise of its targets (R z when its rotation relabels)."""
    z, y = noise.seeded(cfg.probe_seed, cfg.probe_n, teacher.net.shape, teacher.n_classes)
    z, y = z.to(device), None if y is None else y.to(device)
    with torch.no_grad():
        target = student.target_noise(z)
        return {"z": z, "y": y, "phi_1": flow.euler(teacher.model, target, 1, y),
                "phi_k": flow.euler(teacher.model, target, cfg.k, y)}


@torch.no_grad()
def probe_metrics(student: dmd.StudentNet, probe: dict) -> dict:
    g = student(probe["z"], probe["y"]).float().cpu()
    return metrics.pairing_metrics(probe["phi_1"].cpu(), probe["phi_k"].cpu(), g)


def make_student(teacher: checkpoint.Checkpoint, cfg: DistillConfig) -> tuple[dmd.StudentNet, NetConfig]:
    """G initialised from θ (init=teacher) or fresh (init=random, or a wider/deeper net)."""
    net_cfg = teacher.net
    if cfg.student_hidden or cfg.student_depth:
        if net_cfg.kind != "mlp":
            raise DmdvizError("a wider or deeper student is supported for MLP teachers only")
        net_cfg = replace(net_cfg, hidden=cfg.student_hidden or net_cfg.hidden, depth=cfg.student_depth or net_cfg.depth)
    if cfg.init not in ("teacher", "random"):
        raise DmdvizError(f"init must be 'teacher' or 'random', got {cfg.init!r}")
    if cfg.init == "teacher" and net_cfg != teacher.net:
        raise DmdvizError("a student of another size than its teacher needs --init random")
    torch.manual_seed(cfg.seed + 1)
    net = copy.deepcopy(teacher.model) if cfg.init == "teacher" else build_net(net_cfg)
    rotation = dmd.random_rotation(math.prod(net_cfg.shape), cfg.seed + 7) if cfg.noise_rotation else None
    if cfg.shuffled_control and rotation is None:
        raise DmdvizError("the shuffled-seed control needs a noise rotation (--noise-rotation)")
    extra = _extra_noise(net, net_cfg, cfg) if cfg.extra_noise else None
    return dmd.StudentNet(net.requires_grad_(True).train(), rotation, relabel=not cfg.shuffled_control,
                       extra=extra), net_cfg


def _extra_noise(net, net_cfg: NetConfig, cfg: DistillConfig) -> dmd.ExtraNoise:
    """The freedom test's second noise input (``dmd.ExtraNoise``), W' scaled to the std of
    the first layer's weights at the start."""
    if net_cfg.kind != "mlp":
        raise DmdvizError("the extra noise input is supported for MLP students only")
    if cfg.extra_noise_scale < 0:
        raise DmdvizError(f"extra_noise_scale must be >= 0, got {cfg.extra_noise_scale}")
    w_std = float(net.inp.weight.detach().std())
    return dmd.ExtraNoise(math.prod(net_cfg.shape), net_cfg.hidden, cfg.extra_noise_scale, w_std, cfg.seed + 11)


@dataclass
class _DistillRun:
    """What one DMD iteration touches (built by ``_distill_setup``). ``disc`` / ``ds`` are
    None without the GAN term, ``ref`` (z_ref, y_ref, Φ_K(z_ref)) without the regression term."""

    cfg: DistillConfig
    rt: Runtime
    teacher: torch.nn.Module
    student: dmd.StudentNet
    g_model: torch.nn.Module
    critic: torch.nn.Module
    disc: torch.nn.Module | None
    ds: object
    ref: tuple | None
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer
    critic_params: list
    gen: torch.Generator
    data_gen: torch.Generator
    shape: tuple
    n_classes: int
    state: tuple
    net_cfg: NetConfig

    def draw(self, y=None):
        """A batch of noise z (and labels y when none are given) from the run's generator."""
        z = torch.randn((self.cfg.batch, *self.shape), generator=self.gen, device=self.rt.device)
        if y is None and self.n_classes:
            y = torch.randint(self.n_classes, (self.cfg.batch,), generator=self.gen, device=self.rt.device)
        return z, y


def _distill_setup(teacher: checkpoint.Checkpoint, cfg: DistillConfig, out: Path, data_dir, rt: Runtime,
                   resume: bool) -> tuple[_DistillRun, int, float]:
    """(the run, the step to continue after, wall seconds so far): G from θ (``make_student``),
    the critic v_ψ from θ, the optional GAN head and regression pairs, a fresh or resumed state."""
    if cfg.steps < 1 or cfg.ratio < 1 or not 0 <= cfg.t_min < cfg.t_max <= 1 or cfg.batch < 1 or cfg.probe_n < 2:
        raise DmdvizError("need steps >= 1, ratio >= 1, 0 <= t_min < t_max <= 1, batch >= 1 and probe_n >= 2")
    if teacher.role != "teacher":
        raise DmdvizError(f"{teacher.ref} is a {teacher.role}, not a teacher")
    run_config = {"role": "student", "teacher": [teacher.ref, teacher.revision], "train": to_dict(cfg)}
    resuming = start_run(out, run_config, resume, rt)
    t_model = rt.place(teacher.model).requires_grad_(False)
    student, net_cfg = make_student(teacher, cfg)
    student = rt.place(student)
    critic = copy.deepcopy(t_model).requires_grad_(True).train()
    gan_g, gan_d = cfg.gan_weights
    disc = dmd.Discriminator(feature_dim(critic)).to(rt.device) if gan_g or gan_d else None
    ds = get_dataset(teacher.data, data_dir) if disc else None
    opt_g = torch.optim.Adam(student.parameters(), lr=cfg.lr, betas=(0.0, 0.999), fused=True)
    critic_params = list(critic.parameters()) + (list(disc.parameters()) if disc else [])
    opt_c = torch.optim.Adam(critic_params, lr=cfg.critic_lr, betas=(0.0, 0.999), fused=True)
    gen = torch.Generator(rt.device).manual_seed(rt.seed(cfg.seed * 7919 + 3))
    data_gen = torch.Generator().manual_seed(rt.seed(cfg.seed * 7919 + 5))
    modules = {"student": student, "critic": critic, **({"disc": disc} if disc else {})}
    state = (modules, {"opt_g": opt_g, "opt_c": opt_c}, {"noise": gen, "data": data_gen})
    start, wall0 = load_state(out, *state, rt) if resuming else (0, 0.0)
    ref = _regression_pairs(t_model, student, cfg, net_cfg, teacher.n_classes, rt) if cfg.regression_weight > 0 else None
    run = _DistillRun(cfg, rt, t_model, student, rt.wrap(student), critic, disc, ds, ref, opt_g, opt_c, critic_params,
                      gen, data_gen, tuple(net_cfg.shape), teacher.n_classes, state, net_cfg)
    return run, start, wall0


def _regression_pairs(t_model, student: dmd.StudentNet, cfg: DistillConfig, net_cfg: NetConfig, n_classes: int,
                      rt: Runtime) -> tuple:
    """spec §3.4's fixed reference pairs (z_ref, y_ref, Φ_K(z_ref)), on the student's target noise."""
    z_r, y_r = noise.seeded(cfg.probe_seed + 1, cfg.regression_pairs, net_cfg.shape, n_classes)
    z_r, y_r = z_r.to(rt.device), None if y_r is None else y_r.to(rt.device)
    with torch.no_grad():
        return z_r, y_r, flow.euler(t_model, student.target_noise(z_r), cfg.k, y_r)


def _critic_update(r: _DistillRun):
    """spec §3 step 1 (and the discriminator's half of step 3): x = stopgrad(G(z)); the
    critic's flow-matching loss on x. Returns (logs, y): the generator update reuses y."""
    cfg, rt, logs = r.cfg, r.rt, {}
    z, y = r.draw()
    with rt.autocast():
        with torch.no_grad():
            x_fake = r.student(z, y).float()
        loss_c, out = dmd.critic_loss(r.critic, x_fake, y, r.gen)
        logs.update(out)
        if r.disc is not None:
            real, y_real = r.ds.sample(cfg.batch, r.data_gen)
            real, y_real = real.to(rt.device), None if y_real is None else y_real.to(rt.device)
            loss_d, out = dmd.gan_d_loss(r.disc, r.critic, real, y_real, x_fake, y, r.gen)
            loss_c = loss_c + cfg.gan_weights[1] * loss_d
            logs.update(out)
    r.opt_c.zero_grad(set_to_none=True)
    loss_c.backward()
    rt.all_reduce_grads(r.critic_params)
    r.opt_c.step()
    return logs, y


def _generator_update(r: _DistillRun, y) -> dict:
    """spec §3 steps 2-4: x = G(z); the DM loss against θ and ψ, plus the optional GAN and
    regression terms; one optimiser step on G with the critic frozen."""
    cfg, rt, logs = r.cfg, r.rt, {}
    r.critic.requires_grad_(False)
    z, _ = r.draw(y)
    with rt.autocast():
        if r.ref is None:
            x = r.g_model(z, y)
        else:  # one forward for both terms keeps DDP's one-backward-per-forward rule
            z_r, y_r, target = r.ref
            x_all = r.g_model(torch.cat([z, z_r]), None if y is None else torch.cat([y, y_r]))
            x, x_r = x_all[: len(z)], x_all[len(z):]
        loss_g, out = dmd.dm_loss(x, r.teacher, r.critic, y, cfg.t_min, cfg.t_max, r.gen)
        logs.update(out)
        if r.disc is not None:
            loss_a, out = dmd.gan_g_loss(r.disc, r.critic, x, y, r.gen)
            loss_g = loss_g + cfg.gan_weights[0] * loss_a
            logs.update(out)
        if r.ref is not None:
            loss_r, out = dmd.regression_loss(x_r, target)
            loss_g = loss_g + cfg.regression_weight * loss_r
            logs.update(out)
    r.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    r.opt_g.step()
    r.critic.requires_grad_(True)
    return logs


def _distill_step(r: _DistillRun, step: int) -> dict:
    """One DMD iteration (spec §3): the critic every iteration, G every ``ratio``-th."""
    logs, y = _critic_update(r)
    rec = {"step": step, **logs}
    if step % r.cfg.ratio == 0:
        rec.update(_generator_update(r, y))
    return rec


def distill(teacher: checkpoint.Checkpoint, cfg: DistillConfig, out, *, data_dir=None, rt: Runtime | None = None,
            on_step: OnStep = None, should_stop: ShouldStop = None, resume: bool = False,
            state_every: int = 250) -> Path:
    """DMD (spec §3): critic every iteration, generator every ``cfg.ratio`` iterations.

    Logs every iteration to ``metrics.jsonl`` (dm terms on generator iterations) and the
    pairing metrics of the probe set every ``cfg.probe_every`` iterations and at step 0.
    """
    rt, out = rt or Runtime.create(), Path(out)
    r, start, wall0 = _distill_setup(teacher, cfg, out, data_dir, rt, resume)
    log = MetricsLog(out / "metrics.jsonl", rt.is_main)
    log.truncate(start)
    probe = probe_set(teacher, r.student, cfg, rt.device) if rt.is_main else None  # only rank 0 logs the meter
    t0 = time.perf_counter() - wall0
    rec = {}
    if start == 0 and rt.is_main:
        rec = {"step": 0, **probe_metrics(r.student, probe), "wall": 0.0, "world_size": rt.world_size}
        log.write(rec)
        if on_step:
            on_step(0, rec)
    for step in range(start + 1, cfg.steps + 1):
        rec = _distill_step(r, step)
        stop = stop_agreed(should_stop, rt)
        rec = rt.mean_logs(rec)
        rec["wall"] = time.perf_counter() - t0
        if rt.is_main and (step % cfg.probe_every == 0 or step == cfg.steps or stop):
            rec.update(probe_metrics(r.student, probe))
            rec["world_size"] = rt.world_size
        log.write(rec)
        if on_step:
            on_step(step, rec)
        if step % state_every == 0 or stop or step == cfg.steps:
            save_state(out, step, *r.state, time.perf_counter() - t0, rt)
        if stop:
            return out
    _distill_finish(r, teacher, rec, out, time.perf_counter() - t0)
    return out


def _distill_finish(r: _DistillRun, teacher: checkpoint.Checkpoint, rec: dict, out: Path, wall: float) -> None:
    """Check the ranks agree, then save G with its config: the teacher it came from and the
    last probe's pairing metrics."""
    rt, cfg = r.rt, r.cfg
    rt.assert_in_sync(r.state[0])
    if rt.is_main:
        final = {k: v for k, v in rec.items() if k not in ("step", "wall")}
        train = {**to_dict(cfg), "step": cfg.steps, "wall_time_s": round(wall, 2),
                 "world_size": rt.world_size, "device": str(rt.device), "bf16": rt.bf16}
        config = checkpoint.make_config("student", teacher.data, r.net_cfg, train, (teacher.ref, teacher.revision),
                                 {"init": cfg.init, "noise_rotation": cfg.noise_rotation,
                                  "shuffled_control": cfg.shuffled_control, "extra_noise": cfg.extra_noise},
                                 {k: scalar(v) for k, v in final.items() if "agreement" in k or "ratio" in k or "contrast" in k})
        checkpoint.save_checkpoint(out, r.student, config)
    rt.barrier()
