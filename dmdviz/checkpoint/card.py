"""A checkpoint's model card (README.md), through ``huggingface_hub.ModelCard``."""

from __future__ import annotations

import json
from pathlib import Path

from dmdviz import __version__, settings
from dmdviz.checkpoint.names import is_repo_id, split_revision


def hub_base(ref: str) -> str | None:
    """The Hub repo a teacher reference names (``org/name``, revision dropped), or None for a
    local folder or a shipped name (``moons/teacher``): those are no Hub model to link."""
    if not ref or not is_repo_id(ref):
        return None
    repo = split_revision(ref)[0]
    if Path(ref).expanduser().is_dir() or (settings.shipped_root() / repo / "config.json").is_file():
        return None
    return repo


def card(config: dict, extra: str = "") -> str:
    """The model card (README.md) of a checkpoint, through ``huggingface_hub.ModelCard``;
    ``extra`` is appended as its last section. A student whose teacher is a Hub repo id
    names it as ``base_model``, so the Hub links the student to its teacher; image
    checkpoints (C, H, W) carry the ``unconditional-image-generation`` pipeline tag, vector
    ones none (the Hub has no task for them)."""
    from huggingface_hub import ModelCard, ModelCardData

    role, data = config["role"], config["data"]
    teacher = config.get("teacher") or {}
    image = len(config["net"]["shape"]) == 3
    version = config.get("dmdviz_version") or __version__
    meta = ModelCardData(library_name="dmdviz", license="mit",
                         tags=["dmdviz", "flow-matching", "distribution-matching-distillation"],
                         base_model=hub_base(teacher.get("ref", "")) if role == "student" else None,
                         pipeline_tag="unconditional-image-generation" if image else None,
                         dmdviz_version=version)
    lines = [
        f"# dmdviz {role}: {data['name']}", "",
        f"A {config['net']['kind'].upper()} {'flow-matching teacher' if role == 'teacher' else 'one-step DMD student'}"
        f" on `{data['name']}` (sample shape {tuple(config['net']['shape'])}).", "",
        "Time convention: t = 0 is noise, t = 1 is data; x_t = (1 - t) z + t x.",
        "Load it with `dmdviz.checkpoint.load_checkpoint(\"<this folder or repo id>\")`. Weights are",
        "safetensors only; `config.json` rebuilds the network.", "",
        f"Written by dmdviz {version}.", "",
    ]
    if role == "student":
        t = config.get("teacher", {})
        lines += [f"Distilled from teacher `{t.get('ref', '?')}`"
                  + (f" at revision `{t['revision']}`" if t.get("revision") else "") + ".", ""]
    lines += ["## Training", "", "```json", json.dumps(config.get("train", {}), indent=2), "```", ""]
    if config.get("metrics"):
        lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {json.dumps(v)} |"
                  for k, v in config["metrics"].items()]
        lines.append("")
    if extra:
        lines += [extra, ""]
    return str(ModelCard(f"---\n{meta.to_yaml()}\n---\n\n" + "\n".join(lines)))
