"""The bootstrap's cheap metrics on a resample without its S x S sub-matrices.

A resample of N seeds holds about 0.63 N distinct ones (S). Its nearest-neighbour agreement,
nearest spacing and the median of its off-diagonal costs were read from the S x S gathers of
the cost and spread matrices (about 0.4 N² entries each, ~45 ms a resample at N = 2,000 on a
loaded machine, 200 resamples). Each is an order statistic that an ordering of the full
matrices, made once, answers exactly from a few entries:

- a student seed's nearest target among the drawn seeds is the first drawn seed in its
  column's stable order by cost (ties in seed order, as ``argmin`` breaks them);
- a seed's nearest other drawn seed is the first drawn one in its row's order by spread;
- the weighted lower median of the off-diagonal costs (each pair of drawn seeds weighted by
  the product of their counts) is found from the weight at or below a threshold t_lo under
  the full median (a · B a, B the 0/1 matrix of off-diagonal costs <= t_lo, one matrix-vector
  product) and the sorted costs in a window (t_lo, t_hi] around it.

When an answer is not among the first ``depth`` of an order, or the median leaves the window,
that part is computed the reference way: every answer equals ``bootstrap.resampled_metrics``'s
(``tests/test_resampling.py``). Memory: two (N, depth) orders, B as float32 (4 N² bytes: 16 MB
at N = 2,000, 400 MB at 10,000) and the window; used up to ``MAX_N`` seeds. The orders come
from partitions, a block of rows at a time (``first_in_order``), not whole-row sorts.
"""

from __future__ import annotations

import numpy as np

from dmdviz.core import assignment

MAX_N = 20_000  # B takes 4 N² bytes: 400 MB at 10,000 seeds, 1.6 GB at 20,000
DEPTH = 32  # a drawn seed is among the first 32 of an order but with probability ~0.37^32
END = -1  # placeholder in an order, no further entry known: ``drawn[-1]``, one past the seeds, is False
EDGES = 32  # a resample's transport is first solved on each row's and column's 32 cheapest edges


def _reduced_orders(cost: np.ndarray, warm: assignment.Assignment, depth: int, block_entries: int = 2**24):
    """Each row's and each column's ``depth`` cheapest entries of the reduced costs C - u - v
    (any order) and the largest of them, a floor under every other entry of that row or
    column: (by_row (N, depth), by_col (N, depth), row_floor (N,), col_floor (N,)), made a
    block of rows at a time."""
    n = len(cost)
    depth = min(depth, n - 1)
    by_row, row_floor = np.empty((n, depth), dtype=np.int64), np.empty(n)
    cols = assignment.ColumnBest(n, depth)
    step = max(1, block_entries // n)
    for a in range(0, n, step):
        mine = np.arange(a, min(a + step, n))
        red = warm.reduced(mine, np.arange(n), cost[a : a + len(mine)])
        part = np.argpartition(red, depth - 1, axis=1)[:, :depth]
        by_row[mine], row_floor[mine] = part, np.take_along_axis(red, part, axis=1).max(axis=1)
        cols.add(mine, red)
    return by_row, cols.rows.T.copy(), row_floor, cols.values.max(axis=0)


def first_in_order(matrix: np.ndarray, depth: int, columns: bool = False, skip_self: bool = False,
                   block_entries: int = 2**24) -> np.ndarray:
    """The first ``depth`` indices of each row (or column) of ``matrix`` in its stable order
    by value (ties by index, as ``argmin`` breaks them), without sorting whole rows: the
    ``depth + 1`` smallest by partition, then sorted by (value, index). Where the entry after
    the first ``depth`` ties with the last of them, the tied entries' order is not known
    from the partition, and they are cut (set to ``END``, never drawn): the caller's
    reference way answers those. With ``skip_self`` a row's own index is left out. Rows
    (columns) are taken ``block_entries`` entries at a time."""
    n = matrix.shape[1] if columns else matrix.shape[0]
    width = matrix.shape[0] if columns else matrix.shape[1]
    depth = min(depth, width - skip_self)
    out = np.full((n, max(depth, 0)), END, dtype=np.int64)
    step = max(1, block_entries // max(width, 1))
    for a in range(0, n, step):
        block = np.array(matrix[:, a : a + step].T if columns else matrix[a : a + step], dtype=np.float64)
        if skip_self:
            block[np.arange(len(block)), np.arange(a, a + len(block))] = np.inf
        take = min(depth + 1, width)
        part = np.argpartition(block, take - 1, axis=1)[:, :take] if take < width else np.tile(np.arange(width), (len(block), 1))
        vals = np.take_along_axis(block, part, axis=1)
        order = np.lexsort((part, vals), axis=1)
        part, vals = np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)
        first = part[:, :depth]
        if take > depth:  # a tie across the cut: the tied entries' places are unknown
            boundary = vals[:, depth]
            first = np.where(vals[:, :depth] == boundary[:, None], END, first)
        out[a : a + len(block)] = first
    return out


def _window(cost: np.ndarray, half: float, sample: int = 1_000_000) -> tuple[float, float]:
    """Thresholds around the median of the off-diagonal costs, at the quantiles 1/2 ± ``half``
    of a fixed sample of them (any thresholds give the same answers; close ones, fewer
    fallbacks)."""
    n = len(cost)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, n, sample), rng.integers(0, n, sample)
    values = cost[i[i != j], j[i != j]] if n * n > 2 * sample else cost[~np.eye(n, dtype=bool)]
    lo, hi = np.quantile(values, [max(0.5 - half, 0.0), min(0.5 + half, 1.0)])
    return float(lo), float(hi)


class Orders:
    """Orders of ``cost`` (N, N) by column and ``spread`` (N, N) by row, and the off-diagonal
    costs around their median, for ``nearest``, ``spacing`` and ``offdiag_median``."""

    def __init__(self, cost: np.ndarray, spread: np.ndarray, depth: int = DEPTH, window: float | None = None,
                 warm: assignment.Assignment | None = None):
        n = len(cost)
        self.by_reduced = None if warm is None or warm.u is None else _reduced_orders(cost, warm, 2 * EDGES)
        self.cost, self.spread, self.n = cost, spread, n
        depth = min(depth, n)
        self.by_cost = first_in_order(cost, depth, columns=True)  # (N, depth): column j's targets
        self.by_spread = first_in_order(spread, depth, skip_self=True)  # (N, depth): row i's other seeds
        off = ~np.eye(n, dtype=bool)
        half = window if window is not None else 1.0 / np.sqrt(max(n, 1))  # ~4 sd of where a resample's median falls
        self.t_lo, self.t_hi = _window(cost, half) if n > 1 else (0.0, 0.0)
        self.below = ((cost <= self.t_lo) & off).astype(np.float32)
        rows, cols = np.nonzero((cost > self.t_lo) & (cost <= self.t_hi) & off)
        order = np.argsort(cost[rows, cols], kind="stable")
        self.win_rows, self.win_cols = rows[order], cols[order]
        self.win_values = cost[self.win_rows, self.win_cols]

    def _first_drawn(self, order: np.ndarray, seeds: np.ndarray, drawn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``seeds``, the first drawn index in its ``order`` row, and whether one was found."""
        cand = order[seeds]
        hit = drawn[cand]  # ``drawn`` has one more entry, False, for the orders' END
        found = hit.any(axis=1)
        return cand[np.arange(len(seeds)), hit.argmax(axis=1)], found

    def nearest(self, seeds: np.ndarray) -> np.ndarray:
        """Whether each drawn seed's nearest target among ``seeds`` (sorted, distinct) is its own."""
        drawn = np.zeros(self.n + 1, dtype=bool)
        drawn[seeds] = True
        first, found = self._first_drawn(self.by_cost, seeds, drawn)
        if not found.all():  # the reference way for those columns
            lost = np.nonzero(~found)[0]
            first[lost] = seeds[self.cost[np.ix_(seeds, seeds[lost])].argmin(axis=0)]
        return first == seeds

    def spacing(self, seeds: np.ndarray) -> np.ndarray:
        """Each drawn seed's spread to its nearest other drawn seed (inf when it is alone)."""
        drawn = np.zeros(self.n + 1, dtype=bool)
        drawn[seeds] = True
        first, found = self._first_drawn(self.by_spread, seeds, drawn)
        out = np.empty(len(seeds))
        out[found] = self.spread[seeds[found], first[found]]
        for k in np.nonzero(~found)[0]:
            others = seeds[seeds != seeds[k]]
            out[k] = self.spread[seeds[k], others].min() if len(others) else np.inf
        return out

    def edges(self, seeds: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The edges (positions in ``seeds``) a resample's transport is first solved on: the
        drawn entries of each drawn row's and column's cheapest ``2 EDGES`` under the full
        duals, σ's edges between drawn seeds and the diagonal (which alone carries a feasible
        plan); every other entry of row i and column j is at least ``floors``' (i, j). None
        without the warm start's orders."""
        if self.by_reduced is None:
            return None
        n, s = self.n, len(seeds)
        pos = np.full(n, -1)
        pos[seeds] = np.arange(s)
        by_row, by_col = self.by_reduced[:2]
        mine = np.arange(s)
        parts = [(mine, pos[sigma[seeds]]), (mine, mine)]
        for order, transpose in ((by_row, False), (by_col, True)):
            other = pos[order[seeds]]  # (S, depth)
            hit = other >= 0
            owner = np.broadcast_to(mine[:, None], other.shape)[hit]
            parts.append((other[hit], owner) if transpose else (owner, other[hit]))
        rows = np.concatenate([r for r, _ in parts])
        cols = np.concatenate([c for _, c in parts])
        ok = (rows >= 0) & (cols >= 0)
        key = np.sort(rows[ok] * s + cols[ok])
        key = key[np.concatenate([[True], key[1:] != key[:-1]])]  # each edge once
        return key // s, key % s

    def floors(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row floors, column floors) of the drawn seeds: every reduced cost off ``edges``
        is at least both its row's and its column's."""
        return self.by_reduced[2][seeds], self.by_reduced[3][seeds]

    def offdiag_median(self, seeds: np.ndarray, counts: np.ndarray) -> float | None:
        """The lower median of C_ij over drawn seeds i != j, each weighted by count_i count_j;
        None when it lies outside the window (the caller computes it the reference way)."""
        a = np.zeros(self.n)
        a[seeds] = counts
        total = int(a.sum() ** 2 - (a * a).sum())
        if total <= 0:
            return None
        rank = (total - 1) // 2
        below = round(float(a @ (self.below @ a.astype(np.float32)).astype(np.float64)))
        if below > rank:
            return None
        passed = below + np.cumsum(a[self.win_rows] * a[self.win_cols])
        at = int(np.searchsorted(passed, rank, side="right"))
        return float(self.win_values[at]) if at < len(passed) else None
