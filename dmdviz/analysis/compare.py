"""Two students of one teacher side by side, on the same seeds and in the same frame.

Both analyses must hold the same seeds and the same teacher target Φ_K (the teacher is a
pure function of the seeds, so two students of one teacher agree exactly). Everything is
projected on ONE basis, the principal axes of that Φ_K, so both panels share their scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dmdviz.analysis.pairing import PairAnalysis
from dmdviz.checkpoint import Checkpoint
from dmdviz.errors import DmdvizError
from dmdviz.models import open_pair


def check_sibling(teacher: Checkpoint, other: Checkpoint, recorded_folder: Path | None) -> None:
    """Refuse ``other`` as a second student of ``teacher``: a teacher, a student recording
    another teacher, or a shape mismatch. ``recorded_folder``: the folder the teacher ``other``
    records resolves to, by the caller's reference policy (None when it cannot be opened
    there); a student recording no teacher is taken at its word."""
    if other.role == "teacher":
        raise DmdvizError(f"{other.ref} is a teacher: choose a second student of `{teacher.ref}`")
    recorded = other.spec.teacher_ref
    if recorded and (recorded_folder is None or Path(recorded_folder).resolve() != teacher.path.resolve()):
        raise DmdvizError(f"{other.ref} is a student of `{recorded}`, not of `{teacher.ref}`: "
                          "a comparison needs two students of one teacher")
    open_pair(teacher, other)  # shapes and labels


def check_shared(a: PairAnalysis, b: PairAnalysis) -> None:
    """Refuse two analyses that do not share seeds, K and the teacher target."""
    if a.s.seed != b.s.seed or a.s.start != b.s.start or a.s.n != b.s.n or a.k != b.k:
        raise DmdvizError("the two students must be drawn on the same seeds and K")
    if a.phi_k.shape != b.phi_k.shape or not torch.allclose(a.phi_k, b.phi_k, atol=1e-5, rtol=1e-4):
        raise DmdvizError("the two students do not share the teacher target Φ_K: they are not students of one teacher")


def compare_pca(a: PairAnalysis, b: PairAnalysis, names: tuple[str, str] = ("A", "B")) -> dict[str, np.ndarray]:
    """Φ_K, Φ_1, G of A and G of B on the principal axes of Φ_K, each (N, 2) float32.

    Keys: ``Φ_K`` (the K of the analyses), ``Φ_1``, ``G · <name A>``, ``G · <name B>``.
    """
    check_shared(a, b)
    own = a.pca()
    return {f"Φ_{a.k}": own[f"Φ_{a.k}"], "Φ_1": own["Φ_1"], f"G · {names[0]}": own["G"],
            f"G · {names[1]}": a.project(b.s.g)}


def compare_metrics(a: PairAnalysis, b: PairAnalysis) -> dict[str, tuple[float, float, float | None]]:
    """{metric: (value for A, value for B, value at the start Φ_1 or None)} of every pairing
    metric both analyses report (the ``*_init`` baselines are the same for both)."""
    check_shared(a, b)
    ma, mb = a.pairing, b.pairing
    return {key: (ma[key], mb[key], ma.get(f"{key}_init")) for key in ma
            if not key.endswith("_init") and key in mb}
