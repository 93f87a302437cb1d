"""Bootstrap intervals over seeds for the pairing metrics (spec §4).

One resample draws N seed indices with replacement and recomputes every metric on the
resampled pairs, re-solving the exact assignment. A seed drawn twice gives two teacher
items and two student items with identical costs; an item counts as matched when its
partner (OT-assigned or nearest) carries the same seed, so the copies of a copied seed all
count whichever copy they meet. The assignment of the N items is solved as the equivalent
exact transport between the distinct seeds drawn, each weighted by its count (``ot.emd``:
3x faster than the N x N assignment); its share of mass kept on the diagonal is A_OT.
Off-diagonal costs and nearest-neighbour spacings are taken between different seeds. Every
metric of a resample is computed on its distinct seeds, weighted by their counts.

A resample holds only about 0.63 N distinct seeds: a sparser set of targets, on which a
partial pairing is matched more easily. A_OT, NN agreement and ``resolution`` therefore
shift on resamples (mlp-manifold: A_OT 0.264 on the seeds, 0.40-0.49 on resamples), while
their spread matches that over fresh seed sets (sd 0.023 on resamples, 0.022 over eight
fresh sets of 1,000 seeds). The interval is thus the percentile interval of ``resamples``
draws shifted by the bootstrap's bias (the resamples' mean minus the value on the seeds),
clipped to the metric's range; for the diagonal contrast the shift is ~0. A_OT, the one
metric whose every draw is a transport solve, is measured on the first ``OT_RESAMPLES`` draws
only, with the normal form of that interval (value ± 1.96 sd). A fixed
RNG seed makes the same pair give the same interval. Given the full assignment's dual
potentials (``warm``), each resample's transport is solved on the reduced costs: the same
optimum, sooner (``core.assignment``). ρ, a median of i.i.d. per-seed ratios, takes the
order-statistic interval of a median (``median_interval``) rather than the bootstrap's.
NN agreement near 0 or 1 (a copier misses ~1 seed in 2,000) leaves the bootstrap's
resamples almost no misses to vary, and its percentile interval collapses (MNIST: 14 of 24
fresh seed sets' intervals held the population value); the share of N seeds is nearly
binomial there (sd over sets 0.00048 against 0.0005), so its interval is the hull of the
bootstrap's and Wilson's for that share (``share_interval``).

The data summaries get intervals of the same kind (``statistic_interval``: resample the
seeds, recompute the statistic, the bias-shifted percentile interval): ``boundary_corr``,
the teacher's median memorization ratio and the sliced W₂ of the target Φ_K and of G (their samples
resampled by seed against the fixed held-out set, on the same 256 projections as
``metrics.sliced_wasserstein``; about 1 s a set at N = 1,000 on 2 cores). A share of samples on the data's support is a binomial
proportion over i.i.d. seeds: its interval is Wilson's (``share_interval``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from dmdviz.analysis import resampling
from dmdviz.core import assignment

RESAMPLES = 200
OT_RESAMPLES = 50  # of the RESAMPLES draws, the first this many re-solve the assignment (A_OT's interval)
LEVEL = 0.95
RNG_SEED = 0
KEYS = ("ot_agreement", "nn_agreement", "copy_ratio", "diag_contrast", "resolution")


def _median(x: np.ndarray) -> float:
    """The lower median, as ``torch.median`` takes it in ``dmdviz.metrics``."""
    mid = (len(x) - 1) // 2
    return float(np.partition(x, mid)[mid])


def weighted_median(values: np.ndarray, weights: np.ndarray, bins: int = 4096) -> float:
    """The lower median of ``values`` with each repeated ``weights`` times (integers), exactly,
    without the repeats or a full sort: the values are binned monotonically, the bin holding
    the median rank found from the binned weights, and only that bin sorted."""
    values, weights = np.ravel(values), np.ravel(weights)
    rank = (int(weights.sum()) - 1) // 2  # 0-based rank of the lower median in the repeated list
    lo, hi = values.min(), values.max()
    if hi <= lo:
        return float(lo)
    b = np.minimum(((values - lo) * (bins / (hi - lo))).astype(np.int64), bins - 1)  # monotone in the value
    before = np.cumsum(np.bincount(b, weights=weights, minlength=bins))
    at = int(np.searchsorted(before, rank, side="right"))  # the first bin whose cumulative weight passes rank
    inside = b == at
    order = np.argsort(values[inside], kind="stable")
    v, w = values[inside][order], weights[inside][order]
    offset = rank - (int(before[at - 1]) if at else 0)
    return float(v[np.searchsorted(np.cumsum(w), offset, side="right")])


def resampled_metrics(cost: np.ndarray, spread: np.ndarray, d_init: np.ndarray, d_student: np.ndarray,
                      idx: np.ndarray, warm: assignment.Assignment | None = None, solve: bool = True,
                      orders: resampling.Orders | None = None) -> dict:
    """Every metric of ``KEYS`` on the seeds ``idx`` (repeats allowed).

    ``cost`` is C_ij = ||Φ_K(z_i) - G(z_j)||² (N, N); ``spread`` the distances
    ||Φ_K(z_i) - Φ_K(z_j)|| (N, N), from which the nearest-neighbour spacing of
    ``resolution`` is taken between different seeds; ``d_init``, ``d_student`` (N,) the
    per-seed distances. With ``idx = arange(N)`` these are the point metrics. Without
    ``solve``, A_OT is not computed (NaN). With ``orders`` (``analysis.resampling``) the
    other metrics are read from orders of the full matrices and a warm transport is solved
    on its cheapest edges first: the same numbers without the S x S gathers.

    Computed on the distinct seeds drawn, each weighted by its count (the same numbers as on
    the N items, ``tests/test_bootstrap.py``; about 0.4 N² entries instead of N²): the copies
    of a seed have equal costs, so an item's nearest partner (the first of its minimal ones,
    items in seed order) carries the seed of the first minimal distinct seed, and its
    nearest target of another seed is its seed's."""
    seeds, counts = np.unique(idx, return_counts=True)
    if orders is not None:
        kept = _diagonal(cost, seeds, counts, warm, orders) if solve else np.nan
        return {**_cheap_metrics(cost, d_init, d_student, idx, seeds, counts, orders), "ot_agreement": kept / len(idx)}
    sub = np.ascontiguousarray(cost[np.ix_(seeds, seeds)])
    kept = _diagonal(cost, seeds, counts, warm, orders, sub) if solve else np.nan
    nearest = seeds[sub.argmin(axis=0)] == seeds  # each student seed's nearest target is its own
    spacing = spread[np.ix_(seeds, seeds)].copy()
    np.fill_diagonal(spacing, np.inf)
    off = ~np.eye(len(seeds), dtype=bool)
    return {"ot_agreement": kept / len(idx),
            "nn_agreement": float(counts[nearest].sum() / len(idx)),
            "copy_ratio": _median(d_student[idx] / np.maximum(d_init[idx], 1e-12)),
            "diag_contrast": _median(cost[idx, idx]) / max(weighted_median(sub[off], np.outer(counts, counts)[off]), 1e-12),
            "resolution": _median(d_student[idx]) / max(_median(np.repeat(spacing.min(axis=1), counts)), 1e-12)}


def _diagonal(cost, seeds, counts, warm: assignment.Assignment | None, orders: resampling.Orders | None,
              sub: np.ndarray | None = None) -> float:
    """The diagonal mass of the resample's optimal transport. Warm (the full problem's duals
    reduce the costs: the same optimum, found faster): read without a solve when σ carries
    it, else solved on the cheapest edges with a certificate, else densely."""
    if warm is not None:
        kept = assignment.carried_diagonal(warm.sigma, seeds, counts)
        if kept is not None:
            return kept
    if warm is not None and orders is not None and orders.by_reduced is not None:
        rows, cols = orders.edges(seeds, warm.sigma)
        at = lambda r, c: cost[seeds[r], seeds[c]] - warm.u[seeds[r]] - warm.v[seeds[c]]
        u_s, v_s = warm.u[seeds], warm.v[seeds]

        def block(r):  # the reduced costs of the drawn rows r against every drawn column
            red = np.take(cost[seeds[r]], seeds, axis=1)
            red -= u_s[r, None]
            red -= v_s[None, :]
            return red

        kept = assignment.floor_diagonal(at, block, counts, rows, cols, *orders.floors(seeds))
        if kept is not None:
            return kept
    own = sub is None
    sub = np.ascontiguousarray(cost[np.ix_(seeds, seeds)]) if own else sub
    if warm is None:
        return assignment.transport_diagonal(sub, counts)
    if own:  # this call's own gather: reduced in place
        sub -= warm.u[seeds, None]
        sub -= warm.v[None, seeds]
        reduced = sub
    else:
        reduced = warm.reduced(seeds, seeds, sub)
    return assignment.transport_diagonal(reduced, counts)


def _cheap_metrics(cost, d_init, d_student, idx, seeds, counts, orders: resampling.Orders) -> dict:
    """Every metric but A_OT (NaN) from ``orders``, without the S x S gathers: the same numbers."""
    offdiag = orders.offdiag_median(seeds, counts)
    if offdiag is None:  # outside the window: the reference way
        sub = cost[np.ix_(seeds, seeds)]
        off = ~np.eye(len(seeds), dtype=bool)
        offdiag = weighted_median(sub[off], np.outer(counts, counts)[off])
    return {"ot_agreement": np.nan,
            "nn_agreement": float(counts[orders.nearest(seeds)].sum() / len(idx)),
            "copy_ratio": _median(d_student[idx] / np.maximum(d_init[idx], 1e-12)),
            "diag_contrast": _median(cost[idx, idx]) / max(offdiag, 1e-12),
            "resolution": _median(d_student[idx]) / max(_median(np.repeat(orders.spacing(seeds), counts)), 1e-12)}


def intervals(cost, spread, d_init, d_student, resamples: int = RESAMPLES, level: float = LEVEL,
              seed: int = RNG_SEED, workers: int | None = None, warm: assignment.Assignment | None = None,
              ot_resamples: int = OT_RESAMPLES, fast: bool = True) -> dict:
    """Bootstrap intervals: {metric: [low, high]} for each of ``KEYS``, plus ``resamples``,
    ``ot_resamples``, ``level`` and ``rng_seed`` so the JSON says how they were drawn.

    Every metric but A_OT takes the bias-shifted percentile interval of ``resamples`` draws.
    A_OT, whose every draw is a transport solve (on a non-copying pair 90 % of the
    interval's cost), is measured on the first ``ot_resamples`` of the same draws only and
    takes the normal interval around its value, value ± z·sd (``normal_interval``): 50 draws
    give the sd to about ±10 %, as 200 give the percentile points. The draws are measured on
    ``workers`` threads (default: torch's thread count, so the web app's one thread stays one;
    the transport solver and numpy's gathers release the GIL): the same intervals for any
    number of workers. Without ``fast``, every draw is measured on its S x S sub-matrices
    (the reference; the same numbers, ~6x slower)."""
    cost, spread, d_init, d_student = (np.asarray(a, dtype=np.float64) for a in (cost, spread, d_init, d_student))
    rng = np.random.default_rng(seed)
    n = len(cost)
    orders = resampling.Orders(cost, spread, warm=warm) if fast and 1 < n <= resampling.MAX_N else None
    point = resampled_metrics(cost, spread, d_init, d_student, np.arange(n), warm, orders=orders)
    draws = [np.sort(rng.integers(0, n, n)) for _ in range(resamples)]
    ot_resamples = min(ot_resamples, resamples)
    measure = lambda i: resampled_metrics(cost, spread, d_init, d_student, draws[i], warm, i < ot_resamples, orders)
    workers = workers or torch.get_num_threads()
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            measured = list(pool.map(measure, range(resamples)))
    else:
        measured = [measure(i) for i in range(resamples)]
    out = {key: normal_interval([d[key] for d in measured[:ot_resamples]], point[key], level, 0.0, 1.0)
           if key == "ot_agreement" else _shifted_percentile([d[key] for d in measured], point[key], level, 0.0,
                                                             1.0 if key.endswith("agreement") else np.inf)
           for key in KEYS}
    out["copy_ratio"] = median_interval(d_student / np.maximum(d_init, 1e-12), level)
    wilson = share_interval(point["nn_agreement"], n, level)
    out["nn_agreement"] = [min(out["nn_agreement"][0], wilson[0]), max(out["nn_agreement"][1], wilson[1])]
    return {**out, "resamples": resamples, "ot_resamples": ot_resamples, "level": level, "rng_seed": seed}


def normal_interval(values, point: float, level: float = LEVEL, low: float = -np.inf, high: float = np.inf) -> list[float]:
    """``point`` ± z·sd of the resampled ``values`` (z the normal quantile of ``level``; sd with
    one degree of freedom removed), clipped to [low, high]: the bias-shifted percentile
    interval's normal form, whose half-width needs fewer draws than its 2.5 % points."""
    from statistics import NormalDist

    values = np.asarray(values, dtype=np.float64)
    half = NormalDist().inv_cdf((1 + level) / 2) * (float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
    return [float(np.clip(point - half, low, high)), float(np.clip(point + half, low, high))]


def median_interval(values: np.ndarray, level: float = LEVEL) -> list[float]:
    """The distribution-free interval of a median of i.i.d. ``values`` (N,): the order
    statistics [x_(l), x_(N+1-l)], l the largest rank with P(Binomial(N, 1/2) < l) <= (1 -
    level) / 2, which hold the population median with probability >= ``level`` whatever the
    distribution. The bootstrap's percentile interval of a median runs narrow (ρ: ~20 %
    under the spread over fresh seed sets); this one needs no resamples."""
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    below = binom.cdf(np.arange(n), n, 0.5)  # P(B <= k), k = 0 .. n-1
    low = max(int(np.sum(below <= (1 - level) / 2)), 1)  # 1-based rank
    return [float(x[low - 1]), float(x[n - low])]


def _shifted_percentile(values, point: float, level: float, low: float = -np.inf, high: float = np.inf) -> list[float]:
    """The percentile interval of the resampled ``values`` shifted by their bias (their mean
    minus ``point``), clipped to [low, high]."""
    values = np.asarray(values, dtype=np.float64)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail]) - (values.mean() - point)
    return [float(np.clip(lo, low, high)), float(np.clip(hi, low, high))]


def statistic_interval(stat, n: int, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = RNG_SEED,
                       low: float = -np.inf, high: float = np.inf) -> list[float]:
    """Bootstrap interval over seeds of ``stat(idx)`` (a float from the seed indices ``idx``,
    repeats allowed; ``stat(arange(n))`` is the value reported)."""
    rng = np.random.default_rng(seed)
    draws = [stat(np.sort(rng.integers(0, n, n))) for _ in range(resamples)]
    return _shifted_percentile(draws, stat(np.arange(n)), level, low, high)


def corr(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation, 0 when either side is constant."""
    return float(np.corrcoef(x, y)[0, 1]) if np.std(x) > 0 and np.std(y) > 0 else 0.0


def sliced_w2_stat(a, b, n_proj: int = 256, seed: int = 0):
    """``stat(idx)``: the sliced W₂ distance between the samples ``a[idx]`` and the fixed set
    ``b``, on the projections of ``metrics.sliced_wasserstein`` (the same value at
    ``idx = arange``); both sets are projected and sorted once."""
    from dmdviz.core.metrics import sliced_wasserstein_projections

    pa, pb = sliced_wasserstein_projections(a, b, n_proj, seed)
    pa, pb = pa.numpy(), np.sort(pb.numpy(), axis=0)
    order = np.argsort(pa, axis=0)
    ranked = np.take_along_axis(pa, order, axis=0).T.ravel()  # each projection's values, sorted

    def stat(idx: np.ndarray) -> float:
        # a resample of sorted values is each value repeated as often as its seed was drawn:
        # no sort per resample
        reps = np.bincount(idx, minlength=len(pa))[order].T.ravel()
        resampled = np.repeat(ranked, reps).reshape(pa.shape[1], len(idx)).T
        return float(np.sqrt(np.mean((resampled - pb) ** 2)))

    return stat


def share_interval(share: float, n: int, level: float = LEVEL) -> list[float]:
    """Wilson's score interval (no continuity correction) of a proportion ``share`` = k / n of
    ``n`` i.i.d. trials, by scipy's ``binomtest``."""
    from scipy.stats import binomtest

    ci = binomtest(round(share * n), n).proportion_ci(confidence_level=level, method="wilson")
    return [float(ci.low), float(ci.high)]


def with_interval(value: float, interval=None, digits: int = 3) -> str:
    """``0.412 [0.390, 0.431]`` (the value alone without an interval)."""
    if interval is None:
        return f"{value:.{digits}f}"
    low, high = interval
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
