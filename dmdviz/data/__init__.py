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

import torch

from dmdviz.config import DataConfig
from dmdviz.data.dataset import Dataset
from dmdviz.data.images import BUNDLED_MNIST, _digits, _imagefolder, _mnist, image_folder, mnist_folder, use_hub
from dmdviz.data.synthetic import _PLANAR, SYNTHETIC_TRAIN, _chess_support, _chessboard, _mlp_manifold, _planar
from dmdviz.errors import DmdvizError

DATASETS = ("chessboard", "moons", "gaussians8", "swissroll", "rings", "mlp-manifold", "digits", "mnist", "imagefolder")


def get_dataset(cfg: DataConfig, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Build the data set a DataConfig names (MNIST: ``mnist_folder(data_dir)``)."""
    if cfg.name == "chessboard":
        if cfg.cells < 1:
            raise DmdvizError(f"cells must be >= 1, got {cfg.cells}")
        return _planar(cfg, lambda n, g: _chessboard(n, g, cfg.cells), _chess_support(cfg.cells))
    if cfg.name in _PLANAR:
        draw, support = _PLANAR[cfg.name]
        return _planar(cfg, draw, support or (lambda p: {"_mask": torch.ones(len(p), dtype=torch.bool)}))
    if cfg.name == "mlp-manifold":
        return _mlp_manifold(cfg)
    if cfg.name == "digits":
        return _digits(cfg)
    if cfg.name == "mnist":
        return _mnist(cfg, data_dir)
    if cfg.name == "imagefolder":
        return _imagefolder(cfg, data_dir)
    raise DmdvizError(f"unknown dataset {cfg.name!r}; choose one of {', '.join(DATASETS)}")


__all__ = ["BUNDLED_MNIST", "DATASETS", "Dataset", "SYNTHETIC_TRAIN", "get_dataset", "image_folder",
           "mnist_folder", "use_hub"]
