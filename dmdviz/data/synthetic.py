"""Synthetic data sets (spec §6): the paper's 2-D sets embedded in R^D, and mlp-manifold.

2-D sets live in [-2, 2]^2 (unit-ish variance, matched to N(0, I) noise) and are embedded
in R^D by the first two coordinates (``embed="first"``) or by a seeded random orthonormal
2-frame (``"random"``). Their ``train`` reference set is a fixed seeded draw of 10,000
points; ``support(x)`` says which samples land on the set.
"""

from __future__ import annotations

import math

import torch

from dmdviz.config import DataConfig
from dmdviz.data.dataset import Dataset
from dmdviz.errors import DmdvizError

SYNTHETIC_TRAIN = 10_000


# --------------------------------------------------------------------------- 2-D sets


def _chessboard(n: int, g: torch.Generator, cells: int) -> torch.Tensor:
    """Uniform on the black cells ((i + j) even) of a cells x cells board on [-2, 2]^2."""
    out, have = [], 0
    while have < n:  # rejection: at least ~half of the square is black
        p = torch.rand(2 * n + 16, 2, generator=g) * 4.0 - 2.0
        p = p[_on_black(p, cells)]
        out.append(p)
        have += len(p)
    return torch.cat(out)[:n]


def _on_black(p: torch.Tensor, cells: int) -> torch.Tensor:
    size = 4.0 / cells
    inside = (p.abs() <= 2.0).all(1)
    ij = torch.floor((p + 2.0) / size).clamp(0, cells - 1).long()
    return inside & (ij.sum(1) % 2 == 0)


def _moons(n: int, g: torch.Generator) -> torch.Tensor:
    upper = torch.rand(n, generator=g) < 0.5
    t = torch.rand(n, generator=g) * math.pi
    a = torch.stack([torch.cos(t), torch.sin(t)], 1)
    b = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    p = torch.where(upper[:, None], a, b) + 0.05 * torch.randn(n, 2, generator=g)
    return (p - torch.tensor([0.5, 0.25])) * 1.6


def _arc_distance(q: torch.Tensor, center: tuple[float, float], sign: float) -> torch.Tensor:
    """Distance to the unit half circle around ``center`` on the side sign * y >= 0."""
    r = q - torch.tensor(center)
    on_side = sign * r[:, 1] >= 0
    radial = (r.norm(dim=1) - 1).abs()
    ends = torch.minimum((r - torch.tensor([1.0, 0.0])).norm(dim=1), (r + torch.tensor([1.0, 0.0])).norm(dim=1))
    return torch.where(on_side, radial, ends)


def _moons_distance(p: torch.Tensor) -> torch.Tensor:
    q = p / 1.6 + torch.tensor([0.5, 0.25])
    return torch.minimum(_arc_distance(q, (0.0, 0.0), 1.0), _arc_distance(q, (1.0, 0.5), -1.0)) * 1.6


def _gaussians8(n: int, g: torch.Generator) -> torch.Tensor:
    k = torch.randint(8, (n,), generator=g).float() * (2 * math.pi / 8)
    centers = 1.6 * torch.stack([torch.cos(k), torch.sin(k)], 1)
    return centers + 0.15 * torch.randn(n, 2, generator=g)


def _swissroll(n: int, g: torch.Generator) -> torch.Tensor:
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    p = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 7.0
    return p + 0.03 * torch.randn(n, 2, generator=g)


def _rings(n: int, g: torch.Generator) -> torch.Tensor:
    r = 0.6 * (1 + torch.randint(3, (n,), generator=g).float())
    a = torch.rand(n, generator=g) * 2 * math.pi
    return r[:, None] * torch.stack([torch.cos(a), torch.sin(a)], 1) + 0.04 * torch.randn(
        n, 2, generator=g
    )


def plane_frame(cfg: DataConfig) -> torch.Tensor:
    """(D, 2) orthonormal columns: the first two axes, or a seeded random frame."""
    if cfg.dim < 2:
        raise DmdvizError(f"dim must be >= 2 for {cfg.name}, got {cfg.dim}")
    if cfg.embed == "first":
        return torch.eye(cfg.dim)[:, :2]
    if cfg.embed == "random":
        g = torch.Generator().manual_seed(cfg.seed + 7919)
        q, _ = torch.linalg.qr(torch.randn(cfg.dim, 2, generator=g, dtype=torch.float64))
        return q.float()
    raise DmdvizError(f"embed must be 'first' or 'random', got {cfg.embed!r}")


def _planar(cfg: DataConfig, draw2d, support2d) -> Dataset:
    q = plane_frame(cfg)

    def sampler(n, g):
        return draw2d(n, g) @ q.T, None

    def support(x: torch.Tensor) -> dict:
        x = x.reshape(len(x), -1).float()
        p = x @ q
        off = (x - p @ q.T).norm(dim=1)
        out = support2d(p)
        out["off_plane_median"] = float(off.median())
        out["on_support"] = float(((out.pop("_mask")) & (off < 0.1)).float().mean())
        return out

    return _finish(cfg.name, (cfg.dim,), 0, sampler, cfg.seed, support)


def _chess_support(cells):
    def f(p):
        return {"_mask": _on_black(p, cells)}

    return f


def _moons_support(p):
    d = _moons_distance(p)
    return {"_mask": d < 0.25, "arc_distance_median": float(d.median())}


_PLANAR = {
    "moons": (_moons, _moons_support),
    "gaussians8": (_gaussians8, None),
    "swissroll": (_swissroll, None),
    "rings": (_rings, None),
}


# --------------------------------------------------------------------------- mlp-manifold


def _mlp_manifold(cfg: DataConfig) -> Dataset:
    """Latent u ~ N(0, I_l) plus a class offset, through a fixed seeded random MLP to R^D.

    The map is tanh(W1 h + b1) -> W2 (width 128), standardised per coordinate on a fixed
    draw so the data has unit scale. Unconditional when ``n_classes == 0``.
    """
    g = torch.Generator().manual_seed(cfg.seed + 104729)
    lat, k = cfg.latent_dim, max(cfg.n_classes, 1)
    offsets = 2.5 * torch.randn(k, lat, generator=g)
    w1 = torch.randn(lat, 128, generator=g) / math.sqrt(lat)
    b1 = 0.5 * torch.randn(128, generator=g)
    w2 = torch.randn(128, cfg.dim, generator=g) / math.sqrt(128)

    def raw(n, gen):
        y = torch.randint(k, (n,), generator=gen)
        h = torch.randn(n, lat, generator=gen) + offsets[y]
        return torch.tanh(h @ w1 + b1) @ w2, y

    ref, _ = raw(20_000, torch.Generator().manual_seed(cfg.seed + 1))
    mu, sd = ref.mean(0), ref.std(0) + 1e-6

    def sampler(n, gen):
        x, y = raw(n, gen)
        return (x - mu) / sd, (y if cfg.n_classes > 0 else None)

    return _finish("mlp-manifold", (cfg.dim,), cfg.n_classes, sampler, cfg.seed)


def _finish(name, shape, n_classes, sampler, seed, support=None) -> Dataset:
    train, train_y = sampler(SYNTHETIC_TRAIN, torch.Generator().manual_seed(seed + 2))
    heldout, _ = sampler(2000, torch.Generator().manual_seed(seed + 3))
    return Dataset(name, shape, n_classes, sampler, train, train_y, heldout, support)


SYNTHETIC = ("chessboard", *_PLANAR, "mlp-manifold")


def synthetic_dataset(cfg: DataConfig) -> Dataset:
    """The synthetic set ``cfg`` names (one of ``SYNTHETIC``)."""
    if cfg.name == "chessboard":
        if cfg.cells < 1:
            raise DmdvizError(f"cells must be >= 1, got {cfg.cells}")
        return _planar(cfg, lambda n, g: _chessboard(n, g, cfg.cells), _chess_support(cfg.cells))
    if cfg.name in _PLANAR:
        draw, support = _PLANAR[cfg.name]
        return _planar(cfg, draw, support or (lambda p: {"_mask": torch.ones(len(p), dtype=torch.bool)}))
    if cfg.name == "mlp-manifold":
        return _mlp_manifold(cfg)
    raise DmdvizError(f"{cfg.name!r} is not a synthetic data set ({', '.join(SYNTHETIC)})")
