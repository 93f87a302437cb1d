"""The ``Dataset`` every data set is (spec §6): a sampler, a finite train set, a held-out set."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class Dataset:
    name: str
    shape: tuple[int, ...]
    n_classes: int
    sampler: Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor | None]]
    train: torch.Tensor
    train_labels: torch.Tensor | None
    heldout: torch.Tensor
    support: Callable[[torch.Tensor], dict] | None = None
    source: str = "synthetic"

    def sample(self, n: int, generator: torch.Generator):
        """(x, y): x (n, *shape) float32; y (n,) long or None."""
        return self.sampler(n, generator)

    @property
    def dim(self) -> int:
        return math.prod(self.shape)
