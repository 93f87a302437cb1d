"""Training loops: the flow-matching teacher and DMD distillation (SPEC §1, §3).

A run is a folder: the checkpoint files (config.json, model.safetensors, README.md),
``metrics.jsonl``, ``snapshots/step-NNNNNN/`` (teacher) and ``state.safetensors``, the
resumable state (weights, optimisers, random generators, step) in ONE file written
atomically. A killed run restarts from its last state; ``metrics.jsonl`` is cut back to that
step, so no step is lost or duplicated. No UI and no plots here: progress goes through
``on_step(step, logs)`` and ``should_stop()``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from dmdviz import dmd, flow, hub, metrics, noise
from dmdviz.config import DataConfig, DistillConfig, NetConfig, TeacherConfig, to_dict
from dmdviz.data import get_dataset
from dmdviz.errors import DmdvizError
from dmdviz.nets import build_net, feature_dim
from dmdviz.runtime import Runtime

OnStep = Callable[[int, dict], None] | None
ShouldStop = Callable[[], bool] | None
STATE = "state.safetensors"
MAX_STEPS = int(os.environ.get("DMDVIZ_MAX_STEPS", "1000000"))


# --------------------------------------------------------------------------- run folder helpers


class MetricsLog:
    """Append-only ``metrics.jsonl``; ``truncate(step)`` drops lines past a resumed step."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled

    def truncate(self, step: int) -> None:
        if not self.enabled or not self.path.exists():
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn last line from a kill
            if rec.get("step", 0) <= step:
                keep.append(line)
        hub.atomic_write(self.path, lambda p: p.write_text("".join(k + "\n" for k in keep)))

    def write(self, rec: dict) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps({k: _scalar(v) for k, v in rec.items()}) + "\n")


def read_metrics(path) -> list[dict]:
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def _scalar(v):
    return round(float(v), 7) if isinstance(v, (torch.Tensor, float)) else v


def _save_state(folder: Path, step: int, modules: dict, optims: dict, gens: dict, wall: float, rt: Runtime) -> None:
    """Rank 0 writes; every rank must call this (it gathers each rank's random streams)."""
    rngs = {name: rt.gather(g.get_state()) for name, g in gens.items()}
    if not rt.is_main:
        return
    tensors, meta = {}, {"step": step, "wall": wall, "world_size": rt.world_size, "optims": {}}
    for name, m in modules.items():
        tensors.update({f"{name}.{k}": v.detach().cpu().contiguous() for k, v in m.state_dict().items()})
    for name, opt in optims.items():
        sd = opt.state_dict()
        meta["optims"][name] = {"param_groups": sd["param_groups"], "keys": {}}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                key = f"opt.{name}.{pid}.{k}"
                tensors[key] = torch.as_tensor(v).detach().cpu().contiguous()
                meta["optims"][name]["keys"].setdefault(str(pid), []).append(k)
    for name, states in rngs.items():
        tensors.update({_rng_key(name, r): s for r, s in enumerate(states)})
    hub.atomic_write(folder / STATE, lambda p: save_file(tensors, str(p), metadata={"meta": json.dumps(meta)}))


def _rng_key(name: str, rank: int) -> str:
    return f"rng.{name}" if rank == 0 else f"rng.{name}.rank{rank}"


def _load_state(folder: Path, modules: dict, optims: dict, gens: dict, rt: Runtime) -> tuple[int, float]:
    from safetensors import safe_open

    path = folder / STATE
    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["meta"])
    if meta.get("world_size", 1) != rt.world_size:
        raise DmdvizError(f"{folder} was written by {meta.get('world_size', 1)} process(es); resume it with the "
                          f"same torchrun --nproc_per_node (this run has {rt.world_size})")
    tensors = load_file(str(path))
    for name, m in modules.items():
        pre = f"{name}."
        m.load_state_dict({k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}, strict=True)
    for name, opt in optims.items():
        info = meta["optims"][name]
        state = {int(pid): {k: tensors[f"opt.{name}.{pid}.{k}"] for k in ks} for pid, ks in info["keys"].items()}
        opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    for name, g in gens.items():
        g.set_state(tensors[_rng_key(name, rt.rank)])
    return int(meta["step"]), float(meta["wall"])


def _check_resume(out: Path, config: dict, resume: bool) -> bool:
    """True when the folder holds a state of the same run; refuse to mix runs."""
    if not (out / STATE).exists():
        return False
    run_cfg = out / "run.json"
    # world_size is left out here: _load_state refuses a change of it with a clearer message
    recorded = json.loads(run_cfg.read_text()) if run_cfg.exists() else None
    if recorded is not None and {k: v for k, v in recorded.items() if k != "world_size"} != json.loads(json.dumps(config)):
        raise DmdvizError(f"{out} holds a different run (its run.json differs); choose a new --out")
    if not resume:
        raise DmdvizError(f"{out} holds an unfinished run; pass --resume or choose a new --out")
    return True


def _start_run(out: Path, run_config: dict, resume: bool, rt: Runtime) -> bool:
    out.mkdir(parents=True, exist_ok=True)
    resuming = _check_resume(out, run_config, resume)
    if rt.is_main and not resuming:
        if (out / "metrics.jsonl").exists():
            (out / "metrics.jsonl").unlink()
        record = {**run_config, "world_size": rt.world_size}
        hub.atomic_write(out / "run.json", lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))
    rt.barrier()  # no rank reads the folder while rank 0 still resets it
    return resuming


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 10 %."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def _ema_update(ema: list[torch.Tensor], params: list[torch.Tensor], step: int, decay: float = 0.999) -> None:
    """ema <- lerp(ema, params, 1 - d) over two parameter lists (listed once, outside the loop)."""
    d = min(decay, (1 + step) / (10 + step))
    torch._foreach_lerp_(ema, params, 1 - d)


def _stop(should_stop: ShouldStop, rt: Runtime) -> bool:
    """A stop request, agreed by all ranks so that they leave the loop together."""
    return should_stop is not None and rt.any(should_stop())


def _check_steps(steps: int) -> None:
    if not 1 <= steps <= MAX_STEPS:
        raise DmdvizError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")


# --------------------------------------------------------------------------- teacher


def train_teacher(data_cfg: DataConfig, net_cfg: NetConfig, cfg: TeacherConfig, out, *, data_dir=None,
                  rt: Runtime | None = None, on_step: OnStep = None, should_stop: ShouldStop = None,
                  resume: bool = False, state_every: int = 500) -> Path:
    """Flow-matching teacher (SPEC §1) with an EMA copy saved as the checkpoint.

    Snapshots at ``cfg.snapshots`` go to ``out/snapshots/step-NNNNNN`` (each a full
    checkpoint folder). Returns ``out``.
    """
    rt = rt or Runtime.create()
    _check_steps(cfg.steps)
    if not 0 <= cfg.ema < 1:
        raise DmdvizError(f"ema must be in [0, 1), got {cfg.ema}")
    if cfg.time_sampling not in flow.TIME_SAMPLING:
        raise DmdvizError(f"time sampling must be one of {', '.join(flow.TIME_SAMPLING)}, got {cfg.time_sampling!r}")
    out = Path(out)
    ds = get_dataset(data_cfg, data_dir)
    if tuple(net_cfg.shape) != ds.shape:
        raise DmdvizError(f"network shape {tuple(net_cfg.shape)} does not match the data shape {ds.shape}")
    if net_cfg.n_classes != ds.n_classes:
        raise DmdvizError(f"network has {net_cfg.n_classes} classes, data set has {ds.n_classes}")
    run_config = {"role": "teacher", "data": to_dict(data_cfg), "net": to_dict(net_cfg), "train": to_dict(cfg)}
    resuming = _start_run(out, run_config, resume, rt)

    torch.manual_seed(cfg.seed)
    net = rt.place(build_net(net_cfg))
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=True)
    data_gen = torch.Generator().manual_seed(rt.seed(cfg.seed * 1009 + 17))
    gen = torch.Generator(rt.device).manual_seed(rt.seed(cfg.seed * 1009 + 29))
    state = ({"net": net, "ema": ema}, {"opt": opt}, {"data": data_gen, "noise": gen})
    start, wall0 = _load_state(out, *state, rt) if resuming else (0, 0.0)
    log = MetricsLog(out / "metrics.jsonl", rt.is_main)
    log.truncate(start)
    model = rt.wrap(net)
    t0, window = time.perf_counter() - wall0, []
    # listed once: walking the module tree every step cost ~4 % of a chessboard4d step
    params, ema_params = list(net.parameters()), list(ema.parameters())

    for step in range(start + 1, cfg.steps + 1):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * _lr_factor(step - 1, cfg.warmup, cfg.steps)
        x, y = ds.sample(cfg.batch, data_gen)
        x, y = x.to(rt.device), None if y is None else y.to(rt.device)
        z = torch.randn(x.shape, generator=gen, device=rt.device)
        t = flow.sample_time(len(x), gen, cfg.time_sampling, rt.device)
        with rt.autocast():
            loss, logs = flow.fm_loss(model, x, z, t, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        _ema_update(ema_params, params, step, cfg.ema)
        window.append(logs["fm_loss"])
        stop = _stop(should_stop, rt)
        if step % cfg.log_every == 0 or step == cfg.steps or stop:
            rec = rt.mean_logs({"step": step, "fm_loss": torch.stack(window).mean(), "lr": opt.param_groups[0]["lr"],
                                "wall": time.perf_counter() - t0, "world_size": rt.world_size})
            window = []
            log.write(rec)
            if on_step:
                on_step(step, rec)
        if rt.is_main and step in cfg.snapshots:
            snap = _teacher_config(data_cfg, net_cfg, cfg, step, time.perf_counter() - t0, rt)
            hub.save_checkpoint(out / "snapshots" / f"step-{step:06d}", ema, snap)
        if step % state_every == 0 or stop or step == cfg.steps:
            _save_state(out, step, *state, time.perf_counter() - t0, rt)
        if stop:
            return out
    rt.assert_in_sync({"net": net, "ema": ema})
    if rt.is_main:
        hub.save_checkpoint(out, ema, _teacher_config(data_cfg, net_cfg, cfg, cfg.steps, time.perf_counter() - t0, rt))
    rt.barrier()
    return out


def _teacher_config(data_cfg, net_cfg, cfg, step, wall, rt):
    train = {**to_dict(cfg), "step": step, "wall_time_s": round(wall, 2), "world_size": rt.world_size,
             "device": str(rt.device), "bf16": rt.bf16}
    return hub.make_config("teacher", data_cfg, net_cfg, train)


# --------------------------------------------------------------------------- distillation


def probe_set(teacher: hub.Checkpoint, student: dmd.Student, cfg: DistillConfig, device) -> dict:
    """Fixed probe seeds for the copying meter: z, y, Φ_1(z'), Φ_K(z') (SPEC §3, §4), with
    z' = ``student.target_noise(z)`` the noise of its targets (R z when its rotation relabels)."""
    z, y = noise.seeded(cfg.probe_seed, cfg.probe_n, teacher.net.shape, teacher.n_classes)
    z, y = z.to(device), None if y is None else y.to(device)
    with torch.no_grad():
        target = student.target_noise(z)
        return {"z": z, "y": y, "phi_1": flow.euler(teacher.model, target, 1, y),
                "phi_k": flow.euler(teacher.model, target, cfg.k, y)}


@torch.no_grad()
def probe_metrics(student: dmd.Student, probe: dict) -> dict:
    g = student(probe["z"], probe["y"]).float().cpu()
    return metrics.pairing_metrics(probe["phi_1"].cpu(), probe["phi_k"].cpu(), g)


def make_student(teacher: hub.Checkpoint, cfg: DistillConfig) -> tuple[dmd.Student, NetConfig]:
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
    return dmd.Student(net.requires_grad_(True).train(), rotation, relabel=not cfg.shuffled_control), net_cfg


def distill(teacher: hub.Checkpoint, cfg: DistillConfig, out, *, data_dir=None, rt: Runtime | None = None,
            on_step: OnStep = None, should_stop: ShouldStop = None, resume: bool = False,
            state_every: int = 250) -> Path:
    """DMD (SPEC §3): critic every iteration, generator every ``cfg.ratio`` iterations.

    Logs every iteration to ``metrics.jsonl`` (dm terms on generator iterations) and the
    pairing metrics of the probe set every ``cfg.probe_every`` iterations and at step 0.
    """
    rt = rt or Runtime.create()
    _check_steps(cfg.steps)
    if cfg.ratio < 1 or not 0 <= cfg.t_min < cfg.t_max <= 1 or cfg.batch < 1 or cfg.probe_n < 2:
        raise DmdvizError("need ratio >= 1, 0 <= t_min < t_max <= 1, batch >= 1 and probe_n >= 2")
    out = Path(out)
    if teacher.role != "teacher":
        raise DmdvizError(f"{teacher.ref} is a {teacher.role}, not a teacher")
    run_config = {"role": "student", "teacher": [teacher.ref, teacher.revision], "train": to_dict(cfg)}
    resuming = _start_run(out, run_config, resume, rt)
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
    start, wall0 = _load_state(out, *state, rt) if resuming else (0, 0.0)
    log = MetricsLog(out / "metrics.jsonl", rt.is_main)
    log.truncate(start)

    probe = probe_set(teacher, student, cfg, rt.device) if rt.is_main else None  # only rank 0 logs the meter
    ref = None
    if cfg.regression_weight > 0:
        z_r, y_r = noise.seeded(cfg.probe_seed + 1, cfg.regression_pairs, net_cfg.shape, teacher.n_classes)
        z_r, y_r = z_r.to(rt.device), None if y_r is None else y_r.to(rt.device)
        with torch.no_grad():
            ref = (z_r, y_r, flow.euler(t_model, student.target_noise(z_r), cfg.k, y_r))
    g_model = rt.wrap(student)
    shape, n_cls = tuple(net_cfg.shape), teacher.n_classes
    t0 = time.perf_counter() - wall0
    if start == 0 and rt.is_main:
        rec = {"step": 0, **probe_metrics(student, probe), "wall": 0.0, "world_size": rt.world_size}
        log.write(rec)
        if on_step:
            on_step(0, rec)

    for step in range(start + 1, cfg.steps + 1):
        rec = {"step": step}
        z = torch.randn((cfg.batch, *shape), generator=gen, device=rt.device)
        y = torch.randint(n_cls, (cfg.batch,), generator=gen, device=rt.device) if n_cls else None
        with rt.autocast():
            with torch.no_grad():
                x_fake = student(z, y).float()
            loss_c, logs = dmd.critic_loss(critic, x_fake, y, gen)
            rec.update(logs)
            if disc is not None:
                real, y_real = ds.sample(cfg.batch, data_gen)
                real, y_real = real.to(rt.device), None if y_real is None else y_real.to(rt.device)
                loss_d, logs = dmd.gan_d_loss(disc, critic, real, y_real, x_fake, y, gen)
                loss_c = loss_c + gan_d * loss_d
                rec.update(logs)
        opt_c.zero_grad(set_to_none=True)
        loss_c.backward()
        rt.all_reduce_grads(critic_params)
        opt_c.step()

        if step % cfg.ratio == 0:
            critic.requires_grad_(False)
            z = torch.randn((cfg.batch, *shape), generator=gen, device=rt.device)
            with rt.autocast():
                if ref is None:
                    x = g_model(z, y)
                else:  # one forward for both terms keeps DDP's one-backward-per-forward rule
                    z_r, y_r, target = ref
                    x_all = g_model(torch.cat([z, z_r]), None if y is None else torch.cat([y, y_r]))
                    x, x_r = x_all[: len(z)], x_all[len(z):]
                loss_g, logs = dmd.dm_loss(x, t_model, critic, y, cfg.t_min, cfg.t_max, gen)
                rec.update(logs)
                if disc is not None:
                    loss_a, logs = dmd.gan_g_loss(disc, critic, x, y, gen)
                    loss_g = loss_g + gan_g * loss_a
                    rec.update(logs)
                if ref is not None:
                    loss_r, logs = dmd.regression_loss(x_r, target)
                    loss_g = loss_g + cfg.regression_weight * loss_r
                    rec.update(logs)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            critic.requires_grad_(True)

        stop = _stop(should_stop, rt)
        rec = rt.mean_logs(rec)
        rec["wall"] = time.perf_counter() - t0
        if rt.is_main and (step % cfg.probe_every == 0 or step == cfg.steps or stop):
            rec.update(probe_metrics(student, probe))
            rec["world_size"] = rt.world_size
        log.write(rec)
        if on_step:
            on_step(step, rec)
        if step % state_every == 0 or stop or step == cfg.steps:
            _save_state(out, step, *state, time.perf_counter() - t0, rt)
        if stop:
            return out
    rt.assert_in_sync(modules)
    if rt.is_main:
        final = {k: v for k, v in rec.items() if k not in ("step", "wall")}
        train = {**to_dict(cfg), "step": cfg.steps, "wall_time_s": round(time.perf_counter() - t0, 2),
                 "world_size": rt.world_size, "device": str(rt.device), "bf16": rt.bf16}
        config = hub.make_config("student", teacher.data, net_cfg, train, (teacher.ref, teacher.revision),
                                 {"init": cfg.init, "noise_rotation": cfg.noise_rotation,
                                  "shuffled_control": cfg.shuffled_control},
                                 {k: _scalar(v) for k, v in final.items() if "agreement" in k or "ratio" in k or "contrast" in k})
        hub.save_checkpoint(out, student, config)
    rt.barrier()
    return out
