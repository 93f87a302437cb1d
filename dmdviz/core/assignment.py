"""Exact optimal assignments with their dual potentials, and warm-started re-solves.

An assignment problem min_σ Σ_i C_iσ(i) is unchanged when a constant is subtracted from a
row or a column: every permutation loses the same Σ u_i + Σ v_j. Potentials (u, v) are
therefore free to choose, and only the solver's speed depends on them. The optimal dual
potentials of the full N x N problem (u_i + v_j <= C_ij, with equality on the optimal σ)
make every edge of σ cost 0 and every other edge >= 0: a bootstrap resample, the transport
between the seeds it drew weighted by their counts, is a sub-problem on which those reduced
costs already hold most of the answer (``transport_diagonal``: 12-30 % faster than the
cold solve on the shipped chessboard pair, the same plan), and a resample that σ maps onto
itself needs no solve at all (``carried_diagonal``).

Unless the pair copies (``exact``), the full problem is solved by POT's network simplex
(``ot.emd``, which returns the duals):
on the 4-D chessboard costs about 3x faster than scipy's ``linear_sum_assignment`` (0.64 s
against 2.0 s at N = 2,000, load average 3 on 2 cores), whose shortest augmenting paths
grow long among many near-equal costs. A basic optimal plan of a uniform transport is a
permutation matrix; when rounding leaves it otherwise, scipy's solver answers instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ITER = 10_000_000  # ot.emd's default (100,000) stops early at N = 2,000 with only a warning


@dataclass(frozen=True)
class Assignment:
    """σ (N,) with teacher i going to student σ(i); ``u``, ``v`` (N,) dual potentials with
    u_i + v_j <= C_ij (up to rounding) and equality on σ, or None when unknown."""

    sigma: np.ndarray
    u: np.ndarray | None = None
    v: np.ndarray | None = None

    def reduced(self, rows: np.ndarray, cols: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """C_ij - u_i - v_j on ``rows`` x ``cols`` (``cost`` already restricted to them)."""
        if self.u is None:
            return cost
        return cost - self.u[rows, None] - self.v[None, cols]


def _lsa(cost: np.ndarray) -> np.ndarray:
    # lazy: importing scipy.optimize costs 0.7 s
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    sigma = np.empty(len(rows), dtype=np.int64)
    sigma[rows] = cols
    return sigma


def _duals(cost: np.ndarray, sigma: np.ndarray, rounds: int = 32):
    """Potentials (u, v) that certify the optimal ``sigma`` (v_j - v_σ(i) <= C_ij - C_iσ(i):
    shortest paths by Bellman-Ford, one dense pass a round), or (None, None) when ``rounds``
    do not settle them (a slow certificate is no warm start worth having)."""
    n = len(cost)
    kept = cost[np.arange(n), sigma]
    v = np.zeros(n)
    for _ in range(rounds):
        settled = np.minimum(v, (cost + (v[sigma] - kept)[:, None]).min(axis=0))
        if np.array_equal(settled, v):
            return kept - v[sigma], v
        v = settled
    return None, None


def exact(cost) -> Assignment:
    """The exact optimal permutation of a square ``cost`` (N, N) and its dual potentials.

    A copying pair (most teacher samples nearest their own student sample) is an easy problem
    for scipy's shortest augmenting paths (0.2 s at N = 2,000 on MNIST, against 1.6 s for the
    network simplex), its duals found in a few rounds; otherwise the network simplex."""
    import ot  # lazy: importing POT costs ~4 s on a loaded machine

    cost = np.ascontiguousarray(cost, dtype=np.float64)
    n = len(cost)
    if n == 0:
        return Assignment(np.zeros(0, dtype=np.int64))
    if np.mean(cost.argmin(axis=1) == np.arange(n)) >= 0.5:
        sigma = _lsa(cost)
        return Assignment(sigma, *_duals(cost, sigma))
    mass = np.full(n, 1.0 / n)
    plan, log = ot.emd(mass, mass, cost, numItermax=MAX_ITER, log=True)
    kept = plan > 0.5 / n
    if log.get("warning") is None and (kept.sum(axis=1) == 1).all() and (kept.sum(axis=0) == 1).all():
        return Assignment(kept.argmax(axis=1).astype(np.int64), log["u"], log["v"])
    return Assignment(_lsa(cost))


def carried_diagonal(sigma: np.ndarray, seeds: np.ndarray, counts: np.ndarray) -> float | None:
    """The diagonal mass of a resample's optimal transport without solving it, when the full
    problem's optimal ``sigma`` carries it: if σ maps the distinct ``seeds`` (sorted) onto
    themselves with ``counts`` equal along σ, sending each seed's count along σ is feasible,
    and it uses only edges of σ, on which some optimal dual potentials of the full problem
    are tight while they stay feasible on every other edge: it is optimal (complementary
    slackness). None otherwise. A copying pair (σ the identity) never needs a re-solve."""
    to = sigma[seeds]
    pos = np.minimum(np.searchsorted(seeds, to), len(seeds) - 1)
    if not (np.array_equal(seeds[pos], to) and np.array_equal(counts[pos], counts)):
        return None
    return float(counts[to == seeds].sum())


def transport_diagonal(cost_sub: np.ndarray, counts: np.ndarray) -> float:
    """Mass an optimal transport keeps on the diagonal: the seeds ``counts`` (S,) on both
    sides, ``cost_sub`` (S, S) between them (reduced or not: the optimum is the same)."""
    import ot

    mass = counts.astype(np.float64)
    plan = ot.emd(mass, mass, np.ascontiguousarray(cost_sub, dtype=np.float64), numItermax=MAX_ITER)
    return float(np.trace(plan))


def sparse_diagonal(reduced: np.ndarray, counts: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    rounds: int = 4) -> float | None:
    """``transport_diagonal`` solved on the edges ``rows``, ``cols`` of ``reduced`` (S, S) only,
    the few cheapest of each row and column under the full problem's duals: the network
    simplex on ~50,000 edges instead of S² (8x faster on the chessboard at N = 2,000). Its
    potentials (u', v') are then checked on every edge: when C_ij - u'_i - v'_j >= 0 holds on
    all of them the plan is optimal for the whole problem (the certificate); the edges that
    break it are added and the solve repeated. None when ``rounds`` do not certify a plan, or
    the edges admit none (the caller solves densely)."""
    import warnings

    import ot
    from scipy.sparse import coo_matrix

    s = len(reduced)
    mass = counts.astype(np.float64)
    tol = 1e-12 * (1.0 + float(max(reduced.max(initial=0.0), -reduced.min(initial=0.0))))
    for _ in range(rounds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an infeasible edge set is reported in the log
            plan, log = ot.emd(mass, mass, coo_matrix((reduced[rows, cols], (rows, cols)), shape=(s, s)),
                               numItermax=MAX_ITER, log=True)
        if log.get("warning") is not None:
            return None
        slack = reduced - log["v"][None, :]
        if (slack.min(axis=1) >= log["u"] - tol).all():  # C_ij - u'_i - v'_j >= 0 on every edge
            plan = plan.tocoo()
            return float(plan.data[plan.row == plan.col].sum())
        broken = slack < (log["u"] - tol)[:, None]
        broken[rows, cols] = True  # the edges so far and those that broke the certificate, each once
        rows, cols = np.nonzero(broken)
    return None
