"""Pairing at every scale: does G(z) land in the same cell as its own target Φ_K(z)?

The Φ_K samples are cut into k cells, k on a log grid from 2 to N: Ward's clustering of
Φ_K (the k-means criterion, merged greedily: deterministic, one tree for every k) cut at
k. A cell is the region of space nearer to its targets than to any other target, so a
sample's cell is that of its nearest Φ_K sample (read from the cost matrices the pairing
metrics already hold: no distance is computed twice). A seed agrees when G(z) falls in the
cell of Φ_K(z); chance is what independent draws from the two sets' cell shares give,
Σ_c p_c q_c. At k = N every target is its own cell and the agreement is NN agreement; at
coarse k it reads copying that a student's error hides from A_OT and NN agreement (the
shipped chessboard4d student lands 11 spacings from its own target: 0.014 at k = N, 0.81 at
k = 8, against chance 0.001 and 0.13). The same is read for the student's start Φ_1.

Where a data set has natural cells they are read too: the chessboard's squares (its 2-D
plane cut into cells × cells squares) and the digit class a small classifier predicts
(``quality.shipped_classifier``).

Intervals (95 %, the cells fixed: grown once on all N targets): Wilson's for an agreement
(a share of seeds), the bootstrap over seeds for chance. Above
``TREE_MAX`` seeds the curve is read on the first ``TREE_MAX`` (Ward's tree holds N² / 2
distances); ``n`` says on how many.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch

from dmdviz.analysis import bootstrap
from dmdviz.config import DataConfig
from dmdviz.core import metrics

TREE_MAX = 4000


class Cells(NamedTuple):
    """A data set's own partition: ``name``, ``count`` cells, ``of(x) -> (N,) long``."""

    name: str
    count: int
    of: Callable[[torch.Tensor], torch.Tensor]


def log_ks(n: int) -> list[int]:
    """2, 4, 8, ... below n, then n itself."""
    ks = [2 ** j for j in range(1, max(n, 2).bit_length()) if 2 ** j < n]
    return ks + [n]


def _read(cells_t: np.ndarray, cells_g: np.ndarray, cells_1: np.ndarray, count: int) -> dict:
    """Agreement and chance of G and of Φ_1 against the target cells, with intervals: an
    agreement is a share of i.i.d. seeds (Wilson's interval, which stays honest at zero
    hits); chance, a product of two resampled marginals, gets the bootstrap's."""
    n = len(cells_t)
    agree, chance = metrics.cell_agreement(cells_t, cells_g, count)
    agree_1, chance_1 = metrics.cell_agreement(cells_t, cells_1, count)
    return {"agreement": agree, "agreement_ci": bootstrap.share_interval(agree, n),
            "chance": chance, "chance_ci": bootstrap.statistic_interval(
                lambda i: metrics.cell_agreement(cells_t[i], cells_g[i], count)[1], n, low=0.0, high=1.0),
            "agreement_init": agree_1, "agreement_init_ci": bootstrap.share_interval(agree_1, n),
            "chance_init": chance_1}


def scale_curve(spread, cost, cost_init, d_student: np.ndarray, ks=None) -> dict:
    """The agreement curve over k (``log_ks(N)`` by default), columns of equal length:
    ``k`` (cells), ``agreement`` (+ ``_ci``), ``chance`` (+ ``_ci``), ``agreement_init``
    (+ ``_ci``), ``chance_init``, ``spacing`` (median distance from a target to the nearest
    target of another cell) and ``resolution`` (median ||G - Φ_K|| / spacing: the cells see
    copying when it is well below 1). ``spread`` (N, N): distances between the Φ_K samples;
    ``cost`` / ``cost_init`` (N, N): squared distances from Φ_K(z_i) to G(z_j) / Φ_1(z_j)."""
    n = min(len(spread), TREE_MAX)
    spread, cost, cost_init = (np.asarray(a)[:n, :n] for a in (spread, cost, cost_init))
    tree = metrics.ward_tree(spread)
    near_g, near_1 = cost.argmin(axis=0), cost_init.argmin(axis=0)  # each sample's nearest target
    rows = []
    for k in log_ks(n) if ks is None else ks:
        cells = metrics.tree_cells(tree, k)
        count = int(cells.max()) + 1
        spacing = metrics.cell_spacing(spread, cells)
        rows.append({"k": count, **_read(cells, cells[near_g], cells[near_1], count), "spacing": spacing,
                     "resolution": float(np.median(d_student[:n])) / spacing})
    out = {key: [r[key] for r in rows] for key in rows[0]}
    return {**out, "n": n, "partition": "Ward's clustering of Φ_K cut at k; a sample's cell is its nearest target's"}


def natural_curve(cells: Cells, phi_k, g, phi_1) -> dict:
    """The reading of ``_read`` on a data set's own cells: ``name``, ``k`` and the columns."""
    labels = (cells.of(x).numpy() for x in (phi_k, g, phi_1))
    return {"name": cells.name, "k": cells.count, **_read(*labels, cells.count)}


def chessboard_cells(cfg: DataConfig) -> Cells:
    """The chessboard's cells × cells squares of [-2, 2]² in its plane (off-board points go
    to the nearest edge square)."""
    from dmdviz.data.synthetic import plane_frame

    frame, size = plane_frame(cfg), 4.0 / cfg.cells

    def of(x: torch.Tensor) -> torch.Tensor:
        p = x.reshape(len(x), -1).float() @ frame
        ij = torch.floor((p + 2.0) / size).clamp(0, cfg.cells - 1).long()
        return ij[:, 0] * cfg.cells + ij[:, 1]

    return Cells(f"chessboard squares ({cfg.cells}×{cfg.cells})", cfg.cells ** 2, of)


def class_cells(classifier) -> Cells:
    """The class a ``core.classifier.Classifier`` predicts."""

    def of(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return classifier(x).argmax(1)

    return Cells("predicted digit class", classifier.classes, of)


def margin(cost, cost_init) -> tuple[dict, dict]:
    """(values, intervals): the median over seeds of nearest wrong target distance / own
    target distance (``metrics.margins``) for G (``margin``) and Φ_1 (``margin_init``),
    each with its bootstrap interval (per-seed ratios against all N targets, resampled)."""
    values, ci = {}, {}
    for key, c in (("margin", cost), ("margin_init", cost_init)):
        r = metrics.margins(c)
        values[key] = float(np.median(r))
        ci[key] = bootstrap.statistic_interval(lambda i, r=r: float(np.median(r[i])), len(r), low=0.0)
    return values, ci
