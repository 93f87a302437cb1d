"""Data sets (SPEC §6): ``get_dataset(DataConfig) -> Dataset``.

Every data set answers ``sample(n, generator) -> (x, y)`` (``y`` is None when it is
unconditional), has a finite ``train`` reference set (the real images, or a fixed seeded
draw of 10,000 points for synthetic sets) used by memorization and boundary analysis, a
disjoint ``heldout`` set for sample quality, and an optional ``support(x)`` test.

Choices the SPEC leaves open, written down here:
- 2-D sets live in [-2, 2]^2 (unit-ish variance, matched to N(0, I) noise) and are embedded
  in R^D by the first two coordinates or by a seeded random orthonormal 2-frame.
- Finite image sets keep 10 % of their images (a seeded split) as the held-out set.
- Images are scaled to [-1, 1] and kept as C x H x W.
- ``imagefolder`` (the generic loader behind the ImageNet64 preset) reads class subfolders
  of images (classes in sorted name order) or .npz batches (``data``, ``labels``; labels of
  any values are mapped to 0 .. C-1 in sorted order); .npz files are never unpickled.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dmdviz.config import DataConfig
from dmdviz.errors import DmdvizError

SYNTHETIC_TRAIN = 10_000
MNIST_HUB_REPO = os.environ.get("DMDVIZ_MNIST_REPO", "ylecun/mnist")


@dataclass
class Dataset:
    name: str
    shape: tuple[int, ...]
    n_classes: int
    sampler: Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor | None]]
    train: torch.Tensor
    train_labels: torch.Tensor | None
    heldout: torch.Tensor
    support: Callable[[torch.Tensor], dict] | None = None
    source: str = "synthetic"

    def sample(self, n: int, generator: torch.Generator):
        """(x, y): x (n, *shape) float32; y (n,) long or None."""
        return self.sampler(n, generator)

    @property
    def dim(self) -> int:
        return math.prod(self.shape)


# --------------------------------------------------------------------------- 2-D sets


def _chessboard(n: int, g: torch.Generator, cells: int) -> torch.Tensor:
    """Uniform on the black cells ((i + j) even) of a cells x cells board on [-2, 2]^2."""
    out, have = [], 0
    while have < n:  # rejection: at least ~half of the square is black
        p = torch.rand(2 * n + 16, 2, generator=g) * 4.0 - 2.0
        p = p[_on_black(p, cells)]
        out.append(p)
        have += len(p)
    return torch.cat(out)[:n]


def _on_black(p: torch.Tensor, cells: int) -> torch.Tensor:
    size = 4.0 / cells
    inside = (p.abs() <= 2.0).all(1)
    ij = torch.floor((p + 2.0) / size).clamp(0, cells - 1).long()
    return inside & (ij.sum(1) % 2 == 0)


def _moons(n: int, g: torch.Generator) -> torch.Tensor:
    upper = torch.rand(n, generator=g) < 0.5
    t = torch.rand(n, generator=g) * math.pi
    a = torch.stack([torch.cos(t), torch.sin(t)], 1)
    b = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    p = torch.where(upper[:, None], a, b) + 0.05 * torch.randn(n, 2, generator=g)
    return (p - torch.tensor([0.5, 0.25])) * 1.6


def _arc_distance(q: torch.Tensor, center: tuple[float, float], sign: float) -> torch.Tensor:
    """Distance to the unit half circle around ``center`` on the side sign * y >= 0."""
    r = q - torch.tensor(center)
    on_side = sign * r[:, 1] >= 0
    radial = (r.norm(dim=1) - 1).abs()
    ends = torch.minimum((r - torch.tensor([1.0, 0.0])).norm(dim=1), (r + torch.tensor([1.0, 0.0])).norm(dim=1))
    return torch.where(on_side, radial, ends)


def _moons_distance(p: torch.Tensor) -> torch.Tensor:
    q = p / 1.6 + torch.tensor([0.5, 0.25])
    return torch.minimum(_arc_distance(q, (0.0, 0.0), 1.0), _arc_distance(q, (1.0, 0.5), -1.0)) * 1.6


def _gaussians8(n: int, g: torch.Generator) -> torch.Tensor:
    k = torch.randint(8, (n,), generator=g).float() * (2 * math.pi / 8)
    centers = 1.6 * torch.stack([torch.cos(k), torch.sin(k)], 1)
    return centers + 0.15 * torch.randn(n, 2, generator=g)


def _swissroll(n: int, g: torch.Generator) -> torch.Tensor:
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    p = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 7.0
    return p + 0.03 * torch.randn(n, 2, generator=g)


def _rings(n: int, g: torch.Generator) -> torch.Tensor:
    r = 0.6 * (1 + torch.randint(3, (n,), generator=g).float())
    a = torch.rand(n, generator=g) * 2 * math.pi
    return r[:, None] * torch.stack([torch.cos(a), torch.sin(a)], 1) + 0.04 * torch.randn(
        n, 2, generator=g
    )


def _frame(cfg: DataConfig) -> torch.Tensor:
    """(D, 2) orthonormal columns: the first two axes, or a seeded random frame."""
    if cfg.dim < 2:
        raise DmdvizError(f"dim must be >= 2 for {cfg.name}, got {cfg.dim}")
    if cfg.embed == "first":
        return torch.eye(cfg.dim)[:, :2]
    if cfg.embed == "random":
        g = torch.Generator().manual_seed(cfg.seed + 7919)
        q, _ = torch.linalg.qr(torch.randn(cfg.dim, 2, generator=g, dtype=torch.float64))
        return q.float()
    raise DmdvizError(f"embed must be 'first' or 'random', got {cfg.embed!r}")


def _planar(cfg: DataConfig, draw2d, support2d) -> Dataset:
    q = _frame(cfg)

    def sampler(n, g):
        return draw2d(n, g) @ q.T, None

    def support(x: torch.Tensor) -> dict:
        x = x.reshape(len(x), -1).float()
        p = x @ q
        off = (x - p @ q.T).norm(dim=1)
        out = support2d(p)
        out["off_plane_median"] = float(off.median())
        out["on_support"] = float(((out.pop("_mask")) & (off < 0.1)).float().mean())
        return out

    return _finish(cfg.name, (cfg.dim,), 0, sampler, cfg.seed, support)


def _chess_support(cells):
    def f(p):
        return {"_mask": _on_black(p, cells)}

    return f


def _moons_support(p):
    d = _moons_distance(p)
    return {"_mask": d < 0.25, "arc_distance_median": float(d.median())}


_PLANAR = {
    "moons": (_moons, _moons_support),
    "gaussians8": (_gaussians8, None),
    "swissroll": (_swissroll, None),
    "rings": (_rings, None),
}


# --------------------------------------------------------------------------- mlp-manifold


def _mlp_manifold(cfg: DataConfig) -> Dataset:
    """Latent u ~ N(0, I_l) plus a class offset, through a fixed seeded random MLP to R^D.

    The map is tanh(W1 h + b1) -> W2 (width 128), standardised per coordinate on a fixed
    draw so the data has unit scale. Unconditional when ``n_classes == 0``.
    """
    g = torch.Generator().manual_seed(cfg.seed + 104729)
    lat, k = cfg.latent_dim, max(cfg.n_classes, 1)
    offsets = 2.5 * torch.randn(k, lat, generator=g)
    w1 = torch.randn(lat, 128, generator=g) / math.sqrt(lat)
    b1 = 0.5 * torch.randn(128, generator=g)
    w2 = torch.randn(128, cfg.dim, generator=g) / math.sqrt(128)

    def raw(n, gen):
        y = torch.randint(k, (n,), generator=gen)
        h = torch.randn(n, lat, generator=gen) + offsets[y]
        return torch.tanh(h @ w1 + b1) @ w2, y

    ref, _ = raw(20_000, torch.Generator().manual_seed(cfg.seed + 1))
    mu, sd = ref.mean(0), ref.std(0) + 1e-6

    def sampler(n, gen):
        x, y = raw(n, gen)
        return (x - mu) / sd, (y if cfg.n_classes > 0 else None)

    return _finish("mlp-manifold", (cfg.dim,), cfg.n_classes, sampler, cfg.seed)


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


BUNDLED_MNIST = Path(__file__).resolve().parent.parent / "data" / "mnist"  # the test split shipped in the repo


def mnist_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """The IDX folder: --data-dir, else $DMDVIZ_DATA_DIR (either one, when given, must hold
    the IDX files), else the repo's ``data/mnist`` (the 10,000-image test split), else the
    Hub dataset's cache."""
    given = data_dir or os.environ.get("DMDVIZ_DATA_DIR")
    if given:
        p = Path(given).expanduser()
        if _find_idx(p, "images") and _find_idx(p, "labels"):
            return p
        raise DmdvizError(f"MNIST not found in {p}: it needs the IDX files (t10k-images-idx3-ubyte[.gz] "
                          "and t10k-labels-idx1-ubyte[.gz], or the train-* ones)")
    if _find_idx(BUNDLED_MNIST, "images") and _find_idx(BUNDLED_MNIST, "labels"):
        return BUNDLED_MNIST
    tried = [str(BUNDLED_MNIST)]
    try:
        from huggingface_hub import snapshot_download

        p = Path(snapshot_download(MNIST_HUB_REPO, repo_type="dataset", allow_patterns=["*idx*"]))
        if _find_idx(p, "images") and _find_idx(p, "labels"):
            return p
        tried.append(f"hub:{MNIST_HUB_REPO} (no IDX files)")
    except Exception as e:  # any Hub failure means "not available here"
        tried.append(f"hub:{MNIST_HUB_REPO} ({type(e).__name__})")
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


# --------------------------------------------------------------------------- registry


def _finish(name, shape, n_classes, sampler, seed, support=None) -> Dataset:
    train, train_y = sampler(SYNTHETIC_TRAIN, torch.Generator().manual_seed(seed + 2))
    heldout, _ = sampler(2000, torch.Generator().manual_seed(seed + 3))
    return Dataset(name, shape, n_classes, sampler, train, train_y, heldout, support)


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
