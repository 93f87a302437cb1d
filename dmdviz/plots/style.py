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
    title=dict(font=dict(size=15)),
    **{axis: dict(gridcolor=_GRID, zerolinecolor=_GRID, linecolor=_GRID, ticks="", automargin=True, zerolinewidth=2)
       for axis in ("xaxis", "yaxis")}))
COLORS = {"z": "#444444", "teacher": "#1f77b4", "Φ_1": "#8c8c8c", "G": "#d62728", "pair": "rgba(120,120,120,0.35)"}
STUDENT_COLORS = ("#d62728", "#9467bd", "#2ca02c", "#ff7f0e")  # compared students, in order (the first is G's red)
# curves, in order: D3's ten, then Plotly's Dark24 less its near-black and its reds (beside D3's): 28 distinct
# hues, so a family of a dozen students never repeats a colour
LINE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
               "#7f7f7f", "#DA16FF", "#B68100", "#750D86", "#511CFB", "#00A08B", "#FB00D1", "#B2828D", "#6C7C32",
               "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#EB663B",
               "#1CA71C")


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def trace_color(name: str) -> str:
    """z, Φ_1 and G have fixed colours; any other Φ_K is the teacher's target."""
    return COLORS.get(name, COLORS["teacher"])


def line_color(i: int) -> str:
    return LINE_COLORS[i % len(LINE_COLORS)]


# Legends never sit on the data: to the right of the plot area (Plotly widens the right margin
# for them), for a figure with a colour bar there in a row between the title and the plot, and
# below the plot where the entries are many and long.
LEGENDS = {"right": dict(x=1.02, y=1, xanchor="left", yanchor="top"),
           "below": dict(orientation="h", x=0, y=-0.2, xanchor="left", yanchor="top"),
           "top": dict(orientation="h", x=0, y=1.01, xanchor="left", yanchor="bottom")}


def finish(fig: go.Figure, title: str, height: int, uirevision: str | None = None, legend: str = "right") -> go.Figure:
    """Title, height, template, margins and the legend's place (``LEGENDS``: "right", "top" or
    "below"). A title "main<br>more" shows "more" as its subtitle (the models a figure shows)."""
    main, _, sub = title.partition("<br>")
    top = 60 + (22 if sub else 0) + (30 if legend == "top" else 0)
    fig.update_layout(title=dict(text=main, subtitle=dict(text=sub, font=dict(size=12)) if sub else None,
                                 yref="container", y=1, yanchor="top", pad=dict(t=12)),
                      height=height, template=TEMPLATE, uirevision=uirevision or title,
                      margin=dict(l=50, r=20, t=top, b=200 if legend == "below" else 45),
                      legend=dict(itemsizing="constant", bgcolor="rgba(255,255,255,0)", **LEGENDS[legend]))
    return fig
