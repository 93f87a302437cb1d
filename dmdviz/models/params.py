"""Other parameterisations as dmdviz teachers (docs/parameterisations.md has the derivations).

Every model here is trained on an interpolant ``x = a x0 + b ε`` with its own (a, b) per
noise level: diffusers flow matching (a, b) = (1 - σ, σ); a variance-preserving DDPM
(√ᾱ, √(1 - ᾱ)); EDM (1, σ). Dividing by a + b gives dmdviz's interpolant exactly:

    x_dmdviz = x / (a + b) = t x0 + (1 - t) ε,   t = a / (a + b)        (spec §1)

and the dmdviz velocity is v = x̂0 - ε̂, whatever the network predicts (ε, v, x0 or the
flow-match velocity ε - x0). Euler in these coordinates on the teacher's own grid of
levels is its deterministic first-order sampler: DDIM (eta = 0) for a DDPM, the flow-match
Euler scheduler, EDM's Euler. Nothing here imports diffusers: a ``Level`` is numbers, and
``GridTeacher`` takes the network as a callable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from dmdviz.core import flow
from dmdviz.errors import DmdvizError

PREDICTIONS = ("epsilon", "v_prediction", "sample", "flow")


@dataclass(frozen=True)
class Level:
    """One noise level: the model's state is x = a x0 + b ε; the network is given ``timestep``."""

    a: float
    b: float
    timestep: float

    @property
    def t(self) -> float:
        """dmdviz time a / (a + b): 0 is pure noise, 1 is data."""
        return self.a / (self.a + self.b)

    @property
    def scale(self) -> float:
        """x_dmdviz = scale · x_model."""
        return 1.0 / (self.a + self.b)


def split(prediction: str, out: torch.Tensor, x: torch.Tensor, lv: Level) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂0, ε̂) from the network output ``out`` at the model state ``x`` on level ``lv``.

    epsilon: ε̂ = out, x̂0 = (x - b ε̂) / a.   sample: x̂0 = out, ε̂ = (x - a x̂0) / b.
    v_prediction (VP, a² + b² = 1, v = a ε - b x0): x̂0 = a x - b v, ε̂ = b x + a v.
    flow (diffusers flow matching, out = ε - x0, a + b = 1): x̂0 = x - b out, ε̂ = x + a out.
    """
    a, b = lv.a, lv.b
    if prediction == "epsilon":
        return (x - b * out) / a, out
    if prediction == "sample":
        return out, (x - a * out) / b
    if prediction == "v_prediction":
        return a * x - b * out, b * x + a * out
    if prediction == "flow":
        return x - b * out, x + a * out
    raise DmdvizError(f"unknown prediction type {prediction!r}; expected one of {', '.join(PREDICTIONS)}")


def velocity(prediction: str, out: torch.Tensor, x: torch.Tensor, lv: Level) -> torch.Tensor:
    """The dmdviz velocity v = x̂0 - ε̂ (d x_dmdviz / dt along the probability-flow ODE)."""
    x0, eps = split(prediction, out, x, lv)
    return x0 - eps


def vp_level(alpha_bar: float, timestep: float) -> Level:
    return Level(math.sqrt(alpha_bar), math.sqrt(1.0 - alpha_bar), timestep)


def flow_level(sigma: float, n_train: int) -> Level:
    """diffusers flow matching: x_σ = (1 - σ) x0 + σ ε, the network given σ · N_train."""
    return Level(1.0 - sigma, sigma, sigma * n_train)


def edm_level(sigma: float, c_noise: float) -> Level:
    """EDM: x = x0 + σ n, the network given c_noise(σ) = ln(σ) / 4."""
    return Level(1.0, sigma, c_noise)


Net = Callable[[torch.Tensor, Level, "torch.Tensor | None"], torch.Tensor]  # (x_model, level, y) -> out


class GridTeacher:
    """A protocol teacher over any parameterisation: ``net(x_model, level, y) -> out``.

    ``grid(k)``: the K + 1 levels of its K-step sampler, noisiest first; ``level_at(t)``: the
    level of any dmdviz time (for ``velocity`` off the grid); ``start``: x_model at the first
    level is ``start · z`` (1 for DDIM and flow matching, σ_max for EDM). Φ_K(z) is Euler in
    dmdviz coordinates on that grid, returned in the model's own space at the last level.
    """

    def __init__(self, net: Net, prediction: str, grid: Callable[[int], list[Level]],
                 level_at: Callable[[float], Level], start: float, *, identity: str, shape, n_classes: int = 0,
                 dtype=torch.float32, device="cpu"):
        if prediction not in PREDICTIONS:
            raise DmdvizError(f"unknown prediction type {prediction!r}; expected one of {', '.join(PREDICTIONS)}")
        self.net, self.prediction, self.grid, self.level_at, self.start = net, prediction, grid, level_at, start
        self.identity, self.shape, self.n_classes = identity, tuple(shape), n_classes
        self.dtype, self.device = dtype, torch.device(device)

    def _v(self, x_rf: torch.Tensor, lv: Level, y) -> torch.Tensor:
        x = x_rf / lv.scale
        return velocity(self.prediction, self.net(x, lv, y).to(x.dtype), x, lv)

    def velocity(self, x_t, t, y=None):
        return self._v(x_t, self.level_at(float(t[0])), y)

    def times(self, k: int) -> torch.Tensor:
        return torch.tensor([lv.t for lv in self.grid(k)], dtype=torch.float64)

    def phi(self, z, k, y=None, trajectory=False):
        levels = self.grid(k)
        if len(levels) != k + 1:
            raise DmdvizError(f"the scheduler gave {len(levels)} levels for K = {k}, expected {k + 1}")
        step = iter(levels[:-1])  # Euler calls the velocity once per level, in order
        out = flow.euler(lambda x, _t, yy: self._v(x, next(step), yy), z * (self.start * levels[0].scale),
                         k, y, trajectory, times=torch.tensor([lv.t for lv in levels], dtype=torch.float64))
        return out if trajectory else out / levels[-1].scale


class OneStep:
    """A protocol student: G(z) = x̂0 of ``net`` at one fixed level, from x = start · z there.

    The DMD2 recipe evaluates a VP ε-prediction UNet at its last training timestep on x = z;
    a one-step flow-match generator gives x̂0 = z - out at σ = 1.
    """

    def __init__(self, net: Net, prediction: str, level: Level, start: float, *, identity: str, shape,
                 n_classes: int = 0, dtype=torch.float32, device="cpu"):
        self.net, self.prediction, self.level, self.start = net, prediction, level, start
        self.identity, self.shape, self.n_classes = identity, tuple(shape), n_classes
        self.dtype, self.device = dtype, torch.device(device)

    def __call__(self, z, y=None):
        x = z * self.start
        return split(self.prediction, self.net(x, self.level, y).to(x.dtype), x, self.level)[0]
