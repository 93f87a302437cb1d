"""Figures for papers: a Plotly figure as an SVG, PDF or PNG document (its bytes; the caller
writes them).

SVG comes from dmdviz's own writer (``static.figure_svg``): no browser, the same bytes on
every machine, the traces' data as vector paths. Before drawing, the few things that writer
leaves to Plotly are rewritten into what it draws: bars become filled rectangles, a line
shape across a subplot (``add_vline``/``add_hline``) a line trace over the data's extent, and
a log axis its log10 values with ticks at the decades. PDF and PNG are Plotly's own
rendering through kaleido, which needs the ``kaleido`` package and a Chromium (Debian's
``/usr/bin/chromium`` is found; ``BROWSER_PATH`` names another).
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import plotly.graph_objects as go

from dmdviz.errors import DmdvizError
from dmdviz.plots.static import WIDTH, decode, figure_svg

FORMATS = ("svg", "pdf", "png")
EXPORT_WIDTH = 1000  # px of a kaleido page (PDF, PNG); the SVG is WIDTH user units wide and scales
NEEDS_KALEIDO = "needs kaleido (pip install kaleido==1.5.2) and a Chromium (BROWSER_PATH, e.g. /usr/bin/chromium)"


def _bars(tr: dict) -> dict:
    """A vertical bar trace as one scatter trace of closed rectangles (NaN between bars)."""
    x, y = decode(tr["x"]).astype(float), decode(tr["y"]).astype(float)
    width = tr.get("width")
    if width is None:  # Plotly's default: the bars touch
        width = float(np.min(np.diff(x))) if len(x) > 1 else 1.0
    half = np.broadcast_to(decode(width) if isinstance(width, (list, dict)) else float(width), x.shape) / 2
    zero, gap = np.zeros_like(y), np.full_like(y, np.nan)
    xs = np.stack([x - half, x - half, x + half, x + half, x - half, gap], axis=1).reshape(-1)
    ys = np.stack([zero, y, y, zero, zero, gap], axis=1).reshape(-1)
    color = (tr.get("marker") or {}).get("color", "#1f77b4")
    color = color if isinstance(color, str) else "#1f77b4"
    return {"type": "scatter", "mode": "lines", "x": xs.tolist(), "y": ys.tolist(), "fill": "toself",
            "fillcolor": color, "line": {"color": "white", "width": 0.5}, "name": tr.get("name"),
            "showlegend": False, "xaxis": tr.get("xaxis", "x"), "yaxis": tr.get("yaxis", "y")}


def _extent(traces: list[dict], key: str, axis: str) -> list[float]:
    """[min, max] of the finite ``key`` ("x" or "y") values of the traces on ``axis``."""
    values = [decode(tr[key]).astype(float) for tr in traces if tr.get(f"{key}axis", key) == axis and key in tr]
    flat = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    return [float(flat.min()), float(flat.max())] if flat.size else [0.0, 1.0]


def _shape_lines(shapes: list[dict], traces: list[dict]) -> list[dict]:
    """Line shapes as line traces; a coordinate given in a subplot's domain spans the data there."""
    out = []
    for s in shapes:
        if s.get("type") != "line":
            continue
        xref, yref = s.get("xref", "x"), s.get("yref", "y")
        xa, ya = xref.split()[0], yref.split()[0]
        xs = _extent(traces, "x", xa) if xref.endswith("domain") else [s.get("x0"), s.get("x1")]
        ys = _extent(traces, "y", ya) if yref.endswith("domain") else [s.get("y0"), s.get("y1")]
        out.append({"type": "scatter", "mode": "lines", "x": xs, "y": ys, "line": s.get("line") or {},
                    "showlegend": False, "xaxis": xa if xa != "paper" else "x", "yaxis": ya if ya != "paper" else "y"})
    return out


def _log_axes(figure: dict) -> None:
    """Each log axis as its log10 values, ticked at the decades it spans (in place)."""
    layout = figure["layout"]
    for key in [k for k in layout if k.startswith(("xaxis", "yaxis")) and (layout[k] or {}).get("type") == "log"]:
        short, coord = key[0] + key[5:], key[0]
        for tr in figure["data"]:
            if tr.get(f"{coord}axis", coord) == short and coord in tr:
                v = decode(tr[coord]).astype(float)
                tr[coord] = np.log10(np.where(v > 0, v, np.nan)).tolist()
        lo, hi = _extent(figure["data"], coord, short)
        decades = list(range(math.floor(lo), math.ceil(hi) + 1))
        layout[key] = {**layout[key], "type": "linear", "tickvals": decades, "ticktext": [f"{10.0 ** d:g}" for d in decades]}
        layout[key].pop("range", None)


def drawable(figure: dict) -> dict:
    """A copy of a figure's JSON rewritten into what ``static.figure_svg`` draws (module docstring)."""
    figure = copy.deepcopy(figure)
    layout = figure.setdefault("layout", {})
    traces = [_bars(tr) if tr.get("type") == "bar" and tr.get("orientation", "v") == "v" else tr
              for tr in figure.get("data") or []]
    figure["data"] = traces + _shape_lines(layout.pop("shapes", None) or [], traces)
    _log_axes(figure)
    return figure


def svg_document(fig: go.Figure) -> str:
    """The figure as a standalone SVG file's text (an XML declaration, a fixed size)."""
    svg = figure_svg(drawable(json.loads(fig.to_json())))
    height = svg.split('viewBox="0 0 ', 1)[1].split('"', 1)[0].split()[1]
    svg = svg.replace(' width="100%"', f' width="{WIDTH}" height="{height}"', 1)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + svg + "\n"


def require_format(fmt: str) -> None:
    """Refuse, in one line, a format that is unknown or that cannot be written here (checked
    before any work, so a missing kaleido fails before an analysis rather than after)."""
    if fmt not in FORMATS:
        raise DmdvizError(f"figure format {fmt!r}: choose {', '.join(FORMATS)}")
    if fmt == "svg":
        return
    try:
        import kaleido  # noqa: F401  (plotly's image export calls it)
    except ImportError:
        raise DmdvizError(f"{fmt.upper()} figures {NEEDS_KALEIDO}; or write SVG (--format svg)") from None


def figure_bytes(figs: list[go.Figure], fmt: str) -> list[bytes]:
    """Each figure as an SVG (own writer), PDF or PNG (kaleido, one browser for all) document."""
    require_format(fmt)
    if fmt == "svg":
        return [svg_document(fig).encode() for fig in figs]
    import kaleido
    import plotly.io as pio

    try:
        kaleido.start_sync_server(silence_warnings=True)
        return [pio.to_image(fig, format=fmt, width=EXPORT_WIDTH, height=fig.layout.height or 450) for fig in figs]
    except RuntimeError as e:  # plotly's wrapping of "no Chrome found" and of kaleido's own failures
        raise DmdvizError(f"{fmt.upper()} export failed ({str(e).splitlines()[0] if str(e) else 'kaleido'}); it "
                          f"{NEEDS_KALEIDO}") from None
    finally:
        kaleido.stop_sync_server(silence_warnings=True)
