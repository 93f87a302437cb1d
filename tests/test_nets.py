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
