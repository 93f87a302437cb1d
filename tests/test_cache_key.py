"""The sample cache's key names how the samples were computed: a set sampled on a GPU (TF32
on or off), on MPS, in half precision or under a lower float32 matmul precision is never
served to a CPU fp32 run. Simulated by key: the "GPU" entries are written through a model
that only says it lives there."""

from __future__ import annotations

import pytest
import torch

from dmdviz.analysis.cache import SampleCache


class Stub:
    identity = "stub/model@0123abcd"
    shape = (3,)

    def __init__(self, device: str = "cpu", dtype=torch.float32):
        self.device, self.dtype = torch.device(device), dtype


def _get(cache: SampleCache, model: Stub, value: float) -> torch.Tensor:
    return cache.get(model, ("phi", 8), 0, 0, 10, False, lambda lo, hi: torch.full((hi - lo, 3), value))


@pytest.mark.parametrize("writer", [Stub("cuda"), Stub("cuda:1"), Stub("mps"), Stub("cpu", torch.bfloat16)])
def test_an_entry_from_another_device_or_dtype_is_not_served_to_a_cpu_fp32_run(tmp_path, writer):
    cache = SampleCache(tmp_path)
    assert torch.equal(_get(cache, writer, 1.0), torch.ones(10, 3))
    assert torch.equal(_get(cache, Stub("cpu"), 2.0), torch.full((10, 3), 2.0))  # computed, not read
    assert cache.computed == 20
    assert torch.equal(_get(cache, writer, 3.0), torch.ones(10, 3)) and cache.computed == 20  # its own key hits


def test_tf32_and_the_matmul_precision_are_part_of_the_key(tmp_path):
    cache = SampleCache(tmp_path)
    was = torch.backends.cuda.matmul.allow_tf32  # a flag object pytest's monkeypatch cannot restore
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        tf32 = cache.folder(Stub("cuda"), ("g",), 0, False)[0]
        torch.backends.cuda.matmul.allow_tf32 = False
        assert cache.folder(Stub("cuda"), ("g",), 0, False)[0] != tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32 = was
    assert cache.folder(Stub("cuda:0"), ("g",), 0, False) == cache.folder(Stub("cuda:3"), ("g",), 0, False)  # ranks share
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        _get(cache, Stub("cpu"), 1.0)
    finally:
        torch.set_float32_matmul_precision(before)
    assert torch.equal(_get(cache, Stub("cpu"), 2.0), torch.full((10, 3), 2.0)) and cache.computed == 20
