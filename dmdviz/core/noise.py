"""Shared noise: z_i = f(seed, i, shape) (spec §2).

Every sample index has its own generator (the idea of edm's StackedRandomGenerator), so
asking for N = 100 or N = 2000 gives the same first 100 noises, in any chunking, on any
device: noise is always drawn on the CPU in float32 and moved afterwards.
"""

from __future__ import annotations

import numpy as np
import torch

from dmdviz.errors import DmdvizError

_NOISE, _LABEL = 0, 1
MAX_SEED = 2**31 - 1  # base seeds are 0 .. MAX_SEED everywhere (CLI, app, jobs)


def check_seed(seed) -> int:
    """``seed`` as an int in 0 .. MAX_SEED, or a one-line DmdvizError (never a silent wrap)."""
    value = int(seed)
    if not 0 <= value <= MAX_SEED:
        raise DmdvizError(f"base seed must be between 0 and {MAX_SEED}, got {value}")
    return value


def _generator(seed: int, i: int, stream: int) -> torch.Generator:
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(i), stream]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def noise(seed: int, indices, shape: tuple[int, ...]) -> torch.Tensor:
    """Per-sample standard normal noise, (len(indices), *shape), float32 on the CPU."""
    idx = range(indices) if isinstance(indices, int) else indices
    out = [torch.randn(tuple(shape), generator=_generator(seed, i, _NOISE)) for i in idx]
    return torch.stack(out) if out else torch.zeros((0, *shape))


def labels(seed: int, indices, n_classes: int) -> torch.Tensor | None:
    """Per-sample class labels y_i uniform on [0, n_classes), or None when unconditional."""
    if n_classes <= 0:
        return None
    idx = range(indices) if isinstance(indices, int) else indices
    out = [int(torch.randint(n_classes, (1,), generator=_generator(seed, i, _LABEL))) for i in idx]
    return torch.tensor(out, dtype=torch.long)


def seeded(seed: int, n: int, shape: tuple[int, ...], n_classes: int = 0, start: int = 0):
    """(z, y) for sample indices start .. start + n - 1 (y is None when unconditional)."""
    idx = range(start, start + n)
    return noise(seed, idx, shape), labels(seed, idx, n_classes)
