"""A teacher and a one-step student, checked once to share noise: what the analysis takes.

``open_pair`` accepts dmdviz ``Checkpoint``s or any protocol objects (``protocol``),
wraps checkpoints in their native adapters and refuses a pair that cannot share noise
(not a teacher / student, other shapes or labels). Everything downstream (sampling,
trajectories, a second student) takes the ``Pair`` and checks nothing again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dmdviz.checkpoint import Checkpoint
from dmdviz.models.protocol import Student, Teacher, check_pair


def as_teacher(obj) -> Teacher:
    """A protocol teacher from a dmdviz ``Checkpoint`` or any protocol teacher."""
    if isinstance(obj, Checkpoint):
        from dmdviz.models.native import NativeTeacher

        return NativeTeacher(obj)
    return obj


def as_student(obj) -> Student:
    """A protocol student from a dmdviz ``Checkpoint`` or any protocol student."""
    if isinstance(obj, Checkpoint):
        from dmdviz.models.native import NativeStudent

        return NativeStudent(obj)
    return obj


@dataclass(frozen=True)
class Pair:
    """``teacher`` / ``student``: the protocol objects; ``given``: what they were opened from
    (checkpoints keep their names, configs and data sets there)."""

    teacher: Teacher
    student: Student
    given: tuple = (None, None)

    def on(self, device) -> "Pair":
        """The pair on ``device`` where one is asked for and the models can move."""
        if device is None:
            return self
        return replace(self, teacher=_place(self.teacher, device), student=_place(self.student, device))

    def with_student(self, student) -> "Pair":
        """Another student of the same teacher, checked against it."""
        return open_pair(self.given[0] if self.given[0] is not None else self.teacher, student)


def _place(model, device):
    return model.to(device) if hasattr(model, "to") else model


def open_pair(teacher, student) -> Pair:
    """The checked pair of ``teacher`` and ``student`` (checkpoints or protocol objects)."""
    t, s = as_teacher(teacher), as_student(student)
    check_pair(t, s)
    return Pair(t, s, (teacher, student))
