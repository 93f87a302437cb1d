"""Plot builders: numpy arrays in, ``plotly.graph_objects.Figure`` out. No torch here.

API (N seeds, M image columns, K Euler steps; every figure sets ``layout.height``):

    low_dim_panels(panels: {name: (N, 2)}, seeds (N,))              fig 2 / 7
    image_grid(rows: {name: (M, H, W)}, ids (M,), id_name="seed")   fig 1 / 8 / 11 quadruples (one go.Image)
    pca_triplets(proj: {teacher: (N, 2), "Φ_1": (N, 2), "G": (N, 2)}, seeds (N,))   fig 1 / 9
    compare_pca(proj: {teacher, "Φ_1", G of A, G of B: (N, 2)}, seeds (N,))   two students, one frame
    cost_heatmap(cost (N, N), sigma (N,), seeds (N,))              fig 3
    distance_scatter(d_init (N,), d_student (N,), seeds (N,))      fig 10
    compare_distances(d_init (N,), {student: d_student (N,)}, seeds (N,))   fig 10, several students
    boundary_scatter(d (N,), ratio (N,), seeds (N,))               fig 5
    memorization_histogram(r (N,), mark=3.0)                        fig 12
    trajectory_plot(states (K+1, D) or (K+1, H, W), phi_1, g, index[, background (N, 2)])

Curves over training (figs 4, 11, live views) are in ``plots.curves``.

Conventions: a seed keeps one colour in every panel (``SEED_SCALE`` over the seed index);
hovers carry the seed index as ``customdata``; teacher/student pairs are ONE line trace with
NaN breaks; per-seed traces are float32 arrays, drawn as SVG ``Scatter`` up to ``SVG_MAX_POINTS``
points a trace and as WebGL ``Scattergl`` above (``_scatter``); heatmaps are at most
``MAX_SIDE`` x ``MAX_SIDE`` cells; image grids are one PNG. Images are expected in the data range [-1, 1].
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dmdviz.plots.png import png_data_uri
from dmdviz.plots.style import (
    COLORS,
    GRID_COLUMNS,
    GRID_WIDTH,
    MAX_SIDE,
    MIN_IMAGE_PX,
    SEED_SCALE,
    STUDENT_COLORS,
    SVG_MAX_POINTS,
    f32,
    finish,
    trace_color,
)


def _seed_marker(seeds: np.ndarray, size: float = 4, showscale: bool = False) -> dict:
    """Colour by seed index over one fixed range, so seed i has the same colour everywhere."""
    seeds = np.asarray(seeds)
    return dict(color=f32(seeds), colorscale=SEED_SCALE, cmin=float(seeds.min()), cmax=float(seeds.max()),
                size=size, showscale=showscale, colorbar=dict(title="seed", thickness=12) if showscale else None)


def pair_lines(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y of ONE line trace joining a[i] to b[i]: (3N,) float32 as a0 b0 NaN a1 b1 NaN ..."""
    a, b = f32(a), f32(b)
    pts = np.stack([a, b, np.full_like(a, np.nan)], axis=1).reshape(-1, 2)
    return pts[:, 0], pts[:, 1]


def _scatter(n_points: int, **kw) -> go.Scatter | go.Scattergl:
    """A scatter trace of ``n_points`` points: SVG up to ``SVG_MAX_POINTS``, WebGL above."""
    return (go.Scatter if n_points <= SVG_MAX_POINTS else go.Scattergl)(**kw)


def _points(xy: np.ndarray, seeds: np.ndarray, name: str, marker: dict, **kw) -> go.Scatter | go.Scattergl:
    return _scatter(len(xy), x=f32(xy[:, 0]), y=f32(xy[:, 1]), mode="markers", name=name, marker=marker,
                        customdata=np.asarray(seeds, dtype=np.int32),
                        hovertemplate=f"{name}<br>seed %{{customdata}}<br>(%{{x:.3g}}, %{{y:.3g}})<extra></extra>",
                        **kw)


# --------------------------------------------------------------------------- fig 2 / 7


def low_dim_panels(panels: dict[str, np.ndarray], seeds: np.ndarray, title: str = "Noise-data pairing",
                   height: int = 420, shared: bool = True) -> go.Figure:
    """One panel per set (z, Φ_K, Φ_1, G), points (N, 2) (fig 2 / 7).

    Each seed keeps one colour in every panel. With a "z" panel the colour is the angle of
    z (a cyclic scale), so the pairing is visible: a copying student puts each hue where
    Φ_K put it, a remapping one scrambles them. Seed indices are i.i.d., so colouring by
    index would show no structure; it is the fallback without a "z" panel. ``shared``: one
    x and one y range for every panel, as in the paper's figure (Φ_1, the one-step mean,
    then reads as the small cloud it is).
    """
    names = list(panels)
    if "z" in panels:
        z = f32(panels["z"])
        marker = lambda last: dict(color=np.arctan2(z[:, 1], z[:, 0]).astype(np.float32), colorscale="Phase",
                                   cmin=-math.pi, cmax=math.pi, size=3, showscale=last,
                                   colorbar=dict(title="angle of z", thickness=12) if last else None)
    else:
        marker = lambda last: _seed_marker(seeds, 3, showscale=last)
    fig = make_subplots(1, len(names), subplot_titles=names, horizontal_spacing=0.035,
                        shared_xaxes="all" if shared else False, shared_yaxes="all" if shared else False)
    for col, name in enumerate(names, start=1):
        fig.add_trace(_points(panels[name], seeds, name, marker(col == len(names)), showlegend=False), 1, col)
    fig.update_xaxes(title="x₁ (first coordinate)", nticks=5)
    fig.update_yaxes(title="x₂", nticks=6, col=1)
    return finish(fig, title, height)


# --------------------------------------------------------------------------- fig 1 / 8 / 11 images


def image_grid(rows: dict[str, np.ndarray], ids: np.ndarray | None = None, id_name: str = "seed",
               title: str = "Samples per seed", pad: int = 2, col_labels: list[str] | None = None,
               per_band: int = GRID_COLUMNS, width: int = GRID_WIDTH) -> go.Figure:
    """Rows of greyscale images as ONE ``go.Image`` (a PNG); column c shows ``ids[c]``.

    rows: {label: (M_r, H, W)} in [-1, 1], M_r <= M (shorter rows leave blank cells);
    ids: (M,) ints (default 0 .. M-1). The M columns wrap into bands of ``per_band`` (each
    band repeats every row), so that at ``width`` pixels each image is shown at least
    ``MIN_IMAGE_PX`` pixels wide; the height follows. Hover and click go to an invisible
    marker at each image's centre carrying its id as ``customdata``.
    """
    labels = list(rows)
    h, w = next(iter(rows.values())).shape[1:]
    m = max(len(v) for v in rows.values())
    ids = np.arange(m) if ids is None else np.asarray(ids)
    cols = max(1, min(m, per_band, (width - 70) * w // (MIN_IMAGE_PX * (w + pad))))
    bands = math.ceil(m / cols)
    cw, ch, gap = w + pad, h + pad, h // 2  # a band of rows, then half an image of space
    band_h = len(labels) * ch + gap
    canvas = np.full((bands * band_h - gap - pad, cols * cw - pad), 255, dtype=np.uint8)  # white gaps
    cx, cy, cid, cname = [], [], [], []
    for r, label in enumerate(labels):
        imgs = np.round(np.clip((f32(rows[label]) + 1) * 127.5, 0, 255)).astype(np.uint8)
        for c, img in enumerate(imgs):
            y, x = (c // cols) * band_h + r * ch, (c % cols) * cw
            canvas[y : y + h, x : x + w] = img
            cx.append(x + w / 2), cy.append(y + h / 2), cid.append(int(ids[c])), cname.append(label)
    fig = go.Figure(go.Image(source=png_data_uri(canvas), x0=0, dx=1, y0=0, dy=1, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=f32(cx), y=f32(cy), mode="markers", customdata=np.asarray(cid, dtype=np.int32),
                             text=cname, marker=dict(size=max(8, MIN_IMAGE_PX), opacity=0), showlegend=False,
                             hovertemplate=f"%{{text}}<br>{id_name} %{{customdata}}<extra></extra>"))
    names = col_labels or [str(i) for i in ids]
    fig.add_trace(go.Scatter(x=[(c % cols) * cw + w / 2 for c in range(m)], y=[(c // cols) * band_h - 1 for c in range(m)],
                             mode="text", text=names[:m], textposition="top center", textfont=dict(size=10),
                             hoverinfo="skip", showlegend=False))
    fig.update_xaxes(visible=False, range=[-0.5, cols * cw - pad - 0.5])
    fig.update_yaxes(tickvals=[b * band_h + r * ch + h / 2 for b in range(bands) for r in range(len(labels))],
                     ticktext=labels * bands, range=[canvas.shape[0] - 0.5, -h / 2], scaleanchor="x",
                     showgrid=False, zeroline=False)
    scale = (width - 90) / (cols * cw)  # pixels per image pixel at the given width
    fig = finish(fig, title, int(75 + (canvas.shape[0] + h / 2) * scale))
    fig.update_layout(margin=dict(l=70, r=20, t=60, b=10), hovermode="closest", hoverdistance=int(cw * scale / 2) + 1)
    return fig


# --------------------------------------------------------------------------- fig 1 / 9


def pca_triplets(proj: dict[str, np.ndarray], seeds: np.ndarray, title: str = "PCA of (Φ_K, Φ_1, G), fitted on Φ_K",
                 height: int = 560) -> go.Figure:
    """Points of each set (N, 2) in PCA coordinates; teacher target (first key) and G (key
    "G") joined per seed by one NaN-separated line trace (fig 1 / 9)."""
    names = list(proj)
    lx, ly = pair_lines(proj[names[0]], proj["G"])
    fig = go.Figure(_scatter(len(lx) // 3, x=lx, y=ly, mode="lines", name=f"{names[0]} – G pairs", hoverinfo="skip",
                             line=dict(color=COLORS["pair"], width=1)))
    for name in names:
        fig.add_trace(_points(proj[name], seeds, name, dict(color=trace_color(name), size=4, opacity=0.8)))
    fig.update_xaxes(title="PC 1")
    fig.update_yaxes(title="PC 2", scaleanchor="x")
    return finish(fig, title, height)


def compare_pca(proj: dict[str, np.ndarray], seeds: np.ndarray,
                title: str = "Two students of one teacher, on the PCA axes of Φ_K", height: int = 520) -> go.Figure:
    """Side-by-side PCA triplets of two students: ``proj`` = {Φ_K, Φ_1, G of A, G of B}, each
    (N, 2) on ONE basis (``analysis.compare_pca``). Panel c shows Φ_K, Φ_1 and student c's G,
    each seed's Φ_K joined to its G; both panels share their x and y ranges."""
    target, start, *students = list(proj)
    fig = make_subplots(1, len(students), subplot_titles=students, shared_xaxes="all", shared_yaxes="all",
                        horizontal_spacing=0.05)
    for col, g in enumerate(students, start=1):
        lx, ly = pair_lines(proj[target], proj[g])
        fig.add_trace(_scatter(len(lx) // 3, x=lx, y=ly, mode="lines", name=f"{target} – G pairs", hoverinfo="skip",
                               line=dict(color=COLORS["pair"], width=1), showlegend=col == 1), 1, col)
        g_color = STUDENT_COLORS[(col - 1) % len(STUDENT_COLORS)]
        for name, color in ((target, COLORS["teacher"]), (start, COLORS["Φ_1"]), (g, g_color)):
            fig.add_trace(_points(proj[name], seeds, name, dict(color=color, size=4, opacity=0.8),
                                  legendgroup=name, showlegend=col == 1 or name == g), 1, col)
    fig.update_xaxes(title="PC 1")
    fig.update_yaxes(title="PC 2", col=1)
    return finish(fig, title, height)


def compare_distances(d_init: np.ndarray, d_students: dict[str, np.ndarray], seeds: np.ndarray,
                      title: str = "d_init vs d_student, both students", height: int = 480) -> go.Figure:
    """Fig 10 for several students of one teacher in one frame: per student, d_student =
    ||G(z) − Φ_K(z)|| (y) against the shared d_init = ||Φ_1(z) − Φ_K(z)|| (x), with the diagonal."""
    top = float(max(np.max(d_init), *(np.max(d) for d in d_students.values()), 1e-12))
    fig = go.Figure(go.Scatter(x=f32([0, top]), y=f32([0, top]), mode="lines", name="diagonal", hoverinfo="skip",
                               line=dict(color="#444444", dash="dash")))
    for (name, d), color in zip(d_students.items(), STUDENT_COLORS):
        fig.add_trace(_points(np.stack([d_init, d], 1), seeds, name, dict(color=color, size=4, opacity=0.7)))
    fig.update_xaxes(title="d_init = ||Φ_1(z) − Φ_K(z)||")
    fig.update_yaxes(title="d_student = ||G(z) − Φ_K(z)||")
    return finish(fig, title, height)


# --------------------------------------------------------------------------- fig 3


def downsample(c: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, int]:
    """Block means of a square matrix so each side is <= max_side: (ceil(N/f), ...), f."""
    n = len(c)
    f = max(1, math.ceil(n / max_side))
    if f == 1:
        return f32(c), 1
    edges = np.arange(0, n, f)
    sums = np.add.reduceat(np.add.reduceat(np.asarray(c, dtype=np.float64), edges, axis=0), edges, axis=1)
    sizes = np.diff(np.append(edges, n))
    return f32(sums / np.outer(sizes, sizes)), f


def cost_heatmap(cost: np.ndarray, sigma: np.ndarray, seeds: np.ndarray | None = None,
                 title: str = "Cost C_ij = ||Φ_K(z_i) − G(z_j)||² and the OT assignment σ",
                 height: int = 560) -> go.Figure:
    """Heatmap of C (x: teacher i, y: student j; block-averaged to <= 256²) with the exact OT
    assignment (i, σ(i)) overlaid; points on the diagonal are seeds kept by the student (fig 3)."""
    n = len(cost)
    seeds = np.arange(n) if seeds is None else np.asarray(seeds)
    z, f = downsample(np.asarray(cost).T, MAX_SIDE)
    fig = go.Figure(go.Heatmap(z=z, x0=(f - 1) / 2, dx=f, y0=(f - 1) / 2, dy=f, colorscale="Viridis",
                               colorbar=dict(title="C", thickness=12),
                               hovertemplate="teacher i≈%{x:.0f}<br>student j≈%{y:.0f}<br>C %{z:.3g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=f32([0, n - 1]), y=f32([0, n - 1]), mode="lines", name="diagonal (σ(i) = i)",
                             line=dict(color="white", dash="dot", width=1), hoverinfo="skip"))
    fig.add_trace(_scatter(n, x=f32(np.arange(n)), y=f32(sigma), mode="markers", name="OT assignment σ",
                           marker=dict(color=COLORS["G"], size=4, symbol="x"), customdata=seeds.astype(np.int32),
                           hovertemplate="seed %{customdata} → σ = %{y:.0f}<extra></extra>"))
    fig.update_xaxes(title="teacher sample i", range=[-0.5, n - 0.5], constrain="domain")
    fig.update_yaxes(title="student sample j", range=[-0.5, n - 0.5], scaleanchor="x", constrain="domain")
    return finish(fig, title, height, legend="top")


# --------------------------------------------------------------------------- fig 10 / 5 / 12


def _scatter_with_line(x, y, seeds, line_x, line_y, line_name, xtitle, ytitle, title, height) -> go.Figure:
    fig = go.Figure(_points(np.stack([x, y], 1), seeds, "seeds", _seed_marker(seeds, 4, showscale=True),
                            showlegend=False))
    fig.add_trace(go.Scatter(x=f32(line_x), y=f32(line_y), mode="lines", name=line_name, hoverinfo="skip",
                             line=dict(color=COLORS["G"], dash="dash")))
    fig.update_xaxes(title=xtitle)
    fig.update_yaxes(title=ytitle)
    return finish(fig, title, height, legend="top")


def distance_scatter(d_init: np.ndarray, d_student: np.ndarray, seeds: np.ndarray,
                     title: str = "d_init vs d_student", height: int = 480) -> go.Figure:
    """d_init = ||Φ_1 − Φ_K|| (x) against d_student = ||G − Φ_K|| (y) per seed, with the
    diagonal: below it the student moved towards its own teacher target (fig 10)."""
    top = float(max(np.max(d_init), np.max(d_student), 1e-12))
    return _scatter_with_line(d_init, d_student, seeds, [0, top], [0, top], "diagonal",
                              "d_init = ||Φ_1(z) − Φ_K(z)||", "d_student = ||G(z) − Φ_K(z)||", title, height)


def boundary_scatter(d: np.ndarray, ratio: np.ndarray, seeds: np.ndarray,
                     title: str = "Boundary analysis: D(z) vs d_student / d_init", height: int = 480) -> go.Figure:
    """D(z), the mean distance of Φ_K(z) to the training set (x), against the scale-free
    ρ(z) = d_student / d_init (y), with the line ρ = 1: below it the student moved towards
    its target (fig 5)."""
    return _scatter_with_line(d, ratio, seeds, [np.min(d), np.max(d)], [1, 1], "ρ(z) = 1",
                              "D(z) = mean ||Φ_K(z) − x||, x in train", "ρ(z) = d_student / d_init", title, height)


def memorization_histogram(r: np.ndarray, mark: float = 3.0, bins: int = 60,
                           title: str = "Memorization ratio r = ||s − n₂|| / ||s − n₁|| of Φ_K",
                           height: int = 420) -> go.Figure:
    """Histogram of r (N,) as pre-binned bars (compact JSON) with the r = ``mark`` line (fig 12)."""
    r = np.asarray(r, dtype=np.float64)
    hi = max(float(r.max()), mark * 1.1)
    counts, edges = np.histogram(r, bins=bins, range=(1.0, hi))
    fig = go.Figure(go.Bar(x=f32((edges[:-1] + edges[1:]) / 2), y=counts.astype(np.int32), width=float(edges[1] - edges[0]),
                           marker_color=COLORS["teacher"], name="samples",
                           hovertemplate="r ≈ %{x:.2f}<br>%{y} samples<extra></extra>"))
    fig.add_vline(x=mark, line=dict(color=COLORS["G"], dash="dash"),
                  annotation_text=f"r = {mark:g} ({np.mean(r > mark):.1%} above)")
    fig.update_xaxes(title="r (1: not memorised)")
    fig.update_yaxes(title="samples")
    return finish(fig, title, height)


# --------------------------------------------------------------------------- fig 4 / 11 / training


def trajectory_plot(states: np.ndarray, phi_1: np.ndarray, g: np.ndarray, index: int,
                    background: np.ndarray | None = None, title: str | None = None, height: int = 480) -> go.Figure:
    """One seed's teacher Euler path z → Φ_K(z) with Φ_1(z) and G(z).

    Vectors: ``states`` (K+1, D), ``phi_1``/``g`` (D,), first two coordinates drawn over an
    optional ``background`` cloud (N, 2). Images: ``states`` (K+1, H, W), ``phi_1``/``g``
    (H, W), drawn as an image row t = 0 .. 1 followed by Φ_1 and G.
    """
    states = np.asarray(states)
    k = len(states) - 1
    title = title or f"Seed {index}: teacher path Φ_{k} and student jump"
    if states.ndim == 3:  # five states t = 0, 1/4, .., 1 at most, so each image stays large
        steps = np.unique(np.round(np.linspace(0, k, min(k, 4) + 1)).astype(int))
        imgs = np.concatenate([states[steps], np.asarray(phi_1)[None], np.asarray(g)[None]])
        labels = [f"t = {i / k:.2g}" for i in steps] + ["Φ_1", "G"]
        return image_grid({f"seed {index}": imgs}, np.arange(len(imgs)), "column", title, col_labels=labels,
                          per_band=len(imgs))  # one row
    fig = go.Figure()
    if background is not None:
        fig.add_trace(_scatter(len(background), x=f32(background[:, 0]), y=f32(background[:, 1]), mode="markers",
                               name="Φ_K samples", hoverinfo="skip", marker=dict(color="rgba(150,150,150,0.3)", size=3)))
    fig.add_trace(go.Scatter(x=f32(states[:, 0]), y=f32(states[:, 1]), mode="lines+markers", name=f"Φ_{k} path",
                             customdata=np.linspace(0, 1, k + 1, dtype=np.float32),
                             line=dict(color=COLORS["teacher"]), hovertemplate="t = %{customdata:.2f}<extra></extra>"))
    ends = {"z": states[0], f"Φ_{k}": states[-1], "Φ_1": phi_1, "G": g}
    for name, p in ends.items():
        fig.add_trace(go.Scatter(x=f32([p[0]]), y=f32([p[1]]), mode="markers+text", name=name, text=[name],
                                 textposition="top center", marker=dict(color=trace_color(name), size=11),
                                 customdata=[index], hovertemplate=f"{name}<br>seed %{{customdata}}<extra></extra>"))
    lx, ly = pair_lines(np.asarray(states[-1:, :2]), np.asarray(g)[None, :2])
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", name="Φ_K – G", line=dict(color=COLORS["G"], dash="dot"),
                             hoverinfo="skip"))
    # framed on the data (the path, its ends and the cloud); equal scales shrink the plot
    # area ("domain") instead of widening a range past the data
    shown = np.concatenate([states[:, :2], np.asarray(phi_1)[None, :2], np.asarray(g)[None, :2],
                            *([np.asarray(background)[:, :2]] if background is not None else [])])
    lo, hi = np.nanmin(shown, 0), np.nanmax(shown, 0)
    pad = 0.06 * np.maximum(hi - lo, 1e-6)
    fig.update_xaxes(range=[float(lo[0] - pad[0]), float(hi[0] + pad[0])], constrain="domain", title="x₁")
    fig.update_yaxes(range=[float(lo[1] - pad[1]), float(hi[1] + pad[1])], scaleanchor="x", constrain="domain",
                     title="x₂")
    return finish(fig, title, height)
