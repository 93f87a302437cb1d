"""Figures: numpy arrays in, plotly figures (or static SVG / PNG) out.

    figures  -- the paper's per-pair figures (fig 1-3, 5, 7-10, 12)
    curves   -- curves over training and teacher length (fig 4, 11, meters, live views)
    sweep    -- copying against dimension
    static   -- a plotly figure's JSON drawn as SVG (the server's first paint)
    export   -- a figure as an SVG (static), PDF or PNG (kaleido) document's bytes
    style    -- the shared look; png -- an image as a PNG data URI

Rule: no torch, no gradio, no files; imports nothing of dmdviz outside this package.
Other layers use the builders exported here.
"""

from dmdviz.plots.curves import (
    copying_at_every_scale,
    copying_meters,
    copying_vs_teacher_length,
    dm_loss_curves,
    smooth,
    training_curves,
)
from dmdviz.plots.figures import (
    boundary_scatter,
    compare_distances,
    compare_pca,
    cost_heatmap,
    distance_scatter,
    downsample,
    image_grid,
    low_dim_panels,
    memorization_histogram,
    pair_lines,
    pca_triplets,
    trajectory_plot,
)
from dmdviz.plots.export import FORMATS, figure_bytes, require_format, svg_document
from dmdviz.plots.png import png_data_uri
from dmdviz.plots.static import WIDTH, decode, figure_svg, nice_ticks, scale_colors
from dmdviz.plots.style import COLORS, GRID_COLUMNS, GRID_WIDTH, LINE_COLORS, MAX_CURVE_POINTS, MAX_SIDE, SVG_MAX_POINTS
from dmdviz.plots.sweep import sweep_figure

__all__ = [
    "COLORS",
    "FORMATS",
    "GRID_COLUMNS",
    "GRID_WIDTH",
    "LINE_COLORS",
    "MAX_CURVE_POINTS",
    "MAX_SIDE",
    "SVG_MAX_POINTS",
    "WIDTH",
    "boundary_scatter",
    "compare_distances",
    "compare_pca",
    "copying_at_every_scale",
    "copying_meters",
    "copying_vs_teacher_length",
    "cost_heatmap",
    "decode",
    "distance_scatter",
    "dm_loss_curves",
    "downsample",
    "figure_bytes",
    "figure_svg",
    "image_grid",
    "low_dim_panels",
    "memorization_histogram",
    "nice_ticks",
    "pair_lines",
    "pca_triplets",
    "png_data_uri",
    "require_format",
    "scale_colors",
    "smooth",
    "svg_document",
    "sweep_figure",
    "training_curves",
    "trajectory_plot",
]
