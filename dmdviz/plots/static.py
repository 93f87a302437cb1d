"""A Plotly figure drawn as one static SVG: the first paint of a plot before Plotly is ready.

Pure builder, like ``plots``: the figure's JSON (what ``web.common.serialised`` sends) in, an
``<svg>`` string out. Gradio's Plotly bundle takes 2-2.5 s to evaluate in a 2-core browser;
the page shows this drawing of the same figure meanwhile and swaps it for the interactive
plot once that has drawn (``web.text.FIRST_PAINT_CSS``). It draws what dmdviz's figures use
and nothing more: scatter traces (markers in their colours or colour scale, lines with NaN
breaks, text labels), a heatmap as one RGB PNG with its colour bar, ``go.Image`` sources,
subplot domains, shared and equal-scale axes (``matches``, ``scaleanchor``), ticks, titles and
subtitles, annotations and the legend. No hover, zoom or click: those wait for Plotly.
"""

from __future__ import annotations

import base64
import html
import math

import numpy as np
from plotly.colors import make_colorscale, sequential

from dmdviz.plots.png import png_data_uri

WIDTH = 700  # viewBox width; the SVG scales to its box (``width="100%"``)
FONT = "Open Sans, verdana, arial, sans-serif"
_SYMBOLS_CROSS = {"x", "cross"}
_BUCKETS = 24  # colour-scale steps: one <path> a step and trace
_VIRIDIS = make_colorscale(sequential.Viridis)  # Plotly's default scale, where a figure names none


def decode(value) -> np.ndarray:
    """A Plotly JSON array (a list, or a typed array ``{"dtype", "bdata"[, "shape"]}``) as numpy."""
    if isinstance(value, dict) and "bdata" in value:
        a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return a.reshape([int(s) for s in str(shape).split(",")]) if shape else a
    flat = isinstance(value, list) and value and not isinstance(value[0], list)
    return np.asarray([np.nan if v is None else v for v in value] if flat else value, dtype=float)


def _rgb(color: str) -> tuple[float, float, float, float]:
    """'#rrggbb', '#rgb', 'rgb(r,g,b)' or 'rgba(r,g,b,a)' as (r, g, b, a); anything else grey."""
    c = color.strip().lower()
    if c.startswith("#"):
        h = c[1:] if len(c) == 7 else "".join(ch * 2 for ch in c[1:4])
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0
    if c.startswith("rgb"):
        parts = [float(p) for p in c[c.index("(") + 1:c.index(")")].split(",")]
        return parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else 1.0
    return {"white": (255, 255, 255, 1.0), "black": (0, 0, 0, 1.0)}.get(c, (128, 128, 128, 1.0))


def _css(rgba) -> str:
    r, g, b, a = rgba
    return f"rgb({r:.0f},{g:.0f},{b:.0f})" if a >= 1 else f"rgba({r:.0f},{g:.0f},{b:.0f},{a:.3g})"


def scale_colors(values: np.ndarray, scale: list, lo: float, hi: float) -> np.ndarray:
    """(N,) values → (N, 3) RGB through a Plotly colour scale [[t, colour], ...] over [lo, hi]."""
    stops = np.array([float(t) for t, _ in scale])
    rgb = np.array([_rgb(c)[:3] for _, c in scale], dtype=float)
    t = np.clip((np.asarray(values, float) - lo) / ((hi - lo) or 1.0), 0, 1)
    t = np.nan_to_num(t)
    return np.stack([np.interp(t, stops, rgb[:, i]) for i in range(3)], axis=1)


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values inside [lo, hi], about ``target`` of them (steps 1, 2, 2.5, 5 × 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    raw = (hi - lo) / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.4g}".replace("-", "−")


class _Axis:
    """One axis: its data range and its pixel span; ``px`` maps data to SVG coordinates."""

    def __init__(self, spec: dict, lo_px: float, hi_px: float, vertical: bool):
        self.spec, self.vertical, self.lo_px, self.hi_px = spec, vertical, lo_px, hi_px
        self.range = list(spec["range"]) if spec.get("range") else None
        self.reversed = spec.get("autorange") == "reversed"
        self.data: list[np.ndarray] = []
        self.pad = 0.0

    def fit(self) -> None:
        if self.range is None:
            values = np.concatenate([d[np.isfinite(d)] for d in self.data]) if self.data else np.array([])
            lo, hi = (float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
            span = (hi - lo) or 1.0
            self.range = [lo - self.pad * span, hi + self.pad * span]

    @property
    def length(self) -> float:
        return abs(self.hi_px - self.lo_px)

    def px(self, v):
        lo, hi = self.range
        t = (np.asarray(v, float) - lo) / ((hi - lo) or 1.0)
        if self.vertical != self.reversed:  # SVG's y grows downwards
            t = 1 - t
        return self.lo_px + t * (self.hi_px - self.lo_px)


def _layout_frame(layout: dict, heatmap: bool) -> tuple[float, float, float, float, float]:
    height = float(layout.get("height") or 450)
    m = {"l": 80, "r": 80, "t": 100, "b": 80, **(layout.get("margin") or {})}
    right = m["r"] + (70 if heatmap else 0)  # the colour bar's room
    return height, m["l"], WIDTH - right, m["t"], height - m["b"]


def _axes(layout: dict, frame) -> dict[str, _Axis]:
    _, x0, x1, y0, y1 = frame
    axes = {}
    names = {k for k in layout if k.startswith(("xaxis", "yaxis"))} | {"xaxis", "yaxis"}
    for key in sorted(names):
        spec = layout.get(key) or {}
        d0, d1 = spec.get("domain") or [0.0, 1.0]
        short = key[0] + key[5:]  # xaxis2 -> x2
        if key.startswith("x"):
            axes[short] = _Axis(spec, x0 + d0 * (x1 - x0), x0 + d1 * (x1 - x0), vertical=False)
        else:  # lo_px is the top of the domain: SVG's y grows downwards
            axes[short] = _Axis(spec, y1 - d1 * (y1 - y0), y1 - d0 * (y1 - y0), vertical=True)
    return axes


def _equal_scale(axes: dict[str, _Axis]) -> None:
    """``scaleanchor``: one data unit the same number of pixels on both axes (ranges widened)."""
    for ax in axes.values():
        other = ax.spec.get("scaleanchor")
        if not other or other not in axes:
            continue
        a, b = ax, axes[other]
        per_px = max(abs(a.range[1] - a.range[0]) / a.length, abs(b.range[1] - b.range[0]) / b.length)
        for axis in (a, b):
            mid, half = (axis.range[0] + axis.range[1]) / 2, per_px * axis.length / 2
            half = half if axis.range[1] >= axis.range[0] else -half  # a range given high to low stays so
            axis.range = [mid - half, mid + half]


def _shared(axes: dict[str, _Axis]) -> None:  # ``matches``: a group of axes shows the union of its ranges
    for name, ax in axes.items():
        group = [a for n, a in axes.items() if (a.spec.get("matches") or n) == (ax.spec.get("matches") or name)]
        lo, hi = min(min(a.range) for a in group), max(max(a.range) for a in group)
        ax.range = [hi, lo] if ax.range[0] > ax.range[1] else [lo, hi]


def _dots(xs, ys, size: float, color: str, opacity: float, cross: bool) -> str:
    ok = np.isfinite(xs) & np.isfinite(ys)
    if not ok.any():
        return ""
    r = size / 2
    if cross:
        d = "".join(f"M{x - r:.1f} {y - r:.1f}l{size:.1f} {size:.1f}m{-size:.1f} 0l{size:.1f} {-size:.1f}"
                    for x, y in zip(xs[ok], ys[ok]))
        return f'<path d="{d}" stroke="{color}" stroke-width="1.5" fill="none" opacity="{opacity:.3g}"/>'
    d = "".join(f"M{x:.1f} {y:.1f}h0" for x, y in zip(xs[ok], ys[ok]))
    return (f'<path d="{d}" stroke="{color}" stroke-width="{size:.1f}" stroke-linecap="round" '
            f'fill="none" opacity="{opacity:.3g}"/>')


def _markers(tr: dict, xs, ys, layout: dict) -> str:
    marker = tr.get("marker") or {}
    opacity = float(marker.get("opacity", 1.0)) * float(tr.get("opacity", 1.0))
    if opacity <= 0:
        return ""  # invisible hover targets
    size = float(marker.get("size", 6)) if not isinstance(marker.get("size"), (list, dict)) else 6.0
    cross = marker.get("symbol") in _SYMBOLS_CROSS
    color = marker.get("color", (tr.get("line") or {}).get("color", "#1f77b4"))  # Plotly's default: the line's
    if isinstance(color, str):
        return _dots(xs, ys, size, color, opacity, cross)
    values = decode(color).astype(float)
    scale = marker.get("colorscale") or (layout.get("template", {}).get("layout", {}).get("colorscale", {})
                                         .get("sequential")) or _VIRIDIS
    lo = float(marker.get("cmin", np.nanmin(values)))
    hi = float(marker.get("cmax", np.nanmax(values)))
    bucket = np.clip(((values - lo) / ((hi - lo) or 1.0) * _BUCKETS).astype(int), 0, _BUCKETS - 1)
    colors = scale_colors((np.arange(_BUCKETS) + 0.5) / _BUCKETS * (hi - lo) + lo, scale, lo, hi)
    return "".join(_dots(xs[bucket == b], ys[bucket == b], size, _css((*colors[b], 1.0)), opacity, cross)
                   for b in range(_BUCKETS) if (bucket == b).any())


def _lines(tr: dict, xs, ys) -> str:  # a "toself" fill closes each NaN-separated piece
    line, fill = tr.get("line") or {}, tr.get("fillcolor", "#1f77b4") if tr.get("fill") == "toself" else "none"
    parts, pen = [], False
    for x, y in zip(xs, ys):
        if not (np.isfinite(x) and np.isfinite(y)):
            pen = False
            continue
        parts.append(f"{'L' if pen else 'M'}{x:.1f} {y:.1f}")
        pen = True
    if not parts:
        return ""
    dash = {"dot": ' stroke-dasharray="2 3"', "dash": ' stroke-dasharray="6 4"'}.get(line.get("dash"), "")
    return (f'<path d="{"".join(parts)}" stroke="{line.get("color", "#1f77b4")}" '
            f'stroke-width="{float(line.get("width", 2)):.1f}" fill="{fill}"{dash}/>')


def _texts(tr: dict, xs, ys) -> str:
    texts = tr.get("text") or []
    texts = [texts] * len(xs) if isinstance(texts, str) else list(texts)
    below = "bottom" in str(tr.get("textposition", "top"))
    return "".join(f'<text x="{x:.1f}" y="{y + (16 if below else -9):.1f}" text-anchor="middle" '
                   f'font-size="12">{html.escape(str(t))}</text>'
                   for x, y, t in zip(xs, ys, texts) if np.isfinite(x) and np.isfinite(y))


def _heatmap(tr: dict, ax: _Axis, ay: _Axis) -> tuple[str, str]:
    """(the image, its colour bar) of a heatmap trace."""
    z = decode(tr["z"]).astype(float)
    lo = float(tr.get("zmin", np.nanmin(z)))
    hi = float(tr.get("zmax", np.nanmax(z)))
    scale = tr.get("colorscale") or _VIRIDIS
    rgb = scale_colors(z.reshape(-1), scale, lo, hi).reshape(*z.shape, 3)
    xs, ys = _extent(tr, z.shape[1], z.shape[0])
    (xa, xb), (ya, yb) = ax.px(xs), ay.px(ys)
    if ya > yb:  # row 0 at the bottom: the PNG's first row is the top one
        rgb = rgb[::-1]
    img = (f'<image href="{png_data_uri(np.round(rgb).astype(np.uint8))}" x="{min(xa, xb):.1f}" '
           f'y="{min(ya, yb):.1f}" width="{abs(xb - xa):.1f}" height="{abs(yb - ya):.1f}" '
           f'preserveAspectRatio="none" style="image-rendering:pixelated"/>')
    top, bottom, bar_x, steps = ay.lo_px, ay.hi_px, ax.hi_px + 18, 32  # the colour bar beside the plot
    cells = scale_colors(np.linspace(hi, lo, steps), scale, lo, hi)
    h = (bottom - top) / steps
    bar = "".join(f'<rect x="{bar_x:.1f}" y="{top + i * h:.1f}" width="12" height="{h + 0.5:.1f}" '
                  f'fill="{_css((*c, 1.0))}"/>' for i, c in enumerate(cells))
    ticks = nice_ticks(lo, hi, 4)
    bar += "".join(f'<text x="{bar_x + 16:.1f}" y="{bottom - (t - lo) / ((hi - lo) or 1) * (bottom - top) + 4:.1f}" '
                   f'font-size="11">{_fmt(t)}</text>' for t in ticks)
    return img, bar


def _image(tr: dict, ax: _Axis, ay: _Axis) -> str:
    src = tr.get("source")
    if not src:
        return ""
    xs, ys = _extent(tr, *_png_size(src))
    (xa, xb), (ya, yb) = ax.px(xs), ay.px(ys)
    return (f'<image href="{src}" x="{min(xa, xb):.1f}" y="{min(ya, yb):.1f}" width="{abs(xb - xa):.1f}" '
            f'height="{abs(yb - ya):.1f}" preserveAspectRatio="none"/>')


def _png_size(uri: str) -> tuple[int, int]:
    head = base64.b64decode(uri.split(",", 1)[1][:64])
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _axis_marks(ax: _Axis, other: _Axis, grid: str) -> str:
    """Grid lines, tick labels (the axis's own ``tickvals``/``ticktext`` if it has them) and title."""
    if ax.spec.get("visible") is False:
        return ""
    if ax.spec.get("tickvals") is not None:
        ticks = list(zip(decode(ax.spec["tickvals"]).astype(float), ax.spec.get("ticktext") or []))
    else:
        ticks = [(t, _fmt(t)) for t in nice_ticks(*sorted(ax.range))]
    lo, hi = sorted(ax.range)  # a tick outside the range (a log axis's outer decade) would sit off the plot
    ticks = [(t, label) for t, label in ticks if lo - 1e-9 * (hi - lo) <= t <= hi + 1e-9 * (hi - lo)]
    lines, out = ax.spec.get("showgrid", True) is not False, []
    for t, label in ticks:
        p = float(ax.px(t))
        label = html.escape(str(label))
        if ax.vertical:
            line = f'<line x1="{other.lo_px:.1f}" x2="{other.hi_px:.1f}" y1="{p:.1f}" y2="{p:.1f}" stroke="{grid}"/>'
            out.append((line if lines else "") + f'<text x="{other.lo_px - 5:.1f}" y="{p + 4:.1f}" text-anchor="end" '
                       f'font-size="11">{label}</text>')
        else:
            y = max(other.lo_px, other.hi_px)
            line = f'<line x1="{p:.1f}" x2="{p:.1f}" y1="{other.lo_px:.1f}" y2="{other.hi_px:.1f}" stroke="{grid}"/>'
            out.append((line if lines else "") + f'<text x="{p:.1f}" y="{y + 15:.1f}" text-anchor="middle" '
                       f'font-size="11">{label}</text>')
    title = (ax.spec.get("title") or {}).get("text")
    if title:
        if ax.vertical:
            x, y = other.lo_px - 38, (ax.lo_px + ax.hi_px) / 2
            out.append(f'<text transform="translate({x:.1f},{y:.1f}) rotate(-90)" text-anchor="middle" '
                       f'font-size="13">{html.escape(title)}</text>')
        else:
            out.append(f'<text x="{(ax.lo_px + ax.hi_px) / 2:.1f}" y="{max(other.lo_px, other.hi_px) + 34:.1f}" '
                       f'text-anchor="middle" font-size="13">{html.escape(title)}</text>')
    return "".join(out)


def _legend(traces: list[dict], layout: dict, frame) -> str:
    shown = [tr for tr in traces if tr.get("showlegend", True) is not False and tr.get("name")
             and tr.get("type", "scatter") in ("scatter", "scattergl")]
    if layout.get("showlegend") is False or len(shown) < 2 and layout.get("showlegend") is not True:
        return ""
    _, x0, x1, y0, y1 = frame
    spec = layout.get("legend") or {}
    widths, across = [24 + 7 * len(tr["name"]) for tr in shown], spec.get("orientation") == "h"  # "h": one row
    w, h = (sum(widths), 24) if across else (max(widths), 18 * len(shown) + 6)
    shift = {"right": w + 8, "center": w / 2 + 4, "bottom": h + 8, "middle": h / 2 + 4}  # (x, y) not its left/top
    lx = x0 + float(spec.get("x", 1.02)) * (x1 - x0) + 4 - shift.get(spec.get("xanchor"), 0)
    ly = y1 - float(spec.get("y", 1.0)) * (y1 - y0) + 4 - shift.get(spec.get("yanchor"), 0)
    spots = [(lx + sum(widths[:i]), ly + 14) if across else (lx, ly + 14 + 18 * i) for i in range(len(shown))]
    out = [f'<rect x="{lx:.1f}" y="{ly:.1f}" width="{w}" height="{h}" '
           f'fill="{spec.get("bgcolor", "rgba(255,255,255,0.7)")}"/>']
    for (x, y), tr in zip(spots, shown):
        marker, line = tr.get("marker") or {}, tr.get("line") or {}
        if "markers" in tr.get("mode", "markers"):
            color = marker.get("color") if isinstance(marker.get("color"), str) else line.get("color", "#888888")
            out.append(_dots(np.array([x + 10]), np.array([y - 4]), 8, color, 1.0, marker.get("symbol") in _SYMBOLS_CROSS))
        else:
            out.append(f'<line x1="{x + 3:.1f}" x2="{x + 17:.1f}" y1="{y - 4:.1f}" y2="{y - 4:.1f}" '
                       f'stroke="{line.get("color", "#1f77b4")}" stroke-width="2"/>')
        out.append(f'<text x="{x + 22:.1f}" y="{y:.1f}" font-size="12">{html.escape(tr["name"])}</text>')
    return "".join(out)


def _text_of(value) -> str:
    return (value.get("text") if isinstance(value, dict) else value) or ""


def _annotations(layout: dict, frame) -> str:
    _, x0, x1, y0, y1 = frame
    out = []
    for a in layout.get("annotations") or []:
        if a.get("xref", "paper") != "paper" or a.get("yref", "paper") != "paper":
            continue
        x = x0 + float(a.get("x", 0.5)) * (x1 - x0)
        y = y1 - float(a.get("y", 0.5)) * (y1 - y0) - (4 if a.get("yanchor") == "bottom" else 0)
        anchor = {"left": "start", "right": "end"}.get(a.get("xanchor"), "middle")
        size = (a.get("font") or {}).get("size", 12)
        out.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}">'
                   f'{html.escape(str(a.get("text", "")))}</text>')
    return "".join(out)


def _extent(tr: dict, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The x and y data extent of a heatmap or image of ``width`` × ``height`` cells."""
    x0, dx, y0, dy = (float(tr.get(k, d)) for k, d in (("x0", 0), ("dx", 1), ("y0", 0), ("dy", 1)))
    return (np.array([x0 - dx / 2, x0 + (width - 0.5) * dx]), np.array([y0 - dy / 2, y0 + (height - 0.5) * dy]))


def _collect(traces: list[dict], axes: dict[str, _Axis]) -> list[tuple]:
    """(trace, x axis, y axis, xs, ys) of each drawable trace, its data given to its axes."""
    out = []
    for tr in traces:
        ax, ay = axes.get(tr.get("xaxis", "x"), axes["x"]), axes.get(tr.get("yaxis", "y"), axes["y"])
        kind = tr.get("type", "scatter")
        if kind in ("scatter", "scattergl") and "x" in tr and "y" in tr:
            xs, ys = decode(tr["x"]).astype(float), decode(tr["y"]).astype(float)
            ax.pad = ay.pad = 0.06
        elif kind == "heatmap":
            rows, cols = decode(tr["z"]).shape
            xs, ys = _extent(tr, cols, rows)
        elif kind == "image" and tr.get("source"):
            xs, ys = _extent(tr, *_png_size(tr["source"]))
            ay.reversed = not ay.range and ay.spec.get("autorange", "reversed") == "reversed"  # images run top-down
        else:
            continue
        ax.data.append(xs), ay.data.append(ys)
        out.append((tr, ax, ay, xs, ys))
    return out


def _draw(tr: dict, ax: _Axis, ay: _Axis, xs, ys, layout: dict) -> tuple[str, str]:
    """(the trace's drawing, its colour bar or '')."""
    kind = tr.get("type", "scatter")
    if kind == "heatmap":
        return _heatmap(tr, ax, ay)
    if kind == "image":
        return _image(tr, ax, ay), ""
    px, py = ax.px(xs), ay.px(ys)
    mode = tr.get("mode", "markers" if len(xs) > 20 else "lines+markers")
    return ((_lines(tr, px, py) if "lines" in mode else "") + (_markers(tr, px, py, layout) if "markers" in mode else "")
            + (_texts(tr, px, py) if "text" in mode else "")), ""


def figure_svg(figure: dict) -> str:
    """A Plotly figure (its JSON as a dict) as a static ``<svg>`` string (module docstring)."""
    traces, layout = figure.get("data") or [], figure.get("layout") or {}
    template = (layout.get("template") or {}).get("layout") or {}
    frame = _layout_frame(layout, heatmap=any(tr.get("type") == "heatmap" for tr in traces))
    height, axes = frame[0], _axes(layout, frame)
    drawn = _collect(traces, axes)
    for axis in axes.values():
        axis.fit()
    _shared(axes)
    _equal_scale(axes)
    grid = (template.get("xaxis") or {}).get("gridcolor", "#EBF0F8")
    pairs = list(dict.fromkeys((ax, ay) for _, ax, ay, *_ in drawn))
    marks = "".join(_axis_marks(ax, ay, grid) + _axis_marks(ay, ax, grid) for ax, ay in pairs)
    parts = [_draw(*d, layout) for d in drawn]
    title, sub = (html.escape(_text_of(t)) for t in (layout.get("title"), (layout.get("title") or {}).get("subtitle")))
    bg = template.get("paper_bgcolor", "white")
    font = (template.get("font") or {}).get("color", "#2a3f5f")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" '
            f'role="img" aria-label="{title}" font-family="{FONT}" fill="{font}" style="display:block">'
            f'<rect width="{WIDTH}" height="{height:.0f}" fill="{bg}"/>{marks}'
            f'{"".join(p for p, _ in parts)}{"".join(b for _, b in parts)}{_annotations(layout, frame)}'
            f'{_legend(traces, layout, frame)}'
            f'<text x="{WIDTH / 2}" y="28" font-size="15" text-anchor="middle">{title}</text>'
            f'<text x="{WIDTH / 2}" y="50" font-size="12" text-anchor="middle">{sub}</text></svg>')
