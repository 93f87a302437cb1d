"""DMD distillation pieces (spec §3): the one-step student and the losses.

Every loss returns ``(loss, logs)``; logs hold detached scalars for ``metrics.jsonl``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dmdviz.core import flow


def keyed_noise(z: torch.Tensor, salt: int = 0) -> torch.Tensor:
    """z' ~ N(0, I) of z's shape, one generator per row seeded by a hash of that row's
    float32 bytes (and ``salt``): (B, *shape) -> (B, *shape), on z's device and dtype.

    Each seed's z' is thus reproducible (the same z gives the same z' in every run, chunking
    and device), yet no smooth network can read z from z': a hash is nowhere continuous,
    so z' is independent noise for all the student can tell. Training feeds fresh z each
    step, hence fresh z'.
    """
    rows = z.detach().float().cpu().reshape(len(z), -1).numpy()
    out = []
    for row in rows:
        digest = hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=8,
                                 key=int(salt).to_bytes(8, "little")).digest()
        g = torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
        out.append(torch.randn(rows.shape[1], generator=g))
    stacked = torch.stack(out) if out else torch.zeros(rows.shape)
    return stacked.reshape(z.shape).to(z.device, z.dtype)


class ExtraNoise(nn.Module):
    """The freedom intervention (README): a second noise input z' in R^D that the teacher
    never sees, entering G's first hidden layer through weights W' of its own:
    h_1 = W z + W' z' + emb(t) (an MLP student; ``nets.TimeMLP``'s ``extra``).

    ``scale`` sets W' at the start: 0 gives exactly the plain student with an unused input;
    s > 0 draws W' with s times the per-entry std of the teacher's W, so at s = 1 z' moves
    the first layer as much as z does when W reads z itself (MNIST; where W reads Fourier
    features of z, ||W'|| / ||W|| starts at s * sqrt(D / W's input width)). The student may grow or shrink W' freely; G's target
    stays Φ_K(z). Shapes: z (B, *shape) -> (B, hidden).
    """

    def __init__(self, dim: int, hidden: int, scale: float = 0.0, w_std: float = 0.0, seed: int = 0):
        super().__init__()
        self.proj = nn.Linear(dim, hidden, bias=False)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(hidden, dim, generator=g) * (scale * w_std))

    def forward(self, z: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        extra = keyed_noise(z) if extra is None else extra
        return self.proj(extra.reshape(len(z), -1).to(self.proj.weight.dtype))


class StudentNet(nn.Module):
    """G(z[, y]) = z' + v_φ(z', 0[, y]) with z' = R z (R = I unless a rotation is given).

    With φ = θ and no rotation, G is exactly the teacher's one-step Euler map Φ_1.
    The optional fixed orthogonal R feeds the network a rotated copy of the noise, so at
    φ = θ G(z) = Φ_1(R z). Its target (``target_noise``) is then one of two, fixed at
    training time:
    - ``relabel`` (default): Φ_K(R z), the teacher on the noise the network sees. R only
      relabels which seed gets which sample and adds no freedom: the relabelling control.
    - not ``relabel``: Φ_K(z), the teacher on the seed the student was given. A student
      that copies Φ_K(R z) is then paired with another seed's target for every seed: the
      shuffled-seed negative control, which must read chance.
    With ``extra`` (an ``ExtraNoise``) the network also takes z' = ``keyed_noise(z)``, noise
    the teacher never sees; its target stays Φ_K(z) (the freedom test, README).
    Shapes: z (B, *shape) -> (B, *shape).
    """

    def __init__(self, net: nn.Module, rotation: torch.Tensor | None = None, relabel: bool = True,
                 extra: ExtraNoise | None = None):
        super().__init__()
        self.net = net
        self.relabel = relabel
        self.extra = extra
        if rotation is not None:
            self.register_buffer("rotation", rotation)
        else:
            self.rotation = None

    def _rotated(self, z: torch.Tensor) -> torch.Tensor:
        """The noise the network is fed: R z, or z itself without a rotation."""
        if self.rotation is None:
            return z
        r = self.rotation.to(z.device, z.dtype)
        return (z.reshape(len(z), -1) @ r.T).reshape(z.shape)

    def target_noise(self, z: torch.Tensor) -> torch.Tensor:
        """The noise whose teacher sample Φ_K is G(z)'s target: R z when the rotation
        relabels, else z itself."""
        return self._rotated(z) if self.relabel else z

    def forward(self, z, y=None, extra=None):
        """G(z[, y]); ``extra`` overrides the student's own z' (``keyed_noise(z)``) when it
        has extra noise, to measure how far G moves with z' alone."""
        h_extra = None if self.extra is None else self.extra(z, extra)
        z = self._rotated(z)
        t = torch.zeros(len(z), device=z.device, dtype=z.dtype)
        if h_extra is None:
            return z + self.net(z, t, y)
        return z + self.net(z, t, y, extra=h_extra)


def random_rotation(dim: int, seed: int) -> torch.Tensor:
    """A seeded Haar-random orthogonal (dim, dim) matrix."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


def _uniform_t(n, t_min, t_max, like, generator):
    return t_min + (t_max - t_min) * torch.rand(n, generator=generator, device=like.device, dtype=like.dtype)


def dm_loss(x, teacher, critic, y, t_min, t_max, generator):
    """Distribution-matching loss (spec §3.2). x = G(z) with gradients, (B, *shape).

    g = (x̂_fake - x̂_real) / (w + 1e-6), w = mean_dims |x - x̂_real|;
    L = 0.5 mean (x - stopgrad(x - g))², so dL/dx = g / numel.
    """
    t = _uniform_t(len(x), t_min, t_max, x, generator)
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    with torch.no_grad():
        x_t = flow.interpolate(eps, x.detach(), t)
        real = flow.x_hat(teacher, x_t, t, y).float()
        fake = flow.x_hat(critic, x_t, t, y).float()
        w = (x.detach().float() - real).abs().flatten(1).mean(1)
        g = (fake - real) / (w.reshape(-1, *([1] * (x.dim() - 1))) + 1e-6)
        target = (x.detach().float() - g)
    loss = 0.5 * (x.float() - target).pow(2).mean()
    return loss, {
        "dm_loss": loss.detach(),
        "dm_numerator": (fake - real).pow(2).flatten(1).sum(1).mean(),
        "dm_normaliser": w.mean(),
    }


def critic_loss(critic, x_fake, y, generator):
    """Flow matching of the fake velocity v_ψ on student samples (spec §3.1)."""
    x_fake = x_fake.detach()
    z = torch.randn(x_fake.shape, generator=generator, device=x_fake.device, dtype=x_fake.dtype)
    t = torch.rand(len(x_fake), generator=generator, device=x_fake.device, dtype=x_fake.dtype)
    loss, logs = flow.fm_loss(critic, x_fake, z, t, y)
    return loss, {"critic_loss": logs["fm_loss"]}


class Discriminator(nn.Module):
    """A linear head on the critic's features: D(x_t, t[, y]) -> (B,) logits."""

    def __init__(self, feature_dim: int):
        super().__init__()
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(feature_dim, 1))

    def forward(self, critic, x_t, t, y=None):
        return self.head(critic.features(x_t, t, y)).squeeze(1)


def _noised(x, generator):
    t = torch.rand(len(x), generator=generator, device=x.device, dtype=x.dtype)
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return flow.interpolate(eps, x, t), t


def gan_d_loss(disc, critic, real, y_real, fake, y_fake, generator):
    """softplus(-D(real_t)) + softplus(D(fake_t)) (spec §3.3)."""
    rt, tr = _noised(real, generator)
    ft, tf = _noised(fake.detach(), generator)
    loss = F.softplus(-disc(critic, rt, tr, y_real)).mean() + F.softplus(disc(critic, ft, tf, y_fake)).mean()
    return loss, {"gan_d_loss": loss.detach()}


def gan_g_loss(disc, critic, fake, y, generator):
    """softplus(-D(fake_t)); gradients reach G through the frozen critic features."""
    ft, tf = _noised(fake, generator)
    loss = F.softplus(-disc(critic, ft, tf, y)).mean()
    return loss, {"gan_g_loss": loss.detach()}


def regression_loss(g_ref, target):
    """DMD1-style ||G(z_ref) - Φ_K(z_ref)||², mean over entries. Forces copying; ablation only."""
    loss = (g_ref.float() - target).pow(2).mean()
    return loss, {"regression_loss": loss.detach()}
