"""The figures' shared look: colours, the light template, sizes and two helpers (``f32``,
``finish``) every builder in this package uses. Numpy and plotly only."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

SEED_SCALE = "Turbo"
MAX_SIDE = 256
MAX_CURVE_POINTS = 2000
# SVG up to this many points a trace, WebGL above: a browser without a GPU draws WebGL in
# software, and the five default Explore plots at N = 500 took 2.8 s as WebGL against 1.4 s
# as SVG in headless Chromium on 2 cores (README, Benchmarks); past a few thousand points
# SVG's one DOM node a point is the slower one
SVG_MAX_POINTS = 2000
GRID_WIDTH, GRID_COLUMNS, MIN_IMAGE_PX = 620, 10, 44  # image grids: assumed plot width, columns at most, px an image
_GRID = "#EBF0F8"
# plotly_white's look in the few keys these figures use: the full template is ~7 KB in every
# figure's JSON and its validation took half of a 500-seed panel figure's build time
TEMPLATE = go.layout.Template(layout=dict(
    paper_bgcolor="white", plot_bgcolor="white", font=dict(color="#2a3f5f"), hovermode="closest",
    **{axis: dict(gridcolor=_GRID, zerolinecolor=_GRID, linecolor=_GRID, ticks="", automargin=True, zerolinewidth=2)
       for axis in ("xaxis", "yaxis")}))
COLORS = {"z": "#444444", "teacher": "#1f77b4", "Φ_1": "#8c8c8c", "G": "#d62728", "pair": "rgba(120,120,120,0.35)"}
STUDENT_COLORS = ("#d62728", "#9467bd", "#2ca02c", "#ff7f0e")  # compared students, in order (the first is G's red)
LINE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def trace_color(name: str) -> str:
    """z, Φ_1 and G have fixed colours; any other Φ_K is the teacher's target."""
    return COLORS.get(name, COLORS["teacher"])


def finish(fig: go.Figure, title: str, height: int, uirevision: str | None = None) -> go.Figure:
    fig.update_layout(title=title, height=height, template=TEMPLATE, margin=dict(l=50, r=20, t=60, b=45),
                      uirevision=uirevision or title,
                      legend=dict(itemsizing="constant", x=0.01, y=0.99, bgcolor="rgba(255,255,255,0.7)"))
    return fig
