"""The full analysis of one pair (and optionally a series of students): spec §4 and §5.

``study`` samples once through the one road (``service.Analyses``: Φ_1, Φ_8, Φ_32, Φ_K and
G on shared seeds), loads the training set when it can, and returns a ``Study`` from which
the JSON summary, every figure and the HTML report are built. ``analyze`` is its JSON
summary, the contract of ``python -m dmdviz analyze``. It takes loaded models; a second
student (``compare``) and a series come checked and opened by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import torch

from dmdviz import __version__, data
from dmdviz.analysis import quality, scales
from dmdviz.analysis.pairing import PairAnalysis
from dmdviz.analysis.samples import Trajectory
from dmdviz.analysis.series import dm_loss_curves, teacher_length_series
from dmdviz.analysis.service import Analyses
from dmdviz.checkpoint import Checkpoint
from dmdviz.config import DataConfig
from dmdviz.errors import DmdvizError
from dmdviz.files import read_metrics
from dmdviz.models import open_pair


@dataclass
class Study:
    """One pair's samples and analyses; ``dataset`` is None when its data is unavailable.

    ``notes`` says what was skipped and why; ``curves`` (fig 4) and ``lengths`` (fig 11)
    are filled from a series of students (``analysis.series``), empty otherwise; ``other``
    is a second student of the same teacher on the same seeds (``compare``), or None.
    """

    teacher: Checkpoint
    student: Checkpoint
    pair: PairAnalysis
    dataset: data.Dataset | None
    trajectory: Trajectory
    notes: list[str] = field(default_factory=list)
    curves: list[dict] = field(default_factory=list)
    lengths: list[dict] = field(default_factory=list)
    other: PairAnalysis | None = None
    other_student: Checkpoint | None = None

    @property
    def teacher_name(self) -> str:
        return name(self.teacher)

    @property
    def student_name(self) -> str:
        return name(self.student)

    @property
    def records(self) -> list[dict]:
        """The student's own metrics.jsonl (training curves), [] when it has none (or is no
        dmdviz checkpoint)."""
        ckpt = checkpoint_of(self.student)
        return read_metrics(ckpt.path) if ckpt else []

    @cached_property
    def classifier(self):
        """The classifier trained here on the teacher's image set, None for other sets."""
        return classifier_for(self.teacher, self.pair.s.shape)

    @cached_property
    def summary(self) -> dict:
        """Every spec §4 metric as plain JSON values (computed once)."""
        s, k = self.pair.s, self.pair.k
        ckpt = checkpoint_of(self.teacher)
        margin, margin_ci = self.pair.margin
        out = {"dmdviz_version": __version__, "teacher": self.teacher_name, "student": self.student_name,
               "dataset": ckpt.data.name if ckpt else None,
               "dim": math.prod(s.shape), "n": s.n, "k": k, "seed": s.seed, **self.pair.pairing, **margin,
               "intervals": {**self.pair.intervals, **margin_ci}, "scale_curve": scale_curve(self.pair, self.teacher)}
        natural = out["scale_curve"].get("natural")
        if natural:  # the data set's own cells as scalars too, so rescored configs and spreads keep them
            for key in ("agreement", "agreement_init", "chance"):
                out[f"cells_{key}"] = natural[key]
                if f"{key}_ci" in natural:
                    out["intervals"][f"cells_{key}"] = natural[f"{key}_ci"]
        if self.dataset is not None:
            data = self.pair.data_summary(self.dataset.train, self.dataset.heldout, self.dataset.support)
            out["intervals"] = {**out["intervals"], **data.pop("intervals")}
            out.update(data)
            if len(s.shape) == 3:  # images: Fréchet distances and the class histogram
                values, ci = self.pair.feature_quality(self.dataset.train, self.dataset.heldout, self.classifier)
                out["intervals"] = {**out["intervals"], **ci}
                out.update(values)
        if self.other is not None:
            out["compare"] = {"student": name(self.other_student), **self.other.pairing}
        if self.lengths:
            out["series"] = [{"teacher_step": e["teacher_step"], "student": e["student"], **e["metrics"]}
                             for e in self.lengths]
        out["notes"] = list(self.notes)
        return out


def classifier_for(teacher, shape: tuple[int, ...]):
    """The classifier trained here on the teacher's image set (``quality.shipped_classifier``),
    None for other sets or another image size."""
    ckpt = checkpoint_of(teacher)
    net = quality.shipped_classifier(ckpt.data.name) if ckpt and len(shape) == 3 else None
    return net if net is not None and net.dim == math.prod(shape) else None


def scale_curve(pa: PairAnalysis, teacher) -> dict:
    """``pa.scale_curve`` plus, as ``natural``, the reading on the teacher's data set's own
    cells when it has them (chessboard squares, predicted digit class): what
    ``plots.copying_at_every_scale`` draws."""
    ckpt = checkpoint_of(teacher)
    out = dict(pa.scale_curve)
    cells = natural_cells(ckpt.data if ckpt else None, classifier_for(teacher, pa.s.shape))
    if cells is not None:
        out["natural"] = pa.natural_curve(cells)
    return out


def natural_cells(cfg: DataConfig | None, classifier=None) -> scales.Cells | None:
    """A data set's own cells: the chessboard's squares, else the classes ``classifier``
    predicts (None: k-means cells only)."""
    if cfg is not None and cfg.name == "chessboard":
        return scales.chessboard_cells(cfg)
    return scales.class_cells(classifier) if classifier is not None else None


def checkpoint_of(model) -> Checkpoint | None:
    """The dmdviz checkpoint behind a model (itself, or a native adapter's), None for others."""
    return model if isinstance(model, Checkpoint) else getattr(model, "checkpoint", None)


def name(model) -> str:
    """A model's reference for people: a checkpoint's ref, else its protocol identity."""
    ckpt = checkpoint_of(model)
    return ckpt.ref if ckpt else model.identity


def load_dataset(teacher, data_dir=None) -> tuple[data.Dataset | None, str]:
    """The teacher checkpoint's data set, or (None, why) when it cannot be read here (MNIST
    absent, or a teacher that is no dmdviz checkpoint and so names no data set)."""
    skipped = "training-set metrics (memorization, boundary, sample quality) skipped"
    cfg = getattr(checkpoint_of(teacher) or teacher, "data", None)
    if not isinstance(cfg, DataConfig):
        return None, f"{skipped}: the teacher is no dmdviz checkpoint, so its data set is unknown"
    try:
        return data.get_dataset(cfg, data_dir), ""
    except DmdvizError as e:
        return None, f"{skipped}: {e}"


def study(teacher, student, n: int = 1000, k: int = 8, seed: int = 0, *,
          data_dir=None, series: list[tuple[Checkpoint, Checkpoint]] = (), series_n: int = 500, device=None,
          bf16: bool = False, threads: int | None = None, compare: Checkpoint | None = None,
          ks: tuple[int, ...] = (), cache=None, service: Analyses | None = None) -> Study:
    """Sample the pair once on seeds 0 .. n-1 and prepare every analysis (spec §4, §5).

    ``teacher`` / ``student``: dmdviz checkpoints or any ``models`` protocol objects (the
    training-set metrics, series and comparison need dmdviz checkpoints). ``ks``: more K
    values to sample (``samples.sample_ks``); ``service``: the ``Analyses`` to go through
    (default: one on ``cache``, an ``analysis.cache.SampleCache``, ``device`` and ``bf16``).
    ``series``: (teacher snapshot, student) pairs of one teacher (fig 4 DM-loss curves and
    fig 11 copying vs teacher length, each pair on ``series_n`` seeds). ``compare``: a second
    student of the same teacher (``compare.check_sibling``), drawn on the same seeds.
    """
    if threads:
        torch.set_num_threads(threads)
    service = service or Analyses(cache, device=device, bf16=bf16)
    pair = open_pair(teacher, student)
    other = pair.with_student(compare) if compare is not None else None  # a wrong one fails before sampling
    pa = service.analysis(pair, n, seed, k, ks)
    dataset, note = load_dataset(teacher, data_dir)
    st = Study(teacher, student, pa, dataset, service.trajectory(pair, 0, seed, k), [note] if note else [])
    if other is not None:
        st.other_student, st.other = compare, service.second(pa, other)
    if series:
        st.curves = dm_loss_curves(list(series))
        st.lengths = teacher_length_series(list(series), min(series_n, n), k, seed, service=service)
    return st


def analyze(teacher, student, n: int = 1000, k: int = 8, seed: int = 0,
            **kwargs) -> dict:
    """The JSON summary of ``study(...)``: identity of the pair plus every spec §4 metric."""
    return study(teacher, student, n, k, seed, **kwargs).summary
