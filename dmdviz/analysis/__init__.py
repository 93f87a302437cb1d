"""Analyses of teacher/student pairs on shared seeds (SPEC §4, §5).

    samples  -- Samples, sample_pair, seed_trajectory: Φ_K and G on the same z_i, once
                (any ``dmdviz.models`` protocol pair; ``fill_cache``: one torchrun rank's share)
    cache    -- SampleCache: every sampled set on disk, keyed by model identity, reused
    pairing  -- PairAnalysis: cached costs / OT / distances, every metric, figure arrays
    bootstrap -- intervals over seeds (resampled seeds, the assignment re-solved)
    series   -- students of teacher snapshots: DM-loss curves, copying vs teacher length
    study    -- study(): the full analysis of a pair; analyze(): its JSON summary
    compare  -- two students of one teacher in one frame (same seeds, same PCA basis)
"""

from dmdviz.analysis.compare import check_shared, check_sibling, compare_metrics, compare_pca, resolved_folder
from dmdviz.analysis.pairing import BOUNDARY_SUBSET, MEMORIZED, PairAnalysis, train_subset
from dmdviz.analysis.samples import (Samples, Trajectory, check_pair, fill_cache, sample_pair,
                                     seed_trajectory, with_student)
from dmdviz.analysis.series import (dm_loss_curve, dm_loss_curves, teacher_length_series, teacher_of, teacher_step,
                                    variant)
from dmdviz.analysis.study import Study, analyze, checkpoint_of, load_dataset, name, study
from dmdviz.config import recorded_teacher  # defined with the checkpoint config; kept here for older imports
from dmdviz.limits import MAX_SEEDS  # the bound of n, checked where a request enters


def pair_metrics(s: Samples, k: int) -> dict:
    """SPEC §4 pairing metrics of G against Φ_K, with the Φ_1 baseline as ``*_init``."""
    return PairAnalysis(s, k).pairing


__all__ = ["BOUNDARY_SUBSET", "MAX_SEEDS", "MEMORIZED", "PairAnalysis", "Samples", "Study", "Trajectory",
           "analyze", "check_pair", "checkpoint_of", "check_shared", "check_sibling", "compare_metrics", "compare_pca",
           "dm_loss_curve", "dm_loss_curves", "fill_cache", "load_dataset", "name", "pair_metrics", "recorded_teacher",
           "resolved_folder",
           "sample_pair", "seed_trajectory", "study", "teacher_length_series", "teacher_of", "teacher_step",
           "train_subset", "variant", "with_student"]
