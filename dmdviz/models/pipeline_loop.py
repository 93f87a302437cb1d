"""Pipelines whose ``__call__`` takes no ``latents``, run on dmdviz's noise by their own loop.

``DiTPipeline`` (class labels, guidance against the null class, learned sigma) and the
unconditional ``DDIMPipeline`` / ``DDPMPipeline`` draw their starting noise inside
``__call__``. This is that loop, from z, for the pipeline's own components:

    x = z · init_noise_sigma;  scheduler.set_timesteps(K)  (or the call's num_inference_steps)
    for τ in scheduler.timesteps:
        out = net(scale_model_input([x, x]), τ, [y, null])     # DiT with guidance_scale > 1
        ε̂ = out[:, :C]                # learned sigma (out_channels = 2C): the variance half dropped
        ε̂ = ε̂_null + w (ε̂_y - ε̂_null)                          # DiT with guidance_scale > 1
        x = scheduler.step(ε̂, τ, x, generator=[g_i], eta=...).prev_sample
    return x     # DiT: the latents it then decodes; DDIM / DDPM: pixels before their [0, 1] clamp

with y_i drawn from (seed, i) over the transformer's ``num_embeds_ada_norm`` classes and
the null class its last embedding row (1000 for every published DiT, as ``DiTPipeline``
hard-codes). The pipelines step the doubled guidance batch; its two halves are equal, so
stepping one half is the same map, and the per-sample generators make a stochastic
scheduler's noise a function of the seed (the pipelines pass none to DiT's step). The
outputs equal each pipeline's own on the same generators (tests/test_published_loop.py).
"""

from __future__ import annotations

import inspect

import torch

from dmdviz.errors import DmdvizError

LOOPED = ("DiTPipeline", "DDIMPipeline", "DDPMPipeline")
SET_HERE = ("class_labels", "batch_size")
STEP_ARGS = ("eta", "use_clipped_model_output")


def looped(pipe) -> bool:
    """Whether this pipeline runs through ``run`` (its ``__call__`` takes no latents)."""
    return type(pipe).__name__ in LOOPED


def check_call(call: dict) -> None:
    bad = sorted(set(call) & set(SET_HERE))
    if bad:
        raise DmdvizError(f"args.call: {', '.join(bad)} are set by dmdviz (labels drawn per seed, one call per batch)")


def n_classes(pipe) -> int:
    """The class labels a DiT takes (its label table without the null row); 0 for the others."""
    return int(pipe.transformer.config.num_embeds_ada_norm or 0) if type(pipe).__name__ == "DiTPipeline" else 0


@torch.no_grad()  # as the pipelines' own __call__
def run(pipe, z: torch.Tensor, y, call: dict, generators: list, record: list | None = None) -> torch.Tensor:
    """The pipeline's loop from z (B, C, h, w) (module doc); ``record`` gets each step's x."""
    net = getattr(pipe, "transformer", None) or pipe.unet
    s, dit = pipe.scheduler, type(pipe).__name__ == "DiTPipeline"
    defaults = {k: p.default for k, p in inspect.signature(type(pipe).__call__).parameters.items()}
    steps, w = call.get("num_inference_steps", defaults["num_inference_steps"]), 1.0
    if dit:
        if y is None:
            raise DmdvizError("a DiT pipeline needs a class label per sample")
        w = float(call.get("guidance_scale", defaults["guidance_scale"]))
    labels = _labels(net, y, w, z.device) if dit else None
    accepted = inspect.signature(s.step).parameters
    kw = {k: call.get(k, defaults.get(k)) for k in STEP_ARGS if k in accepted and k in defaults}
    kw.update({"generator": generators} if "generator" in accepted else {})
    channels = net.config.in_channels
    s.set_timesteps(int(steps))
    x = z * float(getattr(s, "init_noise_sigma", 1.0))
    for t in s.timesteps:
        inp = s.scale_model_input(torch.cat([x, x]) if w > 1 else x, t)
        tt = (t if torch.is_tensor(t) else torch.tensor(t))[None].to(inp.device).expand(len(inp))
        out = net(inp, tt, class_labels=labels, return_dict=False)[0] if dit else net(inp, tt, return_dict=False)[0]
        eps = out[:, :channels]
        if w > 1:
            cond, null = eps.chunk(2)
            eps = null + w * (cond - null)
        x = s.step(eps, t, x, **kw).prev_sample
        if record is not None:
            record.append(x)
    return x


def _labels(net, y: torch.Tensor, w: float, device) -> torch.Tensor:
    null = int(net.config.num_embeds_ada_norm)
    y = y.to(device).reshape(-1)
    return torch.cat([y, torch.full_like(y, null)]) if w > 1 else y
