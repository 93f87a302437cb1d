"""Analyses of a teacher/student pair on shared seeds (SPEC §4, §5).

``sample_pair`` evaluates Φ_K for every K asked and G on the same noises z_i, once;
every metric and figure reads from that one ``Samples`` object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dmdviz import flow, metrics, noise
from dmdviz.errors import DmdvizError
from dmdviz.hub import Checkpoint

MAX_SEEDS = 20_000


@dataclass
class Samples:
    """Samples on seeds ``start .. start + n - 1`` of ``seed``: z, y, Φ_K per K, G (CPU fp32)."""

    seed: int
    z: torch.Tensor
    y: torch.Tensor | None
    phi: dict[int, torch.Tensor]
    g: torch.Tensor
    start: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.z)


def check_pair(teacher: Checkpoint, student: Checkpoint) -> None:
    """Refuse pairs that cannot share noise (different shapes or label spaces)."""
    if teacher.role != "teacher":
        raise DmdvizError(f"{teacher.ref} is a {teacher.role}, not a teacher")
    if student.role != "student":
        raise DmdvizError(f"{student.ref} is a {student.role}, not a student")
    if tuple(teacher.net.shape) != tuple(student.net.shape):
        raise DmdvizError(f"shape mismatch: teacher {tuple(teacher.net.shape)} vs student {tuple(student.net.shape)}")
    if teacher.n_classes != student.n_classes:
        raise DmdvizError(f"class mismatch: teacher has {teacher.n_classes} classes, student {student.n_classes}")


@torch.no_grad()
def sample_pair(teacher: Checkpoint, student: Checkpoint, n: int, seed: int = 0, ks=(1, 8, 32),
                start: int = 0, chunk: int = 250, device="cpu") -> Samples:
    """Φ_K(z_i) for each K in ``ks`` and G(z_i), i = start .. start + n - 1 (SPEC §2)."""
    check_pair(teacher, student)
    if not 2 <= n <= MAX_SEEDS:
        raise DmdvizError(f"number of seeds must be between 2 and {MAX_SEEDS}, got {n}")
    if any(k < 1 or k > 1024 for k in ks):
        raise DmdvizError(f"Euler steps K must be between 1 and 1024, got {list(ks)}")
    z, y = noise.seeded(seed, n, teacher.net.shape, teacher.n_classes, start)
    phi = {k: [] for k in ks}
    g = []
    t_model, s_model = teacher.model.to(device), student.model.to(device)
    with torch.inference_mode():
        for i in range(0, n, chunk):
            zc = z[i : i + chunk].to(device)
            yc = None if y is None else y[i : i + chunk].to(device)
            for k in ks:
                phi[k].append(flow.euler(t_model, zc, k, yc).float().cpu())
            g.append(s_model(zc, yc).float().cpu())
    return Samples(seed, z, y, {k: torch.cat(v) for k, v in phi.items()}, torch.cat(g), start)


def pair_metrics(s: Samples, k: int) -> dict:
    """SPEC §4 pairing metrics of G against Φ_K, with the Φ_1 baseline as ``*_init``."""
    if 1 not in s.phi or k not in s.phi:
        raise DmdvizError(f"samples lack Φ_1 or Φ_{k}")
    return metrics.pairing_metrics(s.phi[1], s.phi[k], s.g)


def analyze(teacher: Checkpoint, student: Checkpoint, n: int = 1000, k: int = 8, seed: int = 0) -> dict:
    """The JSON summary the CLI writes: identity of the pair plus every pairing metric."""
    s = sample_pair(teacher, student, n, seed, ks=tuple(sorted({1, k})))
    d = teacher.data
    return {
        "teacher": teacher.ref, "student": student.ref, "dataset": d.name,
        "dim": int(torch.tensor(teacher.net.shape).prod()), "n": n, "k": k, "seed": seed,
        **pair_metrics(s, k),
    }
