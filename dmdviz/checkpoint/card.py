"""A checkpoint's model card (README.md), through ``huggingface_hub.ModelCard``, and the
record of pushed teachers that lets a student's card name its teacher's Hub repo."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dmdviz import __version__, settings
from dmdviz.checkpoint.names import is_repo_id, split_revision
from dmdviz.files import read_json, write_json


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


def weights_digest(folder) -> str:
    """SHA-256 of a checkpoint folder's ``model.safetensors``: which weights a push sent."""
    digest = hashlib.sha256()
    with open(Path(folder) / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_push(folder, repo_id: str, revision: str) -> None:
    """Remember that the weights in ``folder`` are on the Hub as ``repo_id`` at commit
    ``revision`` (``settings.pushed_record()``)."""
    path = settings.pushed_record()
    record = read_json(path) if path.is_file() else {}
    record[weights_digest(folder)] = {"repo": repo_id, "revision": revision}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record)


def pushed_teacher(ref: str) -> dict | None:
    """``{"repo", "revision"}`` where the teacher a student records as ``ref`` (a local folder
    or a shipped name) was pushed, if exactly those weights were; None otherwise, and for a
    Hub id (which names itself)."""
    if not ref or hub_base(ref):
        return None
    local = Path(ref).expanduser()
    folder = local if local.is_dir() else settings.shipped_root() / ref
    path = settings.pushed_record()
    if not (folder / "model.safetensors").is_file() or not path.is_file():
        return None
    entry = read_json(path).get(weights_digest(folder))
    return entry if isinstance(entry, dict) and isinstance(entry.get("repo"), str) else None


def naming_teacher(text: str, repo: str, revision: str) -> str:
    """A student's card (``text``) naming its pushed teacher: ``base_model`` in the front
    matter, so the Hub links the two, and a line saying where the teacher is."""
    from huggingface_hub import ModelCard

    found = ModelCard(text)
    found.data.base_model = repo
    found.text = (found.text.rstrip("\n") + f"\n\nIts teacher is on the Hub: [`{repo}`](https://huggingface.co/{repo})"
                  f" at commit `{revision}`.\n")
    return str(found)
