"""Every spec §4 metric of one pair, and the arrays behind each spec §5 figure.

``PairAnalysis`` wraps one ``Samples`` object; the cost matrices, the exact OT assignments
and the distances are computed once and cached, so every figure and metric reads the same
numbers. Array outputs are numpy (float32 for plotting, float64 for metrics) so they go
straight to ``dmdviz.plots``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

from dmdviz.analysis import bootstrap, quality, scales
from dmdviz.analysis.samples import Samples
from dmdviz.core import assignment, metrics
from dmdviz.errors import DmdvizError

BOUNDARY_SUBSET = 2000  # training points D(z) averages over (a fixed seeded subset when larger)
MEMORIZED = 3.0  # r > 3 (NN1/NN2 < 1/3) is the usual "memorised" mark (spec §4)


def train_subset(train: torch.Tensor, m: int = BOUNDARY_SUBSET, seed: int = 0) -> torch.Tensor:
    """The first ``m`` points of a permutation seeded by ``seed`` (all points when fewer)."""
    if len(train) <= m:
        return train
    return train[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:m]]


def _np32(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float32)


class PairAnalysis:
    """Analysis of G against the teacher target Φ_K on shared seeds (spec §4).

    ``samples.phi`` must hold Φ_1 (the student's start, baseline ``*_init``) and Φ_K.
    """

    def __init__(self, samples: Samples, k: int = 8):
        if 1 not in samples.phi or k not in samples.phi:
            raise DmdvizError(f"samples lack Φ_1 or Φ_{k}")
        self.s, self.k = samples, k
        self._memo: dict = {}

    def _cached(self, key: tuple, compute, *keep):
        """Compute once per key. ``keep`` holds the inputs a key names by address (a training
        tensor's data_ptr), so that address cannot be reused by another tensor meanwhile."""
        if key not in self._memo:
            self._memo[key] = (compute(), keep)
        return self._memo[key][0]

    @property
    def phi_1(self) -> torch.Tensor:
        return self.s.phi[1]

    @property
    def phi_k(self) -> torch.Tensor:
        return self.s.phi[self.k]

    @property
    def seeds(self) -> np.ndarray:
        return self.s.seeds.numpy()

    # ---------------------------------------------------------------- cached pairing core

    @cached_property
    def cost(self) -> torch.Tensor:
        """C_ij = ||Φ_K(z_i) - G(z_j)||², (N, N) float64."""
        return metrics.cost_matrix(self.phi_k, self.s.g)

    @cached_property
    def cost_init(self) -> torch.Tensor:
        """The same with Φ_1 in place of G: the student's starting point."""
        return metrics.cost_matrix(self.phi_k, self.phi_1)

    @cached_property
    def _exact_both(self) -> tuple[assignment.Assignment, assignment.Assignment]:
        """The exact assignments of ``cost`` and ``cost_init``, solved side by side on two
        threads when torch has them (the solvers release the GIL)."""
        costs = (self.cost.numpy(), self.cost_init.numpy())
        if torch.get_num_threads() < 2:
            return tuple(map(assignment.exact, costs))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            return tuple(pool.map(assignment.exact, costs))

    @property
    def exact(self) -> assignment.Assignment:
        """The exact assignment of ``cost`` with its dual potentials (they warm the bootstrap's re-solves)."""
        return self._exact_both[0]

    @property
    def assignment(self) -> np.ndarray:
        """Exact OT permutation σ of ``cost`` (N,): teacher sample i goes to student sample σ(i)."""
        return self.exact.sigma

    @property
    def assignment_init(self) -> np.ndarray:
        return self._exact_both[1].sigma

    @cached_property
    def distances(self) -> tuple[np.ndarray, np.ndarray]:
        """(d_init, d_student), each (N,) float64: ||Φ_1 - Φ_K|| and ||G - Φ_K|| (fig 10)."""
        d_init, d_student = metrics.distances(self.phi_1, self.phi_k, self.s.g)
        return d_init.numpy(), d_student.numpy()

    @cached_property
    def pairing(self) -> dict:
        """Every pairing metric of ``metrics.pairing_metrics``, OT from the cached assignments."""
        spread = self.spread.copy()
        np.fill_diagonal(spread, np.inf)  # each target's nearest other target: from the spacing already held
        out = metrics.pairing_metrics(self.phi_1, self.phi_k, self.s.g, with_ot=False,
                                      costs=(self.cost, self.cost_init), spacing=spread.min(axis=1))
        out["ot_agreement"] = metrics.ot_agreement(self.cost, self.assignment)
        out["ot_agreement_init"] = metrics.ot_agreement(self.cost_init, self.assignment_init)
        out["ot_agreement_chance"] = 1.0 / self.s.n
        return out

    @cached_property
    def spread(self) -> np.ndarray:
        """||Φ_K(z_i) - Φ_K(z_j)||, (N, N) float64: the targets' own spacing."""
        flat = self.phi_k.reshape(self.s.n, -1).double()
        return torch.cdist(flat, flat).numpy()

    @cached_property
    def intervals(self) -> dict:
        """Bootstrap intervals over seeds of A_OT, NN agreement, ρ and diagonal contrast
        (``bootstrap.intervals``: 200 resamples, 95 %, a fixed RNG seed)."""
        return bootstrap.intervals(self.cost.numpy(), self.spread, *self.distances, warm=self.exact)

    @cached_property
    def margin(self) -> tuple[dict, dict]:
        """(values, intervals) of ``margin`` and ``margin_init`` (``scales.margin``): the
        median nearest wrong target distance over own target distance, G and Φ_1."""
        return scales.margin(self.cost.numpy(), self.cost_init.numpy())

    @cached_property
    def scale_curve(self) -> dict:
        """Agreement of G's and Φ_1's cell with Φ_K's own at k = 2 .. N cells, with chance
        and intervals (``scales.scale_curve``; its fine end is ``nn_agreement``)."""
        return scales.scale_curve(self.spread, self.cost.numpy(), self.cost_init.numpy(), self.distances[1])

    def natural_curve(self, cells: scales.Cells) -> dict:
        """The same reading on a data set's own cells (``scales.chessboard_cells``,
        ``scales.class_cells``)."""
        return self._cached(("natural", cells.name), lambda: scales.natural_curve(cells, self.phi_k, self.s.g,
                                                                                  self.phi_1))

    # ---------------------------------------------------------------- figure arrays (spec §5)

    def panels(self, dims: tuple[int, int] = (0, 1)) -> dict[str, np.ndarray]:
        """Fig 2/7: z, Φ_K, Φ_1, G in two coordinates, each (N, 2) float32.

        The 2-D sets live in the first two coordinates by default (spec §6), so those are
        the coordinates shown; pass ``dims`` for another pair of axes.
        """
        sets = {"z": self.s.z, f"Φ_{self.k}": self.phi_k, "Φ_1": self.phi_1, "G": self.s.g}
        return {name: _np32(x.reshape(len(x), -1)[:, list(dims)]) for name, x in sets.items()}

    def project(self, x: torch.Tensor, n_components: int = 2) -> np.ndarray:
        """``x`` (M, *shape) on the principal axes of Φ_K (fitted once), (M, n) float32."""
        mu, comps = self._cached(("pca_basis", n_components), lambda: metrics.pca_fit(self.phi_k, n_components))
        return _np32(metrics.pca_project(x, mu, comps))

    def pca(self, n_components: int = 2) -> dict[str, np.ndarray]:
        """Fig 1/9: Φ_K, Φ_1, G projected on the principal axes of Φ_K, each (N, 2) float32."""
        sets = {f"Φ_{self.k}": self.phi_k, "Φ_1": self.phi_1, "G": self.s.g}
        return self._cached(("pca", n_components), lambda: {name: self.project(x, n_components)
                                                            for name, x in sets.items()})

    def images(self, m: int = 30) -> dict[str, np.ndarray]:
        """Fig 1/8/11: the first ``m`` seeds as images, rows Φ_1, Φ_K..., G, each (m, H, W).

        Every K sampled appears in increasing order. Multi-channel images are averaged over
        channels (a greyscale view); values stay in the data range [-1, 1].
        """
        if len(self.s.shape) != 3:
            raise DmdvizError(f"samples of shape {self.s.shape} are not images (C x H x W)")
        rows = {f"Φ_{k}": self.s.phi[k] for k in sorted(self.s.phi)}
        rows["G"] = self.s.g
        return {name: _np32(x[:m].mean(dim=1)) for name, x in rows.items()}

    def cost_block(self, m: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """Fig 3: C on the first ``m`` seeds (m, m) float32 and its own exact OT σ (m,).

        The paper draws the heatmap for 100 seeds; the assignment is solved on that block,
        so it reads as the picture shows. At m = N the cached full assignment is reused.
        """
        m = min(m, self.s.n)
        block = self.cost[:m, :m]
        sigma = self.assignment if m == self.s.n else metrics.ot_assignment(block)
        return _np32(block), sigma

    # ---------------------------------------------------------------- training-set analyses

    def memorization(self, train: torch.Tensor) -> np.ndarray:
        """Fig 12: r(Φ_K(z)) = ||s - n_2|| / ||s - n_1|| against the training set, (N,) float64."""
        return self._cached(("memorization", train.data_ptr(), tuple(train.shape)),
                            lambda: metrics.memorization_ratio(self.phi_k, train).numpy(), train)

    def boundary(self, train: torch.Tensor, subset: int = BOUNDARY_SUBSET) -> tuple[np.ndarray, np.ndarray]:
        """Fig 5: (D, ρ_i), each (N,) float64 (spec §4).

        D(z) = mean ||Φ_K(z) - x|| over ``train_subset(train, subset)`` (a fixed seeded
        subset of 2000 points by default, so MNIST-size sets stay fast);
        ρ_i = d_student(z) / d_init(z), below 1 where the student moved towards its target.
        The ratio, not δ = d_student - d_init = (ρ_i - 1) d_init: δ scales with d_init,
        which itself grows with D, so corr(D, δ) reads the scale of d_init, not copying.
        """
        d = self._cached(("boundary", train.data_ptr(), tuple(train.shape), subset),
                         lambda: metrics.mean_distance(self.phi_k, train_subset(train, subset)).numpy(), train)
        d_init, d_student = self.distances
        return d, d_student / np.maximum(d_init, 1e-12)

    def quality(self, heldout: torch.Tensor, support=None, intervals: bool = True, ks=None) -> tuple[dict, dict]:
        """(values, intervals): the sample quality of every Φ_K and of G (spec §4) as plain
        floats, ``swd_<set>`` the sliced Wasserstein distance to held-out data and
        ``support_<set>_<key>`` for each key of the data set's ``support(x)`` when it has one
        (chessboard: ``on_support``); and, unless ``intervals`` is False (then empty), the
        bootstrap interval over seeds of the target's and G's ``swd_<set>`` and Wilson's
        interval of each on-support share, under the same keys. ``ks``: only these Φ_K (default all)."""
        sets = {f"phi_{k}": x for k, x in sorted(self.s.phi.items()) if ks is None or k in ks}
        sets["g"] = self.s.g
        out, ci = {}, {}
        for name, x in sets.items():
            if intervals and name in (f"phi_{self.k}", "g"):  # the target and the student: the table's pair
                stat = bootstrap.sliced_w2_stat(x, heldout)  # projected once for the value and its interval
                n = min(len(x), len(heldout))
                out[f"swd_{name}"] = stat(np.arange(n))
                ci[f"swd_{name}"] = bootstrap.statistic_interval(stat, n, low=0.0)
            else:
                out[f"swd_{name}"] = metrics.sliced_wasserstein(x, heldout)
            if support is not None:
                for key, v in support(x).items():
                    out[f"support_{name}_{key}"] = float(v)
                    if intervals and key == "on_support":
                        ci[f"support_{name}_{key}"] = bootstrap.share_interval(float(v), len(x))
        return out, ci

    def feature_quality(self, train: torch.Tensor, heldout: torch.Tensor, classifier=None) -> tuple[dict, dict]:
        """(values, intervals) of ``quality.feature_quality`` for Φ_1, Φ_K and G (image sets):
        Fréchet distances in PCA-50 of ``train`` and in ``classifier``'s features, the class
        histogram; intervals for Φ_K and G."""
        sets = {"phi_1": self.phi_1, f"phi_{self.k}": self.phi_k, "g": self.s.g}
        return self._cached(("feature_quality", train.data_ptr(), tuple(train.shape), id(classifier)),
                            lambda: quality.feature_quality(sets, train, heldout, classifier,
                                                            with_ci={f"phi_{self.k}", "g"}), train, classifier)

    def data_summary(self, train: torch.Tensor, heldout: torch.Tensor, support=None) -> dict:
        """Memorization, boundary and quality summaries (spec §4) as plain floats, with the
        bootstrap intervals over seeds of the medians, the correlation and the quality
        figures under ``intervals``."""
        r = self.memorization(train)
        d, ratio = self.boundary(train)
        d_init, d_student = self.distances
        quality, quality_ci = self.quality(heldout, support)
        ci = {"memorization_median": bootstrap.statistic_interval(lambda i: float(np.median(r[i])), len(r)),
              "boundary_corr": bootstrap.statistic_interval(lambda i: bootstrap.corr(d[i], ratio[i]), len(d), low=-1.0,
                                                            high=1.0),
              **quality_ci}
        return {
            "memorization_median": float(np.median(r)),
            "memorized_share": float(np.mean(r > MEMORIZED)),
            # scale-free: corr(D, d_student / d_init), negative = far-from-data seeds copied more
            "boundary_corr": bootstrap.corr(d, ratio),
            "delta_median": float(np.median(d_student - d_init)),
            "aligned_share": float(np.mean(ratio < 1)),
            "boundary_subset": int(min(len(train), BOUNDARY_SUBSET)),
            **quality,
            # the distance training data itself keeps from held-out data: a perfect sampler's level
            "swd_floor": metrics.sliced_wasserstein(train_subset(train, len(heldout), seed=1), heldout),
            "intervals": ci,
        }
