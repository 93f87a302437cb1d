"""Shared noise is a pure function of (seed, i, shape) (spec §2)."""

import pytest
import torch

from dmdviz.core import noise
from dmdviz.errors import DmdvizError


def test_first_noises_do_not_depend_on_n_or_chunking():
    a, _ = noise.seeded(3, 100, (1, 28, 28))
    b, _ = noise.seeded(3, 2000, (1, 28, 28))
    assert torch.equal(a, b[:100])
    chunks = torch.cat([noise.seeded(3, 7, (1, 28, 28), start=s)[0] for s in range(0, 98, 7)]
                       + [noise.seeded(3, 2, (1, 28, 28), start=98)[0]])
    assert torch.equal(chunks, a)


def test_labels_are_per_sample_and_independent_of_n():
    _, y1 = noise.seeded(5, 50, (4,), n_classes=10)
    _, y2 = noise.seeded(5, 500, (4,), n_classes=10)
    assert torch.equal(y1, y2[:50])
    assert set(y2.tolist()) == set(range(10))
    assert noise.seeded(5, 5, (4,))[1] is None


def test_different_seeds_and_indices_differ_and_are_standard_normal():
    a, _ = noise.seeded(0, 2000, (4,))
    b, _ = noise.seeded(1, 2000, (4,))
    assert not torch.equal(a, b)
    assert abs(float(a.mean())) < 0.05 and abs(float(a.std()) - 1) < 0.05
    assert len({tuple(r.tolist()) for r in a}) == 2000


def test_base_seeds_are_checked_not_wrapped():
    assert noise.check_seed("17") == 17 and noise.check_seed(noise.MAX_SEED) == 2**31 - 1
    for bad in (-1, noise.MAX_SEED + 1, 2**32):  # 2**32 would draw seed 0's noise
        with pytest.raises(DmdvizError, match="base seed must be between 0 and 2147483647"):
            noise.check_seed(bad)
