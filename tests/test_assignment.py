"""Exact assignments with duals (core.assignment), the warm-started bootstrap against the
reference one on the same resamples, and the order-statistic interval of a median."""

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from dmdviz.analysis import bootstrap
from dmdviz.core import assignment, metrics

N = 200


@pytest.fixture(scope="module")
def problem():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(N, 4, generator=g, dtype=torch.float64)
    y = x + 0.15 * torch.randn(N, 4, generator=g, dtype=torch.float64)  # 4-D: many near-equal costs
    cost = metrics.cost_matrix(x, y).numpy()
    return x.numpy(), cost


@pytest.mark.parametrize("copying", [False, True])
def test_the_exact_assignment_is_optimal_and_its_duals_certify_it(problem, copying):
    """Both roads: the network simplex (a 4-D pair with many near-equal costs) and shortest
    augmenting paths with Bellman-Ford duals (a pair whose rows are nearest their own)."""
    x, cost = problem
    if copying:
        cost = metrics.cost_matrix(x, x + 0.01 * np.random.default_rng(4).normal(size=x.shape)).numpy()
        assert np.mean(cost.argmin(axis=1) == np.arange(N)) >= 0.5
    else:
        assert np.mean(cost.argmin(axis=1) == np.arange(N)) < 0.5
    a = assignment.exact(cost)
    assert a.u is not None
    rows, cols = linear_sum_assignment(cost)
    assert np.array_equal(np.sort(a.sigma), np.arange(N))
    assert cost[np.arange(N), a.sigma].sum() == pytest.approx(cost[rows, cols].sum(), rel=1e-12)
    reduced = a.reduced(np.arange(N), np.arange(N), cost)
    assert reduced.min() > -1e-9 and np.abs(reduced[np.arange(N), a.sigma]).max() < 1e-9


@pytest.mark.parametrize("noise", [None, 0.05])
def test_the_warm_bootstrap_equals_the_reference_on_the_same_resamples(problem, noise):
    x, cost = problem
    if noise:  # a copying pair: the duals from shortest augmenting paths
        cost = metrics.cost_matrix(x, x + noise * np.random.default_rng(5).normal(size=x.shape)).numpy()
    spread = np.linalg.norm(x[:, None] - x[None], axis=-1)
    d_student = np.sqrt(np.diag(cost))
    d_init = d_student + np.random.default_rng(1).random(N)
    warm = assignment.exact(cost)
    rng = np.random.default_rng(2)
    for _ in range(4):
        idx = np.sort(rng.integers(0, N, N))
        ref = bootstrap.resampled_metrics(cost, spread, d_init, d_student, idx)
        fast = bootstrap.resampled_metrics(cost, spread, d_init, d_student, idx, warm)
        assert fast["ot_agreement"] == pytest.approx(ref["ot_agreement"], abs=1e-12)
        assert fast == pytest.approx(ref, abs=1e-12)
    args = (cost, spread, d_init, d_student)
    assert bootstrap.intervals(*args, resamples=10, warm=warm) == bootstrap.intervals(*args, resamples=10)
    # A_OT from the first ot_resamples draws (value ± 1.96 sd), each solved cold by the reference
    ci = bootstrap.intervals(*args, resamples=12, warm=warm, ot_resamples=6, seed=3)
    rng = np.random.default_rng(3)
    draws = [np.sort(rng.integers(0, N, N)) for _ in range(12)]
    ref = [bootstrap.resampled_metrics(*args, idx)["ot_agreement"] for idx in draws[:6]]
    point = bootstrap.resampled_metrics(*args, np.arange(N))["ot_agreement"]
    half = 1.959964 * np.std(ref, ddof=1)
    assert half > 0 and ci["ot_resamples"] == 6 and ci["resamples"] == 12
    assert ci["ot_agreement"] == pytest.approx([max(point - half, 0.0), min(point + half, 1.0)], abs=1e-6)


def test_the_normal_interval_is_value_plus_minus_z_sd_clipped():
    values = np.array([0.1, 0.3, 0.2, 0.4])  # sd (ddof 1) = 0.129099
    assert bootstrap.normal_interval(values, 0.25) == pytest.approx([0.25 - 0.253030, 0.25 + 0.253030], abs=1e-5)
    assert bootstrap.normal_interval(values, 0.1, low=0.0, high=1.0) == pytest.approx([0.0, 0.353030], abs=1e-5)
    assert bootstrap.normal_interval(values, 0.25, level=0.9) == pytest.approx([0.25 - 0.212349, 0.25 + 0.212349], abs=1e-5)


def test_the_transport_on_a_few_edges_with_its_certificate_equals_the_dense_one(problem):
    """The diagonal and each row's and column's 2 cheapest reduced edges: the certificate
    (through the floors, or row blocks when the floors are useless) finds the edges the plan
    lacked and the repeated solve equals the dense one; edges that admit no plan answer None."""
    _, cost = problem
    warm = assignment.exact(cost)
    rng = np.random.default_rng(6)
    repaired = 0
    for _ in range(3):
        seeds, counts = np.unique(rng.integers(0, N, N), return_counts=True)
        reduced = warm.reduced(seeds, seeds, cost[np.ix_(seeds, seeds)])
        mask = np.eye(len(seeds), dtype=bool)  # the diagonal: a feasible plan always
        np.put_along_axis(mask, np.argsort(reduced, axis=1)[:, :2], True, axis=1)
        np.put_along_axis(mask, np.argsort(reduced, axis=0)[:2], True, axis=0)
        rows, cols = np.nonzero(mask)
        off = np.where(mask, np.inf, reduced)
        floors = (off.min(axis=1), off.min(axis=0))  # true floors of the entries off the edges
        at, block = (lambda r, c: reduced[r, c]), (lambda r: reduced[r])
        dense = assignment.transport_diagonal(reduced, counts)
        for fl in (floors, (np.full(len(seeds), -np.inf),) * 2):
            got = assignment.floor_diagonal(at, block, counts, rows, cols, *fl, rounds=50, block_entries=7 * len(seeds))
            assert got == pytest.approx(dense, abs=1e-9)
        repaired += assignment.floor_diagonal(at, block, counts, rows, cols, *floors, rounds=1) is None
    assert repaired > 0  # one round on these edges did not certify: the repair ran
    counts, none = np.array([2, 1, 1]), np.full(3, -np.inf)
    # seed 0's two units have one edge, to seed 1's one unit: no plan
    zero, one = np.zeros((3, 3)), np.ones((3, 3)) - np.eye(3)
    assert assignment.floor_diagonal(lambda r, c: zero[r, c], zero.__getitem__, counts, np.arange(3), np.array([1, 2, 0]),
                                     none, none) is None
    assert assignment.floor_diagonal(lambda r, c: one[r, c], one.__getitem__, counts, np.arange(3), np.arange(3),
                                     none, none) == 4.0


def test_a_resample_that_the_full_assignment_carries_needs_no_solve():
    """σ = (0 1)(2)(3 4 5): seeds {0, 1, 3, 4, 5} with equal counts along each cycle are carried
    (their diagonal mass is the fixed points' counts); a cycle cut or uneven counts are not."""
    sigma = np.array([1, 0, 2, 4, 5, 3])
    assert assignment.carried_diagonal(sigma, np.array([0, 1, 2]), np.array([2, 2, 3])) == 3.0
    assert assignment.carried_diagonal(sigma, np.array([0, 1, 3, 4, 5]), np.array([1, 1, 2, 2, 2])) == 0.0
    assert assignment.carried_diagonal(sigma, np.array([0, 1, 3, 4]), np.ones(4, int)) is None  # 3 -> 4 -> 5 cut
    assert assignment.carried_diagonal(sigma, np.array([0, 1, 2]), np.array([1, 2, 1])) is None  # 0 and 1 uneven
    assert assignment.carried_diagonal(np.arange(4), np.array([0, 3]), np.array([3, 1])) == 4.0  # the identity


def test_the_median_interval_is_the_binomial_order_statistics():
    """n = 10 at 95 %: P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024, so the ranks 2 and 9
    (coverage 1 - 2 * 11/1024 = 97.9 %, the textbook table)."""
    x = np.arange(10.0)[::-1]
    assert bootstrap.median_interval(x) == [1.0, 8.0]
    assert bootstrap.median_interval(np.zeros(50)) == [0.0, 0.0]
    # n = 100: ranks 40 and 61 (P(B <= 39) = 0.0176, P(B <= 40) = 0.0284)
    assert bootstrap.median_interval(np.arange(100.0)) == [39.0, 60.0]


def test_the_median_interval_covers_a_known_median():
    """Exponential(1) samples of 101: the population median ln 2 falls inside in >= 95 % of
    400 draws (the interval's exact coverage here is 95.4 %; 93 % is 2.3 sd of 400 draws below it)."""
    rng = np.random.default_rng(3)
    hits = [low <= np.log(2) <= high for low, high in (bootstrap.median_interval(rng.exponential(size=101))
                                                       for _ in range(400))]
    assert np.mean(hits) >= 0.93


def test_the_certified_sparse_solve_is_exact_and_reads_the_costs_a_block_at_a_time():
    """Few edges (k = 3), a coarse guess from every 10th seed and blocks of 2,000 costs force every
    round: the plan still equals scipy's optimum and its duals hold on every edge."""
    g = np.random.default_rng(6)
    x = g.random((400, 4))
    cost = metrics.cost_matrix(x, x + 0.3 * g.normal(size=x.shape)).numpy()
    asked = []

    def rows(idx):
        asked.append(len(idx))
        return cost[idx]

    a = assignment.certified(rows, 400, k=3, block_entries=2000, coarse=10)
    r, c = linear_sum_assignment(cost)
    assert cost[np.arange(400), a.sigma].sum() == pytest.approx(cost[r, c].sum(), rel=1e-12)
    assert a.reduced(np.arange(400), np.arange(400), cost).min() > -1e-9
    assert max(asked) == 5 and len(asked) > 2 * 80  # 5 rows of 400 a block; two passes or more


def test_first_in_order_is_the_stable_order_and_cuts_ties_at_its_end():
    from dmdviz.analysis.resampling import END, first_in_order

    m = np.random.default_rng(7).integers(0, 6, (30, 40)).astype(np.float64)  # many exact ties
    for columns, skip in ((False, False), (True, False), (False, True)):
        got = first_in_order(m[:, :30] if skip else m, 4, columns=columns, skip_self=skip, block_entries=100)
        ref_m = (m[:, :30] if skip else m).T.copy() if columns else (m[:, :30] if skip else m).copy()
        if skip:
            np.fill_diagonal(ref_m, np.inf)
        ref = np.argsort(ref_m, axis=1, kind="stable")[:, :4]
        known = got != END
        assert np.array_equal(got[known], ref[known])
        sorted_vals = np.sort(ref_m, axis=1)
        tied = sorted_vals[:, 4] == sorted_vals[:, 3]  # a tie across the cut
        assert known[~tied].all() and not known[tied].all()
