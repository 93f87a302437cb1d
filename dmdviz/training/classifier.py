"""Train the small class predictor of the quality measures on an image set's training split.

    python -m dmdviz.training.classifier mnist checkpoints/classifiers/mnist.safetensors
    python -m dmdviz.training.classifier digits checkpoints/classifiers/digits.safetensors

The file holds the weights (float16: the shipped ones are ~0.2 MB) and, as metadata, the
shape, the data set, the validation accuracy and this command. Deterministic for a seed on CPU.
"""

from __future__ import annotations

import sys

import torch
from torch.nn import functional as F

from dmdviz import data
from dmdviz.config import DataConfig
from dmdviz.core.classifier import Classifier
from dmdviz.errors import DmdvizError

STEPS, BATCH, LR, NOISE = 3000, 128, 2e-3, 0.1


def train_classifier(dataset: data.Dataset, steps: int = STEPS, seed: int = 0,
                     hidden: tuple[int, ...] = (128, 64)) -> tuple[Classifier, float]:
    """(classifier, validation accuracy) after ``steps`` Adam steps on the first 90 % of
    ``dataset.train`` with its labels (the last 10 % measure the accuracy); inputs get
    N(0, NOISE²) pixel noise so samples a little off the data still read as their digit."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    cut = len(dataset.train) * 9 // 10
    x, y = dataset.train[:cut], dataset.train_labels[:cut]
    net = Classifier(dataset.dim, hidden, int(y.max()) + 1)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        i = torch.randint(len(x), (BATCH,), generator=g)
        xb = x[i] + NOISE * torch.randn(x[i].shape, generator=g)
        loss = F.cross_entropy(net(xb), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(dataset.train[cut:]).argmax(1) == dataset.train_labels[cut:]).float().mean())
    return net, accuracy


def _refuse(line: str) -> None:
    print(line, file=sys.stderr)
    sys.exit(2)


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("mnist", "digits"):
        _refuse("usage: python -m dmdviz.training.classifier mnist|digits OUT.safetensors")
    name, out = args
    try:
        dataset = data.get_dataset(DataConfig(name, n_classes=10))
    except DmdvizError as e:
        _refuse(f"error: {e}")
    net, accuracy = train_classifier(dataset)
    from safetensors.torch import save_file

    meta = {**net.metadata(), "dataset": name, "validation_accuracy": f"{accuracy:.4f}", "steps": str(STEPS),
            "command": f"python -m dmdviz.training.classifier {name} {out}"}
    save_file({k: v.half().contiguous() for k, v in net.state_dict().items()}, out, metadata=meta)
    print(f"{name}: validation accuracy {accuracy:.4f} -> {out}")


if __name__ == "__main__":
    main()
