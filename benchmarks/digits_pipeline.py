"""The shipped runnable pipeline pair, regenerated: a ``DDIMPipeline`` teacher on scikit-learn's
8 × 8 digits and a one-step DMD student of it, both in diffusers format.

    python -m benchmarks.digits_pipeline --out checkpoints/pairs/digits-ddim --threads 1

writes ``teacher/`` (``model_index.json``, ``scheduler/``, ``unet/``: a pipeline folder any
diffusers install opens) and ``student-unet.safetensors`` (the student's UNet state dict, a
DMD2-style student over the teacher's pipeline), which ``checkpoints/pairs/digits-ddim.toml``
names. Both weight files are stored in float16 (1.4 MB in float32, 0.7 MB so). Seeds are fixed;
on another machine the numbers differ in the last digits.

The networks are diffusers ``UNet2DModel``s (v-prediction on ``DDIMScheduler``'s linear-β
table, trailing spacing, no clipping). They are trained with dmdviz's own losses, seen in
dmdviz's time convention through ``VPVelocity`` (the diffusers adapter's VP conversion,
``models.params``, with one noise level per sample instead of one per batch):

    teacher  flow.fm_loss (conditional flow matching; for a VP v-prediction net it is the
             v-loss weighted by (a + b)², a = √ᾱ, b = √(1 - ᾱ))
    student  G(z) = x̂0 of the student UNet at timestep 999 on x = z (one DDIM step, trailing);
             DMD: core.dmd.critic_loss for the fake critic (a copy of the teacher) and
             core.dmd.dm_loss for G, two time scales as ``training.student`` runs them

(``training.student`` trains dmdviz's own nets from dmdviz checkpoints, so its loop is
written out here.) The script checks ``VPVelocity`` against ``models.diffusers_adapter``'s
teacher at a shared time before it trains the student.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from dmdviz.config import DataConfig
from dmdviz.core import dmd, flow
from dmdviz.data import get_dataset

UNET = {"sample_size": 8, "in_channels": 1, "out_channels": 1, "block_out_channels": (16, 32),
        "layers_per_block": 1, "down_block_types": ("DownBlock2D", "DownBlock2D"), "up_block_types": ("UpBlock2D", "UpBlock2D"),
        "norm_num_groups": 8}
SCHEDULER = {"num_train_timesteps": 1000, "beta_schedule": "linear", "prediction_type": "v_prediction",
             "timestep_spacing": "trailing", "clip_sample": False, "set_alpha_to_one": True}


class VPVelocity(torch.nn.Module):
    """dmdviz's velocity v(x_t, t) = x̂0 - ε̂ of a VP v-prediction UNet, t (B,) per sample:
    ᾱ(t) = t² / (t² + (1 - t)²) (clamped to the table), the UNet given the fractional
    timestep of that ᾱ on x = x_t (a + b)."""

    def __init__(self, unet, alphas_cumprod: torch.Tensor):
        super().__init__()
        self.unet = unet
        self.abar = alphas_cumprod.double().numpy()

    def forward(self, x_t, t, y=None):
        tt = t.double().cpu().numpy()
        abar = np.clip(tt * tt / (tt * tt + (1 - tt) ** 2), self.abar[-1], self.abar[0])
        step = np.interp(-abar, -self.abar, np.arange(len(self.abar)))
        a = torch.tensor(np.sqrt(abar), dtype=x_t.dtype).reshape(-1, 1, 1, 1)
        b = torch.tensor(np.sqrt(1 - abar), dtype=x_t.dtype).reshape(-1, 1, 1, 1)
        x = x_t * (a + b)
        out = self.unet(x, torch.tensor(step, dtype=x_t.dtype), return_dict=False)[0]
        return (a * x - b * out) - (b * x + a * out)


def one_step(unet, abar_last: float):
    """G(z) = x̂0 = a z - b v at the last training timestep (one trailing DDIM step)."""
    a, b = math.sqrt(abar_last), math.sqrt(1 - abar_last)
    last = torch.tensor([999.0])
    return lambda z: a * z - b * unet(z, last.expand(len(z)), return_dict=False)[0]


def train_teacher(unet, abar, steps: int, batch: int, lr: float, seed: int, log) -> None:
    ds = get_dataset(DataConfig("digits", seed=seed))
    v = VPVelocity(unet, abar)
    opt = torch.optim.Adam(unet.parameters(), lr)
    g = torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        x, _ = ds.sampler(batch, g)
        z = torch.randn(x.shape, generator=g)
        loss, _ = flow.fm_loss(v, x, z, torch.rand(batch, generator=g))
        for group in opt.param_groups:  # cosine decay to a tenth
            group["lr"] = lr * (0.55 + 0.45 * math.cos(math.pi * step / steps))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            log(f"teacher {step}/{steps} fm_loss {loss.item():.4f}")


def train_student(teacher_unet, abar, steps: int, batch: int, seed: int, log, ratio: int = 2):
    """DMD (module doc): critic ``ratio`` times, then G once; both start from the teacher."""
    real = VPVelocity(teacher_unet.requires_grad_(False).eval(), abar)
    student, critic_net = copy.deepcopy(teacher_unet), copy.deepcopy(teacher_unet)
    for net in (student, critic_net):
        net.requires_grad_(True).train()
    critic, g_of = VPVelocity(critic_net, abar), one_step(student, float(abar[-1]))
    opt_g = torch.optim.Adam(student.parameters(), 1e-4, betas=(0.0, 0.99))
    opt_c = torch.optim.Adam(critic_net.parameters(), 2e-4, betas=(0.0, 0.99))
    gen = torch.Generator().manual_seed(seed + 1)
    for it in range(1, steps + 1):
        for _ in range(ratio):
            with torch.no_grad():
                fake = g_of(torch.randn(batch, 1, 8, 8, generator=gen))
            loss_c, _ = dmd.critic_loss(critic, fake, None, gen)
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
        loss_g, logs = dmd.dm_loss(g_of(torch.randn(batch, 1, 8, 8, generator=gen)), real, critic, None, 0.02, 0.98, gen)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if it % 20 == 0:
            log(f"dmd {it}/{steps} critic {loss_c.item():.4f} dm_numerator {float(logs['dm_numerator']):.4f}")
    return student


def check_against_adapter(folder: Path, unet, abar) -> float:
    """max |VPVelocity - diffusers_adapter teacher velocity| at a shared t (should be ~1e-6)."""
    from dmdviz.models import diffusers_adapter

    t = torch.full((4,), 0.37)
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = VPVelocity(unet.eval(), abar)(x, t)
        theirs = diffusers_adapter.teacher(str(folder)).velocity(x, t)
    return float((ours - theirs).abs().max())


def to_half(path: Path) -> None:
    """Store a weights file in float16 (half the shipped bytes; the adapters load float32)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    save_file({k: v.half() for k, v in load_file(str(path)).items()}, str(path), metadata=meta)
    path.chmod(0o644)  # safetensors writes 0600


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("checkpoints/pairs/digits-ddim"))
    p.add_argument("--teacher-steps", type=int, default=1500)
    p.add_argument("--dmd-steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    import diffusers
    from safetensors.torch import save_file

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:7.1f} s] {msg}", flush=True)

    sched = diffusers.DDIMScheduler(**SCHEDULER)
    unet = diffusers.UNet2DModel(**UNET)
    train_teacher(unet, sched.alphas_cumprod, a.teacher_steps, a.batch, 2e-3, a.seed, log)
    pipe = diffusers.DDIMPipeline(unet=unet.eval(), scheduler=sched)
    pipe.save_pretrained(str(a.out / "teacher"), safe_serialization=True)
    diff = check_against_adapter(a.out / "teacher", unet, sched.alphas_cumprod)
    log(f"teacher saved; VPVelocity vs the diffusers adapter: max |diff| {diff:.2e}")
    student = train_student(unet, sched.alphas_cumprod, a.dmd_steps, a.batch, a.seed, log)
    save_file({k: v.detach().contiguous() for k, v in student.state_dict().items()},
              str(a.out / "student-unet.safetensors"), metadata={"teacher": "teacher/unet", "method": "DMD"})
    for path in a.out.rglob("*.safetensors"):
        to_half(path)
    info = {"teacher_steps": a.teacher_steps, "dmd_steps": a.dmd_steps, "batch": a.batch, "seed": a.seed,
            "threads": a.threads, "adapter_check": diff, "wall_s": round(time.time() - t0, 1),
            "cpu_s": round(time.process_time(), 1), "weights": "float16"}
    (a.out / "train.json").write_text(json.dumps(info, indent=1) + "\n")
    log(f"done: {info}")
    return info


if __name__ == "__main__":
    main()
