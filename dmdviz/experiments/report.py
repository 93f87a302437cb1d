"""One self-contained HTML report of a pair: its verdict, every figure, the metrics with their
meanings, both configs.

``figures(study)`` is the list of (title, Figure) the app can also show; ``write_report``
draws each as a static SVG (the app's first-paint drawing, ``plots.figure_svg``), so the file
opens offline at once and stays small (0.28 MB for an MNIST pair of 1,000 seeds, against
5.2 MB with plotly.js inlined: ``images="interactive"``).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from dmdviz import plots
from dmdviz.analysis import Study, compare_pca
from dmdviz.analysis.bootstrap import with_interval
from dmdviz.analysis.verdict import meaning, shown, verdict
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
    out.append(("Copying at every scale", plots.copying_at_every_scale(st.summary["scale_curve"])))
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
    """One row per metric: its name, value (``value [low, high]`` with a bootstrap interval,
    three significant figures) and meaning (``analysis.verdict.meaning``, the app's own)."""
    rows, ci = [], summary.get("intervals", {})
    for key, v in summary.items():
        if key in ("notes", "series", "compare", "intervals", "scale_curve", "class_shares"):
            continue
        text = shown(v, ci.get(key)) if isinstance(v, float) else html.escape(str(v))
        rows.append(f"<tr><td>{html.escape(key)}</td><td class='value'>{text}</td><td>{html.escape(meaning(key))}</td></tr>")
    return ("<table class='metrics'><tr><th>metric</th><th>value</th><th>meaning</th></tr>" + "".join(rows)
            + "</table>")


def _scale_table(curve: dict) -> str:
    """One row per number of cells: G's agreement with its interval, chance, Φ_1's."""
    columns = ("k", "agreement", "agreement_ci", "chance", "agreement_init", "agreement_init_ci", "resolution")
    rows = [(f"{k}", with_interval(a, ci), f"{c:.3f}", with_interval(a1, ci1), f"{r:.2f}")
            for k, a, ci, c, a1, ci1, r in zip(*(curve[key] for key in columns))]
    nat = curve.get("natural")
    if nat:
        rows.append((f"{nat['k']} ({html.escape(nat['name'])})", with_interval(nat["agreement"], nat["agreement_ci"]),
                     f"{nat['chance']:.3f}", with_interval(nat["agreement_init"], nat["agreement_init_ci"]), ""))
    head = "<tr><th>cells k</th><th>G: same cell</th><th>chance</th><th>Φ_1: same cell</th><th>resolution</th></tr>"
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table class='metrics'>{head}{body}</table>"


def _class_table(shares: dict) -> str:
    """The predicted class shares of the data and of each sample set, one row each."""
    classes = len(shares["data"])
    head = "<tr><th>set</th>" + "".join(f"<th>{c}</th>" for c in range(classes)) + "</tr>"
    body = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{v:.3f}</td>" for v in row) + "</tr>"
                   for name, row in shares.items())
    return f"<table class='metrics'>{head}{body}</table>"


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}
table.metrics{border-collapse:collapse;font-size:0.9em}table.metrics td,table.metrics th{border:1px solid #ccc;
padding:2px 8px;text-align:left}pre{background:#f6f6f6;padding:0.6em;overflow:auto;font-size:0.8em}
.note{color:#a15c00}td.value{white-space:nowrap}.fig{margin:1.5em 0}.verdict{font-size:1.1em;background:#eef4ff;padding:0.5em 0.8em;
border-left:4px solid #3b6fd8}"""


def render_html(st: Study, figs: list[tuple[str, go.Figure]] | None = None, images: str = "svg") -> str:
    """The report as one HTML string. ``images``: "svg" (default; every figure a static drawing
    inline, ``plots.figure_bytes``: a few hundred kB in all, opens offline at once), "png"
    (kaleido), or "interactive" (Plotly figures, plotly.js (4.8 MB) inlined once)."""
    figs = figures(st) if figs is None else figs
    interactive = images == "interactive"
    static = None if interactive else plots.figure_bytes([f for _, f in figs], images)
    summary = st.summary
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>dmdviz report</title><style>{_STYLE}</style>"
             "</head><body>",
             f"<h1>dmdviz report: {html.escape(summary['dataset'])}</h1>",
             f"<p>Teacher <code>{html.escape(st.teacher_name)}</code>, student <code>{html.escape(st.student_name)}</code>;"
             f" N = {summary['n']} shared seeds (seed {summary['seed']}), target Φ_{summary['k']}.</p>",
             f"<p class='verdict'><b>Verdict:</b> {html.escape(verdict(summary, summary['intervals'], summary['scale_curve']))}"
             "</p>"]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in summary["notes"]]
    ci = summary["intervals"]
    parts += ["<h2>Metrics</h2>",
              f"<p>Brackets: {ci['level']:.0%} bootstrap interval over seeds ({ci['resamples']} resamples of the "
              f"{summary['n']} seeds, the assignment re-solved on the first {ci.get('ot_resamples', ci['resamples'])} "
              f"for A_OT; RNG seed {ci['rng_seed']}).</p>",
              _metrics_table(summary),
              "<h2>Agreement at every number of cells</h2>",
              "<p>Share of seeds whose G(z) (and start Φ_1(z)) falls in the cell of its own target Φ_K(z) when the "
              "targets are cut into k cells (Ward's k-means clustering; k = N is NN agreement), against chance from "
              "the cells' shares; resolution = median ‖G − Φ_K‖ / cell spacing.</p>",
              _scale_table(summary["scale_curve"])]
    if summary.get("class_shares"):
        parts += ["<h3>Predicted class shares (the classifier trained here)</h3>",
                  _class_table(summary["class_shares"])]
    if summary.get("compare"):
        b = summary["compare"]
        rows = "".join(f"<tr><td>{html.escape(key)}</td><td>{summary[key]:.4g}</td><td>{b[key]:.4g}</td></tr>"
                       for key in b if isinstance(b[key], float) and isinstance(summary.get(key), float))
        parts += [f"<h2>Compared with <code>{html.escape(b['student'])}</code> (same teacher, same seeds)</h2>",
                  "<table class='metrics'><tr><th>metric</th><th>A (this student)</th><th>B</th></tr>" + rows + "</table>"]
    if summary.get("series"):
        parts += ["<h2>Series</h2>", f"<pre>{html.escape(json.dumps(summary['series'], indent=1))}</pre>"]
    parts.append("<h2>Figures</h2>")
    if not interactive:
        parts.append("<p>Static drawings (the report opens offline at once); the app (<code>make run</code>) draws "
                     "them interactive.</p>")
    for i, (title, fig) in enumerate(figs):
        body = fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False, "responsive": True}) \
            if interactive else _static(static[i], images)
        parts.append(f"<div class='fig'><h3>{html.escape(title)}</h3>{body}</div>")
    for name, ck in (("teacher", st.teacher), ("student", st.student)):
        parts += [f"<h2>Config of the {name}</h2>", f"<pre>{html.escape(json.dumps(ck.config, indent=2))}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def _static(data: bytes, fmt: str) -> str:
    if fmt == "svg":  # inline, less its XML declaration
        return data.decode().split("\n", 1)[1]
    return f"<img alt='' style='max-width:100%' src='data:image/{fmt};base64,{base64.b64encode(data).decode()}'>"


def write_report(st: Study, path, images: str = "svg") -> Path:
    """Write the report atomically (``images``: see ``render_html``); returns its path."""
    path = Path(path)
    text = render_html(st, images=images)
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path
