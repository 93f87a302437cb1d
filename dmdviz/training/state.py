"""A trainer's run folder: its resumable state and its metrics log (spec §1, §3 runs).

``state.safetensors`` holds everything a killed run needs to go on exactly where it saved:
weights, optimiser moments, random generators (one stream per rank) and the step, in ONE
file written atomically (``files.atomic_write``). ``run.json`` records what the run is, so a
folder never mixes two files. ``metrics.jsonl`` is cut back to the saved step on resume, so
no step is lost or duplicated.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from dmdviz import files
from dmdviz.errors import DmdvizError
from dmdviz.training.runtime import Runtime

STATE = "state.safetensors"


class MetricsLog:
    """Append-only ``metrics.jsonl`` (rank 0 only: ``enabled``); ``truncate(step)`` keeps the
    lines up to a resumed step (``files.keep_until``: a torn last line goes too)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled

    def truncate(self, step: int) -> None:
        if self.enabled:
            files.keep_until(self.path, step)

    def write(self, rec: dict) -> None:
        if self.enabled:
            files.append(self.path, {k: scalar(v) for k, v in rec.items()})


def scalar(v):
    """A logged value as JSON: tensors and floats rounded to 7 digits."""
    return round(float(v), 7) if isinstance(v, (torch.Tensor, float)) else v


def save_state(folder: Path, step: int, modules: dict, optims: dict, gens: dict, wall: float, rt: Runtime) -> None:
    """Rank 0 writes; every rank must call this (it gathers each rank's random streams)."""
    rngs = {name: rt.gather(g.get_state()) for name, g in gens.items()}
    if not rt.is_main:
        return
    tensors, meta = {}, {"step": step, "wall": wall, "world_size": rt.world_size, "optims": {}}
    for name, m in modules.items():
        tensors.update({f"{name}.{k}": v.detach().cpu().contiguous() for k, v in m.state_dict().items()})
    for name, opt in optims.items():
        sd = opt.state_dict()
        meta["optims"][name] = {"param_groups": sd["param_groups"], "keys": {}}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                key = f"opt.{name}.{pid}.{k}"
                tensors[key] = torch.as_tensor(v).detach().cpu().contiguous()
                meta["optims"][name]["keys"].setdefault(str(pid), []).append(k)
    for name, states in rngs.items():
        tensors.update({_rng_key(name, r): s for r, s in enumerate(states)})
    files.atomic_write(folder / STATE, lambda p: save_file(tensors, str(p), metadata={"meta": json.dumps(meta)}))


def _rng_key(name: str, rank: int) -> str:
    return f"rng.{name}" if rank == 0 else f"rng.{name}.rank{rank}"


def load_state(folder: Path, modules: dict, optims: dict, gens: dict, rt: Runtime) -> tuple[int, float]:
    from safetensors import safe_open

    path = folder / STATE
    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["meta"])
    if meta.get("world_size", 1) != rt.world_size:
        raise DmdvizError(f"{folder} was written by {meta.get('world_size', 1)} process(es); resume it with the "
                          f"same torchrun --nproc_per_node (this run has {rt.world_size})")
    tensors = load_file(str(path))
    for name, m in modules.items():
        pre = f"{name}."
        m.load_state_dict({k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}, strict=True)
    for name, opt in optims.items():
        info = meta["optims"][name]
        state = {int(pid): {k: tensors[f"opt.{name}.{pid}.{k}"] for k in ks} for pid, ks in info["keys"].items()}
        opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    for name, g in gens.items():
        g.set_state(tensors[_rng_key(name, rt.rank)])
    return int(meta["step"]), float(meta["wall"])


def _check_resume(out: Path, config: dict, resume: bool) -> bool:
    """True when the folder holds a state of the same run; refuse to mix files."""
    if not (out / STATE).exists():
        return False
    run_cfg = out / "run.json"
    # world_size is left out here: load_state refuses a change of it with a clearer message
    recorded = json.loads(run_cfg.read_text()) if run_cfg.exists() else None
    if recorded is not None and {k: v for k, v in recorded.items() if k != "world_size"} != json.loads(json.dumps(config)):
        raise DmdvizError(f"{out} holds a different run (its run.json differs); choose a new --out")
    if not resume:
        raise DmdvizError(f"{out} holds an unfinished run; pass --resume or choose a new --out")
    return True


def start_run(out: Path, run_config: dict, resume: bool, rt: Runtime) -> bool:
    out.mkdir(parents=True, exist_ok=True)
    resuming = _check_resume(out, run_config, resume)
    if rt.is_main and not resuming:
        if (out / "metrics.jsonl").exists():
            (out / "metrics.jsonl").unlink()
        record = {**run_config, "world_size": rt.world_size}
        files.atomic_write(out / "run.json", lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))
    rt.barrier()  # no rank reads the folder while rank 0 still resets it
    return resuming


