"""Flow matching and the Euler sampler against closed forms (spec §1)."""

import torch

from dmdviz.core import flow


class Linear(torch.nn.Module):
    """v(x, t) = A x: Euler gives (I + A / K)^K z exactly."""

    def __init__(self, a):
        super().__init__()
        self.a = a

    def forward(self, x, t, y=None):
        return x @ self.a.T


class ToPoint(torch.nn.Module):
    """The exact flow-matching field of a Dirac target x*: v(x, t) = (x* - x) / (1 - t)."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def forward(self, x, t, y=None):
        return (self.target - x) / (1 - t)[:, None]


def test_euler_on_linear_field_is_the_matrix_power():
    torch.manual_seed(0)
    a = torch.randn(3, 3, dtype=torch.float64)
    z = torch.randn(5, 3, dtype=torch.float64)
    for k in (1, 2, 8, 32):
        m = torch.linalg.matrix_power(torch.eye(3, dtype=torch.float64) + a / k, k)
        torch.testing.assert_close(flow.euler(Linear(a), z, k), z @ m.T, rtol=1e-12, atol=1e-12)


def test_euler_is_exact_on_straight_paths():
    target = torch.tensor([1.5, -0.5], dtype=torch.float64)
    z = torch.randn(7, 2, dtype=torch.float64)
    traj = flow.euler(ToPoint(target), z, 8, trajectory=True)
    assert traj.shape == (9, 7, 2)
    for k in range(9):
        t = k / 8
        torch.testing.assert_close(traj[k], (1 - t) * z + t * target, rtol=0, atol=1e-12)


def test_one_step_euler_is_the_data_prediction_at_t0():
    torch.manual_seed(1)
    net = Linear(torch.randn(4, 4))
    z = torch.randn(6, 4)
    t0 = torch.zeros(6)
    torch.testing.assert_close(flow.euler(net, z, 1), flow.x_hat(net, z, t0))


def test_interpolant_convention_t0_noise_t1_data():
    z, x = torch.zeros(2, 3), torch.ones(2, 3)
    assert torch.equal(flow.interpolate(z, x, torch.zeros(2)), z)
    assert torch.equal(flow.interpolate(z, x, torch.ones(2)), x)


def test_fm_loss_vanishes_for_the_exact_field():
    target = torch.tensor([0.3, 2.0], dtype=torch.float64)
    z = torch.randn(64, 2, dtype=torch.float64)
    t = torch.rand(64, dtype=torch.float64) * 0.99
    loss, logs = flow.fm_loss(ToPoint(target), target.expand(64, 2), z, t)
    assert float(loss) < 1e-20 and "fm_loss" in logs


def test_uniform_time_sampling_is_spec_uniform_and_logit_normal_keeps_a_uniform_fifth():
    a, b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(flow.sample_time(1000, a), torch.rand(1000, generator=b))  # spec §1, same stream as before
    t = flow.sample_time(50_000, torch.Generator().manual_seed(0), "logit-normal")
    assert ((t > 0) & (t < 1)).all()
    logits = torch.logit(t[torch.arange(len(t)) % 5 != 4])
    assert abs(float(logits.mean())) < 0.02 and abs(float(logits.std()) - 1) < 0.02  # sigmoid of N(0, 1)
    fifth = t[4::5]  # U(0, 1): mean 1/2, variance 1/12
    assert abs(float(fifth.mean()) - 0.5) < 0.01 and abs(float(fifth.var()) - 1 / 12) < 0.005
    import pytest

    with pytest.raises(ValueError, match="time sampling"):
        flow.sample_time(4, torch.Generator(), "beta")
