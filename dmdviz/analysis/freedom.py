"""How much a student with a second noise input uses it (the freedom test, README).

A student with ``dmd.ExtraNoise`` computes G(z, z'), z' noise the teacher never sees. Two
numbers say whether it took the freedom:

- ``extra_sensitivity``: median_i ||G(z_i, z'_i) - G(z_i, z''_i)|| over the median distance
  between two seeds' samples, median_{i != j} ||G(z_i, z'_i) - G(z_j, z'_j)||, with z', z''
  two independent draws. 0: G ignores z' (a function of z alone); about 1: z' moves a
  sample as far as changing the seed does.
- ``z_sensitivity``: the same with z' held and z changed, median_i ||G(z_i, z'_i) -
  G(z_{i-1}, z'_i)|| over the same denominator: how much of a sample's identity z still sets.
- ``extra_weight_ratio``: ||W'||_F / ||W||_F, the first layer's weights on z' against
  those on z.

``matched_start`` reads a trained student against its own start G₀(z, z') and the teacher's
Φ_K(z) at every scale (the matched-start freedom test, ``experiments.matched``).
"""

from __future__ import annotations

import torch

from dmdviz.analysis import scales
from dmdviz.core import dmd, flow, metrics, noise
from dmdviz.errors import DmdvizError


def has_extra_noise(model) -> bool:
    return isinstance(model, dmd.StudentNet) and model.extra is not None


@torch.no_grad()
def extra_noise_use(student: dmd.StudentNet, n: int = 1000, seed: int = 0) -> dict:
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
    c = student(z.roll(1, dims=0), y, extra=dmd.keyed_noise(z)).float().reshape(n, -1).cpu()  # z changed, z' held
    same_seed = (a - b).norm(dim=1).median()
    same_extra = (a - c).norm(dim=1).median()
    other = (a - a.roll(1, dims=0)).norm(dim=1).median()  # pairs (i, i - 1): distinct seeds
    w_extra = student.extra.proj.weight.float().norm()
    w_z = student.net.inp.weight.float().norm()
    return {"extra_sensitivity": float(same_seed / other), "z_sensitivity": float(same_extra / other),
            "extra_weight_ratio": float(w_extra / w_z)}


def _curve(targets: torch.Tensor, g: torch.Tensor, other: torch.Tensor) -> dict:
    """``scales.scale_curve`` with ``targets`` as the cells' owners: ``agreement`` is G's,
    ``agreement_init`` that of ``other``."""
    flat = targets.reshape(len(targets), -1).double()
    spread = torch.cdist(flat, flat).numpy()
    d = (g.reshape(len(g), -1).double() - flat).norm(dim=1).numpy()
    return scales.scale_curve(spread, metrics.cost_matrix(targets, g).numpy(),
                              metrics.cost_matrix(targets, other).numpy(), d)


def _short(curve: dict) -> dict:
    """The columns the matched-start table reads (no intervals on chance)."""
    return {key: curve[key] for key in ("k", "agreement", "agreement_ci", "chance", "agreement_init",
                                        "agreement_init_ci", "chance_init") if key in curve}


@torch.no_grad()
def matched_start(teacher, start: dmd.StudentNet, end: dmd.StudentNet, n: int = 1000, k: int = 8, seed: int = 0,
                  cells: scales.Cells | None = None) -> dict:
    """A student ``end`` against its own untrained ``start`` G₀ and the teacher's Φ_K on the
    shared seeds z_0 .. z_{n-1} (``teacher``: a velocity model):

    - ``pairing_start`` / ``pairing_end``: ``metrics.pairing_metrics`` of G₀ / G against Φ_K
      (A_OT, NN agreement, ρ and its chance, each with Φ_1's ``_init`` reading);
    - ``scale_phi``: the agreement curve over k of G (``agreement``) and G₀
      (``agreement_init``) with Φ_K's cells (``scales.scale_curve``);
    - ``scale_start``: G's agreement with G₀'s own cells (``agreement``; ``agreement_init``
      is Φ_K's): does the student keep its start's pairing?
    - ``natural_phi`` / ``natural_start``: the same on the data set's own ``cells``;
    - ``use_start`` / ``use_end``: ``extra_noise_use`` of G₀ and G.
    Returns the samples too (``samples``: Φ_1, Φ_K, G₀, G) for the caller's quality reading."""
    param = next(end.parameters())
    z, _ = noise.seeded(seed, n, tuple(end.net.shape), 0)
    z = z.to(param.device)
    phi_1, phi_k = (flow.euler(teacher, z, steps).float().cpu() for steps in (1, k))
    g0, g = (m(z).float().cpu() for m in (start, end))
    out = {"n": n, "k": k, "seed": seed,
           "pairing_start": metrics.pairing_metrics(phi_1, phi_k, g0),
           "pairing_end": metrics.pairing_metrics(phi_1, phi_k, g),
           "scale_phi": _short(_curve(phi_k, g, g0)), "scale_start": _short(_curve(g0, g, phi_k)),
           "use_start": extra_noise_use(start, n=n, seed=seed), "use_end": extra_noise_use(end, n=n, seed=seed)}
    if cells is not None:
        out["natural_phi"] = _short(scales.natural_curve(cells, phi_k, g, g0))
        out["natural_start"] = _short(scales.natural_curve(cells, g0, g, phi_k))
    out["samples"] = {"phi_1": phi_1, f"phi_{k}": phi_k, "g0": g0, "g": g}
    return out
