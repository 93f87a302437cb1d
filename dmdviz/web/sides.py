"""A pair file's diffusers sides in the web app: Hub repo ids, fetched from the Hub and
nothing else.

``check`` is the web's rule: every such side (model, vae, scheduler) is a Hub repo id with
relative names inside it (or, in a shipped pair file only, a folder inside
``checkpoints/``), never resolved against a folder of the server, and is refused with one
message whether or not a server path of that name exists.

``fetched`` makes each Hub side the snapshot folder holding only the files it needs, each
download planned and bounded first (``checkpoint.fetch_files``): the model's config (and
its scheduler's), checked against the budget on the meta device
(``models.budget.check_config``) before a byte of weights comes, then that one folder's
weights. The side is rewritten to name that folder, so the adapter resolves nothing itself.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from dmdviz import checkpoint, settings
from dmdviz.errors import DmdvizError
from dmdviz.limits import Limits
from dmdviz.models import budget

MODEL_FOLDERS = ("unet", "transformer", "")  # where a pipeline keeps its network, as the adapter looks
SCHEDULER = "scheduler/scheduler_config.json"


def shown(ref: str) -> str:
    """A visitor's reference for a message: an absolute path is not echoed."""
    return "a folder path" if ref.startswith(("/", "~", "\\")) or ":\\" in ref[:3] else repr(ref[:80])


NOT_AVAILABLE = ("is not available: in the web app a diffusers model (and its scheduler) is a Hub repo id "
                 "(org/name[@revision]), its subfolder a relative name inside it")
RELATIVE = re.compile(r"^[\w.-]+(/[\w.-]+)*$")  # a name inside a repo: no absolute path, no empty part


def check(spec, shipped: bool, limits: Limits) -> None:
    """Web rule for a pair file's non-dmdviz sides (diffusers models, their vae and scheduler):
    a Hub repo id and nothing else (never resolved against a folder here, uploads included),
    or (a shipped pair file only) a folder inside ``checkpoints/``; ``args.subfolder`` a
    relative name; ``args.shape`` within the budget. One message whether or not a server
    path of that name exists."""
    for role in ("teacher", "student", "vae"):
        side = getattr(spec, role)
        if side is None or side.adapter == "dmdviz":
            continue
        for what, ref in refs(side):
            if ref is None or (isinstance(ref, str) and (checkpoint.is_repo_id(ref) or shipped_folder(spec, ref, shipped))):
                continue
            raise DmdvizError(f"the pair file's {role} {what} {shown(str(ref))} {NOT_AVAILABLE}")
        sub = side.args.get("subfolder")
        if sub is not None and not (isinstance(sub, str) and len(sub) <= 200 and RELATIVE.match(sub)
                                    and not any(part.strip(".") == "" for part in sub.split("/"))):
            raise DmdvizError(f"the pair file's {role} subfolder {shown(str(sub))} {NOT_AVAILABLE}")
        if side.args.get("shape") is not None:
            budget.sample_shape(side.args["shape"], f"the pair file's {role} args.shape", limits)


def refs(side) -> list[tuple[str, object]]:
    """(what, reference) of everything a side opens: a diffusers side's model and scheduler
    folder; a pipeline side's pipeline and its students' weight files (``args.unet``,
    ``args.transformer``: ``{"ref": Hub id, "weight_name": file}``; ``args.lora`` likewise),
    its scheduler being a class name, no reference. A weight file given as a bare path is
    named by itself, so only a shipped pair file's folder passes."""
    if side.adapter != "pipeline":
        return [("model", side.ref), ("scheduler", side.args.get("scheduler"))]
    out = [("pipeline", side.ref)]
    for key in ("unet", "transformer", "lora"):
        value = side.args.get(key)
        if value is not None:
            out.append((f"args.{key}", value.get("ref") if isinstance(value, dict) else value))
    return out


def shipped_folder(spec, ref: str, shipped: bool) -> bool:
    """A folder a shipped pair file names, inside ``checkpoints/``."""
    if not shipped or not isinstance(ref, str) or Path(ref).is_absolute():
        return False
    target = (spec.folder / ref).resolve()
    return target.exists() and target.is_relative_to(settings.shipped_root().resolve())


def fetched(spec, shipped: bool, limits: Limits):
    """``spec`` (``check``ed) with each Hub diffusers side replaced by its fetched snapshot
    folder; a folder of a shipped pair file is left as it is."""

    def is_local(ref):
        return shipped_folder(spec, ref, shipped)

    out = {}
    for role in ("teacher", "student", "vae"):
        side = getattr(spec, role)
        if side is None or side.adapter != "diffusers":
            continue
        args = dict(side.args)
        ref = side.ref
        if not is_local(ref):
            sub = args.get("subfolder")
            wanted = [sub] if sub else (["vae", ""] if role == "vae" else list(MODEL_FOLDERS))
            scheduler = role != "vae" and not args.get("scheduler")
            root, args["subfolder"] = _component(ref, wanted, scheduler, args.get("shape"), limits)
            ref = str(root)
        if args.get("scheduler") and not is_local(args["scheduler"]):
            args["scheduler"] = str(_scheduler(args["scheduler"], limits))
        out[role] = replace(side, ref=ref, args=args)
    return replace(spec, **out)


def _component(ref: str, wanted: list[str], scheduler: bool, shape, limits: Limits) -> tuple[Path, str]:
    """(snapshot folder, the model's subfolder): the first of ``wanted`` whose config the
    repo holds, its budget checked, then its weights alone fetched at the same commit."""
    configs = [f"{name}/config.json" if name else "config.json" for name in wanted]
    root, repo, _ = checkpoint.fetch_files(ref, configs + ([SCHEDULER] if scheduler else []), limits)
    chosen = next((name for name in wanted if (root / name / "config.json").is_file()), None)
    if chosen is None:
        raise DmdvizError(f"{ref}: the repo holds no model config ({' or '.join(configs)})")
    budget.check_config(root / chosen, shape, limits)
    checkpoint.fetch_files(f"{repo}@{root.name}", budget.weight_patterns(chosen), limits)
    return root, chosen


def _scheduler(ref: str, limits: Limits) -> Path:
    root, _, _ = checkpoint.fetch_files(ref, ["scheduler_config.json", SCHEDULER], limits)
    return root / "scheduler" if (root / SCHEDULER).is_file() else root
