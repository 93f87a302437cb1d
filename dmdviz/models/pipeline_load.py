"""Opening a diffusers pipeline as a published student's model card runs it (safetensors only).

``open_pipeline(root, args, device)`` loads the pipeline of a folder holding
``model_index.json`` without its text encoders and tokenizers (conditioning arrives as
precomputed embeddings), then applies what the card applies, in this order:

    args.unet / args.transformer  a safetensors state dict loaded into the denoiser (strict:
                                   missing / unexpected keys and shapes listed in one line)
    args.lora                      {"ref", "weight_name", "scale"}: loaded and fused (needs peft)
    args.scheduler                 a scheduler class name built from the pipeline's scheduler config
    args.grid                      "own" keeps a scheduler's own K-step grid; otherwise a grid that
                                   does not start at the noisiest step ("leading" spacing) becomes
                                   "trailing", with one note
    args.dtype, args.variant       torch dtype ("float16", ...) and file variant ("fp16")

A weights file is a local path or ``{"ref": folder-or-Hub-id, "weight_name": file}``.
Pickled state dicts (``.bin``, ``.pt``, ...) are never opened; ``convert`` (the command
line's ``python -m dmdviz convert``) turns one into safetensors with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from dmdviz.checkpoint import PICKLE_SUFFIXES, fetch_files
from dmdviz.errors import DmdvizError
from dmdviz.models.diffusers_adapter import dtype_named, read_json_file

SKIPPED = ("text_encoder", "tokenizer", "image_encoder", "feature_extractor", "safety_checker")
DENOISERS = ("unet", "transformer")


def hub_patterns(variant: str | None) -> list[str]:
    """The files of a Hub pipeline repo a side reads: the index, every component's config and
    the scheduler's, and the weights of the denoiser and VAE of the asked variant (never the
    text encoders, tokenizers, or single-file checkpoints at the repo's root)."""
    weights = f"diffusion_pytorch_model.{variant}.safetensors" if variant else "diffusion_pytorch_model.safetensors"
    shards = f"diffusion_pytorch_model{'.' + variant if variant else ''}-*-of-*.safetensors"
    return ["model_index.json", "*/config.json", "scheduler/scheduler_config.json",
            *(f"{part}/{name}" for part in (*DENOISERS, "vae") for name in (weights, shards, f"{weights}.index.json"))]


def _first_line(e: Exception) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"


def pipeline_class(root: Path):
    """The DiffusionPipeline subclass a folder's ``model_index.json`` names."""
    index = root / "model_index.json"
    if not index.is_file():
        raise DmdvizError(f"{root} has no model_index.json: not a diffusers pipeline folder")
    import diffusers

    name = read_json_file(index).get("_class_name")
    cls = getattr(diffusers, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.DiffusionPipeline)):
        raise DmdvizError(f"{root}: pipeline class {name!r} is not a diffusers pipeline")
    return cls


def open_pipeline(root: Path, args: dict, device) -> tuple[object, list[Path], list[str]]:
    """(pipeline, the weight files it was built from, notes) for a pipeline folder (module doc)."""
    cls = pipeline_class(root)
    dtype = dtype_named(args.get("dtype"))
    # every named file and class is checked before the (large) pipeline is read
    states = {name: weights_file(args[name], f"args.{name}") for name in DENOISERS if args.get(name) is not None}
    lora = lora_spec(args["lora"]) if args.get("lora") is not None else None
    sched = scheduler_class(args["scheduler"]) if args.get("scheduler") is not None else None
    skip = {name: None for name in read_json_file(root / "model_index.json") if name.startswith(SKIPPED)}
    from diffusers.utils import logging as dlogging

    dlogging.disable_progress_bar()
    try:
        pipe = cls.from_pretrained(str(root), use_safetensors=True, dtype=dtype, variant=args.get("variant"), **skip)
    except (OSError, ValueError, RuntimeError, TypeError, AttributeError) as e:
        raise DmdvizError(f"{root}: could not load the {cls.__name__} ({_first_line(e)})") from None
    finally:
        dlogging.enable_progress_bar()
    pipe.set_progress_bar_config(disable=True)
    files = [p for name in sorted(read_json_file(root / "model_index.json")) if not name.startswith(("_", *SKIPPED))
             for p in sorted((root / name).glob("*")) if _loaded(p, args.get("variant"))]
    files += [load_state_dict(pipe, name, path, dtype) for name, path in states.items()]
    if lora is not None:
        files.append(fuse_lora(pipe, *lora))
    if sched is not None:
        pipe.scheduler = sched.from_config(pipe.scheduler.config)
    given = set(args.get("call") or {}) & {"timesteps", "sigmas"}  # a card's own grid is run as given
    notes = [] if given else start_level(pipe, args.get("grid"))
    pipe.to(device)
    return pipe, files, notes


def _loaded(path: Path, variant: str | None) -> bool:
    """Whether ``from_pretrained`` reads this file of a component folder (configs, and the
    safetensors of the asked variant): the files that make a side's identity."""
    if path.suffix == ".json":
        return True
    if path.suffix != ".safetensors":
        return False
    return f".{variant}" in path.name if variant else path.name.count(".") == 1


def weights_file(value, what: str) -> Path:
    """A local safetensors file from a path or ``{"ref", "weight_name"}`` (a folder or a Hub
    repo ``org/name[@revision]``, fetched through the Hugging Face cache)."""
    if isinstance(value, dict):
        ref, name = value.get("ref"), value.get("weight_name")
        if not isinstance(ref, str) or not (name is None or isinstance(name, str)):
            raise DmdvizError(f"{what}: expected {{\"ref\": folder or Hub id, \"weight_name\": file}}")
        path = _hub_file(ref, name, what) if name else Path(ref)
    elif isinstance(value, str):
        path = Path(value).expanduser()
    else:
        raise DmdvizError(f"{what}: expected a safetensors path or {{\"ref\", \"weight_name\"}}")
    if path.suffix in PICKLE_SUFFIXES:
        raise DmdvizError(f"{what}: {path.name} is a pickle and is never loaded; convert it once with "
                          f"`python -m dmdviz convert {path.name} {path.stem}.safetensors`")
    if path.suffix != ".safetensors" or not path.is_file():
        raise DmdvizError(f"{what}: {path} is not a .safetensors file")
    return path


def _hub_file(ref: str, name: str, what: str) -> Path:
    local = Path(ref).expanduser()
    if local.is_dir():
        return local / name
    if Path(name).suffix in PICKLE_SUFFIXES:  # refused by name, before any download
        return Path(name)
    try:
        root, _, _ = fetch_files(ref, [name])  # planned and bounded before the first byte
    except DmdvizError as e:
        raise DmdvizError(f"{what}: {e}") from None
    return root / name


def load_state_dict(pipe, name: str, path: Path, dtype: torch.dtype) -> Path:
    """Load a safetensors state dict into the pipeline's ``name`` (strict; mismatches in one line)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    net = getattr(pipe, name, None)
    if net is None:
        raise DmdvizError(f"args.{name}: the {type(pipe).__name__} has no {name}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise DmdvizError(f"args.{name}: {path.name} is not a readable safetensors file ({_first_line(e)})") from None
    own = net.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        parts = [f"{len(v)} {what} ({', '.join(v[:3])}{', ...' if len(v) > 3 else ''})"
                 for what, v in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)) if v]
        raise DmdvizError(f"args.{name}: {path.name} does not fit the pipeline's {type(net).__name__}: "
                          f"keys {'; '.join(parts)}")
    net.load_state_dict({k: v.to(dtype) for k, v in state.items()})
    return path


def lora_spec(spec) -> tuple[Path, float]:
    """(file, scale) of ``args.lora = {"ref", "weight_name", "scale"}``."""
    if not isinstance(spec, dict) or set(spec) - {"ref", "weight_name", "scale"}:
        raise DmdvizError("args.lora: expected {\"ref\": folder, Hub id or file, \"weight_name\": file, \"scale\": 1.0}")
    scale = spec.get("scale", 1.0)
    if not isinstance(scale, (int, float)):
        raise DmdvizError(f"args.lora: scale must be a number, got {scale!r}")
    return weights_file(spec if spec.get("weight_name") else spec.get("ref"), "args.lora"), float(scale)


def fuse_lora(pipe, path: Path, scale: float) -> Path:
    """Load the LoRA file ``path`` and fuse it into the pipeline's weights at ``scale``."""
    if not hasattr(pipe, "load_lora_weights"):
        raise DmdvizError(f"args.lora: the {type(pipe).__name__} takes no LoRA")
    try:
        import peft  # noqa: F401  (diffusers needs it for LoRA)
    except ImportError:
        raise DmdvizError("args.lora: loading a LoRA needs the peft package (pip install peft)") from None
    try:
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="student")
        if not any("student" in names for part, names in pipe.get_list_adapters().items() if part in DENOISERS):
            raise ValueError("it holds no weights for the pipeline's denoiser (text-encoder layers only?)")
        pipe.fuse_lora(lora_scale=scale, adapter_names=["student"])
        pipe.unload_lora_weights()  # the fused weights stay; the adapter layers go
    except (ValueError, KeyError, RuntimeError, TypeError, OSError, AttributeError) as e:
        raise DmdvizError(f"args.lora: {path.name} could not be fused into the pipeline ({_first_line(e)})") from None
    return path


def scheduler_class(name):
    """The diffusers scheduler class called ``name`` (built from the pipeline's own config)."""
    import diffusers

    cls = getattr(diffusers, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        raise DmdvizError(f"args.scheduler: unknown scheduler class {name!r} (a diffusers scheduler class name, "
                          "e.g. LCMScheduler)")
    return cls


def start_level(pipe, grid) -> list[str]:
    """Make the K-step grid start at the noisiest step (module doc); the note saying so."""
    if grid not in (None, "own", "trailing"):
        raise DmdvizError(f"args.grid must be \"own\" or \"trailing\", got {grid!r}")
    s = pipe.scheduler
    spacing, n = s.config.get("timestep_spacing"), s.config.get("num_train_timesteps", 1000)
    if grid == "own" or spacing is None or spacing == "trailing":
        return []
    probe = copy.deepcopy(s)
    try:
        probe.set_timesteps(1)
    except (TypeError, ValueError):  # needs more than a count (dynamic shifting): flow grids start at σ = 1
        return []
    first = int(probe.timesteps[0])
    if first >= n - 1:
        return []
    pipe.scheduler = type(s).from_config(s.config, timestep_spacing="trailing")
    return [f"{type(s).__name__} with {spacing!r} spacing starts its K-step grid below the noisiest step "
            f"(K = 1 at timestep {first} of {n}); trailing spacing used instead (args.grid \"own\" keeps its grid)"]


def convert(src, dst) -> dict:
    """A pickled state dict ``src`` (.bin / .pt) written as safetensors ``dst``, read with
    ``torch.load(weights_only=True)`` (no code runs). Returns {"tensors": n, "bytes": size}."""
    from safetensors.torch import save_file

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise DmdvizError(f"{src} not found")
    if dst.suffix != ".safetensors":
        raise DmdvizError(f"{dst}: the output must end in .safetensors")
    try:
        state = torch.load(str(src), map_location="cpu", weights_only=True)
    except Exception as e:  # any unpickling failure of a foreign file is that file's fault: one line
        raise DmdvizError(f"{src.name} is not a plain state dict torch can read safely ({_first_line(e)})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DmdvizError(f"{src.name} is not a state dict (a mapping of names to tensors)")
    save_file({str(k): v.detach().clone().contiguous() for k, v in state.items()}, str(dst),  # clone: no shared storage
              metadata={"converted_from": src.name, "format": "pt"})
    return {"tensors": len(state), "bytes": dst.stat().st_size}
