"""Flow matching under one time convention (spec §1): t = 0 is noise, t = 1 is data.

    x_t = (1 - t) z + t x,   u = x - z,   x̂(x_t, t) = x_t + (1 - t) v(x_t, t)
    Φ_K(z): x_{k+1} = x_k + v(x_k, k/K) / K,  x_0 = z,  so Φ_1(z) = x̂(z, 0).
"""

from __future__ import annotations

import torch


def _bcast(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, ..., 1) to broadcast against x (B, *shape)."""
    return t.reshape(-1, *([1] * (x.dim() - 1)))


def interpolate(z: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) z + t x for t (B,)."""
    tb = _bcast(t, x)
    return (1 - tb) * z + tb * x


def data_prediction(v: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x̂ = x_t + (1 - t) v."""
    return x_t + (1 - _bcast(t, x_t)) * v


def x_hat(net, x_t, t, y=None) -> torch.Tensor:
    """The network's data prediction at (x_t, t)."""
    return data_prediction(net(x_t, t, y), x_t, t)


TIME_SAMPLING = ("uniform", "logit-normal")


def sample_time(n: int, generator: torch.Generator, kind: str = "uniform", device=None) -> torch.Tensor:
    """Training times t (n,) in (0, 1). ``uniform``: t ~ U(0, 1) (spec §1). ``logit-normal``:
    t = sigmoid(N(0, 1)) for each sample but one in five (every index ≡ 4 mod 5), which
    keeps t ~ U(0, 1) so the ends of the path are still trained (the SD3 recipe's mix)."""
    u = torch.rand(n, generator=generator, device=device)
    if kind == "uniform":
        return u
    if kind != "logit-normal":
        raise ValueError(f"time sampling must be one of {', '.join(TIME_SAMPLING)}, got {kind!r}")
    ln = torch.sigmoid(torch.randn(n, generator=generator, device=device))
    keep_uniform = torch.arange(n, device=device) % 5 == 4
    return torch.where(keep_uniform, u, ln)


def fm_loss(net, x, z, t, y=None):
    """Conditional flow-matching loss E||v(x_t, t) - (x - z)||², mean over all entries.

    x, z (B, *shape); t (B,). Returns (loss, logs).
    """
    x_t = interpolate(z, x, t)
    loss = (net(x_t, t, y) - (x - z)).pow(2).mean()
    return loss, {"fm_loss": loss.detach()}


@torch.no_grad()
def euler(velocity, z, k: int, y=None, trajectory: bool = False, times: torch.Tensor | None = None):
    """Φ_K(z): K Euler steps x_{k+1} = x_k + (t_{k+1} - t_k) v(x_k, t_k) from x_0 = z.

    ``velocity(x, t, y)`` is in dmdviz's convention; ``times`` (K + 1,) is the grid, uniform
    t_k = k / K by default (spec §1); another teacher's own grid makes this its DDIM / flow-
    match Euler sampler (docs/parameterisations.md). A pure function of its noise z.
    Returns x_K (B, *shape), or the trajectory (K + 1, B, *shape) when ``trajectory``.
    """
    if k < 1:
        raise ValueError(f"K must be >= 1, got {k}")
    if times is not None and len(times) != k + 1:
        raise ValueError(f"a {k}-step grid has {k + 1} times, got {len(times)}")
    x = z
    states = [x] if trajectory else None
    for i in range(k):
        t = i / k if times is None else float(times[i])
        v = velocity(x, torch.full((len(z),), t, device=z.device, dtype=z.dtype), y)
        x = x + v / k if times is None else x + float(times[i + 1] - times[i]) * v
        if trajectory:
            states.append(x)
    return torch.stack(states) if trajectory else x
