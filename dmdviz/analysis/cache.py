"""The on-disk sample cache: every Φ_K and G set is computed once per model identity.

Samples are stored per aligned block of seed indices, ``[b * BLOCK, b * BLOCK + m)`` with
m <= BLOCK, one safetensors file per block, under a folder named by the hash of the key

    (model identity (name, revision, weights hash), what (Φ_K with its K, or G), base seed,
     sample shape, precision, space, and how it was computed: device type, dtype, float32
     matmul precision and, on CUDA, whether TF32 was on)

so a repeat analysis or a redraw reads from disk (and, where this folder misses, from a
read-only folder of the same layout shipped with the checkpoints: ``settings.shipped_samples``;
without it the same sets are computed), a larger N reuses every block the smaller
one wrote (noise is a pure function of (seed, i), spec §2), and an interrupted analysis
resumes at the first missing block. Files are written atomically (temp file + rename);
each records its key, range and a SHA-256 of its data, and a file that fails any check
(torn, truncated, foreign) is recomputed. The cache is bounded: past ``max_bytes`` the
least recently used blocks are deleted (and their emptied key folders). The cache is an
optimisation: a write that fails (a full disk) leaves the samples computed and uncached,
with ``note`` saying so.

A request computes each missing block on exactly its own index range, in the same chunks,
so for a given (start, N) a block's bytes do not depend on who computed it (one process, a
torchrun rank, a resumed run): that is what makes a sharded or resumed analysis equal a
single run bit for bit. (A block grown by a later, larger N keeps its old rows and appends
the new ones; batch composition can move those new rows by float rounding only.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from dmdviz import settings
from dmdviz.files import atomic_write

log = logging.getLogger(__name__)
BLOCK = 256  # seeds per cache file
DEFAULT_MB = 4096


def default_dir() -> Path:
    return settings.sample_cache_dir()


def computed_on(model) -> dict:
    """How a model's samples are computed, as far as it changes their bits: a set sampled on a
    GPU with TF32 (``Runtime`` switches it on for CUDA) differs from a CPU fp32 one by far more
    than rounding, so it must never be served to a CPU run, nor the reverse."""
    device = torch.device(model.device).type
    out = {"device": device, "dtype": str(model.dtype), "matmul": torch.get_float32_matmul_precision()}
    if device == "cuda":
        out["tf32"] = [bool(torch.backends.cuda.matmul.allow_tf32), bool(torch.backends.cudnn.allow_tf32)]
    return out


def blocks(start: int, n: int) -> list[tuple[int, int]]:
    """The aligned block ranges [lo, hi) covering start .. start + n - 1."""
    out, lo = [], start
    while lo < start + n:
        hi = min((lo // BLOCK + 1) * BLOCK, start + n)
        out.append((lo, hi))
        lo = hi
    return out


class SampleCache:
    """Safetensors blocks of sample sets under ``root``, at most ``max_bytes`` in all."""

    def __init__(self, root=None, max_bytes: int | None = None, shipped=None):
        self.root = Path(root) if root else default_dir()
        self.shipped = Path(shipped) if shipped else None  # read-only blocks of the same layout, read on a miss
        self.max_bytes = max_bytes if max_bytes is not None else DEFAULT_MB * 2**20
        self.computed = 0  # seeds computed (not read) by this object: what the tests count
        self.note = ""  # why the last write failed, if one did (the analysis then goes on without it)

    @classmethod
    def from_env(cls) -> "SampleCache | None":
        """``$DMDVIZ_CACHE_DIR`` (``settings.sample_cache_dir``) bounded by ``$DMDVIZ_CACHE_MB``
        (default 4096), over the shipped samples (``settings.shipped_samples``); None when
        ``DMDVIZ_CACHE_MB=0`` turns the cache off."""
        mb = float(os.environ.get("DMDVIZ_CACHE_MB", DEFAULT_MB))
        return cls(default_dir(), int(mb * 2**20), settings.shipped_samples()) if mb > 0 else None

    def folder(self, model, what: tuple, seed: int, bf16: bool, space: str = "model") -> tuple[Path, str]:
        key = json.dumps({"identity": model.identity, "what": list(what), "seed": int(seed),
                          "shape": list(model.shape), "precision": "bf16-autocast" if bf16 else str(model.dtype),
                          "space": space, **computed_on(model)}, sort_keys=True)
        return self.root / hashlib.sha256(key.encode()).hexdigest()[:32], key

    def get(self, model, what: tuple, seed: int, start: int, n: int, bf16: bool, compute) -> torch.Tensor:
        """Samples of indices start .. start + n - 1, (n, *shape) CPU float32: read where
        cached, else ``compute(lo, hi)`` for each missing block range and stored."""
        folder, key = self.folder(model, what, seed, bf16)
        parts = []
        for lo, hi in blocks(start, n):
            b = lo // BLOCK
            path = folder / f"block-{b:08d}.safetensors"
            have = self._read(path, key, b * BLOCK)
            if self.shipped is not None and (have is None or len(have) < hi - b * BLOCK):
                shipped = self._read(self.shipped / folder.name / path.name, key, b * BLOCK, touch=False)
                have = shipped if shipped is not None and (have is None or len(shipped) > len(have)) else have
            if have is None or len(have) < hi - b * BLOCK:
                have = self._extend(path, key, b, have, hi, compute)
            parts.append(have[lo - b * BLOCK:hi - b * BLOCK])
        self._bound()
        return torch.cat(parts) if parts else torch.zeros((0, *model.shape))

    def _extend(self, path: Path, key: str, b: int, have, hi: int, compute) -> torch.Tensor:
        """Block ``b`` grown to end at ``hi``: its cached rows kept, only the missing ones computed."""
        lo = b * BLOCK + (0 if have is None else len(have))
        new = compute(lo, hi).float().contiguous()
        self.computed += hi - lo
        x = new if have is None else torch.cat([have, new])
        meta = {"key": key, "start": str(b * BLOCK), "count": str(len(x)), "sha256": _digest(x)}
        try:
            atomic_write(path, lambda p: save_file({"x": x}, str(p), metadata=meta))
        except (OSError, SafetensorError) as e:  # a full or read-only disk: the samples stand, uncached
            self.note = f"the sample cache could not be written ({_reason(e)}): these samples were not kept on disk"
            log.warning("sample cache: %s", self.note)
        return x

    def _read(self, path: Path, key: str, start: int, touch: bool = True) -> torch.Tensor | None:
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), "pt") as f:
                meta, x = f.metadata() or {}, f.get_tensor("x")
        except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as e:
            log.warning("sample cache: %s unreadable (%s); recomputing", path, type(e).__name__)
            return None
        if (meta.get("key") != key or meta.get("start") != str(start) or meta.get("count") != str(len(x))
                or meta.get("sha256") != _digest(x)):
            log.warning("sample cache: %s fails its checks (torn or foreign); recomputing", path)
            return None
        if touch:
            os.utime(path)  # least recently used goes first when the cache is full
        return x

    def _bound(self) -> None:
        """Delete the least recently used blocks until the cache holds at most ``max_bytes``."""
        try:
            files = sorted(self.root.glob("*/block-*.safetensors"), key=lambda p: p.stat().st_mtime_ns)
            total = sum(p.stat().st_size for p in files)
            for p in files:
                if total <= self.max_bytes:
                    break
                total -= p.stat().st_size
                p.unlink(missing_ok=True)
                if not any(p.parent.iterdir()):
                    p.parent.rmdir()  # an emptied key folder goes too
        except OSError as e:  # another process bounding the same cache, or a failing disk: next time
            log.warning("sample cache: not bounded now (%s)", _reason(e))


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or type(e).__name__


def _digest(x: torch.Tensor) -> str:
    return hashlib.sha256(x.numpy().tobytes()).hexdigest()
