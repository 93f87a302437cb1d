"""Models the analysis consumes, behind one protocol (``protocol``).

Rule: the only place diffusers is imported; takes loaded checkpoints and resolved folders
(a pair file's references are resolved by its caller's policy); imports checkpoint/,
core/ and the base modules.

    protocol  -- Teacher (velocity, times, Φ_K), Student (G), check_pair
    pair      -- Pair, open_pair: a teacher and student checked once to share noise
    native    -- dmdviz checkpoints as protocol objects
    params    -- diffusers flow-match, VP ε / v, EDM teachers in dmdviz's convention
    diffusers_adapter -- teachers, one-step students and VAE decoders from diffusers folders / Hub repos
    pipeline_adapter -- whole diffusers pipelines run by their own __call__ (guidance, published students)
    pipeline_load -- opening a pipeline as a model card does: state dicts, LoRA, scheduler, start level
    embed     -- prompt embeddings computed once with a pipeline's own encode_prompt
    decoded   -- a latent pair seen through its VAE (distances in pixels)
    pairfile  -- pair files (JSON / TOML): which teacher, student, conditioning, K, space
    budget    -- what a diffusers model and its samples cost, from configs and headers, before any work
"""

from __future__ import annotations

from dmdviz.models.pair import Pair, as_student, as_teacher, open_pair
from dmdviz.models.protocol import Student, Teacher, check_pair

__all__ = ["Pair", "Student", "Teacher", "as_student", "as_teacher", "check_pair", "open_pair"]
