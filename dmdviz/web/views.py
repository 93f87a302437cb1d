"""The Explore figures of an analysis (arrays from ``analysis``, figures from ``plots``), each
titled with the pair it shows; built once per cached analysis by ``app.App``."""

from __future__ import annotations

from dmdviz import analysis, plots
from dmdviz.web.common import serialised
from dmdviz.web.messages import redact
from dmdviz.web.text import metrics_rows


def explore_figures(pa, models) -> tuple:
    """(samples, PCA, cost heatmap, distances, metrics rows) of an analysis, each figure's
    title naming its pair: built and serialised once per cached analysis (``Registry.view``)."""
    shown = "<br>" + " → ".join(redact(analysis.name(m)) for m in models.given)
    if len(pa.s.shape) == 3:
        samples = plots.image_grid(pa.images(30), pa.seeds[:30], title="Samples per seed" + shown, per_band=15,
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
