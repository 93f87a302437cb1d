"""What the analysis needs of a pair: the model protocol (spec §1, §2).

A **teacher** is a deterministic K-step map Φ_K from noise z to a sample, plus its velocity
in dmdviz's convention (t = 0 noise, t = 1 data, ``x_t = (1 - t) z + t x``). A **student**
is a one-step map G(z[, y]). Both say which noise they take (``shape``), which labels
(``n_classes``: class labels or an index into stored prompt embeddings, 0 when
unconditional), where they run (``device``, ``dtype``) and who they are (``identity``: a
name plus a revision or weights hash; it keys the sample cache, so it must change whenever
the weights do).

dmdviz's own checkpoints are one implementation (``models.native``); diffusers models and
Python entry points are others (``models.diffusers``, ``models.pairfile``). The analysis,
the cache, the CLI and the app see only this protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from dmdviz.errors import DmdvizError


@runtime_checkable
class Teacher(Protocol):
    identity: str
    shape: tuple[int, ...]
    n_classes: int
    dtype: torch.dtype
    device: torch.device

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """v(x_t, t[, y]) in dmdviz's convention, (B, *shape), t (B,) -> (B, *shape)."""

    def times(self, k: int) -> torch.Tensor:
        """The K + 1 dmdviz times t_0 < ... < t_K the K-step sampler visits, (K + 1,) float64."""

    def phi(self, z: torch.Tensor, k: int, y: torch.Tensor | None = None,
            trajectory: bool = False) -> torch.Tensor:
        """Φ_K(z): (B, *shape) in the model's space; the trajectory (K + 1, B, *shape) in
        dmdviz coordinates at ``times(k)`` when asked."""


@runtime_checkable
class Student(Protocol):
    identity: str
    shape: tuple[int, ...]
    n_classes: int
    dtype: torch.dtype
    device: torch.device

    def __call__(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """G(z[, y]): (B, *shape) -> (B, *shape) in the teacher's model space."""

    # Optional: a student whose target is the teacher on transformed noise z' = T(z) (a
    # noise-rotated dmdviz student) sets ``relabels = True`` and gives ``target_noise(z)``;
    # the analysis then scores G(z) against Φ_K(T z). Absent, the target is Φ_K(z).


def check_pair(teacher, student) -> None:
    """Refuse a pair that cannot share noise: not a teacher / student, or other shapes or labels."""
    if not isinstance(teacher, Teacher):
        raise DmdvizError(f"{_name(teacher)} is not a teacher (it has no velocity / phi)")
    if not isinstance(student, Student) or isinstance(student, Teacher):
        raise DmdvizError(f"{_name(student)} is not a one-step student")
    if tuple(teacher.shape) != tuple(student.shape):
        raise DmdvizError(f"shape mismatch: teacher {tuple(teacher.shape)} vs student {tuple(student.shape)}")
    if teacher.n_classes != student.n_classes:
        raise DmdvizError(f"class mismatch: teacher has {teacher.n_classes} classes, student {student.n_classes}")


def _name(obj) -> str:
    return getattr(obj, "identity", None) or type(obj).__name__
