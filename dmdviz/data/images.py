"""Image data sets (spec §6): scikit-learn's digits, MNIST (IDX files) and ``imagefolder``.

Finite image sets keep 10 % of their images (a seeded split) as the held-out set. Images
are scaled to [-1, 1] and kept as C x H x W. ``imagefolder`` (the generic loader behind
the ImageNet64 preset) reads class subfolders of images (classes in sorted name order) or
.npz batches (``data``, ``labels``; labels of any values are mapped to 0 .. C-1 in sorted
order); .npz files are never unpickled.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
from pathlib import Path

import numpy as np
import torch

from dmdviz.config import DataConfig
from dmdviz.data.dataset import Dataset
from dmdviz.errors import DmdvizError


def mnist_hub_repo() -> str:
    """The Hub data set MNIST is fetched from when no folder has it: ``$DMDVIZ_MNIST_REPO``."""
    return os.environ.get("DMDVIZ_MNIST_REPO", "ylecun/mnist")


# --------------------------------------------------------------------------- images


def _finite(name, images: torch.Tensor, labels: torch.Tensor, n_classes: int, seed: int, source: str):
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed + 31))
    n_hold = len(images) // 10
    hold, keep = perm[:n_hold], perm[n_hold:]
    train, train_y = images[keep].contiguous(), labels[keep].contiguous()

    def sampler(n, g):
        i = torch.randint(len(train), (n,), generator=g)
        return train[i], (train_y[i] if n_classes > 0 else None)

    return Dataset(name, tuple(images.shape[1:]), n_classes, sampler, train,
                   train_y if n_classes > 0 else None, images[hold].contiguous(), None, source)


def _digits(cfg: DataConfig) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 8.0 - 1.0
    y = torch.tensor(d.target, dtype=torch.long)
    return _finite("digits", x, y, cfg.n_classes, cfg.seed, "sklearn load_digits (1,797 images)")


def _read_idx(path: Path) -> torch.Tensor:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise DmdvizError(f"{path} is not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    if len(body) != math.prod(dims):
        raise DmdvizError(f"{path} is truncated ({len(body)} of {math.prod(dims)} bytes)")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def _find_idx(folder: Path, kind: str) -> Path | None:
    for split in ("train", "t10k"):
        for suffix in ("", ".gz"):
            p = folder / f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte{suffix}"
            if p.exists():
                return p
    return None


def _check_md5(folder: Path, files: list[Path]) -> None:
    sums = folder / "MD5SUMS"
    if not sums.exists():
        return
    expected = dict(reversed(line.split()[:2]) for line in sums.read_text().splitlines() if line.strip())
    for p in files:
        want = expected.get(p.name)
        if want and hashlib.md5(p.read_bytes()).hexdigest() != want:
            raise DmdvizError(f"{p} does not match its MD5SUMS entry (corrupt download?)")


BUNDLED_MNIST = Path(__file__).resolve().parents[2] / "data" / "mnist"  # the test split shipped in the repo
_HUB: list = []  # the Hub fetcher an edge gave (``use_hub``)


def use_hub(fetch) -> None:
    """Give the MNIST fallback its way to the Hub: ``fetch(repo, patterns) -> folder`` of a
    dataset repo. The command line, the app and the background workers pass
    ``checkpoint.fetch_dataset`` (planned and bounded; this layer may not import it); without
    one, a missing MNIST is not looked for on the Hub."""
    _HUB[:] = [fetch]


def mnist_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """The IDX folder: --data-dir, else $DMDVIZ_DATA_DIR (either one, when given, must hold
    the IDX files), else the repo's ``data/mnist`` (the 10,000-image test split), else the
    Hub dataset (``use_hub``)."""
    given = data_dir or os.environ.get("DMDVIZ_DATA_DIR")
    if given:
        p = Path(given).expanduser()
        if _find_idx(p, "images") and _find_idx(p, "labels"):
            return p
        raise DmdvizError(f"MNIST not found in {p}: it needs the IDX files (t10k-images-idx3-ubyte[.gz] "
                          "and t10k-labels-idx1-ubyte[.gz], or the train-* ones)")
    if _find_idx(BUNDLED_MNIST, "images") and _find_idx(BUNDLED_MNIST, "labels"):
        return BUNDLED_MNIST
    tried, repo = [str(BUNDLED_MNIST)], mnist_hub_repo()
    if not _HUB:
        tried.append(f"hub:{repo} (no Hub access given here)")
    else:
        try:
            p = Path(_HUB[0](repo, ["*idx*"]))
            if _find_idx(p, "images") and _find_idx(p, "labels"):
                return p
            tried.append(f"hub:{repo} (no IDX files)")
        except DmdvizError as e:  # any Hub failure means "not available here"
            tried.append(f"hub:{repo} ({str(e).removeprefix(repo + ': ')[:160]})")
    raise DmdvizError(
        "MNIST not found: pass --data-dir or set DMDVIZ_DATA_DIR to a folder with the IDX files "
        f"(tried {'; '.join(tried)})"
    )


def _mnist(cfg: DataConfig, data_dir) -> Dataset:
    folder = mnist_folder(data_dir)
    img_p, lab_p = _find_idx(folder, "images"), _find_idx(folder, "labels")
    _check_md5(folder, [img_p, lab_p])
    images = _read_idx(img_p).float()[:, None] / 127.5 - 1.0
    labels = _read_idx(lab_p).long()
    if len(images) != len(labels):
        raise DmdvizError(f"MNIST images ({len(images)}) and labels ({len(labels)}) differ in count")
    return _finite("mnist", images, labels, cfg.n_classes, cfg.seed, f"{img_p.name} ({len(images)} images)")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def image_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """The image source: --data-dir, else $DMDVIZ_DATA_DIR (a folder, or one .npz file)."""
    cand = data_dir or os.environ.get("DMDVIZ_DATA_DIR")
    if not cand:
        raise DmdvizError("imagefolder needs its images: pass --data-dir or set DMDVIZ_DATA_DIR to a folder of "
                          "class subfolders of images, or of .npz batches with 'data' and 'labels'")
    p = Path(cand).expanduser()
    if not p.exists():
        raise DmdvizError(f"image folder {p} does not exist")
    return p


def _read_npz(files: list[Path], cfg: DataConfig):
    """uint8 (N, C, H, W) and raw labels from .npz batches (never unpickled). ``data`` is
    (N, C*S*S) in channel planes (the downsampled-ImageNet layout) or (N, S, S, C)."""
    xs, ys = [], []
    for f in files:
        try:
            with np.load(f, allow_pickle=False) as z:
                x, y = z["data"], z["labels"]
        except (KeyError, ValueError, OSError) as e:
            raise DmdvizError(f"{f.name}: not an .npz batch with numeric 'data' and 'labels' ({e})") from None
        if x.ndim == 2:
            side = math.isqrt(x.shape[1] // cfg.channels)
            if cfg.channels * side * side != x.shape[1]:
                raise DmdvizError(f"{f.name}: rows of {x.shape[1]} values are not {cfg.channels} square planes")
            x = x.reshape(len(x), cfg.channels, side, side)
        elif x.ndim == 4 and x.shape[-1] == cfg.channels:
            x = x.transpose(0, 3, 1, 2)
        else:
            raise DmdvizError(f"{f.name}: 'data' of shape {x.shape} is neither (N, C*S*S) "
                              f"nor (N, S, S, {cfg.channels})")
        xs.append(np.ascontiguousarray(x, dtype=np.uint8))
        ys.append(np.asarray(y).reshape(-1))
    return np.concatenate(xs), np.concatenate(ys)


def _read_image_files(folder: Path, cfg: DataConfig):
    """uint8 (N, C, H, W) and labels from class subfolders (sorted names; images directly in
    the folder are one class), each image converted to ``channels`` and resized to ``size``."""
    from PIL import Image, UnidentifiedImageError

    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    groups = list(enumerate(subdirs)) or [(0, folder)]
    mode = {1: "L", 3: "RGB"}.get(cfg.channels)
    if mode is None:
        raise DmdvizError(f"image folders hold 1- or 3-channel images, not {cfg.channels}")
    xs, ys = [], []
    for label, d in groups:
        for f in sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                with Image.open(f) as im:
                    im = im.convert(mode)
                    if cfg.size:
                        im = im.resize((cfg.size, cfg.size), Image.Resampling.BICUBIC)
                    a = np.asarray(im, dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as e:
                raise DmdvizError(f"{f}: not a readable image ({type(e).__name__})") from None
            xs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
            ys.append(label)
    if not xs:
        raise DmdvizError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}) nor .npz batches")
    if len({x.shape for x in xs}) > 1:
        raise DmdvizError(f"{folder}: images of different sizes; set the data set's size to resize them")
    return np.stack(xs), np.array(ys)


def _imagefolder(cfg: DataConfig, data_dir) -> Dataset:
    src = image_folder(data_dir)
    npz = [src] if src.suffix == ".npz" else sorted(src.glob("*.npz")) if src.is_dir() else []
    images, raw = _read_npz(npz, cfg) if npz else _read_image_files(src, cfg)
    if cfg.size and images.shape[-1] != cfg.size:
        raise DmdvizError(f"{src}: images are {images.shape[-1]} pixels wide, the data set expects {cfg.size}")
    classes, labels = np.unique(raw, return_inverse=True)  # any label values -> 0 .. C-1 in sorted order
    if cfg.n_classes and len(classes) > cfg.n_classes:
        raise DmdvizError(f"{src}: {len(classes)} classes, more than the {cfg.n_classes} the network has")
    if cfg.max_images and len(images) > cfg.max_images:
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(images))[: cfg.max_images])
        images, labels = images[keep], labels[keep]
    x = torch.from_numpy(images).float() / 127.5 - 1.0
    y = torch.from_numpy(labels.astype(np.int64))
    return _finite("imagefolder", x, y, cfg.n_classes, cfg.seed,
                   f"{src.name} ({len(x)} images, {len(classes)} classes)")


IMAGE_SETS = ("digits", "mnist", "imagefolder")


def image_dataset(cfg: DataConfig, data_dir: str | os.PathLike | None = None) -> Dataset:
    """The image set ``cfg`` names (one of ``IMAGE_SETS``; MNIST from ``mnist_folder(data_dir)``)."""
    if cfg.name == "digits":
        return _digits(cfg)
    if cfg.name == "mnist":
        return _mnist(cfg, data_dir)
    if cfg.name == "imagefolder":
        return _imagefolder(cfg, data_dir)
    raise DmdvizError(f"{cfg.name!r} is not an image data set ({', '.join(IMAGE_SETS)})")
