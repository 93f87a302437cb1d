"""Teachers and one-step students from diffusers folders or Hub repos (safetensors only).

A reference is a local folder or a Hub repo id ``org/name[@revision]`` (resolved through
the Hugging Face cache; ``HF_HUB_OFFLINE`` respected). The folder is a pipeline folder
(``unet/`` or ``transformer/`` beside ``scheduler/``) or a bare model folder with the
scheduler given by ``scheduler`` (a folder holding ``scheduler_config.json``). The
scheduler config decides the parameterisation (``models.params``):

    FlowMatchEulerDiscreteScheduler          -> flow matching, Φ_K = its own Euler loop
    EDMEulerScheduler                        -> EDM, Φ_K = Euler on its Karras σ grid
    any scheduler with a beta schedule       -> VP ε / v / x0, Φ_K = DDIM (eta = 0) on it

diffusers is imported here only, when a diffusers pair is loaded, so the app starts without it.
A folder whose weights are only ``diffusion_pytorch_model.bin`` (a pickle) is refused unopened.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dmdviz.checkpoint import PICKLE_SUFFIXES, fetch_files
from dmdviz.errors import DmdvizError
from dmdviz.models import budget, params
from dmdviz.models.native import file_digest

NETS = ("UNet2DModel", "UNet2DConditionModel", "SD3Transformer2DModel")
WEIGHTS = "diffusion_pytorch_model.safetensors"
FLOW, EDM = ("FlowMatchEulerDiscreteScheduler",), ("EDMEulerScheduler",)


def resolve(ref: str, allow_patterns: list[str] | None = None) -> tuple[Path, str]:
    """(folder, revision) of a local folder or a Hub repo id. From the Hub only the files
    ``allow_patterns`` match (by default every config and diffusers weights file, no variant
    or single-file checkpoint), planned and bounded first (``checkpoint.fetch_files``)."""
    local = Path(ref).expanduser()
    if local.is_dir():
        return local, ""
    folder, _, rev = fetch_files(ref, allow_patterns or ["*config.json", f"*{WEIGHTS}", f"*{WEIGHTS}.index.json",
                                                         "*diffusion_pytorch_model-*-of-*.safetensors"])
    return folder, rev


def _model_folder(root: Path, subfolder: str | None) -> Path:
    if subfolder:
        return root / subfolder
    for name in ("unet", "transformer"):
        if (root / name / "config.json").is_file():
            return root / name
    return root


def _check_weights(folder: Path) -> list[Path]:
    """The safetensors weight files of a model folder; pickles are refused, never opened."""
    if not (folder / "config.json").is_file():
        raise DmdvizError(f"{folder} has no config.json: not a diffusers model folder")
    index = folder / f"{WEIGHTS}.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values()))
        files = [folder / s for s in shards]
    else:
        files = [folder / WEIGHTS]
    if not all(f.is_file() for f in files):
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        found = f" (found {', '.join(pickles)}: pickle files are never loaded)" if pickles else ""
        raise DmdvizError(f"{folder} has no {WEIGHTS}{found}")
    return files


def read_json_file(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DmdvizError(f"{path} is not readable JSON ({type(e).__name__})") from None
    if not isinstance(cfg, dict):
        raise DmdvizError(f"{path} is not a JSON object")
    return cfg


def _scheduler_config(root: Path, scheduler: str | None) -> tuple[dict, Path]:
    folder = Path(scheduler).expanduser() if scheduler else root / "scheduler"
    path = folder / "scheduler_config.json" if folder.is_dir() else folder
    if not path.is_file():
        raise DmdvizError(f"no scheduler config at {path}: give the pair's `scheduler` (a folder with "
                          "scheduler_config.json)")
    return read_json_file(path), path


class _Loaded:
    """A diffusers network as ``net(x, level, y) -> out``, with its shape and conditioning."""

    def __init__(self, folder: Path, dtype: torch.dtype, device, prompts: Path | None, shape=None):
        files = _check_weights(folder)
        config = read_json_file(folder / "config.json")
        kind = config.get("_class_name")
        if kind not in NETS:
            raise DmdvizError(f"{folder}: model class {kind!r} is not supported (supported: {', '.join(NETS)})")
        budget.check_diffusers(folder, files, shape, prompts)  # size, keys and shapes before any allocation
        import diffusers

        try:
            self.module = getattr(diffusers, kind).from_pretrained(str(folder), use_safetensors=True, torch_dtype=dtype)
        except (OSError, ValueError, RuntimeError) as e:
            raise DmdvizError(f"{folder}: could not load the {kind} ({str(e).splitlines()[0][:160]})") from None
        self.module.to(device).eval().requires_grad_(False)
        if next(self.module.parameters()).dtype != dtype:  # SD3Transformer2DModel ignores torch_dtype here
            self.module.to(dtype)
        self.kind, self.config, self.files = kind, config, files
        if shape is None:
            size = config.get("sample_size")
            if not size:
                raise DmdvizError(f"{folder}: its config has no sample_size; give the sample `shape` [C, H, W] in args")
            shape = (config["in_channels"], *(size if isinstance(size, (list, tuple)) else (size, size)))
        self.shape = tuple(int(v) for v in shape)
        if prompts and kind == "UNet2DModel":
            raise DmdvizError(f"{folder}: a UNet2DModel takes no prompt embeddings: drop conditioning.prompts")
        self.embeds, self.pooled = _prompts(prompts) if prompts else (None, None)
        classes = int(config.get("num_class_embeds") or 0)
        if kind != "UNet2DModel" and self.embeds is None:
            raise DmdvizError(f"{folder}: a {kind} needs prompt embeddings (the pair file's conditioning.prompts)")
        if self.embeds is not None and classes:
            raise DmdvizError(f"{folder}: class labels and prompt embeddings together are not supported")
        self.n_classes = len(self.embeds) if self.embeds is not None else classes

    def __call__(self, x, lv: params.Level, y):
        timestep = torch.full((len(x),), lv.timestep, device=x.device, dtype=x.dtype)
        kw = {}
        if self.embeds is not None:
            kw["encoder_hidden_states"] = self.embeds.to(x.device, x.dtype)[y]
            if self.kind == "SD3Transformer2DModel":
                kw["pooled_projections"] = self.pooled.to(x.device, x.dtype)[y]
        elif y is not None:
            kw["class_labels"] = y
        if self.kind == "SD3Transformer2DModel":
            return self.module(hidden_states=x, timestep=timestep, return_dict=False, **kw)[0]
        out = self.module(x, timestep, return_dict=False, **kw)[0]
        # learned sigma (out_channels = 2 × in, IDDPM / DiT): the deterministic sampler reads ε̂ only
        return out[:, :x.shape[1]] if out.shape[1] == 2 * x.shape[1] else out


def _prompts(path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``prompt_embeds`` (P, L, D) and optional ``pooled_prompt_embeds`` (P, Dp) from safetensors."""
    from safetensors.torch import load_file

    if not Path(path).is_file() or Path(path).suffix != ".safetensors":
        raise DmdvizError(f"prompt embeddings {path}: expected a .safetensors file")
    state = load_file(str(path))
    if "prompt_embeds" not in state or state["prompt_embeds"].dim() != 3:
        raise DmdvizError(f"{path}: needs a tensor 'prompt_embeds' of shape (prompts, tokens, dim)")
    return state["prompt_embeds"].float(), state.get("pooled_prompt_embeds")


@dataclass(frozen=True)
class Schedule:
    """What a scheduler config fixes: the prediction type, the K-step grid of levels, the
    level of a dmdviz time and of a network timestep, and ``noise`` (level -> the factor
    c with x = c · z for "the same noise z" at that level: σ for EDM, 1 otherwise)."""

    prediction: str
    grid: Callable[[int], list]
    level_at: Callable[[float], params.Level]
    level_of: Callable[[float], params.Level]
    noise: Callable[[params.Level], float] = lambda lv: 1.0
    wrap: Callable = lambda net: net  # the network as the prediction type says (EDM: D from F)


def schedule(config: dict) -> Schedule:
    """The ``Schedule`` of a diffusers scheduler config (module doc for which is which)."""
    import diffusers

    kind = config.get("_class_name", "")
    cls = getattr(diffusers, kind, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise DmdvizError(f"unknown scheduler {kind!r}")
    if kind in FLOW:
        return _flow_schedule(cls.from_config(config))
    if kind in EDM:
        return _edm_schedule(cls.from_config(config))
    if "beta_schedule" not in config and "trained_betas" not in config:
        raise DmdvizError(f"scheduler {kind!r}: neither flow matching, EDM, nor a beta schedule")
    return _vp_schedule(diffusers.DDIMScheduler.from_config(config))


def _flow_schedule(s):
    if s.config.use_dynamic_shifting:
        raise DmdvizError("flow-match scheduler with dynamic shifting: set use_dynamic_shifting false and a fixed "
                          "shift in the scheduler config the pair file names")
    n = s.config.num_train_timesteps

    def grid(k):
        s.set_timesteps(k)
        return [params.flow_level(float(sig), n) for sig in s.sigmas]

    return Schedule("flow", grid, lambda t: params.flow_level(1.0 - t, n),
                    lambda tau: params.flow_level(float(tau) / n, n))


def _edm_schedule(s):
    def level(sigma):
        return params.edm_level(sigma, float(s.precondition_noise(torch.tensor([sigma], dtype=torch.float64))[0]))

    def grid(k):
        s.set_timesteps(k)
        return [level(float(sig)) if sig > 0 else params.edm_level(0.0, 0.0) for sig in s.sigmas.double()]

    def denoiser(net):
        """EDM's D(x; σ) = c_skip x + c_out F(c_in x, c_noise) (Karras et al. 2022, Table 1)."""
        return lambda x, lv, y: s.precondition_outputs(x, net(s.precondition_inputs(x, lv.b), lv, y), lv.b)

    return Schedule("sample", grid, lambda t: level((1.0 - t) / t), lambda sigma: level(float(sigma)),
                    lambda lv: lv.b, denoiser)


def _vp_schedule(s):
    """DDIM's grid: its timesteps τ_k (the config's spacing and offset), ᾱ from the training
    table, and the final ᾱ (1 with ``set_alpha_to_one``, else ᾱ_0) after the last step.

    Each step goes from one listed timestep to the next. (diffusers' DDIM steps to τ - N // K
    instead; the two agree whenever the listed timesteps are N // K apart, as in leading
    spacing, or trailing spacing with K dividing N.)"""
    abar = s.alphas_cumprod.double().numpy()
    n = len(abar)

    def grid(k):
        s.set_timesteps(k)
        taus = [int(t) for t in s.timesteps]
        return [params.vp_level(float(abar[t]), t) for t in taus] + [params.vp_level(float(s.final_alpha_cumprod), -1)]

    def level_at(t):
        target = t * t / (t * t + (1 - t) ** 2)  # ᾱ whose dmdviz time is t
        return params.vp_level(target, float(np.interp(-target, -abar, np.arange(n))))

    return Schedule(s.config.prediction_type, grid, level_at,
                    lambda tau: params.vp_level(float(abar[int(tau)]), int(tau)))


def dtype_named(name: str | None) -> torch.dtype:
    table = {None: torch.float32, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in table:
        raise DmdvizError(f"dtype {name!r}: use float32, float16 or bfloat16")
    return table[name]


ARGS = ("subfolder", "scheduler", "dtype", "shape", "timestep")


def _load(ref: str, args: dict, prompts: Path | None, device):
    unknown = sorted(set(args) - set(ARGS))
    if unknown:
        raise DmdvizError(f"diffusers adapter: unknown args {', '.join(unknown)} (known: {', '.join(ARGS)})")
    root, revision = resolve(ref)
    net = _Loaded(_model_folder(root, args.get("subfolder")), dtype_named(args.get("dtype")), device, prompts,
                  args.get("shape"))
    sched, sched_path = _scheduler_config(root, args.get("scheduler"))
    extra = [sched_path] + ([Path(prompts)] if prompts else [])
    identity = f"diffusers:{ref}@{revision}#{file_digest(*net.files, *extra)}"
    return net, schedule(sched), identity


class Decoder:
    """A diffusers ``AutoencoderKL`` decoder: latents (B, c, h, w) -> pixels (B, C, H, W),
    x = decode(latents / scaling_factor + shift_factor) as diffusers pipelines do."""

    def __init__(self, ref: str, args: dict | None = None, device="cpu"):
        args = args or {}
        unknown = sorted(set(args) - {"subfolder", "dtype"})
        if unknown:
            raise DmdvizError(f"vae: unknown args {', '.join(unknown)} (known: subfolder, dtype)")
        root, revision = resolve(ref)
        folder = root / args.get("subfolder", "vae")
        folder = folder if (folder / "config.json").is_file() else root
        files, config = _check_weights(folder), read_json_file(folder / "config.json")
        if config.get("_class_name") != "AutoencoderKL":
            raise DmdvizError(f"{folder}: vae class {config.get('_class_name')!r} is not supported (AutoencoderKL)")
        budget.check_diffusers(folder, files)
        import diffusers

        dtype = dtype_named(args.get("dtype"))
        try:
            self.module = diffusers.AutoencoderKL.from_pretrained(str(folder), use_safetensors=True, torch_dtype=dtype)
        except (OSError, ValueError, RuntimeError) as e:
            raise DmdvizError(f"{folder}: could not load the AutoencoderKL ({str(e).splitlines()[0][:160]})") from None
        self.module.to(device, dtype).eval().requires_grad_(False)
        self.scale, self.shift = float(config.get("scaling_factor") or 1.0), float(config.get("shift_factor") or 0.0)
        self.identity = f"vae:{ref}@{revision}#{file_digest(*files)}"

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        x = latents.to(next(self.module.parameters()).dtype) / self.scale + self.shift
        return self.module.decode(x, return_dict=False)[0]


def teacher(ref: str, args: dict | None = None, prompts: Path | None = None, device="cpu") -> params.GridTeacher:
    """A diffusers teacher: Φ_K is its scheduler's deterministic K-step sampler (module doc)."""
    net, sch, identity = _load(ref, args or {}, prompts, device)
    return params.GridTeacher(sch.wrap(net), sch.prediction, sch.grid, sch.level_at, sch.noise(sch.grid(1)[0]),
                              identity=identity, shape=net.shape, n_classes=net.n_classes,
                              dtype=next(net.module.parameters()).dtype, device=device)


def student(ref: str, args: dict | None = None, prompts: Path | None = None, device="cpu") -> params.OneStep:
    """A one-step diffusers generator: G(z) = x̂0 at ``args["timestep"]`` (DMD2: the last
    training timestep of a VP UNet on x = z; flow matching: σ · N_train; EDM: σ, on x = σ z)."""
    args = args or {}
    if "timestep" not in args:
        raise DmdvizError("a diffusers student needs its fixed `timestep` in the pair file's student args")
    net, sch, identity = _load(ref, args, prompts, device)
    try:
        level = sch.level_of(float(args["timestep"]))
    except (IndexError, ValueError, TypeError):
        level = None
    if level is None or not level.b > 0 or not math.isfinite(level.t):
        raise DmdvizError(f"student timestep {args['timestep']!r} is not a noise level of its scheduler")
    return params.OneStep(sch.wrap(net), sch.prediction, level, sch.noise(level), identity=identity, shape=net.shape,
                          n_classes=net.n_classes, dtype=next(net.module.parameters()).dtype, device=device)
