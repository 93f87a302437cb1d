"""A small class predictor for the image sets: an MLP whose last hidden layer is the
feature space of the quality measures (Fréchet distance, class histogram).

Shapes: ``x`` (B, *shape) in the data range [-1, 1] -> ``features`` (B, F), logits (B, C).
Its weights live in one safetensors file whose metadata rebuilds it (``from_state``).
"""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """(B, D) -> hidden[0] -> ... -> hidden[-1] (the features) -> classes, ReLU between."""

    def __init__(self, dim: int, hidden: tuple[int, ...] = (128, 64), classes: int = 10):
        super().__init__()
        sizes = (dim, *hidden)
        self.body = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())])
        self.head = nn.Linear(sizes[-1], classes)
        self.dim, self.hidden, self.classes = dim, tuple(hidden), classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(len(x), -1).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def metadata(self) -> dict[str, str]:
        """What ``from_state`` needs, as safetensors string metadata."""
        return {"dim": str(self.dim), "hidden": ",".join(map(str, self.hidden)), "classes": str(self.classes)}


def from_state(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Classifier:
    """A classifier rebuilt from its file's tensors and metadata (float32, eval mode)."""
    net = Classifier(int(metadata["dim"]), tuple(int(h) for h in metadata["hidden"].split(",")),
                     int(metadata["classes"]))
    net.load_state_dict({k: v.float() for k, v in tensors.items()})
    return net.eval()
