"""Data sets (spec §6): real MNIST from its IDX folder, offline digits, planar sets in R^D."""

from dataclasses import replace

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


def test_mnist_defaults_to_the_split_the_repo_ships(mnist_dir, monkeypatch):
    import hashlib

    import huggingface_hub.constants

    from dmdviz.data import mnist_folder

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("DMDVIZ_DATA_DIR", raising=False)
    assert mnist_folder() == mnist_dir.resolve()
    sums = dict(line.split()[::-1] for line in (mnist_dir / "MD5SUMS").read_text().splitlines())
    assert sorted(sums) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert all(hashlib.md5((mnist_dir / name).read_bytes()).hexdigest() == md5 for name, md5 in sums.items())
    ds = get_dataset(DataConfig("mnist", n_classes=10))
    assert len(ds.train) == 9_000 and len(ds.heldout) == 1_000 and "t10k-images" in ds.source


def test_a_corrupt_mnist_copy_is_refused(mnist_dir, tmp_path):
    import shutil

    for p in mnist_dir.iterdir():
        shutil.copyfile(p, tmp_path / p.name)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(labels.read_bytes())
    raw[100] ^= 0xFF
    labels.write_bytes(bytes(raw))
    with pytest.raises(DmdvizError, match="does not match its MD5SUMS entry"):
        get_dataset(DataConfig("mnist"), tmp_path)


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


def _png_classes(root, size=8, per_class=3):
    """Class folders 'cat' and 'ant' (sorted: ant = 0, cat = 1) of solid-colour PNGs."""
    from PIL import Image

    colours = {"ant": (0, 0, 255), "cat": (255, 0, 0)}
    for name, rgb in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (size, size), rgb).save(root / name / f"{i}.png")
    return root


def test_imagefolder_reads_class_folders_of_images(tmp_path):
    root = _png_classes(tmp_path / "imgs", size=12, per_class=10)
    ds = get_dataset(DataConfig("imagefolder", size=8, channels=3, n_classes=2), root)
    assert ds.shape == (3, 8, 8) and len(ds.train) + len(ds.heldout) == 20 and ds.n_classes == 2
    red = ds.train[ds.train_labels == 1]  # "cat" sorts after "ant"
    assert torch.equal(red[:, 0], torch.ones_like(red[:, 0])) and torch.equal(red[:, 2], -torch.ones_like(red[:, 2]))
    x, y = ds.sample(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 3, 8, 8) and set(y.tolist()) <= {0, 1}
    grey = get_dataset(DataConfig("imagefolder", size=8, channels=1, max_images=12), root)
    assert grey.shape == (1, 8, 8) and len(grey.train) + len(grey.heldout) == 12 and grey.train_labels is None


def test_imagefolder_reads_downsampled_imagenet_npz_batches(tmp_path):
    import numpy as np

    n, side = 6, 4
    planes = np.zeros((n, 3, side, side), dtype=np.uint8)
    planes[:, 0] = 255  # red plane first: rows are channel planes, R then G then B
    labels = np.array([1, 5, 5, 1, 3, 3])  # 1-based and sparse, as in the ImageNet batches
    np.savez(tmp_path / "train_data_batch_1.npz", data=planes.reshape(n, -1), labels=labels)
    ds = get_dataset(DataConfig("imagefolder", size=side, channels=3, n_classes=1000), tmp_path)
    images = torch.cat([ds.train, ds.heldout])
    assert images.shape == (6, 3, 4, 4) and bool((images[:, 0] == 1).all()) and bool((images[:, 1:] == -1).all())
    assert set(ds.train_labels.tolist()) <= {0, 1, 2}  # 1, 3, 5 -> 0, 1, 2
    np.savez(tmp_path / "evil.npz", data=np.array([object()], dtype=object), labels=np.array([0]))
    with pytest.raises(DmdvizError, match="evil.npz: not an .npz batch"):
        get_dataset(DataConfig("imagefolder", size=side), tmp_path)


def test_imagefolder_mistakes_are_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("DMDVIZ_DATA_DIR", raising=False)
    with pytest.raises(DmdvizError, match="pass --data-dir"):
        get_dataset(DataConfig("imagefolder"))
    with pytest.raises(DmdvizError, match="does not exist"):
        get_dataset(DataConfig("imagefolder"), tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DmdvizError, match="holds no images"):
        get_dataset(DataConfig("imagefolder"), tmp_path / "empty")
    root = _png_classes(tmp_path / "imgs")
    with pytest.raises(DmdvizError, match="more than the 1 the network has"):
        get_dataset(DataConfig("imagefolder", size=8, n_classes=1), root)
    from PIL import Image

    Image.new("RGB", (5, 5)).save(root / "ant" / "odd.png")
    with pytest.raises(DmdvizError, match="different sizes"):
        get_dataset(DataConfig("imagefolder"), root)
    (root / "ant" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DmdvizError, match="broken.png: not a readable image"):
        get_dataset(DataConfig("imagefolder", size=8), root)


def test_the_imagenet64_preset_trains_a_teacher_and_a_student_on_an_image_folder(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    from dmdviz.checkpoint import load_checkpoint

    for name, rgb in (("n01", (200, 30, 30)), ("n02", (30, 30, 200))):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (80, 70), rgb).save(tmp_path / "imgs" / name / f"{i}.jpg")  # resized to 64 x 64
    env = {**os.environ, "DMDVIZ_THREADS": "1"}
    root = Path(__file__).resolve().parent.parent
    common = ["--data-dir", str(tmp_path / "imgs")]
    for args in (["train-teacher", "--preset", "imagenet64", "--out", str(tmp_path / "t"), "--steps", "2", "--batch", "2",
                  "--max-images", "8"],
                 ["distill", "--teacher", str(tmp_path / "t"), "--out", str(tmp_path / "s"), "--steps", "1", "--batch",
                  "2", "--probe-n", "4", "--probe-every", "1"]):
        done = subprocess.run([sys.executable, "-m", "dmdviz", *args, *common], capture_output=True, text=True,
                              cwd=root, env=env, timeout=600)
        assert done.returncode == 0, done.stderr
    student = load_checkpoint(str(tmp_path / "s"))
    assert student.data.name == "imagefolder" and student.net.shape == (3, 64, 64) and student.n_classes == 1000
    assert student.data.max_images == 8


@pytest.mark.parametrize("name", ["gaussians8", "swissroll", "rings"])
def test_the_fig_7_presets_draw_their_set_and_train(name, tmp_path):
    """Each fig. 7 set has its preset: its data have the set's geometry, and a teacher and a
    student train from it (a few steps) into loadable checkpoints."""
    from dmdviz.checkpoint import load_checkpoint
    from dmdviz.training import distill, train_teacher
    from dmdviz.training.runtime import Runtime

    p = get_preset(name)
    x = get_dataset(p.data).train
    r, angle = x.norm(dim=1), torch.atan2(x[:, 1], x[:, 0])
    if name == "gaussians8":  # eight modes at radius 1.6, one every 45 degrees
        assert (r - 1.6).abs().median() < 0.15
        assert torch.bincount(((angle / (torch.pi / 4)).round() % 8).long(), minlength=8).min() > len(x) / 10
    elif name == "rings":  # three rings of radius 0.6, 1.2 and 1.8
        assert ((r[:, None] - torch.tensor([0.6, 1.2, 1.8])).abs().min(dim=1).values < 0.15).float().mean() > 0.99
    else:  # a spiral: the radius grows with the winding, from 1.5π / 7 to 4.5π / 7
        assert 0.6 < r.min() < 0.75 and 1.9 < r.max() < 2.1
    rt = Runtime.create("cpu")
    train_teacher(p.data, p.net, replace(p.teacher, steps=20, batch=64, log_every=10), tmp_path / "t", rt=rt)
    teacher = load_checkpoint(str(tmp_path / "t"))
    distill(teacher, replace(p.distill, steps=4, batch=16, probe_every=2, probe_n=8), tmp_path / "s", rt=rt)
    assert load_checkpoint(str(tmp_path / "s")).data.name == name
