"""Prompt embeddings computed once with a pipeline's own ``encode_prompt`` (``python -m dmdviz embed``).

The file holds ``encode_prompt``'s outputs named as the pipeline's ``__call__`` arguments,
each with a leading prompt dimension P: the ``conditioning.prompts`` file of a pair whose
sides are pipelines (``models.pipeline_adapter``), so that no text encoder is loaded at
analysis time. For a teacher under classifier-free guidance the negative embeddings are
written too (of a given negative prompt, else the pipeline's own default). The denoiser and the VAE are not
loaded.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from dmdviz.errors import DmdvizError
from dmdviz.models import pipeline_load
from dmdviz.models.diffusers_adapter import dtype_named, read_json_file, resolve

SDXL = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")
MASKED = ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask")
OUTPUTS = {  # encode_prompt's return tuple, named as __call__ arguments (None: not a __call__ argument)
    "StableDiffusionPipeline": ("prompt_embeds", "negative_prompt_embeds"),
    "StableDiffusionXLPipeline": SDXL, "StableDiffusion3Pipeline": SDXL,
    "PixArtAlphaPipeline": MASKED, "PixArtSigmaPipeline": MASKED, "SanaPipeline": MASKED,
    "SanaSprintPipeline": ("prompt_embeds", "prompt_attention_mask"),
    "FluxPipeline": ("prompt_embeds", "pooled_prompt_embeds", None),
}
MAX_PROMPTS = 100_000


def read_prompts(path) -> list[str]:
    """One prompt per non-empty line of a text file."""
    path = Path(path)
    if not path.is_file():
        raise DmdvizError(f"prompts file {path} not found")
    try:
        prompts = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (UnicodeDecodeError, OSError) as e:
        raise DmdvizError(f"{path.name} is not a readable text file ({type(e).__name__})") from None
    if not 1 <= len(prompts) <= MAX_PROMPTS:
        raise DmdvizError(f"{path.name}: expected 1 to {MAX_PROMPTS:,} prompts, one a line; found {len(prompts)}")
    return prompts


def embed(ref: str, prompts: list[str], out, negative: str | None = None, guidance: bool = True, device="cpu",
          dtype=None) -> dict:
    """Write ``encode_prompt(prompts)`` of the pipeline ``ref`` to ``out`` (safetensors); returns
    {name: shape}. With ``guidance`` the negative embeddings too: of ``negative``, else of the
    pipeline's own default (SDXL: zeros; SD, PixArt, SANA: the empty prompt)."""
    from safetensors.torch import save_file

    out = Path(out)
    if out.suffix != ".safetensors":
        raise DmdvizError(f"{out}: the output must end in .safetensors")
    root, _ = resolve(ref)
    cls = pipeline_load.pipeline_class(root)
    names = OUTPUTS.get(cls.__name__)
    if names is None:
        raise DmdvizError(f"embed knows the encode_prompt of {', '.join(OUTPUTS)}, not of {cls.__name__}")
    skip = {k: None for k in read_json_file(root / "model_index.json") if k in ("unet", "transformer", "vae")}
    try:
        pipe = cls.from_pretrained(str(root), use_safetensors=True, dtype=dtype_named(dtype), **skip).to(device)
    except (OSError, ValueError, RuntimeError, TypeError, AttributeError) as e:
        raise DmdvizError(f"{root}: could not load the {cls.__name__}'s text encoders "
                          f"({pipeline_load._first_line(e)})") from None
    params = inspect.signature(pipe.encode_prompt).parameters
    kw = {"prompt": prompts, "device": device, "num_images_per_prompt": 1}
    if "do_classifier_free_guidance" in params:
        kw["do_classifier_free_guidance"] = guidance
    if "negative_prompt" in params and guidance and negative is not None:
        kw["negative_prompt"] = [negative] * len(prompts)
    try:
        import torch

        with torch.inference_mode():
            values = pipe.encode_prompt(**kw)
    except (OSError, ValueError, RuntimeError, TypeError, AttributeError) as e:
        raise DmdvizError(f"{cls.__name__}.encode_prompt failed ({pipeline_load._first_line(e)})") from None
    tensors = {name: v.detach().cpu().contiguous() for name, v in zip(names, values)
               if name is not None and v is not None and (guidance or not name.startswith("negative_"))}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"pipeline": cls.__name__, "prompts": str(len(prompts))})
    return {name: tuple(t.shape) for name, t in tensors.items()}
