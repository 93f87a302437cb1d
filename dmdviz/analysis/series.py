"""A family of students distilled from snapshots of one teacher (spec §5, fig 4 and 11).

Each student folder is a run folder: its ``metrics.jsonl`` holds the DM loss of every
generator iteration. A series is a list of (teacher, student) checkpoints: the caller opens
the teacher each student records (``spec.teacher_ref``) by its own reference policy.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from dmdviz.analysis.service import Analyses
from dmdviz.checkpoint import Checkpoint
from dmdviz.files import read_metrics
from dmdviz.models import open_pair


def teacher_step(teacher: Checkpoint) -> int:
    """The training iteration a teacher checkpoint was saved at."""
    return int(teacher.spec.train.get("step", 0))


def variant(student: Checkpoint) -> str:
    """What sets a student apart from the plain recipe (spec §3), "" when nothing does:
    a GAN or regression term, a random init, a wider/deeper network or rotated noise."""
    train = student.spec.train
    parts = []
    if train.get("gan_weight_g", 0) or train.get("gan_weight_d", 0):
        parts.append(f"GAN G {train.get('gan_weight_g', 0):g} / D {train.get('gan_weight_d', 0):g}")
    elif train.get("gan_weight", 0):
        parts.append(f"GAN {train['gan_weight']:g}")
    if train.get("regression_weight", 0):
        parts.append(f"regression {train['regression_weight']:g}")
    if train.get("init", "teacher") != "teacher":
        parts.append(f"{train['init']} init")
    if train.get("student_hidden", 0) or train.get("student_depth", 0):
        parts.append("resized")
    if train.get("shuffled_control", False):
        parts.append("shuffled-seed control")
    elif train.get("noise_rotation", False):
        parts.append("rotated noise (relabelling control)")
    if train.get("extra_noise", False):
        parts.append(f"extra noise input (start {train.get('extra_noise_scale', 0):g})")
    return ", ".join(parts)


def dm_loss_curve(student: Checkpoint, key: str = "dm_loss") -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``key`` over distillation, both (M,) float64, from metrics.jsonl."""
    recs = [r for r in read_metrics(student.path) if key in r]
    return (np.array([r["step"] for r in recs], dtype=np.float64),
            np.array([r[key] for r in recs], dtype=np.float64))


def _iterations(student: Checkpoint) -> int:
    return int(student.spec.train.get("steps", 0))


def _usual_iterations(students: list[Checkpoint]) -> int:
    """The distillation length most of these students share (the family's recipe)."""
    counts = Counter(_iterations(s) for s in students)
    return max(counts, key=lambda n: (counts[n], -n)) if counts else 0


def dm_loss_curves(pairs: list[tuple[Checkpoint, Checkpoint]]) -> list[dict]:
    """Fig 4: one DM-loss curve per student, labelled and sorted by its teacher's step;
    a label names the student's ``variant`` and a distillation length off the usual one.

    Each entry: ``{"label", "teacher_step", "steps" (M,), "dm_loss" (M,)}``.
    """
    usual = _usual_iterations([s for _, s in pairs])
    out = []
    for teacher, s in pairs:
        step = teacher_step(teacher)
        steps, values = dm_loss_curve(s)
        extra = [variant(s)] if variant(s) else []
        if _iterations(s) != usual:
            extra.append(f"{_iterations(s):,} iterations")
        label = f"teacher @ {step}" + "".join(f" · {e}" for e in extra)
        out.append({"label": label, "teacher_step": step, "steps": steps, "dm_loss": values})
    return sorted(out, key=lambda c: (c["teacher_step"], c["label"]))


def teacher_length_series(pairs: list[tuple[Checkpoint, Checkpoint]], n: int = 500, k: int = 8, seed: int = 0,
                          m_images: int = 10, service: Analyses | None = None, drill: bool = True) -> list[dict]:
    """Fig 11: pairing metrics (and image rows, for image data) per teacher training length.

    Every pair is sampled on the same seeds. Each entry: ``{"teacher_step", "student",
    "metrics" (dict), "images" (dict label -> (m, H, W)) or None}``, sorted by teacher step.
    The series varies the teacher's training length alone: students with a ``variant`` (GAN
    term, random init, ...) are left out when plain ones remain, and where several students
    share a teacher snapshot, those of the usual distillation length are kept. ``drill=False``
    samples each pair's Φ_1 and Φ_K only (``Analyses.analysis``): the same metrics, no Φ_32
    row in the images, about a fifth of the teacher's work at K = 8.
    """
    service = service or Analyses()
    plain = [(t, s) for t, s in pairs if not variant(s)] or list(pairs)
    usual = _usual_iterations([s for _, s in plain])
    by_step: dict[int, list] = {}
    for teacher, student in plain:
        by_step.setdefault(teacher_step(teacher), []).append((student, teacher))
    out = []
    for step, group in by_step.items():
        kept = [(s, t) for s, t in group if _iterations(s) == usual] if len(group) > 1 else group
        for student, teacher in kept or group:
            pa = service.analysis(open_pair(teacher, student), n, seed, k, drill=drill)
            images = pa.images(m_images) if len(pa.s.shape) == 3 else None
            out.append({"teacher_step": step, "student": student.ref, "metrics": {**pa.pairing, **pa.margin[0]},
                        "images": images})
    return sorted(out, key=lambda e: e["teacher_step"])
