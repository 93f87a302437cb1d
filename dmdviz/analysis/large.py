"""Point pairing metrics for large N (up to ``limits.MAX_POINT_SEEDS``) in bounded memory.

Memory: the sample sets themselves (N x D float32 each) plus one block of the cost matrix
at a time, at most ``BLOCK_ENTRIES`` float64 entries (128 MiB), whatever N; for A_OT also
the sparse problem's edges and the solver's arcs (about 2(k + 1) N edges, k = 32: ~70 N
edges at most after its rounds, some 15 MB per 1,000 seeds, ~1.5 GB at 100,000).

- ρ (and its chance level): per seed, exact.
- The scale curve: on the first ``scales.TREE_MAX`` seeds, as the full analysis reads it
  above that many (Ward's tree holds N² / 2 distances); its ``n`` says so.
- NN agreement (student and Φ_1): each student sample's nearest target found block by
  block of students, exact (the same argmin as the dense matrix, ``tests/test_large.py``).
- A_OT: exact (``core.assignment.certified``): the network simplex on each row's and
  column's cheapest edges under potentials guessed from 1,000 seeds, its optimality then
  certified on every edge, the costs computed a block of rows at a time (one pass to pick
  the edges, one per round to check them: the time grows as N² D, the memory as N). Should
  a solve not certify within its rounds, A_OT is **approximated**: the seeds are cut into
  slabs of at most ``SLAB`` along the first principal direction of the targets Φ_K
  (neighbours stay together), the assignment solved exactly in each slab, and the matches
  summed; a student sample that the full assignment would send across a slab's edge is the
  error (``benchmarks/bench_intervals.py --large`` measures it against the exact value).
  The output says which (``ot_method``).
"""

from __future__ import annotations

import numpy as np
import torch

from dmdviz.analysis import scales
from dmdviz.core import assignment, metrics
from dmdviz.limits import MAX_POINT_SEEDS, MAX_SEEDS

BLOCK_ENTRIES = 2**24  # cost entries held at once (float64: 128 MiB)
EXACT_OT_MAX = MAX_POINT_SEEDS  # seeds of the largest exact assignment
SLAB = 10_000  # seeds of one slab of the approximation (its dense cost matrix: 0.8 GB)


def _flat(x) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x.reshape(len(x), -1).double()


def nn_agreement(targets, samples, block_entries: int = BLOCK_ENTRIES) -> float:
    """Share of ``samples`` j whose nearest target (C_ij = ||t_i - s_j||², argmin over i)
    is their own, computed on blocks of at most ``block_entries`` costs."""
    t, s = _flat(targets), _flat(samples)
    step = max(1, block_entries // len(t))
    hits = 0
    for j in range(0, len(s), step):
        c = torch.cdist(t, s[j : j + step]).pow(2)
        hits += int((c.argmin(dim=0) == torch.arange(j, j + c.shape[1])).sum())
    return hits / len(s)


def slabs(targets, size: int) -> list[np.ndarray]:
    """Seed indices cut into ceil(N / size) slabs of near-equal size along the first
    principal direction of ``targets`` (fitted on at most 10,000 of them)."""
    x = _flat(targets)
    count = -(-len(x) // size)
    if count <= 1:
        return [np.arange(len(x))]
    mu, comps = metrics.pca_fit(x[:: max(1, len(x) // 10_000)], 1)
    order = np.argsort(metrics.pca_project(x, mu, comps)[:, 0].numpy(), kind="stable")
    return np.array_split(order, count)


def ot_agreement(targets, samples, exact_max: int = EXACT_OT_MAX,
                 block_entries: int = BLOCK_ENTRIES) -> tuple[float, str]:
    """(A_OT, method): exact up to ``exact_max`` seeds (``assignment.certified`` on costs
    computed a block of rows at a time), else, or when that solve is not certified, the
    slab approximation, said so in ``method``."""
    t, s = _flat(targets), _flat(samples)
    if len(t) <= exact_max:
        rows = lambda idx: torch.cdist(t[torch.as_tensor(idx)], s).pow_(2).numpy()
        found = assignment.certified(rows, len(t), block_entries=block_entries)
        if found is not None:
            return float(np.mean(found.sigma == np.arange(len(t)))), "exact"
    size = min(exact_max, SLAB)
    hits = 0
    parts = slabs(t, size)
    for idx in parts:
        sigma = assignment.exact(metrics.cost_matrix(t[idx], s[idx]).numpy()).sigma
        hits += int((sigma == np.arange(len(idx))).sum())
    return hits / len(t), (f"approximate: exact within {len(parts)} slabs of <= {size} seeds "
                           "along the targets' first principal direction")


def point_metrics(phi_1, phi_k, g, exact_max: int = EXACT_OT_MAX) -> dict:
    """ρ, its chance level, NN agreement (student and Φ_1) and A_OT with ``ot_method``."""
    d_init, d_student = metrics.distances(phi_1, phi_k, g)
    rolled = metrics.distances(phi_1, phi_k, torch.roll(torch.as_tensor(g), 1, dims=0))[1]
    a_ot, method = ot_agreement(phi_k, g, exact_max)
    return {"copy_ratio": float((d_student / d_init.clamp_min(1e-12)).median()),
            "copy_ratio_chance": float((rolled / d_init.clamp_min(1e-12)).median()),
            "nn_agreement": nn_agreement(phi_k, g), "nn_agreement_init": nn_agreement(phi_k, phi_1),
            "ot_agreement": a_ot, "ot_method": method, "ot_agreement_chance": 1.0 / len(d_init),
            "scale_curve": first_scale_curve(phi_1, phi_k, g, d_student.numpy())}


def first_scale_curve(phi_1, phi_k, g, d_student: np.ndarray) -> dict:
    """The scale curve (``scales.scale_curve``) on the first ``scales.TREE_MAX`` seeds, as the
    full analysis reads it above that many (its ``n`` says on how many)."""
    m = min(len(d_student), scales.TREE_MAX)
    t = _flat(phi_k[:m])
    spread = torch.cdist(t, t).numpy()
    return scales.scale_curve(spread, metrics.cost_matrix(t, g[:m]).numpy(), metrics.cost_matrix(t, phi_1[:m]).numpy(),
                              d_student[:m])


def summary(service, teacher, student, n: int, seed: int, k: int, ks=()) -> dict:
    """The JSON summary of the point metrics of a teacher and student (loaded models) on
    seeds 0 .. n-1, sampled through ``service`` (an ``analysis.Analyses``: its sample cache)."""
    from dmdviz.analysis.study import name
    from dmdviz.models import open_pair

    pa = service.analysis(open_pair(teacher, student), n, seed, k, ks)
    out = {"teacher": name(teacher), "student": name(student), "n": n, "k": k, "seed": seed,
           **point_metrics(pa.phi_1, pa.phi_k, pa.s.g)}
    out["notes"] = [(f"N above {MAX_SEEDS:,}: point metrics only (no intervals, figures or training-set metrics); "
                     f"A_OT {out['ot_method']}")]
    return out
