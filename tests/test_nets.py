"""Networks: Fourier input features of the MLP (closed form) and their config checks."""

import math

import pytest
import torch

from dmdviz.config import NetConfig
from dmdviz.core.nets import build_net, fourier_features
from dmdviz.errors import DmdvizError


def test_fourier_features_are_x_then_sines_then_cosines_of_octaves():
    x = torch.tensor([[0.5, -1.0]])
    f = fourier_features(x, 3)
    freqs = [math.pi / 2 * 2**k for k in range(3)]
    angles = [c * w for c in (0.5, -1.0) for w in freqs]  # coordinate-major, octave-minor
    expected = [0.5, -1.0] + [math.sin(a) for a in angles] + [math.cos(a) for a in angles]
    assert f.shape == (1, 2 * 7) and torch.allclose(f[0], torch.tensor(expected), atol=1e-6)
    assert fourier_features(x, 0) is x


def test_fourier_mlp_is_a_velocity_net_with_a_wider_input_and_refused_elsewhere():
    net = build_net(NetConfig(kind="mlp", shape=(4,), hidden=32, depth=2, fourier=4))
    assert net.inp.in_features == 4 * 9
    x, t = torch.randn(5, 4), torch.rand(5)
    assert net(x, t).shape == (5, 4) and net.features(x, t).shape == (5, 32)
    with pytest.raises(DmdvizError, match="MLP only"):
        build_net(NetConfig(kind="unet", shape=(1, 8, 8), fourier=2))
    with pytest.raises(DmdvizError, match="between 0 and 16"):
        build_net(NetConfig(kind="mlp", shape=(4,), fourier=-1))


def test_the_unet_samples_in_place_with_the_same_bits_and_still_trains():
    """Without a gradient the UNet's SiLUs and adds write into fresh activations: the same
    output bit for bit as the recorded (training) path, whose gradients still flow."""
    torch.manual_seed(0)
    net = build_net(NetConfig(kind="unet", shape=(1, 8, 8), channels=(8, 16, 16), time_dim=16, n_classes=3))
    torch.nn.init.normal_(net.out.weight)  # the zero-initialised output layer would hide everything
    x, t, y = torch.randn(5, 1, 8, 8), torch.rand(5), torch.tensor([0, 1, 2, 0, 1])
    trained = net(x, t, y)
    trained.square().sum().backward()
    assert net.inp.weight.grad is not None and net.inp.weight.grad.abs().sum() > 0
    with torch.inference_mode():
        sampled = net(x, t, y)
    with torch.no_grad():
        assert torch.equal(net(x, t, y), sampled)
    assert torch.equal(trained.detach(), sampled)
