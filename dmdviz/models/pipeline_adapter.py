"""Whole diffusers pipelines as protocol teachers and students (pair-file adapter ``pipeline``).

A pipeline side is run by the pipeline's own ``__call__``, as its model card runs it:

    Φ_K(z) = pipe(latents=z, num_inference_steps=K, output_type="latent",
                  generator=[g_i], **conditioning(y), **args.call)
    G(z)   = the same call with the student's own args.call (1 step, or its few-step
             ``timesteps``), on the student's pipeline (state dict, LoRA, scheduler:
             ``models.pipeline_load``)

``g_i`` is one ``torch.Generator`` per sample, seeded by a hash of z_i's bytes; z_i is a pure
function of (seed, i), so noise a multi-step sampler injects between steps (LCM, SDE
samplers) is too, and a stochastic few-step student stays a function of its seed. The
teacher runs with its card's guidance (``args.call.guidance_scale``, else the pipeline's
default), stated as ``guidance``. Conditioning is a safetensors file of ``__call__``
arguments (``prompt_embeds``, ``pooled_prompt_embeds``, ``negative_*``, masks), each (P, ...):
sample i takes prompt y_i (drawn from (seed, i) like a class label).

``args.batch`` (default 16) caps the samples of one pipeline call (CFG doubles it).
Per-class code lives in ``_Layout``: the latent shape, the pixel height / width, Flux's
2×2 packing, and resolution binning switched off (the latents fix the size). Pipelines whose
``__call__`` takes no latents (``DiTPipeline`` with its class labels, ``DDIMPipeline``,
``DDPMPipeline``) run their own loop from z in ``models.pipeline_loop``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import numpy as np
import torch

from dmdviz.errors import DmdvizError
from dmdviz.models import pipeline_load, pipeline_loop
from dmdviz.models.diffusers_adapter import resolve
from dmdviz.models.native import file_digest

ARGS = ("call", "unet", "transformer", "lora", "scheduler", "dtype", "variant", "grid", "batch")
SET_HERE = ("latents", "output_type", "generator", "return_dict", "callback_on_step_end", "callback",
            "callback_steps", "callback_on_step_end_tensor_inputs", "num_images_per_prompt")
TEACHER_GRID = ("num_inference_steps", "timesteps", "sigmas")


def generators(z: torch.Tensor, salt: int = 0) -> list[torch.Generator]:
    """One CPU generator per row of z, seeded by a hash of the row's float32 bytes (module doc)."""
    rows = z.detach().float().cpu().reshape(len(z), -1).numpy()
    out = []
    for row in rows:
        digest = hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=8,
                                 key=int(salt).to_bytes(8, "little")).digest()
        out.append(torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1)))
    return out


class _Layout:
    """What one pipeline class needs around its call: latent shape (C, h, w), pixel size, packing."""

    def __init__(self, pipe, call: dict, params):
        den = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
        if den is None:
            raise DmdvizError(f"the {type(pipe).__name__} has no unet or transformer")
        self.packed = hasattr(pipe, "_pack_latents")  # Flux: 2×2 patches of the latents as tokens
        self.vsf = int(getattr(pipe, "vae_scale_factor", 8))
        channels = den.config.in_channels // (4 if self.packed else 1)
        size = getattr(pipe, "default_sample_size", None) or den.config.get("sample_size")
        h = call.get("height", size * self.vsf if size else None)
        w = call.get("width", h)
        if not h:
            raise DmdvizError(f"the {type(pipe).__name__} states no sample size: give height and width in args.call")
        self.height, self.width = int(h), int(w)
        div = self.vsf * (2 if self.packed else 1)
        self.shape = (channels, (self.height // div) * div // self.vsf, (self.width // div) * div // self.vsf)
        self.fixed = {k: v for k, v in (("height", self.height), ("width", self.width),
                                        ("use_resolution_binning", False)) if k in params and k not in call}
        self.pipe = pipe

    def pack(self, z):
        return self.pipe._pack_latents(z, len(z), *self.shape) if self.packed else z

    def unpack(self, x):
        return self.pipe._unpack_latents(x, self.height, self.width, self.vsf) if self.packed else x


class _Prompts:
    """The conditioning file: ``__call__`` argument name -> (P, ...) tensor."""

    def __init__(self, path: Path | None, pipe, params):
        self.tensors, self.n, self.notes = {}, 0, []
        self.clear_negative = "negative_prompt" in params
        if path is None:
            if "prompt_embeds" in params:
                raise DmdvizError(f"the {type(pipe).__name__} is text-conditional: give the pair file's "
                                  "conditioning.prompts (prompt_embeds ... as safetensors)")
            return
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if Path(path).suffix != ".safetensors" or not Path(path).is_file():
            raise DmdvizError(f"prompt embeddings {path}: expected a .safetensors file")
        try:
            self.tensors = load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise DmdvizError(f"prompt embeddings {Path(path).name}: not readable ({pipeline_load._first_line(e)})") from None
        # a guidance-free student (SANA-Sprint beside its SANA teacher) takes no negative embeddings
        unused = sorted(k for k in self.tensors if k not in params and k.startswith("negative_"))
        unknown = sorted(set(self.tensors) - set(params) - set(unused))
        if unknown or "prompt_embeds" not in self.tensors:
            raise DmdvizError(f"{Path(path).name}: tensors must be {type(pipe).__name__}.__call__ arguments with "
                              f"prompt_embeds among them (not: {', '.join(unknown) or 'none'})")
        self.tensors = {k: v for k, v in self.tensors.items() if k not in unused}
        self.notes = [f"{', '.join(unused)} unused: the {type(pipe).__name__} takes no negative prompt"] if unused else []
        sizes = {len(t) for t in self.tensors.values() if t.dim() > 0}
        if len(sizes) != 1 or any(t.dim() == 0 for t in self.tensors.values()):
            raise DmdvizError(f"{Path(path).name}: every tensor needs the same leading prompt dimension P")
        self.n = sizes.pop()

    def __call__(self, y, device, dtype) -> dict:
        if not self.tensors:
            return {}
        if y is None:
            raise DmdvizError("a text-conditional pipeline needs a prompt index per sample")
        idx = y.cpu()
        out = {k: t[idx].to(device, dtype if t.is_floating_point() else t.dtype) for k, t in self.tensors.items()}
        if "negative_prompt_embeds" in out and self.clear_negative:
            out["negative_prompt"] = None  # PixArt's default "" would clash with the given embeddings
        return out


class _Side:
    """A loaded pipeline with its call arguments, conditioning and layout."""

    def __init__(self, ref: str, args: dict | None, prompts: Path | None, device, role: str):
        args = dict(args or {})
        unknown = sorted(set(args) - set(ARGS))
        if unknown:
            raise DmdvizError(f"pipeline adapter: unknown args {', '.join(unknown)} (known: {', '.join(ARGS)})")
        call = args.get("call", {})
        if not isinstance(call, dict):
            raise DmdvizError("args.call must be a table of the pipeline's __call__ arguments")
        root, revision = resolve(ref, pipeline_load.hub_patterns(args.get("variant")))
        cls = pipeline_load.pipeline_class(root)
        params = inspect.signature(cls.__call__).parameters
        if prompts is not None and "prompt_embeds" not in params:
            raise DmdvizError(f"the {cls.__name__} takes no prompt embeddings: drop conditioning.prompts")
        _check_call(call, params, role, root, cls.__name__ in pipeline_loop.LOOPED)
        pipe, files, self.notes = pipeline_load.open_pipeline(root, args, device)
        self.pipe, self.call, self.params = pipe, call, params
        self.batch = args.get("batch", 16)
        if not isinstance(self.batch, int) or not 1 <= self.batch <= 4096:
            raise DmdvizError(f"args.batch must be an integer between 1 and 4096, got {self.batch!r}")
        self.prompts = _Prompts(prompts, pipe, params)
        self.layout = _Layout(pipe, call, params)
        self.notes += self.prompts.notes
        default = params["guidance_scale"].default if "guidance_scale" in params else None
        self.guidance = call.get("guidance_scale", default)
        # what shapes the samples beyond the files' bytes (in the digest): call, scheduler, LoRA scale, ...
        shaping = {k: v for k, v in args.items() if k not in ("batch", "unet", "transformer", "lora")}
        shaping["lora_scale"] = args["lora"].get("scale", 1.0) if isinstance(args.get("lora"), dict) else None
        settings = json.dumps(shaping, sort_keys=True, default=str)
        digest = file_digest(*files, *([Path(prompts)] if prompts else []))
        tag = hashlib.sha256(settings.encode()).hexdigest()[:8]
        self.identity = f"pipeline:{ref}@{revision}#{digest}-{tag}"
        self.shape, self.n_classes = self.layout.shape, self.prompts.n or pipeline_loop.n_classes(pipe)
        den = getattr(pipe, "unet", None) or pipe.transformer
        self.dtype, self.device = next(den.parameters()).dtype, torch.device(device)

    def to(self, device):
        self.pipe.to(device)
        self.device = torch.device(device)
        return self

    def run(self, z, y, steps: dict, record: list | None = None) -> torch.Tensor:
        """The pipeline's output latents on z (B, *shape) -> (B, *shape), in calls of at most
        ``args.batch`` samples (each sample's noise and generator are its own, so the split
        changes nothing); ``record`` gets each step's latents (the step callback)."""
        outs, steps_seen = [], []
        for lo in range(0, len(z), self.batch):
            seen = [] if record is not None else None
            outs.append(self._call(z[lo:lo + self.batch], None if y is None else y[lo:lo + self.batch], steps, seen))
            steps_seen.append(seen)
        if record is not None:
            record += [torch.cat(states) for states in zip(*steps_seen)]
        return torch.cat(outs)

    def _call(self, z, y, steps: dict, record: list | None) -> torch.Tensor:
        kw = {**self.call, **steps, **self.layout.fixed, **self.prompts(y, self.device, self.dtype)}
        if record is not None:
            if "callback_on_step_end" in self.params:
                def on_step(_pipe, _i, _t, tensors):
                    record.append(tensors["latents"])
                    return {}
                kw["callback_on_step_end"] = on_step
            elif "callback" in self.params:
                kw.update(callback=lambda _i, _t, latents: record.append(latents), callback_steps=1)
        try:
            if pipeline_loop.looped(self.pipe):
                return pipeline_loop.run(self.pipe, z.to(self.device, self.dtype), y, kw, generators(z), record)
            out = self.pipe(latents=self.layout.pack(z.to(self.device, self.dtype)), output_type="latent",
                            generator=generators(z), return_dict=False, **kw)[0]
        except (TypeError, ValueError, AttributeError, RuntimeError, IndexError) as e:
            raise DmdvizError(f"{type(self.pipe).__name__}.__call__ failed: {pipeline_load._first_line(e)}") from None
        return self.layout.unpack(out)


def _check_call(call: dict, params, role: str, root: Path, looped: bool) -> None:
    if "latents" not in params and not looped:
        raise DmdvizError(f"{root}: its pipeline's __call__ takes no latents, so it cannot share dmdviz's noise "
                          f"(those run by dmdviz's loop: {', '.join(pipeline_loop.LOOPED)})")
    pipeline_loop.check_call(call)
    bad = sorted(set(call) & set(SET_HERE))
    unknown = sorted(set(call) - set(params))
    if bad or unknown:
        raise DmdvizError(f"args.call: {', '.join(bad + unknown)} "
                          f"{'are set by dmdviz' if bad else 'are not arguments of the pipeline __call__'}")
    if role == "teacher" and set(call) & set(TEACHER_GRID):
        raise DmdvizError(f"args.call: the teacher's K-step grid is set by K; drop "
                          f"{', '.join(sorted(set(call) & set(TEACHER_GRID)))} from the teacher")


class PipelineTeacher:
    """A protocol teacher: Φ_K is the pipeline's own K-step call (module doc)."""

    def __init__(self, side: _Side):
        self.side, self.identity, self.shape = side, side.identity, side.shape
        self.n_classes, self.dtype, self.device = side.n_classes, side.dtype, side.device
        self.guidance, self.notes = side.guidance, side.notes
        self._times: dict[int, torch.Tensor] = {}

    def to(self, device):
        self.side.to(device)
        self.device = self.side.device
        return self

    def velocity(self, x_t, t, y=None):
        raise DmdvizError("a pipeline teacher gives Φ_K, not a velocity (use the diffusers adapter for the net's "
                          "own velocity field)")

    def times(self, k: int) -> torch.Tensor:
        if k not in self._times:
            self.phi(torch.zeros((1, *self.shape), device=self.device, dtype=self.dtype), k,
                     None if not self.n_classes else torch.zeros(1, dtype=torch.long))
        return self._times[k]

    def phi(self, z, k, y=None, trajectory=False):
        record = []
        out = self.side.run(z, y, {"num_inference_steps": int(k)}, record)
        levels = _levels(self.side.pipe.scheduler, k)
        self._times[k] = torch.tensor([t for t, _ in levels], dtype=torch.float64)
        if not trajectory:
            return out
        states = [z.to(out.dtype) * float(getattr(self.side.pipe.scheduler, "init_noise_sigma", 1.0))]
        states += [self.side.layout.unpack(x) for x in record] or [out]
        pick = np.round(np.linspace(0, len(states) - 1, k + 1)).astype(int)  # PNDM-like: more calls than K
        return torch.stack([states[j] * levels[i][1] for i, j in enumerate(pick)])


class PipelineStudent:
    """A protocol student: G(z) is the pipeline's own call with the student's call args."""

    def __init__(self, side: _Side):
        self.side, self.identity, self.shape = side, side.identity, side.shape
        self.n_classes, self.dtype, self.device = side.n_classes, side.dtype, side.device
        self.guidance, self.notes = side.guidance, side.notes
        call = side.call
        self.steps = {} if "timesteps" in call or "sigmas" in call else {
            "num_inference_steps": int(call.get("num_inference_steps", 1))}

    def to(self, device):
        self.side.to(device)
        self.device = self.side.device
        return self

    def __call__(self, z, y=None):
        return self.side.run(z, y, self.steps)


def _levels(s, k: int) -> list[tuple[float, float]]:
    """(dmdviz time t, scale with x_dmdviz = scale · x_model) of each of the K + 1 states of the
    scheduler's last run: flow matching x = (1 - σ) x0 + σ ε; σ-space (Euler: initial noise
    scaled up) x = x0 + σ ε; VP (σ² = (1 - ᾱ) / ᾱ) x = √ᾱ x0 + √(1 - ᾱ) ε. Both give t = 1 / (1 + σ).
    Another family: uniform times, states unscaled (a picture of the path, no more)."""
    flow = type(s).__name__.startswith("FlowMatch") or s.config.get("use_flow_sigmas") \
        or s.config.get("prediction_type") == "flow_prediction"
    if hasattr(s, "sigmas") and len(s.sigmas) == k + 1:
        sig = [float(v) for v in s.sigmas.double()]
        if flow:
            return [(1.0 - v, 1.0) for v in sig]
        karras = float(getattr(s, "init_noise_sigma", 1.0)) > 1.5
        return [(1 / (1 + v), 1 / (1 + v) if karras else (1 + v * v) ** 0.5 / (1 + v)) for v in sig]
    if hasattr(s, "alphas_cumprod") and len(s.timesteps) == k:
        abar = s.alphas_cumprod.double()
        ab = [float(abar[int(t)]) for t in s.timesteps] + [float(getattr(s, "final_alpha_cumprod", 1.0))]
        return [(a ** 0.5 / (a ** 0.5 + (1 - a) ** 0.5), 1.0 / (a ** 0.5 + (1 - a) ** 0.5)) for a in ab]
    return [(i / k, 1.0) for i in range(k + 1)]


def teacher(ref: str, args: dict | None = None, prompts: Path | None = None, device="cpu") -> PipelineTeacher:
    """A pipeline teacher (module doc)."""
    return PipelineTeacher(_Side(ref, args, prompts, device, "teacher"))


def student(ref: str, args: dict | None = None, prompts: Path | None = None, device="cpu") -> PipelineStudent:
    """A pipeline student: its card's call (``args.call``: ``num_inference_steps`` (default 1) or
    ``timesteps``, ``guidance_scale``, ...) on its pipeline (state dict, LoRA, scheduler)."""
    return PipelineStudent(_Side(ref, args, prompts, device, "student"))
