"""DMD pieces (spec §3): G = Φ_1 at step 0, a zero gradient when critic = teacher."""

import copy

import torch

from dmdviz.config import NetConfig
from dmdviz.core import dmd, flow
from dmdviz.core.nets import build_net


def _net(kind="mlp"):
    torch.manual_seed(0)
    cfg = NetConfig(kind="mlp", shape=(4,), hidden=32, depth=2) if kind == "mlp" else \
        NetConfig(kind="unet", shape=(1, 8, 8), channels=(8, 16, 16))
    net = build_net(cfg)
    for p in net.parameters():  # leave the zero-initialised output layer behind
        torch.nn.init.normal_(p, std=0.2)
    return net, cfg


def test_student_initialised_from_teacher_is_one_step_euler():
    for kind in ("mlp", "unet"):
        teacher, cfg = _net(kind)
        student = dmd.StudentNet(copy.deepcopy(teacher))
        z = torch.randn(16, *cfg.shape)
        assert torch.equal(student(z), flow.euler(teacher, z, 1))


def test_dm_gradient_is_zero_when_critic_equals_teacher():
    teacher, cfg = _net()
    x = torch.randn(32, 4, requires_grad=True)
    loss, logs = dmd.dm_loss(x, teacher, copy.deepcopy(teacher), None, 0.02, 0.98, torch.Generator().manual_seed(0))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.count_nonzero(x.grad) == 0
    assert float(logs["dm_numerator"]) == 0.0 and float(logs["dm_normaliser"]) > 0


def test_dm_gradient_is_the_normalised_score_difference():
    teacher, _ = _net()
    critic = copy.deepcopy(teacher)
    with torch.no_grad():
        critic.out[1].bias += 0.1
    x = torch.randn(8, 4, requires_grad=True)
    gen = torch.Generator().manual_seed(4)
    loss, logs = dmd.dm_loss(x, teacher, critic, None, 0.3, 0.3, gen)
    loss.backward()
    gen = torch.Generator().manual_seed(4)
    t = 0.3 + 0.0 * torch.rand(8, generator=gen)
    eps = torch.randn(8, 4, generator=gen)
    x_t = flow.interpolate(eps, x.detach(), t)
    real, fake = flow.x_hat(teacher, x_t, t), flow.x_hat(critic, x_t, t)
    w = (x.detach() - real).abs().mean(1, keepdim=True)
    g = (fake - real) / (w + 1e-6)
    torch.testing.assert_close(x.grad, g / g.numel())
    torch.testing.assert_close(logs["dm_loss"], 0.5 * g.pow(2).mean())


def test_rotation_is_orthogonal_and_changes_the_student_input():
    r = dmd.random_rotation(6, 0)
    torch.testing.assert_close(r @ r.T, torch.eye(6), atol=1e-5, rtol=0)
    teacher, _ = _net()
    z = torch.randn(3, 4)
    s = dmd.StudentNet(copy.deepcopy(teacher), dmd.random_rotation(4, 1))
    assert not torch.allclose(s(z), flow.euler(teacher, z, 1))
