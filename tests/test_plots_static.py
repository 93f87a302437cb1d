"""The static first paint: a Plotly figure's JSON drawn as one SVG (``plots.static``).

Positions are checked against the closed form of the axis map (data range → plot area in
pixels), colours against the colour scale's ends, the heatmap's PNG read back by an image
reader, and every figure builder of the Explore tab renders to well-formed SVG.
"""

from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import plotly.graph_objects as go
import pytest

from dmdviz import plots
from dmdviz.plots import WIDTH, decode, figure_svg, nice_ticks, scale_colors
from dmdviz.plots.style import TEMPLATE


def _json(fig: go.Figure) -> dict:
    return json.loads(fig.to_json())


def _frame(**layout) -> dict:
    return dict(height=500, margin=dict(l=50, r=50, t=50, b=50), **layout)


def _dot_paths(svg: str) -> list[list[tuple[float, float]]]:
    """The points of each round-capped marker path, in SVG pixels."""
    return [[(float(x), float(y)) for x, y in re.findall(r"M(-?[\d.]+) (-?[\d.]+)h0", d)]
            for d in re.findall(r'<path d="([^"]*h0[^"]*)"', svg)]


def test_typed_arrays_decode_to_what_was_plotted():
    x = np.array([0.5, np.nan, -2.25], np.float32)
    z = np.arange(6, dtype=np.float32).reshape(2, 3)
    fig = _json(go.Figure([go.Scatter(x=x, y=[1, None, 3]), go.Heatmap(z=z)]))
    assert isinstance(fig["data"][0]["x"], dict)  # plotly sends numpy as base64 typed arrays
    np.testing.assert_array_equal(decode(fig["data"][0]["x"]), x)
    np.testing.assert_array_equal(decode(fig["data"][0]["y"]), [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(decode(fig["data"][1]["z"]), z)


def test_markers_land_where_the_axis_map_puts_them():
    # plot area x 50..650, y 50..450 (WIDTH 700, height 500, margins 50)
    fig = go.Figure(go.Scatter(x=[0, 5, 10], y=[0, 5, 10], mode="markers", marker=dict(color="#d62728", size=4)))
    fig.update_layout(_frame(xaxis=dict(range=[0, 10]), yaxis=dict(range=[0, 10])))
    svg = figure_svg(_json(fig))
    assert WIDTH == 700
    assert _dot_paths(svg) == [[(50.0, 450.0), (350.0, 250.0), (650.0, 50.0)]]  # y grows downwards in SVG
    assert 'stroke="#d62728" stroke-width="4.0"' in svg
    ET.fromstring(svg)  # well-formed


def test_equal_scale_axes_widen_the_narrow_range():
    fig = go.Figure(go.Scatter(x=[0, 10], y=[0, 10], mode="markers"))
    fig.update_layout(_frame(xaxis=dict(range=[0, 10]), yaxis=dict(range=[0, 10], scaleanchor="x")))
    (a, b), = _dot_paths(figure_svg(_json(fig)))
    # 600 px wide, 400 px high: one unit is 40 px on both axes, the x range widened about its centre
    assert (b[0] - a[0], a[1] - b[1]) == (400.0, 400.0)
    assert (a[0] + b[0]) / 2 == 350.0


def test_matched_axes_share_one_range_and_the_subtitle_is_drawn():
    panels = {"z": np.array([[0.0, 0.0], [1.0, 1.0]]), "G": np.array([[0.0, 0.0], [10.0, 10.0]])}
    fig = _json(plots.low_dim_panels(panels, np.arange(2), title="Pairing<br>a → b"))
    svg = figure_svg(fig)
    z0, z1, g0, g1 = sorted(x for path in _dot_paths(svg) for x, _ in path)  # panel z left of panel G
    # one scale for both panels: z's (1, 1) a tenth of the way to G's (10, 10) from the shared origin
    assert (z1 - z0) == pytest.approx((g1 - g0) / 10, rel=1e-2)  # to the 0.1 px the SVG keeps
    assert ">Pairing</text>" in svg and ">a → b</text>" in svg


def test_lines_break_at_nan_and_keep_their_dash():
    x, y = plots.pair_lines(np.array([[0, 0], [1, 1]]), np.array([[1, 0], [2, 1]]))
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", line=dict(color="white", dash="dot")))
    fig.update_layout(_frame(xaxis=dict(range=[0, 2]), yaxis=dict(range=[0, 1])))
    d = re.search(r'<path d="([^"]*)" stroke="white"[^>]*stroke-dasharray="2 3"', figure_svg(_json(fig))).group(1)
    assert d.count("M") == 2 and d.count("L") == 2  # two segments, no line across the NaN


def test_colour_scale_markers_take_the_scale_colours():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="markers",
                               marker=dict(color=np.array([0.0, 1.0], np.float32), cmin=0, cmax=1,
                                           colorscale=[[0, "#000000"], [1, "#ffffff"]])))
    svg = figure_svg(_json(fig))
    colours = re.findall(r'h0" stroke="rgb\((\d+),(\d+),(\d+)\)"', svg)
    assert len(colours) == 2 and int(colours[0][0]) < 10 and int(colours[1][0]) > 245  # the lowest and highest step
    np.testing.assert_allclose(scale_colors(np.array([0.0, 0.5, 1.0]), [[0, "#000000"], [1, "rgb(255,0,255)"]], 0, 1),
                               [[0, 0, 0], [127.5, 0, 127.5], [255, 0, 255]])


def test_a_figure_naming_no_scale_gets_plotlys_own_viridis():
    """The default scale is Plotly's (``plotly.colors``), not a hand-written approximation."""
    from plotly.colors import sample_colorscale, unlabel_rgb

    values = np.linspace(0, 1, 24, dtype=np.float32)  # one value per colour step, at the step's lower edge
    fig = go.Figure(go.Scatter(x=values, y=values, mode="markers", marker=dict(color=values, cmin=0, cmax=1)),
                    layout=dict(template=TEMPLATE))  # dmdviz's template names no scale (Plotly's own names Plasma)
    got = [tuple(map(int, c)) for c in re.findall(r'h0" stroke="rgb\((\d+),(\d+),(\d+)\)"', figure_svg(_json(fig)))]
    centres = (np.minimum((values * 24).astype(int), 23) + 0.5) / 24  # each step is drawn in its centre's colour
    want = [tuple(round(v) for v in unlabel_rgb(c)) for c in sample_colorscale("Viridis", list(centres))]
    assert len(got) == 24
    assert max(abs(a - b) for g, w in zip(got, want) for a, b in zip(g, w)) <= 1


def test_heatmap_is_one_png_with_row_zero_at_the_bottom():
    from PIL import Image

    z = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    fig = go.Figure(go.Heatmap(z=z, colorscale=[[0, "#000000"], [1, "#ffffff"]]))
    svg = figure_svg(_json(fig))
    uri = re.search(r'<image href="(data:image/png;base64,[^"]+)"', svg).group(1)
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert png.shape == (2, 2, 3)
    np.testing.assert_array_equal(png[..., 0], [[170, 255], [0, 85]])  # z's first row is the image's last
    assert svg.count("<rect") > 30  # the colour bar


def test_text_is_escaped_and_legend_lists_the_named_traces():
    fig = go.Figure([go.Scatter(x=[0], y=[0], name="Φ_8 <b>", mode="markers"),
                     go.Scatter(x=[1], y=[1], name="G", mode="lines")])
    fig.update_layout(title="<script>alert(1)</script>")
    svg = figure_svg(_json(fig))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "Φ_8 &lt;b&gt;" in svg and ">G</text>" in svg
    ET.fromstring(svg)


def test_invisible_hover_targets_are_not_drawn():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="markers", marker=dict(opacity=0)))
    assert _dot_paths(figure_svg(_json(fig))) == []


@pytest.mark.parametrize("lo, hi, expected", [(0, 10, [0, 2, 4, 6, 8, 10]), (-0.13, 0.13, [-0.1, 0, 0.1]),
                                              (1, 1, []), (0.5, 2.4, [0.5, 1.0, 1.5, 2.0])])
def test_nice_ticks(lo, hi, expected):
    assert nice_ticks(lo, hi) == pytest.approx(expected)


def test_every_explore_figure_renders(rng=np.random.default_rng(0)):
    seeds = np.arange(50)
    pts = {name: rng.normal(size=(50, 2)).astype(np.float32) for name in ("z", "Φ_8", "Φ_1", "G")}
    cost = rng.random((50, 50)).astype(np.float32)
    states = rng.normal(size=(9, 2)).astype(np.float32)
    figures = [plots.low_dim_panels(pts, seeds), plots.pca_triplets(pts, seeds),
               plots.cost_heatmap(cost, rng.permutation(50), seeds),
               plots.distance_scatter(rng.random(50), rng.random(50), seeds),
               plots.trajectory_plot(states, states[0], states[-1], 0, pts["Φ_8"]),
               plots.image_grid({"G": rng.uniform(-1, 1, (5, 4, 4))}, np.arange(5))]
    for fig in figures:
        svg = figure_svg(_json(fig))
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and len(svg) < 200_000
    panels = figure_svg(_json(figures[0]))
    assert sum(len(p) for p in _dot_paths(panels)) == 4 * 50  # every point of the four panels
    assert figure_svg(_json(figures[-1])).count("<image") == 1  # the grid's one PNG


def test_image_grid_rows_line_up_with_their_labels():
    """The grid's PNG and its row labels share one y axis, given high to low (images run
    top-down): each label sits at its row's centre, the first row at the top."""
    rows = {"Φ_1": -np.ones((12, 28, 28)), "G": np.ones((12, 28, 28))}
    fig = _json(plots.image_grid(rows, np.arange(12)))
    svg = figure_svg(fig)
    x, y, w, h = (float(v) for v in re.search(r'<image [^>]*?x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                                              r'height="([\d.]+)"', svg).groups())
    canvas_rows = fig["layout"]["yaxis"]["range"][0] + 0.5  # the PNG's height in image pixels
    labels = re.findall(r'y="([\d.]+)" text-anchor="end" font-size="11">([^<]+)</text>', svg)
    assert [t for _, t in labels] == ["Φ_1", "G", "Φ_1", "G"]
    for (ly, _), tick in zip(labels, fig["layout"]["yaxis"]["tickvals"]):
        assert float(ly) - 4 == pytest.approx(y + (tick + 0.5) * h / canvas_rows, abs=0.2)
