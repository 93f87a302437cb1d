"""Data sets (SPEC §6): real MNIST from its IDX folder, offline digits, planar sets in R^D."""

import pytest
import torch

from dmdviz.config import DataConfig, get_preset
from dmdviz.data import get_dataset
from dmdviz.errors import DmdvizError


def test_mnist_reads_the_real_test_split(mnist_dir):
    ds = get_dataset(DataConfig("mnist", n_classes=10), mnist_dir)
    assert ds.shape == (1, 28, 28) and len(ds.train) + len(ds.heldout) == 10_000
    assert float(ds.train.min()) == -1.0 and float(ds.train.max()) == 1.0
    x, y = ds.sample(32, torch.Generator().manual_seed(0))
    assert x.shape == (32, 1, 28, 28) and y.shape == (32,) and int(y.max()) < 10
    assert torch.bincount(ds.train_labels, minlength=10).min() > 700


def test_missing_mnist_folder_is_one_clear_line(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("DMDVIZ_DATA_DIR", raising=False)
    with pytest.raises(DmdvizError, match="MNIST not found") as e:
        get_dataset(DataConfig("mnist"), tmp_path / "nowhere")
    assert "\n" not in str(e.value)


def test_digits_are_offline_and_scaled():
    ds = get_dataset(DataConfig("digits"))
    assert ds.shape == (1, 8, 8) and len(ds.train) + len(ds.heldout) == 1797
    assert float(ds.train.min()) == -1.0 and float(ds.train.max()) == 1.0


@pytest.mark.parametrize("embed", ["first", "random"])
def test_chessboard_in_rd_lies_on_black_squares_of_a_plane(embed):
    ds = get_dataset(DataConfig("chessboard", dim=8, embed=embed, cells=4))
    x, _ = ds.sample(4000, torch.Generator().manual_seed(0))
    assert x.shape == (4000, 8)
    assert ds.support(x)["on_support"] == 1.0
    if embed == "first":
        assert torch.all(x[:, 2:] == 0)
    noise = torch.randn(4000, 8)
    assert ds.support(noise)["on_support"] < 0.05


@pytest.mark.parametrize("name", ["moons", "gaussians8", "swissroll", "rings"])
def test_planar_sets_have_unit_scale(name):
    ds = get_dataset(DataConfig(name, dim=2))
    assert 0.5 < float(ds.train.std()) < 1.6 and ds.train.shape == (10_000, 2)


def test_mlp_manifold_is_conditional_and_deterministic():
    cfg = DataConfig("mlp-manifold", dim=32, n_classes=5)
    a, b = get_dataset(cfg), get_dataset(cfg)
    assert torch.equal(a.train, b.train) and a.n_classes == 5 and a.train_labels is not None
    x, y = a.sample(100, torch.Generator().manual_seed(0))
    assert x.shape == (100, 32) and set(y.tolist()) <= set(range(5))


def test_unknown_names_are_refused():
    with pytest.raises(DmdvizError, match="unknown preset"):
        get_preset("nope")
    with pytest.raises(DmdvizError, match="unknown dataset"):
        get_dataset(DataConfig("nope"))
