"""Pair files: which teacher and student to analyse, how, and on what (JSON or TOML).

    {"teacher": {"ref": "mnist-unet/teacher-8192", "adapter": "dmdviz"},
     "student": {"ref": "mnist-unet/student-8192", "adapter": "dmdviz"},
     "conditioning": {},            # or {"prompts": "prompts.safetensors"} for text models
     "space": "model",              # distances in the model's own space (latents for an LDM),
                                    # or "pixels" with "vae": {"ref": ..., "args": {"subfolder": "vae"}}
     "k": [8, 32]}                  # the K values; the first is the analysis target

Adapters: ``dmdviz`` (a dmdviz checkpoint: folder, shipped name or Hub id), ``diffusers``
(``models.diffusers_adapter``; args: subfolder, scheduler, dtype, and the student's
timestep), ``pipeline`` (a whole diffusers pipeline run by its own ``__call__``:
``models.pipeline_adapter``; args: call, unet / transformer, lora, scheduler, grid, dtype,
variant), and ``entrypoint`` (``package.module:function``, called with the args, returning
a protocol object). The entry point runs the named Python code, so it exists for the
command line and the library only: ``build(..., allow_code=False)`` (the web app) refuses it.

Class labels need no entry: a class-conditional pair draws y_i from (seed, i) (spec §2).
Prompt embeddings (``prompt_embeds`` (P, L, D), optional ``pooled_prompt_embeds``) make
each prompt a label, y_i uniform over the P prompts; the file lies beside the pair file.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dmdviz.errors import DmdvizError
from dmdviz.models.protocol import Student, Teacher, check_pair

ADAPTERS = ("dmdviz", "diffusers", "pipeline", "entrypoint")
SPACES = ("model", "pixels")
MAX_BYTES = 64 * 1024
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Side:
    ref: str
    adapter: str = "dmdviz"
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PairSpec:
    teacher: Side
    student: Side
    prompts: Path | None = None
    space: str = "model"
    vae: Side | None = None
    ks: tuple[int, ...] = (8,)
    folder: Path = Path(".")

    @property
    def label(self) -> str:
        return f"`{self.teacher.ref}` → `{self.student.ref}`"


def read(path) -> PairSpec:
    """Parse and check a pair file (``.json`` or ``.toml``); every problem is one line."""
    path = Path(path)
    if not path.is_file():
        raise DmdvizError(f"pair file {path} not found")
    if path.stat().st_size > MAX_BYTES:
        raise DmdvizError(f"pair file {path.name} is over {MAX_BYTES // 1024} KB")
    try:  # ValueError: JSON's own, or an integer of over 4,300 digits; RecursionError: nesting too deep
        text = path.read_text()
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError, tomllib.TOMLDecodeError) as e:
        raise DmdvizError(f"pair file {path.name} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'} "
                          f"({str(e).splitlines()[0][:100]})") from None
    return parse(raw, path.parent.resolve(), path.name)


def fetch(ref: str) -> Path:
    """The pair file of a Hub repo ``org/name[@revision]``: its ``pair.json`` (else
    ``pair.toml``) and the prompts file it names, each planned and bounded before it is
    downloaded (``checkpoint.fetch_files``; the pair file at most ``MAX_BYTES``), through
    the Hugging Face cache (offline respected). Refs inside it resolve as everywhere."""
    from dmdviz.checkpoint import fetch_files

    names = ["pair.json", "pair.toml"]
    folder, repo, _ = fetch_files(ref, names, small=MAX_BYTES)
    path = next((folder / name for name in names if (folder / name).is_file()), None)
    if path is None:
        raise DmdvizError(f"{ref}: no pair.json or pair.toml in that repo (or not in the local Hugging Face cache)")
    prompts = read(path).prompts
    if prompts is not None:  # from the commit the pair file came from
        fetch_files(f"{repo}@{folder.name}", [prompts.relative_to(path.parent.resolve()).as_posix()])
    return path


def parse(raw, folder: Path, name: str = "pair file") -> PairSpec:
    if not isinstance(raw, dict):
        raise DmdvizError(f"{name}: expected a table with teacher and student")
    unknown = set(raw) - {"teacher", "student", "conditioning", "space", "k", "vae"}
    if unknown:
        raise DmdvizError(f"{name}: unknown field(s) {', '.join(sorted(unknown))}")
    space = raw.get("space", "model")
    if space not in SPACES:
        raise DmdvizError(f"{name}: space must be \"model\" or \"pixels\" (through the pair's vae), got {space!r}")
    if (space == "pixels") != ("vae" in raw):
        raise DmdvizError(f"{name}: space \"pixels\" and a vae go together (the vae decodes the samples)")
    vae = _side(raw, "vae", name, default="diffusers") if "vae" in raw else None
    if vae is not None and vae.adapter != "diffusers":
        raise DmdvizError(f"{name}: the vae is a diffusers AutoencoderKL (adapter \"diffusers\")")
    cond = raw.get("conditioning") or {}
    if not isinstance(cond, dict) or set(cond) - {"prompts"}:
        raise DmdvizError(f"{name}: conditioning takes only \"prompts\" (class labels are drawn per seed)")
    ks = raw.get("k", [8])
    ks = [ks] if isinstance(ks, int) else ks
    if not isinstance(ks, list) or not ks or not all(isinstance(k, int) and 1 <= k <= 1024 for k in ks):
        raise DmdvizError(f"{name}: k must be a list of integers between 1 and 1024")
    return PairSpec(_side(raw, "teacher", name), _side(raw, "student", name),
                    _inside(folder, cond["prompts"], name) if cond.get("prompts") else None, space, vae, tuple(ks), folder)


def _side(raw: dict, role: str, name: str, default: str = "dmdviz") -> Side:
    entry = raw.get(role)
    if isinstance(entry, str):
        entry = {"ref": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("ref"), str) or not entry["ref"].strip():
        raise DmdvizError(f"{name}: {role} needs a ref (a folder, shipped name, Hub id or module:function)")
    adapter = entry.get("adapter", default)
    if adapter not in ADAPTERS:
        raise DmdvizError(f"{name}: unknown adapter {adapter!r} for the {role} (choose {', '.join(ADAPTERS)})")
    args = entry.get("args", {})
    if not isinstance(args, dict) or set(entry) - {"ref", "adapter", "args"}:
        raise DmdvizError(f"{name}: {role} takes ref, adapter and args (a table)")
    return Side(entry["ref"].strip(), adapter, args)


def _inside(folder: Path, rel: str, name: str) -> Path:
    """A file the pair file names: relative, and inside the pair file's folder."""
    if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(os.path.normpath(rel)).parts:
        raise DmdvizError(f"{name}: {rel!r} must be a path relative to the pair file's folder, inside it")
    return folder / os.path.normpath(rel)  # by name: a Hub cache's files are links into its blobs/


def _local(spec: PairSpec, ref: str) -> str:
    """A ref (or a scheduler path) relative to the pair file's folder when it exists there."""
    beside = spec.folder / ref
    return str(beside) if not Path(ref).is_absolute() and beside.exists() else ref


def _build(spec: PairSpec, side: Side, role: str, device, open_checkpoint):
    if side.adapter == "dmdviz":
        from dmdviz import models

        ckpt = open_checkpoint(_local(spec, side.ref))
        return models.as_teacher(ckpt) if role == "teacher" else models.as_student(ckpt)
    if side.adapter == "diffusers":
        from dmdviz.models import diffusers_adapter

        make = diffusers_adapter.teacher if role == "teacher" else diffusers_adapter.student
        args = dict(side.args)
        if args.get("scheduler"):
            args["scheduler"] = _local(spec, args["scheduler"])
        return make(_local(spec, side.ref), args, spec.prompts, device)
    if side.adapter == "pipeline":
        from dmdviz.models import pipeline_adapter

        make = pipeline_adapter.teacher if role == "teacher" else pipeline_adapter.student
        return make(_local(spec, side.ref), _local_files(spec, side.args), spec.prompts, device)
    return _entry_point(side, role)


def _local_files(spec: PairSpec, args: dict) -> dict:
    """A pipeline side's args with its weight files (``unet``, ``transformer``, ``lora``) found
    beside the pair file where they are there."""
    out = dict(args)
    for key in ("unet", "transformer", "lora"):
        value = out.get(key)
        if isinstance(value, str):
            out[key] = _local(spec, value)
        elif isinstance(value, dict) and isinstance(value.get("ref"), str):
            out[key] = {**value, "ref": _local(spec, value["ref"])}
    return out


def _entry_point(side: Side, role: str):
    if not _ENTRY.match(side.ref):
        raise DmdvizError(f"entry point {side.ref!r} is not package.module:function")
    module, func = side.ref.split(":")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        raise DmdvizError(f"entry point {side.ref}: {type(e).__name__}: {str(e)[:120]}") from None
    try:
        obj = fn(**side.args)
    except DmdvizError:
        raise
    except Exception as e:  # the researcher's own code: its failure is reported, in one line
        first = str(e).splitlines()[0][:120] if str(e) else ""
        raise DmdvizError(f"entry point {side.ref} failed: {type(e).__name__}: {first}") from None
    want = Teacher if role == "teacher" else Student
    if not isinstance(obj, want):
        raise DmdvizError(f"entry point {side.ref} returned a {type(obj).__name__}, not a protocol {role}")
    return obj


def build(spec: PairSpec, open_checkpoint, allow_code: bool = True, device="cpu"):
    """(teacher, student) protocol objects of a pair file, checked to share noise. Without
    ``allow_code`` an entry point is refused before either side is loaded.
    ``open_checkpoint`` (ref -> ``checkpoint.Checkpoint``) opens the dmdviz sides by its
    caller's reference policy (the command line: ``checkpoint.load_checkpoint``; the app:
    its registry, with its own rules and model store)."""
    if not allow_code and "entrypoint" in (spec.teacher.adapter, spec.student.adapter):
        raise DmdvizError("the entrypoint adapter runs Python code: it works from the command line and the "
                          "library, never in the web app")
    teacher = _build(spec, spec.teacher, "teacher", device, open_checkpoint)
    student = _build(spec, spec.student, "student", device, open_checkpoint)
    if spec.vae is not None:
        from dmdviz.models import decoded, diffusers_adapter

        check_pair(teacher, student)  # on the latents they share, before decoding anything
        decode = diffusers_adapter.Decoder(_local(spec, spec.vae.ref), spec.vae.args, device)
        teacher, student = decoded.DecodedTeacher(teacher, decode), decoded.DecodedStudent(student, decode)
    check_pair(teacher, student)
    return teacher, student
