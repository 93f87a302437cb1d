"""How much a student with a second noise input uses it (the freedom test, README).

A student with ``dmd.ExtraNoise`` computes G(z, z'), z' noise the teacher never sees. Two
numbers say whether it took the freedom:

- ``extra_sensitivity``: median_i ||G(z_i, z'_i) - G(z_i, z''_i)|| over the median distance
  between two seeds' samples, median_{i != j} ||G(z_i, z'_i) - G(z_j, z'_j)||, with z', z''
  two independent draws. 0: G ignores z' (a function of z alone); about 1: z' moves a
  sample as far as changing the seed does.
- ``extra_weight_ratio``: ||W'||_F / ||W||_F, the first layer's weights on z' against
  those on z.
"""

from __future__ import annotations

import torch

from dmdviz.core import dmd, noise
from dmdviz.errors import DmdvizError


def has_extra_noise(model) -> bool:
    return isinstance(model, dmd.Student) and model.extra is not None


@torch.no_grad()
def extra_noise_use(student: dmd.Student, n: int = 1000, seed: int = 0) -> dict:
    """``extra_sensitivity`` and ``extra_weight_ratio`` of a student with extra noise on the
    shared seeds z_0 .. z_{n-1}; a DmdvizError for a student without it."""
    if not has_extra_noise(student):
        raise DmdvizError("this student has no extra noise input")
    if n < 3:
        raise DmdvizError(f"need at least 3 seeds, got {n}")
    param = next(student.parameters())
    z, y = noise.seeded(seed, n, tuple(student.net.shape), student.net.cond.label.num_embeddings
                        if student.net.cond.label is not None else 0)
    z = z.to(param.device)
    y = None if y is None else y.to(param.device)
    a = student(z, y).float().reshape(n, -1).cpu()
    b = student(z, y, extra=dmd.keyed_noise(z, salt=1)).float().reshape(n, -1).cpu()
    same_seed = (a - b).norm(dim=1).median()
    other = (a - a.roll(1, dims=0)).norm(dim=1).median()  # pairs (i, i - 1): distinct seeds
    w_extra = student.extra.proj.weight.float().norm()
    w_z = student.net.inp.weight.float().norm()
    return {"extra_sensitivity": float(same_seed / other), "extra_weight_ratio": float(w_extra / w_z)}
