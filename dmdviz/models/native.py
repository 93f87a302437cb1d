"""dmdviz's own checkpoints as protocol objects: the native adapter.

A teacher checkpoint's net is already a velocity in dmdviz's convention, and its Φ_K is
``flow.euler`` on the uniform grid t_k = k / K (SPEC §1). A student checkpoint's model is
G. Identity: the checkpoint reference, its revision and the SHA-256 of its weights file,
so a folder whose weights were replaced under the same path is a new model to the cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from dmdviz import flow
from dmdviz.errors import DmdvizError

_HASHES: dict[tuple, str] = {}


def file_digest(*paths: Path) -> str:
    """SHA-256 (hex, 16 characters) of the files' bytes, memoised by (path, size, mtime)."""
    stats = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in map(Path, paths))
    if stats not in _HASHES:
        h = hashlib.sha256()
        for p in paths:
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        _HASHES[stats] = h.hexdigest()[:16]
    return _HASHES[stats]


class _Native:
    def __init__(self, ckpt, role: str):
        if ckpt.role != role:
            raise DmdvizError(f"{ckpt.ref} is a {ckpt.role}, not a {role}")
        self.checkpoint, self.model = ckpt, ckpt.model
        self.shape, self.n_classes = tuple(ckpt.net.shape), ckpt.n_classes
        self.dtype = next(ckpt.model.parameters()).dtype
        self.identity = f"{ckpt.ref}@{ckpt.revision}#{file_digest(ckpt.path / 'model.safetensors')}"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device):
        self.model.to(device)
        return self


class NativeTeacher(_Native):
    """A dmdviz flow-matching teacher: v(x_t, t[, y]) and Φ_K = Euler on t_k = k / K."""

    def __init__(self, ckpt):
        super().__init__(ckpt, "teacher")

    def velocity(self, x_t, t, y=None):
        return self.model(x_t, t, y)

    def times(self, k: int) -> torch.Tensor:
        return torch.linspace(0, 1, k + 1, dtype=torch.float64)

    def phi(self, z, k, y=None, trajectory=False):
        return flow.euler(self.model, z, k, y, trajectory=trajectory)


class NativeStudent(_Native):
    """A dmdviz DMD student: G(z[, y]) = z + v_φ(z, 0[, y]) (SPEC §3)."""

    def __init__(self, ckpt):
        super().__init__(ckpt, "student")

    def __call__(self, z, y=None):
        return self.model(z, y)
