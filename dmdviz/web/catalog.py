"""What the app can offer in its lists: the shipped students, families and pair files, and
the finished runs, each with its label and the reference the registry resolves."""

from __future__ import annotations

from pathlib import Path

from dmdviz import checkpoint, settings
from dmdviz.config import recorded_teacher
from dmdviz.errors import DmdvizError
from dmdviz.experiments import jobs

__all__ = ["RUNS_FAMILY", "families", "family_students", "pair_choices", "published", "shipped_pair_files", "siblings"]


def siblings(teacher: checkpoint.Checkpoint, root: Path | None = None) -> list[tuple[str, str]]:
    """(label, reference) of the shipped and run students that record ``teacher``."""
    mine, root_shipped = teacher.path.resolve(), settings.shipped_root()
    found = [(f"{name} (shipped)", name) for name in _shipped_students()
             if _shipped_folder(recorded_teacher(checkpoint.read_config(root_shipped / name))) == mine]
    found += [(f"{run} (run)", f"runs/{run}/student") for run, folder, _ in jobs.finished_pairs(root)
              if folder.resolve() == mine]
    return found


def _shipped_folder(ref: str) -> Path | None:
    """The folder of a shipped name (what a shipped student records), None for anything else."""
    return (settings.shipped_root() / ref).resolve() if ref and checkpoint.is_shipped(ref) else None


def _shipped_students() -> list[str]:
    root = settings.shipped_root()
    return [name for name in checkpoint.shipped_names() if checkpoint.read_config(root / name)["role"] == "student"]




def shipped_pair_files(offered: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """(label, name) of the shipped pair files, ``checkpoints/pairs/*.json|toml``, and the
    published recipes (``pairs/published/*.toml``) this server can run (``published``, or
    ``offered``: its list, where the caller has read it already); the name is relative to
    ``checkpoints/`` (``pairs/chessboard4d.toml``)."""
    pairs = settings.shipped_root() / "pairs"
    files = sorted([*pairs.glob("*.json"), *pairs.glob("*.toml")]) if pairs.is_dir() else []
    return [(f"{p.stem} (pair file)", f"pairs/{p.name}") for p in files] + (published()[0] if offered is None else offered)


def published() -> tuple[list[tuple[str, str]], str]:
    """(label, name) of the published recipes this server can run, and one line on what the
    others need ('' when none waits). A recipe runs where the Hugging Face Hub is not switched
    off (``HF_HUB_OFFLINE``; reachability is not probed), the app's device is a GPU, and the
    files it names beside itself (prompt embeddings, converted state dicts) are there."""
    from huggingface_hub import constants

    from dmdviz.training.runtime import pick_device

    recipes = sorted((settings.shipped_root() / "pairs" / "published").glob("*.toml"))
    try:
        gpu = pick_device(settings.app_device()).type == "cuda"
    except DmdvizError:
        gpu = False
    missing = [what for what, ok in (("the Hugging Face Hub (offline here)", not constants.HF_HUB_OFFLINE),
                                     (f"a GPU (this app runs on {settings.app_device()})", gpu)) if not ok]
    if missing and recipes:
        return [], f"{len(recipes)} published-student recipes (docs/published.md) need {' and '.join(missing)}"
    ready = [p for p in recipes if _files_there(p)]
    waiting = len(recipes) - len(ready)
    note = (f"{waiting} published-student recipes wait for their prompt embeddings or converted weights "
            "(docs/published.md, 'Before running a recipe')") if waiting else ""
    return [(f"{p.stem} (published recipe)", f"pairs/published/{p.name}") for p in ready], note


def _files_there(path: Path) -> bool:
    """Whether every file a recipe names beside itself exists (its prompts, its local state dicts)."""
    from dmdviz.models import pairfile

    try:
        spec = pairfile.read(path)
    except DmdvizError:
        return False
    named = [spec.prompts] + [spec.folder / value for side in (spec.teacher, spec.student)
                              for key in ("unet", "transformer") if isinstance(value := side.args.get(key), str)]
    return all(p is None or p.is_file() for p in named)


def pair_choices(root: Path | None = None) -> list[tuple[str, str]]:
    """(label, student reference) of the shipped pairs and the finished runs."""
    return ([(f"{name} (shipped)", name) for name in _shipped_students()]
            + [(f"{run} (run)", f"runs/{run}/student") for run, _, _ in jobs.finished_pairs(root)])


RUNS_FAMILY = "runs"


def families() -> list[str]:
    """Shipped folders holding students (``mnist``: the students of its teacher snapshots),
    plus ``runs``, every run trained here."""
    return sorted({name.split("/")[0] for name in _shipped_students() if "/" in name}) + [RUNS_FAMILY]


def family_students(name: str, root: Path | None = None) -> list[str]:
    """Student references of a family (see ``families``)."""
    if name == RUNS_FAMILY:
        refs = [f"runs/{run}/student" for run, _, _ in jobs.finished_pairs(root)]
    else:
        refs = [s for s in _shipped_students() if s.startswith(f"{name}/")]
    if not refs:
        raise DmdvizError(f"family {name!r} has no students")
    return refs
