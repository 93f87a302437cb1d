"""Bootstrap intervals over seeds (analysis.bootstrap): known answers and reproducibility."""

import numpy as np
import pytest
import torch

from dmdviz.analysis import PairAnalysis, Samples, bootstrap
from dmdviz.core import metrics

N = 300


def _pair(phi_8: torch.Tensor, g: torch.Tensor) -> PairAnalysis:
    phi_1 = phi_8 + torch.randn(phi_8.shape, generator=torch.Generator().manual_seed(9))
    return PairAnalysis(Samples(0, torch.zeros_like(phi_8), None, {1: phi_1, 8: phi_8}, g), 8)


@pytest.fixture(scope="module")
def points():
    return torch.randn(N, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_the_identity_resample_gives_the_point_metrics(points):
    pa = _pair(points, points + 0.3 * torch.randn(points.shape, generator=torch.Generator().manual_seed(1)))
    spread = torch.cdist(points, points).numpy()
    m = bootstrap.resampled_metrics(pa.cost.numpy(), spread, *pa.distances, np.arange(N))
    for key in bootstrap.KEYS:
        assert m[key] == pytest.approx(pa.pairing[key], rel=1e-12), key


def test_an_identical_pair_copies_in_every_resample(points):
    ci = _pair(points, points.clone()).intervals
    assert ci["ot_agreement"] == [1.0, 1.0]
    # no miss among N seeds: the bootstrap's interval collapses to [1, 1], Wilson's does not
    assert ci["nn_agreement"] == bootstrap.share_interval(1.0, N) and 0.98 < ci["nn_agreement"][0] < 1.0
    assert ci["copy_ratio"] == [0.0, 0.0] and ci["diag_contrast"] == [0.0, 0.0] and ci["resolution"] == [0.0, 0.0]


def test_a_shuffled_pair_reads_chance(points):
    """A permuted copy: every student sample sits exactly on another seed's target. On a
    resample chance is about 2/N (duplicated seeds), its 97.5 % point a few /N."""
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(2))
    pa = _pair(points, points[perm])
    for key in ("ot_agreement", "nn_agreement"):
        low, high = pa.intervals[key]
        assert low <= 1 / N <= high <= 10 / N, key


def test_intervals_are_reproducible_and_cover_the_point_value(points):
    g = points + 0.8 * torch.randn(points.shape, generator=torch.Generator().manual_seed(3))
    a, b = _pair(points, g), _pair(points, g.clone())
    assert a.intervals == b.intervals and a.intervals["resamples"] == bootstrap.RESAMPLES
    for key in bootstrap.KEYS:
        low, high = a.intervals[key]
        assert low <= a.pairing[key] <= high and low < high, key
    # a duplicated seed is two items whose costs are equal: a copy of a copied seed is a match
    idx = np.array([0, 0, 1, 2, 2, 2])
    c = metrics.cost_matrix(points[:3], points[:3]).numpy()
    m = bootstrap.resampled_metrics(c, np.sqrt(c), np.ones(3), np.zeros(3), idx)
    assert m["ot_agreement"] == 1.0 and m["resolution"] == 0.0


def test_an_interval_prints_beside_its_value():
    assert bootstrap.with_interval(0.41, [0.39, 0.43], 2) == "0.41 [0.39, 0.43]"
    assert bootstrap.with_interval(0.41) == "0.410"


def test_resolution_says_when_ot_cannot_register_copying():
    """Targets on a grid of spacing 1; a student off its own target by 0.1 is resolved
    (resolution 0.1, A_OT 1), one off by 3 spacings in a random direction is not."""
    grid = torch.stack(torch.meshgrid(torch.arange(20.0), torch.arange(20.0), indexing="ij"), -1).reshape(-1, 2)
    near = grid + torch.tensor([0.1, 0.0])
    angle = torch.rand(len(grid), generator=torch.Generator().manual_seed(4)) * 2 * np.pi
    far = grid + 3 * torch.stack([angle.cos(), angle.sin()], -1)
    m_near = metrics.pairing_metrics(grid, grid, near)
    assert m_near["resolution"] == pytest.approx(0.1, rel=1e-5) and m_near["ot_agreement"] == 1.0
    m_far = metrics.pairing_metrics(grid, grid, far)
    assert m_far["resolution"] == pytest.approx(3.0, rel=1e-5) and m_far["ot_agreement"] < 0.2


def _on_items(cost, spread, d_init, d_student, idx) -> dict:
    """The metrics of a resample as defined, on its N items (a seed drawn twice is two items;
    a match counts when the partner carries the same seed): the reference for the seed-
    weighted computation of ``bootstrap.resampled_metrics``."""
    c = cost[np.ix_(idx, idx)]
    other = idx[:, None] != idx[None, :]
    spacing = np.where(other, spread[np.ix_(idx, idx)], np.inf).min(axis=1)
    low_median = lambda x: float(np.sort(x)[(len(x) - 1) // 2])  # noqa: E731
    return {"ot_agreement": float(np.mean(idx[metrics.ot_assignment(c)] == idx)),
            "nn_agreement": float(np.mean(idx[c.argmin(axis=0)] == idx)),
            "copy_ratio": low_median(d_student[idx] / d_init[idx]),
            "diag_contrast": low_median(cost[idx, idx]) / low_median(c[other]),
            "resolution": low_median(d_student[idx]) / low_median(spacing)}


def test_a_resample_on_its_distinct_seeds_equals_its_items(points):
    """Every metric of a resample, computed on the distinct seeds weighted by their counts
    (transport for A_OT, a weighted median for the off-diagonal costs), equals the definition
    on the duplicated items."""
    g = points + 0.9 * torch.randn(points.shape, generator=torch.Generator().manual_seed(5))
    cost = metrics.cost_matrix(points, g).numpy()
    spread = torch.cdist(points, points).numpy()
    d_init = np.linalg.norm(points.numpy() - np.roll(points.numpy(), 1, 0), axis=1)
    d_student = np.sqrt(np.diag(cost))
    rng = np.random.default_rng(1)
    for _ in range(5):
        idx = np.sort(rng.integers(0, N, N))
        fast, ref = bootstrap.resampled_metrics(cost, spread, d_init, d_student, idx), _on_items(cost, spread, d_init, d_student, idx)
        for key in bootstrap.KEYS:
            assert fast[key] == pytest.approx(ref[key], rel=1e-12, abs=1e-12), key


def test_the_weighted_median_is_the_median_of_the_repeats():
    rng = np.random.default_rng(6)
    for n, bins in ((1, 16), (2, 16), (7, 2), (500, 64), (5000, 4096)):
        values = np.round(rng.normal(size=n), 2)  # ties across and within bins
        weights = rng.integers(1, 6, n)
        repeated = np.sort(np.repeat(values, weights))
        assert bootstrap.weighted_median(values, weights, bins) == repeated[(len(repeated) - 1) // 2], (n, bins)
    assert bootstrap.weighted_median(np.full(4, 2.5), np.ones(4, int)) == 2.5


def test_the_intervals_do_not_depend_on_the_threads(points):
    g = points + 0.8 * torch.randn(points.shape, generator=torch.Generator().manual_seed(7))
    pa = _pair(points, g)
    args = (pa.cost.numpy(), torch.cdist(points, points).numpy(), *pa.distances)
    assert bootstrap.intervals(*args, resamples=20, workers=1) == bootstrap.intervals(*args, resamples=20, workers=3)


def test_wilson_interval_matches_its_closed_form():
    assert bootstrap.share_interval(0.5, 100) == pytest.approx([0.40383, 0.59617], abs=1e-4)
    low, high = bootstrap.share_interval(0.0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.27753, abs=1e-4)
    assert bootstrap.share_interval(1.0, 1000) == pytest.approx([0.99617, 1.0], abs=1e-4)


def test_wilson_interval_is_the_score_formula_for_every_share():
    """scipy's Wilson interval (no continuity correction) equals the score formula
    (centre ± half-width, clipped to [0, 1]) for every k / n."""
    from statistics import NormalDist

    for level in (0.9, 0.95):
        z = NormalDist().inv_cdf(0.5 + level / 2)
        for n in (1, 2, 7, 50, 333):
            for k in range(n + 1):
                p = k / n
                centre = (p + z * z / (2 * n)) / (1 + z * z / n)
                half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
                expected = [max(0.0, centre - half), min(1.0, centre + half)]
                assert bootstrap.share_interval(p, n, level) == pytest.approx(expected, abs=1e-12), (k, n, level)


def test_a_statistic_interval_of_a_mean_is_the_normal_one():
    x = np.random.default_rng(3).normal(2.0, 1.0, 2000)
    low, high = bootstrap.statistic_interval(lambda i: float(x[i].mean()), len(x), resamples=400)
    half = 1.96 * x.std() / np.sqrt(len(x))
    assert low == pytest.approx(x.mean() - half, abs=0.25 * half) and high == pytest.approx(x.mean() + half, abs=0.25 * half)
    assert bootstrap.statistic_interval(lambda i: 7.0, 50) == [7.0, 7.0]  # a constant has no spread


def test_the_sliced_w2_statistic_is_the_metric_and_its_interval_covers_it(points):
    other = torch.randn(N, 16, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 1.3
    stat = bootstrap.sliced_w2_stat(points, other)
    assert stat(np.arange(N)) == pytest.approx(metrics.sliced_wasserstein(points, other), rel=1e-12)
    low, high = bootstrap.statistic_interval(stat, N, low=0.0)
    assert 0.0 <= low <= stat(np.arange(N)) <= high
    assert bootstrap.sliced_w2_stat(points, points)(np.arange(N)) == 0.0


def test_data_summaries_carry_intervals_for_boundary_memorization_and_quality(points):
    g = points + 0.3 * torch.randn(points.shape, generator=torch.Generator().manual_seed(1))
    pa = _pair(points, g)
    train = torch.randn(400, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    heldout = torch.randn(N, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    support = lambda x: {"on_support": float((x.reshape(len(x), -1)[:, 0] > 0).double().mean())}  # noqa: E731
    s = pa.data_summary(train, heldout, support)
    ci = s["intervals"]
    assert "swd_phi_1" not in ci  # intervals for the target Φ_8 and G only
    for key in ("boundary_corr", "memorization_median", "swd_phi_8", "swd_g", "support_g_on_support"):
        low, high = ci[key]
        assert low <= s[key] <= high, key
    assert -1.0 <= ci["boundary_corr"][0] and ci["boundary_corr"][1] <= 1.0
    assert ci["support_g_on_support"] == bootstrap.share_interval(s["support_g_on_support"], N)
