"""The bootstrap's cheap metrics read from orders of the full matrices (analysis.resampling)
equal the reference S x S computation on the same resamples, fallbacks included."""

import numpy as np
import pytest
import torch

from dmdviz.analysis import bootstrap, resampling
from dmdviz.core import metrics

N = 150


def _problem(copying: bool, ties: bool):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(N, 4, generator=g, dtype=torch.float64)
    y = x + (0.01 if copying else 0.3) * torch.randn(N, 4, generator=g, dtype=torch.float64)
    if ties:  # repeated samples: exactly equal costs, broken in seed order
        x[1::7], y[2::9] = x[0], y[0]
    cost = metrics.cost_matrix(x, y).numpy()
    spread = torch.cdist(x, x).numpy()
    d_student = np.sqrt(np.diag(cost))
    return cost, spread, d_student + np.random.default_rng(2).random(N), d_student


@pytest.mark.parametrize("copying,ties,depth,window", [(False, False, 32, None), (True, True, 32, None),
                                                       (False, True, 2, 0.01), (True, False, 1, 0.0)])
def test_the_cheap_metrics_from_orders_equal_the_reference(copying, ties, depth, window):
    """depth 1-2 and a narrow window force every fallback (an answer beyond the order's first
    entries, a median outside the window)."""
    cost, spread, d_init, d_student = _problem(copying, ties)
    orders = resampling.Orders(cost, spread, depth=depth, window=window)
    rng = np.random.default_rng(3)
    draws = [np.sort(rng.integers(0, N, N)) for _ in range(6)] + [np.array([3, 3, 9]), np.array([0, 1, 2, 2])]
    for idx in draws:
        ref = bootstrap.resampled_metrics(cost, spread, d_init, d_student, idx, solve=False)
        fast = bootstrap.resampled_metrics(cost, spread, d_init, d_student, idx, solve=False, orders=orders)
        assert np.isnan(fast.pop("ot_agreement")) and np.isnan(ref.pop("ot_agreement"))
        assert fast == ref, idx


def test_the_window_holds_the_median_of_most_resamples():
    cost, spread, _, _ = _problem(False, False)
    orders = resampling.Orders(cost, spread)
    rng = np.random.default_rng(4)
    found = [orders.offdiag_median(*np.unique(rng.integers(0, N, N), return_counts=True)) is not None
             for _ in range(20)]
    assert np.mean(found) >= 0.9
