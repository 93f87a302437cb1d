"""Samples of a teacher/student pair on shared seeds (SPEC §2, §4).

``sample_pair`` evaluates Φ_K for every K asked and G on the same noises z_i, once;
every metric and figure reads from that one ``Samples`` object (never resample per figure).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from dmdviz import flow, noise
from dmdviz.errors import DmdvizError
from dmdviz.hub import Checkpoint

MAX_SEEDS = 20_000


@dataclass
class Samples:
    """Samples on seeds ``start .. start + n - 1`` of ``seed``: z, y, Φ_K per K, G.

    ``z``, ``g`` and each ``phi[k]`` are CPU float32 (n, *shape); ``y`` is (n,) long or None.
    ``z`` is the seeded noise G is called with; ``phi`` is the teacher run on the noise of
    the student's target (``Student.target_noise``: R z for a noise-rotated student that
    relabels, else z), kept in ``extra["teacher_z"]`` when it differs from ``z``.
    """

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

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.z.shape[1:])

    @property
    def seeds(self) -> torch.Tensor:
        """Sample indices i of z_i, (n,) long: the identity every figure hovers with."""
        return torch.arange(self.start, self.start + self.n)


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


def _autocast(device, bf16: bool):
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if bf16 else nullcontext()


def sample_pair(teacher: Checkpoint, student: Checkpoint, n: int, seed: int = 0, ks=(1, 8, 32),
                start: int = 0, chunk: int = 250, device="cpu", bf16: bool = False) -> Samples:
    """Φ_K(z_i) for each K in ``ks`` and G(z_i), i = start .. start + n - 1 (SPEC §2).

    Chunks of ``chunk`` seeds under ``torch.inference_mode``; ``bf16`` runs the networks
    under bf16 autocast (faster on CPUs with AMX, ~1e-2 relative error; off by default so
    metrics are fp32-exact). Results are CPU float32 whatever the device.
    """
    check_pair(teacher, student)
    if not 2 <= n <= MAX_SEEDS:
        raise DmdvizError(f"number of seeds must be between 2 and {MAX_SEEDS}, got {n}")
    if any(k < 1 or k > 1024 for k in ks):
        raise DmdvizError(f"Euler steps K must be between 1 and 1024, got {list(ks)}")
    z, y = noise.seeded(seed, n, teacher.net.shape, teacher.n_classes, start)
    target = _target_noise(student, z)
    t_model = teacher.model.to(device)
    phi = {k: _in_chunks(lambda zc, yc, k=k: flow.euler(t_model, zc, k, yc), target, y, chunk, device, bf16)
           for k in ks}
    g = _in_chunks(student.model.to(device), z, y, chunk, device, bf16)
    return Samples(seed, z, y, phi, g, start, {} if target is z else {"teacher_z": target})


def _target_noise(student: Checkpoint, z: torch.Tensor) -> torch.Tensor:
    """The noise of the student's teacher targets for seeds z (z itself unless it relabels them)."""
    with torch.inference_mode():
        return student.model.target_noise(z) if hasattr(student.model, "target_noise") else z


def with_student(samples: Samples, teacher: Checkpoint, student: Checkpoint, chunk: int = 250, device="cpu",
                 bf16: bool = False) -> Samples:
    """The same seeds and teacher targets with another student's G: a second student of
    ``teacher`` compared on exactly the first one's z_i and Φ_K(z_i), the teacher not rerun."""
    check_pair(teacher, student)
    if not torch.equal(_target_noise(student, samples.z), samples.extra.get("teacher_z", samples.z)):
        raise DmdvizError(f"{student.ref} has its teacher targets on other noise (a noise rotation) than the "
                          "first student, so the two cannot share one frame")
    g = _in_chunks(student.model.to(device), samples.z, samples.y, chunk, device, bf16)
    return Samples(samples.seed, samples.z, samples.y, samples.phi, g, samples.start, samples.extra)


def _in_chunks(fn, z: torch.Tensor, y: torch.Tensor | None, chunk: int, device, bf16: bool) -> torch.Tensor:
    """fn(z, y) over chunks of ``chunk`` rows under inference mode, as one CPU float32 tensor."""
    out = []
    with torch.inference_mode(), _autocast(device, bf16):
        for i in range(0, len(z), chunk):
            yc = None if y is None else y[i : i + chunk].to(device)
            out.append(fn(z[i : i + chunk].to(device), yc).float().cpu())
    return torch.cat(out)


@dataclass
class Trajectory:
    """One seed's drill-down: the teacher's Euler path and the student's jump.

    ``states`` (K + 1, *shape) from z (t = 0) to Φ_K(z) (t = 1); ``times`` (K + 1,);
    ``phi_1`` and ``g`` (*shape). All CPU float32.
    """

    seed: int
    index: int
    states: torch.Tensor
    times: torch.Tensor
    phi_1: torch.Tensor
    g: torch.Tensor
    y: int | None


def seed_trajectory(teacher: Checkpoint, student: Checkpoint, index: int, seed: int = 0, k: int = 8,
                    device="cpu") -> Trajectory:
    """The Euler trajectory of Φ_K for sample ``index`` of ``seed``, with Φ_1 and G (SPEC §1);
    the teacher starts from the noise the student's network sees (``Samples``)."""
    check_pair(teacher, student)
    if not 1 <= k <= 1024 or not 0 <= index < 2**31:
        raise DmdvizError(f"need 1 <= K <= 1024 and a sample index >= 0, got K={k}, index={index}")
    z, y = noise.seeded(seed, 1, teacher.net.shape, teacher.n_classes, index)
    z, y = z.to(device), None if y is None else y.to(device)
    with torch.inference_mode():
        start = _target_noise(student, z)
        states = flow.euler(teacher.model.to(device), start, k, y, trajectory=True)[:, 0].float().cpu()
        g = student.model.to(device)(z, y)[0].float().cpu()
    phi_1 = states[0] + k * (states[1] - states[0])  # Φ_1 = z + v(z, 0): the first Euler step, undivided
    return Trajectory(seed, index, states, torch.linspace(0, 1, k + 1), phi_1, g,
                      None if y is None else int(y[0]))

