"""The freedom test's student (dmd.ExtraNoise) and its read-out (analysis.freedom)."""

import copy
import math
from dataclasses import replace

import pytest
import torch

from dmdviz import checkpoint
from dmdviz.analysis.freedom import extra_noise_use
from dmdviz.config import NetConfig, get_preset
from dmdviz.core import dmd, flow
from dmdviz.core.nets import build_net
from dmdviz.errors import DmdvizError
from dmdviz.files import read_metrics
from dmdviz.training import distill
from dmdviz.training.runtime import Runtime


def _teacher():
    torch.manual_seed(0)
    net = build_net(NetConfig(kind="mlp", shape=(6,), hidden=16, depth=2))
    for p in net.parameters():  # leave the zero-initialised output layer behind
        torch.nn.init.normal_(p, std=0.3)
    return net


def test_keyed_noise_is_per_row_reproducible_and_standard_normal():
    z = torch.randn(4000, 6)
    a = dmd.keyed_noise(z)
    assert torch.equal(a[10:20], dmd.keyed_noise(z[10:20]))  # a row's z' does not depend on the batch
    assert not torch.equal(a, dmd.keyed_noise(z, salt=1))
    assert abs(float(a.mean())) < 0.03 and abs(float(a.std()) - 1) < 0.03
    # no linear trace of z in z' (a hash, not a function a network could invert)
    corr = torch.corrcoef(torch.cat([z, a], 1).T)[:6, 6:]
    assert float(corr.abs().max()) < 0.06


def test_closed_extra_input_is_the_plain_student_and_an_open_one_moves_g():
    teacher = _teacher()
    z = torch.randn(32, 6)
    closed = dmd.StudentNet(copy.deepcopy(teacher), extra=dmd.ExtraNoise(6, 16, scale=0.0, w_std=0.3))
    assert torch.equal(closed(z), flow.euler(teacher, z, 1))
    # W' = 0: z' moves nothing, and changing z with z' held is exactly changing the seed
    assert extra_noise_use(closed, n=50) == {"extra_sensitivity": 0.0, "z_sensitivity": 1.0,
                                             "extra_weight_ratio": 0.0}
    w_std = float(teacher.inp.weight.detach().std())
    opened = dmd.StudentNet(copy.deepcopy(teacher), extra=dmd.ExtraNoise(6, 16, scale=1.0, w_std=w_std))
    use = extra_noise_use(opened, n=200)
    assert use["extra_weight_ratio"] == pytest.approx(1.0, abs=0.25)  # W' drawn at W's entry scale
    assert use["extra_sensitivity"] > 0.2
    assert not torch.equal(opened(z), opened(z, extra=dmd.keyed_noise(z, salt=1)))


def test_extra_noise_student_trains_saves_and_reloads(tmp_path, tiny_pair):
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    cfg = replace(get_preset("chessboard4d").distill, steps=2, batch=8, probe_every=2, probe_n=8,
                  extra_noise=True, extra_noise_scale=1.0)
    distill(teacher, cfg, tmp_path / "s", rt=Runtime.create("cpu"))
    assert read_metrics(tmp_path / "s")[0]["copy_ratio"] != pytest.approx(1.0)  # z' moved G off Φ_1 at step 0
    student = checkpoint.load_checkpoint(str(tmp_path / "s"))
    z = torch.randn(5, *teacher.net.shape)
    again = checkpoint.load_checkpoint(str(tmp_path / "s"))
    assert torch.equal(student.model(z), again.model(z))
    # W' starts at the per-entry std of W, so ||W'|| / ||W|| = sqrt(D / W's input width) (W sees
    # the Fourier features of z where the preset uses them; two steps barely move either)
    d, width = math.prod(teacher.net.shape), student.model.net.inp.weight.shape[1]
    ratio = extra_noise_use(student.model, n=20)["extra_weight_ratio"]
    assert ratio == pytest.approx(math.sqrt(d / width), rel=0.25)


def test_extra_noise_refuses_a_negative_scale_and_a_student_without_it(tmp_path, tiny_pair):
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    with pytest.raises(DmdvizError, match="extra_noise_scale"):
        distill(teacher, replace(get_preset("chessboard4d").distill, steps=1, extra_noise=True,
                                 extra_noise_scale=-1.0), tmp_path / "s", rt=Runtime.create("cpu"))
    with pytest.raises(DmdvizError, match="no extra noise"):
        extra_noise_use(dmd.StudentNet(_teacher()))
