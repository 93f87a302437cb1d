"""GPU check: the CUDA path works and how fast it is (``benchmarks/gpu_check.sh`` runs it).

On the device (CUDA when visible, else the CPU, so the script itself can be tested
anywhere), in fp32 and bf16 autocast, with the UNet channels_last on CUDA:

1. the real loops: ``train_teacher`` and ``distill`` on chessboard4d for a few steps
   (device generators, placement, logging, checkpoint writing);
2. Φ_8 on the device agrees with Φ_8 on the CPU (fp32, same weights and noise);
3. timings of one teacher training step, Φ_K sampling of N seeds and one DMD iteration
   (ratio 1: critic step + generator step) for the mnist UNet and the mnist-mlp MLP,
   on synthetic tensors (no data set needed);
4. the adapter path: a tiny random diffusers pair (DDIM UNet2DModel teacher, DMD2-style
   one-step student; a flow-match SD3 transformer with prompt embeddings) loaded on the
   device in fp32, fp16 and bf16, Φ_4 and G against the fp32 CPU result, and
   ``sample_pair`` through the sample cache (a second call must compute nothing).

Prints one line per measurement and writes them as JSON to the path given, if any.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from dmdviz import checkpoint
from dmdviz.config import get_preset
from dmdviz.core import dmd, flow, noise
from dmdviz.core.nets import build_net
from dmdviz.files import read_metrics
from dmdviz.training import distill, train_teacher
from dmdviz.training.runtime import Runtime


def _timed(fn, device: torch.device, reps: int) -> float:
    """Mean seconds per call after two warm-up calls, synchronising the device."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t0) / reps


def check_loops(rt: Runtime, root: Path) -> dict:
    """A few steps of the real teacher and DMD loops on the device; finite losses and a checkpoint."""
    p = get_preset("chessboard4d")
    net = replace(p.net, hidden=64)
    train_teacher(p.data, net, replace(p.teacher, steps=40, batch=256, snapshots=(), log_every=20), root / "t", rt=rt)
    teacher = checkpoint.load_checkpoint(str(root / "t"), device=rt.device)
    distill(teacher, replace(p.distill, steps=10, batch=128, probe_every=5, probe_n=32), root / "s", rt=rt)
    losses = [m["fm_loss"] for m in read_metrics(root / "t")] + [m["critic_loss"] for m in read_metrics(root / "s")[1:]]
    assert all(torch.isfinite(torch.tensor(losses))), losses
    return {"loops_ok": True, "student_device": checkpoint.load_checkpoint(str(root / "s")).config["train"]["device"]}


def check_sampling_matches_cpu(rt: Runtime, preset: str = "mnist", n: int = 64) -> float:
    """Largest |Φ_8 on the device - Φ_8 on the CPU| in fp32 (TF32 allowed on CUDA)."""
    net_cfg = get_preset(preset).net
    torch.manual_seed(0)
    cpu = build_net(net_cfg).eval()
    for prm in cpu.parameters():  # leave the zero-initialised output layer behind
        torch.nn.init.normal_(prm, std=0.05)
    dev = rt.place(copy.deepcopy(cpu))
    z, _ = noise.seeded(0, n, net_cfg.shape)
    return float((flow.euler(dev, z.to(rt.device), 8).cpu() - flow.euler(cpu, z, 8)).abs().max())


def time_preset(rt: Runtime, preset: str, n_sample: int = 2000, reps: int = 20) -> dict:
    """Seconds per teacher step, per Φ_8 over n_sample seeds, per DMD iteration (ratio 1)."""
    p = get_preset(preset)
    shape, batch, dev = tuple(p.net.shape), p.teacher.batch, rt.device
    torch.manual_seed(0)
    net = rt.place(build_net(p.net))
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, fused=True)
    x, z, t = (torch.randn(batch, *shape, device=dev), torch.randn(batch, *shape, device=dev),
               torch.rand(batch, device=dev))

    def teacher_step():
        with rt.autocast():
            loss, _ = flow.fm_loss(net, x, z, t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    zs = torch.randn(n_sample, *shape, device=dev)

    @torch.inference_mode()
    def sample():
        with rt.autocast():
            for chunk in zs.split(500):
                flow.euler(net, chunk, 8)

    teacher = copy.deepcopy(net).requires_grad_(False)
    student, critic = dmd.StudentNet(copy.deepcopy(net)), copy.deepcopy(net)
    opt_g = torch.optim.Adam(student.parameters(), lr=1e-5, fused=True)
    opt_c = torch.optim.Adam(critic.parameters(), lr=1e-5, fused=True)
    gen = torch.Generator(dev).manual_seed(0)

    def dmd_iteration():
        with rt.autocast():
            with torch.no_grad():
                fake = student(z).float()
            loss_c, _ = dmd.critic_loss(critic, fake, None, gen)
        opt_c.zero_grad(set_to_none=True)
        loss_c.backward()
        opt_c.step()
        critic.requires_grad_(False)
        with rt.autocast():
            loss_g, _ = dmd.dm_loss(student(z), teacher, critic, None, 0.02, 0.98, gen)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        critic.requires_grad_(True)

    out = {"teacher_step_s": _timed(teacher_step, dev, reps), "sample_phi8_s": _timed(sample, dev, 2),
           "dmd_iteration_s": _timed(dmd_iteration, dev, reps)}
    out["dmd_in_teacher_steps"] = out["dmd_iteration_s"] / out["teacher_step_s"]
    return out


def _tiny_diffusers(root: Path) -> tuple[Path, Path, Path]:
    """A tiny DDIM UNet pipeline and a tiny flow-match SD3 pipeline with 3 prompt embeddings."""
    import diffusers
    from safetensors.torch import save_file

    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
                                 block_out_channels=(32, 64), down_block_types=("DownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8)
    unet.save_pretrained(root / "ddim" / "unet")
    diffusers.DDIMScheduler(clip_sample=False).save_pretrained(root / "ddim" / "scheduler")
    sd3 = diffusers.SD3Transformer2DModel(sample_size=16, patch_size=2, in_channels=4, num_layers=2,
                                          attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                          caption_projection_dim=32, pooled_projection_dim=16, out_channels=4,
                                          pos_embed_max_size=16)
    sd3.save_pretrained(root / "sd3" / "transformer")
    diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0).save_pretrained(root / "sd3" / "scheduler")
    prompts = root / "prompts.safetensors"
    save_file({"prompt_embeds": torch.randn(3, 7, 32), "pooled_prompt_embeds": torch.randn(3, 16)}, str(prompts))
    return root / "ddim", root / "sd3", prompts


def check_adapters(device: torch.device, root: Path, n: int = 64) -> dict:
    """Max |device - CPU fp32| of Φ_4 and G per dtype, seconds of ``sample_pair``, cache reuse."""
    from dmdviz.analysis import sample_pair
    from dmdviz.analysis.cache import SampleCache
    from dmdviz.models import diffusers_adapter as dif

    ddim, sd3, prompts = _tiny_diffusers(root)
    z, y = noise.seeded(0, n, (4, 16, 16), 3)
    ref_t = dif.teacher(str(ddim)).phi(z, 4)
    ref_g = dif.student(str(ddim), {"timestep": 999})(z)
    ref_sd3 = dif.teacher(str(sd3), prompts=prompts).phi(z, 4, y)
    out = {}
    for dtype in ("float32", "float16", "bfloat16"):
        try:
            t = dif.teacher(str(ddim), {"dtype": dtype}, device=device)
            g = dif.student(str(ddim), {"dtype": dtype, "timestep": 999}, device=device)
            f = dif.teacher(str(sd3), {"dtype": dtype}, prompts=prompts, device=device)
            zd, yd = z.to(device, t.dtype), y.to(device)
            with torch.inference_mode():
                r = {"phi4_ddim": float((t.phi(zd, 4).float().cpu() - ref_t).abs().max()),
                     "g_ddim": float((g(zd).float().cpu() - ref_g).abs().max()),
                     "phi4_sd3": float((f.phi(zd, 4, yd).float().cpu() - ref_sd3).abs().max())}
            cache, t0 = SampleCache(root / f"cache-{dtype}"), time.perf_counter()
            sample_pair(t, g, 512, 0, (1, 4), chunk=128, cache=cache)
            r["sample_pair_512_cold_s"], first = time.perf_counter() - t0, cache.computed
            t0 = time.perf_counter()
            sample_pair(t, g, 512, 0, (1, 4), chunk=128, cache=cache)
            r["sample_pair_512_warm_s"], r["cache_second_call_computed"] = time.perf_counter() - t0, cache.computed - first
        except Exception as e:  # report a dtype the device lacks, keep the other numbers
            r = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"}
        out[dtype] = r
    return out


def main(json_path: str | None = None) -> None:
    results = {"device": str(Runtime.create().device),
               "name": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        results.update(check_loops(Runtime.create(), Path(tmp)))
    results["phi8_max_abs_diff_vs_cpu"] = check_sampling_matches_cpu(Runtime.create())
    print(json.dumps({k: results[k] for k in list(results)}), flush=True)
    on_cpu = results["device"] == "cpu"
    for preset in ("mnist", "mnist-mlp"):
        for bf16 in (False, True):
            r = time_preset(Runtime.create(bf16=bf16), preset, n_sample=200 if on_cpu else 2000, reps=3 if on_cpu else 20)
            results[f"{preset}{'-bf16' if bf16 else ''}"] = r
            print(f"{preset:10s} {'bf16' if bf16 else 'fp32'}  teacher step {1e3 * r['teacher_step_s']:8.2f} ms  "
                  f"Φ_8 x {200 if on_cpu else 2000} {r['sample_phi8_s']:7.3f} s  DMD it {1e3 * r['dmd_iteration_s']:8.2f} ms "
                  f"(= {r['dmd_in_teacher_steps']:.2f} teacher steps)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results["adapters"] = check_adapters(Runtime.create().device, Path(tmp))
    for dtype, r in results["adapters"].items():
        print(f"diffusers adapters {dtype:8s} {json.dumps(r)}", flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
