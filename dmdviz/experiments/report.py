"""One self-contained HTML report of a pair: every SPEC §5 figure, the metrics, both configs.

``figures(study)`` is the list of (title, Figure) the app can also show; ``write_report``
embeds plotly.js inline once (the first figure), so the file opens offline.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from dmdviz import plots
from dmdviz.analysis import Study, compare_pca
from dmdviz.analysis.bootstrap import with_interval
from dmdviz.files import atomic_write

N_HEATMAP = 100  # seeds in the cost heatmap, as in the paper's fig 3
N_IMAGES = 30  # image columns, as in the paper's fig 1


def _grey(x) -> np.ndarray:
    """(..., C, H, W) tensor -> (..., H, W) numpy float32, channels averaged."""
    return x.mean(dim=-3).numpy().astype(np.float32)


def figures(st: Study) -> list[tuple[str, go.Figure]]:
    """Every figure this pair supports, in report order (image figures only for image data,
    low-dim panels only for vector data, training-set figures only when the data is readable,
    series figures only with a series)."""
    pa, k = st.pair, st.pair.k
    seeds = pa.seeds
    is_image = len(pa.s.shape) == 3
    out = []
    if is_image:
        out.append(("Fig 1/8: samples per seed", plots.image_grid(pa.images(N_IMAGES), seeds[:N_IMAGES],
                                                                 title=f"Φ_1, Φ_K, G on seeds 0..{N_IMAGES - 1}")))
    else:
        out.append(("Fig 2/7: low-dimensional panels", plots.low_dim_panels(pa.panels(), seeds)))
    out.append(("Fig 1/9: PCA triplets", plots.pca_triplets(pa.pca(), seeds, title=f"PCA fitted on Φ_{k}")))
    cost, sigma = pa.cost_block(N_HEATMAP)
    out.append(("Fig 3: cost matrix and OT assignment", plots.cost_heatmap(cost, sigma, seeds[: len(cost)])))
    d_init, d_student = pa.distances
    out.append(("Fig 10: d_init vs d_student", plots.distance_scatter(d_init, d_student, seeds)))
    if st.other is not None:
        names = (f"{st.student_name} (A)", f"{st.other_student.ref} (B)")
        out.append(("Compare: PCA triplets of both students", plots.compare_pca(compare_pca(pa, st.other, names), seeds)))
        out.append(("Compare: d_init vs d_student of both students",
                    plots.compare_distances(d_init, dict(zip(names, (d_student, st.other.distances[1]))), seeds)))
    if st.dataset is not None:
        d, ratio = pa.boundary(st.dataset.train)
        out.append(("Fig 5: boundary analysis", plots.boundary_scatter(d, ratio, seeds)))
        out.append(("Fig 12: memorization ratio", plots.memorization_histogram(pa.memorization(st.dataset.train))))
    curves = st.curves or [_own_curve(st)]
    if any(len(c["steps"]) for c in curves):
        out.append(("Fig 4: DM loss", plots.dm_loss_curves(curves)))
    if st.lengths:
        steps = np.array([e["teacher_step"] for e in st.lengths])
        keys = ("ot_agreement", "ot_agreement_init", "copy_ratio", "copy_ratio_chance")
        series = {key: np.array([e["metrics"][key] for e in st.lengths]) for key in keys if key in st.lengths[0]["metrics"]}
        out.append(("Fig 11: copying vs teacher length", plots.copying_vs_teacher_length(steps, series)))
        if is_image:
            rows = {f"T{e['teacher_step']} {name}": img for e in st.lengths for name, img in e["images"].items()}
            out.append(("Fig 11: samples per teacher length", plots.image_grid(rows, seeds[: len(next(iter(rows.values())))],
                                                                              title="Φ_1, Φ_K, G per teacher length")))
    tr = st.trajectory
    if is_image:
        traj = plots.trajectory_plot(_grey(tr.states), _grey(tr.phi_1), _grey(tr.g), tr.index)
    else:
        flat = tr.states.reshape(len(tr.states), -1).numpy()
        traj = plots.trajectory_plot(flat, tr.phi_1.reshape(-1).numpy(), tr.g.reshape(-1).numpy(), tr.index,
                                     background=pa.panels()[f"Φ_{k}"])
    out.append((f"Trajectory of seed {tr.index}", traj))
    records = st.records
    if records:
        out.append(("Student training curves", plots.training_curves(records)))
    return out


def _own_curve(st: Study) -> dict:
    from dmdviz.analysis import dm_loss_curve

    steps, values = dm_loss_curve(st.student)
    return {"label": "this student", "steps": steps, "dm_loss": values}


def _metrics_table(summary: dict) -> str:
    """One row per metric; those with a bootstrap interval read ``value [low, high]``."""
    rows, ci = [], summary.get("intervals", {})
    for key, v in summary.items():
        if key in ("notes", "series", "compare", "intervals"):
            continue
        text = (with_interval(v, ci[key]) if key in ci else f"{v:.4g}") if isinstance(v, float) else html.escape(str(v))
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{text}</td></tr>")
    return "<table class='metrics'><tr><th>metric</th><th>value</th></tr>" + "".join(rows) + "</table>"


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}
table.metrics{border-collapse:collapse;font-size:0.9em}table.metrics td,table.metrics th{border:1px solid #ccc;
padding:2px 8px;text-align:left}pre{background:#f6f6f6;padding:0.6em;overflow:auto;font-size:0.8em}
.note{color:#a15c00}.fig{margin:1.5em 0}"""


def render_html(st: Study, figs: list[tuple[str, go.Figure]] | None = None) -> str:
    """The report as one HTML string; plotly.js is inlined with the first figure only."""
    figs = figures(st) if figs is None else figs
    summary = st.summary
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>dmdviz report</title><style>{_STYLE}</style>"
             "</head><body>",
             f"<h1>dmdviz report: {html.escape(summary['dataset'])}</h1>",
             f"<p>Teacher <code>{html.escape(st.teacher_name)}</code>, student <code>{html.escape(st.student_name)}</code>;"
             f" N = {summary['n']} shared seeds (seed {summary['seed']}), target Φ_{summary['k']}.</p>"]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in summary["notes"]]
    ci = summary["intervals"]
    parts += ["<h2>Metrics (SPEC §4)</h2>",
              f"<p>Brackets: {ci['level']:.0%} bootstrap interval over seeds ({ci['resamples']} resamples of the "
              f"{summary['n']} seeds, the assignment re-solved on each; RNG seed {ci['rng_seed']}).</p>",
              _metrics_table(summary)]
    if summary.get("compare"):
        b = summary["compare"]
        rows = "".join(f"<tr><td>{html.escape(key)}</td><td>{summary[key]:.4g}</td><td>{b[key]:.4g}</td></tr>"
                       for key in b if isinstance(b[key], float) and isinstance(summary.get(key), float))
        parts += [f"<h2>Compared with <code>{html.escape(b['student'])}</code> (same teacher, same seeds)</h2>",
                  "<table class='metrics'><tr><th>metric</th><th>A (this student)</th><th>B</th></tr>" + rows + "</table>"]
    if summary.get("series"):
        parts += ["<h2>Series</h2>", f"<pre>{html.escape(json.dumps(summary['series'], indent=1))}</pre>"]
    parts.append("<h2>Figures (SPEC §5)</h2>")
    for i, (title, fig) in enumerate(figs):
        body = fig.to_html(full_html=False, include_plotlyjs=(i == 0),
                           config={"displaylogo": False, "responsive": True})
        parts.append(f"<div class='fig'><h3>{html.escape(title)}</h3>{body}</div>")
    for name, ck in (("teacher", st.teacher), ("student", st.student)):
        parts += [f"<h2>Config of the {name}</h2>", f"<pre>{html.escape(json.dumps(ck.config, indent=2))}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(st: Study, path) -> Path:
    """Write the report atomically; returns its path."""
    path = Path(path)
    text = render_html(st)
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path
