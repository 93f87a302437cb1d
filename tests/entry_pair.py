"""An entry point for the pair-file tests: a dmdviz checkpoint as a hand-written protocol
object (not the native adapter), as a researcher would wrap their own nn.Module."""

import torch

from dmdviz import checkpoint
from dmdviz.core import flow


class _Own:
    def __init__(self, ref):
        ckpt = checkpoint.load_checkpoint(ref)
        self.net, self.shape, self.n_classes = ckpt.model, tuple(ckpt.net.shape), ckpt.n_classes
        self.identity, self.dtype, self.device = f"entry:{ref}", torch.float32, torch.device("cpu")


class Teacher(_Own):
    def velocity(self, x_t, t, y=None):
        return self.net(x_t, t, y)

    def times(self, k):
        return torch.linspace(0, 1, k + 1, dtype=torch.float64)

    def phi(self, z, k, y=None, trajectory=False):
        return flow.euler(self.velocity, z, k, y, trajectory=trajectory)


class Student(_Own):
    def __call__(self, z, y=None):
        return self.net(z, y)


def teacher(ref):
    return Teacher(ref)


def student(ref):
    return Student(ref)
