"""A checkpoint folder: ``config.json`` (format, role, data, net, training record, the
teacher a student came from), ``model.safetensors`` and a ``README.md`` model card.

Only safetensors are ever read. Every size in ``config.json`` is bounded before anything is
allocated (``check_size``: the network is built on torch's meta device and its bytes counted
against ``Limits.max_model_mb``, the same bound as the weights file's size); the header is
read by the safetensors library (``safe_open``) before any tensor is loaded; keys, shapes
and dtypes are checked against the model the config builds; a pickle (however named) is
refused without being opened by a pickle reader. ``load_folder(..., shown=...)`` names the
folder in its messages (the web app passes a name that is not a server path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from dmdviz import __version__
from dmdviz.checkpoint.build import build_model, check_size
from dmdviz.checkpoint.card import card
from dmdviz.config import CheckpointConfig, DataConfig, NetConfig, to_dict
from dmdviz.errors import DmdvizError
from dmdviz.files import atomic_write
from dmdviz.limits import Limits

FORMAT = "dmdviz-checkpoint"
VERSION = 1
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
           "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}


def max_bytes(limits: Limits | None = None) -> int:
    """The largest weights file read or downloaded: ``Limits.max_model_mb`` (``DMDVIZ_MAX_MODEL_MB``)."""
    return (limits or Limits.from_env()).max_model_mb * 2**20


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``model`` is a velocity net (teacher) or a ``core.dmd.StudentNet``; ``spec``
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
    cfg = {"format": FORMAT, "version": VERSION, "dmdviz_version": __version__, "role": role,
           "data": to_dict(data), "net": to_dict(net), "train": train}
    if role == "student":
        cfg["teacher"] = {"ref": teacher[0], "revision": teacher[1]} if teacher else {}
        cfg["student"] = student or {}
    if metrics:
        cfg["metrics"] = metrics
    return cfg


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


def read_safetensors_header(path: Path, limits: Limits | None = None) -> dict[str, tuple[tuple[int, ...], str]]:
    """{key: (shape, dtype name)} of a safetensors file, read by the safetensors library
    (``safe_open``: the header only, no tensor data); anything else is one line."""
    size, limit = path.stat().st_size, max_bytes(limits)
    if size > limit:
        raise DmdvizError(f"{path.name} is {size / 2**20:.0f} MB, over the {limit / 2**20:.0f} MB limit")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {key: (tuple(f.get_slice(key).get_shape()), f.get_slice(key).get_dtype()) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        reason = str(e).splitlines()[0].removeprefix("Error while deserializing header: ")[:160]
        raise DmdvizError(f"{path.name} is not a valid safetensors file ({reason})") from None


def validate_weights(path: Path, model: torch.nn.Module, limits: Limits | None = None) -> None:
    """Keys, shapes and dtypes of the file must equal those of the model (strict)."""
    header = read_safetensors_header(path, limits)
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
    validate_weights(weights, skeleton, limits)
    model = build_model(config)
    try:
        state = load_file(str(weights))
    except Exception as e:  # the safetensors reader's own errors vary by version
        raise DmdvizError(f"{weights.name} could not be read ({type(e).__name__}: {str(e)[:120]})") from None
    model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in state.items()}, strict=True)
    model.to(device).eval().requires_grad_(False)
    return Checkpoint(model, config, folder, ref or str(folder), revision)
