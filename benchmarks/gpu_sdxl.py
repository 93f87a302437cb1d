"""What an analysis of an SDXL-class pair costs: a real-size SDXL UNet with random weights made
on the device (no download), timed per 100 seeds for Φ_1, Φ_8 and G, with its peak memory.

``python -m benchmarks.gpu_sdxl [--device cuda] [--dtype fp16|bf16|fp32] [--batch 8] [--json OUT]``
(``--tiny`` shrinks the widths and depth so the script itself runs in a test on the CPU; its
numbers then mean nothing). ``benchmarks/gpu_check.sh`` runs it when a GPU is lent.

What is timed is the network work an analysis does, on the latents and conditioning an SDXL
pipeline passes its UNet (4 × 128 × 128 latents, 77 × 2048 prompt embeddings, the pooled
embedding and the six ``time_ids``): one Euler/DDIM-style teacher step is one UNet call on a
batch doubled for classifier-free guidance (the recipes' teachers run with CFG), so Φ_K costs
K doubled calls and G (a one-step student, no guidance) one plain call. Scheduler arithmetic,
the VAE and the text encoders are left out: they cost a small fraction of this, and an
analysis runs on latents with prompt embeddings computed once (``dmdviz embed``).

The configuration is SDXL base 1.0's ``unet/config.json`` (2.57 B parameters), written out
here so nothing is fetched.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

# stabilityai/stable-diffusion-xl-base-1.0, unet/config.json (the fields that differ from
# UNet2DConditionModel's defaults)
SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280), attention_head_dim=(5, 10, 20),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048, use_linear_projection=True,
    addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
)
# the same features at a size a CPU test runs in a second
TINY_UNET = {**SDXL_UNET, "sample_size": 16, "block_out_channels": (32, 64, 64), "attention_head_dim": (2, 4, 4),
             "transformer_layers_per_block": (1, 1, 1), "cross_attention_dim": 32, "layers_per_block": 1,
             "addition_time_embed_dim": 8, "projection_class_embeddings_input_dim": 32 + 6 * 8, "norm_num_groups": 16}
TOKENS = 77
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def build_unet(config: dict, device: torch.device, dtype: torch.dtype):
    """The UNet with random weights made directly on ``device`` in ``dtype`` (small normal
    weights: a random-init network's cost, not its outputs, is what is measured)."""
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**config)
    unet = unet.to_empty(device=device).to(dtype).eval().requires_grad_(False)
    g = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for p in unet.parameters():
            p.normal_(0.0, 0.02, generator=g)
    return unet


def _inputs(config: dict, batch: int, device, dtype) -> tuple:
    """Latents, prompt embeddings and SDXL's added conditions for ``batch`` samples."""
    size = config["sample_size"]
    latents = torch.randn(batch, config["in_channels"], size, size, device=device, dtype=dtype)
    text = torch.randn(batch, TOKENS, config["cross_attention_dim"], device=device, dtype=dtype)
    pooled_dim = config["projection_class_embeddings_input_dim"] - 6 * config["addition_time_embed_dim"]
    cond = {"text_embeds": torch.randn(batch, pooled_dim, device=device, dtype=dtype),
            "time_ids": torch.tensor([8.0 * size] * 2 + [0.0, 0.0] + [8.0 * size] * 2, device=device,
                                     dtype=dtype).repeat(batch, 1)}
    return latents, text, cond


def measure(config: dict, device: str = "cuda", dtype: str = "fp16", batch: int = 8, reps: int = 3) -> dict:
    """Seconds per 100 seeds for Φ_1, Φ_8 (guided: a doubled batch per step) and G, the UNet's
    parameter count, and the peak device memory (CUDA only)."""
    dev, dt = torch.device(device), DTYPES[dtype]
    unet = build_unet(config, dev, dt)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    def call_seconds(b: int) -> float:
        latents, text, cond = _inputs(config, b, dev, dt)
        t = torch.full((b,), 999, device=dev)
        with torch.inference_mode():
            unet(latents, t, text, added_cond_kwargs=cond)  # warm-up (kernels, allocator)
            sync()
            t0 = time.perf_counter()
            for _ in range(reps):
                unet(latents, t, text, added_cond_kwargs=cond)
            sync()
        return (time.perf_counter() - t0) / reps

    plain, guided = call_seconds(batch), call_seconds(2 * batch)
    per_100 = 100 / batch
    out = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "dtype": dtype,
           "batch": batch, "parameters": sum(p.numel() for p in unet.parameters()),
           "unet_call_s": round(plain, 4), "guided_call_s": round(guided, 4),
           "phi_1_per_100_s": round(per_100 * guided, 2), "phi_8_per_100_s": round(per_100 * 8 * guided, 2),
           "g_per_100_s": round(per_100 * plain, 2)}
    # one analysis (Φ_1, Φ_8, Φ_32 and G) of N = 1,000 seeds
    out["analysis_n1000_s"] = round(10 * (out["phi_1_per_100_s"] * 41 + out["g_per_100_s"]), 1)
    if dev.type == "cuda":
        out["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=tuple(DTYPES), default=None, help="default: fp16 on CUDA, fp32 on the CPU")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--tiny", action="store_true", help="the shrunk configuration (a smoke run)")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)
    dtype = args.dtype or ("fp16" if args.device.startswith("cuda") else "fp32")
    out = measure(TINY_UNET if args.tiny else SDXL_UNET, args.device, dtype, args.batch, args.reps)
    out["config"] = "tiny" if args.tiny else "sdxl-base-1.0"
    print(json.dumps(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
