"""Where computation runs: the command line picks CUDA, else MPS, else CPU; the app's device
comes from ``DMDVIZ_DEVICE`` (default cpu) and reaches the one analysis road."""

from __future__ import annotations

import pytest
import torch

from dmdviz.errors import DmdvizError
from dmdviz.training.runtime import pick_device


@pytest.mark.parametrize(("cuda", "mps", "picked"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_prefers_cuda_then_mps(monkeypatch, cuda, mps, picked):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device().type == picked and pick_device("auto").type == picked


def test_an_unavailable_or_unknown_device_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name, needle in [("mps", "MPS was asked for"), ("cuda:1", "CUDA was asked for"), ("gpu0", "unknown device"),
                         ("meta", "unsupported device")]:
        with pytest.raises(DmdvizError, match=needle):
            pick_device(name)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("mps") == torch.device("mps")


def test_the_app_computes_where_dmdviz_device_says(monkeypatch):
    from dmdviz.web.registry import Registry

    monkeypatch.delenv("DMDVIZ_DEVICE", raising=False)
    assert Registry(local=True).analyses.device == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("DMDVIZ_DEVICE", "cuda")
    with pytest.raises(DmdvizError, match="CUDA was asked for"):
        Registry(local=True)
