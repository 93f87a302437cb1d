"""Data sets (spec §6): ``get_dataset(DataConfig) -> Dataset``.

Every data set answers ``sample(n, generator) -> (x, y)`` (``y`` is None when it is
unconditional), has a finite ``train`` reference set (the real images, or a fixed seeded
draw of 10,000 points for synthetic sets) used by memorization and boundary analysis, a
disjoint ``heldout`` set for sample quality, and an optional ``support(x)`` test.

    dataset    -- Dataset
    synthetic  -- the 2-D sets (chessboard, moons, gaussians8, swissroll, rings) in R^D, mlp-manifold
    images     -- digits, MNIST (IDX, the bundled test split or --data-dir), imagefolder

Rule: tensors and files of data sets only; imports core/ and the base modules.
"""

from __future__ import annotations

import os

from dmdviz.config import DataConfig
from dmdviz.data.dataset import Dataset
from dmdviz.data.images import BUNDLED_MNIST, IMAGE_SETS, image_dataset, image_folder, mnist_folder, use_hub
from dmdviz.data.synthetic import SYNTHETIC, SYNTHETIC_TRAIN, synthetic_dataset
from dmdviz.errors import DmdvizError

DATASETS = (*SYNTHETIC, *IMAGE_SETS)


def get_dataset(cfg: DataConfig, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Build the data set a DataConfig names (MNIST: ``mnist_folder(data_dir)``)."""
    if cfg.name in SYNTHETIC:
        return synthetic_dataset(cfg)
    if cfg.name in IMAGE_SETS:
        return image_dataset(cfg, data_dir)
    raise DmdvizError(f"unknown dataset {cfg.name!r}; choose one of {', '.join(DATASETS)}")


__all__ = ["BUNDLED_MNIST", "DATASETS", "Dataset", "SYNTHETIC_TRAIN", "get_dataset", "image_folder",
           "mnist_folder", "use_hub"]
