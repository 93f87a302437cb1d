"""Sample quality of image sets beyond sliced W₂: Fréchet distances in fixed feature spaces
and the class histogram.

Two feature spaces, both fixed by the data, not by the samples measured:
``pca`` -- the first 50 principal axes of the training images (PCA-50), and
``clf`` -- the last hidden layer (64 features) of the small classifier trained here on the
same training split (``training.classifier``; shipped as ``checkpoints/classifiers/<set>.safetensors``).
In each, ``fd_<space>_<set>`` is the Fréchet distance between Gaussians fitted to a sample
set and to the training images; ``fd_<space>_floor`` is the held-out images' own distance
(what a perfect sampler reads at that sample size). ``class_kl_<set>`` is KL(q ‖ p) of the
classes the classifier predicts on the set (q) against those it predicts on the training
images (p); ``class_shares`` lists both histograms. Intervals: bootstrap over seeds (the
set resampled, the training statistics fixed) for the target Φ_K and G.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from dmdviz import settings
from dmdviz.analysis import bootstrap
from dmdviz.core import metrics
from dmdviz.core.classifier import Classifier, from_state

PCA_DIM = 50


def shipped_classifier(dataset_name: str) -> Classifier | None:
    """The classifier trained here on ``dataset_name`` (``mnist``, ``digits``), None when none ships."""
    path = settings.shipped_root() / "classifiers" / f"{dataset_name}.safetensors"
    return _read_classifier(str(path)) if path.is_file() else None


@lru_cache(maxsize=4)
def _read_classifier(path: str) -> Classifier:
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        return from_state({k: f.get_tensor(k) for k in f.keys()}, f.metadata())


def _fd_with_interval(feats: torch.Tensor, ref: tuple, with_ci: bool) -> tuple[float, list | None]:
    """The Fréchet distance of ``feats`` (N, F) to ``ref`` = (μ, Σ, Σ^{1/2}), and its interval."""
    f = feats.double().numpy()
    value = metrics.frechet_from_stats(*metrics.mean_cov(f), *ref)
    if not with_ci:
        return value, None
    return value, bootstrap.statistic_interval(lambda i: metrics.frechet_from_stats(*metrics.mean_cov(f[i]), *ref),
                                               len(f), low=0.0)


def feature_quality(sets: dict[str, torch.Tensor], train: torch.Tensor, heldout: torch.Tensor,
                    classifier: Classifier | None, with_ci=()) -> tuple[dict, dict]:
    """(values, intervals) of every measure above for each named sample set; intervals for
    the names in ``with_ci``."""
    spaces = {"pca": _pca_features(train)}
    if classifier is not None:
        spaces["clf"] = classifier.features
    out, ci, clf_feats = {}, {}, {}
    for space, embed in spaces.items():
        feats = {name: _no_grad(embed, x) for name, x in {"train": train, "heldout": heldout, **sets}.items()}
        mu, cov = metrics.mean_cov(feats["train"])
        ref = (mu, cov, metrics.psd_sqrt(cov))
        out[f"fd_{space}_floor"] = metrics.frechet_from_stats(*metrics.mean_cov(feats["heldout"]), *ref)
        for name in sets:
            out[f"fd_{space}_{name}"], interval = _fd_with_interval(feats[name], ref, name in with_ci)
            if interval is not None:
                ci[f"fd_{space}_{name}"] = interval
        clf_feats = feats if space == "clf" else clf_feats
    if classifier is not None:
        labels = {name: _no_grad(classifier.head, f).argmax(1).numpy() for name, f in clf_feats.items()}
        values, class_ci = _class_histograms(labels, list(sets), classifier.classes, with_ci)
        out.update(values)
        ci.update(class_ci)
    return out, ci


def _class_histograms(labels: dict[str, np.ndarray], names, classes: int, with_ci) -> tuple[dict, dict]:
    """``class_shares`` (the data's and each set's) and ``class_kl_<set>``, with intervals."""
    shares = lambda y: np.bincount(y, minlength=classes) / len(y)  # noqa: E731
    p = shares(labels["train"])
    out, ci = {"class_shares": {"data": p.round(4).tolist()}}, {}
    for name in names:
        y = labels[name]
        out["class_shares"][name] = shares(y).round(4).tolist()
        out[f"class_kl_{name}"] = metrics.class_kl(y, p)
        if name in with_ci:
            ci[f"class_kl_{name}"] = bootstrap.statistic_interval(lambda i, y=y: metrics.class_kl(y[i], p), len(y),
                                                                  low=0.0)
    return out, ci


def _pca_features(train: torch.Tensor):
    """x -> its coordinates on the first ``PCA_DIM`` principal axes of ``train`` (float32,
    ``metrics.top_axes``)."""
    x = train.reshape(len(train), -1).float()
    mu = x.mean(0)
    comps = metrics.top_axes((x - mu).T @ (x - mu), min(PCA_DIM, x.shape[1]))
    return lambda s: (s.reshape(len(s), -1).float() - mu) @ comps


def _no_grad(f, x):
    with torch.no_grad():
        return f(x)
