"""Pairing metrics against closed forms and brute force (spec §4)."""

import itertools

import numpy as np
import pytest
import torch

from dmdviz.core import metrics


def test_ot_agreement_identical_pair_is_one_and_shuffled_near_chance():
    x = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    assert metrics.ot_agreement(metrics.cost_matrix(x, x)) == 1.0
    assert metrics.nn_agreement(metrics.cost_matrix(x, x)) == 1.0
    perm = torch.randperm(500, generator=torch.Generator().manual_seed(1))
    a = metrics.ot_agreement(metrics.cost_matrix(x, x[perm]))
    assert a == pytest.approx(float((perm == torch.arange(500)).float().mean()))
    assert a <= 5 / 500


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_ot_assignment_is_the_best_permutation(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        c = rng.random((n, n))
        sigma = metrics.ot_assignment(c)
        best = min(itertools.permutations(range(n)), key=lambda p: sum(c[i, p[i]] for i in range(n)))
        assert c[np.arange(n), sigma].sum() == pytest.approx(sum(c[i, best[i]] for i in range(n)))
        assert sorted(sigma.tolist()) == list(range(n))


def test_ot_assignment_matches_pot_emd():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    c = metrics.cost_matrix(torch.tensor(a), torch.tensor(b)).numpy()
    plan = ot.emd(np.full(200, 1 / 200), np.full(200, 1 / 200), c, numItermax=10_000_000)
    sigma = metrics.ot_assignment(c)
    assert np.array_equal(plan.argmax(1), sigma)
    assert c[np.arange(200), sigma].sum() / 200 == pytest.approx(float((plan * c).sum()), rel=1e-9)


def test_copy_ratio_and_distances_closed_form():
    phi_k = torch.zeros(4, 3)
    phi_1 = torch.tensor([[2.0, 0, 0]] * 4)
    g = torch.tensor([[1.0, 0, 0], [0.5, 0, 0], [3.0, 0, 0], [1.0, 0, 0]])
    d_init, d_student = metrics.distances(phi_1, phi_k, g)
    assert d_init.tolist() == [2, 2, 2, 2] and d_student.tolist() == [1, 0.5, 3, 1]
    assert metrics.copy_ratio(phi_1, phi_k, g) == pytest.approx(0.5)


def test_diag_contrast_closed_form():
    x = torch.tensor([[0.0], [1.0], [3.0]])
    c = metrics.cost_matrix(x, x + 0.5)
    # diagonal 0.25 each; off-diagonal 0.25, 2.25, 0.25, 6.25, 2.25, 12.25 -> median 2.25
    assert metrics.diag_contrast(c) == pytest.approx(0.25 / 2.25)


def test_memorization_ratio_on_constructed_points():
    train = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    s = torch.tensor([[1.0, 0.0], [5.0, 0.0]])
    r = metrics.memorization_ratio(s, train)
    assert r[0] == pytest.approx(9.0)
    assert r[1] == pytest.approx(1.0)
    d = metrics.mean_distance(torch.tensor([[0.0, 0.0]]), train)
    assert d[0] == pytest.approx(20 / 3)


def test_pca_recovers_a_rank_two_set():
    g = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(10, 2, generator=g, dtype=torch.float64))
    coeffs = torch.randn(300, 2, generator=g, dtype=torch.float64) * torch.tensor([3.0, 1.0], dtype=torch.float64)
    x = coeffs @ basis.T + 5.0
    mu, comps = metrics.pca_fit(x)
    proj = comps.T @ basis
    torch.testing.assert_close(torch.linalg.svdvals(proj), torch.ones(2, dtype=torch.float64))
    recon = metrics.pca_project(x, mu, comps) @ comps.T + mu
    torch.testing.assert_close(recon, x)


def test_sliced_wasserstein_zero_for_equal_sets_and_shift_for_translates():
    x = torch.randn(1000, 3, generator=torch.Generator().manual_seed(0))
    assert metrics.sliced_wasserstein(x, x) == 0.0
    assert metrics.sliced_wasserstein(x, x + torch.tensor([1.0, 0, 0]), n_proj=4000) == pytest.approx(1 / np.sqrt(3), rel=0.05)


def test_copy_ratio_chance_is_one_for_a_perfect_shuffle_baseline():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(2))
    m = metrics.pairing_metrics(x + 1.0, x, x)
    assert m["copy_ratio"] == 0.0 and m["copy_ratio_chance"] > 0.5
    assert m["ot_agreement"] == 1.0 and m["ot_agreement_init"] == 1.0
