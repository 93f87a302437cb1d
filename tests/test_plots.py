"""Plot builders (spec §5): expected traces, NaNs only as pair separators, size budgets."""

import numpy as np
import plotly.graph_objects as go
import pytest

from dmdviz import plots
from dmdviz.plots.style import GRID_COLUMNS, GRID_WIDTH

N = 2000
RNG = np.random.default_rng(0)


def _xy(n=N):
    return RNG.normal(size=(n, 2)).astype(np.float32)


def _arrays(trace) -> dict[str, np.ndarray]:
    out = {}
    for key in ("x", "y", "z", "customdata"):
        v = getattr(trace, key, None)
        if v is not None and not isinstance(v, str):
            out[key] = np.asarray(v)
    return out


def _assert_nans_only_between_pairs(fig: go.Figure):
    for tr in fig.data:
        for key, arr in _arrays(tr).items():
            if arr.dtype.kind != "f":
                continue
            nan = np.isnan(arr)
            if getattr(tr, "mode", None) == "lines" and key in ("x", "y") and nan.any():  # a NaN-separated pair trace
                assert nan[2::3].all() and not nan[0::3].any() and not nan[1::3].any(), tr.name
            else:
                assert not nan.any(), (tr.name, key)


def _figures_at_full_size() -> dict[str, go.Figure]:
    seeds = np.arange(N)
    cost = RNG.random((N, N))
    records = [{"step": i, "dm_loss": float(np.sin(i / 300)), "wall": i * 0.1} for i in range(5000)]
    records += [{"step": i, "ot_agreement": 0.5, "copy_ratio": 0.9} for i in range(0, 5000, 250)]
    imgs = {name: RNG.uniform(-1, 1, (30, 28, 28)).astype(np.float32) for name in ("Φ_1", "Φ_8", "Φ_32", "G")}
    return {
        "panels": plots.low_dim_panels({name: _xy() for name in ("z", "Φ_8", "Φ_1", "G")}, seeds),
        "images": plots.image_grid(imgs, seeds[:30]),
        "pca": plots.pca_triplets({"Φ_8": _xy(), "Φ_1": _xy(), "G": _xy()}, seeds),
        "compare_pca": plots.compare_pca({"Φ_8": _xy(), "Φ_1": _xy(), "G · a": _xy(), "G · b": _xy()}, seeds),
        "compare_distances": plots.compare_distances(RNG.random(N), {"a": RNG.random(N), "b": RNG.random(N)}, seeds),
        "cost": plots.cost_heatmap(cost, RNG.permutation(N), seeds),
        "distances": plots.distance_scatter(RNG.random(N), RNG.random(N), seeds),
        "dm_loss": plots.dm_loss_curves([{"label": f"t{i}", "steps": np.arange(5000), "dm_loss": RNG.random(5000)}
                                         for i in range(6)]),
        "boundary": plots.boundary_scatter(RNG.random(N) + 3, RNG.normal(size=N), seeds),
        "lengths": plots.copying_vs_teacher_length(np.array([1024, 2048, 4096, 8192]),
                                                   {"ot_agreement": RNG.random(4), "ot_agreement_init": RNG.random(4),
                                                    "copy_ratio": RNG.random(4)}),
        "memorization": plots.memorization_histogram(1 + RNG.exponential(0.3, N)),
        "trajectory": plots.trajectory_plot(RNG.normal(size=(33, 4)), RNG.normal(size=4), RNG.normal(size=4), 7,
                                            background=_xy()),
        "trajectory_images": plots.trajectory_plot(RNG.uniform(-1, 1, (9, 28, 28)), RNG.uniform(-1, 1, (28, 28)),
                                                   RNG.uniform(-1, 1, (28, 28)), 7),
        "training": plots.training_curves(records),
    }


@pytest.fixture(scope="module")
def full_size():
    return _figures_at_full_size()


def test_every_figure_is_under_1mb_has_a_height_and_no_stray_nans(full_size):
    for name, fig in full_size.items():
        size = len(fig.to_json())
        assert size < 1_000_000, (name, size)
        assert isinstance(fig.layout.height, int) and fig.layout.height > 0, name
        _assert_nans_only_between_pairs(fig)


def test_only_core_trace_types(full_size):
    core = {"scatter", "scattergl", "heatmap", "bar", "image"}
    assert {tr.type for fig in full_size.values() for tr in fig.data} <= core


def test_per_seed_traces_are_float32_with_seed_hovers_svg_up_to_the_bound(full_size):
    assert N <= plots.SVG_MAX_POINTS
    for name in ("panels", "pca", "distances", "boundary"):
        points = [tr for tr in full_size[name].data if tr.mode == "markers"]
        assert points, name
        for tr in points:
            assert tr.type == "scatter" and np.asarray(tr.x).dtype == np.float32
            assert np.array_equal(np.asarray(tr.customdata), np.arange(N)), name
            assert "customdata" in tr.hovertemplate


def test_traces_past_the_svg_bound_are_webgl():
    n = plots.SVG_MAX_POINTS + 1
    fig = plots.pca_triplets({"Φ_8": _xy(n), "Φ_1": _xy(n), "G": _xy(n)}, np.arange(n))
    assert {tr.type for tr in fig.data} == {"scattergl"}
    small = plots.pca_triplets({"Φ_8": _xy(10), "Φ_1": _xy(10), "G": _xy(10)}, np.arange(10))
    assert {tr.type for tr in small.data} == {"scatter"}


def test_pair_lines_interleave_pairs_and_nan_breaks():
    a, b = np.array([[0, 1], [2, 3]]), np.array([[4, 5], [6, 7]])
    x, y = plots.pair_lines(a, b)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [0, 4, np.nan, 2, 6, np.nan])
    np.testing.assert_array_equal(y, [1, 5, np.nan, 3, 7, np.nan])


def test_low_dim_panels_colour_each_seed_by_its_noise_angle_in_every_panel():
    seeds = np.arange(10, 60)
    panels = {n: _xy(50) for n in ("z", "Φ_8", "Φ_1", "G")}
    fig = plots.low_dim_panels(panels, seeds)
    assert len(fig.data) == 4
    angle = np.arctan2(panels["z"][:, 1], panels["z"][:, 0]).astype(np.float32)
    assert {(tr.marker.cmin, tr.marker.cmax, tr.marker.colorscale) for tr in fig.data} == {
        (-np.pi, np.pi, fig.data[0].marker.colorscale)}
    assert all(np.allclose(tr.marker.color, angle) for tr in fig.data)
    assert all(np.array_equal(tr.customdata, seeds) for tr in fig.data)
    assert sum(bool(tr.marker.showscale) for tr in fig.data) == 1


def test_low_dim_panels_without_z_fall_back_to_the_seed_scale():
    seeds = np.arange(10, 60)
    fig = plots.low_dim_panels({n: _xy(50) for n in ("Φ_8", "G")}, seeds)
    assert {(tr.marker.cmin, tr.marker.cmax) for tr in fig.data} == {(10.0, 59.0)}
    assert all(np.array_equal(tr.marker.color, seeds.astype(np.float32)) for tr in fig.data)


def test_pca_triplets_one_pair_trace_and_a_trace_per_set():
    p = {"Φ_8": _xy(40), "Φ_1": _xy(40), "G": _xy(40)}
    fig = plots.pca_triplets(p, np.arange(40))
    lines = [tr for tr in fig.data if tr.mode == "lines"]
    assert len(lines) == 1 and len(lines[0].x) == 3 * 40
    np.testing.assert_array_equal(lines[0].x[0::3], p["Φ_8"][:, 0])
    np.testing.assert_array_equal(lines[0].x[1::3], p["G"][:, 0])
    assert [tr.name for tr in fig.data if tr.mode == "markers"] == ["Φ_8", "Φ_1", "G"]


def test_compare_pca_two_panels_on_shared_axes_each_joining_its_own_student():
    p = {"Φ_8": _xy(40), "Φ_1": _xy(40), "G · a": _xy(40), "G · b": _xy(40)}
    fig = plots.compare_pca(p, np.arange(40))
    assert fig.layout.xaxis2.matches == "x" and fig.layout.yaxis2.matches == "y"
    for axis, g in (("x", "G · a"), ("x2", "G · b")):
        lines = [tr for tr in fig.data if tr.mode == "lines" and tr.xaxis == axis]
        assert len(lines) == 1
        np.testing.assert_array_equal(lines[0].x[1::3], p[g][:, 0])  # Φ_8 → this panel's student
        assert [tr.name for tr in fig.data if tr.mode == "markers" and tr.xaxis == axis] == ["Φ_8", "Φ_1", g]
    assert [tr.name for tr in fig.data if tr.showlegend is not False] == ["Φ_8 – G pairs", "Φ_8", "Φ_1", "G · a", "G · b"]
    _assert_nans_only_between_pairs(fig)


def test_compare_distances_one_cloud_per_student_over_the_same_d_init():
    d_init = RNG.random(30)
    fig = plots.compare_distances(d_init, {"a": d_init / 2, "b": d_init * 2}, np.arange(30))
    clouds = [tr for tr in fig.data if tr.mode == "markers"]
    assert [tr.name for tr in clouds] == ["a", "b"] and clouds[0].marker.color != clouds[1].marker.color
    for tr in clouds:
        np.testing.assert_allclose(tr.x, d_init, rtol=1e-6)
    assert fig.data[0].y[-1] == pytest.approx(2 * d_init.max(), rel=1e-6)  # the diagonal spans every cloud


def test_low_dim_panels_share_one_range_unless_asked_not_to():
    fig = plots.low_dim_panels({"z": _xy(20), "G · a": _xy(20), "G · b": _xy(20)}, np.arange(20))
    assert fig.layout.xaxis3.matches == "x" and fig.layout.yaxis3.matches == "y"  # one scale per row, as in the paper
    assert fig.layout.xaxis2.title.text and fig.layout.yaxis.title.text  # axis titles
    assert plots.low_dim_panels({"z": _xy(20), "G": _xy(20)}, np.arange(20), shared=False).layout.xaxis2.matches is None


def _png_pixels(uri: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_png_data_uri_round_trips_through_an_image_reader():
    from dmdviz.plots.png import png_data_uri

    grey = np.random.default_rng(0).integers(0, 256, (7, 13), dtype=np.uint8)
    assert np.array_equal(_png_pixels(png_data_uri(grey)), grey)
    rgb = np.random.default_rng(1).integers(0, 256, (5, 9, 3), dtype=np.uint8)  # the static heatmap's colour image
    assert np.array_equal(_png_pixels(png_data_uri(rgb)), rgb)


def test_image_grid_is_one_image_with_a_hover_target_per_seed():
    rows = {"Φ_1": -np.ones((5, 4, 3)), "G": np.ones((3, 4, 3))}  # a shorter row leaves blank cells
    fig = plots.image_grid(rows, np.array([10, 11, 12, 13, 300]), pad=1)
    assert [tr.type for tr in fig.data] == ["image", "scatter", "scatter"]
    z = _png_pixels(fig.data[0].source)
    assert z.dtype == np.uint8 and z.shape == (2 * 5 - 1, 5 * 4 - 1)  # one band: two rows of five images
    assert (z[:4, :3] == 0).all() and (z[:4, 3] == 255).all()  # black image, white gap
    assert (z[5:, :3] == 255).all() and (z[5:, 12:] == 255).all()  # G's row: white images, then blank cells
    targets = fig.data[1]
    assert list(targets.customdata) == [10, 11, 12, 13, 300, 10, 11, 12] and targets.marker.opacity == 0
    assert (targets.x[0], targets.y[0], targets.y[5]) == (1.5, 2.0, 7.0)  # image centres


def test_image_grid_wraps_many_seeds_into_bands_of_readable_images():
    imgs = {name: np.zeros((30, 28, 28)) for name in ("Φ_1", "Φ_8", "Φ_32", "G")}
    fig = plots.image_grid(imgs, np.arange(30))
    cols = len({x for x in fig.data[1].x})
    bands = 30 // cols
    assert cols == GRID_COLUMNS and list(fig.layout.yaxis.ticktext) == list(imgs) * bands
    px_per_image = (GRID_WIDTH - 90) / (cols * 30) * 28  # at the width the height was made for
    assert px_per_image >= 40 and _png_pixels(fig.data[0].source).shape[1] == cols * 30 - 2
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.height > 700


def test_downsample_is_a_block_mean():
    c = np.arange(100, dtype=np.float64).reshape(10, 10)
    z, f = plots.downsample(c, max_side=4)
    assert f == 3 and z.shape == (4, 4)
    assert z[0, 0] == pytest.approx(c[:3, :3].mean()) and z[3, 3] == pytest.approx(c[9, 9])
    assert z[1, 3] == pytest.approx(c[3:6, 9:].mean())
    assert plots.downsample(c, max_side=10)[1] == 1


def test_cost_heatmap_is_capped_and_overlays_the_assignment(full_size):
    fig = full_size["cost"]
    heat = fig.data[0]
    assert heat.type == "heatmap" and np.asarray(heat.z).shape[0] <= 256 and np.asarray(heat.z).shape[1] <= 256
    small = plots.cost_heatmap(np.arange(9.0).reshape(3, 3), np.array([2, 0, 1]))
    np.testing.assert_array_equal(np.asarray(small.data[0].z), np.arange(9.0).reshape(3, 3).T)  # x teacher i, y student j
    ot = small.data[2]
    np.testing.assert_array_equal(ot.x, [0, 1, 2])
    np.testing.assert_array_equal(ot.y, [2, 0, 1])


def test_reference_lines():
    d = plots.distance_scatter(np.array([1.0, 2.0]), np.array([0.5, 3.0]), np.arange(2))
    diag = [tr for tr in d.data if tr.mode == "lines"][0]
    np.testing.assert_array_equal(diag.x, [0, 3]) and np.testing.assert_array_equal(diag.y, [0, 3])
    b = plots.boundary_scatter(np.array([1.0, 4.0]), np.array([-1.0, 1.0]), np.arange(2))
    one = [tr for tr in b.data if tr.mode == "lines"][0]
    np.testing.assert_array_equal(one.y, [1, 1]) and np.testing.assert_array_equal(one.x, [1, 4])


def test_memorization_histogram_counts_every_sample_and_marks_three():
    r = np.array([1.0, 1.2, 1.5, 2.0, 3.5, 8.0])
    fig = plots.memorization_histogram(r, bins=10)
    assert int(np.sum(fig.data[0].y)) == len(r)
    assert fig.layout.shapes[0].x0 == 3.0
    assert "33.3% above" in fig.layout.annotations[0].text


def test_smooth_is_a_trailing_mean():
    np.testing.assert_allclose(plots.smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(plots.smooth([1, 2, 3], 1), [1, 2, 3])


def test_curves_are_thinned_and_series_styled(full_size):
    fig = full_size["dm_loss"]
    assert len(fig.data) == 6 and all(len(tr.x) <= plots.MAX_CURVE_POINTS for tr in fig.data)
    lengths = {tr.name: tr for tr in full_size["lengths"].data}
    assert lengths["ot_agreement_init"].line.dash == "dash"
    assert lengths["ot_agreement_init"].line.color == lengths["ot_agreement"].line.color
    assert lengths["copy_ratio"].xaxis == "x2" and lengths["ot_agreement"].xaxis == "x"


def _subtitles(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def test_training_curves_stream_friendly_and_show_only_what_exists():
    recs = [{"step": 1, "fm_loss": 1.0}, {"step": 2, "fm_loss": 0.5}]
    fig = plots.training_curves(recs, metrics=())
    assert fig.layout.uirevision == "training" and [tr.name for tr in fig.data] == ["fm_loss"]
    assert _subtitles(fig) == ["fm_loss"] and "yaxis2" not in fig.layout  # one panel, no copying meter
    recs = [{"step": 0, "ot_agreement": 1.0, "copy_ratio": 1.0}, {"step": 1, "dm_loss": 0.2}]
    fig = plots.training_curves(recs)
    assert [tr.name for tr in fig.data] == ["dm_loss", "ot_agreement", "copy_ratio"]
    assert _subtitles(fig) == ["dm_loss", "copying meter"]
    empty = plots.training_curves([], title="Student")  # before the student exists: no axes, no fm_loss
    assert len(empty.data) == 0 and _subtitles(empty) == ["nothing recorded yet"] and empty.layout.xaxis.visible is False


def test_copying_meters_one_line_per_student_per_metric():
    recs = {"a": [{"step": 0, "ot_agreement": 0.1, "copy_ratio": 1.0}, {"step": 5, "dm_loss": 0.2},
                  {"step": 10, "ot_agreement": 0.9, "copy_ratio": 0.5}],
            "b": [{"step": 0, "ot_agreement": 1.0, "copy_ratio": 0.4}]}
    fig = plots.copying_meters(recs, metrics=("ot_agreement", "copy_ratio"))
    assert _subtitles(fig) == ["ot_agreement", "copy_ratio"] and len(fig.data) == 4
    a_ot = fig.data[0]
    assert a_ot.name == "a" and list(a_ot.x) == [1, 10] and list(a_ot.y) == pytest.approx([0.1, 0.9])
    assert [tr.showlegend for tr in fig.data] == [True, False, True, False]


def test_trajectory_plot_vector_and_image():
    states = np.cumsum(np.ones((9, 3)), 0)
    fig = plots.trajectory_plot(states, np.zeros(3), np.ones(3), 4)
    path = fig.data[0]
    np.testing.assert_array_equal(path.x, states[:, 0])
    assert {"z", "Φ_8", "Φ_1", "G"} <= {tr.name for tr in fig.data}
    x_range, y_range = fig.layout.xaxis.range, fig.layout.yaxis.range  # framed on the drawn points
    assert x_range[0] < 0 < 9 < x_range[1] < 10 and y_range[0] < 0 < 9 < y_range[1] < 10
    img = plots.trajectory_plot(np.zeros((9, 28, 28)), np.zeros((28, 28)), np.zeros((28, 28)), 4)
    assert img.data[0].type == "image" and list(img.data[2].text)[-2:] == ["Φ_1", "G"]
    # eight Euler steps shown as five states (t = 0, 1/4, .., 1), then Φ_1 and G: seven large images
    assert list(img.data[2].text) == ["t = 0", "t = 0.25", "t = 0.5", "t = 0.75", "t = 1", "Φ_1", "G"]
    assert len(set(img.data[1].y)) == 1  # the path stays on one row
