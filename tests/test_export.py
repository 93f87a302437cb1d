"""Figures as files (``plots.export``, ``analyze --figures DIR --format``): the SVG is
well-formed XML whose paths sit where the axis map puts the traces' data; bars, line shapes
and log axes are drawn as data; formats that need kaleido fail in one line without it."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import plotly.graph_objects as go
import pytest

from dmdviz import plots
from dmdviz.cli.main import main
from dmdviz.errors import DmdvizError

SVG = "{http://www.w3.org/2000/svg}"


def _frame(fig: go.Figure, **axes) -> go.Figure:
    # plot area x 50..650, y 50..450 (WIDTH 700, height 500, margins 50)
    return fig.update_layout(height=500, margin=dict(l=50, r=50, t=50, b=50), showlegend=False, **axes)


def _paths(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg.split("\n", 1)[1]).iter(f"{SVG}path")


def _points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+) (-?[\d.]+)", d)]


def test_the_svg_document_is_xml_with_the_traces_data_at_their_axis_positions():
    fig = _frame(go.Figure(go.Scatter(x=[0, 5, 10], y=[0, 10, 5], mode="lines", line=dict(color="#d62728"))),
                 xaxis=dict(range=[0, 10]), yaxis=dict(range=[0, 10]))
    doc = plots.svg_document(fig)
    assert doc.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')
    root = ET.fromstring(doc.encode())  # parses as a standalone XML file
    assert root.get("width") == "700" and root.get("height") == "500"
    line = next(p for p in _paths(doc) if p.get("stroke") == "#d62728")
    assert _points(line.get("d")) == [(50.0, 450.0), (350.0, 50.0), (650.0, 250.0)]  # x ↦ 50 + 60x, y ↦ 450 − 40y


def test_bars_are_filled_rectangles_of_their_counts_and_a_vline_spans_them():
    fig = go.Figure(go.Bar(x=[1, 3], y=[4, 8], width=2, marker_color="#1f77b4"))
    fig.add_vline(x=2, line=dict(color="#d62728"))
    doc = plots.svg_document(_frame(fig, xaxis=dict(range=[0, 4]), yaxis=dict(range=[0, 8])))
    bars = next(p for p in _paths(doc) if p.get("fill") == "#1f77b4")
    # x ↦ 50 + 150x, y ↦ 450 − 50y: bar 1 spans x 0..2 up to 4, bar 2 x 2..4 up to 8
    assert _points(bars.get("d")) == [(50, 450), (50, 250), (350, 250), (350, 450), (50, 450),
                                      (350, 450), (350, 50), (650, 50), (650, 450), (350, 450)]
    vline = next(p for p in _paths(doc) if p.get("stroke") == "#d62728")
    assert _points(vline.get("d")) == [(350.0, 450.0), (350.0, 50.0)]  # x = 2 over the bars' 0..8


def test_a_log_axis_is_drawn_in_decades():
    fig = _frame(go.Figure(go.Scatter(x=[1, 10, 100], y=[0, 1, 2], mode="lines", line=dict(color="#d62728"))),
                 xaxis=dict(type="log", range=[0, 2]), yaxis=dict(range=[0, 2]))
    doc = plots.svg_document(fig)
    xs = [x for x, _ in _points(next(p for p in _paths(doc) if p.get("stroke") == "#d62728").get("d"))]
    assert np.diff(xs) == pytest.approx([np.diff(xs)[0]] * 2)  # equal steps a decade
    assert {">1<", ">10<", ">100<"} <= set(re.findall(r">\d+<", doc))


def _texts(doc: str) -> list[ET.Element]:
    return list(ET.fromstring(doc.split("\n", 1)[1]).iter(f"{SVG}text"))


def test_a_log_axis_draws_no_tick_outside_its_range():
    # log10 of the data spans 0.30..2.48: the decades 1 and 1000 lie outside the padded range
    fig = _frame(go.Figure(go.Scatter(x=[2, 20, 300], y=[0, 1, 2], mode="lines")), xaxis=dict(type="log"))
    labels = {t.text: float(t.get("x")) for t in _texts(plots.svg_document(fig))
              if t.get("font-size") == "11" and t.get("text-anchor") == "middle"}  # the x axis's tick labels
    assert "10" in labels and "100" in labels and "1" not in labels and "1000" not in labels
    assert all(50 <= x <= 650 for x in labels.values())  # every tick label within the plot area x 50..650


def test_the_cost_heatmaps_legend_sits_above_the_plot_not_on_it(rng=np.random.default_rng(0)):
    n = 40
    doc = plots.svg_document(plots.cost_heatmap(rng.random((n, n)), rng.permutation(n)))
    root = ET.fromstring(doc.split("\n", 1)[1])
    image = next(root.iter(f"{SVG}image"))
    grid = [float(g.get("y1")) for g in root.iter(f"{SVG}line") if g.get("stroke") == "#EBF0F8" and g.get("y1") == g.get("y2")]
    top = min([float(image.get("y")), *grid])
    legend = next(r for r in root.iter(f"{SVG}rect") if r.get("fill") == "rgba(255,255,255,0)")
    assert float(legend.get("y")) + float(legend.get("height")) <= top  # the box ends above the heatmap and its grid
    names = [t for t in _texts(doc) if t.text in ("diagonal (σ(i) = i)", "OT assignment σ")]
    assert len(names) == 2 and all(float(t.get("y")) < top for t in names)


def test_pdf_and_png_without_kaleido_fail_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "kaleido", None)  # `import kaleido` raises ImportError
    for fmt in ("pdf", "png"):
        with pytest.raises(DmdvizError, match=f"{fmt.upper()} figures needs kaleido"):
            plots.figure_bytes([go.Figure()], fmt)
    plots.require_format("svg")  # the own writer needs nothing
    with pytest.raises(DmdvizError, match="choose svg, pdf, png"):
        plots.require_format("eps")


def test_analyze_writes_every_report_figure_as_svg_and_a_static_report(tmp_path, tiny_pair, capsys):
    t, s = tiny_pair
    assert main(["analyze", "--teacher", str(t), "--student", str(s), "--n", "64", "--no-cache",
                 "--figures", str(tmp_path / "figs"), "--html", str(tmp_path / "r.html"), "--format", "svg"]) == 0
    files = sorted((tmp_path / "figs").iterdir())
    assert len(files) >= 5 and files[0].name.startswith("01-") and {f.suffix for f in files} == {".svg"}
    for f in files:
        assert any(p.get("d") for p in ET.parse(f).getroot().iter(f"{SVG}path")) or "<image" in f.read_text(), f.name
    report = (tmp_path / "r.html").read_text()
    assert report.count("<svg ") == len(files) and "plotly" not in report.lower().split("<h2>figures</h2>")[-1]


@pytest.mark.parametrize("extra, message", [(["--format", "svg"], "--format is the format of --figures"),
                                            (["--html", "r.html", "--format", "pdf"], "not pdf")])
def test_format_misuse_is_one_line_before_any_work(extra, message, capsys):
    assert main(["analyze", "--teacher", "nobody/nothing", "--student", "nobody/nothing", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
