"""Curve builders: training and distillation records in, ``plotly.graph_objects.Figure`` out.

API (every figure sets ``layout.height``):

    dm_loss_curves([{"label", "steps" (M,), "dm_loss" (M,)}])       fig 4
    copying_vs_teacher_length(steps (S,), {metric: (S,)})           fig 11
    training_curves(records: [metrics.jsonl dicts])                 live training view
    copying_meters({student: [metrics.jsonl dicts]})                pairing metrics over distillation
    copying_at_every_scale(scale_curve dict)                        agreement over k cells, with chance

Long series are smoothed (``smooth``) and thinned to ``plots.MAX_CURVE_POINTS`` points.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dmdviz.plots.style import COLORS, MAX_CURVE_POINTS, f32, finish, line_color


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (the first points average what is available)."""
    v = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(v) == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    step = max(1, math.ceil(len(x) / max_points))
    return f32(x[::step]), f32(y[::step])


def dm_loss_curves(curves: list[dict], window: int = 25, title: str = "DM loss over distillation",
                   height: int = 600) -> go.Figure:
    """One smoothed curve per student: entries ``{"label", "steps" (M,), "dm_loss" (M,)}`` (fig 4).
    The iteration axis is logarithmic (step 0 drawn at 1): a 10,000-iteration run beside
    1,000-iteration ones would otherwise squeeze them into a tenth of the axis."""
    fig = go.Figure()
    for i, c in enumerate(curves):
        x, y = _thin(np.maximum(np.asarray(c["steps"]), 1), smooth(c["dm_loss"], window))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=c["label"], line=dict(color=line_color(i))))
    fig.update_xaxes(title="distillation iteration (log; step 0 at 1)", type="log", dtick=1)
    fig.update_yaxes(title=f"DM loss (moving average of {window})")
    return finish(fig, title, height, legend="below")


def copying_vs_teacher_length(steps: np.ndarray, series: dict[str, np.ndarray],
                              title: str = "Copying vs teacher training length", height: int = 420) -> go.Figure:
    """Metrics (S,) against the teacher's training step (S,) (fig 11). Agreements go left,
    ratios (keys containing "ratio") right; a ``*_init`` key is dashed in its base's colour."""
    fig = make_subplots(1, 2, subplot_titles=("agreement", "copy ratio ρ"))
    bases = sorted({k.removesuffix("_init") for k in series})
    for name, values in series.items():
        base = name.removesuffix("_init")
        fig.add_trace(go.Scatter(x=f32(steps), y=f32(values), mode="lines+markers", name=name,
                                 line=dict(color=line_color(bases.index(base)),
                                           dash="dash" if name.endswith("_init") else "solid")),
                      1, 2 if "ratio" in name else 1)
    ticks = np.unique(np.asarray(steps))  # label the snapshots themselves, not log-axis minor digits
    fig.update_xaxes(title="teacher iterations", type="log", tickvals=ticks.tolist(),
                     ticktext=[f"{int(s):,}" for s in ticks], minor=dict(showgrid=False))
    fig = finish(fig, title, height)
    return fig.update_layout(legend=dict(orientation="h", x=0, y=-0.3, bgcolor="rgba(0,0,0,0)"),
                             margin=dict(b=90))


def training_curves(records: list[dict], metrics: tuple[str, ...] = ("ot_agreement", "copy_ratio"),
                    window: int = 25, title: str = "Training", height: int = 520) -> go.Figure:
    """Loss (dm_loss, else fm_loss; smoothed) over steps, and the copying meter from the probe
    records (those carrying ``metrics``), from metrics.jsonl dicts. Only the panels with data
    are drawn (none: a note that nothing was recorded yet). ``uirevision`` is fixed so a
    streamed update keeps the user's zoom."""
    loss_key = "dm_loss" if any("dm_loss" in r for r in records) else "fm_loss"
    loss = [r for r in records if loss_key in r]
    probes = {key: [r for r in records if key in r] for key in metrics}
    probes = {key: rows for key, rows in probes.items() if rows}
    panels = [loss_key] * bool(loss) + ["copying meter"] * bool(probes)
    if not panels:
        fig = go.Figure()
        fig.add_annotation(text="nothing recorded yet", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return finish(fig, title, height, uirevision="training")
    fig = make_subplots(len(panels), 1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=panels)
    if loss:
        x, y = _thin(np.array([r["step"] for r in loss]), smooth([r[loss_key] for r in loss], window))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=loss_key, line=dict(color=COLORS["teacher"])), 1, 1)
    for key, probe in probes.items():
        color = line_color(metrics.index(key) + 1)
        fig.add_trace(go.Scatter(x=f32([r["step"] for r in probe]), y=f32([r[key] for r in probe]),
                                 mode="lines+markers", name=key, line=dict(color=color)), len(panels), 1)
    fig.update_xaxes(title="iteration", row=len(panels), col=1)
    return finish(fig, title, height, uirevision="training")


def copying_meters(records: dict[str, list[dict]], metrics: tuple[str, ...] = ("ot_agreement", "nn_agreement",
                                                                              "copy_ratio"),
                   title: str = "Copying meter over distillation (probe seeds)", height: int = 620) -> go.Figure:
    """Several students' copying meters in one frame: one panel per metric, one line per
    student (``records``: name -> its metrics.jsonl dicts; the probe rows carry ``metrics``),
    the iteration on a log axis from 1 (step 0 drawn at 1) so short and long runs share it."""
    fig = make_subplots(len(metrics), 1, shared_xaxes=True, vertical_spacing=0.07, subplot_titles=list(metrics))
    for i, (name, recs) in enumerate(records.items()):
        color = line_color(i)
        for row, key in enumerate(metrics, 1):
            probe = [r for r in recs if key in r]
            fig.add_trace(go.Scatter(x=f32([max(r["step"], 1) for r in probe]), y=f32([r[key] for r in probe]),
                                     mode="lines+markers", name=name, legendgroup=name, showlegend=row == 1,
                                     line=dict(color=color), marker=dict(size=4)), row, 1)
    fig.update_xaxes(type="log")
    fig.update_xaxes(title="iteration (step 0 at 1)", row=len(metrics), col=1)
    fig = finish(fig, title, height)
    return fig.update_layout(legend=dict(orientation="h", x=0, y=-0.15, bgcolor="rgba(0,0,0,0)"), margin=dict(b=110))


def copying_at_every_scale(curve: dict, title: str = "Copying at every scale", height: int = 460) -> go.Figure:
    """Agreement of G's and Φ_1's cell with their target's against the number of cells k
    (log axis), G's 95 % interval as a band, chance from the marginals dashed; a data set's
    own cells (``curve["natural"]``, optional) as markers at their k. ``curve``: the columns
    ``k``, ``agreement``, ``agreement_ci`` ([low, high] per k), ``chance``,
    ``agreement_init``, ``chance_init`` (``analysis.scales.scale_curve``)."""
    k = f32(curve["k"])
    low, high = (f32([ci[i] for ci in curve["agreement_ci"]]) for i in (0, 1))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=np.concatenate([k, k[::-1]]), y=np.concatenate([high, low[::-1]]), fill="toself",
                             mode="lines", fillcolor="rgba(214,39,40,0.15)", line=dict(width=0), hoverinfo="skip",
                             name="G: 95 % interval"))
    grey = COLORS["Φ_1"]
    lines = (("G", "agreement", COLORS["G"], "solid"), ("chance (G)", "chance", COLORS["G"], "dash"),
             ("start Φ_1", "agreement_init", grey, "solid"), ("chance (Φ_1)", "chance_init", grey, "dash"))
    for name, key, color, dash in lines:
        fig.add_trace(go.Scatter(x=k, y=f32(curve[key]), mode="lines+markers", name=name,
                                 line=dict(color=color, dash=dash), marker=dict(size=5)))
    natural = curve.get("natural")
    if natural:
        for name, key, color, symbol in (("G", "agreement", COLORS["G"], "diamond"),
                                         ("Φ_1", "agreement_init", grey, "diamond"),
                                         ("chance", "chance", COLORS["z"], "x")):
            fig.add_trace(go.Scatter(x=f32([natural["k"]]), y=f32([natural[key]]), mode="markers",
                                     name=f"{natural['name']}: {name}",
                                     marker=dict(color=color, symbol=symbol, size=11)))
    fig.update_xaxes(title="cells k (k-means on the targets; k = N: NN agreement)", type="log")
    fig.update_yaxes(title="same cell as its own target", range=[0, 1.02])
    fig = finish(fig, title, height)
    return fig.update_layout(legend=dict(orientation="h", x=0, y=-0.25, bgcolor="rgba(0,0,0,0)"), margin=dict(b=120))


# --------------------------------------------------------------------------- drill-down
