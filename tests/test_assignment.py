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
