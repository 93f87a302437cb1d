"""Pairing and sample metrics (spec §4) on arrays: no models here.

Inputs are tensors (N, ...) that are flattened to (N, D). Teacher samples ``phi_k`` and
student samples ``g`` must come from the same seeds, row i from noise z_i.
"""

from __future__ import annotations

import numpy as np
import torch


def _flat(x) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x.reshape(len(x), -1).double()


def cost_matrix(phi_k, g) -> torch.Tensor:
    """C_ij = ||Φ_K(z_i) - G(z_j)||², (N, N) float64."""
    return torch.cdist(_flat(phi_k), _flat(g)).pow(2)


def ot_assignment(cost) -> np.ndarray:
    """Exact optimal permutation σ of a square cost matrix with uniform weights: j = σ(i)."""
    from scipy.optimize import linear_sum_assignment  # here: importing scipy.optimize costs a training run 0.7 s

    rows, cols = linear_sum_assignment(np.asarray(cost, dtype=np.float64))
    sigma = np.empty(len(rows), dtype=np.int64)
    sigma[rows] = cols
    return sigma


def ot_agreement(cost, sigma: np.ndarray | None = None) -> float:
    """A_OT = #{i : σ(i) = i} / N (chance 1/N)."""
    sigma = ot_assignment(cost) if sigma is None else sigma
    return float(np.mean(sigma == np.arange(len(sigma))))


def nn_agreement(cost) -> float:
    """A_NN = #{j : argmin_i C_ij = j} / N."""
    c = torch.as_tensor(cost)
    return float((c.argmin(dim=0) == torch.arange(c.shape[1])).double().mean())


def diag_contrast(cost) -> float:
    """median_i C_ii / median_{i≠j} C_ij (small: each student sample sits on its own target)."""
    c = torch.as_tensor(cost)
    off = c[~torch.eye(len(c), dtype=torch.bool)]
    return float(c.diagonal().median() / off.median().clamp_min(1e-12))


def distances(phi_1, phi_k, g) -> tuple[torch.Tensor, torch.Tensor]:
    """(d_init, d_student): ||Φ_1 - Φ_K|| and ||G - Φ_K|| per seed."""
    pk = _flat(phi_k)
    return (_flat(phi_1) - pk).norm(dim=1), (_flat(g) - pk).norm(dim=1)


def copy_ratio(phi_1, phi_k, g) -> float:
    """ρ = median_i d_student / d_init (spec §4): well below 1 copies, >= 1 remaps."""
    d_init, d_student = distances(phi_1, phi_k, g)
    return float((d_student / d_init.clamp_min(1e-12)).median())


def nn_spacing(x) -> torch.Tensor:
    """Distance from each sample to its nearest other sample of the same set, (N,)."""
    d = torch.cdist(_flat(x), _flat(x))
    return d.fill_diagonal_(float("inf")).min(dim=1).values


def resolution(d_student, spacing) -> float:
    """median d_student / median NN spacing of Φ_K (the pairing metrics' resolution).

    Well below 1: each student sample sits nearer its own target than the targets sit to
    one another, so A_OT and NN agreement can register copying. Above 1 they cannot: even
    a student that lands as near its own target as it can reads chance."""
    return float(torch.as_tensor(d_student).median() / torch.as_tensor(spacing).median().clamp_min(1e-12))


def pairing_metrics(phi_1, phi_k, g, with_ot: bool = True, costs=None, spacing=None) -> dict:
    """Every pairing metric for the student and, as ``*_init``, for its start Φ_1.

    ``copy_ratio_chance`` is ρ with the student's samples paired to the wrong seeds (G
    rolled by one): the value ρ takes when the pairing carries no information. In low
    dimension Φ_1 collapses towards the data mean, so even a remapping student can have
    ρ < 1; compare ρ with this chance level, not only with 1.
    ``resolution`` (and ``resolution_init`` for Φ_1) says whether A_OT can register copying
    at all on these seeds (``resolution``).
    ``costs`` = (C, C_init), when given, are the already computed ``cost_matrix(phi_k, g)``
    and ``cost_matrix(phi_k, phi_1)`` (an analysis that caches them skips recomputing);
    ``spacing``, likewise, ``nn_spacing(phi_k)``.
    """
    d_init, d_student = distances(phi_1, phi_k, g)
    spacing = nn_spacing(phi_k) if spacing is None else torch.as_tensor(spacing)
    out = {"copy_ratio": copy_ratio(phi_1, phi_k, g),
           "copy_ratio_chance": copy_ratio(phi_1, phi_k, torch.roll(torch.as_tensor(g), 1, dims=0)),
           "resolution": resolution(d_student, spacing), "resolution_init": resolution(d_init, spacing)}
    for suffix, other, c in (("", g, costs and costs[0]), ("_init", phi_1, costs and costs[1])):
        c = cost_matrix(phi_k, other) if c is None else c
        if with_ot:
            out["ot_agreement" + suffix] = ot_agreement(c)
        out["nn_agreement" + suffix] = nn_agreement(c)
        out["diag_contrast" + suffix] = diag_contrast(c)
    return out


def nearest_two(samples, train, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances (N,) to the nearest and second-nearest training points."""
    s, tr = _flat(samples).float(), _flat(train).float()
    d1, d2 = [], []
    for i in range(0, len(s), chunk):
        d = torch.cdist(s[i : i + chunk], tr).topk(2, dim=1, largest=False).values
        d1.append(d[:, 0])
        d2.append(d[:, 1])
    return torch.cat(d1).double(), torch.cat(d2).double()


def memorization_ratio(samples, train) -> torch.Tensor:
    """r(s) = ||s - n_2|| / ||s - n_1|| per sample: near 1 not memorised, > 3 memorised."""
    d1, d2 = nearest_two(samples, train)
    return d2 / d1.clamp_min(1e-12)


def mean_distance(samples, train, chunk: int = 512) -> torch.Tensor:
    """D(z) = mean_{x in train} ||s - x|| per sample (spec §4 boundary analysis)."""
    s, tr = _flat(samples).float(), _flat(train).float()
    return torch.cat([torch.cdist(s[i : i + chunk], tr).mean(1) for i in range(0, len(s), chunk)]).double()


def sliced_wasserstein_projections(a, b, n_proj: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Both point sets (trimmed to equal sizes) on ``n_proj`` seeded random unit directions:
    (n, n_proj) each, unsorted."""
    a, b = _flat(a), _flat(b)
    n = min(len(a), len(b))
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(a.shape[1], n_proj, generator=g, dtype=torch.float64)
    dirs /= dirs.norm(dim=0, keepdim=True)
    return a[:n] @ dirs, b[:n] @ dirs


def sliced_wasserstein(a, b, n_proj: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two point sets (equal sizes after trimming)."""
    pa, pb = sliced_wasserstein_projections(a, b, n_proj, seed)
    return float((pa.sort(dim=0).values - pb.sort(dim=0).values).pow(2).mean().sqrt())


def pca_fit(x, k: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (D,), components (D, k)) of the rows of x, exact (eigendecomposition), sign-fixed."""
    x = _flat(x)
    mu = x.mean(0)
    xc = x - mu
    # Exact eigh of the smaller Gram side: 2-3x faster than a full SVD at N = 2000, D = 784.
    if xc.shape[1] <= xc.shape[0]:
        comps = torch.linalg.eigh(xc.T @ xc).eigenvectors[:, -k:].flip(1)
    else:
        vals, u = torch.linalg.eigh(xc @ xc.T)
        comps = xc.T @ (u[:, -k:] / vals[-k:].clamp_min(1e-24).sqrt()).flip(1)
    signs = torch.sign(comps[comps.abs().argmax(0), torch.arange(comps.shape[1])])
    return mu, comps * signs


def pca_project(x, mu, comps) -> torch.Tensor:
    return (_flat(x) - mu) @ comps


# --------------------------------------------------------------------------- pairing at every scale


def ward_tree(spread) -> np.ndarray:
    """Ward's hierarchical clustering (the k-means criterion, merged greedily) of N points
    from their (N, N) pairwise distances: scipy's linkage matrix (N - 1, 4). Deterministic;
    one tree serves every number of cells (``tree_cells``)."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    d = np.array(spread, dtype=np.float64)
    np.fill_diagonal(d, 0.0)
    return linkage(squareform(d, checks=False), method="ward")


def tree_cells(tree: np.ndarray, k: int) -> np.ndarray:
    """The cell 0 .. k'-1 of each of the tree's N points when it is cut into k cells
    (k' <= k when merges tie; k >= N: every point its own cell), (N,) int64."""
    from scipy.cluster.hierarchy import fcluster

    n = len(tree) + 1
    if k >= n:
        return np.arange(n)
    return fcluster(tree, k, criterion="maxclust").astype(np.int64) - 1


def cell_agreement(target_cells, other_cells, n_cells: int) -> tuple[float, float]:
    """(agreement, chance): the share of seeds whose two samples fall in the same cell, and
    the share two independent draws from the marginals would give, Σ_c p_c q_c (p, q the
    cells' shares of each set)."""
    a, b = np.asarray(target_cells), np.asarray(other_cells)
    p = np.bincount(a, minlength=n_cells) / len(a)
    q = np.bincount(b, minlength=n_cells) / len(b)
    return float(np.mean(a == b)), float(p @ q)


def cell_spacing(spread, cells) -> float:
    """Median over points of the distance to the nearest point of another cell (at one cell
    per point: the nearest-neighbour spacing of ``resolution``); inf with a single cell."""
    d = np.asarray(spread, dtype=np.float64)
    c = np.asarray(cells)
    return float(np.median(np.where(c[:, None] == c[None, :], np.inf, d).min(axis=1)))


def margins(cost) -> np.ndarray:
    """Per student sample j: (nearest wrong target distance) / (own target distance),
    min_{i≠j} sqrt(C_ij) / sqrt(C_jj), (N,) float64 from C_ij = ||Φ_K(z_i) - G(z_j)||².
    Above 1 the nearest target is its own; the larger, the deeper inside its own cell."""
    c = np.asarray(cost, dtype=np.float64)
    own = np.sqrt(np.diagonal(c))
    off = c.copy()
    np.fill_diagonal(off, np.inf)
    return np.sqrt(off.min(axis=0)) / np.maximum(own, 1e-12)


# --------------------------------------------------------------------------- quality in a feature space


def top_axes(cov: torch.Tensor, k: int, extra: int = 50, iters: int = 12, seed: int = 0) -> torch.Tensor:
    """The ``k`` leading eigenvectors of a symmetric PSD (D, D) matrix, (D, k), by seeded
    subspace iteration on k + ``extra`` vectors and a Rayleigh-Ritz step: matrix products
    and small factorisations only (a full eigendecomposition of a 784² matrix took 0.3-19 s
    on a loaded 2-core machine, this 0.3-1 s; on MNIST its axes match the exact ones to a
    cosine of 1 - 4e-7)."""
    m = min(k + extra, cov.shape[0])
    if 2 * m >= cov.shape[0]:  # small: the exact decomposition costs no more
        return torch.linalg.eigh(cov).eigenvectors[:, -k:].flip(1)
    q = torch.randn(cov.shape[0], m, generator=torch.Generator().manual_seed(seed), dtype=cov.dtype)
    for _ in range(iters):
        q = torch.linalg.qr(cov @ q).Q
    vecs = torch.linalg.eigh(q.T @ cov @ q).eigenvectors
    return (q @ vecs)[:, -k:].flip(1)


def mean_cov(x) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) of the rows of x, float64 numpy (unbiased covariance)."""
    x = x.reshape(len(x), -1) if isinstance(x, np.ndarray) else _flat(x).numpy()
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / max(len(x) - 1, 1)


def psd_sqrt(s: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    vals, vecs = np.linalg.eigh(s)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_from_stats(mu_a, cov_a, mu_b, cov_b, root_b: np.ndarray | None = None) -> float:
    """||μ_a - μ_b||² + tr(Σ_a + Σ_b - 2 (Σ_b^{1/2} Σ_a Σ_b^{1/2})^{1/2}): the Fréchet (W₂²)
    distance between two Gaussians; the cross term from the eigenvalues of a symmetric
    matrix, so it stays real. ``root_b``: Σ_b^{1/2} when already known (a fixed reference)."""
    root = psd_sqrt(cov_b) if root_b is None else root_b
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ cov_a @ root), 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def frechet_distance(a, b) -> float:
    """The Fréchet distance between Gaussians fitted to the rows of ``a`` and of ``b``
    (FID's formula, in whatever feature space the rows are)."""
    return frechet_from_stats(*mean_cov(a), *mean_cov(b))


def class_kl(labels, reference_shares) -> float:
    """KL(q || p) of the class shares q of ``labels`` from the reference shares p (> 0)."""
    p = np.maximum(np.asarray(reference_shares, dtype=np.float64), 1e-12)
    q = np.bincount(np.asarray(labels), minlength=len(p)) / len(labels)
    nz = q > 0
    return float(np.sum(q[nz] * np.log(q[nz] / p[nz])))
