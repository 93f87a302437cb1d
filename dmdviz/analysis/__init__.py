"""Analyses of teacher/student pairs on shared seeds: loaded models in, metrics and figure
arrays out.

    service   -- Analyses: the one road from a checked pair to its PairAnalysis (every caller)
    samples   -- Samples, sample, trajectory: Φ_K and G on the same z_i, once
                 (``sample_ks``: the K set; ``fill_cache``: one torchrun rank's share)
    cache     -- SampleCache: every sampled set on disk, keyed by model identity, reused
    pairing   -- PairAnalysis: cached costs / OT / distances, every metric, figure arrays
    bootstrap -- intervals over seeds (resampled seeds, the assignment re-solved)
    series    -- (teacher snapshot, student) pairs: DM-loss curves, copying vs teacher length
    study     -- study(): the full analysis of a pair; analyze(): its JSON summary;
                 scale_curve(): the copying-at-every-scale curve with the data set's own cells
    scales    -- agreement of G's cell with its target's at k = 2 .. N cells, the margin
    quality   -- Fréchet distances in PCA-50 and classifier features, class histograms
    compare   -- two students of one teacher in one frame (same seeds, same PCA basis)
    freedom   -- the extra-noise student's use of its second input
    verdict   -- the one-line verdict of a pair (copies / partly / at coarse scale / remaps),
                 the meaning of each metric

Rule: takes loaded models (``models.Pair``, checkpoints), never a reference string; no
plotly, no gradio, no training; imports models/, checkpoint/, data/, core/ and the base.
"""

from dmdviz.analysis.compare import check_shared, check_sibling, compare_metrics, compare_pca
from dmdviz.analysis.pairing import BOUNDARY_SUBSET, MEMORIZED, PairAnalysis, train_subset
from dmdviz.analysis.samples import (
    DRILL_KS,
    Samples,
    Trajectory,
    sample,
    sample_ks,
    sample_pair,
    seed_trajectory,
    trajectory,
    with_student,
)
from dmdviz.analysis.series import dm_loss_curve, dm_loss_curves, teacher_length_series, teacher_step, variant
from dmdviz.analysis.service import Analyses
from dmdviz.analysis.study import (
    Study,
    analyze,
    checkpoint_of,
    classifier_for,
    load_dataset,
    name,
    natural_cells,
    scale_curve,
    study,
)

__all__ = [
    "BOUNDARY_SUBSET",
    "DRILL_KS",
    "MEMORIZED",
    "Analyses",
    "PairAnalysis",
    "Samples",
    "Study",
    "Trajectory",
    "analyze",
    "check_shared",
    "check_sibling",
    "checkpoint_of",
    "classifier_for",
    "compare_metrics",
    "compare_pca",
    "dm_loss_curve",
    "dm_loss_curves",
    "load_dataset",
    "name",
    "natural_cells",
    "sample",
    "sample_ks",
    "sample_pair",
    "scale_curve",
    "seed_trajectory",
    "study",
    "teacher_length_series",
    "teacher_step",
    "train_subset",
    "trajectory",
    "variant",
    "with_student",
]
