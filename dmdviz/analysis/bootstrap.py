"""Bootstrap intervals over seeds for the pairing metrics (SPEC §4).

One resample draws N seed indices with replacement and recomputes every metric on the
resampled pairs, re-solving the exact assignment. A seed drawn twice gives two teacher
items and two student items with identical costs; an item counts as matched when its
partner (OT-assigned or nearest) carries the same seed, so the copies of a copied seed all
count whichever copy they meet. Off-diagonal costs are those between different seeds. On a
resample the chance level of A_OT and NN agreement is about 2/N rather than 1/N (a seed
drawn m times offers m same-seed partners; E[m²] ≈ 2), which is below what N = 1,000 can
resolve. The interval is the percentile interval of ``resamples`` draws from a fixed RNG
seed, so the same pair always gives the same interval.
"""

from __future__ import annotations

import numpy as np

from dmdviz import metrics

RESAMPLES = 200
LEVEL = 0.95
RNG_SEED = 0
KEYS = ("ot_agreement", "nn_agreement", "copy_ratio", "diag_contrast", "resolution")


def _median(x: np.ndarray) -> float:
    """The lower median, as ``torch.median`` takes it in ``dmdviz.metrics``."""
    mid = (len(x) - 1) // 2
    return float(np.partition(x, mid)[mid])


def resampled_metrics(cost: np.ndarray, spread: np.ndarray, d_init: np.ndarray, d_student: np.ndarray,
                      idx: np.ndarray) -> dict:
    """Every metric of ``KEYS`` on the seeds ``idx`` (repeats allowed).

    ``cost`` is C_ij = ||Φ_K(z_i) - G(z_j)||² (N, N); ``spread`` the distances
    ||Φ_K(z_i) - Φ_K(z_j)|| (N, N), from which the nearest-neighbour spacing of
    ``resolution`` is taken between different seeds; ``d_init``, ``d_student`` (N,) the
    per-seed distances. With ``idx = arange(N)`` these are the point metrics."""
    c = cost[np.ix_(idx, idx)]
    sigma = metrics.ot_assignment(c)
    other_seed = idx[:, None] != idx[None, :]
    spacing = np.where(other_seed, spread[np.ix_(idx, idx)], np.inf).min(axis=1)
    return {"ot_agreement": float(np.mean(idx[sigma] == idx)),
            "nn_agreement": float(np.mean(idx[c.argmin(axis=0)] == idx)),
            "copy_ratio": _median(d_student[idx] / np.maximum(d_init[idx], 1e-12)),
            "diag_contrast": _median(cost[idx, idx]) / max(_median(c[other_seed]), 1e-12),
            "resolution": _median(d_student[idx]) / max(_median(spacing), 1e-12)}


def intervals(cost, spread, d_init, d_student, resamples: int = RESAMPLES, level: float = LEVEL,
              seed: int = RNG_SEED) -> dict:
    """Percentile bootstrap intervals: {metric: [low, high]} for each of ``KEYS``, plus
    ``resamples``, ``level`` and ``rng_seed`` so the JSON says how they were drawn."""
    cost, spread, d_init, d_student = (np.asarray(a, dtype=np.float64) for a in (cost, spread, d_init, d_student))
    rng = np.random.default_rng(seed)
    n = len(cost)
    draws = [resampled_metrics(cost, spread, d_init, d_student, np.sort(rng.integers(0, n, n)))
             for _ in range(resamples)]
    tail = 100 * (1 - level) / 2
    out = {key: [float(v) for v in np.percentile([d[key] for d in draws], [tail, 100 - tail])] for key in KEYS}
    return {**out, "resamples": resamples, "level": level, "rng_seed": seed}


def with_interval(value: float, interval=None, digits: int = 3) -> str:
    """``0.412 [0.390, 0.431]`` (the value alone without an interval)."""
    if interval is None:
        return f"{value:.{digits}f}"
    low, high = interval
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
