"""Parameterisation conversions against closed forms (docs/parameterisations.md).

Data x0 ~ N(μ, diag s²): on any interpolant x = a x0 + b ε the posterior means are exact,

    E[x0 | x] = μ + a s² (x - a μ) / (a² s² + b²),   E[ε | x] = b (x - a μ) / (a² s² + b²),

so an "oracle" network of each parameterisation is known in closed form, and so is the
probability-flow ODE map in dmdviz coordinates: Φ_∞(x at t0) = μ + s (x - t0 μ) / √(t0² s² + (1 - t0)²).
"""

import math

import pytest
import torch

from dmdviz.models import check_pair, params
from dmdviz.models.diffusers_adapter import schedule

MU = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
S = torch.tensor([0.3, 1.5, 0.8], dtype=torch.float64)
SCHEDULERS = {
    "flow-match": {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0},
    "ddpm-epsilon": {"_class_name": "DDIMScheduler", "beta_schedule": "linear", "set_alpha_to_one": True},
    "ddpm-v": {"_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear", "prediction_type": "v_prediction",
               "set_alpha_to_one": True, "timestep_spacing": "trailing"},
    "edm": {"_class_name": "EDMEulerScheduler", "sigma_max": 80.0, "sigma_min": 0.002},
}


def posterior(x, a, b):
    var = a * a * S * S + b * b
    return MU + a * S * S * (x - a * MU) / var, b * (x - a * MU) / var


def oracle(prediction):
    """The exact network of a parameterisation for the Gaussian data: net(x, level, y)."""
    def net(x, lv, y=None):
        x0, eps = posterior(x, lv.a, lv.b)
        return {"epsilon": eps, "sample": x0, "v_prediction": lv.a * eps - lv.b * x0, "flow": eps - x0}[prediction]
    return net


def exact_map(x, t0):
    return MU + S * (x - t0 * MU) / torch.sqrt(t0 * t0 * S * S + (1 - t0) ** 2)


def _teacher(name):
    sch = schedule(SCHEDULERS[name])
    start = sch.noise(sch.grid(1)[0])
    return params.GridTeacher(oracle(sch.prediction), sch.prediction, sch.grid, sch.level_at, start,
                              identity=f"oracle:{name}", shape=(3,), dtype=torch.float64), sch


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_the_dmdviz_velocity_of_every_parameterisation_is_the_exact_one(name):
    teacher, _ = _teacher(name)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for t in (0.1, 0.35, 0.6, 0.9):
        x0, eps = posterior(x, t, 1 - t)  # dmdviz's own interpolant x_t = (1 - t) ε + t x0
        got = teacher.velocity(x, torch.full((64,), t, dtype=torch.float64))
        torch.testing.assert_close(got, x0 - eps, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_phi_k_approaches_the_exact_ode_map_and_phi_1_is_the_first_data_prediction(name):
    teacher, sch = _teacher(name)
    z = torch.randn(2000, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    errors = {}
    for k in (20, 500):
        first = sch.grid(k)[0]
        want = exact_map(z * teacher.start * first.scale, first.t)
        errors[k] = float((teacher.phi(z, k) - want).abs().max())
    assert errors[500] < 2.5e-2 and errors[500] < errors[20] / 10, errors  # first order: error ~ 1 / K
    first = sch.grid(1)[0]
    x0, _ = params.split(sch.prediction, oracle(sch.prediction)(z * teacher.start, first), z * teacher.start, first)
    torch.testing.assert_close(teacher.phi(z, 1), x0)
    traj = teacher.phi(z[:5], 4, trajectory=True)
    assert traj.shape == (5, 5, 3) and teacher.times(4)[-1] == 1 and bool((teacher.times(4).diff() > 0).all())


def test_the_same_noise_z_means_the_schedules_first_level():
    flow, _ = _teacher("flow-match")
    edm, _ = _teacher("edm")
    vp, _ = _teacher("ddpm-epsilon")
    assert flow.times(8)[0] == 0 and flow.start == 1  # σ = 1 is pure noise: x = z
    assert edm.start == 80.0 and math.isclose(float(edm.times(8)[0]), 1 / 81)  # x = σ_max z
    assert vp.start == 1 and 0 < float(vp.times(8)[0]) < 0.05  # DDIM's x_T = z at ᾱ_τ0 > 0 (τ0 = 875)


def test_a_one_step_student_is_the_data_prediction_at_its_level():
    sch = schedule(SCHEDULERS["ddpm-epsilon"])
    lv = sch.level_of(999)
    g = params.OneStep(oracle("epsilon"), "epsilon", lv, 1.0, identity="g", shape=(3,), dtype=torch.float64)
    z = torch.randn(10, 3, dtype=torch.float64)
    torch.testing.assert_close(g(z), posterior(z, lv.a, lv.b)[0])
    teacher, _ = _teacher("ddpm-epsilon")
    check_pair(teacher, g)
