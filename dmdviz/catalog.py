"""What the app can offer in its lists: the shipped students, families and pair files, and
the finished runs, each with its label and the reference the registry resolves."""

from __future__ import annotations

from pathlib import Path

from dmdviz import analysis, hub, jobs
from dmdviz.errors import DmdvizError

__all__ = ["RUNS_FAMILY", "families", "family_students", "pair_choices", "shipped_names", "shipped_pair_files",
           "siblings"]


def siblings(teacher: hub.Checkpoint, root: Path | None = None) -> list[tuple[str, str]]:
    """(label, reference) of the shipped and run students that record ``teacher``."""
    mine = teacher.path.resolve()
    found = [(f"{name} (shipped)", name) for name in _shipped_students()
             if analysis.resolved_folder(analysis.recorded_teacher(hub.read_config(hub.SHIPPED / name))) == mine]
    found += [(f"{run} (run)", f"runs/{run}/student") for run, folder, _ in jobs.finished_pairs(root)
              if folder.resolve() == mine]
    return found


def shipped_names() -> set[str]:
    return set(hub.shipped_names())


def _shipped_students() -> list[str]:
    return [name for name in hub.shipped_names() if hub.read_config(hub.SHIPPED / name)["role"] == "student"]


PAIRS = hub.SHIPPED / "pairs"


def shipped_pair_files() -> list[tuple[str, str]]:
    """(label, name) of the shipped pair files, ``checkpoints/pairs/*.json|toml``; the name is
    relative to ``checkpoints/`` (``pairs/chessboard4d.toml``)."""
    files = sorted([*PAIRS.glob("*.json"), *PAIRS.glob("*.toml")]) if PAIRS.is_dir() else []
    return [(f"{p.stem} (pair file)", f"pairs/{p.name}") for p in files]


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
