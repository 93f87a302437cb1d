"""Plot builder of the dimension sweep: a summary dict in, ``go.Figure`` out. No torch.

    sweep_figure(summary)   metric vs D (log2 axis), mean ± std over seeds, one line per variant

``summary`` is ``dmdviz.sweep.summarize(folder)``: ``{"dims": [D...], "variants": [...],
"metrics": {metric: {variant: {"mean": [..], "std": [..], "n": [..]}}}}`` with lists aligned
with ``dims`` (NaN where a (variant, D) has no result yet). Styled like ``dmdviz.plots``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dmdviz.plots.style import LINE_COLORS, f32, finish

PANELS = {"ot_agreement": "OT agreement A_OT", "nn_agreement": "NN agreement A_NN", "copy_ratio": "copy ratio ρ"}
# a variant keeps its colour whichever variants a sweep has; plain is the paper's student
VARIANT_COLORS = {"plain": "#d62728", "random-init": "#1f77b4", "wide": "#2ca02c", "deep": "#9467bd",
                  "rotation": "#ff7f0e"}
BASELINE = "#8c8c8c"


def _color(variant: str, i: int) -> str:
    return VARIANT_COLORS.get(variant, LINE_COLORS[i % len(LINE_COLORS)])


def _baseline(summary: dict, name: str) -> np.ndarray | None:
    """A reference curve (D,) from the first variant holding ``name`` (Φ_1 and chance levels)."""
    cols = summary["metrics"].get(name, {})
    for variant in summary["variants"]:
        if variant in cols:
            return f32(cols[variant]["mean"])
    return None


def sweep_figure(summary: dict, metrics: tuple[str, ...] = tuple(PANELS), title: str = "Copying vs dimension D",
                 height: int = 440, mis_scored: tuple[str, ...] = ()) -> go.Figure:
    """One panel per metric against D (log2 axis): mean ± std per variant (error bars).
    Variants in ``mis_scored`` are drawn faint and dotted, named "<variant> (mis-scored)".

    References in grey: the student's start Φ_1 (``*_init``, dotted; the same for every
    variant as it does not depend on the student), A_OT's chance level 1/n and ρ's chance
    level ``copy_ratio_chance`` (dashed), and ρ = 1.
    """
    dims = f32(summary["dims"])
    fig = make_subplots(1, len(metrics), subplot_titles=[PANELS.get(m, m) for m in metrics], horizontal_spacing=0.07)
    for col, metric in enumerate(metrics, start=1):
        for i, variant in enumerate(summary["variants"]):
            stats = summary["metrics"].get(metric, {}).get(variant)
            if stats is None:
                continue
            n = np.asarray(stats["n"])
            bad = variant in mis_scored
            fig.add_trace(go.Scatter(
                x=dims, y=f32(stats["mean"]), mode="lines+markers", name=variant + " (mis-scored)" * bad,
                legendgroup=variant, showlegend=col == 1, opacity=0.45 if bad else 1.0,
                line=dict(color=_color(variant, i), dash="dot" if bad else "solid"),
                error_y=dict(type="data", array=f32(stats["std"]), visible=True, thickness=1.2, width=4),
                customdata=n.astype(np.int32),
                hovertemplate=f"{variant}<br>D = %{{x}}<br>{metric} = %{{y:.3f}} ± %{{error_y.array:.3f}}"
                              "<br>%{customdata} seed(s)<extra></extra>"), 1, col)
        refs = {f"{metric}_init": ("Φ_1 (start)", "dot")}
        if metric == "copy_ratio":
            refs["copy_ratio_chance"] = ("chance", "dash")
        for name, (label, dash) in refs.items():
            y = _baseline(summary, name)
            if y is not None:
                fig.add_trace(go.Scatter(x=dims, y=y, mode="lines", name=label, legendgroup=label,
                                         showlegend=col == 1 or name == "copy_ratio_chance",
                                         line=dict(color=BASELINE, dash=dash),
                                         hovertemplate=f"{label}<br>D = %{{x}}<br>%{{y:.3f}}<extra></extra>"), 1, col)
        if metric == "ot_agreement" and "n" in summary.get("config", {}):
            fig.add_hline(y=1.0 / summary["config"]["n"], line=dict(color=BASELINE, dash="dash", width=1), row=1, col=col)
        if metric == "copy_ratio":
            fig.add_hline(y=1.0, line=dict(color="#444444", width=1), row=1, col=col)
    fig.update_xaxes(type="log", tickvals=dims, ticktext=[str(int(d)) for d in dims], title="dimension D (log₂)")
    fig = finish(fig, title, height)
    fig.update_layout(legend=dict(orientation="h", x=0.0, y=-0.22, bgcolor="rgba(255,255,255,0)"),
                      margin=dict(b=90))
    return fig
