"""Models the analysis consumes, behind one protocol (``protocol``).

    protocol  -- Teacher (velocity, times, Φ_K), Student (G), check_pair
    native    -- dmdviz checkpoints as protocol objects
    params    -- diffusers flow-match, VP ε / v, EDM teachers in dmdviz's convention
    diffusers_adapter -- teachers, one-step students and VAE decoders from diffusers folders / Hub repos
    decoded   -- a latent pair seen through its VAE (distances in pixels)
    pairfile  -- pair files (JSON / TOML): which teacher, student, conditioning, K, space
"""

from __future__ import annotations

from dmdviz.models.protocol import Student, Teacher, check_pair


def as_teacher(obj) -> Teacher:
    """A protocol teacher from a dmdviz ``hub.Checkpoint`` or any protocol teacher."""
    from dmdviz.hub import Checkpoint

    if isinstance(obj, Checkpoint):
        from dmdviz.models.native import NativeTeacher

        return NativeTeacher(obj)
    return obj


def as_student(obj) -> Student:
    """A protocol student from a dmdviz ``hub.Checkpoint`` or any protocol student."""
    from dmdviz.hub import Checkpoint

    if isinstance(obj, Checkpoint):
        from dmdviz.models.native import NativeStudent

        return NativeStudent(obj)
    return obj


__all__ = ["Student", "Teacher", "as_student", "as_teacher", "check_pair"]
