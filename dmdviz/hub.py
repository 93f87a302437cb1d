"""Checkpoint folders, local and on the Hugging Face Hub (STYLE §8).

A checkpoint is a folder: ``config.json`` (format, role, data, net, training record, the
teacher a student came from), ``model.safetensors`` and a ``README.md`` model card.

A reference is resolved in this order:
1. an existing local folder;
2. a shipped name: ``chessboard4d/teacher`` is ``<project>/checkpoints/chessboard4d/teacher``;
3. a Hub repo id ``org/name[@revision]`` (``huggingface_hub`` download; the cache and
   ``HF_HUB_OFFLINE`` are respected).

Only safetensors are ever read. Every size in ``config.json`` is bounded before anything is
allocated (``check_size``: the network is built on torch's meta device and its bytes counted
against ``Limits.max_model_mb``); the header is read by the safetensors library
(``safe_open``) before any tensor is loaded; keys, shapes and dtypes are checked against the
model the config builds; a pickle (however named) is refused without being opened by a
pickle reader. ``load_folder(..., shown=...)`` names the folder in its messages (the web app
passes a name that is not a server path).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from dmdviz.checkpoint_build import build_model, check_size
from dmdviz.config import CheckpointConfig, DataConfig, NetConfig, to_dict
from dmdviz.errors import DmdvizError
from dmdviz.limits import Limits
from dmdviz.runs import atomic_write

FORMAT = "dmdviz-checkpoint"
VERSION = 1
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = Path(os.environ.get("DMDVIZ_CHECKPOINTS", PROJECT_ROOT / "checkpoints"))
MAX_BYTES = int(float(os.environ.get("DMDVIZ_MAX_CHECKPOINT_MB", "512")) * 2**20)
MAX_REF = 1024  # characters of a checkpoint reference
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
           "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+(@[\w./-]+)?$")


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``model`` is a velocity net (teacher) or a ``Student``; ``spec``
    is its config.json typed (``config.CheckpointConfig``), parsed once here."""

    model: torch.nn.Module
    config: dict
    path: Path
    ref: str
    revision: str = ""
    spec: CheckpointConfig = field(init=False, repr=False)

    def __post_init__(self):
        self.spec = CheckpointConfig.parse(self.config)

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def data(self) -> DataConfig:
        return self.spec.data

    @property
    def net(self) -> NetConfig:
        return self.spec.net

    @property
    def n_classes(self) -> int:
        return self.net.n_classes


def make_config(role: str, data: DataConfig, net: NetConfig, train: dict, teacher=None,
                student: dict | None = None, metrics: dict | None = None) -> dict:
    if role not in ("teacher", "student"):
        raise ValueError(role)
    cfg = {"format": FORMAT, "version": VERSION, "role": role, "data": to_dict(data),
           "net": to_dict(net), "train": train}
    if role == "student":
        cfg["teacher"] = {"ref": teacher[0], "revision": teacher[1]} if teacher else {}
        cfg["student"] = student or {}
    if metrics:
        cfg["metrics"] = metrics
    return cfg


def card(config: dict, extra: str = "") -> str:
    """The model card (README.md) of a checkpoint, through ``huggingface_hub.ModelCard``;
    ``extra`` is appended as its last section. A student whose teacher is a Hub repo id
    names it as ``base_model``, so the Hub links the student to its teacher."""
    from huggingface_hub import ModelCard, ModelCardData

    role, data = config["role"], config["data"]
    teacher = config.get("teacher") or {}
    base = teacher.get("ref", "") if role == "student" else ""
    meta = ModelCardData(library_name="dmdviz", tags=["dmdviz", "flow-matching", "distribution-matching-distillation"],
                         base_model=base if _REPO_ID.match(base or "") and "@" not in base else None)
    lines = [
        f"# dmdviz {role}: {data['name']}", "",
        f"A {config['net']['kind'].upper()} {'flow-matching teacher' if role == 'teacher' else 'one-step DMD student'}"
        f" on `{data['name']}` (sample shape {tuple(config['net']['shape'])}).", "",
        "Time convention: t = 0 is noise, t = 1 is data; x_t = (1 - t) z + t x.",
        "Load it with `dmdviz.hub.load_checkpoint(\"<this folder or repo id>\")`. Weights are",
        "safetensors only; `config.json` rebuilds the network.", "",
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


def save_checkpoint(folder, model: torch.nn.Module, config: dict, card_extra: str = "") -> Path:
    """Write model.safetensors (fp32), then config.json, then README.md, each atomically.

    The folder may also be a run folder (metrics.jsonl, state, snapshots stay untouched).
    """
    folder = Path(folder)
    state = {k: v.detach().cpu().float().contiguous() if v.is_floating_point() else v.detach().cpu().contiguous()
             for k, v in _unwrap(model).state_dict().items()}
    atomic_write(folder / "model.safetensors", lambda p: save_file(state, str(p), metadata={"format": "pt"}))
    atomic_write(folder / "config.json", lambda p: p.write_text(json.dumps(config, indent=2) + "\n"))
    atomic_write(folder / "README.md", lambda p: p.write_text(card(config, card_extra)))
    return folder


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def read_safetensors_header(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """{key: (shape, dtype name)} of a safetensors file, read by the safetensors library
    (``safe_open``: the header only, no tensor data); anything else is one line."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise DmdvizError(f"{path.name} is {size / 2**20:.0f} MB, over the {MAX_BYTES / 2**20:.0f} MB limit")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {key: (tuple(f.get_slice(key).get_shape()), f.get_slice(key).get_dtype()) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        reason = str(e).splitlines()[0].removeprefix("Error while deserializing header: ")[:160]
        raise DmdvizError(f"{path.name} is not a valid safetensors file ({reason})") from None


def validate_weights(path: Path, model: torch.nn.Module) -> None:
    """Keys, shapes and dtypes of the file must equal those of the model (strict)."""
    header = read_safetensors_header(path)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
    if missing or unexpected:
        raise DmdvizError(
            f"{path.name} does not match its config.json: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}"
        )
    for key, ref in expected.items():
        shape, name = header[key]
        if shape != tuple(ref.shape):
            raise DmdvizError(f"shape mismatch for {key}: file has {shape}, config needs {tuple(ref.shape)}")
        dtype = _DTYPES.get(name)
        if dtype is None or dtype.is_floating_point != ref.is_floating_point():
            raise DmdvizError(f"dtype mismatch for {key}: file has {name}, config needs {ref.dtype}")


def _check_folder(folder: Path, shown: str) -> None:
    if not (folder / "config.json").is_file():
        raise DmdvizError(f"{shown} has no config.json: not a dmdviz checkpoint folder")
    if not (folder / "model.safetensors").is_file():
        pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
        hint = f" (found {', '.join(pickles)}: pickle files are never loaded)" if pickles else ""
        raise DmdvizError(f"{shown} has no model.safetensors{hint}")


def read_config(folder: Path, shown: str | None = None) -> dict:
    where = f"{shown or folder}/config.json"
    try:
        config = json.loads((folder / "config.json").read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DmdvizError(f"{where} is not valid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise DmdvizError(f"{where} is not a dmdviz checkpoint config")
    if config.get("role") not in ("teacher", "student") or "net" not in config or "data" not in config:
        raise DmdvizError(f"{where} lacks role, net or data")
    return config


def load_folder(folder, ref: str | None = None, revision: str = "", device="cpu", shown: str | None = None,
                limits: Limits | None = None) -> Checkpoint:
    """Load a checkpoint folder after validating it completely: sizes (``check_size``), then
    the weights' header against the network built on the meta device, and only then the
    real network and its weights. ``shown`` names the folder in messages (default: its path)."""
    folder = Path(folder)
    shown = shown or str(folder)
    _check_folder(folder, shown)
    config = read_config(folder, shown)
    try:
        skeleton = check_size(config, limits)
    except DmdvizError as e:
        raise DmdvizError(f"{shown}: {e}") from None
    weights = folder / "model.safetensors"
    validate_weights(weights, skeleton)
    model = build_model(config)
    try:
        state = load_file(str(weights))
    except Exception as e:  # the safetensors reader's own errors vary by version
        raise DmdvizError(f"{weights.name} could not be read ({type(e).__name__}: {str(e)[:120]})") from None
    model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in state.items()}, strict=True)
    model.to(device).eval().requires_grad_(False)
    return Checkpoint(model, config, folder, ref or str(folder), revision)


def shipped_names() -> list[str]:
    """Shipped references, e.g. ``chessboard4d/teacher``, sorted."""
    if not SHIPPED.is_dir():
        return []
    return sorted(str(p.parent.relative_to(SHIPPED)) for p in SHIPPED.rglob("config.json")
                  if _visible(p.relative_to(SHIPPED).parts))


def _visible(parts) -> bool:
    """No hidden part (``.cache``, ``.git``): such folders are never shipped names."""
    return not any(part.startswith(".") for part in parts)


def is_shipped(ref: str) -> bool:
    """Whether ``ref`` is one of ``shipped_names()``, without walking the folder (every app
    request asks: the walk was most of a cached view's server time)."""
    parts = ref.split("/")
    if not all(parts) or not _visible(parts) or "\\" in ref:
        return False
    folder = SHIPPED / ref
    try:
        return (folder / "config.json").is_file() and folder.resolve().is_relative_to(SHIPPED.resolve())
    except OSError:  # a name the file system refuses (too long): not a shipped one
        return False


def split_revision(ref: str) -> tuple[str, str | None]:
    if "@" in ref:
        repo, rev = ref.rsplit("@", 1)
        return repo, rev or None
    return ref, None


def resolve(ref: str) -> tuple[Path, str, str]:
    """(folder, canonical ref, revision) for a local folder, shipped name or Hub repo id."""
    ref = str(ref).strip()
    if not ref:
        raise DmdvizError("empty checkpoint reference")
    if len(ref) > MAX_REF:
        raise DmdvizError(f"checkpoint reference of {len(ref)} characters (at most {MAX_REF})")
    try:
        found = _resolve_local(ref)
    except OSError as e:  # e.g. a path component over the file system's name limit
        raise DmdvizError(f"{ref[:60]!r}... is not a usable path ({e.strerror or type(e).__name__})") from None
    if found:
        return found
    if not _REPO_ID.match(ref):
        raise DmdvizError(f"{ref!r} is neither a folder, a shipped checkpoint nor a Hub repo id (org/name[@revision])")
    return _download(ref)


def _resolve_local(ref: str) -> tuple[Path, str, str] | None:
    """A local folder or a shipped name; None when ``ref`` is neither (it may be a Hub id)."""
    local = Path(ref).expanduser()
    if local.is_dir():
        try:
            return local, str(local.resolve().relative_to(SHIPPED.resolve())), ""
        except ValueError:
            return local, str(local.resolve()), ""
    if local.suffix in PICKLE_SUFFIXES and local.exists():
        raise DmdvizError(f"{ref} is a pickle file: only safetensors checkpoint folders are loaded")
    if local.exists():
        raise DmdvizError(f"{ref} is a file: a checkpoint is a folder with config.json and model.safetensors")
    if (SHIPPED / ref / "config.json").is_file():
        return SHIPPED / ref, ref, ""
    return None


def _download(ref: str) -> tuple[Path, str, str]:
    from huggingface_hub import snapshot_download
    from huggingface_hub import errors as hf_errors

    repo, rev = split_revision(ref)
    try:
        _check_remote_size(repo, rev)
        path = snapshot_download(repo, revision=rev, allow_patterns=["config.json", "model.safetensors", "README.md"])
    except hf_errors.OfflineModeIsEnabled:
        raise DmdvizError(f"{ref}: Hub is in offline mode and the repo is not in the local cache") from None
    except hf_errors.LocalEntryNotFoundError:
        raise DmdvizError(f"{ref}: not in the local Hugging Face cache and the Hub is unreachable") from None
    except hf_errors.RevisionNotFoundError:
        raise DmdvizError(f"{ref}: revision {rev!r} not found on the Hub") from None
    except hf_errors.RepositoryNotFoundError:
        raise DmdvizError(f"{ref}: no such model repo on the Hub (or it is private)") from None
    except hf_errors.HfHubHTTPError as e:
        raise DmdvizError(f"{ref}: Hub error ({str(e).splitlines()[0][:120]})") from None
    except (OSError, ValueError) as e:
        raise DmdvizError(f"{ref}: could not be fetched ({type(e).__name__}: {str(e)[:120]})") from None
    folder = Path(path)
    return folder, repo, rev or folder.name


def _check_remote_size(repo: str, rev: str | None) -> None:
    """Online, refuse an oversized model.safetensors before downloading it (the local check
    in ``read_safetensors_header`` would come only after the disk had filled)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub import errors as hf_errors

    if constants.HF_HUB_OFFLINE:
        return  # only the cache is read
    try:
        infos = HfApi().get_paths_info(repo, ["model.safetensors"], revision=rev)
    except hf_errors.HfHubHTTPError:
        raise  # no such repo or revision: the caller words it
    except Exception:  # the HTTP stack's own errors: Hub unreachable, so nothing can be downloaded
        return  # and snapshot_download falls back to the cache
    for info in infos:
        size = getattr(info, "size", 0) or 0
        if size > MAX_BYTES:
            raise DmdvizError(f"{repo}: model.safetensors is {size / 2**20:.0f} MB, over the "
                              f"{MAX_BYTES / 2**20:.0f} MB limit (DMDVIZ_MAX_CHECKPOINT_MB)")


def load_checkpoint(ref: str, device="cpu") -> Checkpoint:
    """Resolve a reference (folder, shipped name, Hub id) and load it, fully validated."""
    folder, canonical, revision = resolve(ref)
    return load_folder(folder, canonical, revision, device)


def push(folder, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload a validated checkpoint folder to a Hub model repo; returns the commit URL."""
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hf_errors

    folder = Path(folder)
    load_folder(folder)
    if not _REPO_ID.match(repo_id) or "@" in repo_id:
        raise DmdvizError(f"{repo_id!r} is not a Hub repo id (org/name)")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, exist_ok=True, private=private)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder),
                                 allow_patterns=["config.json", "model.safetensors", "README.md"],
                                 commit_message="Upload dmdviz checkpoint")
    except hf_errors.OfflineModeIsEnabled:
        raise DmdvizError("cannot push: the Hub is in offline mode (HF_HUB_OFFLINE)") from None
    except hf_errors.HfHubHTTPError as e:
        raise DmdvizError(f"push to {repo_id} failed ({str(e).splitlines()[0][:120]})") from None
    except OSError as e:
        raise DmdvizError(f"push to {repo_id} failed: Hub unreachable ({type(e).__name__})") from None
    return str(getattr(info, "commit_url", info))


def with_metrics(folder, metrics: dict) -> None:
    """Record metrics into an existing checkpoint's config and card (atomic rewrite)."""
    ckpt = load_folder(folder)
    config = dict(ckpt.config, metrics={**ckpt.config.get("metrics", {}), **metrics})
    save_checkpoint(folder, ckpt.model, config)


__all__ = ["Checkpoint", "load_checkpoint", "load_folder", "save_checkpoint", "make_config", "push",
           "resolve", "shipped_names", "is_shipped", "build_model"]
