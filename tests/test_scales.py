"""Pairing at every scale, the margin, and quality in feature spaces: closed forms and
synthetic copiers (a perfect copier reads copying at every k its error lets the cells
resolve; a shuffled pair reads chance at every k)."""

import math

import numpy as np
import pytest
import torch

from dmdviz import plots
from dmdviz.analysis import quality, scales
from dmdviz.config import DataConfig
from dmdviz.core import metrics
from dmdviz.core.classifier import Classifier, from_state


def _curve(x, g, start):
    flat = lambda a: a.reshape(len(a), -1).double()  # noqa: E731
    spread = torch.cdist(flat(x), flat(x)).numpy()
    d = (flat(g) - flat(x)).norm(dim=1).numpy()
    return scales.scale_curve(spread, metrics.cost_matrix(x, g).numpy(), metrics.cost_matrix(x, start).numpy(), d)


def _targets(dim: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """4-D: a board's plane plus small off-plane noise; 784-D: ten Gaussian clusters."""
    if dim == 4:
        return torch.cat([torch.rand(n, 2, generator=gen) * 4 - 2, 0.05 * torch.randn(n, 2, generator=gen)], 1)
    centers = 3 * torch.randn(10, dim, generator=gen)
    return centers[torch.randint(10, (n,), generator=gen)] + torch.randn(n, dim, generator=gen)


def test_chance_is_the_product_of_the_marginals():
    agree, chance = metrics.cell_agreement([0, 0, 1, 1], [0, 1, 1, 1], 2)
    assert agree == 0.75 and chance == pytest.approx(0.5 * 0.25 + 0.5 * 0.75)
    agree, chance = metrics.cell_agreement(np.arange(12) % 4, (np.arange(12) + 1) % 4, 4)  # uniform: 1 / k
    assert agree == 0.0 and chance == pytest.approx(0.25)


@pytest.mark.parametrize("dim,error", [(4, 0.08), (784, 0.5)])
def test_a_perfect_copier_reads_copying_at_every_resolved_scale_and_a_shuffled_pair_chance(dim, error):
    gen = torch.Generator().manual_seed(0)
    n = 300
    x = _targets(dim, n, gen)
    e = error * torch.randn(n, dim, generator=gen) * (1 if dim == 4 else 10 / math.sqrt(dim))
    copier = _curve(x, x + e[torch.randperm(n, generator=gen)], x + 3 * e)
    assert copier["k"][0] == 2 and copier["k"][-1] == n
    resolved = [i for i, r in enumerate(copier["resolution"]) if r < 0.5]
    assert len(resolved) >= 5
    for i in resolved:
        assert copier["agreement"][i] > 0.9 and copier["agreement_ci"][i][0] > copier["chance_ci"][i][1]
    assert np.all(np.diff(copier["agreement"]) <= 1e-12)  # nested cells: coarser never agrees less
    shuffled = _curve(x, x[torch.randperm(n, generator=gen)], x)
    for (low, high), chance in zip(shuffled["agreement_ci"], shuffled["chance"]):
        assert low <= chance <= high


def test_a_copier_with_an_error_above_the_spacing_reads_chance_finely_and_copying_coarsely():
    """A_OT / NN agreement cannot see it; the coarse end of the curve does."""
    gen = torch.Generator().manual_seed(1)
    x = _targets(4, 300, gen)
    e = 0.2 * torch.randn(300, 4, generator=gen)
    c = _curve(x, x + e[torch.randperm(300, generator=gen)], x)
    assert c["k"][2] == 8 and c["agreement"][-1] < 0.3 and c["resolution"][-1] > 2
    assert c["agreement"][2] > 0.85 and c["agreement_ci"][2][0] > 5 * c["chance"][2]


def test_the_fine_end_is_nn_agreement_and_the_spacing_the_nn_spacing():
    gen = torch.Generator().manual_seed(2)
    x, g = torch.randn(120, 3, generator=gen), torch.randn(120, 3, generator=gen)
    c = _curve(x, x + 0.3 * g, x + g)
    cost = metrics.cost_matrix(x, x + 0.3 * g)
    assert c["agreement"][-1] == metrics.nn_agreement(cost)
    assert c["agreement_init"][-1] == metrics.nn_agreement(metrics.cost_matrix(x, x + g))
    assert c["spacing"][-1] == pytest.approx(float(np.median(metrics.nn_spacing(x).numpy())))


def test_margin_closed_form():
    targets, students = torch.tensor([[0.0], [10.0]]), torch.tensor([[1.0], [8.0]])
    np.testing.assert_allclose(metrics.margins(metrics.cost_matrix(targets, students)), [9.0, 4.0])
    values, ci = scales.margin(metrics.cost_matrix(targets, students), metrics.cost_matrix(targets, targets.flip(0)))
    assert values["margin"] == 6.5 and values["margin_init"] == pytest.approx(0.0)
    assert ci["margin"][0] <= 6.5 <= ci["margin"][1]


def test_chessboard_cells_are_its_squares():
    cells = scales.chessboard_cells(DataConfig("chessboard", dim=4, cells=4))
    p = torch.tensor([[-1.5, -1.5, 0, 0], [-1.5, 1.5, 0, 0], [1.5, -0.5, 9, 9], [5.0, 5.0, 0, 0]])
    assert cells.count == 16 and cells.of(p).tolist() == [0, 3, 13, 15]


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 5))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([1.0, -2.0, 0, 0, 3.0])
    assert metrics.frechet_distance(a + shift, a) == pytest.approx(14.0)
    # diagonal Gaussians: Σ (sqrt(s_a) - sqrt(s_b))² for the covariance part
    mu = np.zeros(3)
    fd = metrics.frechet_from_stats(mu, np.diag([4.0, 1.0, 9.0]), mu, np.diag([1.0, 1.0, 1.0]))
    assert fd == pytest.approx(1.0 + 0.0 + 4.0)


def test_class_kl_closed_form():
    assert metrics.class_kl([0, 0, 0, 0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert metrics.class_kl([0, 1], [0.5, 0.5]) == pytest.approx(0.0)


def test_feature_quality_reads_the_data_as_the_data():
    gen = torch.Generator().manual_seed(3)
    train = torch.randn(600, 1, 8, 8, generator=gen)
    heldout, far = torch.randn(300, 1, 8, 8, generator=gen), torch.randn(300, 1, 8, 8, generator=gen) + 1.0
    torch.manual_seed(0)
    clf = from_state(Classifier(64, (16, 8), 3).state_dict(), Classifier(64, (16, 8), 3).metadata())
    values, ci = quality.feature_quality({"same": heldout, "far": far}, train, heldout, clf, with_ci={"far"})
    assert values["fd_pca_same"] == values["fd_pca_floor"] < values["fd_pca_far"]
    assert values["fd_clf_same"] == values["fd_clf_floor"]
    assert ci["fd_pca_far"][0] <= values["fd_pca_far"] <= ci["fd_pca_far"][1] and "fd_pca_same" not in ci
    assert len(values["class_shares"]["data"]) == 3 and sum(values["class_shares"]["far"]) == pytest.approx(1, abs=1e-3)
    assert values["class_kl_far"] >= 0 and "class_kl_far" in ci


@pytest.mark.parametrize("name", ["mnist", "digits"])
def test_the_shipped_classifiers_load_and_say_how_they_were_trained(name):
    net = quality.shipped_classifier(name)
    assert net.classes == 10 and net.dim == (784 if name == "mnist" else 64)
    from safetensors import safe_open

    with safe_open(str(quality.settings.shipped_root() / "classifiers" / f"{name}.safetensors"), "pt") as f:
        meta = f.metadata()
    assert meta["command"].startswith("python -m dmdviz.training.classifier") and float(meta["validation_accuracy"]) > 0.9
    assert quality.shipped_classifier("cifar") is None


def test_the_scale_figure_draws_the_curve_its_band_chance_and_the_natural_cells():
    curve = {"k": [2, 4, 100], "agreement": [0.9, 0.8, 0.1], "agreement_ci": [[0.85, 0.95], [0.7, 0.85], [0.05, 0.2]],
             "chance": [0.5, 0.25, 0.01], "agreement_init": [0.6, 0.3, 0.01], "chance_init": [0.5, 0.25, 0.01],
             "natural": {"name": "squares", "k": 16, "agreement": 0.7, "agreement_init": 0.3, "chance": 0.1}}
    fig = plots.copying_at_every_scale(curve)
    names = [t.name for t in fig.data]
    assert names[:5] == ["G: 95 % interval", "G", "chance (G)", "start Φ_1", "chance (Φ_1)"]
    assert len(names) == 8 and fig.layout.xaxis.type == "log" and fig.layout.height == 460
    assert list(fig.data[1].y) == pytest.approx([0.9, 0.8, 0.1])


def test_top_axes_match_the_exact_eigenvectors():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(400, 30, generator=gen) * torch.linspace(3, 0.1, 30)
    cov = x.T @ x
    fast, exact = metrics.top_axes(cov, 4, extra=6), torch.linalg.eigh(cov).eigenvectors[:, -4:].flip(1)  # 2 * 10 < 30
    assert torch.linalg.svdvals(fast.T @ exact).min() > 1 - 1e-5
