"""dmdviz's own checkpoints as protocol objects: the native adapter.

A teacher checkpoint's net is already a velocity in dmdviz's convention, and its Φ_K is
``flow.euler`` on the uniform grid t_k = k / K (spec §1). A student checkpoint's model is
G. Identity: the checkpoint reference, its revision and the SHA-256 of the weights in use
(hashed once per loaded model), so a folder whose weights were replaced under the same path
is a new model to the cache, and a model loaded before the replacement keeps its own key.
"""

from __future__ import annotations

import hashlib
import weakref
from pathlib import Path

import torch

from dmdviz.core import flow
from dmdviz.errors import DmdvizError

_HASHES: dict[tuple, str] = {}
_MODEL_HASHES: "weakref.WeakKeyDictionary[torch.nn.Module, str]" = weakref.WeakKeyDictionary()


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


def model_digest(model: torch.nn.Module) -> str:
    """SHA-256 (hex, 16 characters) of a module's parameters and buffers, once per module."""
    if model not in _MODEL_HASHES:
        h = hashlib.sha256()
        for key, value in sorted(model.state_dict().items()):
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        _MODEL_HASHES[model] = h.hexdigest()[:16]
    return _MODEL_HASHES[model]


class _Native:
    def __init__(self, ckpt, role: str):
        if ckpt.role != role:
            raise DmdvizError(f"{ckpt.ref} is a {ckpt.role}, not a {role}")
        self.checkpoint, self.model = ckpt, ckpt.model
        self.shape, self.n_classes = tuple(ckpt.net.shape), ckpt.n_classes
        self.dtype = next(ckpt.model.parameters()).dtype
        self.identity = f"{ckpt.ref}@{ckpt.revision}#{model_digest(ckpt.model)}"

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
    """A dmdviz DMD student: G(z[, y]) = z + v_φ(z, 0[, y]) (spec §3)."""

    def __init__(self, ckpt):
        super().__init__(ckpt, "student")

    def __call__(self, z, y=None):
        return self.model(z, y)

    @property
    def relabels(self) -> bool:
        """Whether G(z)'s teacher target is Φ_K(R z) rather than Φ_K(z) (``dmd.StudentNet``)."""
        return self.model.rotation is not None and self.model.relabel

    def target_noise(self, z):
        """The noise of G(z)'s teacher target: R z for a relabelling rotated student, else z."""
        return self.model.target_noise(z)
