"""One budget per request, before any work: what a diffusers model and its samples will
cost, read from their configs and file headers alone (``limits.Limits``; public mode
tightens every bound).

- ``sample_shape``: a sample shape [C, H, W] is 1 to 4 positive integers with at most
  ``max_sample_values`` numbers (a 2048² UNet sample once held a Space's cores for minutes).
- ``check_samples``: N samples of that shape in float32 within ``max_samples_mb``.
- ``check_diffusers``: the network a diffusers ``config.json`` describes, built on torch's
  meta device (no memory), at most ``max_model_mb`` of fp32 weights and buffers, and its
  weights files holding exactly its tensors with their shapes (a config whose weights are
  missing is refused, never left uninitialised); the prompt embeddings readable.
- ``weight_patterns``: the weights files of one model folder of a Hub repo (what
  ``checkpoint.fetch_files`` downloads for it).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from pathlib import Path

import torch

from dmdviz.errors import DmdvizError
from dmdviz.limits import Limits

WEIGHTS = "diffusion_pytorch_model.safetensors"
MAX_CONFIG_INT = 2**20  # any integer of a diffusers config (channels, heads, classes)
MAX_CONFIG_LIST = 16  # any list of one (block types, channels per block)
MAX_LAYERS = 64  # a *layers* entry: blocks per stage, transformer layers


def weight_patterns(subfolder: str) -> list[str]:
    """fnmatch patterns of a model folder's weights (``""``: the repo's root): one file, or an
    index and its shards; never a variant or a single-file checkpoint."""
    prefix = f"{subfolder.strip('/')}/" if subfolder else ""
    digits = "[0-9]" * 5
    return [f"{prefix}{WEIGHTS}", f"{prefix}{WEIGHTS}.index.json",
            f"{prefix}diffusion_pytorch_model-{digits}-of-{digits}.safetensors"]


def sample_shape(shape, what: str = "sample shape", limits: Limits | None = None) -> tuple[int, ...]:
    """``shape`` as a tuple of 1 to 4 positive integers with at most ``max_sample_values`` numbers."""
    limits = limits or Limits.from_env()
    ok = isinstance(shape, (list, tuple)) and 1 <= len(shape) <= 4 and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)
    if not ok:
        raise DmdvizError(f"{what} {_short(shape)} must be 1 to 4 positive integers, as [C, H, W]")
    values = math.prod(shape)  # a Python int: exact however large
    if values > limits.max_sample_values:
        raise DmdvizError(f"{what} {_short(list(shape))} holds {_short(values) if values >= 10**12 else f'{values:,}'} numbers per sample, over the "
                          f"{limits.max_sample_values:,} limit (DMDVIZ_MAX_SAMPLE_VALUES)")
    return tuple(shape)


def check_samples(shape, n: int, limits: Limits | None = None) -> None:
    """N samples of ``shape`` (float32) within ``max_samples_mb``."""
    limits = limits or Limits.from_env()
    size = 4 * int(n) * math.prod(shape)
    if size > limits.max_samples_mb * 2**20:
        raise DmdvizError(f"{n:,} samples of shape {list(shape)} take {size / 2**20:,.0f} MB, over the "
                          f"{limits.max_samples_mb:,} MB limit (DMDVIZ_MAX_SAMPLES_MB): ask for fewer seeds")


def _short(value) -> str:
    text = repr(value) if not isinstance(value, int) or value < 10**12 else f"~10^{len(str(value)) - 1}"
    return text if len(text) <= 60 else text[:57] + "..."


def _check_config(config: dict, folder: Path) -> None:
    """Every number of the config bounded, so that even its meta-device build is quick."""
    for key, value in config.items():
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) > MAX_CONFIG_LIST:
            raise DmdvizError(f"{folder.name}/config.json: {key} lists {len(value):,} entries (at most {MAX_CONFIG_LIST})")
        cap = MAX_LAYERS if "layers" in key else MAX_CONFIG_INT
        for v in items:
            if isinstance(v, float) and not math.isfinite(v) or isinstance(v, int) and abs(v) > cap:
                raise DmdvizError(f"{folder.name}/config.json: {key} = {_short(value)} is out of range (at most {cap:,})")


def _meta_model(config: dict, folder: Path) -> torch.nn.Module:
    import diffusers

    kind = config.get("_class_name")
    cls = getattr(diffusers, kind, None) if isinstance(kind, str) else None
    if cls is None or not hasattr(cls, "from_config"):
        raise DmdvizError(f"{folder.name}/config.json: model class {kind!r} is not a diffusers model")
    try:
        with torch.device("meta"):
            return cls.from_config(config)
    except Exception as e:  # the config's own values, whatever diffusers makes of them
        raise DmdvizError(f"{folder.name}/config.json does not build a {kind} ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:120] if str(e) else ''})") from None


def _weight_shapes(files: list[Path]) -> dict[str, tuple[int, ...]]:
    from safetensors import SafetensorError, safe_open

    out = {}
    for path in files:
        try:
            with safe_open(str(path), "pt") as f:
                out.update({k: tuple(f.get_slice(k).get_shape()) for k in f.keys()})
        except (SafetensorError, OSError, ValueError) as e:
            raise DmdvizError(f"{path.parent.name}/{path.name} is not a valid safetensors file "
                              f"({str(e).splitlines()[0][:100] if str(e) else type(e).__name__})") from None
    return out


def check_config(folder: Path, shape=None, limits: Limits | None = None) -> dict[str, tuple[int, ...]]:
    """The network ``folder/config.json`` describes, before any weights are read: every
    number bounded, the sample ``shape`` (else its ``in_channels`` × ``sample_size``), and at
    most ``max_model_mb`` of fp32 weights and buffers built on the meta device. Returns
    {tensor name: shape} of that network."""
    return {k: tuple(t.shape) for k, t in _budgeted(folder, shape, limits).state_dict().items()}


def _budgeted(folder: Path, shape, limits: Limits | None) -> torch.nn.Module:
    """``check_config``'s checks; the network, on the meta device."""
    limits = limits or Limits.from_env()
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise DmdvizError(f"{folder.name}/config.json is not readable JSON ({type(e).__name__})") from None
    if not isinstance(config, dict):
        raise DmdvizError(f"{folder.name}/config.json is not a JSON object")
    _check_config(config, folder)
    if config.get("_class_name") != "AutoencoderKL" and (shape is not None or config.get("sample_size")):
        size = config.get("sample_size")
        sample_shape(shape if shape is not None else [config.get("in_channels"),
                                                      *(size if isinstance(size, list) else [size, size])],
                     "args.shape" if shape is not None else f"{folder.name}/config.json's sample shape", limits)
    model = _meta_model(config, folder)
    size = sum(4 * t.numel() for t in model.state_dict().values())
    if size > limits.max_model_mb * 2**20:
        raise DmdvizError(f"{folder.name}/config.json describes a {size / 2**20:,.0f} MB network, over the "
                          f"{limits.max_model_mb:,} MB limit (DMDVIZ_MAX_MODEL_MB)")
    return model


def check_diffusers(folder: Path, files: list[Path], shape=None, prompts: Path | None = None,
                    limits: Limits | None = None) -> None:
    """The budget of the diffusers model in ``folder`` before it is loaded (``check_config``),
    its weights ``files`` holding exactly the tensors its config describes, and its prompts."""
    model = _budgeted(folder, shape, limits)
    want = {k: tuple(t.shape) for k, t in model.state_dict().items()}
    have = OrderedDict(_weight_shapes(files))
    if len(files) == 1 and hasattr(model, "_fix_state_dict_keys_on_load"):
        model._fix_state_dict_keys_on_load(have)  # old attention names, renamed as diffusers renames them on load
    for problem, keys in (("lack", sorted(set(want) - set(have))), ("hold unknown", sorted(set(have) - set(want))),
                          ("differ in shape at", sorted(k for k in set(want) & set(have) if want[k] != have[k]))):
        if keys:
            raise DmdvizError(f"{folder.name}: its weights {problem} {len(keys):,} of the tensors its config.json "
                              f"describes (first: {keys[0][:80]})")
    if prompts is not None:
        check_prompts(Path(prompts))


def check_prompts(path: Path) -> None:
    """Prompt embeddings: a readable safetensors file with ``prompt_embeds`` (P, L, D)."""
    if path.suffix != ".safetensors" or not path.is_file():
        raise DmdvizError(f"prompt embeddings {path.name}: expected a .safetensors file")
    shapes = _weight_shapes([path])
    if len(shapes.get("prompt_embeds", ())) != 3:
        raise DmdvizError(f"{path.name}: needs a tensor 'prompt_embeds' of shape (prompts, tokens, dim)")
