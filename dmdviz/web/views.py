"""The views of an analysis (arrays from ``analysis``, figures from ``plots``), each titled
with the models it shows: Explore's figures, its verdict line, the comparison's samples and
Diagnostics' four plots from one source; built by ``app.App``, once per cached analysis."""

from __future__ import annotations

import time

import numpy as np

from dmdviz import analysis, plots
from dmdviz.analysis.verdict import verdict
from dmdviz.web.catalog import family_students
from dmdviz.web.common import serialised
from dmdviz.web.layout import EXPLORE_SOURCE
from dmdviz.web.messages import redact
from dmdviz.web.text import metrics_rows


def grid_rows(pa, drilled: dict, m: int = 30) -> dict:
    """The image grid's rows for the first ``m`` seeds: Φ_K for every K the analysis or the
    per-seed view (``drilled``: {K: (m, *shape)}) has, in increasing K, then G; each (m, H, W)."""
    sets = {**{k: x[:m] for k, x in pa.s.phi.items()}, **drilled}
    rows = {f"Φ_{k}": sets[k] for k in sorted(sets)}
    rows["G"] = pa.s.g[:m]
    return {name: x.mean(dim=1).numpy() for name, x in rows.items()}


def explore_figures(pa, models, drilled=None) -> tuple:
    """(samples, PCA, cost heatmap, distances, metrics rows) of an analysis, each figure's
    title naming its pair: built and serialised once per cached analysis (``Registry.view``);
    ``drilled()`` gives the first seeds' other K for the image grid (``Registry.drill_sets``)."""
    shown = "<br>" + " → ".join(redact(analysis.name(m)) for m in models.given)
    if len(pa.s.shape) == 3:
        m = min(analysis.service.GRID_SEEDS, pa.s.n)
        rows = grid_rows(pa, drilled(m) if drilled else {}, m)
        samples = plots.image_grid(rows, pa.seeds[:m], title="Samples per seed" + shown, per_band=15,
                                   width=1100)  # the full width
    else:
        samples = plots.low_dim_panels(pa.panels(), pa.seeds, title="Noise-data pairing" + shown)
    block, sigma = pa.cost_block(100)
    figures = (samples, plots.pca_triplets(pa.pca(), pa.seeds, title="PCA of (Φ_K, Φ_1, G), fitted on Φ_K" + shown),
               plots.cost_heatmap(block, sigma, pa.seeds[:len(block)],
                                  title="Cost C_ij = ||Φ_K(z_i) − G(z_j)||², OT assignment σ" + shown),
               plots.distance_scatter(*pa.distances, pa.seeds, title="d_init vs d_student" + shown))
    ckpt = analysis.checkpoint_of(models.given[1])
    from_teacher = ckpt is None or (ckpt.config.get("student") or {}).get("init", "teacher") != "random"
    margin, margin_ci = pa.margin
    rows = metrics_rows({**pa.pairing, **margin}, {**pa.intervals, **margin_ci}, start_known=from_teacher)
    return (*map(serialised, figures), rows)


def scale_figure(pa, models):
    """The copying-at-every-scale curve of an analysis (with the data set's own cells for a
    dmdviz teacher), titled with its pair."""
    shown = "<br>" + " → ".join(redact(analysis.name(m)) for m in models.given)
    curve = analysis.scale_curve(pa, models.given[0])
    return serialised(plots.copying_at_every_scale(curve, title="Copying at every scale" + shown))


def compare_samples(pa, pb, names, shown: str = ""):
    """The samples of both students on the same seeds: image rows, or shared-axis panels;
    ``shown``: the title's second line (the models)."""
    if len(pa.s.shape) == 3:
        ia = pa.images(30)
        rows = {"Φ_1": ia["Φ_1"], f"Φ_{pa.k}": ia[f"Φ_{pa.k}"], f"G · {names[0]}": ia["G"],
                f"G · {names[1]}": pb.images(30)["G"]}
        return plots.image_grid(rows, pa.seeds[:30], title="Samples per seed, both students" + shown, per_band=15,
                                width=1100)  # a full-width panel
    panels = pa.panels()
    panels = {"z": panels["z"], f"Φ_{pa.k}": panels[f"Φ_{pa.k}"], f"G · {names[0]}": panels["G"],
              f"G · {names[1]}": pb.panels()["G"]}
    return plots.low_dim_panels(panels, pa.seeds, title="Both students on the same seeds" + shown, shared=True)


def pair_verdict(pa, teacher) -> str:
    """The verdict line of an analysis (``analysis.verdict``: its pairing metrics, intervals and
    copying-at-every-scale curve, with the data set's own cells for a dmdviz teacher)."""
    return verdict(pa.pairing, pa.intervals, analysis.scale_curve(pa, teacher))


BF16_NOTE = " · sampled under bf16 autocast (`DMDVIZ_BF16`: not fp32's numbers)"


def _representative(pairs: list):
    """The pair of a family that stands for it: the plain student (no ``variant``) of its
    longest-trained teacher."""
    def rank(p):
        teacher, student = (analysis.checkpoint_of(m) for m in p.given)
        return (not analysis.variant(student), analysis.teacher_step(teacher), -len(student.ref))

    return max(pairs, key=rank)


def _family_plots(reg, family: str, pairs: list, n, seed, k, tag: str) -> tuple:
    """(teacher-length series, DM-loss curves) of a family's (teacher, student) pairs."""
    given = [p.given for p in pairs]
    curves = plots.dm_loss_curves(analysis.dm_loss_curves(given), title=f"DM loss over distillation<br>{tag}")
    series = reg.memo(("lengths", family, min(int(n), 500), int(seed), int(k)),
                      lambda: analysis.teacher_length_series(given, min(int(n), 500), int(k), int(seed),
                                                             service=reg.analyses, drill=False))
    keys = ("ot_agreement", "ot_agreement_init", "copy_ratio", "copy_ratio_chance")
    lengths = plots.copying_vs_teacher_length(np.array([e["teacher_step"] for e in series]),
                                              {key: np.array([e["metrics"][key] for e in series]) for key in keys},
                                              title=f"Copying vs teacher training length<br>{tag}")
    return lengths, curves, len({e["teacher_step"] for e in series})


def _own_dm_curve(models, tag: str):
    """The DM-loss curve of one dmdviz student (None for other models or without a record)."""
    ckpts = tuple(analysis.checkpoint_of(m) for m in models.given)
    if None in ckpts:
        return None
    curves = analysis.dm_loss_curves([ckpts])
    return plots.dm_loss_curves(curves, title=f"DM loss over distillation<br>{tag}") if len(curves[0]["steps"]) else None


def diagnostics(reg, pair: dict, source: str, n, seed, k, session: str = "", step=lambda f, what: None) -> tuple:
    """(memorization, boundary, teacher length, DM loss, caption) of ONE source: a family of
    students (its representative pair, ``_representative``, for memorization and boundary;
    every student for the series and the curves), or the pair open in Explore (``source``
    empty or ``EXPLORE_SOURCE``: no teacher-length series for one pair). Every title names
    the source; the caption opens with the pair's verdict."""
    family = "" if not source or source == EXPLORE_SOURCE else str(source)
    if family:
        refs = family_students(family)
        pairs = [reg.pair(ref, "", session) for ref in refs]
        models = _representative(pairs)
    else:
        models = reg.models(pair, session)
    teacher, student = (redact(analysis.name(m)) for m in models.given)
    tag = f"family {family}" if family else f"the Explore pair {teacher} → {student}"
    step(0.05, f"sampling {teacher} → {student}: {load_estimate(models, n, k)}")
    started = time.perf_counter()
    pa = reg.analysis_of(models, n, seed, k)  # no seed is opened here: Φ_1, Φ_K and G
    record_cost(models, n, k, time.perf_counter() - started)
    step(0.3, "memorization and boundary analysis")
    dataset, note = reg.memo(("dataset", teacher), lambda: analysis.load_dataset(models.given[0]))
    mem = boundary = None
    if dataset is not None:
        mem = plots.memorization_histogram(pa.memorization(dataset.train),
                                           title=f"Memorization ratio of Φ_{pa.k}<br>teacher {teacher} · {tag}")
        boundary = plots.boundary_scatter(*pa.boundary(dataset.train), pa.seeds,
                                          title=f"Boundary analysis<br>{teacher} → {student} · {tag}")
    if family:
        step(0.6, f"the teacher-length series of {family}, {len(pairs)} students: each "
                  f"{load_estimate(pairs[0], min(int(n), 500), k)}")
        lengths, curves, snapshots = _family_plots(reg, family, pairs, n, seed, k, tag)
        source_line = (f"**Source: family `{family}`** ({len(refs)} students, {snapshots} teacher snapshots): the "
                       f"memorization and boundary plots show its longest-trained teacher's plain student "
                       f"`{teacher}` → `{student}`; the teacher-length and DM-loss plots every student")
    else:
        lengths, curves = None, _own_dm_curve(models, tag)
        source_line = (f"**Source: the pair open in Explore** `{teacher}` → `{student}`: every plot (one pair has no "
                       "teacher-length series: choose a family for it)")
    notes = [f"**Verdict** (`{teacher}` → `{student}`): {reg.view(pa, 'verdict', lambda: pair_verdict(pa, models.given[0]))}",
             source_line + (f" · {note}" if note else "")
             + (BF16_NOTE if reg.analyses.bf16 else "")]
    return mem, boundary, lengths, curves, "\n\n".join(notes)


# Seconds per seed of a pair's first load (sampling Φ_1, Φ_K and G, the assignment and its
# intervals; Φ_32 for the image grid's 30 seeds only), measured on this server, by pair; before
# any, a first guess by data kind (measured on the project's 2-core machine: the 4-D chessboard
# pair ~0.01 s, the MNIST UNet ~0.025 s a seed at K = 8).
_COST: dict[tuple, float] = {}
GUESS = {"vectors": 0.01, "images": 0.025}


def _work(k) -> int:
    """Network evaluations a seed costs the app: Φ_1, Φ_K (when it is not Φ_1) and G."""
    return 1 + (0 if int(k) == 1 else int(k)) + 1


def load_estimate(models, n, k) -> str:
    """What a first load of ``n`` seeds may take, said before it starts: from this pair's
    measured cost per seed (``record_cost``), else a first guess."""
    key = tuple(analysis.name(m) for m in models.given)
    per_seed = _COST.get(key)
    basis = "measured on this pair" if per_seed else "a first guess"
    if per_seed is None:
        per_seed = GUESS["images" if len(models.teacher.shape) == 3 else "vectors"] * _work(k) / _work(8)
    else:
        per_seed = per_seed * _work(k) / _work(8)
    return f"up to about {per_seed * int(n):.0f} s for {int(n)} seeds ({basis}; less where its samples are cached)"


def record_cost(models, n, k, seconds: float) -> None:
    """Keep a first load's cost per seed (at K = 8's work) for the next estimate; a cached
    load (under a second) says nothing about it."""
    if seconds >= 1.0:
        _COST[tuple(analysis.name(m) for m in models.given)] = seconds / int(n) * _work(8) / _work(k)
