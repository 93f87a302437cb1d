"""Point metrics for large N (analysis.large): block by block, equal to the dense ones where
both run; the A_OT approximation says so."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dmdviz.analysis import large
from dmdviz.core import metrics

N = 300
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sets():
    g = torch.Generator().manual_seed(0)
    phi_k = torch.randn(N, 3, 4, generator=g)
    return phi_k + torch.randn(N, 3, 4, generator=g), phi_k, phi_k + 1.2 * torch.randn(N, 3, 4, generator=g)


def test_blocks_give_the_dense_metrics(sets):
    phi_1, phi_k, g = sets
    cost = metrics.cost_matrix(phi_k, g)
    assert large.nn_agreement(phi_k, g, block_entries=7 * N) == metrics.nn_agreement(cost)  # 43 blocks of 7
    assert large.nn_agreement(phi_k, phi_1, block_entries=N) == metrics.nn_agreement(metrics.cost_matrix(phi_k, phi_1))
    m, dense = large.point_metrics(phi_1, phi_k, g), metrics.pairing_metrics(phi_1, phi_k, g)
    for key in ("copy_ratio", "copy_ratio_chance", "nn_agreement", "nn_agreement_init", "ot_agreement"):
        assert m[key] == dense[key], key
    assert m["ot_method"] == "exact" and 0 < m["ot_agreement"] < 1
    from dmdviz.analysis import scales

    flat = phi_k.reshape(N, -1).double()
    curve = scales.scale_curve(torch.cdist(flat, flat).numpy(), cost.numpy(), metrics.cost_matrix(phi_k, phi_1).numpy(),
                               metrics.distances(phi_1, phi_k, g)[1].numpy())
    assert m["scale_curve"] == curve and m["scale_curve"]["n"] == N


def test_slabs_cut_every_seed_once_along_the_first_principal_direction():
    x = torch.randn(N, 2, generator=torch.Generator().manual_seed(1)) * torch.tensor([10.0, 0.1])
    parts = large.slabs(x, 70)
    assert [len(p) for p in parts] == [60] * 5 and np.array_equal(np.sort(np.concatenate(parts)), np.arange(N))
    ends = min(x[parts[0], 0].abs().max(), x[parts[4], 0].abs().max())
    assert x[parts[2], 0].abs().max() < ends  # the middle slab holds the middle of the line


def test_the_approximation_is_named_and_exact_on_separated_clusters():
    """Five clusters far apart along a line, students shuffled within their cluster: no
    optimal match crosses a cluster, so slabs of one cluster each give the exact A_OT."""
    g = torch.Generator().manual_seed(2)
    centres = torch.arange(5.0).repeat_interleave(60)[:, None] * torch.tensor([100.0, 0.0])
    phi_k = centres + torch.randn(N, 2, generator=g)
    stud = phi_k + 0.5 * torch.randn(N, 2, generator=g)
    a_ot, method = large.ot_agreement(phi_k, stud, exact_max=60)
    assert method.startswith("approximate") and "5 slabs" in method
    assert a_ot == metrics.ot_agreement(metrics.cost_matrix(phi_k, stud))


def test_above_the_seed_limit_analyze_refuses_what_it_cannot_bound():
    r = subprocess.run([sys.executable, "-m", "dmdviz", "analyze", "--teacher", "chessboard4d/teacher", "--student",
                        "chessboard4d/student", "--n", "20001", "--html", "x.html"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120, check=False)
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and "point metrics" in r.stderr


def test_the_exact_large_assignment_reads_the_costs_a_block_at_a_time(sets):
    _, phi_k, g = sets
    a_ot, method = large.ot_agreement(phi_k, g, block_entries=5 * N)
    assert method == "exact" and a_ot == metrics.ot_agreement(metrics.cost_matrix(phi_k, g))
